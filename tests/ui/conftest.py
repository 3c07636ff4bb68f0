"""Qt test fixtures: fail any test that leaves a window open or a thread running."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import pytest


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
    extra = [t for t in threading.enumerate() if t not in threads_before and t.is_alive()]
    assert extra == [], f"the test left threads running: {extra}"
