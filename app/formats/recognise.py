"""Recognise a model by its bytes and structure, and read what can be read safely.

Nothing here loads a model: pickles are walked symbolically
(:mod:`app.formats.pickles`), ONNX is parsed as a protobuf message (the onnx
package, external data not loaded), zips are listed, JSON/UBJSON/HDF5/GGUF
headers are decoded. Extensions are never trusted on their own.

A file whose bytes announce a format (a magic number, a zip layout) but whose
structure is broken raises :class:`~app.errors.InvalidInputError`: the import
is refused with the reason, because a model that cannot be read cannot be
trusted either. A file that announces no known format is ``unknown``: it is
still stored and versioned, but cannot be built into an image.
"""

from __future__ import annotations

import bz2
import gzip
import io
import json
import lzma
import re
import struct
import zipfile
import zlib
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any, BinaryIO

from app.errors import InvalidInputError
from app.formats import pickles
from app.formats.safety import DANGEROUS, SUSPICIOUS, UNKNOWN, SafetyReport

_HEAD = 4096
_PICKLE_LIBRARIES = ("xgboost", "lightgbm", "catboost", "sklearn", "torch")
_FRAMEWORK_OF_MODULE = {
    "sklearn": "sklearn",
    "xgboost": "xgboost",
    "lightgbm": "lightgbm",
    "catboost": "catboost",
    "torch": "pytorch",
}
_HDF5_MAGIC = b"\x89HDF\r\n\x1a\n"
_COMPRESSED_PREFIXES: tuple[tuple[bytes, str], ...] = (
    (b"\x1f\x8b", "gzip"),
    (b"BZh", "bz2"),
    (b"\xfd7zXZ\x00", "xz"),
    (b"\x04\x22\x4d\x18", "lz4"),
    (b"\x5d\x00\x00", "lzma"),
    (b"\x78\x01", "zlib"),
    (b"\x78\x5e", "zlib"),
    (b"\x78\x9c", "zlib"),
    (b"\x78\xda", "zlib"),
)


@dataclass
class Inspection:
    """What Modelbay could tell about a model version without running it."""

    format: str = "unknown"
    framework: str = "unknown"
    framework_version: str | None = None
    signature: dict[str, Any] | None = None
    details: dict[str, Any] = field(default_factory=dict)
    safety: SafetyReport = field(default_factory=SafetyReport)
    message: str | None = None


class _Corrupt(Exception):
    """The file announces a format but breaks its rules."""


# ---------------------------------------------------------------------- entry point
def inspect_files(files: Mapping[str, Path], *, is_folder: bool) -> Inspection:
    """Inspect a version: one file, or a folder given as {relative path: path on disk}."""
    if is_folder:
        return _inspect_folder(files)
    [(name, path)] = files.items()
    result = Inspection()
    try:
        _inspect_file(name, path, result)
    except _Corrupt as exc:
        raise InvalidInputError(
            f"{name} looks like {a_format_file(result.format)} but cannot be read: {exc}",
            hint="the file may be truncated or damaged; save or export the model again",
        ) from None
    _finish(result)
    return result


_DISPLAY_NAMES = {
    "pickle": "pickle",
    "joblib": "joblib",
    "onnx": "ONNX",
    "torch": "PyTorch",
    "torchscript": "TorchScript",
    "safetensors": "safetensors",
    "keras": "Keras",
    "xgboost-json": "XGBoost JSON",
    "xgboost-ubj": "XGBoost UBJSON",
    "lightgbm": "LightGBM",
    "catboost": "CatBoost",
    "gguf": "GGUF",
    "numpy": "NumPy",
    "mlflow": "MLflow",
    "tf-savedmodel": "TensorFlow SavedModel",
    "zip archive": "zip",
}


def format_display_name(format_id: str) -> str:
    """How people write a format's name (``onnx`` -> ``ONNX``); unknown ids as they are."""
    return _DISPLAY_NAMES.get(format_id, format_id)


