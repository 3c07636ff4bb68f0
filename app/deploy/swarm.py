"""``modelbay deploy --swarm``: a service as a Docker Swarm service, updated and rolled back
by Swarm itself, behind Modelbay's front.

What runs on host H for service S (see docs/scaling.md for why, and what was measured):

- a swarm: H's own, if H is a manager of one; otherwise Modelbay initialises a
  single-node swarm that listens on H's loopback only (``127.0.0.1:2377``), and
  says so. A host that is a *worker* of someone else's swarm is refused.
- the attachable overlay network ``modelbay-swarm``;
- the Swarm service ``modelbay-S``: one replica of the version's image, named by
  image ID (Swarm never tries to pull an ID from a registry: the image arrives over
  SSH as for a single-host deploy), pinned to H's node, with a health check,
  ``update_config`` and ``rollback_config`` order *start-first*, update failure
  action *rollback*, and endpoint mode ``dnsrr``;
- the front container ``modelbay-S-front`` (app/serving/front.py), on the overlay
  network and published on the service's stable port, forwarding every new
  connection to ``modelbay-S:8000``.

Why ``dnsrr`` and a front rather than Swarm's own publishing: a host-mode published
port cannot be held by the old and the new task at once, so a start-first update
waits forever ("host-mode port already in use on 1 node"), and the routing mesh
and a service's virtual IP need IPVS in the kernel (the test host's has none). With
``dnsrr`` the service name resolves to the tasks that passed their health check; the
front resolves it for each connection, so it follows Swarm's update without being told.
Swarm has no pre-stop hook, so for an image that can drain, the task's command is a
small shell that turns Swarm's SIGTERM into a drain first (:data:`DRAIN_THEN_STOP`).

The service's labels (the keys of app/deploy/host.py) say which version and which
deployment its current spec came from. Swarm's rollback restores the previous spec
whole, labels included: after ``swarm_rollback`` the labels name the deployment
that first put that spec in place, and the registry's ``rollback`` row says when
it came back. Task and front containers carry ``modelbay.swarm-service`` instead
of ``modelbay.service``, so the single-host code (which reads that label) never
mistakes them for its own.

If the deploying process dies or the connection drops, Swarm finishes (or rolls
back) the update on its own; the next deploy, rollback or status look reconciles
the registry with the service's labels.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from app.config import Config
from app.errors import Cancelled, ConflictError, NotFoundError
from app.progress import NEVER_CANCELLED, CancelToken, ProgressCallback, no_progress
from app.remote.secrets import SecretPrompt, SecretStore

from . import host as on_host
from .host import (
    DEPLOYMENT,
    IMAGE_TAG,
    LABEL,
    MODEL,
    PUBLIC,
    ROLE,
    SERVER_PORT,
    SERVICE,
    SHA256,
    VERSION,
    DeployError,
)

# One lock, one session and one error wording for both deploy modes (app/deploy/service.py).
from .service import (
    DRAIN_SECONDS,
    DeployOptions,
    DeployResult,
    Say,
    ServiceStatus,
    host_docker,
    move_alias,
    parse_address,
    port_error,
    recorded_settings,
    refuse_quarantined,
    service_lock,
    shipped_to,
    show_log_tail,
    token_entry,
    words,
)

if TYPE_CHECKING:
    import docker
    from docker.models.containers import Container

    from app.registry import DeploymentInfo, HostInfo, NewDeployment, Registry, VersionInfo
    from app.remote.ssh import SSHSession
    from app.remote.tunnel import Tunnel

SWARM_NETWORK = "modelbay-swarm"
SWARM_SERVICE = f"{LABEL}.swarm-service"  # on task and front containers (not SERVICE: see above)
SWARM_LISTEN = "127.0.0.1:2377"  # a swarm Modelbay makes is reachable from the host only
SECOND = 1_000_000_000  # Swarm's durations are nanoseconds
HEALTH_INTERVAL = 2  # seconds between health checks of a task
HEALTH_RETRIES = 3
MONITOR = 5  # seconds Swarm watches an updated task before the update counts as done
STOP_GRACE = 45  # the drain (6 s) and the runtime's own grace (30 s); then Swarm kills
POLL = 0.5

# The front forwards to SERVER_PORT, so that is where health is asked (the image's own
# check follows MODELBAY_PORT, which a user may have set).
HEALTH_TEST = [
    "CMD",
    "python3",
    "-c",
    "import urllib.request; "
    f"urllib.request.urlopen('http://127.0.0.1:{SERVER_PORT}/health', timeout=4)",
]

# Swarm has no pre-stop hook: a task it retires gets SIGTERM, and the runtime's stop
# closes idle keep-alive connections under clients that are sending on them. For an
# image that can drain (app/build/context.py, DRAIN_LABEL), a shell in front of the
# runtime turns the stop into what a single-host deploy does: SIGUSR1 ("answer with
# Connection: close from now on"), DRAIN_SECONDS, then SIGTERM.
DRAIN_THEN_STOP = """\
"$@" & pid=$!
trap 'kill -USR1 "$pid" 2>/dev/null; sleep {drain}; kill -TERM "$pid" 2>/dev/null' TERM INT
wait "$pid"; status=$?
while kill -0 "$pid" 2>/dev/null; do wait "$pid"; status=$?; done
exit "$status"
"""
RUNTIME_COMMAND = ["python3", "-m", "app.serving"]  # the image's CMD (app/build/context.py)

_UPDATING = {"updating", "rollback_started"}
_ROLLED_BACK = {"rollback_started", "rollback_completed", "rollback_paused", "paused"}
_TASK_FAILED = {"failed", "rejected", "orphaned"}


def swarm_name(service: str) -> str:
    """The Swarm service's name, also the DNS name the front forwards to."""
    return f"modelbay-{service}"


