"""Capture the whole X screen of the current display into a PNG, as another X client.

    DISPLAY=:99 python -m tests.ui.screenshot OUT.png

It opens no window of its own: the picture is what a user would see of the
windows that other processes (the real ``modelbay``) put on the screen.
"""

from __future__ import annotations

import sys
from pathlib import Path


def main(out: Path) -> int:
    from PySide6.QtGui import QGuiApplication

    app = QGuiApplication(["screenshot", "-platform", "xcb"])
    screen = app.primaryScreen()
    if not screen.grabWindow(0).save(str(out)):
        print(f"could not save {out}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main(Path(sys.argv[1])))
