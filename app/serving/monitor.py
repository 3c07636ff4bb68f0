"""Rolling monitoring windows: what the model saw and said, bucketed on the reference profile.

Time is cut into windows of ``window_seconds`` (window ``seq`` covers
``[seq * w, (seq + 1) * w)``). For each window the runtime counts, per feature,
values per reference bin (numeric: the profile's bin edges, with one bucket
below the first edge and one above the last) or per category (plus "other"),
missing values, predictions the same way, requests and rows, and keeps a
bounded reservoir sample of raw rows.

Several server processes may answer requests: each accumulates its own
window and, when the window closes, writes it as one JSON file into a shared
state folder; ``closed_windows`` merges the files of the same ``seq``. Only
the newest ``keep`` windows are kept, so memory and disk stay bounded however
long the server runs.
"""

from __future__ import annotations

import json
import math
import os
import random
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

SCHEMA_VERSION = 1


class Windows:
    def __init__(
        self,
        profile: dict[str, Any] | None,
        state_dir: Path,
        *,
        window_seconds: float = 60.0,
        keep: int = 1440,
        reservoir: int = 500,
        clock: Any = time.time,
    ) -> None:
        self.profile = profile or {}
        self.columns: dict[str, dict[str, Any]] = dict(self.profile.get("columns") or {})
        self.prediction_spec: dict[str, Any] | None = self.profile.get("prediction")
        self.state_dir = state_dir
        self.state_dir.mkdir(parents=True, exist_ok=True)
        self.window_seconds = window_seconds
        self.keep = keep
        self.reservoir_size = reservoir
        self.clock = clock
        self._lock = threading.Lock()
        self._random = random.Random()  # noqa: S311 - sampling, not secrets
        self._edge_cache: dict[str, Any] = {}
        self._seq = self._seq_at(clock())
        self._current = self._empty()

    # ------------------------------------------------------------------ recording
    def _seq_at(self, moment: float) -> int:
        return int(moment // self.window_seconds)

    def _empty(self) -> dict[str, Any]:
        features: dict[str, Any] = {}
        for name, spec in self.columns.items():
            if spec.get("kind") == "numeric":
                features[name] = {
                    "counts": [0] * (len(spec.get("bin_edges", [])) + 1),
                    "missing": 0,
                }
            else:
                features[name] = {
                    "counts": dict.fromkeys(spec.get("categories", []), 0),
                    "other": 0,
                    "missing": 0,
                }
        prediction = None
        if self.prediction_spec:
            prediction = self._empty_bucket(self.prediction_spec)
        return {
            "requests": 0,
            "rows": 0,
            "errors": 0,
            "features": features,
            "predictions": prediction,
            "sample": [],
            "seen": 0,
        }

    @staticmethod
    def _empty_bucket(spec: dict[str, Any]) -> dict[str, Any]:
        if spec.get("kind") == "numeric":
            return {"counts": [0] * (len(spec.get("bin_edges", [])) + 1), "missing": 0}
        return {"counts": dict.fromkeys(spec.get("categories", []), 0), "other": 0, "missing": 0}

    def record(self, frame: Any, predictions: Any, requests: int = 1) -> None:
        """Count one scored batch: a DataFrame of ``requests`` requests and its predictions."""
        import numpy as np

        buckets = self._bucket_numeric(frame)
        for name, spec in self.columns.items():
            if name in frame.columns and name not in buckets:
                buckets[name] = _bucket(spec, frame[name].to_numpy())
        predicted = None
        if self.prediction_spec is not None:
            predicted = _bucket(self.prediction_spec, np.asarray(predictions).reshape(-1))
        with self._lock:
            self._rotate_locked(self.clock())
            window = self._current
            window["requests"] += requests
            window["rows"] += len(frame.index)
            for name, counted in buckets.items():
                _add(window["features"][name], counted)
            if predicted is not None:
                _add(window["predictions"], predicted)
            # reservoir sampling (algorithm R): a uniform sample of the window's rows; a row
            # is turned into a dict only when it enters the sample
            for position in range(len(frame.index) if self.reservoir_size else 0):
                window["seen"] += 1
                if len(window["sample"]) < self.reservoir_size:
                    window["sample"].append(_row(frame, position))
                else:
                    slot = self._random.randrange(window["seen"])
                    if slot < self.reservoir_size:
                        window["sample"][slot] = _row(frame, position)

    def _bucket_numeric(self, frame: Any) -> dict[str, dict[str, Any]]:
        """Every numeric feature of the batch from one float array: the per-batch hot path."""
        import numpy as np

        names = [
            n
            for n, spec in self.columns.items()
            if spec.get("kind") == "numeric" and n in frame.columns
        ]
        if not names:
            return {}
        try:
            block = frame[names].to_numpy(dtype="float64", na_value=np.nan)
        except (ValueError, TypeError):
            return {}  # some column holds text: bucket column by column (slower, exact)
        found = {}
        for index, name in enumerate(names):
            edges = self._edges(name)
            column = block[:, index]
            missing = np.isnan(column)
            positions = np.searchsorted(edges, column[~missing], side="right")
            found[name] = {
                "counts": np.bincount(positions, minlength=len(edges) + 1),
                "missing": int(missing.sum()),
            }
        return found

    def _edges(self, name: str) -> Any:
        import numpy as np

        cached = self._edge_cache.get(name)
        if cached is None:
            cached = np.asarray(self.columns[name].get("bin_edges", []), dtype="float64")
            self._edge_cache[name] = cached
        return cached

    def record_error(self) -> None:
        with self._lock:
            self._rotate_locked(self.clock())
            self._current["errors"] += 1

    # ------------------------------------------------------------------ closing
    def rotate(self) -> None:
        with self._lock:
            self._rotate_locked(self.clock())

    def flush(self) -> None:
        """Write the current window now (on shutdown), even if it is not over."""
        with self._lock:
            self._write(self._seq, self._current)
            self._current = self._empty()

    def _rotate_locked(self, now: float) -> None:
        seq = self._seq_at(now)
        if seq == self._seq:
            return
        if self._current["requests"] or self._current["errors"]:
            self._write(self._seq, self._current)
        self._seq = seq
        self._current = self._empty()
        self._prune(seq)

    def _write(self, seq: int, window: dict[str, Any]) -> None:
        document = _as_lists(dict(window))
        document.pop("seen", None)
        document["sampled_from"] = window["seen"]
        path = self.state_dir / f"window-{seq:012d}-{os.getpid()}.json"
        fd, temp = tempfile.mkstemp(dir=self.state_dir, prefix=".partial-")
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            json.dump(document, out, default=_jsonable)
        os.replace(temp, path)

    def _prune(self, seq: int) -> None:
        oldest = seq - self.keep
        for path in self.state_dir.glob("window-*.json"):
            if int(path.name.split("-")[1]) <= oldest:
                path.unlink(missing_ok=True)

    # ------------------------------------------------------------------ reading
    def closed_windows(self, since: int = -1) -> list[dict[str, Any]]:
        """Closed windows with ``seq > since``, oldest first, merged across processes."""
        self.rotate()
        by_seq: dict[int, list[dict[str, Any]]] = {}
        for path in sorted(self.state_dir.glob("window-*.json")):
            seq = int(path.name.split("-")[1])
            if seq <= since or seq >= self._seq:
                continue
            try:
                by_seq.setdefault(seq, []).append(json.loads(path.read_text(encoding="utf-8")))
            except (OSError, json.JSONDecodeError):
                continue  # being replaced or pruned right now: it comes next time
        return [self._merge(seq, parts) for seq, parts in sorted(by_seq.items())]

    def _merge(self, seq: int, parts: list[dict[str, Any]]) -> dict[str, Any]:
        merged = self._empty()
        sample: list[Any] = []
        sampled_from = 0
        for part in parts:
            for key in ("requests", "rows", "errors"):
                merged[key] += part.get(key, 0)
            for name, counted in (part.get("features") or {}).items():
                if name in merged["features"]:
                    _add(merged["features"][name], counted)
            if merged["predictions"] is not None and part.get("predictions"):
                _add(merged["predictions"], part["predictions"])
            sample.extend(part.get("sample") or [])
            sampled_from += part.get("sampled_from", 0)
        if len(sample) > self.reservoir_size:
            sample = random.Random(seq).sample(sample, self.reservoir_size)  # noqa: S311
        merged.pop("seen")
        merged.update(
            seq=seq,
            start=seq * self.window_seconds,
            end=(seq + 1) * self.window_seconds,
            sample=sample,
            sampled_from=sampled_from,
        )
        return _as_lists(merged)

    def describe(self) -> dict[str, Any]:
        return {
            "schema_version": SCHEMA_VERSION,
            "window_seconds": self.window_seconds,
            "keep": self.keep,
            "reservoir": self.reservoir_size,
            "profile": bool(self.columns),
        }


def _as_lists(window: dict[str, Any]) -> dict[str, Any]:
    """Counts kept as numpy arrays while a window is open become JSON lists."""
    features = {}
    for name, bucket in (window.get("features") or {}).items():
        features[name] = _bucket_as_lists(bucket)
    window["features"] = features
    if window.get("predictions"):
        window["predictions"] = _bucket_as_lists(window["predictions"])
    return window


def _bucket_as_lists(bucket: dict[str, Any]) -> dict[str, Any]:
    counts = bucket["counts"]
    if hasattr(counts, "tolist"):
        return {**bucket, "counts": [int(c) for c in counts.tolist()]}
    return bucket


def _row(frame: Any, position: int) -> dict[str, Any]:
    return {str(k): _jsonable(v) for k, v in zip(frame.columns, frame.iloc[position], strict=True)}


def _bucket(spec: dict[str, Any], values: Any) -> dict[str, Any]:
    import numpy as np
    import pandas as pd

    if spec.get("kind") == "numeric":
        edges = np.asarray(spec.get("bin_edges", []), dtype="float64")
        if values.dtype.kind in "iuf":  # the common case: numbers already, no conversion
            numbers = values.astype("float64", copy=False)
        else:
            numbers = pd.to_numeric(pd.Series(values), errors="coerce").to_numpy(dtype="float64")
        missing = np.isnan(numbers)
        positions = np.searchsorted(edges, numbers[~missing], side="right")
        counts = np.bincount(positions, minlength=len(edges) + 1).tolist()
        return {"counts": counts, "missing": int(missing.sum())}
    missing = pd.isna(values)
    present = values[~missing]
    categories = spec.get("categories", [])
    counts = dict.fromkeys(categories, 0)
    other = 0
    for value in present.tolist():
        key = str(value)
        if key in counts:
            counts[key] += 1
        else:
            other += 1
    return {"counts": counts, "other": other, "missing": int(missing.sum())}


def _add(total: dict[str, Any], part: dict[str, Any]) -> None:
    if not isinstance(total["counts"], dict):  # bin counts: a list, or a numpy array
        import numpy as np

        total["counts"] = np.add(total["counts"], part["counts"])
    else:
        for key, value in part["counts"].items():
            total["counts"][key] = total["counts"].get(key, 0) + value
        total["other"] = total.get("other", 0) + part.get("other", 0)
    total["missing"] += part.get("missing", 0)


def _jsonable(value: Any) -> Any:
    """numpy scalars and NaN in sampled rows become plain JSON."""
    if hasattr(value, "item"):
        value = value.item()
    if isinstance(value, float) and math.isnan(value):
        return None
    return value if isinstance(value, int | float | str | bool) or value is None else str(value)
