"""The main window opens on a registry and says where it is and how to begin."""

from __future__ import annotations

from pathlib import Path

from pytestqt.qtbot import QtBot

from app.config import Config
from app.ui.main_window import MainWindow


def test_main_window_shows_the_registry_location(qtbot: QtBot, tmp_path: Path) -> None:
    config = Config.at(tmp_path / "home")
    window = MainWindow(config)
    qtbot.addWidget(window)
    window.show()
    qtbot.waitExposed(window)
    assert window.windowTitle() == "Modelbay"
    text = window.summary.text()
    assert str(tmp_path / "home") in text
    assert "modelbay import PATH" in text


def test_a_shared_database_password_is_never_shown(qtbot: QtBot, tmp_path: Path) -> None:
    url = "postgresql+psycopg://alice:s3cret@db.internal/modelbay"
    window = MainWindow(Config.at(tmp_path / "home", database_url=url))
    qtbot.addWidget(window)
    assert "s3cret" not in window.summary.text()
    assert "alice:***@db.internal/modelbay" in window.summary.text()
