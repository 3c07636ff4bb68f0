"""`modelbay serve`: a registered version served locally, like `mlflow models serve`."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from app.config import Config
from app.registry import Registry
from tests.formats import makers
from tests.serving.conftest import IRIS_COLUMNS, IRIS_ROWS, free_port


def test_serve_a_registered_version(config: Config, tmp_path: Path) -> None:
    with Registry.open(config) as registry:
        registry.import_path(makers.sklearn_joblib(tmp_path / "m"), name="iris")
        registry.set_alias("iris", "production", 1)
    port = free_port()
    env = {**os.environ, "MODELBAY_HOME": str(config.home)}
    process = subprocess.Popen(
        [sys.executable, "-m", "app", "serve", "iris@production", "--port", str(port)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(f"http://127.0.0.1:{port}/health", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert process.poll() is None, process.stderr.read().decode()  # type: ignore[union-attr]
            assert time.monotonic() < deadline, "not healthy within 60 s"
            time.sleep(0.1)
        response = httpx.post(
            f"http://127.0.0.1:{port}/invocations",
            content=json.dumps({"dataframe_split": {"columns": IRIS_COLUMNS, "data": IRIS_ROWS}}),
            headers={"Content-Type": "application/json"},
        )
        assert response.status_code == 200
        assert len(response.json()["predictions"]) == 3
        assert response.headers["x-model-version"] == "1"
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(30)
        assert process.stderr is not None
        banner = process.stderr.read().decode()
        process.stderr.close()
    assert f"serving iris:1 (joblib, sklearn) on http://127.0.0.1:{port}" in banner


@pytest.mark.parametrize("kind", ["quarantined", "unknown"])
def test_serve_refuses_with_a_reason(
    kind: str, config: Config, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from app.cli import main

    with Registry.open(config) as registry:
        if kind == "quarantined":
            registry.import_path(makers.malicious_pickle(tmp_path / "m", tmp_path / "x"), name="m")
        else:
            notes = tmp_path / "notes.bin"
            notes.write_bytes(b"\x00 not a model" * 10)
            registry.import_path(notes, name="m")
    assert main(["serve", "m", "--port", "1"]) == 1
    _, err = capsys.readouterr()
    if kind == "quarantined":
        assert err.startswith("error: m:1 is quarantined: loading it would run code it carries")
        assert "modelbay approve m:1" in err
    else:
        assert err.startswith("error: m:1 is in the unknown format, which the serving runtime")
    assert not (tmp_path / "x").exists()


def test_serve_on_a_port_in_use_says_so_before_serving(config: Config, tmp_path: Path) -> None:
    import socket

    with Registry.open(config) as registry:
        registry.import_path(makers.sklearn_joblib(tmp_path / "m"), name="iris")
    env = {**os.environ, "MODELBAY_HOME": str(config.home)}
    with socket.create_server(("127.0.0.1", 0)) as taken:  # another program listens there
        port = taken.getsockname()[1]
        served = subprocess.run(
            [sys.executable, "-m", "app", "serve", "iris:1", "--port", str(port)],
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert served.returncode == 1
        assert served.stderr == (
            f"error: port {port} on 127.0.0.1 is already in use; pick another with --port\n"
        )
        folders = (config.home / "serving").iterdir()  # the model folder serve wrote
        folder = next(f for f in folders if not f.name.endswith("-state"))  # runtime alone
        runtime = subprocess.run(
            [sys.executable, "-m", "app.serving", "--model-dir", str(folder), "--port", str(port)],
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert runtime.returncode == 1
        assert runtime.stderr == (
            f"error: port {port} on 127.0.0.1 is already in use; pick another with --port\n"
        )
