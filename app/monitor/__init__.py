"""Monitoring: how far the data a model sees has drifted from its reference data.

Today: comparing a reference table with a current one column by column
(:func:`compare_tables`, ``modelbay drift compare``), choosing each column's
test as Evidently's data-drift preset does; and profiling a version's
reference table (:func:`profile_table`) into the bins and categories the
serving runtime counts live inputs on. The statistics work on numpy arrays and
scipy; pandas and scipy load only when a comparison or a profile runs.
"""

from __future__ import annotations

from app.monitor.drift import (
    KINDS,
    TESTS,
    ColumnDrift,
    DriftOptions,
    DriftReport,
    SkippedColumn,
    TableInfo,
    choose_test,
    compare_frames,
    compare_tables,
    infer_kind,
)
from app.monitor.profile import profile_table, runtime_profile

__all__ = [
    "KINDS",
    "TESTS",
    "ColumnDrift",
    "DriftOptions",
    "DriftReport",
    "SkippedColumn",
    "TableInfo",
    "choose_test",
    "compare_frames",
    "compare_tables",
    "infer_kind",
    "profile_table",
    "runtime_profile",
]
