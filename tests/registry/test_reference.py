"""Reference data on a version: stored once, versioned as a dataset, linked, profiled, logged."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from app.errors import ConflictError, InvalidInputError, NotFoundError
from app.registry import NewVersion, Registry, VersionInfo
from app.registry.models import Dataset, DatasetVersion
from app.registry.service import reference_dataset_name
from app.store import StoredFile

SIGNATURE: dict[str, Any] = {
    "inputs": [{"name": "x", "type": "number"}, {"name": "colour", "type": "string"}],
    "outputs": None,
}


def register(registry: Registry, name: str = "m", signature: Any = SIGNATURE) -> VersionInfo:
    sha, size = registry.store.put_bytes(f"model bytes of {name}".encode())
    [info] = registry.register_versions(
        [
            NewVersion(
                name=name,
                files=(StoredFile("model.bin", sha, size),),
                sha256=sha,
                signature=signature,
            )
        ]
    )
    return info


def table(path: Path, rows: int = 50, extra: bool = True) -> Path:
    lines = ["x,colour" + (",target" if extra else "")]
    for i in range(rows):
        lines.append(f"{i / 10},{['red', 'blue', 'green'][i % 3]}" + (f",{i % 2}" if extra else ""))
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(lines) + "\n")
    return path


def blobs(registry: Registry) -> set[str]:
    return {p.parent.name + p.name for p in (registry.store.root / "blobs").glob("*/*")}


def test_attach_stores_the_file_profiles_it_and_links_it(
    registry: Registry, tmp_path: Path
) -> None:
    version = register(registry)
    data = table(tmp_path / "ref.csv")
    info, reference = registry.attach_reference(version.ref, data)
    assert info.reference_id == reference.id
    assert registry.get(version.ref).reference_id == reference.id
    assert reference.sha256 == hashlib.sha256(data.read_bytes()).hexdigest()
    assert registry.store.blob_path(reference.sha256).read_bytes() == data.read_bytes()
    assert (reference.dataset, reference.version, reference.ref) == (
        "m-reference",
        1,
        "m-reference:1",
    )
    assert (reference.format, reference.size, reference.rows) == ("csv", data.stat().st_size, 50)
    assert reference.columns == ["x", "colour", "target"]
    assert reference.schema["encoding"] == "utf-8"
    assert reference.source_path == str(data.absolute())
    assert reference.file_name == "ref.csv"
    assert reference.created_by == "tester"
    profile = registry.reference_profile(version.ref)
    assert profile is not None
    assert list(profile["columns"]) == ["x", "colour"]  # the signature's columns
    assert profile["ignored_columns"] == ["target"]
    assert reference.warnings == ["left out column the model does not take: 'target'"]
    assert registry.reference(version.ref) == reference
    assert registry.reference_profile(register(registry, "other")) is None
    [event] = [e for e in registry.history("m") if e.action == "reference.attached"]
    assert event.version == 1
    assert event.details == {
        "dataset": "m-reference:1",
        "file": "ref.csv",
        "sha256": reference.sha256,
        "rows": 50,
        "columns": 3,
        "previous": None,
    }


def test_the_same_file_is_stored_once_and_its_dataset_version_reused(
    registry: Registry, tmp_path: Path
) -> None:
    first = register(registry)
    second = register(registry)
    data = table(tmp_path / "ref.csv")
    copy = tmp_path / "elsewhere" / "copy.csv"
    copy.parent.mkdir()
    copy.write_bytes(data.read_bytes())
    before = blobs(registry)
    _, one = registry.attach_reference(first.ref, data)
    _, two = registry.attach_reference(second.ref, copy)
    assert len(blobs(registry) - before) == 1
    assert two.id == one.id  # same content, same profile: the same dataset version
    assert registry.get(first.ref).reference_id == registry.get(second.ref).reference_id
    with registry.engine.connect() as connection:
        assert connection.scalar(select(func.count()).select_from(DatasetVersion)) == 1
        assert connection.scalar(select(func.count()).select_from(Dataset)) == 1


def test_another_file_is_a_new_dataset_version_and_the_event_says_what_it_replaced(
    registry: Registry, tmp_path: Path
) -> None:
    version = register(registry)
    registry.attach_reference(version.ref, table(tmp_path / "a.csv", rows=50))
    _, newer = registry.attach_reference(version.ref, table(tmp_path / "b.csv", rows=80))
    assert newer.ref == "m-reference:2"
    assert registry.get(version.ref).reference_id == newer.id
    assert newer.rows == 80
    attached = [e for e in registry.history("m") if e.action == "reference.attached"]
    assert [e.details["previous"] for e in attached] == [None, "m-reference:1"]


def test_the_same_file_profiled_for_another_signature_is_another_dataset_version(
    registry: Registry, tmp_path: Path
) -> None:
    data = table(tmp_path / "ref.csv")
    _, narrow = registry.attach_reference(register(registry).ref, data)
    wide = register(registry, signature=None)  # takes every column
    _, everything = registry.attach_reference(wide.ref, data)
    assert everything.sha256 == narrow.sha256
    assert everything.id != narrow.id
    assert list((everything.profile or {})["columns"]) == ["x", "colour", "target"]


def test_bad_data_stores_nothing_and_leaves_the_version_as_it_was(
    registry: Registry, tmp_path: Path
) -> None:
    version = register(registry)
    before = blobs(registry)
    lacking = tmp_path / "lacking.csv"
    lacking.write_text("x,target\n1,0\n2,1\n")
    with pytest.raises(InvalidInputError, match=r"lacks column 'colour' that the model takes"):
        registry.attach_reference(version.ref, lacking)
    empty = tmp_path / "empty.csv"
    empty.write_bytes(b"")
    with pytest.raises(InvalidInputError, match=r"is empty \(0 bytes\)"):
        registry.attach_reference(version.ref, empty)
    with pytest.raises(NotFoundError):
        registry.attach_reference(version.ref, tmp_path / "nope.csv")
    with pytest.raises(NotFoundError, match="has no version 7"):
        registry.attach_reference("m:7", table(tmp_path / "ok.csv"))
    assert blobs(registry) == before
    assert registry.get(version.ref).reference_id is None
    assert registry.reference(version.ref) is None
    assert not [e for e in registry.history("m") if e.action == "reference.attached"]


def test_a_file_changing_while_it_is_read_is_refused(
    registry: Registry, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    version = register(registry)
    data = table(tmp_path / "ref.csv")
    real_put = registry.store.put_file

    def put_then_change(source: Path, **kwargs: Any) -> tuple[str, int]:
        stored = real_put(source, **kwargs)
        with source.open("a") as stream:
            stream.write("9.9,red,1\n")
        return stored

    monkeypatch.setattr(registry.store, "put_file", put_then_change)
    with pytest.raises(ConflictError, match="changed while it was being read"):
        registry.attach_reference(version.ref, data)
    assert registry.get(version.ref).reference_id is None


def test_verify_rehashes_reference_tables_and_names_the_damaged_dataset_version(
    registry: Registry, tmp_path: Path
) -> None:
    version = register(registry)
    _, reference = registry.attach_reference(version.ref, table(tmp_path / "ref.csv"))
    report = registry.verify()
    assert report.ok
    assert report.store.checked == 2  # the model file and the table
    blob = registry.store.blob_path(reference.sha256)
    blob.chmod(0o644)
    blob.write_bytes(b"bit rot")
    report = registry.verify()
    assert report.store.corrupt == [reference.sha256]
    assert report.damaged == {"m-reference:1": ["ref.csv"]}


def test_a_long_model_name_still_makes_a_valid_dataset_name() -> None:
    assert reference_dataset_name("churn") == "churn-reference"
    long = "m" * 200
    assert len(reference_dataset_name(long)) == 200
    assert reference_dataset_name(long).endswith("-reference")
