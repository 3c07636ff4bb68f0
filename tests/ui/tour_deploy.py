"""Photograph deploying from the real window, to a real host (Docker, a base image, SSH).

    DISPLAY=:99 MODELBAY_BASE_IMAGE=IMAGE MODELBAY_TOUR_SSH=root@10.77.1.2 \\
        MODELBAY_TOUR_IDENTITY=KEY [MODELBAY_TOUR_CACHE=DIR] python -m tests.ui.tour_deploy OUTDIR

The demo registry, with iris-classifier 1 and 2 and wine-quality 1 built and the
host added as gpu-1 (its key trusted on first sight). Before the window opens,
wine-quality 1 and iris-classifier 1 are deployed there, and a deploy of
iris-classifier 2 with a broken setting fails, so the history holds one failure.
In the window: the deploy window for iris-classifier 2 (deploy-dialog.png) and
its outcome (deploy-done.png); then the Deployments panel with requests flowing
through the endpoint it opened, and the history of the selected service
(deployments-panel.png). The services are stopped at the end.
"""

from __future__ import annotations

import contextlib
import json
import os
import sys
import tempfile
import threading
import urllib.request
from pathlib import Path

from PySide6.QtWidgets import QApplication

from app.build.service import BuildOptions, build_image
from app.config import Config
from app.demo import create_demo
from app.deploy.host import DeployError
from app.deploy.service import DeployOptions, deploy, stop
from app.registry import Registry
from app.remote.hosts import parse_ssh_target
from app.remote.ssh import fetch_host_key
from app.ui.deploy_dialog import DeployDialog
from app.ui.deployments_panel import DASH
from app.ui.theme import apply_theme
from tests.serving.conftest import IRIS_COLUMNS, IRIS_ROWS
from tests.ui.tour import open_window, settle, shoot, wait_for

HOST = "gpu-1"
BUILT = ("iris-classifier:1", "iris-classifier:2", "wine-quality:1")


def prepare(home: Path) -> Config:
    """The registry and the host as a user has them after a few days of work."""
    config = Config.at(home)
    cache = os.environ.get("MODELBAY_TOUR_CACHE")
    if cache:  # built wheels from an earlier run: the builds take seconds instead of minutes
        home.mkdir(parents=True)
        config.cache_dir.symlink_to(cache, target_is_directory=True)
    user, address, port = parse_ssh_target(os.environ["MODELBAY_TOUR_SSH"])
    with Registry.open(config) as registry:
        create_demo(registry, home / "demo")
        options = BuildOptions(base_image=os.environ["MODELBAY_BASE_IMAGE"], smoke_test=False)
        for ref in BUILT:
            build_image(registry, ref, options, config=config)
        host = registry.add_host(
            HOST,
            address,
            port=port,
            user=user,
            identity_file=os.environ["MODELBAY_TOUR_IDENTITY"],
        )
        registry.pin_host_key(HOST, *fetch_host_key(host))
        deploy(registry, "wine-quality:1", HOST, config=config)
        deploy(registry, "iris-classifier:1", HOST, config=config)
        broken = DeployOptions(env={"MODELBAY_MAX_BODY_MB": "lots"}, timeout=60)
        with contextlib.suppress(DeployError):  # it fails, and iris-classifier:1 keeps serving
            deploy(registry, "iris-classifier:2", HOST, broken, config=config)
    return config


def send_requests(url: str, stop_sending: threading.Event) -> None:
    """A client predicting through the panel's tunnel, a few times a second."""
    body = json.dumps({"dataframe_split": {"columns": IRIS_COLUMNS, "data": IRIS_ROWS}}).encode()
    while not stop_sending.wait(0.15):
        request = urllib.request.Request(
            f"{url}/invocations", data=body, headers={"Content-Type": "application/json"}
        )
        with contextlib.suppress(OSError), urllib.request.urlopen(request, timeout=10) as answer:
            answer.read()


def main(out_dir: Path) -> int:
    out_dir.mkdir(parents=True, exist_ok=True)
    app = QApplication(["modelbay", "-platform", "xcb"])
    apply_theme(app, "light")
    home = Path(tempfile.mkdtemp(prefix="modelbay-tour-deploy-")) / "home"
    config = prepare(home)
    window = open_window(app, home)
    models = window.models_panel
    wait_for(app, lambda: models.model.rowCount() > 0 and bool(window.hosts_panel.hosts))
    row = models.model.row_of("iris-classifier")
    assert row is not None
    models.table.selectRow(row)
    detail = models.detail
    wait_for(app, lambda: detail.current is not None and detail.deploy_button.isEnabled())
    assert detail.current is not None
    assert detail.current.ref == "iris-classifier:2"

    detail.request_deploy()
    dialog = window.findChild(DeployDialog)
    assert dialog is not None
    dialog.move(190, 40)
    wait_for(app, lambda: dialog.current is not None)  # what runs now, from the registry
    dialog.add_env_row("MODELBAY_LOG_LEVEL", "info")
    dialog.alias.setText("production")
    dialog.env.setCurrentCell(-1, -1)
    shoot(app, out_dir / "deploy-dialog.png")
    job = dialog.start()
    assert job is not None
    wait_for(app, lambda: job.finished, timeout=600)
    if job.error:
        raise SystemExit(f"the deploy failed: {job.error}")
    shoot(app, out_dir / "deploy-done.png")
    dialog.close()

    window.sidebar.setCurrentRow(2)
    panel = window.deployments_panel
    panel.open_url = lambda _url: None  # no browser on this display
    wait_for(app, lambda: len(panel.statuses) == 2, timeout=120)
    # Docker reports "starting" until its own first health check, 10 s after the start
    wait_for(app, lambda: all(s.state == "healthy" for s in panel.statuses), timeout=120)
    row = next(i for i, s in enumerate(panel.statuses) if s.service == "iris-classifier")
    panel.table.selectRow(row)
    tunnel = panel.open_endpoint_selected()
    assert tunnel is not None
    wait_for(app, lambda: tunnel.finished, timeout=120)
    if tunnel.error:
        raise SystemExit(f"the tunnel did not open: {tunnel.error}")
    stop_sending = threading.Event()
    client = threading.Thread(target=send_requests, args=(tunnel.result, stop_sending))
    client.start()
    try:
        for _ in range(2):  # two reads of the counters, with requests between them
            settle(app, 5)
            panel.refresh()
            wait_for(app, lambda: panel._poll is None, timeout=60)
        wait_for(app, lambda: panel.table.item(row, 5).text() != DASH, timeout=60)
        wait_for(app, lambda: panel.history_table.rowCount() == 3)
        shoot(app, out_dir / "deployments-panel.png")
    finally:
        stop_sending.set()
        client.join()
    window.close()
    with Registry.open(config) as registry:
        for service in ("iris-classifier", "wine-quality"):
            stop(registry, f"{service}@{HOST}", config=config)
    return 0


if __name__ == "__main__":
    raise SystemExit(main(Path(sys.argv[1])))
