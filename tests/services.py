"""Real services for integration tests, started and stopped by the tests themselves.

PostgreSQL: a throwaway cluster in a temp folder, listening only on a Unix
socket in that folder, owned by the ``postgres`` system user when the tests run
as root (PostgreSQL refuses to run as root). Nothing touches a system cluster.

Docker: the daemon and the base image are made by ``tests/setup/docker.sh``
(``make test`` runs it); nothing can be pulled from a registry, so images the
tests build start from that local image.
"""

from __future__ import annotations

import glob
import os
import shutil
import subprocess
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

# Debian 12 with its Python 3.11, pip and venv, made by tests/setup/docker.sh
# (debootstrap + `docker import`): cp311 wheels fit it.
TEST_BASE_IMAGE = os.environ.get("MODELBAY_TEST_BASE_IMAGE", "modelbay-test/python:3.11-bookworm")
DOCKER_SETUP_HINT = "run as root: bash tests/setup/docker.sh"


@dataclass(frozen=True)
class PostgresServer:
    socket_dir: Path
    port: int
    user: str

    def url(self, database: str) -> str:
        return (
            f"postgresql+psycopg://{self.user}@/{database}?host={self.socket_dir}&port={self.port}"
        )

    def create_database(self) -> str:
        import psycopg

        name = f"modelbay_{uuid.uuid4().hex[:12]}"
        with psycopg.connect(
            host=str(self.socket_dir),
            port=self.port,
            user=self.user,
            dbname="postgres",
            autocommit=True,
        ) as connection:
            connection.execute(f'CREATE DATABASE "{name}"')
        return name


def postgres_bindir() -> Path | None:
    for candidate in sorted(glob.glob("/usr/lib/postgresql/*/bin"), reverse=True):
        if (Path(candidate) / "initdb").exists():
            return Path(candidate)
    found = shutil.which("initdb")
    return Path(found).parent if found else None


@contextmanager
def postgres_server() -> Iterator[PostgresServer]:
    bindir = postgres_bindir()
    if bindir is None:
        raise FileNotFoundError("initdb not found (apt-get install postgresql)")
    base = Path(tempfile.mkdtemp(prefix="modelbay-pg-"))
    base.chmod(0o755)
    data, sockets = base / "data", base / "sock"
    sockets.mkdir()
    as_user: list[str] = []
    if os.geteuid() == 0:
        shutil.chown(base, "postgres")
        shutil.chown(sockets, "postgres")
        as_user = ["runuser", "-u", "postgres", "--"]
    port = 55432
    user = "modelbay"
    log = base / "server.log"
    try:
        subprocess.run(
            [
                *as_user,
                str(bindir / "initdb"),
                "-D",
                str(data),
                "-U",
                user,
                "--auth=trust",
                "-E",
                "UTF8",
                "--locale=C.UTF-8",
            ],
            check=True,
            capture_output=True,
        )
        subprocess.run(
            [
                *as_user,
                str(bindir / "pg_ctl"),
                "-D",
                str(data),
                "-l",
                str(log),
                "-w",
                "-t",
                "60",
                "-o",
                f"-k {sockets} -c listen_addresses='' -p {port} -c fsync=off",
                "start",
            ],
            check=True,
            capture_output=True,
        )
        yield PostgresServer(sockets, port, user)
    finally:
        if data.exists():
            subprocess.run(
                [
                    *as_user,
                    str(bindir / "pg_ctl"),
                    "-D",
                    str(data),
                    "-m",
                    "immediate",
                    "-w",
                    "stop",
                ],
                check=False,
                capture_output=True,
            )
        shutil.rmtree(base, ignore_errors=True)


@dataclass(frozen=True)
class XDisplay:
    name: str  # e.g. ":97"


@contextmanager
def xvfb_display(width: int = 1280, height: int = 800) -> Iterator[XDisplay]:
    """A real X server (Xvfb) on a free display number, stopped afterwards."""
    import time

    xvfb = shutil.which("Xvfb")
    if xvfb is None:
        raise FileNotFoundError("Xvfb not found (apt-get install xvfb)")
    for number in range(90, 130):
        if (
            not Path(f"/tmp/.X11-unix/X{number}").exists()
            and not Path(f"/tmp/.X{number}-lock").exists()
        ):
            break
    else:  # pragma: no cover
        raise FileNotFoundError("no free X display number between :90 and :129")
    process = subprocess.Popen(
        [
            xvfb,
            f":{number}",
            "-screen",
            "0",
            f"{width}x{height}x24",
            "-nolisten",
            "tcp",
            "-noreset",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 30
        while not Path(f"/tmp/.X11-unix/X{number}").exists():
            if process.poll() is not None or time.monotonic() > deadline:
                raise FileNotFoundError(f"Xvfb :{number} did not start")
            time.sleep(0.05)
        yield XDisplay(f":{number}")
    finally:
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:  # pragma: no cover
            process.kill()


def wait_for_window(display: XDisplay, title: str, timeout: float = 30) -> None:
    """Wait until a window titled ``title`` is on ``display`` (xwininfo), or fail the test."""
    import pytest

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        tree = subprocess.run(
            ["xwininfo", "-root", "-tree"],
            env={**os.environ, "DISPLAY": display.name},
            capture_output=True,
            text=True,
        ).stdout
        if f'"{title}"' in tree:
            return
        time.sleep(0.1)
    pytest.fail(f"no window titled {title!r} appeared on {display.name} within {timeout} s")
