"""Resolve an image's Python dependencies on the desktop into a hash-pinned wheelhouse.

``pip download`` runs here, with the user's own pip configuration (index, extra
index, certificates, proxy), for the *image's* Python and platform. Every
wheel's SHA-256 goes into a lock file that the image installs with
``pip install --no-index --require-hashes``: the image build needs no network.

Locks and wheels are cached in the user's cache folder. A lock is keyed by the
requirements and the target; a second build with the same key reuses the lock
and its wheels without asking the index anything, so rebuilds are offline and
install exactly the same releases.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from app.errors import Cancelled, InvalidInputError, ModelbayError
from app.progress import NEVER_CANCELLED, CancelToken

from .requirements import Requirement

LOCK_SCHEMA = 1
_Log = Callable[[str], None]


@dataclass(frozen=True)
class Target:
    """The Python inside a base image, as pip's --platform/--python-version flags need it."""

    python: str  # "3.11"
    machine: str  # "x86_64"
    libc: str  # "glibc" or "musl"
    libc_version: str  # "2.36"

    @property
    def platforms(self) -> list[str]:
        """Every platform tag a wheel may carry to run here, best first (pip does not
        widen a manylinux_X_Y given with --platform to the older ones itself)."""
        major, minor = (int(part) for part in self.libc_version.split(".")[:2])
        arch = self.machine
        tags = []
        if self.libc == "musl":
            tags = [f"musllinux_{major}_{m}_{arch}" for m in range(minor, -1, -1)]
        else:
            legacy = {17: "manylinux2014", 12: "manylinux2010", 5: "manylinux1"}
            for m in range(minor, 4, -1):
                tags.append(f"manylinux_{major}_{m}_{arch}")
                if m in legacy:
                    tags.append(f"{legacy[m]}_{arch}")
        return [*tags, f"linux_{arch}"]

    @property
    def abi(self) -> str:
        return "cp" + self.python.replace(".", "")

    def describe(self) -> str:
        return f"CPython {self.python}, {self.libc} {self.libc_version}, {self.machine}"

    def to_json(self) -> dict[str, str]:
        return {
            "python": self.python,
            "machine": self.machine,
            "libc": self.libc,
            "libc_version": self.libc_version,
        }


# Run in the base image (python3 -c) to learn its Target.
PROBE_SCRIPT = (
    "import json, platform, sys; lib, ver = platform.libc_ver(); "
    "print(json.dumps({'python': '%d.%d' % sys.version_info[:2], 'machine': platform.machine(), "
    "'libc': 'glibc' if lib == 'glibc' else 'musl', 'libc_version': ver or '1.2'}))"
)


@dataclass(frozen=True)
class LockedWheel:
    name: str
    version: str
    filename: str
    sha256: str
    size: int


@dataclass(frozen=True)
class Lock:
    """The resolved dependencies of one image: text for pip plus what it names."""

    text: str
    sha256: str
    wheels: tuple[LockedWheel, ...]
    requirements: tuple[Requirement, ...]
    target: Target
    reused: bool  # True when it came from the cache without asking the index

    def version_of(self, name: str) -> str | None:
        wanted = _normalise(name)
        return next((w.version for w in self.wheels if _normalise(w.name) == wanted), None)


class Wheelhouse:
    """The cache of locks and wheels (``CACHE/wheels``, ``CACHE/locks``)."""

    def __init__(self, cache_dir: Path) -> None:
        self.root = cache_dir
        self.wheels = cache_dir / "wheels"
        self.locks = cache_dir / "locks"

    def lock(
        self,
        requirements: Sequence[Requirement],
        target: Target,
        *,
        refresh: bool = False,
        log: _Log | None = None,
        cancel: CancelToken = NEVER_CANCELLED,
    ) -> Lock:
        """The lock for ``requirements`` on ``target``: cached, or resolved with pip now."""
        say = log or (lambda line: None)
        key = _lock_key(requirements, target)
        path = self.locks / f"{key}.json"
        self.wheels.mkdir(parents=True, exist_ok=True)
        self.locks.mkdir(parents=True, exist_ok=True)
        with _locked(self.root / ".lock"):
            if not refresh and path.exists():
                cached = self._read(path, requirements, target)
                if cached is not None:
                    say(f"dependencies: reusing lock {cached.sha256[:12]} (no index needed)")
                    return cached
            say(f"dependencies: resolving for {target.describe()} with pip")
            wheels = self._download(requirements, target, say, cancel)
            lock = _make_lock(wheels, requirements, target)
            record = {
                "schema": LOCK_SCHEMA,
                "text": lock.text,
                "target": target.to_json(),
                "requirements": [r.to_json() for r in requirements],
                "wheels": [w.__dict__ for w in lock.wheels],
            }
            _write_atomically(path, json.dumps(record, indent=2).encode())
            return lock

    def wheel_path(self, wheel: LockedWheel) -> Path:
        return self.wheels / wheel.filename

    def _read(self, path: Path, requirements: Sequence[Requirement], target: Target) -> Lock | None:
        try:
            record = json.loads(path.read_text(encoding="utf-8"))
            wheels = tuple(LockedWheel(**w) for w in record["wheels"])
        except (OSError, ValueError, KeyError, TypeError):
            return None
        for wheel in wheels:  # a wheel removed or damaged since: resolve again
            candidate = self.wheel_path(wheel)
            if not candidate.is_file() or candidate.stat().st_size != wheel.size:
                return None
        text = str(record["text"])
        return Lock(
            text=text,
            sha256=hashlib.sha256(text.encode()).hexdigest(),
            wheels=wheels,
            requirements=tuple(requirements),
            target=target,
            reused=True,
        )

    def _download(
        self, requirements: Sequence[Requirement], target: Target, say: _Log, cancel: CancelToken
    ) -> list[Path]:
        # A fresh folder per resolution: what pip leaves in it is exactly the resolved set.
        with tempfile.TemporaryDirectory(prefix="resolve-", dir=self.root) as scratch:
            command = [
                *pip_command(),
                "download",
                "--disable-pip-version-check",
                "--no-input",
                "--progress-bar",
                "off",
                "--only-binary=:all:",
                "--python-version",
                target.python,
                "--implementation",
                "cp",
                "--abi",
                target.abi,
                *[flag for platform in target.platforms for flag in ("--platform", platform)],
                "--dest",
                scratch,
                *[r.line for r in requirements],
            ]
            _run(command, say, cancel)
            paths = []
            for downloaded in sorted(Path(scratch).glob("*.whl")):
                kept = self.wheels / downloaded.name
                if not kept.exists():
                    os.replace(downloaded, kept)
                paths.append(kept)
            if not paths:
                raise ModelbayError("pip resolved the image's dependencies to no wheels at all")
            return paths


