"""The .deb as a user gets it: built, installed with dpkg, run, removed; then installed into a
bare Debian root (debootstrap minbase: no Python, no Qt, no X) where apt must find every
library from the package's Depends.

Needs root (dpkg -i, chroot, mount), dpkg-deb, debootstrap, Xvfb and xwininfo, a Docker daemon
with the local base image (the frozen app builds an image), and the Debian mirror apt uses
(the bare root installs the Depends from it). ``make test`` sets all of that up.
"""

from __future__ import annotations

import csv
import json
import os
import random
import shutil
import subprocess
import sys
import time
import tomllib
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import require
from tests.services import XDisplay, wait_for_window, xvfb_display

ROOT = Path(__file__).resolve().parents[2]
SHOTS = ROOT / "test-output" / "screenshots"
VERSION = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"]
DEB = ROOT / "dist" / f"modelbay_{VERSION}_amd64.deb"
SOURCES = ("app", "packaging", "resources", "pyproject.toml")
TARGET_MB = 300  # the target for the installed app (du's MB: MiB, as Installed-Size)
DEMO_MODELS = {"iris-classifier", "wine-quality", "diabetes-regressor", "breast-cancer-xgb"}
LEFT_OUT = (
    "sklearn",
    "joblib",
    "psycopg",
    "psycopg_binary",
    "scipy/io",
    "scipy/cluster",
    "uvloop",
    "httptools",
)
"""What packaging/modelbay.spec keeps out of the app (docs/packaging.md says why)."""
APT_ARCHIVES = Path(os.environ.get("MODELBAY_TEST_CACHE", "/var/cache/modelbay-test")) / "apt"

pytestmark = [pytest.mark.integration, pytest.mark.slow, pytest.mark.display]


def _missing_tools() -> list[str]:
    needed = ["dpkg-deb", "dpkg", "readelf", "Xvfb", "xwininfo", "chroot", "debootstrap"]
    return [tool for tool in needed if shutil.which(tool) is None]


def _newest_source() -> float:
    newest = 0.0
    for name in SOURCES:
        path = ROOT / name
        files = [path] if path.is_file() else [p for p in path.rglob("*") if p.is_file()]
        for file in files:
            if "__pycache__" not in file.parts:
                newest = max(newest, file.stat().st_mtime)
    return newest


@pytest.fixture(scope="module")
def deb() -> Path:
    """dist/modelbay_<version>_amd64.deb, built now unless one newer than every source is there."""
    require(os.geteuid() == 0, "root (dpkg -i, chroot and mount need it)")
    missing = _missing_tools()
    require(
        not missing,
        f"{', '.join(missing)} (apt-get install dpkg-dev binutils xvfb x11-utils debootstrap)",
    )
    if DEB.exists() and DEB.stat().st_mtime > _newest_source():
        print(f"reusing {DEB} (newer than the sources)")
        return DEB
    started = time.monotonic()
    built = subprocess.run(
        ["bash", str(ROOT / "packaging" / "debian" / "build-deb.sh")],
        env={**os.environ, "MODELBAY_VENV": sys.prefix},
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=900,
    )
    assert built.returncode == 0, built.stdout[-3000:] + built.stderr[-3000:]
    print(built.stdout)
    print(f"built the .deb in {time.monotonic() - started:.0f} s")
    return DEB


def _dpkg_installed(package: str) -> bool:
    status = subprocess.run(
        ["dpkg-query", "-W", "-f=${Status}", package], capture_output=True, text=True
    )
    return status.returncode == 0 and status.stdout.endswith(" installed")


@pytest.fixture(scope="module")
def installed(deb: Path) -> Iterator[Path]:
    """The package installed on this machine with dpkg -i; purged afterwards."""
    done = subprocess.run(["dpkg", "-i", str(deb)], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
    try:
        yield Path("/usr/bin/modelbay")
    finally:
        subprocess.run(["dpkg", "--purge", "modelbay"], capture_output=True, timeout=300)


@pytest.fixture(scope="module")
def display() -> Iterator[XDisplay | None]:
    try:
        with xvfb_display() as found:
            yield found
    except FileNotFoundError:
        yield None


def _run(args: list[str], env: dict[str, str], timeout: float = 300) -> str:
    done = subprocess.run(args, env=env, capture_output=True, text=True, timeout=timeout)
    assert done.returncode == 0, f"{args}: {done.stdout[-2000:]}{done.stderr[-3000:]}"
    return done.stdout


def _user_env(home: Path) -> dict[str, str]:
    """A user's environment: nothing of the test run's Python leaks into the installed app."""
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("PYTHON", "VIRTUAL_ENV", "QT_", "MODELBAY_", "PYTEST"))
    }
    return {**env, "MODELBAY_HOME": str(home), "MODELBAY_USER": "tester"}


