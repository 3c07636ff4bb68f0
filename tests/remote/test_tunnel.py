"""The local port forward, through a real SSH connection to servers on the host's loopback.

The servers run inside the test host's network namespace, bound to ITS 127.0.0.1: only
a forward through the SSH connection reaches them from here.
"""

from __future__ import annotations

import hashlib
import json
import os
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import pytest

from app.registry import Registry
from app.remote.secrets import SecretStore
from app.remote.ssh import SSHSession, connect
from app.remote.tunnel import Tunnel
from tests.remote.conftest import add_test_host
from tests.remote_host import RemoteHost

pytestmark = pytest.mark.integration

CLOSED_PORT = 9  # nothing listens on the host's 127.0.0.1:9
INDEX = b"hello from the host's loopback\n"
WAIT = 5.0  # how long a test waits for something that should take milliseconds

# Runs on the host (in its network namespace): an HTTP server for a folder, two line
# servers that prefix every line with their name and, at EOF, say how much they got,
# a server that reads to EOF and then answers with the length and SHA-256, and one
# that speaks first, ends its side, then reads to EOF and logs what it heard.
PEERS = r"""
import functools, hashlib, http.server, json, os, socket, socketserver, sys, threading

class Named(socketserver.StreamRequestHandler):
    def handle(self):
        count = 0
        for line in self.rfile:
            count += len(line)
            self.wfile.write(self.server.name + b" " + line)
        self.wfile.write(b"%s eof after %d bytes\n" % (self.server.name, count))

class Digest(socketserver.BaseRequestHandler):
    def handle(self):
        digest, count = hashlib.sha256(), 0
        while data := self.request.recv(1 << 16):
            digest.update(data)
            count += len(data)
        self.request.sendall(b"%d %s\n" % (count, digest.hexdigest().encode()))

class FirstWord(socketserver.BaseRequestHandler):
    def handle(self):
        self.request.sendall(b"your turn\n")
        self.request.shutdown(socket.SHUT_WR)
        digest, count = hashlib.sha256(), 0
        while data := self.request.recv(1 << 16):
            digest.update(data)
            count += len(data)
        with open(os.path.join(sys.argv[1], "heard.log"), "a") as log:
            log.write("%d %s\n" % (count, digest.hexdigest()))

class Quiet(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass

class Server(socketserver.ThreadingTCPServer):
    daemon_threads = True

def serve(server, name=b""):
    server.name = name
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server.server_address[1]

ports = {
    "http": serve(http.server.ThreadingHTTPServer(
        ("127.0.0.1", 0), functools.partial(Quiet, directory=sys.argv[1]))),
    "a": serve(Server(("127.0.0.1", 0), Named), b"A"),
    "b": serve(Server(("127.0.0.1", 0), Named), b"B"),
    "digest": serve(Server(("127.0.0.1", 0), Digest)),
    "first_word": serve(Server(("127.0.0.1", 0), FirstWord)),
}
print(json.dumps(ports), flush=True)
sys.stdin.read()
"""


@dataclass(frozen=True)
class Peers:
    http: int
    a: int
    b: int
    digest: int
    first_word: int
    folder: Path
    big_sha256: str
    mid: bytes


@pytest.fixture(scope="module")
def peers(remote_host: RemoteHost, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Peers]:
    folder = tmp_path_factory.mktemp("peers")
    (folder / "index.html").write_bytes(INDEX)
    mid = os.urandom(512 * 1024)
    (folder / "mid.bin").write_bytes(mid)
    big = os.urandom(20 * 1024 * 1024)
    (folder / "big.bin").write_bytes(big)
    log = folder / "peers.log"
    with log.open("wb") as errors:
        process = subprocess.Popen(
            [
                "nsenter",
                f"--net=/run/netns/{remote_host.netns}",
                sys.executable,
                "-c",
                PEERS,
                str(folder),
            ],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=errors,
        )
    assert process.stdin is not None
    assert process.stdout is not None
    try:
        line = process.stdout.readline()
        assert line, f"the servers on the host did not start: {log.read_text()}"
        ports = json.loads(line)
        yield Peers(**ports, folder=folder, big_sha256=hashlib.sha256(big).hexdigest(), mid=mid)
    finally:
        process.stdin.close()  # the script ends when its stdin does
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(10)
        process.stdout.close()


