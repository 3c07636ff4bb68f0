"""``modelbay deploy``, ``rollback``, ``stop``, ``deployments`` and ``logs``.

A deploy of version V as service S on host H, through one verified SSH session:

1. ship V's image if H lacks it (app/remote/ship.py);
2. read what runs on H (container labels) and reconcile the registry with it;
3. start a new backend container ``modelbay-S-UID`` (restart unless-stopped,
   labels naming service, model, version, content hash and deployment);
4. wait until it answers ``/health`` (probed from the host through the session);
   if it exits or is not healthy in time, remove it: the old backend never
   stopped serving, and the deployment is recorded as failed with its last log lines;
5. make sure the service's front exists (first deploy: create it on the port),
   and switch it to the new backend: new connections go there from then on;
6. stop the previous backend gracefully (in-flight requests finish), remove it.

The host's labels are the truth about what runs now. If the deploying process
dies or the connection drops, the next look at the host (a deploy, ``modelbay
deployments``, the Deployments panel) reconciles: a backend the front points at is
live, any other one Modelbay knows of is removed, and its record says what became
of it. A per-service lock file keeps two deploys from this machine apart.
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as dt
import secrets as token_source
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from app.config import Config
from app.errors import Cancelled, ConflictError, InvalidInputError, ModelbayError, NotFoundError
from app.progress import NEVER_CANCELLED, CancelToken, ProgressCallback, no_progress
from app.remote.docker_remote import check_docker, docker_client
from app.remote.secrets import SecretPrompt, SecretStore
from app.remote.ship import ShipResult, image_to_ship, record_shipment, send_image
from app.remote.ssh import connect

from . import host as on_host
from .host import (
    DEPLOYMENT,
    IMAGE_TAG,
    MODEL,
    NETWORK,
    PUBLIC,
    ROLE,
    SERVER_PORT,
    SERVICE,
    SHA256,
    VERSION,
    DeployError,
    ServiceOnHost,
)

if TYPE_CHECKING:
    import docker
    from docker.models.containers import Container

    from app.registry import DeploymentInfo, HostInfo, NewDeployment, Registry, VersionInfo
    from app.remote.ssh import SSHSession
    from app.remote.tunnel import Tunnel

Say = Callable[[str], None]
STOP_GRACE = 30  # seconds a retired backend gets to finish its requests
DRAIN_SECONDS = 6.0  # the runtime's keep-alive timeout (uvicorn's 5 s) and a margin


@dataclass
class DeployOptions:
    """What a deploy may set; None means "as the service is now" (or the default)."""

    service: str | None = None
    port: int | None = None
    public: bool | None = None
    env: dict[str, str] | None = None
    memory: int | None = None  # bytes
    cpus: float | None = None
    timeout: float = 120.0
    set_alias: str | None = None
    swarm: bool = False  # as a Docker Swarm service (app/deploy/swarm.py)


@dataclass(frozen=True)
class DeployResult:
    deployment: DeploymentInfo
    replaced: DeploymentInfo | None
    shipped: ShipResult
    seconds: float
    token_in_keyring: bool | None = None  # public services only

    def to_json(self) -> dict[str, Any]:
        return {
            "deployment": self.deployment.to_json(),
            "replaced": self.replaced.to_json() if self.replaced else None,
            "shipped": self.shipped.to_json(),
            "seconds": round(self.seconds, 3),
            "token_in_keyring": self.token_in_keyring,
        }


@dataclass(frozen=True)
class ServiceStatus:
    """One service on one host, as the host showed it just now."""

    host: str
    service: str
    state: str  # healthy | unhealthy | starting | stopped | unreachable | ...
    ref: str | None = None
    uid: str | None = None
    port: int | None = None
    public: bool = False
    started_at: str | None = None
    detail: str = ""
    others: list[str] = field(default_factory=list)  # containers not from this registry
    metrics: dict[str, float] | None = None  # requests, errors, latency_sum/_count so far
    checked_at: float = field(default_factory=time.time)

    @property
    def address(self) -> str:
        return f"{self.service}@{self.host}"

    def to_json(self) -> dict[str, Any]:
        return {
            "host": self.host,
            "service": self.service,
            "state": self.state,
            "ref": self.ref,
            "uid": self.uid,
            "port": self.port,
            "public": self.public,
            "started_at": self.started_at,
            "detail": self.detail,
            "others": self.others,
            "metrics": self.metrics,
        }


def token_entry(host: str, service: str) -> str:
    return f"deploy-token:{service}@{host}"


def parse_address(text: str) -> tuple[str, str]:
    """``SERVICE@HOST`` -> (service, host)."""
    service, at, host = text.partition("@")
    if not at or not service or not host:
        raise InvalidInputError(
            f"{text!r} does not name a service on a host",
            hint="write SERVICE@HOST, e.g. churn@gpu-1",
        )
    return on_host.check_service_name(service), host


def is_swarm(registry: Registry, host: str, service: str) -> bool:
    """Whether ``service`` on ``host`` was last deployed as a Swarm service (``--swarm``)."""
    newest = registry.deployments(host=host, service=service, limit=1)
    return bool(newest and newest[0].settings.get("swarm"))


# ---------------------------------------------------------------------- locking
@contextlib.contextmanager
def service_lock(config: Config, host: str, service: str, *, wait: float = 5.0) -> Iterator[None]:
    """The per-service lock of this machine. ``wait``: a look (``_busy``) holds it for
    an instant, so a deploy waits a little before calling the service busy."""
    from filelock import FileLock, Timeout

    folder = config.home / "locks"
    folder.mkdir(parents=True, exist_ok=True)
    lock = FileLock(str(folder / f"deploy-{host}-{service}.lock"))
    try:
        lock.acquire(timeout=wait)
    except Timeout:
        raise ConflictError(
            f"another deploy, rollback or stop of {service}@{host} is running on this machine",
            hint="wait for it to finish (see the jobs panel or the other terminal)",
        ) from None
    try:
        yield
    finally:
        lock.release()


def _busy(config: Config, host: str, service: str) -> bool:
    try:
        with service_lock(config, host, service, wait=0):
            return False
    except ConflictError:
        return True


# ---------------------------------------------------------------------- the session
@contextlib.contextmanager
def host_docker(
    host: HostInfo, secrets: SecretStore | None, prompt: SecretPrompt | None
) -> Iterator[tuple[SSHSession, docker.DockerClient, int | None]]:
    with connect(host, secrets=secrets, prompt=prompt) as session:
        info = check_docker(session)
        remote = docker_client(session, info.api_version)
        try:
            yield session, remote, info.free_bytes
        finally:
            remote.api.close()


# ---------------------------------------------------------------------- deploy
def deploy(
    registry: Registry,
    ref: str,
    host_name: str,
    options: DeployOptions | None = None,
    *,
    kind: str = "deploy",
    secrets: SecretStore | None = None,
    prompt: SecretPrompt | None = None,
    log: Say | None = None,
    progress: ProgressCallback = no_progress,
    cancel: CancelToken = NEVER_CANCELLED,
    config: Config | None = None,
) -> DeployResult:

    options = options or DeployOptions()
    say = log or (lambda line: None)
    started = time.monotonic()
    config = config or Config.from_environment()
    secrets = secrets or SecretStore.open()
    info = registry.get(ref)
    refuse_quarantined(info)
    service = on_host.check_service_name(options.service or on_host.default_service_name(info.name))
    host = registry.get_host(host_name)
    if options.swarm or is_swarm(registry, host.name, service):
        from .swarm import swarm_deploy

        options = dataclasses.replace(options, service=service)
        return swarm_deploy(
            registry,
            info.ref,
            host.name,
            options,
            secrets=secrets,
            prompt=prompt,
            log=log,
            progress=progress,
            cancel=cancel,
            config=config,
        )
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
        run = _Deploy(registry, config, secrets, session, remote, say, cancel)
        target = _Target(info, service, shipped.image_id, shipped.tag, kind)
        deployment, replaced, stored = run.deploy(target, options)
    move_alias(registry, info, options.set_alias, say)
    return DeployResult(deployment, replaced, shipped, time.monotonic() - started, stored)


@contextlib.contextmanager
def shipped_to(
    registry: Registry,
    info: VersionInfo,
    host: HostInfo,
    *,
    secrets: SecretStore | None,
    prompt: SecretPrompt | None,
    say: Say,
    progress: ProgressCallback,
    cancel: CancelToken,
    config: Config,
) -> Iterator[tuple[SSHSession, docker.DockerClient, ShipResult]]:
    """One verified session to ``host`` on which ``info``'s image is there (shipped if
    it was not): what every deploy mode starts with."""
    from app.build import engine

    local = engine.connect()
    try:
        build = image_to_ship(registry, info.ref, local)
        with host_docker(host, secrets, prompt) as (session, remote, free):
            say(f"{host.name}: connected")
            shipped = send_image(
                build,
                local,
                session,
                remote,
                free,
                say=say,
                progress=progress,
                cancel=cancel,
                config=config,
            )
            record_shipment(registry, shipped)
            yield session, remote, shipped
    finally:
        local.close()


def move_alias(registry: Registry, info: VersionInfo, alias: str | None, say: Say) -> None:
    """``--set-alias``: only once the deploy has succeeded."""
    if alias:
        registry.set_alias(info.name, alias, info.version)
        say(f"{info.name}@{alias} now points at version {info.version}")


@dataclass(frozen=True)
class _Target:
    info: VersionInfo
    service: str
    image_id: str
    image_tag: str
    kind: str


@dataclass
class _Deploy:
    registry: Registry
    config: Config
    secrets: SecretStore
    session: SSHSession
    remote: docker.DockerClient
    say: Say
    cancel: CancelToken

    @property
    def host(self) -> str:
        return str(self.session.host.name)

    def deploy(
        self, target: _Target, options: DeployOptions
    ) -> tuple[DeploymentInfo, DeploymentInfo | None, bool | None]:
        info, service = target.info, target.service
        state = on_host.read_services(self.remote).get(service) or ServiceOnHost(service)
        reconcile_service(self.registry, self.config, self.host, state, locked=True)
        state = on_host.read_services(self.remote).get(service) or ServiceOnHost(service)
        port, public = self._front_settings(state, options)
        current = state.current
        predecessor = self._known(current.uid) if current else None
        settings = self._settings(state, options)
        token, stored = self._token(service, state, public)
        row = self.registry.start_deployment(
            _new_deployment(
                self.host,
                target,
                port=port,
                public=public,
                settings=settings,
                predecessor_id=predecessor.id if predecessor else None,
            )
        )
        name = on_host.backend_name(service, row.uid)
        self.say(f"starting {name} ({info.ref})")
        container: Container | None = None
        try:
            on_host.ensure_network(self.remote)
            container = self.remote.containers.create(
                target.image_id,
                name=name,
                labels=_labels(target, "backend", row.uid, public=public),
                environment={**settings["env"], **({"MODELBAY_TOKEN": token} if token else {})},
                network=NETWORK,
                restart_policy={"Name": "unless-stopped"},
                mem_limit=settings.get("memory") or None,
                nano_cpus=settings.get("nano_cpus") or None,
                stop_signal="SIGTERM",
            )
            self.registry.update_deployment(row.uid, container=name)
            container.start()
            self._wait_healthy(
                container,
                options.timeout,
                _Failing(info.ref, settings.get("memory"), serving=current is not None),
            )
            front = self._front(state, target, port, public=public)
            self.cancel.raise_if_cancelled()
            on_host.switch_front(front, on_host.backend_address(name))
            port = on_host.published_port(front) or port
        except BaseException as exc:
            self._failed(row, container, exc)
            if not self.session.alive and not isinstance(exc, Cancelled):
                raise DeployError(
                    f"the connection to {self.host} was lost during the deploy of {info.ref}",
                    hint="deploy again when the host is reachable; whatever the cut left "
                    "behind is put right first (`modelbay deployments` does it too)",
                ) from exc
            raise
        live = self.registry.update_deployment(row.uid, "live", port=port)
        self.say(f"{service}@{self.host} now serves {info.ref} (port {port} on the host)")
        replaced = None
        for backend in state.backends:
            if backend.name != name:
                ended = self._retire(backend, switched_at=live.live_at)
                if current is not None and backend.uid == current.uid:
                    replaced = ended
        return live, replaced or predecessor, stored

    # ------------------------------------------------------------------ steps
    def _front_settings(
        self, state: ServiceOnHost, options: DeployOptions
    ) -> tuple[int | None, bool]:
        if state.front is None:
            return options.port, bool(options.public)
        port, public = state.port, state.public
        if (options.port is not None and options.port != port) or (
            options.public is not None and options.public != public
        ):
            where = "all interfaces" if public else "the host's loopback"
            raise ConflictError(
                f"{state.service}@{self.host} already listens on port {port} on {where}; a "
                "deploy keeps a service's address so its clients keep working",
                hint=f"deploy without --port/--public, or `modelbay stop {state.service}@"
                f"{self.host}` first, or deploy under another --name",
            )
        return port, public

    def _settings(self, state: ServiceOnHost, options: DeployOptions) -> dict[str, Any]:
        inherited: dict[str, Any] = {"env": {}, "memory": None, "nano_cpus": None}
        current = state.current
        if current is not None:
            image_env = (current.container.image.attrs.get("Config") or {}).get("Env") or []
            inherited = on_host.inherited_settings(current.container, image_env)
        env = dict(options.env) if options.env is not None else inherited["env"]
        memory = options.memory if options.memory is not None else inherited["memory"]
        cpus = int(options.cpus * 1e9) if options.cpus is not None else inherited["nano_cpus"]
        return {"env": env, "memory": memory, "nano_cpus": cpus}

    def _token(
        self, service: str, state: ServiceOnHost, public: bool
    ) -> tuple[str | None, bool | None]:
        """A public service's bearer token: the one its clients already use, or a new one."""
        if not public:
            return None, None
        entry = token_entry(self.host, service)
        token = self.secrets.get(entry)
        if token is None and state.current is not None:
            token = on_host.token_of(state.current.container)
        token = token or token_source.token_urlsafe(32)
        stored = self.secrets.set(entry, token)
        if not stored:
            self.say(f"note: {self.secrets.problem}; the token is shown once: {token}")
        return token, stored

    def _known(self, uid: str) -> DeploymentInfo | None:
        try:
            return self.registry.deployment(uid)
        except NotFoundError:
            return None

    def _wait_healthy(self, container: Container, timeout: float, failing: _Failing) -> None:
        """Return once the container answers ``/health``; raise as soon as it cannot:
        it stopped, or its model failed to load (the runtime then stays up and says so)."""
        deadline = time.monotonic() + timeout
        self.say(f"waiting for {container.name} to answer /health (up to {timeout:.0f} s)")
        while True:
            self.cancel.raise_if_cancelled()
            container.reload()
            state = container.attrs.get("State") or {}
            if (
                state.get("Status") in {"exited", "dead"}
                or state.get("Restarting")
                or (int(container.attrs.get("RestartCount") or 0) > 0)
            ):
                raise stopped_error(state, on_host.log_tail(container), failing)
            address = on_host.container_ip(container)
            if address:
                ready, load_error = on_host.read_health(self.session, address)
                if ready:
                    return
                if load_error:
                    raise load_failed_error(load_error, failing)
            tail = on_host.log_tail(container)
            failure = on_host.load_failure(tail)
            if failure:  # e.g. the server listens where the probe does not reach
                raise load_failed_error(failure, failing)
            if time.monotonic() > deadline:
                raise DeployError(
                    f"the new container did not become healthy within {timeout:.0f} s"
                    + ("" if tail else " and logged nothing yet (it was still starting)")
                    + failing.keeps,
                    hint=f"its log says the model is ready, yet it does not answer /health on "
                    f"port {SERVER_PORT}: check what your --env changes (e.g. MODELBAY_PORT)"
                    if on_host.says_ready(tail)
                    else "a slow model may need a longer --timeout (the default is 120 s)",
                    show_log=bool(tail),
                )
            time.sleep(0.5)

    def _front(
        self, state: ServiceOnHost, target: _Target, port: int | None, *, public: bool
    ) -> Container:
        front = state.front
        if front is not None:
            if front.status != "running":
                self.say(f"starting the service's front {front.name} again")
                front.start()
            return front
        name = on_host.front_name(state.service)
        bind = "0.0.0.0" if public else "127.0.0.1"  # noqa: S104 - public means public
        self.say(f"creating the service's front {name} on {bind}:{port or 'any free port'}")
        created = self.remote.containers.create(
            target.image_id,
            ["python3", "-m", "app.serving.front"],
            name=name,
            labels=_labels(target, "front", "", public=public),
            network=NETWORK,
            ports={f"{SERVER_PORT}/tcp": (bind, port)},
            restart_policy={"Name": "unless-stopped"},
            stop_signal="SIGTERM",
        )
        from docker.errors import APIError

        try:
            created.start()
        except APIError as exc:
            with contextlib.suppress(APIError):
                created.remove(force=True)
            raise port_error(exc, self.host, port) from None
        created.reload()
        state.front = created
        return created

    def _retire(
        self, backend: on_host.Backend, *, switched_at: dt.datetime | None
    ) -> DeploymentInfo | None:
        """Stop ``backend`` gracefully; its record ends when the front switched away."""
        self._drain(backend)
        self.say(f"stopping {backend.name} ({backend.ref}) after its requests finish")
        with contextlib.suppress(Exception):
            backend.container.stop(timeout=STOP_GRACE)
        with contextlib.suppress(Exception):
            backend.container.remove(force=True)
        known = self._known(backend.uid)
        if known is not None and known.status in {"live", "deploying"}:
            return self.registry.update_deployment(
                known.uid,
                "retired" if known.status == "live" else "interrupted",
                at=switched_at,
            )
        return known

    def _drain(self, backend: on_host.Backend) -> None:
        """Let keep-alive clients move to the new backend before the old one stops.

        A stop closes idle keep-alive connections, and a client sending its next
        request on one at that moment sees it fail. Told to drain, the runtime answers
        every request with ``Connection: close``, so each client's next request opens a
        new connection, which the front sends to the new backend; an idle connection
        is closed by the server's keep-alive timeout (5 s) as any idle one is.
        """
        from app.build.context import DRAIN_LABEL

        with contextlib.suppress(Exception):
            labels = (backend.container.image.attrs.get("Config") or {}).get("Labels") or {}
            if labels.get(DRAIN_LABEL) != "SIGUSR1":
                return  # an image from before draining: SIGUSR1 would end it at once
            backend.container.kill(signal="SIGUSR1")
            self.say(f"draining {backend.name}: its clients move to the new version")
            time.sleep(DRAIN_SECONDS)

    def _failed(self, row: DeploymentInfo, container: Container | None, exc: BaseException) -> None:
        if not self.session.alive:  # nothing can be cleaned up now; the next look will
            self.registry.update_deployment(row.uid, error=f"the connection was lost: {exc}")
            return
        tail = on_host.log_tail(container) if container is not None else ""
        if container is not None:
            with contextlib.suppress(Exception):
                container.remove(force=True)
        message = "cancelled" if isinstance(exc, Cancelled) else words(exc)
        self.registry.update_deployment(row.uid, "failed", error=message, log_tail=tail)
        if container is not None:
            show_log_tail(exc, tail, str(container.name), self.say)


