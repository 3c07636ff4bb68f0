"""A terminal progress bar behind the services' Qt-free progress callback."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager

from app.progress import ProgressCallback, no_progress


@contextmanager
def terminal_progress(description: str, *, unit: str = "it") -> Iterator[ProgressCallback]:
    """Yield a progress callback that draws a bar on stderr when it is a terminal.

    When stderr is not a terminal (a pipe, CI logs) nothing is drawn, so
    scripted output stays clean.
    """
    if not sys.stderr.isatty():
        yield no_progress
        return
    import shutil

    from tqdm import tqdm

    # A terminal that reports no size (some CI ptys) would make tqdm hide the bar.
    size = shutil.get_terminal_size()
    bar = tqdm(
        desc=description,
        unit=unit,
        unit_scale=unit == "B",
        unit_divisor=1024,
        leave=False,
        file=sys.stderr,
        ncols=size.columns,
        nrows=size.lines,
        delay=0.1,  # quick work shows no bar, and the first frame already knows the total
    )

    def update(done: int, total: int | None, message: str) -> None:
        if total is not None and bar.total != total:
            bar.total = total
        bar.n = done
        bar.refresh()

    try:
        yield update
    finally:
        bar.close()
