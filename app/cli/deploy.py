"""``modelbay deploy``, ``rollback``, ``deployments``, ``logs``, ``stop``, ``tunnel``, ``token``.

Progress and the step log go to stderr, the result to stdout (``--json`` for
scripts). Exit status 1 when a deploy fails: the previous version keeps serving
and the ``error:`` line says why (the new container's last log lines, when it wrote
some, are printed just above it).
"""

from __future__ import annotations

import argparse
import datetime as dt
import re
import sys
from typing import TYPE_CHECKING, Any

from app.cli.output import emit_json, human_time, print_table
from app.errors import InvalidInputError

if TYPE_CHECKING:
    from app.deploy.service import DeployOptions, DeployResult

_SIZE = re.compile(r"^(\d+(?:\.\d+)?)\s*([kmgt]?)b?$", re.IGNORECASE)


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add the deployment commands to the top-level parser."""

    def add(name: str, help_text: str) -> argparse.ArgumentParser:
        return sub.add_parser(name, help=help_text, description=help_text)

    def json_flag(p: argparse.ArgumentParser) -> None:
        p.add_argument("--json", action="store_true", help="print JSON instead of text")

    p = add(
        "deploy",
        "run a version on a host: ship if needed, start, health-check, switch, retire the old",
    )
    p.add_argument("ref", metavar="REF", help="NAME, NAME:VERSION or NAME@ALIAS (built first)")
    p.add_argument("host", metavar="HOST", help="a host added with `modelbay host add`")
    _deploy_options(p)
    p.add_argument("--port", type=_port, help="the service's port on the host (default: free one)")
    p.add_argument(
        "--public",
        action="store_true",
        default=None,
        help="listen on all the host's interfaces (default: its loopback only, reached "
        "through `modelbay tunnel`); requires a bearer token, kept in the OS keyring",
    )
    p.add_argument(
        "--swarm",
        action="store_true",
        help="run it as a Docker Swarm service (a single-node swarm is made if the host is "
        "in none): Swarm updates start-first and rolls back by itself; see docs/scaling.md",
    )
    p.add_argument(
        "--set-alias",
        metavar="ALIAS",
        help="when the deploy succeeds, point this alias (e.g. production) at the version",
    )
    json_flag(p)
    p.set_defaults(run=deploy)

    p = add("rollback", "return a service to the version that served before (or --to)")
    p.add_argument("address", metavar="SERVICE@HOST")
    p.add_argument("--to", metavar="REF", help="the version to return to")
    p.add_argument("--timeout", type=float, default=120.0, help="health-check timeout (s)")
    json_flag(p)
    p.set_defaults(run=rollback)

    p = add("deployments", "what runs where, as the hosts show it now (or the history)")
    p.add_argument("--host", action="append", help="only this host (repeatable)")
    p.add_argument("--history", action="store_true", help="every recorded deployment, newest first")
    p.add_argument(
        "--at",
        metavar="TIME",
        help="what served on --host at this time (ISO 8601, e.g. 2026-11-24T09:30Z)",
    )
    p.add_argument("--limit", type=int, default=50, help="rows of --history (default 50)")
    json_flag(p)
    p.set_defaults(run=deployments)

    p = add("logs", "the log of the version a service runs")
    p.add_argument("address", metavar="SERVICE@HOST")
    p.add_argument("--follow", "-f", action="store_true", help="keep printing new lines")
    p.add_argument("--tail", type=int, default=100, help="lines from the end (default 100)")
    p.set_defaults(run=logs)

    p = add("stop", "stop a service (gracefully) and remove its containers; images stay")
    p.add_argument("address", metavar="SERVICE@HOST")
    json_flag(p)
    p.set_defaults(run=stop)

    p = add("tunnel", "forward a local port to a service over SSH, until Ctrl+C")
    p.add_argument("address", metavar="SERVICE@HOST")
    p.add_argument("--local-port", type=_port, default=0, help="default: any free port")
    p.set_defaults(run=tunnel)

    p = add("token", "print the bearer token of a public service (from the OS keyring)")
    p.add_argument("address", metavar="SERVICE@HOST")
    p.set_defaults(run=token)


def _deploy_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--name", dest="service", help="the service name (default: the model's name)")
    p.add_argument(
        "--env",
        action="append",
        metavar="KEY=VALUE",
        help="environment variable for the model server (repeatable; default: those of the "
        "version running now)",
    )
    p.add_argument("--memory", type=_size, help="memory limit, e.g. 2g (default: as now)")
    p.add_argument("--cpus", type=float, help="CPU limit, e.g. 1.5 (default: as now)")
    p.add_argument(
        "--timeout",
        type=float,
        default=120.0,
        help="seconds the new version gets to become healthy (default 120)",
    )


# ---------------------------------------------------------------------- commands
def _options(args: argparse.Namespace) -> DeployOptions:
    from app.deploy.service import DeployOptions

    env = None
    if args.env is not None:
        env = {}
        for item in args.env:
            key, eq, value = item.partition("=")
            if not eq or not key:
                raise InvalidInputError(f"{item!r} is not KEY=VALUE", hint="e.g. --env THREADS=4")
            env[key] = value
    return DeployOptions(
        service=args.service,
        port=args.port,
        public=args.public,
        env=env,
        memory=args.memory,
        cpus=args.cpus,
        timeout=args.timeout,
        set_alias=args.set_alias,
        swarm=args.swarm,
    )


def _say(args: argparse.Namespace) -> Any:
    if args.json:
        return lambda line: None
    return lambda line: print(line, file=sys.stderr, flush=True)


def deploy(args: argparse.Namespace) -> int:
    from app.cli.commands import open_registry, secret_prompt
    from app.cli.progress import terminal_progress
    from app.deploy.service import deploy as run_deploy

    with open_registry() as registry, terminal_progress("shipping", unit="B") as progress:
        result = run_deploy(
            registry,
            args.ref,
            args.host,
            _options(args),
            prompt=secret_prompt(),
            log=_say(args),
            progress=progress,
        )
    _print_result(args, result)
    return 0


def rollback(args: argparse.Namespace) -> int:
    from app.cli.commands import open_registry, secret_prompt
    from app.cli.progress import terminal_progress
    from app.deploy.service import DeployOptions
    from app.deploy.service import rollback as run_rollback

    with open_registry() as registry, terminal_progress("shipping", unit="B") as progress:
        result = run_rollback(
            registry,
            args.address,
            to=args.to,
            options=DeployOptions(timeout=args.timeout),
            prompt=secret_prompt(),
            log=_say(args),
            progress=progress,
        )
    _print_result(args, result)
    return 0


def _print_result(args: argparse.Namespace, result: DeployResult) -> None:
    if args.json:
        emit_json(result.to_json())
        return
    d = result.deployment
    before = f" (was {result.replaced.ref})" if result.replaced else ""
    where = "all interfaces" if d.public else "loopback"
    print(
        f"{d.address} serves {d.ref}{before} on port {d.port} ({where}) in {result.seconds:.1f} s"
    )
    if d.public:
        print(f"clients send 'Authorization: Bearer <token>'; `modelbay token {d.address}`")
    else:
        print(f"reach it from here: modelbay tunnel {d.address}")


def deployments(args: argparse.Namespace) -> int:
    from app.cli.commands import open_registry, secret_prompt

    with open_registry() as registry:
        if args.at:
            return _serving_at(args, registry)
        if args.history:
            rows = registry.deployments(limit=args.limit)
            if args.host:
                rows = [r for r in rows if r.host in args.host]
            if args.json:
                emit_json([r.to_json() for r in rows])
                return 0
            print_table(
                ("ID", "SERVICE@HOST", "VERSION", "KIND", "STATUS", "STARTED", "BY", "ERROR"),
                [
                    [
                        r.uid,
                        r.address,
                        r.ref,
                        r.kind,
                        r.status,
                        human_time(r.started_at),
                        r.created_by,
                        (r.error.splitlines() or [""])[0][:60],
                    ]
                    for r in rows
                ],
            )
            return 0
        from app.deploy.service import service_statuses

        found = service_statuses(registry, args.host, prompt=secret_prompt())
    if args.json:
        emit_json([s.to_json() for s in found])
        return 0
    if not found:
        print("nothing deployed yet; `modelbay deploy NAME HOST` runs a version", file=sys.stderr)
        return 0
    print_table(
        ("SERVICE@HOST", "VERSION", "STATE", "PORT", "SINCE", "DETAIL"),
        [
            [
                s.address,
                s.ref or "-",
                s.state,
                f"{s.port}{' (public)' if s.public else ''}" if s.port else "-",
                (s.started_at or "")[:19].replace("T", " ") or "-",
                s.detail + (f"; not from this registry: {', '.join(s.others)}" if s.others else ""),
            ]
            for s in found
        ],
    )
    return 0


def _serving_at(args: argparse.Namespace, registry: Any) -> int:
    if not args.host or len(args.host) != 1:
        raise InvalidInputError("--at needs exactly one --host", hint="e.g. --host gpu-1 --at ...")
    try:
        when = dt.datetime.fromisoformat(args.at.replace("Z", "+00:00"))
    except ValueError:
        raise InvalidInputError(
            f"{args.at!r} is not a time", hint="write ISO 8601, e.g. 2026-11-24T09:30Z"
        ) from None
    if when.tzinfo is None:
        when = when.astimezone()  # a time without zone is the user's local time
    rows = registry.serving_at(args.host[0], when)
    if args.json:
        emit_json([r.to_json() for r in rows])
        return 0
    if not rows:
        print(f"nothing served on {args.host[0]} at {when.isoformat()}")
    for r in rows:
        print(f"{r.address}  {r.ref}  live since {human_time(r.live_at)}  ({r.uid})")
    return 0


def logs(args: argparse.Namespace) -> int:
    from app.cli.commands import open_registry, secret_prompt
    from app.deploy.service import logs as read_logs

    with open_registry() as registry:
        for chunk in read_logs(
            registry, args.address, follow=args.follow, tail=args.tail, prompt=secret_prompt()
        ):
            sys.stdout.buffer.write(chunk)
            sys.stdout.flush()
    return 0


def stop(args: argparse.Namespace) -> int:
    from app.cli.commands import open_registry, secret_prompt
    from app.deploy.service import stop as run_stop

    with open_registry() as registry:
        stopped = run_stop(registry, args.address, prompt=secret_prompt(), log=_say(args))
    if args.json:
        emit_json([row.to_json() for row in stopped])
    else:
        print(f"stopped {args.address}")
    return 0


def tunnel(args: argparse.Namespace) -> int:
    import threading

    from app.cli.commands import open_registry, secret_prompt
    from app.deploy.service import open_tunnel

    with (
        open_registry() as registry,
        open_tunnel(registry, args.address, local_port=args.local_port, prompt=secret_prompt()) as (
            forward,
            status,
        ),
    ):
        print(f"{args.address} ({status.ref or 'no version'}, {status.state}) is at {forward.url}")
        print("press Ctrl+C to close the tunnel", file=sys.stderr, flush=True)
        try:
            while forward.alive:
                threading.Event().wait(1.0)
        except KeyboardInterrupt:
            return 0
        print(f"error: the tunnel closed: {forward.last_error or 'the connection was lost'}")
        return 1


def token(args: argparse.Namespace) -> int:
    from app.deploy.service import parse_address, token_entry
    from app.errors import NotFoundError
    from app.remote.secrets import SecretStore

    service, host = parse_address(args.address)
    store = SecretStore.open()
    secret = store.get(token_entry(host, service))
    if secret is None:
        from app.cli.commands import open_registry

        with open_registry() as registry:
            newest = registry.deployments(host=host, service=service, limit=1)
        if newest and not newest[0].public:
            raise InvalidInputError(
                f"{args.address} is not public (deployed without --public) and needs no token",
                hint=f"reach it with modelbay tunnel {args.address}",
            )
        raise NotFoundError(
            f"no token for {args.address} in the OS keyring"
            + (f" ({store.problem})" if store.problem else ""),
            hint="it was shown when the service was first deployed with --public; deploying "
            "again from a machine whose keyring has none keeps the service's current token",
        )
    print(secret)
    return 0


# ---------------------------------------------------------------------- argument types
def _port(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a port number") from None
    if not 0 < value < 65536:
        raise argparse.ArgumentTypeError(f"{value} is out of range (1-65535)")
    return value


def _size(text: str) -> int:
    match = _SIZE.match(text.strip())
    if match is None:
        raise argparse.ArgumentTypeError(f"{text!r} is not a size; write e.g. 512m or 2g")
    number, unit = float(match[1]), match[2].lower()
    return int(number * 1024 ** " kmgt".index(unit or " "))
