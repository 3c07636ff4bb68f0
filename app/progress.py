"""The Qt-free protocol for long work: a progress callback and a cancel token.

A service function that may take long accepts ``progress`` and ``cancel``
keyword arguments. It calls ``progress(done, total, message)`` now and then
(``total`` is ``None`` when unknown) and calls ``cancel.raise_if_cancelled()``
between steps. The GUI turns the callback into Qt signals in a worker; the CLI
turns it into a terminal progress bar. Neither knows about the other.
"""

from __future__ import annotations

import threading
from typing import Protocol

from app.errors import Cancelled


class ProgressCallback(Protocol):
    def __call__(self, done: int, total: int | None, message: str) -> None: ...


def no_progress(done: int, total: int | None, message: str) -> None:
    """A progress callback that ignores every report."""


class CancelToken:
    """Set from any thread to ask the work to stop; the work checks it between steps."""

    __slots__ = ("_event",)

    def __init__(self) -> None:
        self._event = threading.Event()

    def cancel(self) -> None:
        self._event.set()

    @property
    def cancelled(self) -> bool:
        return self._event.is_set()

    def raise_if_cancelled(self) -> None:
        if self._event.is_set():
            raise Cancelled()


NEVER_CANCELLED = CancelToken()
"""A token nobody can cancel, the default for callers that do not offer a cancel button."""
