"""Shipping real images to the test host's own Docker daemon, and running them there.

The first ship sends every layer; a new version of the same model sends only
its model layer; a ship cut halfway leaves the host without the image and the
next one succeeds.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from app.build.layers import LayerCache
from app.build.service import BuildOptions, build_image
from app.config import Config
from app.errors import Cancelled, ConflictError
from app.progress import CancelToken
from app.registry import Registry
from app.remote.docker_remote import RemoteDockerError
from app.remote.ship import ShipFailed, ship
from tests.formats import makers
from tests.remote.conftest import add_test_host, forget_images
from tests.remote_host import RemoteHost
from tests.serving.conftest import IRIS_COLUMNS, IRIS_ROWS

if TYPE_CHECKING:
    from docker import DockerClient

pytestmark = pytest.mark.integration


@pytest.fixture
def shipping_registry(
    build_config: Config, remote_host: RemoteHost, base_image: str, tmp_path: Path
) -> Registry:
    registry = Registry.open(build_config)
    registry.import_path(makers.sklearn_joblib(tmp_path / "a"), name="iris")
    registry.import_path(makers.sklearn_joblib(tmp_path / "b", compress="gzip"), name="iris")
    options = BuildOptions(base_image=base_image, smoke_test=False)
    for ref in ("iris:1", "iris:2"):
        assert build_image(registry, ref, options, config=build_config).status == "built"
    add_test_host(registry, remote_host)
    forget_images(remote_host)
    return registry


def _remote_images(remote: RemoteHost) -> set[str]:
    return set(remote.docker("images", "-q", "--no-trunc").stdout.split())


def test_ship_sends_everything_first_then_only_the_new_model_layer(
    shipping_registry: Registry, remote_host: RemoteHost, docker_client: object
) -> None:
    registry = shipping_registry
    progress: list[tuple[int, int | None, str]] = []
    log: list[str] = []
    first = ship(
        registry,
        "iris:1",
        "test-host",
        log=log.append,
        progress=lambda d, t, m: progress.append((d, t, m)),
    )
    sending = f"sending {first.layers_total} layers and the image configuration"
    assert any(sending in line for line in log)  # from the cache: no `docker save`
    assert first.layers_sent == first.layers_total
    assert first.bytes_sent > 200_000_000  # the dependencies' layer travels once
    assert first.image_id in _remote_images(remote_host)
    assert progress
    assert "MB/s" in progress[-1][2]
    assert "left" in progress[-1][2]

    log.clear()
    second = ship(registry, "iris:2", "test-host", log=log.append)
    assert any("sending 1 layer and the image configuration" in line for line in log)
    assert second.layers_sent == 1
    assert second.layers_total == first.layers_total
    model_layer = 1_000_000  # the model's files and metadata: well under a megabyte here
    assert second.bytes_sent < model_layer + 1_000_000
    assert second.image_id in _remote_images(remote_host)
    tags = remote_host.docker(
        "image", "inspect", second.image_id, "--format", "{{json .RepoTags}}"
    ).stdout
    assert "modelbay/iris:2" in json.loads(tags)

    again = ship(registry, "iris:2", "test-host")
    assert (again.already_there, again.bytes_sent) == (True, 0)
    assert registry.history("iris")[-1].action == "image.shipped"


def test_without_the_cached_model_layer_a_new_version_still_sends_only_that_layer(
    shipping_registry: Registry, remote_host: RemoteHost, build_config: Config
) -> None:
    registry = shipping_registry
    ship(registry, "iris:1", "test-host")
    second = registry.builds("iris:2")[0]
    assert second.image_id is not None
    shutil.rmtree(build_config.cache_dir / "images" / second.image_id.split(":")[1])
    log: list[str] = []
    result = ship(registry, "iris:2", "test-host", log=log.append)  # through `docker save`
    assert not any("the image configuration" in line for line in log)
    assert (result.layers_sent, result.image_id) == (1, second.image_id)
    assert result.bytes_sent < 2_000_000
    assert result.image_id in _remote_images(remote_host)


@pytest.fixture
def runtime_layers(build_config: Config) -> Iterator[Path]:
    """The shared cache's runtime layer files, put back as they were after the test."""
    layers = LayerCache(build_config.cache_dir).root
    saved = layers.with_name("layers.saved")
    shutil.copytree(layers, saved)
    try:
        yield layers
    finally:
        shutil.rmtree(layers)
        saved.rename(layers)