def a_format_file(format_id: str) -> str:
    """``a pickle file``, ``an ONNX file``: the article follows the sound of the name."""
    name = format_display_name(format_id)
    # letters read one by one that begin with a vowel sound (ONNX, MLflow, NumPy is "n")
    vowel_sound = name[0].lower() in "aeiou" or name[:2] in {"ML", "XG"}
    return f"{'an' if vowel_sound else 'a'} {name} file"


def _finish(result: Inspection) -> None:
    if result.format == "unknown":
        result.safety.raise_to(UNKNOWN)
        result.message = result.message or (
            "not a model format Modelbay recognises; it is stored and versioned, but cannot "
            "be built into an image"
        )
    elif result.safety.verdict == DANGEROUS:
        result.message = "quarantined: loading this model would run code it carries"
    elif result.safety.verdict == SUSPICIOUS:
        result.message = "imports globals that known model libraries do not use; review them"


def _inspect_file(name: str, path: Path, result: Inspection) -> None:
    with path.open("rb") as stream:
        head = stream.read(_HEAD)
    if not head:
        return
    for recogniser in _RECOGNISERS:
        if recogniser(name, path, head, result):
            return


# ---------------------------------------------------------------------- pickle and joblib
def _pickle_like(head: bytes) -> bool:
    if len(head) >= 2 and head[0] == 0x80 and 2 <= head[1] <= 5:
        return True
    # Protocols 0 and 1 have no header: they start with an opcode that builds a value,
    # and the first few opcodes must parse.
    return head[:1] in _PROTOCOL_0_1_STARTS and _first_opcodes_parse(head)


_PROTOCOL_0_1_STARTS = frozenset({b"(", b"c", b"]", b"}", b")", b"N", b"I", b"S", b"V", b"F"})


def _first_opcodes_parse(head: bytes) -> bool:
    import pickletools

    try:
        for count, (opcode, _, _) in enumerate(pickletools.genops(io.BytesIO(head))):
            if count >= 3 or opcode.name == "STOP":
                return True
    except Exception:  # noqa: BLE001 - any parse failure means "not a pickle"
        return False
    return False


def _recognise_pickle(name: str, path: Path, head: bytes, result: Inspection) -> bool:
    compression = next(
        (kind for prefix, kind in _COMPRESSED_PREFIXES if head.startswith(prefix)), None
    )
    if compression is not None:
        with _decompressed(path, compression) as stream:
            try:
                inner = stream.read(_HEAD)
            except (OSError, EOFError, lzma.LZMAError, zlib.error, ValueError, RuntimeError) as exc:
                # lzma's "alone" header is strong when it says "size unknown", as joblib writes
                strong = compression in _STRONG_MAGIC or (
                    compression == "lzma" and head[5:13] == b"\xff" * 8
                )
                if strong:
                    result.format = f"{compression}-compressed"
                    raise _Corrupt(f"it does not decompress: {exc}") from None
                return False  # a two-byte prefix is weak evidence: call it unknown
            if not _pickle_like(inner):
                return False
        result.format = "joblib"
        result.details["compression"] = compression
        with _decompressed(path, compression) as stream:
            _walk_into(name, stream, result)
        return True
    if not _pickle_like(head):
        return False
    result.format = "pickle"
    with path.open("rb") as stream:
        report = _walk_into(name, stream, result)
    if report.joblib_arrays or any(g.module.startswith("joblib.") for g in report.globals):
        result.format = "joblib"
    return True


def _walk_into(name: str, stream: BinaryIO, result: Inspection) -> pickles.PickleReport:
    try:
        report = pickles.walk_pickles(stream)
    except pickles.PickleParseError as exc:
        raise _Corrupt(f"{exc} (at byte {exc.position})") from None
    except (OSError, EOFError, lzma.LZMAError, zlib.error, RuntimeError) as exc:
        raise _Corrupt(f"decompression failed: {exc}") from None
    result.safety.add_pickle(name, report)
    _pickle_metadata(report, result)
    return report


