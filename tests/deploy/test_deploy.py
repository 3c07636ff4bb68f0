"""Deploying real images on the test host: start, health-check, switch, retire, roll back.

Every request goes through Modelbay's own SSH tunnel to the service's front on
the host's loopback, as a user's would.
"""

from __future__ import annotations

import datetime as dt
import time
from pathlib import Path

import pytest

from app.build.service import BuildOptions, build_image
from app.config import Config
from app.deploy.host import DeployError
from app.deploy.service import DeployOptions, deploy, rollback, service_statuses, stop
from app.errors import ConflictError, NotFoundError
from app.registry import Registry
from tests.deploy.conftest import (
    HOST,
    containers,
    predict,
    serving_version,
    tunnel,
)
from tests.deploy.own_model import own_class_joblib
from tests.remote_host import RemoteHost

pytestmark = pytest.mark.integration


def test_deploy_a_version_then_the_next_then_roll_back(
    deploy_registry: Registry, remote_host: RemoteHost
) -> None:
    registry = deploy_registry
    lines: list[str] = []
    first = deploy(registry, "iris:1", HOST, log=lines.append)
    d1 = first.deployment
    assert (d1.status, d1.service, d1.ref, d1.kind) == ("live", "iris", "iris:1", "deploy")
    assert first.replaced is None
    assert d1.port is not None
    assert any("health" in line for line in lines)

    on_host = containers(remote_host, "iris")
    assert set(on_host) == {"modelbay-iris", f"modelbay-iris-{d1.uid}"}
    backend = on_host[f"modelbay-iris-{d1.uid}"]
    assert backend["modelbay.version"] == "1"
    assert backend["modelbay.deployment"] == d1.uid
    assert backend["modelbay.sha256"] == registry.get("iris:1").sha256
    assert on_host["modelbay-iris"]["modelbay.role"] == "front"
    published = remote_host.docker("port", "modelbay-iris", "8000/tcp").stdout
    assert published.startswith("127.0.0.1:"), published  # loopback unless --public
    assert serving_version(registry, "iris@" + HOST) == "1"

    second = deploy(registry, "iris:2", HOST, DeployOptions(set_alias="production"))
    d2 = second.deployment
    assert second.replaced is not None
    assert second.replaced.uid == d1.uid
    assert d2.port == d1.port  # the service keeps its address
    assert d2.predecessor_id == d1.id
    assert registry.deployment(d1.uid).status == "retired"
    assert set(containers(remote_host, "iris")) == {"modelbay-iris", f"modelbay-iris-{d2.uid}"}
    assert serving_version(registry, "iris@" + HOST) == "2"
    assert registry.get("iris@production").version == 2

    back = rollback(registry, "iris@" + HOST)
    d3 = back.deployment
    assert (d3.kind, d3.ref, d3.status) == ("rollback", "iris:1", "live")
    assert serving_version(registry, "iris@" + HOST) == "1"
    assert registry.deployment(d2.uid).status == "retired"

    statuses = service_statuses(registry, with_metrics=True)
    assert [(s.service, s.ref, s.uid) for s in statuses] == [("iris", "iris:1", d3.uid)]
    assert statuses[0].state in {"healthy", "starting", "running"}
    assert statuses[0].metrics is not None
    assert statuses[0].metrics["requests"] >= 1  # serving_version() asked it once

    # "what served on the host at time T" has an answer for each moment
    during_second = registry.deployment(d2.uid).live_at
    assert during_second is not None
    at = registry.serving_at(HOST, during_second + dt.timedelta(microseconds=1))
    assert [r.uid for r in at] == [d2.uid]
    actions = [e.action for e in registry.history("iris")]
    assert "deployment.live" in actions
    assert "deployment.retired" in actions

    stopped = stop(registry, "iris@" + HOST)
    assert [r.uid for r in stopped] == [d3.uid]
    assert registry.deployment(d3.uid).status == "stopped"
    assert containers(remote_host, "iris") == {}


