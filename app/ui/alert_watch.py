"""Alerts of every live service, wherever the window is: a background pull each minute.

The Monitoring panel pulls the one service it shows, every few seconds. This
watch pulls all the others (``app.monitor.live.pull_all``, the same as
``modelbay monitor --all --once``) on a slower timer, in the network queue, so a
service that starts drifting raises its desktop notification even when nobody
has it open. It never asks for a password: a host whose key needs one the
keyring does not hold is skipped until someone opens it in Monitoring.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import TYPE_CHECKING

from PySide6.QtCore import QObject, QTimer, Signal

if TYPE_CHECKING:
    from app.monitor.live import Round
    from app.progress import CancelToken, ProgressCallback
    from app.registry import Registry
    from app.ui.jobs import Job, JobQueue

log = logging.getLogger(__name__)

INTERVAL_S = 60


class AlertWatch(QObject):
    """Pulls every live service but ``skip()`` each ``interval_s`` seconds, one round at a time."""

    sig_result = Signal(object)  # PullResult, on the GUI thread, for each service pulled
    sig_round = Signal(object)  # Round, after each round

    def __init__(
        self,
        queue: JobQueue,
        *,
        skip: Callable[[], str | None] = lambda: None,
        interval_s: int = INTERVAL_S,
        parent: QObject | None = None,
    ) -> None:
        super().__init__(parent)
        self.queue = queue
        self.skip = skip
        self.registry: Registry | None = None
        self.job: Job | None = None
        self.timer = QTimer(self)
        self.timer.setInterval(interval_s * 1000)
        self.timer.timeout.connect(self.pull)

    def set_registry(self, registry: Registry | None) -> None:
        self.registry = registry

    def start(self) -> None:
        self.timer.start()

    def stop(self) -> None:
        """Stop the timer and cancel a round under way (between two services)."""
        self.timer.stop()
        if self.job is not None:
            self.job.cancel()

    @property
    def running(self) -> bool:
        return self.timer.isActive()

    def pull(self) -> Job | None:
        """One round now, unless one is under way or the registry is not open."""
        registry = self.registry
        if registry is None or self.job is not None:
            return None
        from app.monitor.live import pull_all
        from app.remote.secrets import SecretStore

        skip = [address] if (address := self.skip()) else []

        def work(_progress: ProgressCallback, cancel: CancelToken) -> Round:
            return pull_all(
                registry,
                secrets=SecretStore.open(),
                prompt=None,  # never a password dialog out of the blue
                skip=skip,
                stop=lambda: cancel.cancelled,
            )

        job = self.queue.submit("checking every live service for alerts", work, listed=False)
        self.job = job
        job.sig_finished.connect(self._finished)
        job.sig_state.connect(lambda _s: self._ended(job))
        return job

    def _ended(self, job: Job) -> None:
        if job.finished and job is self.job:
            self.job = None

    def _finished(self, done: Round) -> None:
        for address, exc in done.errors.items():
            log.info("alert watch: %s: %s", address, exc.message)
        for result in done.results:
            self.sig_result.emit(result)
        self.sig_round.emit(done)