def _pickle_metadata(report: pickles.PickleReport, result: Inspection) -> None:
    modules = report.modules()
    top = pickles.top_level_class(report)
    top_root = top.module.split(".")[0] if top else None
    if top_root in _FRAMEWORK_OF_MODULE:
        result.framework = _FRAMEWORK_OF_MODULE[top_root]
    else:
        for library in _PICKLE_LIBRARIES:
            if library in modules:
                result.framework = _FRAMEWORK_OF_MODULE[library]
                break
    if top is not None:
        result.details["class"] = top.qualified
    result.details["libraries"] = sorted(m for m in modules if m in _FRAMEWORK_OF_MODULE)
    version = pickles.sklearn_version(report)
    if version:
        result.details["sklearn_version"] = version
        if result.framework == "sklearn":
            result.framework_version = version
    inputs = pickles.estimator_inputs(report)
    if inputs:
        names = inputs.get("feature_names")
        result.signature = {
            "inputs": [{"name": n, "type": "number"} for n in names] if names else [],
            "n_features": inputs["n_features"],
            "outputs": None,
            "source": "scikit-learn estimator (n_features_in_, feature_names_in_)",
        }


_STRONG_MAGIC = frozenset({"gzip", "bz2", "xz", "lz4"})


@contextmanager
def _decompressed(path: Path, kind: str) -> Iterator[BinaryIO]:
    if kind == "gzip":
        with gzip.open(path, "rb") as stream:
            yield stream  # type: ignore[misc]
    elif kind == "bz2":
        with bz2.open(path, "rb") as stream:
            yield stream  # type: ignore[misc]
    elif kind in {"xz", "lzma"}:
        with lzma.open(path, "rb") as stream:
            yield stream  # type: ignore[misc]
    elif kind == "lz4":
        try:
            import lz4.frame
        except ImportError:
            raise _Corrupt("it is lz4-compressed and the lz4 package is not installed") from None
        with lz4.frame.open(path, "rb") as stream:
            yield stream
    else:
        with path.open("rb") as raw:
            yield _ZlibStream(raw)  # type: ignore[misc]


class _ZlibStream(io.RawIOBase):
    """A read-only stream over zlib-compressed data (joblib's ``compress='zlib'``)."""

    def __init__(self, raw: BinaryIO) -> None:
        self._raw = raw
        self._inflate = zlib.decompressobj()
        self._buffer = b""
        self._position = 0

    def readable(self) -> bool:
        return True

    def read(self, size: int = -1) -> bytes:
        while size < 0 or len(self._buffer) < size:
            chunk = self._raw.read(1 << 20)
            if not chunk:
                self._buffer += self._inflate.flush()
                break
            self._buffer += self._inflate.decompress(chunk)
        if size < 0:
            size = len(self._buffer)
        data, self._buffer = self._buffer[:size], self._buffer[size:]
        self._position += len(data)
        return data

    def tell(self) -> int:
        return self._position


# ---------------------------------------------------------------------- zips
def _recognise_zip(name: str, path: Path, head: bytes, result: Inspection) -> bool:
    if not head.startswith(b"PK\x03\x04"):
        return False
    try:
        archive = zipfile.ZipFile(path)
    except zipfile.BadZipFile as exc:
        result.format = "zip archive"
        raise _Corrupt(str(exc)) from None
    with archive:
        names = archive.namelist()
        tails = {PurePosixPath(n).name for n in names}
        if "config.json" in names and "metadata.json" in names:
            _keras_zip(archive, result)
            return True
        if any(n.endswith("/constants.pkl") for n in names) and any("/code/" in n for n in names):
            result.format, result.framework = "torchscript", "pytorch"
        elif any(n.endswith("/data.pkl") for n in names) or tails & {
            "byteorder",
            ".format_version",
        }:
            result.format, result.framework = "torch", "pytorch"
        else:
            return False
        for member in names:
            if member.endswith(".pkl"):
                try:
                    with archive.open(member) as stream:
                        report = pickles.walk_pickles(io.BytesIO(stream.read()))
                except (pickles.PickleParseError, zipfile.BadZipFile, EOFError, OSError) as exc:
                    raise _Corrupt(f"{member}: {exc}") from None
                result.safety.add_pickle(f"{name}:{member}", report)
        result.details["archive_members"] = len(names)
    return True


