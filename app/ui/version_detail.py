"""The detail of one model: its versions, metadata, signature, files, tags, aliases, safety,
reference data, history, and a side-by-side comparison of two versions.

Every read and write goes through a :class:`~app.ui.jobs.JobQueue`; the widgets
only show what comes back. Changes (tags, aliases, approval, archive) are
confirmed first and reported through ``sig_changed`` so the table refreshes.
A CSV or Parquet file dropped onto the detail (or chosen with "Attach reference
data…") becomes the shown version's reference data: read and profiled in the
background by :meth:`Registry.attach_reference`, as ``modelbay reference`` does.
"""

from __future__ import annotations

import json
from html import escape
from pathlib import Path
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import (
    QDragEnterEvent,
    QDragLeaveEvent,
    QDropEvent,
    QFont,
    QGuiApplication,
    QPalette,
)
from PySide6.QtWidgets import (
    QComboBox,
    QFileDialog,
    QFormLayout,
    QFrame,
    QHBoxLayout,
    QHeaderView,
    QInputDialog,
    QLabel,
    QMessageBox,
    QPushButton,
    QTableWidget,
    QTableWidgetItem,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from app.cli.output import human_size, human_time
from app.progress import CancelToken, ProgressCallback
from app.ui.reference_view import TABLE_FILTER, ReferenceView, is_table_file, summary_line
from app.ui.theme import icon

if TYPE_CHECKING:
    from app.registry import BuildInfo, DatasetVersionInfo, EventInfo, Registry, VersionInfo
    from app.ui.jobs import Job, JobQueue

# What a version's read brings back: versions (newest first), history, builds, references.
_ModelRead = tuple[
    list["VersionInfo"], list["EventInfo"], list["BuildInfo"], dict[int, "DatasetVersionInfo"]
]

COMMON_ALIASES = ("production", "staging", "candidate")
DEPLOY_TIP = "Run this version as a service on one of your hosts (Ctrl+D)"


def _table(headers: list[str], parent: QWidget) -> QTableWidget:
    table = QTableWidget(0, len(headers), parent)
    table.setHorizontalHeaderLabels(headers)
    table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
    table.horizontalHeader().setStretchLastSection(True)
    table.verticalHeader().setVisible(False)
    table.setEditTriggers(QTableWidget.EditTrigger.NoEditTriggers)
    table.setSelectionBehavior(QTableWidget.SelectionBehavior.SelectRows)
    table.setWordWrap(False)
    table.verticalHeader().setDefaultSectionSize(table.fontMetrics().height() + 8)
    return table


def _fill(table: QTableWidget, rows: list[list[str]]) -> None:
    table.setRowCount(len(rows))
    for r, row in enumerate(rows):
        for c, text in enumerate(row):
            item = QTableWidgetItem(text)
            item.setToolTip(text)
            table.setItem(r, c, item)


class VersionDetail(QWidget):
    sig_changed = Signal(str)  # model name: something about it changed
    sig_error = Signal(str, str)  # message, hint
    sig_status = Signal(str)  # a short outcome for the status bar
    sig_build_requested = Signal(object)  # VersionInfo
    sig_ship_requested = Signal(object)  # VersionInfo
    sig_deploy_requested = Signal(object)  # VersionInfo

    def __init__(self, reader: JobQueue, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._reader = reader
        self._registry: Registry | None = None
        self._versions: list[VersionInfo] = []
        self._history: list[EventInfo] = []
        self._builds: list[BuildInfo] = []
        self._references: dict[int, DatasetVersionInfo] = {}  # by dataset version id
        self._current: VersionInfo | None = None
        self._pending_model: str | None = None
        self._attaching: tuple[str, str] | None = None  # (version ref, file name) being attached
        self._build()
        self.setAcceptDrops(True)
        self.show_nothing()

    # ------------------------------------------------------------------ building
    def _build(self) -> None:
        layout = QVBoxLayout(self)
        layout.addLayout(self._build_header())
        self.description = QLabel(self)
        self.description.setWordWrap(True)
        layout.addWidget(self.description)

        self.banner = QFrame(self)
        self.banner.setObjectName("quarantineBanner")
        self.banner.setStyleSheet(
            "#quarantineBanner { background: #fdecea; border: 1px solid #c62828;"
            " border-radius: 4px; } QLabel { color: #8e1b1b; }"
        )
        banner_layout = QHBoxLayout(self.banner)
        banner_icon = QLabel(self.banner)
        banner_icon.setPixmap(icon("quarantine").pixmap(24, 24))
        self.banner_text = QLabel(self.banner)
        self.banner_text.setWordWrap(True)
        self.approve_button = QPushButton("Review and approve…", self.banner)
        self.approve_button.clicked.connect(self.approve_current)
        banner_layout.addWidget(banner_icon)
        banner_layout.addWidget(self.banner_text, 1)
        banner_layout.addWidget(self.approve_button)
        layout.addWidget(self.banner)

        self.tabs = QTabWidget(self)
        self.tabs.addTab(self._build_overview(), "Overview")
        self.signature_table = _table(["Input", "Type", "Shape"], self)
        self.tabs.addTab(self.signature_table, "Signature")
        self.files_table = _table(["Path", "Size", "SHA-256"], self)
        self.tabs.addTab(self.files_table, "Files")
        self.tabs.addTab(self._build_safety(), "Safety")
        self.reference_view = ReferenceView(self)
        self.reference_view.attach_button.clicked.connect(self.choose_reference_file)
        self.tabs.addTab(self.reference_view, "Reference")
        self.history_table = _table(["When", "Who", "What", "Version", "Details"], self)
        self.tabs.addTab(self.history_table, "History")
        self.builds_table = _table(["Status", "Image", "Size", "Took", "When", "Outcome"], self)
        self.tabs.addTab(self.builds_table, "Images")
        self.tabs.addTab(self._build_compare(), "Compare")
        layout.addWidget(self.tabs, 1)

        # Shown over the whole view while a table is dragged over it: where it will go.
        self.drop_hint = QLabel(self)
        self.drop_hint.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.drop_hint.setObjectName("referenceDropHint")
        self.drop_hint.setAttribute(Qt.WidgetAttribute.WA_TransparentForMouseEvents)
        self.drop_hint.hide()

    def _build_header(self) -> QVBoxLayout:
        """The name on a line of its own (long names stay whole), then the version and
        the actions."""
        header = QVBoxLayout()
        self.title = QLabel(self)
        font = QFont(self.title.font())
        font.setPointSizeF(font.pointSizeF() * 1.5)
        font.setBold(True)
        self.title.setFont(font)
        self.title.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.version_box = QComboBox(self)
        self.version_box.setAccessibleName("Version")
        self.version_box.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToContents)
        self.version_box.currentIndexChanged.connect(self._version_chosen)
        self.status = QLabel(self)
        self.build_button = QPushButton(icon("build"), "Build image…", self)
        self.build_button.setToolTip("Build a Docker image that serves this version (Ctrl+B)")
        self.build_button.clicked.connect(self.request_build)
        self.deploy_button = QPushButton(icon("deployments"), "Deploy…", self)
        self.deploy_button.setToolTip(DEPLOY_TIP)
        self.deploy_button.clicked.connect(self.request_deploy)
        self.title.setWordWrap(True)
        header.addWidget(self.title)
        actions = QHBoxLayout()
        actions.addWidget(QLabel("Version:", self))
        actions.addWidget(self.version_box)
        actions.addWidget(self.status)
        actions.addStretch(1)
        actions.addWidget(self.build_button)
        actions.addWidget(self.deploy_button)
        header.addLayout(actions)
        return header

    def _build_overview(self) -> QWidget:
        page = QWidget(self)
        outer = QVBoxLayout(page)
        form = QFormLayout()
        outer.addLayout(form)
        outer.addStretch(1)  # rows stay together at the top instead of spreading out
        self.fields: dict[str, QLabel] = {}
        for key in ("format", "framework", "size", "sha256", "created", "source", "note"):
            label = QLabel(page)
            label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
            label.setWordWrap(True)
            self.fields[key] = label
            if key == "sha256":
                row = QHBoxLayout()
                row.addWidget(label, 1)
                self.copy_button = QPushButton(icon("copy"), "Copy", page)
                self.copy_button.setToolTip("Copy the content hash (Ctrl+Shift+C)")
                self.copy_button.clicked.connect(self.copy_hash)
                row.addWidget(self.copy_button)
                form.addRow("SHA-256:", row)
            else:
                form.addRow(f"{key.capitalize()}:", label)
        alias_row = QHBoxLayout()
        self.aliases_label = QLabel(page)
        self.alias_button = QPushButton(icon("alias"), "Set alias…", page)
        self.alias_button.setToolTip("Point an alias such as production at this version")
        self.alias_button.clicked.connect(self.set_alias_dialog)
        alias_row.addWidget(self.aliases_label, 1)
        alias_row.addWidget(self.alias_button)
        form.addRow("Aliases:", alias_row)
        reference_row = QHBoxLayout()
        self.reference_label = QLabel(page)
        self.reference_label.setWordWrap(True)
        self.reference_button = QPushButton(icon("import"), "Attach…", page)
        self.reference_button.setAccessibleName("Attach reference data")
        self.reference_button.setToolTip(
            "Attach reference data: a CSV or Parquet file of the data this version was "
            "trained on (or drop one onto this view)"
        )
        self.reference_button.clicked.connect(self.choose_reference_file)
        reference_row.addWidget(self.reference_label, 1)
        reference_row.addWidget(self.reference_button)
        form.addRow("Reference:", reference_row)
        self.tags_table = _table(["Tag", "Value"], page)
        self.tags_table.setMaximumHeight(140)
        tag_buttons = QHBoxLayout()
        self.add_tag_button = QPushButton(icon("tag"), "Add tag…", page)
        self.add_tag_button.clicked.connect(self.add_tag_dialog)
        self.remove_tag_button = QPushButton("Remove tag", page)
        self.remove_tag_button.clicked.connect(self.remove_selected_tag)
        tag_buttons.addWidget(self.add_tag_button)
        tag_buttons.addWidget(self.remove_tag_button)
        tag_buttons.addStretch(1)
        form.addRow("Tags:", self.tags_table)
        form.addRow("", tag_buttons)
        return page

    def _build_safety(self) -> QWidget:
        page = QWidget(self)
        layout = QVBoxLayout(page)
        self.verdict_label = QLabel(page)
        self.verdict_label.setWordWrap(True)
        layout.addWidget(self.verdict_label)
        self.findings_table = _table(["Severity", "Would import", "In file", "Why"], page)
        layout.addWidget(self.findings_table, 1)
        return page

    def _build_compare(self) -> QWidget:
        page = QWidget(self)
        layout = QVBoxLayout(page)
        pick = QHBoxLayout()
        self.compare_a = QComboBox(page)
        self.compare_b = QComboBox(page)
        self.compare_a.setAccessibleName("First version to compare")
        self.compare_b.setAccessibleName("Second version to compare")
        self.compare_a.currentIndexChanged.connect(self._compare)
        self.compare_b.currentIndexChanged.connect(self._compare)
        pick.addWidget(QLabel("Compare version", page))
        pick.addWidget(self.compare_a)
        pick.addWidget(QLabel("with", page))
        pick.addWidget(self.compare_b)
        pick.addStretch(1)
        layout.addLayout(pick)
        self.compare_table = _table(["", "A", "B"], page)
        layout.addWidget(self.compare_table, 1)
        return page

    # ------------------------------------------------------------------ loading
    def set_registry(self, registry: Registry | None) -> None:
        self._registry = registry
        self.show_nothing()

    def show_nothing(self) -> None:
        self._versions, self._history, self._builds, self._current = [], [], [], None
        self._references = {}
        self.title.setText("No model selected")
        self.description.setText("Select a model in the list to see its versions.")
        self.version_box.blockSignals(True)
        self.version_box.clear()
        self.version_box.blockSignals(False)
        self.status.clear()
        self.build_button.setEnabled(False)
        self.deploy_button.setEnabled(False)
        self.banner.hide()
        self.tabs.setEnabled(False)

    @property
    def current(self) -> VersionInfo | None:
        return self._current

    @property
    def reference(self) -> DatasetVersionInfo | None:
        """The reference data of the version shown, as last read."""
        info = self._current
        return (
            None
            if info is None or info.reference_id is None
            else self._references.get(info.reference_id)
        )

    def show_model(self, name: str, *, version: int | None = None) -> None:
        registry = self._registry
        if registry is None:
            return
        self._pending_model = name

        def read(_p: object, _c: object) -> _ModelRead:
            versions = [registry.get(f"{v.name}:{v.version}") for v in registry.versions_of(name)]
            references = {}
            for v in versions:  # versions of a model often share one reference: read it once
                if v.reference_id is not None and v.reference_id not in references:
                    found = registry.reference(v)
                    if found is not None:
                        references[found.id] = found
            history, builds = registry.history(name), registry.builds(model=name, limit=500)
            return versions, history, builds, references

        job = self._reader.submit(f"reading {name}", read, listed=False)
        job.sig_finished.connect(lambda result: self._model_arrived(name, version, result))
        job.sig_failed.connect(self.sig_error.emit)

    def _model_arrived(self, name: str, version: int | None, result: _ModelRead) -> None:
        if name != self._pending_model:
            return  # the user selected another model meanwhile
        self._versions, self._history, self._builds, self._references = result
        if not self._versions:
            self.show_nothing()
            return
        self.tabs.setEnabled(True)
        latest = self._versions[0]
        self.title.setText(latest.name)
        self.description.setText(latest.description or f"{len(self._versions)} version(s)")
        labels = [
            f"{v.version}"
            + (" (latest)" if i == 0 else "")
            + (f" · {', '.join(v.aliases)}" if v.aliases else "")
            for i, v in enumerate(self._versions)
        ]
        for box in (self.version_box, self.compare_a, self.compare_b):
            box.blockSignals(True)
            box.clear()
            box.addItems(labels)
            box.blockSignals(False)
        index = next((i for i, v in enumerate(self._versions) if v.version == version), 0)
        self.version_box.setCurrentIndex(index)
        self.compare_a.setCurrentIndex(min(1, len(labels) - 1))
        self.compare_b.setCurrentIndex(0)
        self._version_chosen(index)
        self._compare()
        _fill(
            self.history_table,
            [
                [
                    human_time(e.at),
                    e.actor,
                    e.action,
                    "" if e.version is None else str(e.version),
                    " ".join(f"{k}={v}" for k, v in e.details.items() if v is not None),
                ]
                for e in reversed(self._history)
            ],
        )

    def _version_chosen(self, index: int) -> None:
        if not 0 <= index < len(self._versions):
            return
        info = self._versions[index]
        self._current = info
        self.status.setText(info.status)
        colour = {"quarantined": "#c62828", "archived": "#8a8a8a"}.get(info.status, "#2e7d32")
        self.status.setStyleSheet(f"color: {colour}; font-weight: bold;")
        framework = info.framework + (
            f" {info.framework_version}" if info.framework_version else ""
        )
        self.fields["format"].setText(info.format)
        self.fields["framework"].setText(framework)
        self.fields["size"].setText(f"{human_size(info.size)} in {info.file_count} file(s)")
        self.fields["sha256"].setText(f"{info.sha256[:16]}…{info.sha256[-8:]}")
        self.fields["sha256"].setToolTip(info.sha256)
        self.fields["created"].setText(f"{human_time(info.created_at)} by {info.created_by}")
        self.fields["source"].setText(info.source_path or "-")
        self.fields["source"].setToolTip(info.source_path)
        self.fields["note"].setText(info.note or "-")
        self.aliases_label.setText(", ".join(info.aliases) or "none")
        _fill(self.tags_table, [[k, v] for k, v in info.tags.items()])
        _fill(self.files_table, [[f.path, human_size(f.size), f.sha256] for f in info.files])
        _fill(self.signature_table, _signature_rows(info.signature))
        self._show_safety(info)
        self._show_builds(info)
        self._show_reference(info)

    def _show_builds(self, info: VersionInfo) -> None:
        from app.serving.model import SERVABLE as SERVABLE_FORMATS

        builds = [b for b in self._builds if b.version == info.version]
        rows = []
        for b in builds:
            outcome = b.error or (b.smoke or {}).get("reason", "") or "not started after the build"
            rows.append(
                [
                    b.status,
                    b.tag,
                    human_size(b.size) if b.size else "-",
                    f"{b.seconds:.0f} s",
                    human_time(b.created_at),
                    outcome,
                ]
            )
        _fill(self.builds_table, rows)
        self.tabs.setTabText(
            self.tabs.indexOf(self.builds_table), f"Images ({len(builds)})" if builds else "Images"
        )
        reason = ""
        if info.status == "quarantined":
            reason = "Quarantined versions cannot be built until someone approves them."
        elif info.status == "archived":
            reason = "Archived versions are not built."
        elif info.format not in SERVABLE_FORMATS:
            reason = f"The serving runtime cannot load the {info.format} format."
        self.build_button.setEnabled(not reason)
        self.build_button.setToolTip(
            reason or "Build a Docker image that serves this version (Ctrl+B)"
        )
        self._enable_deploy(info, builds, reason)

    def _enable_deploy(self, info: VersionInfo, builds: list[BuildInfo], unbuildable: str) -> None:
        reason = {
            "quarantined": "Quarantined versions cannot be deployed until someone approves them.",
            "archived": "Archived versions are not deployed.",
        }.get(info.status, unbuildable)
        if not reason and not any(b.status in {"verified", "built"} for b in builds):
            reason = "Build an image of this version first (Build image…)."
        self.deploy_button.setEnabled(not reason)
        self.deploy_button.setToolTip(reason or DEPLOY_TIP)

    def request_ship(self) -> None:
        if self._current is not None and any(
            b.version == self._current.version and b.status in {"verified", "built"}
            for b in self._builds
        ):
            self.sig_ship_requested.emit(self._current)
        elif self._current is not None:
            self.sig_error.emit(
                f"{self._current.ref} has no image to ship yet",
                "build one first (Build image…)",
            )

    def request_deploy(self) -> None:
        if self._current is not None and self.deploy_button.isEnabled():
            self.sig_deploy_requested.emit(self._current)
        elif self._current is not None:
            self.sig_error.emit(
                f"{self._current.ref} cannot be deployed yet",
                self.deploy_button.toolTip().rstrip("."),
            )

    def request_build(self) -> None:
        if self._current is not None and self.build_button.isEnabled():
            self.sig_build_requested.emit(self._current)

    def _show_safety(self, info: VersionInfo) -> None:
        safety = info.safety or {}
        findings = safety.get("findings") or []
        verdict = safety.get("verdict", "unknown")
        approved = safety.get("approved")
        text = {
            "safe": "Safe: every global its pickles import is one that real model libraries use.",
            "suspicious": "Suspicious: it imports globals that known model libraries do not use.",
            "dangerous": "Dangerous: loading it would run code it carries.",
            "unknown": safety.get("message") or "Not scanned: the format is not recognised.",
        }.get(verdict, verdict)
        if isinstance(approved, dict):
            text += f" Approved by {approved.get('by')} on {approved.get('at', '')[:10]}."
        if info.format not in {"pickle", "joblib", "torch", "torchscript", "mlflow"} and (
            verdict == "safe"
        ):
            text = f"Safe: a {info.format} file holds no code that runs when it is loaded."
        self.verdict_label.setText(text)
        _fill(
            self.findings_table,
            [
                [f.get("severity", ""), f.get("global", ""), f.get("path", ""), f.get("why", "")]
                for f in findings
            ],
        )
        if info.status == "quarantined":
            names = ", ".join(sorted({f.get("global", "") for f in findings})) or "code"
            self.banner_text.setText(
                f"<b>Quarantined.</b> Loading {info.name}:{info.version} would run {names}. "
                "It cannot be built or deployed until someone who trusts its source approves it."
            )
            self.banner.show()
        else:
            self.banner.hide()

    def _compare(self, *_args: object) -> None:
        a, b = self.compare_a.currentIndex(), self.compare_b.currentIndex()
        if not (0 <= a < len(self._versions) and 0 <= b < len(self._versions)):
            self.compare_table.setRowCount(0)
            return
        left, right = self._versions[a], self._versions[b]
        self.compare_table.setHorizontalHeaderLabels(
            ["", f"version {left.version}", f"version {right.version}"]
        )
        rows = [[label, *pair] for label, pair in _comparison(left, right)]
        _fill(self.compare_table, rows)
        bold = QFont(self.compare_table.font())
        bold.setBold(True)
        for r, row in enumerate(rows):
            if row[1] != row[2]:
                for c in range(3):
                    cell = self.compare_table.item(r, c)
                    if cell is not None:
                        cell.setFont(bold)

    # ------------------------------------------------------------------ actions
    def copy_hash(self) -> None:
        if self._current is not None:
            QGuiApplication.clipboard().setText(self._current.sha256)

    def _run_change(self, title: str, change: Any) -> None:
        info = self._current
        if info is None or self._registry is None:
            return
        name, version = info.name, info.version
        job = self._reader.submit(title, lambda _p, _c: change(), listed=False)
        job.sig_finished.connect(lambda _r: self._after_change(name, version))
        job.sig_failed.connect(self.sig_error.emit)

    def _after_change(self, name: str, version: int) -> None:
        self.sig_changed.emit(name)
        self.show_model(name, version=version)

    def add_tag_dialog(self) -> None:
        info = self._current
        if info is None or self._registry is None:
            return
        dialog = QInputDialog(self)
        dialog.setWindowTitle("Add tag")
        dialog.setLabelText(f"Tag for {info.ref}, as key=value:")
        dialog.setTextValue("")
        dialog.textValueSelected.connect(self._add_tag)
        dialog.open()

    def _add_tag(self, text: str) -> None:
        from app.errors import InvalidInputError
        from app.registry.names import parse_tag

        registry, info = self._registry, self._current
        if registry is None or info is None:
            return
        try:
            key, value = parse_tag(text.strip())
        except InvalidInputError as exc:
            self.sig_error.emit(exc.message, exc.hint or "")
            return
        self._run_change(f"tagging {info.ref}", lambda: registry.set_tags(info.ref, {key: value}))

    def remove_selected_tag(self) -> None:
        registry, info = self._registry, self._current
        row = self.tags_table.currentRow()
        cell = self.tags_table.item(row, 0) if row >= 0 else None
        if registry is None or info is None or cell is None:
            return
        key = cell.text()
        self._run_change(f"untagging {info.ref}", lambda: registry.remove_tags(info.ref, [key]))

    def set_alias_dialog(self) -> None:
        info = self._current
        if info is None or self._registry is None:
            return
        existing = sorted({a for v in self._versions for a in v.aliases})
        choices = list(dict.fromkeys([*existing, *COMMON_ALIASES]))
        dialog = QInputDialog(self)
        dialog.setWindowTitle("Set alias")
        dialog.setLabelText(f"Point which alias at {info.ref}?")
        dialog.setComboBoxItems(choices)
        dialog.setComboBoxEditable(True)
        dialog.textValueSelected.connect(self._confirm_alias)
        dialog.open()

    def _confirm_alias(self, alias: str) -> None:
        registry, info = self._registry, self._current
        alias = alias.strip()
        if registry is None or info is None or not alias:
            return
        holder = next((v for v in self._versions if alias in v.aliases), None)
        if holder is not None and holder.version == info.version:
            return
        move = f"from version {holder.version} " if holder else ""
        box = QMessageBox(
            QMessageBox.Icon.Question,
            "Move alias",
            f"Point {info.name}@{alias} {move}to version {info.version}?",
            QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.Cancel,
            self,
        )
        box.setInformativeText("Anything that uses the alias will get this version from now on.")

        def decided(button: int) -> None:
            if button == QMessageBox.StandardButton.Yes:
                self._run_change(
                    f"moving {info.name}@{alias}",
                    lambda: registry.set_alias(info.name, alias, info.version),
                )

        box.finished.connect(decided)
        box.open()

    def approve_current(self) -> None:
        registry, info = self._registry, self._current
        if registry is None or info is None or info.status != "quarantined":
            return
        findings = (info.safety or {}).get("findings") or []
        names = "\n".join(sorted({f"  • {f.get('global')} (in {f.get('path')})" for f in findings}))
        box = QMessageBox(
            QMessageBox.Icon.Warning,
            "Approve a quarantined model",
            f"Loading {info.ref} would run:\n\n{names}\n\n"
            "Approve it only if you trust where it comes from. Whoever loads it, including "
            "the images Modelbay builds, will run this code.",
            QMessageBox.StandardButton.Cancel,
            self,
        )
        approve = box.addButton("Approve and release", QMessageBox.ButtonRole.DestructiveRole)
        box.setDefaultButton(QMessageBox.StandardButton.Cancel)

        def decided(_result: int) -> None:
            if box.clickedButton() is approve:
                self._run_change(f"approving {info.ref}", lambda: registry.approve(info.ref))

        box.finished.connect(decided)
        box.open()

    def archive_current(self) -> None:
        registry, info = self._registry, self._current
        if registry is None or info is None or info.status == "archived":
            return
        box = QMessageBox(
            QMessageBox.Icon.Question,
            "Archive version",
            f"Archive {info.ref}? It stays in the registry and its history, but is no longer "
            "offered for use.",
            QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.Cancel,
            self,
        )

        def decided(button: int) -> None:
            if button == QMessageBox.StandardButton.Yes:
                self._run_change(f"archiving {info.ref}", lambda: registry.archive(info.ref))

        box.finished.connect(decided)
        box.open()

    # ------------------------------------------------------------------ reference data
    def _show_reference(self, info: VersionInfo) -> None:
        if self._attaching is not None and self._attaching[0] == info.ref:
            busy = f"Reading and profiling {self._attaching[1]}…"
            self.reference_label.setText(busy)
            self.reference_button.setEnabled(False)
            self.reference_view.show_busy(busy)
            return
        reference = None if info.reference_id is None else self._references.get(info.reference_id)
        self.reference_label.setText(summary_line(reference))
        self.reference_label.setToolTip(
            "\n".join(reference.warnings) if reference is not None else ""
        )
        self.reference_button.setEnabled(self._attaching is None)
        self.reference_view.show_reference(reference)
        self.reference_view.attach_button.setEnabled(self._attaching is None)
        index = self.tabs.indexOf(self.reference_view)
        self.tabs.setTabText(index, "Reference" if reference is None else "Reference ✓")

    def choose_reference_file(self) -> QFileDialog | None:
        info = self._current
        if info is None or self._registry is None:
            return None
        dialog = QFileDialog(self, f"Attach reference data to {info.ref}")
        dialog.setFileMode(QFileDialog.FileMode.ExistingFile)
        dialog.setNameFilter(TABLE_FILTER)
        dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        dialog.fileSelected.connect(lambda file: self.attach_reference(Path(file), info.ref))
        dialog.open()
        return dialog

    def attach_reference(self, path: Path, ref: str | None = None) -> Job | None:
        """Attach the table at ``path`` to ``ref`` (default: the version shown), in the
        background; the outcome comes as ``sig_status`` and a refresh, or ``sig_error``."""
        registry = self._registry
        target = ref or (self._current.ref if self._current is not None else None)
        if registry is None or target is None:
            return None
        if self._attaching is not None:
            self.sig_error.emit(
                f"still attaching {self._attaching[1]} to {self._attaching[0]}",
                "wait until it is done, then attach the next table",
            )
            return None
        self._attaching = (target, path.name)
        if self._current is not None:
            self._show_reference(self._current)
        if self._current is not None and self._current.ref == target:
            self.tabs.setCurrentWidget(self.reference_view)

        def work(progress: ProgressCallback, cancel: CancelToken) -> VersionInfo:
            info, _reference = registry.attach_reference(
                target, path, progress=progress, cancel=cancel
            )
            return info

        job = self._reader.submit(f"attaching {path.name} to {target}", work, listed=False)
        job.sig_progress.connect(lambda: self._attach_progress(target, job.message))
        job.sig_finished.connect(lambda info: self._reference_attached(info, path))
        job.sig_failed.connect(lambda message, hint: self._reference_failed(path, message, hint))
        return job

    def _attach_progress(self, target: str, message: str) -> None:
        """Say which step (reading, profiling, storing) the attaching is at."""
        if self._current is not None and self._current.ref == target and self._attaching:
            text = message[:1].upper() + message[1:] + "…"
            self.reference_label.setText(text)
            self.reference_view.show_busy(text)

    def _reference_attached(self, info: VersionInfo, path: Path) -> None:
        self._attaching = None
        self.sig_status.emit(f"Attached {path.name} to {info.ref} as its reference data")
        # The models table shows nothing of references: only this view reads again.
        if self._pending_model == info.name:
            self.show_model(info.name, version=info.version)
        elif self._current is not None:
            self._show_reference(self._current)

    def _reference_failed(self, path: Path, message: str, hint: str) -> None:
        target = self._attaching[0] if self._attaching else "the version"
        self._attaching = None
        if self._current is not None:
            self._show_reference(self._current)
        # Nothing was stored: attach_reference reads and profiles the table before it writes.
        # The user just dropped or chose this file: its name says which one.
        message = message.replace(str(path), path.name)
        self.sig_error.emit(
            f"could not attach {path.name} to {target} as reference data: {message}",
            f"{hint}; nothing was changed" if hint else "nothing was changed",
        )

    def _dropped_table(self, urls: list[Any]) -> Path | None:
        """The one local table file of a drag, when this view can take it."""
        if self._current is None or self._registry is None or len(urls) != 1:
            return None
        url = urls[0]
        if not url.isLocalFile():
            return None
        path = Path(url.toLocalFile())
        return path if is_table_file(path) else None

    def dragEnterEvent(self, event: QDragEnterEvent) -> None:
        path = self._dropped_table(event.mimeData().urls())
        if path is None or self._current is None:
            # Anything else (model files, several tables) goes on to the main window's drop.
            event.ignore()
            return
        event.acceptProposedAction()
        self.drop_hint.setText(
            f"Drop to attach {escape(path.name)}<br>"
            f"as the reference data of <b>{escape(self._current.ref)}</b>"
        )
        veil = self.palette().color(QPalette.ColorRole.Window)  # light or dark theme alike
        self.drop_hint.setStyleSheet(
            f"#referenceDropHint {{ background: rgba({veil.red()}, {veil.green()}, "
            f"{veil.blue()}, 235); font-size: 14pt; border: 2px dashed "
            f"{self.palette().color(QPalette.ColorRole.Highlight).name()}; border-radius: 8px; }}"
        )
        self.drop_hint.setGeometry(self.rect().adjusted(8, 8, -8, -8))
        self.drop_hint.raise_()
        self.drop_hint.show()

    def dragLeaveEvent(self, event: QDragLeaveEvent) -> None:
        self.drop_hint.hide()
        super().dragLeaveEvent(event)

    def dropEvent(self, event: QDropEvent) -> None:
        self.drop_hint.hide()
        path = self._dropped_table(event.mimeData().urls())
        if path is None:
            event.ignore()
            return
        event.acceptProposedAction()
        self.attach_reference(path)


def _signature_rows(signature: dict[str, Any] | None) -> list[list[str]]:
    if not signature:
        return [["(this file records no signature)", "", ""]]
    if "tensors" in signature:
        return [
            [t.get("name", ""), str(t.get("dtype", "")), str(t.get("shape", ""))]
            for t in signature["tensors"]
        ]
    rows = []
    for item in signature.get("inputs") or []:
        if isinstance(item, dict):
            rows.append(
                [
                    str(item.get("name", "")),
                    str(item.get("type", "")),
                    "" if item.get("shape") is None else str(item.get("shape")),
                ]
            )
    if not rows and signature.get("n_features"):
        rows.append([f"{signature['n_features']} unnamed features", "number", ""])
    return rows


def _comparison(left: VersionInfo, right: VersionInfo) -> list[tuple[str, tuple[str, str]]]:
    def both(getter: Any) -> tuple[str, str]:
        return str(getter(left)), str(getter(right))

    def dumped(value: Any) -> str:
        return "-" if value in (None, {}, []) else json.dumps(value, sort_keys=True)

    return [
        ("Status", both(lambda v: v.status)),
        ("Format", both(lambda v: v.format)),
        ("Framework", both(lambda v: f"{v.framework} {v.framework_version or ''}".strip())),
        ("Size", both(lambda v: human_size(v.size))),
        ("Files", both(lambda v: v.file_count)),
        ("SHA-256", both(lambda v: v.sha256[:16])),
        ("Aliases", both(lambda v: ", ".join(v.aliases) or "-")),
        ("Tags", both(lambda v: ", ".join(f"{k}={x}" for k, x in v.tags.items()) or "-")),
        ("Params", both(lambda v: dumped(v.params))),
        ("Metrics", both(lambda v: dumped(v.metrics))),
        (
            "Signature",
            both(lambda v: "; ".join(" ".join(r).strip() for r in _signature_rows(v.signature))),
        ),
        ("Safety", both(lambda v: (v.safety or {}).get("verdict", "-"))),
        ("Created", both(lambda v: f"{human_time(v.created_at)} by {v.created_by}")),
        ("Note", both(lambda v: v.note or "-")),
    ]