def _new_deployment(
    host: str,
    target: _Target,
    *,
    port: int | None,
    public: bool,
    settings: dict[str, Any],
    predecessor_id: int | None,
) -> NewDeployment:
    from app.registry import NewDeployment

    return NewDeployment(
        host=host,
        service=target.service,
        target=target.info,
        image_id=target.image_id,
        image_tag=target.image_tag,
        kind=target.kind,
        port=port,
        public=public,
        settings=recorded_settings(settings),
        predecessor_id=predecessor_id,
    )


def refuse_quarantined(info: VersionInfo) -> None:
    if info.status == "quarantined":
        raise ConflictError(
            f"{info.ref} is quarantined: its safety scan found code that would run on load",
            hint=f"review it (modelbay show {info.ref}); only if you trust it, "
            f"`modelbay approve {info.ref}`",
        )


def recorded_settings(settings: dict[str, Any]) -> dict[str, Any]:
    """What the registry keeps of a deployment's settings: variable names, never values
    (they may be secrets), and the limits."""
    return {
        "env": sorted(settings["env"]),
        "memory": settings.get("memory"),
        "nano_cpus": settings.get("nano_cpus"),
    }


def _labels(target: _Target, role: str, uid: str, *, public: bool) -> dict[str, str]:
    return {
        SERVICE: target.service,
        ROLE: role,
        DEPLOYMENT: uid,
        MODEL: target.info.name,
        VERSION: str(target.info.version),
        SHA256: target.info.sha256,
        IMAGE_TAG: target.image_tag,
        PUBLIC: "1" if public else "0",
    }


