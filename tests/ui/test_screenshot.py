"""The real ``modelbay`` in a real window (Xvfb): started as a user would, then captured."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from app.config import Config
from app.registry import Registry
from tests.conftest import require
from tests.remote_host import RemoteHost
from tests.services import XDisplay, wait_for_window, xvfb_display

ROOT = Path(__file__).resolve().parents[2]
OUTPUT = ROOT / "test-output" / "screenshots"


@pytest.fixture(scope="module")
def display() -> Iterator[XDisplay | None]:
    try:
        with xvfb_display() as found:
            yield found
    except FileNotFoundError:
        yield None


def run_on_display(
    args: list[str], env: dict[str, str], *, timeout: float
) -> subprocess.CompletedProcess[str]:
    """Run ``python ARGS`` from the checkout on the test's X display, capturing its output."""
    return subprocess.run(
        [sys.executable, *args], env=env, capture_output=True, text=True, timeout=timeout, cwd=ROOT
    )


@pytest.mark.integration
@pytest.mark.display
def test_modelbay_opens_a_real_window(
    display: XDisplay | None, tmp_path: Path, model_file: Path
) -> None:
    require(display is not None, "an X server (apt-get install xvfb x11-utils)")
    assert display is not None
    home = tmp_path / "home"
    with Registry.open(Config.at(home)) as registry:
        registry.import_path(model_file, name="churn")
    env = {**os.environ, "DISPLAY": display.name, "MODELBAY_HOME": str(home)}
    env.pop("QT_QPA_PLATFORM", None)
    app = subprocess.Popen(
        [sys.executable, "-m", "app"], env=env, stderr=subprocess.PIPE, text=True, cwd=ROOT
    )
    try:
        wait_for_window(display, "Modelbay")
        time.sleep(1.0)  # let it paint
        OUTPUT.mkdir(parents=True, exist_ok=True)
        out = OUTPUT / "main-window.png"
        out.unlink(missing_ok=True)
        grab = run_on_display(["-m", "tests.ui.screenshot", str(out)], env, timeout=60)
        assert grab.returncode == 0, grab.stderr
        assert app.poll() is None, "the app exited on its own"
    finally:
        app.terminate()
        _, errors = app.communicate(timeout=30)
    assert "Traceback" not in errors, errors
    from PySide6.QtGui import QImage

    image = QImage(str(out))
    assert (image.width(), image.height()) == (1280, 800)
    # The window is really drawn: the screen is not the flat black of an empty X server.
    colours = {image.pixel(x, y) for x in range(0, 1280, 16) for y in range(0, 800, 16)}
    assert len(colours) > 2


def take_pictures(
    display: XDisplay | None, script: str, names: list[str], env: dict[str, str]
) -> None:
    """Run ``python -m SCRIPT OUTPUT`` on the test display; check each picture is drawn."""
    require(display is not None, "an X server (apt-get install xvfb x11-utils)")
    assert display is not None
    OUTPUT.mkdir(parents=True, exist_ok=True)
    full = {**os.environ, "DISPLAY": display.name, **env}
    for unset in ("QT_QPA_PLATFORM", "SSH_AUTH_SOCK"):
        full.pop(unset, None)
    done = run_on_display(["-m", script, str(OUTPUT)], full, timeout=900)
    assert done.returncode == 0, done.stderr[-3000:]
    from PySide6.QtGui import QImage

    for name in names:
        image = QImage(str(OUTPUT / f"{name}.png"))
        assert (image.width(), image.height()) == (1280, 800), name
        colours = {image.pixel(x, y) for x in range(0, 1260, 20) for y in range(0, 780, 20)}
        assert len(colours) > 8, f"{name}.png looks blank"


@pytest.mark.integration
@pytest.mark.display
def test_a_tour_of_the_real_window_in_pictures(display: XDisplay | None, tmp_path: Path) -> None:
    """Empty registry, demo models, compare, reference data dropped on a version, quarantine,
    import dialog, dark theme."""
    names = ["empty-registry", "models", "compare", "reference-attached", "quarantine"]
    names += ["import-dialog", "dark"]
    take_pictures(display, "tests.ui.tour", names, {"MODELBAY_HOME": str(tmp_path / "unused")})


@pytest.mark.integration
@pytest.mark.display
def test_building_an_image_in_pictures(
    display: XDisplay | None, tmp_path: Path, base_image: str
) -> None:
    """The build window before, during and after a real build, and the Images tab."""
    names = ["build-options", "build-running", "build-done", "images-tab"]
    take_pictures(display, "tests.ui.tour_build", names, {"MODELBAY_BASE_IMAGE": base_image})


@pytest.mark.integration
@pytest.mark.display
def test_the_hosts_panel_in_pictures(
    display: XDisplay | None, tmp_path: Path, remote_host: RemoteHost
) -> None:
    """Empty, adding a host, trusting its key, checked and green."""
    env = {
        "MODELBAY_TOUR_SSH": f"{remote_host.user}@{remote_host.address}",
        "MODELBAY_TOUR_IDENTITY": str(remote_host.identity_file),
        "MODELBAY_SSH_CONFIG": str(tmp_path / "none"),
    }
    take_pictures(
        display, "tests.ui.tour_hosts", ["hosts-empty", "hosts-add", "hosts-trust", "hosts"], env
    )
