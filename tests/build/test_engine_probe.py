"""Probing a base image's Python (app/build/engine.py) with the real Docker daemon."""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

import pytest

from app.build import engine
from app.errors import InvalidInputError
from tests.build.conftest import image_of_files

if TYPE_CHECKING:
    from docker import DockerClient

pytestmark = pytest.mark.integration


@pytest.fixture
def image_without_python(docker_client: DockerClient) -> Iterator[str]:
    """A tiny local image with one static file and nothing else (FROM scratch: no pull)."""
    files = {"Dockerfile": b"FROM scratch\nCOPY motd /etc/motd\n", "motd": b"no python here\n"}
    with image_of_files(docker_client, "no-python", files) as tag:
        yield tag


def _containers_of(client: DockerClient, tag: str) -> list[str]:
    image_id = client.images.get(tag).id
    return [str(c.id) for c in client.containers.list(all=True) if c.attrs.get("Image") == image_id]


def test_a_base_image_without_python3_is_named_and_leaves_no_container(
    docker_client: DockerClient, image_without_python: str
) -> None:
    with pytest.raises(InvalidInputError) as failure:
        engine.probe_target(docker_client, image_without_python)
    assert failure.value.message == (
        f"the base image {image_without_python} has no python3 (the container could not start it)"
    )
    assert failure.value.hint == (
        "use an image with Python 3.9+ and its venv module, such as python:3.11-slim"
    )
    assert _containers_of(docker_client, image_without_python) == []


def test_the_probe_reads_the_python_of_a_base_image(
    docker_client: DockerClient, base_image: str
) -> None:
    target, image_id = engine.probe_target(docker_client, base_image)
    assert target.python == "3.11"
    assert image_id == docker_client.images.get(base_image).id
