"""Real servers on 127.0.0.1: a model folder written from the registry, served by the runtime."""

from __future__ import annotations

import json
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from app.bundle import write_model_folder
from app.config import Config
from app.registry import Registry


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Server:
    url: str
    process: subprocess.Popen[bytes]
    folder: Path

    def client(self) -> httpx.Client:
        return httpx.Client(base_url=self.url, timeout=30)


@contextmanager
def run_server(folder: Path, *args: str, state_dir: Path | None = None) -> Iterator[Server]:
    port = free_port()
    argv = [
        sys.executable,
        "-m",
        "app.serving",
        "--model-dir",
        str(folder),
        "--port",
        str(port),
        *args,
    ]
    if state_dir is not None:
        argv += ["--state-dir", str(state_dir)]
    process = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            if process.poll() is not None:
                raise RuntimeError(f"the server exited: {process.stderr.read().decode()[-2000:]}")  # type: ignore[union-attr]
            try:
                if httpx.get(f"{url}/health", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError("the server did not become healthy within 60 s")
            time.sleep(0.1)
        yield Server(url, process, folder)
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        if process.stderr:
            process.stderr.close()


@pytest.fixture
def model_folder_of(config: Config, tmp_path: Path) -> Iterator[Callable[..., Path]]:
    """Import a model file into a registry and write its model folder; return the folder."""
    registry = Registry.open(config)

    def make(path: Path, *, name: str = "model", profile: dict[str, Any] | None = None) -> Path:
        info = registry.import_path(path, name=name)
        return write_model_folder(
            registry, info, tmp_path / "served" / f"{name}-{info.version}", profile=profile
        )

    yield make
    registry.close()


def post_json(client: httpx.Client, document: Any) -> httpx.Response:
    return client.post(
        "/invocations", content=json.dumps(document), headers={"Content-Type": "application/json"}
    )


IRIS_COLUMNS = ["sepal length (cm)", "sepal width (cm)", "petal length (cm)", "petal width (cm)"]
IRIS_ROWS = [[5.1, 3.5, 1.4, 0.2], [6.7, 3.0, 5.2, 2.3], [5.9, 3.0, 4.2, 1.5]]
