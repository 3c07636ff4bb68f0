"""A registry with two built versions of one model and the test host added, trusted, emptied."""

from __future__ import annotations

import contextlib
import http.client
import json
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from app.build.service import BuildOptions, build_image
from app.config import Config
from app.deploy.service import open_tunnel
from app.registry import Registry
from tests.formats import makers
from tests.remote.conftest import _own_ssh_environment, add_test_host, forget_images  # noqa: F401
from tests.remote_host import RemoteHost
from tests.serving.conftest import IRIS_COLUMNS, IRIS_ROWS

HOST = "test-host"
PREDICT = json.dumps({"dataframe_split": {"columns": IRIS_COLUMNS, "data": IRIS_ROWS}}).encode()


@pytest.fixture(scope="session")
def shared_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("build-cache")


@pytest.fixture
def deploy_config(tmp_path: Path, shared_cache: Path) -> Config:
    config = Config.at(tmp_path / "home")
    config.home.mkdir(parents=True)
    config.cache_dir.symlink_to(shared_cache, target_is_directory=True)
    return config


@pytest.fixture
def deploy_registry(
    deploy_config: Config, remote_host: RemoteHost, base_image: str, tmp_path: Path
) -> Iterator[Registry]:
    """iris:1 and iris:2 (the same model, stored differently), both built; the host empty."""
    registry = Registry.open(deploy_config)
    registry.import_path(makers.sklearn_joblib(tmp_path / "a"), name="iris")
    registry.import_path(makers.sklearn_joblib(tmp_path / "b", compress="gzip"), name="iris")
    options = BuildOptions(base_image=base_image, smoke_test=False)
    for ref in ("iris:1", "iris:2"):
        assert build_image(registry, ref, options, config=deploy_config).status == "built"
    add_test_host(registry, remote_host, HOST)
    forget_containers(remote_host)
    try:
        yield registry
    finally:
        registry.close()
        forget_containers(remote_host)


def forget_containers(remote: RemoteHost) -> None:
    """Remove every container on the host (images stay: shipping them again is slow)."""
    ids = remote.docker("ps", "-aq").stdout.split()
    if ids:
        remote.docker("rm", "-f", *ids, check=False)


def containers(remote: RemoteHost, service: str) -> dict[str, dict[str, str]]:
    """name -> labels of the service's containers on the host."""
    out = remote.docker(
        "ps", "-a", "--filter", f"label=modelbay.service={service}", "--format", "{{.Names}}"
    ).stdout.split()
    found = {}
    for name in out:
        labels = remote.docker("inspect", name, "--format", "{{json .Config.Labels}}").stdout
        found[name] = json.loads(labels)
    return found


def predict(url: str, *, token: str | None = None) -> tuple[int, dict[str, str], Any]:
    headers = {"Content-Type": "application/json"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    request = urllib.request.Request(f"{url}/invocations", data=PREDICT, headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=30) as answer:
            return answer.status, _lower(answer.headers), json.loads(answer.read())
    except urllib.error.HTTPError as exc:
        return exc.code, _lower(exc.headers), json.loads(exc.read() or b"null")


def _lower(headers: Any) -> dict[str, str]:
    return {key.lower(): value for key, value in headers.items()}


@contextlib.contextmanager
def tunnel(registry: Registry, address: str) -> Iterator[str]:
    with open_tunnel(registry, address) as (forward, _status):
        yield forward.url


def serving_version(registry: Registry, address: str) -> str:
    with tunnel(registry, address) as url:
        status, headers, body = predict(url)
    assert status == 200, body
    return headers["x-model-version"]


def wait_until(check: Any, timeout: float = 30.0, what: str = "") -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.1)


@dataclass
class Client:
    """Predictions in a loop: a new connection each time, or one kept-alive connection."""

    url: str
    keep_alive: bool
    ok: int = 0
    failed: list[str] = field(default_factory=list)
    versions: list[str] = field(default_factory=list)  # each change of answering version

    def run(self, stop: threading.Event) -> None:
        parts = urllib.parse.urlsplit(self.url)
        connection: http.client.HTTPConnection | None = None
        while not stop.is_set():
            if connection is None or not self.keep_alive:
                connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=30)
            try:
                connection.request(
                    "POST", "/invocations", PREDICT, {"Content-Type": "application/json"}
                )
                answer = connection.getresponse()
                answer.read()
                if answer.status == 200:
                    self.ok += 1
                    version = answer.getheader("x-model-version") or "?"
                    if not self.versions or self.versions[-1] != version:
                        self.versions.append(version)
                else:
                    self.failed.append(f"HTTP {answer.status}")
                if answer.getheader("connection", "").lower() == "close":
                    connection.close()
                    connection = None
            except (OSError, http.client.HTTPException) as exc:
                self.failed.append(f"{type(exc).__name__}: {exc}")
                connection.close()
                connection = None
            if not self.keep_alive and connection is not None:
                connection.close()
            time.sleep(0.005)
        if connection is not None:
            connection.close()

    def describe(self) -> str:
        kind = "keep-alive" if self.keep_alive else "new connection each"
        return f"{kind}: {self.ok} ok, {len(self.failed)} failed {self.failed[:3]}"
