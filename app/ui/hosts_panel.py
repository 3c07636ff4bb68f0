"""The Hosts panel: the machines images ship to, with a status dot per host.

Add a host (a dialog), test its connection, trust its host key after reading
the fingerprint (a dialog; a changed key is shown as the warning it is), and
remove it. Every network step runs as a job; the window never waits on SSH.
"""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import QObject, Qt, Signal
from PySide6.QtGui import QColor, QIcon, QPainter, QPixmap
from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QHeaderView,
    QInputDialog,
    QLabel,
    QLineEdit,
    QMessageBox,
    QPushButton,
    QStackedWidget,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from app.cli.output import human_size
from app.ui.theme import icon

if TYPE_CHECKING:
    from app.registry import HostInfo, Registry
    from app.ui.jobs import Job, JobQueue

STATUS_COLOURS = {"ok": "#2e7d32", "failing": "#c62828", "unchecked": "#9e9e9e"}


def status_of(host: HostInfo) -> str:
    check = host.last_check or {}
    if not check:
        return "unchecked"
    return "ok" if check.get("ok") else "failing"


def dot(colour: str) -> QIcon:
    pixmap = QPixmap(14, 14)
    pixmap.fill(Qt.GlobalColor.transparent)
    painter = QPainter(pixmap)
    painter.setRenderHint(QPainter.RenderHint.Antialiasing)
    painter.setBrush(QColor(colour))
    painter.setPen(Qt.PenStyle.NoPen)
    painter.drawEllipse(1, 1, 12, 12)
    painter.end()
    return QIcon(pixmap)


class GuiSecretPrompt(QObject):
    """Lets a worker thread ask the user for a password or passphrase, and wait.

    The worker calls the object (any thread); a queued signal opens a password
    dialog on the GUI thread; the worker blocks until it is answered (or for
    five minutes at most).
    """

    _ask = Signal(str, object)  # prompt, the waiting slot

    def __init__(self, parent: QWidget) -> None:
        super().__init__(parent)
        self._parent = parent
        self._ask.connect(self._open, Qt.ConnectionType.QueuedConnection)

    def __call__(self, prompt: str) -> str | None:
        slot: dict[str, Any] = {"event": threading.Event(), "answer": None}
        self._ask.emit(prompt, slot)
        slot["event"].wait(300)
        answer: str | None = slot["answer"]
        return answer

    def _open(self, prompt: str, slot: dict[str, Any]) -> None:
        dialog = QInputDialog(self._parent)
        dialog.setWindowTitle("Modelbay needs a secret")
        dialog.setLabelText(prompt + "\n(kept in your OS keyring, never in Modelbay's files)")
        dialog.setTextEchoMode(QLineEdit.EchoMode.Password)
        dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)

        def done(result: int) -> None:
            slot["answer"] = dialog.textValue() or None if result else None
            slot["event"].set()

        dialog.finished.connect(done)
        dialog.open()


