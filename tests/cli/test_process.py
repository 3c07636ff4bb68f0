"""``modelbay`` as a real process: entry points, kill -9 in mid-import, permissions."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from app.config import Config
from app.registry import Registry
from tests.formats import makers

MODELBAY = [sys.executable, "-m", "app"]


def modelbay(*argv: str, home: Path, **kwargs: object) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "MODELBAY_HOME": str(home)}
    return subprocess.run(  # type: ignore[call-overload, no-any-return]
        [*MODELBAY, *argv], env=env, capture_output=True, text=True, timeout=120, **kwargs
    )


def test_console_script_and_module_agree(tmp_path: Path) -> None:
    script = shutil.which("modelbay", path=str(Path(sys.executable).parent))
    assert script is not None, "the modelbay console script is not installed"
    by_script = subprocess.run([script, "--version"], capture_output=True, text=True, check=True)
    by_module = modelbay("--version", home=tmp_path)
    assert by_script.stdout == by_module.stdout
    assert by_script.stdout.startswith("modelbay ")


def test_the_whole_output_reaches_a_pipe_before_the_quick_exit(tmp_path: Path) -> None:
    """``run()`` ends the process without Python's teardown: what the command printed
    must all be there, and an early reader's exit is no error."""
    home = tmp_path / "home"
    model = makers.onnx_helper(tmp_path / "model")
    with Registry.open(Config.at(home)) as registry:
        for i in range(60):
            registry.import_path(model, name=f"model-{i:02d}")
    env = {**os.environ, "MODELBAY_HOME": str(home)}
    env.pop("PYTHONUNBUFFERED", None)  # block-buffered, as for most users: flushing matters
    listed = subprocess.run(
        [*MODELBAY, "list", "--json"], env=env, capture_output=True, text=True, timeout=120
    )
    assert listed.returncode == 0, listed.stderr
    assert sorted(v["name"] for v in json.loads(listed.stdout)) == [
        f"model-{i:02d}" for i in range(60)
    ]
    short = subprocess.run(  # all of it waits in the buffer until the exit
        [*MODELBAY, "--version"], env=env, capture_output=True, text=True, timeout=120
    )
    assert short.stdout.startswith("modelbay ")
    assert short.stdout.endswith("\n")
    head = subprocess.run(
        f"{' '.join(MODELBAY)} list --json | head -c 10",
        shell=True,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert len(head.stdout) == 10
    assert "Traceback" not in head.stderr


def test_kill_9_during_the_copy_leaves_no_version_and_no_temp_file(tmp_path: Path) -> None:
    home = tmp_path / "home"
    big = tmp_path / "big.bin"
    with big.open("wb") as f:  # large enough that the copy takes a while
        f.truncate(768 * 1024 * 1024)
    env = {**os.environ, "MODELBAY_HOME": str(home)}
    process = subprocess.Popen(
        [*MODELBAY, "import", str(big)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    temp_dir = home / "store" / "tmp"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if temp_dir.is_dir() and any(p.stat().st_size > 0 for p in temp_dir.iterdir()):
            break
        if process.poll() is not None:
            pytest.fail("the import finished before it could be interrupted")
        time.sleep(0.002)
    process.send_signal(signal.SIGKILL)
    process.wait()
    assert any(temp_dir.iterdir()), "the crash should have left a temp file behind"
    with Registry.open(Config.at(home)) as registry:
        assert registry.count() == (0, 0)
        assert registry.verify().ok
    assert list(temp_dir.iterdir()) == []  # cleaned up on the next start


CRASH_AFTER_BLOBS = textwrap.dedent(
    """
    import os, signal, sys
    from pathlib import Path
    from app.registry import Registry
    from app.registry import service

    def die(*args, **kwargs):
        os.kill(os.getpid(), signal.SIGKILL)

    service.Registry._register = die  # the files are stored; the database commit never happens
    Registry.open().import_path(Path(sys.argv[1]))
    """
)


def test_kill_9_between_storing_files_and_the_commit_registers_nothing(
    tmp_path: Path, model_folder: Path
) -> None:
    home = tmp_path / "home"
    env = {**os.environ, "MODELBAY_HOME": str(home)}
    done = subprocess.run(
        [sys.executable, "-c", CRASH_AFTER_BLOBS, str(model_folder)],
        env=env,
        capture_output=True,
        timeout=120,
    )
    assert done.returncode == -signal.SIGKILL
    with Registry.open(Config.at(home)) as registry:
        assert registry.count() == (0, 0)
        assert registry.list_versions() == []
        info = registry.import_path(model_folder)  # the retry works and reuses the stored blobs
        assert info.version == 1
        assert registry.verify().ok


def without_root_read_override() -> list[str]:
    """A command prefix under which even root obeys file permissions (drops CAP_DAC_*)."""
    if os.geteuid() != 0:
        return []
    setpriv = shutil.which("setpriv")
    assert setpriv is not None, "setpriv (util-linux) is needed to test permissions as root"
    return [setpriv, "--bounding-set=-dac_override,-dac_read_search", "--inh-caps=-all", "--"]


def test_unreadable_file_is_refused_with_a_reason(tmp_path: Path) -> None:
    secret = tmp_path / "secret.pkl"
    secret.write_bytes(b"model bytes")
    secret.chmod(0o000)
    home = tmp_path / "home"
    env = {**os.environ, "MODELBAY_HOME": str(home)}
    done = subprocess.run(
        [*without_root_read_override(), *MODELBAY, "import", str(secret), "--json"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 1, done.stderr
    assert done.stderr.strip() == (
        f"error: cannot read {secret}: permission denied; check the file's permissions"
    )
    listed = modelbay("list", "--json", home=home)
    assert json.loads(listed.stdout) == []


def test_a_terminal_gets_a_progress_bar_and_a_pipe_does_not(tmp_path: Path) -> None:
    import pty

    big = tmp_path / "weights.bin"
    big.write_bytes(os.urandom(256 * 1024 * 1024))
    env = {**os.environ, "MODELBAY_HOME": str(tmp_path / "home"), "COLUMNS": "100"}
    import fcntl
    import struct
    import termios

    controller, terminal = pty.openpty()
    fcntl.ioctl(terminal, termios.TIOCSWINSZ, struct.pack("HHHH", 30, 100, 0, 0))
    process = subprocess.Popen(
        [*MODELBAY, "import", str(big)], env=env, stdout=subprocess.DEVNULL, stderr=terminal
    )
    os.close(terminal)
    drawn = b""
    while True:
        try:
            chunk = os.read(controller, 4096)
        except OSError:  # the child closed the terminal
            break
        if not chunk:
            break
        drawn += chunk
    process.wait(timeout=120)
    os.close(controller)
    assert process.returncode == 0
    assert b"importing weights.bin" in drawn
    assert b"%|" in drawn  # a bar with a percentage
    piped = modelbay("import", str(big), home=tmp_path / "home")
    assert piped.returncode == 0
    assert "importing" not in piped.stderr
    assert "%|" not in piped.stderr


def test_a_library_log_record_goes_to_the_log_file_not_the_terminal(tmp_path: Path) -> None:
    """paramiko logs (and prints a traceback of) a banner it cannot read: only the
    `error:` line reaches the terminal, the rest the data home's log file."""
    import socket
    import threading

    listener = socket.create_server(("127.0.0.1", 0))
    port = listener.getsockname()[1]

    def answer_like_a_web_server() -> None:
        while True:
            try:
                peer, _ = listener.accept()
            except OSError:
                return
            with peer:
                peer.sendall(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n")

    threading.Thread(target=answer_like_a_web_server, daemon=True).start()
    home = tmp_path / "home"
    try:
        added = modelbay("host", "add", "web", "--ssh", f"root@127.0.0.1:{port}", home=home)
        assert added.returncode == 0, added.stderr
        trusted = modelbay("host", "trust", "web", home=home, stdin=subprocess.DEVNULL)
    finally:
        listener.close()
    assert trusted.returncode == 1
    assert trusted.stderr == (
        f"error: 127.0.0.1:{port} answered, but no SSH conversation started (Error reading "
        "SSH protocol banner); check that the port is the host's SSH port (usually 22)\n"
    )
    log = (home / "logs" / "modelbay.log").read_text()
    assert "paramiko.transport: Exception (client): Error reading SSH protocol banner" in log
    assert "modelbay error: 127.0.0.1" in log


@pytest.mark.parametrize(
    ("display", "reason"),
    [
        (None, "DISPLAY and WAYLAND_DISPLAY are unset"),
        (":77", "DISPLAY=:77 cannot be reached, WAYLAND_DISPLAY is unset"),
    ],
)
def test_the_app_without_a_display_says_so_instead_of_aborting(
    tmp_path: Path, display: str | None, reason: str
) -> None:
    assert not Path("/tmp/.X11-unix/X77").exists()
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in {"DISPLAY", "WAYLAND_DISPLAY", "QT_QPA_PLATFORM"}
    }
    env["MODELBAY_HOME"] = str(tmp_path / "home")
    if display is not None:
        env["DISPLAY"] = display
    for argv in (["gui"], []):  # `modelbay` alone opens the app too
        result = subprocess.run(
            [*MODELBAY, *argv], env=env, capture_output=True, text=True, timeout=60
        )
        assert result.returncode == 1
        assert result.stderr == (
            f"error: no display to open the window on ({reason}); run Modelbay from a desktop "
            "session, or use the command line: modelbay --help\n"
        )


def test_platforms_without_a_desktop_need_no_display() -> None:
    from app.ui import display_problem

    assert display_problem({"QT_QPA_PLATFORM": "offscreen"}) is None
    assert display_problem({"QT_QPA_PLATFORM": "xcb"}) == "DISPLAY and WAYLAND_DISPLAY are unset"
    assert display_problem({"QT_QPA_PLATFORM": "xcb", "WAYLAND_DISPLAY": "wayland-0"}) == (
        "DISPLAY is unset, QT_QPA_PLATFORM=xcb"
    )
