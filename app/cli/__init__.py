"""The ``modelbay`` command line: every registry operation, scriptable.

``modelbay`` alone opens the desktop app; ``modelbay COMMAND ...`` runs a
command. Exit status: 0 success, 1 a failed operation (one ``error: ...`` line
on stderr saying what to do), 2 a usage error, 130 interrupted.

Heavy modules (SQLAlchemy, tqdm, Qt) are imported inside the command that
needs them, so ``modelbay --help`` and ``--version`` start instantly.
"""

from __future__ import annotations

import argparse
import atexit
import contextlib
import os
import sys
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any, NoReturn

from app.cli import commands
from app.errors import ModelbayError
from app.logs import log, logging_to_file

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2
EXIT_INTERRUPTED = 130


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="modelbay",
        description="Registry, builder and deployer for trained machine-learning models. "
        "Run without a command to open the desktop app.",
    )
    parser.add_argument(
        "--version", action="store_true", dest="show_version", help="print the version and exit"
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    def add(name: str, help_text: str) -> argparse.ArgumentParser:
        return sub.add_parser(name, help=help_text, description=help_text)

    def json_flag(p: argparse.ArgumentParser) -> None:
        p.add_argument("--json", action="store_true", help="print JSON instead of text")

    p = add("import", "register a model file or folder as a new version")
    p.add_argument("path", help="the model file or folder")
    p.add_argument(
        "--name",
        help="model name (default: from the file or folder name); "
        "an existing name gets a new version",
    )
    p.add_argument(
        "--tag",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="tag the new version (repeatable)",
    )
    p.add_argument("--note", default="", help="a free-text note on the version")
    p.add_argument(
        "--reference",
        metavar="DATA",
        help="attach this table (CSV or Parquet) as the new version's reference data "
        "(see `modelbay reference`)",
    )
    json_flag(p)
    p.set_defaults(run=commands.import_)

    p = add("list", "list models (their newest version) or, with --all, every version")
    p.add_argument("--query", help="text to find in names, descriptions, notes and tags")
    p.add_argument(
        "--tag",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="only versions with this tag (repeatable: all must match)",
    )
    p.add_argument("--alias", help="only versions this alias points at")
    p.add_argument(
        "--all",
        action="store_true",
        dest="all_versions",
        help="every matching version, not only the newest of each model",
    )
    p.add_argument("--limit", type=_positive_int, help="at most this many rows")
    json_flag(p)
    p.set_defaults(run=commands.list_)

    p = add("show", "show one version: NAME, NAME:VERSION or NAME@ALIAS")
    p.add_argument("ref", metavar="REF")
    json_flag(p)
    p.set_defaults(run=commands.show)

    p = add("tag", "set (or remove) tags on a version")
    p.add_argument("ref", metavar="NAME:VERSION")
    p.add_argument("tags", nargs="*", metavar="KEY=VALUE")
    p.add_argument(
        "--remove", action="append", default=[], metavar="KEY", help="remove this tag (repeatable)"
    )
    json_flag(p)
    p.set_defaults(run=commands.tag)

    p = add("alias", "point an alias (production, staging, ...) at a version, or move it")
    p.add_argument("name", metavar="NAME")
    p.add_argument("alias", metavar="ALIAS")
    p.add_argument("version", metavar="VERSION", nargs="?", type=_positive_int)
    p.add_argument("--delete", action="store_true", help="remove the alias")
    json_flag(p)
    p.set_defaults(run=commands.alias)

    p = add("archive", "mark a version archived (kept, but not offered for use)")
    p.add_argument("ref", metavar="NAME:VERSION")
    json_flag(p)
    p.set_defaults(run=commands.archive)

    p = add("approve", "release a quarantined version after reviewing what it would run")
    p.add_argument("ref", metavar="NAME:VERSION")
    p.add_argument(
        "--yes",
        action="store_true",
        help="do not ask for confirmation (required when not on a terminal)",
    )
    json_flag(p)
    p.set_defaults(run=commands.approve)

    p = add("export", "write a version's files into a folder, byte-identical")
    p.add_argument("ref", metavar="REF")
    p.add_argument("directory", metavar="DIR")
    json_flag(p)
    p.set_defaults(run=commands.export)

    p = add("history", "the event log of a model: who did what, when")
    p.add_argument("name", metavar="NAME")
    json_flag(p)
    p.set_defaults(run=commands.history)

    p = add("verify", "re-hash every stored file and report missing or corrupt ones")
    json_flag(p)
    p.set_defaults(run=commands.verify)

    p = add(
        "demo",
        "add a few small example models (trained now on scikit-learn's built-in datasets) "
        "to try Modelbay with",
    )
    json_flag(p)
    p.set_defaults(run=commands.demo)

    p = add("serve", "serve a version over HTTP on this machine (MLflow's scoring protocol)")
    p.add_argument("ref", metavar="REF", help="NAME, NAME:VERSION or NAME@ALIAS")
    p.add_argument("--port", type=_positive_int, default=5000)
    p.add_argument(
        "--host", default="127.0.0.1", help="address to listen on (default: this machine only)"
    )
    p.add_argument(
        "--workers",
        type=_positive_int,
        default=1,
        help="server processes (one per core for throughput)",
    )
    p.add_argument(
        "--profile",
        type=Path,
        metavar="JSON",
        help="reference profile for the monitoring windows (a JSON file; default: the "
        "profile of the version's reference data, if it has any)",
    )
    p.add_argument(
        "--window-seconds", type=float, default=60.0, help="length of one monitoring window"
    )
    p.add_argument("--no-monitoring", action="store_true", help="do not keep monitoring windows")
    p.set_defaults(run=commands.serve)

    p = add("build", "build a Docker image that serves a version (offline, reproducible)")
    p.add_argument("ref", metavar="REF", help="NAME, NAME:VERSION or NAME@ALIAS")
    p.add_argument(
        "--base-image",
        metavar="IMAGE",
        help="image to build on, with Python 3 (default: MODELBAY_BASE_IMAGE, the app's "
        "settings, then python:3.11-slim); it must already be on this machine",
    )
    p.add_argument("--tag", metavar="TAG", help="image tag (default: modelbay/NAME:VERSION)")
    p.add_argument(
        "--profile",
        type=Path,
        metavar="JSON",
        help="reference profile for the monitoring windows, baked into the image (default: "
        "the profile of the version's reference data, if it has any)",
    )
    p.add_argument(
        "--no-smoke-test",
        action="store_true",
        help="do not start the built image to check that it answers",
    )
    p.add_argument(
        "--refresh-lock",
        action="store_true",
        help="resolve the dependencies again (default: reuse the cached lock for the same "
        "requirements, which needs no network)",
    )
    p.add_argument("--quiet", action="store_true", help="do not print the build log")
    json_flag(p)
    p.set_defaults(run=commands.build)

    p = add("builds", "list the image builds of a version, or of every version")
    p.add_argument("ref", metavar="REF", nargs="?", help="NAME, NAME:VERSION or NAME@ALIAS")
    p.add_argument("--limit", type=_positive_int, default=50)
    json_flag(p)
    p.set_defaults(run=commands.builds)

    _add_host_commands(add, json_flag)

    p = add("ship", "copy a version's image to a host over SSH, sending only what it lacks")
    p.add_argument("ref", metavar="REF", help="NAME, NAME:VERSION or NAME@ALIAS (built first)")
    p.add_argument("host", metavar="HOST", help="a host added with `modelbay host add`")
    json_flag(p)
    p.set_defaults(run=commands.ship)

    p = add("gui", "open the desktop app (the same as running modelbay alone)")
    p.set_defaults(run=commands.gui)

    from app.cli import deploy, drift, monitor, reference  # their own modules, own options

    deploy.register(sub)
    drift.register(sub)
    monitor.register(sub)
    reference.register(sub)
    return parser


def _add_host_commands(add: Any, json_flag: Any) -> None:
    host = add("host", "the machines images ship to: add, list, check, trust, remove")
    sub = host.add_subparsers(dest="host_command", metavar="ACTION", required=True)

    p = sub.add_parser("add", help="add a host reached over SSH")
    p.add_argument("name", help="a short name for it, e.g. gpu-1")
    p.add_argument(
        "--ssh",
        required=True,
        metavar="[USER@]HOST[:PORT]",
        help="how to reach it; ~/.ssh/config fills in what is left out",
    )
    p.add_argument("--identity", metavar="KEY", help="private key file to log in with")
    json_flag(p)
    p.set_defaults(run=commands.host_add)

    p = sub.add_parser("list", help="list the hosts and their last check")
    json_flag(p)
    p.set_defaults(run=commands.host_list)

    p = sub.add_parser("check", help="reachable? key trusted? login? Docker's version, free disk")
    p.add_argument("name")
    json_flag(p)
    p.set_defaults(run=commands.host_check)

    p = sub.add_parser("trust", help="trust the host key the host shows, after checking it")
    p.add_argument("name")
    p.add_argument(
        "--fingerprint",
        metavar="SHA256:...",
        help="trust only this key (as `ssh-keygen -lf` prints it on the host)",
    )
    json_flag(p)
    p.set_defaults(run=commands.host_trust)

    p = sub.add_parser("remove", help="forget a host (and the secrets kept for it)")
    p.add_argument("name")
    p.set_defaults(run=commands.host_remove)


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"{text!r} must be 1 or more")
    return value


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.show_version:
        from app import version

        print(f"modelbay {version()}")
        return EXIT_OK
    if args.command is None:
        return commands.gui(args)
    # libraries' log records (paramiko's "Secsh channel 3 open FAILED", its traceback of a
    # port that is not SSH) go to the log file: the terminal gets the one `error:` line
    with logging_to_file(_log_dir()):
        try:
            result: int = args.run(args)
        except ModelbayError as exc:
            _print_error(exc.message, exc.hint)
            return EXIT_FAILED
        except KeyboardInterrupt:
            _print_error("interrupted", "nothing half-done was recorded; run the command again")
            return EXIT_INTERRUPTED
        except BrokenPipeError:  # e.g. `modelbay list | head`
            return EXIT_OK
    return result


