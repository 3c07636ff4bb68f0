"""The one worker abstraction: run a service call off the GUI thread, report it as signals.

A service call takes the Qt-free ``progress`` callback and ``cancel`` token
(:mod:`app.progress`). :class:`Job` runs it in a ``QThreadPool`` and turns its
reports into Qt signals, which Qt delivers on the GUI thread (the emitter
object lives there). :class:`JobQueue` runs jobs one at a time or in
parallel, keeps them listed for the jobs panel, and cancels what is left on
shutdown.

Errors become ``sig_failed(message, hint)``: a :class:`~app.errors.ModelbayError`
with its own words; anything else as "internal error", with the traceback in
the log file.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from enum import Enum
from typing import Any

from PySide6.QtCore import QObject, QRunnable, QThreadPool, Signal

from app.errors import Cancelled, ModelbayError
from app.logs import log
from app.progress import CancelToken, ProgressCallback

Work = Callable[[ProgressCallback, CancelToken], Any]


class JobState(Enum):
    QUEUED = "queued"
    RUNNING = "running"
    DONE = "done"
    FAILED = "failed"
    CANCELLED = "cancelled"


class Job(QObject):
    """One unit of background work, observable from the GUI thread.

    The public signals fire on the GUI thread after the job's fields
    (``state``, ``done``, ``total``, ``message``) are updated.
    """

    sig_progress = Signal()
    sig_state = Signal(object)  # JobState
    sig_finished = Signal(object)  # the result
    sig_failed = Signal(str, str)  # message, hint ("" when none)
    sig_log = Signal(str)  # one line of the work's log (see :meth:`log`)

    # Emitted on the pool thread, delivered (queued) on this object's thread. They carry
    # only plain values; the result and the error travel in attributes written before the
    # state signal is emitted, so no Python object is shared across threads by Qt.
    # float: exact for byte counts up to 2**53, where Qt's int would overflow at 2 GiB
    _from_worker_progress = Signal(float, float, str)  # total -1: unknown
    _from_worker_state = Signal(str)
    _from_worker_log = Signal(str)

    _ids = itertools.count(1)

    def __init__(self, title: str, work: Work, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.id = next(self._ids)
        self.title = title
        self.work = work
        self.cancel_token = CancelToken()
        self.state = JobState.QUEUED
        self.done: int = 0
        self.total: int | None = None
        self.message = "waiting"
        self.error: tuple[str, str] | None = None
        self.failure: ModelbayError | None = None  # the error itself, for what it carries
        self.result: Any = None
        self.log_lines: list[str] = []  # everything logged so far, for a viewer opened later
        self._from_worker_progress.connect(self._on_progress)
        self._from_worker_state.connect(self._on_state_value)
        self._from_worker_log.connect(self._on_log)

    def log(self, line: str) -> None:
        """Add a line to the job's log; callable from the worker thread."""
        self._from_worker_log.emit(line)

    def cancel(self) -> None:
        self.cancel_token.cancel()
        if self.state is JobState.QUEUED:
            self._on_state(JobState.CANCELLED)

    @property
    def finished(self) -> bool:
        return self.state in {JobState.DONE, JobState.FAILED, JobState.CANCELLED}

    # -- runs on a pool thread
    def run(self) -> None:
        if self.cancel_token.cancelled:
            self._from_worker_state.emit(JobState.CANCELLED.value)
            return
        self._from_worker_state.emit(JobState.RUNNING.value)

        def report(done: int, total: int | None, message: str) -> None:
            self._from_worker_progress.emit(done, -1 if total is None else total, message)

        try:
            self.result = self.work(report, self.cancel_token)
        except Cancelled:
            self._from_worker_state.emit(JobState.CANCELLED.value)
        except ModelbayError as exc:
            log.warning("%s failed: %s", self.title, exc)
            self.error = (exc.message, exc.hint or "")
            self.failure = exc
            self._from_worker_state.emit(JobState.FAILED.value)
        except Exception as exc:  # noqa: BLE001 - a bug: words for the user, traceback to the log
            log.exception("%s failed with an internal error", self.title)
            self.error = (
                f"internal error: {type(exc).__name__}: {exc}",
                "please report it with the log file (Help > Open Log Folder)",
            )
            self._from_worker_state.emit(JobState.FAILED.value)
        else:
            self._from_worker_state.emit(JobState.DONE.value)

    # -- GUI thread
    def _on_progress(self, done: float, total: float, message: str) -> None:
        self.done, self.total = int(done), (None if total < 0 else int(total))
        if message:
            self.message = message
        self.sig_progress.emit()

    def _on_log(self, line: str) -> None:
        self.log_lines.append(line)
        if len(self.log_lines) > 20_000:  # bounded: a runaway log must not eat memory
            del self.log_lines[:5_000]
        self.sig_log.emit(line)

    def _on_state_value(self, value: str) -> None:
        self._on_state(JobState(value))

    def _on_state(self, state: JobState) -> None:
        if self.finished or self.state is state:
            return
        self.state = state
        if state is JobState.RUNNING:
            self.message = "starting"
        elif state is JobState.CANCELLED:
            self.message = "cancelled"
        elif state is JobState.DONE:
            self.message = "done"
        elif state is JobState.FAILED and self.error:
            self.message = self.error[0]
        self.sig_state.emit(state)
        if state is JobState.DONE:
            self.sig_finished.emit(self.result)
        elif state is JobState.FAILED and self.error:
            self.sig_failed.emit(*self.error)


class _Runnable(QRunnable):
    def __init__(self, job: Job) -> None:
        super().__init__()
        self.job = job
        self.setAutoDelete(True)

    def run(self) -> None:
        self.job.run()


class JobQueue(QObject):
    """Runs jobs on its own thread pool; ``serial=True`` runs one at a time (imports queue)."""

    sig_added = Signal(object)  # Job

    def __init__(self, *, serial: bool = False, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.pool = QThreadPool(self)
        self.pool.setMaxThreadCount(1 if serial else 4)
        self.jobs: list[Job] = []

    def submit(self, title: str, work: Work, *, listed: bool = True) -> Job:
        job = Job(title, work, parent=self)
        if listed:
            self.jobs.append(job)
            self.sig_added.emit(job)
        else:  # nobody lists it: free it once its outcome has been delivered
            job.sig_state.connect(lambda _state: job.deleteLater() if job.finished else None)
        self.pool.start(_Runnable(job))
        return job

    def shutdown(self, timeout_ms: int = 10_000) -> bool:
        """Cancel everything and wait for running work to stop; True if it all stopped."""
        for job in self.jobs:
            job.cancel()
        self.pool.clear()
        return bool(self.pool.waitForDone(timeout_ms))
