"""What runs on one host, read from and acted on through its Docker (over our SSH session).

Every container Modelbay starts carries labels (:data:`LABEL`), so the host itself
always says which service, version and deployment a container belongs to, even
when the registry that started it is not at hand or a deploy was cut short.

Per service there is one *front* container (``modelbay-SERVICE``; the runtime's
``python3 -m app.serving.front``, a TCP proxy on the service's stable port) and
one or, during a deploy, two *backend* containers (``modelbay-SERVICE-UID``,
the model server). The front's target names the backend that serves.
"""

from __future__ import annotations

import http.client
import io
import json
import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from app.errors import InvalidInputError, ModelbayError

if TYPE_CHECKING:
    import docker
    from docker.models.containers import Container

    from app.remote.ssh import SSHSession

NETWORK = "modelbay"
SERVER_PORT = 8000  # where the runtime listens inside its container (app/build/context.py)
LABEL = "modelbay"
SERVICE = f"{LABEL}.service"
ROLE = f"{LABEL}.role"
DEPLOYMENT = f"{LABEL}.deployment"
MODEL = f"{LABEL}.model"
VERSION = f"{LABEL}.version"
SHA256 = f"{LABEL}.sha256"
IMAGE_TAG = f"{LABEL}.image-tag"
PUBLIC = f"{LABEL}.public"

_SERVICE_NAME = re.compile(r"^[a-z0-9][a-z0-9_.-]{0,62}$")


class DeployError(ModelbayError):
    """A deployment step failed on the host.

    ``show_log``: the new container's own log tells why (it failed its health check),
    so its last lines are shown with the error; ``log_tail`` holds them once read.
    """

    def __init__(self, message: str, *, hint: str | None = None, show_log: bool = False) -> None:
        super().__init__(message, hint=hint)
        self.show_log = show_log
        self.log_tail = ""


def check_service_name(name: str) -> str:
    if not _SERVICE_NAME.match(name):
        raise InvalidInputError(
            f"{name!r} is not a usable service name",
            hint="use lower-case letters, digits, '.', '_' and '-', starting with a letter or "
            "digit, at most 63 characters",
        )
    return name


def default_service_name(model_name: str) -> str:
    """The model's name, made a valid container name part (``Churn Model`` -> ``churn-model``)."""
    name = re.sub(r"[^a-z0-9_.-]+", "-", model_name.lower()).strip("-._")
    return (name or "model")[:63]


def front_name(service: str) -> str:
    return f"modelbay-{service}"


def backend_name(service: str, uid: str) -> str:
    return f"modelbay-{service}-{uid}"


def backend_address(name: str) -> str:
    """How the front reaches a backend: its container name on the Modelbay network."""
    return f"{name}:{SERVER_PORT}"


@dataclass
class Backend:
    container: Container
    uid: str
    model: str
    version: int
    state: str  # Docker's: created, running, restarting, exited, ...
    started_at: str

    @property
    def name(self) -> str:
        return str(self.container.name)

    @property
    def ref(self) -> str:
        return f"{self.model}:{self.version}"


@dataclass
class ServiceOnHost:
    """One service as the host shows it."""

    service: str
    front: Container | None = None
    target: str | None = None  # the backend address the front forwards to
    target_unknown: bool = False  # the front runs, but its target could not be read
    backends: list[Backend] = field(default_factory=list)

    @property
    def current(self) -> Backend | None:
        for backend in self.backends:
            if self.target and backend_address(backend.name) == self.target:
                return backend
        return None

    @property
    def port(self) -> int | None:
        return published_port(self.front) if self.front is not None else None

    @property
    def public(self) -> bool:
        return self.front is not None and self.front.labels.get(PUBLIC) == "1"

    @property
    def front_state(self) -> str:
        return str(self.front.status) if self.front is not None else "missing"