def port_error(exc: Exception, host: str, port: int | None) -> ModelbayError:
    text = str(exc)
    if "port is already allocated" in text or "address already in use" in text:
        return DeployError(
            f"port {port} on {host} is already in use by another program or container",
            hint="pick another port with --port, or free that one on the host",
        )
    return DeployError(f"the service's front could not start on {host}: {text[-400:]}")


@dataclass(frozen=True)
class _Failing:
    """What the words for a new container that fails its health check depend on."""

    ref: str
    memory: int | None  # bytes, --memory
    serving: bool  # another version serves the service (and keeps serving)

    @property
    def keeps(self) -> str:
        return "; the previous version keeps serving" if self.serving else ""


def stopped_error(state: dict[str, Any], tail: str, failing: _Failing) -> DeployError:
    """Why a new container stopped (or keeps being restarted) before it was healthy."""
    if state.get("OOMKilled"):
        memory = failing.memory
        limit = f" (--memory {size_words(memory)})" if memory else " (the host's)"
        return DeployError(
            f"the new container stopped right after it started: it ran out of memory{limit}"
            + failing.keeps,
            hint="give it more with --memory, e.g. --memory 1g",
        )
    failure = on_host.load_failure(tail)
    if failure:
        return load_failed_error(failure, failing)
    code = state.get("ExitCode")
    how = f"exit code {code}" if code else "Docker keeps restarting it"
    why = on_host.last_line(tail)
    return DeployError(
        f"the new container stopped right after it started ({how})"
        + (f": {why}" if why else " and logged nothing")
        + failing.keeps,
        hint=f"`modelbay serve {failing.ref}` runs the same version on this machine to try it",
        show_log=bool(tail),
    )


