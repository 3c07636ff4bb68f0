"""The Monitoring panel on a real registry: stored windows drawn, pulls that fail, alerts.

The windows are the serving runtime's own (app.serving.monitor.Windows fed with
pandas tables, the last ones shifted) stored with their drift, as a pull stores
them (tests/ui/monitoring_fixtures.py). The host entry points at 127.0.0.1 on a
closed port, or at a listener that never answers, so every pull really goes
through SSH and fails as it would against a host that is down.
"""

from __future__ import annotations

import csv
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pytest
from pytestqt.qtbot import QtBot

from app.config import Config
from app.monitor import live
from app.registry import Registry
from app.ui.jobs import JobQueue
from app.ui.monitoring_data import (
    DRIFT,
    SETTLE_BUCKETS,
    TIME,
    Columns,
    PeakView,
    block_of,
    traffic_between,
)
from app.ui.monitoring_panel import MonitoringPanel
from tests.ui.heartbeat import Heartbeat
from tests.ui.monitoring_fixtures import (
    ADDRESS,
    HOST,
    SERVICE,
    Monitored,
    calm_then_shifted,
    deploy_with_reference,
    record_windows,
    table,
)
from tests.ui.test_screenshot import display, take_pictures  # noqa: F401 - the X display

if TYPE_CHECKING:
    from tests.services import XDisplay

START = 1_750_000_020.0  # a minute boundary: window seq = START // 60
FEATURES = ["tenure", "monthly_charges", "support_calls", "plan"]


def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture
def monitored(config: Config, tmp_path: Path) -> Iterator[tuple[Registry, Monitored]]:
    """churn@gpu-1 with 20 calm windows then 10 shifted ones stored (minute windows)."""
    registry = Registry.open(config)
    found = deploy_with_reference(registry, tmp_path, port=closed_port())
    record_windows(
        registry,
        found,
        calm_then_shifted(20, 10),
        tmp_path / "state",
        start=START,
        errors=[0] * 28 + [3, 4],
    )
    yield registry, found
    registry.close()


@pytest.fixture
def panel(qtbot: QtBot, queues: tuple[JobQueue, JobQueue]) -> Iterator[MonitoringPanel]:
    reader, network = queues
    widget = MonitoringPanel(reader, network)
    qtbot.addWidget(widget)
    widget.resize(1100, 700)
    widget.show()
    yield widget
    widget.shutdown()


def open_on(qtbot: QtBot, panel: MonitoringPanel, registry: Registry) -> None:
    """Give the panel the registry and wait for the stored windows and the first pull."""
    with qtbot.waitSignals([panel.sig_loaded, panel.sig_pulled], timeout=20_000):
        panel.set_registry(registry)
    drawn(qtbot, panel)


def drawn(qtbot: QtBot, panel: MonitoringPanel) -> None:
    """Wait for the redraw that follows new data (a short timer gathers appends)."""
    dashboard = panel.dashboard
    if dashboard is not None:
        qtbot.waitUntil(lambda: not dashboard.redraw_timer.isActive(), timeout=5000)


def scores(registry: Registry, feature: str) -> list[float]:
    return [
        live.score(w.drift["features"][feature]) for w in registry.monitor_windows(HOST, SERVICE)
    ]  # type: ignore[index]


def pull_result(**changes: Any) -> live.PullResult:
    fields: dict[str, Any] = {
        "host": HOST,
        "service": SERVICE,
        "ref": "churn:1",
        "new_windows": 0,
        "backends": [],
        "span": None,
        "thresholds": live.Thresholds(),
        "alert": {},
        "alert_changed": False,
        "metrics": None,
    }
    fields.update(changes)
    return live.PullResult(**fields)


