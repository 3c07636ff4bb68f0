"""What each ``modelbay`` command does: parse its arguments, call the registry, print."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn

from app.cli.output import emit_json, human_size, human_time, print_table
from app.cli.progress import terminal_progress
from app.errors import InvalidInputError
from app.registry.names import VersionRef, parse_ref, parse_tag

if TYPE_CHECKING:
    from app.demo import DemoResult
    from app.registry import BuildInfo, Registry, VersionInfo


@contextmanager
def open_registry() -> Iterator[Registry]:
    from app.registry import Registry

    registry = Registry.open()
    try:
        yield registry
    finally:
        registry.close()


def exact_version(text: str) -> VersionRef:
    """NAME:VERSION, refusing NAME or NAME@ALIAS where a change needs an exact version."""
    ref = parse_ref(text)
    if ref.version is None:
        raise InvalidInputError(
            f"{text!r} does not name a version", hint="write NAME:VERSION, e.g. churn:3"
        )
    return ref


def _report(info: VersionInfo, as_json: bool, text: str) -> None:
    if as_json:
        emit_json(info.to_json())
    else:
        print(text)


def _tags(items: Sequence[str]) -> dict[str, str]:
    tags: dict[str, str] = {}
    for item in items:
        key, value = parse_tag(item)
        if key in tags and tags[key] != value:
            raise InvalidInputError(f"tag {key!r} given twice with different values")
        tags[key] = value
    return tags


def import_(args: argparse.Namespace) -> int:
    path = Path(args.path)
    tags = _tags(args.tag)
    with open_registry() as registry:
        with terminal_progress(f"importing {path.name}", unit="B") as bar:
            info = registry.import_path(
                path, name=args.name, tags=tags, note=args.note, progress=bar
            )
        if args.json and args.reference is None:
            emit_json(info.to_json())
        elif not args.json:
            what = (
                info.format if info.framework == "unknown" else f"{info.format}, {info.framework}"
            )
            plural = "s" if info.file_count != 1 else ""
            print(
                f"registered {info.ref}  {what}  {human_size(info.size)}  "
                f"sha256 {info.sha256[:12]}  ({info.file_count} file{plural})"
            )
        _warn_about_safety(info)
        if args.reference is None:
            return 0
        from app.cli.reference import attach_after_import

        # the version is registered whatever happens to its reference data
        return attach_after_import(registry, info, args.reference, as_json=args.json)


def _warn_about_safety(info: VersionInfo) -> None:
    safety = info.safety or {}
    if info.status == "quarantined":
        print(
            f"warning: {info.ref} is QUARANTINED: {_would_run(safety)}. It cannot be built or "
            f"deployed. Review it, then `modelbay approve {info.ref}` if you trust its source.",
            file=sys.stderr,
        )
    elif safety.get("verdict") == "suspicious":
        print(
            f"warning: {info.ref} is suspicious: {_would_run(safety)}; "
            f"see `modelbay show {info.ref}`",
            file=sys.stderr,
        )
    elif info.format == "unknown" and safety.get("message"):
        print(f"note: {info.ref}: {safety['message']}", file=sys.stderr)


def _would_run(safety: dict[str, Any]) -> str:
    findings = safety.get("findings") or []
    names = sorted({f"{f.get('global')} (in {f.get('path')})" for f in findings})
    if not names:
        return "; ".join(safety.get("notes") or []) or "see its safety report"
    shown = ", ".join(names[:5]) + (f" and {len(names) - 5} more" if len(names) > 5 else "")
    return f"loading it would import {shown}"


def list_(args: argparse.Namespace) -> int:
    tags = _tags(args.tag)
    with open_registry() as registry:
        infos = registry.list_versions(
            query=args.query,
            tags=tags,
            alias=args.alias,
            latest_only=not args.all_versions,
            limit=args.limit,
            with_files=args.json,
        )
    if args.json:
        emit_json([info.to_json() for info in infos])
        return 0
    if not infos:
        print(
            "no models match"
            if (args.query or tags or args.alias)
            else "the registry is empty: add a model with `modelbay import PATH`"
        )
        return 0
    print_table(
        ["NAME", "VERSION", "FORMAT", "FRAMEWORK", "SIZE", "STATUS", "ALIASES", "CREATED"],
        [
            [
                i.name,
                str(i.version),
                i.format,
                i.framework,
                human_size(i.size),
                i.status,
                ",".join(i.aliases),
                human_time(i.created_at),
            ]
            for i in infos
        ],
    )
    return 0


def show(args: argparse.Namespace) -> int:
    from app.cli.reference import describe

    with open_registry() as registry:
        info = registry.get(parse_ref(args.ref))
        reference = registry.reference(info)
        builds = [] if args.json else registry.builds(info.ref, limit=1)
    if args.json:
        emit_json(
            info.to_json() | {"reference": None if reference is None else reference.to_json()}
        )
        return 0
    extra = [("image", f"{b.tag} ({b.status}, {human_time(b.created_at)})") for b in builds[:1]]
    if reference is not None:
        extra.append(("reference", f"{reference.file_name}, {describe(reference)}"))
    _print_version(info, extra)
    return 0


def _print_version(info: VersionInfo, extra: Sequence[tuple[str, str]] = ()) -> None:
    rows = [
        ("model", info.name),
        ("version", str(info.version)),
        ("status", info.status),
        ("format", info.format),
        (
            "framework",
            info.framework + (f" {info.framework_version}" if info.framework_version else ""),
        ),
        ("size", f"{human_size(info.size)} in {info.file_count} file(s)"),
        ("sha256", info.sha256),
        ("aliases", ", ".join(info.aliases) or "-"),
        ("tags", ", ".join(f"{k}={v}" for k, v in info.tags.items()) or "-"),
        ("created", f"{human_time(info.created_at)} by {info.created_by}"),
        ("source", info.source_path or "-"),
    ]
    safety = info.safety or {}
    if safety:
        approved = safety.get("approved")
        by = f" (approved by {approved['by']})" if isinstance(approved, dict) else ""
        rows.append(("safety", f"{safety.get('verdict', 'unknown')}{by}"))
    if info.signature:
        rows.append(("signature", _describe_signature(info.signature)))
    if info.note:
        rows.append(("note", info.note))
    if info.description:
        rows.append(("description", info.description))
    rows.extend(extra)
    width = max(len(k) for k, _ in rows)
    for key, value in rows:
        print(f"{key:<{width}}  {value}")
    print("files:")
    for item in info.files:
        print(f"  {item.sha256[:12]}  {human_size(item.size):>9}  {item.path}")
    for finding in safety.get("findings") or []:
        print(
            f"  ! {finding.get('severity')}: {finding.get('global')} in {finding.get('path')}"
            f" - {finding.get('why')}"
        )
    if safety.get("message"):
        print(f"  {safety['message']}")


def _describe_signature(signature: dict[str, Any]) -> str:
    if "tensors" in signature:
        return f"{signature.get('tensor_count')} tensors ({signature.get('source')})"
    inputs = signature.get("inputs") or []
    parts = []
    for item in inputs[:8]:
        if isinstance(item, dict):
            shape = item.get("shape")
            suffix = f" {shape}" if shape is not None else ""
            parts.append(f"{item.get('name')}: {item.get('type')}{suffix}")
    more = f" and {len(inputs) - 8} more" if len(inputs) > 8 else ""
    count = signature.get("n_features")
    described = ", ".join(parts) + more if parts else (f"{count} features" if count else "-")
    return f"{described} ({signature.get('source')})"


def approve(args: argparse.Namespace) -> int:
    ref = exact_version(args.ref)
    with open_registry() as registry:
        info = registry.get(ref)
        if info.status == "quarantined" and not args.yes:
            print(f"{info.ref} is quarantined: {_would_run(info.safety or {})}.", file=sys.stderr)
            print(
                "Approving lets Modelbay build and deploy it, and whoever loads it will run "
                "that code.",
                file=sys.stderr,
            )
            if not sys.stdin.isatty():
                raise InvalidInputError(
                    "approval needs confirmation", hint="run on a terminal, or pass --yes"
                )
            answer = input(f"Type {info.ref} to approve it: ")
            if answer.strip() != info.ref:
                raise InvalidInputError("not approved: the confirmation did not match")
        info = registry.approve(info.ref)
    _report(
        info,
        args.json,
        f"approved {info.ref}; it is ready (recorded in `modelbay history {info.name}`)",
    )
    return 0


def tag(args: argparse.Namespace) -> int:
    ref = exact_version(args.ref)
    tags = _tags(args.tags)
    if not tags and not args.remove:
        raise InvalidInputError("no tag given", hint="write KEY=VALUE, or --remove KEY")
    with open_registry() as registry:
        info = registry.get(ref)
        if tags:
            info = registry.set_tags(info.ref, tags)
        if args.remove:
            info = registry.remove_tags(info.ref, args.remove)
    if args.json:
        emit_json(info.to_json())
    else:
        print(f"{info.ref} tags: " + (", ".join(f"{k}={v}" for k, v in info.tags.items()) or "-"))
    return 0


def alias(args: argparse.Namespace) -> int:
    with open_registry() as registry:
        if args.delete:
            if args.version is not None:
                raise InvalidInputError("--delete takes no VERSION")
            registry.remove_alias(args.name, args.alias)
            if args.json:
                emit_json({"name": args.name, "alias": args.alias, "deleted": True})
            else:
                print(f"removed alias {args.name}@{args.alias}")
            return 0
        if args.version is None:
            raise InvalidInputError(
                "which version should the alias point at?",
                hint=f"modelbay alias {args.name} {args.alias} VERSION",
            )
        info = registry.set_alias(args.name, args.alias, args.version)
    _report(info, args.json, f"{args.name}@{args.alias} -> version {info.version}")
    return 0


def archive(args: argparse.Namespace) -> int:
    ref = exact_version(args.ref)
    with open_registry() as registry:
        info = registry.archive(str(ref))
    _report(info, args.json, f"archived {info.ref}")
    return 0


def export(args: argparse.Namespace) -> int:
    with open_registry() as registry:
        info = registry.get(parse_ref(args.ref))
        with terminal_progress(f"exporting {info.ref}", unit="B") as bar:
            written = registry.export(info.ref, Path(args.directory), progress=bar)
    if args.json:
        emit_json({"name": info.name, "version": info.version, "files": [str(p) for p in written]})
    else:
        for path in written:
            print(path)
    return 0


def history(args: argparse.Namespace) -> int:
    with open_registry() as registry:
        events = registry.history(args.name)
    if args.json:
        emit_json([e.to_json() for e in events])
        return 0
    print_table(
        ["WHEN", "WHO", "WHAT", "VERSION", "DETAILS"],
        [
            [
                human_time(e.at),
                e.actor,
                e.action,
                "" if e.version is None else str(e.version),
                " ".join(f"{k}={_plain(v)}" for k, v in e.details.items() if v is not None),
            ]
            for e in events
        ],
    )
    return 0


def _plain(value: Any) -> str:
    """A detail value as a person reads it: JSON for lists and dicts, text otherwise."""
    if isinstance(value, dict | list):
        return json.dumps(value, ensure_ascii=False, separators=(",", ":"))
    return str(value)


def verify(args: argparse.Namespace) -> int:
    with open_registry() as registry, terminal_progress("verifying", unit="B") as bar:
        report = registry.verify(progress=bar)
    if args.json:
        emit_json(
            {
                "ok": report.ok,
                "checked": report.store.checked,
                "missing": report.store.missing,
                "corrupt": report.store.corrupt,
                "damaged_versions": report.damaged,
            }
        )
    elif report.ok:
        print(f"ok: {report.store.checked} stored file(s) match their hashes")
    else:
        print(
            f"{len(report.store.missing)} missing, {len(report.store.corrupt)} corrupt "
            f"of {report.store.checked + len(report.store.missing)} stored files"
        )
        for ref, paths in report.damaged.items():
            print(f"  {ref}: {', '.join(paths)}")
    if not report.ok:
        print(
            "error: the artifact store is damaged; re-import the versions listed above "
            "from their source files",
            file=sys.stderr,
        )
        return 1
    return 0


def demo(args: argparse.Namespace) -> int:
    from app.config import Config
    from app.demo import ALREADY_THERE, create_demo, default_workdir

    workdir = default_workdir(Config.from_environment())
    with open_registry() as registry, terminal_progress("demo models", unit="step") as bar:
        result = create_demo(registry, workdir, progress=bar)
    if args.json:
        emit_json([info.to_json() for info in result])
        for name, why in result.skipped.items():
            if why != ALREADY_THERE:
                print(f"note: {name} skipped: {why}", file=sys.stderr)
    else:
        _print_demo(result, workdir)
    for info in result:
        if result.skipped.get(info.name) != ALREADY_THERE:
            _warn_about_safety(info)
    return 0


def _print_demo(result: DemoResult, workdir: Path) -> None:
    """One line per demo model (its newest version, format, aliases), then what to try next."""
    from app.demo import ALREADY_THERE, MODEL_NAMES

    by_model: dict[str, list[VersionInfo]] = {}
    for info in result:
        by_model.setdefault(info.name, []).append(info)
    for name in MODEL_NAMES:
        mine = by_model.get(name)
        if not mine:
            print(f"{name}: skipped ({result.skipped.get(name)})")
            continue
        latest = mine[-1]
        what = (
            latest.format
            if latest.framework == "unknown"
            else f"{latest.format}, {latest.framework}"
        )
        aliases = " ".join(f"{a}->{v.version}" for v in mine for a in sorted(v.aliases))
        left = (
            f"({ALREADY_THERE}, left as it was)"
            if result.skipped.get(name) == ALREADY_THERE
            else ""
        )
        print("  ".join(part for part in (latest.ref, what, aliases, left) if part))
    print(
        "next: `modelbay list` to see them, `modelbay show iris-classifier@production` for one, "
        f"or `modelbay` to open the app (model files and reference CSVs: {workdir})"
    )


def serve(args: argparse.Namespace) -> NoReturn:
    """Prepare the version's model folder, then become the serving runtime (exec)."""
    import os

    from app.bundle import monitoring_profile, write_model_folder

    profile = _read_profile(args.profile)
    with open_registry() as registry:
        info = registry.get(parse_ref(args.ref))
        if profile is None and not args.no_monitoring:
            profile = monitoring_profile(registry, info)  # None: no reference data attached
        serving = registry.store.root.parent / "serving"
        serving.mkdir(parents=True, exist_ok=True)
        folder = write_model_folder(registry, info, serving / info.sha256[:16], profile=profile)
    _refuse_unservable_here(info)  # after the folder: it refuses what nothing can serve
    argv = [
        sys.executable,
        "-m",
        "app.serving",
        "--model-dir",
        str(folder),
        "--host",
        args.host,
        "--port",
        str(args.port),
        "--workers",
        str(args.workers),
        "--window-seconds",
        str(args.window_seconds),
        "--log-level",
        "info",
        # monitoring windows outlive a restart: kept next to the model folder in the data home
        "--state-dir",
        str(folder.with_name(folder.name + "-state")),
    ]
    if args.no_monitoring:
        argv.append("--no-monitoring")
    from app.serving.__main__ import cannot_listen

    problem = cannot_listen(args.host, args.port)  # before saying "serving"
    if problem is not None:
        message, _, hint = problem.partition("; ")
        raise InvalidInputError(message, hint=hint or None)
    print(
        f"serving {info.ref} ({info.format}, {info.framework}) on http://{args.host}:{args.port}"
        "  (POST /invocations; Ctrl-C stops)",
        file=sys.stderr,
    )
    sys.stderr.flush()
    # exec: SIGTERM and Ctrl-C now go straight to the server, which stops gracefully
    os.execv(sys.executable, argv)  # noqa: S606 - a fixed argument list, no shell


