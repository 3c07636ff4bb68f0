"""``python -m app.serving --model-dir DIR [--port N] ...``: serve one model folder.

Settings reach the server processes through environment variables, so the
same image runs with ``docker run -e MODELBAY_WORKERS=2 ...`` and locally with
command-line flags. SIGTERM stops accepting connections, lets in-flight
requests finish (up to ``--graceful-seconds``) and writes the open monitoring
window.

``MODELBAY_TOKEN`` (a bearer token the endpoints then require) is read from the
environment only, never from a flag that ``ps`` would show; it reaches every
server process unchanged.
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import socket
import sys
import tempfile
from pathlib import Path


def main(argv: list[str] | None = None) -> int:
    env = os.environ
    parser = argparse.ArgumentParser(prog="python -m app.serving", description=__doc__)
    parser.add_argument(
        "--model-dir", type=Path, default=Path(env.get("MODELBAY_MODEL_DIR", "/model"))
    )
    parser.add_argument("--host", default=env.get("MODELBAY_HOST", "127.0.0.1"))
    parser.add_argument("--port", type=int, default=int(env.get("MODELBAY_PORT", "8000")))
    parser.add_argument(
        "--workers",
        type=int,
        default=int(env.get("MODELBAY_WORKERS", "1")),
        help="server processes (use one per core)",
    )
    parser.add_argument(
        "--state-dir",
        type=Path,
        default=None,
        help="folder shared by the workers (monitoring windows, metrics)",
    )
    parser.add_argument(
        "--max-body-mb", type=int, default=int(env.get("MODELBAY_MAX_BODY_MB", "50"))
    )
    parser.add_argument(
        "--timeout",
        type=float,
        default=float(env.get("MODELBAY_REQUEST_TIMEOUT", "30")),
        help="seconds a prediction may take before the request gets a 504",
    )
    parser.add_argument(
        "--window-seconds", type=float, default=float(env.get("MODELBAY_WINDOW_SECONDS", "60"))
    )
    parser.add_argument(
        "--windows-kept", type=int, default=int(env.get("MODELBAY_WINDOWS_KEPT", "1440"))
    )
    parser.add_argument("--reservoir", type=int, default=int(env.get("MODELBAY_RESERVOIR", "500")))
    parser.add_argument(
        "--no-monitoring",
        action="store_true",
        default=env.get("MODELBAY_MONITORING", "1") in {"0", "false", "off"},
    )
    parser.add_argument("--graceful-seconds", type=int, default=30)
    parser.add_argument("--log-level", default=env.get("MODELBAY_LOG_LEVEL", "warning"))
    args = parser.parse_args(argv)

    from app.serving.errors import CannotServe
    from app.serving.model import ModelFolder

    try:
        ModelFolder.read(args.model_dir)  # refuse at start, with the reason, not per request
    except CannotServe as exc:
        print(f"error: cannot serve {args.model_dir}: {exc}", file=sys.stderr)
        return 1

    state_dir = args.state_dir or Path(tempfile.mkdtemp(prefix="modelbay-serving-"))
    metrics_dir = state_dir / "prometheus"
    shutil.rmtree(metrics_dir, ignore_errors=True)
    env_update = {
        "MODELBAY_MODEL_DIR": str(args.model_dir.absolute()),
        "MODELBAY_STATE_DIR": str(state_dir.absolute()),
        "MODELBAY_MAX_BODY_MB": str(args.max_body_mb),
        "MODELBAY_REQUEST_TIMEOUT": str(args.timeout),
        "MODELBAY_WINDOW_SECONDS": str(args.window_seconds),
        "MODELBAY_WINDOWS_KEPT": str(args.windows_kept),
        "MODELBAY_RESERVOIR": str(args.reservoir),
        "MODELBAY_MONITORING": "0" if args.no_monitoring else "1",
    }
    if args.workers > 1:
        metrics_dir.mkdir(parents=True, exist_ok=True)
        env_update["PROMETHEUS_MULTIPROC_DIR"] = str(metrics_dir)
    os.environ.update(env_update)
    if hasattr(signal, "SIGUSR1"):  # "drain" (server.py); until the server handles it, ignore
        signal.signal(signal.SIGUSR1, signal.SIG_IGN)

    problem = cannot_listen(args.host, args.port)
    if problem is not None:  # uvicorn would log it and exit 3 with no word of what to do
        print(f"error: {problem}", file=sys.stderr)
        if args.state_dir is None:
            shutil.rmtree(state_dir, ignore_errors=True)
        return 1

    try:
        if args.workers > 1 and hasattr(socket, "SO_REUSEPORT"):
            return _serve_with_reuseport(args)
        import uvicorn

        uvicorn.run(
            "app.serving.server:create_app",
            factory=True,
            host=args.host,
            port=args.port,
            workers=args.workers,
            log_level=args.log_level,
            timeout_graceful_shutdown=args.graceful_seconds,
            access_log=False,
        )
        return 0
    finally:
        if args.state_dir is None:
            shutil.rmtree(state_dir, ignore_errors=True)  # our own temporary folder


def cannot_listen(host: str, port: int) -> str | None:
    """Why the server could not listen on ``host:port`` (``"...; what to do"``), or None.

    A bind of a throwaway socket, as uvicorn binds (SO_REUSEADDR: a port left in
    TIME_WAIT by a previous run is free, one a program listens on is not).
    """
    import errno

    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except socket.gaierror:
            return (
                f"cannot find the address {host!r} to listen on; give an address of this "
                "machine with --host"
            )
        except OSError as exc:
            if exc.errno == errno.EADDRINUSE:
                return f"port {port} on {host} is already in use; pick another with --port"
            if exc.errno == errno.EACCES:
                return (
                    f"port {port} on {host} may only be used by the system administrator "
                    "(ports below 1024); pick one from 1024 up with --port"
                )
            if exc.errno == errno.EADDRNOTAVAIL:
                return f"{host} is not an address of this machine; give one with --host"
            return f"cannot listen on {host}:{port}: {exc.strerror or exc}"
    return None


def _serve_with_reuseport(args: argparse.Namespace) -> int:
    """One listening socket per worker process, bound with SO_REUSEPORT.

    With one shared socket (uvicorn's ``workers=N``) the first process to wake up
    accepts most keep-alive connections and the others idle; with SO_REUSEPORT
    the kernel spreads new connections across the processes.
    """
    import multiprocessing

    from app.serving.workers import one_worker

    context = multiprocessing.get_context("spawn")
    options = (args.host, args.port, args.log_level, args.graceful_seconds)
    workers = [
        context.Process(target=one_worker, args=options, daemon=False) for _ in range(args.workers)
    ]
    for worker in workers:
        worker.start()

    def stop(signum: int, _frame: object) -> None:
        for worker in workers:
            if worker.pid is not None and worker.is_alive():
                os.kill(worker.pid, signum)

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    signal.signal(signal.SIGUSR1, stop)  # not a stop: "drain", passed on to every worker
    failed = False
    while any(w.is_alive() for w in workers):
        for worker in workers:
            worker.join(timeout=0.5)
            if worker.exitcode not in (None, 0, -signal.SIGTERM, -signal.SIGINT) and not failed:
                failed = True  # a worker died on its own: take the others down too
                stop(signal.SIGTERM, None)
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
