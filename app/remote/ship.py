"""``modelbay ship``: copy a built image to a host, sending only the layers it lacks.

1. The version's newest verified (or built) image on this machine.
2. The host's Docker (through the verified SSH connection): if it already has
   that image id, nothing is sent. Otherwise, for every image there, its chain
   of layer diff ids; the longest prefix of our chain that one of them shares
   is what the host holds (``docker load`` reuses a layer only with the same
   chain below it, so only a shared prefix counts).
3. When Modelbay composed the image itself (app/build/model_image.py keeps its
   configuration and model layer in the cache) and keeps the runtime image's
   layers the host lacks (app/build/layers.py), an archive of those files goes
   to the host's ``docker load``: no ``docker save`` at all. A new version
   whose runtime the host holds is a few kilobytes.
4. Otherwise ``docker save`` of the image streams through a filter
   (app/remote/archive.py) that drops the ``layer.tar`` of each held layer (its
   folder is known from earlier archives, or the tar is hashed: a diff id is
   the SHA-256 of the layer tar) and into ``docker load`` on the host.
5. The host's image id must equal ours, else the ship failed.

``docker load`` unpacks the whole archive before it registers anything, so a
transfer cut halfway (cancel, a dropped connection, a killed process) leaves
the host as it was, and shipping again starts over cleanly.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from app.build.layers import LayerCache, damaged_files
from app.build.model_image import ImageCache, ImageParts
from app.config import Config
from app.errors import Cancelled, ConflictError, ModelbayError
from app.progress import NEVER_CANCELLED, CancelToken, ProgressCallback, no_progress
from app.units import human_size

from .archive import LayerFolders, filter_archive
from .docker_remote import (
    MAX_API_VERSION,
    RemoteDockerError,
    check_docker,
    docker_client,
    start_relay,
)
from .secrets import SecretPrompt, SecretStore
from .ssh import connect

if TYPE_CHECKING:
    import docker
    import paramiko

    from app.registry import Registry

    from .docker_remote import RemoteDocker
    from .ssh import SSHSession

CHUNK = 1 << 20
# Below this, a ship does not first ask how much space the host has (a few remote commands):
# `docker load` would report a full disk just as clearly.
SPACE_CHECK_FROM = 64 << 20


class ShipFailed(ModelbayError):
    """The transfer or the load on the host failed."""


@dataclass(frozen=True)
class Shippable:
    """A build whose image is on this machine."""

    ref: str
    tag: str
    image_id: str


@dataclass(frozen=True)
class ShipResult:
    host: str
    ref: str
    tag: str
    image_id: str
    bytes_sent: int
    layers_total: int
    layers_sent: int
    seconds: float
    already_there: bool = False

    def to_json(self) -> dict[str, Any]:
        return {
            "host": self.host,
            "ref": self.ref,
            "tag": self.tag,
            "image_id": self.image_id,
            "bytes_sent": self.bytes_sent,
            "layers_total": self.layers_total,
            "layers_sent": self.layers_sent,
            "seconds": round(self.seconds, 3),
            "already_there": self.already_there,
        }


def image_to_ship(registry: Registry, ref: str, local: docker.DockerClient) -> Shippable:
    """The newest build of ``ref`` whose image is still on this machine."""
    return _first_present(_candidates(registry, ref), local)


def _candidates(registry: Registry, ref: str) -> _Candidates:
    """The version's builds that may have an image here, newest first (registry only)."""
    info = registry.get(ref)
    builds = [
        Shippable(build.ref, build.tag, build.image_id)
        for build in registry.builds(info.ref)
        if build.status in {"verified", "built"} and build.image_id
    ]
    return _Candidates(info.ref, builds)


@dataclass(frozen=True)
class _Candidates:
    ref: str
    builds: list[Shippable]


def _first_present(candidates: _Candidates, local: docker.DockerClient) -> Shippable:
    from docker.errors import ImageNotFound

    for build in candidates.builds:
        try:
            local.images.get(build.image_id)
        except ImageNotFound:
            continue
        return build
    raise _nothing_to_ship(candidates)


def _nothing_to_ship(candidates: _Candidates) -> ConflictError:
    return ConflictError(
        f"{candidates.ref} has no image on this machine to ship",
        hint=f"build one first: modelbay build {candidates.ref}",
    )


