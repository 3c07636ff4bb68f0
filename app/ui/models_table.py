"""The registry as a Qt table: one row per model, loaded a page at a time in the background.

``ModelsTableModel`` never queries on the GUI thread. ``reload`` (after a
search, a sort or a change) and ``fetchMore`` (when the view scrolls near the
end) submit a read to a :class:`~app.ui.jobs.JobQueue`; the page is inserted
when it arrives. A generation counter drops pages that arrive for an older
search or sort. Sorting and filtering happen in the database, so a registry
of 100,000 versions opens with its first page, not with all of it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import (
    QAbstractTableModel,
    QModelIndex,
    QObject,
    QPersistentModelIndex,
    Qt,
    Signal,
)
from PySide6.QtGui import QBrush, QColor, QIcon

from app.cli.output import human_size, human_time
from app.ui.theme import icon

if TYPE_CHECKING:
    from app.registry import ModelSummary, Registry
    from app.ui.jobs import JobQueue

PAGE_SIZE = 200
COLUMNS = (
    ("Name", "name"),
    ("Latest", "latest_version"),
    ("Format", "format"),
    ("Framework", "framework"),
    ("Size", "size"),
    ("Aliases", "aliases"),
    ("Status", "status"),
    ("Updated", "updated"),
)
SUMMARY_ROLE = Qt.ItemDataRole.UserRole + 1
_QUARANTINE_COLOUR = QColor("#c62828")
_ARCHIVED_COLOUR = QColor("#8a8a8a")

AnyIndex = QModelIndex | QPersistentModelIndex


class ModelsTableModel(QAbstractTableModel):
    """Models of a registry, sorted and filtered by the database, fetched page by page."""

    sig_loaded = Signal(int)  # total number of models matching the current search
    sig_failed = Signal(str)

    def __init__(self, reader: JobQueue, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._reader = reader
        self._registry: Registry | None = None
        self._rows: list[ModelSummary] = []
        self._total: int | None = None
        self._query = ""
        self._order = "updated"
        self._descending = True
        self._generation = 0
        self._fetching = False

    # ------------------------------------------------------------------ configuration
    def set_registry(self, registry: Registry | None) -> None:
        self._registry = registry
        self.reload()

    def set_query(self, query: str) -> None:
        if query.strip() != self._query:
            self._query = query.strip()
            self.reload()

    @property
    def query(self) -> str:
        return self._query

    @property
    def total(self) -> int | None:
        return self._total

    def reload(self) -> None:
        """Drop the rows and load the first page again (search, sort or data changed)."""
        self._generation += 1
        self.beginResetModel()
        self._rows = []
        self._total = None
        self._fetching = False
        self.endResetModel()
        if self._registry is not None:
            self._fetch(first=True)

    def summary(self, row: int) -> ModelSummary:
        return self._rows[row]

    def row_of(self, name: str) -> int | None:
        for row, summary in enumerate(self._rows):
            if summary.name == name:
                return row
        return None

    # ------------------------------------------------------------------ Qt model API
    def rowCount(self, parent: AnyIndex = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(self._rows)

    def columnCount(self, parent: AnyIndex = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(COLUMNS)

    def headerData(
        self, section: int, orientation: Qt.Orientation, role: int = Qt.ItemDataRole.DisplayRole
    ) -> Any:
        horizontal = orientation == Qt.Orientation.Horizontal
        if horizontal and role == Qt.ItemDataRole.DisplayRole and 0 <= section < len(COLUMNS):
            return COLUMNS[section][0]
        return None

    def data(self, index: AnyIndex, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid() or not 0 <= index.row() < len(self._rows):
            return None
        summary = self._rows[index.row()]
        column = COLUMNS[index.column()][1]
        if role == Qt.ItemDataRole.DisplayRole:
            return _display(summary, column)
        if role == SUMMARY_ROLE:
            return summary
        if role == Qt.ItemDataRole.TextAlignmentRole and column in {"latest_version", "size"}:
            return int(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        if role == Qt.ItemDataRole.ToolTipRole:
            return _tooltip(summary, column)
        if role == Qt.ItemDataRole.DecorationRole and column == "name":
            return _safety_icon(summary)
        if role == Qt.ItemDataRole.ForegroundRole and column == "status":
            return _STATUS_BRUSHES.get(summary.latest.status)
        return None

    def sort(self, column: int, order: Qt.SortOrder = Qt.SortOrder.AscendingOrder) -> None:
        if not 0 <= column < len(COLUMNS):
            return
        self._order = COLUMNS[column][1]
        self._descending = order == Qt.SortOrder.DescendingOrder
        self.reload()

    def canFetchMore(self, parent: AnyIndex = QModelIndex()) -> bool:  # noqa: B008
        if parent.isValid() or self._registry is None or self._fetching:
            return False
        return self._total is not None and len(self._rows) < self._total

    def fetchMore(self, parent: AnyIndex = QModelIndex()) -> None:  # noqa: B008
        if self.canFetchMore(parent):
            self._fetch(first=False)

    # ------------------------------------------------------------------ loading
    def _fetch(self, *, first: bool) -> None:
        registry = self._registry
        if registry is None:
            return
        self._fetching = True
        generation = self._generation
        query = self._query or None
        order, descending, offset = self._order, self._descending, len(self._rows)

        def read(_progress: object, _cancel: object) -> tuple[list[ModelSummary], int | None]:
            page = registry.list_models(
                query=query,
                include_tags=True,
                order_by=order,
                descending=descending,
                limit=PAGE_SIZE,
                offset=offset,
            )
            total = registry.count_models(query=query, include_tags=True) if first else None
            return page, total

        job = self._reader.submit("reading the registry", read, listed=False)
        job.sig_finished.connect(lambda result: self._arrived(generation, result))
        job.sig_failed.connect(lambda message, _hint: self._failed(generation, message))

    def _arrived(self, generation: int, result: tuple[list[ModelSummary], int | None]) -> None:
        if generation != self._generation:
            return  # an answer to an older search or sort
        page, total = result
        self._fetching = False
        if total is not None:
            self._total = total
        if page:
            start = len(self._rows)
            self.beginInsertRows(QModelIndex(), start, start + len(page) - 1)
            self._rows.extend(page)
            self.endInsertRows()
        if self._total is not None and len(self._rows) >= self._total:
            self._total = len(self._rows)
        if total is not None:
            self.sig_loaded.emit(self._total or 0)

    def _failed(self, generation: int, message: str) -> None:
        if generation == self._generation:
            self._fetching = False
            self.sig_failed.emit(message)


_STATUS_BRUSHES = {"quarantined": QBrush(_QUARANTINE_COLOUR), "archived": QBrush(_ARCHIVED_COLOUR)}


def _tooltip(summary: ModelSummary, column: str) -> str | None:
    if column == "status" and summary.latest.status == "quarantined":
        return "Quarantined: loading this model would run code it carries. Open it to review."
    if column == "name":
        return summary.description or f"{summary.version_count} version(s)"
    return None


def _safety_icon(summary: ModelSummary) -> QIcon | None:
    if summary.latest.status == "quarantined":
        return icon("quarantine")
    if (summary.latest.safety or {}).get("verdict") == "suspicious":
        return icon("warning")
    return None


def _framework(summary: ModelSummary) -> str:
    latest = summary.latest
    return latest.framework + (f" {latest.framework_version}" if latest.framework_version else "")


_DISPLAY: dict[str, Callable[[ModelSummary], str]] = {
    "name": lambda s: s.name,
    "latest_version": lambda s: str(s.latest.version),
    "format": lambda s: s.latest.format,
    "framework": _framework,
    "size": lambda s: human_size(s.latest.size),
    "aliases": lambda s: ", ".join(f"{name}→{number}" for name, number in s.aliases.items()),
    "status": lambda s: s.latest.status,
    "updated": lambda s: human_time(s.updated_at),
}


def _display(summary: ModelSummary, column: str) -> str:
    return _DISPLAY[column](summary)
