"""The minimal UBJSON reader against a hand-encoded document with every construct."""

from __future__ import annotations

import io
import struct

import pytest

from app.formats.ubjson import SkippedArray, UBJSONError, read_document


def key(text: str) -> bytes:
    raw = text.encode()
    return b"i" + struct.pack(">b", len(raw)) + raw


def test_reads_objects_arrays_strings_numbers_and_skips_big_typed_arrays() -> None:
    floats = struct.pack(">5000f", *range(5000))
    doc = (
        b"{"
        + key("version")
        + b"["
        + b"i\x03"
        + b"i\x02"
        + b"U\x01"
        + b"]"
        + key("name")
        + b"S"
        + b"i\x03abc"
        + key("flags")
        + b"[TFZ]"
        + key("weights")
        + b"[$d#I"
        + struct.pack(">h", 5000)
        + floats
        + key("small")
        + b"[$i#i\x03\x01\x02\x03"
        + key("pi")
        + b"D"
        + struct.pack(">d", 3.5)
        + key("counted")
        + b"{#i\x01"
        + key("k")
        + b"L"
        + struct.pack(">q", 2**40)
        + b"}"
    )
    value = read_document(io.BytesIO(doc))
    assert value["version"] == [3, 2, 1]
    assert value["name"] == "abc"
    assert value["flags"] == [True, False, None]
    assert isinstance(value["weights"], SkippedArray)
    assert value["weights"].count == 5000
    assert value["small"] == [1, 2, 3]
    assert value["pi"] == 3.5
    assert value["counted"] == {"k": 2**40}


@pytest.mark.parametrize("doc", [b"{" + key("a"), b"[$d#i\x10" + b"\x00" * 8, b"{i\x05ab", b"X"])
def test_truncated_or_invalid_documents_raise(doc: bytes) -> None:
    with pytest.raises(UBJSONError):
        read_document(io.BytesIO(doc))
