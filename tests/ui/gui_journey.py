"""The whole journey of a new user, in the real main window, against real Docker and SSH.

Not collected on its own (no ``test_`` prefix): tests/integration/test_gui_journey.py runs
it with pytest in a child process on an X display (Xvfb, platform xcb), because the test
session's own Qt application is offscreen. By hand::

    DISPLAY=:99 QT_QPA_PLATFORM=xcb MODELBAY_BASE_IMAGE=IMAGE JOURNEY_SSH=root@10.77.1.2 \\
        JOURNEY_IDENTITY=KEY JOURNEY_OUT=DIR python -m pytest tests/ui/gui_journey.py

Everything goes through what a user touches: files dropped on the window, the import
dialog, the reference question, the build window, the Hosts panel's add dialog and its
trust question, the deploy window, the Deployments panel's endpoint, Monitor and Roll back
buttons, the Monitoring panel. Between the steps the registry and the host are checked,
and the whole screen is saved as JOURNEY_OUT/NN-step.png.
"""

from __future__ import annotations

import os
import threading
import time
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from pytestqt.qtbot import QtBot

from app.config import Config
from app.registry import Registry
from tests.ui.conftest import drop_files

pytestmark = pytest.mark.skipif(
    os.environ.get("QT_QPA_PLATFORM") != "xcb" or "JOURNEY_SSH" not in os.environ,
    reason="run by tests/integration/test_gui_journey.py on an X display",
)

HOST = "prod"
SERVICE = "flowers"
SHIFTED = ("petal length (cm)", "sepal width (cm)")  # moved by one reference sd
MINUTE = 60_000


class Journey:
    """The window, where pictures go, and small helpers every step uses."""

    def __init__(self, qtbot: QtBot, window: object, out: Path) -> None:
        self.qtbot = qtbot
        self.window: Any = window
        self.out = out
        self.count = 0

    def shoot(self, name: str) -> Path:
        from PySide6.QtWidgets import QApplication

        self.qtbot.wait(600)  # let the last change paint
        self.count += 1
        path = self.out / f"{self.count:02d}-{name}.png"
        assert QApplication.primaryScreen().grabWindow(0).save(str(path)), path
        return path

    def wait(self, condition: Callable[[], object], timeout: int = 30_000) -> None:
        self.qtbot.waitUntil(lambda: bool(condition()), timeout=timeout)

    def visible(self, kind: type, title: str | None = None) -> Any:
        """The window of ``kind`` (titled ``title``) that is open now; waits for it."""

        def find() -> object | None:
            shown = [
                w
                for w in self.window.findChildren(kind)
                if w.isVisible() and title in (None, w.windowTitle())
            ]
            return shown[-1] if shown else None

        self.wait(lambda: find() is not None)
        return find()

    def visible_box(self, title: str) -> Any:
        from PySide6.QtWidgets import QMessageBox

        return self.visible(QMessageBox, title)

    def click(self, box: object, text: str) -> None:
        button = next(b for b in box.buttons() if b.text() == text)  # type: ignore[attr-defined]
        button.click()

    def place(self, dialog: object, x: int = 250, y: int = 110) -> None:
        dialog.move(x, y)  # type: ignore[attr-defined]  # no window manager to place it


@pytest.fixture
def data(tmp_path: Path) -> dict[str, Path]:
    """Two small scikit-learn models of iris, the table the first was trained on, and live
    inputs with two features moved by one standard deviation."""
    import joblib
    import numpy as np
    from sklearn.datasets import load_iris
    from sklearn.linear_model import LogisticRegression

    iris = load_iris(as_frame=True)
    rng = np.random.default_rng(0)

    def like(rows: int, shift: float = 0.0) -> object:
        picked = iris.data.iloc[rng.integers(0, len(iris.data), rows)].reset_index(drop=True)
        frame = picked + rng.normal(0, 0.05, picked.shape)
        for column in SHIFTED:
            frame[column] += shift * iris.data[column].std()
        return frame.round(3)

    files = {}
    for version, c in (("v1", 1.0), ("v2", 0.5)):
        folder = tmp_path / "downloads" / version
        folder.mkdir(parents=True)
        files[version] = folder / f"{SERVICE}.joblib"
        model = LogisticRegression(C=c, max_iter=500).fit(iris.data, iris.target)
        joblib.dump(model, files[version])
    files["reference"] = tmp_path / "downloads" / "flowers-training.csv"
    like(3000).to_csv(files["reference"], index=False)  # type: ignore[attr-defined]
    files["traffic"] = tmp_path / "traffic.csv"
    like(2000, shift=1.0).to_csv(files["traffic"], index=False)  # type: ignore[attr-defined]
    return files