def read_services(remote: docker.DockerClient) -> dict[str, ServiceOnHost]:
    """Every Modelbay service on the host, from the labels of its containers."""
    services: dict[str, ServiceOnHost] = {}
    for container in remote.containers.list(all=True, filters={"label": SERVICE}):
        labels = container.labels
        entry = services.setdefault(labels[SERVICE], ServiceOnHost(labels[SERVICE]))
        if labels.get(ROLE) == "front":
            entry.front = container
        else:
            try:
                version = int(labels.get(VERSION, "0"))
            except ValueError:
                version = 0
            entry.backends.append(
                Backend(
                    container=container,
                    uid=labels.get(DEPLOYMENT, ""),
                    model=labels.get(MODEL, "?"),
                    version=version,
                    state=str(container.status),
                    started_at=str(container.attrs.get("State", {}).get("StartedAt", "")),
                )
            )
    for entry in services.values():
        if entry.front is not None and entry.front.status == "running":
            try:
                entry.target = front_target(entry.front)
            except DeployError:
                entry.target_unknown = True
    return services


def front_target(front: Container) -> str | None:
    """The front's target (None: it has none yet); DeployError when it cannot be read
    (the front is being replaced or restarted this very moment)."""
    from docker.errors import APIError

    try:
        code, output = front.exec_run(["python3", "-m", "app.serving.front", "target"])
    except APIError as exc:
        raise DeployError(f"cannot read the target of {front.name}: {exc}") from None
    if code != 0:
        raise DeployError(f"cannot read the target of {front.name} (exit {code})")
    text = output.decode("utf-8", "replace").strip() if isinstance(output, bytes) else ""
    return text or None


def switch_front(front: Container, address: str) -> None:
    """Point the front at ``address``; from its return on, new connections go there only."""
    code, output = front.exec_run(["python3", "-m", "app.serving.front", "switch", address])
    if code != 0:
        text = output.decode("utf-8", "replace").strip() if isinstance(output, bytes) else ""
        raise DeployError(
            f"the service's front refused to switch to {address}: {text[-400:] or f'exit {code}'}"
        )


def published_port(container: Container) -> int | None:
    ports = (container.attrs.get("NetworkSettings") or {}).get("Ports") or {}
    for binding in ports.get(f"{SERVER_PORT}/tcp") or []:
        if binding.get("HostPort"):
            return int(binding["HostPort"])
    wanted = (container.attrs.get("HostConfig") or {}).get("PortBindings") or {}
    for binding in wanted.get(f"{SERVER_PORT}/tcp") or []:
        if binding.get("HostPort"):
            return int(binding["HostPort"])
    return None


def ensure_network(remote: docker.DockerClient) -> None:
    if not remote.networks.list(names=[NETWORK]):
        remote.networks.create(NETWORK, driver="bridge", labels={LABEL: "1"})


def container_ip(container: Container) -> str | None:
    container.reload()
    networks = (container.attrs.get("NetworkSettings") or {}).get("Networks") or {}
    address = (networks.get(NETWORK) or {}).get("IPAddress")
    return str(address) if address else None


def log_tail(container: Container, lines: int = 30) -> str:
    try:
        raw = container.logs(tail=lines, stdout=True, stderr=True)
    except Exception:  # noqa: BLE001 - the logs are a courtesy in an error path
        return ""
    return raw.decode("utf-8", "replace").strip() if isinstance(raw, bytes) else ""


def http_get(
    session: SSHSession,
    address: str,
    port: int,
    path: str,
    *,
    timeout: float = 5.0,
    token: str | None = None,
    max_bytes: int = 8 << 20,
) -> tuple[int, bytes]:
    """GET ``path`` from ``address:port`` as seen from the host (a direct-tcpip channel);
    an answer longer than ``max_bytes`` is an error rather than cut short."""
    auth = f"Authorization: Bearer {token}\r\n" if token else ""
    channel = session.transport.open_channel(
        "direct-tcpip", (address, port), ("127.0.0.1", 0), timeout=timeout
    )
    try:
        channel.settimeout(timeout)
        channel.sendall(
            f"GET {path} HTTP/1.1\r\nHost: {address}\r\n{auth}Connection: close\r\n\r\n".encode()
        )
        data = bytearray()
        while True:
            chunk = channel.recv(65536)
            if not chunk:
                break
            data += chunk
            if len(data) > max_bytes:
                raise http.client.HTTPException(
                    f"the answer to {path} is longer than {max_bytes >> 20} MB"
                )
    finally:
        channel.close()
    response = http.client.HTTPResponse(_Bytes(bytes(data)))  # type: ignore[arg-type]
    response.begin()
    return response.status, response.read()


