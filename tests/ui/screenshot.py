"""Open the real Modelbay main window on the current X display and save a screenshot.

    DISPLAY=:99 python -m tests.ui.screenshot OUT.png

The whole X screen is captured (QScreen.grabWindow(0)), so the picture is what
a user would see: window frame position, size and content as the X server shows them.
"""

from __future__ import annotations

import sys
from pathlib import Path


def main(out: Path) -> int:
    from PySide6.QtCore import QTimer
    from PySide6.QtWidgets import QApplication

    from app.ui.main_window import MainWindow

    app = QApplication(["modelbay", "-platform", "xcb"])
    window = MainWindow()
    window.move(40, 40)
    window.show()

    def capture() -> None:
        screen = app.primaryScreen()
        if not screen.grabWindow(0).save(str(out)):
            print(f"could not save {out}", file=sys.stderr)
            app.exit(1)
            return
        app.exit(0)

    QTimer.singleShot(1500, capture)
    return int(app.exec())


if __name__ == "__main__":
    raise SystemExit(main(Path(sys.argv[1])))