class AddHostDialog(QDialog):
    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Add a host")
        self.setMinimumWidth(540)
        self.setWindowIcon(icon("hosts"))
        layout = QVBoxLayout(self)
        intro = QLabel(
            "A machine you deploy to, reached over SSH. Modelbay reads your ~/.ssh/config, "
            "uses your ssh-agent and key files, and keeps passwords and passphrases in your "
            "OS keyring.",
            self,
        )
        intro.setWordWrap(True)
        layout.addWidget(intro)
        form = QFormLayout()
        self.name = QLineEdit(self)
        self.name.setPlaceholderText("gpu-1")
        self.ssh = QLineEdit(self)
        self.ssh.setPlaceholderText("deploy@gpu-1.example.com:22")
        identity_row = QHBoxLayout()
        self.identity = QLineEdit(self)
        self.identity.setPlaceholderText("optional: ~/.ssh/id_ed25519")
        browse = QPushButton("Browse…", self)
        browse.clicked.connect(self._browse)
        identity_row.addWidget(self.identity, 1)
        identity_row.addWidget(browse)
        form.addRow("Name:", self.name)
        form.addRow("SSH address:", self.ssh)
        form.addRow("Key file:", identity_row)
        layout.addLayout(form)
        self.error = QLabel(self)
        self.error.setStyleSheet("color: #c62828;")
        self.error.setWordWrap(True)
        layout.addWidget(self.error)
        buttons = QDialogButtonBox(
            QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel, self
        )
        self.ok_button = buttons.button(QDialogButtonBox.StandardButton.Ok)
        self.ok_button.setText("Add and connect")
        buttons.accepted.connect(self._accept)
        buttons.rejected.connect(self.reject)
        layout.addWidget(buttons)

    def _browse(self) -> None:
        dialog = QFileDialog(self, "Private key file")
        dialog.fileSelected.connect(self.identity.setText)
        dialog.open()

    def values(self) -> tuple[str, str | None, str, int | None, str | None]:
        from app.remote.hosts import check_identity_file, parse_ssh_target

        user, address, port = parse_ssh_target(self.ssh.text())
        identity = check_identity_file(self.identity.text())
        return self.name.text().strip(), user, address, port, identity

    def _accept(self) -> None:
        from app.errors import ModelbayError
        from app.registry.names import check_name

        try:
            check_name(self.name.text().strip())
            self.values()
        except ModelbayError as exc:
            self.error.setText(exc.message + (f" ({exc.hint})" if exc.hint else ""))
            return
        self.accept()


