"""`modelbay build` and `modelbay builds`: the same builds from the command line."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from app.config import Config
from app.registry import Registry
from tests.formats import makers

pytestmark = pytest.mark.integration


def _modelbay(config: Config, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "app", *args],
        env={**os.environ, "MODELBAY_HOME": str(config.home)},
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )


def test_build_prints_the_log_then_the_build_as_json(
    base_image: str, build_config: Config, tmp_path: Path
) -> None:
    with Registry.open(build_config) as registry:
        registry.import_path(makers.sklearn_joblib(tmp_path / "m"), name="iris")
    done = _modelbay(build_config, "build", "iris:1", "--base-image", base_image, "--json")
    assert done.returncode == 0, done.stderr
    build = json.loads(done.stdout)
    assert build["status"] == "verified"
    assert build["tag"] == "modelbay/iris:1"
    assert build["image_id"].startswith("sha256:")
    assert build["base_image"] == base_image
    assert build["smoke"]["status"] == 200
    assert "Step 1/" in done.stderr  # the live log goes to stderr, JSON alone to stdout
    assert "smoke test passed" in done.stderr

    listed = _modelbay(build_config, "builds", "iris", "--json")
    assert [b["id"] for b in json.loads(listed.stdout)] == [build["id"]]
    table = _modelbay(build_config, "builds")
    assert "iris:1" in table.stdout
    assert "verified" in table.stdout


def test_build_errors_are_one_line_with_what_to_do(
    build_config: Config, tmp_path: Path, docker_client: object
) -> None:
    with Registry.open(build_config) as registry:
        registry.import_path(makers.malicious_pickle(tmp_path / "m", tmp_path / "marker"), name="x")
        registry.import_path(makers.sklearn_joblib(tmp_path / "n"), name="iris")
    quarantined = _modelbay(build_config, "build", "x")
    assert quarantined.returncode == 1
    assert quarantined.stderr.startswith("error: x:1 is quarantined: loading it would run code")
    missing = _modelbay(build_config, "build", "iris", "--base-image", "modelbay-test/absent:0")
    assert missing.returncode == 1
    assert "error: the base image modelbay-test/absent:0 is not on this machine" in missing.stderr
    env_down = subprocess.run(
        [sys.executable, "-m", "app", "build", "iris"],
        env={
            **os.environ,
            "MODELBAY_HOME": str(build_config.home),
            "DOCKER_HOST": "unix:///nonexistent/docker.sock",
        },
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert env_down.returncode == 1
    assert env_down.stderr.startswith(
        "error: cannot reach the Docker daemon at unix:///nonexistent"
    )
    assert "Traceback" not in env_down.stderr
