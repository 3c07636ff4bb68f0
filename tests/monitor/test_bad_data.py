"""Bad tables give one clear error naming the file and the columns, never a traceback."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from app.errors import InvalidInputError, NotFoundError
from app.monitor import DriftOptions, compare_frames, compare_tables
from app.monitor.tables import read_table

GOOD = "x,colour\n1.5,red\n2.5,blue\n3.0,red\n"


def _write(path: Path, text: str, encoding: str = "utf-8") -> Path:
    path.write_bytes(text.encode(encoding))
    return path


def _error(path: Path, **kwargs: str) -> InvalidInputError:
    with pytest.raises(InvalidInputError) as caught:
        read_table(path, **kwargs)
    return caught.value


def test_a_missing_file(tmp_path: Path) -> None:
    with pytest.raises(NotFoundError, match=r"nope\.csv does not exist"):
        read_table(tmp_path / "nope.csv")


def test_a_folder(tmp_path: Path) -> None:
    assert "is a folder" in _error(tmp_path).message


def test_an_empty_file(tmp_path: Path) -> None:
    error = _error(_write(tmp_path / "empty.csv", ""))
    assert "empty.csv is empty (0 bytes)" in error.message
    assert error.hint


def test_blank_lines_only(tmp_path: Path) -> None:
    assert "has no header line" in _error(_write(tmp_path / "blank.csv", "\n\n\n")).message


def test_a_header_without_rows(tmp_path: Path) -> None:
    error = _error(_write(tmp_path / "header.csv", "x,colour\n"))
    assert "header.csv has column names but no rows" in error.message


def test_repeated_column_names(tmp_path: Path) -> None:
    error = _error(_write(tmp_path / "twice.csv", "x,y,x\n1,2,3\n"))
    assert "more than one column named 'x'" in error.message


def test_a_row_with_too_many_fields(tmp_path: Path) -> None:
    error = _error(_write(tmp_path / "ragged.csv", "x,y\n1,2\n3,4,5\n"))
    assert "ragged.csv is not a well-formed CSV file" in error.message
    assert "line 3" in error.message


def test_latin_1_read_as_utf_8_says_where_and_what_it_probably_is(tmp_path: Path) -> None:
    text = "city,temp\nParis,12.5\nZürich,8.0\nKöln,9.5\n"
    path = _write(tmp_path / "cities.csv", text, "latin-1")
    error = _error(path)
    assert "cities.csv is not utf-8 text: byte 0xfc on line 3 ('Zürich,8.0')" in error.message
    assert "it looks like Latin-1" in error.message
    assert error.hint is not None
    assert "--encoding latin-1" in error.hint
    assert "iconv -f latin-1 -t utf-8 cities.csv" in error.hint
    frame = read_table(path, encoding="latin-1")
    assert frame["city"].tolist() == ["Paris", "Zürich", "Köln"]


def test_windows_1252_is_told_apart_from_latin_1(tmp_path: Path) -> None:
    path = _write(tmp_path / "prices.csv", "item,price\nbook,“12 €”\n", "cp1252")
    error = _error(path)
    assert "on line 2" in error.message
    assert "Windows-1252" in error.message
    assert error.hint is not None
    assert "--encoding cp1252" in error.hint


def test_an_undecodable_byte_far_into_the_file(tmp_path: Path) -> None:
    rows = "".join(f"{i},ok\n" for i in range(200_000))
    path = tmp_path / "late.csv"
    path.write_bytes(b"n,word\n" + rows.encode() + "9,café\n".encode("latin-1"))
    assert "on line 200002" in _error(path).message


def test_utf_16(tmp_path: Path) -> None:
    error = _error(_write(tmp_path / "wide.csv", GOOD, "utf-16"))
    assert "UTF-16" in error.message
    assert error.hint is not None
    assert "--encoding utf-16" in error.hint
    assert read_table(tmp_path / "wide.csv", encoding="utf-16")["colour"].tolist()[0] == "red"


def test_an_unknown_encoding_name(tmp_path: Path) -> None:
    error = _error(_write(tmp_path / "t.csv", GOOD), encoding="klingon")
    assert "unknown encoding 'klingon'" in error.message


def test_a_utf_8_byte_order_mark_is_not_part_of_the_first_name(tmp_path: Path) -> None:
    path = tmp_path / "bom.csv"
    path.write_bytes(b"\xef\xbb\xbf" + GOOD.encode())
    assert list(read_table(path).columns) == ["x", "colour"]


def test_parquet_needs_pyarrow(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import importlib.util

    real_find_spec = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util,
        "find_spec",
        lambda name, *a: None if name == "pyarrow" else real_find_spec(name, *a),
    )
    path = tmp_path / "table.parquet"
    path.write_bytes(b"PAR1" + b"\0" * 32 + b"PAR1")
    error = _error(path)
    assert "table.parquet is a Parquet file, and reading Parquet needs pyarrow" in error.message
    assert error.hint is not None
    assert "pip install pyarrow" in error.hint
    disguised = tmp_path / "table.csv"  # recognised by its bytes, not only its name
    disguised.write_bytes(path.read_bytes())
    assert "needs pyarrow" in _error(disguised).message


def test_parquet_is_read_when_pyarrow_is_installed(tmp_path: Path) -> None:
    pytest.importorskip("pyarrow")
    path = tmp_path / "t.parquet"
    pd.DataFrame({"x": [1.0, 2.0]}).to_parquet(path)
    assert read_table(path)["x"].tolist() == [1.0, 2.0]


def test_columns_missing_on_either_side_are_named(tmp_path: Path) -> None:
    reference = _write(tmp_path / "ref.csv", "a,b,c,d\n1,2,3,4\n")
    current = _write(tmp_path / "cur.csv", "a,c,e\n1,3,5\n")
    with pytest.raises(InvalidInputError) as caught:
        compare_tables(reference, current)
    assert caught.value.message == (
        "the tables have different columns: cur.csv lacks 'b', 'd'; ref.csv lacks 'e'"
    )
    assert caught.value.hint is not None
    assert "--ignore" in caught.value.hint
    report = compare_tables(reference, current, DriftOptions(ignore=("b", "d", "e")))
    assert [c.column for c in report.columns] == ["a", "c"]


def test_chosen_columns_must_exist_in_both(tmp_path: Path) -> None:
    reference = _write(tmp_path / "ref.csv", "a,b\n1,2\n")
    current = _write(tmp_path / "cur.csv", "a,c\n1,3\n")
    with pytest.raises(InvalidInputError, match=r"cur\.csv lacks 'b'"):
        compare_tables(reference, current, DriftOptions(columns=["a", "b"]))
    report = compare_tables(reference, current, DriftOptions(columns=["a"]))
    assert [c.column for c in report.columns] == ["a"]


def test_options_naming_unknown_columns() -> None:
    frame = pd.DataFrame({"a": [1.0, 2.0]})
    for options in (
        DriftOptions(ignore=("zz",)),
        DriftOptions(tests={"zz": "ks"}),
        DriftOptions(kinds={"zz": "numeric"}),
    ):
        with pytest.raises(InvalidInputError, match="neither table has a column named 'zz'"):
            compare_frames(frame, frame, options)


def test_numbers_with_stray_text_in_one_table(tmp_path: Path) -> None:
    ages = [str(20 + i % 50) for i in range(300)]
    reference = _write(tmp_path / "ref.csv", "age,colour\n" + "".join(f"{a},red\n" for a in ages))
    ages[17], ages[40] = "unknown", "forty"
    current = _write(tmp_path / "cur.csv", "age,colour\n" + "".join(f"{a},red\n" for a in ages))
    with pytest.raises(InvalidInputError) as caught:
        compare_tables(reference, current)
    message = caught.value.message
    assert message == (
        "column mixes numbers with text: 'age' (numbers in ref.csv, text in cur.csv "
        "such as 'unknown', 'forty')"
    )
    assert caught.value.hint is not None
    assert "--kind COLUMN=categorical" in caught.value.hint
    report = compare_tables(reference, current, DriftOptions(kinds={"age": "categorical"}))
    assert report.columns[0].kind == "categorical"


def test_a_stray_word_far_into_a_file_is_found(tmp_path: Path) -> None:
    """pandas parses in chunks; a chunk of numbers and a later one with text is one column."""
    rows = "".join(f"{i % 1000},{i % 7}\n" for i in range(300_000))
    reference = _write(tmp_path / "ref.csv", "x,y\n" + rows)
    current = _write(tmp_path / "cur.csv", "x,y\n" + rows + "abc,1\n")
    frame = read_table(current)
    assert frame["x"].map(type).eq(str).all()
    with pytest.raises(InvalidInputError) as caught:
        compare_tables(reference, current)
    assert caught.value.message == (
        "column mixes numbers with text: 'x' (numbers in ref.csv, text in cur.csv such as 'abc')"
    )


def test_numbers_with_stray_text_in_both_tables_and_several_columns() -> None:
    rng = np.random.default_rng(0)
    values = [str(v) for v in rng.integers(0, 30, 400)]
    reference = pd.DataFrame({"a": values, "b": values, "fine": ["x", "y"] * 200})
    current = reference.copy()
    current.loc[3, "a"] = "missing"
    current.loc[5, "b"] = "?"
    with pytest.raises(InvalidInputError) as caught:
        compare_frames(reference, current, reference_name="ref", current_name="cur")
    assert caught.value.message == (
        "columns mix numbers with text: 'a' (cur has 'missing'); 'b' (cur has '?')"
    )


def test_a_column_forced_numeric_names_what_is_not_a_number() -> None:
    reference = pd.DataFrame({"size": ["1", "2", "3"] * 10})
    current = pd.DataFrame({"size": ["1", "2", "big"] * 10})
    with pytest.raises(InvalidInputError, match=r"'size' \(the current table has 'big'\)"):
        compare_frames(reference, current, DriftOptions(kinds={"size": "numeric"}))
    report = compare_frames(reference, reference, DriftOptions(kinds={"size": "numeric"}))
    assert (report.columns[0].kind, report.columns[0].test) == ("numeric", "chisquare")


@pytest.mark.parametrize(
    ("options", "message"),
    [
        (DriftOptions(tests={"colour": "ks"}), "ks compares numbers, and column 'colour'"),
        (
            DriftOptions(tests={"colour": "z"}),
            "the z-test compares two values, and column 'colour' has 3",
        ),
        (DriftOptions(tests={"x": "t-test"}), "unknown test 't-test' for column 'x'"),
        (DriftOptions(categorical_test="wasserstein"), "wasserstein compares numbers"),
        (DriftOptions(kinds={"x": "ordinal"}), "unknown kind 'ordinal' for column 'x'"),
        (DriftOptions(p_threshold=0), "p-value threshold must be above 0"),
        (DriftOptions(distance_threshold=-1), "distance threshold must be above 0"),
        (DriftOptions(drift_share=1.5), "drift share must be above 0 and at most 1"),
    ],
)
def test_options_that_cannot_apply(options: DriftOptions, message: str) -> None:
    frame = pd.DataFrame({"x": [1.0, 2.0, 3.0] * 5, "colour": ["r", "g", "b"] * 5})
    with pytest.raises(InvalidInputError, match=message):
        compare_frames(frame, frame, options)


@pytest.mark.parametrize(("separator", "kind"), [("\t", "tab"), (";", "semicolon")])
def test_a_table_separated_by_something_else_than_commas(
    tmp_path: Path, separator: str, kind: str
) -> None:
    text = GOOD.replace(",", separator)
    error = _error(_write(tmp_path / "train.csv", text))
    assert error.message == (
        f"{tmp_path / 'train.csv'} looks {kind}-separated: its header line has {kind}s and no "
        "commas"
    )
    assert error.hint == "save it comma-separated (CSV UTF-8), or as Parquet"


def _excel_workbook(path: Path) -> Path:
    """The parts of an .xlsx file that say what it is (what Excel writes, without cells)."""
    import zipfile

    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("[Content_Types].xml", '<?xml version="1.0"?><Types/>')
        archive.writestr("xl/workbook.xml", '<?xml version="1.0"?><workbook/>')
        archive.writestr("xl/worksheets/sheet1.xml", '<?xml version="1.0"?><worksheet/>')
    return path


@pytest.mark.parametrize("name", ["train.xlsx", "train.csv"])  # renamed: judged by its bytes
def test_an_excel_workbook_is_named_as_one(tmp_path: Path, name: str) -> None:
    path = _excel_workbook(tmp_path / name)
    error = _error(path)
    assert error.message == f"{path} is an Excel workbook, not CSV"
    assert error.hint == "save the sheet as CSV UTF-8 (or Parquet)"


def test_a_zip_archive_is_not_taken_for_text(tmp_path: Path) -> None:
    import zipfile

    path = tmp_path / "tables.csv"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("train.csv", GOOD)
    error = _error(path)
    assert error.message == f"{path} is a zip archive, not CSV"
