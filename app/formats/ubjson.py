"""Just enough of UBJSON (Universal Binary JSON) to read an XGBoost ``.ubj`` model's header.

XGBoost writes its model as one UBJSON object: ``{"learner": {...}, "version": [...]}``.
The learner holds large typed arrays (``[$d#L<count>`` followed by raw
floats): they are skipped by length instead of decoded, so reading the
version and the feature names of a large model stays fast.

There is no maintained UBJSON package on PyPI that XGBoost itself uses; this
reader is ~100 lines and only decodes, never executes (see docs/decisions.md).
"""

from __future__ import annotations

import struct
from typing import Any, BinaryIO

_INT_FORMATS = {b"i": ">b", b"U": ">B", b"I": ">h", b"l": ">i", b"L": ">q"}
_FLOAT_FORMATS = {b"d": ">f", b"D": ">d"}
_FIXED_SIZE = {
    b"i": 1,
    b"U": 1,
    b"I": 2,
    b"l": 4,
    b"L": 8,
    b"d": 4,
    b"D": 8,
    b"C": 1,
    b"Z": 0,
    b"T": 0,
    b"F": 0,
    b"N": 0,
}
_MAX_DEPTH = 64


class UBJSONError(ValueError):
    pass


class SkippedArray:
    """A typed array that was skipped; only its length is known."""

    def __init__(self, count: int) -> None:
        self.count = count

    def __repr__(self) -> str:
        return f"SkippedArray({self.count})"


def read_document(stream: BinaryIO, *, keep_arrays_up_to: int = 4096) -> Any:
    """Decode one UBJSON value; typed numeric arrays longer than the limit are skipped."""
    reader = _Reader(stream, keep_arrays_up_to)
    return reader.value(reader.marker(), 0)


class _Reader:
    def __init__(self, stream: BinaryIO, keep: int) -> None:
        self.stream = stream
        self.keep = keep

    def read(self, n: int) -> bytes:
        data = self.stream.read(n)
        if len(data) != n:
            raise UBJSONError("the document is cut off (truncated file)")
        return data

    def marker(self) -> bytes:
        while True:
            m = self.read(1)
            if m != b"N":  # no-op marker
                return m

    def integer(self, marker: bytes) -> int:
        fmt = _INT_FORMATS.get(marker)
        if fmt is None:
            raise UBJSONError(f"expected an integer length, got marker {marker!r}")
        value: int = struct.unpack(fmt, self.read(struct.calcsize(fmt)))[0]
        return value

    def string(self) -> str:
        length = self.integer(self.marker())
        if length < 0:
            raise UBJSONError("negative string length")
        return self.read(length).decode("utf-8")

    def value(self, marker: bytes, depth: int) -> Any:  # noqa: PLR0911 - one return per type
        if depth > _MAX_DEPTH:
            raise UBJSONError("nesting too deep")
        if marker in _INT_FORMATS:
            return self.integer(marker)
        if marker in _FLOAT_FORMATS:
            fmt = _FLOAT_FORMATS[marker]
            return struct.unpack(fmt, self.read(struct.calcsize(fmt)))[0]
        if marker in {b"S", b"H"}:
            return self.string()
        if marker == b"C":
            return self.read(1).decode("latin-1")
        if marker == b"T":
            return True
        if marker == b"F":
            return False
        if marker == b"Z":
            return None
        if marker == b"[":
            return self.array(depth)
        if marker == b"{":
            return self.object(depth)
        raise UBJSONError(f"unknown marker {marker!r}")

    def container_header(self) -> tuple[bytes | None, int | None, bytes | None]:
        """(element type, count, first marker) after an opening bracket."""
        kind: bytes | None = None
        count: int | None = None
        m = self.marker()
        if m == b"$":
            kind = self.read(1)
            m = self.read(1)
            if m != b"#":
                raise UBJSONError("a typed container needs a count")
        if m == b"#":
            count = self.integer(self.marker())
            return kind, count, None
        return kind, count, m

    def array(self, depth: int) -> Any:
        kind, count, first = self.container_header()
        if count is None:
            items = []
            m = first
            while m != b"]":
                assert m is not None
                items.append(self.value(m, depth + 1))
                m = self.marker()
            return items
        if kind is not None and kind in _FIXED_SIZE and count > self.keep:
            self.skip(count * _FIXED_SIZE[kind])
            return SkippedArray(count)
        return [self.value(kind or self.marker(), depth + 1) for _ in range(count)]

    def object(self, depth: int) -> dict[str, Any]:
        kind, count, first = self.container_header()
        result: dict[str, Any] = {}
        if count is None:
            m = first
            while m != b"}":
                assert m is not None
                key_length = self.integer(m)
                key = self.read(key_length).decode("utf-8")
                result[key] = self.value(self.marker(), depth + 1)
                m = self.marker()
            return result
        for _ in range(count):
            key = self.string()
            result[key] = self.value(kind or self.marker(), depth + 1)
        return result

    def skip(self, n: int) -> None:
        if self.stream.seekable():
            start = self.stream.tell()
            end = self.stream.seek(0, 2)
            if start + n > end:
                raise UBJSONError("the document is cut off (truncated file)")
            self.stream.seek(start + n)
        else:
            self.read(n)