def _screenshot(display: XDisplay, out: Path) -> None:
    """Grab the X screen as another client (tests/ui/screenshot.py); check it is drawn."""
    SHOTS.mkdir(parents=True, exist_ok=True)
    out.unlink(missing_ok=True)
    env = {**os.environ, "DISPLAY": display.name}
    env.pop("QT_QPA_PLATFORM", None)
    _run([sys.executable, "-m", "tests.ui.screenshot", str(out)], env, timeout=60)
    from PySide6.QtGui import QImage

    image = QImage(str(out))
    assert (image.width(), image.height()) == (1280, 800)
    colours = {image.pixel(x, y) for x in range(0, 1280, 16) for y in range(0, 800, 16)}
    assert len(colours) > 8, f"{out.name} looks blank"


def _show_window(
    command: list[str], env: dict[str, str], display: XDisplay, out: Path, log_file: Path
) -> None:
    """Start the installed app on the display, wait for its window, take the picture."""
    app = subprocess.Popen(command, env=env, stderr=subprocess.PIPE, text=True)
    try:
        wait_for_window(display, "Modelbay", timeout=60)
        time.sleep(1.5)  # let it paint
        _screenshot(display, out)
        assert app.poll() is None, "the app exited on its own"
    finally:
        app.terminate()
        _, errors = app.communicate(timeout=30)
    assert "Traceback" not in errors, errors
    assert "Modelbay started" in log_file.read_text(), errors


def test_the_package_is_lean_and_says_what_it_needs(deb: Path) -> None:
    fields = _run(["dpkg-deb", "-f", str(deb)], dict(os.environ))
    control = dict(line.split(": ", 1) for line in fields.splitlines() if ": " in line)
    assert control["Package"] == "modelbay"
    assert control["Version"] == VERSION
    depends = {d.strip() for d in control["Depends"].split(",")}
    for lib in ("libgl1", "libegl1", "libfontconfig1", "libxcb-cursor0", "libxkbcommon-x11-0"):
        assert lib in depends
    installed_mb = int(control["Installed-Size"]) / 1024
    print(f".deb {deb.stat().st_size / 2**20:.0f} MB, installed {installed_mb:.1f} MB")
    assert installed_mb < TARGET_MB, (
        f"the installed app is {installed_mb:.1f} MB: see docs/packaging.md for what it holds"
    )
    listing = _run(["dpkg-deb", "-c", str(deb)], dict(os.environ))
    contents = {line.split()[5] for line in listing.splitlines()}  # mode owner size date time path
    for path in (
        "./usr/bin/modelbay",
        "./usr/share/applications/modelbay.desktop",
        "./usr/share/icons/hicolor/scalable/apps/modelbay.svg",
        "./opt/modelbay/modelbay",
        "./opt/modelbay/_internal/app/serving/server.py",
        "./opt/modelbay/_internal/app/registry/migrations/env.py",
        "./opt/modelbay/_internal/resources/icons/modelbay.svg",
        "./opt/modelbay/_internal/app/demo_files/index.json",  # the demo, made at build time
    ):
        assert path in contents, path
    for library in ("torch", "xgboost", *LEFT_OUT):
        prefix = f"./opt/modelbay/_internal/{library}/"
        assert not any(path.startswith(prefix) for path in contents), library


def test_installed_with_dpkg_it_runs_the_cli_and_a_real_window(
    installed: Path, display: XDisplay | None, tmp_path: Path
) -> None:
    require(display is not None, "an X server (apt-get install xvfb x11-utils)")
    assert display is not None
    home = tmp_path / "home"
    env = _user_env(home)
    assert _run([str(installed), "--version"], env).strip() == f"modelbay {VERSION}"
    started = time.monotonic()
    _run([str(installed), "demo"], env)
    listed = json.loads(_run([str(installed), "list", "--json"], env))
    names = {row["name"] for row in listed}
    assert names == DEMO_MODELS, names  # copied from the build's files: no scikit-learn here
    print(f"modelbay demo from the .deb: {time.monotonic() - started:.1f} s, models {names}")
    env_x = {**env, "DISPLAY": display.name}
    _show_window(
        [str(installed)],
        env_x,
        display,
        SHOTS / "installed-app.png",
        home / "logs" / "modelbay.log",
    )


