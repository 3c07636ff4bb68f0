"""The final image of a build: the runtime image Docker built, plus a model layer Modelbay writes.

Docker builds everything that models with the same dependencies share (base,
dependencies, runtime, settings); Modelbay adds the model on top itself:

- the model layer is a tar Modelbay writes deterministically (sorted entries,
  owner root, fixed modification time), so its SHA-256 — the layer's diff id —
  depends only on the model's files;
- the image configuration is the runtime image's configuration with that diff
  id appended, the image tag in the environment, the labels and history
  entries, serialised as sorted, compact JSON; the image id is the SHA-256 of
  those exact bytes;
- both are kept in Modelbay's cache (``<cache>/images/<image id>/``) and loaded
  into the local daemon as a small ``docker load`` archive whose other layers
  the daemon already holds.

Shipping a new version then needs no ``docker save``: the host that holds the
runtime image's layers gets the configuration, a manifest and the model layer
straight from the cache (app/remote/ship.py). The same inputs give the same
bytes, so the same runtime image and model give the same image id.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tarfile
import tempfile
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any, cast

from app.errors import ModelbayError

from .context import FIXED_MTIME

if TYPE_CHECKING:
    import docker

MODEL_DIR = "opt/modelbay/model"
CHUNK = 1 << 20
_BLOCK = 512


class ComposeFailed(ModelbayError):
    """The local daemon refused the image Modelbay composed."""


@dataclass(frozen=True)
class ImageParts:
    """A composed image as kept in the cache: its exact configuration and its model layer."""

    folder: Path

    @property
    def image_id(self) -> str:
        return f"sha256:{self.folder.name}"

    @property
    def config_path(self) -> Path:
        return self.folder / "config.json"

    @property
    def layer_path(self) -> Path:
        return self.folder / "layer.tar"

    def config(self) -> bytes:
        return self.config_path.read_bytes()

    def chain(self) -> list[str]:
        """The image's layer diff ids, oldest first; the last is the model layer."""
        return list(json.loads(self.config())["rootfs"]["diff_ids"])

    def layer_size(self) -> int:
        return self.layer_path.stat().st_size

    def archive(
        self,
        *,
        tags: Iterable[str] = (),
        layers: Mapping[str, Path] | None = None,
        parent: str = "",
    ) -> Iterator[bytes]:
        """A ``docker load`` archive of the image carrying the tars of ``layers`` (diff id ->
        file; by default the model layer's alone): the receiving daemon must hold every
        other layer of the image already."""
        config = self.config()
        chain = list(json.loads(config)["rootfs"]["diff_ids"])
        names = [f"{diff_id.split(':', 1)[1]}/layer.tar" for diff_id in chain]
        item: dict[str, Any] = {
            "Config": f"{self.folder.name}.json",
            "RepoTags": list(tags),
            "Layers": names,
        }
        if parent:
            item["Parent"] = parent
        manifest = json.dumps([item]).encode()
        files = {chain[-1]: self.layer_path} if layers is None else layers
        for diff_id, name in zip(chain, names, strict=True):
            if diff_id in files:
                path = files[diff_id]
                yield from _entry(name, path.stat().st_size, _file_chunks(path))
        yield from _entry(f"{self.folder.name}.json", len(config), iter([config]))
        yield from _entry("manifest.json", len(manifest), iter([manifest]))
        yield bytes(2 * _BLOCK)


