"""The serving runtime over real HTTP, with real models made by the real libraries."""

from __future__ import annotations

import json
import signal
import threading
import time
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest

from tests.formats import makers
from tests.serving.conftest import IRIS_COLUMNS, IRIS_ROWS, post_json, run_server


def iris_predictions() -> list[int]:
    """What the served model must answer: the same forest, scored in this process."""
    import pandas as pd

    model = makers._iris_forest()  # the very model the makers save
    return model.predict(pd.DataFrame(IRIS_ROWS, columns=IRIS_COLUMNS)).tolist()


@pytest.mark.parametrize(
    "maker",
    [makers.sklearn_pickle, makers.sklearn_joblib, makers.mlflow_sklearn],
    ids=["pickle", "joblib", "mlflow-folder"],
)
def test_sklearn_models_score_every_input_format(
    maker: Callable[[Path], Path], model_folder_of: Callable[..., Path], tmp_path: Path
) -> None:
    folder = model_folder_of(maker(tmp_path / "made"), name="iris")
    expected = iris_predictions()
    with run_server(folder) as server, server.client() as client:
        split = post_json(client, {"dataframe_split": {"columns": IRIS_COLUMNS, "data": IRIS_ROWS}})
        records = post_json(
            client,
            {"dataframe_records": [dict(zip(IRIS_COLUMNS, r, strict=True)) for r in IRIS_ROWS]},
        )
        instances = post_json(
            client, {"instances": [dict(zip(IRIS_COLUMNS, r, strict=True)) for r in IRIS_ROWS]}
        )
        inputs = post_json(
            client, {"inputs": {c: [r[i] for r in IRIS_ROWS] for i, c in enumerate(IRIS_COLUMNS)}}
        )
        csv = ",".join(IRIS_COLUMNS) + "\n" + "\n".join(",".join(map(str, r)) for r in IRIS_ROWS)
        by_csv = client.post("/invocations", content=csv, headers={"Content-Type": "text/csv"})
        for response in (split, records, instances, inputs, by_csv):
            assert response.status_code == 200, response.text
            assert response.json() == {"predictions": expected}
            assert response.headers["x-model-name"] == "iris"
            assert response.headers["x-model-version"] == "1"


@pytest.mark.parametrize(
    ("maker", "rows", "check"),
    [
        (
            makers.onnx_from_sklearn,
            {"dataframe_split": {"columns": ["a", "b", "c", "d"], "data": IRIS_ROWS}},
            lambda p: len(p) == 3,
        ),
        (
            makers.xgboost_json,
            {"dataframe_split": {"columns": IRIS_COLUMNS, "data": IRIS_ROWS}},
            lambda p: len(p) == 3 and all(isinstance(v, list | float) for v in p),
        ),
        (
            makers.xgboost_ubj,
            {"dataframe_split": {"columns": IRIS_COLUMNS, "data": IRIS_ROWS}},
            lambda p: len(p) == 3,
        ),
        (makers.lightgbm_text, {"instances": IRIS_ROWS}, lambda p: len(p) == 3),
    ],
    ids=["onnx", "xgboost-json", "xgboost-ubj", "lightgbm"],
)
def test_other_formats_score(
    maker: Callable[[Path], Path],
    rows: object,
    check: Callable[[list[object]], bool],
    model_folder_of: Callable[..., Path],
    tmp_path: Path,
) -> None:
    folder = model_folder_of(maker(tmp_path / "made"))
    with run_server(folder) as server, server.client() as client:
        response = post_json(client, rows)
        assert response.status_code == 200, response.text
        assert check(response.json()["predictions"])
        meta = client.get("/metadata").json()
        assert meta["format"] == maker.__name__.replace("_", "-").replace("text", "").rstrip(
            "-"
        ) or meta["format"] in {"onnx", "lightgbm"}


@pytest.mark.parametrize(
    ("body", "content_type", "status", "message"),
    [
        (b"", "application/json", 400, "the request body is empty"),
        (b"{not json", "application/json", 400, "not valid JSON"),
        (b"[1, 2]", "application/json", 400, "must be an object"),
        (b'{"rows": []}', "application/json", 400, "exactly one of dataframe_split"),
        (
            b'{"dataframe_split": {"columns": ["sepal length (cm)"], "data": [[1.0]]}}',
            "application/json",
            400,
            "missing column(s): sepal width (cm)",
        ),
        (
            json.dumps(
                {"dataframe_split": {"columns": IRIS_COLUMNS, "data": [["a lot", 1, 1, 1]]}}
            ).encode(),
            "application/json",
            400,
            "column 'sepal length (cm)' must hold numbers; got 'a lot'",
        ),
        (
            json.dumps({"dataframe_split": {"columns": IRIS_COLUMNS, "data": [[1, 2]]}}).encode(),
            "application/json",
            400,
            "every row must have 4 values",
        ),
        (
            json.dumps({"dataframe_split": {"columns": IRIS_COLUMNS, "data": []}}).encode(),
            "application/json",
            400,
            "the input has no rows",
        ),
        (b"a,b\n1,2", "text/plain", 415, "unsupported Content-Type"),
    ],
    ids=[
        "empty",
        "invalid-json",
        "not-object",
        "unknown-key",
        "missing-column",
        "wrong-type",
        "short-row",
        "no-rows",
        "content-type",
    ],
)
def test_bad_input_gets_a_4xx_that_names_the_problem(
    body: bytes,
    content_type: str,
    status: int,
    message: str,
    model_folder_of: Callable[..., Path],
    tmp_path: Path,
) -> None:
    folder = model_folder_of(makers.sklearn_joblib(tmp_path / "made"), name="iris")
    with run_server(folder) as server, server.client() as client:
        response = client.post("/invocations", content=body, headers={"Content-Type": content_type})
        assert response.status_code == status
        assert message in response.json()["error"]
        assert "Traceback" not in response.text
        assert response.headers["x-model-name"] == "iris"


