"""format_scan: recognise and safety-scan a 500 MB joblib file, against reading it once.

Creates (once, cached in the work folder) a joblib file of about 500 MB: a
real scikit-learn RandomForest plus large numpy arrays, the way a model with
embedding tables or lookup data is saved. Then, in-process, median of 3 after
a warm-up with the page cache warm:

- ``inspect_files`` on it (recognition, the symbolic pickle walk that skips
  joblib's raw arrays, classification of every global);
- the peer: reading the whole file once (1 MiB reads) and hashing it, the
  minimum any tool that looks at every byte pays; and a plain read without
  hashing, like ``cat > /dev/null``.

Also for context: the same content as a plain pickle (protocol 5, arrays
inline as bytes), whose arrays the walker must read rather than skip.
Target: recognition + scan at most 1.5x reading the file once.

Rerun:  .venv/bin/python -m tests.benchmarks format_scan [--scan-mb N]
"""

from __future__ import annotations

import argparse
import hashlib
import pickle
from pathlib import Path

from tests.benchmarks._common import median, print_header, print_table, time_calls, verdict

TARGET_RATIO = 1.5


def add_arguments(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("format_scan")
    group.add_argument("--scan-mb", type=int, default=500, help="size of the joblib file (MB)")


def _make_files(workdir: Path, megabytes: int) -> tuple[Path, Path]:
    joblib_path = workdir / f"model-{megabytes}mb.joblib"
    pickle_path = workdir / f"model-{megabytes}mb.pkl"
    if joblib_path.exists() and pickle_path.exists():
        return joblib_path, pickle_path
    import joblib
    import numpy as np
    from sklearn.datasets import load_iris
    from sklearn.ensemble import RandomForestClassifier

    features, labels = load_iris(return_X_y=True)
    forest = RandomForestClassifier(n_estimators=50, random_state=0).fit(features, labels)
    rng = np.random.default_rng(0)
    per_table = megabytes * 1_000_000 // 4 // 8  # four float64 tables
    bundle = {
        "model": forest,
        "embeddings": [rng.random(per_table) for _ in range(4)],
        "vocabulary": np.array([f"token-{i}" for i in range(1000)], dtype=object),
    }
    print(f"writing {joblib_path.name} and {pickle_path.name} (once) ...")
    joblib.dump(bundle, joblib_path)
    with pickle_path.open("wb") as out:
        pickle.dump(bundle, out, protocol=5)
    return joblib_path, pickle_path


def _read(path: Path, *, hashing: bool) -> None:
    digest = hashlib.sha256()
    with path.open("rb", buffering=0) as stream:
        while chunk := stream.read(1 << 20):
            if hashing:
                digest.update(chunk)


def run(args: argparse.Namespace) -> None:
    from app.formats import inspect_files

    joblib_path, pickle_path = _make_files(args.workdir, args.scan_mb)
    rows = []
    results: dict[str, float] = {}
    for label, path in (("joblib", joblib_path), ("pickle protocol 5", pickle_path)):
        size_mb = path.stat().st_size / 1e6
        found = inspect_files({path.name: path}, is_folder=False)
        scan = median(
            time_calls(lambda p=path: inspect_files({p.name: p}, is_folder=False), runs=3, warmup=1)
        )
        hashed = median(time_calls(lambda p=path: _read(p, hashing=True), runs=3, warmup=1))
        plain = median(time_calls(lambda p=path: _read(p, hashing=False), runs=3, warmup=1))
        results[label] = scan / plain
        rows.append(
            [
                f"{label} ({size_mb:.0f} MB, {found.format}/{found.framework}, "
                f"verdict {found.safety.verdict})",
                f"{scan:.3f}",
                f"{plain:.3f}",
                f"{hashed:.3f}",
                f"{scan / plain:.2f}x",
                f"{scan / hashed:.2f}x",
            ]
        )
    print_header(
        "format_scan: recognition + safety scan vs reading the file once, "
        "median of 3 after 1 warm-up, warm page cache"
    )
    print_table(
        ["file", "inspect s", "read s", "read+sha256 s", "inspect/read", "inspect/read+hash"],
        rows,
    )
    verdict(
        "recognition + scan of the joblib file / one plain read of it",
        f"{results['joblib']:.2f}x",
        f"<= {TARGET_RATIO}x",
        results["joblib"] <= TARGET_RATIO,
    )