def test_a_version_that_never_gets_healthy_is_removed_and_the_old_one_keeps_serving(
    deploy_registry: Registry, remote_host: RemoteHost
) -> None:
    registry = deploy_registry
    first = deploy(registry, "iris:1", HOST).deployment
    # the server listens on another port than the one its health is checked on
    bad = DeployOptions(env={"MODELBAY_PORT": "9000"}, timeout=20)
    lines: list[str] = []
    with pytest.raises(DeployError, match="did not become healthy within 20 s") as failure:
        deploy(registry, "iris:2", HOST, bad, log=lines.append)
    error = failure.value
    assert "keeps serving" in error.message
    assert "below" not in str(error)  # nothing follows the error line
    assert error.log_tail  # it logged (it listens on 9000): the lines come before the error
    assert "its last log lines are shown above" in str(error.hint)
    assert "yet it does not answer /health on port 8000" in str(error.hint)
    assert serving_version(registry, "iris@" + HOST) == "1"
    assert set(containers(remote_host, "iris")) == {"modelbay-iris", f"modelbay-iris-{first.uid}"}
    failed = registry.deployments(statuses=("failed",))
    assert len(failed) == 1
    shown = lines.index(f"the last log lines of modelbay-iris-{failed[0].uid}:")
    assert any("iris:2 loaded in" in line for line in lines[shown:])
    assert "healthy" in failed[0].error
    assert registry.deployment(first.uid).status == "live"

    # a timeout too short for the model to load: no log lines, and no mention of any
    with pytest.raises(DeployError, match="did not become healthy within 1 s") as quick:
        deploy(registry, "iris:2", HOST, DeployOptions(timeout=1))
    said = str(quick.value)
    if quick.value.log_tail:
        assert "its last log lines are shown above" in said
    else:
        assert "logged nothing yet" in said
        assert "log lines" not in said
    assert "longer --timeout" in said


def test_a_model_that_cannot_load_in_its_image_fails_at_once_with_the_reason(
    deploy_registry: Registry,
    deploy_config: Config,
    remote_host: RemoteHost,
    base_image: str,
    tmp_path: Path,
) -> None:
    registry = deploy_registry
    first = deploy(registry, "iris:1", HOST).deployment
    registry.import_path(own_class_joblib(tmp_path / "own"), name="own")
    options = BuildOptions(base_image=base_image, smoke_test=False)
    assert build_image(registry, "own:1", options, config=deploy_config).status == "built"
    started = time.monotonic()
    with pytest.raises(DeployError) as failure:
        deploy(registry, "own:1", HOST, DeployOptions(service="iris", timeout=300))
    took = time.monotonic() - started
    error = failure.value
    assert error.message == (
        "the model failed to load in the image: ModuleNotFoundError: No module named "
        "'mb_own_features'; the previous version keeps serving"
    )
    assert "a longer --timeout will not help" in str(error.hint)
    assert "modelbay serve own:1" in str(error.hint)
    assert took < 120, f"it waited {took:.0f} s for a model that had failed to load"
    assert serving_version(registry, "iris@" + HOST) == "1"
    assert set(containers(remote_host, "iris")) == {"modelbay-iris", f"modelbay-iris-{first.uid}"}
    failed = registry.deployments(statuses=("failed",))[0]
    assert "cannot load own:1" in failed.log_tail


