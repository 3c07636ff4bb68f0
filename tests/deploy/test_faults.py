"""Deploys cut short: the SSH connection dropped, the deploying process killed.

Whatever happens, the host keeps serving the version it served, and the next
look at it (``service_statuses``, i.e. ``modelbay deployments``, or the next
deploy) puts the registry and the host right: no duplicate, no orphan container.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from app.config import Config
from app.deploy.host import DeployError
from app.deploy.service import deploy, service_statuses
from app.registry import Registry
from tests.deploy.conftest import HOST, containers, serving_version, wait_until
from tests.remote_host import RemoteHost

pytestmark = pytest.mark.integration


def test_ssh_dropped_mid_deploy_is_reconciled_on_the_next_look(
    deploy_registry: Registry, remote_host: RemoteHost
) -> None:
    registry = deploy_registry
    first = deploy(registry, "iris:1", HOST).deployment
    cut: list[int] = []

    def log(line: str) -> None:
        if line.startswith("waiting for") and not cut:
            cut.append(remote_host.drop_connections())

    with pytest.raises(DeployError, match="connection to test-host was lost"):
        deploy(registry, "iris:2", HOST, log=log)
    assert cut
    assert cut[0] >= 1
    cut_short = registry.deployments(statuses=("deploying",))
    assert len(cut_short) == 1  # nothing could be cleaned up over a dead connection
    assert len(containers(remote_host, "iris")) == 3  # front, old backend, the new one

    statuses = service_statuses(registry)
    assert [(s.ref, s.uid) for s in statuses] == [("iris:1", first.uid)]
    assert registry.deployment(cut_short[0].uid).status == "interrupted"
    assert set(containers(remote_host, "iris")) == {"modelbay-iris", f"modelbay-iris-{first.uid}"}
    assert serving_version(registry, "iris@" + HOST) == "1"

    again = deploy(registry, "iris:2", HOST).deployment
    assert set(containers(remote_host, "iris")) == {"modelbay-iris", f"modelbay-iris-{again.uid}"}
    assert serving_version(registry, "iris@" + HOST) == "2"


def test_the_app_killed_mid_deploy_is_reconciled_after_a_restart(
    deploy_registry: Registry, deploy_config: Config, remote_host: RemoteHost, tmp_path: Path
) -> None:
    registry = deploy_registry
    first = deploy(registry, "iris:1", HOST).deployment
    env = {**os.environ, "MODELBAY_HOME": str(deploy_config.home)}
    with (tmp_path / "deploy.log").open("wb") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "app", "deploy", "iris:2", HOST, "--timeout", "300"],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=log,
        )
    try:

        def new_backend_started() -> bool:
            assert process.poll() is None, (tmp_path / "deploy.log").read_text()
            found = containers(remote_host, "iris")
            return any(labels.get("modelbay.version") == "2" for labels in found.values())

        wait_until(new_backend_started, timeout=120, what="the new backend to be created")
    finally:
        process.send_signal(signal.SIGKILL)
        process.wait(10)
    assert registry.deployments(statuses=("deploying",))  # what the killed process left

    statuses = service_statuses(registry)  # "the app restarted and looked"
    assert [(s.ref, s.uid) for s in statuses] == [("iris:1", first.uid)]
    assert not registry.deployments(statuses=("deploying",))
    assert registry.deployments(statuses=("interrupted",))
    assert set(containers(remote_host, "iris")) == {"modelbay-iris", f"modelbay-iris-{first.uid}"}
    assert serving_version(registry, "iris@" + HOST) == "1"
