"""The log file in the data home, where the app writes what went wrong (and what it did)."""

from __future__ import annotations

import logging
import logging.handlers
from pathlib import Path

LOGGER_NAME = "modelbay"
log = logging.getLogger(LOGGER_NAME)


def log_to_file(log_dir: Path) -> Path:
    """Send Modelbay's log to ``log_dir/modelbay.log`` (rotated at 5 MB, 3 kept)."""
    log_dir.mkdir(parents=True, exist_ok=True)
    path = log_dir / "modelbay.log"
    if not any(isinstance(h, logging.handlers.RotatingFileHandler) for h in log.handlers):
        handler = logging.handlers.RotatingFileHandler(
            path, maxBytes=5_000_000, backupCount=3, encoding="utf-8"
        )
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
        log.addHandler(handler)
        log.setLevel(logging.INFO)
    return path