_IMPORT_NAME = {"scikit-learn": "sklearn"}


def _refuse_unservable_here(info: VersionInfo) -> None:
    """Say before starting when this installation lacks the model's framework (the
    server would only report it on /health): e.g. the .deb, which ships none."""
    import importlib.util

    from app.build.requirements import model_requirements

    missing = [
        req.name
        for req in model_requirements(info)
        if importlib.util.find_spec(_IMPORT_NAME.get(req.name, req.name)) is None
    ]
    if info.format == "joblib" and importlib.util.find_spec("joblib") is None:
        missing.append("joblib")
    if not missing:
        return
    needs = ", ".join(sorted(set(missing)))
    if getattr(sys, "frozen", False):
        hint = (
            f"the installed app serves models in Docker images: modelbay build {info.ref}, "
            "then modelbay deploy (or run the image); to serve on this machine without Docker, "
            "install Modelbay with pip next to those packages"
        )
    else:
        hint = f"install them next to Modelbay (pip install {needs}), or build an image"
    raise InvalidInputError(
        f"serving {info.ref} ({info.framework}) here needs {needs}, which this Modelbay "
        "installation does not have",
        hint=hint,
    )


def _read_profile(path: Path | None) -> dict[str, Any] | None:
    if path is None:
        return None
    try:
        profile = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise InvalidInputError(f"cannot read the profile {path}: {exc}") from None
    if not isinstance(profile, dict) or not isinstance(profile.get("columns"), dict):
        raise InvalidInputError(
            f"{path} is not a Modelbay reference profile (it has no 'columns' object)"
        )
    return profile