def load_failed_error(reason: str, failing: _Failing) -> DeployError:
    """The runtime in the image could not load the model: waiting longer will not help."""
    if reason.startswith("ModuleNotFoundError"):
        what = "the model was saved with code the image does not have: save it with library "
        what += "classes only, not your own, then import, build and deploy it again"
    else:
        what = "fix what the model needs and build it again"
    return DeployError(
        f"the model failed to load in the image: {reason}{failing.keeps}",
        hint=f"a longer --timeout will not help: {what}; `modelbay serve {failing.ref}` shows "
        "the same on this machine",
    )


def show_log_tail(exc: BaseException, tail: str, name: str, say: Say) -> None:
    """Put a failed container's last log lines in the step log, and say so in the error
    (only when it failed its health check: its log then tells why)."""
    if not isinstance(exc, DeployError) or not exc.show_log or not tail:
        return
    exc.log_tail = tail
    say(f"the last log lines of {name}:")
    for line in tail.splitlines():
        say(f"  {line}")
    where = "its last log lines are shown above and kept: `modelbay deployments --history --json`"
    exc.hint = f"{exc.hint}; {where}" if exc.hint else where


def size_words(size: int) -> str:
    """Bytes as ``--memory`` is written: 8388608 -> ``8m``."""
    for unit, power in (("g", 3), ("m", 2), ("k", 1)):
        if size % 1024**power == 0:
            return f"{size // 1024**power}{unit}"
    return str(size)


