"""Monitoring windows add up exactly to what was sent, across server processes; and a fuzz run."""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.formats import makers
from tests.serving.conftest import IRIS_COLUMNS, post_json, run_server

EDGES = [4.5, 5.0, 5.5, 6.0, 6.5, 7.0]
PROFILE = {
    "schema_version": 1,
    "columns": {
        "sepal length (cm)": {"kind": "numeric", "bin_edges": EDGES},
        "petal width (cm)": {"kind": "numeric", "bin_edges": [0.5, 1.0, 1.5, 2.0]},
    },
    "prediction": {"kind": "categorical", "categories": ["0", "1"]},  # "2" lands in other
}


def rows(count: int) -> list[list[float]]:
    import numpy as np

    rng = np.random.default_rng(7)
    values = rng.uniform([4.0, 2.0, 1.0, 0.1], [8.0, 4.5, 7.0, 2.5], size=(count, 4))
    values[::17, 0] = np.nan  # some missing values
    return [[None if np.isnan(v) else round(float(v), 2) for v in row] for row in values]


def expected_counts(values: list[float | None], edges: list[float]) -> tuple[list[int], int]:
    import bisect

    counts = [0] * (len(edges) + 1)
    missing = 0
    for value in values:
        if value is None:
            missing += 1
        else:
            counts[bisect.bisect_right(edges, value)] += 1
    return counts, missing


def collect(client: Any, window_seconds: float) -> list[dict[str, Any]]:
    time.sleep(window_seconds * 2.2)  # every window we wrote into is closed by now
    body = client.get("/monitoring/windows", params={"since": -1}).json()
    assert body["schema_version"] == 1
    return list(body["windows"])


@pytest.mark.parametrize("workers", [1, 2])
def test_windows_add_up_to_what_was_sent(
    workers: int, model_folder_of: Callable[..., Path], tmp_path: Path
) -> None:
    folder = model_folder_of(makers.sklearn_joblib(tmp_path / "made"), name="iris", profile=PROFILE)
    sent = rows(300)
    with (
        run_server(
            folder, "--window-seconds", "1", "--workers", str(workers), "--reservoir", "50"
        ) as server,
        server.client() as client,
    ):
        predicted: list[int] = []
        for start in range(0, len(sent), 7):  # many small requests spread over several windows
            batch = sent[start : start + 7]
            response = post_json(
                client, {"dataframe_split": {"columns": IRIS_COLUMNS, "data": batch}}
            )
            assert response.status_code == 200, response.text
            predicted += response.json()["predictions"]
        post_json(client, {"instances": "not rows"})  # one error
        windows = collect(client, 1.0)
    assert len(windows) >= 1
    assert [w["seq"] for w in windows] == sorted(w["seq"] for w in windows)
    assert sum(w["rows"] for w in windows) == len(sent)
    assert sum(w["requests"] for w in windows) == (len(sent) + 6) // 7
    assert sum(w["errors"] for w in windows) == 1
    for column, edges in (("sepal length (cm)", EDGES), ("petal width (cm)", [0.5, 1.0, 1.5, 2.0])):
        index = IRIS_COLUMNS.index(column)
        counts, missing = expected_counts([r[index] for r in sent], edges)
        got = [w["features"][column] for w in windows]
        assert [sum(c) for c in zip(*(g["counts"] for g in got), strict=True)] == counts
        assert sum(g["missing"] for g in got) == missing
    prediction_counts = {"0": 0, "1": 0}
    other = 0
    for label in predicted:
        if str(label) in prediction_counts:
            prediction_counts[str(label)] += 1
        else:
            other += 1
    assert {k: sum(w["predictions"]["counts"][k] for w in windows) for k in ("0", "1")} == (
        prediction_counts
    )
    assert sum(w["predictions"]["other"] for w in windows) == other
    said_about = {
        tuple(row): label for row, label in zip(sent, predicted, strict=True)
    }  # what the model said about each row sent (the rows are all different)
    for window in windows:
        assert len(window["sample"]) == min(50, window["rows"])
        assert window["sampled_from"] == window["rows"]
        assert len(window["sample_predictions"]) == len(window["sample"])
        for row, said in zip(window["sample"], window["sample_predictions"], strict=True):
            assert set(row) == set(IRIS_COLUMNS)  # (a window may hold only the failed request)
            assert said == said_about[tuple(row[c] for c in IRIS_COLUMNS)]


def test_since_returns_only_newer_windows(
    model_folder_of: Callable[..., Path], tmp_path: Path
) -> None:
    folder = model_folder_of(makers.sklearn_joblib(tmp_path / "made"), name="iris", profile=PROFILE)
    with run_server(folder, "--window-seconds", "1") as server, server.client() as client:
        post_json(client, {"dataframe_split": {"columns": IRIS_COLUMNS, "data": rows(5)}})
        first = collect(client, 1.0)
        last_seq = first[-1]["seq"]
        assert client.get("/monitoring/windows", params={"since": last_seq}).json()["windows"] == []
        post_json(client, {"dataframe_split": {"columns": IRIS_COLUMNS, "data": rows(3)}})
        newer = collect(client, 1.0)
        assert [w["seq"] for w in newer if w["seq"] > last_seq]
        assert client.get("/monitoring/windows", params={"since": "x"}).status_code == 400
        assert client.get("/monitoring/windows", params={"limit": "x"}).status_code == 400
        every = client.get("/monitoring/windows", params={"since": -1}).json()["windows"]
        assert len(every) >= 2
        oldest = client.get("/monitoring/windows", params={"since": -1, "limit": 1}).json()
        assert [w["seq"] for w in oldest["windows"]] == [every[0]["seq"]]


def test_fuzzing_the_openapi_document_finds_no_server_error(
    model_folder_of: Callable[..., Path], tmp_path: Path
) -> None:
    folder = model_folder_of(makers.sklearn_joblib(tmp_path / "made"), name="iris", profile=PROFILE)
    schemathesis = Path(sys.executable).with_name("schemathesis")
    with run_server(folder) as server:
        done = subprocess.run(
            [
                str(schemathesis),
                "run",
                f"{server.url}/openapi.json",
                "--url",
                server.url,
                "--checks",
                "not_a_server_error",
                "--max-examples",
                "60",
                "--no-color",
                "--seed",
                "20261127",
            ],
            capture_output=True,
            text=True,
            timeout=300,
        )
    assert done.returncode == 0, done.stdout[-3000:]
    assert " passed" in done.stdout
