"""The drift statistics equal scipy's on the same arrays (to 1e-9), and PSI its textbook form."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from numpy.typing import NDArray
from scipy import stats
from scipy.spatial.distance import jensenshannon

from app.monitor import stattests

TOLERANCE = 1e-9
RNG = np.random.default_rng(20260101)

SAMPLES = {
    "continuous": (RNG.normal(0, 1, 20_000), RNG.normal(0.1, 1.2, 3_000)),
    "shifted": (RNG.normal(0, 1, 5_000), RNG.normal(3, 1, 5_000)),
    "ties": (RNG.normal(0, 1, 4_000).round(1), RNG.normal(0, 1, 700).round(1)),
    "few values": (
        RNG.integers(0, 4, 2_000).astype(float),
        RNG.integers(1, 6, 900).astype(float),
    ),
    "identical": (np.arange(100.0), np.arange(100.0)),
    "one value each": (np.array([2.0]), np.array([5.0])),
    "one against many": (np.array([1.0]), RNG.normal(0, 1, 50)),
    "current inside a tie": (np.array([1.0, 1.0, 1.0, 2.0]), np.array([1.0, 1.0])),
    "heavy tail": (RNG.lognormal(0, 2, 10_000), RNG.lognormal(0.2, 2, 1_000)),
}


def _sorted(values: NDArray[np.float64]) -> NDArray[np.float64]:
    return np.sort(values)


@pytest.mark.parametrize("name", SAMPLES)
def test_wasserstein_of_sorted_equals_scipy(name: str) -> None:
    u, v = SAMPLES[name]
    ours = stattests.wasserstein_of_sorted(_sorted(u), _sorted(v))
    assert ours == pytest.approx(stats.wasserstein_distance(u, v), abs=TOLERANCE, rel=TOLERANCE)
    swapped = stattests.wasserstein_of_sorted(_sorted(v), _sorted(u))
    assert swapped == pytest.approx(stats.wasserstein_distance(v, u), abs=TOLERANCE)


@pytest.mark.parametrize("name", SAMPLES)
def test_normed_wasserstein_divides_by_the_reference_population_std(name: str) -> None:
    u, v = SAMPLES[name]
    expected = stats.wasserstein_distance(u, v) / max(float(np.std(u)), 0.001)
    outcome = stattests.wasserstein_normed(_sorted(u), _sorted(v))
    assert outcome.statistic == pytest.approx(expected, abs=TOLERANCE, rel=TOLERANCE)
    assert outcome.p_value is None


def test_a_constant_reference_is_scaled_by_0_001_not_divided_by_zero() -> None:
    outcome = stattests.wasserstein_normed(np.full(10, 3.0), np.full(5, 3.5))
    assert outcome.statistic == pytest.approx(0.5 / 0.001)


@pytest.mark.parametrize("name", ["continuous", "ties", "few values", "one against many"])
def test_ks_is_scipys_two_sample_test(name: str) -> None:
    u, v = SAMPLES[name]
    expected = stats.ks_2samp(u, v)
    outcome = stattests.ks(_sorted(u), _sorted(v))
    assert outcome.statistic == pytest.approx(expected.statistic, abs=TOLERANCE)
    assert outcome.p_value == pytest.approx(expected.pvalue, abs=TOLERANCE)


COUNTS = {
    "similar": (np.array([500, 300, 200]), np.array([48, 33, 19])),
    "different": (np.array([100, 100, 800]), np.array([60, 30, 10])),
    "many cells": (RNG.integers(1, 500, 40), RNG.integers(1, 50, 40)),
}


@pytest.mark.parametrize("name", COUNTS)
def test_chisquare_expects_the_reference_shares_scaled_to_the_current_total(name: str) -> None:
    reference, current = COUNTS[name]
    expected = stats.chisquare(current, reference * (current.sum() / reference.sum()))
    outcome = stattests.chisquare(reference, current)
    assert outcome.statistic == pytest.approx(expected.statistic, abs=TOLERANCE, rel=TOLERANCE)
    assert outcome.p_value == pytest.approx(expected.pvalue, abs=TOLERANCE)


def test_a_category_new_in_the_current_table_makes_chisquare_infinite_without_a_warning() -> None:
    outcome = stattests.chisquare(np.array([10, 20, 0]), np.array([1, 2, 3]))
    assert outcome.statistic == np.inf
    assert outcome.p_value == 0.0


@pytest.mark.parametrize(
    ("reference", "current"),
    [([700, 300], [60, 40]), ([50, 50], [50, 50]), ([990, 10], [900, 100]), ([3, 1], [1, 3])],
)
def test_z_test_equals_chi2_on_the_two_by_two_table_without_correction(
    reference: list[int], current: list[int]
) -> None:
    """The pooled two-proportion z-test is the uncorrected 2x2 chi-square test (z^2 = chi^2)."""
    outcome = stattests.z_test(np.array(reference), np.array(current))
    chi2, p_value, _, _ = stats.chi2_contingency([reference, current], correction=False)
    assert outcome.statistic**2 == pytest.approx(chi2, abs=TOLERANCE, rel=TOLERANCE)
    assert outcome.p_value == pytest.approx(p_value, abs=TOLERANCE)


def test_z_test_sign_follows_the_share_of_the_second_value_in_the_reference() -> None:
    assert stattests.z_test(np.array([10, 90]), np.array([90, 10])).statistic > 0


def test_z_test_with_one_value_in_both_tables_is_no_drift() -> None:
    outcome = stattests.z_test(np.array([40]), np.array([7]))
    assert (outcome.statistic, outcome.p_value) == (0.0, 1.0)


@pytest.mark.parametrize("name", COUNTS)
def test_jensenshannon_is_scipys_distance_of_the_shares(name: str) -> None:
    reference, current = COUNTS[name]
    expected = jensenshannon(reference / reference.sum(), current / current.sum())
    outcome = stattests.jensenshannon(reference, current)
    assert outcome.statistic == pytest.approx(expected, abs=TOLERANCE)
    assert outcome.p_value is None


def test_counts_in_bins_use_the_serving_runtimes_bins() -> None:
    """Bin k holds edges[k-1] <= x < edges[k]: searchsorted(edges, x, side="right")."""
    values = RNG.normal(0, 1, 5_000).round(1)
    edges = stattests.decile_edges(np.sort(values))
    expected = np.bincount(np.searchsorted(edges, values, side="right"), minlength=len(edges) + 1)
    assert stattests.counts_in_bins(np.sort(values), edges).tolist() == expected.tolist()


def test_decile_edges_are_numpys_quantiles_without_repeats() -> None:
    values = np.sort(RNG.integers(0, 4, 1_000).astype(float))
    expected = np.unique(np.quantile(values, np.linspace(0.1, 0.9, 9)))
    assert stattests.decile_edges(values).tolist() == expected.tolist()
    assert len(stattests.decile_edges(np.sort(RNG.normal(0, 1, 1_000)))) == 9


def _textbook_psi(reference: NDArray[np.float64], current: NDArray[np.float64]) -> float:
    edges = np.unique(np.quantile(reference, np.linspace(0.1, 0.9, 9)))
    bins = len(edges) + 1
    shares = []
    for values in (reference, current):
        counts = np.bincount(np.searchsorted(edges, values, side="right"), minlength=bins)
        share = counts / len(values)
        smallest = share[share > 0].min()
        share[share == 0] = smallest / 1e6 if smallest <= 1e-4 else 1e-4
        shares.append(share)
    r, c = shares
    return float(np.sum((r - c) * np.log(r / c)))


@pytest.mark.parametrize("name", ["continuous", "shifted", "ties", "few values", "heavy tail"])
def test_psi_on_reference_deciles_matches_the_textbook_formula(name: str) -> None:
    u, v = SAMPLES[name]
    su, sv = _sorted(u), _sorted(v)
    edges = stattests.decile_edges(su)
    ours = stattests.psi(stattests.counts_in_bins(su, edges), stattests.counts_in_bins(sv, edges))
    assert ours == pytest.approx(_textbook_psi(u, v), abs=TOLERANCE, rel=TOLERANCE)


def test_psi_of_identical_samples_is_zero_and_of_a_shift_large() -> None:
    u = np.sort(RNG.normal(0, 1, 10_000))
    edges = stattests.decile_edges(u)
    same = stattests.counts_in_bins(u, edges)
    assert stattests.psi(same, same) == 0.0
    shifted = stattests.counts_in_bins(np.sort(u + 1.0), edges)
    assert stattests.psi(same, shifted) > 0.5


def test_sturges_histograms_are_numpys_on_the_combined_sample() -> None:
    u, v = SAMPLES["continuous"]
    edges = np.histogram_bin_edges(np.concatenate((u, v)), bins="sturges")
    reference, current = stattests.sturges_histograms(_sorted(u), _sorted(v))
    assert reference.tolist() == np.histogram(u, edges)[0].tolist()
    assert current.tolist() == np.histogram(v, edges)[0].tolist()


@given(
    st.lists(st.sampled_from([-2.5, -1.0, 0.0, 0.25, 0.5, 3.0, 1e6]), min_size=1, max_size=60),
    st.lists(
        st.floats(min_value=-1e6, max_value=1e6, allow_nan=False) | st.sampled_from([0.0, 0.5]),
        min_size=1,
        max_size=60,
    ),
)
@settings(max_examples=300, deadline=None)
def test_wasserstein_of_sorted_equals_scipy_on_any_samples(u: list[float], v: list[float]) -> None:
    """Ties inside and across the samples, single values, very different scales."""
    a, b = np.array(u), np.array(v)
    expected = stats.wasserstein_distance(a, b)
    ours = stattests.wasserstein_of_sorted(np.sort(a), np.sort(b))
    assert ours == pytest.approx(expected, abs=TOLERANCE, rel=TOLERANCE)
