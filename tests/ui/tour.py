"""Walk the real main window through the states a new user meets, and photograph each.

    DISPLAY=:99 python -m tests.ui.tour OUTDIR

Runs the real MainWindow on the X display (platform xcb) with a fresh data
home: the empty registry, the demo models with one selected, a table of
reference data dropped onto a version and attached, a quarantined version, the
import dialog after a drop, and the dark theme. Each picture is
the whole X screen (QScreen.grabWindow(0)), i.e. what a user would see.
"""

from __future__ import annotations

import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from PySide6.QtCore import QEventLoop, QMimeData, QPointF, Qt, QTimer, QUrl
from PySide6.QtGui import QDragEnterEvent, QDropEvent
from PySide6.QtWidgets import QApplication, QTabWidget, QWidget

from app.config import Config
from app.demo import create_demo
from app.registry import Registry
from app.ui.import_dialog import ImportDialog
from app.ui.main_window import MainWindow
from app.ui.theme import apply_theme
from tests.formats import makers


def settle(app: QApplication, seconds: float = 0.6) -> None:
    loop = QEventLoop()
    QTimer.singleShot(int(seconds * 1000), loop.quit)
    loop.exec()
    app.processEvents()


def wait_for(app: QApplication, condition: Callable[[], bool], timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise TimeoutError("the window did not reach the expected state")
        settle(app, 0.05)


def shoot(app: QApplication, out: Path) -> None:
    settle(app)
    if not app.primaryScreen().grabWindow(0).save(str(out)):
        raise OSError(f"could not save {out}")
    print(out)


def show_tab(tabs: QTabWidget, title: str) -> None:
    index = next(i for i in range(tabs.count()) if tabs.tabText(i).startswith(title))
    tabs.setCurrentIndex(index)


def drop(target: QWidget, paths: list[Path]) -> None:
    """Drop files on ``target`` as a file manager would: the same events Qt delivers."""
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(p)) for p in paths])
    point = QPointF(target.width() / 2, target.height() / 2)
    buttons, keys = Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier
    QApplication.sendEvent(
        target, QDragEnterEvent(point.toPoint(), Qt.DropAction.CopyAction, mime, buttons, keys)
    )
    QApplication.sendEvent(target, QDropEvent(point, Qt.DropAction.CopyAction, mime, buttons, keys))


def open_window(app: QApplication, home: Path) -> MainWindow:
    window = MainWindow(Config.at(home))
    window.move(0, 0)
    window.resize(1260, 780)
    window.show()
    wait_for(app, lambda: window.registry is not None)
    return window


def main(out_dir: Path) -> int:
    out_dir.mkdir(parents=True, exist_ok=True)
    app = QApplication(["modelbay", "-platform", "xcb"])
    apply_theme(app, "light")
    work = Path(tempfile.mkdtemp(prefix="modelbay-tour-"))

    window = open_window(app, work / "empty-home")
    panel = window.models_panel
    wait_for(app, lambda: panel.stack.currentWidget() is panel.empty)
    shoot(app, out_dir / "empty-registry.png")
    window.close()

    home = work / "home"
    with Registry.open(Config.at(home)) as registry:
        create_demo(registry, home / "demo")
        evil = makers.malicious_pickle(work / "downloads", work / "never-created")
        registry.import_path(evil, name="churn-from-a-colleague", note="found on a shared drive")
    window = open_window(app, home)
    panel = window.models_panel
    wait_for(app, lambda: panel.model.rowCount() > 0)
    row = panel.model.row_of("iris-classifier")
    assert row is not None
    panel.table.selectRow(row)
    wait_for(
        app,
        lambda: panel.detail.current is not None and panel.detail.current.name == "iris-classifier",
    )
    shoot(app, out_dir / "models.png")

    show_tab(panel.detail.tabs, "Compare")
    shoot(app, out_dir / "compare.png")

    # Newer training data, with a column the model does not take: dropped onto version 2.
    panel.detail.version_box.setCurrentIndex(0)
    lines = (home / "demo" / "iris-reference.csv").read_text().splitlines()
    newer = work / "data" / "iris-2024-q3.csv"
    newer.parent.mkdir()
    newer.write_text(
        "\n".join([f"{lines[0]},collected_by", *(f"{row},field-team" for row in lines[1:])])
    )
    drop(panel.detail, [newer])
    wait_for(app, lambda: "iris-classifier-reference:2" in panel.detail.reference_label.text())
    shoot(app, out_dir / "reference-attached.png")

    row = panel.model.row_of("churn-from-a-colleague")
    assert row is not None
    panel.table.selectRow(row)
    wait_for(
        app,
        lambda: (
            panel.detail.current is not None
            and panel.detail.current.name == "churn-from-a-colleague"
        ),
    )
    show_tab(panel.detail.tabs, "Safety")
    shoot(app, out_dir / "quarantine.png")

    dropped = [home / "demo" / "wine-quality.pkl", work / "downloads"]
    window.open_import_dialog(dropped)
    dialog = window.findChild(ImportDialog)
    assert dialog is not None
    dialog.move(300, 200)
    shoot(app, out_dir / "import-dialog.png")
    dialog.reject()

    window.set_theme("dark")
    panel.detail.tabs.setCurrentIndex(0)
    row = panel.model.row_of("iris-classifier")
    assert row is not None
    panel.table.selectRow(row)
    shoot(app, out_dir / "dark.png")
    window.set_theme("light")
    window.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main(Path(sys.argv[1])))
