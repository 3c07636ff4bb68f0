"""``modelbay monitor``: pull a deployed service's monitoring windows, store them, judge drift.

``modelbay monitor SERVICE@HOST --once`` pulls what is new (everything the
runtime still holds after the last stored window), stores it in the registry and
prints one summary line (``--json``: the whole result); without ``--once`` it
pulls every ``--interval`` seconds until Ctrl+C. ``--set drift_share=0.3``
changes the service's alert thresholds, ``--export FILE.csv`` writes the stored
windows' drift, one row per window and feature. ``modelbay monitor --all``
pulls every service that is live, one line each (what the desktop app does in
the background, so that alerts reach you wherever its window is).

Exit status with ``--once``: 0, or 3 when the service (with ``--all``: any
service) is alerting (for cron jobs and CI gates), 1 on errors.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from app.cli.output import emit_json
from app.errors import InvalidInputError, ModelbayError

if TYPE_CHECKING:
    from app.monitor.live import Monitor, PullResult
    from app.registry import Registry

ALERTING = 3


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    help_text = (
        "pull a deployed service's monitoring windows and report drift against its reference"
    )
    p = sub.add_parser("monitor", help=help_text, description=help_text)
    p.add_argument("address", metavar="SERVICE@HOST", nargs="?")
    p.add_argument(
        "--all", action="store_true", help="pull every live service instead of one SERVICE@HOST"
    )
    p.add_argument("--once", action="store_true", help="pull once and exit (3 when alerting)")
    p.add_argument(
        "--interval",
        type=_seconds,
        default=10.0,
        metavar="S",
        help="seconds between pulls without --once (default 10)",
    )
    p.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="change an alert threshold of the service: drift_share (default 0.5), "
        "error_rate (0.05), span (windows pooled, 10), min_rows (30); repeatable",
    )
    p.add_argument("--export", type=Path, metavar="FILE.csv", help="write the stored drift as CSV")
    p.add_argument("--json", action="store_true", help="print JSON (one document per pull)")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from app.cli.commands import open_registry, secret_prompt
    from app.deploy.service import parse_address
    from app.monitor.live import Monitor, export_csv, set_thresholds

    if args.all:
        if args.address or args.set or args.export:
            raise InvalidInputError(
                "--all pulls every live service; it takes no SERVICE@HOST, --set or --export",
                hint="use those with one service: modelbay monitor SERVICE@HOST --set ...",
            )
        return _run_all(args)
    if not args.address:
        raise InvalidInputError(
            "which service? give SERVICE@HOST, or --all for every live service",
            hint="`modelbay deployments` lists them",
        )
    service, host = parse_address(args.address)
    with open_registry() as registry:
        if args.set:
            changes = dict(_key_value(item) for item in args.set)
            updated = set_thresholds(registry, host, service, changes)
            print(f"thresholds of {args.address}: {_listing(updated.to_json())}", file=sys.stderr)
        if args.export:
            registry.get_host(host)
            written = export_csv(registry, host, service, args.export)
            print(f"wrote {written} rows to {args.export}", file=sys.stderr)
            if not args.once:
                return 0
        elif args.set and not args.once:
            return 0
        with Monitor(registry, args.address, prompt=secret_prompt()) as monitor:
            if args.once:
                result = monitor.pull()
                _show(result, args.json)
                return ALERTING if result.alert else 0
            return _watch(monitor, args)


def _run_all(args: argparse.Namespace) -> int:
    import time

    from app.cli.commands import open_registry, secret_prompt
    from app.monitor.live import Round, pull_all

    def one_round(registry: Registry) -> Round:
        done = pull_all(registry, prompt=secret_prompt())
        for result in done.results:
            _show(result, args.json)
        for address, exc in done.errors.items():
            if args.json:
                emit_json({"address": address, "error": exc.message, "hint": exc.hint})
            else:
                hint = f" ({exc.hint})" if exc.hint else ""
                print(f"error: {address}: {exc.message}{hint}", flush=True)
        if not done.results and not done.errors:
            print("no service is live; `modelbay deployments` lists them", file=sys.stderr)
        return done

    with open_registry() as registry:
        if args.once:
            done = one_round(registry)
            return ALERTING if done.alerting else (1 if done.errors else 0)
        print(
            f"pulling every live service every {args.interval:g} s; Ctrl+C to stop",
            file=sys.stderr,
            flush=True,
        )
        try:
            while True:
                one_round(registry)
                time.sleep(args.interval)
        except KeyboardInterrupt:
            return 0


def _watch(monitor: Monitor, args: argparse.Namespace) -> int:
    from app.monitor.live import watch

    print(
        f"pulling {monitor.address} every {args.interval:g} s; Ctrl+C to stop",
        file=sys.stderr,
        flush=True,
    )

    def failed(exc: ModelbayError) -> None:
        print(f"error: {exc.message}" + (f" ({exc.hint})" if exc.hint else ""), flush=True)

    try:
        watch(
            monitor,
            interval=args.interval,
            on_result=lambda result: _show(result, args.json),
            on_error=failed,
            stop=lambda: False,
        )
    except KeyboardInterrupt:
        return 0
    return 0


def _show(result: PullResult, as_json: bool) -> None:
    if as_json:
        emit_json(result.to_json())
    else:
        print(result.summary(), flush=True)


def _key_value(item: str) -> tuple[str, str]:
    key, sep, value = item.partition("=")
    if not sep or not key.strip():
        raise InvalidInputError(f"--set wants KEY=VALUE, not {item!r}", hint="e.g. drift_share=0.3")
    return key.strip(), value.strip()


def _listing(values: dict[str, object]) -> str:
    return ", ".join(f"{k}={v}" for k, v in values.items())


def _seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of seconds") from None
    if value < 1:
        raise argparse.ArgumentTypeError("pull at most once a second")
    return value
