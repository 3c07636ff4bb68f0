"""Drift of monitoring windows: the runtime's real counts and samples against a reference profile.

Windows are made by the serving runtime's own counter (app.serving.monitor.Windows)
from pandas tables, so the bins, categories and samples are exactly what a deployed
endpoint sends; the statistics are checked against scipy on the same arrays.
"""

from __future__ import annotations

import csv
import datetime as dt
import random
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from scipy.spatial.distance import jensenshannon
from scipy.stats import chisquare, ks_2samp, wasserstein_distance

from app.errors import InvalidInputError
from app.monitor import live
from app.monitor.profile import profile_table, runtime_profile
from app.registry import NewDeployment, Registry
from app.registry.monitoring import NewWindow
from app.serving.monitor import Windows
from tests.formats import makers

PLANS = ["basic", "pro", "team"]


def table(rows: int, *, seed: int, shift: float = 0.0, plans: list[float] | None = None) -> Any:
    rng = np.random.default_rng(seed)
    return pd.DataFrame(
        {
            "x1": rng.normal(0.0 + shift, 1.0, rows),
            "x2": rng.normal(5.0, 2.0, rows),
            "x3": rng.exponential(1.0, rows),
            "plan": rng.choice(PLANS, rows, p=plans or [0.5, 0.3, 0.2]),
        }
    )


class Clock:
    def __init__(self) -> None:
        self.now = 1_000_000.0

    def __call__(self) -> float:
        return self.now


def windows_of(profile: dict[str, Any], tmp_path: Path, *frames: Any) -> list[dict[str, Any]]:
    """One closed window per frame, counted by the runtime (predictions: x1 > 0)."""
    clock = Clock()
    counter = Windows(
        runtime_profile(profile), tmp_path / "state", window_seconds=1.0, reservoir=500, clock=clock
    )
    counter._random = random.Random(0)  # the same sample every run
    for frame in frames:
        for start in range(0, len(frame), 50):
            batch = frame.iloc[start : start + 50]
            counter.record(batch, (batch["x1"] > 0).astype(int).to_numpy(), requests=1)
        clock.now += 1.0
    clock.now += 1.0
    return counter.closed_windows()


@pytest.fixture(scope="module")
def big_reference() -> dict[str, Any]:
    return profile_table(table(5000, seed=1))


@pytest.fixture(scope="module")
def small_reference() -> dict[str, Any]:
    return profile_table(table(800, seed=1))


def data_of(window: dict[str, Any]) -> dict[str, Any]:
    return {k: window[k] for k in ("features", "sample", "sample_predictions", "rows", "requests")}


def test_no_drift_over_a_span_from_the_reference_distribution(
    big_reference: dict[str, Any], tmp_path: Path
) -> None:
    """A 500-row window sample is noisy (a normalised Wasserstein distance of 0.03 to 0.11
    between two samples of one normal distribution, measured): verdicts that matter are
    the span's, pooling the newest windows."""
    found = windows_of(big_reference, tmp_path, *(table(500, seed=s) for s in range(10, 20)))
    reference = live.Reference(big_reference)
    drift = live.drift_of(reference, live.pool([data_of(w) for w in found]))
    assert drift["family"] == "distance"
    assert drift["judged"] == 4
    assert drift["rows"] == 5000
    assert drift["drifted"] == []
    assert {e["test"] for e in drift["features"].values()} == {"wasserstein", "jensenshannon"}
    assert all(e["statistic"] < 0.05 for e in drift["features"].values())
    assert all(e["psi"] < 0.02 for e in drift["features"].values())
    per_window = [live.drift_of(reference, data_of(w)) for w in found]
    assert sum(len(d["drifted"]) for d in per_window) <= 4  # of 40 verdicts


def test_a_half_sd_shift_and_a_new_plan_mix_drift(
    big_reference: dict[str, Any], tmp_path: Path
) -> None:
    shifted = table(500, seed=7, shift=0.5, plans=[0.1, 0.2, 0.7])
    (window,) = windows_of(big_reference, tmp_path, shifted)
    drift = live.drift_of(live.Reference(big_reference), data_of(window))
    assert drift["drifted"] == ["x1", "plan"]
    assert drift["drift_share"] == 0.5
    assert drift["features"]["x1"]["statistic"] == pytest.approx(0.5, abs=0.15)
    assert drift["features"]["x1"]["psi"] > 0.1