def ship(
    registry: Registry,
    ref: str,
    host_name: str,
    *,
    secrets: SecretStore | None = None,
    prompt: SecretPrompt | None = None,
    log: Callable[[str], None] | None = None,
    progress: ProgressCallback = no_progress,
    cancel: CancelToken = NEVER_CANCELLED,
    config: Config | None = None,
) -> ShipResult:
    """Ship ``ref``'s image to ``host_name``.

    The host's relay to its Docker starts right after the login, and this side looks for
    the image in the local daemon while it starts (both take a fifth of a second). The
    host's free space is checked only when enough is sent to matter."""
    say = log or (lambda line: None)
    host = registry.get_host(host_name)
    candidates = _candidates(registry, ref)
    if not candidates.builds:
        raise _nothing_to_ship(candidates)
    try:
        session = connect(host, secrets=secrets, prompt=prompt)
    except Exception:
        _local_image(candidates)[0].close()  # "no image here" says more than a host we did not need
        raise
    with session:
        relay = start_relay(session)
        local, build = _local_image(candidates)
        try:
            remote = _remote_client(session, say, relay)
            checked: list[RemoteDocker] = []

            def free_bytes() -> int | None:
                if not checked:
                    checked.append(check_docker(session))
                return checked[0].free_bytes

            try:
                result = _send(
                    build,
                    local,
                    session,
                    remote,
                    free_bytes,
                    say=say,
                    progress=progress,
                    cancel=cancel,
                    config=config,
                )
            finally:
                remote.api.close()
        finally:
            local.close()
    record_shipment(registry, result)
    return result


def _local_image(candidates: _Candidates) -> tuple[docker.DockerClient, Shippable]:
    from app.build import engine

    local = engine.connect()
    try:
        return local, _first_present(candidates, local)
    except BaseException:
        local.close()
        raise


def _remote_client(
    session: SSHSession, say: Callable[[str], None], relay: paramiko.Channel | None = None
) -> docker.DockerClient:
    """A client of the host's Docker at the newest API version Modelbay speaks, or the
    host's own if older. When the host's Docker does not answer, ``check_docker`` (which
    runs the ``docker`` command there) says why. ``relay``: a started relay to use first."""
    remote = docker_client(session, MAX_API_VERSION, relay=relay)
    try:
        version = remote.api.version(api_version=False)
        api_version, name = str(version["ApiVersion"]), str(version["Version"])
    except Exception:  # noqa: BLE001 - the check's message says what is wrong, if anything
        remote.api.close()
        info = check_docker(session)
        api_version, name = info.api_version, info.version
        remote = docker_client(session, api_version)
    else:
        if _api_tuple(api_version) < _api_tuple(MAX_API_VERSION):
            remote.api.close()
            remote = docker_client(session, api_version)
    say(f"{session.host.name}: Docker {name}")
    return remote


def _api_tuple(text: str) -> tuple[int, ...]:
    return tuple(int(part) for part in text.split(".")[:2])


def send_image(
    build: Shippable,
    local: docker.DockerClient,
    session: SSHSession,
    remote: docker.DockerClient,
    free_bytes: int | None,
    *,
    say: Callable[[str], None],
    progress: ProgressCallback = no_progress,
    cancel: CancelToken = NEVER_CANCELLED,
    config: Config | None = None,
) -> ShipResult:
    """Ship ``build`` over an open session to the host's Docker (``remote``)."""
    return _send(
        build,
        local,
        session,
        remote,
        lambda: free_bytes,
        say=say,
        progress=progress,
        cancel=cancel,
        config=config,
    )


def _send(
    build: Shippable,
    local: docker.DockerClient,
    session: SSHSession,
    remote: docker.DockerClient,
    free_bytes: Callable[[], int | None],
    *,
    say: Callable[[str], None],
    progress: ProgressCallback = no_progress,
    cancel: CancelToken = NEVER_CANCELLED,
    config: Config | None = None,
) -> ShipResult:
    started = time.monotonic()
    image = local.images.get(build.image_id)
    chain = list(image.attrs["RootFS"]["Layers"])
    say(f"shipping {build.tag} ({build.image_id[:19]}, {len(chain)} layers) to {session.host.name}")
    config = config or Config.from_environment()
    folders = LayerFolders(config.cache_dir / "layer-folders.json")
    composed = ImageCache(config.cache_dir).get(build.image_id)
    shipment = _Shipment(
        build,
        image,
        chain,
        session,
        remote,
        say,
        started,
        folders,
        composed,
        LayerCache(config.cache_dir),
    )
    try:
        return shipment.run(free_bytes, progress, cancel)
    finally:
        shipment.close()


