"""The local Docker daemon, through the Docker SDK: connect, probe, build, inspect.

``DOCKER_HOST`` (and the rest of Docker's environment) is honoured, as the
``docker`` command does. Every failure of the daemon itself becomes a
:class:`DockerUnavailable` that says how to start it.
"""

from __future__ import annotations

import contextlib
import json
import re
import socket
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import IO, TYPE_CHECKING, Any

from app.errors import Cancelled, InvalidInputError, ModelbayError
from app.progress import NEVER_CANCELLED, CancelToken, ProgressCallback, no_progress

from .wheelhouse import PROBE_SCRIPT, Target

if TYPE_CHECKING:
    import docker

_STEP = re.compile(r"^Step (\d+)/(\d+) : (.*)$")


class DockerUnavailable(ModelbayError):
    """The Docker daemon cannot be reached or refuses us."""


class BuildFailed(ModelbayError):
    """``docker build`` stopped with an error (the log says which step)."""

    def __init__(
        self, message: str, *, hint: str | None = None, log_tail: list[str] | None = None
    ) -> None:
        super().__init__(message, hint=hint)
        self.log_tail = log_tail or []


def connect(timeout: int = 60) -> docker.DockerClient:
    """A client for the daemon of the environment (``DOCKER_HOST`` or the default socket)."""
    import docker
    from docker.errors import DockerException

    try:
        client = docker.from_env(version="auto", timeout=timeout)
        client.ping()
    except DockerException as exc:
        error = daemon_error(exc)
    else:
        return client
    _forget_failed_connection()  # once the traceback holding the socket is gone
    raise error


def _forget_failed_connection() -> None:
    """docker-py drops the socket of a refused connection without closing it; collect it
    now, quietly, rather than let a ResourceWarning surface later somewhere unrelated."""
    import gc
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ResourceWarning)
        gc.collect()


def daemon_error(exc: Exception) -> DockerUnavailable:
    text = str(exc)
    if "Permission denied" in text or "PermissionError" in text:
        return DockerUnavailable(
            "Docker is running but this user may not use it (permission denied on its socket)",
            hint="add yourself to the docker group (sudo usermod -aG docker $USER, then log in "
            "again), or set DOCKER_HOST to a daemon you may use",
        )
    where = _docker_host()
    return DockerUnavailable(
        f"cannot reach the Docker daemon at {where}: it is not running or not installed",
        hint="start Docker (Docker Desktop, or `sudo systemctl start docker` on Linux) and "
        "try again; set DOCKER_HOST if your daemon listens elsewhere",
    )


def _docker_host() -> str:
    import os

    return os.environ.get("DOCKER_HOST") or "unix:///var/run/docker.sock"


def probe_target(client: docker.DockerClient, base_image: str) -> tuple[Target, str]:
    """The Python inside ``base_image`` (for pip) and the image's id. The image must be here."""
    from docker.errors import ImageNotFound

    try:
        image = client.images.get(base_image)
    except ImageNotFound:
        raise InvalidInputError(
            f"the base image {base_image} is not on this machine",
            hint=f"`docker pull {base_image}` first (builds never pull by themselves), or "
            "choose another with --base-image or in Settings",
        ) from None
    output = _run_probe(client, str(image.id), base_image)
    try:
        found = json.loads(output.decode().strip().splitlines()[-1])
        target = Target(**{key: str(found[key]) for key in Target.__dataclass_fields__})
    except (ValueError, KeyError, IndexError):
        raise InvalidInputError(
            f"could not read the Python version of {base_image}: {output[:200]!r}"
        ) from None
    return target, str(image.id)


_NEEDS_PYTHON = "use an image with Python 3.9+ and its venv module, such as python:3.11-slim"


def _run_probe(client: docker.DockerClient, image_id: str, base_image: str) -> bytes:
    """Run the probe script with the image's ``python3``; its stdout. The container is
    removed whatever happens (``containers.run(remove=True)`` leaves one that could not
    start behind, in state Created)."""
    from docker.errors import APIError

    container = client.containers.create(
        image_id, ["python3", "-c", PROBE_SCRIPT], network_disabled=True
    )
    try:
        try:
            container.start()
        except APIError as exc:
            text = str(exc.explanation or exc)
            if "executable file not found" in text or "no such file or directory" in text:
                raise InvalidInputError(
                    f"the base image {base_image} has no python3 (the container could not "
                    "start it)",
                    hint=_NEEDS_PYTHON,
                ) from None
            raise InvalidInputError(
                f"a container of the base image {base_image} could not start: {text[-300:]}",
                hint=_NEEDS_PYTHON,
            ) from None
        code = int(container.wait().get("StatusCode", 1))
        if code != 0:
            raise InvalidInputError(
                f"the base image {base_image} has no working python3 (exit code {code})",
                hint=_NEEDS_PYTHON,
            )
        return bytes(container.logs(stdout=True, stderr=False))
    finally:
        with contextlib.suppress(APIError):
            container.remove(force=True)