def words(exc: BaseException) -> str:
    if isinstance(exc, ModelbayError):
        return exc.message
    return f"{type(exc).__name__}: {exc}"


# ---------------------------------------------------------------------- reconcile
def reconcile_service(
    registry: Registry,
    config: Config,
    host: str,
    state: ServiceOnHost,
    *,
    locked: bool = False,
) -> list[str]:
    """Make the registry agree with the host about ``state.service``; what changed, in words.

    Skipped while another process on this machine deploys the service (``locked``
    says the caller holds the lock itself), and when the front exists but is not
    running (then nobody can tell which backend serves).
    """
    if not locked and _busy(config, host, state.service):
        return []
    if state.front is not None and (state.front.status != "running" or state.target_unknown):
        return []  # nobody can tell which backend serves: touch nothing
    notes: list[str] = []
    current = state.current
    by_uid = {b.uid: b for b in state.backends}
    rows = registry.deployments(host=host, service=state.service, statuses=("deploying", "live"))
    for row in (r for r in rows if not r.settings.get("swarm")):  # swarm.py has its own
        if current is not None and row.uid == current.uid:
            if row.status != "live":
                registry.update_deployment(row.uid, "live")
                notes.append(f"{row.ref} ({row.uid}) is serving: recorded as live")
            continue
        backend = by_uid.pop(row.uid, None)
        if backend is not None:
            _remove(backend.container)
        if row.status == "deploying":
            status, why = "interrupted", "its deploy was cut short"
        elif state.front is None:
            status, why = "stopped", "the service's front is gone from the host"
        else:
            status, why = "retired", "another backend serves"
        registry.update_deployment(row.uid, status, error=row.error or why)
        notes.append(f"{row.ref} ({row.uid}): {status}, {why}")
    for uid, backend in by_uid.items():
        if backend is current or not uid:
            continue
        try:
            registry.deployment(uid)
        except NotFoundError:
            continue  # not ours (another registry's deploy may be running): leave it
        _remove(backend.container)
        notes.append(f"removed {backend.name}, left over from an earlier deploy")
    return notes