class ImageCache:
    """``<cache>/images/<image id hex>/``: the parts of the images Modelbay composed."""

    def __init__(self, cache_dir: Path) -> None:
        self.root = cache_dir / "images"

    def get(self, image_id: str) -> ImageParts | None:
        """The parts of ``image_id``, when they are here and still hash to that id."""
        hex_id = image_id.split(":", 1)[-1]
        parts = ImageParts(self.root / hex_id)
        try:
            config = parts.config()
            present = parts.layer_path.is_file()
        except OSError:
            return None
        if not present or hashlib.sha256(config).hexdigest() != hex_id:
            return None
        return parts

    def all(self) -> list[ImageParts]:
        """Every composed image kept here (not checked against its id)."""
        try:
            folders = [f for f in self.root.iterdir() if f.is_dir() and not f.name.startswith(".")]
        except OSError:
            return []
        return [ImageParts(folder) for folder in folders if (folder / "config.json").is_file()]

    def scratch(self) -> tempfile.TemporaryDirectory[str]:
        self.root.mkdir(parents=True, exist_ok=True)
        return tempfile.TemporaryDirectory(prefix=".compose-", dir=self.root)

    def keep(self, scratch: Path, config: bytes) -> ImageParts:
        """Move a composed image's parts (``scratch``/layer.tar + ``config``) into place."""
        hex_id = hashlib.sha256(config).hexdigest()
        (scratch / "config.json").write_bytes(config)
        target = self.root / hex_id
        if target.exists():  # the same image composed before: the same bytes
            shutil.rmtree(target)
        os.replace(scratch, target)
        scratch.mkdir()  # for the TemporaryDirectory that owns it
        return ImageParts(target)


def write_model_layer(model_dir: Path, destination: IO[bytes]) -> str:
    """Write the layer that puts ``model_dir`` at /opt/modelbay/model; returns its diff id."""
    hashing = _HashingWriter(destination)
    with tarfile.open(
        fileobj=cast("IO[bytes]", hashing), mode="w", format=tarfile.PAX_FORMAT
    ) as tar:
        for name in ("opt", "opt/modelbay", MODEL_DIR):
            tar.addfile(_info(name, is_dir=True))
        for path in sorted(model_dir.rglob("*")):
            name = f"{MODEL_DIR}/{path.relative_to(model_dir).as_posix()}"
            if path.is_dir():
                tar.addfile(_info(name, is_dir=True))
            elif path.is_file():
                with path.open("rb") as stream:
                    tar.addfile(_info(name, size=path.stat().st_size), stream)
    return f"sha256:{hashing.digest.hexdigest()}"


def compose_config(
    runtime: Mapping[str, Any],
    runtime_history: list[Mapping[str, Any]],
    diff_id: str,
    *,
    tag: str,
    labels: Mapping[str, str],
    model_sha256: str,
) -> bytes:
    """The configuration of the runtime image (``docker inspect`` and ``docker history`` of
    it) with the model layer, the tag and the labels on top, as the exact bytes to hash."""
    container = dict(runtime.get("Config") or {})
    env = [e for e in container.get("Env") or [] if not e.startswith("MODELBAY_IMAGE_TAG=")]
    container["Env"] = [*env, f"MODELBAY_IMAGE_TAG={tag}"]
    container["Labels"] = {**(container.get("Labels") or {}), **labels}
    container["Image"] = str(runtime["Id"])
    chain = list((runtime.get("RootFS") or {}).get("Layers") or [])
    created = str(runtime["Created"])
    label_text = " ".join(f"{k}={json.dumps(v)}" for k, v in sorted(labels.items()))
    history = [
        *_history(runtime_history, len(chain)),
        {
            "created": created,
            "created_by": f"modelbay: COPY model/ /{MODEL_DIR}/ (model sha256:{model_sha256})",
        },
        {
            "created": created,
            "created_by": f"modelbay: ENV MODELBAY_IMAGE_TAG={tag}",
            "empty_layer": True,
        },
        {"created": created, "created_by": f"modelbay: LABEL {label_text}", "empty_layer": True},
    ]
    config: dict[str, Any] = {
        "architecture": runtime.get("Architecture") or "amd64",
        "config": container,
        "created": created,
        "history": history,
        "os": runtime.get("Os") or "linux",
        "rootfs": {"type": "layers", "diff_ids": [*chain, diff_id]},
    }
    if runtime.get("Variant"):
        config["variant"] = runtime["Variant"]
    return json.dumps(config, sort_keys=True, separators=(",", ":")).encode()


