"""The model layer and image configuration Modelbay writes on top of the runtime image.

Byte-level properties without Docker; then the real daemon: it accepts the
composed image, reports the image id Modelbay computed, and the same inputs
give the same id again.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import tarfile
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from app.build.context import FIXED_MTIME
from app.build.model_image import ImageCache, compose, compose_config, write_model_layer

if TYPE_CHECKING:
    from docker import DockerClient

RUNTIME = {
    "Id": "sha256:" + "1" * 64,
    "Created": "2026-01-02T03:04:05.123456789Z",
    "Architecture": "amd64",
    "Os": "linux",
    "Config": {"Env": ["PATH=/usr/bin"], "Cmd": ["python3"], "Labels": None},
    "RootFS": {"Type": "layers", "Layers": ["sha256:" + "a" * 64, "sha256:" + "b" * 64]},
}
HISTORY = [  # newest first, as `docker history` answers
    {"Created": 1767323045, "CreatedBy": "CMD python3", "Size": 0},
    {"Created": 1767323044, "CreatedBy": "COPY runtime/", "Size": 1000},
    {"Created": 1767323000, "CreatedBy": "", "Size": 5000, "Comment": "Imported from -"},
]


def _model(path: Path) -> Path:
    (path / "sub").mkdir(parents=True)
    (path / "model.joblib").write_bytes(b"model bytes")
    (path / "sub" / "extra.json").write_text("{}")
    return path


def _layer(model_dir: Path) -> tuple[str, bytes]:
    stream = io.BytesIO()
    diff_id = write_model_layer(model_dir, stream)
    return diff_id, stream.getvalue()


def test_the_model_layer_depends_only_on_the_files_and_its_hash_is_the_diff_id(
    tmp_path: Path,
) -> None:
    diff_id, data = _layer(_model(tmp_path / "m1"))
    assert diff_id == f"sha256:{hashlib.sha256(data).hexdigest()}"
    other = _model(tmp_path / "m2")
    os.utime(other / "model.joblib", (0, 0))  # written at another time: must not matter
    assert _layer(other) == (diff_id, data)
    (other / "model.joblib").write_bytes(b"other bytes")
    assert _layer(other)[0] != diff_id

    with tarfile.open(fileobj=io.BytesIO(data)) as tar:
        members = tar.getmembers()
    assert [m.name for m in members] == [
        "opt",
        "opt/modelbay",
        "opt/modelbay/model",
        "opt/modelbay/model/model.joblib",
        "opt/modelbay/model/sub",
        "opt/modelbay/model/sub/extra.json",
    ]
    assert {(m.uid, m.gid, m.mtime) for m in members} == {(0, 0, FIXED_MTIME)}


def test_the_configuration_adds_the_layer_tag_and_labels_deterministically() -> None:
    diff_id = "sha256:" + "c" * 64
    labels = {"org.modelbay.model.name": "iris"}

    def config() -> bytes:
        return compose_config(
            RUNTIME, HISTORY, diff_id, tag="modelbay/iris:2", labels=labels, model_sha256="d" * 64
        )

    data = config()
    assert data == config()
    parsed = json.loads(data)
    assert parsed["rootfs"] == {
        "type": "layers",
        "diff_ids": [*RUNTIME["RootFS"]["Layers"], diff_id],  # type: ignore[index]
    }
    assert parsed["config"]["Env"] == ["PATH=/usr/bin", "MODELBAY_IMAGE_TAG=modelbay/iris:2"]
    assert parsed["config"]["Labels"] == labels
    assert parsed["created"] == RUNTIME["Created"]
    layered = [h for h in parsed["history"] if not h.get("empty_layer")]
    assert len(layered) == len(parsed["rootfs"]["diff_ids"])
    assert parsed["history"][0]["comment"] == "Imported from -"
    other = compose_config(
        RUNTIME, HISTORY, diff_id, tag="modelbay/iris:3", labels=labels, model_sha256="d" * 64
    )
    assert other != data


@pytest.mark.integration
def test_docker_loads_the_composed_image_with_the_id_modelbay_computed(
    docker_client: DockerClient, base_image: str, tmp_path: Path
) -> None:
    cache = ImageCache(tmp_path / "cache")
    model_dir = _model(tmp_path / "m")
    runtime_id = str(docker_client.images.get(base_image).id)
    tag = "modelbay-test/composed:1"
    try:
        parts = compose(
            docker_client,
            runtime_id,
            model_dir,
            cache,
            tag=tag,
            labels={"org.modelbay.model.name": "composed"},
            model_sha256="e" * 64,
        )
        image = docker_client.images.get(tag)
        assert image.id == parts.image_id
        assert parts.image_id == f"sha256:{hashlib.sha256(parts.config()).hexdigest()}"
        assert (
            image.attrs["RootFS"]["Layers"][:-1]
            == (docker_client.images.get(runtime_id).attrs["RootFS"]["Layers"])
        )
        assert cache.get(parts.image_id) == parts
        output = docker_client.containers.run(
            tag, ["cat", "/opt/modelbay/model/model.joblib"], remove=True
        )
        assert output == b"model bytes"

        docker_client.images.remove(tag)  # reproducible: composed again, the same id
        again = compose(
            docker_client,
            runtime_id,
            model_dir,
            cache,
            tag=tag,
            labels={"org.modelbay.model.name": "composed"},
            model_sha256="e" * 64,
        )
        assert again.image_id == parts.image_id
    finally:
        docker_client.images.remove(tag, force=True)


def test_a_cache_entry_that_no_longer_hashes_to_its_id_is_ignored(tmp_path: Path) -> None:
    cache = ImageCache(tmp_path)
    config = b'{"rootfs":{"diff_ids":[]}}'
    image_id = f"sha256:{hashlib.sha256(config).hexdigest()}"
    folder = tmp_path / "images" / image_id.split(":")[1]
    folder.mkdir(parents=True)
    (folder / "layer.tar").write_bytes(b"")
    (folder / "config.json").write_bytes(config)
    assert cache.get(image_id) is not None
    (folder / "config.json").write_bytes(config + b" ")
    assert cache.get(image_id) is None
