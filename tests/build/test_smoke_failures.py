"""Smoke tests that cannot pass stop at once and say why (app/build/smoke.py), real Docker."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from app.build.service import BuildOptions, build_image
from app.build.smoke import smoke_test
from app.config import Config
from app.registry import Registry
from tests.build.conftest import image_of_files
from tests.deploy.own_model import own_class_joblib

if TYPE_CHECKING:
    from docker import DockerClient

pytestmark = pytest.mark.integration


@pytest.fixture
def image_that_exits(docker_client: DockerClient, base_image: str) -> Iterator[str]:
    """The base image with a command that fails at once, as a broken runtime would."""
    dockerfile = (
        f"FROM {base_image}\n"
        'CMD ["python3", "-c", "import sys; print(\'starting\', flush=True); '
        "sys.exit('boom: no model')\"]\n"
    ).encode()
    with image_of_files(docker_client, "exits", {"Dockerfile": dockerfile}) as tag:
        yield tag


def test_a_container_that_exits_is_reported_at_once_with_its_last_line(
    docker_client: DockerClient, image_that_exits: str
) -> None:
    started = time.monotonic()
    result = smoke_test(docker_client, image_that_exits, None, timeout=120)
    assert time.monotonic() - started < 30
    assert not result.ok
    assert result.reason == "the container exited (code 1) before it was healthy: boom: no model"
    assert result.log_tail == ["starting", "boom: no model"]


def test_a_model_that_cannot_load_fails_its_build_at_once_with_the_reason(
    docker_client: DockerClient,
    base_image: str,
    build_registry: Registry,
    build_config: Config,
    tmp_path: Path,
) -> None:
    build_registry.import_path(own_class_joblib(tmp_path / "own"), name="own")
    lines: list[str] = []
    started = time.monotonic()
    build = build_image(
        build_registry,
        "own:1",
        BuildOptions(base_image=base_image),
        config=build_config,
        log=lines.append,
    )
    assert build.status == "failed"
    assert build.error == (
        "smoke test failed: the model failed to load in the image: ModuleNotFoundError: No "
        "module named 'mb_own_features' (the model was saved with code the image does not "
        "have: save it with library classes only, not your own, then import it again)"
    )
    smoke_started = next(i for i, line in enumerate(lines) if line.startswith("smoke test:"))
    assert any("cannot load own:1" in line for line in lines[smoke_started:])
    assert build.smoke is not None
    assert build.smoke["ok"] is False
    # it stopped as soon as the runtime said the model failed, not after the 120 s timeout
    assert time.monotonic() - started < 110
