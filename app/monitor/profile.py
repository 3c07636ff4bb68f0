"""Reference profiles: what a version's reference data looks like, in the serving runtime's format.

:func:`profile_table` reads a table (CSV or Parquet, through
:mod:`app.monitor.tables`) or takes a DataFrame and describes each column the
model takes:

- its kind, inferred as ``drift compare`` infers it (:func:`app.monitor.infer_kind`);
- numeric columns: ``bin_edges``, the reference's 10 %, 20 %, ..., 90 %
  quantiles with repeats merged: exactly the edges ``drift compare`` cuts PSI's
  10 bins at. The runtime counts a value in bucket ``searchsorted(edges, value,
  side="right")``: one bucket below the first edge, one above the last, so 9
  edges make the same 10 bins. ``counts`` are the reference's rows per bucket;
- other columns: ``categories``, the ``top_k`` most frequent values as the text
  the runtime compares with (``str(value)``), their ``counts`` and ``other``;
- missing values and their rate, summary statistics;

plus a sample of rows. ``profile["columns"]`` is what
``app.serving.monitor.Windows`` reads; everything else is for people and for the
desktop's drift computations. The same data always gives the same profile,
byte for byte once written as JSON, wherever the file is (no path or time is in
it; the sample is drawn with a fixed seed).

Whatever is wrong with the data is an :class:`~app.errors.InvalidInputError`
that names the columns: columns the model takes that the table lacks, a column
of numbers with text among them (or text where the signature wants numbers),
and everything :func:`app.monitor.tables.read_table` refuses (empty files, the
wrong encoding, broken rows). Columns the model does not take are left out and
listed under ``ignored_columns`` (the runtime drops them from requests too).

pandas is imported inside the functions.
"""

from __future__ import annotations

import datetime as dt
import difflib
import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from app.errors import InvalidInputError
from app.monitor import stattests
from app.monitor.drift import (
    CATEGORICAL,
    NUMERIC,
    _finite_sorted,
    _is_numeric,
    _listing,
    _non_numbers,
    _samples,
    _strays_among_numbers,
    infer_kind,
)

PROFILE_SCHEMA_VERSION = 1
"""The runtime's ``SCHEMA_VERSION`` of the format ``profile["columns"]`` follows."""
DEFAULT_BINS = 10
DEFAULT_TOP_K = 20
DEFAULT_SAMPLE_ROWS = 500
QUANTILE_POINTS = 1000
"""Numeric columns keep their values up to this many rows, else this many quantiles."""
SAMPLE_SEED = 0
"""The sample is drawn with a fixed seed: the same data gives the same sample."""

# Signature types that mean "numbers" (MLflow's column types, ONNX tensor types, ours).
_NUMBER_TYPES = frozenset(
    {"number", "double", "float", "long", "integer", "int", "int32", "int64", "float32"}
    | {"float64", "tensor(float)", "tensor(double)", "tensor(int64)", "tensor(int32)"}
)


