"""Sizes in the words people read: one helper for the CLI, the GUI and the services."""

from __future__ import annotations

_UNITS = ("B", "KB", "MB", "GB", "TB")


def human_size(size: float) -> str:
    """``28400`` -> ``"28.4 KB"`` (powers of 1,000, as Docker and disks count)."""
    value = float(size)
    for unit in _UNITS:
        if value < 1000 or unit == _UNITS[-1]:
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1000
    raise AssertionError("unreachable")
