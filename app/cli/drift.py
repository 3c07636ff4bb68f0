"""``modelbay drift ...``: data drift from the command line (today: two tables compared).

Exit status 0 whether or not drift is found: finding drift is a result, not a
failure (scripts read ``dataset_drift`` from ``--json``); 1 when the tables
cannot be compared (the ``error:`` line says why), 2 for a usage error.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from app.monitor import ColumnDrift, DriftReport

TEST_NAMES = ("ks", "chisquare", "z", "wasserstein", "jensenshannon", "psi")
"""The same names as app.monitor.TESTS, spelled out so that --help needs no import."""


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``drift`` and its subcommands to the top-level parser."""
    drift = sub.add_parser(
        "drift",
        help="measure data drift: compare a current table with a reference one",
        description="Measure data drift. Statistics and default tests follow Evidently's "
        "data-drift preset (see docs/drift.md).",
    )
    commands = drift.add_subparsers(dest="drift_command", metavar="COMMAND", required=True)
    p = commands.add_parser(
        "compare",
        help="compare two tables (CSV, or Parquet with pyarrow) column by column",
        description="Compare CURRENT with REFERENCE column by column: each column's kind, "
        "test, statistic, p-value, PSI and whether it drifted, then the share of drifted "
        "columns. Exit status 0 whether or not drift is found, 1 if the tables cannot be "
        "compared.",
    )
    p.add_argument(
        "reference", metavar="REFERENCE", help="the reference table (e.g. training data)"
    )
    p.add_argument("current", metavar="CURRENT", help="the table to check (e.g. recent inputs)")
    p.add_argument(
        "--threshold",
        type=_fraction,
        default=0.05,
        metavar="P",
        help="p-value tests (ks, chisquare, z) flag drift below this p-value (default 0.05)",
    )
    p.add_argument(
        "--distance-threshold",
        type=_positive_float,
        default=0.1,
        metavar="D",
        help="distances (wasserstein, jensenshannon, psi) flag drift at or above this "
        "(default 0.1)",
    )
    p.add_argument(
        "--drift-share",
        type=_fraction,
        default=0.5,
        metavar="S",
        help="the dataset drifts when at least this share of its columns drift (default 0.5)",
    )
    p.add_argument(
        "--test",
        action="append",
        default=[],
        metavar="COLUMN=TEST",
        help=f"use TEST for COLUMN instead of the default choice (repeatable); "
        f"TEST is one of {', '.join(TEST_NAMES)}",
    )
    p.add_argument(
        "--num-test", choices=TEST_NAMES, metavar="TEST", help="use TEST for every numeric column"
    )
    p.add_argument(
        "--cat-test",
        choices=TEST_NAMES,
        metavar="TEST",
        help="use TEST for every categorical column",
    )
    p.add_argument(
        "--kind",
        action="append",
        default=[],
        metavar="COLUMN=KIND",
        help="treat COLUMN as numeric or categorical instead of the inferred kind (repeatable)",
    )
    p.add_argument(
        "--column",
        action="append",
        dest="columns",
        metavar="COLUMN",
        help="compare only this column (repeatable; default: every column)",
    )
    p.add_argument(
        "--ignore", action="append", default=[], metavar="COLUMN", help="leave COLUMN out"
    )
    p.add_argument("--encoding", default="utf-8", help="the CSV files' encoding (default utf-8)")
    p.add_argument("--json", action="store_true", help="print JSON instead of text")
    p.set_defaults(run=compare)


def compare(args: argparse.Namespace) -> int:
    from app.cli.output import emit_json
    from app.cli.progress import terminal_progress
    from app.monitor import DriftOptions, compare_tables

    options = DriftOptions(
        p_threshold=args.threshold,
        distance_threshold=args.distance_threshold,
        drift_share=args.drift_share,
        tests=_assignments(args.test, "--test", "COLUMN=TEST"),
        numeric_test=args.num_test,
        categorical_test=args.cat_test,
        kinds=_assignments(args.kind, "--kind", "COLUMN=numeric or COLUMN=categorical"),
        columns=args.columns,
        ignore=tuple(args.ignore),
    )
    with terminal_progress("comparing", unit="col") as bar:
        report = compare_tables(
            Path(args.reference), Path(args.current), options, encoding=args.encoding, progress=bar
        )
    if args.json:
        emit_json(report.to_json())
    else:
        print_report(report)
    return 0


def print_report(report: DriftReport) -> None:
    from app.cli.output import print_table

    if report.columns:
        print_table(
            ["column", "kind", "test", "statistic", "p-value", "psi", "drifted"],
            [_row(c) for c in report.columns],
        )
        print()
    for skipped in report.skipped:
        print(f"not compared: {skipped.column}: {skipped.reason}")
    verdict = "DATASET DRIFT" if report.dataset_drift else "no dataset drift"
    print(
        f"{report.drifted_columns} of {len(report.columns)} columns drifted "
        f"({report.drift_share:.0%}): {verdict} "
        f"(that takes {report.drift_share_threshold:.0%} of the columns or more)"
    )


def _row(column: ColumnDrift) -> list[str]:
    return [
        column.column,
        column.kind,
        column.test,
        _number(column.statistic),
        "-" if column.p_value is None else f"{column.p_value:.3g}",
        _number(column.psi),
        "yes" if column.drifted else "no",
    ]


def _number(value: float) -> str:
    return f"{value:.4g}"


def _assignments(items: list[str], option: str, form: str) -> dict[str, str]:
    from app.errors import InvalidInputError

    found: dict[str, str] = {}
    for item in items:
        column, sep, value = item.rpartition("=")
        if not sep or not column or not value:
            raise InvalidInputError(f"{option} {item!r} is not {form}")
        found[column] = value
    return found


def _fraction(text: str) -> float:
    value = _float(text)
    if not 0 < value <= 1:
        raise argparse.ArgumentTypeError(f"{text!r} must be above 0 and at most 1")
    return value


def _positive_float(text: str) -> float:
    value = _float(text)
    if not value > 0:
        raise argparse.ArgumentTypeError(f"{text!r} must be above 0")
    return value


def _float(text: str) -> float:
    try:
        return float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
