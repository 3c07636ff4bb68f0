"""``modelbay demo``: real example models, trained on scikit-learn's datasets and registered.

Most checks read one demo run made once for this module (training takes about a second);
the tests that need their own run (rerun, cancel, a missing library, the CLI) make it.
"""

from __future__ import annotations

import csv
import json
import re
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from app.cli import main
from app.config import Config
from app.demo import ALREADY_THERE, MODEL_NAMES, DemoResult, create_demo, default_workdir
from app.errors import Cancelled, ModelbayError
from app.progress import CancelToken
from app.registry import Registry, VersionInfo

IRIS_FEATURES = ["sepal length (cm)", "sepal width (cm)", "petal length (cm)", "petal width (cm)"]
EXPECTED = {  # name -> (versions, format, framework)
    "iris-classifier": (2, "joblib", "sklearn"),
    "wine-quality": (1, "pickle", "sklearn"),
    "diabetes-regressor": (1, "onnx", "onnx"),
    "breast-cancer-xgb": (1, "xgboost-json", "xgboost"),
}


@dataclass
class Demo:
    registry: Registry
    workdir: Path
    result: DemoResult
    progress: list[tuple[int, int | None, str]]


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Demo]:
    """One demo run into a registry of its own, shared by the read-only tests below."""
    home = tmp_path_factory.mktemp("demo-home")
    calls: list[tuple[int, int | None, str]] = []
    registry = Registry.open(Config.at(home))
    try:
        result = create_demo(
            registry, home / "demo", progress=lambda d, t, m: calls.append((d, t, m))
        )
        yield Demo(registry, home / "demo", result, calls)
    finally:
        registry.close()


def by_ref(versions: list[VersionInfo]) -> dict[str, VersionInfo]:
    return {v.ref: v for v in versions}


# ---------------------------------------------------------------------- what it makes
def test_it_registers_every_demo_model_with_its_format_and_framework(demo: Demo) -> None:
    assert demo.result.skipped == {}
    assert [v.ref for v in demo.result] == [
        "iris-classifier:1",
        "iris-classifier:2",
        "wine-quality:1",
        "diabetes-regressor:1",
        "breast-cancer-xgb:1",
    ]
    assert list(MODEL_NAMES) == list(EXPECTED)
    for name, (count, fmt, framework) in EXPECTED.items():
        versions = demo.registry.versions_of(name)
        assert len(versions) == count, name
        for info in versions:
            assert (info.format, info.framework) == (fmt, framework), info.ref
            assert info.status == "ready", info.ref
            assert (info.safety or {}).get("verdict") == "safe", info.ref
            assert info.tags["demo"] == "true"
        assert demo.registry.get(name).description.startswith("Demo: ")
    assert demo.registry.count() == (4, 5)


def test_iris_has_two_versions_with_aliases_and_named_features(demo: Demo) -> None:
    assert demo.registry.get("iris-classifier@production").version == 1
    assert demo.registry.get("iris-classifier@staging").version == 2
    returned = by_ref(demo.result)
    assert returned["iris-classifier:1"].aliases == ("production",)
    assert returned["iris-classifier:2"].aliases == ("staging",)
    for version in (1, 2):
        info = demo.registry.get(f"iris-classifier:{version}")
        assert info.signature is not None
        assert [i["name"] for i in info.signature["inputs"]] == IRIS_FEATURES
        assert info.tags["task"] == "classification"
        assert info.tags["dataset"] == "iris"
    v1, v2 = (float(demo.registry.get(f"iris-classifier:{n}").tags["accuracy"]) for n in (1, 2))
    assert 0.9 <= v1 <= v2 <= 1.0  # the deeper forest is not worse on the held-out rows
    noted = re.search(r"test accuracy (\d\.\d+)", demo.registry.get("iris-classifier:1").note)
    assert noted is not None
    assert f"{float(noted.group(1)):.2f}" == f"{v1:.2f}"  # the note has the tag's figure


def test_the_onnx_model_takes_one_float_input_named_input(demo: Demo) -> None:
    info = demo.registry.get("diabetes-regressor")
    assert info.signature is not None
    assert info.signature["inputs"] == [{"name": "input", "type": "float", "shape": [None, 10]}]
    assert info.tags["task"] == "regression"
    assert 0.0 < float(info.tags["r2"]) < 1.0


