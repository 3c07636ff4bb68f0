"""The runtime images' layer tars, kept by diff id so shipping needs no ``docker save``.

``docker save`` writes every layer of an image to a temporary folder before it
sends its first byte: for a 400 MB image that is seconds of waiting on every
ship. A build that makes a new runtime image therefore saves it once and keeps
each layer tar as ``<cache>/layers/<diff id hex>.tar``. A diff id is the
SHA-256 of the layer tar, so a file is only ever kept under the hash of its
own bytes, checked as it is written, and a runtime image shared by many
versions (and the base image layer shared by many runtimes) is kept once.

A ship then builds its ``docker load`` archive from these files, the model
layer and the image configuration (app/build/model_image.py), and sends only
the layers the host lacks (app/remote/ship.py).

The cache costs disk: about the size of each runtime image. ``prune`` drops
what no image in Docker still uses; it runs after every build.
"""

from __future__ import annotations

import hashlib
import io
import os
import shutil
import tarfile
import time
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from typing import IO, TYPE_CHECKING

from app.errors import ModelbayError
from app.progress import NEVER_CANCELLED, CancelToken

if TYPE_CHECKING:
    import docker

CHUNK = 1 << 20
# A composed image's parts younger than this are never pruned: a build running at the same
# time may have kept them and not loaded the image into Docker yet.
PRUNE_GRACE_SECONDS = 3600


class LayerCacheError(ModelbayError):
    """The layers of a runtime image could not be kept."""


def _hex(diff_id: str) -> str:
    return diff_id.split(":", 1)[-1]


class LayerCache:
    """``<cache>/layers/<hex>.tar``: layer tars named by their diff id."""

    def __init__(self, cache_dir: Path) -> None:
        self.root = cache_dir / "layers"

    def path(self, diff_id: str) -> Path:
        return self.root / f"{_hex(diff_id)}.tar"

    def missing(self, chain: Iterable[str]) -> list[str]:
        """The diff ids of ``chain`` that have no file here."""
        return [diff_id for diff_id in chain if not self.path(diff_id).is_file()]

    def keep_image(
        self,
        client: docker.DockerClient,
        image_id: str,
        chain: list[str],
        *,
        cancel: CancelToken = NEVER_CANCELLED,
    ) -> int:
        """Keep every layer of ``image_id`` (whose diff ids are ``chain``) not kept yet, from
        one ``docker save`` of it; returns the bytes written."""
        wanted = set(self.missing(chain))
        if not wanted:
            return 0
        self.root.mkdir(parents=True, exist_ok=True)
        written = 0
        stream = client.api.get_image(image_id, chunk_size=CHUNK)
        try:
            reader = io.BufferedReader(_ChunkReader(stream), CHUNK)
            with tarfile.open(fileobj=reader, mode="r|", bufsize=CHUNK) as archive:
                for member in archive:
                    cancel.raise_if_cancelled()
                    if not (member.isfile() and member.name.endswith("/layer.tar")):
                        continue
                    data = archive.extractfile(member)
                    if data is not None:
                        written += self._keep(data, wanted, cancel)
        except tarfile.TarError as exc:
            raise LayerCacheError(
                f"`docker save` of {image_id[:19]} was not a tar: {exc}"
            ) from None
        finally:
            close = getattr(stream, "close", None)
            if close is not None:
                close()
        if wanted:
            raise LayerCacheError(
                f"`docker save` of {image_id[:19]} lacked {len(wanted)} of its layers"
            )
        return written

    def _keep(self, data: IO[bytes], wanted: set[str], cancel: CancelToken) -> int:
        """Write one layer tar to a temporary file; keep it under its hash if it is wanted."""
        digest = hashlib.sha256()
        temp = self.root / f".incoming-{os.getpid()}-{time.monotonic_ns()}"
        try:
            with temp.open("wb") as out:
                while chunk := data.read(CHUNK):
                    cancel.raise_if_cancelled()
                    digest.update(chunk)
                    out.write(chunk)
                out.flush()
                os.fsync(out.fileno())
            diff_id = f"sha256:{digest.hexdigest()}"
            if diff_id not in wanted:
                return 0
            size = temp.stat().st_size
            os.replace(temp, self.path(diff_id))
            wanted.discard(diff_id)
            return size
        finally:
            temp.unlink(missing_ok=True)

    def prune(self, keep: set[str]) -> int:
        """Remove the layer files whose diff id is not in ``keep`` and leftovers of
        interrupted writes; returns the bytes freed."""
        freed = 0
        try:
            entries = list(self.root.iterdir())
        except OSError:
            return 0
        now = time.time()
        for path in entries:
            stale_temp = (
                path.name.startswith(".incoming-")
                and now - path.stat().st_mtime > PRUNE_GRACE_SECONDS
            )
            unused = path.suffix == ".tar" and f"sha256:{path.stem}" not in keep
            if stale_temp or unused:
                try:
                    size = path.stat().st_size
                    path.unlink()
                except OSError:
                    continue
                freed += size
        return freed


def damaged_files(files: Mapping[str, Path]) -> list[Path]:
    """The files of ``files`` (diff id -> layer tar) whose bytes do not hash to their diff id
    (a disk fault, or an edit by hand)."""
    damaged = []
    for diff_id, path in files.items():
        try:
            with path.open("rb") as stream:
                digest = hashlib.file_digest(stream, "sha256").hexdigest()
        except OSError:
            digest = ""
        if f"sha256:{digest}" != diff_id:
            damaged.append(path)
    return damaged


def prune_cache(client: docker.DockerClient, cache_dir: Path) -> int:
    """Drop the composed images' parts whose image Docker no longer has (and older than
    the grace period), then the layer files none of the remaining images uses; returns
    the bytes freed."""
    from .model_image import ImageCache

    present = {str(image["Id"]) for image in client.api.images(all=True)}
    images = ImageCache(cache_dir)
    freed = 0
    keep: set[str] = set()
    now = time.time()
    for parts in images.all():
        try:
            young = now - parts.folder.stat().st_mtime < PRUNE_GRACE_SECONDS
        except OSError:
            continue
        if parts.image_id in present or young:
            keep.update(parts.chain())
            continue
        freed += sum(p.stat().st_size for p in parts.folder.iterdir() if p.is_file())
        shutil.rmtree(parts.folder, ignore_errors=True)
    return freed + LayerCache(cache_dir).prune(keep)


class _ChunkReader(io.RawIOBase):
    """A readable file over an iterator of byte chunks."""

    def __init__(self, chunks: Iterator[bytes]) -> None:
        self.chunks = iter(chunks)
        self.pending = memoryview(b"")

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: memoryview) -> int:  # type: ignore[override]
        while not self.pending:
            try:
                self.pending = memoryview(next(self.chunks))
            except StopIteration:
                return 0
        size = min(len(buffer), len(self.pending))
        buffer[:size] = self.pending[:size]
        self.pending = self.pending[size:]
        return size
