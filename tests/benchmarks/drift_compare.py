"""drift_compare: ``modelbay drift compare`` against Evidently's DataDriftPreset on the same tables.

Creates (once, seeded, cached in the work folder) a reference table of 200,000
rows and a current one of 20,000 rows with 40 numeric and 10 categorical
columns (``--drift-reference-rows``, ``--drift-current-rows``): normal,
log-normal, uniform, exponential, wide integers, a rounded column with missing
values, a two-peaked mixture, a numeric column with four values; strings with
3 to 40 categories, yes/no, booleans, small integers, missing values, a new
category. 14 numeric and 4 categorical columns drift in the current table
(mean shifts of about 0.5 standard deviations, changed spreads and
proportions, a new category); the others come from the same distributions.

Timed in this process, 3 runs after 1 warm-up before the peer runs and 3 after
it (the median of the 6: the machine is shared):

- the statistics alone: ``compare_frames`` on the two DataFrames, as read by
  the command (also with one thread, for context);
- the whole command: ``modelbay drift compare REF CUR --json`` through
  ``app.cli.main`` (reading both CSV files, comparing, writing the JSON).

The peer, in its own virtualenv (``evidently-venv`` in the work folder,
created on first use: ``python3 -m venv`` + ``pip install evidently
"pandas<3"``; Evidently 0.7 does not import under pandas 3), timed the same
way by ``evidently_driver.py``: ``Report([DataDriftPreset()]).run(current,
reference)`` on DataFrames read by ``pandas.read_csv``, and that reading
separately. Then every column's verdict, test and score are compared; and
once more on tables of 1,000 and 500 rows from the same generators, where
the reference is small enough for the p-value tests (KS, chi-square, z).
Targets: the statistics at least 20x faster than Evidently's report; the same
verdict and test on every column of both pairs.

Rerun:  .venv/bin/python -m tests.benchmarks drift_compare
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import math
import os
import subprocess
from pathlib import Path
from typing import Any

import numpy as np

from tests.benchmarks._common import (
    check_ok,
    median,
    print_header,
    print_table,
    run_process,
    time_calls,
    verdict,
)

TARGET_SPEEDUP = 20.0
SMALL_REFERENCE = 1000
SMALL_CURRENT = 500
NUMERIC_COLUMNS = 40
CATEGORICAL_COLUMNS = 10
EVIDENTLY_DRIVER = Path(__file__).with_name("evidently_driver.py")
EVIDENTLY_REQUIREMENTS = ("evidently", "pandas<3")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("drift_compare")
    group.add_argument(
        "--drift-reference-rows", type=int, default=200_000, help="rows of the reference table"
    )
    group.add_argument(
        "--drift-current-rows", type=int, default=20_000, help="rows of the current table"
    )
    group.add_argument("--drift-runs", type=int, default=3, help="timed runs of each side")


# ---------------------------------------------------------------------- the data
Rng = np.random.Generator


def _with_missing(rng: Rng, values: Any, share: float) -> Any:
    values[rng.random(len(values)) < share] = None if values.dtype == object else np.nan
    return values


def _mixture(rng: Rng, n: int, second_share: float) -> Any:
    second = rng.random(n) < second_share
    return np.where(second, rng.normal(4.0, 1.0, n), rng.normal(0.0, 1.0, n))


def _new_category(rng: Rng, values: Any, share: float) -> Any:
    values[rng.random(len(values)) < share] = "plan_new"
    return values


def _labels(prefix: str, count: int) -> Any:
    return np.array([f"{prefix}{k:02d}" for k in range(count)], dtype=object)


def _zipf(rng: Rng, n: int, count: int, *, reverse: bool) -> Any:
    weights = 1.0 / np.arange(1, count + 1)
    weights = weights[::-1] if reverse else weights
    return rng.choice(_labels("tier_", count), n, p=weights / weights.sum())


# num_i is family i % 8; (rng, rows, drifted) -> values. A drifted column moves clearly
# (about 0.3-0.5 reference standard deviations, or shares reversed).
NUMERIC_FAMILIES: tuple[Any, ...] = (
    lambda rng, n, d: rng.normal(0.5 if d else 0.0, 1.0, n),
    lambda rng, n, d: rng.lognormal(0.0, 0.9 if d else 0.6, n),
    lambda rng, n, d: rng.uniform(10.0, 110.0, n) if d else rng.uniform(0.0, 100.0, n),
    lambda rng, n, d: rng.exponential(3.0 if d else 2.0, n),
    lambda rng, n, d: rng.integers(500, 5500, n) if d else rng.integers(0, 5000, n),
    lambda rng, n, d: _with_missing(rng, rng.normal(55.0 if d else 50.0, 10.0, n).round(1), 0.03),
    lambda rng, n, d: _mixture(rng, n, 0.5 if d else 0.3),
    # four values: numeric by type, tested as categories (at most 5 distinct values)
    lambda rng, n, d: rng.choice(
        np.array([0.0, 0.5, 1.0, 1.5]), n, p=[0.1, 0.2, 0.3, 0.4] if d else [0.4, 0.3, 0.2, 0.1]
    ),
)

# cat_j: strings, yes/no, small integers (categorical: at most 10 distinct), booleans,
# a long tail, missing values, a category new in the current table.
CATEGORICAL_FAMILIES: tuple[Any, ...] = (
    lambda rng, n, d: rng.choice(
        np.array(["red", "green", "blue"], dtype=object),
        n,
        p=[0.2, 0.3, 0.5] if d else [0.5, 0.3, 0.2],
    ),
    lambda rng, n, d: rng.choice(_labels("city_", 12), n),
    lambda rng, n, d: np.where(rng.random(n) < (0.6 if d else 0.3), "yes", "no").astype(object),
    lambda rng, n, d: rng.integers(1, 8, n),
    lambda rng, n, d: rng.random(n) < 0.7,
    lambda rng, n, d: _zipf(rng, n, 25, reverse=d),
    lambda rng, n, d: _with_missing(rng, rng.choice(_labels("shop_", 5), n), 0.05),
    lambda rng, n, d: _new_category(rng, rng.choice(_labels("plan_", 8), n), 0.15 if d else 0.0),
    lambda rng, n, d: rng.integers(0, 10, n),
    lambda rng, n, d: rng.choice(_labels("item_", 40), n),
)


DRIFTED_NUMERIC = tuple(i for i in range(NUMERIC_COLUMNS) if i % 3 == 0)
DRIFTED_CATEGORICAL = (0, 2, 5, 7)


def _table(rows: int, seed: int, *, current: bool) -> Any:
    import pandas as pd

    rng = np.random.default_rng(seed)
    columns: dict[str, Any] = {}
    for i in range(NUMERIC_COLUMNS):
        family = NUMERIC_FAMILIES[i % len(NUMERIC_FAMILIES)]
        columns[f"num_{i:02d}"] = family(rng, rows, current and i in DRIFTED_NUMERIC)
    for j in range(CATEGORICAL_COLUMNS):
        columns[f"cat_{j:02d}"] = CATEGORICAL_FAMILIES[j](
            rng, rows, current and j in DRIFTED_CATEGORICAL
        )
    return pd.DataFrame(columns)


def _make_tables(workdir: Path, reference_rows: int, current_rows: int) -> tuple[Path, Path]:
    folder = workdir / f"drift-{reference_rows}x{current_rows}"
    reference, current = folder / "reference.csv", folder / "current.csv"
    marker = folder / "complete.json"
    if marker.exists():
        return reference, current
    folder.mkdir(parents=True, exist_ok=True)
    print(f"writing {folder.name}/reference.csv and current.csv (once) ...")
    # Six significant digits: what exported data usually carries, and what pandas reads back.
    _table(reference_rows, 1, current=False).to_csv(reference, index=False, float_format="%.6g")
    _table(current_rows, 2, current=True).to_csv(current, index=False, float_format="%.6g")
    drifted = [f"num_{i:02d}" for i in DRIFTED_NUMERIC]
    drifted += [f"cat_{j:02d}" for j in DRIFTED_CATEGORICAL]
    marker.write_text(json.dumps({"drifted": drifted}))
    return reference, current


# ---------------------------------------------------------------------- the Evidently peer
def evidently_python(workdir: Path) -> Path:
    """The Evidently venv's python, creating the venv if missing."""
    venv = workdir / "evidently-venv"
    python = venv / "bin" / "python"
    probe = [str(python), "-c", "import evidently"]
    if python.exists() and subprocess.run(probe, capture_output=True, check=False).returncode == 0:
        return python
    print(f"creating the Evidently peer venv at {venv} (pip install evidently; a few minutes)...")
    subprocess.run(["python3", "-m", "venv", str(venv)], check=True)
    subprocess.run([str(python), "-m", "pip", "install", "-q", *EVIDENTLY_REQUIREMENTS], check=True)
    return python


