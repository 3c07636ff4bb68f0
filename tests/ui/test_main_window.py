"""The real main window: empty state, drag and drop, the import dialog, jobs, settings."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

from pytestqt.qtbot import QtBot

from app.config import Config
from tests.ui.conftest import drop_files


def message_boxes(window: Any) -> list[Any]:
    from PySide6.QtWidgets import QMessageBox

    return [b for b in window.findChildren(QMessageBox) if b.isVisible()]


def test_empty_registry_explains_how_to_start(qtbot: QtBot, window: Any) -> None:
    panel = window.models_panel
    qtbot.waitUntil(lambda: panel.stack.currentWidget() is panel.empty, timeout=10_000)
    assert "Drop a model file or folder" in panel.empty.text.text()
    assert window.counts.text() == "0 models"
    # the other sections say what they hold and how to begin rather than showing a blank
    window.sidebar.setCurrentRow(1)
    hosts = window.hosts_panel
    assert window.pages.currentWidget() is hosts
    qtbot.waitUntil(lambda: hosts.stack.currentWidget() is hosts.empty, timeout=10_000)
    assert "Add host" in hosts.empty.text.text()
    for row in (2, 3):
        window.sidebar.setCurrentRow(row)
        page = window.pages.currentWidget()
        assert page.text.text()


def test_drop_opens_the_import_dialog_and_the_model_appears_selected(
    qtbot: QtBot, window: Any, model_file: Path
) -> None:
    from app.ui.import_dialog import ImportDialog

    entered, dropped = drop_files(qtbot, window, [model_file])
    assert (entered, dropped) == (True, True)
    dialog = window.findChild(ImportDialog)
    assert dialog is not None
    assert dialog.isVisible()
    assert dialog.table.item(0, 1).text() == "churn_model"
    qtbot.waitUntil(lambda: dialog.table.item(0, 2).text() == "new model", timeout=10_000)
    dialog.tags.setText("team=growth, stage=candidate")
    dialog.note.setPlainText("first try")
    dialog.table.item(0, 1).setText("churn")
    dialog.buttons.accepted.emit()
    [job] = window.imports.jobs
    qtbot.waitUntil(lambda: job.finished, timeout=20_000)
    assert job.state.value == "done"
    panel = window.models_panel
    qtbot.waitUntil(lambda: panel.detail.current is not None, timeout=10_000)
    assert panel.detail.current.name == "churn"
    assert panel.detail.current.tags == {"team": "growth", "stage": "candidate"}
    assert panel.table.currentIndex().row() == panel.model.row_of("churn")
    assert window.jobs_dock.isVisible()
    [row] = window.jobs_panel.rows()
    assert row.bar.format() == "done"


def test_dropping_something_else_than_files_is_refused(qtbot: QtBot, window: Any) -> None:
    from PySide6.QtCore import QMimeData, QPoint, Qt
    from PySide6.QtGui import QDragEnterEvent
    from PySide6.QtWidgets import QApplication

    mime = QMimeData()
    mime.setText("just some text")
    event = QDragEnterEvent(
        QPoint(5, 5),
        Qt.DropAction.CopyAction,
        mime,
        Qt.MouseButton.LeftButton,
        Qt.KeyboardModifier.NoModifier,
    )
    QApplication.sendEvent(window, event)
    assert not event.isAccepted()


def test_unusable_drops_are_explained_and_skipped(
    qtbot: QtBot, window: Any, tmp_path: Path, model_file: Path
) -> None:
    from app.ui.import_dialog import ImportDialog

    empty_folder = tmp_path / "run-42"
    empty_folder.mkdir()
    empty_file = tmp_path / "model.pkl"
    empty_file.write_bytes(b"")
    drop_files(qtbot, window, [empty_folder, empty_file])
    dialog = window.findChild(ImportDialog)
    assert dialog.table.item(0, 2).text() == (
        "skipped: the folder is empty: there is no model file in it"
    )
    assert dialog.table.item(1, 2).text() == "skipped: the file is empty (0 bytes)"
    assert not dialog.buttons.button(dialog.buttons.StandardButton.Ok).isEnabled()
    assert "nothing here can be imported" in dialog.error.text()
    dialog.reject()


def test_bad_names_and_tags_block_the_import_with_a_reason(
    qtbot: QtBot, window: Any, model_file: Path
) -> None:
    from app.ui.import_dialog import ImportDialog

    drop_files(qtbot, window, [model_file])
    dialog = window.findChild(ImportDialog)
    ok = dialog.buttons.button(dialog.buttons.StandardButton.Ok)
    dialog.table.item(0, 1).setText("churn:v2")
    assert not ok.isEnabled()
    assert "cannot be a model name" in dialog.error.text()
    dialog.table.item(0, 1).setText("churn v2")
    assert ok.isEnabled()
    dialog.tags.setText("novalue")
    assert "write key=value" in dialog.error.text()
    assert not ok.isEnabled()
    dialog.reject()


def test_a_dangerous_pickle_lands_quarantined_with_a_visible_warning(
    qtbot: QtBot, window: Any, tmp_path: Path
) -> None:
    from tests.formats import makers

    marker = tmp_path / "pwned"
    evil = makers.malicious_pickle(tmp_path / "evil", marker)
    from app.ui.import_dialog import ImportRequest

    [job] = window.start_imports([ImportRequest(evil, "evil", {}, "")])
    qtbot.waitUntil(lambda: job.finished, timeout=20_000)
    qtbot.waitUntil(lambda: bool(message_boxes(window)), timeout=5_000)
    [box] = message_boxes(window)
    assert box.windowTitle() == "Quarantined model"
    assert "loading it would run builtins.exec" in box.text()
    box.close()
    panel = window.models_panel
    qtbot.waitUntil(lambda: panel.detail.current is not None, timeout=10_000)
    assert panel.detail.banner.isVisible()
    assert "Quarantined" in panel.detail.banner_text.text()
    row = panel.model.row_of("evil")
    status = panel.model.data(panel.model.index(row, 6))
    assert status == "quarantined"
    assert not marker.exists()


def test_a_failed_import_says_why(qtbot: QtBot, window: Any, tmp_path: Path) -> None:
    from app.ui.import_dialog import ImportRequest

    gone = tmp_path / "vanished.pkl"
    [job] = window.start_imports([ImportRequest(gone, "x", {}, "")])
    qtbot.waitUntil(lambda: job.finished, timeout=10_000)
    assert job.state.value == "failed"
    [row] = window.jobs_panel.rows()
    assert "does not exist" in row.message.text()


def test_cancel_stops_a_queued_import(qtbot: QtBot, window: Any, tmp_path: Path) -> None:
    from app.ui.import_dialog import ImportRequest

    big = tmp_path / "big.bin"
    with big.open("wb") as f:
        f.truncate(512 * 1024 * 1024)
    second = tmp_path / "second.bin"
    second.write_bytes(os.urandom(1000))
    first_job, second_job = window.start_imports(
        [ImportRequest(big, "big", {}, ""), ImportRequest(second, "second", {}, "")]
    )
    assert second_job.state.value == "queued"  # imports run one at a time
    second_job.cancel()
    first_job.cancel()
    qtbot.waitUntil(lambda: first_job.finished and second_job.finished, timeout=20_000)
    assert {first_job.state.value, second_job.state.value} == {"cancelled"}
    assert window.registry.count() == (0, 0)


def test_settings_persist_between_sessions(
    qtbot: QtBot, config: Config, fill_registry: Callable[[int, int], Config]
) -> None:
    from app.ui.main_window import MainWindow

    fill_registry(3, 1)
    first = MainWindow(config)
    qtbot.addWidget(first)
    first.show()
    first.resize(900, 560)
    first.models_panel.splitter.setSizes([300, 300])
    first.sidebar.setCurrentRow(2)
    first.set_theme("dark")
    sizes = first.models_panel.splitter.sizes()
    size = first.size()
    first.close()

    second = MainWindow(config)
    qtbot.addWidget(second)
    second.show()
    assert second.sidebar.currentRow() == 2
    # the offscreen screen is narrow: Qt may clamp the width, never the height here
    assert second.height() == size.height()
    assert second.settings.value("geometry") is not None
    assert second.models_panel.splitter.sizes() == sizes
    assert second.settings.value("theme") == "dark"
    checked = [a.data() for a in second.theme_group.actions() if a.isChecked()]
    assert checked == ["dark"]
    second.set_theme("light")
    second.close()


def test_a_shared_database_password_is_never_shown(qtbot: QtBot, tmp_path: Path) -> None:
    from app.ui.main_window import MainWindow

    url = "postgresql+psycopg://alice:s3cret@127.0.0.1:1/modelbay"
    win = MainWindow(Config.at(tmp_path / "home", database_url=url))
    qtbot.addWidget(win)
    win.show()
    qtbot.waitUntil(lambda: bool(message_boxes(win)), timeout=20_000)
    [box] = message_boxes(win)
    assert "cannot open the registry database" in box.text().lower()
    for text in (
        box.text(),
        box.informativeText(),
        win.location.text(),
        win.models_panel.loading.text.text(),
    ):
        assert "s3cret" not in text
    box.close()
    win.close()


def test_import_dialog_asks_the_registry_whether_a_name_exists(
    qtbot: QtBot,
    config: Config,
    fill_registry: Callable[[int, int], Config],
    tmp_path: Path,
    model_file: Path,
) -> None:
    """A model beyond the table's first page is still recognised as an existing model."""
    import shutil

    from app.ui.import_dialog import ImportDialog
    from app.ui.main_window import MainWindow

    fill_registry(450, 1)
    window = MainWindow(config)
    qtbot.addWidget(window)
    window.show()
    qtbot.waitUntil(lambda: window.models_panel.model.rowCount() > 0, timeout=10_000)
    loaded = {
        window.models_panel.model.summary(r).name
        for r in range(window.models_panel.model.rowCount())
    }
    last = next(f"model-{i:04d}" for i in range(450) if f"model-{i:04d}" not in loaded)
    old = shutil.copy(model_file, tmp_path / f"{last}.joblib")
    new = shutil.copy(model_file, tmp_path / "brand-new.joblib")
    dialog = window.open_import_dialog([Path(old), Path(new)])
    assert isinstance(dialog, ImportDialog)
    qtbot.waitUntil(lambda: dialog.table.item(0, 2).text() == "new version", timeout=10_000)
    assert dialog.table.item(1, 2).text() == "new model"
    dialog.reject()
    window.close()