def build(args: argparse.Namespace) -> int:
    from app.build.service import BuildOptions, build_image

    options = BuildOptions(
        base_image=args.base_image,
        tag=args.tag,
        profile=_read_profile(args.profile),
        smoke_test=not args.no_smoke_test,
        refresh_lock=args.refresh_lock,
    )

    def log(line: str) -> None:
        if not args.quiet:
            print(line, file=sys.stderr, flush=True)

    with open_registry() as registry:
        result = build_image(registry, args.ref, options, log=log)
    if args.json:
        emit_json(result.to_json())
    else:
        _print_build(result)
    if result.status == "failed":
        print(f"error: {result.error}", file=sys.stderr)
        return 1
    return 0


def _print_build(build: BuildInfo) -> None:
    size = human_size(build.size) if build.size is not None else "-"
    print(f"{build.status} {build.tag}  ({build.ref}, {size}, {build.seconds:.1f} s)")
    if build.image_id:
        print(f"image    {build.image_id}")
    if build.smoke:
        print(f"smoke    {build.smoke.get('reason', '')}")
    if build.status in {"verified", "built"}:
        print(f"run it   docker run --rm -p 8000:8000 {build.tag}")


def builds(args: argparse.Namespace) -> int:
    with open_registry() as registry:
        found = registry.builds(args.ref, limit=args.limit)
    if args.json:
        emit_json([b.to_json() for b in found])
        return 0
    if not found:
        print("no builds yet; `modelbay build NAME:VERSION` makes one", file=sys.stderr)
        return 0
    rows = [
        (
            b.ref,
            b.status,
            b.tag,
            human_size(b.size) if b.size is not None else "-",
            f"{b.seconds:.1f} s",
            human_time(b.created_at),
        )
        for b in found
    ]
    print_table(("VERSION", "STATUS", "TAG", "SIZE", "TOOK", "WHEN"), rows)
    return 0


