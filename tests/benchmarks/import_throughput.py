"""import_throughput: ``modelbay import`` of a 1 GiB file against ``sha256sum`` of it.

Creates (once, cached in the work folder) a 1 GiB file of random bytes, warms
the page cache with one untimed ``sha256sum``, then alternates 3 timed runs of
``sha256sum FILE`` and of ``modelbay import FILE --json`` into a fresh
MODELBAY_HOME (whole process: start-up, hash, copy, fsync, register). The
import's peak RSS comes from ``wait4``. For context it also times
``dd ... conv=fsync`` (a plain copy with fsync, no hashing).
Targets: import/sha256sum at most 1.2x; import peak RSS under 150 MB.

Rerun:  .venv/bin/python -m tests.benchmarks import_throughput [--import-mib N]
"""

from __future__ import annotations

import argparse
import os
import shutil
import tempfile
from pathlib import Path

from tests.benchmarks._common import (
    MODELBAY,
    ProcessRun,
    check_ok,
    median,
    print_header,
    print_table,
    run_process,
    verdict,
)
from tests.benchmarks._fixtures import random_file

TARGET_RATIO = 1.2
TARGET_RSS_MB = 150


def add_arguments(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("import_throughput")
    group.add_argument("--import-mib", type=int, default=1024, help="size of the file (MiB)")
    group.add_argument("--import-runs", type=int, default=3, help="timed runs of each")


def _import(source: Path, scratch: Path) -> ProcessRun:
    home = Path(tempfile.mkdtemp(prefix="home-", dir=scratch))
    try:
        env = {"MODELBAY_HOME": str(home), "MODELBAY_DATABASE_URL": ""}
        result = run_process([MODELBAY, "import", source, "--json"], env=env)
        check_ok(result, "modelbay import")
        return result
    finally:
        shutil.rmtree(home, ignore_errors=True)
        os.sync()


def _copy(source: Path, scratch: Path) -> ProcessRun:
    target = scratch / "copy.bin"
    try:
        argv = ["dd", f"if={source}", f"of={target}", "bs=1M", "conv=fsync", "status=none"]
        result = run_process(argv)
        check_ok(result, "dd")
        return result
    finally:
        target.unlink(missing_ok=True)
        os.sync()


def run(args: argparse.Namespace) -> None:
    workdir: Path = args.workdir
    source = random_file(workdir, args.import_mib << 20)
    hashing = ["sha256sum", source]
    check_ok(run_process(hashing), "sha256sum")  # warm the page cache
    scratch = Path(tempfile.mkdtemp(prefix="import-", dir=workdir))
    try:
        _import(source, scratch)  # warm-up: Python's own files, the blob directories
        results: dict[str, list[ProcessRun]] = {"sha256sum": [], "import": [], "dd": []}
        for _ in range(args.import_runs):
            results["sha256sum"].append(run_process(hashing))
            results["import"].append(_import(source, scratch))
            results["dd"].append(_copy(source, scratch))
    finally:
        shutil.rmtree(scratch, ignore_errors=True)

    size_mib = args.import_mib
    print_header(
        f"import_throughput: {size_mib} MiB random file, median of {args.import_runs}, "
        "whole process, warm page cache"
    )
    medians = {k: median([r.seconds for r in v]) for k, v in results.items()}
    titles = {
        "sha256sum": "sha256sum FILE",
        "import": "modelbay import FILE --json (fresh home)",
        "dd": "dd bs=1M conv=fsync (copy, no hash)",
    }
    rows = []
    for key, runs in results.items():
        rss = max(r.max_rss_kib for r in runs) * 1024 / 1e6
        rows.append(
            [
                titles[key],
                f"{medians[key]:.2f}",
                f"{size_mib / medians[key]:.0f}",
                f"{medians[key] / medians['sha256sum']:.2f}x",
                f"{rss:.0f}",
            ]
        )
    print_table(["command", "median s", "MiB/s", "vs sha256sum", "peak RSS MB"], rows)
    factor = medians["import"] / medians["sha256sum"]
    peak = max(r.max_rss_kib for r in results["import"]) * 1024 / 1e6
    verdict(
        "modelbay import time / sha256sum time",
        f"{factor:.2f}x",
        f"<= {TARGET_RATIO}x",
        factor <= TARGET_RATIO,
    )
    verdict(
        "modelbay import peak RSS", f"{peak:.0f} MB", f"< {TARGET_RSS_MB} MB", peak < TARGET_RSS_MB
    )