def _history(entries: list[Mapping[str, Any]], layers: int) -> list[dict[str, Any]]:
    """``docker history`` (newest first) back into a configuration's history (oldest first).
    The API does not say which steps made no layer; a step with no size did, unless the
    count then disagrees with the layers, when the history is left out rather than wrong."""
    out: list[dict[str, Any]] = []
    for entry in reversed(entries):
        item: dict[str, Any] = {
            "created": _rfc3339(int(entry.get("Created") or 0)),
            "created_by": str(entry.get("CreatedBy") or ""),
        }
        if entry.get("Comment"):
            item["comment"] = str(entry["Comment"])
        if not int(entry.get("Size") or 0):
            item["empty_layer"] = True
        out.append(item)
    if sum(not item.get("empty_layer") for item in out) != layers:
        return []
    return out


def _rfc3339(seconds: int) -> str:
    return datetime.fromtimestamp(seconds, tz=UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def compose(
    client: docker.DockerClient,
    runtime_id: str,
    model_dir: Path,
    cache: ImageCache,
    *,
    tag: str,
    labels: Mapping[str, str],
    model_sha256: str,
) -> ImageParts:
    """Write the model layer and configuration on top of ``runtime_id``, keep them in
    ``cache`` and load the image into the local daemon, tagged ``tag``."""
    runtime = client.api.inspect_image(runtime_id)
    history = client.api.history(runtime_id)
    with cache.scratch() as name:
        scratch = Path(name)
        with (scratch / "layer.tar").open("wb") as layer:
            diff_id = write_model_layer(model_dir, layer)
        config = compose_config(
            runtime, history, diff_id, tag=tag, labels=labels, model_sha256=model_sha256
        )
        parts = cache.keep(scratch, config)
    load_locally(client, parts, tag=tag, parent=str(runtime["Id"]))
    return parts


def load_locally(client: docker.DockerClient, parts: ImageParts, *, tag: str, parent: str) -> None:
    """``docker load`` the composed image; the runtime image becomes its parent, so Docker
    keeps it (and the build cache it stands for) while the image exists."""
    from docker.errors import APIError

    try:
        messages = list(client.api.load_image(parts.archive(tags=[tag], parent=parent), quiet=True))
    except APIError as exc:
        raise ComposeFailed(f"Docker refused the model image Modelbay composed: {exc}") from None
    for message in messages:
        if isinstance(message, dict) and message.get("error"):
            raise ComposeFailed(
                f"Docker refused the model image Modelbay composed: {message['error']}"
            )
    loaded = client.api.inspect_image(tag)
    if loaded["Id"] != parts.image_id:
        raise ComposeFailed(
            f"Docker loaded {tag} as {loaded['Id'][:19]}, not as the composed {parts.image_id[:19]}"
        )


class _HashingWriter:
    def __init__(self, destination: IO[bytes]) -> None:
        self.destination = destination
        self.digest = hashlib.sha256()
        self.count = 0

    def tell(self) -> int:
        return self.count

    def write(self, data: bytes) -> int:
        self.digest.update(data)
        self.destination.write(data)
        self.count += len(data)
        return len(data)


def _info(name: str, *, size: int = 0, is_dir: bool = False) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.size = size
    info.mode = 0o755 if is_dir else 0o644
    info.type = tarfile.DIRTYPE if is_dir else tarfile.REGTYPE
    info.mtime = FIXED_MTIME
    info.uid = info.gid = 0
    info.uname = info.gname = "root"
    return info


def _entry(name: str, size: int, chunks: Iterator[bytes]) -> Iterator[bytes]:
    """One regular file of an archive: header, data, padding to the block."""
    # ustar holds sizes below 8 GiB; a bigger layer gets a PAX header
    big = size >= 8 << 30
    yield _info(name, size=size).tobuf(format=tarfile.PAX_FORMAT if big else tarfile.USTAR_FORMAT)
    written = 0
    for chunk in chunks:
        written += len(chunk)
        yield chunk
    if written != size:
        raise ComposeFailed(f"{name} changed while it was being sent ({written} of {size} bytes)")
    if size % _BLOCK:
        yield bytes(_BLOCK - size % _BLOCK)


def _file_chunks(path: Path) -> Iterator[bytes]:
    with path.open("rb") as stream:
        while chunk := stream.read(CHUNK):
            yield chunk
