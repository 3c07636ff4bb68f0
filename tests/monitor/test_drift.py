"""Whole comparisons: known scenarios, figures equal to scipy's on the same arrays, verdicts."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import stats
from scipy.spatial.distance import jensenshannon

from app.errors import Cancelled
from app.monitor import DriftOptions, compare_frames
from app.progress import CancelToken

TOLERANCE = 1e-9


def _frame(rng: np.random.Generator, rows: int, shift: float = 0.0) -> pd.DataFrame:
    """Five kinds of columns; ``shift`` moves every one of them (in its own way)."""
    second = rng.random(rows) < (0.3 + shift / 2)
    shares = np.array([0.5, 0.3, 0.2]) + np.array([-1, 0, 1]) * shift / 2
    return pd.DataFrame(
        {
            "normal": rng.normal(shift, 1.0, rows),
            "lognormal": rng.lognormal(shift, 0.5, rows),
            "count": rng.poisson(20 + 10 * shift, rows),
            "mixture": np.where(second, rng.normal(4, 1, rows), rng.normal(0, 1, rows)),
            "colour": rng.choice(np.array(["red", "green", "blue"], dtype=object), rows, p=shares),
        }
    )


def test_no_drift_is_flagged_on_large_samples_of_the_same_distribution() -> None:
    rng = np.random.default_rng(1234)
    report = compare_frames(_frame(rng, 20_000), _frame(rng, 10_000))
    assert [c.test for c in report.columns] == [
        "wasserstein",
        "wasserstein",
        "wasserstein",
        "wasserstein",
        "jensenshannon",
    ]
    assert [c.column for c in report.columns if c.drifted] == []
    assert max(c.statistic for c in report.columns) < 0.05  # far below the 0.1 threshold
    assert max(c.psi for c in report.columns) < 0.01
    assert (report.drift_share, report.dataset_drift) == (0.0, False)


@pytest.mark.parametrize(("reference_rows", "current_rows"), [(20_000, 10_000), (1_000, 1_000)])
def test_a_half_standard_deviation_shift_is_flagged(reference_rows: int, current_rows: int) -> None:
    rng = np.random.default_rng(99)
    reference = _frame(rng, reference_rows)
    current = _frame(rng, current_rows, shift=0.5)
    report = compare_frames(reference, current)
    assert [c.column for c in report.columns if not c.drifted] == []
    assert (report.drift_share, report.dataset_drift) == (1.0, True)
    normal = report.columns[0]
    if reference_rows > 1000:
        assert normal.test == "wasserstein"
        assert normal.statistic == pytest.approx(0.5, abs=0.05)
    else:
        assert normal.test == "ks"
        assert normal.p_value is not None
        assert normal.p_value < 1e-10


def test_only_the_moved_column_drifts_and_the_dataset_drifts_from_half_the_columns() -> None:
    rng = np.random.default_rng(5)
    reference = pd.DataFrame({"a": rng.normal(0, 1, 5000), "b": rng.normal(0, 1, 5000)})
    current = pd.DataFrame({"a": rng.normal(0.5, 1, 2000), "b": rng.normal(0, 1, 2000)})
    report = compare_frames(reference, current)
    assert [c.drifted for c in report.columns] == [True, False]
    assert report.drift_share == 0.5
    assert report.dataset_drift  # "at least half"
    assert not compare_frames(reference, current, DriftOptions(drift_share=0.6)).dataset_drift


def _clean(values: pd.Series) -> np.ndarray:
    array = values.to_numpy(dtype=float)
    return array[np.isfinite(array)]


def test_numeric_figures_equal_scipys_on_the_same_cleaned_arrays() -> None:
    rng = np.random.default_rng(3)
    big_ref, big_cur = rng.normal(0, 2, 30_000), rng.normal(0.1, 2, 4_000)
    big_ref[::97] = np.nan
    big_cur[::31] = -np.inf
    small_ref, small_cur = rng.gamma(2, 1, 800), rng.gamma(2.2, 1, 300)
    reference = pd.DataFrame({"big": big_ref, "small": np.r_[small_ref, [np.nan] * 29_200]})
    current = pd.DataFrame({"big": big_cur, "small": np.r_[small_cur, [np.nan] * 3_700]})
    report = compare_frames(reference, current)
    big, small = report.columns

    u, v = _clean(reference["big"]), _clean(current["big"])
    assert (big.reference_values, big.current_values) == (len(u), len(v))
    assert (big.reference_missing, big.current_missing) == (30_000 - len(u), 4_000 - len(v))
    expected = stats.wasserstein_distance(u, v) / np.std(u)
    assert big.statistic == pytest.approx(expected, abs=TOLERANCE, rel=TOLERANCE)

    u, v = _clean(reference["small"]), _clean(current["small"])
    ks = stats.ks_2samp(u, v)
    assert small.test == "ks"
    assert small.statistic == pytest.approx(ks.statistic, abs=TOLERANCE)
    assert small.p_value == pytest.approx(ks.pvalue, abs=TOLERANCE)


def test_categorical_figures_equal_scipys_on_the_same_counts() -> None:
    rng = np.random.default_rng(4)
    values = np.array(["a", "b", "c", "d"], dtype=object)
    ref_small = rng.choice(values, 600, p=[0.4, 0.3, 0.2, 0.1])
    cur_small = rng.choice(values, 250, p=[0.3, 0.3, 0.3, 0.1])
    ref_small[:7] = None
    ref_big = rng.choice(values, 5000, p=[0.4, 0.3, 0.2, 0.1])
    cur_big = np.r_[rng.choice(values, 1900, p=[0.3, 0.3, 0.3, 0.1]), ["e"] * 100]
    report_small = compare_frames(pd.DataFrame({"c": ref_small}), pd.DataFrame({"c": cur_small}))
    report_big = compare_frames(pd.DataFrame({"c": ref_big}), pd.DataFrame({"c": cur_big}))

    keys = ["a", "b", "c", "d"]
    ref_counts = np.array([np.sum(ref_small == k) for k in keys])
    cur_counts = np.array([np.sum(cur_small == k) for k in keys])
    expected = stats.chisquare(cur_counts, ref_counts * (cur_counts.sum() / ref_counts.sum()))
    column = report_small.columns[0]
    assert (column.test, column.reference_values, column.reference_missing) == ("chisquare", 593, 7)
    assert column.statistic == pytest.approx(expected.statistic, abs=TOLERANCE, rel=TOLERANCE)
    assert column.p_value == pytest.approx(expected.pvalue, abs=TOLERANCE)

    keys = ["a", "b", "c", "d", "e"]  # "e" is new in the current table
    ref_counts = np.array([np.sum(ref_big == k) for k in keys])
    cur_counts = np.array([np.sum(cur_big == k) for k in keys])
    expected_js = jensenshannon(ref_counts / ref_counts.sum(), cur_counts / cur_counts.sum())
    column = report_big.columns[0]
    assert column.test == "jensenshannon"
    assert column.statistic == pytest.approx(expected_js, abs=TOLERANCE)


def test_binary_figures_equal_the_two_by_two_chi_square() -> None:
    rng = np.random.default_rng(8)
    reference = pd.DataFrame({"paid": rng.random(900) < 0.3})
    current = pd.DataFrame({"paid": rng.random(400) < 0.4})
    column = compare_frames(reference, current).columns[0]
    table = [
        [int((~reference["paid"]).sum()), int(reference["paid"].sum())],
        [int((~current["paid"]).sum()), int(current["paid"].sum())],
    ]
    chi2, p_value, _, _ = stats.chi2_contingency(table, correction=False)
    assert column.test == "z"
    assert column.statistic**2 == pytest.approx(chi2, abs=TOLERANCE, rel=TOLERANCE)
    assert column.p_value == pytest.approx(p_value, abs=TOLERANCE)
    assert column.drifted == (p_value < 0.05)


def test_threads_change_nothing_but_the_time() -> None:
    rng = np.random.default_rng(11)
    reference, current = _frame(rng, 5000), _frame(rng, 2000, shift=0.1)
    one = compare_frames(reference, current, DriftOptions(threads=1))
    four = compare_frames(reference, current, DriftOptions(threads=4))
    assert one == four


def test_progress_is_reported_and_cancel_stops_the_work() -> None:
    rng = np.random.default_rng(12)
    reference, current = _frame(rng, 3000), _frame(rng, 1000)
    seen: list[tuple[int, int | None]] = []
    compare_frames(reference, current, progress=lambda done, total, _: seen.append((done, total)))
    assert seen[0] == (0, 5)
    assert seen[-1] == (5, 5)
    token = CancelToken()
    token.cancel()
    with pytest.raises(Cancelled):
        compare_frames(reference, current, cancel=token)


def test_json_has_the_documented_shape() -> None:
    rng = np.random.default_rng(13)
    reference = _frame(rng, 2000).assign(note=[f"n{i}" for i in range(2000)])
    current = _frame(rng, 500).assign(note=[f"m{i}" for i in range(500)])
    current.loc[:9, "normal"] = np.nan
    data = compare_frames(reference, current, reference_name="ref.csv").to_json()
    assert set(data) == {
        "reference",
        "current",
        "columns",
        "skipped",
        "drifted_columns",
        "tested_columns",
        "drift_share",
        "drift_share_threshold",
        "dataset_drift",
    }
    assert data["reference"] == {"table": "ref.csv", "rows": 2000}
    normal = data["columns"][0]
    assert set(normal) == {
        "column",
        "kind",
        "test",
        "statistic",
        "p_value",
        "threshold",
        "psi",
        "drifted",
        "values",
        "missing",
    }
    assert normal["p_value"] is None
    assert normal["missing"] == {"reference": 0, "current": 10}
    assert data["skipped"] == [{"column": "note", "reason": data["skipped"][0]["reason"]}]
    assert data["tested_columns"] == 5


@pytest.mark.parametrize(
    ("low", "high", "dtype"),
    [(0, 5000, "int64"), (-100, 100, "int8"), (0, 10**12, "int64"), (0, 60_000, "uint16")],
)
def test_integer_columns_give_scipys_figures(low: int, high: int, dtype: str) -> None:
    """Small spans are sorted by counting, wide ones by comparing: the same result."""
    rng = np.random.default_rng(21)
    u = rng.integers(low, high, 20_000).astype(dtype)
    v = (rng.integers(low, high, 5_000) // 2 * 2).astype(dtype)
    column = compare_frames(pd.DataFrame({"n": u}), pd.DataFrame({"n": v})).columns[0]
    a, b = u.astype(float), v.astype(float)
    expected = stats.wasserstein_distance(a, b) / max(np.std(a), 0.001)
    assert (column.kind, column.test) == ("numeric", "wasserstein")
    assert column.statistic == pytest.approx(expected, abs=TOLERANCE, rel=TOLERANCE)
