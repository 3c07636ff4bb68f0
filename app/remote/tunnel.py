"""A local port forward over our verified SSH session, like ``ssh -L``.

Deployed model servers bind to the host's loopback; the app and the CLI reach
them through a :class:`Tunnel`: a listening socket on this machine whose every
accepted connection becomes a ``direct-tcpip`` channel of the session's
transport to ``remote_host:remote_port`` *as the host sees it*.

Why not a library: paramiko only ships a forwarding demo (``demos/forward.py``),
not an API, and sshtunnel's ``SSHTunnelForwarder`` always opens and
authenticates its own ``paramiko.Transport`` (it takes an address and
credentials, never an existing transport), so it cannot run over the connection
whose host key Modelbay verified itself.

A connection whose channel cannot be opened (nothing listens there, the host
forbids forwarding, the SSH connection is gone) is closed at once, and the
reason is kept in :attr:`Tunnel.last_error`; the tunnel keeps serving.
"""

from __future__ import annotations

import contextlib
import itertools
import socket
import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from app.errors import ModelbayError

from .ssh import CONNECT_TIMEOUT

if TYPE_CHECKING:
    from .ssh import SSHSession

CHUNK = 1 << 16
JOIN_TIMEOUT = 5.0
ACCEPT_POLL = 0.5  # how long close() may wait for accept() where shutdown() cannot wake it


