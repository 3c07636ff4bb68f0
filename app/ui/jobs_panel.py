"""The jobs panel: every background job with its progress, its outcome and a cancel button."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QHBoxLayout,
    QLabel,
    QProgressBar,
    QPushButton,
    QScrollArea,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from app.ui.jobs import Job, JobQueue, JobState
from app.ui.theme import icon


class JobRow(QWidget):
    def __init__(self, job: Job, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.job = job
        layout = QHBoxLayout(self)
        layout.setContentsMargins(6, 2, 6, 2)
        self.title = QLabel(job.title, self)
        self.title.setMinimumWidth(220)
        self.bar = QProgressBar(self)
        self.bar.setMaximumWidth(240)
        self.bar.setTextVisible(True)
        self.message = QLabel(self)
        self.message.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.message.setWordWrap(True)
        self.cancel_button = QToolButton(self)
        self.cancel_button.setIcon(icon("cancel"))
        self.cancel_button.setToolTip("Cancel this job")
        self.cancel_button.setAccessibleName(f"Cancel {job.title}")
        self.cancel_button.clicked.connect(job.cancel)
        layout.addWidget(self.title)
        layout.addWidget(self.bar)
        layout.addWidget(self.message, 1)
        layout.addWidget(self.cancel_button)
        job.sig_progress.connect(self.refresh)
        job.sig_state.connect(self.refresh)
        self.refresh()

    def refresh(self, *_args: object) -> None:
        job = self.job
        if job.state is JobState.RUNNING and job.total:
            self.bar.setRange(0, 1000)
            self.bar.setValue(int(1000 * min(job.done, job.total) / job.total))
        elif job.state is JobState.RUNNING:
            self.bar.setRange(0, 0)  # busy indicator: the total is not known
        else:
            self.bar.setRange(0, 1)
            self.bar.setValue(1 if job.state is JobState.DONE else 0)
        self.bar.setFormat(
            {
                JobState.QUEUED: "queued",
                JobState.DONE: "done",
                JobState.FAILED: "failed",
                JobState.CANCELLED: "cancelled",
            }.get(job.state, "%p%")
        )
        self.message.setText(job.message)
        self.message.setStyleSheet("color: #c62828;" if job.state is JobState.FAILED else "")
        self.cancel_button.setEnabled(not job.finished)


class JobsPanel(QWidget):
    """Lists the jobs of one or more queues, newest at the top."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        outer = QVBoxLayout(self)
        outer.setContentsMargins(0, 0, 0, 0)
        header = QHBoxLayout()
        self.summary = QLabel("No background jobs.", self)
        self.clear_button = QPushButton("Clear finished", self)
        self.clear_button.clicked.connect(self.clear_finished)
        header.addWidget(self.summary, 1)
        header.addWidget(self.clear_button)
        outer.addLayout(header)
        self._list = QWidget(self)
        self._rows = QVBoxLayout(self._list)
        self._rows.setContentsMargins(0, 0, 0, 0)
        self._rows.addStretch(1)
        scroll = QScrollArea(self)
        scroll.setWidgetResizable(True)
        scroll.setWidget(self._list)
        outer.addWidget(scroll)

    def watch(self, queue: JobQueue) -> None:
        queue.sig_added.connect(self.add)

    def add(self, job: Job) -> None:
        row = JobRow(job, self._list)
        self._rows.insertWidget(0, row)
        job.sig_state.connect(self._update_summary)
        self._update_summary()

    def rows(self) -> list[JobRow]:
        return list(self._list.findChildren(JobRow))

    def clear_finished(self) -> None:
        for row in self.rows():
            if row.job.finished:
                row.setParent(None)
                row.deleteLater()
        self._update_summary()

    def _update_summary(self, *_args: object) -> None:
        jobs = [r.job for r in self.rows() if r.parent() is self._list]
        running = sum(j.state is JobState.RUNNING for j in jobs)
        queued = sum(j.state is JobState.QUEUED for j in jobs)
        failed = sum(j.state is JobState.FAILED for j in jobs)
        if not jobs:
            self.summary.setText("No background jobs.")
            return
        parts = [f"{running} running"] if running else []
        if queued:
            parts.append(f"{queued} queued")
        if failed:
            parts.append(f"{failed} failed")
        self.summary.setText(", ".join(parts) or "All jobs finished.")