def test_the_statistics_equal_scipys_on_the_same_arrays(
    big_reference: dict[str, Any], small_reference: dict[str, Any], tmp_path: Path
) -> None:
    shifted = table(1500, seed=9, shift=0.3, plans=[0.4, 0.4, 0.2])
    (window,) = windows_of(big_reference, tmp_path / "big", shifted)
    reference = live.Reference(big_reference)
    drift = live.drift_of(reference, data_of(window))["features"]
    ref_x2 = big_reference["columns"]["x2"]["quantiles"]
    assert len(ref_x2) == 1000
    cur_x2 = [row["x2"] for row in window["sample"]]
    full_std = float(np.std(table(5000, seed=1)["x2"].to_numpy()))  # population, as Evidently
    expected = wasserstein_distance(ref_x2, cur_x2) / full_std
    assert drift["x2"]["statistic"] == pytest.approx(expected, rel=1e-9, abs=1e-12)
    spec = big_reference["columns"]["plan"]
    ref_counts = np.array([spec["counts"][c] for c in spec["categories"]] + [spec["other"]])
    bucket = window["features"]["plan"]
    cur_counts = np.array([bucket["counts"][c] for c in spec["categories"]] + [bucket["other"]])
    expected_js = jensenshannon(ref_counts / ref_counts.sum(), cur_counts / cur_counts.sum())
    assert drift["plan"]["statistic"] == pytest.approx(expected_js, rel=1e-9)
    x1 = big_reference["columns"]["x1"]
    expected_bins_js = jensenshannon(
        np.array(x1["counts"]) / sum(x1["counts"]),
        np.array(window["features"]["x1"]["counts"]) / window["rows"],
    )
    assert drift["x1"]["js"] == pytest.approx(expected_bins_js, rel=1e-9)

    (small_window,) = windows_of(small_reference, tmp_path / "small", shifted)
    small = live.drift_of(live.Reference(small_reference), data_of(small_window))
    assert small["family"] == "p_value"
    ks = ks_2samp(table(800, seed=1)["x1"], [row["x1"] for row in small_window["sample"]])
    assert small["features"]["x1"]["test"] == "ks"
    assert small["features"]["x1"]["statistic"] == pytest.approx(ks.statistic, rel=1e-9)
    assert small["features"]["x1"]["p_value"] == pytest.approx(ks.pvalue, rel=1e-9)
    spec = small_reference["columns"]["plan"]
    ref_counts = np.array([spec["counts"][c] for c in spec["categories"]])
    bucket = small_window["features"]["plan"]
    cur_counts = np.array([bucket["counts"][c] for c in spec["categories"]])
    chi = chisquare(cur_counts, ref_counts * cur_counts.sum() / ref_counts.sum())
    assert small["features"]["plan"]["test"] == "chisquare"
    assert small["features"]["plan"]["statistic"] == pytest.approx(chi.statistic, rel=1e-9)
    assert small["features"]["plan"]["p_value"] == pytest.approx(chi.pvalue, rel=1e-9)


def test_a_span_pools_counts_and_samples(big_reference: dict[str, Any], tmp_path: Path) -> None:
    found = windows_of(
        big_reference, tmp_path, table(40, seed=2), table(40, seed=3, shift=0.6), table(40, seed=4)
    )
    assert len(found) == 3
    reference = live.Reference(big_reference)
    lone = live.drift_of(reference, data_of(found[0]), min_rows=100)
    assert lone["judged"] == 0
    assert lone["features"]["x1"]["reason"] == "40 rows, fewer than 100"
    pooled = live.pool([data_of(w) for w in found])
    assert pooled["rows"] == 120
    assert len(pooled["sample"]) == 120 == len(pooled["sample_predictions"])
    assert pooled["features"]["x1"]["counts"] == list(
        np.sum([w["features"]["x1"]["counts"] for w in found], axis=0)
    )
    assert sum(pooled["features"]["plan"]["counts"].values()) == 120
    assert live.drift_of(reference, pooled, min_rows=100)["judged"] == 4


def test_windows_counted_on_other_bins_get_no_verdict(
    big_reference: dict[str, Any], small_reference: dict[str, Any], tmp_path: Path
) -> None:
    other = profile_table(table(5000, seed=1)[["x1", "x2", "x3", "plan"]], bins=5)
    (window,) = windows_of(other, tmp_path, table(500, seed=7))
    drift = live.drift_of(live.Reference(big_reference), data_of(window))
    assert drift["features"]["x1"]["psi"] is None  # 6 cells, not the reference's 10
    assert drift["features"]["x1"]["statistic"] is not None  # the sample still compares


def test_predictions_are_summarised_from_the_sample(
    big_reference: dict[str, Any], tmp_path: Path
) -> None:
    (window,) = windows_of(big_reference, tmp_path, table(300, seed=7, shift=1.0))
    assert len(window["sample_predictions"]) == len(window["sample"])
    for row, said in zip(window["sample"], window["sample_predictions"], strict=True):
        assert said == int(row["x1"] > 0)
    summary = live.prediction_summary(data_of(window))
    assert summary is not None
    assert summary["kind"] == "labels"
    assert summary["shares"]["1"] == pytest.approx(
        sum(window["sample_predictions"]) / len(window["sample"])
    )
    numbers = live.prediction_summary({"sample_predictions": list(np.linspace(0, 1, 101))})
    assert numbers is not None
    assert numbers["kind"] == "numeric"
    assert numbers["p50"] == pytest.approx(0.5)


def test_histogram_shares(big_reference: dict[str, Any], tmp_path: Path) -> None:
    (window,) = windows_of(big_reference, tmp_path, table(1000, seed=7))
    found = live.histogram(live.Reference(big_reference), data_of(window), "plan")
    assert found is not None
    labels, reference, current = found
    assert labels == [*big_reference["columns"]["plan"]["categories"], "other"]
    assert sum(reference) == pytest.approx(1.0)
    assert sum(current) == pytest.approx(1.0)
    assert live.histogram(live.Reference(big_reference), data_of(window), "nope") is None


