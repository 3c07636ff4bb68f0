"""The deploy window: where and how to run a version, then the deploy live, and its outcome.

The options page collects a :class:`~app.deploy.service.DeployOptions` (checked
next to each field before anything starts) and shows what the chosen service
runs now, read from the registry. Deploy runs :func:`app.deploy.service.deploy`
as a job of the main window's network queue (so it is listed in the jobs
panel with its progress and Cancel); this window then shows that job: the log
as it streams, the progress, and the outcome in words. Closing the window does
not stop the deploy; Cancel does.
"""

from __future__ import annotations

import html
import re
import threading
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtGui import QFont, QFontDatabase
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QCompleter,
    QDialog,
    QDialogButtonBox,
    QDoubleSpinBox,
    QFormLayout,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QPlainTextEdit,
    QProgressBar,
    QPushButton,
    QSpinBox,
    QStackedWidget,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from app.cli.output import human_time
from app.ui.jobs import Job, JobQueue, JobState
from app.ui.theme import icon

if TYPE_CHECKING:
    from app.config import Config
    from app.deploy.service import DeployOptions, DeployResult
    from app.registry import DeploymentInfo, Registry, VersionInfo
    from app.remote.secrets import SecretPrompt

ERROR_COLOUR = "#c62828"
SUCCESS_COLOUR = "#2e7d32"
CANCELLED_COLOUR = "#8a6d00"
NOTE_COLOUR = "#757575"  # readable on the light and the dark palette
ENV_KEY = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
RESERVED_ENV = {"MODELBAY_TOKEN"}  # set by the deploy itself for public services
_SIZE = re.compile(r"^(\d+(?:\.\d+)?)\s*([kmgt]?)i?b?$", re.IGNORECASE)
LOOKUP_DELAY_MS = 250
OUTCOME_LOG_LINES = 8  # of a failed container's log under the outcome (all of it is in the log)


def parse_memory(text: str) -> int | None:
    """``512m``, ``2g``, ``1.5G``, ``2GiB`` or a number of bytes -> bytes; "" -> None."""
    text = text.strip()
    if not text:
        return None
    match = _SIZE.match(text)
    if match is None:
        raise ValueError(f"{text!r} is not a size: write e.g. 512m or 2g")
    value = int(float(match[1]) * 1024 ** " kmgt".index(match[2].lower() or " "))
    if value < 6 * 1024**2:
        raise ValueError("Docker needs at least 6 MB of memory for a container")
    return value


def parse_port(text: str) -> int | None:
    """A TCP port 1-65535, or None for "any free port"."""
    text = text.strip()
    if not text:
        return None
    if not text.isdigit():
        raise ValueError(f"{text!r} is not a port number")
    value = int(text)
    if not 0 < value < 65536:
        raise ValueError(f"{value} is out of range: ports go from 1 to 65535")
    return value


def check_env_key(key: str) -> None:
    if not ENV_KEY.match(key):
        raise ValueError(
            f"{key!r} is not a variable name: letters, digits and _, not starting with a digit"
        )
    if key in RESERVED_ENV:
        raise ValueError(f"{key} is set by Modelbay itself (the token of a public service)")


