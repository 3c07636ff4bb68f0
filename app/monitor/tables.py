"""Reading a table to compare: CSV (any encoding), Parquet when pyarrow is installed.

Whatever is wrong with a file becomes an :class:`~app.errors.InvalidInputError`
(or ``NotFoundError``) that says which file, what is wrong and what to do: an
empty file, a header without rows, a repeated column name, a file in another
encoding than the one asked for (with the line of the first bad byte and a
guess at the real encoding), a broken CSV row, a Parquet file without pyarrow.
"""

from __future__ import annotations

import codecs
import csv
import importlib.util
import warnings
from pathlib import Path
from typing import Any

from app.errors import InvalidInputError, NotFoundError

PARQUET_MAGIC = b"PAR1"
PARQUET_SUFFIXES = (".parquet", ".pq")
_CHUNK = 1 << 20
_WINDOW = 1 << 16


def read_table(path: Path, *, encoding: str = "utf-8") -> Any:
    """The table at ``path`` as a pandas DataFrame with at least one row."""
    _check_file(path)
    _refuse_other_kinds(path)
    if _is_parquet(path):
        frame = _read_parquet(path)
    else:
        _check_encoding_name(encoding)
        _check_header(path, encoding)
        frame = _read_csv(path, encoding)
    if len(frame.columns) == 0:
        raise InvalidInputError(f"{path} has no columns", hint="is it the right file?")
    if len(frame) == 0:
        raise InvalidInputError(
            f"{path} has column names but no rows", hint="a table to compare or profile needs rows"
        )
    return frame


def table_format(path: Path) -> str:
    """``parquet`` or ``csv``: how :func:`read_table` reads the file at ``path``."""
    return "parquet" if _is_parquet(path) else "csv"


def _check_file(path: Path) -> None:
    if not path.exists():
        raise NotFoundError(f"{path} does not exist", hint="check the path")
    if path.is_dir():
        raise InvalidInputError(f"{path} is a folder, not a table file", hint="give a CSV file")
    try:
        size = path.stat().st_size
        with path.open("rb"):
            pass
    except OSError as exc:
        raise InvalidInputError(f"cannot read {path}: {exc.strerror or exc}") from None
    if size == 0:
        raise InvalidInputError(
            f"{path} is empty (0 bytes)", hint="a table needs a header line and rows"
        )


_ZIP_MAGIC = b"PK\x03\x04"
_OLE2_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"  # old .xls (and .doc) files
_SAVE_AS_CSV = "save the sheet as CSV UTF-8 (or Parquet)"


def _refuse_other_kinds(path: Path) -> None:
    """Spreadsheets and archives are not CSV: say what they are, not which bytes fail."""
    with path.open("rb") as stream:
        head = stream.read(len(_OLE2_MAGIC))
    suffix = path.suffix.lower()
    if head.startswith(_ZIP_MAGIC):
        names = _zip_names(path)
        if suffix in {".xlsx", ".xlsm"} or any(n.startswith("xl/") for n in names):
            raise InvalidInputError(f"{path} is an Excel workbook, not CSV", hint=_SAVE_AS_CSV)
        if suffix == ".ods" or "content.xml" in names:
            raise InvalidInputError(
                f"{path} is an OpenDocument spreadsheet, not CSV", hint=_SAVE_AS_CSV
            )
        raise InvalidInputError(
            f"{path} is a zip archive, not CSV",
            hint="unzip it and give the table inside (CSV or Parquet)",
        )
    if head == _OLE2_MAGIC:
        raise InvalidInputError(
            f"{path} is an Excel 97-2003 workbook (.xls), not CSV", hint=_SAVE_AS_CSV
        )


def _zip_names(path: Path) -> list[str]:
    import zipfile

    try:
        with zipfile.ZipFile(path) as archive:
            return archive.namelist()
    except (zipfile.BadZipFile, OSError, ValueError):
        return []  # a damaged archive: judged by its name alone


def _is_parquet(path: Path) -> bool:
    if path.suffix.lower() in PARQUET_SUFFIXES:
        return True
    with path.open("rb") as stream:
        return stream.read(len(PARQUET_MAGIC)) == PARQUET_MAGIC


def _read_parquet(path: Path) -> Any:
    if importlib.util.find_spec("pyarrow") is None:
        raise InvalidInputError(
            f"{path} is a Parquet file, and reading Parquet needs pyarrow, which is not installed",
            hint="install it into Modelbay's environment (pip install pyarrow), "
            "or save the table as CSV",
        )
    import pandas as pd

    try:
        return pd.read_parquet(path, engine="pyarrow")
    except (OSError, ValueError) as exc:  # pyarrow's errors derive from these
        raise InvalidInputError(f"{path} cannot be read as Parquet: {exc}") from None


def _check_encoding_name(encoding: str) -> None:
    try:
        codecs.lookup(encoding)
    except LookupError:
        raise InvalidInputError(
            f"unknown encoding {encoding!r}", hint="e.g. utf-8, latin-1, cp1252, utf-16"
        ) from None


