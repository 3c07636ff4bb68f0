"""The registry's record of deployments: statuses, times, history and "what served when"."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from app.errors import InvalidInputError, NotFoundError
from app.registry import NewDeployment, Registry
from tests.formats import makers


def _version(registry: Registry, tmp_path: Path, name: str = "iris") -> object:
    return registry.import_path(makers.sklearn_joblib(tmp_path / name), name=name)


def _start(registry: Registry, target: object, **fields: object) -> str:
    new = NewDeployment(
        host=str(fields.pop("host", "gpu-1")),
        service=str(fields.pop("service", "iris")),
        target=target,  # type: ignore[arg-type]
        image_id="sha256:" + "a" * 64,
        image_tag="modelbay/iris:1",
        **fields,  # type: ignore[arg-type]
    )
    return registry.start_deployment(new, actor="ana").uid


def test_a_deployment_goes_from_deploying_to_live_to_retired(
    registry: Registry, tmp_path: Path
) -> None:
    target = _version(registry, tmp_path)
    uid = _start(registry, target, port=8123, settings={"env": ["THREADS"]})
    started = registry.deployment(uid)
    assert (started.status, started.ref, started.address) == ("deploying", "iris:1", "iris@gpu-1")
    assert (started.port, started.settings, started.created_by) == (
        8123,
        {"env": ["THREADS"]},
        "ana",
    )
    assert started.live_at is None

    live = registry.update_deployment(uid, "live", container="modelbay-iris-x")
    assert live.status == "live"
    assert live.container == "modelbay-iris-x"
    assert live.live_at is not None
    switched = live.live_at + dt.timedelta(seconds=5)
    retired = registry.update_deployment(uid, "retired", at=switched)
    assert retired.ended_at == switched
    actions = [e.action for e in registry.history("iris")]
    assert actions[-3:] == ["deploy.started", "deployment.live", "deployment.retired"]
    assert registry.history("iris")[-1].details["host"] == "gpu-1"  # type: ignore[index]


def test_what_served_on_a_host_at_a_time(registry: Registry, tmp_path: Path) -> None:
    target = _version(registry, tmp_path)
    first = _start(registry, target)
    t0 = registry.update_deployment(first, "live").live_at
    assert t0 is not None
    second = _start(registry, target, predecessor_id=registry.deployment(first).id)
    t1 = registry.update_deployment(second, "live").live_at
    assert t1 is not None
    registry.update_deployment(first, "retired", at=t1)
    other_host = _start(registry, target, host="gpu-2")
    registry.update_deployment(other_host, "live")

    assert registry.serving_at("gpu-1", t0 - dt.timedelta(seconds=1)) == []
    between = t0 + (t1 - t0) / 2
    assert [d.uid for d in registry.serving_at("gpu-1", between)] == [first]
    assert [d.uid for d in registry.serving_at("gpu-1", t1)] == [second]
    failed = _start(registry, target)
    registry.update_deployment(failed, "failed", error="did not become healthy")
    assert [d.uid for d in registry.serving_at("gpu-1", dt.datetime.now(dt.UTC))] == [second]
    assert registry.deployments(host="gpu-1", statuses=("failed",))[0].error.startswith("did not")
    with pytest.raises(InvalidInputError, match="time zone"):
        registry.serving_at("gpu-1", dt.datetime(2026, 1, 1))


def test_unknown_status_kind_and_uid_are_refused(registry: Registry, tmp_path: Path) -> None:
    target = _version(registry, tmp_path)
    uid = _start(registry, target)
    with pytest.raises(InvalidInputError, match="unknown deployment status"):
        registry.update_deployment(uid, "exploded")
    with pytest.raises(InvalidInputError, match="unknown deployment kind"):
        _start(registry, target, kind="teleport")
    with pytest.raises(NotFoundError):
        registry.deployment("nope")
    assert sorted(registry.iter_services()) == [("gpu-1", "iris")]
