"""The content-addressed store: hashes, deduplication, atomic writes, export, verify, cleanup."""

from __future__ import annotations

import hashlib
import os
import threading
from pathlib import Path

import pytest

from app.errors import Cancelled, InvalidInputError, StoreError
from app.progress import CancelToken
from app.store import CHUNK_SIZE, ArtifactStore, StoredFile, manifest_sha256


@pytest.fixture
def store(tmp_path: Path) -> ArtifactStore:
    s = ArtifactStore(tmp_path / "store")
    s.ensure()
    return s


def test_put_file_stores_under_its_sha256(store: ArtifactStore, tmp_path: Path) -> None:
    data = os.urandom(3 * CHUNK_SIZE + 17)  # several chunks and a ragged end
    src = tmp_path / "m.bin"
    src.write_bytes(data)
    sha, size = store.put_file(src)
    assert sha == hashlib.sha256(data).hexdigest()
    assert size == len(data)
    assert store.blob_path(sha).read_bytes() == data
    assert not os.access(store.blob_path(sha), os.W_OK) or os.geteuid() == 0
    assert store.blob_path(sha).stat().st_mode & 0o222 == 0  # stored read-only


def test_identical_content_is_stored_once(store: ArtifactStore, tmp_path: Path) -> None:
    a, b = tmp_path / "a.bin", tmp_path / "b.bin"
    a.write_bytes(b"same bytes" * 1000)
    b.write_bytes(b"same bytes" * 1000)
    assert store.put_file(a) == store.put_file(b)
    blobs = [p for p in (store.root / "blobs").rglob("*") if p.is_file()]
    assert len(blobs) == 1
    assert list((store.root / "tmp").iterdir()) == []


def test_progress_reports_reach_the_total(store: ArtifactStore, tmp_path: Path) -> None:
    src = tmp_path / "m.bin"
    src.write_bytes(os.urandom(40 * CHUNK_SIZE))
    seen: list[tuple[int, int | None]] = []
    store.put_file(src, progress=lambda d, t, _m: seen.append((d, t)))
    assert seen[-1] == (40 * CHUNK_SIZE, 40 * CHUNK_SIZE)
    assert [d for d, _ in seen] == sorted(d for d, _ in seen)
    assert len(seen) >= 2


def test_cancel_leaves_no_blob_and_no_temp_file(store: ArtifactStore, tmp_path: Path) -> None:
    src = tmp_path / "m.bin"
    src.write_bytes(os.urandom(64 * CHUNK_SIZE))
    token = CancelToken()

    def cancel_midway(done: int, _t: int | None, _m: str) -> None:
        if done >= 16 * CHUNK_SIZE:
            token.cancel()

    with pytest.raises(Cancelled):
        store.put_file(src, progress=cancel_midway, cancel=token)
    assert list((store.root / "tmp").iterdir()) == []
    assert [p for p in (store.root / "blobs").rglob("*") if p.is_file()] == []


def test_ingest_folder_hashes_every_file_with_relative_paths(
    store: ArtifactStore, model_folder: Path
) -> None:
    got = store.ingest(model_folder)
    assert got.is_folder
    assert [f.path for f in got.files] == [
        "MLmodel",
        "saved_model.pb",
        "variables/variables.data-00000-of-00001",
        "variables/variables.index",
    ]
    for item in got.files:
        assert item.sha256 == hashlib.sha256((model_folder / item.path).read_bytes()).hexdigest()
    assert got.sha256 == manifest_sha256(got.files)
    assert got.size == sum(f.size for f in got.files)


def test_manifest_hash_depends_on_paths_and_content_not_order() -> None:
    a = StoredFile("a", "1" * 64, 1)
    b = StoredFile("b", "2" * 64, 2)
    assert manifest_sha256([a, b]) == manifest_sha256([b, a])
    assert manifest_sha256([a, b]) != manifest_sha256([a, StoredFile("c", "2" * 64, 2)])


@pytest.mark.parametrize(
    ("setup", "message"),
    [
        (lambda p: None, "does not exist"),
        (lambda p: p.write_bytes(b""), "is empty"),
        (lambda p: p.mkdir(), "empty folder"),
    ],
    ids=["missing", "empty-file", "empty-folder"],
)
def test_unusable_input_is_refused_with_a_reason(
    store: ArtifactStore, tmp_path: Path, setup: object, message: str
) -> None:
    target = tmp_path / "thing"
    setup(target)  # type: ignore[operator]
    with pytest.raises(InvalidInputError, match=message):
        store.ingest(target)


def test_folder_symlink_escaping_the_folder_is_refused(
    store: ArtifactStore, model_folder: Path, tmp_path: Path
) -> None:
    outside = tmp_path / "outside.txt"
    outside.write_text("not part of the model")
    (model_folder / "link").symlink_to(outside)
    with pytest.raises(InvalidInputError, match="links outside"):
        store.ingest(model_folder)


