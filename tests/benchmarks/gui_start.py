"""gui_start: whole process, cold start to a shown main window with the first page of models.

Runs ``python -m tests.benchmarks.gui_start_driver`` (offscreen, on a copy of
the cached 1,000 x 100 registry, so the cache is never written to): the
driver calls the real ``app.ui.run()`` with a watching ``MainWindow``, waits
until the models table has its first page and has painted rows, closes the
window and exits, and prints the seconds from its first statement to each step. Median of 7 runs
after 1 warm-up of:

- launch to populated window: from just before the process is spawned to the
  moment the table has painted its rows (Python start-up + the driver's
  in-process time; ``perf_counter`` is CLOCK_MONOTONIC, shared by processes);
- in-process: from the driver's first statement to the populated window;
- whole process: spawn to exit (adds the window's close and interpreter exit).

The driver also runs a 5 ms heartbeat (``tests/ui/heartbeat.py``) from
``show()`` to the populated window: the longest event-loop stall while the
registry opens on a cold process is printed for information.

Floors, timed the same way: ``python -c "import PySide6.QtWidgets"`` and
``modelbay --version``. Target: launch to populated window under 1.5 s median.

Rerun:  .venv/bin/python -m tests.benchmarks gui_start [--gui-runs N]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from tests.benchmarks._common import (
    MODELBAY,
    ROOT,
    VENV_BIN,
    check_ok,
    median,
    print_header,
    print_table,
    run_process,
    verdict,
)
from tests.benchmarks._fixtures import modelbay_home
from tests.benchmarks.gui_responsiveness import copy_home, describe, machine_load
from tests.ui.heartbeat import Stall

TARGET_S = 1.5
PYTHON = VENV_BIN / "python"
DRIVER = "tests.benchmarks.gui_start_driver"
STEPS = (
    ("imports", "imports: PySide6, app.ui.main_window"),
    ("MainWindow()", "app.ui.run(): config, log file, QApplication"),
    ("MainWindow", "MainWindow(config) constructed"),
    ("shown", "apply_theme, show()"),
    ("registry open", "registry open (background job done)"),
    ("first page", "first page in the table (sig_loaded handled)"),
    ("painted", "table viewport painting rows"),
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("gui_start")
    group.add_argument("--gui-runs", type=int, default=7, help="timed runs of each process")


def _driver_run(env: Mapping[str, str]) -> dict[str, Any]:
    """One driver process: its whole wall time, its report, and its start-up before ``t0``."""
    before = time.perf_counter()
    run = run_process([PYTHON, "-m", DRIVER], env=env, capture=True)
    check_ok(run, DRIVER)
    report: dict[str, Any] = json.loads(run.stdout.decode().strip().splitlines()[-1])
    startup = report["t0"] - before
    if not 0 <= startup <= run.seconds:  # not one shared clock: keep the in-process figure only
        startup = float("nan")
    populated = report["steps"]["populated"]
    return {
        "whole": run.seconds,
        "startup": startup,
        "in_process": populated,
        "launch_to_populated": startup + populated,
        "exit": run.seconds - startup - populated,
        "steps": report["steps"],
        "rows": report["rows"],
        "heartbeat": report["heartbeat"],
        "visible_rows": report["visible_rows"],
    }


def _floor(argv: Sequence[object], env: Mapping[str, str], runs: int) -> list[float]:
    check_ok(run_process(argv, env=env), " ".join(map(str, argv)))  # warm-up
    seconds = []
    for _ in range(runs):
        result = run_process(argv, env=env)
        check_ok(result, " ".join(map(str, argv)))
        seconds.append(result.seconds)
    return seconds


def run(args: argparse.Namespace) -> None:
    workdir: Path = args.workdir
    cached = modelbay_home(workdir, args.models, args.versions, refill=args.refill)
    home = copy_home(cached, workdir)
    base = {"MODELBAY_HOME": str(home), "MODELBAY_DATABASE_URL": "", "QT_QPA_PLATFORM": "offscreen"}
    env = {
        **base,
        "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])),
    }
    load_before = os.getloadavg()[0]
    try:
        _driver_run(env)  # warm-up: page cache, .pyc files, settings.ini written on close
        runs = [_driver_run(env) for _ in range(args.gui_runs)]
        floors = {
            'python -c "import PySide6.QtWidgets"': _floor(
                [PYTHON, "-c", "import PySide6.QtWidgets"], base, args.gui_runs
            ),
            "modelbay --version": _floor([MODELBAY, "--version"], base, args.gui_runs),
        }
    finally:
        load_after = os.getloadavg()[0]
        shutil.rmtree(home.parent, ignore_errors=True)

    n = f"{args.models * args.versions // 1000}k"
    print_header(
        f"gui_start: cold start to a shown, populated main window @{n} versions (a copy), "
        f"offscreen, median of {args.gui_runs} after 1 warm-up"
    )

    print(machine_load(load_before, load_after))

    def row(title: str, samples: list[float]) -> list[str]:
        return [title, f"{median(samples):.3f}", f"{min(samples):.3f}", f"{max(samples):.3f}"]

    def col(key: str) -> list[float]:
        return [r[key] for r in runs]

    print_table(
        ["measure", "median s", "min s", "max s"],
        [
            row("launch to populated window (spawn to rows painted)", col("launch_to_populated")),
            row("  Python start-up, before the driver's first line", col("startup")),
            row("  in-process: first line to rows painted", col("in_process")),
            row("  after: close window, interpreter exit", col("exit")),
            row(f"whole process {DRIVER} (spawn to exit)", col("whole")),
            *(row(f"floor: {title}", samples) for title, samples in floors.items()),
        ],
    )
    print(f"\nin-process steps, seconds after the driver's first line (median of {args.gui_runs}):")
    previous = 0.0
    step_rows = []
    for key, title in STEPS:
        at = median([r["steps"][key] for r in runs])
        step_rows.append([title, f"{at:.3f}", f"{(at - previous) * 1000:.0f}"])
        previous = at
    print_table(["step", "at s", "+ms"], step_rows)
    print(
        f"rows in the model: {runs[0]['rows']}, visible in the viewport: {runs[0]['visible_rows']}"
    )
    stalls = [r["heartbeat"]["longest_stall_ms"] for r in runs]
    print(
        "heartbeat (5 ms) on the GUI thread from show() to rows painted: longest stall "
        f"median {median(stalls):.0f} ms, max {max(stalls):.0f} ms; p99 gap median "
        f"{median([r['heartbeat']['p99_gap_ms'] for r in runs]):.0f} ms; ticks median "
        f"{median([r['heartbeat']['ticks'] for r in runs]):.0f}"
    )
    worst = max(runs, key=lambda r: r["heartbeat"]["longest_stall_ms"])["heartbeat"]["worst"]
    if worst:
        print(f"  the longest, after show(): {describe(Stall(**worst))}")
    launch, whole = median(col("launch_to_populated")), median(col("whole"))
    verdict(
        f"modelbay GUI @{n}: launch to populated window (whole process {whole:.3f} s)",
        f"{launch:.3f} s",
        f"< {TARGET_S} s",
        launch < TARGET_S,
    )