class LateLog:
    """The ``log`` callback of work that may start before its :class:`Job` is known.

    :meth:`JobQueue.submit` starts the work at once, so the work cannot name the
    job it runs in; lines it logs before :meth:`attach` are kept, then passed on
    in order.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._job: Job | None = None
        self._early: list[str] = []

    def attach(self, job: Job) -> Job:
        with self._lock:
            self._job = job
            for line in self._early:
                job.log(line)
            self._early.clear()
        return job

    def __call__(self, line: str) -> None:
        with self._lock:
            if self._job is None:
                self._early.append(line)
            else:
                self._job.log(line)


def _row(field: QWidget, note: QLabel | None = None) -> QHBoxLayout:
    """A field at its natural width, and the words beside it (an error, a unit)."""
    row = QHBoxLayout()
    row.addWidget(field)
    if note is not None:
        row.addWidget(note, 1)
    else:
        row.addStretch(1)
    return row


class DeployDialog(QDialog):
    """Options first; after Deploy, the live view of that one deploy."""

    sig_started = Signal(object)  # the Job
    sig_deployed = Signal(object)  # DeployResult

    def __init__(
        self,
        info: VersionInfo,
        *,
        hosts: list[str],
        registry: Registry,
        queue: JobQueue,
        reader: JobQueue | None = None,
        config: Config | None = None,
        prompt: SecretPrompt | None = None,
        host: str | None = None,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.info = info
        self.registry = registry
        self.queue = queue
        self.reader = reader
        self.config = config
        self.prompt = prompt
        self.job: Job | None = None
        self.address = ""  # SERVICE@HOST of the deploy started here
        self.alias_set: str | None = None
        self.current: DeploymentInfo | None = None  # what the chosen service runs now
        self.setWindowTitle(f"Deploy {info.ref}")
        self.setWindowIcon(icon("deployments"))
        self.resize(640, 560)
        self.pages = QStackedWidget(self)
        self.pages.addWidget(self._options_page(hosts, host))
        self.pages.addWidget(self._progress_page())
        layout = QVBoxLayout(self)
        layout.addWidget(self.pages)
        self._lookup_timer = QTimer(self)
        self._lookup_timer.setSingleShot(True)
        self._lookup_timer.setInterval(LOOKUP_DELAY_MS)
        self._lookup_timer.timeout.connect(self.look_up_current)
        self.host.currentTextChanged.connect(lambda _t: self._lookup_timer.start())
        self.service.textChanged.connect(lambda _t: self._lookup_timer.start())
        self.look_up_current()

    # ------------------------------------------------------------------ options
    def _options_page(self, hosts: list[str], chosen: str | None) -> QWidget:
        page = QWidget(self)
        layout = QVBoxLayout(page)
        intro = QLabel(
            f"Run <b>{self.info.ref}</b> as a service on a host. Its image is shipped there if "
            "the host lacks it; the new version must answer its health check before it takes "
            "over, so a version that fails never replaces the one serving.",
            page,
        )
        intro.setWordWrap(True)
        layout.addWidget(intro)
        form = QFormLayout()
        form.setFieldGrowthPolicy(QFormLayout.FieldGrowthPolicy.AllNonFixedFieldsGrow)
        self._where_rows(form, page, hosts, chosen)
        form.addRow("Environment:", self._env_editor(page))
        self._limit_rows(form, page)
        layout.addLayout(form)
        layout.addStretch(1)

        buttons = QDialogButtonBox(page)
        self.deploy_button = buttons.addButton("Deploy", QDialogButtonBox.ButtonRole.AcceptRole)
        self.deploy_button.setIcon(icon("deployments"))
        self.deploy_button.setDefault(True)
        self.deploy_button.setEnabled(bool(hosts))
        buttons.addButton(QDialogButtonBox.StandardButton.Cancel)
        buttons.accepted.connect(self.start)
        buttons.rejected.connect(self.reject)
        layout.addWidget(buttons)
        return page

    def _where_rows(
        self, form: QFormLayout, page: QWidget, hosts: list[str], chosen: str | None
    ) -> None:
        """Host, service name, what runs there now, port, public."""
        from app.deploy.host import default_service_name

        self.host = QComboBox(page)
        self.host.addItems(hosts)
        self.host.setAccessibleName("Host")
        if chosen in hosts:
            self.host.setCurrentText(chosen)
        self.no_hosts = QLabel(
            "There is no host to deploy to yet. Add one in <b>Hosts</b> (Add host…), "
            "then deploy again.",
            page,
        )
        self.no_hosts.setWordWrap(True)
        self.no_hosts.setStyleSheet(f"color: {ERROR_COLOUR};")
        self.host.setVisible(bool(hosts))
        self.no_hosts.setVisible(not hosts)
        host_row = QHBoxLayout()
        host_row.addWidget(self.host, 1)
        host_row.addWidget(self.no_hosts, 1)
        form.addRow("Host:", host_row)

        self.service = QLineEdit(default_service_name(self.info.name), page)
        self.service.setToolTip(
            "Clients reach the service by this name and its port; a new version of the "
            "same service keeps both"
        )
        self.service_error = self._error_label(page)
        form.addRow("Service name:", _row(self.service, self.service_error))
        self.now = QLabel(page)
        self.now.setWordWrap(True)
        form.addRow("Runs now:", self.now)

        self.port = QLineEdit(page)
        self.port.setPlaceholderText("any free port")
        self.port.setMaximumWidth(140)
        self.port.setToolTip("The port on the host that clients connect to (1-65535)")
        self.port_error = self._error_label(page)
        form.addRow("Port:", _row(self.port, self.port_error))
        self.public = QCheckBox("Listen on all interfaces (public; clients need a token)", page)
        self.public.setToolTip(
            "Unchecked, the service listens on the host's loopback only and you reach it "
            "through an SSH tunnel (Open endpoint in Deployments)"
        )
        form.addRow("", self.public)

    def _limit_rows(self, form: QFormLayout, page: QWidget) -> None:
        """Memory and CPU limits, the alias to move, the health-check timeout."""
        self.memory = QLineEdit(page)
        self.memory.setPlaceholderText("e.g. 2g")
        self.memory.setMaximumWidth(140)
        self.memory_error = self._error_label(page)
        form.addRow("Memory limit:", _row(self.memory, self.memory_error))
        self.cpus = QDoubleSpinBox(page)
        self.cpus.setRange(0.0, 512.0)
        self.cpus.setDecimals(1)
        self.cpus.setSingleStep(0.5)
        self.cpus.setSpecialValueText("no limit")
        self.cpus.setFixedWidth(140)
        self.cpus.setAccessibleName("CPU limit")
        form.addRow("CPU limit:", _row(self.cpus))
        self.limits_note = QLabel(page)
        self.limits_note.setStyleSheet(f"color: {NOTE_COLOUR};")
        form.addRow("", self.limits_note)

        alias_row = QHBoxLayout()
        alias_row.addWidget(QLabel("Point alias", page))
        self.alias = QLineEdit(page)
        self.alias.setPlaceholderText("e.g. production")
        self.alias.setMaximumWidth(160)
        self.alias.setCompleter(QCompleter(["production", "staging", "candidate"], self.alias))
        alias_row.addWidget(self.alias)
        alias_row.addWidget(QLabel(f"at {self.info.ref} when the deploy succeeds", page))
        alias_row.addStretch(1)
        self.alias_error = self._error_label(page)
        alias_row.addWidget(self.alias_error)
        form.addRow("Afterwards:", alias_row)

        self.timeout = QSpinBox(page)
        self.timeout.setRange(5, 3600)
        self.timeout.setValue(120)
        self.timeout.setSuffix(" s")
        self.timeout.setMaximumWidth(140)
        self.timeout.setToolTip(
            "How long the new version gets to answer /health; a large model that loads slowly "
            "needs more"
        )
        form.addRow("Health check:", _row(self.timeout, QLabel("to become healthy", page)))

    def _env_editor(self, parent: QWidget) -> QWidget:
        box = QWidget(parent)
        layout = QVBoxLayout(box)
        layout.setContentsMargins(0, 0, 0, 0)
        self.env = QTableWidget(0, 2, box)
        self.env.setHorizontalHeaderLabels(["Variable", "Value"])
        self.env.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Stretch)
        self.env.verticalHeader().setVisible(False)
        self.env.setMaximumHeight(96)
        self.env.setAccessibleName("Environment variables")
        row = QHBoxLayout()
        add = QPushButton("Add variable", box)
        add.clicked.connect(lambda _checked=False: self.add_env_row())
        self.remove_env_button = QPushButton("Remove", box)
        self.remove_env_button.clicked.connect(self._remove_env_row)
        self.env_note = QLabel("None: the same variables as the version running now", box)
        self.env_note.setStyleSheet(f"color: {NOTE_COLOUR};")
        row.addWidget(add)
        row.addWidget(self.remove_env_button)
        row.addWidget(self.env_note, 1)
        self.env_error = self._error_label(box)
        layout.addWidget(self.env)
        layout.addLayout(row)
        layout.addWidget(self.env_error)
        return box

    def _error_label(self, parent: QWidget) -> QLabel:
        label = QLabel(parent)
        label.setStyleSheet(f"color: {ERROR_COLOUR};")
        label.setWordWrap(True)
        label.hide()  # shown with its words (see _say_wrong): no gap where nothing is wrong
        return label

    def _say_wrong(self, label: QLabel, text: str) -> None:
        label.setText(text)
        label.setVisible(bool(text))

    def add_env_row(self, key: str = "", value: str = "") -> None:
        row = self.env.rowCount()
        self.env.insertRow(row)
        key_item = QTableWidgetItem(key)
        self.env.setItem(row, 0, key_item)
        self.env.setItem(row, 1, QTableWidgetItem(value))
        if not key:
            self.env.setCurrentCell(row, 0)
            self.env.editItem(key_item)
        self.env_note.setText("Only these variables (beyond the image's own)")

    def _remove_env_row(self) -> None:
        row = self.env.currentRow()
        if row >= 0:
            self.env.removeRow(row)
        if self.env.rowCount() == 0:
            self.env_note.setText("None: the same variables as the version running now")

    # ------------------------------------------------------------------ what runs now
    def look_up_current(self) -> None:
        """Ask the registry what the chosen service runs (in the background)."""
        host, service = self.host.currentText(), self.service.text().strip()
        if self.reader is None or not host or not service:
            self.show_current(host, service, None)
            return
        registry = self.registry

        def read(_p: object, _c: object) -> tuple[str, str, DeploymentInfo | None]:
            rows = registry.deployments(host=host, service=service, statuses=("live",), limit=1)
            return host, service, rows[0] if rows else None

        job = self.reader.submit(f"reading {service}@{host}", read, listed=False)
        job.sig_finished.connect(self._current_arrived)  # a method: not called once deleted

    def _current_arrived(self, found: tuple[str, str, DeploymentInfo | None]) -> None:
        self.show_current(*found)

    def show_current(self, host: str, service: str, row: DeploymentInfo | None) -> None:
        if (host, service) != (self.host.currentText(), self.service.text().strip()):
            return  # the user changed the choice meanwhile
        self.current = row
        for widget in (self.port, self.public):
            widget.setEnabled(row is None)
        if row is None:
            self.now.setText(
                f"Nothing yet: this deploy creates the service {html.escape(service)}"
                + (f" on {html.escape(host)}" if host else "")
                + "."
            )
            self.limits_note.setText("Empty: no limit")
            self.cpus.setSpecialValueText("no limit")
            return
        where = "all interfaces, with a token" if row.public else "the host's loopback"
        since = f" since {human_time(row.live_at)}" if row.live_at else ""
        self.now.setText(
            f"<b>{html.escape(row.ref)}</b>{since}, on port {row.port} ({where}). The new "
            "version takes over this address; to change it, stop the service first."
        )
        self.port.setText("")
        self.port.setPlaceholderText(str(row.port) if row.port else "as now")
        self.public.setChecked(row.public)
        self.limits_note.setText("Empty: the same limits as the version running now")
        self.cpus.setSpecialValueText("as now")

    # ------------------------------------------------------------------ validation
    def options(self) -> DeployOptions | None:
        """The options as typed, or None after saying next to each field what is wrong."""
        from app.deploy.host import check_service_name
        from app.deploy.service import DeployOptions
        from app.errors import InvalidInputError
        from app.registry.names import check_name

        for label in (
            self.service_error,
            self.port_error,
            self.env_error,
            self.memory_error,
            self.alias_error,
        ):
            self._say_wrong(label, "")
        ok = True
        service = self.service.text().strip()
        try:
            check_service_name(service)
        except InvalidInputError as exc:
            self._say_wrong(
                self.service_error, f"{exc.message}: {exc.hint}" if exc.hint else exc.message
            )
            ok = False
        port = memory = None
        try:
            port = parse_port(self.port.text()) if self.port.isEnabled() else None
        except ValueError as exc:
            self._say_wrong(self.port_error, str(exc))
            ok = False
        try:
            memory = parse_memory(self.memory.text())
        except ValueError as exc:
            self._say_wrong(self.memory_error, str(exc))
            ok = False
        env = None
        try:
            env = self.environment()
        except ValueError as exc:
            self._say_wrong(self.env_error, str(exc))
            ok = False
        alias = self.alias.text().strip() or None
        if alias is not None:
            try:
                check_name(alias, what="alias")
            except InvalidInputError as exc:
                self._say_wrong(self.alias_error, exc.message)
                ok = False
        if not ok:
            return None
        return DeployOptions(
            service=service,
            port=port,
            # unchecked means "as the service is now": loopback for a new service, and no
            # conflict with a public service that keeps its address
            public=True if self.public.isChecked() and self.public.isEnabled() else None,
            env=env,
            memory=memory,
            cpus=self.cpus.value() or None,
            timeout=float(self.timeout.value()),
            set_alias=alias,
        )

    def environment(self) -> dict[str, str] | None:
        """The variables typed, None when there are none ("as now"); ValueError names a bad row."""
        env: dict[str, str] = {}
        for row in range(self.env.rowCount()):
            key_item, value_item = self.env.item(row, 0), self.env.item(row, 1)
            key = key_item.text().strip() if key_item else ""
            value = value_item.text() if value_item else ""
            if not key and not value:
                continue
            try:
                check_env_key(key)
            except ValueError as exc:
                raise ValueError(f"Row {row + 1}: {exc}") from None
            if key in env:
                raise ValueError(f"Row {row + 1}: {key} is set twice")
            env[key] = value
        return env or None

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
        self.log_view.setAccessibleName("Deploy log")
        self.outcome = QLabel(page)
        self.outcome.setWordWrap(True)
        self.outcome.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.outcome.hide()
        row = QHBoxLayout()
        self.cancel_button = QPushButton(icon("cancel"), "Cancel deploy", page)
        self.cancel_button.setToolTip(
            "Stop the deploy and remove the new container; the version serving now keeps serving"
        )
        self.cancel_button.clicked.connect(self.cancel)
        self.close_button = QPushButton("Close", page)
        self.close_button.setToolTip("The deploy goes on in the background (see View > Jobs)")
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

    def start(self) -> Job | None:
        """Check the options; if they are usable, start the deploy job and watch it."""
        options = self.options()
        host = self.host.currentText()
        if options is None or not host:
            return None
        from app.deploy.service import deploy

        registry, ref, prompt, config = self.registry, self.info.ref, self.prompt, self.config
        log = LateLog()

        def work(progress: Any, cancel: Any) -> DeployResult:
            return deploy(
                registry,
                ref,
                host,
                options,
                prompt=prompt,
                log=log,
                progress=progress,
                cancel=cancel,
                config=config,
            )

        job = log.attach(self.queue.submit(f"Deploying {ref} to {host} as {options.service}", work))
        self.alias_set = options.set_alias
        self.watch(job, f"{options.service}@{host}")
        self.sig_started.emit(job)
        return job

    def watch(self, job: Job, address: str) -> None:
        self.job = job
        self.address = address
        self.heading.setText(f"Deploying {self.info.ref} as {address}")
        self.pages.setCurrentIndex(1)
        self.resize(max(self.width(), 820), max(self.height(), 560))
        for line in job.log_lines:
            self._log(line)
        job.sig_log.connect(self._log)
        job.sig_progress.connect(self._progress)
        job.sig_state.connect(self._state)
        self._state(job.state)

    def _log(self, line: str) -> None:
        self.log_view.appendPlainText(line)
        if self.job is not None and not self.job.finished:
            self.step.setText(line)

    def _progress(self) -> None:
        job = self.job
        if job is None or job.finished:
            return
        if job.total and job.done < job.total:  # shipping the image: bytes sent
            self.bar.setRange(0, 1000)
            self.bar.setValue(int(1000 * job.done / job.total))
            self.step.setText(job.message)
        else:  # the steps on the host have no size: a busy bar
            self.bar.setRange(0, 0)

    def _state(self, state: JobState) -> None:
        job = self.job
        if job is None:
            return
        self.cancel_button.setEnabled(not job.finished)
        if state is JobState.QUEUED:
            self.step.setText("waiting for other network jobs to finish")
        elif state is JobState.RUNNING:
            self.bar.setRange(0, 0)
        if not job.finished:
            return
        self.bar.setRange(0, 100)
        self.outcome.show()
        if state is JobState.DONE:
            result: DeployResult = job.result
            self.bar.setValue(100)
            self.heading.setText(f"Deployed {self.info.ref} as {self.address}")
            self.step.setText("live")
            words = success_words(result)
            if self.alias_set:
                words += (
                    f"<br>{html.escape(self.info.name)}@{html.escape(self.alias_set)} now points "
                    f"at version {self.info.version}."
                )
            self._say(words, SUCCESS_COLOUR)
            self.sig_deployed.emit(result)
        elif state is JobState.CANCELLED:
            self.bar.setValue(0)
            self.step.setText("cancelled")
            self._say(
                f"Cancelled. The new container was removed; {self._previous()}", CANCELLED_COLOUR
            )
        elif job.error:
            self.bar.setValue(0)
            self.step.setText("failed")
            self._failed(*job.error, tail=str(getattr(job.failure, "log_tail", "") or ""))

    def _previous(self) -> str:
        if self.current is not None:
            return f"{self.current.ref} keeps serving as {self.address}."
        return f"nothing ran as {self.address} before, and nothing runs there now."

    def _failed(self, message: str, hint: str, *, tail: str = "") -> None:
        """The error in words; under it the last lines of the new container's log, when it
        failed its health check (the whole tail is in the log view already)."""
        first = message.rstrip(".")
        lines = [f"<b>The deploy failed:</b> {html.escape(first)}."]
        if hint:
            lines.append(html.escape(hint[:1].upper() + hint[1:]) + ".")
        if "keeps serving" not in first:
            lines.append(
                "Nothing was switched: "
                + self._previous().replace(" keeps serving", " still serves", 1)
            )
        text = "<br>".join(lines)
        if tail.strip():
            last = "\n".join(tail.strip().splitlines()[-OUTCOME_LOG_LINES:])
            text += f"<br>Its last log lines:<pre>{html.escape(last)}</pre>"
        self._say(text, ERROR_COLOUR)

    def _say(self, text: str, colour: str) -> None:
        self.outcome.setText(text)
        self.outcome.setStyleSheet(f"color: {colour};")

    def cancel(self) -> None:
        if self.job is not None and not self.job.finished:
            self.job.cancel()
            self.step.setText("cancelling: removing the new container…")
            self.cancel_button.setEnabled(False)


def success_words(result: DeployResult) -> str:
    """``iris@gpu-1 serves iris:2 (was iris:1) on port 32771 — loopback, …`` as rich text."""
    d = result.deployment
    was = f" (was {html.escape(result.replaced.ref)})" if result.replaced else ""
    if d.public:
        where = (
            "on all interfaces; clients send <code>Authorization: Bearer &lt;token&gt;</code> "
            f"(<code>modelbay token {html.escape(d.address)}</code> prints it)"
        )
        if result.token_in_keyring is False:
            where += "; your OS keyring could not keep the token: it is shown once in the log"
    else:
        where = "loopback, reach it with <b>Open endpoint</b> in Deployments"
    return (
        f"<b>{html.escape(d.address)}</b> serves <b>{html.escape(d.ref)}</b>{was} "
        f"on port {d.port} — {where}. Took {result.seconds:.0f} s."
    )
