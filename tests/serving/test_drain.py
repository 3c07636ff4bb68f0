"""SIGUSR1 "drain": from then on every answer closes its connection; the server keeps serving.

A deploy drains the old backend before stopping it, so that keep-alive clients
open their next connection anew (through the front, to the new backend) instead
of racing the stop on a connection it closes.
"""

from __future__ import annotations

import signal
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest

from tests.formats import makers
from tests.serving.conftest import IRIS_ROWS, post_json, run_server


@pytest.mark.parametrize("workers", ["1", "2"])
def test_after_sigusr1_every_answer_says_connection_close(
    model_folder_of: Callable[..., Path], tmp_path: Path, workers: str
) -> None:
    folder = model_folder_of(makers.sklearn_joblib(tmp_path / "m"))
    with run_server(folder, "--workers", workers) as server, server.client() as client:
        before = post_json(client, {"instances": IRIS_ROWS})
        assert before.status_code == 200
        assert before.headers.get("connection", "").lower() != "close"

        server.process.send_signal(signal.SIGUSR1)

        def closing() -> bool:
            with httpx.Client(base_url=server.url, timeout=10) as fresh:  # any worker
                answer = post_json(fresh, {"instances": IRIS_ROWS})
                assert answer.status_code == 200  # still serving
                return answer.headers.get("connection", "").lower() == "close"

        # every worker got the signal: several fresh connections all see it
        for _ in range(40):
            if all(closing() for _ in range(6)):
                break
        else:
            pytest.fail("the answers never said Connection: close after SIGUSR1")
        assert server.process.poll() is None  # a drain is not a stop