# ---------------------------------------------------------------------- drawn from the registry
def test_stored_windows_are_drawn_one_curve_per_feature_and_drift_stands_out(
    qtbot: QtBot, panel: MonitoringPanel, monitored: tuple[Registry, Monitored]
) -> None:
    registry, _ = monitored
    open_on(qtbot, panel, registry)
    assert panel.chooser.count() == 1
    assert panel.chooser.currentData() == ADDRESS
    assert panel.stack.currentWidget() is panel.plots_page
    dashboard = panel.dashboard
    assert dashboard is not None
    assert list(dashboard.curves) == FEATURES
    in_plot = dashboard.drift_plot.listDataItems()
    assert all(curve in in_plot for curve in dashboard.curves.values())
    assert len([item for item in in_plot if item in dashboard.curves.values()]) == 4
    stored = registry.monitor_windows(HOST, SERVICE)
    assert len(stored) == 30 == panel.stored
    for name in dashboard.curves:
        x, y = dashboard.drawn(DRIFT + name)
        assert len(x) == len(y) == 30
        np.testing.assert_allclose(y, scores(registry, name), equal_nan=True)
    assert x[0] == pytest.approx(START)
    assert x[-1] == pytest.approx(START + 29 * 60)

    # the span (the newest 10 windows pooled) drifts on the two shifted features
    assert dashboard.drifting == {"tenure", "plan"}
    # drawn in full colour on top; the features that do not drift faded, below them
    shown = {n: c.opts["pen"].color().name() for n, c in dashboard.curves.items()}
    own = {n: str(c.property("colour")) for n, c in dashboard.curves.items()}
    assert shown["tenure"] == own["tenure"]
    assert shown["plan"] == own["plan"]
    assert shown["monthly_charges"] != own["monthly_charges"]
    assert shown["support_calls"] != own["support_calls"]
    assert dashboard.curves["plan"].zValue() > dashboard.curves["support_calls"].zValue()
    statuses = {
        dashboard.feature_list.topLevelItem(i).text(0): dashboard.feature_list.topLevelItem(i).text(
            2
        )
        for i in range(4)
    }
    assert statuses == {
        "tenure": "drifts",
        "plan": "drifts",
        "monthly_charges": "ok",
        "support_calls": "ok",
    }
    assert "2 of 4 features drift" in dashboard.summary.text()
    # the histogram shows the feature that drifts most, not merely the first one listed
    features = panel.dashboard.span["features"]  # type: ignore[union-attr]
    assert dashboard.selected == max(("tenure", "plan"), key=lambda n: live.score(features[n]))
    assert dashboard.threshold_line.isVisible()
    assert dashboard.threshold_line.value() == pytest.approx(0.1)
    assert "high = drift" in dashboard.drift_plot.getAxis("left").labelText

    # predictions (quantiles of the sampled predictions) and traffic, per window
    assert sorted(dashboard.prediction_curves) == ["p10", "p50", "p90"]
    medians = dashboard.drawn("p50")[1]
    assert len(medians) == 30
    assert np.nanmean(medians[-10:]) > np.nanmean(medians[:20])  # tenure up: churn scores up
    requests = dashboard.drawn("requests_per_s")[1]
    np.testing.assert_allclose(requests, [w.requests / w.seconds for w in stored])
    errors = dashboard.drawn("errors_per_s")[1]
    assert errors[-1] == pytest.approx(4 / 60)


def test_the_histogram_shows_reference_against_the_newest_windows(
    qtbot: QtBot, panel: MonitoringPanel, monitored: tuple[Registry, Monitored]
) -> None:
    registry, found = monitored
    open_on(qtbot, panel, registry)
    dashboard = panel.dashboard
    assert dashboard is not None
    dashboard.feature_list.setCurrentItem(dashboard.feature_list.topLevelItem(3))
    assert dashboard.selected == "plan"
    ticks = dashboard.histogram_plot.getAxis("left")._tickLevels[0]
    categories = found.profile["columns"]["plan"]["categories"]
    assert [label for _, label in ticks] == [*categories, "other"]
    reference = dashboard.reference_bars.opts["width"]
    current = dashboard.current_bars.opts["width"]
    assert sum(reference) == pytest.approx(100.0)
    assert sum(current) == pytest.approx(100.0)
    team = categories.index("team")
    assert reference[team] == pytest.approx(20, abs=3)  # the reference mix: 50/30/20
    assert current[team] == pytest.approx(60, abs=6)  # the shifted windows': 15/25/60
    assert "plan" in str(dashboard.histogram_plot.property("title"))
    assert "newest 10 windows" in dashboard.histogram_plot.getAxis("bottom").labelText


