"""``python -m app.serving --model-dir DIR [--port N] ...``: serve one model folder.

Settings reach the server processes through environment variables, so the
same image runs with ``docker run -e MODELBAY_WORKERS=2 ...`` and locally with
command-line flags. SIGTERM stops accepting connections, lets in-flight
requests finish (up to ``--graceful-seconds``) and writes the open monitoring
window.
"""

from __future__ import annotations

import argparse
import os
import shutil
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


if __name__ == "__main__":
    raise SystemExit(main())