def _check_header(path: Path, encoding: str) -> None:
    """Refuse repeated column names, which pandas would silently rename (``a``, ``a.1``)."""
    try:
        with path.open(encoding=encoding, newline="") as stream:
            header = next(csv.reader(stream), [])
    except UnicodeDecodeError:
        raise _encoding_error(path, encoding) from None
    except csv.Error as exc:
        raise InvalidInputError(f"{path}: the header line is not valid CSV: {exc}") from None
    names = [name.strip() for name in header]
    if len(names) == 1:
        for separator, kind in (("\t", "tab"), (";", "semicolon")):
            if separator in names[0]:
                raise InvalidInputError(
                    f"{path} looks {kind}-separated: its header line has {kind}s and no commas",
                    hint="save it comma-separated (CSV UTF-8), or as Parquet",
                )
    repeated = sorted({n for n in names if n and names.count(n) > 1})
    if repeated:
        shown = ", ".join(repr(n) for n in repeated)
        raise InvalidInputError(
            f"{path} has more than one column named {shown}", hint="give every column its own name"
        )


def _read_csv(path: Path, encoding: str) -> Any:
    import pandas as pd

    try:
        # pandas parses in chunks (about 15 % faster here) and warns when a column's
        # chunks got different types, e.g. numbers in one and text in another: then
        # the file is read again with one type per column from all its rows.
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", pd.errors.DtypeWarning)
            frame = pd.read_csv(path, encoding=encoding)
        if any(issubclass(w.category, pd.errors.DtypeWarning) for w in caught):
            frame = pd.read_csv(path, encoding=encoding, low_memory=False)
        return frame
    except UnicodeDecodeError:
        raise _encoding_error(path, encoding) from None
    except pd.errors.EmptyDataError:
        raise InvalidInputError(
            f"{path} has no header line", hint="the first line must name the columns"
        ) from None
    except pd.errors.ParserError as exc:
        raise InvalidInputError(
            f"{path} is not a well-formed CSV file: {_first_line(exc)}",
            hint="every row must have as many fields as the header",
        ) from None
    except (OSError, ValueError, MemoryError) as exc:
        raise InvalidInputError(f"cannot read {path} as CSV: {_first_line(exc)}") from None


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def _encoding_error(path: Path, encoding: str) -> InvalidInputError:
    """Where the first undecodable byte is, and what the file's encoding probably is."""
    offset, byte = _first_bad_byte(path, encoding)
    line, line_start, text = _line_at(path, offset)
    guess = _guess_encoding(path, line_start, encoding)
    where = f"byte 0x{byte:02x} on line {line}" + (f" ({text!r})" if text else "")
    message = f"{path} is not {encoding} text: {where}"
    if guess:
        description, name = guess
        message += f"; it looks like {description}"
        hint = (
            f"pass --encoding {name}, or convert the file to UTF-8: "
            f"iconv -f {name} -t utf-8 {path.name} > {path.stem}.utf8{path.suffix}"
        )
    else:
        hint = "pass the file's encoding with --encoding, or save it as UTF-8"
    return InvalidInputError(message, hint=hint)


def _first_bad_byte(path: Path, encoding: str) -> tuple[int, int]:
    """The offset and value of the first byte that does not decode."""
    decoder = codecs.getincrementaldecoder(encoding)()
    fed = 0
    with path.open("rb") as stream:
        while chunk := stream.read(_CHUNK):
            try:
                decoder.decode(chunk)
            except UnicodeDecodeError as exc:
                held = len(exc.object) - len(chunk)  # bytes the decoder kept from before
                return fed - held + exc.start, exc.object[exc.start]
            fed += len(chunk)
        try:
            decoder.decode(b"", final=True)
        except UnicodeDecodeError as exc:
            return fed - len(exc.object) + exc.start, exc.object[exc.start]
    return fed, 0


def _line_at(path: Path, offset: int) -> tuple[int, int, str]:
    """The 1-based line number of ``offset``, where that line starts, and its text (short)."""
    newlines = 0
    line_start = 0
    position = 0
    with path.open("rb") as stream:
        while position < offset and (chunk := stream.read(min(_CHUNK, offset - position))):
            newlines += chunk.count(b"\n")
            last = chunk.rfind(b"\n")
            if last >= 0:
                line_start = position + last + 1
            position += len(chunk)
        stream.seek(line_start)
        line = stream.readline(120).rstrip(b"\r\n")
    return newlines + 1, line_start, line.decode("latin-1")


def _guess_encoding(path: Path, line_start: int, encoding: str) -> tuple[str, str] | None:
    """(description, name for --encoding and iconv) of the likely encoding, or None.

    Looks at the bytes from the line with the first bad byte on: a UTF-16
    byte-order mark, then UTF-8, then Windows-1252 (which uses 0x80-0x9f for
    letters and signs such as the euro) and Latin-1 (which does not).
    """
    with path.open("rb") as stream:
        bom = stream.read(2)
        stream.seek(line_start)
        window = stream.read(_WINDOW)
    if bom in (codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE):
        return "UTF-16 (it starts with a UTF-16 byte-order mark)", "utf-16"
    wanted = codecs.lookup(encoding).name
    candidates = [
        ("UTF-8", "utf-8"),
        ("Windows-1252 (Western European, Windows)", "cp1252"),
        ("Latin-1 (ISO-8859-1, Western European)", "latin-1"),
    ]
    if not any(0x80 <= b <= 0x9F for b in window):
        candidates.pop(1)  # without those bytes Latin-1 and Windows-1252 agree; say Latin-1
    for description, name in candidates:
        if codecs.lookup(name).name == wanted:
            continue
        try:  # incremental: a character cut at the end of the window is not an error
            codecs.getincrementaldecoder(name)().decode(window)
        except UnicodeDecodeError:
            continue
        return description, name
    return None
