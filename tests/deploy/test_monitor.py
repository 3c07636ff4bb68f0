"""Live monitoring end to end on the test host: deploy with reference data, send shifted
traffic, see the drift in ``modelbay monitor --json``; pulls lose and repeat nothing."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pytest

from app.build.service import BuildOptions, build_image
from app.config import Config
from app.deploy.service import DeployOptions, deploy
from app.monitor import live
from app.registry import Registry
from tests.deploy.conftest import HOST, forget_containers, tunnel
from tests.formats import makers
from tests.remote.conftest import add_test_host
from tests.remote_host import RemoteHost
from tests.serving.conftest import IRIS_COLUMNS

if TYPE_CHECKING:
    import pandas as pd

pytestmark = pytest.mark.integration

SHIFTED = ["petal length (cm)", "sepal width (cm)"]
WINDOW_SECONDS = 2


def iris_like(rows: int, seed: int, shift: dict[str, float] | None = None) -> pd.DataFrame:
    """Rows around the iris data's own rows (a bootstrap with a little noise), some columns
    moved by ``shift`` standard deviations."""
    from sklearn.datasets import load_iris

    iris = load_iris(as_frame=True).data
    rng = np.random.default_rng(seed)
    picked = iris.iloc[rng.integers(0, len(iris), rows)].reset_index(drop=True)
    frame = picked + rng.normal(0, 0.05, picked.shape)
    for column, sds in (shift or {}).items():
        frame[column] += sds * float(iris[column].std())
    return frame.round(3)


@pytest.fixture
def monitored(
    deploy_config: Config, remote_host: RemoteHost, base_image: str, tmp_path: Path
) -> Iterator[Registry]:
    """iris:1 with 3,000 reference rows attached before its build, deployed on the test host
    with 2-second monitoring windows."""
    registry = Registry.open(deploy_config)
    info = registry.import_path(makers.sklearn_joblib(tmp_path / "a"), name="iris")
    reference = tmp_path / "reference.csv"
    iris_like(3000, seed=1).to_csv(reference, index=False)
    registry.attach_reference(info.ref, reference)
    options = BuildOptions(base_image=base_image, smoke_test=False)
    assert build_image(registry, info.ref, options, config=deploy_config).status == "built"
    add_test_host(registry, remote_host, HOST)
    forget_containers(remote_host)
    deploy(
        registry,
        "iris:1",
        HOST,
        DeployOptions(env={"MODELBAY_WINDOW_SECONDS": str(WINDOW_SECONDS)}),
        config=deploy_config,
        prompt=None,
    )
    try:
        yield registry
    finally:
        registry.close()
        forget_containers(remote_host)


def send(url: str, frame: pd.DataFrame, batch: int = 50) -> None:
    for start in range(0, len(frame), batch):
        part = frame.iloc[start : start + batch]
        body = json.dumps(
            {"dataframe_split": {"columns": IRIS_COLUMNS, "data": part.to_numpy().tolist()}}
        ).encode()
        request = urllib.request.Request(
            f"{url}/invocations", data=body, headers={"Content-Type": "application/json"}
        )
        with urllib.request.urlopen(request, timeout=30) as answer:
            assert answer.status == 200


def spread_over_windows(url: str, frame: pd.DataFrame, windows: int) -> None:
    """Send ``frame`` in ``windows`` equal parts, each just after a window starts (the host
    shares this machine's clock), then wait for the last window to close."""
    size = -(-len(frame) // windows)
    for start in range(0, len(frame), size):
        time.sleep(WINDOW_SECONDS - time.time() % WINDOW_SECONDS + 0.05)
        send(url, frame.iloc[start : start + size])
    time.sleep(WINDOW_SECONDS - time.time() % WINDOW_SECONDS + 0.5)


def modelbay(config: Config, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "app", *args],
        env={**os.environ, "MODELBAY_HOME": str(config.home)},
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
        stdin=subprocess.DEVNULL,
    )


def test_shifted_traffic_drifts_in_monitor_json_and_pulls_lose_nothing(
    monitored: Registry, deploy_config: Config
) -> None:
    address = f"iris@{HOST}"
    with tunnel(monitored, address) as url:
        spread_over_windows(url, iris_like(1500, seed=2), windows=3)
    calm = modelbay(deploy_config, "monitor", address, "--once", "--json")
    assert calm.returncode == 0, calm.stderr
    first = json.loads(calm.stdout)
    assert first["ref"] == "iris:1"
    assert first["new_windows"] >= 3
    assert first["span"]["family"] == "distance"
    assert first["span"]["drifted"] == []
    assert first["alert"] is None

    with tunnel(monitored, address) as url:  # the desktop "closed" meanwhile
        shift = dict.fromkeys(SHIFTED, 1.0)
        spread_over_windows(url, iris_like(3000, seed=3, shift=shift), windows=4)
    loud = modelbay(deploy_config, "monitor", address, "--once", "--json", "--set", "span=4")
    assert loud.returncode == 3, loud.stderr  # alerting
    second = json.loads(loud.stdout)
    assert second["new_windows"] >= 4
    span = second["span"]
    assert sorted(span["drifted"]) == sorted(SHIFTED)
    assert span["drift_share"] == 0.5
    assert span["rows"] == 3000  # the four windows of shifted traffic
    for column in SHIFTED:
        assert span["features"][column]["statistic"] > 0.5  # about one standard deviation
    assert second["alert"]["reasons"] == [f"2 of 4 features drift ({', '.join(span['drifted'])})"]
    assert span["predictions"]["kind"] == "labels"

    stored = monitored.monitor_windows(HOST, "iris")
    seqs = [w.seq for w in stored]
    assert len(seqs) == len(set(seqs)) == first["new_windows"] + second["new_windows"]
    assert sum(w.rows for w in stored) == 4500  # every row sent, in exactly one window
    again = json.loads(modelbay(deploy_config, "monitor", address, "--once", "--json").stdout)
    assert again["new_windows"] == 0
    assert [w.seq for w in monitored.monitor_windows(HOST, "iris")] == seqs

    summary = modelbay(deploy_config, "monitor", address, "--once")
    assert summary.returncode == 3
    assert f"2 of 4 features drift: {', '.join(span['drifted'])}." in summary.stdout
    assert "ALERT: 2 of 4 features drift" in summary.stdout
    alerts = [e for e in monitored.history("iris") if e.action == "monitor.alert"]
    assert len(alerts) == 1
    assert alerts[0].details["service"] == "iris"


def test_a_pull_pages_through_what_it_missed(
    monitored: Registry, monkeypatch: pytest.MonkeyPatch
) -> None:
    address = f"iris@{HOST}"
    with tunnel(monitored, address) as url:
        spread_over_windows(url, iris_like(500, seed=4), windows=5)
    monkeypatch.setattr(live, "PAGE", 2)  # a desktop that was away for long: many pages
    with live.Monitor(monitored, address) as monitor:
        result = monitor.pull()
        assert result.new_windows >= 5
        assert [b.error for b in result.backends] == [None]
        assert monitor.pull().new_windows == 0
    assert sum(w.rows for w in monitored.monitor_windows(HOST, "iris")) == 500


def test_an_unreachable_host_is_an_error_in_words(
    monitored: Registry, remote_host: RemoteHost
) -> None:
    from app.errors import ModelbayError

    add_test_host(monitored, remote_host, "gone", address="127.0.0.1", port=1)
    with pytest.raises(ModelbayError, match=r"127\.0\.0\.1"):
        live.Monitor(monitored, "iris@gone").pull()
    with pytest.raises(ModelbayError, match="nothing runs as nope on test-host"):
        live.Monitor(monitored, f"nope@{HOST}").pull()


def test_monitor_all_pulls_every_live_service_and_names_the_ones_that_fail(
    monitored: Registry, deploy_config: Config, remote_host: RemoteHost
) -> None:
    """What the desktop app runs in the background: every live service, one line each; a
    host that went away is an error of its own, and the others are still pulled."""
    from app.registry.deployments import NewDeployment

    add_test_host(monitored, remote_host, "gone", address="127.0.0.1", port=1)
    live_here = monitored.deployments(host=HOST, statuses=["live"])[0]
    elsewhere = monitored.start_deployment(
        NewDeployment("gone", "iris", monitored.get("iris:1"), live_here.image_id, "iris")
    )
    monitored.update_deployment(elsewhere.uid, "live", port=8000)
    assert live.live_services(monitored) == ["iris@gone", f"iris@{HOST}"]

    address = f"iris@{HOST}"
    assert modelbay(deploy_config, "monitor", address, "--set", "span=4").returncode == 0
    with tunnel(monitored, address) as url:
        shift = dict.fromkeys(SHIFTED, 1.0)
        spread_over_windows(url, iris_like(2000, seed=5, shift=shift), windows=4)
    run = modelbay(deploy_config, "monitor", "--all", "--once", "--json")
    assert run.returncode == 3, run.stderr  # one service alerting
    lines = [json.loads(line) for line in run.stdout.splitlines()]
    pulled = next(line for line in lines if "span" in line)
    assert pulled["service"] == "iris"
    assert pulled["host"] == HOST
    assert sorted(pulled["span"]["drifted"]) == sorted(SHIFTED)
    failed = next(line for line in lines if "error" in line)
    assert failed["address"] == "iris@gone"
    assert "127.0.0.1" in failed["error"]

    words = modelbay(deploy_config, "monitor", "--all", "--once")
    assert words.returncode == 3
    assert f"{address} (iris:1): 0 new windows." in words.stdout
    assert "error: iris@gone: " in words.stdout

    refused = modelbay(deploy_config, "monitor", "--all", address)
    assert refused.returncode == 1
    assert "--all pulls every live service" in refused.stderr
