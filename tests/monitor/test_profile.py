"""Reference profiles: the runtime's bins and categories, statistics, a sample; bad data named."""

from __future__ import annotations

import bisect
import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from app.errors import InvalidInputError
from app.monitor import compare_frames, stattests
from app.monitor.profile import profile_table, runtime_profile

ROWS = 2000


def reference_frame(rows: int = ROWS, seed: int = 3) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame(
        {
            "income": rng.lognormal(10, 0.5, rows).round(2),
            "age": rng.integers(18, 90, rows),
            "plan": rng.choice(
                ["basic", "pro", "team", "enterprise"], rows, p=[0.5, 0.3, 0.15, 0.05]
            ),
            "children": rng.integers(0, 4, rows),
            "city": rng.choice([f"city-{i:02d}" for i in range(30)], rows),
            "member": rng.choice([True, False], rows),
        }
    )
    frame.loc[::10, "income"] = np.nan
    frame.loc[::25, "plan"] = None
    return frame


@pytest.fixture
def csv_file(tmp_path: Path) -> Path:
    path = tmp_path / "reference.csv"
    reference_frame().to_csv(path, index=False)
    return path


def test_numeric_edges_are_the_reference_deciles_as_drift_compare_cuts_them(
    csv_file: Path,
) -> None:
    profile = profile_table(csv_file)
    frame = pd.read_csv(csv_file)
    for column in ("income", "age"):
        spec = profile["columns"][column]
        assert spec["kind"] == "numeric"
        values = frame[column].dropna().to_numpy(dtype=float)
        expected = np.unique(np.quantile(values, np.linspace(0.1, 0.9, 9)))
        assert spec["bin_edges"] == expected.tolist()
        assert spec["bin_edges"] == stattests.decile_edges(np.sort(values)).tolist()
        assert len(spec["bin_edges"]) == 9  # 9 inner edges: the runtime's 10 buckets
        # the reference's rows per runtime bucket: bisect_right is the runtime's searchsorted
        counts = [0] * (len(spec["bin_edges"]) + 1)
        for value in values:
            counts[bisect.bisect_right(spec["bin_edges"], value)] += 1
        assert spec["counts"] == counts
        assert sum(spec["counts"]) + spec["missing"] == ROWS


def test_psi_on_the_profile_bins_is_drift_compares_psi(csv_file: Path) -> None:
    profile = profile_table(csv_file)
    reference = pd.read_csv(csv_file)
    current = reference_frame(800, seed=9)
    current["income"] *= 1.3  # drifted
    report = compare_frames(reference, current)
    edges = np.array(profile["columns"]["income"]["bin_edges"])
    live = np.sort(current["income"].dropna().to_numpy())
    from_profile = stattests.psi(
        np.array(profile["columns"]["income"]["counts"]), stattests.counts_in_bins(live, edges)
    )
    [income] = [c for c in report.columns if c.column == "income"]
    assert from_profile == pytest.approx(income.psi, rel=1e-12)


def test_categories_are_the_top_k_as_the_runtime_labels_them_with_the_rest_as_other(
    csv_file: Path,
) -> None:
    profile = profile_table(csv_file, top_k=3)
    frame = pd.read_csv(csv_file)
    plan = profile["columns"]["plan"]
    assert plan["kind"] == "categorical"
    counted = frame["plan"].value_counts()
    assert plan["categories"] == ["basic", "pro", "team"]
    assert plan["counts"] == {k: int(counted[k]) for k in ("basic", "pro", "team")}
    assert plan["other"] == int(counted["enterprise"])
    assert plan["missing"] == int(frame["plan"].isna().sum()) == ROWS // 25
    assert plan["stats"]["unique"] == 4
    assert plan["stats"]["other_share"] == pytest.approx(counted["enterprise"] / counted.sum())
    assert sum(plan["stats"]["frequencies"].values()) + plan["stats"]["other_share"] == (
        pytest.approx(1.0)
    )
    # integers with few values and booleans are categories too, labelled as str() of the value
    children = profile["columns"]["children"]
    assert children["kind"] == "categorical"
    assert len(children["categories"]) == 3
    assert set(children["categories"]) < {"0", "1", "2", "3"}
    assert sorted(profile["columns"]["member"]["categories"]) == ["False", "True"]
    city = profile["columns"]["city"]
    assert len(city["categories"]) == 3
    assert city["other"] == ROWS - sum(city["counts"].values())
    # ties are ordered by label, so the choice of the top K is deterministic
    order = [(-city["counts"][c], c) for c in city["categories"]]
    assert order == sorted(order)


