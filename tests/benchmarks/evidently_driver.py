"""The Evidently side of ``drift_compare``: runs in the Evidently venv, never imports ``app``.

    python evidently_driver.py REFERENCE.csv CURRENT.csv --runs 3 --warmup 1

Reads both CSV files with ``pandas.read_csv`` at its defaults (timed on their
own), then runs a ``Report``
with ``DataDriftPreset()`` at its defaults, ``warmup`` times untimed and
``runs`` times timed, on the same DataFrames. Prints one JSON object as the
last line of stdout: the times, and per column the method Evidently chose, its
drift score and whether it called the column drifted (its own "Value Drift"
test: FAIL means drift), plus the share of drifted columns.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
import warnings
from typing import Any

# Evidently's display names of its stattests -> the names Modelbay (and Evidently's API) use.
METHODS = {
    "K-S p_value": "ks",
    "chi-square p_value": "chisquare",
    "Z-test p_value": "z",
    "Wasserstein distance (normed)": "wasserstein",
    "Jensen-Shannon distance": "jensenshannon",
    "PSI": "psi",
}


def _report(reference: Any, current: Any) -> Any:
    from evidently import Report
    from evidently.presets import DataDriftPreset

    # include_tests: the per-column verdicts are Evidently's own "Value Drift" tests.
    return Report([DataDriftPreset()], include_tests=True).run(current, reference)


def _verdicts(snapshot: Any) -> dict[str, Any]:
    content = snapshot.dict()
    columns: dict[str, dict[str, Any]] = {}
    share = None
    for metric in content["metrics"]:
        config = metric["config"]
        if config["type"].endswith("ValueDrift"):
            method = config.get("method")
            columns[config["column"]] = {
                "method": METHODS.get(method, method),
                "score": metric["value"],
                "threshold": config.get("threshold"),
            }
        elif config["type"].endswith("DriftedColumnsCount"):
            share = metric["value"]
    for test in content["tests"]:
        params = test.get("metric_config", {}).get("params", {})
        if params.get("type", "").endswith("ValueDrift"):
            columns[params["column"]]["drifted"] = test["status"] == "FAIL"
    return {"columns": columns, "drifted": share}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("reference")
    parser.add_argument("current")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--warmup", type=int, default=1)
    args = parser.parse_args()
    warnings.simplefilter("ignore")  # pandas/numpy deprecation chatter from Evidently
    import evidently
    import pandas as pd

    start = time.perf_counter()
    reference = pd.read_csv(args.reference)
    current = pd.read_csv(args.current)
    read_seconds = time.perf_counter() - start
    snapshot = None
    for _ in range(args.warmup):
        snapshot = _report(reference, current)
    samples = []
    for _ in range(args.runs):
        start = time.perf_counter()
        snapshot = _report(reference, current)
        samples.append(time.perf_counter() - start)
    result = {
        "evidently": evidently.__version__,
        "pandas": pd.__version__,
        "read_seconds": read_seconds,
        "seconds": samples,
        "median": statistics.median(samples),
        **_verdicts(snapshot),
    }
    print(json.dumps(result))


if __name__ == "__main__":
    main()
