"""The MLflow side of the benchmarks; runs in the separate MLflow venv, never imports ``app``.

Each command prints one JSON object as its last line of stdout::

    python mlflow_driver.py fill DB --models M --versions V
    python mlflow_driver.py query DB --models M --runs 15 --warmup 3
    python mlflow_driver.py populate DB --count 300
    python mlflow_driver.py once DB
    python mlflow_driver.py save-sklearn FOLDER --pickle FILE

The data shape (names, tags, alias) is defined here once, and the Modelbay side
imports the same functions, so both registries hold the same data. MLflow is
imported inside the commands, so importing this module for the shape is cheap.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ALIAS = "production"
SOURCE = "file:///tmp/x"
TEAMS = 10
STAGES = ("dev", "test", "staging", "canary", "prod")
TAG_FILTER = ("team", "t3")


# ---------------------------------------------------------------------- the data shape
def model_name(index: int) -> str:
    return f"model-{index:04d}"


def version_tags(model_index: int, version: int) -> dict[str, str]:
    return {"team": f"t{(model_index + version) % TEAMS}", "stage": STAGES[version % len(STAGES)]}


def alias_version(versions: int) -> int:
    """The version the ``production`` alias points at (the middle one, not the newest)."""
    return max(1, versions // 2)


def target_model(models: int) -> str:
    """The model whose versions and alias are looked up: the middle one (model-0500 of 1000)."""
    return model_name(models // 2)


def name_query(models: int) -> str:
    """A name fragment matching a full page of 100 models: "model-05" of 1000, "model-00" of 100."""
    return target_model(models)[:-2]


# ---------------------------------------------------------------------- MLflow
def _client(db: Path) -> Any:
    from mlflow import MlflowClient

    uri = f"sqlite:///{db.absolute()}"
    return MlflowClient(tracking_uri=uri, registry_uri=uri)


def fill(db: Path, models: int, versions: int) -> dict[str, Any]:
    """Register ``models`` x ``versions`` versions: 2 tags each and one alias per model."""
    client = _client(db)
    start = time.perf_counter()
    for m in range(models):
        client.create_registered_model(model_name(m))
    for v in range(1, versions + 1):  # round-robin, as versions arrive in real life
        for m in range(models):
            name = model_name(m)
            client.create_model_version(name, SOURCE)
            for key, value in version_tags(m, v).items():
                client.set_model_version_tag(name, str(v), key, value)
    for m in range(models):
        client.set_registered_model_alias(model_name(m), ALIAS, str(alias_version(versions)))
    seconds = time.perf_counter() - start
    return {"versions": models * versions, "seconds": seconds}


def _median_ms(fn: Callable[[], object], runs: int, warmup: int) -> float:
    for _ in range(warmup):
        fn()
    samples = []
    for _ in range(runs):
        start = time.perf_counter()
        fn()
        samples.append(time.perf_counter() - start)
    return statistics.median(samples) * 1000


def query(db: Path, models: int, runs: int, warmup: int) -> dict[str, Any]:
    """Median milliseconds of the five queries Modelbay's registry_scale times."""
    client = _client(db)
    target, fragment = target_model(models), name_query(models)
    key, value = TAG_FILTER
    calls: dict[str, Callable[[], Any]] = {
        "list_models": lambda: client.search_registered_models(
            order_by=["last_updated_timestamp DESC"], max_results=100
        ),
        "versions_of": lambda: client.search_model_versions(f"name='{target}'"),
        "tag_filter": lambda: client.search_model_versions(
            f"tags.{key}='{value}'", max_results=100
        ),
        "alias": lambda: client.get_model_version_by_alias(target, ALIAS),
        "name_search": lambda: client.search_registered_models(
            filter_string=f"name LIKE '%{fragment}%'", max_results=100
        ),
    }
    out: dict[str, Any] = {}
    for label, call in calls.items():
        result = call()
        rows = 1 if label == "alias" else len(result)
        out[label] = {"ms": _median_ms(call, runs, warmup), "rows": rows}
    return out


def populate(db: Path, count: int) -> dict[str, Any]:
    """Versions per second of ``create_model_version`` called one by one (tags inline)."""
    client = _client(db)
    names = [model_name(m) for m in range(10)]
    for name in names:
        client.create_registered_model(name)
    client.create_model_version(names[0], SOURCE)  # warm the store: sessions, caches
    start = time.perf_counter()
    for i in range(count):
        m = i % len(names)
        client.create_model_version(names[m], SOURCE, tags=version_tags(m, i))
    seconds = time.perf_counter() - start
    return {"versions": count, "seconds": seconds, "per_second": count / seconds}


def once(db: Path) -> dict[str, Any]:
    """One first-page query, for timing a whole MLflow process from a cold start."""
    found = _client(db).search_registered_models(
        order_by=["last_updated_timestamp DESC"], max_results=100
    )
    return {"rows": len(found)}


def save_sklearn(folder: Path, pickled: Path) -> dict[str, Any]:
    """Save a pickled scikit-learn estimator as an MLflow model (sklearn flavor, signature)."""
    import pickle

    import mlflow
    import numpy as np
    import pandas as pd
    import sklearn
    from mlflow.models import infer_signature

    with pickled.open("rb") as stream:
        model = pickle.load(stream)
    columns = [str(c) for c in model.feature_names_in_]
    example = pd.DataFrame(np.zeros((1, len(columns))), columns=columns)
    signature = infer_signature(example, model.predict(example))
    # skops, MLflow's default format, loads tree ensembles only when told to trust their nodes
    mlflow.sklearn.save_model(
        model,
        str(folder),
        signature=signature,
        skops_trusted_types=["sklearn.tree._tree.Tree"],
    )
    return {"mlflow": mlflow.__version__, "sklearn": sklearn.__version__, "path": str(folder)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("command", choices=["fill", "query", "populate", "once", "save-sklearn"])
    parser.add_argument("db", type=Path, help="the SQLite file, or save-sklearn's model folder")
    parser.add_argument("--models", type=int, default=100)
    parser.add_argument("--versions", type=int, default=100)
    parser.add_argument("--runs", type=int, default=15)
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--count", type=int, default=300)
    parser.add_argument("--pickle", type=Path, help="save-sklearn: the pickled estimator")
    args = parser.parse_args()
    if args.command == "fill":
        result = fill(args.db, args.models, args.versions)
    elif args.command == "query":
        result = query(args.db, args.models, args.runs, args.warmup)
    elif args.command == "populate":
        result = populate(args.db, args.count)
    elif args.command == "save-sklearn":
        result = save_sklearn(args.db, args.pickle)
    else:
        result = once(args.db)
    print(json.dumps(result))


if __name__ == "__main__":
    main()