def run() -> NoReturn:
    """The ``modelbay`` program: :func:`main`, then an exit that skips Python's teardown.

    A command that imported SQLAlchemy, docker and paramiko spends 0.1-0.3 s at exit
    freeing its objects one by one (``modelbay ship`` of a new version: about a quarter
    of its time; docs/architecture.md). Once the command has returned nothing needs
    freeing: the exit handlers run (logs flushed, temporary files removed), the output
    is flushed, and the process ends. A process that loaded Qt, or still runs a thread
    that is not a daemon, ends the usual way."""
    code = main()
    others = [t for t in threading.enumerate() if t is not threading.main_thread()]
    if "PySide6" in sys.modules or any(not t.daemon for t in others):
        raise SystemExit(code)
    atexit._run_exitfuncs()  # what the interpreter's own exit runs first
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(OSError, ValueError):  # a reader that left: nothing to say
            stream.flush()
    os._exit(code)


def _log_dir() -> Path | None:
    from app.config import Config

    try:
        return Config.from_environment().log_dir
    except Exception:  # noqa: BLE001 - no data home: the command says so itself, without a log
        return None


def _print_error(message: str, hint: str | None) -> None:
    line = " ".join((f"error: {message}" + (f"; {hint}" if hint else "")).split())
    print(line, file=sys.stderr)
    log.warning("modelbay %s", line)
