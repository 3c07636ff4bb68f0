"""Monitoring: how far the data a model sees has drifted from its reference data.

Today: comparing a reference table with a current one column by column
(:func:`compare_tables`, ``modelbay drift compare``), choosing each column's
test as Evidently's data-drift preset does. The statistics work on numpy
arrays and scipy; pandas and scipy load only when a comparison runs.
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
]
