"""The user's whole journey in the real window (tests/ui/gui_journey.py) on an X display,
against the real Docker daemon and the SSH test host; a picture at each step."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from app.build.service import BASE_IMAGE_ENV
from tests.conftest import require
from tests.deploy.conftest import forget_containers
from tests.remote_host import RemoteHost
from tests.services import XDisplay
from tests.ui.test_screenshot import display  # noqa: F401  (the Xvfb fixture)

pytestmark = [pytest.mark.integration, pytest.mark.display, pytest.mark.timeout(2400)]

ROOT = Path(__file__).resolve().parents[2]
OUTPUT = ROOT / "test-output" / "screenshots" / "journey"
STEPS = [
    "empty",
    "import-dialog",
    "imported",
    "attach-reference",
    "reference-attached",
    "build-options",
    "build-done",
    "add-host",
    "trust-host",
    "host-ready",
    "deploy-dialog",
    "deployed",
    "traffic",
    "drift-flagged",
    "second-version-deployed",
    "rollback-confirm",
    "rolled-back",
]


def test_the_journey_in_the_window(
    display: XDisplay | None,  # noqa: F811
    remote_host: RemoteHost,
    base_image: str,
    tmp_path: Path,
) -> None:
    require(display is not None, "an X server (apt-get install xvfb x11-utils)")
    assert display is not None
    forget_containers(remote_host)
    env = {
        **os.environ,
        "DISPLAY": display.name,
        "QT_QPA_PLATFORM": "xcb",
        BASE_IMAGE_ENV: base_image,
        "JOURNEY_SSH": f"{remote_host.user}@{remote_host.address}:{remote_host.port}",
        "JOURNEY_IDENTITY": str(remote_host.identity_file),
        "JOURNEY_FINGERPRINT": remote_host.host_key_fingerprint,
        "JOURNEY_OUT": str(OUTPUT),
        "MODELBAY_SSH_CONFIG": str(tmp_path / "none"),
    }
    env.pop("SSH_AUTH_SOCK", None)
    log = tmp_path / "journey.log"
    try:
        with log.open("w") as out:
            run = subprocess.run(
                [sys.executable, "-m", "pytest", "tests/ui/gui_journey.py", "-q", "-x"],
                env=env,
                stdout=out,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                timeout=2300,
                check=False,
                cwd=ROOT,
            )
        text = log.read_text()
        assert run.returncode == 0, text[-6000:]
        assert "1 passed" in text, text[-3000:]  # it ran rather than skipped
    finally:
        forget_containers(remote_host)
    from PySide6.QtGui import QImage

    pictures = sorted(OUTPUT.glob("*.png"))
    assert [p.stem.split("-", 1)[1] for p in pictures] == STEPS
    for picture in pictures:
        image = QImage(str(picture))
        assert (image.width(), image.height()) == (1280, 800), picture.name
        colours = {image.pixel(x, y) for x in range(0, 1260, 20) for y in range(0, 780, 20)}
        assert len(colours) > 8, f"{picture.name} looks blank"
