"""`modelbay reference`, `import --reference`, and what `show` says about reference data."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import pytest

from tests.cli.test_cli import run, run_json
from tests.formats import makers

IRIS_COLUMNS = ["sepal length (cm)", "sepal width (cm)", "petal length (cm)", "petal width (cm)"]


@pytest.fixture
def iris_model(tmp_path: Path) -> Path:
    return makers.sklearn_joblib(tmp_path / "model")


@pytest.fixture
def iris_csv(tmp_path: Path) -> Path:
    """The iris features and the target, as a data scientist would save the training table."""
    from sklearn.datasets import load_iris

    data = load_iris(as_frame=True)
    frame = data.data.assign(target=data.target)
    path = tmp_path / "data" / "iris-train.csv"
    path.parent.mkdir(parents=True)
    frame.to_csv(path, index=False)
    return path


def test_import_with_a_reference_attaches_it(
    capsys: pytest.CaptureFixture[str], iris_model: Path, iris_csv: Path
) -> None:
    code, out, err = run(
        capsys, "import", str(iris_model), "--name", "iris", "--reference", str(iris_csv)
    )
    assert code == 0, err
    lines = out.splitlines()
    assert lines[0].startswith("registered iris:1  joblib, sklearn")
    assert lines[1].startswith(
        "attached iris-train.csv to iris:1 as iris-reference:1 (150 rows, 5 columns"
    )
    assert [line.split(":")[0].strip() for line in lines[2:]] == IRIS_COLUMNS
    assert "numeric, 10 bins, 4.3 .. 7.9" in lines[2]
    assert (
        err.strip() == "warning: iris-train.csv: left out column the model does not take: 'target'"
    )

    code, out, _ = run(capsys, "show", "iris:1")
    assert code == 0
    [line] = [line for line in out.splitlines() if line.startswith("reference")]
    digest = hashlib.sha256(iris_csv.read_bytes()).hexdigest()
    assert line.split(None, 1)[1] == (
        f"iris-train.csv, iris-reference:1 (150 rows, 5 columns, 2.8 KB, csv, sha256 {digest[:12]})"
    )
    shown = run_json(capsys, "show", "iris:1")
    assert isinstance(shown, dict)
    assert shown["reference"]["sha256"] == digest
    assert shown["reference"]["rows"] == 150
    assert shown["reference"]["profiled_columns"] == IRIS_COLUMNS
    assert "profile" not in shown["reference"]


def test_import_json_with_a_reference(
    capsys: pytest.CaptureFixture[str], iris_model: Path, iris_csv: Path
) -> None:
    got = run_json(
        capsys, "import", str(iris_model), "--name", "iris", "--reference", str(iris_csv)
    )
    assert isinstance(got, dict)
    assert (got["name"], got["version"]) == ("iris", 1)
    assert got["reference"]["dataset"] == "iris-reference"
    assert got["reference"]["file"] == "iris-train.csv"


def test_bad_reference_data_keeps_the_import_and_says_how_to_attach_it_later(
    capsys: pytest.CaptureFixture[str], iris_model: Path, tmp_path: Path
) -> None:
    bad = tmp_path / "bad.csv"
    bad.write_text("sepal length (cm),petal width (cm)\n5.1,0.2\n")
    code, out, err = run(
        capsys, "import", str(iris_model), "--name", "iris", "--reference", str(bad)
    )
    assert code == 1
    assert out.startswith("registered iris:1  joblib, sklearn")
    assert err.startswith(
        f"error: iris:1 was registered, but {bad} was not attached as its reference data: "
        f"{bad} lacks columns 'sepal width (cm)', 'petal length (cm)' that the model takes"
    )
    assert err.rstrip().endswith(f"then `modelbay reference iris:1 {bad}`")
    assert run_json(capsys, "show", "iris:1")["reference"] is None  # type: ignore[index]

    code, out, err = run(
        capsys, "import", str(iris_model), "--name", "iris", "--reference", str(bad), "--json"
    )
    assert code == 1
    registered = json.loads(out)
    assert (registered["version"], registered["reference"]) == (2, None)
    assert "iris:2 was registered" in err


def test_reference_attaches_and_shows(
    capsys: pytest.CaptureFixture[str], iris_model: Path, iris_csv: Path
) -> None:
    run_json(capsys, "import", str(iris_model), "--name", "iris")
    code, out, err = run(capsys, "reference", "iris:1")
    assert code == 1
    assert err.strip() == (
        "error: iris:1 has no reference data; attach a table of the data it was trained on: "
        "modelbay reference iris:1 DATA.csv"
    )
    attached = run_json(capsys, "reference", "iris:1", str(iris_csv))
    assert isinstance(attached, dict)
    assert (attached["name"], attached["version"]) == ("iris", 1)
    assert attached["reference"]["dataset"] == "iris-reference"
    assert attached["reference"]["version"] == 1
    assert attached["reference"]["columns"] == [*IRIS_COLUMNS, "target"]
    assert attached["reference"]["warnings"] == [
        "left out column the model does not take: 'target'"
    ]

    code, out, _ = run(capsys, "reference", "iris:1")
    assert code == 0
    assert out.splitlines()[0].startswith("iris:1: iris-train.csv, iris-reference:1 (150 rows")
    assert "not profiled (the model does not take them): target" in out
    full: Any = run_json(capsys, "reference", "iris:1")
    edges = full["reference"]["profile"]["columns"]["sepal length (cm)"]["bin_edges"]
    assert len(edges) == 9
    assert len(full["reference"]["profile"]["sample"]) == 150

    history: Any = run_json(capsys, "history", "iris")
    assert history[-1]["action"] == "reference.attached"
    assert history[-1]["details"]["dataset"] == "iris-reference:1"


def test_reference_errors(
    capsys: pytest.CaptureFixture[str], iris_model: Path, tmp_path: Path
) -> None:
    run_json(capsys, "import", str(iris_model), "--name", "iris")
    code, _, err = run(capsys, "reference", "iris", str(tmp_path / "x.csv"))
    assert (code, err.strip()) == (
        1,
        "error: 'iris' does not name a version; write NAME:VERSION, e.g. churn:3",
    )
    latin = tmp_path / "latin.csv"
    latin.write_bytes(
        (",".join(IRIS_COLUMNS) + ",city\n5.1,3.5,1.4,0.2,Zürich\n").encode("latin-1")
    )
    code, _, err = run(capsys, "reference", "iris:1", str(latin))
    assert code == 1
    assert "is not utf-8 text: byte 0xfc on line 2" in err
    assert "--encoding latin-1" in err
    code, out, _ = run(capsys, "reference", "iris:1", str(latin), "--encoding", "latin-1")
    assert code == 0, out
    mixed = tmp_path / "mixed.csv"
    rows = [",".join(IRIS_COLUMNS)] + [f"5.{i},3.1,1.{i},0.{i}" for i in range(9)]
    rows[4] = "5.5,3.1,1.5,n/k"
    mixed.write_text("\n".join(rows) + "\n")
    code, _, err = run(capsys, "reference", "iris:1", str(mixed))
    assert code == 1
    assert err.strip() == (
        f"error: {mixed}: column 'petal width (cm)' mixes numbers with text: 'n/k' in 1 row; "
        "make those cells empty so they count as missing, or correct them"
    )
