"""cli_list: a whole ``modelbay list --json`` process, cold Python start to exit, vs MLflow.

Runs ``.venv/bin/modelbay list --json`` (every model's newest version, with
files) against the cached 1,000 x 100 registry and the 100 x 100 one: median
of 10 runs after 1 warm-up, with the process's peak RSS. Peer: a process in
the MLflow venv that imports mlflow and runs one ``search_registered_models``
on the 100 x 100 MLflow registry. Then prints the 10 biggest cumulative
imports from ``python -X importtime`` for ``modelbay list --json``.
Target: ``modelbay list --json`` at 100k versions under 0.5 s.

Rerun:  .venv/bin/python -m tests.benchmarks cli_list [--cli-runs N]
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path

from tests.benchmarks._common import (
    MLFLOW_DRIVER,
    MLFLOW_ENV,
    MODELBAY,
    ProcessRun,
    check_ok,
    median,
    mlflow_python,
    print_header,
    print_table,
    ratio,
    run_process,
    verdict,
)
from tests.benchmarks._fixtures import mlflow_db, modelbay_home

TARGET_S = 0.5


def add_arguments(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("cli_list")
    group.add_argument("--cli-runs", type=int, default=10, help="timed runs per command")


def _env(home: Path) -> dict[str, str]:
    return {"MODELBAY_HOME": str(home), "MODELBAY_DATABASE_URL": ""}


def _time(argv: Sequence[object], env: Mapping[str, str], runs: int) -> list[ProcessRun]:
    check_ok(run_process(argv, env=env, capture=True), " ".join(map(str, argv)))  # warm-up
    results = [run_process(argv, env=env) for _ in range(runs)]
    for result in results:
        check_ok(result, " ".join(map(str, argv)))
    return results


def _rows(argv: Sequence[object], env: Mapping[str, str]) -> int:
    """Rows a command returned: the length of Modelbay's JSON list, or the driver's count."""
    out = json.loads(run_process(argv, env=env, capture=True).stdout)
    return len(out) if isinstance(out, list) else int(out["rows"])


def import_times(home: Path) -> list[tuple[int, int, str]]:
    """(cumulative us, self us, module) of every import ``modelbay list --json`` makes."""
    argv = [sys.executable, "-X", "importtime", MODELBAY, "list", "--json"]
    run = run_process(argv, env=_env(home), capture=True)
    check_ok(run, "modelbay list under -X importtime")
    entries = []
    for line in run.stderr.decode().splitlines():
        if not line.startswith("import time:") or "cumulative" in line:
            continue
        own, cumulative, name = line.removeprefix("import time:").split("|", 2)
        entries.append((int(cumulative), int(own), name.rstrip()))
    return entries


def _print_imports(entries: list[tuple[int, int, str]], where: str) -> None:
    total = sum(own for _, own, _ in entries)
    print(
        f"\npython -X importtime, modelbay list --json @{where}: top 10 cumulative imports "
        f"(all imports: {total / 1000:.0f} ms)"
    )
    print_table(
        ["module", "cumulative ms", "self ms"],
        [
            [name, f"{cum / 1000:.1f}", f"{own / 1000:.1f}"]
            for cum, own, name in sorted(entries, reverse=True)[:10]
        ],
    )
    by_package: dict[str, int] = {}
    for _, own, name in entries:
        root = name.strip().split(".")[0]
        by_package[root] = by_package.get(root, 0) + own
    top = sorted(by_package.items(), key=lambda item: item[1], reverse=True)[:6]
    print(
        "self time summed by top-level package: "
        + ", ".join(f"{pkg} {us / 1000:.0f} ms" for pkg, us in top)
    )


def run(args: argparse.Namespace) -> None:
    workdir: Path = args.workdir
    big = modelbay_home(workdir, args.models, args.versions, refill=args.refill)
    small = modelbay_home(workdir, args.peer_models, args.peer_versions, refill=args.refill)
    db = mlflow_db(workdir, args.peer_models, args.peer_versions, refill=args.refill)
    big_n = f"{args.models * args.versions // 1000}k"
    small_n = f"{args.peer_models * args.peer_versions // 1000}k"

    listing = [MODELBAY, "list", "--json"]
    peer_argv = [mlflow_python(workdir), MLFLOW_DRIVER, "once", db]
    cases: list[tuple[str, Sequence[object], Mapping[str, str]]] = [
        (f"modelbay list --json @{big_n}", listing, _env(big)),
        (f"modelbay list --json @{small_n}", listing, _env(small)),
        (f"mlflow import + search_registered_models @{small_n}", peer_argv, MLFLOW_ENV),
        ("modelbay --version (start-up floor, no query)", [MODELBAY, "--version"], _env(big)),
    ]
    results = {}
    for title, argv, env in cases:
        results[title] = _time(argv, env, args.cli_runs)

    print_header(
        f"cli_list: whole process, cold start to exit, median of {args.cli_runs} after 1 warm-up"
    )
    medians = {t: median([r.seconds for r in rs]) for t, rs in results.items()}
    rows = []
    for title, runs in results.items():
        rss = max(r.max_rss_kib for r in runs) * 1024 / 1e6
        rows.append(
            [title, f"{medians[title]:.3f}", f"{min(r.seconds for r in runs):.3f}", f"{rss:.0f}"]
        )
    print_table(["command", "median s", "min s", "peak RSS MB"], rows)
    mb_small, peer = medians[cases[1][0]], medians[cases[2][0]]
    counts = [_rows(argv, env) for _, argv, env in cases[:3]]
    print(
        f"ratio mlflow/modelbay at {small_n}: {ratio(peer, mb_small)}  (rows returned: "
        f"modelbay@{big_n} {counts[0]}, modelbay@{small_n} {counts[1]}, "
        f"mlflow@{small_n} {counts[2]})"
    )

    _print_imports(import_times(big), big_n)
    mb_big = medians[cases[0][0]]
    verdict(
        f"modelbay list --json @{big_n}, whole process",
        f"{mb_big:.3f} s",
        "< 0.5 s",
        mb_big < TARGET_S,
    )