def record_shipment(registry: Registry, result: ShipResult) -> None:
    """An event in the version's history, when bytes were sent."""
    if result.already_there:
        return
    registry.log_event(
        "image.shipped",
        registry.get(result.ref),
        {
            "host": result.host,
            "tag": result.tag,
            "image_id": result.image_id,
            "bytes_sent": result.bytes_sent,
        },
    )


@dataclass
class _Shipment:
    build: Shippable
    image: Any
    chain: list[str]
    session: SSHSession
    remote: docker.DockerClient
    say: Callable[[str], None]
    started: float
    folders: LayerFolders
    composed: ImageParts | None  # the image's own parts, when Modelbay composed it here
    layers: LayerCache  # the runtime images' layer tars
    save: _Prefetched | None = None  # the `docker save` stream, once requested

    def close(self) -> None:
        if self.save is not None:
            self.save.close()

    def result(self, sent: int, layers_sent: int, *, already: bool = False) -> ShipResult:
        b = self.build
        return ShipResult(
            self.session.host.name,
            b.ref,
            b.tag,
            b.image_id,
            sent,
            len(self.chain),
            layers_sent,
            time.monotonic() - self.started,
            already_there=already,
        )

    def run(
        self, free_bytes: Callable[[], int | None], progress: ProgressCallback, cancel: CancelToken
    ) -> ShipResult:
        host, build, remote = self.session.host.name, self.build, self.remote
        if _has_image(remote, build.image_id):
            _tag(remote, build)
            self.say(f"{host} already has {build.image_id[:19]}: nothing to send")
            return self.result(0, 0, already=True)
        if self.composed is not None:
            held = _held_prefix(remote, self.chain)
            files = self.files_to_send(self.composed, held)
            if files is not None:
                try:
                    return self.send_composed(files, held, free_bytes, progress, cancel)
                except ShipFailed:
                    damaged = damaged_files(files)
                    if not damaged:
                        raise
                    for path in damaged:
                        path.unlink(missing_ok=True)
                    self.say(
                        f"{len(damaged)} cached layer file(s) no longer matched their hash and "
                        "were removed; sending through docker save instead"
                    )
        else:
            held = -1
        sizes = _layer_sizes(self.image, len(self.chain))  # before the daemon gets busy
        # Docker spends seconds preparing a save before its first byte: let it work while
        # the host is asked which layers it has.
        self.save = _Prefetched(self.image.save(chunk_size=CHUNK, named=True))
        if held < 0:
            held = _held_prefix(remote, self.chain)
        to_send = sum(sizes[held:])
        self.say(
            f"{host} holds {held} of {len(self.chain)} layers; about {to_send / 1e6:.0f} MB to send"
        )
        _check_space(host, free_bytes(), to_send)
        save = self.save

        def send(write: Callable[[bytes | memoryview], object]) -> int:
            layers_sent, manifest = filter_archive(
                save,
                write,
                skip=set(self.chain[:held]),
                folders=self.folders,
                check=cancel.raise_if_cancelled,
            )
            self.folders.learn(manifest, self.chain)
            return layers_sent

        return self.load(send, to_send, progress, cancel)

    def files_to_send(self, parts: ImageParts, held: int) -> dict[str, Path] | None:
        """The files of the layers the host lacks (diff id -> file), when all are here: the
        model layer from the composed image, the runtime image's from the layer cache."""
        files = {self.chain[-1]: parts.layer_path} if held < len(self.chain) else {}
        runtime_layers = self.chain[held:-1]
        if self.layers.missing(runtime_layers):
            return None
        return {**{d: self.layers.path(d) for d in runtime_layers}, **files}

    def send_composed(
        self,
        files: dict[str, Path],
        held: int,
        free_bytes: Callable[[], int | None],
        progress: ProgressCallback,
        cancel: CancelToken,
    ) -> ShipResult:
        """Send the configuration and the layers the host lacks from Modelbay's cache, as a
        ``docker load`` archive (no ``docker save``)."""
        to_send = sum(path.stat().st_size for path in files.values())
        what = f"{len(files)} layer{'s' if len(files) != 1 else ''} and " if files else ""
        self.say(
            f"{self.session.host.name} holds {held} of {len(self.chain)} layers; sending "
            f"{what}the image configuration ({human_size(to_send)})"
        )
        if to_send >= SPACE_CHECK_FROM:
            _check_space(self.session.host.name, free_bytes(), to_send)
        assert self.composed is not None
        archive = self.composed.archive(tags=[self.build.tag], layers=files)
        return self.load_through_api(archive, len(files), to_send, progress, cancel)

    def load_through_api(
        self,
        archive: Iterator[bytes],
        layers_sent: int,
        to_send: int,
        progress: ProgressCallback,
        cancel: CancelToken,
    ) -> ShipResult:
        """Post ``archive`` to the host's Engine API (``docker load`` without starting the
        command there: the API connection is already open). A body cut short is refused
        by the daemon as a whole, as ``docker load`` does."""
        from docker.errors import APIError
        from requests import RequestException

        host = self.session.host.name
        sender = _Sender(None, to_send, progress, cancel)

        def body() -> Iterator[bytes]:
            for chunk in archive:
                sender.write(chunk)
                yield chunk

        try:
            messages = list(self.remote.api.load_image(body(), quiet=True))
        except Cancelled:
            self.say("cancelled: the host discards the partial archive")
            raise
        except APIError as exc:
            raise _load_failed(host, str(exc.explanation or exc)) from None
        except (OSError, EOFError, RequestException) as exc:
            raise ShipFailed(
                f"the connection to {host} broke during the transfer ({exc}); the host "
                "discards the partial archive",
                hint="ship again: it starts over cleanly",
            ) from None
        errors = [str(m["error"]) for m in messages if isinstance(m, dict) and m.get("error")]
        if errors:
            raise _load_failed(host, errors[-1])
        return self.verified(sender.count, layers_sent)

    def load(
        self,
        send: Callable[[Callable[[bytes | memoryview], object]], int],
        to_send: int,
        progress: ProgressCallback,
        cancel: CancelToken,
    ) -> ShipResult:
        """Run ``docker load`` on the host, ``send`` the archive into it, check the result."""
        host = self.session.host.name
        channel = self.session.open_exec("docker load")
        sender = _Sender(channel, to_send, progress, cancel)
        try:
            layers_sent = send(sender.write)
            channel.shutdown_write()
            status, output = _finish(channel)
        except Cancelled:
            channel.close()
            self.say("cancelled: the host discards the partial archive")
            raise
        except (OSError, EOFError) as exc:
            channel.close()
            raise ShipFailed(
                f"the connection to {host} broke during the transfer ({exc}); the host "
                "discards the partial archive",
                hint="ship again: it starts over cleanly",
            ) from None
        except BaseException:
            channel.close()
            raise
        if status != 0:
            raise _load_failed(host, output)
        return self.verified(sender.count, layers_sent)

    def verified(self, sent: int, layers_sent: int) -> ShipResult:
        """The host must now have our image id; it gets our tag."""
        host, build, remote = self.session.host.name, self.build, self.remote
        if not _has_image(remote, build.image_id):
            raise ShipFailed(
                f"{host} loaded the archive, but has no image {build.image_id[:19]} afterwards",
                hint="compare `docker images` on both machines; ship again",
            )
        _tag(remote, build)
        result = self.result(sent, layers_sent)
        self.say(
            f"{host} has {build.tag} ({build.image_id[:19]}): {human_size(sent)} "
            f"sent, {layers_sent} of {len(self.chain)} layers, {result.seconds:.1f} s"
        )
        return result