def gui(args: argparse.Namespace) -> int:
    from app.ui import run

    return run()


# ---------------------------------------------------------------------- hosts and shipping
def secret_prompt() -> Callable[[str], str | None] | None:
    """Ask on the terminal (never echoed); in a pipe there is nobody to ask."""
    if not sys.stdin.isatty():
        return None
    import getpass

    from app.remote.secrets import SecretStore

    store = SecretStore.open()

    def ask(prompt: str) -> str | None:
        if store.problem:
            print(f"note: {store.problem}", file=sys.stderr)
        suffix = "" if store.problem else " (kept in the OS keyring)"
        return getpass.getpass(f"{prompt}{suffix}: ") or None

    return ask


def host_add(args: argparse.Namespace) -> int:
    from app.remote.hosts import check_identity_file, parse_ssh_target

    user, address, port = parse_ssh_target(args.ssh)
    identity = check_identity_file(args.identity)
    with open_registry() as registry:
        host = registry.add_host(args.name, address, port=port, user=user, identity_file=identity)
    if args.json:
        emit_json(host.to_json())
    else:
        print(f"added host {host.name} ({host.ssh_target})")
        print(f"next: `modelbay host trust {host.name}` to check and trust its host key")
    return 0


def host_list(args: argparse.Namespace) -> int:
    with open_registry() as registry:
        hosts = registry.hosts()
    if args.json:
        emit_json([h.to_json() for h in hosts])
        return 0
    if not hosts:
        print("no hosts yet; `modelbay host add NAME --ssh USER@HOST` adds one", file=sys.stderr)
        return 0
    rows = []
    for h in hosts:
        check = h.last_check or {}
        status = "not checked" if not check else ("ok" if check.get("ok") else "failing")
        docker = check.get("docker_version") or "-"
        rows.append([h.name, h.ssh_target, "yes" if h.host_key else "no", status, str(docker)])
    print_table(("NAME", "SSH", "KEY TRUSTED", "LAST CHECK", "DOCKER"), rows)
    return 0


