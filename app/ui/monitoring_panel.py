"""The Monitoring panel: a deployed service's drift, predictions and traffic, live.

Choose a service (SERVICE@HOST, every service ever deployed from this
registry); the panel reads its stored windows in the background and draws
them (:mod:`app.ui.monitoring_plots`, loaded the first time the panel shows
plots). It then pulls new windows from the service every few seconds
(:class:`~app.monitor.live.Monitor`, the same pull as ``modelbay monitor``, on
the network job queue, one pull at a time, its SSH session kept between
pulls), reads what the pull stored and appends it. A failed pull says
"unreachable: ..." in the status line and keeps what is drawn: the missing
windows become a gap.

Polling starts when a service is chosen and goes on while the app runs, shown
or not, so an alert (thresholds crossed, judged by the pull) reaches the
desktop notification even while another panel is in front. The thresholds
are edited here and stored in the registry, for the CLI as well.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtGui import QShowEvent
from PySide6.QtWidgets import (
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QDoubleSpinBox,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QMenu,
    QPushButton,
    QSpinBox,
    QStackedWidget,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from app.ui.hosts_panel import dot
from app.ui.jobs import Job, JobQueue, JobState
from app.ui.theme import icon

if TYPE_CHECKING:
    from app.monitor.live import Monitor, PullResult, Thresholds
    from app.registry import Registry
    from app.remote.secrets import SecretPrompt
    from app.ui.monitoring_data import History, LiveTraffic, Newer
    from app.ui.monitoring_plots import Dashboard

INTERVALS = ((5, "every 5 s"), (10, "every 10 s"), (30, "every 30 s"), (60, "every minute"))
DEFAULT_INTERVAL = 10
RANGES: tuple[tuple[int | None, str], ...] = (
    (None, "all stored"),
    (24 * 3600, "last 24 h"),
    (6 * 3600, "last 6 h"),
    (3600, "last hour"),
    (900, "last 15 min"),
)
GREEN, AMBER, RED, GREY = "#2e7d32", "#ef8f00", "#c62828", "#9e9e9e"
BANNER_STYLE = (
    "QLabel { background: #c62828; color: white; padding: 6px 10px; border-radius: 4px; }"
)


def _clock(moment: float) -> str:
    return time.strftime("%H:%M:%S", time.localtime(moment))


@dataclass(frozen=True)
class ServiceEntry:
    """One line of the service chooser."""

    address: str
    serving: str  # "iris:2, live"
    windows: int
    alert: dict[str, Any]


def read_services(registry: Registry) -> list[ServiceEntry]:
    """Every service ever deployed from this registry, with what it serves and its alert."""
    found = []
    for host, service in sorted(registry.iter_services(), key=lambda hs: (hs[1], hs[0])):
        newest = registry.deployments(host=host, service=service, limit=1)
        _, alert = registry.monitor_settings(host, service)
        stored = registry.monitor_windows(host, service, newest=1)
        serving = f"{newest[0].ref}, {newest[0].status}" if newest else "?"
        found.append(ServiceEntry(f"{service}@{host}", serving, len(stored), alert))
    return found


def alert_words(alert: dict[str, Any]) -> str:
    return "; ".join(alert.get("reasons") or []) or "thresholds crossed"


class Puller:
    """One service's :class:`Monitor`, made on the first pull and kept between pulls.

    Plain Python; ``pull`` and ``close`` run in jobs (never on the GUI thread) and
    wait for each other.
    """

    def __init__(self, registry: Registry, address: str, prompt: SecretPrompt | None) -> None:
        self.registry = registry
        self.address = address
        self.prompt = prompt
        self._lock = threading.Lock()
        self._monitor: Monitor | None = None
        self._closed = threading.Event()

    def pull(self) -> PullResult:
        from app.errors import Cancelled
        from app.monitor.live import Monitor
        from app.remote.secrets import SecretStore

        with self._lock:
            if self._closed.is_set():
                raise Cancelled()
            if self._monitor is None:
                self._monitor = Monitor(
                    self.registry, self.address, secrets=SecretStore.open(), prompt=self.prompt
                )
            try:
                return self._monitor.pull()
            finally:
                if self._closed.is_set():  # closed while pulling: no session may outlive us
                    self._monitor.close()

    def stop(self) -> None:
        """Refuse further pulls (the session is closed by :meth:`close`, in a job)."""
        self._closed.set()

    def close(self) -> None:
        """End the SSH session; a pull under way fails at once (no waiting for it)."""
        self._closed.set()
        monitor = self._monitor
        if monitor is not None:
            monitor.close()


class ThresholdsDialog(QDialog):
    """The service's alert thresholds, in percent where a share is meant."""

    sig_save = Signal(dict)

    def __init__(self, address: str, thresholds: Thresholds, parent: QWidget | None = None):
        super().__init__(parent)
        self.setWindowTitle(f"Alert thresholds of {address}")
        self.setWindowIcon(icon("monitoring"))
        layout = QVBoxLayout(self)
        intro = QLabel(
            f"{address} alerts (a desktop notification, a mark in Deployments and an event in "
            "the history) when its newest windows, pooled, cross one of these:",
            self,
        )
        intro.setWordWrap(True)
        layout.addWidget(intro)
        form = QFormLayout()
        self.drift_share = QDoubleSpinBox(self)
        self.drift_share.setRange(1, 100)
        self.drift_share.setDecimals(0)
        self.drift_share.setSuffix(" % of the features drift")
        self.drift_share.setValue(round(thresholds.drift_share * 100))
        self.error_rate = QDoubleSpinBox(self)
        self.error_rate.setRange(0.1, 100)
        self.error_rate.setDecimals(1)
        self.error_rate.setSuffix(" % of the requests fail")
        self.error_rate.setValue(thresholds.error_rate * 100)
        self.span = QSpinBox(self)
        self.span.setRange(1, 10_000)
        self.span.setSuffix(" newest windows")
        self.span.setValue(thresholds.span)
        self.min_rows = QSpinBox(self)
        self.min_rows.setRange(1, 10_000_000)
        self.min_rows.setSuffix(" rows")
        self.min_rows.setValue(thresholds.min_rows)
        form.addRow("Alert when at least", self.drift_share)
        form.addRow("or when at least", self.error_rate)
        form.addRow("judged on the", self.span)
        form.addRow("with a verdict from", self.min_rows)
        layout.addLayout(form)
        note = QLabel(
            "Fewer rows than that: no verdict (a gap in the plots, not an alarm). The CLI "
            "reads the same thresholds (modelbay monitor … --set drift_share=0.3).",
            self,
        )
        note.setWordWrap(True)
        note.setStyleSheet("color: palette(placeholder-text);")
        layout.addWidget(note)
        self.buttons = QDialogButtonBox(
            QDialogButtonBox.StandardButton.Save | QDialogButtonBox.StandardButton.Cancel, self
        )
        self.buttons.accepted.connect(self.accept)
        self.buttons.rejected.connect(self.reject)
        layout.addWidget(self.buttons)
        self.accepted.connect(lambda: self.sig_save.emit(self.values()))

    def values(self) -> dict[str, float | int]:
        return {
            "drift_share": round(self.drift_share.value() / 100, 4),
            "error_rate": round(self.error_rate.value() / 100, 4),
            "span": self.span.value(),
            "min_rows": self.min_rows.value(),
        }


