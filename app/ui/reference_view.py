"""A version's reference data, shown in the model detail: what is attached, and a busy state
while a table is being read and profiled in the background.

The attaching itself is :meth:`Registry.attach_reference` (the same call as
``modelbay reference NAME:VERSION DATA``), run by
:class:`~app.ui.version_detail.VersionDetail`; this widget only shows.
"""

from __future__ import annotations

from collections.abc import Iterable
from html import escape
from pathlib import Path
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QProgressBar,
    QPushButton,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from app.cli.output import human_time
from app.cli.reference import describe
from app.ui.theme import icon

if TYPE_CHECKING:
    from app.registry import DatasetVersionInfo

TABLE_SUFFIXES = (".csv", ".parquet", ".pq")
"""What :func:`app.monitor.tables.read_table` reads: a drop of one of these is reference data."""
TABLE_FILTER = "Tables (*.csv *.parquet *.pq);;All files (*)"


def is_table_file(path: Path) -> bool:
    return path.suffix.lower() in TABLE_SUFFIXES


def table_files(paths: Iterable[Path]) -> list[Path]:
    return [p for p in paths if is_table_file(p)]


class ReferenceView(QWidget):
    """The Reference tab: the attached dataset version, its warnings and per-column profile."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        layout = QVBoxLayout(self)
        top = QHBoxLayout()
        self.summary = QLabel(self)
        self.summary.setWordWrap(True)
        self.summary.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.attach_button = QPushButton(icon("import"), "Attach reference data…", self)
        self.attach_button.setToolTip(
            "Choose a CSV or Parquet file of the data this version was trained on "
            "(or drop one onto this view)"
        )
        top.addWidget(self.summary, 1)
        top.addWidget(self.attach_button, 0, Qt.AlignmentFlag.AlignTop)
        layout.addLayout(top)

        self.progress = QProgressBar(self)
        self.progress.setRange(0, 0)  # busy: reading and profiling have no useful percentage
        self.progress.setTextVisible(False)
        self.progress.setMaximumHeight(10)
        self.progress.setAccessibleName("Attaching reference data")
        layout.addWidget(self.progress)

        self.warnings = QLabel(self)
        self.warnings.setWordWrap(True)
        self.warnings.setStyleSheet("color: #9a6700;")
        layout.addWidget(self.warnings)

        self.columns_table = QTableWidget(0, 4, self)
        self.columns_table.setHorizontalHeaderLabels(["Column", "Kind", "Missing", "Profile"])
        header = self.columns_table.horizontalHeader()
        header.setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        header.setStretchLastSection(True)
        self.columns_table.verticalHeader().setVisible(False)
        self.columns_table.setEditTriggers(QTableWidget.EditTrigger.NoEditTriggers)
        self.columns_table.setWordWrap(False)
        self.columns_table.verticalHeader().setDefaultSectionSize(
            self.columns_table.fontMetrics().height() + 8
        )
        layout.addWidget(self.columns_table, 1)
        self.show_reference(None)

    def show_reference(self, reference: DatasetVersionInfo | None) -> None:
        self.progress.hide()
        self.attach_button.setEnabled(True)
        if reference is None:
            self.summary.setText(
                "<b>No reference data.</b> Drop a CSV or Parquet file of the data this version "
                "was trained on here, or choose one with <i>Attach reference data…</i>. Its "
                "profile (bins, categories) is what live inputs are compared with."
            )
            self.warnings.hide()
            self.columns_table.setRowCount(0)
            self.columns_table.hide()
            return
        details = describe(reference).removeprefix(reference.ref).strip()  # (rows, columns, …)
        self.summary.setText(
            f"<b>{escape(reference.ref)}</b> {escape(details)}<br>"
            f"from {escape(reference.file_name)}, attached by {escape(reference.created_by)} on "
            f"{human_time(reference.created_at)}"
        )
        self.summary.setToolTip(reference.source_path)
        warnings = reference.warnings
        self.warnings.setText("\n".join(f"⚠ {w}" for w in warnings))
        self.warnings.setVisible(bool(warnings))
        rows = [
            _column_row(name, column)
            for name, column in ((reference.profile or {}).get("columns") or {}).items()
        ]
        self.columns_table.setRowCount(len(rows))
        for r, row in enumerate(rows):
            for c, text in enumerate(row):
                item = QTableWidgetItem(text)
                item.setToolTip(text)
                self.columns_table.setItem(r, c, item)
        self.columns_table.show()

    def show_busy(self, message: str) -> None:
        """Reading and profiling a table: say which, keep the rest as it was."""
        self.summary.setText(f"<b>{escape(message)}</b>")
        self.progress.show()
        self.attach_button.setEnabled(False)


def summary_line(reference: DatasetVersionInfo | None) -> str:
    """One line for the Overview: ``iris-reference:1 · 112 rows · 4 columns · 1 warning``."""
    if reference is None:
        return "none (drop a CSV or Parquet file here)"
    parts = [reference.ref, f"{reference.rows:,} rows", f"{len(reference.columns)} columns"]
    if reference.warnings:
        count = len(reference.warnings)
        parts.append(f"{count} warning{'s' if count != 1 else ''}")
    return " · ".join(parts)


def _column_row(name: str, column: dict[str, Any]) -> list[str]:
    kind = str(column.get("kind", ""))
    rate = float(column.get("missing_rate") or 0.0)
    stats = column.get("stats") or {}
    if kind == "numeric":
        edges = column.get("bin_edges") or []
        profile = (
            f"{_number(stats.get('min'))} to {_number(stats.get('max'))}, "
            f"mean {_number(stats.get('mean'))}, {len(edges) + 1} bins"
            if edges
            else "no values"
        )
    else:
        categories = [str(c) for c in column.get("categories") or []]
        shown = ", ".join(categories[:5]) + (", …" if len(categories) > 5 else "")
        other = float(stats.get("other_share") or 0.0)
        profile = f"{stats.get('unique', len(categories))} distinct: {shown}" + (
            f" (other {other:.1%})" if other else ""
        )
    return [name, kind, f"{rate:.1%}" if rate else "-", profile]


def _number(value: Any) -> str:
    return "-" if value is None else f"{value:.4g}"