def profile_table(
    data: Any,
    *,
    signature: Mapping[str, Any] | None = None,
    bins: int = DEFAULT_BINS,
    top_k: int = DEFAULT_TOP_K,
    sample_rows: int = DEFAULT_SAMPLE_ROWS,
    encoding: str = "utf-8",
    name: str | None = None,
) -> dict[str, Any]:
    """The profile of ``data`` (a path to a CSV or Parquet file, or a pandas DataFrame).

    ``signature`` is the version's (``VersionInfo.signature``): with named inputs
    the profile holds those columns in that order and refuses a table that lacks
    one; with only a feature count the table must have that many columns.
    ``name`` is how messages call the table (default: the path, or "the reference data").
    """
    if bins < 2:
        raise InvalidInputError(f"a profile needs at least 2 bins, not {bins}")
    if top_k < 1:
        raise InvalidInputError(f"a profile keeps at least 1 category per column, not {top_k}")
    if sample_rows < 0:
        raise InvalidInputError(f"the sample cannot have {sample_rows} rows")
    if isinstance(data, str | Path):
        from app.monitor.tables import read_table

        path = Path(data)
        name = name or str(path)
        frame = read_table(path, encoding=encoding)
    else:
        frame = data
        name = name or "the reference data"
        _check_frame(frame, name)

    columns, ignored = _columns_for(frame, signature, name)
    wanted_types = _signature_types(signature)
    series = {column: frame[key] for column, key in columns}
    _refuse_mixed(series, wanted_types, name)

    warnings: list[str] = []
    if ignored:
        warnings.append(
            f"left out column{_s(ignored)} the model does not take: {_listing(ignored)}"
        )
    profiled: dict[str, Any] = {}
    for column, values in series.items():
        profiled[column] = _profile_column(
            values, bins=bins, top_k=top_k, wants_numbers=wanted_types.get(column) is True
        )
        if profiled[column]["missing"] == len(values):
            warnings.append(
                f"column {column!r} has no values (every cell is empty); "
                "its live values will all count in one bucket"
            )
    return {
        "schema_version": PROFILE_SCHEMA_VERSION,
        "rows": len(frame),
        "bins": bins,
        "top_k": top_k,
        "columns": profiled,
        "ignored_columns": ignored,
        "sample": _sample(series, len(frame), sample_rows),
        "sampled_from": len(frame),
        "warnings": warnings,
    }


def table_schema(frame: Any) -> dict[str, Any]:
    """Every column of a table with its pandas dtype, and the number of rows."""
    return {
        "rows": len(frame),
        "columns": [{"name": str(c), "dtype": str(frame[c].dtype)} for c in frame.columns],
    }


def runtime_profile(profile: Mapping[str, Any]) -> dict[str, Any]:
    """The profile to bake into an image: everything but the sample of reference rows.

    The runtime needs only the bins and categories; the reference's rows (the sample,
    each numeric column's values or quantiles) stay on the desktop rather than
    travelling to every host the image is shipped to.
    """
    baked = {k: v for k, v in profile.items() if k not in ("sample", "sampled_from")}
    baked["columns"] = {
        name: {k: v for k, v in spec.items() if k != "quantiles"}
        for name, spec in (profile.get("columns") or {}).items()
    }
    return baked


# ---------------------------------------------------------------------- columns
def _check_frame(frame: Any, name: str) -> None:
    labels = [str(c) for c in frame.columns]
    if not labels:
        raise InvalidInputError(f"{name} has no columns", hint="is it the right table?")
    repeated = sorted({c for c in labels if labels.count(c) > 1})
    if repeated:
        raise InvalidInputError(
            f"{name} has more than one column named {_listing(repeated)}",
            hint="give every column its own name",
        )
    if len(frame) == 0:
        raise InvalidInputError(
            f"{name} has column names but no rows", hint="a reference needs rows of data"
        )


def _signature_inputs(signature: Mapping[str, Any] | None) -> tuple[list[str] | None, int | None]:
    """(the column names the model takes, or None; how many features, or None).

    The same reading of a signature as the runtime's ``fit_to_signature``: one
    tensor input takes every column in order (its width from its shape); named
    inputs are columns by name; otherwise a feature count, when known.
    """
    if not signature:
        return None, None
    inputs = [i for i in signature.get("inputs") or [] if isinstance(i, Mapping)]
    tensors = [i for i in inputs if i.get("shape") is not None]
    if len(tensors) == 1 and len(inputs) == 1:
        shape = tensors[0].get("shape") or []
        width = shape[1] if len(shape) == 2 and isinstance(shape[1], int) else None
        return None, width
    named = [str(i["name"]) for i in inputs if i.get("name")]
    if named:
        return named, None
    count = signature.get("n_features")
    return None, count if isinstance(count, int) and count > 0 else None


def _signature_types(signature: Mapping[str, Any] | None) -> dict[str, bool]:
    """Named input -> whether the signature says it takes numbers."""
    names, _ = _signature_inputs(signature)
    if not names or not signature:
        return {}
    types: dict[str, bool] = {}
    for spec in signature.get("inputs") or []:
        if isinstance(spec, Mapping) and spec.get("name") and spec.get("type") is not None:
            types[str(spec["name"])] = str(spec["type"]).lower() in _NUMBER_TYPES
    return types