def host_trust(args: argparse.Namespace) -> int:
    from app.remote.hosts import trust_host

    def confirm(key_type: str, fingerprint: str) -> bool:
        if not sys.stdin.isatty():
            return False
        print(f"{args.name} shows the host key {key_type} {fingerprint}", file=sys.stderr)
        print(
            "compare it with the host's own (on the host: ssh-keygen -lf "
            "/etc/ssh/ssh_host_ed25519_key.pub)",
            file=sys.stderr,
        )
        return input("trust this key? [y/N] ").strip().lower() in {"y", "yes"}

    with open_registry() as registry:
        host = trust_host(registry, args.name, fingerprint=args.fingerprint, confirm=confirm)
    if args.json:
        emit_json(host.to_json())
    else:
        print(f"trusted {host.name}'s key {host.host_key_type} {host.host_key_fingerprint}")
    return 0


def host_check(args: argparse.Namespace) -> int:
    from app.remote.hosts import check_host

    with open_registry() as registry:
        result = check_host(registry, args.name, prompt=secret_prompt())
    if args.json:
        emit_json(result)
    else:
        free = result.get("free_bytes")
        rows = [
            ("host", f"{result['name']} ({result['ssh']})"),
            ("reachable", "yes" if result["reachable"] else "no"),
            ("host key", str(result["host_key"])),
            ("login", "yes" if result["authenticated"] else "no"),
            ("docker", str(result.get("docker_version") or "-")),
            ("free disk", human_size(int(free)) if free is not None else "-"),
        ]
        for key, value in rows:
            print(f"{key:<10}  {value}")
    if not result["ok"]:
        hint = f"; {result['hint']}" if result.get("hint") else ""
        print(f"error: {result['error']}{hint}", file=sys.stderr)
        return 1
    return 0


def host_remove(args: argparse.Namespace) -> int:
    from app.remote.secrets import SecretStore, password_entry
    from app.remote.ssh import resolve

    with open_registry() as registry:
        host = registry.get_host(args.name)
        endpoint = resolve(host)
        SecretStore.open().delete(password_entry(endpoint.user, endpoint.hostname, endpoint.port))
        registry.remove_host(args.name)
    print(f"removed host {args.name}")
    return 0


def ship(args: argparse.Namespace) -> int:
    from app.remote.ship import ship as ship_image

    with open_registry() as registry, terminal_progress("shipping", unit="B") as progress:
        result = ship_image(
            registry,
            args.ref,
            args.host,
            prompt=secret_prompt(),
            log=lambda line: print(line, file=sys.stderr, flush=True) if not args.json else None,
            progress=progress,
        )
    if args.json:
        emit_json(result.to_json())
    else:
        print(
            f"{result.host} has {result.tag}: {human_size(result.bytes_sent)} sent, "
            f"{result.layers_sent} of {result.layers_total} layers, {result.seconds:.1f} s"
        )
    return 0