@pytest.fixture
def session(remote_host: RemoteHost, host_registry: Registry) -> Iterator[SSHSession]:
    host = add_test_host(host_registry, remote_host)
    # an unencrypted key: no secret is needed, so no keyring is consulted
    with connect(host, secrets=SecretStore(problem="not needed")) as session:
        yield session


def _tunnel_threads() -> list[str]:
    return [t.name for t in threading.enumerate() if t.name.startswith("modelbay-tunnel")]


@pytest.fixture(autouse=True)
def _no_tunnel_thread_outlives_a_test() -> Iterator[None]:
    yield
    assert _tunnel_threads() == []


def _get(url: str) -> bytes:
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))  # no *_proxy here
    with opener.open(url, timeout=WAIT) as response:
        return bytes(response.read())


def _dial(tunnel: Tunnel) -> socket.socket:
    return socket.create_connection(("127.0.0.1", tunnel.local_port), timeout=WAIT)


def _say(sock: socket.socket, line: bytes) -> bytes:
    """Send one line to a line server and return its one-line answer."""
    sock.sendall(line + b"\n")
    answer = b""
    while not answer.endswith(b"\n"):
        chunk = sock.recv(4096)
        assert chunk, f"closed after {answer!r}"
        answer += chunk
    return answer


def _read_to_eof(sock: socket.socket) -> bytes:
    out = bytearray()
    while chunk := sock.recv(1 << 16):
        out += chunk
    return bytes(out)


def _closed_by_the_other_side(sock: socket.socket) -> bool:
    """Whether the peer ended the connection (EOF or reset) before WAIT ran out."""
    try:
        return sock.recv(1) == b""  # blocks at most WAIT (the socket's timeout)
    except ConnectionResetError:
        return True
    except TimeoutError:
        return False


