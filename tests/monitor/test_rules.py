"""Which test each column gets, and its kind: Evidently's data-drift preset, branch by branch."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from app.monitor import DriftOptions, choose_test, compare_frames, infer_kind

RNG = np.random.default_rng(7)


@pytest.mark.parametrize(
    ("kind", "reference_values", "unique_values", "test"),
    [
        # a reference of at most 1,000 values: p-value tests
        ("numeric", 1000, 6, "ks"),
        ("numeric", 1000, 5, "chisquare"),  # few-valued numeric: tested as categories
        ("numeric", 10, 3, "chisquare"),
        ("numeric", 1000, 2, "z"),
        ("numeric", 1000, 1, "z"),
        ("categorical", 1000, 3, "chisquare"),
        ("categorical", 1000, 2, "z"),
        ("categorical", 1000, 1, "z"),
        # more than 1,000: distances
        ("numeric", 1001, 6, "wasserstein"),
        ("numeric", 1001, 5, "jensenshannon"),
        ("numeric", 200_000, 2, "jensenshannon"),
        ("categorical", 1001, 100, "jensenshannon"),
        ("categorical", 1001, 2, "jensenshannon"),
    ],
)
def test_default_test(kind: str, reference_values: int, unique_values: int, test: str) -> None:
    assert choose_test(kind, reference_values, unique_values) == test


def _tests(reference: pd.DataFrame, current: pd.DataFrame) -> dict[str, str]:
    return {c.column: c.test for c in compare_frames(reference, current).columns}


def test_the_reference_size_counts_values_not_rows() -> None:
    """1,005 rows with 10 missing are 995 values: still a 'small' reference (KS)."""
    values = RNG.normal(0, 1, 1005)
    values[:10] = np.nan
    values[10:12] = np.inf  # infinities count as missing too
    reference = pd.DataFrame({"x": values, "y": RNG.normal(0, 1, 1005)})
    current = pd.DataFrame({"x": RNG.normal(0, 1, 500), "y": RNG.normal(0, 1, 500)})
    assert _tests(reference, current) == {"x": "ks", "y": "wasserstein"}


def test_few_distinct_values_are_counted_over_both_tables() -> None:
    """5 values in the reference plus a sixth in the current table: numeric again (KS)."""
    reference = pd.DataFrame(
        {"x": RNG.integers(0, 5, 300) + 0.5, "y": RNG.integers(0, 5, 300) + 0.5}
    )
    current = pd.DataFrame({"x": np.r_[RNG.integers(0, 5, 99) + 0.5, 9.5], "y": [0.5, 1.5] * 50})
    assert _tests(reference, current) == {"x": "ks", "y": "chisquare"}


def test_two_values_get_the_z_test_and_the_kind_comes_from_the_current_table() -> None:
    reference = pd.DataFrame({"flag": RNG.integers(0, 40, 400), "b": RNG.random(400) < 0.5})
    current = pd.DataFrame({"flag": RNG.integers(0, 2, 300), "b": RNG.random(300) < 0.5})
    report = compare_frames(reference, current)
    kinds = {c.column: (c.kind, c.test) for c in report.columns}
    # 40 distinct integers in the reference, 2 in the current table: categorical (Evidently
    # infers kinds from the current data); 41 distinct values together: chi-square.
    assert kinds == {"flag": ("categorical", "chisquare"), "b": ("categorical", "z")}


@pytest.mark.parametrize(
    ("values", "kind"),
    [
        (pd.Series([0.5, 1.5] * 10), "numeric"),  # floats are numeric, however few values
        (pd.Series(list(range(10)) * 3), "categorical"),  # at most 10 distinct integers
        (pd.Series(list(range(11)) * 3), "numeric"),
        (pd.Series([True, False, True]), "categorical"),
        (pd.Series([True, None, False], dtype=object), "categorical"),
        (pd.Series(["a", "b", "a", "b"]), "categorical"),
        (pd.Series(["a", "b", "c", "a"]), "text"),  # more than half distinct: free text
        (pd.Series(["a", "b", "c", "a"], dtype="category"), "categorical"),
        (pd.Series(pd.to_datetime(["2024-01-01", "2024-01-02"])), "datetime"),
        (pd.Series([1, "a", 2.5], dtype=object), "unknown"),
    ],
)
def test_kind_inference(values: pd.Series, kind: str) -> None:
    assert infer_kind(values) == kind


def test_free_text_dates_and_empty_columns_are_listed_as_not_compared() -> None:
    reference = pd.DataFrame(
        {
            "note": [f"note {i}" for i in range(20)],
            "when": pd.date_range("2024-01-01", periods=20),
            "empty": [np.nan] * 20,
            "only_inf": [np.inf] * 20,
            "x": RNG.normal(0, 1, 20),
        }
    )
    current = reference.copy()
    report = compare_frames(reference, current)
    assert [c.column for c in report.columns] == ["x"]
    reasons = {s.column: s.reason for s in report.skipped}
    assert set(reasons) == {"note", "when", "empty", "only_inf"}
    assert "free text" in reasons["note"]
    assert "dates" in reasons["when"]
    assert reasons["empty"] == (
        "no values in the reference or in the current table (missing and infinite ones "
        "do not count)"
    )
    assert reasons["only_inf"] == reasons["empty"]


def test_a_test_asked_for_replaces_the_default_and_thresholds_follow_it() -> None:
    reference = pd.DataFrame({"x": RNG.normal(0, 1, 2000), "c": RNG.choice(["a", "b", "c"], 2000)})
    current = pd.DataFrame({"x": RNG.normal(0, 1, 500), "c": RNG.choice(["a", "b", "c"], 500)})
    options = DriftOptions(
        tests={"x": "ks"}, categorical_test="chisquare", p_threshold=0.01, distance_threshold=0.2
    )
    report = compare_frames(reference, current, options)
    got = {c.column: (c.test, c.threshold, c.p_value is not None) for c in report.columns}
    assert got == {"x": ("ks", 0.01, True), "c": ("chisquare", 0.01, True)}
    psi = compare_frames(
        reference, current, DriftOptions(numeric_test="psi", distance_threshold=0.2)
    )
    x = psi.columns[0]
    assert (x.test, x.threshold, x.statistic) == ("psi", 0.2, x.psi)


def test_a_kind_asked_for_replaces_the_inferred_one() -> None:
    reference = pd.DataFrame({"code": RNG.integers(0, 50, 300)})
    current = pd.DataFrame({"code": RNG.integers(0, 50, 300)})
    report = compare_frames(reference, current, DriftOptions(kinds={"code": "categorical"}))
    assert (report.columns[0].kind, report.columns[0].test) == ("categorical", "chisquare")


def test_jensenshannon_on_a_many_valued_numeric_column_uses_sturges_bins() -> None:
    """Evidently bins numeric JS by value up to 20 reference values, by Sturges bins above."""
    from scipy.spatial.distance import jensenshannon

    u, v = RNG.normal(0, 1, 3000), RNG.normal(0.2, 1, 800)
    report = compare_frames(
        pd.DataFrame({"x": u}), pd.DataFrame({"x": v}), DriftOptions(tests={"x": "jensenshannon"})
    )
    edges = np.histogram_bin_edges(np.concatenate((u, v)), bins="sturges")
    expected = jensenshannon(np.histogram(u, edges)[0] / len(u), np.histogram(v, edges)[0] / len(v))
    assert report.columns[0].statistic == pytest.approx(expected, abs=1e-9)
