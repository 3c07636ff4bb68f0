"""populate: versions registered per second through the public API, Modelbay vs MLflow.

Modelbay: ``Registry.register_versions`` with batches of 500 (10,000 versions
over 100 models), and with one version per call (300 calls), each in a fresh
registry, files already in the store, 2 tags per version. MLflow: 300 calls of
``MlflowClient.create_model_version`` (tags passed inline, its cheapest path)
in a fresh SQLite registry. Median rate of 3 repetitions each, same run.
Target: Modelbay registers at least 2,000 versions/s.

Rerun:  .venv/bin/python -m tests.benchmarks populate [--populate-count N ...]
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from app.config import Config
from app.registry import NewVersion, Registry
from app.store import StoredFile
from tests.benchmarks._common import (
    median,
    mlflow_call,
    mlflow_version,
    print_header,
    print_table,
    verdict,
)
from tests.benchmarks.mlflow_driver import model_name, version_tags

TARGET_PER_S = 2000
MODELS = 100


def add_arguments(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("populate")
    group.add_argument(
        "--populate-count",
        type=int,
        default=10_000,
        help="versions registered in batches (Modelbay)",
    )
    group.add_argument("--populate-batch", type=int, default=500, help="versions per batch")
    group.add_argument(
        "--populate-single",
        type=int,
        default=300,
        help="versions registered one per call (Modelbay and MLflow)",
    )
    group.add_argument("--populate-reps", type=int, default=3, help="repetitions of each")


@contextmanager
def _scratch(workdir: Path) -> Iterator[Path]:
    folder = Path(tempfile.mkdtemp(prefix="populate-", dir=workdir))
    try:
        yield folder
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def modelbay_rate(workdir: Path, count: int, batch_size: int) -> float:
    """Versions per second registering ``count`` versions, ``batch_size`` per call."""
    with _scratch(workdir) as home, Registry.open(Config.at(home)) as registry:
        sha, size = registry.store.put_bytes(b"a tiny stand-in for a model file\n")
        files = (StoredFile("model.bin", sha, size),)
        registry.register_versions([NewVersion(name="warm-up", files=files, sha256=sha)])
        specs = [
            NewVersion(
                name=model_name(i % MODELS),
                files=files,
                sha256=sha,
                tags=version_tags(i % MODELS, i),
            )
            for i in range(count)
        ]
        start = time.perf_counter()
        for first in range(0, count, batch_size):
            registry.register_versions(specs[first : first + batch_size])
        return count / (time.perf_counter() - start)


def mlflow_rate(workdir: Path, count: int) -> float:
    with _scratch(workdir) as folder:
        result = mlflow_call(workdir, "populate", folder / "mlflow.db", "--count", str(count))
    return float(result["per_second"])


def run(args: argparse.Namespace) -> None:
    workdir: Path = args.workdir
    reps = args.populate_reps
    batched = median(
        [modelbay_rate(workdir, args.populate_count, args.populate_batch) for _ in range(reps)]
    )
    single = median([modelbay_rate(workdir, args.populate_single, 1) for _ in range(reps)])
    peer = median([mlflow_rate(workdir, args.populate_single) for _ in range(reps)])

    print_header(
        f"populate: versions registered per second, median of {reps} "
        f"(Modelbay vs MLflow {mlflow_version(workdir)}, both SQLite)"
    )
    print_table(
        ["registration", "versions", "versions/s", "vs MLflow"],
        [
            [
                f"modelbay register_versions, batches of {args.populate_batch}",
                f"{args.populate_count:,}",
                f"{batched:,.0f}",
                f"{batched / peer:.1f}x",
            ],
            [
                "modelbay register_versions, 1 per call",
                f"{args.populate_single:,}",
                f"{single:,.0f}",
                f"{single / peer:.1f}x",
            ],
            [
                "mlflow create_model_version, 1 per call",
                f"{args.populate_single:,}",
                f"{peer:,.0f}",
                "1.0x",
            ],
        ],
    )
    verdict(
        f"modelbay batched registration (batches of {args.populate_batch})",
        f"{batched:,.0f} versions/s",
        f">= {TARGET_PER_S:,}/s",
        batched >= TARGET_PER_S,
    )
    verdict(
        "modelbay one-version-per-call registration",
        f"{single:,.0f} versions/s",
        f">= {TARGET_PER_S:,}/s",
        single >= TARGET_PER_S,
    )
