"""The deployment commands, as a script runs them: JSON on stdout, the log on stderr."""

from __future__ import annotations

import datetime as dt
import json
import os
import subprocess
import sys

import pytest

from app.config import Config
from app.registry import Registry
from tests.deploy.conftest import HOST

pytestmark = pytest.mark.integration


def _modelbay(config: Config, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "app", *args],
        env={**os.environ, "MODELBAY_HOME": str(config.home)},
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
        stdin=subprocess.DEVNULL,
    )


def test_deploy_list_logs_roll_back_and_stop_from_the_command_line(
    deploy_registry: Registry, deploy_config: Config
) -> None:
    config = deploy_config
    nothing = _modelbay(config, "rollback", f"iris@{HOST}")
    assert nothing.returncode == 1
    assert nothing.stderr.startswith("error: nothing is live as iris@test-host")

    first = _modelbay(config, "deploy", "iris:1", HOST, "--json")
    assert first.returncode == 0, first.stderr
    d1 = json.loads(first.stdout)["deployment"]
    assert (d1["ref"], d1["status"], d1["public"]) == ("iris:1", "live", False)
    text = _modelbay(config, "deploy", "iris:2", HOST)
    assert text.returncode == 0, text.stderr
    assert f"iris@{HOST} serves iris:2 (was iris:1) on port {d1['port']}" in text.stdout
    assert f"modelbay tunnel iris@{HOST}" in text.stdout
    assert "waiting for" in text.stderr  # the steps, as they happen

    listed = json.loads(_modelbay(config, "deployments", "--json").stdout)
    assert [(s["service"], s["ref"], s["host"]) for s in listed] == [("iris", "iris:2", HOST)]
    history = json.loads(_modelbay(config, "deployments", "--history", "--json").stdout)
    assert [h["status"] for h in history] == ["live", "retired"]
    at = dt.datetime.fromisoformat(history[1]["live_at"]) + dt.timedelta(microseconds=1)
    when = json.loads(
        _modelbay(config, "deployments", "--host", HOST, "--at", at.isoformat(), "--json").stdout
    )
    assert [w["ref"] for w in when] == ["iris:1"]

    log = _modelbay(config, "logs", f"iris@{HOST}", "--tail", "20")
    assert log.returncode == 0, log.stderr
    assert "modelbay-serving: iris:2 loaded in" in log.stdout

    back = _modelbay(config, "rollback", f"iris@{HOST}", "--json")
    assert back.returncode == 0, back.stderr
    assert json.loads(back.stdout)["deployment"]["kind"] == "rollback"

    bad = _modelbay(config, "deploy", "iris:2", HOST, "--env", "NOEQUALS")
    assert bad.returncode == 1
    assert "'NOEQUALS' is not KEY=VALUE" in bad.stderr

    stopped = _modelbay(config, "stop", f"iris@{HOST}")
    assert stopped.returncode == 0, stopped.stderr
    assert json.loads(_modelbay(config, "deployments", "--json").stdout) == []