def test_an_unreachable_host_is_said_and_the_plots_stay(
    qtbot: QtBot, panel: MonitoringPanel, monitored: tuple[Registry, Monitored]
) -> None:
    registry, _ = monitored
    open_on(qtbot, panel, registry)  # the first pull went to a closed port
    text = panel.status_line.text()
    assert text.startswith("unreachable: 127.0.0.1:")
    assert "refused the connection" in text
    assert "30 windows stored" in text
    assert panel.stack.currentWidget() is panel.plots_page
    dashboard = panel.dashboard
    assert dashboard is not None
    assert all(len(dashboard.drawn(DRIFT + n)[0]) == 30 for n in dashboard.curves)
    assert panel.pull_button.isEnabled()

    # a host that accepts the connection and then says nothing: the pull waits on SSH in
    # the background while the window keeps answering
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(4)
        registry.remove_host(HOST)
        registry.add_host(HOST, "127.0.0.1", port=silent.getsockname()[1], user="modelbay")
        beat = Heartbeat()
        beat.start()
        job = panel.pull_now()
        assert job is not None
        qtbot.wait(1500)
        beat.stop()
        assert not job.finished  # still waiting for the SSH banner
        assert beat.ticks > 100, beat.summary()
        assert beat.longest_stall_ms < 250, beat.summary()
        assert panel.pull_now() is None  # one pull at a time
        with qtbot.waitSignal(panel.sig_pulled, timeout=30_000):
            silent.close()  # the pending connection is reset: the pull fails
    assert panel.status_line.text().startswith("unreachable: ")
    assert all(len(dashboard.drawn(DRIFT + n)[0]) == 30 for n in dashboard.curves)


def test_windows_stored_by_a_pull_are_appended_and_a_hole_is_a_gap(
    qtbot: QtBot,
    panel: MonitoringPanel,
    monitored: tuple[Registry, Monitored],
    tmp_path: Path,
) -> None:
    registry, found = monitored
    open_on(qtbot, panel, registry)
    dashboard = panel.dashboard
    assert dashboard is not None
    curve = dashboard.curves["tenure"]
    first = id(curve)
    # ten calm windows, an hour after the last: the service was down in between
    later = START + 30 * 60 + 3600
    record_windows(
        registry, found, [table(200, seed=900 + i) for i in range(10)], tmp_path / "s2", start=later
    )
    with qtbot.waitSignal(panel.sig_appended, timeout=10_000):
        panel.apply_result(pull_result(new_windows=10))
    qtbot.waitUntil(lambda: len(dashboard.drawn("drift:tenure")[0]) == 41, timeout=5000)
    assert id(dashboard.curves["tenure"]) == first  # the same curve, new data
    assert panel.stored == 40
    x, y = dashboard.drawn("drift:tenure")
    assert np.isnan(y[30])
    assert x[29] < x[30] < x[31]
    assert x[31] == pytest.approx(later)
    np.testing.assert_allclose(np.delete(y, 30), scores(registry, "tenure"), equal_nan=True)
    assert dashboard.drifting == set()  # the newest 10 windows are calm again
    assert "Pulled at" in panel.status_line.text()
    assert "10 new windows" in panel.status_line.text()


