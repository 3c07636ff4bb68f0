"""The front (``python3 -m app.serving.front``) as a real process on 127.0.0.1.

Most backends here are small HTTP/1.1 servers in this process that say who they
are (so a test can hold a request open as long as it likes); one test puts two
real model servers behind the front and retires the old one as a deploy does.
"""

from __future__ import annotations

import http.client
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
import pytest
import requests

from tests.formats import makers
from tests.serving.conftest import IRIS_ROWS, free_port, run_server

FRONT = [sys.executable, "-m", "app.serving.front"]


class Backend:
    """An HTTP/1.1 (keep-alive) server that answers every GET with its name."""

    def __init__(self, name: str, *, healthy: bool = True) -> None:
        self.name = name
        self.healthy = healthy
        self.slow_started = threading.Event()  # a GET /slow arrived ...
        self.release = threading.Event()  # ... and is answered once this is set
        backend = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            # headers and body are two writes: with Nagle, the second waits for a
            # delayed ACK (40 ms) on every kept-alive request
            disable_nagle_algorithm = True

            def do_GET(self) -> None:
                status = 200 if backend.healthy or self.path != "/health" else 503
                if self.path == "/slow":
                    backend.slow_started.set()
                    backend.release.wait(30)
                body = json.dumps({"backend": backend.name}).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: object) -> None:
                pass

        self.server = QuietServer(("127.0.0.1", 0), Handler)
        self.address = f"127.0.0.1:{self.server.server_port}"
        self.thread = threading.Thread(target=self.server.serve_forever, args=(0.05,), daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.release.set()
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(10)


class QuietServer(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request: object, client_address: object) -> None:
        pass  # a client the front cut off (grace period over) is what some tests want


@pytest.fixture
def backends() -> Iterator[tuple[Backend, Backend]]:
    pair = Backend("A"), Backend("B")
    yield pair
    for backend in pair:
        backend.close()


@dataclass
class Front:
    port: int
    env: dict[str, str]
    process: subprocess.Popen[str]
    log: list[str] = field(default_factory=list)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def run(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [*FRONT, *args], env=self.env, capture_output=True, text=True, timeout=30
        )

    def switch(self, address: str) -> str:
        """Switch and return the previous target (``switch`` must succeed)."""
        done = self.run("switch", address)
        assert done.returncode == 0, done.stderr
        return done.stdout.strip()

    def target(self) -> str:
        done = self.run("target")
        assert done.returncode == 0, done.stderr
        return done.stdout.strip()

    def stop(self, sig: int | None = signal.SIGTERM) -> int:
        """Send ``sig`` (None: it was sent already) and wait for the exit code."""
        if sig is not None:
            self.process.send_signal(sig)
        code = self.process.wait(30)
        assert self.process.stderr is not None
        self.log.append(self.process.stderr.read())
        self.process.stderr.close()
        return code


@contextmanager
def start_front(state: Path, *, port: int | None = None, grace: float = 30) -> Iterator[Front]:
    port = port or free_port()
    env = {
        **os.environ,
        "MODELBAY_FRONT_STATE": str(state),
        "MODELBAY_FRONT_GRACE": str(grace),
        "MODELBAY_HOST": "127.0.0.1",
        "MODELBAY_PORT": str(port),
    }
    # plain `python3 -m app.serving.front` must mean `serve` (as the container's command)
    process = subprocess.Popen(FRONT, env=env, stderr=subprocess.PIPE, text=True)
    front = Front(port, env, process)
    try:
        assert process.stderr is not None
        first = process.stderr.readline()  # written once the socket listens
        assert first.startswith(f"front: listening on 127.0.0.1:{port}"), first
        yield front
    finally:
        try:
            if process.poll() is None:
                front.stop()
        finally:  # a front that did not stop in time is killed, its pipe closed
            if process.poll() is None:
                process.kill()
                process.wait(30)
            if process.stderr is not None and not process.stderr.closed:
                process.stderr.close()


@pytest.fixture
def state(tmp_path: Path) -> Path:
    return tmp_path / "front" / "target"


def backend_of(port: int, path: str = "/") -> str:
    """GET ``path`` on a new connection; the name of the backend that answered."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        connection.request("GET", path)
        response = connection.getresponse()
        body = response.read()
        assert response.status == 200, body
        return str(json.loads(body)["backend"])
    finally:
        connection.close()


def wait_until(condition: Callable[[], bool], timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "the condition did not come true in time"
        time.sleep(0.01)


def refuses_connections(port: int) -> bool:
    """Nothing accepts on ``port`` any more. A connection that lands in the backlog just as
    the listening socket closes is reset rather than refused: the same answer."""
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1):
            return False
    except (ConnectionRefusedError, ConnectionResetError):
        return True


def test_without_a_target_the_front_answers_503_saying_why(state: Path) -> None:
    with start_front(state) as front:
        assert front.target() == ""
        response = httpx.get(f"{front.url}/health")
        assert response.status_code == 503
        assert response.json() == {"error": "no model version is deployed behind this front yet"}
        assert response.headers["connection"] == "close"
        # with a request body the front has no use for, the whole answer still arrives
        with socket.create_connection(("127.0.0.1", front.port), timeout=30) as conn:
            body = b"x" * 300_000
            conn.sendall(b"POST / HTTP/1.1\r\nContent-Length: %d\r\n\r\n%s" % (len(body), body))
            answer = b""
            while chunk := conn.recv(65536):
                answer += chunk
        assert answer.startswith(b"HTTP/1.1 503 Service Unavailable\r\n")
        assert answer.endswith(b'{"error": "no model version is deployed behind this front yet"}')


def test_switch_refuses_a_target_that_is_not_healthy(
    state: Path, backends: tuple[Backend, Backend]
) -> None:
    a, _ = backends
    sick = Backend("sick", healthy=False)
    closed = f"127.0.0.1:{free_port()}"
    try:
        with start_front(state) as front:
            assert front.switch(a.address) == ""
            for address, why in [
                (closed, "GET /health failed ([Errno 111] Connection refused)"),
                (sick.address, "GET /health answered 503"),
            ]:
                refused = front.run("switch", address)
                assert refused.returncode == 1
                assert refused.stdout == ""
                assert f"error: not switching to {address}: {why}" in refused.stderr
                assert f"new connections still go to {a.address}" in refused.stderr
                assert front.target() == a.address
                assert backend_of(front.port) == "A"
            assert front.run("switch", "no-port-here").returncode == 2

            # --no-check: the deployer knows better; the front then says what is wrong
            unchecked = front.run("switch", closed, "--no-check")
            assert (unchecked.returncode, unchecked.stdout) == (0, f"{a.address}\n")
            response = httpx.get(f"{front.url}/health")
            assert response.status_code == 503
            assert response.json() == {"error": f"the model server at {closed} is not answering"}
    finally:
        sick.close()


def test_new_connections_go_to_the_new_target_as_soon_as_switch_returns(
    state: Path, backends: tuple[Backend, Backend]
) -> None:
    a, b = backends
    with start_front(state) as front:
        previous = ""
        for backend in [a, b] * 5:
            assert front.switch(backend.address) == previous
            assert backend_of(front.port) == backend.name  # no wait, no retry
            previous = backend.address
        assert front.target() == b.address


def test_an_open_keep_alive_connection_stays_on_its_backend(
    state: Path, backends: tuple[Backend, Backend]
) -> None:
    a, b = backends
    with start_front(state) as front:
        front.switch(a.address)
        kept = http.client.HTTPConnection("127.0.0.1", front.port, timeout=30)
        try:
            kept.request("GET", "/")
            assert json.loads(kept.getresponse().read())["backend"] == "A"
            sock = kept.sock
            front.switch(b.address)
            assert backend_of(front.port) == "B"
            for _ in range(3):
                kept.request("GET", "/")
                assert json.loads(kept.getresponse().read())["backend"] == "A"
            assert kept.sock is sock  # the very same connection, not a new one
        finally:
            kept.close()


def test_a_half_close_from_the_client_still_gets_the_answer(
    state: Path, backends: tuple[Backend, Backend]
) -> None:
    a, _ = backends
    with start_front(state) as front:
        front.switch(a.address)
        with socket.create_connection(("127.0.0.1", front.port), timeout=30) as conn:
            conn.sendall(b"GET / HTTP/1.1\r\nHost: front\r\n\r\n")
            conn.shutdown(socket.SHUT_WR)  # the request is complete: EOF, but still reading
            answer = b""
            while chunk := conn.recv(65536):
                answer += chunk
        assert answer.startswith(b"HTTP/1.1 200 ")
        assert answer.endswith(b'{"backend": "A"}')


def test_a_client_that_never_closes_does_not_hold_the_front(
    state: Path, backends: tuple[Backend, Backend]
) -> None:
    a, _ = backends
    with start_front(state) as front:
        front.switch(a.address)
        with socket.create_connection(("127.0.0.1", front.port), timeout=30) as conn:
            conn.sendall(b"GET / HTTP/1.1\r\nHost: front\r\nConnection: close\r\n\r\n")
            answer = b""
            while chunk := conn.recv(65536):  # up to the backend's EOF, passed on
                answer += chunk
            assert answer.endswith(b'{"backend": "A"}')
            # the socket stays open; the front must still stop long before its grace ends
            started = time.monotonic()
            assert front.stop() == 0
            assert time.monotonic() - started < 10


def test_no_request_fails_while_the_target_switches_back_and_forth(
    state: Path, backends: tuple[Backend, Backend]
) -> None:
    a, b = backends
    stop = threading.Event()
    fresh: Counter[str] = Counter()  # a new connection for every request
    kept: Counter[str] = Counter()  # one requests.Session (keep-alive)
    errors: list[str] = []

    def new_connections(port: int) -> None:
        while not stop.is_set():
            try:
                fresh[backend_of(port)] += 1
            except Exception as exc:  # noqa: BLE001 - counted, and shown in the assertion
                fresh["failed"] += 1
                errors.append(f"new connection: {exc!r}")

    def session(url: str) -> None:
        with requests.Session() as client:
            while not stop.is_set():
                try:
                    response = client.get(url, timeout=30)
                    response.raise_for_status()
                    kept[response.json()["backend"]] += 1
                except Exception as exc:  # noqa: BLE001
                    kept["failed"] += 1
                    errors.append(f"keep-alive: {exc!r}")

    with start_front(state) as front:
        front.switch(a.address)
        loops = [
            threading.Thread(target=new_connections, args=(front.port,)),
            threading.Thread(target=session, args=(front.url,)),
        ]
        for loop in loops:
            loop.start()
        try:
            for backend in [b, a] * 3:
                front.switch(backend.address)
                # both loops go on for a while with each target
                fresh_floor, kept_floor = fresh[backend.name] + 20, kept.total() + 20
                wait_until(
                    lambda name=backend.name, f=fresh_floor, k=kept_floor: (
                        fresh[name] >= f and kept.total() >= k
                    )
                )
        finally:
            stop.set()
            for loop in loops:
                loop.join(30)
    counts = f"new connections {dict(fresh)}, keep-alive {dict(kept)}; {errors[:5]}"
    assert fresh["failed"] == 0, counts
    assert kept["failed"] == 0, counts
    assert fresh["A"] >= 40, counts
    assert fresh["B"] >= 60, counts


def test_the_target_survives_a_restart_of_the_front(
    state: Path, backends: tuple[Backend, Backend]
) -> None:
    _, b = backends
    with start_front(state) as front:
        front.switch(b.address)
        assert front.stop(signal.SIGINT) == 0  # Ctrl-C stops it as cleanly as SIGTERM
    with start_front(state, port=front.port) as again:
        assert again.target() == b.address
        assert backend_of(again.port) == "B"


def test_sigterm_lets_an_in_flight_request_finish(
    state: Path, backends: tuple[Backend, Backend]
) -> None:
    a, _ = backends
    answers: list[str] = []
    with start_front(state) as front:
        front.switch(a.address)
        slow = threading.Thread(target=lambda: answers.append(backend_of(front.port, "/slow")))
        slow.start()
        assert a.slow_started.wait(30)
        front.process.send_signal(signal.SIGTERM)
        wait_until(lambda: refuses_connections(front.port))  # stopped accepting ...
        assert front.process.poll() is None  # ... but still forwards the open connection
        a.release.set()
        slow.join(30)
        assert front.stop(None) == 0
    assert answers == ["A"]
    assert "front: stopped" in front.log[0]


def test_the_grace_period_bounds_the_wait_for_open_connections(
    state: Path, backends: tuple[Backend, Backend]
) -> None:
    a, _ = backends
    failures: list[Exception] = []

    def hang() -> None:
        try:
            backend_of(front.port, "/slow")
        except (OSError, http.client.HTTPException) as exc:
            failures.append(exc)

    with start_front(state, grace=0.2) as front:
        front.switch(a.address)
        slow = threading.Thread(target=hang)
        slow.start()
        assert a.slow_started.wait(30)
        started = time.monotonic()
        assert front.stop() == 0  # never released: the grace period ends it
        assert time.monotonic() - started < 10
        slow.join(30)
    assert len(failures) == 1, failures


def test_a_deploy_behind_the_front_drops_no_request(
    model_folder_of: Callable[..., Path], state: Path, tmp_path: Path
) -> None:
    """Two real model servers: v1 serves, v2 starts, the front switches, v1 stops."""
    v1 = model_folder_of(makers.sklearn_joblib(tmp_path / "v1"), name="iris")
    v2 = model_folder_of(makers.sklearn_pickle(tmp_path / "v2"), name="iris")
    versions: Counter[str] = Counter()
    errors: list[str] = []
    stop = threading.Event()

    def score(url: str) -> None:
        while not stop.is_set():
            try:  # a new connection each, as most scoring clients open them
                response = httpx.post(
                    f"{url}/invocations", json={"instances": IRIS_ROWS}, timeout=30
                )
                response.raise_for_status()
                versions[response.headers["x-model-version"]] += 1
            except Exception as exc:  # noqa: BLE001 - counted, and shown in the assertion
                versions["failed"] += 1
                errors.append(repr(exc))

    with run_server(v1) as old, run_server(v2) as new, start_front(state) as front:
        front.switch(old.url.removeprefix("http://"))
        health = httpx.get(f"{front.url}/health")  # what the image's HEALTHCHECK asks
        assert (health.status_code, health.headers["x-model-version"]) == (200, "1")
        client = threading.Thread(target=score, args=(front.url,))
        client.start()
        try:
            wait_until(lambda: versions["1"] >= 20)
            previous = front.switch(new.url.removeprefix("http://"))
            assert previous == old.url.removeprefix("http://")
            old.process.send_signal(signal.SIGTERM)  # graceful: in-flight requests finish
            assert old.process.wait(30) in {0, -signal.SIGTERM}
            floor = versions["2"] + 20
            wait_until(lambda: versions["2"] >= floor)
        finally:
            stop.set()
            client.join(30)
    assert versions["failed"] == 0, f"{dict(versions)}; {errors[:5]}"
