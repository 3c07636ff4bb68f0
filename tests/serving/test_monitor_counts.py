"""Windows.record in-process: every batch shape counts exactly what a plain loop counts."""

from __future__ import annotations

import bisect
import json
import math
import random
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from app.serving.monitor import Windows

EDGES = {
    "a": [-1.0, 0.0, 0.5, 1.0],
    "b": [0.0],
    "c": [-2.0, -1.0, -1.0, 0.0, 1.0, 2.0, 3.0],  # a repeated edge
    "d": [],  # one bucket for every number
}
PROFILE: dict[str, Any] = {
    "schema_version": 1,
    "columns": {
        **{name: {"kind": "numeric", "bin_edges": edges} for name, edges in EDGES.items()},
        "colour": {"kind": "categorical", "categories": ["red", "blue"]},
    },
    "prediction": {"kind": "categorical", "categories": ["0", "1"]},
}


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def numbers(rng: np.random.Generator, size: int, edges: list[float]) -> list[Any]:
    """Values on the edges, between them, beyond them, infinite and missing."""
    pool = [*edges, 0.0, -0.0, 0.25, -5.0, 5.0, math.inf, -math.inf, math.nan, None]
    return [pool[i] if i < len(pool) else float(rng.normal()) for i in rng.integers(0, 14, size)]


def counted_numbers(values: list[Any], edges: list[float]) -> dict[str, Any]:
    counts, missing = [0] * (len(edges) + 1), 0
    for value in values:
        if value is None or math.isnan(value):
            missing += 1
        else:
            counts[bisect.bisect_right(edges, value)] += 1
    return {"counts": counts, "missing": missing}


def counted_labels(values: list[Any], categories: list[str]) -> dict[str, Any]:
    import pandas as pd

    found: dict[str, Any] = {"counts": dict.fromkeys(categories, 0), "other": 0, "missing": 0}
    for value in values:
        if pd.isna(value):
            found["missing"] += 1
        elif str(value) in found["counts"]:
            found["counts"][str(value)] += 1
        else:
            found["other"] += 1
    return found


def expected(frames: list[Any], predictions: list[Any]) -> dict[str, Any]:
    """What a plain loop over every value counts."""
    import pandas as pd

    features: dict[str, Any] = {}
    for name, edges in EDGES.items():
        values = [
            value
            for frame in frames
            if name in frame.columns
            for value in pd.to_numeric(frame[name], errors="coerce").tolist()
        ]
        features[name] = counted_numbers(values, edges)
    colours = [v for frame in frames if "colour" in frame.columns for v in frame["colour"]]
    features["colour"] = counted_labels(colours, ["red", "blue"])
    said = [value for batch in predictions for value in np.asarray(batch).reshape(-1).tolist()]
    return {"features": features, "predictions": counted_labels(said, ["0", "1"])}


def written(state: Path) -> list[dict[str, Any]]:
    return [json.loads(p.read_text()) for p in sorted(state.glob("window-*.json"))]


def summed(windows: list[dict[str, Any]]) -> dict[str, Any]:
    def add(total: dict[str, Any], bucket: dict[str, Any]) -> None:
        if isinstance(bucket["counts"], dict):
            for key, value in bucket["counts"].items():
                total["counts"][key] += value
            total["other"] += bucket["other"]
        else:
            total["counts"] = [
                x + y for x, y in zip(total["counts"], bucket["counts"], strict=True)
            ]
        total["missing"] += bucket["missing"]

    features: dict[str, Any] = {
        name: {"counts": [0] * (len(edges) + 1), "missing": 0} for name, edges in EDGES.items()
    }
    features["colour"] = {"counts": {"red": 0, "blue": 0}, "other": 0, "missing": 0}
    said = {"counts": {"0": 0, "1": 0}, "other": 0, "missing": 0}
    for window in windows:
        for name, bucket in window["features"].items():
            add(features[name], bucket)
        add(said, window["predictions"])
    return {"features": features, "predictions": said}


