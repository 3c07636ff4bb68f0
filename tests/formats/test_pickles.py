"""The symbolic pickle walker: it sees every global, runs nothing, and handles evasions."""

from __future__ import annotations

import io
import os
import pickle
import pickletools
from pathlib import Path

import pytest

from app.formats.pickles import PickleParseError, walk_pickles
from app.formats.safety import DANGEROUS, SAFE, SUSPICIOUS, classify


class Evil:
    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple[object, ...]:
        return (os.system, (f"touch {self.marker}",))


def globals_of(data: bytes) -> set[tuple[str, str]]:
    return {(g.module, g.name) for g in walk_pickles(io.BytesIO(data)).globals}


@pytest.mark.parametrize("protocol", range(pickle.HIGHEST_PROTOCOL + 1))
def test_every_protocol_reveals_the_global_without_running_it(
    protocol: int, tmp_path: Path
) -> None:
    marker = tmp_path / "pwned"
    data = pickle.dumps(Evil(marker), protocol=protocol)
    found = globals_of(data)
    assert (os.system.__module__, "system") in found
    assert not marker.exists()


def test_stack_global_with_a_computed_name_is_reported_as_unknown() -> None:
    # Build STACK_GLOBAL whose operands come from a REDUCE, not literal strings.
    data = (
        b"\x80\x04"
        b"\x8c\x08builtins\x94\x8c\x03str\x94\x93\x94"  # builtins.str
        b"\x8c\x02os\x94\x85\x94R\x94"  # str("os")  -> computed module name
        b"\x8c\x06system\x94\x93\x94"  # STACK_GLOBAL(computed, "system")
        b"."
    )
    pickletools.dis(data, out=io.StringIO())  # a valid pickle
    found = globals_of(data)
    assert ("unknown", "unknown") in found
    severity, _ = classify(
        next(g for g in walk_pickles(io.BytesIO(data)).globals if g.module == "unknown")
    )
    assert severity == DANGEROUS


def test_memo_indirection_does_not_hide_a_global() -> None:
    # The module and name strings are memoised first and fetched back for STACK_GLOBAL.
    data = (
        b"\x80\x04"
        b"\x8c\x05posix\x94\x8c\x06system\x94"
        b"0"
        b"0"  # POP POP: the strings are only in the memo now
        b"h\x00h\x01\x93\x94"  # BINGET 0, BINGET 1, STACK_GLOBAL
        b"."
    )
    assert ("posix", "system") in globals_of(data)


def test_extension_registry_opcodes_are_dangerous() -> None:
    data = b"\x80\x02\x82\x01."  # EXT1 code 1
    [ref] = walk_pickles(io.BytesIO(data)).globals
    assert classify(ref)[0] == DANGEROUS


def test_several_pickles_in_one_stream_are_all_walked(tmp_path: Path) -> None:
    data = pickle.dumps({"benign": 1}) + pickle.dumps(Evil(tmp_path / "x"))
    report = walk_pickles(io.BytesIO(data))
    assert report.pickles == 2
    assert ("posix", "system") in {(g.module, g.name) for g in report.globals}


@pytest.mark.parametrize("cut", [1, 5, 20])
def test_truncated_pickle_is_a_parse_error(cut: int) -> None:
    data = pickle.dumps({"weights": list(range(100))}, protocol=4)
    with pytest.raises(PickleParseError):
        walk_pickles(io.BytesIO(data[:-cut]))


def test_garbage_is_a_parse_error() -> None:
    with pytest.raises(PickleParseError):
        walk_pickles(io.BytesIO(b"\x80\x04\xff\xfe\xfd garbage"))


@pytest.mark.parametrize(
    ("module", "name", "expected"),
    [
        ("posix", "system", DANGEROUS),
        ("os", "system", DANGEROUS),
        ("builtins", "eval", DANGEROUS),
        ("builtins", "exec", DANGEROUS),
        ("builtins", "getattr", DANGEROUS),
        ("subprocess", "Popen", DANGEROUS),
        ("runpy", "run_path", DANGEROUS),
        ("sklearn.ensemble._forest", "RandomForestClassifier", SAFE),
        ("numpy._core.multiarray", "_reconstruct", SAFE),
        ("xgboost.sklearn", "XGBClassifier", SAFE),
        ("torch._utils", "_rebuild_tensor_v2", SAFE),
        ("collections", "OrderedDict", SAFE),
        ("mycompany.features", "Transformer", SUSPICIOUS),
        ("numpy", "load", SUSPICIOUS),
    ],
)
def test_classification_uses_picklescan_and_the_allow_list(
    module: str, name: str, expected: str
) -> None:
    from app.formats.pickles import GlobalRef

    assert classify(GlobalRef(module, name, 0))[0] == expected
