"""Qt test fixtures: fail any test that leaves a window open or a thread running."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from pytestqt.qtbot import QtBot

from app.config import Config
from app.registry import NewVersion, Registry
from app.store import StoredFile

if TYPE_CHECKING:
    from app.ui.jobs import JobQueue


@pytest.fixture(autouse=True)
def _no_leftovers(qapp: object) -> Iterator[None]:
    from PySide6.QtCore import QThreadPool
    from PySide6.QtWidgets import QApplication

    threads_before = set(threading.enumerate())
    yield
    QThreadPool.globalInstance().waitForDone(5000)
    leaked = [w for w in QApplication.topLevelWidgets() if w.isVisible()]
    for widget in leaked:
        widget.close()
        widget.deleteLater()
    assert leaked == [], f"the test left top-level widgets open: {leaked}"
    extra = [
        t
        for t in threading.enumerate()
        # Qt's pool threads show up as dummy entries once Python ran in them; the job
        # queues' own shutdown (waitForDone) is what proves those stopped.
        if t not in threads_before and t.is_alive() and not isinstance(t, threading._DummyThread)
    ]
    assert extra == [], f"the test left threads running: {extra}"


@pytest.fixture
def queues() -> Iterator[tuple[JobQueue, JobQueue]]:
    """A reader and a network job queue, as the window has, shut down after the test."""
    from app.ui.jobs import JobQueue

    reader, network = JobQueue(), JobQueue()
    yield reader, network
    assert network.shutdown()
    assert reader.shutdown()
    reader.deleteLater()
    network.deleteLater()


@pytest.fixture
def fill_registry(config: Config) -> Callable[[int, int], Config]:
    """Register models x versions quickly (one shared blob), for table and window tests."""

    def fill(models: int, versions: int = 1) -> Config:
        with Registry.open(config) as registry:
            sha, size = registry.store.put_bytes(b"weights")
            files = (StoredFile("model.bin", sha, size),)
            specs = [
                NewVersion(
                    name=f"model-{m:04d}",
                    files=files,
                    sha256=sha,
                    format="joblib",
                    framework="sklearn",
                    tags={"team": f"t{m % 5}"},
                )
                for m in range(models)
                for _ in range(versions)
            ]
            for start in range(0, len(specs), 500):
                registry.register_versions(specs[start : start + 500])
        return config

    return fill


@pytest.fixture
def window(qtbot: QtBot, config: Config) -> Iterator[object]:
    """The real main window on the test's registry, opened and loaded."""
    from app.ui.main_window import MainWindow

    win = MainWindow(config)
    qtbot.addWidget(win)
    win.show()
    qtbot.waitUntil(lambda: win.registry is not None, timeout=10_000)
    yield win
    win.close()


def drop_files(
    qtbot: QtBot, target: object, paths: list[Path], at: tuple[int, int] = (50, 50)
) -> tuple[bool, bool]:
    """Drag and drop real file URLs on a widget (at a point in its coordinates); return
    (enter accepted, drop accepted). Qt passes what the widget ignores on to its parents."""
    from PySide6.QtCore import QMimeData, QPointF, Qt, QUrl
    from PySide6.QtGui import QDragEnterEvent, QDropEvent
    from PySide6.QtWidgets import QApplication

    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(p)) for p in paths])
    point = QPointF(*at)
    enter = QDragEnterEvent(
        point.toPoint(),
        Qt.DropAction.CopyAction,
        mime,
        Qt.MouseButton.LeftButton,
        Qt.KeyboardModifier.NoModifier,
    )
    QApplication.sendEvent(target, enter)  # type: ignore[arg-type]
    drop = QDropEvent(
        point,
        Qt.DropAction.CopyAction,
        mime,
        Qt.MouseButton.LeftButton,
        Qt.KeyboardModifier.NoModifier,
    )
    QApplication.sendEvent(target, drop)  # type: ignore[arg-type]
    return enter.isAccepted(), drop.isAccepted()
