"""A server process that listens on its own SO_REUSEPORT socket (see ``__main__``).

It lives in a module of its own so that ``multiprocessing``'s spawn can import it.
"""

from __future__ import annotations

import socket


def one_worker(host: str, port: int, log_level: str, graceful_seconds: int) -> None:
    import uvicorn

    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    listener = socket.socket(family, socket.SOCK_STREAM)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    listener.bind((host, port))
    listener.listen(2048)
    config = uvicorn.Config(
        "app.serving.server:create_app",
        factory=True,
        log_level=log_level,
        timeout_graceful_shutdown=graceful_seconds,
        access_log=False,
    )
    uvicorn.Server(config).run(sockets=[listener])
