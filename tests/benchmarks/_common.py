"""Shared helpers for the benchmarks: paths, timing, whole-process runs, tables, verdicts."""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import tempfile
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


GNU_TIME = Path("/usr/bin/time")


def run_process(
    argv: Sequence[object],
    *,
    env: Mapping[str, str] | None = None,
    capture: bool = False,
) -> ProcessRun:
    """Run one whole process; return its wall time and, unless ``capture``, its peak RSS.

    The peak RSS comes from GNU time (``%M``): ``wait4`` on a child of this
    process would also count the pages it inherited from us at fork (tens of
    MB of SQLAlchemy). Without /usr/bin/time it falls back to ``wait4``, an
    upper bound. Without ``capture`` the output goes to /dev/null, so a big
    stdout costs the child its serialisation but not our reading of it.
    """
    full_env = {**os.environ, **(env or {})}
    command = [str(a) for a in argv]
    if capture:
        start = time.perf_counter()
        done = subprocess.run(command, env=full_env, capture_output=True, check=False)
        seconds = time.perf_counter() - start
        return ProcessRun(seconds, -1, done.returncode, done.stdout, done.stderr)
    with (
        tempfile.NamedTemporaryFile("r", suffix=".rss") as report,
        tempfile.TemporaryFile() as errors,  # a file, not a pipe: a chatty child never blocks
    ):
        if GNU_TIME.exists():
            command = [str(GNU_TIME), "-f", "%M", "-o", report.name, *command]
        start = time.perf_counter()
        proc = subprocess.Popen(command, env=full_env, stdout=subprocess.DEVNULL, stderr=errors)
        _, status, usage = os.wait4(proc.pid, 0)
        seconds = time.perf_counter() - start
        proc.returncode = os.waitstatus_to_exitcode(status)
        errors.seek(0)
        stderr = errors.read()
        measured = report.read().strip().splitlines()
    rss = int(measured[-1]) if measured and measured[-1].isdigit() else int(usage.ru_maxrss)
    return ProcessRun(seconds, rss, proc.returncode, b"", stderr)


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


def mlflow_call(workdir: Path, *args: object) -> dict[str, Any]:
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