def pip_command() -> list[str]:
    """How to run pip: this interpreter's, or (in the frozen app) a python3 on PATH."""
    if not getattr(sys, "frozen", False):
        return [sys.executable, "-m", "pip"]
    python = shutil.which("python3") or shutil.which("python")
    if python is None:
        raise ModelbayError(
            "building an image needs Python's pip to fetch the model's dependencies, and no "
            "python3 was found on PATH",
            hint="install Python 3 (with pip) and try again",
        )
    return [python, "-m", "pip"]


def _run(command: list[str], say: _Log, cancel: CancelToken) -> None:
    lines: list[str] = []
    with subprocess.Popen(
        command,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env={**os.environ, "PIP_NO_INPUT": "1"},
    ) as process:
        assert process.stdout is not None
        try:
            for line in process.stdout:
                lines.append(line.rstrip())
                if line.startswith(("Collecting", "Downloading", "Saved", "File was already")):
                    say("pip: " + line.strip())
                if cancel.cancelled:
                    raise Cancelled()
        finally:
            if process.poll() is None and cancel.cancelled:
                process.terminate()
    if process.returncode != 0:
        raise _pip_failed(lines)


def _pip_failed(lines: list[str]) -> ModelbayError:
    errors = [line for line in lines if line.startswith("ERROR")] or lines[-5:]
    text = "\n".join(errors)
    if "No matching distribution" in text or "Could not find a version" in text:
        return InvalidInputError(
            "pip found no wheel for a dependency of this image: "
            + errors[0].removeprefix("ERROR: "),
            hint="the pinned release may not exist for the base image's Python; pick a base "
            "image with an older or newer Python (--base-image), or check your pip index "
            "settings (pip config list)",
        )
    if any(
        word in text for word in ("NewConnectionError", "ConnectTimeout", "SSLError", "ProxyError")
    ):
        return ModelbayError(
            "pip could not reach the package index to fetch the image's dependencies",
            hint="check your network, proxy and pip settings (pip config list); a build "
            "whose dependencies were fetched once before works offline",
        )
    return ModelbayError("pip could not fetch the image's dependencies:\n" + text)


def _make_lock(paths: list[Path], requirements: Sequence[Requirement], target: Target) -> Lock:
    from packaging.utils import parse_wheel_filename

    wheels = []
    for path in sorted(paths, key=lambda p: p.name.lower()):
        name, version, _, _ = parse_wheel_filename(path.name)
        wheels.append(
            LockedWheel(
                name=str(name),
                version=str(version),
                filename=path.name,
                sha256=_sha256(path),
                size=path.stat().st_size,
            )
        )
    header = [
        "# Modelbay image dependencies: installed with",
        "#   pip install --no-index --find-links wheels --require-hashes -r requirements.lock",
        f"# target: {target.describe()}",
        "# asked for: " + " ".join(r.line for r in requirements),
    ]
    body = [f"{w.name}=={w.version} \\\n    --hash=sha256:{w.sha256}" for w in wheels]
    text = "\n".join(header + body) + "\n"
    return Lock(
        text=text,
        sha256=hashlib.sha256(text.encode()).hexdigest(),
        wheels=tuple(wheels),
        requirements=tuple(requirements),
        target=target,
        reused=False,
    )


def _lock_key(requirements: Sequence[Requirement], target: Target) -> str:
    identity = {
        "schema": LOCK_SCHEMA,
        "requirements": sorted(r.line for r in requirements),
        "target": target.to_json(),
    }
    return hashlib.sha256(json.dumps(identity, sort_keys=True).encode()).hexdigest()[:24]


def _sha256(path: Path) -> str:
    with path.open("rb") as stream:
        return hashlib.file_digest(stream, "sha256").hexdigest()


def _normalise(name: str) -> str:
    return name.lower().replace("_", "-").replace(".", "-")


def _write_atomically(path: Path, data: bytes) -> None:
    temp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with temp.open("wb") as stream:
        stream.write(data)
        stream.flush()
        os.fsync(stream.fileno())
    os.replace(temp, path)


@contextmanager
def _locked(path: Path) -> Iterator[None]:
    """One resolver at a time per cache (two builds share the wheel folder)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)