def test_the_installed_app_builds_an_image(
    installed: Path, base_image: str, tmp_path: Path, docker_client: object
) -> None:
    """The frozen app copies its serving runtime into a build context and builds with Docker.

    Fetching the model's wheels needs a ``python3 -m pip`` on PATH (app/build/wheelhouse.py);
    the test's own interpreter stands in for the user's."""
    home = tmp_path / "home"
    env = _user_env(home)
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    _run([str(installed), "demo"], env)
    started = time.monotonic()
    out = _run(
        [str(installed), "build", "iris-classifier:1", "--base-image", base_image, "--json"],
        env,
        timeout=600,
    )
    result = json.loads(out)
    print(f"frozen `modelbay build`: {time.monotonic() - started:.0f} s -> {result}")
    assert result["tag"] == "modelbay/iris-classifier:1", result
    assert result["status"] == "verified", result  # built, then smoke-tested: it answered
    assert result["smoke"]["ok"], result["smoke"]


def _drift_tables(folder: Path) -> tuple[Path, Path]:
    """Two small CSVs whose columns get each scipy statistic the app uses: KS (a number),
    Jensen-Shannon (a number, by --test), chi-square (three categories), z (two)."""
    tables = []
    for name, shift, rows, seed in (("reference", 0, 300, 1), ("current", 8, 200, 2)):
        rng = random.Random(seed)
        colours = ["red", "green", "blue"] + ["red"] * (shift > 0)
        path = folder / f"{name}.csv"
        with path.open("w", newline="") as stream:
            out = csv.writer(stream)
            out.writerow(["age", "income", "colour", "member"])
            for _ in range(rows):
                out.writerow(
                    [
                        round(rng.gauss(40 + shift, 10), 1),
                        round(rng.gauss(50_000 + shift * 1000, 8000)),
                        rng.choice(colours),
                        rng.choice(["yes", "no"]),
                    ]
                )
        tables.append(path)
    return tables[0], tables[1]


DRIFT_ARGS = ["drift", "compare", "--test", "income=jensenshannon", "--json"]


def _assert_drift_report(out: str) -> dict[str, dict[str, object]]:
    columns = {c["column"]: c for c in json.loads(out)["columns"]}
    tests = {name: column["test"] for name, column in columns.items()}
    assert tests == {"age": "ks", "income": "jensenshannon", "colour": "chisquare", "member": "z"}
    assert columns["age"]["drifted"]
    assert columns["colour"]["drifted"]
    return columns


def test_the_installed_app_measures_drift_as_the_source_does(
    installed: Path, tmp_path: Path
) -> None:
    """scipy.stats and scipy.spatial work in the app with what the spec leaves out of scipy
    (scipy.io, scipy.cluster) and with scipy's libgfortran shared with numpy's (build-deb.sh)."""
    reference, current = _drift_tables(tmp_path)
    env = _user_env(tmp_path / "home")
    frozen = _assert_drift_report(
        _run([str(installed), *DRIFT_ARGS, str(reference), str(current)], env)
    )
    source = _assert_drift_report(
        _run(
            [
                sys.executable,
                "-c",
                "import sys; from app.cli import main; sys.exit(main())",
                *DRIFT_ARGS,
                str(reference),
                str(current),
            ],
            {**os.environ, "MODELBAY_HOME": str(tmp_path / "source-home")},
        )
    )
    for name, column in source.items():
        for figure in ("statistic", "p_value", "psi"):  # p_value: None for a distance
            expected = column[figure]
            expected = expected if expected is None else pytest.approx(expected, rel=1e-9)
            assert frozen[name][figure] == expected, (name, figure)