def test_an_alert_shows_a_banner_marks_the_service_and_notifies(
    qtbot: QtBot, panel: MonitoringPanel, monitored: tuple[Registry, Monitored]
) -> None:
    registry, _ = monitored
    open_on(qtbot, panel, registry)
    assert panel.banner.isHidden()
    alert = {"reasons": ["2 of 4 features drift (tenure, plan)"], "since": "2025-06-15T14:00:00"}
    with (
        qtbot.waitSignal(panel.sig_notify, timeout=5000) as notified,
        qtbot.waitSignal(panel.sig_alerts, timeout=5000) as marked,
    ):
        panel.apply_result(pull_result(alert=alert, alert_changed=True))
    assert notified.args == [f"Drift alert: {ADDRESS}", "2 of 4 features drift (tenure, plan)"]
    assert marked.args == [{ADDRESS: "2 of 4 features drift (tenure, plan)"}]
    assert panel.banner.isVisible()
    assert "2 of 4 features drift (tenure, plan)" in panel.banner.text()
    assert "ALERT" in panel.chooser.itemText(0)
    assert not panel.chooser.itemIcon(0).isNull()
    # the next pull still alerts: no second notification; then it recovers
    panel.apply_result(pull_result(alert=alert, alert_changed=False))
    assert panel.banner.isVisible()
    with qtbot.waitSignal(panel.sig_notify, timeout=5000) as notified:
        panel.apply_result(pull_result(alert={}, alert_changed=True))
    assert notified.args[0] == f"{ADDRESS} is back within its thresholds"
    assert panel.banner.isHidden()
    assert "ALERT" not in panel.chooser.itemText(0)


def test_traffic_and_latency_come_from_successive_metrics(
    qtbot: QtBot, panel: MonitoringPanel, monitored: tuple[Registry, Monitored]
) -> None:
    registry, _ = monitored
    open_on(qtbot, panel, registry)
    dashboard = panel.dashboard
    assert dashboard is not None
    counters = {"requests": 100.0, "errors": 1.0, "latency_sum": 2.0, "latency_count": 100.0}
    panel.apply_result(pull_result(metrics=counters, at=1000.0))
    more = {"requests": 150.0, "errors": 6.0, "latency_sum": 3.5, "latency_count": 150.0}
    panel.apply_result(pull_result(metrics=more, at=1010.0))
    assert "5.00 requests/s, 10.0 % failed, 30.0 ms mean latency" in panel.status_line.text()
    dashboard.redraw()
    x, y = dashboard.latency_curve.getOriginalDataset()
    assert list(x[-2:]) == [1000.0, 1010.0]
    assert np.isnan(y[-2])
    assert y[-1] == pytest.approx(30.0)
    # a new version's counters start again: no rate across the two
    panel.apply_result(pull_result(ref="churn:2", metrics=counters, at=1020.0))
    dashboard.redraw()
    assert np.isnan(dashboard.latency_curve.getOriginalDataset()[1][-1])


# ---------------------------------------------------------------------- thresholds, export
def test_thresholds_edited_in_the_window_are_stored(
    qtbot: QtBot, panel: MonitoringPanel, monitored: tuple[Registry, Monitored]
) -> None:
    from PySide6.QtWidgets import QDialogButtonBox

    registry, _ = monitored
    open_on(qtbot, panel, registry)
    dialog = panel.open_thresholds()
    assert dialog is not None
    assert dialog.drift_share.value() == 50
    assert dialog.span.value() == 10
    dialog.drift_share.setValue(30)
    dialog.error_rate.setValue(2.5)
    dialog.span.setValue(20)
    dialog.min_rows.setValue(100)
    with qtbot.waitSignal(panel.sig_status, timeout=10_000) as said:
        dialog.buttons.button(QDialogButtonBox.StandardButton.Save).click()
    assert "30% of features drifting" in said.args[0]
    stored = live.thresholds_of(registry, HOST, SERVICE)
    assert stored == live.Thresholds(drift_share=0.3, error_rate=0.025, span=20, min_rows=100)
    assert panel.thresholds == stored
    again = panel.open_thresholds()
    assert again is not None
    assert (again.drift_share.value(), again.span.value()) == (30, 20)
    again.reject()