def _columns_for(
    frame: Any, signature: Mapping[str, Any] | None, name: str
) -> tuple[list[tuple[str, Any]], list[str]]:
    """The columns to profile as (name, frame label), in the model's order; those left out."""
    by_name = {str(c): c for c in frame.columns}
    names, count = _signature_inputs(signature)
    if names is not None:
        missing = [n for n in names if n not in by_name]
        if missing:
            raise InvalidInputError(
                f"{name} lacks column{_s(missing)} {_listing(missing)} that the model takes "
                f"(its signature lists {_listing(names)})",
                hint=_near_misses(missing, [c for c in by_name if c not in set(names)])
                or "column names are case-sensitive; give the table every input column",
            )
        return [(n, by_name[n]) for n in names], [c for c in by_name if c not in set(names)]
    if count is not None and len(by_name) != count:
        raise InvalidInputError(
            f"the model takes {count} feature{'s' if count != 1 else ''} per row, and {name} "
            f"has {len(by_name)} column{_s(list(by_name))} ({_listing(list(by_name))})",
            hint="keep only the model's input columns, in the order it was trained on "
            "(leave out the target and any ids)",
        )
    return list(by_name.items()), []


def _near_misses(missing: list[str], present: list[str]) -> str:
    guesses = []
    for wanted in missing:
        lowered = {p.lower().strip(): p for p in present}
        found = lowered.get(wanted.lower().strip()) or next(
            iter(difflib.get_close_matches(wanted, present, n=1, cutoff=0.8)), None
        )
        if found is not None:
            guesses.append(f"{found!r} for {wanted!r}")
    if not guesses:
        return ""
    return "did you mean " + ", ".join(guesses) + "? Column names must match exactly"


# ---------------------------------------------------------------------- mixed types
def _refuse_mixed(series: Mapping[str, Any], wanted_types: Mapping[str, bool], name: str) -> None:
    """One error naming every column that mixes numbers with text, or holds text where the
    signature says the model takes numbers, with a few of the offending values."""
    problems = []
    for column, values in series.items():
        if _is_numeric(values) or values.dtype.kind == "b" or values.count() == 0:
            continue
        strays = _strays_among_numbers(values.dropna().unique())
        if strays:
            problems.append(
                f"column {column!r} mixes numbers with text: {_samples(strays)}"
                f"{_rows_with(values, strays)}"
            )
        elif wanted_types.get(column) is True and (found := _non_numbers(values)):
            problems.append(
                f"column {column!r} holds text where the model takes numbers: "
                f"{_samples(found)}{_rows_with(values, found)}"
            )
    if problems:
        raise InvalidInputError(
            f"{name}: " + "; ".join(problems),
            hint="make those cells empty so they count as missing, or correct them",
        )


def _rows_with(values: Any, found: list[str]) -> str:
    rows = int(values.astype(str).isin(found).sum())
    return f" in {rows} row{'s' if rows != 1 else ''}"


# ---------------------------------------------------------------------- one column
def _profile_column(values: Any, *, bins: int, top_k: int, wants_numbers: bool) -> dict[str, Any]:
    import pandas as pd

    if wants_numbers and not _is_numeric(values):  # numbers written as text (checked above)
        values = pd.to_numeric(values, errors="coerce")
    kind = infer_kind(values)
    if kind == NUMERIC:
        return _numeric(values, bins)
    return _categories(values, kind, top_k)


def _quantile_levels(bins: int) -> Any:
    if bins == DEFAULT_BINS:
        return stattests.DECILES  # the very levels drift compare uses for PSI
    return np.linspace(1 / bins, 1 - 1 / bins, bins - 1)


