"""The Models panel: search, the registry table, and the detail of the selected model.

A CSV or Parquet file dropped onto a row of the table is offered as reference
data of that model's version (``sig_reference_dropped``; the main window asks
first); one dropped onto the detail goes to the version it shows.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from PySide6.QtCore import QEvent, QObject, QPoint, Qt, QTimer, Signal
from PySide6.QtGui import QDropEvent
from PySide6.QtWidgets import (
    QAbstractItemView,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QMenu,
    QPushButton,
    QSplitter,
    QStackedWidget,
    QTableView,
    QVBoxLayout,
    QWidget,
)

from app.ui.models_table import SUMMARY_ROLE, ModelsTableModel
from app.ui.reference_view import is_table_file
from app.ui.theme import icon
from app.ui.version_detail import VersionDetail

if TYPE_CHECKING:
    from app.registry import Registry
    from app.ui.jobs import JobQueue

SEARCH_DELAY_MS = 200


class EmptyState(QWidget):
    """A centred icon and a few words: what this place is for and how to begin."""

    def __init__(self, icon_name: str, title: str, text: str, parent: QWidget | None = None):
        super().__init__(parent)
        layout = QVBoxLayout(self)
        layout.addStretch(1)
        picture = QLabel(self)
        picture.setPixmap(icon(icon_name).pixmap(64, 64))
        picture.setAlignment(Qt.AlignmentFlag.AlignCenter)
        heading = QLabel(f"<h2>{title}</h2>", self)
        heading.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.text = QLabel(text, self)
        self.text.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.text.setWordWrap(True)
        self.text.setOpenExternalLinks(False)
        for widget in (picture, heading, self.text):
            layout.addWidget(widget)
        layout.addStretch(2)


class ModelsPanel(QWidget):
    sig_status = Signal(str)
    sig_error = Signal(str, str)
    sig_import_requested = Signal()
    sig_reference_dropped = Signal(object, object)  # VersionInfo, Path of a table file

    def __init__(self, reader: JobQueue, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.reader = reader
        self.registry: Registry | None = None
        self._select_after_load: str | None = None
        self._columns_sized = False

        layout = QVBoxLayout(self)
        bar = QHBoxLayout()
        self.search = QLineEdit(self)
        self.search.setPlaceholderText("Search names, tags and descriptions  (Ctrl+F)")
        self.search.addAction(icon("search"), QLineEdit.ActionPosition.LeadingPosition)
        self.search.setClearButtonEnabled(True)
        self.search.setAccessibleName("Search models")
        self.import_button = QPushButton(icon("import"), "Import…", self)
        self.import_button.clicked.connect(self.sig_import_requested.emit)
        bar.addWidget(self.search, 1)
        bar.addWidget(self.import_button)
        layout.addLayout(bar)

        self.model = ModelsTableModel(reader, self)
        self.table = self._build_table()

        self.detail = VersionDetail(reader, self)
        self.detail.sig_error.connect(self.sig_error.emit)
        self.detail.sig_changed.connect(self._model_changed)

        self.splitter = QSplitter(Qt.Orientation.Horizontal, self)
        self.splitter.addWidget(self.table)
        self.splitter.addWidget(self.detail)
        self.splitter.setStretchFactor(0, 1)
        self.splitter.setStretchFactor(1, 1)
        self.splitter.setSizes([560, 480])
        self.table.setMinimumWidth(320)
        self.detail.setMinimumWidth(360)

        self.empty = EmptyState(
            "drop",
            "Your registry is empty",
            "Drop a model file or folder anywhere on this window, or use File &gt; Import…<br>"
            "New here? Help &gt; Create Demo Models adds a few small example models to try.",
            self,
        )
        self.no_match = EmptyState("search", "No models match", "", self)
        self.loading = EmptyState("models", "Opening the registry…", "", self)
        self.stack = QStackedWidget(self)
        for page in (self.loading, self.empty, self.no_match, self.splitter):
            self.stack.addWidget(page)
        layout.addWidget(self.stack, 1)

        self._search_timer = QTimer(self)
        self._search_timer.setSingleShot(True)
        self._search_timer.setInterval(SEARCH_DELAY_MS)
        self._search_timer.timeout.connect(lambda: self.model.set_query(self.search.text()))
        self.search.textChanged.connect(lambda _t: self._search_timer.start())
        self.model.sig_loaded.connect(self._loaded)
        self.model.sig_failed.connect(lambda message: self.sig_error.emit(message, ""))
        self.model.rowsInserted.connect(self._maybe_select)

    def _build_table(self) -> QTableView:
        table = QTableView(self)
        table.setModel(self.model)
        table.setSortingEnabled(True)
        table.horizontalHeader().setSortIndicator(7, Qt.SortOrder.DescendingOrder)
        table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        table.setAlternatingRowColors(True)
        table.setWordWrap(False)
        # size columns from the visible rows only: measuring every loaded row stalled the GUI
        table.horizontalHeader().setResizeContentsPrecision(0)
        table.verticalHeader().setDefaultSectionSize(table.fontMetrics().height() + 8)
        table.verticalHeader().setVisible(False)
        table.horizontalHeader().setStretchLastSection(True)
        table.setContextMenuPolicy(Qt.ContextMenuPolicy.CustomContextMenu)
        table.customContextMenuRequested.connect(self._context_menu)
        table.setAccessibleName("Models")
        table.selectionModel().currentRowChanged.connect(self._row_changed)
        table.viewport().setAcceptDrops(True)
        table.viewport().installEventFilter(self)
        return table

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        kinds = (QEvent.Type.DragEnter, QEvent.Type.DragMove, QEvent.Type.Drop)
        if watched is self.table.viewport() and event.type() in kinds:
            assert isinstance(event, QDropEvent)  # enter and move events derive from it
            self._table_drag(event)
            return True
        return super().eventFilter(watched, event)

    def _table_drag(self, event: QDropEvent) -> None:
        """Take one table file dropped on a row; anything else goes on to the main window."""
        urls = event.mimeData().urls()
        path = Path(urls[0].toLocalFile()) if len(urls) == 1 and urls[0].isLocalFile() else None
        if path is None or not is_table_file(path):
            event.ignore()  # model files: the main window imports them
            return
        index = self.table.indexAt(event.position().toPoint())
        summary = self.model.data(index, SUMMARY_ROLE) if index.isValid() else None
        if summary is None:
            event.ignore()
            return
        event.acceptProposedAction()
        if event.type() != QEvent.Type.Drop:
            return
        self.table.selectRow(index.row())
        shown = self.detail.current
        # the version the detail shows when it is this model's, else the latest
        target = shown if shown is not None and shown.name == summary.name else summary.latest
        self.sig_reference_dropped.emit(target, path)

    def set_registry(self, registry: Registry | None) -> None:
        self.registry = registry
        self.detail.set_registry(registry)
        self.model.set_registry(registry)

    def refresh(self, *, select: str | None = None) -> None:
        self._select_after_load = select
        self.model.reload()

    def _loaded(self, total: int) -> None:
        if total == 0 and not self.model.query:
            self.stack.setCurrentWidget(self.empty)
        elif total == 0:
            self.no_match.text.setText(
                f"Nothing in names, descriptions or tags contains “{self.model.query}”."
            )
            self.stack.setCurrentWidget(self.no_match)
        else:
            self.stack.setCurrentWidget(self.splitter)
            if not self._columns_sized:
                self._columns_sized = True
                self.table.resizeColumnsToContents()
        shown = f"{total:,} model{'s' if total != 1 else ''}"
        self.sig_status.emit(
            f"{shown} matching “{self.model.query}”" if self.model.query else shown
        )
        self._maybe_select()

    def _maybe_select(self, *_args: object) -> None:
        name = self._select_after_load
        if name is None:
            return
        row = self.model.row_of(name)
        if row is not None:
            self._select_after_load = None
            self.table.selectRow(row)
            self.table.scrollTo(self.model.index(row, 0))

    def _row_changed(self, current: object, _previous: object) -> None:
        index = self.table.currentIndex()
        if not index.isValid():
            return
        summary = self.model.data(index, SUMMARY_ROLE)
        if summary is not None:
            self.detail.show_model(summary.name)

    def _model_changed(self, name: str) -> None:
        self.refresh(select=name)

    def _context_menu(self, position: QPoint) -> None:
        index = self.table.indexAt(position)
        if not index.isValid():
            return
        self.table.selectRow(index.row())
        menu = QMenu(self)
        menu.addAction(icon("build"), "Build Image…", self.detail.request_build)
        menu.addAction(icon("hosts"), "Ship to Host…", self.detail.request_ship)
        menu.addAction(icon("deployments"), "Deploy…", self.detail.request_deploy)
        menu.addAction(icon("copy"), "Copy Content Hash", self.detail.copy_hash)
        menu.addAction(icon("alias"), "Set Alias…", self.detail.set_alias_dialog)
        menu.addAction(icon("tag"), "Add Tag…", self.detail.add_tag_dialog)
        menu.addAction(icon("import"), "Attach Reference Data…", self.detail.choose_reference_file)
        approve = menu.addAction(
            icon("quarantine"), "Review and Approve…", self.detail.approve_current
        )
        summary = self.model.data(index, SUMMARY_ROLE)
        approve.setEnabled(summary is not None and summary.latest.status == "quarantined")
        menu.addSeparator()
        menu.addAction(icon("archive"), "Archive Version…", self.detail.archive_current)
        menu.popup(self.table.viewport().mapToGlobal(position))