def _evidently(
    workdir: Path, reference: Path, current: Path, runs: int, *, warmup: int = 1
) -> dict[str, Any]:
    argv = [evidently_python(workdir), EVIDENTLY_DRIVER, reference, current, "--runs", runs]
    run = run_process([*argv, "--warmup", warmup], capture=True)
    check_ok(run, "the Evidently driver")
    result: dict[str, Any] = json.loads(run.stdout.decode().strip().splitlines()[-1])
    return result


# ---------------------------------------------------------------------- the run
def _command(reference: Path, current: Path) -> None:
    from app.cli import main

    with contextlib.redirect_stdout(io.StringIO()):
        code = main(["drift", "compare", str(reference), str(current), "--json"])
    if code != 0:
        raise SystemExit(f"benchmark aborted: modelbay drift compare exited with {code}")


def run(args: argparse.Namespace) -> None:
    from app.monitor import DriftOptions, compare_frames
    from app.monitor.tables import read_table

    reference, current = _make_tables(
        args.workdir, args.drift_reference_rows, args.drift_current_rows
    )
    runs = args.drift_runs
    reference_frame, current_frame = read_table(reference), read_table(current)
    ours = compare_frames(reference_frame, current_frame)
    one_thread = DriftOptions(threads=1)
    timed = {
        "stats": lambda: compare_frames(reference_frame, current_frame),
        "stats, one thread": lambda: compare_frames(reference_frame, current_frame, one_thread),
        "read": lambda: (read_table(reference), read_table(current)),
        "whole": lambda: _command(reference, current),
    }
    # The machine is shared: our side is timed before and after the peer, and the
    # median is over both, so that a load arriving or leaving mid-run biases less.
    load_before = os.getloadavg()[0]
    samples = {name: time_calls(fn, runs=runs, warmup=1) for name, fn in timed.items()}
    peer = _evidently(args.workdir, reference, current, runs)
    for name, fn in timed.items():
        samples[name] += time_calls(fn, runs=runs, warmup=0)
    load_after = os.getloadavg()[0]
    stats_s, stats_1t, read_s, whole_s = (median(samples[name]) for name in timed)

    print_header(
        f"drift_compare: {NUMERIC_COLUMNS} numeric + {CATEGORICAL_COLUMNS} categorical columns, "
        f"{args.drift_reference_rows:,} reference rows, {args.drift_current_rows:,} current rows; "
        f"Modelbay: median of {runs} before and {runs} after the peer, after 1 warm-up; "
        f"Evidently {peer['evidently']} (pandas {peer['pandas']}) in its own venv: median of "
        f"{runs} after 1 warm-up; load average {load_before:.1f} at the start, "
        f"{load_after:.1f} at the end"
    )
    peer_s = peer["median"]
    peer_read = peer["read_seconds"]
    print_table(
        ["what", "Modelbay s", "Evidently s", "Evidently / Modelbay"],
        [
            [
                "statistics on the DataFrames in memory",
                f"{stats_s:.3f}",
                f"{peer_s:.2f}",
                f"{peer_s / stats_s:.1f}x",
            ],
            [
                "  the same, one thread",
                f"{stats_1t:.3f}",
                f"{peer_s:.2f}",
                f"{peer_s / stats_1t:.1f}x",
            ],
            ["reading both CSV files (pandas)", f"{read_s:.3f}", f"{peer_read:.2f}", "-"],
            [
                "whole: drift compare --json / read_csv + report",
                f"{whole_s:.3f}",
                f"{peer_read + peer_s:.2f}",
                f"{(peer_read + peer_s) / whole_s:.1f}x",
            ],
        ],
    )

    same_big = _agreement(ours, peer, "the big tables")
    small_reference, small_current = _make_tables(args.workdir, SMALL_REFERENCE, SMALL_CURRENT)
    small_ours = compare_frames(read_table(small_reference), read_table(small_current))
    small_peer = _evidently(args.workdir, small_reference, small_current, 1, warmup=0)
    print()
    print(
        f"the same tables cut to {SMALL_REFERENCE:,} reference and {SMALL_CURRENT:,} current "
        "rows (a reference of at most 1,000 values: the p-value tests):"
    )
    same_small = _agreement(small_ours, small_peer, "the small tables")

    speedup = peer_s / stats_s
    verdict(
        "drift statistics, Evidently DataDriftPreset time / drift compare time",
        f"{speedup:.1f}x",
        f">= {TARGET_SPEEDUP:.0f}x",
        speedup >= TARGET_SPEEDUP,
    )
    whole = (peer_read + peer_s) / whole_s
    verdict(
        "whole command with CSV reading, (read_csv + Evidently) / drift compare --json",
        f"{whole:.1f}x",
        f">= {TARGET_SPEEDUP:.0f}x",
        whole >= TARGET_SPEEDUP,
    )
    for what, (agree, total) in (("big", same_big), ("small", same_small)):
        verdict(
            f"columns with the same verdict and test as Evidently, {what} tables",
            f"{agree}/{total} ({agree / total:.0%})",
            "100%",
            agree == total,
        )


