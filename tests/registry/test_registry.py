"""The registry API: import, versions, tags, aliases, archive, export, history, verify."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from app.config import Config
from app.errors import ConflictError, InvalidInputError, NotFoundError, RegistryError
from app.registry import NewVersion, Registry
from app.store import StoredFile


def test_import_registers_version_one_with_hash_size_and_files(
    registry: Registry, model_file: Path
) -> None:
    info = registry.import_path(model_file, tags={"team": "churn"}, note="first try")
    data = model_file.read_bytes()
    assert (info.name, info.version) == ("churn_model", 1)
    assert info.sha256 == hashlib.sha256(data).hexdigest()
    assert info.size == len(data)
    assert [(f.path, f.size) for f in info.files] == [("churn_model.bin", len(data))]
    assert info.status == "ready"
    assert (info.format, info.framework) == ("unknown", "unknown")
    assert info.created_by == "tester"
    assert info.created_at.tzinfo is not None
    assert registry.get("churn_model") == registry.get("churn_model:1")
    assert registry.get("churn_model:1").tags == {"team": "churn"}
    assert registry.get("churn_model:1").note == "first try"


def test_versions_count_up_per_model(registry: Registry, model_file: Path, tmp_path: Path) -> None:
    other = tmp_path / "other.bin"
    other.write_bytes(b"other model")
    assert registry.import_path(model_file, name="a").version == 1
    assert registry.import_path(other, name="b").version == 1
    assert registry.import_path(other, name="a").version == 2
    assert registry.import_path(model_file, name="a").version == 3
    assert [v.version for v in registry.versions_of("a")] == [3, 2, 1]
    assert registry.get("a").version == 3
    assert registry.get("a:latest").version == 3


def test_duplicate_content_is_stored_once(registry: Registry, model_file: Path) -> None:
    first = registry.import_path(model_file, name="dup")
    second = registry.import_path(model_file, name="dup")
    assert (first.version, second.version) == (1, 2)
    assert first.sha256 == second.sha256
    blobs = [p for p in (registry.store.root / "blobs").rglob("*") if p.is_file()]
    assert len(blobs) == 1


def test_folder_import_records_relative_paths_and_manifest_hash(
    registry: Registry, model_folder: Path
) -> None:
    info = registry.import_path(model_folder)
    assert info.name == "fraud_detector"
    assert info.is_folder
    assert info.file_count == 4
    assert "variables/variables.index" in [f.path for f in registry.get(info.ref).files]
    again = registry.import_path(model_folder)
    assert again.sha256 == info.sha256  # same content, same manifest hash


@pytest.mark.parametrize(
    "name", ["churn model v2", "modèle-café", "模型", "naïve bayes (2024)", "a" * 200]
)
def test_names_with_spaces_and_unicode_round_trip(
    registry: Registry, model_file: Path, name: str
) -> None:
    info = registry.import_path(model_file, name=name)
    assert registry.get(f"{name}:1").id == info.id
    assert registry.list_versions(query=name[:5])[0].name == name


def test_names_are_normalised_so_accents_match(registry: Registry, model_file: Path) -> None:
    decomposed = "cafe\u0301"
    composed = "caf\u00e9"
    registry.import_path(model_file, name=decomposed)
    assert registry.get(composed).version == 1
    assert registry.import_path(model_file, name=composed).version == 2


@pytest.mark.parametrize(
    ("name", "why"),
    [
        ("", "empty"),
        (" padded", "whitespace"),
        ("a:b", "':'"),
        ("a@b", "'@'"),
        ("a/b", "'/'"),
        ("bell\x07", "control"),
        ("a" * 201, "longer than 200"),
    ],
)
def test_bad_names_are_refused_before_anything_is_stored(
    registry: Registry, model_file: Path, name: str, why: str
) -> None:
    with pytest.raises(InvalidInputError, match=why):
        registry.import_path(model_file, name=name)
    assert registry.count() == (0, 0)
    assert [p for p in (registry.store.root / "blobs").rglob("*") if p.is_file()] == []


def test_missing_and_empty_paths_register_nothing(registry: Registry, tmp_path: Path) -> None:
    empty = tmp_path / "empty.pkl"
    empty.write_bytes(b"")
    (tmp_path / "void").mkdir()
    for path, why in [
        (tmp_path / "nope.pkl", "does not exist"),
        (empty, "is empty"),
        (tmp_path / "void", "empty folder"),
    ]:
        with pytest.raises(InvalidInputError, match=why):
            registry.import_path(path)
    assert registry.count() == (0, 0)


def test_tags_set_move_and_remove(registry: Registry, model_file: Path) -> None:
    registry.import_path(model_file, name="m")
    info = registry.set_tags("m:1", {"team": "risk", "dataset": "2024-q3"})
    assert info.tags == {"dataset": "2024-q3", "team": "risk"}
    info = registry.set_tags("m:1", {"team": "fraud"})
    assert info.tags["team"] == "fraud"
    info = registry.remove_tags("m:1", ["dataset"])
    assert info.tags == {"team": "fraud"}
    with pytest.raises(NotFoundError, match="no tag 'dataset'"):
        registry.remove_tags("m:1", ["dataset"])
    actions = [(e.action, e.details.get("key")) for e in registry.history("m")]
    assert ("tag.set", "team") in actions
    assert ("tag.removed", "dataset") in actions


def test_alias_moves_and_every_move_is_logged(
    registry: Registry, model_file: Path, tmp_path: Path
) -> None:
    registry.import_path(model_file, name="m")
    other = tmp_path / "v2.bin"
    other.write_bytes(b"v2")
    registry.import_path(other, name="m")
    registry.set_alias("m", "production", 1)
    assert registry.get("m@production").version == 1
    registry.set_alias("m", "production", 2)
    assert registry.get("m@production").version == 2
    assert registry.get("m:2").aliases == ("production",)
    assert registry.get("m:1").aliases == ()
    moves = [e.details for e in registry.history("m") if e.action == "alias.set"]
    assert moves == [
        {"alias": "production", "from_version": None, "to_version": 1},
        {"alias": "production", "from_version": 1, "to_version": 2},
    ]
    registry.remove_alias("m", "production")
    with pytest.raises(NotFoundError, match="no alias 'production'"):
        registry.get("m@production")


def test_alias_to_unknown_version_says_which_exist(registry: Registry, model_file: Path) -> None:
    registry.import_path(model_file, name="m")
    with pytest.raises(NotFoundError, match="no version 7") as caught:
        registry.set_alias("m", "production", 7)
    assert caught.value.hint == "its versions go from 1 to 1"


def test_archive_is_refused_while_an_alias_points_at_the_version(
    registry: Registry, model_file: Path
) -> None:
    registry.import_path(model_file, name="m")
    registry.import_path(model_file, name="m")
    registry.set_alias("m", "production", 1)
    with pytest.raises(ConflictError, match="production"):
        registry.archive("m:1")
    assert registry.archive("m:2").status == "archived"
    with pytest.raises(ConflictError, match="archived"):
        registry.set_alias("m", "staging", 2)
    assert "version.archived" in [e.action for e in registry.history("m")]


def test_list_filters_by_query_tag_and_alias(registry: Registry, tmp_path: Path) -> None:
    for name, team in [("churn", "growth"), ("fraud", "risk"), ("ltv", "growth")]:
        for i in range(2):
            path = tmp_path / f"{name}{i}.bin"
            path.write_bytes(f"{name}{i}".encode())
            registry.import_path(path, name=name, tags={"team": team, "run": str(i)})
    registry.set_alias("fraud", "production", 1)
    refs = lambda infos: [i.ref for i in infos]  # noqa: E731
    assert refs(registry.list_versions()) == ["ltv:2", "fraud:2", "churn:2"]
    assert refs(registry.list_versions(latest_only=False, limit=2)) == ["ltv:2", "ltv:1"]
    assert refs(registry.list_versions(tags={"team": "growth"})) == ["ltv:2", "churn:2"]
    assert refs(registry.list_versions(tags={"team": "growth", "run": "0"})) == [
        "ltv:1",
        "churn:1",
    ]
    assert refs(registry.list_versions(tags={"team": "growth"}, latest_only=False)) == [
        "ltv:2",
        "ltv:1",
        "churn:2",
        "churn:1",
    ]
    assert refs(registry.list_versions(alias="production")) == ["fraud:1"]
    assert refs(registry.list_versions(query="RIS")) == ["fraud:2"]  # tag value, any case
    assert refs(registry.list_versions(query="100%_")) == []  # LIKE wildcards are literal
    models = registry.list_models()
    assert [(m.name, m.version_count, m.latest.version) for m in models] == [
        ("fraud", 2, 2),  # the alias change touched it last
        ("ltv", 2, 2),
        ("churn", 2, 2),
    ]
    assert [m.name for m in registry.list_models(query="tv")] == ["ltv"]


def test_export_writes_files_back_byte_identical(
    registry: Registry, model_file: Path, model_folder: Path, tmp_path: Path
) -> None:
    registry.import_path(model_file)
    registry.import_path(model_folder)
    out = tmp_path / "out"
    [written] = registry.export("churn_model:1", out)
    assert written.read_bytes() == model_file.read_bytes()
    written_folder = registry.export("fraud_detector", out)
    for path in written_folder:
        relative = path.relative_to(out / "fraud_detector")
        assert path.read_bytes() == (model_folder / relative).read_bytes()
    assert len(written_folder) == 4


def test_verify_names_the_damaged_versions(
    registry: Registry, model_file: Path, model_folder: Path
) -> None:
    registry.import_path(model_file)
    folder = registry.import_path(model_folder)
    assert registry.verify().ok
    victim = next(f for f in registry.get(folder.ref).files if f.path == "saved_model.pb")
    blob = registry.store.blob_path(victim.sha256)
    blob.chmod(0o644)
    blob.write_bytes(b"bit rot")
    report = registry.verify()
    assert not report.ok
    assert report.store.corrupt == [victim.sha256]
    assert report.damaged == {"fraud_detector:1": ["saved_model.pb"]}


def test_event_log_is_append_only_in_the_database(registry: Registry, model_file: Path) -> None:
    registry.import_path(model_file)
    with registry.engine.begin() as connection, pytest.raises(DBAPIError, match="append-only"):
        connection.execute(text("UPDATE events SET actor = 'mallory'"))
    with registry.engine.begin() as connection, pytest.raises(DBAPIError, match="append-only"):
        connection.execute(text("DELETE FROM events"))
    assert {e.actor for e in registry.history("churn_model")} == {"tester"}


def test_register_refuses_files_missing_from_the_store(registry: Registry) -> None:
    ghost = StoredFile("ghost.bin", "0" * 64, 10)
    with pytest.raises(RegistryError, match="not in the store"):
        registry.register_versions([NewVersion(name="g", files=(ghost,), sha256=ghost.sha256)])
    assert registry.count() == (0, 0)


def test_batch_registration_is_all_or_nothing(registry: Registry) -> None:
    sha, size = registry.store.put_bytes(b"weights")
    good = NewVersion(name="ok", files=(StoredFile("w", sha, size),), sha256=sha)
    bad = NewVersion(name="bad:name", files=(StoredFile("w", sha, size),), sha256=sha)
    with pytest.raises(InvalidInputError):
        registry.register_versions([good, bad])
    assert registry.count() == (0, 0)
    infos = registry.register_versions([good, good, good])
    assert [i.version for i in infos] == [1, 2, 3]


def test_two_registries_on_one_database_number_versions_without_gaps(
    config: Config, model_file: Path
) -> None:
    """Two desktops (here two engines) importing at once never get the same number."""
    import threading

    regs = [Registry.open(config), Registry.open(config)]
    errors: list[BaseException] = []

    def work(reg: Registry) -> None:
        try:
            for _ in range(10):
                reg.import_path(model_file, name="shared")
        except Exception as exc:  # noqa: BLE001 - collected and asserted below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(r,)) for r in regs]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    try:
        assert errors == []
        assert sorted(v.version for v in regs[0].versions_of("shared")) == list(range(1, 21))
    finally:
        for r in regs:
            r.close()


def test_open_cleans_temp_files_left_by_a_crash(config: Config) -> None:
    tmp = config.store_dir / "tmp"
    tmp.mkdir(parents=True)
    (tmp / "incoming-abc").write_bytes(os.urandom(100))
    Registry.open(config).close()
    assert list(tmp.iterdir()) == []


def test_models_sort_on_every_column_and_search_tags(registry: Registry, tmp_path: Path) -> None:
    from app.registry.service import MODEL_ORDERS

    for name, size, tag in [("alpha", 30, "fraud"), ("bravo", 10, "growth"), ("charlie", 20, "")]:
        path = tmp_path / f"{name}.bin"
        path.write_bytes(b"x" * size)
        registry.import_path(path, name=name, tags={"team": tag} if tag else {})
    registry.set_alias("bravo", "production", 1)
    names = lambda **kw: [m.name for m in registry.list_models(**kw)]  # noqa: E731
    assert names(order_by="name", descending=False) == ["alpha", "bravo", "charlie"]
    assert names(order_by="size", descending=False) == ["bravo", "charlie", "alpha"]
    assert names(order_by="aliases", descending=True)[0] == "bravo"
    assert names(order_by="updated") == ["bravo", "charlie", "alpha"]
    for order in MODEL_ORDERS:  # every column sorts, both ways, without error
        assert sorted(names(order_by=order)) == ["alpha", "bravo", "charlie"]
        assert sorted(names(order_by=order, descending=False)) == ["alpha", "bravo", "charlie"]
    assert names(query="grow") == []
    assert names(query="grow", include_tags=True) == ["bravo"]
    assert registry.count_models(query="a", include_tags=False) == 3
    assert registry.count_models(query="fraud", include_tags=True) == 1
    assert names(limit=1, offset=1, order_by="name", descending=False) == ["bravo"]
    with pytest.raises(InvalidInputError, match="cannot sort models by 'colour'"):
        registry.list_models(order_by="colour")


def _stored_blobs(registry: Registry) -> list[Path]:
    return sorted(p for p in (registry.store.root / "blobs").rglob("*") if p.is_file())


def test_a_refused_import_leaves_nothing_in_the_store(registry: Registry, tmp_path: Path) -> None:
    from tests.formats import makers

    good = makers.sklearn_pickle(tmp_path / "good")
    registry.import_path(good, name="churn")
    before = _stored_blobs(registry)
    damaged = [
        makers.truncated(good, tmp_path / "cut-pickle"),
        makers.truncated(makers.sklearn_joblib(tmp_path / "joblib"), tmp_path / "cut-joblib"),
        makers.garbage_tail(good, tmp_path / "garbage-pickle"),
        makers.truncated(makers.onnx_from_sklearn(tmp_path / "onnx"), tmp_path / "cut-onnx"),
    ]
    for path in damaged:
        with pytest.raises(InvalidInputError, match="cannot be read"):
            registry.import_path(path, name="churn")
    assert _stored_blobs(registry) == before  # 4 refused imports: 0 files left behind
    assert [v.ref for v in registry.list_versions(latest_only=False)] == ["churn:1"]


def test_a_refused_folder_keeps_the_files_other_versions_use(
    registry: Registry, tmp_path: Path
) -> None:
    from tests.formats import makers

    good = makers.sklearn_pickle(tmp_path / "good")
    kept = registry.import_path(good, name="churn")
    folder = tmp_path / "run"
    folder.mkdir()
    (folder / "model.pkl").write_bytes(good.read_bytes())  # the same bytes as churn:1
    (folder / "scaler.pkl").write_bytes(good.read_bytes()[: good.stat().st_size // 2])
    (folder / "notes.txt").write_text("trained on the March data\n")
    before = _stored_blobs(registry)
    with pytest.raises(InvalidInputError, match=r"scaler\.pkl in the folder looks like a pickle"):
        registry.import_path(folder, name="churn-run")
    assert _stored_blobs(registry) == before
    assert registry.store.has(kept.files[0].sha256)
    assert registry.verify().ok
