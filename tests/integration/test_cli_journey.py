"""docs/journey.sh, the command-line journey of the user guide, run as written on the test host."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from app.build.service import BASE_IMAGE_ENV
from app.config import Config
from app.registry import Registry
from tests.deploy.conftest import forget_containers
from tests.remote_host import RemoteHost

pytestmark = [pytest.mark.integration, pytest.mark.timeout(1500)]

SCRIPT = Path(__file__).parents[2] / "docs" / "journey.sh"


def test_the_journey_script_runs_end_to_end(
    remote_host: RemoteHost, base_image: str, tmp_path: Path
) -> None:
    import sys

    home = tmp_path / "home"
    forget_containers(remote_host)
    env = {
        **os.environ,
        "MODELBAY_HOME": str(home),
        "MODELBAY": f"{sys.executable} -m app",
        BASE_IMAGE_ENV: base_image,
        "JOURNEY_SSH": f"{remote_host.user}@{remote_host.address}:{remote_host.port}",
        "JOURNEY_FINGERPRINT": remote_host.host_key_fingerprint,
        "JOURNEY_IDENTITY": str(remote_host.identity_file),
        "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}",  # python3 with sklearn
    }
    try:
        out_file, err_file = tmp_path / "stdout", tmp_path / "stderr"
        with out_file.open("w") as out_stream, err_file.open("w") as err_stream:
            run = subprocess.run(
                ["bash", str(SCRIPT)],
                env=env,
                stdout=out_stream,
                stderr=err_stream,
                timeout=1400,
                check=False,
                stdin=subprocess.DEVNULL,
                cwd=Path(__file__).parents[2],
            )
        out = out_file.read_text()
        assert run.returncode == 0, out[-3000:] + err_file.read_text()[-3000:]
        assert "journey@prod serves journey:1" in out
        assert "journey@prod serves journey:2 (was journey:1)" in out
        assert "features drift" in out
        assert "start,seconds,version,requests" in out  # the exported CSV's header
        with Registry.open(Config.at(home)) as registry:
            history = registry.deployments(host="prod")
            assert [(d.ref, d.status) for d in history] == [
                ("journey:1", "live"),
                ("journey:2", "retired"),
                ("journey:1", "retired"),
            ]
            assert history[0].kind == "rollback"
            stored = registry.monitor_windows("prod", "journey")
            assert sum(w.rows for w in stored) == 2000  # every row sent
            span = [w for w in stored if w.drift and w.drift["drifted"]]
            assert span, "no window of shifted traffic was flagged"
            assert registry.get("journey@production").version == 1
    finally:
        forget_containers(remote_host)