def _eventually(condition: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + WAIT
    while not condition():
        assert time.monotonic() < deadline, f"not within {WAIT} s: {what}"
        time.sleep(0.01)


# ---------------------------------------------------------------------------- tests


def test_a_get_through_the_tunnel_reaches_the_hosts_loopback(
    session: SSHSession, peers: Peers
) -> None:
    with Tunnel(session, "127.0.0.1", peers.http) as tunnel:
        assert tunnel.url == f"http://127.0.0.1:{tunnel.local_port}"
        assert _get(f"{tunnel.url}/index.html") == INDEX
        assert tunnel.alive
        assert (tunnel.last_error, tunnel.failures) == (None, 0)
    with pytest.raises(ConnectionRefusedError):  # here, nothing listens on that port
        socket.create_connection(("127.0.0.1", peers.http), timeout=1).close()


def test_concurrent_requests_and_a_large_transfer_arrive_intact(
    session: SSHSession, peers: Peers
) -> None:
    with Tunnel(session, "127.0.0.1", peers.http) as tunnel:
        with ThreadPoolExecutor(20) as pool:
            bodies = list(pool.map(_get, [f"{tunnel.url}/mid.bin"] * 20))
        assert all(body == peers.mid for body in bodies)
        big = _get(f"{tunnel.url}/big.bin")
        assert len(big) == 20 * 1024 * 1024
        assert hashlib.sha256(big).hexdigest() == peers.big_sha256


def test_half_close_the_host_answers_after_the_client_stops_sending(
    session: SSHSession, peers: Peers
) -> None:
    upload = os.urandom(8 * 1024 * 1024)
    with Tunnel(session, "127.0.0.1", peers.digest) as tunnel, _dial(tunnel) as client:
        client.sendall(upload)
        client.shutdown(socket.SHUT_WR)
        answer = _read_to_eof(client)
    assert answer == b"%d %s\n" % (len(upload), hashlib.sha256(upload).hexdigest().encode())
    with Tunnel(session, "127.0.0.1", peers.a) as tunnel, _dial(tunnel) as chat:
        assert _say(chat, b"one") == b"A one\n"  # still open both ways
        chat.sendall(b"two\n")
        chat.shutdown(socket.SHUT_WR)
        assert _read_to_eof(chat) == b"A two\nA eof after 8 bytes\n"


def test_half_close_the_client_may_still_send_after_the_host_ended_its_side(
    session: SSHSession, peers: Peers
) -> None:
    words = os.urandom(1024 * 1024)
    expected = f"{len(words)} {hashlib.sha256(words).hexdigest()}\n"
    heard = peers.folder / "heard.log"
    with Tunnel(session, "127.0.0.1", peers.first_word) as tunnel, _dial(tunnel) as client:
        assert _read_to_eof(client) == b"your turn\n"  # the host's EOF, passed on
        client.sendall(words)  # our side is still open
        client.shutdown(socket.SHUT_WR)
        _eventually(
            lambda: heard.exists() and expected in heard.read_text(), "the host heard it all"
        )
        assert _read_to_eof(client) == b""


def test_nothing_listening_closes_the_client_at_once_and_the_tunnel_keeps_serving(
    session: SSHSession, peers: Peers
) -> None:
    with Tunnel(session, "127.0.0.1", CLOSED_PORT) as tunnel:
        with _dial(tunnel) as client:
            assert _closed_by_the_other_side(client)
        assert tunnel.last_error == f"nothing answers on 127.0.0.1:{CLOSED_PORT} on test-host"
        assert tunnel.failures == 1
        assert tunnel.alive
        tunnel.retarget("127.0.0.1", peers.http)
        assert _get(f"{tunnel.url}/index.html") == INDEX
        assert tunnel.failures == 1


def test_retarget_moves_new_connections_and_leaves_open_ones(
    session: SSHSession, peers: Peers
) -> None:
    with Tunnel(session, "127.0.0.1", peers.a) as tunnel, _dial(tunnel) as old:
        assert _say(old, b"one") == b"A one\n"
        tunnel.retarget("127.0.0.1", peers.b)
        assert tunnel.target == ("127.0.0.1", peers.b)
        with _dial(tunnel) as new:
            assert _say(new, b"two") == b"B two\n"
        assert _say(old, b"three") == b"A three\n"


def test_close_ends_open_connections_and_leaves_no_thread_and_no_port(
    session: SSHSession, peers: Peers
) -> None:
    tunnel = Tunnel(session, "127.0.0.1", peers.a).start()
    port = tunnel.local_port
    with _dial(tunnel) as idle:
        assert _say(idle, b"hi") == b"A hi\n"
        assert len(_tunnel_threads()) == 3  # accept, and two for the open connection
        tunnel.close()
        assert _tunnel_threads() == []
        assert tunnel.local_port == port  # still says where it was
        assert _closed_by_the_other_side(idle)
    assert not tunnel.alive
    assert session.alive  # the session belongs to the caller: still usable
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(("127.0.0.1", port), timeout=WAIT).close()


def test_a_lost_ssh_connection_closes_clients_promptly(session: SSHSession, peers: Peers) -> None:
    with Tunnel(session, "127.0.0.1", peers.a) as tunnel, _dial(tunnel) as open_one:
        assert _say(open_one, b"before") == b"A before\n"
        session.close()
        assert not tunnel.alive
        assert _closed_by_the_other_side(open_one)
        with _dial(tunnel) as late:  # the port still accepts, and closes at once
            assert _closed_by_the_other_side(late)
        assert tunnel.failures == 1  # counted before the client's socket was closed
        assert tunnel.last_error == "the SSH connection to test-host was lost"
