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
    dialog.identity.setText("/no/such/key")
    dialog._accept()
    assert dialog.error.text() == (
        "/no/such/key does not exist (give the private key file (e.g. ~/.ssh/id_ed25519))"
    )
    assert dialog.isVisible()
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


def test_ship_from_the_window_shows_progress_and_the_outcome(
    qtbot: QtBot,
    window: Any,
    remote_host: RemoteHost,
    base_image: str,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    from app.build.service import BuildOptions, build_image
    from app.ui.jobs import JobState
    from tests.formats import makers
    from tests.remote.conftest import add_test_host, forget_images

    monkeypatch.delenv("SSH_AUTH_SOCK", raising=False)
    monkeypatch.setenv("MODELBAY_SSH_CONFIG", str(tmp_path / "none"))
    win: MainWindow = window
    registry = win.registry
    assert registry is not None
    info = registry.import_path(makers.sklearn_joblib(tmp_path / "m"), name="iris")
    build_image(
        registry, "iris:1", BuildOptions(base_image=base_image, smoke_test=False), config=win.config
    )
    add_test_host(registry, remote_host, "lab")
    forget_images(remote_host)  # earlier tests may have shipped this very image
    win.hosts_panel.refresh()
    qtbot.waitUntil(lambda: len(win.hosts_panel.hosts) == 1, timeout=10_000)
    job = win.start_ship(info, "lab")
    assert job is not None
    messages: list[str] = []
    job.sig_progress.connect(lambda: messages.append(job.message))
    qtbot.waitUntil(lambda: job.finished, timeout=300_000)
    assert job.state is JobState.DONE, job.error
    assert win.jobs_dock.isVisible()
    assert any("MB/s" in m for m in messages)
    assert "lab has modelbay/iris:1" in win.statusBar().currentMessage()
    assert job.result.image_id in remote_host.docker("images", "-q", "--no-trunc").stdout
