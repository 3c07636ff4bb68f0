"""The HTTP server: MLflow's scoring protocol plus health, metadata, metrics and monitoring.

Every response names the model and version that answered (``X-Model-Name``,
``X-Model-Version``, ``X-Model-Sha256``). Bad input is a 4xx with a message
that names the problem, never a traceback; a body over the limit is a 413; a
prediction that takes longer than the per-request timeout is a 504.

With ``MODELBAY_TOKEN`` set, every endpoint but ``/ping`` and ``/health`` (which
health checks and the front's ``switch`` must reach without it) wants
``Authorization: Bearer <token>`` and answers a 401 without it. The token is read
from the environment only, never from a command-line flag (``ps`` would show it),
and it is never logged.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import os
import signal
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from app.serving import RUNTIME_VERSION
from app.serving.batching import BatchingPredictor
from app.serving.errors import BadInput
from app.serving.inputs import fit_to_signature, parse_body
from app.serving.model import ModelFolder
from app.serving.monitor import Windows

MB = 1024 * 1024
AUTHORIZATION_HINT = (
    "send Authorization: Bearer <token>; the token is in the deploying user's keyring "
    "(see `modelbay deployments`)"
)

OPEN_PATHS = frozenset({"/ping", "/health"})  # what health checks reach without the token

Endpoint = Callable[[Request], Awaitable[Response]]


@dataclass
class Settings:
    model_dir: Path
    state_dir: Path
    max_body_bytes: int = 50 * MB
    timeout_seconds: float = 30.0
    window_seconds: float = 60.0
    windows_kept: int = 1440
    reservoir: int = 500
    monitoring: bool = True
    image_tag: str | None = None
    token: str | None = field(default=None, repr=False)  # a secret: kept out of reprs and logs
    extra: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_environment(cls) -> Settings:
        env = os.environ
        return cls(
            model_dir=Path(env.get("MODELBAY_MODEL_DIR", "/model")),
            state_dir=Path(env.get("MODELBAY_STATE_DIR", "/tmp/modelbay-serving")),  # noqa: S108
            max_body_bytes=int(env.get("MODELBAY_MAX_BODY_MB", "50")) * MB,
            timeout_seconds=float(env.get("MODELBAY_REQUEST_TIMEOUT", "30")),
            window_seconds=float(env.get("MODELBAY_WINDOW_SECONDS", "60")),
            windows_kept=int(env.get("MODELBAY_WINDOWS_KEPT", "1440")),
            reservoir=int(env.get("MODELBAY_RESERVOIR", "500")),
            monitoring=env.get("MODELBAY_MONITORING", "1") not in {"0", "false", "off"},
            image_tag=env.get("MODELBAY_IMAGE_TAG") or None,
            token=env.get("MODELBAY_TOKEN", "").strip() or None,
        )


class Metrics:
    """Prometheus metrics; in multiprocess mode when several workers share a folder."""

    def __init__(self) -> None:
        from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

        self.multiprocess = bool(os.environ.get("PROMETHEUS_MULTIPROC_DIR"))
        self.registry = CollectorRegistry() if not self.multiprocess else None
        kwargs: dict[str, Any] = {"registry": self.registry} if self.registry else {}
        self.requests = Counter(
            "modelbay_requests_total", "Scoring requests by HTTP status", ["status"], **kwargs
        )
        self.latency = Histogram(
            "modelbay_request_seconds",
            "Time to answer a scoring request",
            buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
            **kwargs,
        )
        # with several workers: in-flight adds up the live ones; load time is the slowest
        self.in_flight = Gauge(
            "modelbay_requests_in_flight",
            "Scoring requests being answered",
            multiprocess_mode="livesum",
            **kwargs,
        )
        self.load_seconds = Gauge(
            "modelbay_model_load_seconds",
            "Time it took to load the model",
            multiprocess_mode="max",
            **kwargs,
        )
        self.rows = Counter("modelbay_rows_total", "Rows scored", **kwargs)

    def render(self) -> tuple[bytes, str]:
        from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest

        if self.multiprocess:
            from prometheus_client import multiprocess

            registry = CollectorRegistry()
            multiprocess.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
            return generate_latest(registry), CONTENT_TYPE_LATEST
        assert self.registry is not None
        return generate_latest(self.registry), CONTENT_TYPE_LATEST


class ModelServer:
    """One model behind the HTTP endpoints; ``app`` is the ASGI application."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.folder = ModelFolder.read(settings.model_dir)
        self.metrics = Metrics()
        self.windows = (
            Windows(
                self.folder.profile,
                settings.state_dir / "windows",
                window_seconds=settings.window_seconds,
                keep=settings.windows_kept,
                reservoir=settings.reservoir,
            )
            if settings.monitoring
            else None
        )
        self.ready = False
        self.load_error: str | None = None
        self.batcher: BatchingPredictor | None = None
        self._loading: asyncio.Future[None] | None = None
        identity = {
            "x-model-name": self.folder.name,
            "x-model-version": self.folder.version,
            "x-model-sha256": str(self.folder.meta.get("sha256", "")),
        }
        # the digest, so that comparing it does not even tell how long the token is
        self._token = _digest(settings.token) if settings.token else None
        guarded = self._guarded
        routes = [
            # /invocations checks the token itself, so that a 401 is counted like any answer
            Route("/invocations", self.invocations, methods=["POST"]),
            Route("/ping", self.health, methods=["GET"]),
            Route("/health", self.health, methods=["GET"]),
            Route("/version", guarded(self.version), methods=["GET"]),
            Route("/metadata", guarded(self.metadata), methods=["GET"]),
            Route("/metrics", guarded(self.metrics_text), methods=["GET"]),
            Route("/monitoring/windows", guarded(self.monitoring_windows), methods=["GET"]),
            Route("/openapi.json", guarded(self.openapi), methods=["GET"]),
        ]
        starlette = Starlette(routes=routes, lifespan=self.lifespan)
        self.draining = False
        self.app = NameTheModel(starlette, identity, closing=lambda: self.draining)

    # ------------------------------------------------------------------ lifecycle
    def load(self) -> None:
        who = f"{self.folder.name}:{self.folder.version}"
        try:
            self.folder.load()
        except Exception as exc:  # noqa: BLE001 - reported on /health, the server stays up
            self.load_error = f"{type(exc).__name__}: {exc}"
            _say(f"cannot load {who}: {self.load_error}")
        else:
            self.metrics.load_seconds.set(self.folder.load_seconds)
            self.ready = True
            _say(f"{who} loaded in {self.folder.load_seconds:.2f} s; ready (pid {os.getpid()})")

    def drain(self) -> None:
        """Before a stop: answer every further request with ``Connection: close``.

        Clients then open their next connection anew, which the service's front sends
        to the new backend, instead of racing a keep-alive connection that the stop
        would close under them. (SIGUSR1; see app/deploy/service.py.)
        """
        if not self.draining:
            self.draining = True
            _say("draining: every answer now closes its connection")

    @contextlib.asynccontextmanager
    async def lifespan(self, _app: Starlette) -> AsyncIterator[None]:
        loop = asyncio.get_running_loop()
        with contextlib.suppress(NotImplementedError, RuntimeError, AttributeError, ValueError):
            loop.add_signal_handler(signal.SIGUSR1, self.drain)  # POSIX, main thread only
        loader = loop.run_in_executor(None, self.load)
        self._loading = loader
        ticker = asyncio.create_task(_tick(self.windows)) if self.windows else None
        yield
        if ticker:
            ticker.cancel()
        await loader
        if self.batcher is not None:
            await self.batcher.stop()
        if self.windows:
            self.windows.flush()

    # ------------------------------------------------------------------ the token
    def _refusal(self, request: Request) -> Response | None:
        """A 401 when a token is required and the request does not carry it, else None."""
        if self._token is None:
            return None
        header = request.headers.get("authorization", "").strip()
        scheme, _, credentials = header.partition(" ")
        is_bearer = scheme.lower() == "bearer" and bool(credentials.strip())
        # Starlette decodes headers as latin-1: encoding back gives the very bytes sent
        given = _digest(credentials.strip().encode("latin-1")) if is_bearer else b""
        if is_bearer and hmac.compare_digest(given, self._token):
            return None
        if not header:
            problem, challenge = "this endpoint needs a token", "Bearer"
        elif not is_bearer:
            problem, challenge = "the Authorization header holds no Bearer token", "Bearer"
        else:
            problem = "the token in the Authorization header is not this server's token"
            challenge = 'Bearer error="invalid_token"'
        return JSONResponse(
            {"error": f"{problem}: {AUTHORIZATION_HINT}"},
            status_code=401,
            headers={"WWW-Authenticate": challenge},
        )

    def _guarded(self, endpoint: Endpoint) -> Endpoint:
        if self._token is None:
            return endpoint

        async def guarded(request: Request) -> Response:
            return self._refusal(request) or await endpoint(request)

        return guarded

    # ------------------------------------------------------------------ endpoints
    async def health(self, _request: Request) -> Response:
        if self.ready:
            return JSONResponse(
                {"status": "ready", "model": self.folder.name, "version": self.folder.version}
            )
        if self.load_error:
            return JSONResponse({"status": "failed", "error": self.load_error}, status_code=503)
        return JSONResponse({"status": "loading"}, status_code=503)

    async def version(self, _request: Request) -> Response:
        return JSONResponse(
            {"runtime": RUNTIME_VERSION, "model": self.folder.name, "version": self.folder.version}
        )

    async def metadata(self, _request: Request) -> Response:
        meta = self.folder.meta
        return JSONResponse(
            {
                "model": self.folder.name,
                "version": self.folder.version,
                "sha256": meta.get("sha256"),
                "format": meta.get("format"),
                "framework": meta.get("framework"),
                "framework_version": meta.get("framework_version"),
                "signature": self.folder.signature,
                "image": self.settings.image_tag,
                "runtime": RUNTIME_VERSION,
                "monitoring": self.windows.describe() if self.windows else None,
            }
        )

    async def metrics_text(self, _request: Request) -> Response:
        body, content_type = self.metrics.render()
        return Response(body, media_type=content_type)

    async def monitoring_windows(self, request: Request) -> Response:
        if self.windows is None:
            return JSONResponse({"error": "monitoring is off"}, status_code=404)
        raw = request.query_params.get("since", "-1")
        try:
            since = int(raw)
        except ValueError:
            return JSONResponse(
                {"error": f"'since' must be a whole number, got {raw!r}"}, status_code=400
            )
        raw_limit = request.query_params.get("limit")
        try:
            limit = None if raw_limit is None else max(1, int(raw_limit))
        except ValueError:
            return JSONResponse(
                {"error": f"'limit' must be a whole number, got {raw_limit!r}"}, status_code=400
            )
        found = await run_in_threadpool(self.windows.closed_windows, since, limit)
        return JSONResponse({**self.windows.describe(), "windows": found})

    async def openapi(self, _request: Request) -> Response:
        return JSONResponse(_openapi(self.folder, token_required=self._token is not None))

    async def invocations(self, request: Request) -> Response:
        started = time.perf_counter()
        self.metrics.in_flight.inc()
        try:
            response = self._refusal(request) or await self._score(request)
        finally:
            self.metrics.in_flight.dec()
        self.metrics.requests.labels(status=str(response.status_code)).inc()
        self.metrics.latency.observe(time.perf_counter() - started)
        return response

    async def _score(self, request: Request) -> Response:
        if not self.ready and self._loading is not None and not self.load_error:
            # With several workers a load balancer may send a request to one that is still
            # loading while another already answered /health: wait for it, within the timeout.
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(
                    asyncio.shield(self._loading), timeout=self.settings.timeout_seconds
                )
        if not self.ready:
            message = self.load_error or "the model is still loading; retry shortly"
            return JSONResponse({"error": message}, status_code=503)
        try:
            body = await _read_limited(request, self.settings.max_body_bytes)
            frame, _params = parse_body(body, request.headers.get("content-type", ""))
            frame = fit_to_signature(frame, self.folder.signature)
        except BadInput as exc:
            if self.windows:
                self.windows.record_error()
            return JSONResponse({"error": exc.message}, status_code=exc.status)
        if self.batcher is None:
            self.batcher = BatchingPredictor(
                self.folder.predictor, observe=self.windows.record if self.windows else None
            )
            self.batcher.start()
        try:
            raw = await asyncio.wait_for(
                self.batcher.predict(frame), timeout=self.settings.timeout_seconds
            )
        except TimeoutError:
            return JSONResponse(
                {"error": f"the prediction took longer than {self.settings.timeout_seconds:g} s"},
                status_code=504,
            )
        except (ValueError, TypeError, KeyError, IndexError) as exc:
            if self.windows:
                self.windows.record_error()
            return JSONResponse(
                {"error": f"the model could not score this input: {exc}"}, status_code=400
            )
        self.metrics.rows.inc(len(frame.index))
        return _json({"predictions": _plain(raw)})