def _check_space(host: str, free_bytes: int | None, to_send: int) -> None:
    if free_bytes is not None and free_bytes < 2 * to_send:  # load unpacks, then stores
        raise ShipFailed(
            f"{host} has {free_bytes / 1e9:.1f} GB free where Docker keeps images, and "
            f"loading this image needs about {2 * to_send / 1e9:.1f} GB",
            hint=f"free space on {host} (docker image prune, docker system df)",
        )


def _has_image(remote: docker.DockerClient, image_id: str) -> bool:
    from docker.errors import ImageNotFound

    try:
        return str(remote.images.get(image_id).id) == image_id
    except ImageNotFound:
        return False


def _tag(remote: docker.DockerClient, build: Shippable) -> None:
    repository, _, tag = build.tag.rpartition(":")
    remote.api.tag(build.image_id, repository, tag)


def _held_prefix(remote: docker.DockerClient, chain: list[str]) -> int:
    """How many of ``chain``'s first layers the host holds with the same layers below."""
    best = 0
    for summary in remote.api.images(all=True):
        layers = remote.api.inspect_image(summary["Id"]).get("RootFS", {}).get("Layers") or []
        shared = 0
        for mine, theirs in zip(chain, layers, strict=False):
            if mine != theirs:
                break
            shared += 1
        best = max(best, shared)
    return best