def test_without_the_runtime_layers_cached_the_first_ship_goes_through_docker_save(
    shipping_registry: Registry, remote_host: RemoteHost, runtime_layers: Path
) -> None:
    for path in runtime_layers.glob("*.tar"):
        path.unlink()
    log: list[str] = []
    result = ship(shipping_registry, "iris:1", "test-host", log=log.append)
    assert not any("the image configuration" in line for line in log)
    assert any("MB to send" in line for line in log)  # the `docker save` filter's words
    assert result.layers_sent == result.layers_total
    assert result.image_id in _remote_images(remote_host)


def test_a_damaged_cached_layer_is_removed_and_the_ship_goes_through_docker_save(
    shipping_registry: Registry,
    remote_host: RemoteHost,
    runtime_layers: Path,
    docker_client: DockerClient,
) -> None:
    build = shipping_registry.builds("iris:1")[0]
    assert build.image_id is not None
    chain = docker_client.images.get(build.image_id).attrs["RootFS"]["Layers"]
    layers = LayerCache(runtime_layers.parent)
    damaged = min((layers.path(d) for d in chain[:-1]), key=lambda path: path.stat().st_size)
    data = bytearray(damaged.read_bytes())
    data[len(data) // 2] ^= 0xFF  # flipped bits in the middle, as a failing disk would
    damaged.write_bytes(bytes(data))
    log: list[str] = []
    result = ship(shipping_registry, "iris:1", "test-host", log=log.append)
    assert any("the image configuration" in line for line in log)  # tried the cache first
    assert any("no longer matched their hash and were removed" in line for line in log)
    assert not damaged.exists()
    assert result.image_id == build.image_id
    assert result.image_id in _remote_images(remote_host)


def test_the_shipped_image_serves_on_the_host(
    shipping_registry: Registry, remote_host: RemoteHost
) -> None:
    result = ship(shipping_registry, "iris:1", "test-host")
    remote_host.docker(
        "run", "-d", "--name", "iris-served", "-p", "127.0.0.1:18080:8000", result.tag
    )
    try:
        with remote_host.port_forward(18080) as port:
            deadline = time.monotonic() + 60
            body = json.dumps(
                {"dataframe_split": {"columns": IRIS_COLUMNS, "data": IRIS_ROWS}}
            ).encode()
            while True:
                try:
                    request = urllib.request.Request(
                        f"http://127.0.0.1:{port}/invocations",
                        data=body,
                        headers={"Content-Type": "application/json"},
                    )
                    with urllib.request.urlopen(request, timeout=5) as answer:
                        predictions = json.loads(answer.read())["predictions"]
                        break
                except OSError:
                    assert time.monotonic() < deadline, remote_host.docker(
                        "logs", "iris-served", check=False
                    ).stderr
                    time.sleep(0.3)
        assert len(predictions) == 3
    finally:
        remote_host.docker("rm", "-f", "iris-served", check=False)


def test_a_cancelled_ship_leaves_nothing_and_the_next_one_works(
    shipping_registry: Registry, remote_host: RemoteHost
) -> None:
    cancel = CancelToken()

    def progress(done: int, total: int | None, _message: str) -> None:
        if total and done > total // 3:
            cancel.cancel()

    with pytest.raises(Cancelled):
        ship(shipping_registry, "iris:1", "test-host", progress=progress, cancel=cancel)
    time.sleep(1)
    assert _remote_images(remote_host) == set()  # no half-loaded image
    result = ship(shipping_registry, "iris:1", "test-host")
    assert result.image_id in _remote_images(remote_host)


def test_a_cancelled_new_version_leaves_the_host_as_it_was(
    shipping_registry: Registry, remote_host: RemoteHost
) -> None:
    registry = shipping_registry
    ship(registry, "iris:1", "test-host")
    before = _remote_images(remote_host)
    cancel = CancelToken()
    log: list[str] = []
    with pytest.raises(Cancelled):  # cut after the archive's first piece
        ship(
            registry,
            "iris:2",
            "test-host",
            log=log.append,
            progress=lambda d, t, m: cancel.cancel(),
            cancel=cancel,
        )
    assert any("the image configuration" in line for line in log)  # the cache's archive
    time.sleep(1)
    assert _remote_images(remote_host) == before
    result = ship(registry, "iris:2", "test-host")
    assert result.layers_sent == 1
    assert result.image_id in _remote_images(remote_host)


def test_a_connection_dropped_mid_transfer_leaves_the_host_unchanged_and_a_retry_works(
    shipping_registry: Registry, remote_host: RemoteHost
) -> None:
    cut: list[int] = []

    def progress(done: int, total: int | None, _message: str) -> None:
        if total and done > total // 4 and not cut:
            cut.append(remote_host.drop_connections())  # as a network failure would

    with pytest.raises(ShipFailed, match="connection to test-host broke during the transfer"):
        ship(shipping_registry, "iris:1", "test-host", progress=progress)
    assert cut
    assert cut[0] >= 1
    time.sleep(1)
    assert _remote_images(remote_host) == set()  # no half-loaded image
    result = ship(shipping_registry, "iris:1", "test-host")
    assert result.layers_sent == result.layers_total
    assert result.image_id in _remote_images(remote_host)


def test_a_ship_killed_halfway_leaves_the_host_unchanged(
    shipping_registry: Registry, remote_host: RemoteHost, build_config: Config, tmp_path: Path
) -> None:
    env = {
        **os.environ,
        "MODELBAY_HOME": str(build_config.home),
        "MODELBAY_SSH_CONFIG": str(tmp_path / "none"),
    }
    process = subprocess.Popen(
        [sys.executable, "-m", "app", "ship", "iris:1", "test-host"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    before = remote_host.received_bytes()
    deadline = time.monotonic() + 60
    while remote_host.received_bytes() - before < 50_000_000:  # part of the archive is there
        assert process.poll() is None, process.stderr.read().decode() if process.stderr else ""
        assert time.monotonic() < deadline, "the transfer never started"
        time.sleep(0.02)
    process.send_signal(signal.SIGKILL)
    process.wait(30)
    if process.stderr:
        process.stderr.close()
    time.sleep(1)  # the host's daemon notices the connection is gone
    assert _remote_images(remote_host) == set()
    result = ship(shipping_registry, "iris:1", "test-host")
    assert result.layers_sent == result.layers_total
    assert result.image_id in _remote_images(remote_host)


def test_a_user_who_may_not_use_docker_there_is_told_so_before_anything_is_sent(
    shipping_registry: Registry, remote_host: RemoteHost
) -> None:
    user = remote_host.add_user("mbnodocker")
    add_test_host(shipping_registry, remote_host, "no-docker", user=user)
    before = remote_host.received_bytes()
    with pytest.raises(RemoteDockerError) as refused:
        ship(shipping_registry, "iris:1", "no-docker")
    assert refused.value.message == (
        f"{user} on no-docker may not use Docker (permission denied on its socket)"
    )
    assert f"usermod -aG docker {user}" in (refused.value.hint or "")
    assert remote_host.received_bytes() - before < 1_000_000  # the login, not the image


def test_a_version_without_an_image_is_refused_with_what_to_do(
    remote_host: RemoteHost, build_config: Config, tmp_path: Path, docker_client: object
) -> None:
    with Registry.open(build_config) as registry:
        registry.import_path(makers.sklearn_joblib(tmp_path / "m"), name="unbuilt")
        add_test_host(registry, remote_host)
        with pytest.raises(ConflictError) as refused:
            ship(registry, "unbuilt", "test-host")
    assert refused.value.message == "unbuilt:1 has no image on this machine to ship"
    assert refused.value.hint == "build one first: modelbay build unbuilt:1"
