"""The drift statistics, computed on numpy arrays that are prepared once per column.

Each function takes what the column preparation already has: sorted finite
values for numeric tests, counts per value (aligned on the same keys) for the
tests on categories. They call scipy's own implementation (``ks_2samp``,
``chisquare``, ``norm``, ``jensenshannon``), with one exception explained at
:func:`wasserstein_of_sorted`. PSI is not in scipy; it is three numpy lines.

scipy is imported inside the functions: the CLI's start-up must stay light.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

FloatArray = NDArray[np.float64]
CountArray = NDArray[np.int64]

DECILES = np.linspace(0.1, 0.9, 9)
"""The reference quantiles whose values cut a numeric column into PSI's 10 bins."""

WASSERSTEIN_MIN_SCALE = 0.001
"""Evidently divides by max(reference standard deviation, 0.001): a constant column is not /0."""


@dataclass(frozen=True)
class Outcome:
    """One test's figures: the statistic, and the p-value for the tests that have one."""

    statistic: float
    p_value: float | None = None


def ks(reference_sorted: FloatArray, current_sorted: FloatArray) -> Outcome:
    """Two-sample Kolmogorov-Smirnov test (two-sided, scipy's default method)."""
    from scipy.stats import ks_2samp

    result = ks_2samp(reference_sorted, current_sorted)
    return Outcome(float(result.statistic), float(result.pvalue))


def chisquare(reference_counts: CountArray, current_counts: CountArray) -> Outcome:
    """Chi-square goodness of fit of the current counts to the reference frequencies.

    As Evidently does: expected = reference count x (current total / reference
    total), one cell per value seen in either table. A value the reference never
    had expects 0, which makes the statistic infinite and the p-value 0 (scipy
    warns about the division; that result is the intended one).
    """
    from scipy.stats import chisquare as scipy_chisquare

    scale = float(current_counts.sum()) / float(reference_counts.sum())
    expected = reference_counts * scale
    with np.errstate(divide="ignore", invalid="ignore"):
        result = scipy_chisquare(current_counts, expected)
    return Outcome(float(result.statistic), float(result.pvalue))


def z_test(reference_counts: CountArray, current_counts: CountArray) -> Outcome:
    """Two-proportion z-test for a column with one or two values (two-sided).

    The counts are over the sorted values; the proportion compared is that of
    every value but the first. One value in both tables means no drift (p = 1).
    """
    from scipy.stats import norm

    if len(reference_counts) > 2:
        raise ValueError("the z-test compares at most two values")
    if len(reference_counts) < 2:
        return Outcome(0.0, 1.0)
    n1 = float(reference_counts.sum())
    n2 = float(current_counts.sum())
    p1 = float(reference_counts[1]) / n1
    p2 = float(current_counts[1]) / n2
    pooled = (p1 * n1 + p2 * n2) / (n1 + n2)
    z = (p1 - p2) / float(np.sqrt(pooled * (1 - pooled) * (1.0 / n1 + 1.0 / n2)))
    return Outcome(z, float(2 * norm.sf(abs(z))))


def jensenshannon(
    reference_counts: NDArray[np.number], current_counts: NDArray[np.number]
) -> Outcome:
    """Jensen-Shannon distance (natural logarithm) between the two distributions of counts."""
    from scipy.spatial.distance import jensenshannon as scipy_jensenshannon

    reference = reference_counts / float(reference_counts.sum())
    current = current_counts / float(current_counts.sum())
    return Outcome(float(scipy_jensenshannon(reference, current)))


def wasserstein_normed(reference_sorted: FloatArray, current_sorted: FloatArray) -> Outcome:
    """Wasserstein-1 distance divided by the reference's standard deviation (population)."""
    scale = max(float(np.std(reference_sorted)), WASSERSTEIN_MIN_SCALE)
    return Outcome(wasserstein_of_sorted(reference_sorted, current_sorted) / scale)


