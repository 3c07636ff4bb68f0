"""Plain-text output for the terminal: aligned tables, sizes and times people read easily."""

from __future__ import annotations

import datetime as dt
import json
import sys
from collections.abc import Sequence
from typing import Any

from app.units import human_size

__all__ = ["emit_json", "human_size", "human_time", "print_table"]


def human_time(moment: dt.datetime) -> str:
    """Local time to the minute; what a person compares against their clock."""
    return moment.astimezone().strftime("%Y-%m-%d %H:%M")


def print_table(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> None:
    widths = [len(h) for h in headers]
    for row in rows:
        for i, cell in enumerate(row):
            widths[i] = max(widths[i], len(cell))
    print("  ".join(h.ljust(w) for h, w in zip(headers, widths, strict=True)).rstrip())
    for row in rows:
        print("  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip())


def emit_json(value: Any) -> None:
    """Pretty JSON for a person at a terminal; one compact line for a pipe or a file.

    The compact form uses json's C encoder (indentation forces the slow pure-Python
    one), which matters for `modelbay list --json` on a large registry.
    """
    if sys.stdout.isatty():
        text = json.dumps(value, ensure_ascii=False, indent=2)
    else:
        text = json.dumps(value, ensure_ascii=False)
    sys.stdout.write(text + "\n")
