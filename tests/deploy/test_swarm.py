"""``--swarm`` deploys on the test host: a single-node swarm, Swarm's own start-first
update and rollback, Modelbay's front on a stable port (app/deploy/swarm.py).

Requests go through Modelbay's own SSH tunnel to the front on the host's loopback.
Every test starts with the host in no swarm and leaves it in none.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest

from app.deploy.host import DeployError
from app.deploy.service import (
    DeployOptions,
    deploy,
    open_tunnel,
    rollback,
    service_statuses,
    stop,
)
from app.deploy.swarm import (
    SwarmState,
    check_swarm_state,
    open_swarm_tunnel,
    swarm_deploy,
)
from app.errors import ConflictError
from app.registry import NewDeployment, Registry
from tests.deploy.conftest import HOST, Client, predict
from tests.remote_host import RemoteHost

ADDRESS = f"iris@{HOST}"


# ---------------------------------------------------------------------- no host needed
@pytest.mark.parametrize(
    ("swarm", "initialise"),
    [
        ({}, True),
        ({"LocalNodeState": "inactive"}, True),
        ({"LocalNodeState": "active", "ControlAvailable": True, "NodeID": "n1"}, False),
    ],
)
def test_a_host_in_no_swarm_gets_one_and_a_manager_is_used(
    swarm: dict[str, Any], initialise: bool
) -> None:
    assert check_swarm_state(SwarmState.from_info({"Swarm": swarm}), "h") is initialise


def test_a_worker_or_a_locked_node_is_refused_in_words() -> None:
    worker = SwarmState.from_info({"Swarm": {"LocalNodeState": "active", "NodeID": "n2"}})
    with pytest.raises(ConflictError, match="h is a worker node of a Docker swarm") as refused:
        check_swarm_state(worker, "h")
    assert "manager" in (refused.value.hint or "")
    locked = SwarmState.from_info({"Swarm": {"LocalNodeState": "locked"}})
    with pytest.raises(ConflictError, match="swarm state 'locked'"):
        check_swarm_state(locked, "h")


# ---------------------------------------------------------------------- on the test host
def _leave_swarm(remote: RemoteHost) -> None:
    remote.docker("swarm", "leave", "--force", check=False)


@pytest.fixture
def swarm_registry(deploy_registry: Registry, remote_host: RemoteHost) -> Iterator[Registry]:
    _leave_swarm(remote_host)
    try:
        yield deploy_registry
    finally:
        _leave_swarm(remote_host)  # its services and tasks go with it; conftest removes the rest


def _service(remote: RemoteHost) -> dict[str, Any]:
    found = remote.docker("service", "inspect", "modelbay-iris", check=False)
    return json.loads(found.stdout)[0] if found.returncode == 0 else {}


def _swarm_version(registry: Registry) -> str:
    with open_swarm_tunnel(registry, ADDRESS) as (tunnel, _state):
        status, headers, body = predict(tunnel.url)
    assert status == 200, body
    return headers["x-model-version"]


@pytest.mark.integration
def test_swarm_updates_start_first_and_rolls_back_while_clients_keep_asking(
    swarm_registry: Registry, remote_host: RemoteHost
) -> None:
    registry = swarm_registry
    lines: list[str] = []
    first = deploy(registry, "iris:1", HOST, DeployOptions(swarm=True), log=lines.append)
    d1 = first.deployment
    assert (d1.status, d1.kind, d1.ref, d1.service) == ("live", "deploy", "iris:1", "iris")
    assert d1.settings["swarm"] == "modelbay-iris"
    assert any("initialising a single-node swarm" in line for line in lines), lines
    swarm = json.loads(remote_host.docker("info", "--format", "{{json .Swarm}}").stdout)
    assert swarm["NodeAddr"] == "127.0.0.1"  # the swarm Modelbay made listens on loopback only

    spec = _service(remote_host)["Spec"]
    assert spec["Labels"]["modelbay.deployment"] == d1.uid
    assert spec["Labels"]["modelbay.version"] == "1"
    assert spec["Labels"]["modelbay.sha256"] == registry.get("iris:1").sha256
    assert spec["UpdateConfig"]["Order"] == "start-first"
    assert spec["UpdateConfig"]["FailureAction"] == "rollback"
    assert spec["RollbackConfig"]["Order"] == "start-first"
    assert spec["EndpointSpec"]["Mode"] == "dnsrr"
    assert spec["TaskTemplate"]["ContainerSpec"]["Image"] == first.shipped.image_id
    assert "modelbay.service" not in spec["TaskTemplate"]["ContainerSpec"]["Labels"]
    published = remote_host.docker("port", "modelbay-iris-front", "8000/tcp").stdout
    assert published.startswith(f"127.0.0.1:{d1.port}"), published
    assert _swarm_version(registry) == "1"

    timings: dict[str, float] = {}
    with open_tunnel(registry, ADDRESS) as (tunnel, _state):  # routed to the swarm one
        clients = [Client(tunnel.url, keep_alive=False), Client(tunnel.url, keep_alive=True)]
        done = threading.Event()
        threads = [threading.Thread(target=c.run, args=(done,)) for c in clients]
        for thread in threads:
            thread.start()
        try:
            time.sleep(1)
            started = time.monotonic()
            # no --swarm: a service deployed as a Swarm service stays one
            second = deploy(registry, "iris:2", HOST, DeployOptions(set_alias="production"))
            timings["update"] = time.monotonic() - started
            time.sleep(1)
            started = time.monotonic()
            back = rollback(registry, ADDRESS)
            timings["rollback"] = time.monotonic() - started
            time.sleep(1)
        finally:
            done.set()
            for thread in threads:
                thread.join(60)
    report = "; ".join(c.describe() for c in clients)
    report += f"; versions seen {[c.versions for c in clients]}; seconds {timings}"
    print(report)

    for client in clients:
        # both versions answer while Swarm runs the old and the new task side by side
        assert client.versions[0] == "1", report
        assert "2" in client.versions, report
        assert client.versions[-1] == "1", report
        assert client.ok > 50, report
        # a new connection finds a task that passed its health check; a kept-alive one is
        # told to close (the drain) before its task stops
        assert client.failed == [], report

    d2 = second.deployment
    assert (d2.status, d2.ref, d2.predecessor_id) == ("live", "iris:2", d1.id)
    assert second.replaced is not None
    assert second.replaced.uid == d1.uid
    assert d2.port == d1.port
    assert registry.get("iris@production").version == 2
    d3 = back.deployment
    assert (d3.kind, d3.ref, d3.status, d3.predecessor_id) == ("rollback", "iris:1", "live", d2.id)
    assert registry.deployment(d2.uid).status == "retired"
    service = _service(remote_host)
    assert service["UpdateStatus"]["State"] == "rollback_completed"
    assert service["Spec"]["Labels"]["modelbay.version"] == "1"
    assert service["Spec"]["Labels"]["modelbay.deployment"] == d1.uid  # Swarm restored d1's spec
    # the retired tasks were drained (Connection: close) before their stop
    logs = remote_host.docker("service", "logs", "--raw", "modelbay-iris")
    assert (logs.stdout + logs.stderr).count("draining") >= 2, logs.stderr[-2000:]

    # a row whose deploy died before Swarm heard of it is put right by the next look
    orphan = registry.start_deployment(
        NewDeployment(
            host=HOST,
            service="iris",
            target=registry.get("iris:2"),
            image_id=d2.image_id,
            image_tag=d2.image_tag,
            settings={"swarm": "modelbay-iris"},
        )
    )
    statuses = service_statuses(registry)
    assert [(s.service, s.state, s.ref, s.uid, s.port) for s in statuses] == [
        ("iris", "healthy", "iris:1", d3.uid, d1.port)
    ]
    assert registry.deployment(orphan.uid).status == "interrupted"
    assert registry.deployment(d3.uid).status == "live"

    stopped = stop(registry, ADDRESS)
    assert [row.uid for row in stopped] == [d3.uid]
    assert _service(remote_host) == {}
    assert "modelbay-iris-front" not in remote_host.docker("ps", "-a").stdout


@pytest.mark.integration
def test_an_update_that_never_gets_healthy_is_rolled_back_by_swarm(
    swarm_registry: Registry, remote_host: RemoteHost
) -> None:
    registry = swarm_registry
    first = swarm_deploy(registry, "iris:1", HOST).deployment
    # the server listens on another port than the one its health is checked on
    bad = DeployOptions(env={"MODELBAY_PORT": "9000"}, timeout=6)
    with pytest.raises(DeployError, match="Swarm rolled the update back") as failure:
        swarm_deploy(registry, "iris:2", HOST, bad)
    assert "keeps serving" in failure.value.message
    assert _swarm_version(registry) == "1"
    failed = registry.deployments(statuses=("failed",))
    assert [row.ref for row in failed] == ["iris:2"]
    assert "rolled the update back" in failed[0].error
    assert registry.deployment(first.uid).status == "live"
    labels = _service(remote_host)["Spec"]["Labels"]
    assert (labels["modelbay.deployment"], labels["modelbay.version"]) == (first.uid, "1")


@pytest.mark.integration
def test_a_first_version_that_crashes_leaves_no_service_behind(
    swarm_registry: Registry, remote_host: RemoteHost
) -> None:
    registry = swarm_registry
    broken = DeployOptions(env={"MODELBAY_MAX_BODY_MB": "lots"}, timeout=60)
    with pytest.raises(DeployError, match="the service's task failed") as failure:
        swarm_deploy(registry, "iris:1", HOST, broken)
    # the server's own error, the last line of its log, in the error line itself
    assert failure.value.message.endswith(
        ": ValueError: invalid literal for int() with base 10: 'lots'"
    )
    assert "\n" not in failure.value.message
    assert (failure.value.hint or "").startswith(
        "`modelbay serve iris:1` runs the same version on this machine to try it; "
    )
    row = registry.deployments()[0]
    assert (row.status, row.ref) == ("failed", "iris:1")
    assert "lots" in row.log_tail
    assert _service(remote_host) == {}


@pytest.mark.integration
def test_a_single_host_service_of_the_same_name_is_not_taken_over(
    swarm_registry: Registry, remote_host: RemoteHost
) -> None:
    registry = swarm_registry
    deploy(registry, "iris:1", HOST)
    with pytest.raises(ConflictError, match="runs as a single-host service"):
        swarm_deploy(registry, "iris:2", HOST)
    assert _service(remote_host) == {}
    assert registry.deployments(statuses=("live",))[0].settings.get("swarm") is None
