"""The desktop app (PySide6). The only package allowed to import Qt."""

from __future__ import annotations


def run() -> int:
    """Start the desktop app; return its exit code."""
    import sys

    from PySide6.QtWidgets import QApplication

    from app.config import Config
    from app.logs import log, log_to_file
    from app.ui.main_window import MainWindow, current_theme
    from app.ui.theme import apply_theme

    config = Config.from_environment()
    config.home.mkdir(parents=True, exist_ok=True)
    log_to_file(config.log_dir)
    app = QApplication.instance() or QApplication(sys.argv)
    assert isinstance(app, QApplication)
    app.setApplicationName("Modelbay")
    app.setOrganizationName("Modelbay")
    app.setDesktopFileName("modelbay")
    window = MainWindow(config)
    apply_theme(app, current_theme(window.settings))
    # "system" follows the desktop when it switches between light and dark while we run
    app.styleHints().colorSchemeChanged.connect(
        lambda _scheme: apply_theme(app, current_theme(window.settings))
    )
    window.show()
    log.info("Modelbay started on %s", config.home)
    return int(app.exec())