def frame_of(rng: np.random.Generator, rows: int, layout: str) -> Any:
    import pandas as pd

    data: dict[str, Any] = {name: numbers(rng, rows, edges) for name, edges in EDGES.items()}
    data["colour"] = [["red", "blue", "green", None][i] for i in rng.integers(0, 4, rows)]
    frame = pd.DataFrame(data)
    if layout == "numbers only":
        return frame[list(EDGES)].astype("float64")
    if layout == "reordered":
        return frame[["colour", "d", "b", "a", "c"]]
    if layout == "one missing":
        return frame.drop(columns=["b"])
    if layout == "integers":
        return frame[list(EDGES)].fillna(0).replace([math.inf, -math.inf], 9).round().astype(int)
    if layout == "text in a number column":
        frame["a"] = frame["a"].astype(object)
        frame.loc[frame.index[0], "a"] = "not a number"
        return frame
    return frame


def predictions_of(rng: np.random.Generator, rows: int, kind: str) -> Any:
    if kind == "int":
        return rng.integers(0, 3, rows)
    if kind == "float":
        said = rng.integers(0, 2, rows).astype("float64")
        said[::3] = np.nan
        return said
    return np.array([["0", "1", "2", None][i] for i in rng.integers(0, 4, rows)], dtype=object)


LAYOUTS = ["all", "numbers only", "reordered", "one missing", "integers", "text in a number column"]


KINDS = ["int", "float", "object"]


@pytest.mark.parametrize("layout", LAYOUTS)
@pytest.mark.parametrize("kind", KINDS)
def test_record_counts_exactly_what_a_plain_loop_counts(
    layout: str, kind: str, tmp_path: Path
) -> None:
    rng = np.random.default_rng([LAYOUTS.index(layout), KINDS.index(kind)])
    clock = Clock()
    windows = Windows(PROFILE, tmp_path, window_seconds=10, reservoir=20, clock=clock)
    frames, predictions = [], []
    sizes = [1, 1, 2, 3, 4, 8, 1, 700, 5000, 1, 2]  # small batches, and two large ones
    for size in sizes:
        frame = frame_of(rng, size, layout)
        said = predictions_of(rng, size, kind)
        windows.record(frame, said, requests=max(1, size // 2))
        frames.append(frame)
        predictions.append(said)
        clock.now += 4.0  # the batches fall into several windows
    windows.flush()
    found = written(tmp_path)
    assert len(found) > 1
    assert sum(w["rows"] for w in found) == sum(sizes)
    assert sum(w["requests"] for w in found) == sum(max(1, s // 2) for s in sizes)
    assert summed(found) == expected(frames, predictions)
    for window in found:
        assert len(window["sample"]) == min(20, window["rows"])
        assert window["sampled_from"] == window["rows"]


def test_an_open_window_is_not_changed_by_writing_it(tmp_path: Path) -> None:
    """Writing folds the numeric counts into a copy: a failed write can be retried."""
    windows = Windows(PROFILE, tmp_path, reservoir=0, clock=Clock())
    frame = frame_of(np.random.default_rng(3), 50, "all")
    windows.record(frame, np.zeros(50, dtype=int))
    with windows._lock:
        windows._drain_locked()
        windows._write(1, windows._current)
        windows._write(2, windows._current)
    first, second = written(tmp_path)
    assert first == second
    assert sum(first["features"]["a"]["counts"]) + first["features"]["a"]["missing"] == 50


def test_unsorted_edges_bucket_as_a_binary_search_does(tmp_path: Path) -> None:
    import pandas as pd

    edges = [1.0, -1.0, 0.5]
    profile = {"columns": {"x": {"kind": "numeric", "bin_edges": edges}}}
    windows = Windows(profile, tmp_path, reservoir=0, clock=Clock())
    values = [random.Random(5).uniform(-2, 2) for _ in range(200)]
    windows.record(pd.DataFrame({"x": values}), np.zeros(200))
    windows.flush()
    (window,) = written(tmp_path)
    positions = np.searchsorted(np.array(edges), np.array(values), side="right")
    assert window["features"]["x"]["counts"] == np.bincount(positions, minlength=4).tolist()