@pytest.fixture
def journey(qtbot: QtBot, tmp_path: Path) -> Iterator[Journey]:
    from app.ui.main_window import MainWindow
    from app.ui.theme import apply_theme

    out = Path(os.environ["JOURNEY_OUT"])
    out.mkdir(parents=True, exist_ok=True)
    for old in out.glob("*.png"):
        old.unlink()
    from PySide6.QtWidgets import QApplication

    apply_theme(QApplication.instance(), "light")  # type: ignore[arg-type]
    window = MainWindow(Config.at(tmp_path / "home"))
    qtbot.addWidget(window)
    window.move(0, 0)
    window.resize(1260, 780)
    window.show()
    qtbot.waitUntil(lambda: window.registry is not None, timeout=10_000)
    try:
        yield Journey(qtbot, window, out)
    finally:
        window.close()


def send_traffic(url: str, table: Path, seconds: float) -> int:
    """POST the table to the service as CSV, 100 rows a request, spread over ``seconds``
    (several monitoring windows); return the rows sent."""
    header, *rows = table.read_text().splitlines()
    pause = seconds / (len(rows) / 100)
    for start in range(0, len(rows), 100):
        time.sleep(pause)
        body = "\n".join([header, *rows[start : start + 100]]).encode()
        request = urllib.request.Request(
            f"{url}/invocations", data=body, headers={"Content-Type": "text/csv"}
        )
        with urllib.request.urlopen(request, timeout=30) as answer:
            assert answer.status == 200
    return len(rows)


