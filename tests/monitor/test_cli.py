"""``modelbay drift compare`` as a real process: the table, --json, exit status, error lines."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

MODELBAY = [sys.executable, "-m", "app"]


def modelbay(*argv: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "MODELBAY_HOME": str(cwd / "home")}
    return subprocess.run(
        [*MODELBAY, *argv], env=env, cwd=cwd, capture_output=True, text=True, timeout=120
    )


@pytest.fixture(scope="module")
def tables(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("tables")
    rng = np.random.default_rng(42)

    def table(rows: int, shift: float) -> pd.DataFrame:
        return pd.DataFrame(
            {
                "income": rng.normal(50 + 5 * shift, 10, rows).round(2),
                "age": rng.integers(18, 90, rows),
                "plan": rng.choice(
                    ["basic", "plus", "pro"], rows, p=[0.6 - shift / 2, 0.3, 0.1 + shift / 2]
                ),
            }
        )

    table(5000, 0).to_csv(folder / "reference.csv", index=False)
    table(2000, 0).to_csv(folder / "same.csv", index=False)
    table(2000, 1).to_csv(folder / "shifted.csv", index=False)
    table(2000, 0).drop(columns="age").to_csv(folder / "no_age.csv", index=False)
    (folder / "latin1.csv").write_bytes(
        "income,age,plan\n1,20,basic\n2,30,café\n".encode("latin-1")
    )
    return folder


def test_json_with_drift_exits_0(tables: Path) -> None:
    done = modelbay("drift", "compare", "reference.csv", "shifted.csv", "--json", cwd=tables)
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert report["reference"] == {"table": "reference.csv", "rows": 5000}
    assert report["current"] == {"table": "shifted.csv", "rows": 2000}
    by_name = {c["column"]: c for c in report["columns"]}
    assert by_name["income"]["kind"] == "numeric"
    assert by_name["income"]["test"] == "wasserstein"
    assert by_name["income"]["p_value"] is None
    assert by_name["income"]["drifted"] is True
    assert by_name["plan"]["test"] == "jensenshannon"
    assert by_name["plan"]["drifted"] is True
    assert by_name["age"]["drifted"] is False
    assert isinstance(by_name["age"]["psi"], float)
    assert (report["drifted_columns"], report["tested_columns"]) == (2, 3)
    assert report["drift_share"] == pytest.approx(2 / 3)
    assert report["dataset_drift"] is True
    assert done.stderr == ""


def test_the_table_without_drift_exits_0(tables: Path) -> None:
    done = modelbay("drift", "compare", "reference.csv", "same.csv", cwd=tables)
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[0].split() == ["column", "kind", "test", "statistic", "p-value", "psi", "drifted"]
    assert lines[1].split()[:3] == ["income", "numeric", "wasserstein"]
    assert lines[1].split()[4] == "-"  # no p-value for a distance
    assert all(line.split()[-1] == "no" for line in lines[1:4])
    assert lines[-1] == (
        "0 of 3 columns drifted (0%): no dataset drift (that takes 50% of the columns or more)"
    )


def test_tests_and_thresholds_from_the_command_line(tables: Path) -> None:
    done = modelbay(
        "drift", "compare", "reference.csv", "shifted.csv", "--json",
        "--test", "income=ks", "--cat-test", "chisquare", "--threshold", "0.01",
        "--drift-share", "0.9", "--ignore", "age",
        cwd=tables,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert [(c["column"], c["test"], c["threshold"]) for c in report["columns"]] == [
        ("income", "ks", 0.01),
        ("plan", "chisquare", 0.01),
    ]
    assert report["columns"][0]["p_value"] < 0.01
    assert (report["dataset_drift"], report["drift_share_threshold"]) == (True, 0.9)


@pytest.mark.parametrize(
    ("current", "expected"),
    [
        ("no_age.csv", "error: the tables have different columns: no_age.csv lacks 'age'"),
        ("latin1.csv", "error: latin1.csv is not utf-8 text: byte 0xe9 on line 3"),
        ("missing.csv", "error: missing.csv does not exist"),
    ],
)
def test_errors_are_one_line_and_exit_1(tables: Path, current: str, expected: str) -> None:
    done = modelbay("drift", "compare", "reference.csv", current, cwd=tables)
    assert done.returncode == 1
    assert done.stdout == ""
    assert done.stderr.startswith(expected)
    assert len(done.stderr.strip().splitlines()) == 1
    assert "Traceback" not in done.stderr


@pytest.mark.parametrize(
    "argv",
    [["--threshold", "2"], ["--distance-threshold", "0"], ["--num-test", "anova"], ["--test", "x"]],
)
def test_bad_options(tables: Path, argv: list[str]) -> None:
    done = modelbay("drift", "compare", "reference.csv", "same.csv", *argv, cwd=tables)
    assert done.returncode in {1, 2}  # argparse's usage errors are 2, checked values 1
    assert "Traceback" not in done.stderr
    assert done.stderr.strip()


def test_starting_the_cli_loads_neither_pandas_nor_scipy() -> None:
    code = (
        "import sys; from app.cli import build_parser; build_parser(); "
        "print(sorted(m for m in ('pandas', 'scipy') if m in sys.modules))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]"


def test_the_cli_offers_every_test_the_service_knows() -> None:
    from app.cli.drift import TEST_NAMES
    from app.monitor import TESTS

    assert TEST_NAMES == TESTS
