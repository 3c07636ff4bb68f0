"""The Deployments panel: every service on every host, its health and traffic, and its history.

The table is what the hosts say now (:func:`app.deploy.service.service_statuses`,
which also reconciles the registry with them). It is read by a background job
every :data:`POLL_SECONDS` while the panel is shown, one read at a time; a read
that fails says so in the status line and leaves the last rows in place. Request
rate, error share and latency come from the difference between two successive
reads of each service's cumulative counters, so they show "—" until two exist.

On the selected service: Open endpoint (an SSH tunnel kept open while the app
runs, see :class:`OpenEndpoints`), Logs (:class:`ServiceLogDialog`, streamed
live), Roll back… and Stop… (confirmed, then jobs of the network queue, so the
jobs panel shows them with Cancel), and its recorded history below the table.
"""

from __future__ import annotations

import codecs
import contextlib
import datetime as dt
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import Qt, QTimer, QUrl, Signal
from PySide6.QtGui import QDesktopServices, QFontDatabase, QGuiApplication, QShowEvent
from PySide6.QtWidgets import (
    QDialog,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QMessageBox,
    QPlainTextEdit,
    QPushButton,
    QSplitter,
    QStackedWidget,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from app.cli.output import human_time
from app.ui.deploy_dialog import LateLog
from app.ui.hosts_panel import dot
from app.ui.jobs import Job, JobQueue, JobState
from app.ui.theme import icon

if TYPE_CHECKING:
    from app.config import Config
    from app.deploy.service import DeployResult, ServiceStatus
    from app.progress import CancelToken, ProgressCallback
    from app.registry import DeploymentInfo, Registry
    from app.remote.secrets import SecretPrompt
    from app.remote.ssh import SSHSession
    from app.remote.tunnel import Tunnel

POLL_SECONDS = 10
LOG_TAIL = 200
GREEN, AMBER, RED, GREY = "#2e7d32", "#ef8f00", "#c62828", "#9e9e9e"
STATE_COLOURS = {"healthy": GREEN, "starting": AMBER, "running": AMBER}
RED_STATES = {"unhealthy", "stopped", "unreachable", "no front", "no backend", "exited", "dead"}
STATE_WORDS = {
    "running": "running (no health check)",
    "no front": "front container missing",
    "no backend": "no version serving",
}
HISTORY_COLOURS = {
    "live": GREEN,
    "deploying": AMBER,
    "interrupted": AMBER,
    "failed": RED,
    "retired": GREY,
    "stopped": GREY,
}
COLUMNS = [
    "Service",
    "Version",
    "Status",
    "Port",
    "Up for",
    "Requests",
    "Errors",
    "Latency",
    "Detail",
]
HISTORY_COLUMNS = ["When", "Version", "Kind", "Status", "Port", "By", "Error"]
DASH = "—"


def state_colour(state: str) -> str:
    """Green healthy; red unhealthy, stopped or unreachable; amber starting or unknown."""
    if state in RED_STATES:
        return RED
    return STATE_COLOURS.get(state, AMBER)


def uptime(started_at: str | None, now: float) -> str:
    """How long ago Docker's ``StartedAt`` was, in the two largest units: ``3 h 12 min``."""
    if not started_at or started_at.startswith("0001-"):
        return DASH
    try:
        started = dt.datetime.fromisoformat(started_at.replace("Z", "+00:00"))
    except ValueError:
        return DASH
    seconds = max(0, int(now - started.timestamp()))
    days, rest = divmod(seconds, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, seconds = divmod(rest, 60)
    if days:
        return f"{days} d {hours} h"
    if hours:
        return f"{hours} h {minutes} min"
    if minutes:
        return f"{minutes} min"
    return f"{seconds} s"


@dataclass(frozen=True)
class Traffic:
    """A service's traffic between two reads of its counters."""

    per_second: float
    error_share: float | None  # errors / requests; None without requests
    latency: float | None  # mean seconds per request; None without requests


def traffic(before: ServiceStatus | None, now: ServiceStatus) -> Traffic | None:
    """The traffic between two snapshots of one service, None when it cannot be known."""
    if before is None or before.metrics is None or now.metrics is None:
        return None
    if before.uid != now.uid:
        return None  # another version serves: its counters started from zero
    seconds = now.checked_at - before.checked_at
    delta = {key: now.metrics.get(key, 0.0) - before.metrics.get(key, 0.0) for key in now.metrics}
    requests = delta.get("requests", 0.0)
    if seconds <= 0 or requests < 0:
        return None  # the backend restarted: its counters went back to zero
    count = delta.get("latency_count", 0.0)
    return Traffic(
        per_second=requests / seconds,
        error_share=delta.get("errors", 0.0) / requests if requests > 0 else None,
        latency=delta.get("latency_sum", 0.0) / count if count > 0 else None,
    )


def traffic_cells(found: Traffic | None) -> tuple[str, str, str]:
    if found is None:
        return DASH, DASH, DASH
    rate = found.per_second
    per_second = (
        f"{rate:.0f}/s" if rate >= 10 else f"{rate:.1f}/s" if rate >= 1 else f"{rate:.2f}/s"
    )
    errors = DASH if found.error_share is None else f"{100 * found.error_share:.1f} %"
    if found.latency is None:
        latency = DASH
    else:
        ms = found.latency * 1000
        latency = f"{ms:.1f} ms" if ms < 10 else f"{ms:.0f} ms"
    return per_second, errors, latency


def rollback_target(history: list[DeploymentInfo]) -> DeploymentInfo | None:
    """The version a rollback returns to (as :func:`app.deploy.service.rollback` picks it):
    the latest earlier deployment that went live with another version than the live one."""
    live = next((row for row in history if row.status == "live"), None)
    if live is None:
        return None
    earlier = (
        row
        for row in history
        if row.id < live.id and row.live_at is not None and row.ref != live.ref
    )
    return next(earlier, None)


class OpenEndpoints:
    """SSH tunnels to services, kept open while the app runs (one per SERVICE@HOST).

    Each is the context manager of :func:`app.deploy.service.open_tunnel`, entered
    by a job (SSH takes seconds) and held in an ExitStack until :meth:`close` or
    :meth:`close_all`. Plain Python, safe to call from any thread.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._open: dict[str, tuple[contextlib.ExitStack, Tunnel]] = {}

    def open(self, registry: Registry, address: str, prompt: SecretPrompt | None) -> str:
        """The local URL of a tunnel to ``address``: the open one, or a new one."""
        from app.deploy.service import open_tunnel

        url = self.url(address)
        if url is not None:
            return url
        self.close(address)  # one whose SSH connection died
        stack = contextlib.ExitStack()
        tunnel, _status = stack.enter_context(open_tunnel(registry, address, prompt=prompt))
        with self._lock:
            held = self._open.get(address)
            if held is None or not held[1].alive:
                self._open[address] = (stack, tunnel)
                return tunnel.url
        stack.close()  # another job opened one meanwhile: use that one
        return held[1].url

    def url(self, address: str) -> str | None:
        with self._lock:
            held = self._open.get(address)
        return held[1].url if held is not None and held[1].alive else None

    def close(self, address: str) -> None:
        with self._lock:
            held = self._open.pop(address, None)
        if held is not None:
            held[0].close()

    def close_all(self) -> None:
        with self._lock:
            addresses = list(self._open)
        for address in addresses:
            self.close(address)

    def __len__(self) -> int:
        with self._lock:
            return len(self._open)


class LogStream:
    """One live read of a service's log, stoppable from any thread.

    It reads the same backend as :func:`app.deploy.service.logs` (the one the
    service's front points at, else the newest), but keeps its SSH session where
    :meth:`stop` can close it. A follow read waits on its SSH channel for as long
    as the container writes nothing (a healthy model server logs only warnings),
    and the generator of ``logs()`` cannot be closed from another thread while it
    waits there; closing the session ends the wait at once.
    """

    def __init__(self) -> None:
        self.stopped = threading.Event()
        self._lock = threading.Lock()
        self._session: SSHSession | None = None

    def run(
        self,
        registry: Registry,
        address: str,
        prompt: SecretPrompt | None,
        say: Callable[[str], None],
        *,
        connected: Callable[[], object] = lambda: None,
        tail: int = LOG_TAIL,
    ) -> None:
        """Connect, then pass the log on line by line until it ends or :meth:`stop`."""
        from app.deploy.host import read_services
        from app.deploy.service import parse_address
        from app.errors import NotFoundError
        from app.remote.docker_remote import check_docker, docker_client
        from app.remote.ssh import connect

        service, host_name = parse_address(address)
        with connect(registry.get_host(host_name), prompt=prompt) as session:
            with self._lock:
                self._session = session
            if self.stopped.is_set():
                return
            remote = docker_client(session, check_docker(session).api_version)
            try:
                state = read_services(remote).get(service)
                backend = state.current if state else None
                if backend is None and state and state.backends:
                    backend = state.backends[-1]
                if backend is None:
                    raise NotFoundError(
                        f"nothing runs as {service} on {host_name}",
                        hint="Refresh: it may have been stopped",
                    )
                chunks = backend.container.logs(stream=True, follow=True, tail=tail)
                connected()
                self.follow(chunks, say)
            finally:
                with contextlib.suppress(Exception):  # the session may be closed already
                    remote.api.close()

    def follow(self, chunks: Iterable[bytes], say: Callable[[str], None]) -> None:
        """Pass ``chunks`` (bytes, cut anywhere) on as lines of text."""
        decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        pending = ""
        try:
            for chunk in chunks:
                if self.stopped.is_set():
                    break
                *lines, pending = (pending + decoder.decode(chunk)).split("\n")
                for line in lines:
                    say(line.rstrip("\r"))
        except Exception:
            if not self.stopped.is_set():
                raise  # a stop ends the read in whatever way the transport chooses
        finally:
            if pending:
                say(pending)

    def stop(self) -> None:
        """Stop reading; may wait a few seconds for the SSH connection to close."""
        self.stopped.set()
        with self._lock:
            session = self._session
        if session is not None:
            session.close()


class ServiceLogDialog(QDialog):
    """The log of the version a service runs, followed live until the window closes."""

    def __init__(
        self,
        address: str,
        *,
        registry: Registry,
        queue: JobQueue,
        prompt: SecretPrompt | None,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.address = address
        self.registry = registry
        self.queue = queue
        self.prompt = prompt
        self.job: Job | None = None
        self.stream: LogStream | None = None
        self.setWindowTitle(f"Log of {address}")
        self.setWindowIcon(icon("deployments"))
        self.resize(900, 520)
        layout = QVBoxLayout(self)
        self.view = QPlainTextEdit(self)
        self.view.setReadOnly(True)
        self.view.setMaximumBlockCount(10_000)
        self.view.setLineWrapMode(QPlainTextEdit.LineWrapMode.NoWrap)
        self.view.setFont(QFontDatabase.systemFont(QFontDatabase.SystemFont.FixedFont))
        self.view.setAccessibleName(f"Log of {address}")
        self.state = QLabel(self)
        self.state.setWordWrap(True)
        row = QHBoxLayout()
        self.again_button = QPushButton("Follow again", self)
        self.again_button.setToolTip("Read the log of the version that serves now")
        self.again_button.clicked.connect(self.follow)
        close = QPushButton("Close", self)
        close.clicked.connect(self.close)
        row.addWidget(self.state, 1)
        row.addWidget(self.again_button)
        row.addWidget(close)
        layout.addWidget(self.view, 1)
        layout.addLayout(row)
        self.finished.connect(lambda _result: self.stop())
        self.follow()

    def follow(self) -> Job:
        """Start reading the log (again): the last lines, then each new one."""
        self.stop()
        if self.job is not None:  # lines of the read before must not land after the clear
            with contextlib.suppress(RuntimeError):
                self.job.sig_log.disconnect(self.view.appendPlainText)
        stream = self.stream = LogStream()
        registry, address, prompt = self.registry, self.address, self.prompt
        log = LateLog()

        def work(progress: ProgressCallback, cancel: CancelToken) -> None:
            if not cancel.cancelled:
                stream.run(registry, address, prompt, log, connected=lambda: progress(1, 1, ""))

        job = log.attach(self.queue.submit(f"Following the log of {address}", work, listed=False))
        self.job = job
        self.view.clear()
        self.state.setText(f"Connecting to {address.partition('@')[2]}…")
        self.state.setStyleSheet("")
        self.again_button.setEnabled(False)
        job.sig_log.connect(self.view.appendPlainText)
        job.sig_progress.connect(self._connected)
        job.sig_state.connect(self._state)  # a method: no call once the window is deleted
        return job

    def _connected(self) -> None:
        self.state.setText(
            f"Following live: the last {LOG_TAIL} lines, then each new one. A healthy model "
            "server writes only warnings and errors."
        )

    def _state(self, state: JobState) -> None:
        job, stream = self.job, self.stream
        if job is None or stream is None or not job.finished:
            return
        self.again_button.setEnabled(True)
        if stream.stopped.is_set():
            self.state.setText("Stopped following.")
        elif state is JobState.FAILED and job.error:
            message, hint = job.error
            self.state.setText(message + (f" ({hint})" if hint else ""))
            self.state.setStyleSheet(f"color: {RED};")
        else:
            self.state.setText(
                "The log ended: the container stopped, or a new version replaced it."
            )

    def stop(self) -> None:
        """Stop following (in the background: closing the read talks to the host)."""
        stream, job = self.stream, self.job
        if stream is None or job is None or job.finished or stream.stopped.is_set():
            return
        job.cancel()
        self.queue.submit(f"stopping the log of {self.address}", _stopper(stream), listed=False)


def _stopper(stream: LogStream) -> Callable[[object, object], None]:
    return lambda _p, _c: stream.stop()


Statuses = Callable[["Registry", "CancelToken"], "list[ServiceStatus]"]


class DeploymentsPanel(QWidget):
    """Services on the hosts (read in the background), their actions, and their history."""

    sig_error = Signal(str, str)
    sig_status = Signal(str)
    sig_polled = Signal()  # a read of the hosts finished (rows or an error shown)
    sig_monitor_requested = Signal(str)  # SERVICE@HOST to show in the Monitoring panel

    def __init__(
        self,
        reader: JobQueue,
        network: JobQueue,
        *,
        config: Config | None = None,
        prompt: SecretPrompt | None = None,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        from app.ui.models_panel import EmptyState

        self.reader = reader
        self.network = network
        self.config = config
        self.prompt = prompt
        self.registry: Registry | None = None
        self.statuses: list[ServiceStatus] = []
        self.history: list[DeploymentInfo] = []
        self.endpoints = OpenEndpoints()
        self.streams = JobQueue(parent=self)  # log readers: each holds a thread while open
        self.streams.pool.setMaxThreadCount(16)
        self.open_url: Callable[[QUrl], object] = QDesktopServices.openUrl
        self.read_statuses: Statuses = self._read_statuses
        self._poll: Job | None = None
        self._poll_again = False
        self._actions: list[Job] = []  # deploys, rollbacks and stops under way
        self._polled_at: float | None = None
        self._snapshots: dict[str, ServiceStatus] = {}  # the last one with counters, by address
        self._traffic: dict[str, Traffic | None] = {}
        self._history_for: str | None = None
        self._log_dialogs: list[ServiceLogDialog] = []

        layout = QVBoxLayout(self)
        layout.addLayout(self._build_bar())
        self.table = _table(COLUMNS, self)
        self.table.setAccessibleName("Services")
        self.table.itemSelectionChanged.connect(self._selection_changed)
        self.empty = EmptyState(
            "deployments",
            "Nothing deployed yet",
            "Select a version in <b>Models</b> and click <b>Deploy…</b> (Ctrl+D) to run it on "
            "one of your hosts. Every service on every host then shows here with its health, "
            "traffic and history.",
            self,
        )
        self.text = self.empty.text  # the panel's words while it has nothing to show
        self.checking = EmptyState("deployments", "Asking your hosts what runs there…", "", self)
        self.stack = QStackedWidget(self)
        for page in (self.checking, self.empty, self._build_services()):
            self.stack.addWidget(page)
        self.status_line = QLabel(self)  # below every page: a failed read is always said
        self.status_line.setWordWrap(True)
        self.status_line.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        services = QWidget(self)
        services_layout = QVBoxLayout(services)
        services_layout.setContentsMargins(0, 0, 0, 0)
        services_layout.addWidget(self.stack, 1)
        services_layout.addWidget(self.status_line)
        self.splitter = QSplitter(Qt.Orientation.Vertical, self)
        self.splitter.addWidget(services)
        self.splitter.addWidget(self._build_history())
        self.splitter.setStretchFactor(0, 3)
        self.splitter.setStretchFactor(1, 2)
        layout.addWidget(self.splitter, 1)
        self.timer = QTimer(self)
        self.timer.setInterval(POLL_SECONDS * 1000)
        self.timer.timeout.connect(self._tick)
        self._selection_changed()

    def _build_bar(self) -> QHBoxLayout:
        bar = QHBoxLayout()
        self.open_button = QPushButton("Open endpoint", self)
        self.open_button.setToolTip(
            "Reach the service from this computer through an SSH tunnel, kept open while "
            "Modelbay runs, and open its /metadata in your browser"
        )
        self.open_button.clicked.connect(self.open_endpoint_selected)
        self.logs_button = QPushButton("Logs…", self)
        self.logs_button.setToolTip("The log of the version the service runs, live")
        self.logs_button.clicked.connect(self.logs_selected)
        self.rollback_button = QPushButton("Roll back…", self)
        self.rollback_button.setToolTip("Return the service to the version that served before")
        self.rollback_button.clicked.connect(self.rollback_selected)
        self.monitor_button = QPushButton(icon("monitoring"), "Monitor", self)
        self.monitor_button.setToolTip("Drift, predictions and traffic of the service, live")
        self.monitor_button.clicked.connect(self.monitor_selected)
        self.stop_button = QPushButton("Stop…", self)
        self.stop_button.setToolTip("Stop the service and remove its containers")
        self.stop_button.clicked.connect(self.stop_selected)
        self.refresh_button = QPushButton("Refresh", self)
        self.refresh_button.setToolTip(f"Ask the hosts now (also every {POLL_SECONDS} s)")
        self.refresh_button.clicked.connect(lambda _checked=False: self.refresh())
        for button in (
            self.open_button,
            self.logs_button,
            self.monitor_button,
            self.rollback_button,
        ):
            bar.addWidget(button)
        bar.addStretch(1)
        bar.addWidget(self.stop_button)
        bar.addWidget(self.refresh_button)
        return bar

    def _build_services(self) -> QWidget:
        self.alerts: dict[str, str] = {}  # SERVICE@HOST -> why it alerts (Monitoring panel)
        page = QWidget(self)
        layout = QVBoxLayout(page)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.table, 1)
        self.endpoint_bar = QWidget(page)
        row = QHBoxLayout(self.endpoint_bar)
        row.setContentsMargins(0, 0, 0, 0)
        self.endpoint_label = QLabel(self.endpoint_bar)
        self.endpoint = QLineEdit(self.endpoint_bar)
        self.endpoint.setReadOnly(True)
        self.endpoint.setAccessibleName("Endpoint URL")
        copy = QPushButton(icon("copy"), "Copy", self.endpoint_bar)
        copy.clicked.connect(lambda: QGuiApplication.clipboard().setText(self.endpoint.text()))
        browse = QPushButton("Open in browser", self.endpoint_bar)
        browse.clicked.connect(self._browse_selected)
        close = QPushButton("Close tunnel", self.endpoint_bar)
        close.clicked.connect(self.close_endpoint_selected)
        row.addWidget(self.endpoint_label)
        row.addWidget(self.endpoint, 1)
        for button in (copy, browse, close):
            row.addWidget(button)
        layout.addWidget(self.endpoint_bar)
        return page

    def _build_history(self) -> QWidget:
        box = QWidget(self)
        layout = QVBoxLayout(box)
        layout.setContentsMargins(0, 4, 0, 0)
        self.history_label = QLabel(box)
        layout.addWidget(self.history_label)
        self.history_table = _table(HISTORY_COLUMNS, box)
        self.history_table.setAccessibleName("Deployment history")
        layout.addWidget(self.history_table, 1)
        return box

    # ------------------------------------------------------------------ reading the hosts
    def set_registry(self, registry: Registry | None) -> None:
        self.registry = registry
        if registry is None:
            self.timer.stop()
            return
        self.timer.start()
        if self.isVisible():
            self.refresh()

    def showEvent(self, event: QShowEvent) -> None:
        super().showEvent(event)
        if self._polled_at is None or time.time() - self._polled_at > POLL_SECONDS:
            self.refresh()

    def _tick(self) -> None:
        if self.isVisible():
            self.refresh()

    def refresh(self) -> Job | None:
        """Read every host now, in the background; one read at a time."""
        registry = self.registry
        if registry is None:
            return None
        if self._poll is not None:
            self._poll_again = True  # e.g. a deploy ended during a read: read once more after
            return None
        if self._actions:
            # a read probes each service's deploy lock, and a deploy that found it taken
            # would give up: read again when the action ends
            self.status_line.setText(
                f"Reading the hosts again once {self._actions[0].title[:1].lower()}"
                f"{self._actions[0].title[1:]} ends."
            )
            self.status_line.setStyleSheet("")
            return None
        read = self.read_statuses
        job = self.network.submit(
            "reading what runs on the hosts",
            lambda _p, cancel: read(registry, cancel),
            listed=False,
        )
        self._poll = job
        job.sig_state.connect(lambda _s: self._poll_done(job))
        self.refresh_button.setEnabled(False)
        return job

    def _read_statuses(self, registry: Registry, cancel: CancelToken) -> list[ServiceStatus]:
        from app.deploy.service import service_statuses

        return service_statuses(
            registry, prompt=self.prompt, config=self.config, with_metrics=True, cancel=cancel
        )

    def _poll_done(self, job: Job) -> None:
        if not job.finished or job is not self._poll:
            return
        self._poll = None
        self.refresh_button.setEnabled(True)
        if job.state is JobState.DONE:
            self.show_statuses(job.result)
        elif job.error:
            self._poll_failed(*job.error)
        self.sig_polled.emit()
        if self._poll_again:
            self._poll_again = False
            self.refresh()

    def _poll_failed(self, message: str, hint: str) -> None:
        when = time.strftime("%H:%M:%S")
        kept = ""
        if self._polled_at is not None:
            kept = f" Showing what they said at {_clock(self._polled_at)}."
        self.status_line.setText(
            f"Could not read the hosts at {when}: {message}" + (f" ({hint})" if hint else "") + kept
        )
        self.status_line.setStyleSheet(f"color: {RED};")
        if self.stack.currentWidget() is self.checking:  # no longer asking: it failed
            self.stack.setCurrentIndex(2)

    def show_statuses(self, statuses: list[ServiceStatus]) -> None:
        """Show a read of the hosts (what the background read delivers)."""
        current = self.selected_address()
        self._polled_at = time.time()
        for status in statuses:
            self._traffic[status.address] = traffic(self._snapshots.get(status.address), status)
            if status.metrics is not None:
                self._snapshots[status.address] = status
        self.statuses = statuses
        hosts = len({s.host for s in statuses})
        self.status_line.setText(
            f"{len(statuses)} service{'s' if len(statuses) != 1 else ''} on {hosts} "
            f"host{'s' if hosts != 1 else ''}, read at {time.strftime('%H:%M:%S')}; read again "
            f"every {POLL_SECONDS} s while this panel is shown."
        )
        self.status_line.setStyleSheet("")
        self.stack.setCurrentIndex(2 if statuses else 1)
        self.table.setRowCount(len(statuses))
        now = time.time()
        for row, status in enumerate(statuses):
            for column, item in enumerate(self._cells(status, now)):
                self.table.setItem(row, column, item)
            if status.address == current:
                self.table.selectRow(row)
        if current is None and statuses:
            self.table.selectRow(0)
        self._selection_changed()

    def _cells(self, status: ServiceStatus, now: float) -> list[QTableWidgetItem]:
        serving = status.service != "-"
        found = self._traffic.get(status.address) if serving else None
        rate, errors, latency = traffic_cells(found)
        name = status.address if serving else f"{status.host} (no service read)"
        port = "" if status.port is None else str(status.port)
        if status.public and port:
            port += " public"
        words = STATE_WORDS.get(status.state, status.state)
        detail = status.detail
        if status.others:
            detail += (
                ("; " if detail else "") + "not from this registry: " + ", ".join(status.others)
            )
        cells = [name, status.ref or DASH, words, port or DASH, uptime(status.started_at, now)]
        items = [QTableWidgetItem(text) for text in [*cells, rate, errors, latency, detail]]
        items[0].setIcon(dot(state_colour(status.state)))
        for item in (*items[:3], items[8]):
            item.setToolTip(detail or words)
        if status.address in self.alerts:  # the Monitoring panel's thresholds are crossed
            items[0].setIcon(icon("warning"))
            items[0].setToolTip(f"alerting: {self.alerts[status.address]}")
        for item in items[5:8]:
            item.setTextAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
            item.setToolTip(
                "from the service's counters between the last two reads"
                if found
                else "needs two reads of the service's counters"
            )
        return items

    # ------------------------------------------------------------------ selection
    def selected(self) -> ServiceStatus | None:
        rows = self.table.selectionModel().selectedRows()
        if not rows or rows[0].row() >= len(self.statuses):
            return None
        status = self.statuses[rows[0].row()]
        return status if status.service != "-" else None

    def selected_address(self) -> str | None:
        status = self.selected()
        return status.address if status else None

    def _selection_changed(self) -> None:
        status = self.selected()
        for button in (
            self.open_button,
            self.logs_button,
            self.monitor_button,
            self.rollback_button,
            self.stop_button,
        ):
            button.setEnabled(status is not None)
        self._show_endpoint()
        address = status.address if status else None
        if address != self._history_for:
            self._history_for = address
            self.load_history()

    def _show_endpoint(self) -> None:
        address = self.selected_address()
        url = self.endpoints.url(address) if address else None
        self.endpoint_bar.setVisible(url is not None)
        if url is not None:
            self.endpoint_label.setText(f"{address} is at")
            self.endpoint.setText(url)

    # ------------------------------------------------------------------ monitoring
    def monitor_selected(self) -> None:
        address = self.selected_address()
        if address is not None:
            self.sig_monitor_requested.emit(address)

    def set_alerts(self, alerts: dict[str, str]) -> None:
        """Mark the services that alert (a warning sign, why in the tooltip)."""
        self.alerts = dict(alerts)
        for row, status in enumerate(self.statuses):
            item = self.table.item(row, 0)
            if item is None or status.service == "-":
                continue
            if status.address in self.alerts:
                item.setIcon(icon("warning"))
                item.setToolTip(f"alerting: {self.alerts[status.address]}")
            else:
                item.setIcon(dot(state_colour(status.state)))
                item.setToolTip(status.detail or STATE_WORDS.get(status.state, status.state))

    # ------------------------------------------------------------------ history
    def load_history(self) -> Job | None:
        registry, address = self.registry, self._history_for
        if address is None or registry is None:
            self.history_label.setText("History: select a service to see its deployments.")
            self.history = []
            self.history_table.setRowCount(0)
            return None
        service, _, host = address.partition("@")
        job = self.reader.submit(
            f"reading the history of {address}",
            lambda _p, _c: registry.deployments(host=host, service=service, limit=200),
            listed=False,
        )
        job.sig_finished.connect(lambda rows: self._show_history(address, rows))
        job.sig_failed.connect(self.sig_error.emit)
        return job

    def _show_history(self, address: str, rows: list[DeploymentInfo]) -> None:
        if address != self._history_for:
            return  # another service was selected meanwhile
        self.history = rows
        self.history_label.setText(f"<b>History of {address}</b> (newest first)")
        self.history_table.setRowCount(len(rows))
        for r, row in enumerate(rows):
            error = (row.error.splitlines() or [""])[0]
            cells = [
                human_time(row.started_at),
                row.ref,
                row.kind,
                row.status,
                "" if row.port is None else str(row.port) + (" public" if row.public else ""),
                row.created_by,
                error,
            ]
            for c, text in enumerate(cells):
                item = QTableWidgetItem(text)
                item.setToolTip(row.error if c == 6 and row.error else text)
                if c == 3:
                    item.setIcon(dot(HISTORY_COLOURS.get(row.status, GREY)))
                self.history_table.setItem(r, c, item)

    # ------------------------------------------------------------------ endpoint
    def open_endpoint_selected(self) -> Job | None:
        status, registry = self.selected(), self.registry
        if status is None or registry is None:
            return None
        address, prompt, endpoints = status.address, self.prompt, self.endpoints
        url = endpoints.url(address)
        if url is not None:
            self._endpoint_opened(status, url)
            return None
        job = self.network.submit(
            f"Opening a tunnel to {address}",
            lambda _p, _c: endpoints.open(registry, address, prompt),
        )
        job.sig_finished.connect(lambda found: self._endpoint_opened(status, found))
        job.sig_failed.connect(self.sig_error.emit)
        return job

    def _endpoint_opened(self, status: ServiceStatus, url: str) -> None:
        self._show_endpoint()
        self.sig_status.emit(f"{status.address} is reachable at {url} while Modelbay runs")
        self._browse(status, url)

    def _browse_selected(self) -> None:
        status = self.selected()
        url = self.endpoints.url(status.address) if status else None
        if status is not None and url is not None:
            self._browse(status, url)

    def _browse(self, status: ServiceStatus, url: str) -> None:
        # a public service answers only /ping and /health without its token
        self.open_url(QUrl(url + ("/health" if status.public else "/metadata")))

    def close_endpoint_selected(self) -> None:
        address = self.selected_address()
        if address is None:
            return
        endpoints = self.endpoints
        job = self.network.submit(
            f"closing the tunnel to {address}",
            lambda _p, _c: endpoints.close(address),
            listed=False,
        )
        job.sig_state.connect(lambda _s: self._show_endpoint() if job.finished else None)

    # ------------------------------------------------------------------ logs
    def logs_selected(self) -> ServiceLogDialog | None:
        status, registry = self.selected(), self.registry
        if status is None or registry is None:
            return None
        dialog = ServiceLogDialog(
            status.address, registry=registry, queue=self.streams, prompt=self.prompt, parent=self
        )
        dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        self._log_dialogs.append(dialog)
        dialog.destroyed.connect(lambda _o=None: self._forget_dialog(dialog))
        dialog.show()
        return dialog

    def _forget_dialog(self, dialog: ServiceLogDialog) -> None:
        with contextlib.suppress(ValueError):
            self._log_dialogs.remove(dialog)

    # ------------------------------------------------------------------ roll back, stop
    def rollback_selected(self) -> Job | None:
        """Read the service's history, then ask to confirm the version it returns to."""
        status, registry = self.selected(), self.registry
        if status is None or registry is None:
            return None
        service, host = status.service, status.host
        job = self.reader.submit(
            f"reading the history of {status.address}",
            lambda _p, _c: registry.deployments(host=host, service=service, limit=200),
            listed=False,
        )
        job.sig_finished.connect(lambda rows: self.confirm_rollback(status, rows))
        job.sig_failed.connect(self.sig_error.emit)
        return job

    def confirm_rollback(
        self, status: ServiceStatus, history: list[DeploymentInfo]
    ) -> QMessageBox | None:
        target = rollback_target(history)
        live = next((row for row in history if row.status == "live"), None)
        if target is None or live is None:
            self.sig_error.emit(
                f"{status.address} has served no other version before "
                f"{live.ref if live else 'now'}",
                "deploy the version you want from Models (Deploy…)",
            )
            return None
        ended = f" until {human_time(target.ended_at)}" if target.ended_at else ""
        box = QMessageBox(QMessageBox.Icon.Question, "Roll back", "", parent=self)
        box.setText(f"Roll <b>{status.address}</b> back to <b>{target.ref}</b>?")
        box.setInformativeText(
            f"It serves {live.ref} now; {target.ref} served{ended}. {target.ref} is started "
            f"next to it and takes over once it answers its health check; if it does not, "
            f"{live.ref} keeps serving."
        )
        roll = box.addButton("Roll back", QMessageBox.ButtonRole.AcceptRole)
        box.addButton(QMessageBox.StandardButton.Cancel)
        box.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)

        def clicked(button: object) -> None:
            if button is roll:
                self.start_rollback(status.address, target.ref)

        box.buttonClicked.connect(clicked)
        box.open()
        return box

    def start_rollback(self, address: str, ref: str) -> Job | None:
        registry = self.registry
        if registry is None:
            return None
        from app.deploy.service import rollback

        prompt, config, log = self.prompt, self.config, LateLog()

        def work(progress: Any, cancel: Any) -> DeployResult:
            return rollback(
                registry,
                address,
                to=ref,
                prompt=prompt,
                log=log,
                progress=progress,
                cancel=cancel,
                config=config,
            )

        job = log.attach(self.network.submit(f"Rolling {address} back to {ref}", work))
        job.sig_finished.connect(
            lambda result: self.sig_status.emit(f"{address} serves {result.deployment.ref} again")
        )
        self.watch_action(job)
        return job

    def stop_selected(self) -> QMessageBox | None:
        status = self.selected()
        if status is None or self.registry is None:
            return None
        box = QMessageBox(
            QMessageBox.Icon.Warning,
            "Stop service",
            f"Stop <b>{status.address}</b>?",
            QMessageBox.StandardButton.Cancel,
            self,
        )
        box.setInformativeText(
            f"Its containers are removed once their requests finish; clients get no answer on "
            f"port {status.port or '?'} until you deploy it again. Its images stay on "
            f"{status.host}, and its history stays in the registry."
        )
        stop = box.addButton("Stop", QMessageBox.ButtonRole.DestructiveRole)
        box.setDefaultButton(QMessageBox.StandardButton.Cancel)
        box.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)

        def clicked(button: object) -> None:
            if button is stop:
                self.start_stop(status.address)

        box.buttonClicked.connect(clicked)
        box.open()
        return box

    def start_stop(self, address: str) -> Job | None:
        registry = self.registry
        if registry is None:
            return None
        from app.deploy.service import stop

        prompt, config, endpoints, log = self.prompt, self.config, self.endpoints, LateLog()

        def work(_p: object, _c: object) -> list[DeploymentInfo]:
            endpoints.close(address)
            return stop(registry, address, prompt=prompt, log=log, config=config)

        job = log.attach(self.network.submit(f"Stopping {address}", work))
        job.sig_finished.connect(lambda _rows: self.sig_status.emit(f"{address} is stopped"))
        self.watch_action(job)
        return job

    def watch_action(self, job: Job, *, report_errors: bool = True) -> None:
        """After a deploy, rollback or stop: read the hosts and the history again, and say
        what failed (unless a window of its own, like the deploy window, says it)."""
        if report_errors:
            job.sig_failed.connect(self.sig_error.emit)
        self._actions.append(job)
        job.sig_state.connect(lambda _s: self._action_ended(job) if job.finished else None)

    def _action_ended(self, job: Job) -> None:
        with contextlib.suppress(ValueError):
            self._actions.remove(job)
        self.refresh()
        self.load_history()
        self._show_endpoint()

    # ------------------------------------------------------------------ shutdown
    def shutdown(self) -> None:
        """Stop reading, following and tunnelling (the main window is closing)."""
        self.timer.stop()
        if self._poll is not None:
            self._poll.cancel()
        for dialog in list(self._log_dialogs):
            if dialog.stream is not None:
                dialog.stream.stop()
            if dialog.job is not None:
                dialog.job.cancel()
        self.streams.shutdown()
        self.endpoints.close_all()


def _clock(moment: float) -> str:
    return time.strftime("%H:%M:%S", time.localtime(moment))


def _table(headers: list[str], parent: QWidget) -> QTableWidget:
    table = QTableWidget(0, len(headers), parent)
    table.setHorizontalHeaderLabels(headers)
    table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
    table.horizontalHeader().setStretchLastSection(True)
    table.verticalHeader().setVisible(False)
    table.setEditTriggers(QTableWidget.EditTrigger.NoEditTriggers)
    table.setSelectionBehavior(QTableWidget.SelectionBehavior.SelectRows)
    table.setSelectionMode(QTableWidget.SelectionMode.SingleSelection)
    table.setWordWrap(False)
    table.verticalHeader().setDefaultSectionSize(table.fontMetrics().height() + 10)
    return table