def test_export_is_byte_identical_and_refuses_to_overwrite(
    store: ArtifactStore, model_folder: Path, tmp_path: Path
) -> None:
    got = store.ingest(model_folder)
    out = tmp_path / "out"
    store.export(got.files, out)
    for item in got.files:
        assert (out / item.path).read_bytes() == (model_folder / item.path).read_bytes()
    with pytest.raises(InvalidInputError, match="already exists"):
        store.export(got.files, out)


def test_export_detects_a_corrupt_blob(
    store: ArtifactStore, model_file: Path, tmp_path: Path
) -> None:
    sha, size = store.put_file(model_file)
    blob = store.blob_path(sha)
    blob.chmod(0o644)
    blob.write_bytes(b"tampered" + blob.read_bytes()[8:])
    with pytest.raises(StoreError, match="corrupt"):
        store.export([StoredFile("m.bin", sha, size)], tmp_path / "out")
    assert not (tmp_path / "out" / "m.bin").exists()
    assert list((tmp_path / "out").iterdir()) == []


def test_verify_reports_missing_and_corrupt(store: ArtifactStore, tmp_path: Path) -> None:
    files = []
    for i in range(3):
        p = tmp_path / f"f{i}"
        p.write_bytes(os.urandom(1000 + i))
        files.append(store.put_file(p))
    _, (gone, _), (bad, _) = files
    store.blob_path(gone).unlink()
    store.blob_path(bad).chmod(0o644)
    store.blob_path(bad).write_bytes(b"rot")
    report = store.verify(files)
    assert report.missing == [gone]
    assert report.corrupt == [bad]
    assert report.checked == 2
    assert not report.ok


def test_clean_temp_removes_leftovers_but_not_live_writes(
    store: ArtifactStore, tmp_path: Path
) -> None:
    leftover = store.root / "tmp" / "incoming-crashed"
    leftover.write_bytes(b"half a model")
    started, release = threading.Event(), threading.Event()
    src = tmp_path / "m.bin"
    src.write_bytes(os.urandom(32 * CHUNK_SIZE))

    def slow_progress(_d: int, _t: int | None, _m: str) -> None:
        started.set()
        release.wait(10)

    worker = threading.Thread(
        target=store.put_file, args=(src,), kwargs={"progress": slow_progress}
    )
    worker.start()
    try:
        assert started.wait(10)
        live = [p for p in (store.root / "tmp").iterdir() if p != leftover]
        assert len(live) == 1
        assert store.clean_temp() == 1
        assert not leftover.exists()
        assert live[0].exists()  # a writer still holds its lock
    finally:
        release.set()
        worker.join()
    assert list((store.root / "tmp").iterdir()) == []


def test_disk_full_is_a_store_error_and_cleans_up(
    store: ArtifactStore, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Writes go to /dev/full, where the kernel answers every write with ENOSPC."""
    import contextlib

    src = tmp_path / "m.bin"
    src.write_bytes(os.urandom(4 * CHUNK_SIZE))
    real_temp_file = ArtifactStore._temp_file
    opened: list[Path] = []

    @contextlib.contextmanager
    def temp_on_full_disk(self: ArtifactStore):  # type: ignore[no-untyped-def]
        with real_temp_file(self) as (path, _writer), open("/dev/full", "wb", buffering=0) as full:
            opened.append(path)
            yield path, full

    monkeypatch.setattr(ArtifactStore, "_temp_file", temp_on_full_disk)
    with pytest.raises(StoreError, match="No space left on device"):
        store.put_file(src)
    assert opened
    assert list((store.root / "tmp").iterdir()) == []
    assert [p for p in (store.root / "blobs").rglob("*") if p.is_file()] == []


def test_ingest_says_which_blobs_it_added_and_remove_deletes_them(
    store: ArtifactStore, tmp_path: Path
) -> None:
    folder = tmp_path / "run"
    folder.mkdir()
    (folder / "old.bin").write_bytes(b"stored before" * 100)
    (folder / "new.bin").write_bytes(b"stored now" * 100)
    old_sha, _ = store.put_file(folder / "old.bin")
    ingested = store.ingest(folder)
    new_sha = hashlib.sha256((folder / "new.bin").read_bytes()).hexdigest()
    assert ingested.created == {new_sha}  # old.bin was there already
    assert store.ingest(folder / "new.bin").created == frozenset()
    assert store.remove(ingested.created) == 1
    assert not store.has(new_sha)
    assert store.has(old_sha)
    assert store.remove([new_sha]) == 0  # gone already: nothing to do