def _layer_sizes(image: Any, count: int) -> list[int]:
    """Per layer (oldest first), its size as ``docker history`` reports it (an estimate)."""
    sizes = [int(h.get("Size") or 0) for h in reversed(image.history())]
    with_content = [s for s in sizes if s > 0]
    padded = with_content + [0] * max(0, count - len(with_content))
    return padded[:count] if len(with_content) >= count else padded


class _Sender:
    """Writes to the channel (if any) in big pieces, counting bytes and reporting progress."""

    def __init__(
        self, channel: Any, expected: int, progress: ProgressCallback, cancel: CancelToken
    ) -> None:
        self.channel = channel
        self.expected = max(expected, 1)
        self.progress = progress
        self.cancel = cancel
        self.count = 0
        self.started = time.monotonic()
        self._last = 0.0

    def write(self, data: bytes | memoryview) -> int:
        self.cancel.raise_if_cancelled()
        if self.channel is not None:  # else the caller sends it
            self.channel.sendall(data)
        self.count += len(data)
        now = time.monotonic()
        if now - self._last > 0.2:
            self._last = now
            rate = self.count / max(now - self.started, 1e-6)
            left = max(self.expected - self.count, 0) / rate if rate else 0
            self.progress(
                min(self.count, self.expected),
                self.expected,
                f"{self.count / 1e6:.0f} of ~{self.expected / 1e6:.0f} MB, {rate / 1e6:.0f} MB/s, "
                f"about {left:.0f} s left",
            )
        return len(data)

    def flush(self) -> None:
        pass


def _finish(channel: Any) -> tuple[int, str]:
    out = bytearray()
    while True:
        chunk = channel.recv(65536)
        if not chunk:
            break
        out += chunk
    err = bytearray()
    while channel.recv_stderr_ready():
        err += channel.recv_stderr(65536)
    status = channel.recv_exit_status()
    channel.close()
    return status, (bytes(out) + bytes(err)).decode("utf-8", "replace")


def _load_failed(host: str, output: str) -> ModelbayError:
    text = output.strip()
    if "no space left" in text.lower():
        return ShipFailed(
            f"{host} ran out of disk space while loading the image",
            hint=f"free space on {host} (docker image prune, docker system df), then ship again",
        )
    if "permission denied" in text.lower():
        return RemoteDockerError(f"`docker load` on {host} was refused: {text[-300:]}")
    return ShipFailed(f"`docker load` on {host} failed: {text[-500:] or 'no output'}")


__all__ = [
    "ShipFailed",
    "ShipResult",
    "Shippable",
    "image_to_ship",
    "record_shipment",
    "send_image",
    "ship",
]


class _Prefetched:
    """Iterates a stream whose first item is fetched at once, on another thread."""

    def __init__(self, stream: Iterator[bytes]) -> None:
        self.stream = stream
        self.first: list[bytes] = []
        self.error: BaseException | None = None
        self.thread = threading.Thread(target=self._fetch, name="docker-save", daemon=True)
        self.thread.start()

    def _fetch(self) -> None:
        try:
            self.first.append(next(self.stream))
        except StopIteration:
            pass
        except BaseException as exc:  # noqa: BLE001 - handed to the consuming thread
            self.error = exc

    def __iter__(self) -> Iterator[bytes]:
        self.thread.join()
        if self.error is not None:
            raise self.error
        yield from self.first
        yield from self.stream

    def close(self) -> None:
        self.thread.join(timeout=60)
        close = getattr(self.stream, "close", None)
        if close is not None and not self.thread.is_alive():
            close()
