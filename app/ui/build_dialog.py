"""The build panel: choose a base image and tag, then watch the build live and cancel it.

The build itself is :func:`app.build.service.build_image` in a job of the
main window's serial build queue (so it is also listed in the jobs panel).
This window only shows the job: its step-by-step progress, the Docker log as
it streams, and the outcome in words. Closing the window does not stop the
build; Cancel does.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QFont, QFontDatabase
from PySide6.QtWidgets import (
    QCheckBox,
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPlainTextEdit,
    QProgressBar,
    QPushButton,
    QStackedWidget,
    QVBoxLayout,
    QWidget,
)

from app.ui.jobs import Job, JobQueue, JobState
from app.ui.theme import icon

if TYPE_CHECKING:
    from app.config import Config
    from app.registry import BuildInfo, Registry, VersionInfo


class BuildDialog(QDialog):
    """Options first; after Build, the live view of that one build."""

    sig_started = Signal(object)  # the Job
    sig_built = Signal(object)  # BuildInfo, whatever its status

    def __init__(
        self,
        info: VersionInfo,
        *,
        registry: Registry,
        queue: JobQueue,
        config: Config,
        default_base_image: str,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.info = info
        self.registry = registry
        self.queue = queue
        self.config = config
        self.job: Job | None = None
        self.setWindowTitle(f"Build an image of {info.ref}")
        self.setWindowIcon(icon("build"))
        self.resize(680, 280)  # the options are short; the live view grows it (watch)
        self.pages = QStackedWidget(self)
        self.pages.addWidget(self._options_page(default_base_image))
        self.pages.addWidget(self._progress_page())
        layout = QVBoxLayout(self)
        layout.addWidget(self.pages)

    # ------------------------------------------------------------------ options
    def _options_page(self, default_base_image: str) -> QWidget:
        from app.build.context import image_tag

        page = QWidget(self)
        layout = QVBoxLayout(page)
        intro = QLabel(
            f"Modelbay makes a Docker image that serves <b>{self.info.ref}</b> "
            f"({self.info.format}, {self.info.framework}) over HTTP. Its Python dependencies "
            "are fetched once with your pip settings, then the image builds offline.",
            page,
        )
        intro.setWordWrap(True)
        layout.addWidget(intro)
        form = QFormLayout()
        self.base_image = QLineEdit(default_base_image, page)
        self.base_image.setToolTip(
            "An image with Python 3 that is already on this machine (builds never pull)"
        )
        self.tag = QLineEdit(page)
        self.tag.setPlaceholderText(image_tag(self.info.name, self.info.version))
        self.smoke = QCheckBox("Start the image afterwards and send it one test request", page)
        self.smoke.setChecked(True)
        self.remember = QCheckBox("Use this base image by default", page)
        form.addRow("Installs:", self._dependencies(page))
        form.addRow("Base image:", self.base_image)
        form.addRow("", self.remember)
        form.addRow("Image tag:", self.tag)
        form.addRow("", self.smoke)
        layout.addLayout(form)
        layout.addStretch(1)
        buttons = QDialogButtonBox(page)
        self.build_button = buttons.addButton("Build", QDialogButtonBox.ButtonRole.AcceptRole)
        self.build_button.setIcon(icon("build"))
        self.build_button.setDefault(True)
        buttons.addButton(QDialogButtonBox.StandardButton.Cancel)
        buttons.accepted.connect(self.start)
        buttons.rejected.connect(self.reject)
        layout.addWidget(buttons)
        self.base_image.textChanged.connect(
            lambda text: self.build_button.setEnabled(bool(text.strip()))
        )
        return page

    def _dependencies(self, parent: QWidget) -> QLabel:
        """What the model needs and where each version came from, before anything runs."""
        from app.build.requirements import model_requirements
        from app.errors import ModelbayError

        try:
            lines = [f"{r.line} ({r.source})" for r in model_requirements(self.info)]
            text = ", ".join(lines) + "; plus the serving runtime's own packages"
        except ModelbayError as exc:
            text = exc.message
        label = QLabel(text, parent)
        label.setWordWrap(True)
        return label

    # ------------------------------------------------------------------ progress
    def _progress_page(self) -> QWidget:
        page = QWidget(self)
        layout = QVBoxLayout(page)
        self.heading = QLabel(page)
        font = QFont(self.heading.font())
        font.setBold(True)
        self.heading.setFont(font)
        self.step = QLabel("waiting to start", page)
        self.step.setWordWrap(True)
        self.bar = QProgressBar(page)
        self.bar.setRange(0, 100)
        self.log_view = QPlainTextEdit(page)
        self.log_view.setReadOnly(True)
        self.log_view.setMaximumBlockCount(5000)
        self.log_view.setLineWrapMode(QPlainTextEdit.LineWrapMode.NoWrap)
        self.log_view.setFont(QFontDatabase.systemFont(QFontDatabase.SystemFont.FixedFont))
        self.log_view.setAccessibleName("Build log")
        self.outcome = QLabel(page)
        self.outcome.setWordWrap(True)
        self.outcome.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.outcome.hide()
        row = QHBoxLayout()
        self.cancel_button = QPushButton(icon("cancel"), "Cancel build", page)
        self.cancel_button.clicked.connect(self.cancel)
        self.close_button = QPushButton("Close", page)
        self.close_button.setToolTip("The build goes on in the background (see View > Jobs)")
        self.close_button.clicked.connect(self.close)
        row.addStretch(1)
        row.addWidget(self.cancel_button)
        row.addWidget(self.close_button)
        layout.addWidget(self.heading)
        layout.addWidget(self.step)
        layout.addWidget(self.bar)
        layout.addWidget(self.log_view, 1)
        layout.addWidget(self.outcome)
        layout.addLayout(row)
        return page

    def start(self) -> Job:
        from app.build.service import BuildOptions, build_image

        base = self.base_image.text().strip()
        options = BuildOptions(
            base_image=base,
            tag=self.tag.text().strip() or None,
            smoke_test=self.smoke.isChecked(),
        )
        registry, config, ref = self.registry, self.config, self.info.ref

        def work(progress: Any, cancel: Any) -> BuildInfo:
            return build_image(
                registry,
                ref,
                options,
                config=config,
                log=job.log,
                progress=progress,
                cancel=cancel,
            )

        job = self.queue.submit(f"Building an image of {ref}", work)
        self.watch(job)
        self.sig_started.emit(job)
        return job

    def watch(self, job: Job) -> None:
        self.job = job
        self.heading.setText(f"Building {self.info.ref} on {self.base_image.text().strip()}")
        self.pages.setCurrentIndex(1)
        self.resize(max(self.width(), 820), max(self.height(), 560))
        for line in job.log_lines:
            self.log_view.appendPlainText(line)
        job.sig_log.connect(self.log_view.appendPlainText)
        job.sig_progress.connect(self._progress)
        job.sig_state.connect(self._state)
        self._state(job.state)

    def _progress(self) -> None:
        job = self.job
        if job is None:
            return
        self.bar.setValue(job.done if job.total else 0)
        self.step.setText(job.message)

    def _state(self, state: JobState) -> None:
        job = self.job
        if job is None:
            return
        self.cancel_button.setEnabled(not job.finished)
        if state is JobState.QUEUED:
            self.step.setText("waiting for the build before it to finish")
        if not job.finished:
            return
        self.outcome.show()
        if state is JobState.DONE:
            build: BuildInfo = job.result
            self._show_outcome(build)
            self.sig_built.emit(build)
        elif state is JobState.CANCELLED:
            self.step.setText("cancelled")
            self._say("Cancelled. Docker stopped the build; nothing was tagged.", "#8a6d00")
        elif job.error:
            message, hint = job.error
            self.step.setText("failed")
            self._say(f"The build failed: {message}" + (f"<br>{hint}" if hint else ""), "#c62828")

    def _show_outcome(self, build: BuildInfo) -> None:
        size = f"{build.size / 1e6:.0f} MB" if build.size else ""
        if build.status == "verified":
            self.bar.setValue(100)
            self.step.setText("verified")
            smoke = (build.smoke or {}).get("reason", "")
            self._say(
                f"<b>{build.tag}</b> is built and verified ({size}, {build.seconds:.0f} s): "
                f"{smoke}. Run it with <code>docker run -p 8000:8000 {build.tag}</code>.",
                "#2e7d32",
            )
        elif build.status == "built":
            self.bar.setValue(100)
            self.step.setText("built (not tested)")
            self._say(f"<b>{build.tag}</b> is built ({size}); it was not started.", "#2e7d32")
        else:
            self.step.setText(build.status)
            self._say(f"{build.tag} was built but {build.error}", "#c62828")

    def _say(self, html: str, colour: str) -> None:
        self.outcome.setText(html)
        self.outcome.setStyleSheet(f"color: {colour};")

    def cancel(self) -> None:
        if self.job is not None and not self.job.finished:
            self.job.cancel()
            self.step.setText("cancelling…")
            self.cancel_button.setEnabled(False)
