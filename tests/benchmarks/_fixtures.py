"""Filled registries and big files, built once and cached under the work folder by size.

A cache entry counts only once its ``complete.json`` marker is written, so an
interrupted fill is redone on the next run. ``refill=True`` rebuilds it.
"""

from __future__ import annotations

import json
import os
import shutil
import time
from pathlib import Path

from app.config import Config
from app.registry import NewVersion, Registry
from app.store import StoredFile
from tests.benchmarks._common import mlflow_call
from tests.benchmarks.mlflow_driver import (
    ALIAS,
    alias_version,
    model_name,
    version_tags,
)

BATCH = 500
MARKER = "complete.json"


def _cached(folder: Path, refill: bool) -> bool:
    if refill and folder.exists():
        shutil.rmtree(folder)
    return (folder / MARKER).exists()


def _mark(folder: Path, **info: object) -> None:
    (folder / MARKER).write_text(json.dumps(info))


def modelbay_home(workdir: Path, models: int, versions: int, *, refill: bool = False) -> Path:
    """A Modelbay data home holding ``models`` x ``versions`` versions (built if not cached).

    Every version has 2 tags (team, stage) and one small file; every model has
    a ``production`` alias. Versions arrive round-robin over the models, in
    batches of :data:`BATCH` through ``Registry.register_versions``.
    """
    home = workdir / f"modelbay-{models}x{versions}"
    if _cached(home, refill):
        return home
    if home.exists():
        shutil.rmtree(home)
    print(f"filling a Modelbay registry with {models} x {versions} versions in {home} ...")
    start = time.perf_counter()
    with Registry.open(Config.at(home)) as registry:
        sha, size = registry.store.put_bytes(b"a tiny stand-in for a model file\n")
        files = (StoredFile("model.bin", sha, size),)
        batch: list[NewVersion] = []
        for v in range(1, versions + 1):
            for m in range(models):
                tags = version_tags(m, v)
                batch.append(NewVersion(name=model_name(m), files=files, sha256=sha, tags=tags))
                if len(batch) == BATCH:
                    registry.register_versions(batch)
                    batch = []
        registry.register_versions(batch)
        for m in range(models):
            registry.set_alias(model_name(m), ALIAS, alias_version(versions))
    seconds = time.perf_counter() - start
    print(f"  filled in {seconds:.1f} s ({models * versions / seconds:,.0f} versions/s)")
    _mark(home, models=models, versions=versions, seconds=seconds)
    return home


def mlflow_db(workdir: Path, models: int, versions: int, *, refill: bool = False) -> Path:
    """An MLflow SQLite database with the same shape of data (built if not cached)."""
    folder = workdir / f"mlflow-{models}x{versions}"
    db = folder / "mlflow.db"
    if _cached(folder, refill):
        return db
    if folder.exists():
        shutil.rmtree(folder)
    folder.mkdir(parents=True)
    print(f"filling an MLflow registry with {models} x {versions} versions in {db} ...")
    result = mlflow_call(workdir, "fill", db, "--models", str(models), "--versions", str(versions))
    rate = result["versions"] / result["seconds"]
    print(f"  filled in {result['seconds']:.1f} s ({rate:,.0f} versions/s)")
    _mark(folder, models=models, versions=versions, seconds=result["seconds"])
    return db


def random_file(workdir: Path, size: int) -> Path:
    """A file of ``size`` random bytes (cached: random data cannot be deduplicated or packed)."""
    path = workdir / f"random-{size}.bin"
    if path.exists() and path.stat().st_size == size:
        return path
    print(f"writing {size:,} random bytes to {path} ...")
    temp = path.with_suffix(".partial")
    chunk = 1 << 24
    with temp.open("wb") as out:
        for start in range(0, size, chunk):
            out.write(os.urandom(min(chunk, size - start)))
    temp.replace(path)
    return path