def _keras_zip(archive: zipfile.ZipFile, result: Inspection) -> None:
    result.format, result.framework = "keras", "tensorflow"
    try:
        metadata = json.loads(archive.read("metadata.json"))
        config = json.loads(archive.read("config.json"))
    except (json.JSONDecodeError, UnicodeDecodeError, KeyError, zipfile.BadZipFile) as exc:
        raise _Corrupt(f"its config.json or metadata.json is not valid JSON: {exc}") from None
    if isinstance(metadata, dict) and isinstance(metadata.get("keras_version"), str):
        result.framework_version = metadata["keras_version"]
    _keras_config(config, result)


def _keras_config(config: Any, result: Inspection) -> None:
    """Keras configs name their layers; a Lambda layer carries Python bytecode that runs on load."""
    layers = []
    for value in _walk_json(config):
        if isinstance(value, dict) and isinstance(value.get("class_name"), str):
            layers.append(value["class_name"])
            if value["class_name"] == "Lambda":
                result.safety.findings.append(
                    _keras_finding(
                        "a Lambda layer stores Python bytecode that runs when the model is loaded"
                    )
                )
                result.safety.raise_to(DANGEROUS)
    if isinstance(config, dict) and isinstance(config.get("class_name"), str):
        result.details["class"] = config["class_name"]
    result.details["layers"] = len(layers)


def _keras_finding(why: str) -> Any:
    from app.formats.safety import Finding

    return Finding("config.json", "keras.layers", "Lambda", 0, DANGEROUS, why)


def _walk_json(value: Any, depth: int = 0) -> Iterator[Any]:
    if depth > 64:
        return
    yield value
    if isinstance(value, dict):
        for item in value.values():
            yield from _walk_json(item, depth + 1)
    elif isinstance(value, list):
        for item in value:
            yield from _walk_json(item, depth + 1)


# ---------------------------------------------------------------------- HDF5 (Keras .h5)
def _recognise_hdf5(name: str, path: Path, head: bytes, result: Inspection) -> bool:
    if not head.startswith(_HDF5_MAGIC):
        return False
    result.format, result.framework = "keras", "tensorflow"
    try:
        import h5py
    except ImportError:
        result.safety.notes.append("h5py is not installed: the Keras version was not read")
        return True
    try:
        with h5py.File(path, "r") as h5:
            attrs = dict(h5.attrs)
    except OSError as exc:
        raise _Corrupt(str(exc)) from None
    version = attrs.get("keras_version")
    if isinstance(version, bytes):
        version = version.decode("utf-8", "replace")
    if isinstance(version, str):
        result.framework_version = version
    config = attrs.get("model_config")
    if isinstance(config, bytes):
        config = config.decode("utf-8", "replace")
    if isinstance(config, str):
        try:
            _keras_config(json.loads(config), result)
        except json.JSONDecodeError as exc:
            raise _Corrupt(f"model_config is not valid JSON: {exc}") from None
    return True


