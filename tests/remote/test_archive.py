"""The docker-save filter on hand-made archives: verbatim forwarding, exact layer dropping."""

from __future__ import annotations

import hashlib
import io
import json
import tarfile
from pathlib import Path

from app.remote.archive import LayerFolders, filter_archive

LAYERS = {"aaa": b"base layer " * 5000, "bbb": b"dependencies " * 9000, "ccc": b"model"}


def _save_archive() -> tuple[bytes, list[str]]:
    """An archive shaped like Docker 20.10's `docker save` (folders sorted, manifest last)."""
    stream = io.BytesIO()
    chain = [f"sha256:{hashlib.sha256(LAYERS[f]).hexdigest()}" for f in ("aaa", "bbb", "ccc")]
    with tarfile.open(fileobj=stream, mode="w", format=tarfile.USTAR_FORMAT) as tar:
        for folder in sorted(LAYERS):
            for name, data in (("VERSION", b"1.0"), ("json", b"{}"), ("layer.tar", LAYERS[folder])):
                info = tarfile.TarInfo(f"{folder}/{name}")
                info.size = len(data)
                tar.addfile(info, io.BytesIO(data))
        manifest = json.dumps(
            [
                {
                    "Config": "cfg.json",
                    "RepoTags": ["x:1"],
                    "Layers": [f"{f}/layer.tar" for f in ("aaa", "bbb", "ccc")],
                }
            ]
        ).encode()
        for name, data in (("cfg.json", b"{}"), ("manifest.json", manifest)):
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return stream.getvalue(), chain


def _chunks(data: bytes, size: int = 7777) -> list[bytes]:
    return [data[i : i + size] for i in range(0, len(data), size)]


def _members(data: bytes) -> dict[str, bytes]:
    with tarfile.open(fileobj=io.BytesIO(data)) as tar:
        return {m.name: tar.extractfile(m).read() for m in tar if m.isfile()}  # type: ignore[union-attr]


def test_nothing_held_forwards_the_archive_byte_for_byte(tmp_path: Path) -> None:
    archive, chain = _save_archive()
    out = bytearray()
    folders = LayerFolders(tmp_path / "folders.json")
    sent, manifest = filter_archive(_chunks(archive), out.extend, skip=set(), folders=folders)
    assert bytes(out) == archive
    assert sent == 3
    folders.learn(manifest, chain)
    assert LayerFolders(tmp_path / "folders.json").known == dict(
        zip(("aaa", "bbb", "ccc"), chain, strict=True)
    )


def test_held_layers_are_dropped_whether_their_folder_is_known_or_not(tmp_path: Path) -> None:
    archive, chain = _save_archive()
    for known in (False, True):
        folders = LayerFolders(tmp_path / f"known-{known}.json")
        if known:
            folders.learn(
                json.dumps([{"Layers": [f"{f}/layer.tar" for f in "abc"]}]).encode(), chain
            )
            folders.known = {"aaa": chain[0], "bbb": chain[1], "ccc": chain[2]}
        out = bytearray()
        sent, _ = filter_archive(_chunks(archive), out.extend, skip=set(chain[:2]), folders=folders)
        assert sent == 1
        members = _members(bytes(out))
        assert "aaa/layer.tar" not in members
        assert "bbb/layer.tar" not in members
        assert members["ccc/layer.tar"] == LAYERS["ccc"]
        assert members["aaa/json"] == b"{}"  # the folder itself stays: docker load wants it
        assert "manifest.json" in members