class NameTheModel:
    """ASGI middleware: every response carries the model and version that answered."""

    def __init__(
        self, app: Any, identity: dict[str, str], closing: Callable[[], bool] = lambda: False
    ) -> None:
        self.app = app
        self.headers = [(k.encode(), v.encode()) for k, v in identity.items()]
        self.closing = closing  # while draining, every answer also says Connection: close

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_named(message: Any) -> None:
            if message["type"] == "http.response.start":
                extra = [(b"connection", b"close")] if self.closing() else []
                message["headers"] = [*message.get("headers", []), *self.headers, *extra]
            await send(message)

        await self.app(scope, receive, send_named)


def create_app(settings: Settings | None = None) -> Any:
    """The ASGI application for uvicorn (``factory=True``)."""
    return ModelServer(settings or Settings.from_environment()).app


def _say(line: str) -> None:
    """One line in the server's log (``docker logs``, ``modelbay logs``)."""
    print(f"modelbay-serving: {line}", file=sys.stderr, flush=True)


async def _tick(windows: Windows) -> None:
    """Close windows on time even when no request arrives."""
    while True:
        await asyncio.sleep(min(1.0, windows.window_seconds / 4))
        await run_in_threadpool(windows.rotate)


async def _read_limited(request: Request, limit: int) -> bytes:
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise BadInput(
            f"the request body is {int(declared):,} bytes; the limit is {limit:,}", status=413
        )
    chunks = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise BadInput(f"the request body is over the limit of {limit:,} bytes", status=413)
        chunks.append(chunk)
    return b"".join(chunks)


