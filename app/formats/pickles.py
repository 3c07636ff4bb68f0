"""Read a pickle stream without running it: its globals, its structure, its metadata.

``walk_pickles`` interprets pickle opcodes (parsed by the standard library's
``pickletools.genops``) on a *symbolic* stack: a GLOBAL becomes a
:class:`Global` record, a REDUCE a :class:`Call` record, never an import or a
call. Nothing in the file is executed, whatever it contains.

On top of the plain protocol it understands what model files put around
pickles:

- several pickles one after the other (joblib's nested object arrays);
- joblib's raw array data, which joblib writes into the middle of the stream
  right after each ``NumpyArrayWrapper``: the walker computes its length from
  the wrapper's shape and dtype and skips it, so the globals *after* a large
  array are still seen (a scanner that stops at the first array would miss a
  payload placed behind it);
- metadata that libraries store in plain values: scikit-learn's
  ``_sklearn_version``, ``n_features_in_`` and ``feature_names_in_``.

Values that are large (bytes over 64 KiB) are kept only as their length, so
memory stays proportional to the object graph, not to the file.
"""

from __future__ import annotations

import io
import math
import pickletools
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any, BinaryIO

_BIG_BYTES = 64 * 1024
_JOBLIB_WRAPPER = ("joblib.numpy_pickle", "NumpyArrayWrapper")
_DTYPE_RE = re.compile(r"^[<>|=]?([biufcmMOSUV?])(\d*)")


class PickleParseError(Exception):
    """The stream is not a complete, well-formed pickle."""

    def __init__(self, message: str, position: int) -> None:
        super().__init__(message)
        self.position = position


# ---------------------------------------------------------------------- symbolic values
class Symbol:
    """A value the walker could not (and must not) compute. Hashable by identity."""

    __hash__ = object.__hash__


@dataclass(eq=False)
class Global(Symbol):
    module: str
    name: str

    @property
    def qualified(self) -> str:
        return f"{self.module}.{self.name}"


@dataclass(eq=False)
class Call(Symbol):
    """``func(*args)`` as REDUCE, NEWOBJ or OBJ would run it; ``state`` after BUILD."""

    func: Any
    args: Any
    state: Any = None
    payload: Any = None  # for a joblib array wrapper holding objects: the nested pickle's value


@dataclass(eq=False)
class Opaque(Symbol):
    what: str
    size: int = 0


@dataclass(frozen=True)
class GlobalRef:
    """A global the pickle would import, and where (byte offset in the stream) it names it."""

    module: str
    name: str
    position: int


@dataclass
class PickleReport:
    globals: list[GlobalRef] = field(default_factory=list)
    pickles: int = 0
    joblib_arrays: int = 0
    skipped_bytes: int = 0
    roots: list[Any] = field(default_factory=list)  # the top value of each pickle

    def modules(self) -> set[str]:
        return {g.module.split(".")[0] for g in self.globals}


# ---------------------------------------------------------------------- walking
def walk_pickles(stream: BinaryIO, *, max_pickles: int = 10_000) -> PickleReport:
    """Walk every pickle in ``stream`` until its end. Raise :class:`PickleParseError` if broken."""
    report = PickleReport()
    reader = stream if isinstance(stream, io.BufferedReader | io.BytesIO) else _Forward(stream)
    machine = _Machine(reader, report)  # type: ignore[arg-type]  # all three read like files
    while report.pickles < max_pickles:
        if isinstance(reader, _Forward):
            if not reader.peek(1):
                break
        else:
            start = reader.tell()
            if not reader.read(1):
                break
            reader.seek(start)
        machine.run_one()
        report.pickles += 1
    return report


class _Forward(io.RawIOBase):
    """A forward-only view of a decompressing stream: reads and one-byte peeks, never seeks.

    gzip/bz2/lzma objects claim to be seekable, but seeking backwards restarts
    decompression from the start; this wrapper makes skipping a read-and-drop.
    """

    def __init__(self, inner: BinaryIO) -> None:
        self._inner = inner
        self._pending = b""
        self._position = 0

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return False

    def peek(self, size: int) -> bytes:
        if len(self._pending) < size:
            self._pending += self._inner.read(size - len(self._pending))
        return self._pending[:size]

    def read(self, size: int = -1) -> bytes:
        if size is None or size < 0:
            data = self._pending + self._inner.read()
            self._pending = b""
        else:
            data = self._pending[:size]
            self._pending = self._pending[size:]
            if len(data) < size:
                data += self._inner.read(size - len(data))
        self._position += len(data)
        return data

    def readline(self, size: int | None = -1) -> bytes:
        line = bytearray()
        while size is None or size < 0 or len(line) < size:
            char = self.read(1)
            if not char:
                break
            line += char
            if char == b"\n":
                break
        return bytes(line)

    def tell(self) -> int:
        return self._position