class Tunnel:
    """``local_host:local_port`` here -> ``remote_host:remote_port`` on the session's host."""

    def __init__(
        self,
        session: SSHSession,
        remote_host: str,
        remote_port: int,
        *,
        local_host: str = "127.0.0.1",
        local_port: int = 0,
    ) -> None:
        self.session = session
        self.local_host = local_host
        self.last_error: str | None = None
        self.failures = 0
        self._target = (remote_host, remote_port)
        self._requested_port = local_port
        self._listener: socket.socket | None = None
        self._port = 0
        self._closing = threading.Event()
        self._lock = threading.Lock()
        self._threads: set[threading.Thread] = set()
        self._open: set[tuple[socket.socket, Any]] = set()  # (client socket, channel)
        self._ids = itertools.count(1)

    # ------------------------------------------------------------------ life cycle
    def start(self) -> Tunnel:
        if self._listener is not None:
            raise RuntimeError("the tunnel is already started")
        name = self.session.host.name
        if not self.session.alive:
            raise ModelbayError(f"the SSH connection to {name} was lost", hint="connect again")
        family = socket.AF_INET6 if ":" in self.local_host else socket.AF_INET
        try:
            listener = socket.create_server((self.local_host, self._requested_port), family=family)
        except OSError as exc:
            raise ModelbayError(
                f"cannot listen on {self.local_host}:{self._requested_port} for the tunnel "
                f"to {name}: {exc.strerror or exc}",
                hint="choose another local port, or 0 for any free one",
            ) from None
        listener.settimeout(ACCEPT_POLL)
        self._listener, self._port = listener, int(listener.getsockname()[1])
        self._spawn(f"modelbay-tunnel-{self.local_port}-accept", self._accept_loop)
        return self

    def close(self) -> None:
        """Stop accepting, end every open connection, wait for every thread of this tunnel."""
        with self._lock:
            self._closing.set()
            pairs = list(self._open)
        if self._listener is not None:
            with contextlib.suppress(OSError):  # wakes accept() at once on Linux
                self._listener.shutdown(socket.SHUT_RDWR)
        for sock, channel in pairs:
            _end(sock, channel)
        deadline = time.monotonic() + JOIN_TIMEOUT
        while time.monotonic() < deadline:
            with self._lock:
                threads = [t for t in self._threads if t is not threading.current_thread()]
            if not threads:
                break
            for thread in threads:
                thread.join(max(0.0, deadline - time.monotonic()))
        if self._listener is not None:
            self._listener.close()

    def __enter__(self) -> Tunnel:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ------------------------------------------------------------------ what it shows
    @property
    def local_port(self) -> int:
        if self._listener is None:
            raise RuntimeError("the tunnel is not started")
        return self._port

    @property
    def url(self) -> str:
        host = f"[{self.local_host}]" if ":" in self.local_host else self.local_host
        return f"http://{host}:{self.local_port}"

    @property
    def target(self) -> tuple[str, int]:
        return self._target

    @property
    def alive(self) -> bool:
        """Listening, and the SSH connection under it still up."""
        return self._listener is not None and not self._closing.is_set() and self.session.alive

    def retarget(self, remote_host: str, remote_port: int) -> None:
        """New connections go to ``remote_host:remote_port``; open ones stay where they are."""
        with self._lock:
            self._target = (remote_host, remote_port)

    # ------------------------------------------------------------------ the work
    def _spawn(self, name: str, work: Callable[..., None], *args: Any) -> threading.Thread:
        def run() -> None:
            try:
                work(*args)
            finally:
                with self._lock:
                    self._threads.discard(threading.current_thread())

        thread = threading.Thread(target=run, name=name, daemon=True)
        with self._lock:
            self._threads.add(thread)
        thread.start()
        return thread

    def _accept_loop(self) -> None:
        assert self._listener is not None
        port = self.local_port
        while not self._closing.is_set():
            try:
                sock, peer = self._listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return  # shut down by close()
            with self._lock:
                target, name = self._target, f"modelbay-tunnel-{port}-conn-{next(self._ids)}"
            if self._closing.is_set():
                sock.close()
                return
            sock.settimeout(None)
            self._spawn(name, self._forward, sock, peer, target, name)

    def _forward(
        self, sock: socket.socket, peer: tuple[Any, ...], target: tuple[str, int], name: str
    ) -> None:
        # Two threads per connection (this one carries host -> client, a second one
        # client -> host), each in plain blocking calls: with one select() loop a
        # sendall() that waits for a full SSH window or socket buffer would stall the
        # other direction too (a deadlock when both peers write before they read).
        # Half-close then falls out naturally: each direction ends on its own EOF.
        channel = self._open_channel(sock, peer, target)
        if channel is None:
            return
        pair = (sock, channel)
        with self._lock:
            if self._closing.is_set():  # close() ran while the channel opened: it missed this one
                _end(sock, channel)
                sock.close()
                return
            self._open.add(pair)
        upstream = self._spawn(f"{name}-up", _pump_up, sock, channel)
        try:
            while data := channel.recv(CHUNK):
                sock.sendall(data)
            sock.shutdown(socket.SHUT_WR)  # the host's side ended: pass the EOF on
        except OSError:
            _end(sock, channel)  # the client went away: end both directions
        upstream.join()
        channel.close()
        sock.close()
        with self._lock:
            self._open.discard(pair)

    def _open_channel(
        self, sock: socket.socket, peer: tuple[Any, ...], target: tuple[str, int]
    ) -> Any:
        import paramiko

        try:
            return self.session.transport.open_channel(
                "direct-tcpip", target, (str(peer[0]), int(peer[1])), timeout=CONNECT_TIMEOUT
            )
        except (paramiko.SSHException, EOFError, OSError) as exc:
            failure = self._describe(exc, target)
        with self._lock:
            self.last_error, self.failures = failure, self.failures + 1
        sock.close()  # the client sees its connection closed at once, not a hang
        return None

    def _describe(self, exc: Exception, target: tuple[str, int]) -> str:
        import paramiko

        name, where = self.session.host.name, f"{target[0]}:{target[1]}"
        if not self.session.alive:
            return f"the SSH connection to {name} was lost"
        if isinstance(exc, paramiko.ChannelException):
            if exc.code == paramiko.common.OPEN_FAILED_CONNECT_FAILED:
                return f"nothing answers on {where} on {name}"
            if exc.code == paramiko.common.OPEN_FAILED_ADMINISTRATIVELY_PROHIBITED:
                return f"{name} does not allow port forwarding (AllowTcpForwarding in sshd_config)"
            return f"{name} could not open a connection to {where}: {exc.text}"
        return f"{name} did not open a connection to {where}: {exc or type(exc).__name__}"


def _pump_up(sock: socket.socket, channel: Any) -> None:
    """Client -> host until the client stops sending; then the host gets the EOF."""
    import paramiko

    try:
        while data := sock.recv(CHUNK):
            channel.sendall(data)
        if not channel.closed:  # an EOF on a channel the host closed would end the session
            channel.shutdown_write()
    except (OSError, EOFError, paramiko.SSHException):
        _end(sock, channel)


def _end(sock: socket.socket, channel: Any) -> None:
    """Wake both directions of a connection: their blocking calls return or fail."""
    channel.close()
    with contextlib.suppress(OSError):
        sock.shutdown(socket.SHUT_RDWR)