# ---------------------------------------------------------------------- ONNX
def _recognise_onnx(name: str, path: Path, head: bytes, result: Inspection) -> bool:
    # ModelProto starts with field 1 (ir_version, a small varint), then a string field.
    if not (
        len(head) > 3
        and head[0] == 0x08
        and 1 <= head[1] <= 30
        and head[2] in {0x12, 0x1A, 0x22, 0x2A, 0x32, 0x3A, 0x42}
    ):
        return False
    result.format, result.framework = "onnx", "onnx"
    import onnx
    from google.protobuf.message import DecodeError

    try:
        model = onnx.load_model(str(path), load_external_data=False)
    except (DecodeError, ValueError, RuntimeError) as exc:
        raise _Corrupt(f"not a valid ONNX protobuf ({exc})") from None
    if not model.graph.node and not model.graph.input:
        raise _Corrupt("the ONNX graph is empty")

    def describe(value: Any) -> dict[str, Any]:
        tensor = value.type.tensor_type
        shape = (
            [
                d.dim_value if d.HasField("dim_value") else (d.dim_param or None)
                for d in tensor.shape.dim
            ]
            if tensor.HasField("shape")
            else None
        )
        kind = (
            onnx.TensorProto.DataType.Name(tensor.elem_type).lower()
            if value.type.HasField("tensor_type")
            else value.type.WhichOneof("value")
        )
        return {"name": value.name, "type": kind, "shape": shape}

    initialisers = {i.name for i in model.graph.initializer}
    result.signature = {
        "inputs": [describe(v) for v in model.graph.input if v.name not in initialisers],
        "outputs": [describe(v) for v in model.graph.output],
        "source": "onnx graph",
    }
    result.details.update(
        ir_version=model.ir_version,
        opset={o.domain or "ai.onnx": o.version for o in model.opset_import},
        producer=" ".join(p for p in (model.producer_name, model.producer_version) if p),
        nodes=len(model.graph.node),
    )
    return True


# ---------------------------------------------------------------------- safetensors
def _recognise_safetensors(name: str, path: Path, head: bytes, result: Inspection) -> bool:
    if len(head) < 10:
        return False
    (length,) = struct.unpack("<Q", head[:8])
    if head[8:9] != b"{" or length < 2 or length > 100 * 1024 * 1024:
        return False
    result.format = "safetensors"
    size = path.stat().st_size
    if 8 + length > size:
        raise _Corrupt(f"its header says {length} bytes but the file has {size - 8}")
    with path.open("rb") as stream:
        stream.seek(8)
        raw = stream.read(length)
    try:
        header = json.loads(raw)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise _Corrupt(f"its JSON header is invalid: {exc}") from None
    if not isinstance(header, dict):
        raise _Corrupt("its header is not a JSON object")
    metadata = header.pop("__metadata__", None) or {}
    end = 0
    tensors: list[dict[str, Any]] = []
    for tensor_name, spec in header.items():
        if not (isinstance(spec, dict) and isinstance(spec.get("data_offsets"), list)):
            raise _Corrupt(f"tensor {tensor_name!r} has no data_offsets")
        end = max(end, int(spec["data_offsets"][1]))
        if len(tensors) < 1000:
            tensors.append(
                {"name": tensor_name, "dtype": spec.get("dtype"), "shape": spec.get("shape")}
            )
    if 8 + length + end > size:
        raise _Corrupt("the tensor data is cut off (truncated file)")
    framework = {
        "pt": "pytorch",
        "tf": "tensorflow",
        "flax": "flax",
        "np": "numpy",
        "mlx": "mlx",
    }.get(str(metadata.get("format", "")))
    result.framework = framework or "unknown"
    result.signature = {
        "tensors": tensors,
        "tensor_count": len(header),
        "source": "safetensors header",
    }
    if metadata:
        result.details["metadata"] = {str(k): str(v) for k, v in list(metadata.items())[:50]}
    return True


# ---------------------------------------------------------------------- XGBoost
def _recognise_xgboost_json(name: str, path: Path, head: bytes, result: Inspection) -> bool:
    if not re.match(rb'\s*\{\s*"(learner|version)"', head):
        return False
    result.format, result.framework = "xgboost-json", "xgboost"
    try:
        with path.open("rb") as stream:
            document = json.load(stream)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise _Corrupt(f"invalid JSON: {exc}") from None
    _xgboost_document(document, result)
    return True


