"""The log file in the data home, where the app writes what went wrong (and what it did).

Every log record of the process goes there, Modelbay's (from INFO) and the
libraries' (paramiko, Docker, urllib3: from WARNING), and none goes to the
terminal: the command line speaks in ``error:`` lines, and a library's own
report of the same failure (paramiko's "Secsh channel 3 open FAILED", its
traceback of a banner it could not read) belongs in the file. Without a handler
Python would print those records on stderr (its "last resort" handler).
"""

from __future__ import annotations

import logging
import logging.handlers
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

LOGGER_NAME = "modelbay"
LOG_FILE = "modelbay.log"
log = logging.getLogger(LOGGER_NAME)

_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


class _LogFile(logging.handlers.RotatingFileHandler):
    """``modelbay.log``, rotated at 5 MB (3 kept), opened at the first record: a command
    that logs nothing creates nothing, and a data home that cannot be written to costs
    the log, never the command (nor a traceback on the terminal)."""

    def __init__(self, path: Path) -> None:
        super().__init__(path, maxBytes=5_000_000, backupCount=3, encoding="utf-8", delay=True)
        self.setFormatter(logging.Formatter(_FORMAT))

    def _open(self) -> object:  # type: ignore[override]
        Path(self.baseFilename).parent.mkdir(parents=True, exist_ok=True)
        return super()._open()

    def handleError(self, record: logging.LogRecord) -> None:
        pass  # the log is a help, not a duty: an unwritable file must not reach the terminal


def log_to_file(log_dir: Path) -> Path:
    """Send every log record of the process to ``log_dir/modelbay.log`` (the app: once,
    for as long as it runs)."""
    path = log_dir / LOG_FILE
    root = logging.getLogger()
    if not any(isinstance(h, _LogFile) for h in root.handlers):
        root.addHandler(_LogFile(path))
        log.setLevel(logging.INFO)
    return path


@contextmanager
def logging_to_file(log_dir: Path | None) -> Iterator[Path | None]:
    """For one command: every log record to ``log_dir/modelbay.log`` (with ``None``,
    nowhere), none to the terminal; as it was afterwards."""
    root = logging.getLogger()
    handler: logging.Handler = _LogFile(log_dir / LOG_FILE) if log_dir else logging.NullHandler()
    previous = log.level
    root.addHandler(handler)
    log.setLevel(logging.INFO)
    try:
        yield log_dir / LOG_FILE if log_dir else None
    finally:
        root.removeHandler(handler)
        handler.close()
        log.setLevel(previous)