def test_a_container_that_crashes_on_start_is_reported_with_its_log(
    deploy_registry: Registry, remote_host: RemoteHost
) -> None:
    registry = deploy_registry
    first = deploy(registry, "iris:1", HOST).deployment
    broken = DeployOptions(env={"MODELBAY_MAX_BODY_MB": "lots"}, timeout=60)
    lines: list[str] = []
    with pytest.raises(DeployError, match="stopped right after it started") as failure:
        deploy(registry, "iris:2", HOST, broken, log=lines.append)
    error = failure.value
    assert "\n" not in error.message
    # the server's own error, the last line of its log, is in the error line itself
    assert error.message.startswith("the new container stopped right after it started (")
    assert error.message.endswith(
        ": ValueError: invalid literal for int() with base 10: 'lots'; the previous version "
        "keeps serving"
    )
    assert "its last log lines are shown above" in str(error.hint)
    shown = next(i for i, line in enumerate(lines) if line.startswith("the last log lines of"))
    assert any("lots" in line for line in lines[shown:])
    failed = registry.deployments(statuses=("failed",))[0]
    assert "lots" in failed.log_tail
    assert serving_version(registry, "iris@" + HOST) == "1"
    assert set(containers(remote_host, "iris")) == {"modelbay-iris", f"modelbay-iris-{first.uid}"}


def test_a_container_out_of_memory_is_named_as_such(
    deploy_registry: Registry, remote_host: RemoteHost
) -> None:
    registry = deploy_registry
    with pytest.raises(DeployError) as failure:
        deploy(registry, "iris:1", HOST, DeployOptions(memory=8 << 20, timeout=60))
    assert failure.value.message == (
        "the new container stopped right after it started: it ran out of memory (--memory 8m)"
    )  # and nothing served before, so nothing "keeps serving"
    assert failure.value.hint == "give it more with --memory, e.g. --memory 1g"
    assert containers(remote_host, "iris") == {}


def test_a_port_in_use_is_named_and_nothing_is_left_behind(
    deploy_registry: Registry, remote_host: RemoteHost
) -> None:
    registry = deploy_registry
    first = deploy(registry, "iris:1", HOST).deployment
    with pytest.raises(DeployError, match=f"port {first.port} on {HOST} is already in use") as used:
        deploy(registry, "iris:2", HOST, DeployOptions(service="other", port=first.port))
    # the new container was healthy: its log is not the reason and is not shown
    assert "log" not in str(used.value)
    assert not used.value.log_tail
    assert containers(remote_host, "other") == {}
    assert registry.deployments(service="other")[0].status == "failed"
    # and a service keeps its address: asking for another port is refused in words
    with pytest.raises(ConflictError, match="already listens on port"):
        deploy(registry, "iris:2", HOST, DeployOptions(port=first.port + 1))


def test_stop_and_rollback_name_what_is_not_there(deploy_registry: Registry) -> None:
    registry = deploy_registry
    with pytest.raises(NotFoundError) as nothing:
        stop(registry, "nosuch@" + HOST)
    assert nothing.value.message == f"nothing runs as nosuch on {HOST}"  # as logs/tunnel say
    with pytest.raises(NotFoundError) as no_host:
        rollback(registry, "iris@gpu-1")
    assert no_host.value.message == "there is no host named 'gpu-1'"  # not "deploy one on it"
    assert no_host.value.hint == f"the hosts are {HOST}"


def test_public_service_requires_its_token(
    deploy_registry: Registry, remote_host: RemoteHost, secret_service: object
) -> None:
    from app.deploy.service import token_entry
    from app.remote.secrets import SecretStore

    registry = deploy_registry
    result = deploy(registry, "iris:1", HOST, DeployOptions(public=True))
    assert result.token_in_keyring is True
    token = SecretStore.open().get(token_entry(HOST, "iris"))
    assert token
    published = remote_host.docker("port", "modelbay-iris", "8000/tcp").stdout
    assert published.startswith("0.0.0.0:"), published
    with tunnel(registry, "iris@" + HOST) as url:
        assert predict(url)[0] == 401
        assert predict(url, token="wrong")[0] == 401
        assert predict(url, token=token)[0] == 200
    # a new version keeps the service's token: its clients keep working
    deploy(registry, "iris:2", HOST)
    with tunnel(registry, "iris@" + HOST) as url:
        status, headers, _ = predict(url, token=token)
    assert (status, headers["x-model-version"]) == (200, "2")
    registry_text = registry.engine.url.database or ""
    if registry_text:
        with open(registry_text, "rb") as db:
            assert token.encode() not in db.read()
