"""The real app in a real window (Xvfb), on a registry with models: capture what a user sees."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from app.config import Config
from app.registry import Registry
from tests.conftest import require
from tests.services import XDisplay, xvfb_display

OUTPUT = Path(__file__).resolve().parents[2] / "test-output" / "screenshots"


@pytest.fixture(scope="module")
def display() -> Iterator[XDisplay | None]:
    try:
        with xvfb_display() as found:
            yield found
    except FileNotFoundError:
        yield None


@pytest.mark.integration
@pytest.mark.display
def test_main_window_screenshot_under_xvfb(
    display: XDisplay | None, tmp_path: Path, model_file: Path
) -> None:
    require(display is not None, "an X server (apt-get install xvfb)")
    assert display is not None
    home = tmp_path / "home"
    with Registry.open(Config.at(home)) as registry:
        registry.import_path(model_file, name="churn")
    OUTPUT.mkdir(parents=True, exist_ok=True)
    out = OUTPUT / "main-window.png"
    out.unlink(missing_ok=True)
    env = {**os.environ, "DISPLAY": display.name, "MODELBAY_HOME": str(home)}
    env.pop("QT_QPA_PLATFORM", None)
    done = subprocess.run(
        [sys.executable, "-m", "tests.ui.screenshot", str(out)],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        cwd=Path(__file__).resolve().parents[2],
    )
    assert done.returncode == 0, done.stderr
    from PySide6.QtGui import QImage

    image = QImage(str(out))
    assert (image.width(), image.height()) == (1280, 800)
    # The window is really drawn: its area is not the flat black of an empty X screen.
    window_area = image.copy(60, 60, 900, 500)
    colours = {window_area.pixel(x, y) for x in range(0, 900, 15) for y in range(0, 500, 15)}
    assert len(colours) > 2
