"""Real images built by the real Docker daemon, run, and called over HTTP.

The base image is the local Debian 12 + Python 3.11 image that tests/setup/docker.sh
makes (nothing can be pulled here). Predictions from inside the container are
compared with the same model loaded here by its own library.
"""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING

import joblib
import numpy as np
import onnxruntime
import pytest

from app.build.engine import DockerUnavailable, connect
from app.build.service import BuildOptions, build_image
from app.config import Config
from app.errors import Cancelled
from app.progress import CancelToken
from app.registry import Registry
from tests.build.conftest import get_json, post_json, running
from tests.formats import makers
from tests.serving.conftest import IRIS_COLUMNS, IRIS_ROWS

if TYPE_CHECKING:
    from docker import DockerClient

pytestmark = pytest.mark.integration


def test_scikit_learn_image_serves_what_the_model_predicts(
    docker_client: DockerClient,
    base_image: str,
    build_registry: Registry,
    build_config: Config,
    tmp_path: Path,
) -> None:
    path = makers.sklearn_joblib(tmp_path / "m")
    info = build_registry.import_path(path, name="iris forest")
    log: list[str] = []
    progress: list[int] = []
    build = build_image(
        build_registry,
        "iris forest:1",
        BuildOptions(base_image=base_image),
        config=build_config,
        log=log.append,
        progress=lambda d, t, m: progress.append(d),
    )
    assert build.status == "verified", build.error
    assert build.tag == "modelbay/iris-forest:1"
    assert build.smoke is not None
    assert build.smoke["status"] == 200
    assert progress == sorted(progress)
    assert progress[-1] == 100
    assert any(line.startswith("Step 1/") for line in log)

    image = docker_client.images.get(build.tag)
    assert image.id == build.image_id
    config = image.attrs["Config"]
    assert config["User"] == "65532:65532"
    assert "/health" in " ".join(config["Healthcheck"]["Test"])
    assert config["Labels"]["org.modelbay.model.sha256"] == info.sha256
    assert config["Labels"]["org.modelbay.lock.sha256"] == build.lock_sha256
    assert build.layers == image.attrs["RootFS"]["Layers"]
    assert build.lock_text is not None
    assert f"scikit-learn=={info.framework_version}" in build.lock_text

    import pandas as pd

    frame = pd.DataFrame(IRIS_ROWS, columns=IRIS_COLUMNS)
    expected = joblib.load(path).predict(frame)  # loaded here, by the test only
    with running(docker_client, build.tag) as url:
        status, answer, headers = post_json(
            url + "/invocations",
            {"dataframe_split": {"columns": IRIS_COLUMNS, "data": IRIS_ROWS}},
        )
        metadata = get_json(url + "/metadata")
    assert status == 200
    assert answer["predictions"] == expected.tolist()
    assert headers["x-model-name"] == "iris forest"
    assert metadata["image"] == build.tag
    assert metadata["sha256"] == info.sha256
    assert build_registry.builds("iris forest:1")[0].id == build.id


def test_new_version_with_the_same_dependencies_reuses_every_layer_but_the_model(
    docker_client: DockerClient,
    base_image: str,
    build_registry: Registry,
    build_config: Config,
    tmp_path: Path,
) -> None:
    build_registry.import_path(makers.sklearn_joblib(tmp_path / "a"), name="iris")
    build_registry.import_path(makers.sklearn_joblib(tmp_path / "b", compress="gzip"), name="iris")
    options = BuildOptions(base_image=base_image)
    first = build_image(build_registry, "iris:1", options, config=build_config)
    log: list[str] = []
    second = build_image(build_registry, "iris:2", options, config=build_config, log=log.append)
    assert (first.status, second.status) == ("verified", "verified")
    assert second.lock_sha256 == first.lock_sha256
    assert second.layers[:-1] == first.layers[:-1]  # base, dependencies, runtime: shared
    assert second.layers[-1] != first.layers[-1]  # the model's files
    assert any("reusing lock" in line for line in log)
    assert sum("Using cache" in line for line in log) >= 10


