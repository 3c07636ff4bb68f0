"""Photograph the Monitoring panel in the real window: a service whose inputs drifted.

    DISPLAY=:99 python -m tests.ui.tour_monitoring OUTDIR

A fresh data home with churn:1 (reference data attached) recorded as live on
gpu-1, and the last three hours of its one-minute windows as the serving runtime
counts them: calm, then tenure shifted by half a standard deviation and the plan
mix turned around for the last hour (tests/ui/monitoring_fixtures.py). The alert
that a pull would have raised is stored. Pulling is paused (the host is not
there): the picture is what the panel shows from the registry alone.
Writes monitoring-panel.png (the whole X screen).
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

from PySide6.QtWidgets import QApplication

from app.config import Config
from app.registry import Registry
from app.ui.theme import apply_theme
from tests.ui.monitoring_fixtures import (
    ADDRESS,
    HOST,
    SERVICE,
    calm_then_shifted,
    deploy_with_reference,
    record_windows,
)
from tests.ui.tour import open_window, shoot, wait_for

CALM, SHIFTED = 120, 60


def prepare(home: Path, work: Path) -> None:
    with Registry.open(Config.at(home)) as registry:
        found = deploy_with_reference(registry, work, port=1)
        now = time.time() // 60 * 60
        record_windows(
            registry,
            found,
            calm_then_shifted(CALM, SHIFTED, rows=240),
            work / "state",
            start=now - (CALM + SHIFTED + 1) * 60,
            errors=[0] * (CALM + SHIFTED - 3) + [1, 0, 2],
        )
        registry.set_monitor_alert(
            HOST,
            SERVICE,
            {
                "reasons": ["2 of 4 features drift (tenure, plan)"],
                "since": time.strftime("%Y-%m-%dT%H:%M:%S+00:00", time.gmtime(now - 55 * 60)),
                "ref": "churn:1",
            },
            ref=("churn", 1),
        )


def main(out_dir: Path) -> int:
    out_dir.mkdir(parents=True, exist_ok=True)
    app = QApplication(["modelbay", "-platform", "xcb"])
    apply_theme(app, "light")
    work = Path(tempfile.mkdtemp(prefix="modelbay-tour-"))
    home = work / "home"
    prepare(home, work)
    window = open_window(app, home)
    panel = window.monitoring_panel
    panel.set_interval(0)  # the host is not there: show what the registry holds
    window.show_monitoring(ADDRESS)
    wait_for(app, lambda: panel.stack.currentWidget() is panel.plots_page)
    dashboard = panel.dashboard
    assert dashboard is not None
    wait_for(app, lambda: not dashboard.redraw_timer.isActive() and dashboard.span is not None)
    shoot(app, out_dir / "monitoring-panel.png")
    window.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main(Path(sys.argv[1])))