class _Machine:
    def __init__(self, stream: BinaryIO, report: PickleReport) -> None:
        self.stream = stream
        self.report = report

    def run_one(self) -> None:
        stack: list[Any] = []
        marks: list[int] = []
        memo: dict[int, Any] = {}
        stream = self.stream
        while True:
            resumed = False
            try:
                for opcode, arg, position in pickletools.genops(stream):
                    pos = position or 0
                    name = opcode.name
                    if name == "STOP":
                        if not stack:
                            raise PickleParseError("STOP with an empty stack", pos)
                        self.report.roots.append(stack.pop())
                        return
                    if self._step(name, arg=arg, pos=pos, stack=stack, marks=marks, memo=memo):
                        resumed = True
                        break  # raw joblib data skipped: continue parsing from here
            except PickleParseError:
                raise
            except (
                ValueError,
                EOFError,
                IndexError,
                KeyError,
                TypeError,
                OverflowError,
                OSError,
                RuntimeError,  # lz4 reports a corrupt frame as RuntimeError
            ) as exc:
                raise PickleParseError(str(exc) or type(exc).__name__, stream.tell()) from exc
            if not resumed:
                raise PickleParseError("the pickle ends without a STOP opcode", stream.tell())

    def _step(  # noqa: PLR0912, PLR0915 - one branch per opcode family
        self,
        name: str,
        *,
        arg: Any,
        pos: int,
        stack: list[Any],
        marks: list[int],
        memo: dict[int, Any],
    ) -> bool:
        def pop_mark() -> list[Any]:
            if not marks:
                raise PickleParseError(f"{name} without a MARK", pos)
            start = marks.pop()
            items = stack[start:]
            del stack[start:]
            return items

        match name:
            case "PROTO" | "FRAME":
                pass
            case "MARK":
                marks.append(len(stack))
            case "POP":
                if marks and marks[-1] == len(stack):
                    marks.pop()
                else:
                    stack.pop()
            case "POP_MARK":
                pop_mark()
            case "DUP":
                stack.append(stack[-1])
            case (
                "INT"
                | "BININT"
                | "BININT1"
                | "BININT2"
                | "LONG"
                | "LONG1"
                | "LONG4"
                | "FLOAT"
                | "BINFLOAT"
                | "UNICODE"
                | "SHORT_BINUNICODE"
                | "BINUNICODE"
                | "BINUNICODE8"
                | "STRING"
                | "BINSTRING"
                | "SHORT_BINSTRING"
            ):
                stack.append(arg)
            case "NONE":
                stack.append(None)
            case "NEWTRUE":
                stack.append(True)
            case "NEWFALSE":
                stack.append(False)
            case "BINBYTES" | "SHORT_BINBYTES" | "BINBYTES8" | "BYTEARRAY8":
                stack.append(arg if len(arg) <= _BIG_BYTES else Opaque("bytes", len(arg)))
            case "NEXT_BUFFER":
                stack.append(Opaque("out-of-band buffer"))
            case "READONLY_BUFFER":
                pass
            case "EMPTY_LIST":
                stack.append([])
            case "EMPTY_TUPLE":
                stack.append(())
            case "EMPTY_DICT":
                stack.append({})
            case "EMPTY_SET":
                stack.append(Opaque("set"))
            case "LIST":
                stack.append(pop_mark())
            case "TUPLE":
                stack.append(tuple(pop_mark()))
            case "TUPLE1":
                stack[-1:] = [tuple(stack[-1:])]
            case "TUPLE2":
                stack[-2:] = [tuple(stack[-2:])]
            case "TUPLE3":
                stack[-3:] = [tuple(stack[-3:])]
            case "DICT":
                items = pop_mark()
                stack.append(_pairs_to_dict(items))
            case "FROZENSET":
                pop_mark()
                stack.append(Opaque("frozenset"))
            case "APPEND":
                value = stack.pop()
                _append(stack[-1], [value])
            case "APPENDS":
                items = pop_mark()
                _append(stack[-1], items)
            case "SETITEM":
                value = stack.pop()
                key = stack.pop()
                _set_items(stack[-1], [key, value])
            case "SETITEMS":
                items = pop_mark()
                _set_items(stack[-1], items)
            case "ADDITEMS":
                pop_mark()
            case "PUT" | "BINPUT" | "LONG_BINPUT":
                memo[int(arg)] = stack[-1]
            case "MEMOIZE":
                memo[len(memo)] = stack[-1]
            case "GET" | "BINGET" | "LONG_BINGET":
                if int(arg) not in memo:
                    raise PickleParseError(f"memo key {arg} used before it was set", pos)
                stack.append(memo[int(arg)])
            case "GLOBAL":
                module, _, attr = str(arg).partition(" ")
                stack.append(self._global(module, attr, pos))
            case "STACK_GLOBAL":
                attr = stack.pop()
                module = stack.pop()
                if isinstance(module, str) and isinstance(attr, str):
                    stack.append(self._global(module, attr, pos))
                else:  # computed names are an evasion technique: never "safe"
                    stack.append(self._global("unknown", "unknown", pos))
            case "INST":
                module, _, attr = str(arg).partition(" ")
                args = tuple(pop_mark())
                stack.append(Call(self._global(module, attr, pos), args))
            case "OBJ":
                items = pop_mark()
                if not items:
                    raise PickleParseError("OBJ without a class", pos)
                stack.append(Call(items[0], tuple(items[1:])))
            case "REDUCE":
                args = stack.pop()
                func = stack.pop()
                stack.append(Call(func, args))
            case "NEWOBJ":
                args = stack.pop()
                cls = stack.pop()
                stack.append(Call(cls, args))
            case "NEWOBJ_EX":
                kwargs = stack.pop()
                args = stack.pop()
                cls = stack.pop()
                stack.append(Call(cls, (args, kwargs)))
            case "BUILD":
                state = stack.pop()
                target = stack[-1]
                if isinstance(target, Call):
                    target.state = state
                    if _is_joblib_wrapper(target):
                        self._skip_joblib_array(target, pos)
                        return True
            case "PERSID" | "BINPERSID":
                pid = arg if name == "PERSID" else stack.pop()
                stack.append(
                    Opaque("persistent id", 0) if pid is None else Call(Opaque("pid"), pid)
                )
            case "EXT1" | "EXT2" | "EXT4":
                stack.append(self._global("copyreg-extension", str(arg), pos))
            case _:
                raise PickleParseError(f"unsupported opcode {name}", pos)
        return False

    def _global(self, module: str, name: str, pos: int) -> Global:
        self.report.globals.append(GlobalRef(module, name, pos))
        return Global(module, name)

    def _skip_joblib_array(self, wrapper: Call, pos: int) -> None:
        """Move the stream past the raw array data joblib wrote after this wrapper."""
        state = wrapper.state if isinstance(wrapper.state, dict) else {}
        shape = state.get("shape")
        dtype = state.get("dtype")
        if not isinstance(shape, tuple) or not all(isinstance(n, int) and n >= 0 for n in shape):
            raise PickleParseError("a joblib array wrapper without a valid shape", pos)
        itemsize, has_objects = _dtype_size(dtype)
        self.report.joblib_arrays += 1
        if has_objects:
            # Object arrays are a nested pickle stream: walk it like any other.
            before = len(self.report.roots)
            self.run_one()
            wrapper.payload = self.report.roots[before] if len(self.report.roots) > before else None
            del self.report.roots[before:]
            return
        stream = self.stream
        if state.get("numpy_array_alignment_bytes") is not None:
            padding = stream.read(1)
            if len(padding) != 1:
                raise PickleParseError("joblib array padding is cut off", stream.tell())
            _skip(stream, padding[0])
        length = math.prod(shape) * itemsize
        _skip(stream, length)
        self.report.skipped_bytes += length


