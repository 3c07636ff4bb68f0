"""After a build: start the image, wait for /health, send one request, stop it.

The request is made from the version's reference profile when there is one
(a row of typical values), otherwise from its signature (zeros of the right
shape). A version with neither gets only the health check, and the result
says so rather than pretending more was checked.
"""

from __future__ import annotations

import contextlib
import json
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from app.progress import NEVER_CANCELLED, CancelToken

from .context import SERVER_PORT

LOAD_FAILED = "modelbay-serving: cannot load "  # the runtime's log line (app/serving/server.py)

if TYPE_CHECKING:
    import docker


@dataclass
class SmokeResult:
    ok: bool
    reason: str
    seconds_to_healthy: float | None = None
    request: dict[str, Any] | None = None
    status: int | None = None
    response: str = ""
    log_tail: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "reason": self.reason,
            "seconds_to_healthy": self.seconds_to_healthy,
            "request": self.request,
            "status": self.status,
            "response": self.response,
            "log_tail": self.log_tail,
        }


def sample_request(
    signature: dict[str, Any] | None, profile: dict[str, Any] | None
) -> dict[str, Any] | None:
    """One row the model should accept, as an MLflow-style JSON body (None: cannot tell)."""
    columns = (profile or {}).get("columns")
    if isinstance(columns, dict) and columns:
        names, row = [], []
        for name, column in columns.items():
            names.append(name)
            if column.get("kind") == "numeric" and column.get("bin_edges"):
                edges = column["bin_edges"]
                row.append(edges[len(edges) // 2])
            elif column.get("categories"):
                row.append(column["categories"][0])
            else:
                row.append(0.0)
        return {"dataframe_split": {"columns": names, "data": [row]}}
    signature = signature or {}
    inputs = signature.get("inputs") or []
    if len(inputs) == 1 and isinstance(inputs[0].get("shape"), list):
        shape = inputs[0]["shape"]
        if len(shape) == 2 and isinstance(shape[1], int):
            return {"instances": [[0.0] * shape[1]]}
    if inputs and all(isinstance(i.get("name"), str) and not i.get("shape") for i in inputs):
        row = ["" if str(i.get("type")) in {"string", "str"} else 0.0 for i in inputs]
        return {"dataframe_split": {"columns": [i["name"] for i in inputs], "data": [row]}}
    count = signature.get("n_features")
    if isinstance(count, int) and count > 0:
        return {"instances": [[0.0] * count]}
    return None


def smoke_test(
    client: docker.DockerClient,
    image_id: str,
    body: dict[str, Any] | None,
    *,
    timeout: float = 120.0,
    cancel: CancelToken = NEVER_CANCELLED,
) -> SmokeResult:
    """Run the image on a loopback port, check /health and one prediction, remove it."""
    from docker.errors import DockerException

    try:
        container = client.containers.run(
            image_id,
            detach=True,
            ports={f"{SERVER_PORT}/tcp": ("127.0.0.1", None)},
            labels={"org.modelbay.smoke-test": "1"},
        )
    except DockerException as exc:
        return SmokeResult(ok=False, reason=f"the container did not start: {exc}")
    try:
        return _check(container, body, timeout, cancel)
    finally:
        with contextlib.suppress(DockerException):
            container.remove(force=True)


def _check(
    container: Any, body: dict[str, Any] | None, timeout: float, cancel: CancelToken
) -> SmokeResult:
    start = time.monotonic()
    waited = _wait_healthy(container, timeout, cancel)
    if isinstance(waited, SmokeResult):
        return waited
    base = waited
    healthy = round(time.monotonic() - start, 2)
    if body is None:
        return SmokeResult(
            ok=True,
            reason="healthy; no request sent (the version has no signature or reference "
            "profile to build one from)",
            seconds_to_healthy=healthy,
        )
    status, text = _post(base + "/invocations", body)
    result = SmokeResult(
        ok=False,
        reason="",
        seconds_to_healthy=healthy,
        request=body,
        status=status,
        response=text[:500],
    )
    if status != 200:
        result.reason = f"the test request got HTTP {status}: {text[:200]}"
        result.log_tail = _logs(container)
        return result
    try:
        predictions = json.loads(text)["predictions"]
    except (ValueError, KeyError, TypeError):
        result.reason = "the test request's answer has no predictions"
        return result
    result.ok = True
    result.reason = (
        f"healthy in {healthy} s; one request answered with {len(predictions)} prediction"
    )
    return result


def _wait_healthy(container: Any, timeout: float, cancel: CancelToken) -> str | SmokeResult:
    """The container's base URL once /health answers 200, or why it never will: it
    exited, or its model failed to load (then the runtime stays up and says so on
    /health), both known at once, or the timeout passed."""
    start = time.monotonic()
    base = ""
    while True:
        cancel.raise_if_cancelled()
        container.reload()
        if container.status in {"exited", "dead"}:
            state = container.attrs.get("State") or {}
            tail = _logs(container)
            return SmokeResult(ok=False, reason=_exit_reason(state, tail), log_tail=tail)
        if not base:
            bindings = (container.attrs.get("NetworkSettings") or {}).get("Ports") or {}
            bound = bindings.get(f"{SERVER_PORT}/tcp") or []
            if bound:
                base = f"http://127.0.0.1:{bound[0]['HostPort']}"
        if base:
            status, answer = _get(base + "/health")
            if status == 200:
                return base
            load_error = _load_error(answer)
            if load_error:
                return SmokeResult(
                    ok=False, reason=load_failed(load_error), log_tail=_logs(container)
                )
        if time.monotonic() - start > timeout:
            tail = _logs(container)
            why = _last_line(tail)
            return SmokeResult(
                ok=False,
                reason=f"/health did not answer 200 within {timeout:.0f} s"
                + (f"; the container's last log line: {why}" if why else ""),
                log_tail=tail,
            )
        time.sleep(0.2)


def _get(url: str) -> tuple[int | None, bytes]:
    try:
        with urllib.request.urlopen(url, timeout=2) as response:  # noqa: S310 - loopback http
            return int(response.status), response.read()
    except urllib.error.HTTPError as exc:
        try:
            return exc.code, exc.read()
        except OSError:
            return exc.code, b""
    except (OSError, ValueError):
        return None, b""


def _load_error(answer: bytes) -> str | None:
    """The runtime's reason when its model failed to load: ``/health`` then answers 503
    with ``{"status": "failed", "error": ...}`` (app/serving/server.py)."""
    try:
        found = json.loads(answer)
    except ValueError:
        return None
    if isinstance(found, dict) and found.get("status") == "failed" and found.get("error"):
        return str(found["error"])
    return None


def load_failed(error: str) -> str:
    """The runtime's load error as the reason of a failed smoke test, with what to do."""
    reason = f"the model failed to load in the image: {error}"
    if error.startswith("ModuleNotFoundError"):
        reason += (
            " (the model was saved with code the image does not have: save it with library "
            "classes only, not your own, then import it again)"
        )
    return reason


def _exit_reason(state: dict[str, Any], tail: list[str]) -> str:
    """Why the container stopped before it was healthy, in one line."""
    code = state.get("ExitCode")
    if state.get("OOMKilled"):
        return f"the container ran out of memory (exit code {code}) before it was healthy"
    for line in reversed(tail):
        if line.strip().startswith(LOAD_FAILED):
            return load_failed(line.strip().removeprefix(LOAD_FAILED).partition(": ")[2])
    why = _last_line(tail)
    return f"the container exited (code {code}) before it was healthy" + (
        f": {why}" if why else " and logged nothing"
    )


def _last_line(tail: list[str]) -> str | None:
    lines = [line.strip() for line in tail if line.strip()]
    return lines[-1][:300] if lines else None


def _post(url: str, body: dict[str, Any]) -> tuple[int, str]:
    request = urllib.request.Request(  # noqa: S310 - an http URL we made
        url, data=json.dumps(body).encode(), headers={"Content-Type": "application/json"}
    )
    try:
        with urllib.request.urlopen(request, timeout=30) as response:  # noqa: S310 - loopback
            return int(response.status), response.read().decode("utf-8", "replace")
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode("utf-8", "replace")
    except OSError as exc:
        return 0, f"no answer: {exc}"


def _logs(container: Any) -> list[str]:
    try:
        text = str(container.logs(tail=20).decode("utf-8", "replace"))
    except Exception:  # noqa: BLE001 - logs are a courtesy in an error path
        return []
    return text.splitlines()[-20:]


__all__ = ["SmokeResult", "sample_request", "smoke_test"]