def _recognise_xgboost_ubj(name: str, path: Path, head: bytes, result: Inspection) -> bool:
    if not (head[:1] == b"{" and b"learner" in head[:32] and head[1:2] in b"LliUI$#"):
        return False
    from app.formats.ubjson import UBJSONError, read_document

    result.format, result.framework = "xgboost-ubj", "xgboost"
    try:
        with path.open("rb") as stream:
            document = read_document(stream)
    except (UBJSONError, UnicodeDecodeError, struct.error) as exc:
        raise _Corrupt(str(exc)) from None
    _xgboost_document(document, result)
    return True


def _xgboost_document(document: Any, result: Inspection) -> None:
    if not isinstance(document, dict) or not isinstance(document.get("learner"), dict):
        raise _Corrupt("there is no 'learner' object")
    version = document.get("version")
    if isinstance(version, list) and all(isinstance(v, int) for v in version):
        result.framework_version = ".".join(str(v) for v in version)
    learner = document["learner"]
    params = learner.get("learner_model_param") or {}
    names = learner.get("feature_names") or []
    count = params.get("num_feature")
    signature: dict[str, Any] = {
        "inputs": [{"name": n, "type": "number"} for n in names if isinstance(n, str)],
        "outputs": None,
        "source": "xgboost learner",
    }
    if isinstance(count, str) and count.isdigit():
        signature["n_features"] = int(count)
    result.signature = signature
    objective = learner.get("objective")
    if isinstance(objective, dict) and isinstance(objective.get("name"), str):
        result.details["objective"] = objective["name"]


# ---------------------------------------------------------------------- LightGBM, CatBoost, GGUF
def _recognise_lightgbm(name: str, path: Path, head: bytes, result: Inspection) -> bool:
    if not re.match(rb"tree\r?\nversion=", head):
        return False
    result.format, result.framework = "lightgbm", "lightgbm"
    text = head.decode("utf-8", "replace")
    version = re.search(r"^version=(\S+)", text, re.MULTILINE)
    if version:
        result.details["model_format"] = version.group(1)
    features: list[str] = []
    count: int | None = None
    with path.open("rb") as stream:
        for raw_line in _lines(stream, limit=200):
            line = raw_line.decode("utf-8", "replace").strip()
            if line.startswith("feature_names="):
                features = line.split("=", 1)[1].split()
            elif line.startswith("max_feature_idx="):
                value = line.split("=", 1)[1]
                count = int(value) + 1 if value.isdigit() else None
            elif line.startswith("objective="):
                result.details["objective"] = line.split("=", 1)[1]
            elif line.startswith("Tree="):
                break
    if count is None:
        raise _Corrupt("the header has no max_feature_idx line")
    result.signature = {
        "inputs": [{"name": n, "type": "number"} for n in features],
        "n_features": count,
        "outputs": None,
        "source": "lightgbm header",
    }
    return True


def _lines(stream: BinaryIO, *, limit: int) -> Iterator[bytes]:
    for count, line in enumerate(stream):
        if count >= limit:
            return
        yield line[:100_000]


def _recognise_catboost(name: str, path: Path, head: bytes, result: Inspection) -> bool:
    if not head.startswith(b"CBM1"):
        return False
    result.format, result.framework = "catboost", "catboost"
    if len(head) < 12:
        raise _Corrupt("the file ends right after its header")
    return True


_GGUF_TYPES = {
    0: "<B",
    1: "<b",
    2: "<H",
    3: "<h",
    4: "<I",
    5: "<i",
    6: "<f",
    7: "<?",
    10: "<Q",
    11: "<q",
    12: "<d",
}


