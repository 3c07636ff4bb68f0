"""Filtering a ``docker save`` stream on the fly, byte for byte.

The archive (Docker 20.10's legacy format) holds one folder per layer,
``<v1 id>/layer.tar`` among its files, sorted by that id, then
``manifest.json`` naming the folders in layer order. The filter forwards every
entry verbatim (the original header blocks and data: nothing is re-encoded)
except the ``layer.tar`` of layers the receiver already holds.

Which folder holds which layer is only said by ``manifest.json`` at the very
end, so the filter needs to know it earlier. It learns the mapping (folder ->
diff id) from every archive it passes and keeps it in a small cache; folder
ids are derived from the layer chain, so a new image on the same layers reuses
the same folders. A folder it does not know is hashed while held aside (a diff
id is the SHA-256 of the layer tar) and sent or dropped once the hash is known.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path

from app.errors import ModelbayError

BLOCK = 512
CHUNK = 1 << 20
_PAX, _GNU_LONGNAME = b"x", b"L"
_MAX_CACHE = 20_000


class LayerFolders:
    """The cache of ``docker save`` folder ids -> layer diff ids (a JSON file)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        try:
            self.known: dict[str, str] = dict(json.loads(path.read_text(encoding="utf-8")))
        except (OSError, ValueError, TypeError):
            self.known = {}

    def learn(self, manifest: bytes, chain: list[str]) -> None:
        """Record the folders ``manifest.json`` names for ``chain`` (oldest layer first)."""
        try:
            layers = json.loads(manifest)[0]["Layers"]
        except (ValueError, KeyError, IndexError, TypeError):
            return
        if len(layers) != len(chain):
            return
        for entry, diff_id in zip(layers, chain, strict=True):
            self.known[str(entry).split("/")[0]] = diff_id
        if len(self.known) > _MAX_CACHE:
            self.known = dict(list(self.known.items())[-_MAX_CACHE:])
        self.path.parent.mkdir(parents=True, exist_ok=True)
        temp = self.path.with_name(f".{self.path.name}.{os.getpid()}")
        temp.write_text(json.dumps(self.known), encoding="utf-8")
        os.replace(temp, self.path)


class _Source:
    """Exact reads over an iterator of byte chunks."""

    def __init__(self, chunks: Iterable[bytes]) -> None:
        self.chunks = iter(chunks)
        self.buffer = memoryview(b"")

    def _fill(self) -> bool:
        while not self.buffer:
            try:
                self.buffer = memoryview(next(self.chunks))
            except StopIteration:
                return False
        return True

    def read(self, size: int) -> bytes:
        parts = []
        while size > 0:
            if not self._fill():
                raise ModelbayError("the image archive from Docker ended in the middle of an entry")
            part = self.buffer[:size]
            self.buffer = self.buffer[len(part) :]
            parts.append(bytes(part))
            size -= len(part)
        return b"".join(parts)

    def pieces(self, size: int) -> Iterator[memoryview]:
        """The next ``size`` bytes, in the pieces they arrived in (no copying)."""
        while size > 0:
            if not self._fill():
                raise ModelbayError("the image archive from Docker ended in the middle of an entry")
            part = self.buffer[: min(size, CHUNK)]
            self.buffer = self.buffer[len(part) :]
            size -= len(part)
            yield part

    def rest(self) -> Iterator[memoryview]:
        while self._fill():
            part, self.buffer = self.buffer, memoryview(b"")
            yield part


def _entry(header: bytes) -> tuple[str, int, bytes]:
    name = header[:100].split(b"\0", 1)[0]
    prefix = header[345:500].split(b"\0", 1)[0]
    if prefix and header[257:263].startswith(b"ustar"):
        name = prefix + b"/" + name
    raw = header[124:136]
    base256 = bool(raw[0] & 0x80)  # entries over 8 GiB
    size = int.from_bytes(raw[1:], "big") if base256 else int(raw.strip(b"\0 ") or b"0", 8)
    return name.decode("utf-8", "replace"), size, header[156:157]


def _pax_path(data: bytes) -> str | None:
    for record in data.split(b"\n"):
        _, _, field = record.partition(b" ")
        key, _, value = field.partition(b"=")
        if key == b"path":
            return value.decode("utf-8", "replace")
    return None


def filter_archive(
    chunks: Iterable[bytes],
    write: Callable[[bytes | memoryview], object],
    *,
    skip: set[str],
    folders: LayerFolders,
    check: Callable[[], None] = lambda: None,
) -> tuple[int, bytes]:
    """Forward ``chunks`` (a ``docker save`` tar) to ``write``, dropping the layer tars whose
    diff id is in ``skip``; returns (layer tars sent, manifest.json's bytes)."""
    source = _Source(chunks)
    sent = 0
    manifest = b""
    pending: list[bytes] = []  # PAX / long-name headers that belong to the next entry
    override: str | None = None
    while True:
        check()
        header = source.read(BLOCK)
        if header == bytes(BLOCK):  # the end: forward the end blocks and any padding after
            write(header)
            for part in source.rest():
                write(part)
            return sent, manifest
        name, size, kind = _entry(header)
        padded = -(-size // BLOCK) * BLOCK
        if kind in {_PAX, _GNU_LONGNAME}:
            data = source.read(padded)
            pending += [header, data]
            override = (
                _pax_path(data[:size]) if kind == _PAX else data[:size].rstrip(b"\0").decode()
            )
            continue
        name, override = override or name, None
        if name.endswith("layer.tar"):
            decision = _Layers(source, skip, folders, check).bytes_to_send(name, size, padded)
            if decision is None:  # the receiver has it
                pending = []
                continue
            for block in (*pending, header):
                write(block)
            pending = []
            for piece in decision:
                write(piece)
            sent += 1
            continue
        for block in (*pending, header):
            write(block)
        pending = []
        if name == "manifest.json":
            data = source.read(padded)
            manifest = data[:size]
            write(data)
        else:
            for part in source.pieces(padded):
                write(part)


class _Layers:
    def __init__(
        self,
        source: _Source,
        skip: set[str],
        folders: LayerFolders,
        check: Callable[[], None],
    ) -> None:
        self.source, self.skip, self.folders, self.check = source, skip, folders, check

    def bytes_to_send(
        self, name: str, size: int, padded: int
    ) -> Iterator[memoryview | bytes] | None:
        """The layer tar's bytes to send, or None when the receiver holds it."""
        source = self.source
        if not self.skip:
            return source.pieces(padded)
        diff_id = self.folders.known.get(name.split("/", maxsplit=1)[0])
        if diff_id is not None:
            if diff_id in self.skip:
                for _ in source.pieces(padded):
                    self.check()
                return None
            return source.pieces(padded)
        return self._hashed(size, padded)

    def _hashed(self, size: int, padded: int) -> Iterator[bytes] | None:
        """An unknown folder: hash the layer aside, then send it or drop it."""
        held = tempfile.SpooledTemporaryFile(max_size=32 << 20)  # noqa: SIM115 - closed below
        digest = hashlib.sha256()
        remaining = size
        for part in self.source.pieces(padded):
            self.check()
            content = part[: max(remaining, 0)]
            digest.update(content)
            remaining -= len(content)
            held.write(part)
        if f"sha256:{digest.hexdigest()}" in self.skip:
            held.close()
            return None
        held.seek(0)

        def replay() -> Iterator[bytes]:
            with held:
                while block := held.read(CHUNK):
                    yield block

        return replay()