class HostsPanel(QWidget):
    sig_error = Signal(str, str)
    sig_status = Signal(str)

    def __init__(self, reader: JobQueue, network: JobQueue, parent: QWidget | None = None):
        super().__init__(parent)
        from app.ui.models_panel import EmptyState

        self.reader = reader
        self.network = network
        self.registry: Registry | None = None
        self.hosts: list[HostInfo] = []
        self.prompt = GuiSecretPrompt(self)
        layout = QVBoxLayout(self)
        bar = QHBoxLayout()
        self.add_button = QPushButton(icon("hosts"), "Add host…", self)
        self.add_button.clicked.connect(self.add_dialog)
        self.check_button = QPushButton("Test connection", self)
        self.check_button.clicked.connect(self.check_selected)
        self.trust_button = QPushButton("Trust host key…", self)
        self.trust_button.clicked.connect(self.trust_selected)
        self.remove_button = QPushButton("Remove", self)
        self.remove_button.clicked.connect(self.remove_selected)
        for button in (self.add_button, self.check_button, self.trust_button):
            bar.addWidget(button)
        bar.addStretch(1)
        bar.addWidget(self.remove_button)
        layout.addLayout(bar)
        self.table = QTableWidget(0, 6, self)
        self.table.setHorizontalHeaderLabels(
            ["Host", "SSH", "Host key", "Docker", "Free disk", "Last check"]
        )
        self.table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        self.table.horizontalHeader().setStretchLastSection(True)
        self.table.verticalHeader().setVisible(False)
        self.table.setEditTriggers(QTableWidget.EditTrigger.NoEditTriggers)
        self.table.setSelectionBehavior(QTableWidget.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QTableWidget.SelectionMode.SingleSelection)
        self.table.itemSelectionChanged.connect(self._selection_changed)
        self.empty = EmptyState(
            "hosts",
            "No hosts yet",
            "The machines you deploy to, reached over SSH. Click <b>Add host…</b> to add one; "
            "images are shipped there without any container registry.",
            self,
        )
        self.stack = QStackedWidget(self)
        self.stack.addWidget(self.empty)
        self.stack.addWidget(self.table)
        layout.addWidget(self.stack, 1)
        self.detail = QLabel(self)
        self.detail.setWordWrap(True)
        self.detail.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        layout.addWidget(self.detail)
        self._selection_changed()

    # ------------------------------------------------------------------ data
    def set_registry(self, registry: Registry | None) -> None:
        self.registry = registry
        self.refresh()

    def refresh(self, select: str | None = None) -> None:
        registry = self.registry
        if registry is None:
            return
        job = self.reader.submit("reading hosts", lambda _p, _c: registry.hosts(), listed=False)
        job.sig_finished.connect(lambda hosts: self._show(hosts, select))
        job.sig_failed.connect(self.sig_error.emit)

    def _show(self, hosts: list[HostInfo], select: str | None) -> None:
        current = select or self.selected_name()
        self.hosts = hosts
        self.stack.setCurrentWidget(self.table if hosts else self.empty)
        self.table.setRowCount(len(hosts))
        for row, host in enumerate(hosts):
            check = host.last_check or {}
            status = status_of(host)
            free = check.get("free_bytes")
            cells = [
                host.name,
                host.ssh_target,
                "trusted" if host.host_key else "not trusted yet",
                str(check.get("docker_version") or "-"),
                human_size(int(free)) if free is not None else "-",
                str(check.get("at", "never")).replace("T", " ").rstrip("Z"),
            ]
            for column, text in enumerate(cells):
                item = QTableWidgetItem(text)
                if column == 0:
                    item.setIcon(dot(STATUS_COLOURS[status]))
                    item.setToolTip(
                        {
                            "ok": "last check passed",
                            "failing": "last check failed",
                            "unchecked": "not checked yet",
                        }[status]
                    )
                self.table.setItem(row, column, item)
            if host.name == current:
                self.table.selectRow(row)
        self._selection_changed()

    def selected(self) -> HostInfo | None:
        rows = self.table.selectionModel().selectedRows()
        if not rows or rows[0].row() >= len(self.hosts):
            return None
        return self.hosts[rows[0].row()]

    def selected_name(self) -> str | None:
        host = self.selected()
        return host.name if host else None

    def _selection_changed(self) -> None:
        host = self.selected()
        for button in (self.check_button, self.trust_button, self.remove_button):
            button.setEnabled(host is not None)
        if host is None:
            self.detail.clear()
            return
        check = host.last_check or {}
        lines = [f"<b>{host.name}</b>: {host.ssh_target}"]
        if host.host_key_fingerprint:
            lines.append(f"host key {host.host_key_type} {host.host_key_fingerprint}")
        if check.get("error"):
            lines.append(
                f"<span style='color:#c62828'>{check['error']}</span>"
                + (f"<br>{check['hint']}" if check.get("hint") else "")
            )
        self.detail.setText("<br>".join(lines))

    # ------------------------------------------------------------------ actions
    def add_dialog(self) -> AddHostDialog:
        dialog = AddHostDialog(self)
        dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        dialog.accepted.connect(lambda: self._add(*dialog.values()))
        dialog.open()
        return dialog

    def _add(
        self, name: str, user: str | None, address: str, port: int | None, identity: str | None
    ) -> Job | None:
        registry = self.registry
        if registry is None:
            return None

        def work(_p: object, _c: object) -> tuple[str, str, str]:
            from app.remote.ssh import fetch_host_key

            host = registry.add_host(name, address, port=port, user=user, identity_file=identity)
            return fetch_host_key(host)

        job = self.network.submit(f"Adding host {name}", work)
        job.sig_finished.connect(lambda key: self._offer_trust(name, *key))
        job.sig_failed.connect(self.sig_error.emit)
        job.sig_state.connect(lambda _s: self.refresh(select=name) if job.finished else None)
        return job

    def trust_selected(self) -> Job | None:
        host = self.selected()
        registry = self.registry
        if host is None or registry is None:
            return None

        def work(_p: object, _c: object) -> tuple[str, str, str]:
            from app.remote.ssh import fetch_host_key

            return fetch_host_key(host)

        job = self.network.submit(f"Reading the host key of {host.name}", work)
        job.sig_finished.connect(lambda key: self._offer_trust(host.name, *key))
        job.sig_failed.connect(self.sig_error.emit)
        return job

    def _offer_trust(
        self, name: str, key_type: str, key: str, fingerprint: str
    ) -> QMessageBox | None:
        host = next((h for h in self.hosts if h.name == name), None)
        changed = host is not None and host.host_key is not None and host.host_key != key
        if changed and host is not None:
            box = QMessageBox(
                QMessageBox.Icon.Critical, "The host key has changed", "", parent=self
            )
            box.setText(
                f"<b>{name} now shows a different host key.</b><br>Trusted: "
                f"{host.host_key_fingerprint}<br>Shown now: {key_type} {fingerprint}"
            )
            box.setInformativeText(
                "This may be an attack: someone between you and the host reading or changing "
                "the traffic. Or the host was reinstalled. Ask its administrator, and trust "
                "the new key only if its fingerprint matches."
            )
            trust = box.addButton("Trust the new key", QMessageBox.ButtonRole.DestructiveRole)
        elif host is not None and host.host_key == key:
            self.sig_status.emit(f"{name}'s host key is already trusted")
            self.check(name)
            return None
        else:
            box = QMessageBox(QMessageBox.Icon.Question, "Trust this host?", "", parent=self)
            box.setText(
                f"<b>{name}</b> shows this host key:<br><br><tt>{key_type} {fingerprint}</tt>"
            )
            box.setInformativeText(
                "Compare it with the key on the host (there: ssh-keygen -lf "
                "/etc/ssh/ssh_host_ed25519_key.pub). Modelbay will refuse to talk to it if it "
                "ever changes."
            )
            trust = box.addButton("Trust", QMessageBox.ButtonRole.AcceptRole)
        cancel = box.addButton(QMessageBox.StandardButton.Cancel)
        box.setDefaultButton(cancel)
        box.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)

        def clicked(button: object) -> None:
            if button is trust:
                self._pin(name, key_type, key, fingerprint)

        box.buttonClicked.connect(clicked)
        box.open()
        return box

    def _pin(self, name: str, key_type: str, key: str, fingerprint: str) -> None:
        registry = self.registry
        if registry is None:
            return
        job = self.reader.submit(
            f"trusting {name}'s key",
            lambda _p, _c: registry.pin_host_key(name, key_type, key, fingerprint),
            listed=False,
        )
        job.sig_finished.connect(lambda _host: self.check(name))
        job.sig_failed.connect(self.sig_error.emit)

    def check_selected(self) -> Job | None:
        host = self.selected()
        return self.check(host.name) if host else None

    def check(self, name: str) -> Job | None:
        registry = self.registry
        if registry is None:
            return None
        prompt = self.prompt

        def work(_p: object, _c: object) -> dict[str, Any]:
            from app.remote.hosts import check_host

            return check_host(registry, name, prompt=prompt)

        job = self.network.submit(f"Testing the connection to {name}", work)
        job.sig_finished.connect(lambda result: self._checked(name, result))
        job.sig_failed.connect(self.sig_error.emit)
        return job

    def _checked(self, name: str, result: dict[str, Any]) -> None:
        self.refresh(select=name)
        if result.get("ok"):
            self.sig_status.emit(f"{name}: Docker {result.get('docker_version')}, reachable")
        elif result.get("host_key") in {"unknown", "changed"}:
            self.trust_selected()
        else:
            self.sig_error.emit(str(result.get("error")), str(result.get("hint") or ""))

    def remove_selected(self) -> None:
        host = self.selected()
        registry = self.registry
        if host is None or registry is None:
            return
        box = QMessageBox(
            QMessageBox.Icon.Question,
            "Remove host",
            f"Forget the host {host.name} ({host.ssh_target})?",
            QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.Cancel,
            self,
        )
        box.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)

        def answered(result: int) -> None:
            if result == QMessageBox.StandardButton.Yes:
                job = self.reader.submit(
                    f"removing {host.name}",
                    lambda _p, _c: registry.remove_host(host.name),
                    listed=False,
                )
                job.sig_finished.connect(lambda _r: self.refresh())
                job.sig_failed.connect(self.sig_error.emit)

        box.finished.connect(answered)
        box.open()
