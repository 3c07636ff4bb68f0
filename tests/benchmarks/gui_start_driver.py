"""One cold start of the desktop app, to a shown and populated main window; run by gui_start.

    MODELBAY_HOME=... QT_QPA_PLATFORM=offscreen python -m tests.benchmarks.gui_start_driver

Does what ``app.ui.run()`` does (same calls, same order), then, instead of
running until the user quits, waits until the models table has received its
first page (``sig_loaded``) and the table's viewport has painted with rows in
it; then closes the window (the job queues shut down, the registry closes),
quits, and prints one JSON line: the ``time.perf_counter()`` taken as the
first statement of this module (``t0``), seconds from ``t0`` to each step, and
the rows shown. On Linux ``perf_counter`` is CLOCK_MONOTONIC, shared by every
process, so the caller can also tell how long Python took to get here.
"""

from __future__ import annotations

import time

T0 = time.perf_counter()  # as early as this module can: right after Python's own start-up

import json  # noqa: E402 - after T0 on purpose
import sys  # noqa: E402

TIMEOUT_MS = 60_000


def main() -> int:
    marks: dict[str, float] = {}

    def mark(name: str) -> None:
        marks.setdefault(name, time.perf_counter() - T0)

    # ---- app.ui.run(), step by step
    from PySide6.QtCore import QEvent, QObject, QTimer
    from PySide6.QtWidgets import QApplication

    from app.config import Config
    from app.logs import log, log_to_file
    from app.ui.main_window import MainWindow, current_theme
    from app.ui.theme import apply_theme

    mark("imports")
    config = Config.from_environment()
    config.home.mkdir(parents=True, exist_ok=True)
    log_to_file(config.log_dir)
    app = QApplication.instance() or QApplication(sys.argv)
    assert isinstance(app, QApplication)
    app.setApplicationName("Modelbay")
    app.setOrganizationName("Modelbay")
    app.setDesktopFileName("modelbay")
    mark("QApplication")
    window = MainWindow(config)
    mark("MainWindow")
    apply_theme(app, current_theme(window.settings))
    window.show()
    log.info("Modelbay started on %s", config.home)
    mark("shown")

    # ---- watch for the populated table
    panel = window.models_panel
    table = panel.table
    model = panel.model
    model.modelAboutToBeReset.connect(
        lambda: mark("registry open") if window.registry is not None else None
    )
    model.sig_loaded.connect(lambda _total: mark("first page"))
    outcome: dict[str, object] = {}

    def finish() -> None:
        if outcome:
            return
        mark("populated")
        outcome["rows"] = model.rowCount()
        outcome["visible_rows"] = _visible_rows(table)
        window.close()  # saves settings, shuts the job queues down, closes the registry
        app.quit()

    def populated() -> bool:
        return (
            "first page" in marks
            and model.rowCount() > 0
            and panel.stack.currentWidget() is panel.splitter
            and table.isVisible()
        )

    class PaintWatch(QObject):
        """Once the viewport paints with rows in the model, finish after that paint is done."""

        def eventFilter(self, watched: QObject, event: QEvent) -> bool:
            if event.type() == QEvent.Type.Paint and populated():
                mark("painted")
                QTimer.singleShot(0, finish)
            return False

    watch = PaintWatch(table)
    table.viewport().installEventFilter(watch)

    def give_up() -> None:
        outcome["error"] = f"no populated window after {TIMEOUT_MS} ms; steps so far: {marks}"
        window.close()
        app.exit(1)

    QTimer.singleShot(TIMEOUT_MS, give_up)
    code = int(app.exec())
    if "error" in outcome:
        print(outcome["error"], file=sys.stderr)
        return code or 1
    print(json.dumps({"t0": T0, "steps": marks, **outcome}))
    return code


def _visible_rows(table: object) -> int:
    """Rows the table's viewport actually shows (top to bottom of the visible area)."""
    from PySide6.QtWidgets import QTableView

    assert isinstance(table, QTableView)
    top = table.rowAt(0)
    if top < 0:
        return 0
    bottom = table.rowAt(table.viewport().height() - 1)
    bottom = table.model().rowCount() - 1 if bottom < 0 else bottom
    return bottom - top + 1


if __name__ == "__main__":
    sys.exit(main())