def _skip(stream: BinaryIO, length: int) -> None:
    if length == 0:
        return
    start = stream.tell()
    if stream.seekable():
        end = stream.seek(0, 2)
        if start + length > end:
            raise PickleParseError("joblib array data is cut off (truncated file)", start)
        stream.seek(start + length)
        return
    remaining = length
    while remaining:
        chunk = stream.read(min(remaining, 1 << 20))
        if not chunk:
            raise PickleParseError("joblib array data is cut off (truncated file)", start)
        remaining -= len(chunk)


def _is_joblib_wrapper(value: Call) -> bool:
    cls = value.func
    return isinstance(cls, Global) and (cls.module, cls.name) == _JOBLIB_WRAPPER


def _dtype_size(dtype: Any) -> tuple[int, bool]:
    """(itemsize, holds Python objects) of a pickled ``numpy.dtype``, without numpy."""
    if not (isinstance(dtype, Call) and isinstance(dtype.args, tuple) and dtype.args):
        raise PickleParseError("a joblib array wrapper without a readable dtype", 0)
    descr = dtype.args[0]
    state = dtype.state if isinstance(dtype.state, tuple) else ()
    match = _DTYPE_RE.match(descr) if isinstance(descr, str) else None
    if match is None:
        raise PickleParseError(f"unreadable numpy dtype {descr!r}", 0)
    kind, digits = match.groups()
    flags = state[7] if len(state) > 7 and isinstance(state[7], int) else 0
    has_objects = kind == "O" or bool(flags & 0x01)
    if len(state) > 5 and isinstance(state[5], int) and state[5] > 0:
        return state[5], has_objects
    if kind == "?":
        return 1, has_objects
    if not digits:
        raise PickleParseError(f"numpy dtype {descr!r} has no size", 0)
    return int(digits), has_objects


