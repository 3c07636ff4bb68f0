"""The main window. For now a frame that says where the registry is and what it holds.

The registry browser, drag-and-drop import and the jobs panel come with the
desktop-app issue; this window exists so ``modelbay`` opens something real.
"""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QLabel, QMainWindow, QVBoxLayout, QWidget

from app.config import Config


class MainWindow(QMainWindow):
    def __init__(self, config: Config | None = None) -> None:
        super().__init__()
        self.config = config or Config.from_environment()
        self.setWindowTitle("Modelbay")
        self.resize(960, 600)
        central = QWidget(self)
        layout = QVBoxLayout(central)
        self.summary = QLabel(self._summary_text(), central)
        self.summary.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.summary.setWordWrap(True)
        self.summary.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        layout.addWidget(self.summary)
        self.setCentralWidget(central)

    def _summary_text(self) -> str:
        from html import escape

        url = self.config.database_url
        if url.startswith("sqlite:///"):
            where = f"the folder <code>{escape(str(self.config.home))}</code>"
        else:  # a shared database: never show its password
            from sqlalchemy.engine import make_url

            shown = make_url(url).render_as_string(hide_password=True)
            store = escape(str(self.config.store_dir))
            where = f"<code>{escape(shown)}</code>, files in <code>{store}</code>"
        return (
            "<h2>Modelbay</h2>"
            f"<p>Your model registry is in {where}.</p>"
            "<p>Add a model from a terminal with <code>modelbay import PATH</code>; "
            "<code>modelbay list</code> shows what the registry holds.</p>"
        )