def test_each_version_names_its_reference_csv_written_next_to_the_model(demo: Demo) -> None:
    for info in demo.result:
        source = Path(info.source_path)
        assert source.parent == demo.workdir
        reference = source.parent / info.tags["reference"]
        assert reference.name.endswith("-reference.csv")
        with reference.open(newline="") as stream:
            rows = list(csv.reader(stream))
        assert len(rows) > 50, reference  # the training rows, under a header
        inputs = (info.signature or {}).get("inputs") or []
        if info.format == "onnx":  # one tensor: the CSV's columns, in order
            assert len(rows[0]) == inputs[0]["shape"][1]
        elif inputs:  # named features: the CSV's header
            assert rows[0] == [i["name"] for i in inputs], reference
    iris = demo.workdir / "iris-reference.csv"
    assert iris.read_text().splitlines()[0] == ",".join(IRIS_FEATURES)


def test_each_version_has_its_reference_csv_attached_and_profiled(demo: Demo) -> None:
    import hashlib

    for info in demo.result:
        reference = demo.registry.reference(info.ref)
        assert reference is not None, info.ref
        csv_file = demo.workdir / info.tags["reference"]
        assert reference.sha256 == hashlib.sha256(csv_file.read_bytes()).hexdigest()
        assert reference.dataset == f"{info.name}-reference"
        assert reference.file_name == csv_file.name
        with csv_file.open(newline="") as stream:
            header, *rows = list(csv.reader(stream))
        assert (reference.rows, reference.columns) == (len(rows), header)
        assert reference.warnings == []  # every column is an input, none is empty
        profile = demo.registry.reference_profile(info)
        assert profile is not None
        assert list(profile["columns"]) == header  # the model takes every column, in order
        assert all(c["kind"] == "numeric" for c in profile["columns"].values()), info.ref
        assert all(len(c["bin_edges"]) > 1 for c in profile["columns"].values()), info.ref
        assert [e.action for e in demo.registry.history(info.name)].count(
            "reference.attached"
        ) == len([v for v in demo.result if v.name == info.name])
    # the two iris versions share the same training data: one dataset version, stored once
    iris = [demo.registry.reference(f"iris-classifier:{n}") for n in (1, 2)]
    assert iris[0] == iris[1]
    assert iris[0] is not None
    assert iris[0].ref == "iris-classifier-reference:1"
    diabetes = demo.registry.reference_profile("diabetes-regressor:1")
    assert diabetes is not None
    age = diabetes["columns"]["age"]["stats"]  # unscaled: real ages, as the CSV holds them
    assert 18 <= age["min"] < age["mean"] < age["max"] <= 80


def test_progress_names_each_model_and_ends_at_the_total(demo: Demo) -> None:
    total = len(MODEL_NAMES)
    training = [(d, m) for d, _, m in demo.progress if m.startswith("training ")]
    assert training == [(i, f"training {name}") for i, name in enumerate(MODEL_NAMES)]
    assert {t for _, t, _ in demo.progress} == {total}
    assert demo.progress[-1] == (total, total, "done")
    done = [d for d, _, _ in demo.progress]
    assert done == sorted(done)


def test_default_workdir_is_demo_in_the_data_home(config: Config) -> None:
    assert default_workdir(config) == config.home / "demo"


# ---------------------------------------------------------------------- reruns
def test_running_it_twice_adds_nothing_and_makes_the_same_files(
    registry: Registry, tmp_path: Path, demo: Demo
) -> None:
    first = create_demo(registry, tmp_path / "demo")
    counts = registry.count()
    events = len(registry.history("iris-classifier"))
    calls: list[str] = []
    again = create_demo(registry, tmp_path / "demo", progress=lambda d, t, m: calls.append(m))
    assert registry.count() == counts == (4, 5)
    assert len(registry.history("iris-classifier")) == events
    assert again.skipped == dict.fromkeys(MODEL_NAMES, ALREADY_THERE)
    assert [(v.id, v.aliases) for v in again] == [(v.id, v.aliases) for v in first]
    assert calls[0] == f"iris-classifier is {ALREADY_THERE}: skipped"
    # Deterministic: a second registry trained the same bytes as the module's run.
    assert [v.sha256 for v in first] == [v.sha256 for v in demo.result]


def test_a_model_name_already_taken_is_left_alone(registry: Registry, model_file: Path) -> None:
    mine = registry.import_path(model_file, name="wine-quality")
    result = create_demo(registry, model_file.parent / "demo")
    assert result.skipped == {"wine-quality": ALREADY_THERE}
    assert [(v.id, v.sha256) for v in registry.versions_of("wine-quality")] == [
        (mine.id, mine.sha256)
    ]
    assert registry.get("wine-quality").description == ""  # not even the description changed
    assert [v.ref for v in result if v.name == "wine-quality"] == ["wine-quality:1"]