def test_a_new_user_goes_from_a_model_file_to_a_rollback(
    journey: Journey, data: dict[str, Path], tmp_path: Path
) -> None:
    from PySide6.QtWidgets import QDialogButtonBox

    from app.ui.build_dialog import BuildDialog
    from app.ui.deploy_dialog import DeployDialog
    from app.ui.import_dialog import ImportDialog

    win = journey.window
    models = win.models_panel  # type: ignore[attr-defined]
    detail = models.detail
    journey.wait(lambda: models.stack.currentWidget() is models.empty)
    journey.shoot("empty")

    def import_by_drop(model: Path, version: int) -> None:
        drop_files(journey.qtbot, win, [model])
        dialog = journey.visible(ImportDialog)
        journey.place(dialog, 300, 200)
        expected = "new model" if version == 1 else "new version"
        journey.wait(lambda: dialog.table.item(0, 2).text() == expected)
        assert dialog.table.item(0, 1).text() == SERVICE  # the name comes from the file
        if version == 1:
            journey.shoot("import-dialog")
        dialog.buttons.button(QDialogButtonBox.StandardButton.Ok).click()
        journey.wait(
            lambda: detail.current is not None and detail.current.ref == f"{SERVICE}:{version}",
            timeout=MINUTE,
        )
        assert detail.current.format == "joblib"
        assert detail.current.status == "ready"  # plain scikit-learn: nothing to quarantine

    def attach_reference_by_drop(version: int) -> None:
        drop_files(journey.qtbot, win, [data["reference"]])
        box = journey.visible_box("Attach reference data")
        assert f"as the reference data of {SERVICE}:{version}" in box.text()
        if version == 1:
            journey.shoot("attach-reference")
        journey.click(box, "Attach")
        journey.wait(lambda: "flowers-reference" in detail.reference_label.text(), MINUTE)

    def build(version: int) -> None:
        journey.wait(detail.build_button.isEnabled)
        detail.build_button.click()
        dialog = journey.visible(BuildDialog)
        journey.place(dialog, 220, 90)
        if version == 1:
            journey.shoot("build-options")
        job = dialog.start()
        journey.wait(lambda: job.finished, timeout=15 * MINUTE)
        assert job.error is None, job.error
        assert job.result.status == "verified"  # it started and answered a request
        if version == 1:
            journey.shoot("build-done")
        dialog.close()

    def deploy(version: int) -> None:
        win.sidebar.setCurrentRow(0)
        journey.wait(detail.deploy_button.isEnabled)
        detail.deploy_button.click()
        dialog = journey.visible(DeployDialog)
        journey.place(dialog, 190, 40)
        assert dialog.host.currentText() == HOST
        if version == 1:  # short monitoring windows, so that drift shows within seconds
            dialog.add_env_row("MODELBAY_WINDOW_SECONDS", "5")
            dialog.alias.setText("production")
            dialog.env.setCurrentCell(-1, -1)
            journey.shoot("deploy-dialog")
        job = dialog.start()
        assert job is not None
        journey.wait(lambda: job.finished, timeout=10 * MINUTE)
        assert job.error is None, job.error
        journey.shoot("deployed" if version == 1 else "second-version-deployed")
        dialog.close()

    # 1. A model file and the table it was trained on, dropped onto the window
    import_by_drop(data["v1"], 1)
    journey.shoot("imported")
    attach_reference_by_drop(1)
    journey.shoot("reference-attached")

    # 2. Its image, built and verified on this machine
    build(1)

    # 3. The host: added in the dialog, its key trusted once, checked
    win.sidebar.setCurrentRow(1)
    hosts = win.hosts_panel
    add = hosts.add_dialog()
    journey.place(add, 330, 220)
    add.name.setText(HOST)
    add.ssh.setText(os.environ["JOURNEY_SSH"])
    add.identity.setText(os.environ["JOURNEY_IDENTITY"])
    journey.shoot("add-host")
    add.ok_button.click()
    trust = journey.visible_box("Trust this host?")
    assert os.environ["JOURNEY_FINGERPRINT"] in trust.informativeText() + trust.text()
    journey.shoot("trust-host")
    journey.click(trust, "Trust")
    journey.wait(lambda: hosts.hosts and (hosts.hosts[0].last_check or {}).get("ok"), MINUTE)
    hosts.table.selectRow(0)
    journey.shoot("host-ready")

    # 4. Deployed, with the alias production
    deploy(1)
    registry = win.registry
    assert registry.get(f"{SERVICE}@production").version == 1

    # 5. Live traffic whose inputs moved, through the endpoint the panel opens
    win.sidebar.setCurrentRow(2)
    panel = win.deployments_panel
    panel.open_url = lambda _url: None  # no browser on this display
    journey.wait(lambda: any(s.state == "healthy" for s in panel.statuses), 2 * MINUTE)
    panel.table.selectRow(0)
    tunnel = panel.open_endpoint_selected()
    journey.wait(lambda: tunnel.finished, MINUTE)
    assert tunnel.error is None, tunnel.error
    sent: list[int] = []
    client = threading.Thread(
        target=lambda: sent.append(send_traffic(tunnel.result, data["traffic"], 20))
    )
    client.start()
    journey.wait(lambda: not client.is_alive(), 2 * MINUTE)
    client.join()
    assert sent == [2000]
    panel.refresh()
    journey.wait(lambda: panel._poll is None, MINUTE)
    journey.shoot("traffic")

    # 6. Monitoring: the windows pulled over SSH, the shifted features flagged
    panel.monitor_button.click()
    monitoring = win.monitoring_panel
    journey.wait(lambda: monitoring.address == f"{SERVICE}@{HOST}", MINUTE)
    journey.qtbot.wait(6_000)  # the window holding the last rows closes (5-s windows)

    def flagged() -> bool:
        dashboard = monitoring.dashboard
        if dashboard is not None and dashboard.drifting == set(SHIFTED):
            return True
        monitoring.pull_now()  # the Pull now button; nothing when a pull is running
        return False

    journey.wait(flagged, 2 * MINUTE)
    dashboard = monitoring.dashboard
    statuses = {
        dashboard.feature_list.topLevelItem(i).text(0): dashboard.feature_list.topLevelItem(i).text(
            2
        )
        for i in range(dashboard.feature_list.topLevelItemCount())
    }
    assert statuses == {
        "petal length (cm)": "drifts",
        "sepal width (cm)": "drifts",
        "sepal length (cm)": "ok",
        "petal width (cm)": "ok",
    }
    journey.wait(monitoring.banner.isVisible, MINUTE)
    assert "2 of 4 features drift" in monitoring.banner.text()
    stored = registry.monitor_windows(HOST, SERVICE)
    assert sum(w.rows for w in stored) == 2000  # every row sent, pulled and stored once
    journey.shoot("drift-flagged")

    # 7. A second version: dropped, its reference attached, built, deployed
    win.sidebar.setCurrentRow(0)
    import_by_drop(data["v2"], 2)
    attach_reference_by_drop(2)
    build(2)
    deploy(2)

    # 8. Rolled back to the version that served before
    win.sidebar.setCurrentRow(2)
    journey.wait(lambda: any(s.ref == f"{SERVICE}:2" for s in panel.statuses), MINUTE)
    panel.table.selectRow(0)
    panel.rollback_button.click()
    confirm = journey.visible_box("Roll back")
    assert f"back to <b>{SERVICE}:1</b>?" in confirm.text()
    journey.shoot("rollback-confirm")
    journey.click(confirm, "Roll back")
    journey.wait(lambda: any(s.ref == f"{SERVICE}:1" for s in panel.statuses), 10 * MINUTE)
    journey.wait(lambda: panel.history_table.rowCount() == 3, MINUTE)
    journey.shoot("rolled-back")
    history = registry.deployments(host=HOST, service=SERVICE)
    assert [(d.ref, d.status) for d in history] == [
        (f"{SERVICE}:1", "live"),
        (f"{SERVICE}:2", "retired"),
        (f"{SERVICE}:1", "retired"),
    ]
    assert history[0].kind == "rollback"
    with Registry.open(Config.at(tmp_path / "home")) as again:  # what the CLI would read
        assert again.get(f"{SERVICE}@production").version == 1