@dataclass
class BuildOutput:
    image_id: str
    steps: int
    cached_steps: int
    log: list[str]


def build(
    client: docker.DockerClient,
    context: IO[bytes],
    *,
    tag: str,
    log: Callable[[str], None],
    progress: ProgressCallback = no_progress,
    cancel: CancelToken = NEVER_CANCELLED,
) -> BuildOutput:
    """Run ``docker build`` on a tar context, streaming its log; cancel stops the daemon's build."""
    api = client.api
    context.seek(0)
    response = api._post(  # the SDK's own build() hides the socket that cancel must close
        api._url("/build"),
        data=context,
        params={"t": tag, "rm": True, "forcerm": True, "pull": False},
        headers={"Content-Type": "application/tar"},
        stream=True,
        timeout=None,
    )
    if response.status_code >= 400:
        api._raise_for_status(response)
    done = threading.Event()
    watcher = threading.Thread(
        target=_abort_on_cancel, args=(response, cancel, done), name="build-cancel", daemon=True
    )
    watcher.start()
    state = _BuildState(log, progress)
    try:
        for chunk in _events(api, response):
            state.feed(chunk)
    except ModelbayError:
        raise
    except Exception as exc:  # noqa: BLE001 - socket, urllib3 and requests errors alike
        if cancel.cancelled:
            raise Cancelled() from None
        raise _build_failed(
            f"the connection to Docker broke during the build ({exc})", state.lines
        ) from None
    finally:
        done.set()
        response.close()
    if cancel.cancelled:
        raise Cancelled()
    if not state.image_id:
        raise _build_failed("Docker finished without naming the image it built", state.lines)
    progress(state.total, state.total, "built")
    return BuildOutput(
        image_id=state.image_id, steps=state.total, cached_steps=state.cached, log=state.lines
    )


class _BuildState:
    """Reads the daemon's JSON messages: log lines, steps, cache hits, the image id, errors."""

    def __init__(self, log: Callable[[str], None], progress: ProgressCallback) -> None:
        self.log = log
        self.progress = progress
        self.lines: list[str] = []
        self.image_id = ""
        self.total = self.cached = 0

    def feed(self, chunk: dict[str, Any]) -> None:
        if "error" in chunk:
            detail = chunk.get("errorDetail", {}).get("message") or chunk["error"]
            raise _build_failed(str(detail).strip(), self.lines)
        aux = chunk.get("aux")
        if isinstance(aux, dict) and "ID" in aux:
            self.image_id = str(aux["ID"])
        text = chunk.get("stream")
        if isinstance(text, str):
            for line in text.splitlines():
                if line.strip():
                    self._line(line)

    def _line(self, line: str) -> None:
        self.lines.append(line)
        self.log(line)
        match = _STEP.match(line)
        if match:
            step, self.total = int(match.group(1)), int(match.group(2))
            self.progress(step - 1, self.total, f"step {step}/{self.total}: {match.group(3)[:80]}")
        elif "Using cache" in line:
            self.cached += 1
        elif line.startswith("Successfully built ") and not self.image_id:
            self.image_id = line.rsplit(maxsplit=1)[-1]


def _events(api: Any, response: Any) -> Iterator[dict[str, Any]]:
    for item in api._stream_helper(response, decode=True):
        if isinstance(item, dict):
            yield item


def _abort_on_cancel(response: Any, cancel: CancelToken, done: threading.Event) -> None:
    """Closing the connection is how a client cancels a classic build; shutting the socket
    down also wakes the thread blocked reading it."""
    while not done.wait(0.1):
        if cancel.cancelled:
            try:
                raw = response.raw._fp.fp.raw
                sock = getattr(raw, "_sock", raw)
                sock.shutdown(socket.SHUT_RDWR)
            except (AttributeError, OSError):
                response.close()
            return


def _build_failed(message: str, lines: list[str]) -> BuildFailed:
    tail = lines[-15:]
    step = next((line for line in reversed(lines) if _STEP.match(line)), None)
    where = f" at {step}" if step else ""
    return BuildFailed(
        f"the image build failed{where}: {message}",
        hint="the build log above shows the step's output",
        log_tail=tail,
    )


def image_facts(client: docker.DockerClient, image_id: str) -> dict[str, Any]:
    """Size, layer digests and labels of a built image."""
    attrs = client.images.get(image_id).attrs
    return {
        "size": int(attrs.get("Size") or 0),
        "layers": list((attrs.get("RootFS") or {}).get("Layers") or []),
        "labels": dict((attrs.get("Config") or {}).get("Labels") or {}),
    }