def test_plots_export_to_png_and_svg_and_the_windows_to_csv(
    qtbot: QtBot, panel: MonitoringPanel, monitored: tuple[Registry, Monitored], tmp_path: Path
) -> None:
    from PySide6.QtGui import QImage

    registry, _ = monitored
    open_on(qtbot, panel, registry)
    png = panel.export_png(tmp_path / "plots.png")
    assert png is not None
    image = QImage(str(png))
    assert image.width() > 500
    assert image.height() > 300
    colours = {image.pixel(x, y) for x in range(0, image.width(), 7) for y in range(0, 300, 7)}
    assert len(colours) > 10  # curves, bars, text: not a blank picture
    svg = panel.export_svg(tmp_path / "plots.svg")
    assert svg is not None
    drawing = svg.read_text(encoding="utf-8")
    assert drawing.startswith("<?xml")
    assert "<svg" in drawing
    assert drawing.count("<path") + drawing.count("<polyline") > 20
    assert "tenure" in drawing  # the titles and tick labels are text
    job = panel.export_csv(tmp_path / "windows.csv")
    assert job is not None
    qtbot.waitUntil(lambda: job.finished, timeout=10_000)
    assert job.result == 120  # 30 windows x 4 features
    with (tmp_path / "windows.csv").open(encoding="utf-8") as table_file:
        rows = list(csv.DictReader(table_file))
    assert len(rows) == 120
    assert {r["feature"] for r in rows} == set(FEATURES)
    assert rows[-4]["feature"] == "tenure"
    assert rows[-4]["drifted"] == "True"


# ---------------------------------------------------------------------- empty states
def test_without_deployments_or_windows_the_panel_says_how_to_begin(
    qtbot: QtBot, panel: MonitoringPanel, config: Config, tmp_path: Path
) -> None:
    with Registry.open(config) as registry:
        panel.set_registry(registry)
        qtbot.waitUntil(lambda: panel.stack.currentWidget() is panel.empty, timeout=10_000)
        assert "Attach reference data to a version" in panel.text.text()
        assert not panel.pull_button.isEnabled()
        deploy_with_reference(registry, tmp_path, port=closed_port())
        with qtbot.waitSignals([panel.sig_loaded, panel.sig_pulled], timeout=20_000):
            panel.refresh_services()
        assert panel.stack.currentWidget() is panel.no_windows
        assert panel.no_windows.text.text().startswith(
            "Deploy with reference data and send traffic"
        )
        assert panel.status_line.text().startswith("unreachable: ")
        panel.shutdown()


# ---------------------------------------------------------------------- the main window
def test_the_window_opens_monitoring_from_deployments_and_falls_back_without_a_tray(
    qtbot: QtBot, config: Config, tmp_path: Path
) -> None:
    from app.deploy.service import ServiceStatus
    from app.ui.main_window import MainWindow

    with Registry.open(config) as registry:
        found = deploy_with_reference(registry, tmp_path, port=closed_port())
        record_windows(registry, found, calm_then_shifted(3, 0), tmp_path / "s", start=START)
    window = MainWindow(config)
    qtbot.addWidget(window)
    window.show()
    qtbot.waitUntil(lambda: window.registry is not None, timeout=10_000)
    try:
        deployments = window.deployments_panel
        deployments.show_statuses(
            [ServiceStatus(HOST, SERVICE, "healthy", ref="churn:1", port=32771, uid="u1")]
        )
        deployments.table.selectRow(0)
        panel = window.monitoring_panel
        with qtbot.waitSignal(panel.sig_loaded, timeout=10_000):
            deployments.monitor_button.click()
        assert window.pages.currentWidget() is panel
        assert panel.address == ADDRESS
        assert panel.stored == 3
        qtbot.waitUntil(lambda: panel.last_error is not None, timeout=20_000)
        alert = {"reasons": ["3 of 10 requests failed (30%)"]}
        panel.apply_result(pull_result(alert=alert, alert_changed=True))
        if window.tray is None:  # offscreen: no system tray, the status bar says it
            assert "Drift alert: churn@gpu-1: 3 of 10 requests failed" in (
                window.statusBar().currentMessage()
            )
        else:
            assert window.tray.isVisible()
        assert deployments.alerts == {ADDRESS: "3 of 10 requests failed (30%)"}
        assert "alerting: 3 of 10 requests failed" in deployments.table.item(0, 0).toolTip()
        assert panel.banner.isVisible()
    finally:
        window.close()


