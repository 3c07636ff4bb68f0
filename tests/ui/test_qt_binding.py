"""Guards for the Qt binding itself: why pyproject.toml excludes PySide6-Essentials 6.12.0."""

from __future__ import annotations

import subprocess
import sys
import textwrap

EMIT_MANY = textwrap.dedent(
    """
    from PySide6.QtCore import QObject, Signal
    from PySide6.QtWidgets import QApplication

    app = QApplication(["check", "-platform", "offscreen"])

    class Emitter(QObject):
        sig = Signal()

    for _ in range(200):
        emitter = Emitter()
        emitter.sig.emit()
    print("clean exit")
    """
)


def test_emitting_signals_on_many_objects_exits_cleanly() -> None:
    """PySide6 6.12.0 aborts at exit here ("bool_dealloc: deallocating True or False")."""
    done = subprocess.run(
        [sys.executable, "-c", EMIT_MANY], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip() == "clean exit"
