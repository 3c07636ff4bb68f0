"""Shared helpers for the benchmarks: paths, timing, whole-process runs, tables, verdicts."""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
"""The project checkout (the folder holding pyproject.toml)."""

BENCH_DIR = ROOT / ".bench"
"""Default work folder: cached registries, the MLflow venv, big files (gitignored)."""

VENV_BIN = ROOT / ".venv" / "bin"
MODELBAY = VENV_BIN / "modelbay"
MLFLOW_DRIVER = Path(__file__).with_name("mlflow_driver.py")

# MLflow 3.x sends usage telemetry unless told not to; there is no network here anyway.
MLFLOW_ENV = {"MLFLOW_DISABLE_TELEMETRY": "true", "DO_NOT_TRACK": "true"}


# ---------------------------------------------------------------------- timing
def time_calls(fn: Callable[[], object], *, runs: int, warmup: int) -> list[float]:
    """Call ``fn`` ``warmup`` times untimed, then ``runs`` times; return the seconds of each."""
    for _ in range(warmup):
        fn()
    samples = []
    for _ in range(runs):
        start = time.perf_counter()
        fn()
        samples.append(time.perf_counter() - start)
    return samples


def median(samples: Sequence[float]) -> float:
    return statistics.median(samples)


@dataclass(frozen=True)
class ProcessRun:
    seconds: float
    max_rss_kib: int
    returncode: int
    stdout: bytes
    stderr: bytes


def run_process(
    argv: Sequence[str | Path],
    *,
    env: Mapping[str, str] | None = None,
    capture: bool = False,
) -> ProcessRun:
    """Run one whole process; return its wall time and its own peak RSS (via ``wait4``).

    Without ``capture`` the output goes to /dev/null, so a big stdout costs the
    child its serialisation but not our reading of it.
    """
    full_env = {**os.environ, **(env or {})}
    sink = subprocess.PIPE if capture else subprocess.DEVNULL
    start = time.perf_counter()
    proc = subprocess.Popen([str(a) for a in argv], env=full_env, stdout=sink, stderr=sink)
    if capture:
        out, err = proc.communicate()
        seconds = time.perf_counter() - start
        # communicate() has reaped the child: its rusage is only in RUSAGE_CHILDREN now.
        return ProcessRun(seconds, -1, proc.returncode, out, err)
    _, status, usage = os.wait4(proc.pid, 0)
    seconds = time.perf_counter() - start
    proc.returncode = os.waitstatus_to_exitcode(status)
    return ProcessRun(seconds, int(usage.ru_maxrss), proc.returncode, b"", b"")


def check_ok(run: ProcessRun, what: str) -> None:
    if run.returncode != 0:
        sys.stderr.write(run.stderr.decode(errors="replace")[-4000:])
        raise SystemExit(f"benchmark aborted: {what} exited with {run.returncode}")


# ---------------------------------------------------------------------- MLflow peer
def mlflow_python(workdir: Path) -> Path:
    """The MLflow venv's python, creating the venv (``pip install mlflow``) if missing."""
    venv = workdir / "mlflow-venv"
    python = venv / "bin" / "python"
    probe = [str(python), "-c", "import mlflow"]
    if python.exists() and subprocess.run(probe, capture_output=True, check=False).returncode == 0:
        return python
    print(f"creating the MLflow peer venv at {venv} (pip install mlflow; a few minutes)...")
    subprocess.run(["python3", "-m", "venv", str(venv)], check=True)
    subprocess.run([str(python), "-m", "pip", "install", "-q", "mlflow"], check=True)
    return python


def mlflow_call(workdir: Path, *args: str | Path) -> dict[str, Any]:
    """Run ``mlflow_driver.py ARGS`` in the MLflow venv; return the JSON it prints last."""
    argv = [mlflow_python(workdir), MLFLOW_DRIVER, *args]
    run = run_process(argv, env=MLFLOW_ENV, capture=True)
    check_ok(run, "the MLflow driver")
    last = run.stdout.decode().strip().splitlines()[-1]
    result: dict[str, Any] = json.loads(last)
    return result


def mlflow_version(workdir: Path) -> str:
    argv = [mlflow_python(workdir), "-c", "import mlflow; print(mlflow.__version__)"]
    run = run_process(argv, env=MLFLOW_ENV, capture=True)
    return run.stdout.decode().strip() or "?"


# ---------------------------------------------------------------------- printing
def print_header(title: str) -> None:
    print()
    print(f"== {title} ==")


def print_table(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> None:
    widths = [len(h) for h in headers]
    for row in rows:
        for i, cell in enumerate(row):
            widths[i] = max(widths[i], len(cell))
    line = " | ".join(h.ljust(w) for h, w in zip(headers, widths, strict=True))
    print(line)
    print("-+-".join("-" * w for w in widths))
    for row in rows:
        cells = [
            c.rjust(w) if i else c.ljust(w)
            for i, (c, w) in enumerate(zip(row, widths, strict=True))
        ]
        print(" | ".join(cells))


def verdict(what: str, measured: str, target: str, met: bool) -> None:
    """One line per target: the figure, the target, and plainly whether it was met."""
    print(f"verdict: {what}: {measured} (target {target}): {'MET' if met else 'NOT MET'}")


def ms(seconds: float) -> str:
    return f"{seconds * 1000:.2f}"


def ratio(numerator: float, denominator: float) -> str:
    return f"{numerator / denominator:.1f}x" if denominator > 0 else "-"