# ---------------------------------------------------------------------- cancel, missing libraries
def test_cancel_before_start_registers_nothing(registry: Registry, tmp_path: Path) -> None:
    token = CancelToken()
    token.cancel()
    with pytest.raises(Cancelled):
        create_demo(registry, tmp_path / "demo", cancel=token)
    assert registry.count() == (0, 0)
    assert not (tmp_path / "demo").exists()


def test_cancel_during_a_model_keeps_the_finished_ones_whole(
    registry: Registry, tmp_path: Path
) -> None:
    token = CancelToken()

    def progress(done: int, total: int | None, message: str) -> None:
        if message == "training wine-quality":
            token.cancel()  # lands while wine trains: it must not be registered

    with pytest.raises(Cancelled):
        create_demo(registry, tmp_path / "demo", progress=progress, cancel=token)
    assert registry.count() == (1, 2)
    assert registry.get("iris-classifier@staging").version == 2


def test_a_missing_optional_library_skips_only_its_model(
    registry: Registry, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "xgboost", None)  # `import xgboost` now fails
    result = create_demo(registry, tmp_path / "demo")
    assert result.skipped == {"breast-cancer-xgb": "xgboost is not installed"}
    assert {v.name for v in result} == set(MODEL_NAMES) - {"breast-cancer-xgb"}
    assert registry.count() == (3, 4)
    assert not (tmp_path / "demo" / "breast-cancer-xgb.json").exists()


def test_without_scikit_learn_it_says_what_to_install(
    registry: Registry, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "sklearn", None)
    with pytest.raises(ModelbayError, match="scikit-learn") as caught:
        create_demo(registry, tmp_path / "demo")
    assert caught.value.hint is not None
    assert "pip install" in caught.value.hint
    assert registry.count() == (0, 0)


def test_importing_the_module_loads_no_heavy_library() -> None:
    code = (
        "import sys, app.demo\n"
        "heavy = {'sklearn', 'pandas', 'xgboost', 'skl2onnx', 'sqlalchemy'} & set(sys.modules)\n"
        "assert not heavy, heavy\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


# ---------------------------------------------------------------------- the command
def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_cli_text_then_json_on_a_rerun(capsys: pytest.CaptureFixture[str], config: Config) -> None:
    code, out, err = run(capsys, "demo")
    assert (code, err) == (0, "")
    lines = out.splitlines()
    assert lines[:4] == [
        "iris-classifier:2  joblib, sklearn  production->1 staging->2",
        "wine-quality:1  pickle, sklearn",
        "diabetes-regressor:1  onnx, onnx",
        "breast-cancer-xgb:1  xgboost-json, xgboost",
    ]
    assert len(lines) == 5
    assert lines[4].startswith("next: `modelbay list`")
    assert "modelbay show iris-classifier@production" in lines[4]
    assert str(config.home / "demo") in lines[4]
    assert (config.home / "demo" / "iris-reference.csv").is_file()

    code, out, err = run(capsys, "demo")
    assert (code, err) == (0, "")
    assert out.splitlines()[0] == (
        f"iris-classifier:2  joblib, sklearn  production->1 staging->2  "
        f"({ALREADY_THERE}, left as it was)"
    )

    code, out, err = run(capsys, "demo", "--json")
    assert (code, err) == (0, "")
    got = json.loads(out)
    assert [(v["name"], v["version"]) for v in got] == [
        ("iris-classifier", 1),
        ("iris-classifier", 2),
        ("wine-quality", 1),
        ("diabetes-regressor", 1),
        ("breast-cancer-xgb", 1),
    ]
    assert [v["aliases"] for v in got[:2]] == [["production"], ["staging"]]
    for item in got:
        assert (item["format"], item["framework"]) == EXPECTED[item["name"]][1:]
        assert (item["status"], item["safety"]["verdict"]) == ("ready", "safe")
        assert item["files"][0]["sha256"] == item["sha256"]
        assert item["tags"]["reference"].endswith("-reference.csv")


def test_cli_json_on_a_fresh_registry_notes_a_skipped_model_on_stderr(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "xgboost", None)
    code, out, err = run(capsys, "demo", "--json")
    assert code == 0
    assert [v["name"] for v in json.loads(out)] == [
        "iris-classifier",
        "iris-classifier",
        "wine-quality",
        "diabetes-regressor",
    ]
    assert err == "note: breast-cancer-xgb skipped: xgboost is not installed\n"
    code, out, _ = run(capsys, "demo")
    assert "breast-cancer-xgb: skipped (xgboost is not installed)" in out.splitlines()
