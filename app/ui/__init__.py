"""The desktop app (PySide6). The only package allowed to import Qt."""

from __future__ import annotations


def run() -> int:
    """Start the desktop app; return its exit code."""
    import sys

    from PySide6.QtWidgets import QApplication

    from app.ui.main_window import MainWindow

    app = QApplication.instance() or QApplication(sys.argv)
    app.setApplicationName("Modelbay")
    app.setOrganizationName("Modelbay")
    window = MainWindow()
    window.show()
    return int(app.exec())