@pytest.mark.integration
@pytest.mark.display
def test_the_monitoring_panel_in_pictures(display: XDisplay | None) -> None:  # noqa: F811
    """The real window under Xvfb: a service whose inputs drifted, from the registry alone."""
    take_pictures(display, "tests.ui.tour_monitoring", ["monitoring-panel"], {})


# ---------------------------------------------------------------------- the columns
def test_columns_grow_by_blocks_and_drop_the_oldest_past_their_limit() -> None:
    columns = Columns(capacity=4, limit=10)
    columns.append({TIME: np.arange(3.0), "a": np.arange(3.0)})
    columns.append({TIME: np.arange(3.0, 6.0), "b": np.ones(3)})
    assert len(columns) == 6
    assert columns.capacity >= 6
    assert list(columns.view("a")[:3]) == [0, 1, 2]
    assert np.isnan(columns.view("a")[3:]).all()
    assert np.isnan(columns.view("b")[:3]).all()
    assert list(columns.view("b")[3:]) == [1, 1, 1]
    assert np.isnan(columns.view("missing")).all()
    assert len(columns.view("missing")) == 6
    columns.append({TIME: np.arange(6.0, 11.0), "a": np.arange(6.0, 11.0)})
    assert len(columns) <= 10
    assert columns.times[-1] == 10.0
    assert list(columns.times) == sorted(columns.times)  # the newest kept, in order
    assert columns.view("a")[-1] == 10.0
    columns.append({TIME: np.arange(100.0, 150.0)})  # a block larger than the limit
    assert len(columns) == 10
    assert columns.times[0] == 140.0


def test_peaks_are_reduced_once_and_kept_up_to_date_window_by_window() -> None:
    rng = np.random.default_rng(3)
    values = rng.normal(size=1000)
    values[100:120] = np.nan  # no verdict: a bucket of NaN stays a gap
    columns = Columns()
    columns.append({TIME: np.arange(1000.0), "a": values})
    peaks = PeakView()
    peaks.build(columns, ["a"], start=0, bucket=10)
    x, y = peaks.data(columns, "a")
    buckets = values.reshape(100, 10)
    assert len(x) == len(y) == 200
    np.testing.assert_allclose(y[0::2], np.fmax.reduce(buckets, axis=1), equal_nan=True)
    np.testing.assert_allclose(y[1::2], np.fmin.reduce(buckets, axis=1), equal_nan=True)
    assert np.isnan(y[20:24]).all()
    assert x[0] == x[1] == pytest.approx(4.5)
    # a new row inside the range of its (new, partial) bucket, then one that widens it
    columns.append({TIME: np.asarray([1000.0]), "a": np.asarray([0.5])})
    assert peaks.extend(columns) == (set(), {"a"})  # a new bucket: only the newest points
    columns.append({TIME: np.asarray([1001.0]), "a": np.asarray([0.2])})
    assert peaks.extend(columns) == (set(), {"a"})  # its minimum moved
    columns.append({TIME: np.asarray([1002.0]), "a": np.asarray([0.3])})
    assert peaks.extend(columns) == (set(), set())  # within: nothing to draw again
    x, y = peaks.data(columns, "a")
    assert list(y[-2:]) == [0.5, 0.2]
    assert x[-1] == pytest.approx(1001.0)
    assert peaks.stale(columns, ["a"]) is False
    assert peaks.stale(columns, ["a", "b"]) is True
    # drawn in two parts: the settled buckets, and the newest from the last settled point on
    settled_x, settled_y = peaks.settled_data(columns, "a")
    newest_x, newest_y = peaks.newest_data(columns, "a")
    assert len(settled_x) == 200
    assert (newest_x[0], newest_y[0]) == (settled_x[-1], settled_y[-1])
    assert list(newest_y[1:]) == [0.5, 0.2]
    # complete buckets stay in the newest part until there are SETTLE_BUCKETS of them
    settled = []
    for row in range(1003, 1000 + 10 * SETTLE_BUCKETS + 5):
        columns.append({TIME: np.asarray([float(row)]), "a": np.asarray([float(row % 7)])})
        changed = peaks.extend(columns)
        if changed[0]:
            settled.append(row)
            assert changed == ({"a"}, {"a"})
    assert settled == [1000 + 10 * SETTLE_BUCKETS - 1]  # once, when the 16th one completed
    assert len(peaks.settled_data(columns, "a")[0]) == 200 + 2 * SETTLE_BUCKETS
    whole_x, whole_y = peaks.data(columns, "a")
    assert len(whole_x) == 200 + 2 * SETTLE_BUCKETS + 2  # and the incomplete bucket
    fresh = PeakView()
    fresh.build(columns, ["a"], start=0, bucket=10)
    np.testing.assert_array_equal(fresh.data(columns, "a")[1], whole_y)


