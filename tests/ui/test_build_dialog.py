"""Building an image from the window: options, the live log, the outcome, the Images tab."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from pytestqt.qtbot import QtBot

from app.config import Config
from app.ui.jobs import JobState
from tests.formats import makers
from tests.ui.test_version_detail import cells

if TYPE_CHECKING:
    from app.ui.build_dialog import BuildDialog
    from app.ui.main_window import MainWindow


@pytest.fixture
def iris_window(qtbot: QtBot, config: Config, tmp_path: Path, window: Any) -> MainWindow:
    win: MainWindow = window
    assert win.registry is not None
    win.registry.import_path(makers.sklearn_joblib(tmp_path / "m"), name="iris")
    win.registry.import_path(makers.malicious_pickle(tmp_path / "e", tmp_path / "x"), name="evil")
    win.models_panel.refresh(select="iris")
    qtbot.waitUntil(
        lambda: (
            win.models_panel.detail.current is not None
            and win.models_panel.detail.current.name == "iris"
        ),
        timeout=10_000,
    )
    return win


def _open_dialog(qtbot: QtBot, win: MainWindow) -> BuildDialog:
    from app.ui.build_dialog import BuildDialog

    win.models_panel.detail.request_build()
    dialog = win.findChild(BuildDialog)
    assert dialog is not None
    qtbot.waitExposed(dialog)
    return dialog


def test_quarantined_version_cannot_be_built_and_says_why(
    qtbot: QtBot, iris_window: MainWindow
) -> None:
    detail = iris_window.models_panel.detail
    assert detail.build_button.isEnabled()
    detail.show_model("evil")
    qtbot.waitUntil(lambda: detail.current is not None and detail.current.name == "evil")
    assert not detail.build_button.isEnabled()
    assert "cannot be built until someone approves" in detail.build_button.toolTip()


@pytest.mark.integration
def test_build_shows_the_live_log_and_the_verified_image(
    qtbot: QtBot, iris_window: MainWindow, base_image: str
) -> None:
    dialog = _open_dialog(qtbot, iris_window)
    assert dialog.tag.placeholderText() == "modelbay/iris:1"
    dialog.base_image.setText(base_image)
    dialog.remember.setChecked(True)
    qtbot.mouseClick(dialog.build_button, _left())
    job = dialog.job
    assert job is not None
    assert iris_window.jobs_dock.isVisible()
    qtbot.waitUntil(lambda: job.finished, timeout=600_000)
    assert job.state is JobState.DONE, job.error
    log = dialog.log_view.toPlainText()
    assert "Step 1/" in log
    assert "smoke test passed" in log
    assert dialog.bar.value() == 100
    assert "is built and verified" in dialog.outcome.text()
    assert "docker run -p 8000:8000 modelbay/iris:1" in dialog.outcome.text()
    assert not dialog.cancel_button.isEnabled()

    detail = iris_window.models_panel.detail
    qtbot.waitUntil(lambda: detail.builds_table.rowCount() == 1, timeout=10_000)
    row = cells(detail.builds_table)[0]
    assert row[:2] == ["verified", "modelbay/iris:1"]
    assert "one request answered" in row[5]
    assert iris_window.config.setting("build", "base_image") == base_image  # remembered
    dialog.close()


@pytest.mark.integration
def test_cancel_before_docker_starts_leaves_nothing(
    qtbot: QtBot, iris_window: MainWindow, base_image: str, docker_client: object
) -> None:
    dialog = _open_dialog(qtbot, iris_window)
    dialog.base_image.setText(base_image)
    job = dialog.start()
    dialog.cancel()
    qtbot.waitUntil(lambda: job.finished, timeout=120_000)
    assert job.state is JobState.CANCELLED
    assert "Cancelled" in dialog.outcome.text()
    assert iris_window.registry is not None
    assert iris_window.registry.builds() == []  # stopped before Docker began: nothing to record
    dialog.close()


def _left() -> Any:
    from PySide6.QtCore import Qt

    return Qt.MouseButton.LeftButton