def answers_health(session: SSHSession, address: str, *, timeout: float = 3.0) -> bool:
    """Whether the model server at ``address`` (on the host's network) says it is ready."""
    return read_health(session, address, timeout=timeout)[0]


def read_health(
    session: SSHSession, address: str, *, timeout: float = 3.0
) -> tuple[bool, str | None]:
    """(ready, load error) of the model server at ``address``: the runtime answers
    ``/health`` with 503 and ``{"status": "failed", "error": ...}`` once its model
    failed to load (app/serving/server.py), and stays up so that it can say so."""
    import paramiko

    try:
        status, body = http_get(session, address, SERVER_PORT, "/health", timeout=timeout)
    except (OSError, EOFError, paramiko.SSHException, http.client.HTTPException):
        return False, None
    if status == 200:
        return True, None
    try:
        answer = json.loads(body)
    except ValueError:
        return False, None
    if isinstance(answer, dict) and answer.get("status") == "failed" and answer.get("error"):
        return False, str(answer["error"])
    return False, None


LOAD_FAILED = "modelbay-serving: cannot load "  # the runtime's log line when the model fails


def load_failure(tail: str) -> str | None:
    """Why the model failed to load, from the runtime's ``cannot load NAME:V: ERROR``
    line in a container's log (None: no such line)."""
    for raw in reversed(tail.splitlines()):
        line = raw.strip()
        if line.startswith(LOAD_FAILED):
            return line.removeprefix(LOAD_FAILED).partition(": ")[2] or line
    return None


def says_ready(tail: str) -> bool:
    """Whether the runtime logged that its model loaded (``NAME:V loaded in S s; ready``)."""
    return any(
        line.startswith("modelbay-serving: ") and "; ready (pid" in line
        for line in tail.splitlines()
    )


def last_line(tail: str) -> str | None:
    """The last line of a log (a traceback's names the exception), None for an empty log."""
    lines = [line.strip() for line in tail.splitlines() if line.strip()]
    return lines[-1] if lines else None


class _Bytes:
    """A socket stand-in holding a whole response, for :class:`http.client.HTTPResponse`."""

    def __init__(self, data: bytes) -> None:
        self.data = data

    def makefile(self, mode: str) -> io.BytesIO:
        return io.BytesIO(self.data)


def inherited_settings(backend: Container, image_env: list[str]) -> dict[str, Any]:
    """The environment and limits a running backend was given beyond its image's."""
    config = backend.attrs.get("Config") or {}
    host_config = backend.attrs.get("HostConfig") or {}
    baseline = set(image_env)
    env = {}
    for item in config.get("Env") or []:
        if item in baseline:
            continue
        key, _, value = item.partition("=")
        if key != "MODELBAY_TOKEN":
            env[key] = value
    return {
        "env": env,
        "memory": int(host_config.get("Memory") or 0) or None,
        "nano_cpus": int(host_config.get("NanoCpus") or 0) or None,
    }


def token_of(backend: Container) -> str | None:
    for item in (backend.attrs.get("Config") or {}).get("Env") or []:
        if item.startswith("MODELBAY_TOKEN="):
            return item.partition("=")[2] or None
    return None


def read_metrics(
    session: SSHSession, port: int, *, token: str | None = None
) -> dict[str, float] | None:
    """Request and error counts from the service's ``/metrics`` (through its front)."""
    import paramiko
    from prometheus_client.parser import text_string_to_metric_families

    try:
        status, body = http_get(session, "127.0.0.1", port, "/metrics", timeout=3, token=token)
    except (OSError, EOFError, paramiko.SSHException, http.client.HTTPException):
        return None
    if status != 200:
        return None
    found = {"requests": 0.0, "errors": 0.0, "latency_sum": 0.0, "latency_count": 0.0}
    try:
        for family in text_string_to_metric_families(body.decode("utf-8", "replace")):
            for sample in family.samples:
                if sample.name == "modelbay_requests_total":
                    found["requests"] += sample.value
                    if str(sample.labels.get("status", "")).startswith("5"):
                        found["errors"] += sample.value
                elif sample.name == "modelbay_request_seconds_sum":
                    found["latency_sum"] += sample.value
                elif sample.name == "modelbay_request_seconds_count":
                    found["latency_count"] += sample.value
    except ValueError:
        return None
    return found