def _digest(token: str | bytes) -> bytes:
    return hashlib.sha256(token.encode() if isinstance(token, str) else token).digest()


def _plain(raw: Any) -> Any:
    if hasattr(raw, "tolist"):
        return raw.tolist()
    if isinstance(raw, list | tuple):
        return [_plain(v) for v in raw]
    return raw


def _json(document: Any) -> Response:
    import orjson

    return Response(
        orjson.dumps(document, option=orjson.OPT_SERIALIZE_NUMPY), media_type="application/json"
    )


def _openapi(folder: ModelFolder, *, token_required: bool = False) -> dict[str, Any]:
    error = {"type": "object", "properties": {"error": {"type": "string"}}}
    row = {"type": "array", "items": {}}
    scoring = {
        "type": "object",
        "properties": {
            "dataframe_split": {
                "type": "object",
                "properties": {
                    "columns": {"type": "array", "items": {"type": "string"}},
                    "data": {"type": "array", "items": row},
                },
                "required": ["data"],
            },
            "dataframe_records": {"type": "array", "items": {"type": "object"}},
            "instances": {"type": "array"},
            "inputs": {},
            "params": {"type": "object"},
        },
    }

    def answers(ok: dict[str, Any]) -> dict[str, Any]:
        return {
            "200": {"description": "OK", "content": {"application/json": {"schema": ok}}},
            "400": {"description": "bad input", "content": {"application/json": {"schema": error}}},
        }

    simple = {"type": "object"}
    document: dict[str, Any] = {
        "openapi": "3.0.3",
        "info": {"title": f"{folder.name} (Modelbay model server)", "version": folder.version},
        "paths": {
            "/invocations": {
                "post": {
                    "summary": "Score rows (MLflow scoring protocol)",
                    "requestBody": {
                        "required": True,
                        "content": {
                            "application/json": {"schema": scoring},
                            "text/csv": {"schema": {"type": "string"}},
                        },
                    },
                    "responses": {
                        **answers(
                            {"type": "object", "properties": {"predictions": {"type": "array"}}}
                        ),
                        "413": {"description": "body too large"},
                        "415": {"description": "unsupported content type"},
                        "503": {"description": "model not loaded yet"},
                        "504": {"description": "prediction timed out"},
                    },
                }
            },
            "/ping": {
                "get": {
                    "responses": {
                        "200": {"description": "ready"},
                        "503": {"description": "loading"},
                    }
                }
            },
            "/health": {
                "get": {
                    "responses": {
                        "200": {"description": "ready"},
                        "503": {"description": "loading"},
                    }
                }
            },
            "/version": {"get": {"responses": answers(simple)}},
            "/metadata": {"get": {"responses": answers(simple)}},
            "/metrics": {"get": {"responses": {"200": {"description": "Prometheus text"}}}},
            "/monitoring/windows": {
                "get": {
                    "parameters": [
                        {
                            "name": "since",
                            "in": "query",
                            "required": False,
                            "schema": {"type": "integer"},
                        },
                        {
                            "name": "limit",
                            "in": "query",
                            "required": False,
                            "schema": {"type": "integer", "minimum": 1},
                        },
                    ],
                    "responses": answers(simple),
                }
            },
            "/openapi.json": {"get": {"responses": {"200": {"description": "this document"}}}},
        },
    }
    if token_required:
        document["components"] = {
            "securitySchemes": {"bearerAuth": {"type": "http", "scheme": "bearer"}}
        }
        document["security"] = [{"bearerAuth": []}]
        refused = {
            "description": "no token, or not this server's token",
            "content": {"application/json": {"schema": error}},
        }
        for path, operations in document["paths"].items():
            for operation in operations.values():
                if path in OPEN_PATHS:
                    operation["security"] = []  # health checks need no token
                else:
                    operation["responses"]["401"] = refused
    return document
