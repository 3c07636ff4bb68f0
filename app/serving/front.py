"""``python3 -m app.serving.front``: the stable TCP front of one service.

A deployment runs this as its own long-lived container (the model's image, this
command), published on the service's stable port. Behind it sits one backend
container per deployed version. A deploy starts the new backend, waits for its
``/health``, runs ``switch`` in the front (``docker exec``), then stops the old
backend gracefully::

    serve [--listen HOST:PORT]    forward every connection to the current target
    switch HOST:PORT [--no-check] send new connections there; print the old target
    target                        print the current target (an empty line if none)

Why layer 4, not HTTP: the front copies bytes and never parses them, so it adds
little latency, cannot disagree with the backend about HTTP (chunked bodies,
keep-alive, streaming, upgrades) and needs nothing but the standard library. The
price: it routes connections, not requests. A keep-alive connection stays on the
backend it was opened to until it closes, which is why the old backend is
stopped gracefully: uvicorn answers the requests in flight, then closes its
connections, and the clients' next connections land on the new backend. (A
request sent on a kept-alive connection just as the old backend closes it gets
no answer, as with any server restart; a client that retries a request on a
connection closed before any answer does not notice.)

The ordering guarantee: the target is a file (``MODELBAY_FRONT_STATE``) that
``switch`` replaces atomically, and the server reads it for every connection it
accepts (about 10 µs; a stat-based cache could miss two switches within one
timestamp tick). So once ``switch`` has returned, no new connection goes to the
old target, and the deployer may stop it. If connecting to the target fails,
the file is read once more, in case a switch raced the connection. The file is
in the container's own file system: the target survives a restart of the front.

SIGTERM or SIGINT: stop accepting, give the open connections up to
``MODELBAY_FRONT_GRACE`` seconds (30) to finish, exit 0. Idle keep-alive
connections count as open, so ``docker stop`` needs a longer timeout than that.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import http.client
import json
import os
import signal
import socket
import sys
import tempfile
from pathlib import Path

Streams = tuple[asyncio.StreamReader, asyncio.StreamWriter]

DEFAULT_STATE = "/tmp/modelbay-front/target"  # noqa: S108 - the container's own /tmp
CHECK_SECONDS = 5.0  # switch: how long the new target's /health may take
CONNECT_SECONDS = 5.0
LINGER_SECONDS = 2.0  # how long a client may keep its side open once the backend closed
CHUNK = 256 * 1024
NO_TARGET = "no model version is deployed behind this front yet"


def state_file() -> Path:
    return Path(os.environ.get("MODELBAY_FRONT_STATE") or DEFAULT_STATE)


def read_target(path: Path) -> str | None:
    try:
        return path.read_text().strip() or None
    except FileNotFoundError:
        return None


def write_target(path: Path, address: str) -> None:
    """Replace the target atomically: a reader sees the old file or the new one."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, temp = tempfile.mkstemp(dir=path.parent, prefix=".target-")
    try:
        os.fchmod(fd, 0o644)  # readable by the front whoever ran `docker exec`
        with os.fdopen(fd, "w") as file:
            file.write(address + "\n")
            file.flush()
            os.fsync(file.fileno())
        os.replace(temp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temp)
        raise


def split_address(address: str) -> tuple[str, int]:
    """``HOST:PORT`` (``[::1]:8000`` for IPv6) as (host, port)."""
    host, _, port = address.rpartition(":")
    host = host.removeprefix("[").removesuffix("]")
    if not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise ValueError(f"{address!r} is not HOST:PORT")
    return host, int(port)


