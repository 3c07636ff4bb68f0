"""The import dialog: what was dropped, under which model names, with which tags and note.

Each dropped item gets a row with a proposed model name (from the file or
folder name; an existing name means "new version of that model"). Items that
cannot be imported (missing, empty, unreadable) are listed with the reason and
skipped. The dialog only collects choices; the imports themselves run as
background jobs.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QPlainTextEdit,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from app.errors import InvalidInputError
from app.registry.names import check_name, derive_name, parse_tag
from app.ui.reference_view import is_table_file


@dataclass(frozen=True)
class ImportRequest:
    path: Path
    name: str
    tags: dict[str, str]
    note: str


def usability_problem(path: Path) -> str | None:
    """Why ``path`` cannot be imported, in words, or None. Only cheap checks (stat, listdir)."""
    if not path.exists():
        return "it does not exist (moved or deleted?)"
    if path.is_dir():
        try:
            has_files = any(p.is_file() for p in path.rglob("*"))
        except OSError as exc:
            return f"the folder cannot be read: {exc.strerror}"
        return None if has_files else "the folder is empty: there is no model file in it"
    if not path.is_file():
        return "it is not a regular file or folder"
    if is_table_file(path):
        return (
            "a table of data, not a model: to attach it as a version's reference data, "
            "drop it alone onto that version"
        )
    if path.stat().st_size == 0:
        return "the file is empty (0 bytes)"
    if not os.access(path, os.R_OK):
        return "permission denied: you cannot read this file"
    return None


class ImportDialog(QDialog):
    """Collects ImportRequests; read :attr:`requests` after it is accepted.

    Whether a name is a new model or a new version of one is asked of the
    registry (``sig_names_wanted``, answered with :meth:`known_models`), not
    guessed from the models the table happens to have loaded.
    """

    sig_names_wanted = Signal(list)  # names whose existence is not known yet

    def __init__(
        self, paths: list[Path], existing_models: set[str], parent: QWidget | None = None
    ) -> None:
        super().__init__(parent)
        self.setWindowTitle("Import models")
        self.setMinimumWidth(640)
        self.existing = set(existing_models)
        self.checked = set(existing_models)  # names the registry was asked about
        self._asking = False  # True once someone answers sig_names_wanted
        self.paths = paths
        self.problems = {p: usability_problem(p) for p in paths}
        self.requests: list[ImportRequest] = []

        layout = QVBoxLayout(self)
        intro = QLabel(
            "Each item becomes a new version of the model named beside it. An existing name "
            "adds a version to that model.",
            self,
        )
        intro.setWordWrap(True)
        layout.addWidget(intro)

        self.table = self._build_table()
        layout.addWidget(self.table)

        form = QFormLayout()
        self.tags = QLineEdit(self)
        self.tags.setPlaceholderText("team=fraud, dataset=2024-q3")
        self.tags.textChanged.connect(self._validate)
        self.note = QPlainTextEdit(self)
        self.note.setPlaceholderText("What changed in this version? (optional)")
        self.note.setFixedHeight(64)
        form.addRow("Tags:", self.tags)
        form.addRow("Note:", self.note)
        layout.addLayout(form)

        self.error = QLabel(self)
        self.error.setWordWrap(True)
        self.error.setStyleSheet("color: #c62828;")
        layout.addWidget(self.error)

        self.buttons = QDialogButtonBox(
            QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel, self
        )
        self.buttons.button(QDialogButtonBox.StandardButton.Ok).setText("Import")
        self.buttons.accepted.connect(self._accept)
        self.buttons.rejected.connect(self.reject)
        layout.addWidget(self.buttons)
        self._validate()

    def _build_table(self) -> QTableWidget:
        paths = self.paths
        table = QTableWidget(len(paths), 3, self)
        table.setHorizontalHeaderLabels(["Item", "Model name", "Becomes"])
        table.horizontalHeader().setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)
        table.horizontalHeader().setSectionResizeMode(1, QHeaderView.ResizeMode.Stretch)
        table.verticalHeader().setVisible(False)
        for row, path in enumerate(paths):
            item = QTableWidgetItem(path.name + ("/" if path.is_dir() else ""))
            item.setToolTip(str(path))
            item.setFlags(item.flags() & ~Qt.ItemFlag.ItemIsEditable)
            table.setItem(row, 0, item)
            try:
                proposed = derive_name(path)
            except InvalidInputError:
                proposed = "model"
            name_item = QTableWidgetItem(proposed)
            table.setItem(row, 1, name_item)
            becomes = QTableWidgetItem()
            becomes.setFlags(becomes.flags() & ~Qt.ItemFlag.ItemIsEditable)
            table.setItem(row, 2, becomes)
            if self.problems[path]:
                for cell in (item, name_item, becomes):
                    cell.setFlags(cell.flags() & ~Qt.ItemFlag.ItemIsEnabled)
        table.itemChanged.connect(self._validate)
        return table

    def _cell(self, row: int, column: int) -> QTableWidgetItem:
        cell = self.table.item(row, column)
        assert cell is not None  # every cell is created in _build_table
        return cell

    def _parsed_tags(self) -> dict[str, str]:
        tags: dict[str, str] = {}
        for part in self.tags.text().split(","):
            if part.strip():
                key, value = parse_tag(part.strip())
                tags[key] = value.strip()
        return tags

    def _validate(self, *_args: object) -> bool:
        errors: list[str] = []
        unknown: list[str] = []
        usable = 0
        self.table.blockSignals(True)
        try:
            for row, path in enumerate(self.paths):
                becomes = self._cell(row, 2)
                problem = self.problems[path]
                if problem:
                    becomes.setText(f"skipped: {problem}")
                    continue
                name = self._cell(row, 1).text().strip()
                try:
                    name = check_name(name)
                except InvalidInputError as exc:
                    becomes.setText("invalid name")
                    errors.append(f"{path.name}: {exc.message}")
                    continue
                usable += 1
                if name in self.existing:
                    becomes.setText("new version")
                elif name in self.checked or not self._asking:
                    becomes.setText("new model")
                else:
                    becomes.setText("checking…")
                    unknown.append(name)
        finally:
            self.table.blockSignals(False)
        if unknown:
            self.checked.update(unknown)
            self.sig_names_wanted.emit(unknown)
        try:
            self._parsed_tags()
        except InvalidInputError as exc:
            errors.append(f"tags: {exc.message} (write key=value, separated by commas)")
        if usable == 0 and not errors:
            errors.append("nothing here can be imported; see the reasons in the list")
        self.error.setText("\n".join(errors))
        ok = self.buttons.button(QDialogButtonBox.StandardButton.Ok)
        ok.setEnabled(not errors and usable > 0)
        return ok.isEnabled()

    def ask_registry(self) -> None:
        """Start asking (through ``sig_names_wanted``) which names exist already."""
        self._asking = True
        self._validate()

    def known_models(self, found: set[str]) -> None:
        """The registry's answer to ``sig_names_wanted``: those that exist."""
        self.existing.update(found)
        self._validate()

    def _accept(self) -> None:
        if not self._validate():
            return
        tags = self._parsed_tags()
        note = self.note.toPlainText().strip()
        self.requests = [
            ImportRequest(path, check_name(self._cell(row, 1).text().strip()), tags, note)
            for row, path in enumerate(self.paths)
            if not self.problems[path]
        ]
        self.accept()
