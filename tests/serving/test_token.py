"""MODELBAY_TOKEN: every endpoint but /ping and /health wants ``Authorization: Bearer``."""

from __future__ import annotations

import signal
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest

from app.serving.server import Settings
from tests.formats import makers
from tests.serving.conftest import IRIS_ROWS, post_json, run_server

TOKEN = "s3cr3t-t0ken-for-the-tests"
GUARDED = [
    ("POST", "/invocations"),
    ("GET", "/metadata"),
    ("GET", "/metrics"),
    ("GET", "/monitoring/windows"),
    ("GET", "/version"),
    ("GET", "/openapi.json"),
]


def call(client: httpx.Client, method: str, path: str, token: str | None) -> httpx.Response:
    headers = {"Authorization": f"Bearer {token}"} if token is not None else {}
    if method == "POST":
        return client.post(
            path,
            json={"instances": IRIS_ROWS},
            headers={**headers, "Content-Type": "application/json"},
        )
    return client.get(path, headers=headers)


def test_with_a_token_only_health_checks_are_open(
    model_folder_of: Callable[..., Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MODELBAY_TOKEN", TOKEN)
    folder = model_folder_of(makers.sklearn_joblib(tmp_path / "made"), name="iris")
    # trace: uvicorn's most verbose level logs every ASGI message (about 25 KB here)
    with run_server(folder, "--log-level", "trace") as server, server.client() as client:
        for method, path in GUARDED:
            missing = call(client, method, path, None)
            wrong = call(client, method, path, "not-the-token")
            right = call(client, method, path, TOKEN)
            assert (missing.status_code, wrong.status_code, right.status_code) == (401, 401, 200)
            assert missing.headers["www-authenticate"] == "Bearer"
            assert wrong.headers["www-authenticate"] == 'Bearer error="invalid_token"'
            assert missing.json()["error"].startswith("this endpoint needs a token: send ")
            assert "not this server's token" in wrong.json()["error"]
            for refused in (missing, wrong):
                assert "Authorization: Bearer <token>" in refused.json()["error"]
                assert "modelbay deployments" in refused.json()["error"]
                assert refused.headers["x-model-name"] == "iris"
                assert refused.headers["x-model-version"] == "1"
                assert len(refused.headers["x-model-sha256"]) == 64
        assert client.get("/ping").status_code == 200
        assert client.get("/health").json()["status"] == "ready"
        other_scheme = client.get("/metadata", headers={"Authorization": f"Basic {TOKEN}"})
        assert other_scheme.status_code == 401
        assert "holds no Bearer token" in other_scheme.json()["error"]
        lower_case = client.get("/metadata", headers={"Authorization": f"bearer {TOKEN}"})
        assert lower_case.status_code == 200  # the scheme's name is case-insensitive

        metrics = call(client, "GET", "/metrics", TOKEN).text
        # the two refused scoring requests count like any other answer
        assert 'modelbay_requests_total{status="401"} 2.0' in metrics
        assert 'modelbay_requests_total{status="200"} 1.0' in metrics

        document = call(client, "GET", "/openapi.json", TOKEN).json()
        assert document["components"]["securitySchemes"]["bearerAuth"] == {
            "type": "http",
            "scheme": "bearer",
        }
        assert document["security"] == [{"bearerAuth": []}]
        assert document["paths"]["/health"]["get"]["security"] == []
        assert "401" in document["paths"]["/invocations"]["post"]["responses"]

        server.process.send_signal(signal.SIGTERM)
        server.process.wait(30)
        assert server.process.stderr is not None
        log = server.process.stderr.read().decode()
    assert "Started scope=" in log  # every request was logged, with its headers masked
    assert TOKEN not in log


def test_the_token_reaches_every_worker(
    model_folder_of: Callable[..., Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MODELBAY_TOKEN", TOKEN)
    folder = model_folder_of(makers.sklearn_joblib(tmp_path / "made"), name="iris")
    with run_server(folder, "--workers", "2") as server:
        for _ in range(40):  # a new connection each: SO_REUSEPORT spreads them over the workers
            with server.client() as client:
                assert call(client, "POST", "/invocations", None).status_code == 401
                assert call(client, "POST", "/invocations", TOKEN).status_code == 200
        with server.client() as client:
            metrics = call(client, "GET", "/metrics", TOKEN).text
    # the multiprocess metrics add up what both workers counted
    assert 'modelbay_requests_total{status="401"} 40.0' in metrics
    assert 'modelbay_requests_total{status="200"} 40.0' in metrics


def test_without_a_token_everything_is_open(
    model_folder_of: Callable[..., Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("MODELBAY_TOKEN", raising=False)
    folder = model_folder_of(makers.sklearn_joblib(tmp_path / "made"), name="iris")
    with run_server(folder) as server, server.client() as client:
        for method, path in GUARDED:
            assert call(client, method, path, None).status_code == 200, path
            # a token the server does not want is ignored, not refused
            assert call(client, method, path, "anything").status_code == 200, path
        assert post_json(client, {"instances": IRIS_ROWS}).status_code == 200
        document = client.get("/openapi.json").json()
        assert "security" not in document
        assert "components" not in document


def test_an_empty_token_means_no_token_and_the_token_stays_out_of_reprs(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("MODELBAY_TOKEN", "  ")
    assert Settings.from_environment().token is None
    monkeypatch.setenv("MODELBAY_TOKEN", TOKEN)
    settings = Settings.from_environment()
    assert settings.token == TOKEN
    assert TOKEN not in repr(settings)