class MonitoringPanel(QWidget):
    """A chosen service's drift over time, histogram, predictions and traffic, pulled live."""

    sig_error = Signal(str, str)
    sig_status = Signal(str)
    sig_notify = Signal(str, str)  # title, text: an alert began or ended (desktop notification)
    sig_alerts = Signal(object)  # {SERVICE@HOST: reasons} of every alerting service
    sig_loaded = Signal()  # a service's stored windows are shown
    sig_pulled = Signal()  # a pull ended (its result or its error shown)
    sig_appended = Signal()  # windows stored by a pull were added to the plots

    def __init__(
        self,
        reader: JobQueue,
        network: JobQueue,
        *,
        prompt: SecretPrompt | None = None,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.reader = reader
        self.network = network
        self.prompt = prompt
        self.registry: Registry | None = None
        self.address: str | None = None
        self.dashboard: Dashboard | None = None
        self.puller: Puller | None = None
        self.thresholds: Thresholds | None = None
        self.services: list[ServiceEntry] = []
        self.alerts: dict[str, str] = {}
        self.last_pull: float | None = None
        self.last_error: str | None = None
        self.stored = 0  # windows of the service held in the plots
        self._generation = 0  # bumped on every change of service: late answers are dropped
        self._after: Any = None  # what the plots hold: see monitoring_data.block_of
        self._poll: Job | None = None
        self._newer: Job | None = None
        self._newer_again = False
        self._wanted: str | None = None
        self._metrics: tuple[str | None, float, dict[str, float]] | None = None
        self._traffic: LiveTraffic | None = None
        self._closing: list[Puller] = []

        layout = QVBoxLayout(self)
        layout.addLayout(self._build_bar())
        self.banner = QLabel(self)
        self.banner.setWordWrap(True)
        self.banner.setStyleSheet(BANNER_STYLE)
        self.banner.setAccessibleName("Alert")
        self.banner.hide()
        layout.addWidget(self.banner)
        layout.addWidget(self._build_pages(), 1)
        self.status_line = QLabel(self)
        self.status_line.setWordWrap(True)
        self.status_line.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.status_line.setAccessibleName("Monitoring status")
        layout.addWidget(self.status_line)

        self.timer = QTimer(self)
        self.timer.setInterval(DEFAULT_INTERVAL * 1000)
        self.timer.timeout.connect(self.pull_now)
        self._enable_actions()

    def _build_pages(self) -> QStackedWidget:
        from app.ui.models_panel import EmptyState

        self.empty = EmptyState(
            "monitoring",
            "Nothing deployed yet",
            "Attach reference data to a version (drop a CSV or Parquet table on it in "
            "<b>Models</b>), build and deploy it, and send it traffic: its drift against the "
            "reference, its predictions and traffic show here, live.",
            self,
        )
        self.text = self.empty.text  # the panel's words while it has nothing to show
        self.checking = EmptyState("monitoring", "Reading the stored windows…", "", self)
        self.no_windows = EmptyState(
            "monitoring",
            "No windows yet",
            "Deploy with reference data and send traffic. The service records what it sees "
            "in windows of time; Modelbay pulls them here every few seconds.",
            self,
        )
        self.plots_page = QWidget(self)
        self.plots_layout = QVBoxLayout(self.plots_page)
        self.plots_layout.setContentsMargins(0, 0, 0, 0)
        self.stack = QStackedWidget(self)
        for page in (self.empty, self.checking, self.no_windows, self.plots_page):
            self.stack.addWidget(page)
        return self.stack

    def _build_bar(self) -> QHBoxLayout:
        bar = QHBoxLayout()
        self.chooser = QComboBox(self)
        self.chooser.setAccessibleName("Service")
        self.chooser.setMinimumWidth(300)
        self.chooser.setToolTip("SERVICE@HOST: every service deployed from this registry")
        self.chooser.currentIndexChanged.connect(self._chooser_changed)
        self.interval = QComboBox(self)
        self.interval.setAccessibleName("Pull interval")
        for seconds, words in INTERVALS:
            self.interval.addItem(words, seconds)
        self.interval.addItem("paused", 0)
        self.interval.setCurrentIndex(1)
        self.interval.setToolTip("How often new windows are pulled from the service (over SSH)")
        self.interval.currentIndexChanged.connect(lambda _i: self.set_interval(self.interval_s()))
        self.pull_button = QPushButton("Pull now", self)
        self.pull_button.setToolTip("Fetch the service's new windows now")
        self.pull_button.clicked.connect(lambda _checked=False: self.pull_now())
        self.range = QComboBox(self)
        self.range.setAccessibleName("Time shown")
        for shown, words in RANGES:
            self.range.addItem(words, shown)
        self.range.setToolTip("How much time the plots show; drag or scroll in a plot to zoom")
        self.range.currentIndexChanged.connect(self._range_changed)
        self.thresholds_button = QPushButton("Thresholds…", self)
        self.thresholds_button.setToolTip("When this service alerts")
        self.thresholds_button.clicked.connect(lambda _checked=False: self.open_thresholds())
        self.export_button = QToolButton(self)
        self.export_button.setText("Export")
        self.export_button.setPopupMode(QToolButton.ToolButtonPopupMode.InstantPopup)
        menu = QMenu(self.export_button)
        menu.addAction("Plots as PNG…", lambda: self._choose_file("png"))
        menu.addAction("Plots as SVG…", lambda: self._choose_file("svg"))
        menu.addAction("Drift per window and feature as CSV…", lambda: self._choose_file("csv"))
        self.export_button.setMenu(menu)
        bar.addWidget(QLabel("Service", self))
        bar.addWidget(self.chooser)
        bar.addWidget(QLabel("Pull", self))
        bar.addWidget(self.interval)
        bar.addWidget(self.pull_button)
        bar.addWidget(QLabel("Show", self))
        bar.addWidget(self.range)
        bar.addStretch(1)
        bar.addWidget(self.thresholds_button)
        bar.addWidget(self.export_button)
        return bar

    def _enable_actions(self) -> None:
        chosen = self.address is not None
        for widget in (self.pull_button, self.thresholds_button):
            widget.setEnabled(chosen)
        self.export_button.setEnabled(chosen and self.dashboard is not None)

    # ------------------------------------------------------------------ services
    def set_registry(self, registry: Registry | None) -> None:
        self.registry = registry
        if registry is not None and (self.isVisible() or self._wanted):
            self.refresh_services()

    def showEvent(self, event: QShowEvent) -> None:
        super().showEvent(event)
        if self.registry is not None:
            self.refresh_services()
        if self.dashboard is not None:
            self.dashboard.schedule()

    def refresh_services(self) -> Job | None:
        registry = self.registry
        if registry is None:
            return None
        job = self.reader.submit(
            "reading the deployed services", lambda _p, _c: read_services(registry), listed=False
        )
        job.sig_finished.connect(self.show_services)
        job.sig_failed.connect(self.sig_error.emit)
        return job

    def show_services(self, services: list[ServiceEntry]) -> None:
        self.services = services
        alerts = {s.address: alert_words(s.alert) for s in services if s.alert}
        if alerts != self.alerts:
            self.alerts = alerts
            self.sig_alerts.emit(dict(alerts))
        current = self._wanted or self.address
        self.chooser.blockSignals(True)
        self.chooser.clear()
        for entry in services:
            self.chooser.addItem(self._label(entry), entry.address)
            self._badge(self.chooser.count() - 1, entry)
        self.chooser.blockSignals(False)
        if not services:
            self.stack.setCurrentWidget(self.empty)
            self.status_line.setText("")
            return
        index = self.chooser.findData(current) if current else -1
        if index < 0 and current and self._wanted:
            self.status_line.setText(f"{current} was never deployed from this registry.")
            self.status_line.setStyleSheet(f"color: {RED};")
        self._wanted = None
        self.chooser.setCurrentIndex(max(index, 0))
        chosen = self.chooser.currentData()
        if chosen != self.address:
            self.choose(str(chosen))

    @staticmethod
    def _label(entry: ServiceEntry) -> str:
        text = f"{entry.address}  ({entry.serving})"
        return text + "  — ALERT" if entry.alert else text

    def _badge(self, index: int, entry: ServiceEntry) -> None:
        if entry.alert:
            self.chooser.setItemIcon(index, icon("warning"))
            self.chooser.setItemData(
                index, f"alerting: {alert_words(entry.alert)}", Qt.ItemDataRole.ToolTipRole
            )
        else:
            live = entry.serving.endswith("live")
            self.chooser.setItemIcon(index, dot(GREEN if live else GREY))

    def show_service(self, address: str) -> None:
        """Show ``address`` (SERVICE@HOST), e.g. from the Deployments panel's Monitor button."""
        index = self.chooser.findData(address)
        if index >= 0:
            self.chooser.setCurrentIndex(index)
            if self.address != address:
                self.choose(address)
            return
        self._wanted = address  # not listed yet (deployed since the list was read)
        self.refresh_services()

    def _chooser_changed(self, _index: int) -> None:
        chosen = self.chooser.currentData()
        if chosen is not None and chosen != self.address:
            self.choose(str(chosen))

    def choose(self, address: str) -> Job | None:
        """Show another service: forget the plots, read its stored windows, then pull."""
        registry = self.registry
        if registry is None:
            return None
        self._generation += 1
        self._drop_puller()
        self.address = address
        self.puller = Puller(registry, address, self.prompt)
        self.thresholds = None
        self._after = None
        self._metrics = None
        self.stored = 0
        self.last_pull = None
        self.last_error = None
        self.timer.stop()
        if self.dashboard is not None:
            self.dashboard.reset()
        self._show_alert(None)
        self._enable_actions()
        self.stack.setCurrentWidget(self.checking)
        self.status_line.setText(f"Reading the windows of {address} stored in the registry…")
        self.status_line.setStyleSheet("")
        return self.load()

    def load(self) -> Job | None:
        """Read every stored window of the service again (in the background) and draw them."""
        registry, address = self.registry, self.address
        if registry is None or address is None:
            return None
        from app.deploy.service import parse_address

        service, host = parse_address(address)
        generation = self._generation

        def work(_p: object, _c: object) -> History:
            from app.ui.monitoring_data import read_history

            return read_history(registry, host, service)

        job = self.reader.submit(f"reading the windows of {address}", work, listed=False)
        job.sig_finished.connect(lambda history: self._loaded(generation, history))
        job.sig_failed.connect(self.sig_error.emit)
        return job

    def _loaded(self, generation: int, history: History) -> None:
        if generation != self._generation:
            return
        dashboard = self.ensure_dashboard()
        dashboard.reset()
        self.thresholds = history.thresholds
        self._after = history.block.last
        self.stored = history.block.windows
        dashboard.append(history.block)
        dashboard.set_span(history.span)
        dashboard.set_histogram_source(history.reference, history.pooled)
        self._show_alert(history.alert or None)
        self._update_page(history.ref, history.reference is not None)
        pulling = self.interval_s() > 0
        if self.last_pull is None and self.last_error is None:
            self.status_line.setText(
                f"{history.serving or 'no deployment'}. {self._kept_words()} "
                + ("Pulling new windows…" if pulling else "Pulling is paused (Pull now).")
            )
        self._enable_actions()
        self.sig_loaded.emit()
        if pulling:
            self.timer.start()
            self.pull_now()

    def ensure_dashboard(self) -> Dashboard:
        """The plots, made the first time they are needed (this imports pyqtgraph)."""
        if self.dashboard is None:
            from app.ui.monitoring_plots import Dashboard

            self.dashboard = Dashboard(self.plots_page)
            self.plots_layout.addWidget(self.dashboard)
            self.dashboard.set_visible_seconds(self.range.currentData())
            self._enable_actions()
        return self.dashboard

    def _update_page(self, ref: str | None, has_reference: bool) -> None:
        if self.stored:
            self.stack.setCurrentWidget(self.plots_page)
        else:
            self.stack.setCurrentWidget(self.no_windows)
        if ref is not None and not has_reference and self.dashboard is not None:
            self.dashboard.set_drift_title(
                f"{ref} has no reference data: nothing to compare its windows with "
                f"(attach a table to it in Models, then build and deploy it again)"
            )

    def _kept_words(self) -> str:
        if not self.stored or self.dashboard is None:
            return "No windows stored yet."
        last = self.dashboard.windows.last_time()
        when = f", the newest from {_clock(last)}" if last is not None else ""
        return f"{self.stored:,} window{'s' if self.stored != 1 else ''} stored{when}."

    # ------------------------------------------------------------------ pulling
    def interval_s(self) -> int:
        return int(self.interval.currentData() or 0)

    def set_interval(self, seconds: int) -> None:
        """Pull every ``seconds`` (0: paused); the combo box shows the same."""
        index = self.interval.findData(seconds)
        if index >= 0 and index != self.interval.currentIndex():
            self.interval.setCurrentIndex(index)  # calls back here
            return
        if seconds <= 0:
            self.timer.stop()
            return
        self.timer.setInterval(seconds * 1000)
        if self.address is not None and self.thresholds is not None:
            self.timer.start()

    def pull_now(self) -> Job | None:
        """Pull the service's new windows in the background; one pull at a time."""
        puller = self.puller
        if puller is None or self._poll is not None or self.thresholds is None:
            return None
        generation = self._generation
        job = self.network.submit(
            f"pulling the windows of {puller.address}",
            lambda _p, _c: puller.pull(),
            listed=False,
        )
        self._poll = job
        job.sig_state.connect(lambda _s: self._pull_ended(job, generation))
        self.pull_button.setEnabled(False)
        return job

    def _pull_ended(self, job: Job, generation: int) -> None:
        if not job.finished or job is not self._poll:
            return
        self._poll = None
        self.pull_button.setEnabled(self.address is not None)
        if generation != self._generation:  # another service was chosen meanwhile
            if self.thresholds is not None:
                self.pull_now()
            return
        if job.state is JobState.DONE:
            self.apply_result(job.result)
        elif job.state is JobState.FAILED and job.error:
            self.pull_failed(*job.error)
        self.sig_pulled.emit()

    def apply_result(self, result: PullResult) -> None:
        """Show what a pull brought: status, traffic, alert; then read its new windows."""
        from app.ui.monitoring_data import traffic_between

        self.last_pull = result.at
        self.last_error = None
        self.thresholds = result.thresholds
        dashboard = self.ensure_dashboard()
        self._traffic = None
        if result.metrics is not None:
            now = (result.ref, result.at, dict(result.metrics))
            self._traffic = traffic_between(self._metrics, now)
            dashboard.append_traffic(self._traffic, result.at)
            self._metrics = now
        if result.alert_changed:
            self.alert_changed(result)
        self._show_alert(result.alert or None)
        self.status_line.setText(self._pulled_words(result))
        self.status_line.setStyleSheet("")
        if result.new_windows or not self.stored:
            self.read_newer(expected=result.new_windows)
        elif result.span is not None:
            dashboard.set_span(result.span)

    def _pulled_words(self, result: PullResult) -> str:
        parts = [f"Pulled at {_clock(result.at)}: {result.new_windows} new window"]
        parts[0] += "s." if result.new_windows != 1 else "."
        span = result.span
        if span is not None and span.get("drift_share") is not None:
            drifted = span.get("drifted") or []
            parts.append(
                f"Newest {span.get('windows')} windows, {span.get('rows'):,} rows: "
                f"{len(drifted)} of {span.get('judged')} features drift"
                + (f" ({', '.join(drifted[:6])})" if drifted else "")
                + "."
            )
        elif span is not None and span.get("reason"):
            parts.append(str(span["reason"]) + ".")
        elif span is not None:
            parts.append(f"Too few rows to judge yet ({span.get('rows')}).")
        traffic = self._traffic_words()
        if traffic:
            parts.append(traffic)
        for backend in result.backends:
            if backend.error:
                parts.append(f"[{backend.ref}: {backend.error}]")
        interval = self.interval_s()
        parts.append(f"Next pull in {interval} s." if interval else "Pulling is paused.")
        return " ".join(parts)

    def _traffic_words(self) -> str:
        found = self._traffic
        if found is None:
            return ""
        rate = found.per_second
        words = (
            f"Since the pull before: {rate:.2f} requests/s"
            if rate < 10
            else (f"Since the pull before: {rate:.0f} requests/s")
        )
        if found.error_share is not None:
            words += f", {100 * found.error_share:.1f} % failed"
        if found.latency_ms is not None:
            words += f", {found.latency_ms:.1f} ms mean latency"
        return words + "."

    def pull_failed(self, message: str, hint: str = "") -> None:
        """A pull failed: say so, keep every plot as it is (the missing time is a gap)."""
        self.last_error = message
        when = time.strftime("%H:%M:%S")
        if self.dashboard is not None:
            self.dashboard.append_traffic(None, time.time())
        self._metrics = None
        self._traffic = None
        kept = self._kept_words()
        self.status_line.setText(
            f"unreachable: {message}" + (f" ({hint})" if hint else "") + f" — at {when}. "
            f"{kept} The plots keep them; missing windows show as a gap."
        )
        self.status_line.setStyleSheet(f"color: {RED};")
        if self.stack.currentWidget() is self.checking:
            self.stack.setCurrentWidget(self.no_windows)

    def read_newer(self, *, expected: int = 0) -> Job | None:
        """Read the windows stored after those drawn (one read at a time)."""
        registry, address, thresholds = self.registry, self.address, self.thresholds
        if registry is None or address is None or thresholds is None:
            return None
        if self._newer is not None:
            self._newer_again = True
            return None
        from app.deploy.service import parse_address

        service, host = parse_address(address)
        after, generation = self._after, self._generation

        def work(_p: object, _c: object) -> Newer:
            from app.ui.monitoring_data import read_newer

            return read_newer(registry, host, service, after, thresholds)

        job = self.reader.submit(f"reading new windows of {address}", work, listed=False)
        self._newer = job
        job.sig_finished.connect(lambda newer: self._show_newer(generation, newer, expected))
        job.sig_failed.connect(self.sig_error.emit)
        job.sig_state.connect(lambda _s: self._newer_ended(job))
        return job

    def _newer_ended(self, job: Job) -> None:
        if not job.finished or job is not self._newer:
            return
        self._newer = None
        if self._newer_again:
            self._newer_again = False
            self.read_newer()

    def _show_newer(self, generation: int, newer: Newer, expected: int) -> None:
        if generation != self._generation:
            return
        if newer.block.windows < expected:
            self.load()  # windows older than those drawn were stored (a catching-up backend)
            return
        dashboard = self.ensure_dashboard()
        self._after = newer.block.last
        self.stored += newer.block.windows
        dashboard.append(newer.block)
        span, reference, pooled, ref = newer.span
        dashboard.set_span(span)
        dashboard.set_histogram_source(reference, pooled)
        self._update_page(ref, reference is not None)
        self._enable_actions()
        self.sig_appended.emit()

    # ------------------------------------------------------------------ alerts
    def alert_changed(self, result: PullResult) -> None:
        address = result.address
        if result.alert:
            words = alert_words(result.alert)
            self.alerts[address] = words
            self.sig_notify.emit(f"Drift alert: {address}", words)
        else:
            self.alerts.pop(address, None)
            self.sig_notify.emit(f"{address} is back within its thresholds", "")
        self.sig_alerts.emit(dict(self.alerts))
        for index in range(self.chooser.count()):
            if self.chooser.itemData(index) == address:
                entry = next((s for s in self.services if s.address == address), None)
                if entry is not None:
                    entry = ServiceEntry(
                        entry.address, entry.serving, entry.windows, dict(result.alert)
                    )
                    self.services = [entry if s.address == address else s for s in self.services]
                    self.chooser.setItemText(index, self._label(entry))
                    self._badge(index, entry)

    def _show_alert(self, alert: dict[str, Any] | None) -> None:
        if not alert:
            self.banner.hide()
            return
        since = str(alert.get("since") or "")
        when = ""
        if since:
            import datetime as dt

            try:
                when = f" since {dt.datetime.fromisoformat(since).astimezone():%H:%M:%S}"
            except ValueError:
                when = ""
        self.banner.setText(f"⚠ {self.address} is alerting{when}: {alert_words(alert)}")
        self.banner.show()

    # ------------------------------------------------------------------ thresholds
    def open_thresholds(self) -> ThresholdsDialog | None:
        address, thresholds = self.address, self.thresholds
        if address is None:
            return None
        if thresholds is None:
            from app.monitor.live import Thresholds

            thresholds = Thresholds()
        dialog = ThresholdsDialog(address, thresholds, self)
        dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        dialog.sig_save.connect(self.save_thresholds)
        dialog.open()
        return dialog

    def save_thresholds(self, changes: dict[str, float | int]) -> Job | None:
        """Store new thresholds for the service (checked, logged); the next pull uses them."""
        registry, address = self.registry, self.address
        if registry is None or address is None:
            return None
        from app.deploy.service import parse_address

        service, host = parse_address(address)

        def work(_p: object, _c: object) -> Thresholds:
            from app.monitor.live import set_thresholds

            return set_thresholds(registry, host, service, changes)

        job = self.reader.submit(f"saving the thresholds of {address}", work, listed=False)
        job.sig_finished.connect(lambda updated: self._thresholds_saved(address, updated))
        job.sig_failed.connect(self.sig_error.emit)
        return job

    def _thresholds_saved(self, address: str, updated: Thresholds) -> None:
        if address == self.address:
            self.thresholds = updated
        self.sig_status.emit(
            f"{address} alerts at {updated.drift_share:.0%} of features drifting or "
            f"{updated.error_rate:.1%} of requests failing, over its newest {updated.span} windows"
        )

    # ------------------------------------------------------------------ export
    def _choose_file(self, kind: str) -> QFileDialog | None:
        address = self.address
        if address is None:
            return None
        filters = {
            "png": "PNG images (*.png)",
            "svg": "SVG drawings (*.svg)",
            "csv": "CSV tables (*.csv)",
        }
        dialog = QFileDialog(self, f"Export {address}")
        dialog.setAcceptMode(QFileDialog.AcceptMode.AcceptSave)
        dialog.setNameFilter(filters[kind])
        dialog.setDefaultSuffix(kind)
        dialog.selectFile(f"{address.replace('@', '-at-')}-{time.strftime('%Y%m%d-%H%M')}.{kind}")
        export: dict[str, Callable[[Path], object]] = {
            "png": self.export_png,
            "svg": self.export_svg,
            "csv": self.export_csv,
        }
        dialog.fileSelected.connect(lambda name: export[kind](Path(name)))
        dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        dialog.open()
        return dialog

    def export_png(self, path: Path) -> Path | None:
        """Write the plots as they are shown to a PNG file."""
        if self.dashboard is None:
            return None
        self.dashboard.export_png(path)
        self.sig_status.emit(f"Saved the plots of {self.address} to {path}")
        return path

    def export_svg(self, path: Path) -> Path | None:
        """Write the plots to an SVG file."""
        if self.dashboard is None:
            return None
        self.dashboard.export_svg(path)
        self.sig_status.emit(f"Saved the plots of {self.address} to {path}")
        return path

    def export_csv(self, path: Path) -> Job | None:
        """Write every stored window's drift (a row per window and feature), in the background."""
        registry, address = self.registry, self.address
        if registry is None or address is None:
            return None
        from app.deploy.service import parse_address

        service, host = parse_address(address)

        def work(_p: object, _c: object) -> int:
            from app.monitor.live import export_csv

            return export_csv(registry, host, service, path)

        job = self.reader.submit(f"Exporting the windows of {address}", work)
        job.sig_finished.connect(
            lambda rows: self.sig_status.emit(f"Wrote {rows:,} rows of {address} to {path}")
        )
        job.sig_failed.connect(self.sig_error.emit)
        return job

    # ------------------------------------------------------------------ range
    def _range_changed(self, _index: int) -> None:
        if self.dashboard is not None:
            self.dashboard.set_visible_seconds(self.range.currentData())

    # ------------------------------------------------------------------ shutdown
    def _drop_puller(self) -> None:
        puller, self.puller = self.puller, None
        if self._poll is not None:
            self._poll.cancel()
        if puller is not None:
            puller.stop()
            self.network.submit(
                f"closing the monitoring session to {puller.address}",
                lambda _p, _c: puller.close(),
                listed=False,
            )

    def shutdown(self) -> None:
        """Stop pulling and close the SSH session (the main window is closing)."""
        self.timer.stop()
        self._generation += 1
        puller, self.puller = self.puller, None
        if self._poll is not None:
            self._poll.cancel()
        if puller is not None:
            puller.close()  # quick: closes the socket; a pull under way then fails
        if self.dashboard is not None:
            self.dashboard.redraw_timer.stop()