def swarm_front_name(service: str) -> str:
    return f"modelbay-{service}-front"


# ---------------------------------------------------------------------- the swarm
@dataclass(frozen=True)
class SwarmState:
    """What ``docker info`` says about the host's part in a swarm."""

    local_state: str  # inactive | pending | active | locked | error
    manager: bool
    node_id: str
    nodes: int
    error: str = ""

    @classmethod
    def from_info(cls, info: dict[str, Any]) -> SwarmState:
        swarm = info.get("Swarm") or {}
        return cls(
            local_state=str(swarm.get("LocalNodeState") or "inactive"),
            manager=bool(swarm.get("ControlAvailable")),
            node_id=str(swarm.get("NodeID") or ""),
            nodes=int(swarm.get("Nodes") or 0),
            error=str(swarm.get("Error") or ""),
        )


def check_swarm_state(state: SwarmState, host: str) -> bool:
    """Whether Modelbay must initialise a swarm on ``host`` (True), may use the one it is
    a manager of (False), or must not touch it (raises, in words)."""
    if state.local_state == "inactive":
        return True
    if state.local_state == "active" and state.manager:
        return False
    if state.local_state == "active":
        raise ConflictError(
            f"{host} is a worker node of a Docker swarm; services can only be created on "
            "one of its managers",
            hint=f"add a manager of that swarm as a host and deploy there, or deploy to "
            f"{host} without --swarm",
        )
    detail = f": {state.error}" if state.error else ""
    raise ConflictError(
        f"{host}'s Docker is in swarm state {state.local_state!r}{detail}",
        hint=f"sort it out on {host} (docker info; docker swarm unlock / leave), or deploy "
        "without --swarm",
    )


def ensure_swarm(remote: docker.DockerClient, host: str, say: Say) -> SwarmState:
    """The host's swarm state, after making it a single-node swarm if it was in none."""
    state = SwarmState.from_info(remote.info())
    if check_swarm_state(state, host):
        say(
            f"{host} is in no Docker swarm: initialising a single-node swarm that listens on "
            f"its loopback only ({SWARM_LISTEN}); `docker swarm leave --force` there undoes it"
        )
        remote.api.init_swarm(advertise_addr="127.0.0.1", listen_addr=SWARM_LISTEN)
        state = SwarmState.from_info(remote.info())
        check_swarm_state(state, host)
    elif state.nodes > 1:
        say(f"{host} manages a swarm of {state.nodes} nodes: the service is pinned to {host}")
    return state


def ensure_swarm_network(remote: docker.DockerClient) -> None:
    found = remote.networks.list(names=[SWARM_NETWORK])
    for network in found:
        attrs = network.attrs
        if attrs.get("Name") == SWARM_NETWORK:
            if attrs.get("Driver") != "overlay" or not attrs.get("Attachable"):
                raise ConflictError(
                    f"a network named {SWARM_NETWORK} exists but is not an attachable overlay "
                    "network",
                    hint=f"remove it (docker network rm {SWARM_NETWORK}) and deploy again",
                )
            return
    remote.networks.create(
        SWARM_NETWORK, driver="overlay", attachable=True, scope="swarm", labels={LABEL: "1"}
    )


# ---------------------------------------------------------------------- reading the host
@dataclass
class SwarmService:
    """One Modelbay service on a swarm, as the host shows it."""

    service: str
    spec: dict[str, Any]
    version_index: int
    update: dict[str, Any]
    previous: dict[str, Any] | None
    front: Container | None

    @property
    def labels(self) -> dict[str, str]:
        return dict(self.spec.get("Labels") or {})

    @property
    def ref(self) -> str:
        return f"{self.labels.get(MODEL, '?')}:{self.labels.get(VERSION, '?')}"

    @property
    def uid(self) -> str:
        return self.labels.get(DEPLOYMENT, "")

    @property
    def update_state(self) -> str:
        return str(self.update.get("State") or "")

    @property
    def port(self) -> int | None:
        return on_host.published_port(self.front) if self.front is not None else None

    @property
    def public(self) -> bool:
        return self.front is not None and self.front.labels.get(PUBLIC) == "1"