def test_thresholds_are_checked_in_words() -> None:
    base = live.Thresholds()
    assert base.with_changes({"drift_share": "0.3", "span": "4"}).to_json()["span"] == 4
    with pytest.raises(InvalidInputError, match="drift_share must be above 0"):
        base.with_changes({"drift_share": "2"})
    with pytest.raises(InvalidInputError, match="unknown threshold 'drift'"):
        base.with_changes({"drift": "2"})
    with pytest.raises(InvalidInputError, match="span must be a number"):
        base.with_changes({"span": "many"})


def test_alert_reasons() -> None:
    thresholds = live.Thresholds(drift_share=0.5, error_rate=0.1)
    quiet = {"drift_share": 0.25, "drifted": ["x1"], "judged": 4, "requests": 100, "errors": 2}
    assert live.alert_reasons(quiet, thresholds) == []
    loud = {"drift_share": 0.5, "drifted": ["x1", "plan"], "judged": 4, "requests": 10}
    assert live.alert_reasons({**loud, "errors": 5}, thresholds) == [
        "2 of 4 features drift (x1, plan)",
        "5 of 10 requests failed (50%)",
    ]


# ---------------------------------------------------------------------- stored windows
def _deployment(registry: Registry, tmp_path: Path) -> str:
    info = registry.import_path(makers.sklearn_joblib(tmp_path / "m"), name="iris")
    row = registry.start_deployment(
        NewDeployment(host="h1", service="iris", target=info, image_id="sha256:1", image_tag="t")
    )
    return row.uid


def _window(seq: int, drift: dict[str, Any] | None = None) -> NewWindow:
    return NewWindow(
        seq=seq,
        started_at=dt.datetime.fromtimestamp(seq * 60, dt.UTC),
        seconds=60.0,
        requests=3,
        rows=30,
        errors=1,
        data={"rows": 30, "features": {}, "sample": []},
        drift=drift,
    )


def test_windows_are_stored_once_and_read_back_in_order(registry: Registry, tmp_path: Path) -> None:
    uid = _deployment(registry, tmp_path)
    assert registry.last_window_seq(uid) is None
    assert registry.add_windows(uid, [_window(5), _window(3)]) == 2
    assert registry.add_windows(uid, [_window(5), _window(7)]) == 1  # 5 is there already
    assert registry.last_window_seq(uid) == 7
    stored = registry.monitor_windows("h1", "iris")
    assert [w.seq for w in stored] == [3, 5, 7]
    assert stored[0].data is None
    assert stored[0].ref == "iris:1"
    newest = registry.monitor_windows("h1", "iris", newest=2, with_data=True)
    assert [w.seq for w in newest] == [5, 7]
    assert newest[0].data == {"rows": 30, "features": {}, "sample": []}
    assert registry.monitor_windows("h1", "other") == []


def test_an_alert_is_logged_when_it_starts_and_ends(registry: Registry, tmp_path: Path) -> None:
    _deployment(registry, tmp_path)
    alert = {"reasons": ["2 of 4 features drift (x1, plan)"], "since": "now"}
    registry.set_monitor_alert("h1", "iris", alert, ref=("iris", 1))
    assert registry.monitor_settings("h1", "iris") == ({}, alert)
    registry.set_monitor_alert("h1", "iris", {}, ref=("iris", 1))
    registry.set_monitor_alert("h1", "iris", {}, ref=("iris", 1))  # not alerting: no event
    actions = [e.action for e in registry.history("iris") if e.action.startswith("monitor.")]
    assert actions.count("monitor.alert") == 1
    assert actions.count("monitor.recovered") == 1
    live.set_thresholds(registry, "h1", "iris", {"drift_share": "0.25"})
    assert live.thresholds_of(registry, "h1", "iris").drift_share == 0.25


def test_export_writes_one_row_per_window_and_feature(
    registry: Registry, big_reference: dict[str, Any], tmp_path: Path
) -> None:
    uid = _deployment(registry, tmp_path)
    found = windows_of(big_reference, tmp_path, table(100, seed=2), table(100, seed=3, shift=1))
    reference = live.Reference(big_reference)
    registry.add_windows(
        uid, [_window(w["seq"], live.drift_of(reference, data_of(w))) for w in found]
    )
    target = tmp_path / "out" / "drift.csv"
    target.parent.mkdir()
    assert live.export_csv(registry, "h1", "iris", target) == 8
    with target.open(encoding="utf-8") as written:
        rows = list(csv.DictReader(written))
    assert [r["feature"] for r in rows[:4]] == ["x1", "x2", "x3", "plan"]
    assert rows[4]["drifted"] == "True"
    assert rows[4]["feature"] == "x1"
    with pytest.raises(InvalidInputError, match="could not write"):
        live.export_csv(registry, "h1", "iris", tmp_path / "missing" / "x.csv")
    assert not list((tmp_path / "out").glob(".*partial"))
