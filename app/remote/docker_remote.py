"""The host's Docker Engine, reached through the verified SSH connection.

Each HTTP connection to the Engine API is a channel of *our* transport running
``docker system dial-stdio`` on the host (the same thing the docker CLI does
for ``ssh://`` hosts). docker-py's own ``ssh://`` support would open its own
SSH connection with its own idea of which host keys to trust; instead its
connection pool is handed our already-verified transport and is not allowed to
reconnect on its own.

Before the API is used, ``docker version`` runs on the host through the same
session, so a host without Docker, with Docker stopped, or where the user may
not use Docker is reported in those words.
"""

from __future__ import annotations

import json
import shlex
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from app.errors import ModelbayError

if TYPE_CHECKING:
    import docker
    import paramiko

    from .ssh import SSHSession

MAX_API_VERSION = "1.41"  # Docker Engine 20.10, the oldest we test against
DIAL_STDIO = "docker system dial-stdio"


class RemoteDockerError(ModelbayError):
    """Docker on the host is missing, stopped, refused to us, or failed."""


@dataclass(frozen=True)
class RemoteDocker:
    version: str
    api_version: str
    root_dir: str
    free_bytes: int | None


def check_docker(session: SSHSession) -> RemoteDocker:
    """Docker's version on the host and the free space where it keeps images."""
    host, user = session.host.name, session.endpoint.user
    result = session.run("docker version --format '{{json .}}'", timeout=30)
    error = result.error_text
    if result.status == 127 or "command not found" in error or "not found" in error.lower()[:80]:
        raise RemoteDockerError(
            f"{host} has no docker command: Docker is not installed there",
            hint=f"install Docker Engine on {host} (https://docs.docker.com/engine/install/)",
        )
    if "permission denied" in error.lower():
        raise RemoteDockerError(
            f"{user} on {host} may not use Docker (permission denied on its socket)",
            hint=f"on {host}: sudo usermod -aG docker {user}, then log in again; or add the "
            "host with a user who may use Docker",
        )
    if "Cannot connect to the Docker daemon" in error or "Is the docker daemon running" in error:
        raise RemoteDockerError(
            f"Docker is installed on {host} but its daemon is not running",
            hint=f"start it on {host}: sudo systemctl start docker",
        )
    try:
        found = json.loads(result.text)
        server = found["Server"]
        version, api = str(server["Version"]), str(server["ApiVersion"])
    except (ValueError, KeyError, TypeError):
        raise RemoteDockerError(
            f"`docker version` on {host} failed (exit {result.status}): {error[:300]}"
        ) from None
    root = session.run("docker info --format '{{.DockerRootDir}}'", timeout=30).text.strip()
    free = None
    if root:
        df = session.run(f"df -P -B1 {shlex.quote(root)} | tail -n 1", timeout=30).text.split()
        if len(df) >= 4 and df[3].isdigit():
            free = int(df[3])
    return RemoteDocker(version=version, api_version=api, root_dir=root, free_bytes=free)


def start_relay(session: SSHSession) -> paramiko.Channel:
    """Start the host's relay to its Docker (``docker system dial-stdio``) for a client's
    first connection. The docker command takes a fifth of a second to start on a small
    host: started early, it starts while this side does other work."""
    return session.open_exec(DIAL_STDIO)


def docker_client(
    session: SSHSession, api_version: str, *, relay: paramiko.Channel | None = None
) -> docker.DockerClient:
    """A docker-py client whose every connection is a channel of ``session``'s transport;
    the first one is ``relay`` when given (from :func:`start_relay`)."""
    import docker

    version = min(_version_tuple(api_version), _version_tuple(MAX_API_VERSION))
    api = docker.APIClient(base_url="tcp://127.0.0.1:9", version=".".join(map(str, version)))
    adapter = _verified_adapter(session, [relay] if relay is not None else [])
    api.mount("http+docker://ssh", adapter)
    api._custom_adapter = adapter  # what APIClient.close() closes
    api.base_url = "http+docker://ssh"
    client = docker.DockerClient.__new__(docker.DockerClient)
    client.api = api
    return client


class _TransportHolder:
    """What docker-py's connection pool asks of an SSH client: its transport."""

    def __init__(self, session: SSHSession) -> None:
        self.session = session

    def get_transport(self) -> Any:
        return self.session.transport


def _verified_adapter(session: SSHSession, relays: list[paramiko.Channel]) -> Any:
    """docker-py's SSH adapter, bound to our session instead of a client of its own; new
    connections take a started relay from ``relays`` before opening their own."""
    import requests
    from docker import constants
    from docker.transport.basehttpadapter import BaseHTTPAdapter
    from docker.transport.sshconn import SSHConnectionPool, SSHHTTPAdapter

    class Pool(SSHConnectionPool):  # type: ignore[misc]
        def _new_conn(self) -> Any:
            connection = super()._new_conn()
            if relays:
                connection.sock = relays.pop()  # http.client then skips connect()
                connection.sock.settimeout(self.timeout)
            return connection

    class Adapter(SSHHTTPAdapter):  # type: ignore[misc]
        def __init__(self) -> None:  # no super().__init__: it would open its own SSH
            self.ssh_client = _TransportHolder(session)
            self.ssh_params: dict[str, Any] = {}
            self.ssh_host = session.endpoint.hostname
            self.timeout = 60
            self.max_pool_size = 4  # channels kept open for reuse; sshd allows 10 sessions
            from docker.transport.sshconn import RecentlyUsedContainer

            self.pools = RecentlyUsedContainer(
                constants.DEFAULT_NUM_POOLS, dispose_func=lambda p: p.close()
            )
            BaseHTTPAdapter.__init__(self)

        def _connect(self) -> None:
            if not session.alive:
                raise RemoteDockerError(
                    f"the SSH connection to {session.host.name} was lost",
                    hint="try again; check the network to the host",
                )

        def get_connection(self, url: str, proxies: Any = None) -> Any:
            # One pool for the one daemon. docker-py keys its pools by request URL, and
            # each pool keeps its own channel open: over SSH that is one session per API
            # path, and sshd refuses sessions beyond MaxSessions (10 by default).
            self._connect()
            with self.pools.lock:
                pool = self.pools.get("daemon")
                if pool is None:
                    pool = Pool(
                        ssh_client=self.ssh_client,
                        timeout=self.timeout,
                        maxsize=self.max_pool_size,
                        host=self.ssh_host,
                    )
                    self.pools["daemon"] = pool
                return pool

        def close(self) -> None:
            requests.adapters.HTTPAdapter.close(self)
            self.pools.clear()  # the SSH session is the caller's to close
            while relays:  # never used
                relays.pop().close()

    return Adapter()


def _version_tuple(text: str) -> tuple[int, ...]:
    return tuple(int(part) for part in text.split(".")[:2])