def read_swarm_service(remote: docker.DockerClient, service: str) -> SwarmService | None:
    from docker.errors import APIError, NotFound

    try:
        found = remote.api.inspect_service(swarm_name(service))
    except NotFound:
        return None
    except APIError as exc:
        if "not a swarm manager" in str(exc):
            return None
        raise
    if (found.get("Spec", {}).get("Labels") or {}).get(SERVICE) != service:
        raise ConflictError(
            f"a Swarm service named {swarm_name(service)} exists that Modelbay did not make",
            hint="deploy under another --name, or remove that service",
        )
    return SwarmService(
        service=service,
        spec=found["Spec"],
        version_index=int(found["Version"]["Index"]),
        update=dict(found.get("UpdateStatus") or {}),
        previous=found.get("PreviousSpec"),
        front=_front_container(remote, service),
    )


def _front_container(remote: docker.DockerClient, service: str) -> Container | None:
    from docker.errors import NotFound

    try:
        front = remote.containers.get(swarm_front_name(service))
    except NotFound:
        return None
    return front if front.labels.get(SWARM_SERVICE) == service else None


def _tasks(remote: docker.DockerClient, service: str) -> list[dict[str, Any]]:
    tasks = remote.api.tasks(filters={"service": swarm_name(service)})
    return sorted(tasks, key=lambda task: str(task.get("CreatedAt", "")))


def _task_uid(task: dict[str, Any]) -> str:
    return str(
        ((task.get("Spec") or {}).get("ContainerSpec") or {}).get("Labels", {}).get(DEPLOYMENT, "")
    )


def _task_state(task: dict[str, Any]) -> str:
    return str((task.get("Status") or {}).get("State") or "")


# ---------------------------------------------------------------------- deploy
def swarm_deploy(
    registry: Registry,
    ref: str,
    host_name: str,
    options: DeployOptions | None = None,
    *,
    secrets: SecretStore | None = None,
    prompt: SecretPrompt | None = None,
    log: Say | None = None,
    progress: ProgressCallback = no_progress,
    cancel: CancelToken = NEVER_CANCELLED,
    config: Config | None = None,
) -> DeployResult:
    """Ship ``ref``'s image to the host if needed and make it the Swarm service's spec;
    Swarm replaces the task start-first and rolls back by itself if the new one fails."""

    options = options or DeployOptions()
    say = log or (lambda line: None)
    started = time.monotonic()
    config = config or Config.from_environment()
    info = registry.get(ref)
    refuse_quarantined(info)
    service = on_host.check_service_name(options.service or on_host.default_service_name(info.name))
    host = registry.get_host(host_name)
    with (
        service_lock(config, host.name, service),
        shipped_to(
            registry,
            info,
            host,
            secrets=secrets,
            prompt=prompt,
            say=say,
            progress=progress,
            cancel=cancel,
            config=config,
        ) as (
            session,
            remote,
            shipped,
        ),
    ):
        run = _SwarmRun(registry, session, remote, say, cancel, secrets)
        release = _Release(info, service, shipped.image_id, shipped.tag)
        deployment, replaced, stored = run.deploy(release, options)
    move_alias(registry, info, options.set_alias, say)
    return DeployResult(deployment, replaced, shipped, time.monotonic() - started, stored)


def swarm_rollback(
    registry: Registry,
    address: str,
    *,
    timeout: float = 120.0,
    secrets: SecretStore | None = None,
    prompt: SecretPrompt | None = None,
    log: Say | None = None,
    cancel: CancelToken = NEVER_CANCELLED,
    config: Config | None = None,
) -> DeployResult:
    """Swarm's own rollback of ``SERVICE@HOST``: its previous spec comes back, start-first.
    As with ``docker service rollback``, a second rollback returns to the spec before it."""
    from app.remote.ship import ShipResult

    service, host_name = parse_address(address)
    say = log or (lambda line: None)
    started = time.monotonic()
    config = config or Config.from_environment()
    host = registry.get_host(host_name)
    with (
        service_lock(config, host.name, service),
        host_docker(host, secrets, prompt) as (session, remote, _free),
    ):
        say(f"{host.name}: connected")
        run = _SwarmRun(registry, session, remote, say, cancel, secrets)
        deployment, replaced, image_id, tag = run.rollback(service, timeout)
    shipped = ShipResult(host.name, deployment.ref, tag, image_id, 0, 0, 0, 0.0, True)
    return DeployResult(deployment, replaced, shipped, time.monotonic() - started)


@dataclass(frozen=True)
class _Release:
    """A version, as the service that is to run it."""

    info: VersionInfo
    service: str
    image_id: str
    image_tag: str


