"""Photograph the Hosts panel with a real host (needs the test host's address and key).

    DISPLAY=:99 MODELBAY_TOUR_SSH=root@10.77.1.2 MODELBAY_TOUR_IDENTITY=KEY \\
        python -m tests.ui.tour_hosts OUTDIR

The empty panel (hosts-empty.png), the add dialog filled in (hosts-add.png),
the host key to trust (hosts-trust.png) and the host checked (hosts.png).
"""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path

from PySide6.QtWidgets import QApplication, QMessageBox

from app.ui.theme import apply_theme
from tests.ui.tour import open_window, shoot, wait_for


def main(out_dir: Path) -> int:
    out_dir.mkdir(parents=True, exist_ok=True)
    app = QApplication(["modelbay", "-platform", "xcb"])
    apply_theme(app, "light")
    home = Path(tempfile.mkdtemp(prefix="modelbay-tour-hosts-")) / "home"
    window = open_window(app, home)
    window.sidebar.setCurrentRow(1)
    panel = window.hosts_panel
    wait_for(app, lambda: panel.stack.currentWidget() is panel.empty)
    shoot(app, out_dir / "hosts-empty.png")
    dialog = panel.add_dialog()
    dialog.move(330, 220)
    dialog.name.setText("gpu-1")
    dialog.ssh.setText(os.environ["MODELBAY_TOUR_SSH"])
    dialog.identity.setText(os.environ["MODELBAY_TOUR_IDENTITY"])
    shoot(app, out_dir / "hosts-add.png")
    dialog._accept()

    def trust_box() -> QMessageBox | None:
        boxes = [b for b in panel.findChildren(QMessageBox) if b.isVisible()]
        return boxes[0] if boxes else None

    wait_for(app, lambda: trust_box() is not None)
    box = trust_box()
    assert box is not None
    shoot(app, out_dir / "hosts-trust.png")
    next(b for b in box.buttons() if b.text() == "Trust").click()
    wait_for(app, lambda: bool(panel.hosts and (panel.hosts[0].last_check or {}).get("ok")), 60)
    panel.table.selectRow(0)
    shoot(app, out_dir / "hosts.png")
    window.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main(Path(sys.argv[1])))
