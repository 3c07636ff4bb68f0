"""The desktop app (PySide6). The only package allowed to import Qt."""

from __future__ import annotations

import os
import sys
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Mapping

# Qt platforms that draw on a desktop session's display; the others (offscreen, vnc,
# eglfs, linuxfb, minimal) need none
_DESKTOP_PLATFORMS = {"xcb", "wayland", "wayland-egl"}


def run() -> int:
    """Start the desktop app; return its exit code."""
    problem = display_problem()
    if problem is not None:
        # before QApplication, which would abort the process with a text about libxcb-cursor0
        print(
            f"error: no display to open the window on ({problem}); run Modelbay from a "
            "desktop session, or use the command line: modelbay --help",
            file=sys.stderr,
        )
        return 1

    from PySide6.QtWidgets import QApplication

    from app.config import Config
    from app.logs import log, log_to_file
    from app.ui.main_window import MainWindow, current_theme
    from app.ui.theme import apply_theme

    config = Config.from_environment()
    config.home.mkdir(parents=True, exist_ok=True)
    log_to_file(config.log_dir)
    app = QApplication.instance() or QApplication(sys.argv)
    assert isinstance(app, QApplication)
    app.setApplicationName("Modelbay")
    app.setOrganizationName("Modelbay")
    app.setDesktopFileName("modelbay")
    window = MainWindow(config)
    apply_theme(app, current_theme(window.settings))
    # "system" follows the desktop when it switches between light and dark while we run
    app.styleHints().colorSchemeChanged.connect(
        lambda _scheme: apply_theme(app, current_theme(window.settings))
    )
    window.show()
    log.info("Modelbay started on %s", config.home)
    return int(app.exec())


def display_problem(environ: Mapping[str, str] | None = None) -> str | None:
    """Why Qt could not open a window here (Linux), or None: what is unset or unreachable.

    Only a quick look (a variable, a socket), never a full X or Wayland handshake.
    """
    env: Mapping[str, str] = os.environ if environ is None else environ
    if not sys.platform.startswith("linux"):
        return None
    wanted = [p.split(":")[0].strip() for p in env.get("QT_QPA_PLATFORM", "").split(";")]
    wanted = [p for p in wanted if p]
    if wanted and not any(p in _DESKTOP_PLATFORMS for p in wanted):
        return None  # offscreen, vnc, eglfs...: Qt needs no desktop session
    x_allowed = not wanted or "xcb" in wanted
    wayland_allowed = not wanted or any(p.startswith("wayland") for p in wanted)
    display = env.get("DISPLAY", "").strip()
    wayland = env.get("WAYLAND_DISPLAY", "").strip()
    if x_allowed and display and _x_display_answers(display):
        return None
    if wayland_allowed and wayland and _wayland_socket_exists(wayland, env):
        return None
    if not display and not wayland:
        return "DISPLAY and WAYLAND_DISPLAY are unset"
    parts = [
        f"{name}={value} cannot be reached" if value else f"{name} is unset"
        for name, value, allowed in (
            ("DISPLAY", display, x_allowed),
            ("WAYLAND_DISPLAY", wayland, wayland_allowed),
        )
        if allowed
    ]
    if wanted:
        parts.append(f"QT_QPA_PLATFORM={env.get('QT_QPA_PLATFORM')}")
    return ", ".join(parts)


def _x_display_answers(display: str) -> bool:
    """Whether something accepts connections where ``DISPLAY`` points: ``:0`` (a local
    socket), ``localhost:10.0`` (ssh -X), ``host:0`` (TCP)."""
    import socket

    host, _, rest = display.rpartition(":")
    number = rest.split(".")[0]
    if not number.isdigit() or "/" in host:
        return True  # a form this quick look does not know: let Qt try
    try:
        if host in {"", "unix"}:
            path = f"/tmp/.X11-unix/X{number}"  # noqa: S108 - where X servers listen
            for address in (path, "\0" + path):  # the file, or Linux's abstract socket
                with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
                    sock.settimeout(1.0)
                    try:
                        sock.connect(address)
                    except OSError:
                        continue
                    return True
            return False
        with socket.create_connection((host, 6000 + int(number)), timeout=1.0):
            return True
    except OSError:
        return False


def _wayland_socket_exists(wayland: str, env: Mapping[str, str]) -> bool:
    from pathlib import Path

    path = Path(wayland)
    if not path.is_absolute():
        runtime = env.get("XDG_RUNTIME_DIR", "")
        if not runtime:
            return False
        path = Path(runtime) / wayland
    return path.is_socket()
