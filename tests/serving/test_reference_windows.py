"""`modelbay serve` counts live inputs on the bins of the version's reference data."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest

from app.config import Config
from app.registry import Registry
from tests.formats import makers
from tests.serving.conftest import IRIS_COLUMNS, free_port, post_json
from tests.serving.test_monitoring_windows import collect, expected_counts, rows


@pytest.fixture
def iris_with_reference(config: Config, tmp_path: Path) -> dict[str, Any]:
    """iris:1 with the iris table attached as its reference data; returns the stored profile."""
    from sklearn.datasets import load_iris

    table = tmp_path / "iris.csv"
    load_iris(as_frame=True).data.to_csv(table, index=False)
    with Registry.open(config) as registry:
        info = registry.import_path(makers.sklearn_joblib(tmp_path / "m"), name="iris")
        registry.attach_reference(info.ref, table)
        profile = registry.reference_profile(info.ref)
    assert profile is not None
    return profile


@contextmanager
def modelbay_serve(config: Config, *args: str) -> Iterator[str]:
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "app", "serve", "iris:1", "--port", str(port), *args],
        env={**os.environ, "MODELBAY_HOME": str(config.home)},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(f"{url}/health", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert process.poll() is None, process.stderr.read().decode()  # type: ignore[union-attr]
            assert time.monotonic() < deadline, "not healthy within 60 s"
            time.sleep(0.1)
        yield url
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(30)
        if process.stderr:
            process.stderr.close()


def test_serve_counts_live_inputs_on_the_reference_bins(
    config: Config, iris_with_reference: dict[str, Any]
) -> None:
    sent = rows(200)
    with (
        modelbay_serve(config, "--window-seconds", "1") as url,
        httpx.Client(base_url=url, timeout=30) as client,
    ):
        for start in range(0, len(sent), 10):
            response = post_json(
                client,
                {"dataframe_split": {"columns": IRIS_COLUMNS, "data": sent[start : start + 10]}},
            )
            assert response.status_code == 200, response.text
        windows = collect(client, 1.0)
    assert sum(w["rows"] for w in windows) == len(sent)
    for index, column in enumerate(IRIS_COLUMNS):
        edges = iris_with_reference["columns"][column]["bin_edges"]
        counts, missing = expected_counts([r[index] for r in sent], edges)
        got = [w["features"][column] for w in windows]
        assert [sum(c) for c in zip(*(g["counts"] for g in got), strict=True)] == counts
        assert sum(g["missing"] for g in got) == missing
        assert len(counts) == len(edges) + 1


def test_serve_profile_option_overrides_the_reference(
    config: Config,
    iris_with_reference: dict[str, Any],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Which profile the model folder gets, without starting a server (exec is caught)."""
    from app.cli import main

    started: list[list[str]] = []

    def fake_exec(path: str, argv: list[str]) -> None:
        started.append(argv)
        raise SystemExit(0)

    monkeypatch.setattr(os, "execv", fake_exec)

    def profile_served(*args: str) -> dict[str, Any] | None:
        with pytest.raises(SystemExit):
            main(["serve", "iris:1", "--port", "1", *args])
        folder = Path(started[-1][started[-1].index("--model-dir") + 1])
        path = folder / "profile.json"
        return json.loads(path.read_text()) if path.exists() else None

    served = profile_served()
    assert served is not None
    from app.monitor.profile import runtime_profile

    assert served["columns"] == runtime_profile(iris_with_reference)["columns"]  # no quantiles
    assert "sample" not in served
    mine = {"columns": {"sepal length (cm)": {"kind": "numeric", "bin_edges": [5.0, 6.0]}}}
    override = tmp_path / "mine.json"
    override.write_text(json.dumps(mine))
    assert profile_served("--profile", str(override)) == mine
    assert profile_served("--no-monitoring") is None