def test_a_postgresql_registry_is_refused_with_the_reason(installed: Path, tmp_path: Path) -> None:
    """The app carries no PostgreSQL driver (the spec leaves psycopg out): one error line."""
    env = {
        **_user_env(tmp_path / "home"),
        "MODELBAY_DATABASE_URL": "postgresql+psycopg://modelbay@127.0.0.1:1/registry",
    }
    done = subprocess.run(
        [str(installed), "list"], env=env, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 1, done.stdout + done.stderr
    assert done.stderr.startswith(
        "error: the database driver for postgresql+psycopg is not installed (psycopg)"
    ), done.stderr
    assert "Traceback" not in done.stderr


def test_the_installed_app_says_it_cannot_serve_scikit_learn_here(
    installed: Path, tmp_path: Path
) -> None:
    """scikit-learn is left out of the app (docs/packaging.md): `modelbay serve` of a
    scikit-learn model refuses at once, in words, and points at images, instead of a
    server whose /health fails. Putting scikit-learn back makes this test fail: then it
    should serve."""
    env = _user_env(tmp_path / "home")
    _run([str(installed), "demo"], env)
    done = subprocess.run(
        [str(installed), "serve", "iris-classifier:1"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 1, done.stdout + done.stderr
    assert done.stderr.startswith("error: serving iris-classifier:1"), done.stderr
    assert "needs joblib, scikit-learn" in done.stderr, done.stderr
    assert "modelbay build iris-classifier:1" in done.stderr, done.stderr
    assert "Traceback" not in done.stderr, done.stderr


def test_removed_cleanly(installed: Path) -> None:
    done = subprocess.run(["dpkg", "--purge", "modelbay"], capture_output=True, text=True)
    assert done.returncode == 0, done.stdout + done.stderr
    assert not _dpkg_installed("modelbay")
    for gone in (
        installed,
        Path("/opt/modelbay"),
        Path("/usr/share/applications/modelbay.desktop"),
        Path("/usr/share/icons/hicolor/scalable/apps/modelbay.svg"),
    ):
        assert not gone.exists(), f"{gone} is left after dpkg --purge"


# ---------------------------------------------------------------------- a bare Debian
def _mounts_under(root: Path) -> list[str]:
    prefix = str(root) + "/"
    with open("/proc/mounts", encoding="utf-8") as mounts:
        return [line.split()[1] for line in mounts if line.split()[1].startswith(prefix)]


@pytest.fixture
def bare_root(tmp_path: Path) -> Iterator[Path]:
    """debootstrap --variant=minbase bookworm (cached as a tarball), with /proc, /dev, the X
    socket folder and a persistent apt download cache mounted in; all unmounted afterwards."""
    made = subprocess.run(
        ["bash", str(ROOT / "packaging" / "debian" / "bare-root.sh")],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert made.returncode == 0, made.stderr[-3000:]
    tarball = made.stdout.strip().splitlines()[-1]
    root = tmp_path / "bare"
    root.mkdir()
    subprocess.run(["tar", "-C", str(root), "-xf", tarball], check=True)
    shutil.copy("/etc/resolv.conf", root / "etc" / "resolv.conf")
    (APT_ARCHIVES / "partial").mkdir(parents=True, exist_ok=True)
    (root / "tmp" / ".X11-unix").mkdir(parents=True, exist_ok=True)
    binds = [
        (["-t", "proc", "proc"], root / "proc"),
        (["--bind", "/dev"], root / "dev"),
        (["--bind", "/tmp/.X11-unix"], root / "tmp" / ".X11-unix"),
        (["--bind", str(APT_ARCHIVES)], root / "var" / "cache" / "apt" / "archives"),
    ]
    try:
        for how, where in binds:
            subprocess.run(["mount", *how, str(where)], check=True)
        yield root
    finally:
        for _how, where in reversed(binds):
            subprocess.run(["umount", "-l", str(where)], check=False, capture_output=True)
        left = _mounts_under(root)
        assert not left, f"still mounted, not deleting {root}: {left}"
        shutil.rmtree(root, ignore_errors=True)


def test_in_a_bare_debian_apt_finds_every_dependency_and_the_app_starts(
    deb: Path, bare_root: Path, display: XDisplay | None
) -> None:
    require(display is not None, "an X server (apt-get install xvfb x11-utils)")
    assert display is not None
    env = {
        "PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
        "HOME": "/root",
        "LANG": "C.UTF-8",
        "DEBIAN_FRONTEND": "noninteractive",
    }
    chroot = ["chroot", str(bare_root)]
    assert not (bare_root / "usr" / "bin" / "python3").exists(), "the root is not bare"
    shutil.copy(deb, bare_root / "tmp" / deb.name)
    started = time.monotonic()
    _run([*chroot, "apt-get", "update", "-q"], env, timeout=300)
    _run(
        [*chroot, "apt-get", "install", "-y", "-q", "--no-install-recommends", f"/tmp/{deb.name}"],
        env,
        timeout=600,
    )
    print(f"apt-get install of the .deb in a bare Debian: {time.monotonic() - started:.0f} s")
    assert _run([*chroot, "modelbay", "--version"], env).strip() == f"modelbay {VERSION}"
    assert "usage: modelbay" in _run(
        [*chroot, "env", "QT_QPA_PLATFORM=offscreen", "modelbay", "--help"], env
    )
    # The demo (numpy's OpenBLAS, SQLite, Alembic, the demo files), drift (scipy and its
    # OpenBLAS) and then the real thing: the window on X, the xcb libraries from the Depends only.
    home = "/tmp/home"
    env_x = {**env, "DISPLAY": display.name, "MODELBAY_HOME": home, "MODELBAY_USER": "tester"}
    _run([*chroot, "modelbay", "demo"], env_x)
    _drift_tables(bare_root / "tmp")  # scipy and its OpenBLAS, with no system libraries but Depends
    _assert_drift_report(
        _run([*chroot, "modelbay", *DRIFT_ARGS, "/tmp/reference.csv", "/tmp/current.csv"], env_x)
    )
    _show_window(
        [*chroot, "modelbay"],
        env_x,
        display,
        SHOTS / "installed-app-bare-debian.png",
        bare_root / home.lstrip("/") / "logs" / "modelbay.log",
    )