def _recognise_gguf(name: str, path: Path, head: bytes, result: Inspection) -> bool:
    if not head.startswith(b"GGUF"):
        return False
    result.format, result.framework = "gguf", "llama.cpp"
    with path.open("rb") as stream:
        try:
            stream.seek(4)
            (version,) = struct.unpack("<I", stream.read(4))
            tensors, kv_count = struct.unpack("<QQ", stream.read(16))
            metadata: dict[str, Any] = {}
            for _ in range(min(kv_count, 10_000)):
                key = _gguf_string(stream)
                value = _gguf_value(stream, struct.unpack("<I", stream.read(4))[0])
                if key.startswith("general.") and not isinstance(value, list):
                    metadata[key] = value
        except (struct.error, UnicodeDecodeError, ValueError) as exc:
            raise _Corrupt(f"its header cannot be read: {exc}") from None
    result.details.update(gguf_version=version, tensors=tensors, metadata=metadata)
    return True


def _gguf_string(stream: BinaryIO) -> str:
    (length,) = struct.unpack("<Q", stream.read(8))
    if length > 1 << 20:
        raise ValueError("string longer than 1 MiB")
    data = stream.read(length)
    if len(data) != length:
        raise ValueError("cut off")
    return data.decode("utf-8")


def _gguf_value(stream: BinaryIO, kind: int) -> Any:
    if kind in _GGUF_TYPES:
        fmt = _GGUF_TYPES[kind]
        return struct.unpack(fmt, stream.read(struct.calcsize(fmt)))[0]
    if kind == 8:
        return _gguf_string(stream)
    if kind == 9:
        (item_kind,) = struct.unpack("<I", stream.read(4))
        (count,) = struct.unpack("<Q", stream.read(8))
        if count > 10_000_000:
            raise ValueError("array too long")
        return [_gguf_value(stream, item_kind) for _ in range(count)]
    raise ValueError(f"unknown value type {kind}")


# ---------------------------------------------------------------------- numpy (object arrays)
def _recognise_npy(name: str, path: Path, head: bytes, result: Inspection) -> bool:
    """A ``.npy`` with an object dtype carries a pickle after its header: scan it."""
    if not head.startswith(b"\x93NUMPY"):
        return False
    result.format = "numpy"
    major = head[6]
    header_len_size = 2 if major == 1 else 4
    (length,) = struct.unpack("<H" if header_len_size == 2 else "<I", head[8 : 8 + header_len_size])
    header = head[8 + header_len_size : 8 + header_len_size + length].decode("latin-1", "replace")
    if "'descr': '|O'" in header or "'descr': 'O'" in header:
        with path.open("rb") as stream:
            stream.seek(8 + header_len_size + length)
            _walk_into(name, stream, result)
    return True


_RECOGNISERS: tuple[Callable[[str, Path, bytes, Inspection], bool], ...] = (
    _recognise_zip,
    _recognise_hdf5,
    _recognise_gguf,
    _recognise_catboost,
    _recognise_npy,
    _recognise_lightgbm,
    _recognise_xgboost_json,
    _recognise_xgboost_ubj,
    _recognise_safetensors,
    _recognise_onnx,
    _recognise_pickle,
)


# ---------------------------------------------------------------------- folders
def _inspect_folder(files: Mapping[str, Path]) -> Inspection:
    names = set(files)
    if "MLmodel" in names:
        result = _inspect_mlflow(files)
    elif "saved_model.pb" in names or "saved_model.pbtxt" in names:
        result = Inspection(format="tf-savedmodel", framework="tensorflow")
    else:
        result = Inspection()
        result.message = (
            "a folder without an MLmodel file or a saved_model.pb: Modelbay stores it, but does "
            "not know which file is the model"
        )
    # Every pickle-bearing file in any folder is scanned, whatever the folder is.
    for relative, path in sorted(files.items()):
        sub = Inspection()
        try:
            _inspect_file(relative, path, sub)
        except _Corrupt as exc:
            if sub.format in {"pickle", "joblib", "torch", "torchscript", "numpy"}:
                raise InvalidInputError(
                    f"{relative} in the folder looks like {a_format_file(sub.format)} but "
                    f"cannot be read: {exc}",
                    hint="the file may be truncated or damaged; save or export the model again",
                ) from None
            continue
        for entry in sub.safety.scanned:
            result.safety.scanned.append(entry)
        for finding in sub.safety.findings:
            result.safety.findings.append(finding)
        result.safety.raise_to(sub.safety.verdict if sub.format != "unknown" else "safe")
        if result.format == "tf-savedmodel" and relative == "keras_metadata.pb":
            result.details["keras"] = True
    _finish(result)
    return result