def _pairs_to_dict(items: list[Any]) -> dict[Any, Any]:
    result: dict[Any, Any] = {}
    _set_items(result, items)
    return result


def _set_items(target: Any, items: list[Any]) -> None:
    if not isinstance(target, dict):
        return  # setting items on a symbolic object: nothing to record
    for i in range(0, len(items) - 1, 2):
        key = items[i]
        try:
            target[key] = items[i + 1]
        except TypeError:  # an unhashable key (a list): keep the value reachable anyway
            target[Opaque("unhashable key")] = items[i + 1]


def _append(target: Any, items: list[Any]) -> None:
    if isinstance(target, list):
        target.extend(items)


# ---------------------------------------------------------------------- metadata
def iter_values(root: Any, *, limit: int = 200_000) -> Iterator[Any]:
    """Every value reachable from ``root`` (each once), breadth-first, at most ``limit``."""
    seen: set[int] = set()
    queue = [root]
    count = 0
    while queue and count < limit:
        value = queue.pop(0)
        if id(value) in seen:
            continue
        seen.add(id(value))
        count += 1
        yield value
        if isinstance(value, dict):
            queue.extend(value.keys())
            queue.extend(value.values())
        elif isinstance(value, list | tuple):
            queue.extend(value)
        elif isinstance(value, Call):
            queue.extend([value.func, value.args, value.state, value.payload])


def sklearn_version(report: PickleReport) -> str | None:
    """The scikit-learn version sklearn wrote into every estimator's state."""
    for root in report.roots:
        for value in iter_values(root):
            if isinstance(value, dict):
                version = value.get("_sklearn_version")
                if isinstance(version, str):
                    return version
    return None


def top_level_class(report: PickleReport) -> Global | None:
    """The class of the first pickle's root object (e.g. sklearn...RandomForestClassifier)."""
    for root in report.roots:
        value = root
        while isinstance(value, Call):
            func = value.func
            if isinstance(func, Global) and func.name in {"_reconstructor", "__newobj__"}:
                args = value.args
                value = Call(args[0], args[1:]) if isinstance(args, tuple) and args else None
                continue
            return func if isinstance(func, Global) else None
    return None


def estimator_inputs(report: PickleReport) -> dict[str, Any] | None:
    """n_features_in_ and feature_names_in_ of the root estimator, when sklearn stored them."""
    for root in report.roots:
        state = root.state if isinstance(root, Call) else None
        if not isinstance(state, dict):
            continue
        count = state.get("n_features_in_")
        names = _object_array_items(state.get("feature_names_in_"))
        if isinstance(count, int):
            inputs: dict[str, Any] = {"n_features": count}
            if names and all(isinstance(n, str) for n in names) and len(names) == count:
                inputs["feature_names"] = names
            return inputs
    return None


def _object_array_items(value: Any) -> list[Any] | None:
    """The elements of a pickled numpy object array (numpy puts them in the state as a list)."""
    if isinstance(value, Call) and _is_joblib_wrapper(value):
        value = value.payload
    if isinstance(value, Call) and isinstance(value.state, tuple) and len(value.state) >= 5:
        items = value.state[4]
        if isinstance(items, list):
            return items
    return None
