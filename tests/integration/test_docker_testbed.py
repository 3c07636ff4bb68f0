"""The Docker test bed itself: the daemon answers, and the local base image runs Python 3.11
with venv (what images built for the tests rely on). It proves the bed, nothing of the app."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from docker import DockerClient

pytestmark = pytest.mark.integration

SCRIPT = """
set -e
python3 -c 'import sys; print(sys.version)'
python3 -m venv /tmp/venv
/tmp/venv/bin/python -c 'import sys; print(sys.prefix)'
/tmp/venv/bin/python -m pip --version
"""


def test_base_image_runs_python_311_and_makes_a_venv(
    docker_client: DockerClient, base_image: str
) -> None:
    output = docker_client.containers.run(
        base_image, ["sh", "-c", SCRIPT], remove=True, network_mode="none"
    )
    version, prefix, pip = output.decode().splitlines()
    assert version.startswith("3.11."), version
    assert prefix == "/tmp/venv"
    assert "/tmp/venv/" in pip, pip