@dataclass
class _SwarmRun:
    registry: Registry
    session: SSHSession
    remote: docker.DockerClient
    say: Say
    cancel: CancelToken
    secrets: SecretStore | None

    @property
    def host(self) -> str:
        return str(self.session.host.name)

    def deploy(
        self, release: _Release, options: DeployOptions
    ) -> tuple[DeploymentInfo, DeploymentInfo | None, bool | None]:
        info, service, image_id = release.info, release.service, release.image_id
        if service in on_host.read_services(self.remote):
            raise ConflictError(
                f"{service}@{self.host} runs as a single-host service (without --swarm)",
                hint=f"`modelbay stop {service}@{self.host}` first, or deploy under another --name",
            )
        swarm = ensure_swarm(self.remote, self.host, self.say)
        ensure_swarm_network(self.remote)
        current = read_swarm_service(self.remote, service)
        if current is not None and current.update_state in _UPDATING:
            raise ConflictError(
                f"Swarm is still updating {service}@{self.host} ({current.update_state})",
                hint="wait for it to finish, then deploy again",
            )
        reconcile_swarm_service(self.registry, self.host, service, current)
        port, public = self._front_settings(service, current, options)
        settings = _settings(current, options)
        token, stored = self._token(service, current, public)
        predecessor = _live_row(self.registry, self.host, service)
        row = self.registry.start_deployment(
            _new_deployment(
                self.host,
                release,
                "deploy",
                port=port,
                public=public,
                settings=settings,
                predecessor_id=predecessor.id if predecessor else None,
            )
        )
        name = swarm_name(service)
        spec = _service_spec(
            release,
            row.uid,
            swarm.node_id,
            env={**settings["env"], **({"MODELBAY_TOKEN": token} if token else {})},
            memory=settings.get("memory"),
            nano_cpus=settings.get("nano_cpus"),
            public=public,
            start_period=options.timeout,
            drain=_can_drain(self.remote, image_id),
        )
        try:
            self.registry.update_deployment(row.uid, container=name)
            if current is None:
                self.say(f"creating the Swarm service {name} ({info.ref})")
                self.remote.api.create_service(name=name, **spec)
                self._wait_created(service, row.uid, info.ref, options.timeout + 30)
            else:
                self.say(
                    f"updating the Swarm service {name} to {info.ref}: Swarm starts the new "
                    "task first and stops the old one once the new one is healthy"
                )
                self.remote.api.update_service(
                    current.spec.get("Name", name), current.version_index, name=name, **spec
                )
                self._wait_updated(service, row.uid, current.update, options.timeout + 30)
            front = self._front(service, image_id, port, public=public)
            port = on_host.published_port(front) or port
        except BaseException as exc:
            self._failed(row, service, exc, created=current is None)
            raise
        live = self.registry.update_deployment(row.uid, "live", port=port)
        self.say(f"{service}@{self.host} now serves {info.ref} (port {port} on the host)")
        replaced = None
        if predecessor is not None:
            replaced = self.registry.update_deployment(predecessor.uid, "retired", at=live.live_at)
        return live, replaced, stored

    def rollback(
        self, service: str, timeout: float
    ) -> tuple[DeploymentInfo, DeploymentInfo | None, str, str]:
        current = read_swarm_service(self.remote, service)
        if current is None:
            raise NotFoundError(
                f"there is no Swarm service {swarm_name(service)} on {self.host}",
                hint="deploy one with --swarm first",
            )
        if current.update_state in _UPDATING:
            raise ConflictError(
                f"Swarm is still updating {service}@{self.host} ({current.update_state})",
                hint="wait for it to finish, then roll back",
            )
        if not current.previous:
            raise ConflictError(
                f"{service}@{self.host} has no previous spec for Swarm to roll back to",
                hint="it was deployed only once",
            )
        reconcile_swarm_service(self.registry, self.host, service, current)
        labels = current.previous.get("Labels") or {}
        ref = f"{labels.get(MODEL)}:{labels.get(VERSION)}"
        try:
            info = self.registry.get(ref)
        except NotFoundError:
            raise ConflictError(
                f"Swarm's previous spec of {service}@{self.host} runs {ref}, which this "
                "registry does not have",
                hint="deploy a version by name instead",
            ) from None
        container = (current.previous.get("TaskTemplate") or {}).get("ContainerSpec") or {}
        image_id = str(container.get("Image", ""))
        predecessor = _live_row(self.registry, self.host, service)
        row = self.registry.start_deployment(
            _new_deployment(
                self.host,
                _Release(info, service, image_id, labels.get(IMAGE_TAG, "")),
                "rollback",
                port=current.port,
                public=current.public,
                settings=_spec_settings(current.previous),
                predecessor_id=predecessor.id if predecessor else None,
            )
        )
        name = swarm_name(service)
        self.say(f"asking Swarm to roll {name} back to its previous spec ({ref}), start-first")
        try:
            self.registry.update_deployment(row.uid, container=name)
            _request_rollback(self.remote, current)
            self._wait_rolled_back(service, current.update, timeout + 30)
        except BaseException as exc:
            self._failed(row, service, exc, created=False, rolling_back=True)
            raise
        live = self.registry.update_deployment(row.uid, "live", port=current.port)
        self.say(f"{service}@{self.host} serves {ref} again (port {current.port} on the host)")
        replaced = None
        if predecessor is not None:
            replaced = self.registry.update_deployment(predecessor.uid, "retired", at=live.live_at)
        return live, replaced, image_id, labels.get(IMAGE_TAG, "")

    # ------------------------------------------------------------------ waiting
    def _wait_created(self, service: str, uid: str, ref: str, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        self.say(f"waiting for the first task of {swarm_name(service)} to pass its health check")
        while True:
            self.cancel.raise_if_cancelled()
            tasks = [t for t in _tasks(self.remote, service) if _task_uid(t) == uid]
            if any(_task_state(t) == "running" for t in tasks):
                return
            failed = [t for t in tasks if _task_state(t) in _TASK_FAILED]
            if failed:
                tail = self._failed_task_log(service, uid)
                loading = on_host.load_failure(tail)
                why = on_host.last_line(tail)
                raise DeployError(
                    f"the model failed to load in the image: {loading}"
                    if loading
                    else f"the service's task failed: {_task_error(failed[-1])}"
                    + (f": {why}" if why else ""),
                    hint=f"`modelbay serve {ref}` runs the same version on this machine to try it",
                    show_log=True,
                )
            if time.monotonic() > deadline:
                raise DeployError(
                    f"the service's task did not become healthy within {timeout:.0f} s",
                    hint="a slow model may need a longer --timeout (the default is 120 s)",
                    show_log=True,
                )
            time.sleep(POLL)

    def _wait_updated(self, service: str, uid: str, before: dict[str, Any], timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while True:
            self.cancel.raise_if_cancelled()
            state = _fresh_update(self.remote, service, before)
            if state.get("State") == "completed":
                tasks = [t for t in _tasks(self.remote, service) if _task_uid(t) == uid]
                if any(_task_state(t) == "running" for t in tasks):
                    return
            if state.get("State") in _ROLLED_BACK:
                message = str(state.get("Message") or state.get("State"))
                self._settle_rollback(service, deadline)
                failed = [
                    t
                    for t in _tasks(self.remote, service)
                    if _task_uid(t) == uid and _task_state(t) in {*_TASK_FAILED, "complete"}
                ]
                why = f" ({_task_error(failed[-1])})" if failed else ""
                raise DeployError(
                    f"Swarm rolled the update back: {message}{why}; the previous version "
                    "keeps serving",
                    hint="a slow model may need a longer --timeout (the default is 120 s)",
                    show_log=True,
                )
            if time.monotonic() > deadline:
                raise DeployError(
                    f"Swarm did not finish the update within {timeout:.0f} s; it was asked to "
                    "roll back, the previous version keeps serving",
                    hint="a slow model may need a longer --timeout (the default is 120 s)",
                    show_log=True,
                )
            time.sleep(POLL)

    def _wait_rolled_back(self, service: str, before: dict[str, Any], timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while True:
            self.cancel.raise_if_cancelled()
            state = _fresh_update(self.remote, service, before)
            if state.get("State") == "rollback_completed":
                return
            if state.get("State") in {"rollback_paused", "paused"}:
                raise DeployError(
                    f"Swarm paused the rollback: {state.get('Message') or state.get('State')}",
                    hint=f"see `docker service ps {swarm_name(service)}` on {self.host}",
                )
            if time.monotonic() > deadline:
                raise DeployError(
                    f"Swarm did not finish the rollback within {timeout:.0f} s",
                    hint=f"see `docker service ps {swarm_name(service)}` on {self.host}",
                )
            time.sleep(POLL)

    def _settle_rollback(self, service: str, deadline: float) -> None:
        """Wait (within ``deadline``) until Swarm's automatic rollback has finished."""
        while time.monotonic() < deadline:
            found = read_swarm_service(self.remote, service)
            if found is None or found.update_state not in _UPDATING:
                return
            time.sleep(POLL)

    # ------------------------------------------------------------------ steps
    def _front_settings(
        self, service: str, current: SwarmService | None, options: DeployOptions
    ) -> tuple[int | None, bool]:
        front = current.front if current is not None else _front_container(self.remote, service)
        if front is None:
            return options.port, bool(options.public)
        port = on_host.published_port(front)
        public = front.labels.get(PUBLIC) == "1"
        if (options.port is not None and options.port != port) or (
            options.public is not None and options.public != public
        ):
            where = "all interfaces" if public else "the host's loopback"
            raise ConflictError(
                f"{service}@{self.host} already listens on port {port} on {where}; a "
                "deploy keeps a service's address so its clients keep working",
                hint=f"deploy without --port/--public, or `modelbay stop {service}@"
                f"{self.host}` first, or deploy under another --name",
            )
        return port, public

    def _token(
        self, service: str, current: SwarmService | None, public: bool
    ) -> tuple[str | None, bool | None]:
        """A public service's bearer token: the one its clients already use, or a new one."""
        if not public:
            return None, None
        import secrets as token_source

        store = self.secrets or SecretStore.open()
        entry = token_entry(self.host, service)
        token = store.get(entry)
        if token is None and current is not None:
            token = _spec_env(current.spec).get("MODELBAY_TOKEN")
        token = token or token_source.token_urlsafe(32)
        stored = store.set(entry, token)
        if not stored:
            self.say(f"note: {store.problem}; the token is shown once: {token}")
        return token, stored

    def _front(self, service: str, image_id: str, port: int | None, *, public: bool) -> Container:
        """The service's front: made on the first deploy, started if it stopped, pointed at
        the service's DNS name."""
        from docker.errors import APIError

        target = f"{swarm_name(service)}:{SERVER_PORT}"
        front = _front_container(self.remote, service)
        if front is None:
            name = swarm_front_name(service)
            bind = "0.0.0.0" if public else "127.0.0.1"  # noqa: S104 - public means public
            self.say(f"creating the service's front {name} on {bind}:{port or 'any free port'}")
            front = self.remote.containers.create(
                image_id,
                ["python3", "-m", "app.serving.front"],
                name=name,
                labels={SWARM_SERVICE: service, ROLE: "front", PUBLIC: "1" if public else "0"},
                network=SWARM_NETWORK,
                ports={f"{SERVER_PORT}/tcp": (bind, port)},
                restart_policy={"Name": "unless-stopped"},
                stop_signal="SIGTERM",
            )
            try:
                front.start()
            except APIError as exc:
                with contextlib.suppress(APIError):
                    front.remove(force=True)
                raise port_error(exc, self.host, port) from None
        elif front.status != "running":
            self.say(f"starting the service's front {front.name} again")
            front.start()
        try:
            pointed = on_host.front_target(front)
        except DeployError:
            pointed = None  # just started: not answering exec yet
        if pointed != target:
            self._switch(front, target)
        front.reload()
        return front

    def _switch(self, front: Container, target: str) -> None:
        # Swarm adds a task to the service's DNS name just after its health check passes;
        # the front checks the name's /health before switching: allow a moment.
        deadline = time.monotonic() + 15
        while True:
            try:
                on_host.switch_front(front, target)
                return
            except DeployError:
                if time.monotonic() > deadline:
                    raise
            self.cancel.raise_if_cancelled()
            time.sleep(POLL)

    def _failed(
        self,
        row: DeploymentInfo,
        service: str,
        exc: BaseException,
        *,
        created: bool,
        rolling_back: bool = False,
    ) -> None:
        if not self.session.alive:
            self.registry.update_deployment(
                row.uid,
                error=f"the connection was lost: {exc}; Swarm finishes or rolls back the "
                "update by itself, the next look at the host records which",
            )
            raise DeployError(
                f"the connection to {self.host} was lost while Swarm was changing {service}",
                hint="Swarm carries on without us; `modelbay deploy --swarm` or a status look "
                "later records how it ended",
            ) from exc
        tail = self._failed_task_log(service, row.uid)
        with contextlib.suppress(Exception):
            self._undo(service, created=created, rolling_back=rolling_back)
        message = "cancelled" if isinstance(exc, Cancelled) else words(exc)
        self.registry.update_deployment(row.uid, "failed", error=message, log_tail=tail)
        show_log_tail(exc, tail, f"the new task of {swarm_name(service)}", self.say)

    def _undo(self, service: str, *, created: bool, rolling_back: bool) -> None:
        """After a failure, cancel or timeout: no half-made service, no update left running."""
        from docker.errors import NotFound

        found = read_swarm_service(self.remote, service)
        if found is None:
            return
        if created:
            self.say(f"removing {swarm_name(service)}: its first version never became healthy")
            with contextlib.suppress(NotFound):
                self.remote.api.remove_service(swarm_name(service))
            return
        if found.update_state == "updating" and not rolling_back:
            self.say(f"asking Swarm to roll {swarm_name(service)} back")
            _request_rollback(self.remote, found)

    def _failed_task_log(self, service: str, uid: str) -> str:
        try:
            tasks = [t for t in _tasks(self.remote, service) if _task_uid(t) == uid]
        except Exception:  # noqa: BLE001 - the log is a courtesy in an error path
            return ""
        for task in reversed(tasks):
            container_id = ((task.get("Status") or {}).get("ContainerStatus") or {}).get(
                "ContainerID"
            )
            if not container_id:
                continue
            with contextlib.suppress(Exception):
                tail = on_host.log_tail(self.remote.containers.get(container_id))
                if tail:
                    return tail
        return ""


def _request_rollback(remote: docker.DockerClient, found: SwarmService) -> None:
    """What ``docker service rollback`` sends; docker-py has no parameter for it."""
    api = remote.api
    response = api._post_json(
        api._url("/services/{0}/update", found.spec.get("Name", swarm_name(found.service))),
        data=found.spec,
        params={"version": found.version_index, "rollback": "previous"},
    )
    api._raise_for_status(response)


def _can_drain(remote: docker.DockerClient, image_id: str) -> bool:
    from app.build.context import DRAIN_LABEL

    labels = remote.images.get(image_id).attrs.get("Config", {}).get("Labels") or {}
    return labels.get(DRAIN_LABEL) == "SIGUSR1"


def _fresh_update(
    remote: docker.DockerClient, service: str, before: dict[str, Any]
) -> dict[str, Any]:
    """The service's update status once it is about *our* change (not the one before)."""
    found = remote.api.inspect_service(swarm_name(service))
    state = dict(found.get("UpdateStatus") or {})
    if before and state.get("StartedAt") == before.get("StartedAt"):
        return {}
    return state


def _task_error(task: dict[str, Any]) -> str:
    status = task.get("Status") or {}
    return str(status.get("Err") or status.get("Message") or status.get("State") or "?")


def _spec_env(spec: dict[str, Any]) -> dict[str, str]:
    container = (spec.get("TaskTemplate") or {}).get("ContainerSpec") or {}
    env = {}
    for item in container.get("Env") or []:
        key, _, value = str(item).partition("=")
        env[key] = value
    return env


def _spec_settings(spec: dict[str, Any]) -> dict[str, Any]:
    """A service spec's environment (without the token) and limits."""
    limits = ((spec.get("TaskTemplate") or {}).get("Resources") or {}).get("Limits") or {}
    env = _spec_env(spec)
    env.pop("MODELBAY_TOKEN", None)
    return {
        "env": env,
        "memory": int(limits.get("MemoryBytes") or 0) or None,
        "nano_cpus": int(limits.get("NanoCPUs") or 0) or None,
    }


def _settings(current: SwarmService | None, options: DeployOptions) -> dict[str, Any]:
    """The environment and limits of the new spec: the options', else the current spec's."""
    inherited: dict[str, Any] = {"env": {}, "memory": None, "nano_cpus": None}
    if current is not None:
        inherited = _spec_settings(current.spec)
    env = dict(options.env) if options.env is not None else inherited["env"]
    memory = options.memory if options.memory is not None else inherited["memory"]
    cpus = int(options.cpus * 1e9) if options.cpus is not None else inherited["nano_cpus"]
    return {"env": env, "memory": memory, "nano_cpus": cpus}


def _service_spec(
    release: _Release,
    uid: str,
    node_id: str,
    *,
    env: dict[str, str],
    memory: int | None,
    nano_cpus: int | None,
    public: bool,
    start_period: float,
    drain: bool,
) -> dict[str, Any]:
    """Keyword arguments of docker-py's create_service/update_service: the whole spec."""
    from docker import types

    info, service, image_id = release.info, release.service, release.image_id
    labels = {
        SERVICE: service,
        ROLE: "swarm-service",
        DEPLOYMENT: uid,
        MODEL: info.name,
        VERSION: str(info.version),
        SHA256: info.sha256,
        IMAGE_TAG: release.image_tag,
        PUBLIC: "1" if public else "0",
    }
    task_labels = {**labels, ROLE: "swarm-task"}
    del task_labels[SERVICE]
    task_labels[SWARM_SERVICE] = service
    container = types.ContainerSpec(
        image_id,  # an image ID: Swarm does not try to pull it from a registry
        command=(
            ["sh", "-c", DRAIN_THEN_STOP.format(drain=DRAIN_SECONDS), "sh", *RUNTIME_COMMAND]
            if drain
            else None
        ),
        env=[f"{key}={value}" for key, value in env.items()],
        labels=task_labels,
        stop_grace_period=STOP_GRACE * SECOND,
        stop_signal="SIGTERM",
        healthcheck=types.Healthcheck(
            test=HEALTH_TEST,
            interval=HEALTH_INTERVAL * SECOND,
            timeout=5 * SECOND,
            retries=HEALTH_RETRIES,
            start_period=int(start_period * SECOND),
        ),
    )
    template = types.TaskTemplate(
        container,
        resources=types.Resources(cpu_limit=nano_cpus, mem_limit=memory),
        restart_policy=types.RestartPolicy(condition="any", delay=5 * SECOND),
        placement=types.Placement(constraints=[f"node.id=={node_id}"]),
        networks=[SWARM_NETWORK],
    )
    order = {
        "parallelism": 1,
        "delay": 0,
        "monitor": MONITOR * SECOND,
        "max_failure_ratio": 0,
        "order": "start-first",
    }
    return {
        "task_template": template,
        "labels": labels,
        "mode": types.ServiceMode("replicated", replicas=1),
        "update_config": types.UpdateConfig(failure_action="rollback", **order),
        "rollback_config": types.RollbackConfig(failure_action="pause", **order),
        "endpoint_spec": types.EndpointSpec(mode="dnsrr"),
    }


def _new_deployment(
    host: str,
    release: _Release,
    kind: str,
    *,
    port: int | None,
    public: bool,
    settings: dict[str, Any],
    predecessor_id: int | None,
) -> NewDeployment:
    from app.registry import NewDeployment

    return NewDeployment(
        host=host,
        service=release.service,
        target=release.info,
        image_id=release.image_id,
        image_tag=release.image_tag,
        kind=kind,
        port=port,
        public=public,
        settings={**recorded_settings(settings), "swarm": swarm_name(release.service)},
        predecessor_id=predecessor_id,
    )


# ---------------------------------------------------------------------- reconcile, look, stop
def _swarm_rows(registry: Registry, host: str, service: str) -> list[DeploymentInfo]:
    rows = registry.deployments(host=host, service=service, statuses=("deploying", "live"))
    return [row for row in rows if row.settings.get("swarm")]


def _live_row(registry: Registry, host: str, service: str) -> DeploymentInfo | None:
    return next((row for row in _swarm_rows(registry, host, service) if row.status == "live"), None)


def reconcile_swarm_service(
    registry: Registry, host: str, service: str, found: SwarmService | None
) -> list[str]:
    """Make the registry's open Swarm rows of ``service@host`` agree with the service's
    labels: the row that put the current spec in place (or, after a rollback, the newest
    row of that version) is live, every other one ended. What changed, in words."""
    notes: list[str] = []
    rows = _swarm_rows(registry, host, service)
    if found is not None and found.update_state in _UPDATING:
        return notes  # Swarm is still at it: the outcome is not known yet
    chosen: DeploymentInfo | None = None
    if found is not None:
        chosen = next((row for row in rows if row.uid == found.uid), None) or next(
            (row for row in rows if row.ref == found.ref), None
        )
    for row in rows:
        if row is chosen:
            if row.status != "live":
                registry.update_deployment(row.uid, "live")
                notes.append(f"{row.ref} ({row.uid}) is serving: recorded as live")
            continue
        if found is None:
            status, why = ("stopped", "the Swarm service is gone from the host")
            if row.status == "deploying":
                status = "interrupted"
        elif row.status == "deploying":
            status, why = "interrupted", "its deploy was cut short; Swarm serves another spec"
        else:
            status, why = "retired", "Swarm serves another spec"
        registry.update_deployment(row.uid, status, error=row.error or why)
        notes.append(f"{row.ref} ({row.uid}): {status}, {why}")
    return notes


def swarm_service_statuses(
    registry: Registry,
    host_name: str,
    *,
    secrets: SecretStore | None = None,
    prompt: SecretPrompt | None = None,
) -> list[ServiceStatus]:
    """Every Modelbay Swarm service on the host, reconciled with the registry."""
    host = registry.get_host(host_name)
    with host_docker(host, secrets, prompt) as (_session, remote, _free):
        return _statuses(registry, host, remote)


def _statuses(
    registry: Registry, host: HostInfo, remote: docker.DockerClient
) -> list[ServiceStatus]:
    if SwarmState.from_info(remote.info()).local_state != "active":
        return []
    found: list[ServiceStatus] = []
    names = sorted(
        str((s.get("Spec", {}).get("Labels") or {}).get(SERVICE, ""))
        for s in remote.api.services(filters={"label": SERVICE})
    )
    for service in filter(None, names):
        state = read_swarm_service(remote, service)
        reconcile_swarm_service(registry, host.name, service, state)
        if state is None:
            continue
        running = [
            t
            for t in _tasks(remote, service)
            if _task_state(t) == "running" and t.get("DesiredState") == "running"
        ]
        if state.update_state in _UPDATING:
            word = state.update_state
        elif running:
            word = "healthy"  # a task is "running" only once its health check passed
        else:
            word = "starting"
        live = _live_row(registry, host.name, service)
        found.append(
            ServiceStatus(
                host.name,
                service,
                word,
                ref=state.ref,
                uid=live.uid if live else state.uid,
                port=state.port,
                public=state.public,
                started_at=str((running[-1].get("Status") or {}).get("Timestamp", ""))
                if running
                else None,
                detail=f"Swarm service {swarm_name(service)}"
                + (f"; {state.update.get('Message')}" if state.update.get("Message") else ""),
            )
        )
    return found


def swarm_stop(
    registry: Registry,
    address: str,
    *,
    secrets: SecretStore | None = None,
    prompt: SecretPrompt | None = None,
    log: Say | None = None,
    config: Config | None = None,
) -> list[DeploymentInfo]:
    """Remove the Swarm service and its front; the swarm itself and the images stay."""
    service, host_name = parse_address(address)
    say = log or (lambda line: None)
    config = config or Config.from_environment()
    host = registry.get_host(host_name)
    with (
        service_lock(config, host.name, service),
        host_docker(host, secrets, prompt) as (_session, remote, _free),
    ):
        state = read_swarm_service(remote, service)
        front = state.front if state is not None else _front_container(remote, service)
        if state is None and front is None:
            raise NotFoundError(
                f"nothing runs as {service} on {host.name}",
                hint="`modelbay deployments` lists what runs where",
            )
        if front is not None:
            say(f"stopping {front.name}")
            with contextlib.suppress(Exception):
                front.stop(timeout=10)
            with contextlib.suppress(Exception):
                front.remove(force=True)
        if state is not None:
            say(f"removing the Swarm service {swarm_name(service)} (its task stops gracefully)")
            remote.api.remove_service(swarm_name(service))
    return [
        registry.update_deployment(row.uid, "stopped")
        for row in _swarm_rows(registry, host.name, service)
    ]


@contextlib.contextmanager
def open_swarm_tunnel(
    registry: Registry,
    address: str,
    *,
    local_port: int = 0,
    secrets: SecretStore | None = None,
    prompt: SecretPrompt | None = None,
) -> Iterator[tuple[Tunnel, SwarmService]]:
    """A local port forwarded to the Swarm service's front, over the verified session."""
    from app.remote.tunnel import Tunnel

    service, host_name = parse_address(address)
    host = registry.get_host(host_name)
    with host_docker(host, secrets, prompt) as (session, remote, _free):
        state = read_swarm_service(remote, service)
        if state is None or state.port is None:
            raise NotFoundError(
                f"no Swarm service {service} with a front runs on {host.name}",
                hint="`modelbay deployments` lists what runs where",
            )
        with Tunnel(session, "127.0.0.1", state.port, local_port=local_port) as tunnel:
            yield tunnel, state
