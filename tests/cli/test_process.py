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