def test_nan_and_null_values_are_scored_not_crashed(
    model_folder_of: Callable[..., Path], tmp_path: Path
) -> None:
    folder = model_folder_of(makers.sklearn_joblib(tmp_path / "made"), name="iris")
    with run_server(folder) as server, server.client() as client:
        response = post_json(
            client, {"dataframe_split": {"columns": IRIS_COLUMNS, "data": [[None, 3.0, 1.4, 0.2]]}}
        )
        # scikit-learn's forests accept missing values; other models would get a 400
        assert response.status_code in {200, 400}
        assert "Traceback" not in response.text


def test_a_huge_body_is_refused_with_413(
    model_folder_of: Callable[..., Path], tmp_path: Path
) -> None:
    folder = model_folder_of(makers.sklearn_joblib(tmp_path / "made"), name="iris")
    with run_server(folder, "--max-body-mb", "1") as server, server.client() as client:
        big = b'{"instances": [' + b"[1,2,3,4]," * 200_000 + b"[1,2,3,4]]}"
        response = client.post(
            "/invocations", content=big, headers={"Content-Type": "application/json"}
        )
        assert response.status_code == 413
        assert "limit" in response.json()["error"]

        def chunks():  # no Content-Length: the limit must hold while streaming too
            for _ in range(300):
                yield b" " * 8192

        streamed = client.post(
            "/invocations", content=chunks(), headers={"Content-Type": "application/json"}
        )
        assert streamed.status_code == 413


def test_health_version_metadata_metrics(
    model_folder_of: Callable[..., Path], tmp_path: Path
) -> None:
    import sklearn

    folder = model_folder_of(makers.sklearn_joblib(tmp_path / "made"), name="iris")
    with run_server(folder) as server, server.client() as client:
        assert client.get("/ping").status_code == 200
        assert client.get("/health").json()["status"] == "ready"
        assert client.get("/version").json()["runtime"] == "1"
        meta = client.get("/metadata").json()
        assert (meta["model"], meta["version"], meta["format"], meta["framework"]) == (
            "iris",
            "1",
            "joblib",
            "sklearn",
        )
        assert meta["framework_version"] == sklearn.__version__
        assert len(meta["sha256"]) == 64
        post_json(client, {"instances": IRIS_ROWS})
        post_json(client, {"instances": "nonsense"})
        text = client.get("/metrics").text
        assert 'modelbay_requests_total{status="200"} 1.0' in text
        assert 'modelbay_requests_total{status="400"} 1.0' in text
        assert "modelbay_request_seconds_bucket" in text
        assert "modelbay_model_load_seconds" in text
        assert "modelbay_requests_in_flight" in text
        assert client.get("/openapi.json").json()["paths"]["/invocations"]["post"]


def test_a_format_it_cannot_serve_is_refused_at_start(
    model_folder_of: Callable[..., Path], tmp_path: Path
) -> None:
    import subprocess
    import sys

    folder = tmp_path / "gguf-folder"
    folder.mkdir()
    (folder / "modelbay.json").write_text(json.dumps({"name": "llm", "format": "gguf"}))
    done = subprocess.run(
        [sys.executable, "-m", "app.serving", "--model-dir", str(folder)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 1
    assert "format 'gguf' cannot be served" in done.stderr


def test_sigterm_lets_in_flight_requests_finish(
    model_folder_of: Callable[..., Path], tmp_path: Path
) -> None:
    folder = model_folder_of(makers.sklearn_joblib(tmp_path / "made"), name="iris")
    results: list[int] = []
    with run_server(folder) as server, server.client() as client:
        big = {"instances": IRIS_ROWS * 30_000}  # takes a moment to parse and score

        def send() -> None:
            results.append(post_json(client, big).status_code)

        thread = threading.Thread(target=send)
        thread.start()
        time.sleep(0.3)
        server.process.send_signal(signal.SIGTERM)
        thread.join(60)
        # uvicorn re-raises SIGTERM once it has shut down gracefully
        assert server.process.wait(30) in {0, -signal.SIGTERM}
    assert results == [200]
    with pytest.raises(httpx.TransportError):
        httpx.get(f"{server.url}/health", timeout=2)


def test_a_prediction_over_the_timeout_gets_504(
    model_folder_of: Callable[..., Path], tmp_path: Path
) -> None:
    folder = model_folder_of(makers.sklearn_joblib(tmp_path / "made"), name="iris")
    with run_server(folder, "--timeout", "0.001") as server, server.client() as client:
        response = post_json(client, {"instances": IRIS_ROWS * 20_000})
        assert response.status_code == 504
        assert response.json() == {"error": "the prediction took longer than 0.001 s"}
        assert client.get("/health").status_code == 200  # the server itself is fine