def test_onnx_image_serves_what_onnxruntime_computes(
    docker_client: DockerClient,
    base_image: str,
    build_registry: Registry,
    build_config: Config,
    tmp_path: Path,
) -> None:
    path = makers.onnx_from_sklearn(tmp_path / "m")
    build_registry.import_path(path, name="logreg")
    build = build_image(
        build_registry, "logreg", BuildOptions(base_image=base_image), config=build_config
    )
    assert build.status == "verified", build.error
    assert build.lock_text is not None
    assert "onnxruntime==" in build.lock_text
    assert "scikit-learn" not in build.lock_text  # an ONNX image carries no training library

    session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    expected = session.run(None, {"input": np.array(IRIS_ROWS, dtype=np.float32)})[0]
    with running(docker_client, build.tag) as url:
        status, answer, _ = post_json(url + "/invocations", {"instances": IRIS_ROWS})
    assert status == 200
    assert answer["predictions"] == expected.tolist()


def test_a_failed_smoke_test_is_recorded_with_the_reason(
    docker_client: DockerClient,
    base_image: str,
    build_registry: Registry,
    build_config: Config,
    tmp_path: Path,
) -> None:
    build_registry.import_path(makers.sklearn_joblib(tmp_path / "m"), name="iris")
    wrong = {"columns": {"not a feature": {"kind": "numeric", "bin_edges": [0.0, 1.0, 2.0]}}}
    build = build_image(
        build_registry,
        "iris",
        BuildOptions(base_image=base_image, profile=wrong),
        config=build_config,
    )
    assert build.status == "failed"
    assert "smoke test failed: the test request got HTTP 400" in build.error
    assert build.smoke is not None
    assert build.smoke["ok"] is False
    assert build_registry.history("iris")[-1].action == "image.failed"


def test_cancel_stops_the_daemon_build_and_is_recorded(
    docker_client: DockerClient,
    base_image: str,
    build_registry: Registry,
    build_config: Config,
    tmp_path: Path,
) -> None:
    # LightGBM: a dependency set no other test builds, so the install step really runs
    build_registry.import_path(makers.lightgbm_text(tmp_path / "m"), name="booster")
    before = {c.id for c in docker_client.containers.list(all=True)}
    cancel = CancelToken()

    def log(line: str) -> None:
        if line.startswith("Step 4/"):  # the dependency install (python3 -m venv; pip install)
            threading.Timer(1.0, cancel.cancel).start()

    started = time.monotonic()
    with pytest.raises(Cancelled):
        build_image(
            build_registry,
            "booster",
            BuildOptions(base_image=base_image),
            config=build_config,
            log=log,
            cancel=cancel,
        )
    assert time.monotonic() - started < 60
    assert [b.status for b in build_registry.builds("booster")] == ["cancelled"]
    assert not docker_client.images.list(name="modelbay/booster")
    deadline = time.monotonic() + 30  # the daemon removes the step's container once it stops
    while {c.id for c in docker_client.containers.list(all=True)} - before:
        assert time.monotonic() < deadline, "the cancelled build left a container behind"
        time.sleep(0.5)


def test_unreachable_daemon_is_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DOCKER_HOST", "unix:///nonexistent/docker.sock")
    with pytest.raises(DockerUnavailable) as caught:
        connect()
    assert caught.value.message == (
        "cannot reach the Docker daemon at unix:///nonexistent/docker.sock: it is not running "
        "or not installed"
    )
    assert caught.value.hint is not None
    assert "start Docker" in caught.value.hint


def test_missing_base_image_is_a_clear_error(
    docker_client: DockerClient, build_registry: Registry, build_config: Config, tmp_path: Path
) -> None:
    build_registry.import_path(makers.sklearn_joblib(tmp_path / "m"), name="iris")
    with pytest.raises(Exception, match="the base image modelbay-test/absent:0 is not on this"):
        build_image(
            build_registry,
            "iris",
            BuildOptions(base_image="modelbay-test/absent:0"),
            config=build_config,
        )
    assert build_registry.builds() == []  # Docker never started building: nothing to record
