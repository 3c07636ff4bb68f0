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

Recording runs once per scored batch (usually a few rows, between two model
calls, so on cold caches): its fixed cost per call is what matters. A batch's
numeric features are read as one float array (no pandas indexing, no loop
over columns) and queued with its predictions; the queue is counted every
``_DRAIN_ROWS`` rows, and before its window is written, by a handful of numpy
calls into one flat count array per window, which becomes the per-feature
counts only when the window is written.
"""

from __future__ import annotations

import json
import math
import os
import random
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any

SCHEMA_VERSION = 1

# Rows whose counting waits to be done for many batches at once (see Windows.record);
# whatever waits is counted before its window is written.
_DRAIN_ROWS = 1024
# Above this many (rows x features x edges) comparisons a batch is bucketed with one
# binary search per feature instead of comparing every value with every edge.
_COMPARE_LIMIT = 1 << 16


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
        self._numeric = _NumericColumns(self.columns)
        # batches recorded but not counted yet, all of the current window (see record)
        self._pending: list[tuple[Any, Any, Any]] = []
        self._pending_rows = 0
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
            "sample_predictions": [],
            "seen": 0,
            # the numeric features' bins and missing values, all in one flat array while
            # the window is open (see _NumericColumns); folded into "features" when written
            "numeric": self._numeric.zeros(),
        }

    @staticmethod
    def _empty_bucket(spec: dict[str, Any]) -> dict[str, Any]:
        if spec.get("kind") == "numeric":
            return {"counts": [0] * (len(spec.get("bin_edges", [])) + 1), "missing": 0}
        return {"counts": dict.fromkeys(spec.get("categories", []), 0), "other": 0, "missing": 0}

    def record(self, frame: Any, predictions: Any, requests: int = 1) -> None:
        """Count one scored batch: a DataFrame of ``requests`` requests and its predictions.

        What can fail on odd input (reading the numbers, bucketing text) happens here, so
        an error reaches the caller as before; what cannot (counting float arrays and
        plain labels) is queued and done for many batches at once (``_drain_locked``):
        per call, the fixed cost of a dozen numpy calls on cold caches is what dominates.
        """
        import numpy as np

        block, layout = self._numeric.read(frame)
        done = layout[0] if layout is not None else ()
        buckets = {}
        if len(done) < len(self.columns):
            present = set(frame.columns.tolist())
            for name, spec in self.columns.items():
                if name in present and name not in done:
                    buckets[name] = _bucket(spec, frame[name].to_numpy())
        said = None
        predicted = None
        if self.prediction_spec is not None:
            said = np.asarray(predictions).reshape(-1)
            if not _cannot_fail(self.prediction_spec, said):
                predicted, said = _bucket(self.prediction_spec, said), None
        rows = len(frame.index)
        with self._lock:
            self._rotate_locked(self.clock())
            window = self._current
            window["requests"] += requests
            window["rows"] += rows
            for name, counted in buckets.items():
                _add(window["features"][name], counted)
            if predicted is not None:
                _add(window["predictions"], predicted)
            if self.reservoir_size:
                self._sample_locked(window, frame, rows, predictions)
            if block is not None or said is not None:
                self._pending.append((block, layout, said))
                self._pending_rows += rows
                if self._pending_rows >= _DRAIN_ROWS:
                    self._drain_locked()

    def _drain_locked(self) -> None:
        """Count the queued batches into the current window: numbers of the same column
        layout, and predictions of the same dtype, in one go."""
        import numpy as np

        if not self._pending:
            return
        pending, self._pending, self._pending_rows = self._pending, [], 0
        window = self._current
        blocks: dict[int, tuple[Any, list[Any]]] = {}
        labels: dict[Any, list[Any]] = {}
        for block, layout, said in pending:
            if block is not None:
                blocks.setdefault(id(layout), (layout, []))[1].append(block)
            if said is not None:
                labels.setdefault(said.dtype, []).append(said)
        for layout, parts in blocks.values():
            together = parts[0] if len(parts) == 1 else np.concatenate(parts)
            window["numeric"] += self._numeric.bincount(together, layout[2])
        spec = self.prediction_spec
        if spec is not None:
            for parts in labels.values():
                together = parts[0] if len(parts) == 1 else np.concatenate(parts)
                _add(window["predictions"], _bucket(spec, together))

    def _sample_locked(
        self, window: dict[str, Any], frame: Any, rows: int, predictions: Any
    ) -> None:
        """Reservoir sampling (algorithm R): a uniform sample of the window's rows, each with
        what the model said about it (``sample_predictions``, same positions); a row is
        turned into a dict only when it enters the sample."""
        size = self.reservoir_size
        sample = window["sample"]
        said = window["sample_predictions"]
        seen = window["seen"]
        randrange = self._random.randrange
        for position in range(rows):
            seen += 1
            if len(sample) < size:
                sample.append(_row(frame, position))
                said.append(_prediction(predictions, position, rows))
            else:
                slot = randrange(seen)
                if slot < size:
                    sample[slot] = _row(frame, position)
                    said[slot] = _prediction(predictions, position, rows)
        window["seen"] = seen

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
            self._drain_locked()
            self._write(self._seq, self._current)
            self._current = self._empty()

    def _rotate_locked(self, now: float) -> None:
        seq = self._seq_at(now)
        if seq == self._seq:
            return
        self._drain_locked()
        if self._current["requests"] or self._current["errors"]:
            self._write(self._seq, self._current)
        self._seq = seq
        self._current = self._empty()
        self._prune(seq)

    def _write(self, seq: int, window: dict[str, Any]) -> None:
        document = dict(window)
        document["features"] = self._numeric.fold(
            document.pop("numeric"), document.get("features") or {}
        )
        document = _as_lists(document)
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
    def closed_windows(self, since: int = -1, limit: int | None = None) -> list[dict[str, Any]]:
        """Closed windows with ``seq > since``, oldest first, merged across processes; at
        most ``limit`` of them (the oldest), so a client catching up can page."""
        self.rotate()
        by_seq: dict[int, list[dict[str, Any]]] = {}
        for path in sorted(self.state_dir.glob("window-*.json")):
            seq = int(path.name.split("-")[1])
            if seq <= since or seq >= self._seq:
                continue
            if limit is not None and seq not in by_seq and len(by_seq) >= limit:
                break
            try:
                by_seq.setdefault(seq, []).append(json.loads(path.read_text(encoding="utf-8")))
            except (OSError, json.JSONDecodeError):
                continue  # being replaced or pruned right now: it comes next time
        return [self._merge(seq, parts) for seq, parts in sorted(by_seq.items())]

    def _merge(self, seq: int, parts: list[dict[str, Any]]) -> dict[str, Any]:
        merged = self._empty()
        merged.pop("numeric")
        sample: list[Any] = []
        said: list[Any] = []
        sampled_from = 0
        for part in parts:
            for key in ("requests", "rows", "errors"):
                merged[key] += part.get(key, 0)
            for name, counted in (part.get("features") or {}).items():
                if name in merged["features"]:
                    _add(merged["features"][name], counted)
            if merged["predictions"] is not None and part.get("predictions"):
                _add(merged["predictions"], part["predictions"])
            rows = part.get("sample") or []
            sample.extend(rows)
            predictions = part.get("sample_predictions")
            said.extend(
                predictions if predictions and len(predictions) == len(rows) else [None] * len(rows)
            )
            sampled_from += part.get("sampled_from", 0)
        if len(sample) > self.reservoir_size:
            kept = sorted(random.Random(seq).sample(range(len(sample)), self.reservoir_size))  # noqa: S311
            sample = [sample[i] for i in kept]
            said = [said[i] for i in kept]
        merged.pop("seen")
        merged.update(
            seq=seq,
            start=seq * self.window_seconds,
            end=(seq + 1) * self.window_seconds,
            sample=sample,
            sample_predictions=said,
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


class _NumericColumns:
    """The profile's numeric features, bucketed together: the per-batch hot path.

    Feature ``j`` owns the slots ``[j * stride, (j + 1) * stride)`` of one flat count
    array: its bins first (``len(edges) + 1`` of them), the last slot its missing values.
    A batch becomes one (rows x features) float array; a value's bin is the number of
    the feature's edges it is >= (what ``searchsorted(edges, value, side="right")``
    gives on sorted edges; shorter edge lists are padded with NaN, which nothing is
    >=), NaN goes to the missing slot, and one ``bincount`` counts the whole batch.
    """

    def __init__(self, columns: dict[str, dict[str, Any]]) -> None:
        import numpy as np

        self.names = [n for n, spec in columns.items() if spec.get("kind") == "numeric"]
        self.index = {name: j for j, name in enumerate(self.names)}
        self.edges = [_edges_of(columns[name]) for name in self.names]
        widest = max((len(e) for e in self.edges), default=0)
        self.stride = widest + 2
        self.missing_slot = widest + 1
        self.size = self.stride * len(self.names)
        self.offsets = np.arange(len(self.names), dtype=np.intp) * self.stride
        self.padded = np.full((len(self.names), widest), np.nan)
        for j, edges in enumerate(self.edges):
            self.padded[j, : len(edges)] = edges
        # comparing with every edge counts the same as a binary search only on sorted edges
        self.comparable = all(
            not np.isnan(e).any() and bool(np.all(e[1:] >= e[:-1])) for e in self.edges
        )
        # the plan for the last column layout seen (every batch usually has the same one)
        self._cached: tuple[tuple[Any, ...] | None, tuple[tuple[str, ...], Any, Any] | None]
        self._cached = (None, None)

    def zeros(self) -> Any:
        import numpy as np

        return np.zeros(self.size, dtype=np.int64)

    def read(self, frame: Any) -> tuple[Any, tuple[tuple[str, ...], Any, Any] | None]:
        """(the batch's numeric features as one float array, or None when its numbers
        cannot be read that way; the layout: which features, see ``_plan``, or None when
        the batch has none of them)."""
        import numpy as np

        columns = tuple(frame.columns.tolist())
        cached_for, layout = self._cached
        if columns != cached_for:
            layout = self._plan(columns)
            self._cached = (columns, layout)  # one assignment: safe from several threads
        if layout is None:
            return None, None
        try:
            if layout[1] is not None:  # other columns too, or another order: these, by position
                frame = frame.take(layout[1], axis=1)
            return frame.to_numpy(dtype="float64", na_value=np.nan), layout
        except (ValueError, TypeError):
            return None, None  # some column holds text: bucket column by column (slower, exact)

    def _plan(self, columns: tuple[Any, ...]) -> tuple[tuple[str, ...], Any, Any] | None:
        """For a batch with these columns: (the numeric features in it, the positions of
        their columns or None when the batch is exactly those columns in that order, their
        indexes among all numeric features or None when it is all of them)."""
        import numpy as np

        present = [n for n in self.names if n in columns]
        if not present or len(set(columns)) != len(columns):
            return None  # nothing to count here, or ambiguous names: column by column
        take = None if list(columns) == present else np.array([columns.index(n) for n in present])
        which = None if present == self.names else np.array([self.index[n] for n in present])
        return tuple(present), take, which

    def bincount(self, block: Any, which: Any) -> Any:
        """The flat counts of a (rows x features) float array; ``which``: its columns'
        feature indexes, None when it has every feature in order."""
        import numpy as np

        rows, width = block.shape
        offsets = self.offsets if which is None else self.offsets[which]
        if self.comparable and rows * width * self.padded.shape[1] <= _COMPARE_LIMIT:
            padded = self.padded if which is None else self.padded[which]
            positions = (block[:, :, None] >= padded).sum(axis=2, dtype=np.intp)
        else:
            positions = np.empty((rows, width), dtype=np.intp)
            for k in range(width):
                j = k if which is None else int(which[k])
                positions[:, k] = np.searchsorted(self.edges[j], block[:, k], side="right")
        positions[np.isnan(block)] = self.missing_slot
        positions += offsets
        return np.bincount(positions.ravel(), minlength=self.size)

    def fold(self, counts: Any, features: dict[str, Any]) -> dict[str, Any]:
        """``features`` (not changed) plus the flat counts, per numeric feature."""
        import numpy as np

        folded = dict(features)
        for j, name in enumerate(self.names):
            start = j * self.stride
            bins = counts[start : start + len(self.edges[j]) + 1]
            missing = int(counts[start + self.missing_slot])
            bucket = folded.get(name)
            if bucket is None or (missing == 0 and not bins.any()):
                continue
            folded[name] = {
                **bucket,
                "counts": np.add(bucket["counts"], bins),
                "missing": bucket["missing"] + missing,
            }
        return folded


def _cannot_fail(spec: dict[str, Any], values: Any) -> bool:
    """Whether ``_bucket(spec, values)`` is sure to work: numbers for a numeric spec, numbers
    or strings for categories (anything else is bucketed at once, errors and all)."""
    kinds = "iuf" if spec.get("kind") == "numeric" else "iubfUS"
    return bool(values.dtype.kind in kinds)


def _edges_of(spec: dict[str, Any]) -> Any:
    import numpy as np

    return np.asarray(spec.get("bin_edges", []), dtype="float64")


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


def _prediction(predictions: Any, position: int, rows: int) -> Any:
    """What the model said about row ``position`` of a batch of ``rows`` rows, as JSON
    (a list for several outputs; None when the predictions do not line up with the rows)."""
    try:
        if len(predictions) != rows:
            return None
        said = predictions[position]
    except (TypeError, IndexError, KeyError):
        return None
    if hasattr(said, "tolist"):
        said = said.tolist()
    if isinstance(said, list | tuple):
        return [_jsonable(v) for v in said]
    return _jsonable(said)


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
    values = values.reshape(-1)
    kind = values.dtype.kind
    if kind in "iub":  # integers and booleans: never missing
        present, missing_count = values, 0
    elif kind == "f":
        missing = np.isnan(values)
        missing_count = int(missing.sum())
        present = values[~missing] if missing_count else values
    else:
        missing = pd.isna(values)
        missing_count = int(missing.sum())
        present = values[~missing]
    if kind in "iubUS" and len(present) > 64:  # many rows: count each distinct value once
        distinct, times = np.unique(present, return_counts=True)
        pairs: Any = zip(map(str, distinct.tolist()), times.tolist(), strict=True)
    else:  # (not floats: 0.0 and -0.0 are one value to np.unique, two labels to str)
        pairs = Counter(map(str, present.tolist())).items()
    counts = dict.fromkeys(spec.get("categories", []), 0)
    other = 0
    for key, seen in pairs:
        if key in counts:
            counts[key] += seen
        else:
            other += seen
    return {"counts": counts, "other": other, "missing": missing_count}


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