def test_a_new_window_repaints_a_strip_and_leaves_the_picture_a_full_repaint_makes(
    qtbot: QtBot, panel: MonitoringPanel
) -> None:
    """The newest points have an item of their own that marks only the pixel columns that
    changed: Qt paints a strip at the right, and what the window shows afterwards is what
    painting everything again shows (no stale pixels)."""
    from PySide6.QtCore import QEvent, QObject
    from PySide6.QtGui import QRegion

    from tests.benchmarks.monitoring_dashboard import one_window, synthetic_day

    dashboard = panel.ensure_dashboard()
    panel.stack.setCurrentWidget(panel.plots_page)
    block, names = synthetic_day(6, 3 * 3600, START)
    dashboard.append(block)
    dashboard.set_visible_seconds(3600)
    qtbot.wait(50)
    view = dashboard.graphics
    painted: list[QRegion] = []

    class Paints(QObject):
        def eventFilter(self, _watched: QObject, event: QEvent) -> bool:
            if event.type() == QEvent.Type.Paint:
                painted.append(QRegion(event.region()))  # type: ignore[attr-defined]
            return False

    paints = Paints()
    view.viewport().installEventFilter(paints)
    rng = np.random.default_rng(5)
    plot_area = view.mapFromScene(dashboard.drift_plot.getViewBox().sceneBoundingRect())
    area = plot_area.boundingRect()
    narrow = 0
    for _ in range(3 * 9 * SETTLE_BUCKETS):  # through folds of the newest points
        moment = float(dashboard.windows.times[-1]) + 1
        dashboard.append(one_window(names, moment, len(dashboard.windows), rng))
        painted.clear()
        dashboard.redraw()
        qtbot.wait(1)
        width = max((r.boundingRect().width() for r in painted), default=0)
        narrow += width < area.width() / 4
    assert narrow > 2 * 9 * SETTLE_BUCKETS  # most updates painted a strip, not the plot
    window = view.window().windowHandle()
    shown = window.screen().grabWindow(window.winId()).toImage()
    view.viewport().repaint()
    again = window.screen().grabWindow(window.winId()).toImage()
    assert not shown.isNull()
    view.viewport().removeEventFilter(paints)
    assert shown == again


def test_a_block_breaks_at_holes_and_skips_windows_held_already(
    monitored: tuple[Registry, Monitored], tmp_path: Path
) -> None:
    registry, found = monitored
    stored = registry.monitor_windows(HOST, SERVICE)
    whole = block_of(stored)
    assert whole.rows == whole.windows == 30
    assert whole.features == FEATURES
    assert whole.family == "distance"
    assert whole.threshold == pytest.approx(0.1)
    assert whole.last is not None
    assert block_of(stored, whole.last).windows == 0  # nothing after what is held
    record_windows(registry, found, [table(100, seed=7)], tmp_path / "s", start=START + 7200)
    newer = block_of(registry.monitor_windows(HOST, SERVICE, since=whole.last[0]), whole.last)
    assert newer.windows == 1
    assert newer.rows == 2
    assert np.isnan(newer.columns["drift:tenure"][0])
    assert newer.columns[TIME][1] == pytest.approx(START + 7200)


