"""``modelbay reference``: a version's reference data (attach a table, or show what is attached).

``modelbay import PATH --reference DATA`` attaches one right after the import
(:func:`attach_after_import`); ``modelbay show`` prints it (:func:`describe`).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from app.cli.output import emit_json, human_size, human_time
from app.errors import InvalidInputError, ModelbayError

if TYPE_CHECKING:
    from app.registry import DatasetVersionInfo, Registry, VersionInfo


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``reference`` to the top-level parser."""
    p = sub.add_parser(
        "reference",
        help="attach reference data (CSV or Parquet) to a version, or show what is attached",
        description="Attach DATA (CSV, or Parquet with pyarrow) as the reference data of a "
        "version: stored once in the registry, profiled (column kinds, quantile bin edges, "
        "category frequencies, missing rates, statistics, a sample), and used by "
        "`modelbay serve` and `modelbay build` to count live inputs on the same bins. "
        "Without DATA, show the version's reference data.",
    )
    p.add_argument("ref", metavar="NAME:VERSION")
    p.add_argument("data", metavar="DATA", nargs="?", help="the table to attach")
    p.add_argument(
        "--encoding",
        default="utf-8",
        metavar="ENC",
        help="the CSV file's encoding (default utf-8; e.g. latin-1, cp1252, utf-16)",
    )
    p.add_argument(
        "--json",
        action="store_true",
        help="print JSON instead of text (without DATA: with the whole profile)",
    )
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from app.cli.commands import exact_version, open_registry

    ref = exact_version(args.ref)
    with open_registry() as registry:
        if args.data is None:
            return _show(registry, registry.get(ref), args.json)
        info, reference = _attach(registry, str(ref), Path(args.data), args.encoding)
    _report(info, reference, args.json)
    return 0


def attach_after_import(registry: Registry, info: VersionInfo, data: str, *, as_json: bool) -> int:
    """Attach ``data`` to a version just imported; if that fails the version stays, and the
    error says so and how to attach the data later."""
    try:
        info, reference = _attach(registry, info.ref, Path(data), "utf-8")
    except ModelbayError as exc:
        if as_json:
            emit_json(info.to_json() | {"reference": None})
        retry = f"then `modelbay reference {info.ref} {data}`"
        hint = f"{exc.hint}; {retry}" if exc.hint else f"fix the data, {retry}"
        message = (
            f"{info.ref} was registered, but {data} was not attached as its reference data: "
            f"{exc.message}; {hint}"
        )
        print("error: " + " ".join(message.split()), file=sys.stderr)
        return 1
    if as_json:
        emit_json(info.to_json() | {"reference": reference.to_json()})
    else:
        _print_attached(info, reference)
    return 0


def _attach(
    registry: Registry, ref: str, data: Path, encoding: str
) -> tuple[VersionInfo, DatasetVersionInfo]:
    from app.cli.progress import terminal_progress

    with terminal_progress(f"reference {data.name}", unit="step") as bar:
        return registry.attach_reference(ref, data, encoding=encoding, progress=bar)


def _report(info: VersionInfo, reference: DatasetVersionInfo, as_json: bool) -> None:
    if as_json:
        emit_json({"name": info.name, "version": info.version, "reference": reference.to_json()})
    else:
        _print_attached(info, reference)


def _print_attached(info: VersionInfo, reference: DatasetVersionInfo) -> None:
    print(f"attached {reference.file_name} to {info.ref} as {describe(reference)}")
    for name, column in (reference.profile or {}).get("columns", {}).items():
        print(f"  {name}: {_describe_column(column)}")
    for warning in reference.warnings:
        print(f"warning: {reference.file_name}: {warning}", file=sys.stderr)


def _show(registry: Registry, info: VersionInfo, as_json: bool) -> int:
    reference = registry.reference(info)
    if as_json:
        emit_json(
            {
                "name": info.name,
                "version": info.version,
                "reference": None if reference is None else reference.to_json(with_profile=True),
            }
        )
        return 0
    if reference is None:
        raise InvalidInputError(
            f"{info.ref} has no reference data",
            hint=f"attach a table of the data it was trained on: modelbay reference {info.ref} "
            "DATA.csv",
        )
    print(f"{info.ref}: {reference.file_name}, {describe(reference)}")
    print(
        f"  from {reference.source_path}, {reference.created_by}, "
        f"{human_time(reference.created_at)}"
    )
    for name, column in (reference.profile or {}).get("columns", {}).items():
        print(f"  {name}: {_describe_column(column)}")
    ignored = (reference.profile or {}).get("ignored_columns") or []
    if ignored:
        print(f"  not profiled (the model does not take them): {', '.join(ignored)}")
    return 0


def describe(reference: DatasetVersionInfo) -> str:
    """``iris-reference:1 (120 rows, 4 columns, 3.2 KB, csv, sha256 0123456789ab)``"""
    columns = len(reference.columns)
    return (
        f"{reference.ref} ({reference.rows} row{'s' if reference.rows != 1 else ''}, "
        f"{columns} column{'s' if columns != 1 else ''}, {human_size(reference.size)}, "
        f"{reference.format}, sha256 {reference.sha256[:12]})"
    )


def _describe_column(column: dict[str, Any]) -> str:
    kind = str(column.get("kind"))
    missing = float(column.get("missing_rate") or 0.0)
    missing_text = f", {missing:.1%} missing" if missing else ""
    if kind == "numeric":
        stats = column.get("stats") or {}
        edges = column.get("bin_edges") or []
        if not edges:
            return f"numeric, no values{missing_text}"
        return (
            f"numeric, {len(edges) + 1} bins, {_number(stats.get('min'))} .. "
            f"{_number(stats.get('max'))}, mean {_number(stats.get('mean'))}{missing_text}"
        )
    categories = column.get("categories") or []
    unique = (column.get("stats") or {}).get("unique", len(categories))
    shown = ", ".join(categories[:5]) + (", ..." if len(categories) > 5 else "")
    other = (column.get("stats") or {}).get("other_share") or 0.0
    other_text = f", other {other:.1%}" if other else ""
    return f"{kind}, {unique} distinct ({shown}){other_text}{missing_text}"


def _number(value: Any) -> str:
    return "-" if value is None else f"{value:.4g}"
