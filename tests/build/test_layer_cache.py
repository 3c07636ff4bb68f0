"""The runtime images' layer tars kept for shipping (app/build/layers.py), against real Docker."""

from __future__ import annotations

import hashlib
import json
import os
import time
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from app.build.layers import PRUNE_GRACE_SECONDS, LayerCache, damaged_files, prune_cache
from app.build.service import BuildOptions, build_image
from app.config import Config
from app.registry import Registry
from tests.formats import makers

if TYPE_CHECKING:
    from docker import DockerClient

pytestmark = pytest.mark.integration


def _sha256(path: Path) -> str:
    return f"sha256:{hashlib.sha256(path.read_bytes()).hexdigest()}"


def test_a_build_keeps_every_runtime_layer_under_its_own_hash(
    docker_client: DockerClient,
    base_image: str,
    build_registry: Registry,
    build_config: Config,
    tmp_path: Path,
) -> None:
    build_registry.import_path(makers.sklearn_joblib(tmp_path / "a"), name="iris")
    options = BuildOptions(base_image=base_image, smoke_test=False)
    build = build_image(build_registry, "iris:1", options, config=build_config)
    assert build.image_id is not None
    chain = docker_client.images.get(build.image_id).attrs["RootFS"]["Layers"]
    layers = LayerCache(build_config.cache_dir)
    runtime_chain = chain[:-1]  # the model layer lives with the composed image
    assert layers.missing(runtime_chain) == []
    for diff_id in runtime_chain:
        assert _sha256(layers.path(diff_id)) == diff_id
    assert damaged_files({d: layers.path(d) for d in runtime_chain}) == []
    assert not list(layers.root.glob(".incoming-*"))  # no temporary file left


def test_keeping_an_image_twice_writes_nothing_new(
    docker_client: DockerClient, base_image: str, tmp_path: Path
) -> None:
    image = docker_client.images.get(base_image)
    chain = list(image.attrs["RootFS"]["Layers"])
    layers = LayerCache(tmp_path)
    written = layers.keep_image(docker_client, str(image.id), chain)
    assert written == sum(layers.path(d).stat().st_size for d in chain)
    assert [_sha256(layers.path(d)) for d in chain] == chain
    assert layers.keep_image(docker_client, str(image.id), chain) == 0


def test_a_damaged_layer_file_is_found(tmp_path: Path) -> None:
    good, bad = tmp_path / "good.tar", tmp_path / "bad.tar"
    good.write_bytes(b"layer")
    bad.write_bytes(b"layer, changed on disk")
    files = {_sha256(good): good, "sha256:" + hashlib.sha256(b"layer").hexdigest(): bad}
    assert damaged_files(files) == [bad]
    assert damaged_files({"sha256:" + "0" * 64: tmp_path / "gone.tar"}) == [tmp_path / "gone.tar"]


def _composed(cache: Path, diff_ids: list[str], *, age: float) -> Path:
    """A composed image's parts in ``cache`` (an image Docker does not have), ``age`` s old."""
    config = json.dumps({"rootfs": {"diff_ids": diff_ids}}).encode()
    folder = cache / "images" / hashlib.sha256(config).hexdigest()
    folder.mkdir(parents=True)
    (folder / "config.json").write_bytes(config)
    (folder / "layer.tar").write_bytes(b"model")
    then = time.time() - age
    os.utime(folder, (then, then))
    return folder


def test_prune_drops_the_parts_of_images_docker_no_longer_has_and_their_layers(
    docker_client: DockerClient, tmp_path: Path
) -> None:
    layers = LayerCache(tmp_path)
    layers.root.mkdir(parents=True)
    shared, gone_only, young_only = ("sha256:" + c * 64 for c in "abc")
    for diff_id in (shared, gone_only, young_only):
        layers.path(diff_id).write_bytes(b"x" * 1000)
    old = _composed(
        tmp_path, [shared, gone_only, "sha256:" + "d" * 64], age=2 * PRUNE_GRACE_SECONDS
    )
    young = _composed(tmp_path, [shared, young_only, "sha256:" + "e" * 64], age=10)
    stale = layers.root / ".incoming-1-2"
    stale.write_bytes(b"half a layer")
    then = time.time() - 2 * PRUNE_GRACE_SECONDS
    os.utime(stale, (then, then))
    old_size = sum(f.stat().st_size for f in old.iterdir())

    freed = prune_cache(docker_client, tmp_path)

    assert not old.exists()  # its image is not in Docker and it is old
    assert young.exists()  # perhaps a build running now, not loaded yet
    assert not layers.path(gone_only).exists()
    assert layers.path(shared).exists()
    assert layers.path(young_only).exists()
    assert not stale.exists()
    assert freed == old_size + 1000 + len(b"half a layer")
