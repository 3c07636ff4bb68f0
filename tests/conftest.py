"""Fixtures shared by every test: an isolated data home, a registry, real services.

Integration tests need real things (a PostgreSQL server, an X display, a Docker
daemon with a local base image, a remote host over SSH with its own Docker daemon,
an OS keyring: see tests/remote_host.py). On a laptop without them
such a test skips; under CI (``CI=true``) a missing service fails the test
instead, so a green CI run never hides a skipped integration test.
"""

from __future__ import annotations

import gc
import os
import subprocess
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from app.config import Config
from app.registry import Registry
from tests.remote_host import (
    RemoteHost,
    SecretService,
    remote_host_problem,
    secret_service_problem,
    start_remote_host,
    start_secret_service,
)
from tests.services import (
    DOCKER_SETUP_HINT,
    TEST_BASE_IMAGE,
    PostgresServer,
    postgres_server,
)

if TYPE_CHECKING:
    from docker import DockerClient

IN_CI = os.environ.get("CI", "").lower() in {"1", "true", "yes"}

# Widget tests run without a display; the screenshot tests start their own Xvfb.
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")


def require(available: bool, what: str) -> None:
    """Skip (laptop) or fail (CI) when a real service the test needs is not there."""
    if available:
        return
    if IN_CI:
        pytest.fail(f"{what} is not available, and under CI integration tests may not skip")
    pytest.skip(f"{what} is not available")


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> object:
    """Under CI, an integration test that skipped for any reason counts as failed."""
    report = yield
    if IN_CI and report.skipped and item.get_closest_marker("integration") is not None:
        report.outcome = "failed"
        report.longrepr = f"integration test skipped under CI=true: {report.longrepr}"
    return report


@pytest.fixture(autouse=True)
def _isolated_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """No test may touch the user's real data home or database."""
    monkeypatch.setenv("MODELBAY_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("MODELBAY_DATABASE_URL", raising=False)
    monkeypatch.setenv("MODELBAY_USER", "tester")


@pytest.fixture(scope="session")
def postgres() -> Iterator[PostgresServer | None]:
    """A real PostgreSQL server for the whole run, or None where it cannot be started."""
    try:
        with postgres_server() as server:
            yield server
    except (FileNotFoundError, subprocess.CalledProcessError) as exc:
        detail = getattr(exc, "stderr", b"") or b""
        print(f"PostgreSQL unavailable: {exc} {detail.decode(errors='replace')}")
        yield None


@pytest.fixture
def postgres_url(postgres: PostgresServer | None) -> str:
    """The URL of a new, empty PostgreSQL database."""
    require(postgres is not None, "a PostgreSQL server (apt-get install postgresql)")
    assert postgres is not None
    return postgres.url(postgres.create_database())


def _connect_docker() -> tuple[DockerClient | None, str]:
    """A client of the daemon DOCKER_HOST names (default /var/run/docker.sock), or why not."""
    import docker
    import requests

    try:
        client = docker.from_env()
        client.ping()
    except (docker.errors.DockerException, requests.RequestException) as exc:
        return None, str(exc)
    return client, ""


@pytest.fixture(scope="session")
def docker_client() -> Iterator[DockerClient]:
    """A client of the real Docker daemon (started by tests/setup/docker.sh)."""
    with warnings.catch_warnings():
        # docker-py leaves the socket of a failed connection unclosed; its ResourceWarning
        # would otherwise turn a clear "no daemon" into an unrelated error at teardown.
        warnings.simplefilter("ignore", ResourceWarning)
        client, problem = _connect_docker()
        gc.collect()
    require(client is not None, f"a Docker daemon ({DOCKER_SETUP_HINT}; {problem})")
    assert client is not None
    try:
        yield client
    finally:
        client.close()


@pytest.fixture(scope="session")
def base_image(docker_client: DockerClient) -> str:
    """The name of the local base image (Debian 12, Python 3.11) that test images build on."""
    from docker.errors import ImageNotFound

    try:
        docker_client.images.get(TEST_BASE_IMAGE)
        found = True
    except ImageNotFound:
        found = False
    require(found, f"the Docker base image {TEST_BASE_IMAGE} ({DOCKER_SETUP_HINT})")
    return TEST_BASE_IMAGE


@pytest.fixture(scope="session")
def remote_host() -> Iterator[RemoteHost]:
    """A remote host made for this run: a network namespace with its own dockerd, reached
    over real SSH (tests/remote_host.py). Torn down at the end of the run."""
    problem = remote_host_problem()
    require(problem is None, f"a remote host over SSH ({problem})")
    with start_remote_host() as host:
        yield host


@pytest.fixture(scope="session")
def secret_service() -> Iterator[SecretService]:
    """A real OS keyring for the run: a private D-Bus session bus with an unlocked
    gnome-keyring on it; DBUS_SESSION_BUS_ADDRESS points at it until the run ends."""
    problem = secret_service_problem()
    require(problem is None, f"an OS keyring (Secret Service) ({problem})")
    with start_secret_service() as service:
        yield service


@pytest.fixture
def config(tmp_path: Path) -> Config:
    return Config.at(tmp_path / "home")


@pytest.fixture
def registry(config: Config) -> Iterator[Registry]:
    reg = Registry.open(config)
    try:
        yield reg
    finally:
        reg.close()


@pytest.fixture
def model_file(tmp_path: Path) -> Path:
    """A small file standing in for a model (this issue stores bytes; formats come later)."""
    path = tmp_path / "src" / "churn_model.bin"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(os.urandom(200_000))
    return path


@pytest.fixture
def model_folder(tmp_path: Path) -> Path:
    """A model folder with nested files, like an MLflow or SavedModel directory."""
    root = tmp_path / "src" / "fraud_detector"
    (root / "variables").mkdir(parents=True)
    (root / "MLmodel").write_text("flavors: {}\n")
    (root / "saved_model.pb").write_bytes(os.urandom(50_000))
    (root / "variables" / "variables.data-00000-of-00001").write_bytes(os.urandom(120_000))
    (root / "variables" / "variables.index").write_bytes(b"index")
    return root
