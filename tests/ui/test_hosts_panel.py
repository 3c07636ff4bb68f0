"""The Hosts panel against the real test host: add, read the fingerprint, trust, check."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from pytestqt.qtbot import QtBot

from tests.remote_host import RemoteHost

if TYPE_CHECKING:
    from app.ui.main_window import MainWindow

pytestmark = pytest.mark.integration


def _box_with(widget: Any, text: str) -> Any:
    from PySide6.QtWidgets import QMessageBox

    boxes = [b for b in widget.findChildren(QMessageBox) if b.isVisible() and text in b.text()]
    return boxes[0] if boxes else None


def test_add_a_host_trust_its_key_and_see_it_green(
    qtbot: QtBot,
    window: Any,
    remote_host: RemoteHost,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    from PySide6.QtWidgets import QMessageBox

    monkeypatch.delenv("SSH_AUTH_SOCK", raising=False)
    monkeypatch.setenv("MODELBAY_SSH_CONFIG", str(tmp_path / "none"))
    win: MainWindow = window
    win.sidebar.setCurrentRow(1)
    panel = win.hosts_panel
    dialog = panel.add_dialog()
    dialog.name.setText("lab")
    dialog.ssh.setText("not an address")
    dialog._accept()
    assert "is not an SSH address" in dialog.error.text()  # stays open, says why
    dialog.ssh.setText(f"root@{remote_host.address}")
    dialog.identity.setText(str(remote_host.identity_file))
    dialog._accept()

    qtbot.waitUntil(
        lambda: _box_with(panel, remote_host.host_key_fingerprint) is not None, timeout=30_000
    )
    box = _box_with(panel, remote_host.host_key_fingerprint)
    assert "shows this host key" in box.text()
    trust = next(b for b in box.buttons() if b.text() == "Trust")
    trust.click()

    def green() -> bool:
        return bool(panel.hosts and (panel.hosts[0].last_check or {}).get("ok"))

    qtbot.waitUntil(green, timeout=60_000)
    assert panel.table.item(0, 0).text() == "lab"
    assert panel.table.item(0, 0).toolTip() == "last check passed"
    assert panel.table.item(0, 2).text() == "trusted"
    assert panel.table.item(0, 3).text() != "-"  # Docker's version

    # the key changes: the next check is refused and the warning says why
    remote_host.change_host_key()
    panel.table.selectRow(0)
    panel.check_selected()
    qtbot.waitUntil(lambda: _box_with(panel, "different host key") is not None, timeout=60_000)
    warning = _box_with(panel, "different host key")
    assert "may be an attack" in warning.informativeText()
    assert warning.defaultButton() is warning.button(QMessageBox.StandardButton.Cancel)
    warning.button(QMessageBox.StandardButton.Cancel).click()
    qtbot.waitUntil(lambda: panel.table.item(0, 0).toolTip() == "last check failed", timeout=10_000)
    for widget in win.findChildren(QMessageBox):
        widget.close()
