"""Alerts of services nobody has open in Monitoring: the window's background watch."""

from __future__ import annotations

from pathlib import Path

import pytest
from pytestqt.qtbot import QtBot

from app.config import Config
from app.monitor import live
from app.registry import NewDeployment, Registry
from tests.deploy.conftest import HOST, deploy_config, shared_cache, tunnel  # noqa: F401
from tests.deploy.test_monitor import (  # noqa: F401  (monitored: a fixture)
    SHIFTED,
    iris_like,
    monitored,
    spread_over_windows,
)
from tests.remote.conftest import add_test_host
from tests.remote_host import RemoteHost


def record_live(registry: Registry, host: str, service: str, model: Path) -> None:
    """The record of a service deployed earlier (the host it runs on is not reachable now)."""
    info = registry.import_path(model, name=service)
    row = registry.start_deployment(NewDeployment(host, service, info, "sha256:" + "0" * 64, "x"))
    registry.update_deployment(row.uid, "live", port=8000)


def test_the_watch_runs_each_minute_skips_the_shown_service_and_can_be_turned_off(
    qtbot: QtBot, config: Config, model_file: Path
) -> None:
    from app.ui.main_window import MainWindow

    with Registry.open(config) as registry:
        registry.add_host("gone", "127.0.0.1", port=1)
        record_live(registry, "gone", "churn", model_file)
    win = MainWindow(config)
    qtbot.addWidget(win)
    win.show()
    qtbot.waitUntil(lambda: win.registry is not None, timeout=10_000)
    watch = win.alert_watch
    assert watch.running
    assert watch.timer.interval() == 60_000
    with qtbot.waitSignal(watch.sig_round, timeout=60_000) as round_signal:
        assert watch.pull() is not None
        assert watch.pull() is None  # one round at a time
    done = round_signal.args[0]
    assert done.results == []
    assert list(done.errors) == ["churn@gone"]  # in the log, never a dialog
    assert "127.0.0.1" in done.errors["churn@gone"].message

    win.monitoring_panel.address = "churn@gone"  # the panel pulls that one itself
    with qtbot.waitSignal(watch.sig_round, timeout=60_000) as round_signal:
        watch.pull()
    assert round_signal.args[0].errors == {}

    win.watch_action.setChecked(False)
    assert not watch.running
    assert win.settings.value("monitoring/watch_all", True, bool) is False
    win.monitoring_panel.address = None
    win.close()

    again = MainWindow(config)  # the choice is remembered
    qtbot.addWidget(again)
    again.show()
    qtbot.waitUntil(lambda: again.registry is not None, timeout=10_000)
    assert not again.watch_action.isChecked()
    assert not again.alert_watch.running
    again.close()


@pytest.mark.integration
def test_a_service_nobody_watches_raises_its_alert(
    qtbot: QtBot,
    monitored: Registry,  # noqa: F811
    deploy_config: Config,  # noqa: F811
    remote_host: RemoteHost,
) -> None:
    """iris on the test host drifts while the Monitoring panel shows nothing: the background
    round pulls it, marks it alerting, and says so (status bar offscreen, tray on a desktop)."""
    from app.ui.main_window import MainWindow

    address = f"iris@{HOST}"
    live.set_thresholds(monitored, HOST, "iris", {"span": 4})
    with tunnel(monitored, address) as url:
        spread_over_windows(url, iris_like(2000, seed=6, shift=dict.fromkeys(SHIFTED, 1.0)), 4)
    add_test_host(monitored, remote_host, "gone", address="127.0.0.1", port=1)

    win = MainWindow(deploy_config)
    qtbot.addWidget(win)
    win.show()
    qtbot.waitUntil(lambda: win.registry is not None, timeout=10_000)
    assert win.monitoring_panel.address is None
    with qtbot.waitSignal(win.alert_watch.sig_round, timeout=120_000) as round_signal:
        win.alert_watch.pull()
    done = round_signal.args[0]
    assert [r.address for r in done.results] == [address]
    assert done.alerting == [address]
    assert sorted(done.results[0].span["drifted"]) == sorted(SHIFTED)
    assert (
        f"2 of 4 features drift ({', '.join(done.results[0].span['drifted'])})"
        in (win.monitoring_panel.alerts[address])
    )
    assert win.statusBar().currentMessage().startswith(f"Drift alert: {address}")
    assert address in win.deployments_panel.alerts
    alerts = [e for e in monitored.history("iris") if e.action == "monitor.alert"]
    assert len(alerts) == 1  # logged once, by the pull that saw it begin
    win.close()