def test_missing_rates_and_summary_statistics(csv_file: Path) -> None:
    profile = profile_table(csv_file)
    frame = pd.read_csv(csv_file)
    income = profile["columns"]["income"]
    assert income["missing"] == ROWS // 10
    assert income["missing_rate"] == pytest.approx(0.1)
    described = frame["income"].describe()
    stats = income["stats"]
    assert stats["count"] == described["count"]
    for ours, theirs in (
        ("mean", "mean"),
        ("std", "std"),
        ("min", "min"),
        ("q25", "25%"),
        ("median", "50%"),
        ("q75", "75%"),
        ("max", "max"),
    ):
        assert stats[ours] == pytest.approx(described[theirs], rel=1e-12)
    assert profile["columns"]["age"]["missing_rate"] == 0.0
    assert profile["rows"] == ROWS


def test_the_sample_is_json_safe_deterministic_and_in_table_order(tmp_path: Path) -> None:
    frame = reference_frame()
    frame.loc[0, "age"] = 40  # keep integers
    frame["income"] = frame["income"].astype(float)
    frame.loc[5, "income"] = np.inf
    path = tmp_path / "r.csv"
    frame.to_csv(path, index=False)
    profile = profile_table(path, sample_rows=100)
    sample = profile["sample"]
    assert len(sample) == 100
    assert profile["sampled_from"] == ROWS
    text = json.dumps(profile, allow_nan=False)  # no NaN or infinity anywhere
    assert json.dumps(profile_table(path, sample_rows=100), allow_nan=False) == text
    assert list(sample[0]) == list(profile["columns"])
    assert any(row["income"] is None for row in sample) or any(
        row["plan"] is None for row in sample
    )
    assert all(isinstance(row["age"], int) for row in sample)
    small = profile_table(path, sample_rows=ROWS + 1)
    assert len(small["sample"]) == ROWS  # all rows when there are fewer than asked


def test_the_same_data_gives_byte_identical_json(csv_file: Path, tmp_path: Path) -> None:
    first = json.dumps(profile_table(csv_file))
    copy = tmp_path / "copy.csv"
    copy.write_bytes(csv_file.read_bytes())
    assert json.dumps(profile_table(copy)) == first
    assert json.dumps(profile_table(pd.read_csv(csv_file))) == first


def test_parquet_gives_the_same_bins_as_csv(csv_file: Path, tmp_path: Path) -> None:
    pytest.importorskip("pyarrow")
    path = tmp_path / "reference.parquet"
    pd.read_csv(csv_file).to_parquet(path)
    from_csv = profile_table(csv_file)
    from_parquet = profile_table(path)
    for name, spec in from_csv["columns"].items():
        other = from_parquet["columns"][name]
        assert other["kind"] == spec["kind"]
        assert other.get("bin_edges") == spec.get("bin_edges")
        assert other["counts"] == spec["counts"]


def test_runtime_profile_leaves_the_sample_on_the_desktop(csv_file: Path) -> None:
    profile = profile_table(csv_file)
    baked = runtime_profile(profile)
    assert "sample" not in baked
    assert "sampled_from" not in baked
    for name, spec in profile["columns"].items():  # numeric values/quantiles stay here too
        assert baked["columns"][name] == {k: v for k, v in spec.items() if k != "quantiles"}
    assert "quantiles" in profile["columns"]["income"]
    assert baked["schema_version"] == 1


# ---------------------------------------------------------------------- signatures
SIGNATURE = {
    "inputs": [
        {"name": "plan", "type": "string"},
        {"name": "income", "type": "number"},
        {"name": "age", "type": "number"},
    ],
    "outputs": None,
}


def test_the_signature_chooses_and_orders_the_columns(csv_file: Path) -> None:
    profile = profile_table(csv_file, signature=SIGNATURE)
    assert list(profile["columns"]) == ["plan", "income", "age"]
    assert profile["ignored_columns"] == ["children", "city", "member"]
    assert profile["warnings"] == [
        "left out columns the model does not take: 'children', 'city', 'member'"
    ]
    assert list(profile["sample"][0]) == ["plan", "income", "age"]


def test_columns_the_model_takes_must_be_there(csv_file: Path) -> None:
    signature = {
        "inputs": [
            {"name": "Income", "type": "number"},
            {"name": "plan", "type": "string"},
            {"name": "tenure", "type": "number"},
        ]
    }
    with pytest.raises(InvalidInputError) as caught:
        profile_table(csv_file, signature=signature)
    error = caught.value
    assert f"{csv_file} lacks columns 'Income', 'tenure' that the model takes" in error.message
    assert "(its signature lists 'Income', 'plan', 'tenure')" in error.message
    assert error.hint is not None
    assert "did you mean 'income' for 'Income'?" in error.hint


def test_a_feature_count_must_match_the_columns(csv_file: Path) -> None:
    with pytest.raises(InvalidInputError) as caught:
        profile_table(csv_file, signature={"inputs": [], "n_features": 4})
    assert "the model takes 4 features per row, and" in caught.value.message
    assert "has 6 columns ('income', 'age', 'plan', 'children', 'city', 'member')" in (
        caught.value.message
    )
    assert caught.value.hint is not None
    assert "leave out the target" in caught.value.hint
    one_tensor = {"inputs": [{"name": "x", "type": "tensor(float)", "shape": [None, 6]}]}
    assert len(profile_table(csv_file, signature=one_tensor)["columns"]) == 6


