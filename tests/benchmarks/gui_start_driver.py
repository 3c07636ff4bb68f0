"""One cold start of the desktop app, to a shown and populated main window; run by gui_start.

    MODELBAY_HOME=... QT_QPA_PLATFORM=offscreen python -m tests.benchmarks.gui_start_driver

Calls the real ``app.ui.run()`` (so it starts exactly as ``modelbay-gui``
does, whatever ``run()`` comes to contain), with ``MainWindow`` replaced by a
subclass that only watches: it notes when it is constructed and shown, runs a
5 ms :class:`~tests.ui.heartbeat.Heartbeat` from ``show()`` on, and once the
models table has its first page (``sig_loaded``) and its viewport has painted
with rows in it, closes the window (the job queues shut down, the registry
closes), which ends ``run()``. Then it prints one JSON line: the
``time.perf_counter()`` taken as the first statement of this module (``t0``),
seconds from ``t0`` to each step, the rows shown, and what the heartbeat saw.
On Linux ``perf_counter`` is CLOCK_MONOTONIC, shared by every process, so the
caller can also tell how long Python took to get here.
"""

from __future__ import annotations

import time

T0 = time.perf_counter()  # as early as this module can: right after Python's own start-up

import json  # noqa: E402 - after T0 on purpose
import sys  # noqa: E402
from typing import Any  # noqa: E402

TIMEOUT_MS = 60_000


def main() -> int:
    marks: dict[str, float] = {}
    outcome: dict[str, Any] = {}

    def mark(name: str) -> None:
        marks.setdefault(name, time.perf_counter() - T0)

    from PySide6.QtCore import QEvent, QObject, QTimer
    from PySide6.QtWidgets import QApplication, QTableView

    import app.ui
    from app.config import Config
    from app.ui import main_window
    from tests.ui.heartbeat import Heartbeat

    mark("imports")

    class WatchedWindow(main_window.MainWindow):
        """The real main window; it also notes when it is shown and populated, then closes."""

        def __init__(self, config: Config | None = None) -> None:
            mark("MainWindow()")
            super().__init__(config)
            mark("MainWindow")
            self.beat = Heartbeat()
            panel = self.models_panel
            panel.model.modelAboutToBeReset.connect(
                lambda: mark("registry open") if self.registry is not None else None
            )
            panel.model.sig_loaded.connect(lambda _total: mark("first page"))
            self._watch = PaintWatch(self)
            panel.table.viewport().installEventFilter(self._watch)
            QTimer.singleShot(TIMEOUT_MS, self.give_up)

        def show(self) -> None:
            super().show()
            mark("shown")
            self.beat.start()

        def populated(self) -> bool:
            panel = self.models_panel
            return (
                "first page" in marks
                and panel.model.rowCount() > 0
                and panel.stack.currentWidget() is panel.splitter
                and panel.table.isVisible()
            )

        def finish(self) -> None:
            if outcome:
                return
            mark("populated")
            self.beat.stop()
            worst = max(self.beat.stalls(over_ms=0), key=lambda s: s.stall_ms, default=None)
            outcome["heartbeat"] = {
                "ticks": self.beat.ticks,
                "longest_stall_ms": self.beat.longest_stall_ms,
                "p99_gap_ms": self.beat.percentile_gap_ms(99),
                "worst": worst._asdict() if worst else None,
            }
            outcome["rows"] = self.models_panel.model.rowCount()
            outcome["visible_rows"] = _visible_rows(self.models_panel.table)
            self.close()  # saves settings, shuts the job queues down, closes the registry
            QApplication.quit()

        def give_up(self) -> None:
            if outcome:
                return
            outcome["error"] = f"no populated window after {TIMEOUT_MS} ms; steps so far: {marks}"
            self.close()
            QApplication.exit(1)

    class PaintWatch(QObject):
        """Once the viewport paints with rows in the model, finish after that paint is done."""

        def __init__(self, window: WatchedWindow) -> None:
            super().__init__(window)
            self.window = window

        def eventFilter(self, watched: QObject, event: QEvent) -> bool:
            if event.type() == QEvent.Type.Paint and self.window.populated():
                mark("painted")
                QTimer.singleShot(0, self.window.finish)
            return False

    def _visible_rows(table: QTableView) -> int:
        """Rows the table's viewport actually shows (top to bottom of the visible area)."""
        top = table.rowAt(0)
        if top < 0:
            return 0
        bottom = table.rowAt(table.viewport().height() - 1)
        return (table.model().rowCount() - 1 if bottom < 0 else bottom) - top + 1

    main_window.MainWindow = WatchedWindow  # type: ignore[misc]  # run() looks it up when called
    code = app.ui.run()
    if "error" in outcome or "rows" not in outcome:
        print(outcome.get("error", f"run() returned {code} early; steps: {marks}"), file=sys.stderr)
        return code or 1
    print(json.dumps({"t0": T0, "steps": marks, **outcome}))
    return code


if __name__ == "__main__":
    sys.exit(main())