def test_traffic_between_two_reads_of_the_counters() -> None:
    before = (
        "churn:1",
        100.0,
        {"requests": 10.0, "errors": 0.0, "latency_sum": 0.1, "latency_count": 10.0},
    )
    now = (
        "churn:1",
        110.0,
        {"requests": 60.0, "errors": 5.0, "latency_sum": 1.1, "latency_count": 60.0},
    )
    found = traffic_between(before, now)
    assert found is not None
    assert (found.per_second, found.error_share, found.latency_ms) == pytest.approx(
        (5.0, 0.1, 20.0)
    )
    assert traffic_between(None, now) is None
    assert traffic_between(("churn:2", 100.0, before[2]), now) is None
    assert traffic_between(now, ("churn:1", 120.0, before[2])) is None  # restarted: counters fell


def test_the_feature_list_fits_long_names_and_follows_the_worst_drift(qtbot: QtBot) -> None:
    """Long, bold names of drifting features (as sklearn's iris columns) keep their status
    readable, and the histogram shows the feature that drifts most until the user picks."""
    from app.ui.monitoring_plots import Dashboard

    dashboard = Dashboard()
    qtbot.addWidget(dashboard)
    dashboard.resize(1080, 480)  # the panel in a 1260-pixel window
    dashboard.show()
    names = ["sepal length (cm)", "sepal width (cm)", "petal length (cm)", "petal width (cm)"]
    statistics = [0.03, 0.98, 1.05, 0.06]

    def span(picked_first: float) -> dict[str, Any]:
        values = [picked_first, *statistics[1:]]
        features = {
            n: {"test": "wasserstein", "statistic": v, "p_value": None, "drifted": v >= 0.1}
            for n, v in zip(names, values, strict=True)
        }
        return {"family": "distance", "threshold": 0.1, "features": features}

    dashboard.set_span(span(0.03))
    tree = dashboard.feature_list
    qtbot.waitUntil(lambda: tree.header().sectionSize(2) > 0)
    # every column whole in view: nothing cut off at the edge, no sideways scrolling
    for column in range(3):
        assert tree.header().sectionSize(column) >= tree.sizeHintForColumn(column)
    qtbot.waitUntil(lambda: tree.header().length() <= tree.viewport().width(), timeout=2000)
    assert tree.horizontalScrollBar().maximum() == 0
    assert dashboard.selected == "petal length (cm)"  # 1.05: the largest distance

    dashboard.feature_list.setCurrentItem(dashboard.feature_list.topLevelItem(3))
    dashboard.set_span(span(0.5))  # a new span: the user's choice stays
    assert dashboard.selected == "petal width (cm)"


@pytest.mark.parametrize("dots", [True, False])
def test_a_first_window_shows_as_a_dot_before_there_is_a_line(
    qtbot: QtBot, panel: MonitoringPanel, monkeypatch: pytest.MonkeyPatch, dots: bool
) -> None:
    """One window is one point per curve: a line through it draws nothing, so the newest
    points draw a dot where a point has no neighbour. ``dots=False`` is the control: the
    same picture without the dots has nothing there."""
    from dataclasses import replace

    from PySide6.QtCore import QPointF

    from app.ui import monitoring_plots
    from tests.benchmarks.monitoring_dashboard import one_window

    if not dots:
        monkeypatch.setattr(monitoring_plots, "_lone_points", lambda x, y: None)
    dashboard = panel.ensure_dashboard()
    panel.stack.setCurrentWidget(panel.plots_page)
    block = one_window(["feature_00"], START + 60, 0, np.random.default_rng(3))
    dashboard.append(replace(block, features=["feature_00"]))
    dashboard.redraw()
    box = dashboard.drift_plot.getViewBox()
    box.setRange(xRange=(START, START + 120), yRange=(0, 1), padding=0)
    qtbot.wait(50)
    score = float(dashboard.windows.view("drift:feature_00")[-1])
    view = dashboard.graphics
    at = view.mapFromScene(box.mapViewToScene(QPointF(START + 60, score)))
    image = view.viewport().grab().toImage()
    background = image.pixelColor(at.x() - 20, at.y()).rgb()
    around = [
        image.pixelColor(at.x() + dx, at.y() + dy).rgb()
        for dx in range(-2, 3)
        for dy in range(-2, 3)
    ]
    assert any(colour != background for colour in around) == dots
