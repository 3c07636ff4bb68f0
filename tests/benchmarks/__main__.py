"""Run the benchmarks: ``python -m tests.benchmarks [NAME ...] [options]``.

With no NAME every benchmark runs, in the order listed by ``--help``. They are
scripts that print figures and ratios against a peer measured in the same
run; they assert nothing. Cached data lives in the work folder (``.bench/``).
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence
from pathlib import Path
from types import ModuleType

from tests.benchmarks._common import BENCH_DIR

BENCHMARKS = (
    "registry_scale",
    "populate",
    "cli_list",
    "import_throughput",
    "format_scan",
    "gui_responsiveness",
    "gui_start",
    "serving",
    "image_build",
    "ship",
    "drift_compare",
    "monitoring_dashboard",
)


def _module(name: str) -> ModuleType:
    return importlib.import_module(f"tests.benchmarks.{name}")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m tests.benchmarks",
        description="Modelbay's on-demand benchmarks: " + ", ".join(BENCHMARKS),
    )
    parser.add_argument("names", nargs="*", metavar="NAME", help="benchmarks to run (all)")
    parser.add_argument(
        "--workdir",
        type=Path,
        default=BENCH_DIR,
        help=f"cache and scratch folder (default {BENCH_DIR})",
    )
    parser.add_argument(
        "--refill",
        action="store_true",
        help="rebuild the cached registries instead of reusing them",
    )
    parser.add_argument("--models", type=int, default=1000, help="models in the big registry")
    parser.add_argument("--versions", type=int, default=100, help="versions per model (big)")
    parser.add_argument(
        "--peer-models", type=int, default=100, help="models at the MLflow comparison size"
    )
    parser.add_argument(
        "--peer-versions",
        type=int,
        default=100,
        help="versions per model at the MLflow comparison size",
    )
    parser.add_argument("--runs", type=int, default=15, help="timed runs per in-process query")
    parser.add_argument("--warmup", type=int, default=3, help="untimed runs before those")
    for name in BENCHMARKS:
        _module(name).add_arguments(parser)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    unknown = [n for n in args.names if n not in BENCHMARKS]
    if unknown:
        parser.error(f"unknown benchmark {', '.join(unknown)}; choose from {', '.join(BENCHMARKS)}")
    args.workdir = args.workdir.absolute()
    args.workdir.mkdir(parents=True, exist_ok=True)
    for name in args.names or BENCHMARKS:
        _module(name).run(args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
