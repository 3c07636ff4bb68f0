"""image_build: ``modelbay build`` cold, then a new version of the same model (cache warm).

The model: the test suite's RandomForestClassifier on iris, saved with joblib
(version 1) and again with gzip compression (version 2: other bytes, the same
dependencies), registered in a fresh MODELBAY_HOME. Each timed run is the whole
``modelbay build NAME:V --base-image IMAGE --json`` process, smoke test
included (start the container, wait for /health, one request).

- cold: a fresh data home (no wheel cache: pip resolves and downloads), and the
  Docker build cache emptied first (the run's images removed, then
  ``docker image prune -f`` and ``docker builder prune -af``: this removes every
  dangling image and build cache on the machine, not only Modelbay's);
- rebuild: version 2 right after, in the same home (lock reused, layers cached).

Then the image's size against its base image, layer by layer. MLflow's
``mlflow models build-docker`` for the same model is attempted once (in its own
venv) and its outcome printed: it pulls its base image from a registry and
pip-installs inside the build, which this machine cannot do, so there is
usually no size to compare.
Target: rebuild under 10 s.

Rerun:  .venv/bin/python -m tests.benchmarks image_build [--build-runs N] [--base-image IMAGE]
"""

from __future__ import annotations

import argparse
import json
import os
import pickle
import shutil
import subprocess
import tempfile
from pathlib import Path
from typing import Any

from tests.benchmarks._common import (
    MLFLOW_ENV,
    MODELBAY,
    check_ok,
    median,
    mlflow_python,
    print_header,
    print_table,
    run_process,
    verdict,
)

TARGET_REBUILD_S = 10.0
NAME = "bench-iris"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("image_build")
    group.add_argument("--build-runs", type=int, default=2, help="cold + rebuild pairs")
    group.add_argument(
        "--base-image",
        default=os.environ.get("MODELBAY_TEST_BASE_IMAGE", "modelbay-test/python:3.11-bookworm"),
        help="image to build on (must be local; tests/setup/docker.sh makes the default)",
    )
    group.add_argument(
        "--skip-mlflow", action="store_true", help="do not attempt mlflow models build-docker"
    )


def _docker(*args: str) -> str:
    done = subprocess.run(["docker", *args], capture_output=True, text=True, check=False)
    return done.stdout.strip()


def _empty_build_cache() -> None:
    ids = _docker("images", "-q", f"modelbay/{NAME}").split()
    if ids:
        _docker("rmi", "-f", *sorted(set(ids)))
    _docker("image", "prune", "-f")
    _docker("builder", "prune", "-af")


def _home(scratch: Path) -> Path:
    from app.config import Config
    from app.registry import Registry
    from tests.formats import makers

    home = Path(tempfile.mkdtemp(prefix="home-", dir=scratch))
    with Registry.open(Config.at(home)) as registry:
        registry.import_path(makers.sklearn_joblib(home / "src1"), name=NAME)
        registry.import_path(makers.sklearn_joblib(home / "src2", compress="gzip"), name=NAME)
    return home


def _build(home: Path, version: int, base_image: str) -> tuple[float, dict[str, Any]]:
    argv = [MODELBAY, "build", f"{NAME}:{version}", "--base-image", base_image, "--json"]
    run = run_process(argv, env={"MODELBAY_HOME": str(home)}, capture=True)
    check_ok(run, f"modelbay build {NAME}:{version}")
    result: dict[str, Any] = json.loads(run.stdout)
    if result["status"] != "verified":
        raise SystemExit(f"benchmark aborted: the build is {result['status']}: {result['error']}")
    return run.seconds, result


def _layers(image: str) -> list[tuple[str, int]]:
    raw = _docker("history", "--no-trunc", "--format", "{{json .}}", image)
    rows = []
    for line in raw.splitlines():
        entry = json.loads(line)
        size = _parse_size(entry["Size"])
        if size:
            rows.append((entry["CreatedBy"].replace("/bin/sh -c #(nop) ", "")[:70], size))
    return rows


def _parse_size(text: str) -> int:
    units = {"B": 1, "kB": 1e3, "KB": 1e3, "MB": 1e6, "GB": 1e9}
    for unit, factor in sorted(units.items(), key=lambda u: -len(u[0])):
        if text.endswith(unit):
            return int(float(text[: -len(unit)]) * factor)
    return 0