def _remove(container: Container) -> None:
    with contextlib.suppress(Exception):
        container.stop(timeout=10)
    with contextlib.suppress(Exception):
        container.remove(force=True)


# ---------------------------------------------------------------------- look
def service_statuses(
    registry: Registry,
    host_names: list[str] | None = None,
    *,
    secrets: SecretStore | None = None,
    prompt: SecretPrompt | None = None,
    config: Config | None = None,
    cancel: CancelToken = NEVER_CANCELLED,
    with_metrics: bool = False,
) -> list[ServiceStatus]:
    """Every service on every host (or the named ones), reconciled with the registry;
    ``with_metrics`` also reads each one's request counters (``/metrics``)."""
    config = config or Config.from_environment()
    secrets = secrets or SecretStore.open()
    names = host_names or sorted(
        {h for h, _ in registry.iter_services()} & {h.name for h in registry.hosts()}
    )
    found: list[ServiceStatus] = []
    for name in names:
        cancel.raise_if_cancelled()
        found += _host_statuses(registry, config, name, secrets, prompt, with_metrics=with_metrics)
        if any(row.settings.get("swarm") for row in registry.deployments(host=name)):
            from .swarm import swarm_service_statuses

            try:
                found += swarm_service_statuses(registry, name, secrets=secrets, prompt=prompt)
            except ModelbayError as exc:
                found.append(ServiceStatus(name, "-", "unreachable", detail=exc.message))
    return found