def wasserstein_of_sorted(u_sorted: FloatArray, v_sorted: FloatArray) -> float:
    """``scipy.stats.wasserstein_distance(u, v)`` for samples that are already sorted.

    The distance is the area between the two empirical CDFs. scipy computes it
    by sorting both samples again, sorting their concatenation and locating all
    n + m values in each sample with two binary searches: about 47 ms for a
    200,000-row column against 20,000 rows, most of the drift comparison's
    budget (see docs/drift.md). The columns here are sorted once anyway (for the
    quantiles, the unique values and PSI), so the merged order comes from a
    stable sort of two sorted runs (a linear merge), and the current sample's
    share at each merged position from a cumulative count of where its values
    landed: about 5 ms. Ties need no care: between tied values the width of
    the step is 0. tests/monitor/test_stattests.py checks the result against
    scipy's to 1e-9 on continuous, tied and few-valued samples.
    """
    n, m = len(u_sorted), len(v_sorted)
    merged = np.concatenate((u_sorted, v_sorted))
    merged.sort(kind="stable")
    gaps = np.diff(merged)
    # A stable sort keeps u before v among equal values, so v's positions in the
    # merged order are its rank among u (equal u's counted) plus its rank in v.
    positions = np.searchsorted(u_sorted, v_sorted, side="right")
    positions += np.arange(m)
    from_v = np.zeros(n + m - 1)
    np.put(from_v, positions[positions < n + m - 1], 1.0)
    # |F_u - F_v| over gap k is |(k + 1 - c) / n - c / m| with c the v's among the
    # first k + 1 merged values: computed as |(k + 1) m - c (n + m)| / (n m), whole
    # numbers below 2**53 and so exact in float64, in place (every temporary of
    # n + m values costs page faults).
    weights = np.cumsum(from_v, out=from_v)
    weights *= -(n + m)
    weights += np.arange(m, (n + m) * m, m, dtype=np.float64)
    np.abs(weights, out=weights)
    # multiply and sum rather than np.dot: BLAS would wake its own threads for this
    return float(np.multiply(weights, gaps, out=weights).sum()) / (n * m)


def psi(reference_counts: CountArray, current_counts: CountArray) -> float:
    """Population stability index over the same bins: sum of (r - c) * ln(r / c).

    Empty bins get a small share instead of 0 (which would make the log
    infinite), as Evidently does: a ten-thousandth, or a millionth of the
    smallest non-empty share when that share is already below a ten-thousandth.
    """
    reference = _fill_empty_bins(reference_counts / float(reference_counts.sum()))
    current = _fill_empty_bins(current_counts / float(current_counts.sum()))
    return float(np.sum((reference - current) * np.log(reference / current)))


def _fill_empty_bins(shares: FloatArray) -> FloatArray:
    empty = shares == 0
    if not empty.any():
        return shares
    smallest = float(shares[~empty].min())
    filled = shares.copy()
    filled[empty] = smallest / 10**6 if smallest <= 0.0001 else 0.0001
    return filled


def decile_edges(reference_sorted: FloatArray) -> FloatArray:
    """The reference's 10%, 20%, ..., 90% quantiles, without repeats (PSI's numeric bins)."""
    edges: FloatArray = np.unique(np.quantile(reference_sorted, DECILES))
    return edges


def counts_in_bins(values_sorted: FloatArray, edges: FloatArray) -> CountArray:
    """Counts in the bins (-inf, e0), [e0, e1), ..., [e_last, inf) of sorted values.

    The same bins as the serving runtime's monitoring windows
    (``searchsorted(edges, value, side="right")``).
    """
    below = np.searchsorted(values_sorted, edges, side="left")
    bounds = np.concatenate(([0], below, [len(values_sorted)]))
    counts: CountArray = np.diff(bounds).astype(np.int64)
    return counts


def counts_of_values(values_sorted: FloatArray, keys: FloatArray) -> CountArray:
    """How often each of the sorted ``keys`` occurs in the sorted values."""
    left = np.searchsorted(values_sorted, keys, side="left")
    right = np.searchsorted(values_sorted, keys, side="right")
    counts: CountArray = (right - left).astype(np.int64)
    return counts


def sturges_histograms(
    reference_sorted: FloatArray, current_sorted: FloatArray
) -> tuple[CountArray, CountArray]:
    """Counts of both samples on Sturges bins of the combined data (Evidently's numeric JS)."""
    edges = np.histogram_bin_edges(
        np.concatenate((reference_sorted, current_sorted)), bins="sturges"
    )
    reference_counts = np.histogram(reference_sorted, edges)[0].astype(np.int64)
    current_counts = np.histogram(current_sorted, edges)[0].astype(np.int64)
    return reference_counts, current_counts
