"""registry_scale: the five everyday registry reads on a big registry, against MLflow.

Fills (once; cached under the work folder by size) a Modelbay registry with
1,000 models x 100 versions (2 tags each, a ``production`` alias per model),
one at the MLflow size (100 x 100) and an MLflow SQLite registry of that same
shape, then times in-process the median of 15 calls after 3 warm-ups of:

    (a) first page of models, newest first   list_models(limit=100)
    (b) every version of one model           versions_of("model-0500")
    (c) first page with a tag filter         list_versions(tags={"team": "t3"}, ...)
    (d) alias lookup                         get("model-0500@production")
    (e) first page of a name search          list_models(query="model-05", limit=100)

The target model is the middle one and the search fragment matches a full page
(model-0050 and "model-00" at 100 models). Target: each under 5 ms at 100k.

Rerun:  .venv/bin/python -m tests.benchmarks registry_scale [--refill] [--models N ...]
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from pathlib import Path
from typing import Any

from app.config import Config
from app.registry import Registry
from tests.benchmarks._common import (
    median,
    mlflow_call,
    mlflow_version,
    ms,
    print_header,
    print_table,
    ratio,
    time_calls,
    verdict,
)
from tests.benchmarks._fixtures import mlflow_db, modelbay_home
from tests.benchmarks.mlflow_driver import ALIAS, TAG_FILTER, name_query, target_model

TARGET_S = 0.005
QUERIES = {
    "list_models": "(a) models page, newest first",
    "versions_of": "(b) versions of one model",
    "tag_filter": "(c) versions page, tag team=t3",
    "alias": "(d) alias lookup",
    "name_search": "(e) models page, name search",
}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    del parser  # uses the common size, run and cache options only


def time_modelbay(home: Path, models: int, runs: int, warmup: int) -> dict[str, dict[str, Any]]:
    """Median seconds (and row count) of each query on the registry at ``home``."""
    target, fragment = target_model(models), name_query(models)
    key, value = TAG_FILTER
    out: dict[str, dict[str, Any]] = {}
    with Registry.open(Config.at(home)) as registry:
        calls: dict[str, Callable[[], Any]] = {
            "list_models": lambda: registry.list_models(limit=100),
            "versions_of": lambda: registry.versions_of(target),
            "tag_filter": lambda: registry.list_versions(
                tags={key: value}, latest_only=False, limit=100
            ),
            "alias": lambda: [registry.get(f"{target}@{ALIAS}")],
            "name_search": lambda: registry.list_models(query=fragment, limit=100),
        }
        for label, call in calls.items():
            rows = len(call())
            out[label] = {"s": median(time_calls(call, runs=runs, warmup=warmup)), "rows": rows}
    return out


def run(args: argparse.Namespace) -> None:
    workdir: Path = args.workdir
    big = modelbay_home(workdir, args.models, args.versions, refill=args.refill)
    small = modelbay_home(workdir, args.peer_models, args.peer_versions, refill=args.refill)
    db = mlflow_db(workdir, args.peer_models, args.peer_versions, refill=args.refill)

    big_n = f"{args.models * args.versions // 1000}k"
    small_n = f"{args.peer_models * args.peer_versions // 1000}k"
    print_header(
        f"registry_scale: median of {args.runs} after {args.warmup} warm-ups, in-process "
        f"(Modelbay vs MLflow {mlflow_version(workdir)}, both SQLite)"
    )
    mb_big = time_modelbay(big, args.models, args.runs, args.warmup)
    mb_small = time_modelbay(small, args.peer_models, args.runs, args.warmup)
    peer = mlflow_call(
        workdir,
        "query",
        db,
        "--models",
        str(args.peer_models),
        "--runs",
        str(args.runs),
        "--warmup",
        str(args.warmup),
    )
    rows = []
    for label, title in QUERIES.items():
        peer_s = peer[label]["ms"] / 1000
        rows.append(
            [
                title,
                ms(mb_big[label]["s"]),
                ms(mb_small[label]["s"]),
                ms(peer_s),
                ratio(peer_s, mb_small[label]["s"]),
                f"{mb_big[label]['rows']}/{mb_small[label]['rows']}/{peer[label]['rows']}",
            ]
        )
    print_table(
        [
            "query",
            f"modelbay@{big_n} ms",
            f"modelbay@{small_n} ms",
            f"mlflow@{small_n} ms",
            f"mlflow/modelbay @{small_n}",
            "rows",
        ],
        rows,
    )
    print(
        f"(rows: returned by modelbay@{big_n} / modelbay@{small_n} / mlflow@{small_n}; "
        f"target model {target_model(args.models)} / {target_model(args.peer_models)})"
    )
    for label, title in QUERIES.items():
        seconds = mb_big[label]["s"]
        verdict(f"{title} @{big_n}", f"{ms(seconds)} ms", "< 5 ms", seconds < TARGET_S)