def _address(text: str) -> str:
    try:
        split_address(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None
    return text


class Front:
    """Forwards each accepted connection to the target named in the state file."""

    def __init__(self, state: Path) -> None:
        self.state = state
        self.connections: set[asyncio.Task[None]] = set()
        self.last_target: str | None = None

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self.connections.add(task)
        try:
            await self._forward(reader, writer)
        finally:
            writer.close()
            self.connections.discard(task)

    async def _forward(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        target = read_target(self.state)
        backend = await _connect(target)
        if backend is None and target is not None and (newer := read_target(self.state)) != target:
            target, backend = newer, await _connect(newer)  # a switch raced this connection
        if target != self.last_target:
            self.last_target = target
            print(f"front: new connections go to {target}", file=sys.stderr, flush=True)
        if backend is None:
            problem = f"the model server at {target} is not answering" if target else NO_TARGET
            await _unavailable(reader, writer, problem)
            return
        _no_delay(writer)
        try:
            await _splice((reader, writer), backend)
        finally:
            backend[1].close()


async def _splice(client: Streams, backend: Streams) -> None:
    """Pump both ways. A half-close by the client is passed on and the backend answers
    for as long as it likes; once the backend closes, the client gets LINGER_SECONDS to
    close too (one that never does must not hold the front). A reset ends both."""
    upstream = asyncio.create_task(_pump(client[0], backend[1]))
    downstream = asyncio.create_task(_pump(backend[0], client[1]))
    try:
        done, _ = await asyncio.wait((upstream, downstream), return_when=asyncio.FIRST_COMPLETED)
        if upstream in done and upstream.exception() is None:
            await asyncio.wait((downstream,))
        if downstream.done() and downstream.exception() is None:
            await asyncio.wait((upstream,), timeout=LINGER_SECONDS)
    finally:
        for pump in (upstream, downstream):
            pump.cancel()
        await asyncio.gather(upstream, downstream, return_exceptions=True)


async def _connect(target: str | None) -> Streams | None:
    if target is None:
        return None
    try:
        host, port = split_address(target)
        reader, writer = await asyncio.wait_for(
            asyncio.open_connection(host, port), CONNECT_SECONDS
        )
    except (OSError, ValueError):  # TimeoutError is an OSError
        return None
    _no_delay(writer)
    return reader, writer


def _no_delay(writer: asyncio.StreamWriter) -> None:
    # asyncio sets it already; said here because a proxy must never hold small writes back
    writer.get_extra_info("socket").setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)


async def _pump(source: asyncio.StreamReader, sink: asyncio.StreamWriter) -> None:
    """Copy one direction; its EOF becomes a half-close of the other connection."""
    while chunk := await source.read(CHUNK):
        sink.write(chunk)
        await sink.drain()
    if sink.can_write_eof():
        sink.write_eof()


async def _unavailable(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter, problem: str
) -> None:
    body = json.dumps({"error": problem}).encode()
    head = (
        "HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n"
    )
    with contextlib.suppress(OSError):
        writer.write(head.encode() + body)
        writer.write_eof()
        # read what the client sent until it closes: closing a socket with unread
        # data would send a reset that can destroy the answer before it is read
        async with asyncio.timeout(LINGER_SECONDS):
            while await reader.read(CHUNK):
                pass


async def serve(host: str, port: int, state: Path, grace: float) -> int:
    front = Front(state)
    server = await asyncio.start_server(front.handle, host, port, backlog=1024)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    print(f"front: listening on {host}:{port} (target file {state})", file=sys.stderr, flush=True)
    await stop.wait()
    server.close()  # no new connections; the open ones get the grace period
    if front.connections:
        _, late = await asyncio.wait(front.connections, timeout=grace)
        for task in late:
            task.cancel()
        await asyncio.gather(*late, return_exceptions=True)
    print("front: stopped", file=sys.stderr, flush=True)
    return 0


def switch(address: str, state: Path, *, check: bool) -> int:
    previous = read_target(state)
    if check and (problem := _health_problem(address)) is not None:
        print(
            f"error: not switching to {address}: {problem}; new connections still go to "
            f"{previous or 'nothing'}",
            file=sys.stderr,
        )
        return 1
    write_target(state, address)
    print(previous or "")
    return 0


def _health_problem(address: str) -> str | None:
    host, port = split_address(address)
    connection = http.client.HTTPConnection(host, port, timeout=CHECK_SECONDS)
    try:
        connection.request("GET", "/health")
        response = connection.getresponse()
        body = " ".join(response.read(500).decode(errors="replace").split())[:200]
    except (OSError, http.client.HTTPException) as exc:
        return f"GET /health failed ({exc or type(exc).__name__})"
    finally:
        connection.close()
    return None if response.status == 200 else f"GET /health answered {response.status} {body}"


def main(argv: list[str] | None = None) -> int:
    env = os.environ
    parser = argparse.ArgumentParser(
        prog="python3 -m app.serving.front",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    commands = parser.add_subparsers(dest="command")
    serve_command = commands.add_parser("serve", help="forward connections (the default)")
    serve_command.add_argument(
        "--listen",
        type=_address,
        default=f"{env.get('MODELBAY_HOST', '127.0.0.1')}:{env.get('MODELBAY_PORT', '8000')}",
    )
    switch_command = commands.add_parser("switch", help="send new connections to HOST:PORT")
    switch_command.add_argument("address", type=_address, metavar="HOST:PORT")
    switch_command.add_argument(
        "--no-check", action="store_true", help="do not ask HOST:PORT for /health first"
    )
    commands.add_parser("target", help="print the current target")
    args = parser.parse_args((sys.argv[1:] if argv is None else argv) or ["serve"])

    state = state_file()
    if args.command == "switch":
        return switch(args.address, state, check=not args.no_check)
    if args.command == "target":
        print(read_target(state) or "")
        return 0
    host, port = split_address(args.listen)
    grace = float(env.get("MODELBAY_FRONT_GRACE", "30"))
    return asyncio.run(serve(host, port, state, grace))


if __name__ == "__main__":
    raise SystemExit(main())
