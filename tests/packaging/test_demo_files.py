"""The demo models an installer ships: made once at build time (``make_premade``, called by
packaging/modelbay.spec), then copied by ``modelbay demo`` in an app without scikit-learn.

The installed app is checked end to end by test_deb.py; these tests check the same path in
this interpreter, with scikit-learn and the other training libraries made unimportable.
"""

from __future__ import annotations

import hashlib
import json
import sys
from pathlib import Path

import pytest

from app.config import Config
from app.demo import (
    ALREADY_THERE,
    MODEL_NAMES,
    PREMADE_DIR,
    PREMADE_INDEX,
    create_demo,
    make_premade,
)
from app.errors import ModelbayError
from app.registry import Registry

TRAINING_LIBRARIES = ("sklearn", "joblib", "skl2onnx", "xgboost", "cloudpickle")
"""What the installed app leaves out (packaging/modelbay.spec): none of it may be needed."""


@pytest.fixture(scope="module")
def premade(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("premade")
    assert make_premade(folder) == {}  # the dev environment has every optional library
    return folder


@pytest.fixture
def without_training_libraries(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in TRAINING_LIBRARIES:
        monkeypatch.setitem(sys.modules, name, None)  # `import sklearn` now fails


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_the_source_tree_has_no_premade_folder() -> None:
    # Only the frozen app carries one; here `modelbay demo` must train (tests/test_demo.py).
    assert not PREMADE_DIR.exists()


@pytest.mark.usefixtures("without_training_libraries")
def test_the_demo_copies_premade_files_without_scikit_learn(
    premade: Path, registry: Registry, tmp_path: Path
) -> None:
    calls: list[str] = []
    workdir = tmp_path / "demo"
    result = create_demo(
        registry, workdir, premade=premade, progress=lambda d, t, m: calls.append(m)
    )
    assert result.skipped == {}
    assert [v.ref for v in result] == [
        "iris-classifier:1",
        "iris-classifier:2",
        "wine-quality:1",
        "diabetes-regressor:1",
        "breast-cancer-xgb:1",
    ]
    assert [m for m in calls if m.startswith("copying ")] == [f"copying {n}" for n in MODEL_NAMES]
    assert not [m for m in calls if m.startswith("training ")]
    assert registry.get("iris-classifier@production").version == 1
    assert registry.get("iris-classifier@staging").version == 2
    for info in result:
        source = Path(info.source_path)
        assert source.parent == workdir
        assert info.sha256 == sha256(premade / source.name)  # the build's bytes, unchanged
        assert (info.status, (info.safety or {}).get("verdict")) == ("ready", "safe")
        assert (workdir / info.tags["reference"]).is_file()
        assert registry.get(info.name).description.startswith("Demo: ")
        reference = registry.reference(info)  # profiled with pandas alone
        assert reference is not None, info.ref
        assert reference.sha256 == sha256(premade / info.tags["reference"])
        assert reference.profile is not None
        assert list(reference.profile["columns"]) == reference.columns
    again = create_demo(registry, workdir, premade=premade)
    assert again.skipped == dict.fromkeys(MODEL_NAMES, ALREADY_THERE)


def test_premade_and_trained_demos_register_the_same_versions(
    premade: Path, tmp_path: Path
) -> None:
    """Whether the app trains or copies, a user gets the same files, tags, notes and
    reference profiles."""
    registered = []
    for how in ("trained", "copied"):
        registry = Registry.open(Config.at(tmp_path / how))
        try:
            folder = premade if how == "copied" else tmp_path / "no-premade-here"
            result = create_demo(registry, tmp_path / how / "demo", premade=folder)
            registered.append(
                [(v.ref, v.sha256, v.format, v.tags, v.note, v.aliases) for v in result]
            )
            references = [registry.reference(v) for v in result]
            registered.append([(r.ref, r.sha256, r.profile) for r in references if r is not None])
        finally:
            registry.close()
    assert registered[0] == registered[2]
    assert registered[1] == registered[3]
    assert len(registered[1]) == len(registered[0])  # every version has its reference


def test_a_model_the_build_could_not_make_is_skipped_with_the_reason(
    registry: Registry, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = tmp_path / "premade"
    with monkeypatch.context() as building:
        building.setitem(sys.modules, "xgboost", None)  # the build has all but xgboost
        skipped = make_premade(folder)
    why = "not made when this Modelbay was built (xgboost is not installed)"
    assert skipped == {"breast-cancer-xgb": why}
    for name in TRAINING_LIBRARIES:  # and the app has none of them
        monkeypatch.setitem(sys.modules, name, None)
    result = create_demo(registry, tmp_path / "demo", premade=folder)
    assert result.skipped == {"breast-cancer-xgb": why}
    assert {v.name for v in result} == set(MODEL_NAMES) - {"breast-cancer-xgb"}


def test_a_damaged_index_says_to_reinstall(registry: Registry, tmp_path: Path) -> None:
    folder = tmp_path / "premade"
    folder.mkdir()
    (folder / PREMADE_INDEX).write_text(json.dumps({"models": {}}))  # no "skipped"
    with pytest.raises(ModelbayError, match="damaged") as caught:
        create_demo(registry, tmp_path / "demo", premade=folder)
    assert caught.value.hint == "reinstall Modelbay"
    assert registry.count() == (0, 0)


@pytest.mark.usefixtures("without_training_libraries")
def test_making_them_needs_scikit_learn(tmp_path: Path) -> None:
    with pytest.raises(ModelbayError, match="scikit-learn"):
        make_premade(tmp_path / "premade")