def _agreement(ours: Any, peer: dict[str, Any], tables: str) -> tuple[int, int]:
    """Print how Modelbay's columns compare with Evidently's; (columns that agree, columns)."""
    theirs = peer["columns"]
    rows, differing, other_test = [], [], {}
    largest_gap = 0.0
    for column in ours.columns:
        peer_column = theirs.get(column.column, {})
        same = peer_column.get("drifted") == column.drifted
        score = column.p_value if column.p_value is not None else column.statistic
        gap = abs(score - peer_column.get("score", math.nan))
        largest_gap = math.inf if math.isnan(gap) else max(largest_gap, gap)
        if not same:
            differing.append(column.column)
        if peer_column.get("method") != column.test:
            other_test[column.column] = (
                f"{column.column} ({column.test} / {peer_column.get('method')})"
            )
        if column.drifted or not same:
            rows.append(
                [
                    column.column,
                    column.test,
                    f"{score:.4g}",
                    str(peer_column.get("method")),
                    f"{peer_column.get('score', math.nan):.4g}",
                    "yes" if column.drifted else "no",
                    "yes" if peer_column.get("drifted") else "no",
                ]
            )
    missing = sorted(set(theirs) - {c.column for c in ours.columns})
    print()
    print(f"{tables}: the columns either side calls drifted")
    print_table(
        ["column", "Modelbay test", "score", "Evidently test", "score", "drifted", "Evidently"],
        rows,
    )
    total = len(ours.columns) + len(missing)
    agree = len(ours.columns) - len({*differing, *other_test})
    print(
        f"same verdict: {len(ours.columns) - len(differing)} of {total} columns"
        + (f"; differ: {', '.join(differing)}" if differing else "")
    )
    print(
        f"same test: {len(ours.columns) - len(other_test)} of {total} columns"
        + (f"; differ: {', '.join(other_test.values())}" if other_test else "")
    )
    print(f"largest difference of a score (p-value or distance): {largest_gap:.2e}")
    if missing:
        print(f"columns Evidently compared and Modelbay did not: {', '.join(missing)}")
    print(
        f"dataset: Modelbay {ours.drifted_columns} drifted columns ({ours.drift_share:.0%}), "
        f"Evidently {peer['drifted']}"
    )
    return agree, total