def _mlflow_build_docker(workdir: Path, scratch: Path) -> str:
    """Try MLflow's own image build of the same model; return what happened, in one line."""
    from tests.formats import makers

    python = mlflow_python(workdir)
    estimator_file = makers.sklearn_pickle(scratch / "mlflow-src")
    with estimator_file.open("rb") as stream:
        estimator = pickle.load(stream)
    pickled = scratch / "estimator.pkl"
    with pickled.open("wb") as out:
        pickle.dump(estimator, out)
    model_dir = scratch / "mlflow-model"
    driver = Path(__file__).with_name("mlflow_driver.py")
    saved = run_process(
        [python, driver, "save-sklearn", model_dir, "--pickle", pickled],
        env=MLFLOW_ENV,
        capture=True,
    )
    if saved.returncode != 0:
        return "could not save the model with MLflow: " + saved.stderr.decode()[-300:]
    mlflow = python.parent / "mlflow"
    try:
        done = subprocess.run(
            [
                str(mlflow),
                "models",
                "build-docker",
                "-m",
                str(model_dir),
                "-n",
                "mlflow-bench-iris",
                "--env-manager",
                "local",
            ],
            env={**os.environ, **MLFLOW_ENV},
            capture_output=True,
            text=True,
            timeout=900,
            check=False,
        )
    except subprocess.TimeoutExpired:
        return "mlflow models build-docker did not finish within 15 minutes"
    if done.returncode == 0:
        size = _docker("image", "inspect", "-f", "{{.Size}}", "mlflow-bench-iris")
        return f"built, {int(size) / 1e6:.0f} MB"
    lines = [line.strip() for line in (done.stdout + done.stderr).splitlines() if line.strip()]
    telling = [
        line
        for line in lines
        if any(word in line for word in ("rror", "denied", "lookup", "pull", "failed", "dial"))
    ]
    reason = " | ".join(dict.fromkeys(telling[-4:] or lines[-2:]))
    return f"failed (exit {done.returncode}): {reason[:600]}"


def run(args: argparse.Namespace) -> None:
    workdir: Path = args.workdir
    workdir.mkdir(parents=True, exist_ok=True)
    scratch = Path(tempfile.mkdtemp(prefix="image-build-", dir=workdir))
    cold: list[float] = []
    rebuild: list[float] = []
    last: dict[str, Any] = {}
    try:
        for _ in range(args.build_runs):
            _empty_build_cache()
            home = _home(scratch)
            seconds, _ = _build(home, 1, args.base_image)
            cold.append(seconds)
            seconds, last = _build(home, 2, args.base_image)
            rebuild.append(seconds)
        mlflow = "not attempted (--skip-mlflow)"
        if not args.skip_mlflow:
            mlflow = _mlflow_build_docker(workdir, scratch)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)

    print_header(
        f"image_build: {NAME} (RandomForest on iris, joblib) on {args.base_image}, "
        f"whole `modelbay build --json` process incl. smoke test, median of {args.build_runs}"
    )
    print_table(
        ["build", "median s", "runs s", "vs cold"],
        [
            [
                "cold (empty Docker cache, empty wheel cache)",
                f"{median(cold):.1f}",
                " ".join(f"{s:.1f}" for s in cold),
                "1.00x",
            ],
            [
                "rebuild: new version, same dependencies",
                f"{median(rebuild):.1f}",
                " ".join(f"{s:.1f}" for s in rebuild),
                f"{median(rebuild) / median(cold):.2f}x",
            ],
        ],
    )
    base_size = int(_docker("image", "inspect", "-f", "{{.Size}}", args.base_image) or 0)
    size = int(last.get("size") or 0)
    print()
    print_table(
        ["image", "MB"],
        [
            [f"base: {args.base_image}", f"{base_size / 1e6:.0f}"],
            [f"built: {last.get('tag')}", f"{size / 1e6:.0f}"],
            ["added by Modelbay (dependencies, runtime, model)", f"{(size - base_size) / 1e6:.0f}"],
        ],
    )
    print()
    print_table(
        ["layer (newest first)", "MB"],
        [[created, f"{layer / 1e6:.1f}"] for created, layer in _layers(str(last.get("tag")))],
    )
    print(f"\nMLflow `mlflow models build-docker` of the same model: {mlflow}")
    verdict(
        "rebuild of a new version (cache warm)",
        f"{median(rebuild):.1f} s",
        f"< {TARGET_REBUILD_S:.0f} s",
        median(rebuild) < TARGET_REBUILD_S,
    )
