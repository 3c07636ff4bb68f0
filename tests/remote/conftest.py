"""A registry with the test remote host added (and, for most tests, its key trusted)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from app.config import Config
from app.registry import HostInfo, Registry
from tests.build.conftest import build_config, shared_cache  # noqa: F401 - shared fixtures
from tests.remote_host import RemoteHost


@pytest.fixture(autouse=True)
def _own_ssh_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No ssh-agent and no ~/.ssh/config of the machine's user: only what a test gives."""
    monkeypatch.delenv("SSH_AUTH_SOCK", raising=False)
    monkeypatch.setenv("MODELBAY_SSH_CONFIG", str(tmp_path / "ssh_config"))


@pytest.fixture
def host_registry(config: Config) -> Iterator[Registry]:
    with Registry.open(config) as registry:
        yield registry


def add_test_host(
    registry: Registry,
    remote: RemoteHost,
    name: str = "test-host",
    *,
    trusted: bool = True,
    user: str | None = None,
    identity: Path | None = None,
    address: str | None = None,
    port: int | None = None,
) -> HostInfo:
    host = registry.add_host(
        name,
        address or remote.address,
        port=port or remote.port,
        user=user or remote.user,
        identity_file=str(identity or remote.identity_file),
    )
    if trusted:
        key_type, blob = remote.host_public_key.split()
        host = registry.pin_host_key(name, key_type, blob, remote.host_key_fingerprint)
    return host


def forget_images(remote: RemoteHost) -> None:
    """Empty the host's Docker (the host lives for the whole session): containers, images."""
    remote.docker("rm", "-f", *remote.docker("ps", "-aq").stdout.split(), check=False)
    ids = remote.docker("images", "-aq").stdout.split()
    if ids:
        remote.docker("rmi", "-f", *sorted(set(ids)), check=False)
