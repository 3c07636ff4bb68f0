"""Photograph building an image from the real window (needs Docker and a base image).

    DISPLAY=:99 MODELBAY_BASE_IMAGE=IMAGE python -m tests.ui.tour_build OUTDIR

The demo registry; the build window for iris-classifier while Docker works
(build-running.png) and once the image is verified (build-done.png); then the
version's Images tab (images-tab.png).
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

from PySide6.QtWidgets import QApplication

from app.config import Config
from app.demo import create_demo
from app.registry import Registry
from app.ui.build_dialog import BuildDialog
from app.ui.theme import apply_theme
from tests.ui.tour import open_window, shoot, wait_for


def main(out_dir: Path) -> int:
    out_dir.mkdir(parents=True, exist_ok=True)
    app = QApplication(["modelbay", "-platform", "xcb"])
    apply_theme(app, "light")
    home = Path(tempfile.mkdtemp(prefix="modelbay-tour-build-")) / "home"
    with Registry.open(Config.at(home)) as registry:
        create_demo(registry, home / "demo")
    window = open_window(app, home)
    panel = window.models_panel
    wait_for(app, lambda: panel.model.rowCount() > 0)
    row = panel.model.row_of("iris-classifier")
    assert row is not None
    panel.table.selectRow(row)
    wait_for(
        app, lambda: panel.detail.current is not None and panel.detail.build_button.isEnabled()
    )
    panel.detail.request_build()
    dialog = window.findChild(BuildDialog)
    assert dialog is not None
    dialog.move(220, 120)
    shoot(app, out_dir / "build-options.png")
    job = dialog.start()
    wait_for(app, lambda: "Step 1" in dialog.log_view.toPlainText(), timeout=300)
    shoot(app, out_dir / "build-running.png")
    wait_for(app, lambda: job.finished, timeout=600)
    if job.error:
        raise SystemExit(f"the build failed: {job.error}")
    shoot(app, out_dir / "build-done.png")
    dialog.close()
    detail = panel.detail
    wait_for(app, lambda: detail.builds_table.rowCount() > 0)
    detail.tabs.setCurrentWidget(detail.builds_table)
    shoot(app, out_dir / "images-tab.png")
    window.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main(Path(sys.argv[1])))