def test_numbers_written_as_text_are_numbers_when_the_model_takes_numbers() -> None:
    frame = pd.DataFrame({"x": pd.Series([str(v) for v in range(40)], dtype=object)})
    profile = profile_table(frame, signature={"inputs": [{"name": "x", "type": "double"}]})
    assert profile["columns"]["x"]["kind"] == "numeric"
    assert len(profile["columns"]["x"]["bin_edges"]) == 9


# ---------------------------------------------------------------------- bad data
def _error(data: Any, **kwargs: Any) -> InvalidInputError:
    with pytest.raises(InvalidInputError) as caught:
        profile_table(data, **kwargs)
    return caught.value


def test_an_empty_file_and_a_header_without_rows(tmp_path: Path) -> None:
    empty = tmp_path / "empty.csv"
    empty.write_bytes(b"")
    assert f"{empty} is empty (0 bytes)" in _error(empty).message
    header = tmp_path / "header.csv"
    header.write_text("income,plan\n")
    assert f"{header} has column names but no rows" in _error(header).message
    no_rows = pd.DataFrame({"income": pd.Series([], dtype=float)})
    assert "the reference data has column names but no rows" in _error(no_rows).message


def test_a_file_in_another_encoding_says_which_and_suggests_utf_8(tmp_path: Path) -> None:
    path = tmp_path / "cities.csv"
    path.write_bytes("city,temp\nParis,12.5\nZürich,8.0\n".encode("latin-1"))
    error = _error(path)
    assert f"{path} is not utf-8 text: byte 0xfc on line 3 ('Zürich,8.0')" in error.message
    assert "it looks like Latin-1" in error.message
    assert error.hint is not None
    assert "--encoding latin-1" in error.hint
    assert "convert the file to UTF-8" in error.hint
    profile = profile_table(path, encoding="latin-1")
    assert profile["columns"]["city"]["categories"] == ["Paris", "Zürich"]


def test_a_column_mixing_numbers_and_text_is_named_with_its_values(tmp_path: Path) -> None:
    path = tmp_path / "mixed.csv"
    ages = [str(20 + i) for i in range(60)]
    ages[7] = "unknown"
    ages[30] = "forty"
    ages[31] = "unknown"
    lines = ["age,plan,score", *(f"{a},basic,{i}" for i, a in enumerate(ages))]
    path.write_text("\n".join(lines) + "\n")
    error = _error(path)
    assert error.message == (
        f"{path}: column 'age' mixes numbers with text: 'unknown', 'forty' in 3 rows"
    )
    assert error.hint == "make those cells empty so they count as missing, or correct them"


def test_text_where_the_model_takes_numbers_is_named(tmp_path: Path) -> None:
    frame = pd.DataFrame({"a": [1.0, 2.0] * 20, "b": ["low", "high"] * 20})
    signature = {"inputs": [{"name": "a", "type": "double"}, {"name": "b", "type": "double"}]}
    error = _error(frame, signature=signature)
    assert error.message == (
        "the reference data: column 'b' holds text where the model takes numbers: "
        "'low', 'high' in 40 rows"
    )


def test_every_bad_column_is_named_in_one_message() -> None:
    values = [str(v) for v in range(30)]
    frame = pd.DataFrame({"a": [*values[:-1], "n.a."], "b": [*values[:-1], "?"]})
    error = _error(frame, name="t.csv")
    assert error.message.startswith("t.csv: column 'a' mixes numbers with text: 'n.a.' in 1 row;")
    assert "column 'b' mixes numbers with text: '?' in 1 row" in error.message


def test_a_column_without_values_is_a_warning_not_an_error() -> None:
    frame = pd.DataFrame({"a": [1.0, 2.0, 3.0], "empty": [np.nan, np.nan, np.nan]})
    profile = profile_table(frame, name="t.csv")
    assert profile["columns"]["empty"]["bin_edges"] == []
    assert profile["columns"]["empty"]["missing_rate"] == 1.0
    assert profile["warnings"] == [
        "column 'empty' has no values (every cell is empty); "
        "its live values will all count in one bucket"
    ]


def test_repeated_columns_and_impossible_options_are_refused() -> None:
    frame = pd.DataFrame([[1, 2]], columns=["a", "a"])
    assert "more than one column named 'a'" in _error(frame).message
    good = pd.DataFrame({"a": [1.0]})
    assert "at least 2 bins" in _error(good, bins=1).message
    assert "at least 1 category" in _error(good, top_k=0).message


def test_other_bin_counts_use_evenly_spaced_quantiles() -> None:
    values = np.arange(1000, dtype=float)
    profile = profile_table(pd.DataFrame({"x": values}), bins=4)
    assert profile["columns"]["x"]["bin_edges"] == np.quantile(values, [0.25, 0.5, 0.75]).tolist()