def _host_statuses(
    registry: Registry,
    config: Config,
    name: str,
    secrets: SecretStore,
    prompt: SecretPrompt | None,
    *,
    with_metrics: bool = False,
) -> list[ServiceStatus]:
    host = registry.get_host(name)
    try:
        with host_docker(host, secrets, prompt) as (session, remote, _):
            services = on_host.read_services(remote)
            for state in services.values():
                reconcile_service(registry, config, name, state)
            services = on_host.read_services(remote)
            if with_metrics:
                return [
                    _with_metrics(_status(registry, name, state), session, secrets)
                    for state in sorted(services.values(), key=lambda s: s.service)
                ]
            return [
                _status(registry, name, state)
                for state in sorted(services.values(), key=lambda s: s.service)
            ]
    except ModelbayError as exc:
        live = registry.deployments(host=name, statuses=("live",))
        return [
            ServiceStatus(
                name,
                row.service,
                "unreachable",
                ref=row.ref,
                uid=row.uid,
                port=row.port,
                public=row.public,
                detail=exc.message,
            )
            for row in live
        ] or [ServiceStatus(name, "-", "unreachable", detail=exc.message)]


def _with_metrics(
    status: ServiceStatus, session: SSHSession, secrets: SecretStore
) -> ServiceStatus:
    if status.port is None or status.ref is None:
        return status
    token = secrets.get(token_entry(status.host, status.service)) if status.public else None
    metrics = on_host.read_metrics(session, status.port, token=token)
    return dataclasses.replace(status, metrics=metrics)


def _status(registry: Registry, host: str, state: ServiceOnHost) -> ServiceStatus:
    current = state.current
    others = []
    for backend in state.backends:
        try:
            registry.deployment(backend.uid)
        except NotFoundError:
            others.append(f"{backend.name} ({backend.ref})")
    if state.front is None:
        return ServiceStatus(
            host,
            state.service,
            "no front",
            detail="the service's front container is missing",
            others=others,
        )
    if state.front.status != "running":
        return ServiceStatus(
            host,
            state.service,
            "stopped",
            port=state.port,
            public=state.public,
            detail=f"the service's front is {state.front.status}",
            others=others,
        )
    if state.target_unknown:
        return ServiceStatus(
            host,
            state.service,
            "unknown",
            port=state.port,
            public=state.public,
            detail="could not ask the front which version it serves (it may be restarting)",
            others=others,
        )
    if current is None:
        return ServiceStatus(
            host,
            state.service,
            "no backend",
            port=state.port,
            public=state.public,
            detail=f"the front points at {state.target or 'nothing'}",
            others=others,
        )
    health = ((current.container.attrs.get("State") or {}).get("Health") or {}).get("Status")
    return ServiceStatus(
        host,
        state.service,
        str(health or current.state),
        ref=current.ref,
        uid=current.uid,
        port=state.port,
        public=state.public,
        started_at=current.started_at,
        others=others,
    )


# ---------------------------------------------------------------------- rollback, stop, logs
def rollback(
    registry: Registry,
    address: str,
    *,
    to: str | None = None,
    **kwargs: Any,
) -> DeployResult:
    """Deploy the version that served before the current one (or ``to``), the same safe way."""
    service, host = parse_address(address)
    registry.get_host(host)  # a host that does not exist is named as such, before the rest
    if to is None and is_swarm(registry, host, service):
        from .swarm import swarm_rollback

        options = kwargs.pop("options", None) or DeployOptions()
        kwargs.pop("progress", None)
        return swarm_rollback(registry, address, timeout=options.timeout, **kwargs)
    history = registry.deployments(host=host, service=service)
    live = next((row for row in history if row.status == "live"), None)
    if to is None:
        if live is None:
            raise ConflictError(
                f"nothing is live as {service}@{host} to roll back from",
                hint=f"deploy one: modelbay deploy NAME:VERSION {host} --name {service}",
            )
        earlier = [
            row
            for row in history
            if row.id < live.id and row.live_at is not None and row.ref != live.ref
        ]
        if not earlier:
            raise ConflictError(
                f"{service}@{host} has served no other version before {live.ref}",
                hint="name the version with --to NAME:VERSION",
            )
        to = earlier[0].ref
    options = kwargs.pop("options", None) or DeployOptions()
    options.service = service
    return deploy(registry, to, host, options, kind="rollback", **kwargs)