def _inspect_mlflow(files: Mapping[str, Path]) -> Inspection:
    import yaml

    result = Inspection(format="mlflow")
    try:
        document = yaml.safe_load(files["MLmodel"].read_text(encoding="utf-8"))
    except (yaml.YAMLError, UnicodeDecodeError) as exc:
        raise InvalidInputError(
            f"the MLmodel file of this MLflow model is not valid YAML: {exc}",
            hint="the folder may be damaged; log or save the model again",
        ) from None
    if not isinstance(document, dict) or not isinstance(document.get("flavors"), dict):
        raise InvalidInputError(
            "the MLmodel file has no 'flavors' section",
            hint="is this folder really an MLflow model?",
        )
    flavors: dict[str, Any] = document["flavors"]
    result.details["flavors"] = sorted(flavors)
    if isinstance(document.get("mlflow_version"), str):
        result.details["mlflow_version"] = document["mlflow_version"]
    for flavor, framework, version_key in _MLFLOW_FLAVORS:
        if flavor in flavors:
            result.framework = framework
            spec = flavors[flavor] if isinstance(flavors[flavor], dict) else {}
            version = spec.get(version_key)
            if isinstance(version, str):
                result.framework_version = version
            break
    pyfunc = flavors.get("python_function")
    if isinstance(pyfunc, dict):
        loader = pyfunc.get("loader_module")
        result.details["loader_module"] = loader
        if result.framework == "unknown":
            result.framework = "pyfunc"
        if pyfunc.get("code") or (isinstance(loader, str) and not loader.startswith("mlflow.")):
            result.safety.notes.append(
                "the python_function flavor runs its own code on load (loader_module or code "
                "paths outside MLflow)"
            )
            result.safety.raise_to(SUSPICIOUS)
    signature = document.get("signature")
    if isinstance(signature, dict):
        result.signature = {
            "inputs": _mlflow_schema(signature.get("inputs")),
            "outputs": _mlflow_schema(signature.get("outputs")),
            "params": _mlflow_schema(signature.get("params")),
            "source": "mlflow MLmodel",
        }
    requirements = files.get("requirements.txt")
    if requirements is not None:
        lines = requirements.read_text(encoding="utf-8", errors="replace").splitlines()
        result.details["requirements"] = [
            line.strip() for line in lines if line.strip() and not line.startswith("#")
        ]
    return result


_MLFLOW_FLAVORS = (
    ("sklearn", "sklearn", "sklearn_version"),
    ("xgboost", "xgboost", "xgb_version"),
    ("lightgbm", "lightgbm", "lgb_version"),
    ("catboost", "catboost", "catboost_version"),
    ("onnx", "onnx", "onnx_version"),
    ("pytorch", "pytorch", "pytorch_version"),
    ("keras", "tensorflow", "keras_version"),
    ("tensorflow", "tensorflow", "tf_version"),
    ("transformers", "transformers", "transformers_version"),
)


def _mlflow_schema(value: Any) -> Any:
    """MLflow stores each schema as a JSON string inside the YAML."""
    if isinstance(value, str):
        try:
            return json.loads(value)
        except json.JSONDecodeError:
            return value
    return value
