"""Image builds against the real Docker daemon, on the local base image the test setup makes.

Every test gets its own registry (data home), but the wheel cache is shared by
the session (a symlink in each data home), as one user's cache is shared by
their builds: only the first build of a dependency set asks pip's index.
"""

from __future__ import annotations

import contextlib
import json
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from app.config import Config
from app.registry import Registry

if TYPE_CHECKING:
    from docker import DockerClient
    from docker.models.containers import Container


@pytest.fixture(scope="session")
def shared_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("build-cache")


@pytest.fixture
def build_config(tmp_path: Path, shared_cache: Path) -> Config:
    config = Config.at(tmp_path / "home")
    config.home.mkdir(parents=True)
    config.cache_dir.symlink_to(shared_cache, target_is_directory=True)
    return config


@pytest.fixture
def build_registry(build_config: Config) -> Iterator[Registry]:
    with Registry.open(build_config) as registry:
        yield registry


@contextlib.contextmanager
def running(client: DockerClient, image: str, timeout: float = 90) -> Iterator[str]:
    """Run ``image`` on a loopback port until /health answers; yield its base URL."""
    container: Container = client.containers.run(
        image, detach=True, ports={"8000/tcp": ("127.0.0.1", None)}
    )
    try:
        deadline = time.monotonic() + timeout
        url = ""
        while True:
            container.reload()
            assert container.status not in {"exited", "dead"}, container.logs().decode()
            ports = container.attrs["NetworkSettings"]["Ports"].get("8000/tcp") or []
            if ports:
                url = f"http://127.0.0.1:{ports[0]['HostPort']}"
                with (
                    contextlib.suppress(OSError),
                    urllib.request.urlopen(url + "/health", timeout=2) as answer,
                ):
                    if answer.status == 200:
                        break
            assert time.monotonic() < deadline, container.logs().decode()
            time.sleep(0.2)
        yield url
    finally:
        container.remove(force=True)


def post_json(url: str, body: dict[str, Any]) -> tuple[int, dict[str, Any], dict[str, str]]:
    request = urllib.request.Request(
        url, data=json.dumps(body).encode(), headers={"Content-Type": "application/json"}
    )
    with urllib.request.urlopen(request, timeout=30) as answer:
        return answer.status, json.loads(answer.read()), dict(answer.headers)


def get_json(url: str) -> dict[str, Any]:
    with urllib.request.urlopen(url, timeout=10) as answer:
        return dict(json.loads(answer.read()))


@contextlib.contextmanager
def image_of_files(client: DockerClient, name: str, files: dict[str, bytes]) -> Iterator[str]:
    """A small local image built from ``files`` (a ``Dockerfile`` among them), tagged
    ``modelbay-test/NAME:<random>``, never pulled; removed afterwards."""
    import io
    import secrets
    import tarfile

    tag = f"modelbay-test/{name}:{secrets.token_hex(4)}"
    context = io.BytesIO()
    with tarfile.open(fileobj=context, mode="w") as tar:
        for path, data in files.items():
            entry = tarfile.TarInfo(path)
            entry.size = len(data)
            tar.addfile(entry, io.BytesIO(data))
    context.seek(0)
    image, _log = client.images.build(
        fileobj=context, custom_context=True, tag=tag, pull=False, rm=True
    )
    try:
        yield tag
    finally:
        client.images.remove(str(image.id), force=True)