def stop(
    registry: Registry,
    address: str,
    *,
    secrets: SecretStore | None = None,
    prompt: SecretPrompt | None = None,
    log: Say | None = None,
    config: Config | None = None,
) -> list[DeploymentInfo]:
    """Stop and remove the service's containers (gracefully); its images stay on the host."""
    service, host_name = parse_address(address)
    if is_swarm(registry, host_name, service):
        from .swarm import swarm_stop

        return swarm_stop(registry, address, secrets=secrets, prompt=prompt, log=log, config=config)
    say = log or (lambda line: None)
    config = config or Config.from_environment()
    host = registry.get_host(host_name)
    stopped: list[DeploymentInfo] = []
    with (
        service_lock(config, host.name, service),
        host_docker(host, secrets, prompt) as (
            _session,
            remote,
            _,
        ),
    ):
        state = on_host.read_services(remote).get(service)
        if state is None:
            raise NotFoundError(
                f"nothing runs as {service} on {host.name}",
                hint="`modelbay deployments` lists what runs where",
            )
        if state.front is not None:
            say(f"stopping {state.front.name}")
            _remove(state.front)
        for backend in state.backends:
            say(f"stopping {backend.name} ({backend.ref}) after its requests finish")
            with contextlib.suppress(Exception):
                backend.container.stop(timeout=STOP_GRACE)
            _remove(backend.container)
    for row in registry.deployments(
        host=host.name, service=service, statuses=("live", "deploying")
    ):
        stopped.append(registry.update_deployment(row.uid, "stopped"))
    return stopped


def logs(
    registry: Registry,
    address: str,
    *,
    follow: bool = False,
    tail: int = 100,
    secrets: SecretStore | None = None,
    prompt: SecretPrompt | None = None,
) -> Iterator[bytes]:
    """The serving backend's log (stdout and stderr), as chunks of bytes."""
    service, host_name = parse_address(address)
    host = registry.get_host(host_name)
    with host_docker(host, secrets, prompt) as (_session, remote, _):
        state = on_host.read_services(remote).get(service)
        backend = state.current if state else None
        if backend is None and state and state.backends:
            backend = state.backends[-1]
        if backend is None:
            raise NotFoundError(
                f"nothing runs as {service} on {host.name}",
                hint="`modelbay deployments` lists what runs where",
            )
        stream = backend.container.logs(stream=True, follow=follow, tail=tail)
        try:
            yield from stream
        finally:
            close = getattr(stream, "close", None)
            if close is not None:
                close()


@contextlib.contextmanager
def open_tunnel(
    registry: Registry,
    address: str,
    *,
    local_port: int = 0,
    secrets: SecretStore | None = None,
    prompt: SecretPrompt | None = None,
) -> Iterator[tuple[Tunnel, ServiceStatus]]:
    """A local port forwarded to the service's front on its host, over the verified session."""
    from app.remote.tunnel import Tunnel

    service, host_name = parse_address(address)
    if is_swarm(registry, host_name, service):
        from .swarm import open_swarm_tunnel

        with open_swarm_tunnel(
            registry, address, local_port=local_port, secrets=secrets, prompt=prompt
        ) as (tunnel, found):
            yield (
                tunnel,
                ServiceStatus(
                    host_name, service, "swarm", ref=found.ref, port=found.port, public=found.public
                ),
            )
        return
    host = registry.get_host(host_name)
    with host_docker(host, secrets, prompt) as (session, remote, _):
        state = on_host.read_services(remote).get(service)
        if state is None or state.front is None or state.port is None:
            raise NotFoundError(
                f"nothing runs as {service} on {host.name}",
                hint="`modelbay deployments` lists what runs where",
            )
        status = _status(registry, host.name, state)
        with Tunnel(session, "127.0.0.1", state.port, local_port=local_port) as tunnel:
            yield tunnel, status