def _numeric(values: Any, bins: int) -> dict[str, Any]:
    # cleaned and sorted exactly as drift compare does (integers by counting them)
    finite, missing = _finite_sorted(values, False)
    if len(finite):
        edges = np.unique(np.quantile(finite, _quantile_levels(bins)))
    else:
        edges = np.array([], dtype=np.float64)
    counts = stattests.counts_in_bins(finite, edges)
    stats: dict[str, Any] = {"count": len(finite)}
    if len(finite):
        q25, q50, q75 = np.quantile(finite, [0.25, 0.5, 0.75])
        stats.update(
            mean=_number(np.mean(finite)),
            std=_number(np.std(finite, ddof=1)) if len(finite) > 1 else None,
            min=_number(finite[0]),
            q25=_number(q25),
            median=_number(q50),
            q75=_number(q75),
            max=_number(finite[-1]),
        )
    return {
        "kind": NUMERIC,
        "dtype": str(values.dtype),
        "bin_edges": [float(e) for e in edges],
        "counts": [int(c) for c in counts],
        "quantiles": _quantile_function(finite),
        # infinities are left out of the bins as drift compare does, so they count as missing
        "missing": missing,
        "missing_rate": _share(missing, len(values)),
        "stats": stats,
    }


def _quantile_function(finite_sorted: Any) -> list[float]:
    """The reference's values when it has at most QUANTILE_POINTS, else its quantiles at
    levels (k + 0.5) / QUANTILE_POINTS: what live monitoring compares a window's sample
    with (KS on the exact values; Wasserstein against the whole reference, not a sample
    of it, whose own noise would be as large as the drift threshold)."""
    if len(finite_sorted) <= QUANTILE_POINTS:
        return [float(v) for v in finite_sorted]
    levels = (np.arange(QUANTILE_POINTS) + 0.5) / QUANTILE_POINTS
    return [float(v) for v in np.quantile(finite_sorted, levels)]


def _categories(values: Any, kind: str, top_k: int) -> dict[str, Any]:
    present = values.dropna()
    if present.dtype.kind == "f":
        present = present[np.isfinite(present.to_numpy())]
    # the text the runtime compares with: str() of the value as the request parses it
    labels = present.astype(str)
    counted = labels.value_counts(sort=False)
    ordered = sorted(
        zip(counted.index.tolist(), counted.tolist(), strict=True), key=lambda kv: (-kv[1], kv[0])
    )
    top = ordered[:top_k]
    other = sum(count for _, count in ordered[top_k:])
    total = len(labels)
    return {
        "kind": kind if kind in (CATEGORICAL, "text", "datetime") else CATEGORICAL,
        "dtype": str(values.dtype),
        "categories": [label for label, _ in top],
        "counts": {label: int(count) for label, count in top},
        "other": int(other),
        "missing": len(values) - total,
        "missing_rate": _share(len(values) - total, len(values)),
        "stats": {
            "count": total,
            "unique": len(ordered),
            "frequencies": {label: _share(count, total) for label, count in top},
            "other_share": _share(other, total),
        },
    }


# ---------------------------------------------------------------------- sample
def _sample(series: Mapping[str, Any], rows: int, size: int) -> list[dict[str, Any]]:
    """Up to ``size`` rows, in their order in the table, as the runtime's window samples
    are: one object per row."""
    if rows <= size:
        positions = np.arange(rows)
    else:
        rng = np.random.default_rng(SAMPLE_SEED)
        positions = np.sort(rng.choice(rows, size=size, replace=False))
    cells = {column: values.iloc[positions].tolist() for column, values in series.items()}
    return [{c: _jsonable(cells[c][i]) for c in series} for i in range(len(positions))]


def _share(part: int, whole: int) -> float:
    return part / whole if whole else 0.0


def _number(value: Any) -> float | None:
    number = float(value)
    return number if math.isfinite(number) else None


def _jsonable(value: Any) -> Any:
    """A cell as plain JSON: NaN, infinities and pandas' missing markers become null."""
    if hasattr(value, "item") and not isinstance(value, str):
        value = value.item()
    if value is None or isinstance(value, bool | int | str):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dt.datetime | dt.date):
        return value.isoformat()
    try:
        import pandas as pd

        if pd.isna(value):
            return None
    except (TypeError, ValueError):
        pass
    return str(value)


def _s(items: list[Any]) -> str:
    return "s" if len(items) > 1 else ""
