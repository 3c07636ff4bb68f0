"""The deploy window and the Deployments panel.

Offscreen: the deploy window's checks and the options it produces; the panel's
table from statuses as the hosts report them (dots, uptime, rates from two reads),
the history from a real registry, and that reading the hosts happens off the GUI
thread, one read at a time, and survives a failed read. Against the real test
host (integration): a deploy driven through the real window, the service live in
the panel, its log, its endpoint, a rollback and a stop; and the screenshots.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import threading
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from pytestqt.qtbot import QtBot

from app.config import Config
from app.deploy.host import DeployError
from app.deploy.service import DeployOptions, DeployResult, ServiceStatus, show_log_tail
from app.errors import ModelbayError
from app.registry import DeploymentInfo, NewDeployment, Registry, VersionInfo
from app.remote.ship import ShipResult
from app.ui.deploy_dialog import DeployDialog, success_words
from app.ui.deployments_panel import (
    DASH,
    GREEN,
    RED,
    DeploymentsPanel,
    LogStream,
    rollback_target,
    traffic,
    uptime,
)
from app.ui.jobs import JobQueue, JobState
from tests.deploy.conftest import (  # noqa: F401 - fixtures for the tests against the real host
    _own_ssh_environment,
    deploy_config,
    deploy_registry,
    forget_containers,
    shared_cache,
)
from tests.formats import makers
from tests.remote_host import RemoteHost
from tests.ui.test_screenshot import display, take_pictures  # noqa: F401 - the X display
from tests.ui.test_version_detail import cells

if TYPE_CHECKING:
    from app.ui.main_window import MainWindow
    from tests.services import XDisplay


@pytest.fixture
def iris(config: Config, tmp_path: Path) -> Iterator[tuple[Registry, VersionInfo, VersionInfo]]:
    registry = Registry.open(config)
    first = registry.import_path(makers.sklearn_joblib(tmp_path / "a"), name="iris")
    second = registry.import_path(
        makers.sklearn_joblib(tmp_path / "b", compress="gzip"), name="iris"
    )
    yield registry, first, second
    registry.close()


def record(
    registry: Registry, info: VersionInfo, status: str, *, error: str = "", port: int = 32771
) -> DeploymentInfo:
    """A deployment row as the deploy service writes it (start, then its outcome)."""
    row = registry.start_deployment(
        NewDeployment(
            host="gpu-1",
            service="iris",
            target=info,
            image_id=f"sha256:{info.version:064d}",
            image_tag=f"modelbay/iris:{info.version}",
            port=port,
        )
    )
    if status in {"live", "retired", "stopped"}:  # these went live first
        registry.update_deployment(row.uid, "live")
    if status not in {"live", "deploying"}:
        registry.update_deployment(row.uid, status, error=error or None)
    return registry.deployment(row.uid)


def status(
    state: str = "healthy",
    *,
    service: str = "iris",
    host: str = "gpu-1",
    uid: str = "abc123",
    requests: float | None = None,
    at: float = 1000.0,
    **fields: Any,
) -> ServiceStatus:
    metrics = None
    if requests is not None:
        metrics = {
            "requests": requests,
            "errors": requests / 10,
            "latency_sum": requests * 0.02,
            "latency_count": requests,
        }
    return ServiceStatus(
        host,
        service,
        state,
        ref=fields.pop("ref", "iris:2"),
        uid=uid,
        port=fields.pop("port", 32771),
        metrics=metrics,
        checked_at=at,
        **fields,
    )


def dot_colour(item: Any) -> str:
    return str(item.icon().pixmap(14, 14).toImage().pixelColor(7, 7).name())


# ---------------------------------------------------------------------- the deploy window
def make_dialog(
    qtbot: QtBot,
    registry: Registry,
    info: VersionInfo,
    queues: tuple[JobQueue, JobQueue],
    hosts: list[str] | None = None,
) -> DeployDialog:
    reader, network = queues
    dialog = DeployDialog(
        info,
        hosts=["gpu-1"] if hosts is None else hosts,
        registry=registry,
        queue=network,
        reader=reader,
    )
    qtbot.addWidget(dialog)
    dialog.show()
    return dialog


def test_deploy_window_says_next_to_each_field_what_is_wrong(
    qtbot: QtBot, iris: tuple[Registry, VersionInfo, VersionInfo], queues: Any
) -> None:
    registry, _, second = iris
    dialog = make_dialog(qtbot, registry, second, queues)
    assert dialog.service.text() == "iris"  # the model's name, made a service name
    dialog.service.setText("Iris Model")
    dialog.port.setText("70000")
    dialog.memory.setText("lots")
    dialog.alias.setText("prod:1")
    dialog.add_env_row("1THREADS", "4")
    assert dialog.start() is None  # nothing starts
    assert queues[1].jobs == []
    assert "not a usable service name" in dialog.service_error.text()
    assert "out of range: ports go from 1 to 65535" in dialog.port_error.text()
    assert "not a size" in dialog.memory_error.text()
    assert "'prod:1' cannot be a alias: it contains ':'" in dialog.alias_error.text()
    assert dialog.env_error.text().startswith("Row 1: '1THREADS' is not a variable name")

    dialog.env.item(0, 0).setText("MODELBAY_TOKEN")
    assert dialog.options() is None
    assert "set by Modelbay itself" in dialog.env_error.text()
    dialog.add_env_row("THREADS", "4")
    dialog.env.item(0, 0).setText("THREADS")
    assert dialog.options() is None
    assert "THREADS is set twice" in dialog.env_error.text()
    dialog.close()


def test_deploy_window_produces_the_options_typed(
    qtbot: QtBot, iris: tuple[Registry, VersionInfo, VersionInfo], queues: Any
) -> None:
    registry, _, second = iris
    dialog = make_dialog(qtbot, registry, second, queues)
    # nothing typed: everything "as the service is now", on loopback, the default timeout
    assert dialog.options() == DeployOptions(service="iris", timeout=120.0)
    dialog.port.setText(" 8080 ")
    dialog.public.setChecked(True)
    dialog.add_env_row("THREADS", "4")
    dialog.add_env_row("", "")  # an empty row is ignored
    dialog.add_env_row("LOG_LEVEL", "debug")
    dialog.memory.setText("1.5g")
    dialog.cpus.setValue(2.5)
    dialog.alias.setText("production")
    dialog.timeout.setValue(300)
    assert dialog.options() == DeployOptions(
        service="iris",
        port=8080,
        public=True,
        env={"THREADS": "4", "LOG_LEVEL": "debug"},
        memory=int(1.5 * 1024**3),
        cpus=2.5,
        timeout=300.0,
        set_alias="production",
    )
    for label in (dialog.port_error, dialog.env_error, dialog.memory_error, dialog.alias_error):
        assert label.text() == ""
    dialog.close()


def test_deploy_window_shows_what_runs_and_keeps_its_address(
    qtbot: QtBot, iris: tuple[Registry, VersionInfo, VersionInfo], queues: Any
) -> None:
    registry, first, second = iris
    record(registry, first, "live", port=32771)
    dialog = make_dialog(qtbot, registry, second, queues)
    qtbot.waitUntil(lambda: dialog.current is not None, timeout=10_000)  # read in the background
    assert "iris:1" in dialog.now.text()
    assert "port 32771" in dialog.now.text()
    assert not dialog.port.isEnabled()
    assert not dialog.public.isEnabled()
    assert dialog.port.placeholderText() == "32771"
    options = dialog.options()
    assert options is not None
    assert (options.port, options.public) == (None, None)  # the service keeps its address

    dialog.service.setText("iris-canary")  # another service: nothing runs there yet
    qtbot.waitUntil(lambda: dialog.current is None and dialog.port.isEnabled(), timeout=10_000)
    assert "creates the service iris-canary on gpu-1" in dialog.now.text()
    dialog.close()


def test_deploy_window_without_hosts_says_how_to_add_one(
    qtbot: QtBot, iris: tuple[Registry, VersionInfo, VersionInfo], queues: Any
) -> None:
    registry, _, second = iris
    dialog = make_dialog(qtbot, registry, second, queues, hosts=[])
    assert not dialog.deploy_button.isEnabled()
    assert dialog.no_hosts.isVisible()
    assert "Add one in <b>Hosts</b> (Add host…)" in dialog.no_hosts.text()
    assert dialog.start() is None
    dialog.close()


def test_deploy_window_shows_a_failure_in_words_and_the_new_containers_log(
    qtbot: QtBot, iris: tuple[Registry, VersionInfo, VersionInfo], queues: Any
) -> None:
    registry, first, second = iris
    record(registry, first, "live")
    dialog = make_dialog(qtbot, registry, second, queues)
    qtbot.waitUntil(lambda: dialog.current is not None, timeout=10_000)

    said: list[str] = []

    def fails(_p: object, _c: object) -> None:
        error = DeployError(
            "the new container did not become healthy within 8 s; the previous version keeps "
            "serving",
            hint="a slow model may need a longer --timeout",
            show_log=True,
        )
        tail = "\n".join([*(f"INFO starting {i}" for i in range(20)), "ValueError: lots"])
        show_log_tail(error, tail, "modelbay-iris-2", said.append)  # as the deploy does
        raise error

    job = queues[1].submit("Deploying iris:2 to gpu-1 as iris", fails)
    dialog.watch(job, "iris@gpu-1")
    qtbot.waitUntil(lambda: job.finished, timeout=10_000)
    text = dialog.outcome.text()
    assert "The deploy failed:</b> the new container did not become healthy within 8 s" in text
    assert "the previous version keeps serving" in text
    assert "A slow model may need a longer --timeout" in text
    last = "\n".join([*(f"INFO starting {i}" for i in range(13, 20)), "ValueError: lots"])
    assert f"Its last log lines:<pre>{last}</pre>" in text  # the last 8 of them
    assert "INFO starting 12" not in text
    assert "  ValueError: lots" in said  # the step log has all of them
    assert not dialog.cancel_button.isEnabled()
    assert dialog.step.text() == "failed"

    def refused(_p: object, _c: object) -> None:
        raise ModelbayError("port 32771 on gpu-1 is already in use by another program")

    job = queues[1].submit("Deploying iris:2 to gpu-1 as iris", refused)
    dialog.watch(job, "iris@gpu-1")
    qtbot.waitUntil(lambda: job.finished, timeout=10_000)
    assert "Nothing was switched: iris:1 still serves as iris@gpu-1." in dialog.outcome.text()
    dialog.close()


def test_success_in_words(iris: tuple[Registry, VersionInfo, VersionInfo]) -> None:
    registry, first, second = iris
    old = record(registry, first, "retired")
    new = record(registry, second, "live")
    shipped = ShipResult("gpu-1", "iris:2", "modelbay/iris:2", "sha256:1", 0, 5, 0, 0.1, True)
    words = success_words(DeployResult(new, old, shipped, 14.2))
    assert "<b>iris@gpu-1</b> serves <b>iris:2</b> (was iris:1) on port 32771" in words
    assert "loopback, reach it with <b>Open endpoint</b>" in words
    public = dataclasses.replace(new, public=True)
    words = success_words(DeployResult(public, None, shipped, 3, token_in_keyring=True))
    assert "on all interfaces" in words
    assert "modelbay token iris@gpu-1" in words


# ---------------------------------------------------------------------- the panel
@pytest.fixture
def panel(qtbot: QtBot, queues: tuple[JobQueue, JobQueue]) -> Iterator[DeploymentsPanel]:
    reader, network = queues
    widget = DeploymentsPanel(reader, network)
    qtbot.addWidget(widget)
    widget.resize(1000, 600)
    widget.show()
    yield widget
    widget.shutdown()


def test_rates_need_two_reads_of_the_same_backend() -> None:
    assert traffic(None, status(requests=10)) is None
    assert traffic(status(requests=None), status(requests=10, at=1010)) is None
    found = traffic(status(requests=100, at=1000), status(requests=150, at=1010))
    assert found is not None
    assert found.per_second == pytest.approx(5.0)
    assert found.error_share == pytest.approx(0.1)
    assert found.latency == pytest.approx(0.02)
    # another version took over, or the backend restarted: its counters began again
    assert traffic(status(requests=100), status(requests=150, uid="new", at=1010)) is None
    assert traffic(status(requests=100), status(requests=20, at=1010)) is None
    idle = traffic(status(requests=100), status(requests=100, at=1010))
    assert idle is not None
    assert (idle.per_second, idle.error_share, idle.latency) == (0.0, None, None)


def test_uptime_in_words() -> None:
    now = dt.datetime(2025, 3, 1, 12, 0, tzinfo=dt.UTC).timestamp()
    assert uptime("2025-03-01T08:47:30.123456789Z", now) == "3 h 12 min"
    assert uptime("2025-02-27T10:00:00Z", now) == "2 d 2 h"
    assert uptime("2025-03-01T11:59:15Z", now) == "45 s"
    assert uptime("0001-01-01T00:00:00Z", now) == DASH  # Docker's "never started"
    assert uptime(None, now) == DASH


def test_the_table_shows_health_traffic_and_uptime(qtbot: QtBot, panel: DeploymentsPanel) -> None:
    started = (dt.datetime.now(dt.UTC) - dt.timedelta(hours=3, minutes=12, seconds=5)).isoformat()
    unreachable = ServiceStatus(
        "edge-2", "churn", "unreachable", ref="churn:4", port=8000, detail="no route to host"
    )
    first = [
        status(requests=100, at=1000, started_at=started, public=True),
        status("starting", service="wine", ref="wine:1", port=32772, requests=0, at=1000),
        unreachable,
    ]
    panel.show_statuses(first)
    assert panel.stack.currentIndex() == 2
    rows = cells(panel.table)
    assert rows[0][:5] == ["iris@gpu-1", "iris:2", "healthy", "32771 public", "3 h 12 min"]
    assert rows[0][5:] == [DASH, DASH, DASH, ""]  # one read: no rates yet; healthy: no detail
    assert rows[1][:4] == ["wine@gpu-1", "wine:1", "starting", "32772"]
    assert rows[2][:3] == ["churn@edge-2", "churn:4", "unreachable"]
    assert rows[2][8] == "no route to host"  # the detail, in words
    assert panel.table.item(2, 2).toolTip() == "no route to host"
    assert [dot_colour(panel.table.item(r, 0)) for r in range(3)] == [GREEN, "#ef8f00", RED]
    assert "3 services on 2 hosts" in panel.status_line.text()

    second = [
        status(requests=150, at=1010, started_at=started, public=True),
        status("starting", service="wine", ref="wine:1", port=32772, requests=0, at=1010),
        unreachable,
    ]
    panel.show_statuses(second)
    rows = cells(panel.table)
    assert rows[0][5:8] == ["5.0/s", "10.0 %", "20 ms"]
    assert rows[1][5:8] == ["0.00/s", DASH, DASH]  # no requests: no error share, no latency
    assert rows[2][5:8] == [DASH] * 3
    panel.show_statuses([])
    assert panel.stack.currentWidget() is panel.empty
    assert "Deploy…" in panel.empty.text.text()


def test_history_of_the_selected_service_from_the_registry(
    qtbot: QtBot, panel: DeploymentsPanel, iris: tuple[Registry, VersionInfo, VersionInfo]
) -> None:
    registry, first, second = iris
    record(registry, first, "retired")
    record(registry, second, "live")
    record(registry, first, "failed", error="the new container stopped right after it started\n…")
    panel.read_statuses = lambda _registry, _cancel: [status(ref="iris:2")]
    panel.set_registry(registry)
    qtbot.waitUntil(lambda: panel.table.rowCount() == 1, timeout=10_000)
    qtbot.waitUntil(lambda: panel.history_table.rowCount() == 3, timeout=10_000)
    assert panel.selected_address() == "iris@gpu-1"
    assert "History of iris@gpu-1" in panel.history_label.text()
    rows = cells(panel.history_table)
    assert [r[1:6] for r in rows] == [
        ["iris:1", "deploy", "failed", "32771", "tester"],
        ["iris:2", "deploy", "live", "32771", "tester"],
        ["iris:1", "deploy", "retired", "32771", "tester"],
    ]
    assert rows[0][6] == "the new container stopped right after it started"  # the first line
    assert dot_colour(panel.history_table.item(1, 3)) == GREEN

    target = rollback_target(panel.history)
    assert target is not None
    assert (target.ref, target.status) == ("iris:1", "retired")  # not the failed attempt
    assert panel.rollback_selected() is not None
    qtbot.waitUntil(lambda: _visible_box(panel) is not None, timeout=10_000)
    box = _visible_box(panel)
    assert "back to <b>iris:1</b>?" in box.text()
    assert "It serves iris:2 now" in box.informativeText()
    box.reject()


def test_reads_run_off_the_gui_thread_one_at_a_time(
    qtbot: QtBot, panel: DeploymentsPanel, iris: tuple[Registry, VersionInfo, VersionInfo]
) -> None:
    registry = iris[0]
    threads: list[threading.Thread] = []
    release = threading.Event()

    def read(_registry: Registry, _cancel: object) -> list[ServiceStatus]:
        threads.append(threading.current_thread())
        release.wait(10)
        return [status(requests=len(threads) * 10.0, at=1000.0 + len(threads))]

    panel.read_statuses = read
    panel.set_registry(registry)  # shown: reads at once
    qtbot.waitUntil(lambda: len(threads) == 1, timeout=10_000)
    assert panel.refresh() is None  # one read at a time; this one is remembered for later
    assert not panel.refresh_button.isEnabled()
    with qtbot.waitSignal(panel.sig_polled, timeout=10_000):
        release.set()
    qtbot.waitUntil(lambda: len(threads) == 2, timeout=10_000)  # the read asked for meanwhile
    qtbot.waitUntil(lambda: cells(panel.table)[0][5] == "10/s", timeout=10_000)
    assert threading.main_thread() not in threads
    assert all(t is not threading.current_thread() for t in threads)

    panel.timer.setInterval(50)  # read again and again while shown, not while hidden
    qtbot.waitUntil(lambda: len(threads) >= 4, timeout=10_000)
    panel.hide()
    qtbot.wait(200)  # a read may have been under way when it was hidden
    count = len(threads)
    qtbot.wait(300)
    assert len(threads) == count


def test_a_failed_read_is_said_and_the_last_rows_stay(
    qtbot: QtBot, panel: DeploymentsPanel, iris: tuple[Registry, VersionInfo, VersionInfo]
) -> None:
    answers: list[Any] = [
        [status(), status("unhealthy", service="wine", ref="wine:1")],
        ModelbayError("the registry database is locked", hint="try again in a moment"),
    ]

    def read(_registry: Registry, _cancel: object) -> list[ServiceStatus]:
        answer = answers.pop(0)
        if isinstance(answer, Exception):
            raise answer
        return list(answer)

    panel.read_statuses = read
    panel.set_registry(iris[0])
    qtbot.waitUntil(lambda: panel.table.rowCount() == 2, timeout=10_000)
    before = cells(panel.table)
    with qtbot.waitSignal(panel.sig_polled, timeout=10_000):
        panel.refresh()
    assert "Could not read the hosts at" in panel.status_line.text()
    assert "the registry database is locked (try again in a moment)" in panel.status_line.text()
    assert "Showing what they said at" in panel.status_line.text()
    assert cells(panel.table) == before
    assert panel.refresh_button.isEnabled()


def test_a_log_is_passed_on_line_by_line() -> None:
    lines: list[str] = []
    chunks = [b"starting\nlisten", b"ing on :8000 ", "caf\u00e9".encode()[:4]]
    chunks += ["caf\u00e9".encode()[4:] + b"\r\n", b"no newline at the end"]
    LogStream().follow(chunks, lines.append)
    assert lines == ["starting", "listening on :8000 caf\u00e9", "no newline at the end"]


def test_lines_logged_before_the_job_is_known_arrive_in_order(
    qtbot: QtBot, queues: tuple[JobQueue, JobQueue]
) -> None:
    from app.ui.deploy_dialog import LateLog

    log = LateLog()
    started = threading.Event()

    def work(_p: object, _c: object) -> None:
        log("first, before submit() returned")
        started.set()
        log("second")

    log("zeroth, before the work ran")
    job = queues[1].submit("logging early", work)
    started.wait(5)  # the work has logged before the job is attached
    log.attach(job)
    qtbot.waitUntil(lambda: job.finished, timeout=10_000)
    qtbot.waitUntil(lambda: len(job.log_lines) == 3, timeout=10_000)
    assert job.log_lines == [
        "zeroth, before the work ran",
        "first, before submit() returned",
        "second",
    ]


def _visible_box(widget: Any) -> Any:
    from PySide6.QtWidgets import QMessageBox

    boxes = [b for b in widget.findChildren(QMessageBox) if b.isVisible()]
    return boxes[0] if boxes else None


# ---------------------------------------------------------------------- the main window
def test_the_window_offers_deploy_and_the_panel(qtbot: QtBot, window: Any, tmp_path: Path) -> None:
    from PySide6.QtGui import QKeySequence

    win: MainWindow = window
    win.sidebar.setCurrentRow(2)
    assert win.pages.currentWidget() is win.deployments_panel
    action = next(a for a in win.findChildren(type(win.import_action)) if a.text() == "&Deploy…")
    assert action.shortcut() == QKeySequence("Ctrl+D")
    assert win.registry is not None
    win.registry.import_path(makers.sklearn_joblib(tmp_path / "m"), name="iris")
    win.sidebar.setCurrentRow(0)
    win.models_panel.refresh(select="iris")
    detail = win.models_panel.detail
    qtbot.waitUntil(lambda: detail.current is not None, timeout=10_000)
    assert not detail.deploy_button.isEnabled()  # no image yet
    assert "Build an image of this version first" in detail.deploy_button.toolTip()


# ---------------------------------------------------------------------- the real host
@pytest.fixture
def deploy_window(
    qtbot: QtBot,
    deploy_registry: Registry,  # noqa: F811 - the fixture imported above
    deploy_config: Config,  # noqa: F811
) -> Iterator[MainWindow]:
    from app.ui.main_window import MainWindow

    win = MainWindow(deploy_config)
    qtbot.addWidget(win)
    win.show()
    qtbot.waitUntil(lambda: win.registry is not None, timeout=10_000)
    qtbot.waitUntil(lambda: len(win.hosts_panel.hosts) == 1, timeout=10_000)
    yield win
    win.close()


@pytest.mark.integration
def test_deploy_from_the_window_then_watch_roll_back_and_stop_it(
    qtbot: QtBot, deploy_window: MainWindow, remote_host: RemoteHost
) -> None:
    from PySide6.QtCore import Qt

    win = deploy_window
    assert win.registry is not None
    dialog = win.open_deploy_dialog(win.registry.get("iris:1"), host="test-host")
    assert dialog is not None
    qtbot.waitUntil(lambda: "creates the service iris" in dialog.now.text(), timeout=10_000)
    qtbot.mouseClick(dialog.deploy_button, Qt.MouseButton.LeftButton)
    job = dialog.job
    assert job is not None
    assert win.jobs_dock.isVisible()
    qtbot.waitUntil(lambda: job.finished, timeout=600_000)
    assert job.state is JobState.DONE, job.error
    port = job.result.deployment.port
    assert f"<b>iris@test-host</b> serves <b>iris:1</b> on port {port}" in dialog.outcome.text()
    assert "health" in dialog.log_view.toPlainText()
    dialog.close()

    win.sidebar.setCurrentRow(2)
    panel = win.deployments_panel
    errors: list[tuple[str, str]] = []
    panel.sig_error.connect(lambda message, hint: errors.append((message, hint)))

    def wait_shown(ref: str, timeout: int = 60_000) -> None:
        def shown() -> bool:
            return bool(errors) or [(s.address, s.ref) for s in panel.statuses] == [
                ("iris@test-host", ref)
            ]

        qtbot.waitUntil(shown, timeout=timeout)
        assert errors == []

    panel.timer.setInterval(1000)
    wait_shown("iris:1")
    # Docker says "starting" until its own first health check (every 10 s) has passed
    qtbot.waitUntil(lambda: panel.statuses[0].state == "healthy", timeout=60_000)
    assert cells(panel.table)[0][:4] == ["iris@test-host", "iris:1", "healthy", str(port)]
    assert dot_colour(panel.table.item(0, 0)) == GREEN
    qtbot.waitUntil(lambda: panel.history_table.rowCount() == 1, timeout=10_000)
    assert cells(panel.history_table)[0][1:4] == ["iris:1", "deploy", "live"]

    # the endpoint: a tunnel kept open, its /metadata offered to the browser
    opened: list[Any] = []
    panel.open_url = opened.append
    tunnel_job = panel.open_endpoint_selected()
    assert tunnel_job is not None
    qtbot.waitUntil(lambda: bool(opened), timeout=60_000)
    url = opened[0].toString()
    assert url.startswith("http://127.0.0.1:")
    assert url.endswith("/metadata")
    with urllib.request.urlopen(url, timeout=30) as answer:
        assert b"iris" in answer.read()
    assert panel.endpoint_bar.isVisible()
    assert panel.endpoint.text() == url.removesuffix("/metadata")
    # two reads with a request between them: a rate
    with qtbot.waitSignal(panel.sig_polled, timeout=60_000):
        panel.refresh()
    with urllib.request.urlopen(url, timeout=30):
        pass
    with qtbot.waitSignal(panel.sig_polled, timeout=60_000):
        panel.refresh()
    assert cells(panel.table)[0][5].endswith("/s")

    # the log, live; closing the window stops reading even when the container is quiet
    logs = panel.logs_selected()
    assert logs is not None
    qtbot.waitUntil(lambda: "Following" in logs.state.text(), timeout=60_000)
    log_job = logs.job
    assert log_job is not None
    qtbot.wait(1000)
    started = time.monotonic()
    logs.close()
    qtbot.waitUntil(lambda: log_job.finished, timeout=10_000)
    assert time.monotonic() - started < 5
    assert log_job.state is JobState.DONE, log_job.error

    # a second version, then back to the first: the confirmation names it
    dialog = win.open_deploy_dialog(win.registry.get("iris:2"), host="test-host")
    assert dialog is not None
    qtbot.waitUntil(lambda: dialog.current is not None, timeout=10_000)
    job = dialog.start()
    assert job is not None
    qtbot.waitUntil(lambda: job.finished, timeout=600_000)
    assert job.state is JobState.DONE, job.error
    assert "(was iris:1)" in dialog.outcome.text()
    dialog.close()
    wait_shown("iris:2")
    panel.rollback_selected()
    qtbot.waitUntil(lambda: _visible_box(panel) is not None, timeout=10_000)
    box = _visible_box(panel)
    assert "back to <b>iris:1</b>?" in box.text()
    next(b for b in box.buttons() if b.text() == "Roll back").click()
    wait_shown("iris:1", timeout=300_000)
    qtbot.waitUntil(lambda: panel.history_table.rowCount() == 3, timeout=10_000)
    assert cells(panel.history_table)[0][1:4] == ["iris:1", "rollback", "live"]

    panel.stop_selected()
    qtbot.waitUntil(lambda: _visible_box(panel) is not None, timeout=10_000)
    box = _visible_box(panel)
    next(b for b in box.buttons() if b.text() == "Stop").click()
    qtbot.waitUntil(lambda: panel.stack.currentWidget() is panel.empty, timeout=120_000)
    assert remote_host.docker("ps", "-aq", "--filter", "label=modelbay.service=iris").stdout == ""
    assert len(panel.endpoints) == 0  # its tunnel was closed with it


@pytest.mark.integration
@pytest.mark.display
def test_deploying_in_pictures(
    display: XDisplay | None,  # noqa: F811
    tmp_path: Path,
    remote_host: RemoteHost,
    base_image: str,
    shared_cache: Path,  # noqa: F811
) -> None:
    """The deploy window, its outcome, and the Deployments panel with real services."""
    forget_containers(remote_host)  # only the tour's services on the host
    env = {
        "MODELBAY_TOUR_SSH": f"{remote_host.user}@{remote_host.address}",
        "MODELBAY_TOUR_IDENTITY": str(remote_host.identity_file),
        "MODELBAY_SSH_CONFIG": str(tmp_path / "none"),
        "MODELBAY_BASE_IMAGE": base_image,
        "MODELBAY_TOUR_CACHE": str(shared_cache),
    }
    take_pictures(
        display, "tests.ui.tour_deploy", ["deploy-dialog", "deploy-done", "deployments-panel"], env
    )
