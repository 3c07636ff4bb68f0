"""Real model files, written by the real libraries, for the format-recognition tests.

Every maker takes a destination folder, writes one small model into it (a file, or a folder
for the formats that are folders) and returns the path it wrote. The models are tiny and
seeded: the whole set is made in a few seconds, the same way every time (byte for byte,
except catboost_cbm and torchscript, whose libraries stamp a guid, a time or a random id).
Heavy libraries are imported inside the maker that needs them.

Three ecosystems cannot be installed here (TensorFlow/Keras, MLflow, llama.cpp): their
makers write the files by hand, laid out the way the real library lays them out.

The ``malicious_*`` makers write files that run code IF they are ever unpickled: loading one
creates the ``marker`` file. Tests assert that the app never creates it.

``REAL_MODELS`` maps a short id to ``(maker, expected_format, expected_framework)``.
"""

from __future__ import annotations

import base64
import functools
import io
import json
import marshal
import pickle
import shutil
import struct
import types
import warnings
import zipfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

SEED = 0

# joblib's compression methods, by the name ``joblib.dump(compress=NAME)`` takes (None: raw).
JOBLIB_COMPRESSIONS: tuple[str | None, ...] = (None, "zlib", "gzip", "bz2", "xz", "lzma", "lz4")

# A fixed timestamp for the hand-made zips, so their bytes do not depend on the clock.
_ZIP_TIME = (2024, 10, 15, 12, 34, 56)

MLFLOW_VERSION = "2.17.0"
KERAS_VERSION = "3.6.0"
KERAS_LEGACY_VERSION = "2.15.0"


# ---------------------------------------------------------------------------------- helpers


def _folder(dest: Path) -> Path:
    """Create ``dest`` (and its parents) if needed and return it."""
    dest.mkdir(parents=True, exist_ok=True)
    return dest


@contextmanager
def _quiet() -> Iterator[None]:
    """Silence library deprecation chatter (pytest turns warnings into errors)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        warnings.simplefilter("ignore", FutureWarning)
        warnings.simplefilter("ignore", UserWarning)
        yield


@functools.cache
def _iris() -> tuple[Any, Any]:
    """Iris as a pandas DataFrame (named columns) and its target Series."""
    from sklearn.datasets import load_iris

    data = load_iris(as_frame=True)
    return data.data, data.target


@functools.cache
def _iris_forest() -> Any:
    """A 5-tree RandomForestClassifier fit on the iris DataFrame (so feature_names_in_ is set)."""
    from sklearn.ensemble import RandomForestClassifier

    x, y = _iris()
    return RandomForestClassifier(n_estimators=5, max_depth=3, random_state=SEED).fit(x, y)


@functools.cache
def _xgb_classifier() -> Any:
    """A 3-round XGBClassifier fit on the iris DataFrame (feature names = iris columns)."""
    from xgboost import XGBClassifier

    x, y = _iris()
    model = XGBClassifier(
        n_estimators=3, max_depth=2, random_state=SEED, n_jobs=1, tree_method="hist"
    )
    return model.fit(x, y)


def _pickle_to(path: Path, obj: object, protocol: int) -> Path:
    """Pickle ``obj`` into ``path`` with the given protocol."""
    with path.open("wb") as f:
        pickle.dump(obj, f, protocol=protocol)
    return path


def _zip_entry(name: str) -> zipfile.ZipInfo:
    """A stored zip entry with a fixed timestamp and the mode ``ZipFile.open(name, "w")`` sets."""
    info = zipfile.ZipInfo(name, date_time=_ZIP_TIME)
    info.external_attr = 0o600 << 16
    return info


# ---------------------------------------------------------------------------------- sklearn


def sklearn_pickle(dest: Path, protocol: int = 5) -> Path:
    """A RandomForestClassifier (5 trees, iris DataFrame) pickled with ``protocol``: rf.pkl."""
    # Protocol >= 2 starts with PROTO b"\x80" + protocol byte; 4 and 5 follow it with a FRAME
    # (b"\x95" + u64 length). The first global is sklearn.ensemble._forest
    # RandomForestClassifier; the estimator state ends with _sklearn_version.
    return _pickle_to(_folder(dest) / "rf.pkl", _iris_forest(), protocol)


def sklearn_pickle_protocol0(dest: Path) -> Path:
    """The same forest pickled with the text protocol 0: rf_p0.pkl."""
    # Protocol 0 has no PROTO opcode and is text: it starts with b"ccopy_reg\n_reconstructor\n"
    # (GLOBAL, then sklearn.ensemble._forest RandomForestClassifier and __builtin__ object)
    # and numpy buffers are escaped into _codecs.encode(..., 'latin1') calls.
    return _pickle_to(_folder(dest) / "rf_p0.pkl", _iris_forest(), 0)


def sklearn_joblib(dest: Path, compress: str | None = None) -> Path:
    """The same forest through joblib.dump, raw or compressed: rf.joblib or rf.<compress>.joblib."""
    # Raw joblib is a protocol 4 pickle (b"\x80\x04\x95") whose numpy arrays are
    # NumpyArrayWrapper objects followed by the array's raw bytes inside the stream (which
    # pickletools cannot walk past). Compressed files start with the
    # compressor's own magic: zlib b"x" (0x78), gzip b"\x1f\x8b", bz2 b"BZh", xz b"\xfd7zXZ\x00",
    # lzma (the "alone" format) b"]\x00\x00\x80\x00", lz4 frame b"\x04\x22\x4d\x18" (the
    # pickle's first bytes are still readable a few bytes in: lz4 stores them as literals).
    import joblib

    if compress not in JOBLIB_COMPRESSIONS:
        raise ValueError(f"unknown joblib compression: {compress!r}")
    name = "rf.joblib" if compress is None else f"rf.{compress}.joblib"
    path = _folder(dest) / name
    joblib.dump(_iris_forest(), path, compress=compress if compress is not None else 0)
    return path


# ---------------------------------------------------------------------------------- xgboost


def xgboost_pickle(dest: Path) -> Path:
    """An XGBClassifier (3 rounds, iris) pickled: xgb.pkl."""
    # A pickle of xgboost.sklearn.XGBClassifier; its Booster's state ("handle") is BINBYTES
    # of a UBJSON document holding config and model: b"{L\x00..\x06Config{L\x00..\x07learner".
    return _pickle_to(_folder(dest) / "xgb.pkl", _xgb_classifier(), pickle.DEFAULT_PROTOCOL)


def xgboost_json(dest: Path) -> Path:
    """The XGBClassifier's booster saved as JSON: xgb.json."""
    # Plain JSON starting with {"learner":{"attributes":{...},"feature_names":[...] and ending
    # with "version":[major,minor,patch]}.
    path = _folder(dest) / "xgb.json"
    _xgb_classifier().get_booster().save_model(str(path))
    return path


def xgboost_ubj(dest: Path) -> Path:
    """The XGBClassifier's booster saved as Universal Binary JSON: xgb.ubj."""
    # UBJSON: b"{" opens an object, each key is a length (type marker L = int64 big-endian)
    # then its bytes: b"{L\x00\x00\x00\x00\x00\x00\x00\x07learner{L...\nattributes{}...".
    # No magic number: the first key "learner" is what tells it apart.
    path = _folder(dest) / "xgb.ubj"
    _xgb_classifier().get_booster().save_model(str(path))
    return path


# ---------------------------------------------------------------------------------- lightgbm


def lightgbm_text(dest: Path) -> Path:
    """A 3-round multiclass lgb.Booster (iris) saved as LightGBM's text model: lgbm.txt."""
    # Text starting b"tree\nversion=v4\nnum_class=3\n...", then one "Tree=N" block per tree,
    # "end of trees", feature importances and a "parameters:" section. LightGBM turns the
    # spaces of the iris column names into underscores: feature_names=sepal_length_(cm) ...
    import lightgbm as lgb

    x, y = _iris()
    params = {
        "objective": "multiclass",
        "num_class": 3,
        "num_leaves": 4,
        "learning_rate": 0.3,
        "seed": SEED,
        "deterministic": True,
        "num_threads": 1,
        "verbose": -1,
    }
    booster = lgb.train(params, lgb.Dataset(x, label=y, params={"verbose": -1}), 3)
    path = _folder(dest) / "lgbm.txt"
    booster.save_model(str(path))
    return path


def lightgbm_pickle(dest: Path) -> Path:
    """A 3-round LGBMClassifier (iris) pickled: lgbm.pkl."""
    # A pickle of lightgbm.sklearn.LGBMClassifier; the Booster's state carries the model as
    # the same text as lightgbm_text (b"tree\nversion=v4...") in its "_handle" string.
    from lightgbm import LGBMClassifier

    x, y = _iris()
    model = LGBMClassifier(n_estimators=3, num_leaves=4, random_state=SEED, n_jobs=1, verbose=-1)
    model.fit(x, y)
    return _pickle_to(_folder(dest) / "lgbm.pkl", model, pickle.DEFAULT_PROTOCOL)


# ---------------------------------------------------------------------------------- catboost


def catboost_cbm(dest: Path) -> Path:
    """A 5-iteration CatBoostClassifier (iris) in CatBoost's binary format: cb.cbm."""
    # Starts with the magic b"CBM1", then a u32 length and a flatbuffers core
    # ("FlabuffersModel_v1", sic). Not byte-stable: it stores model_guid and train_finish_time.
    from catboost import CatBoostClassifier

    x, y = _iris()
    model = CatBoostClassifier(
        iterations=5,
        depth=2,
        random_seed=SEED,
        thread_count=1,
        verbose=False,
        allow_writing_files=False,
    )
    model.fit(x, y)
    path = _folder(dest) / "cb.cbm"
    model.save_model(str(path))
    return path


# ---------------------------------------------------------------------------------- onnx


def onnx_from_sklearn(dest: Path) -> Path:
    """A LogisticRegression converted by skl2onnx, float input "input" [N, 4]: logreg.onnx."""
    # An onnx.ModelProto protobuf: field 1 ir_version (b"\x08\x0a", IR 10), field 2
    # producer_name (b"\x12\x08skl2onnx"), field 3 producer_version, ... graph, opset_import
    # (skl2onnx 1.20 lists the default domain twice, at 22, plus ai.onnx.ml 1; checker accepts).
    import numpy as np
    from skl2onnx import convert_sklearn
    from skl2onnx.common.data_types import FloatTensorType
    from sklearn.linear_model import LogisticRegression

    x, y = _iris()
    model = LogisticRegression(max_iter=1000).fit(x.to_numpy(dtype=np.float32), y)
    with _quiet():
        onx = convert_sklearn(
            model,
            initial_types=[("input", FloatTensorType([None, 4]))],
            options={id(model): {"zipmap": False}},
            name="logreg",  # the default graph name is a random uuid
        )
    path = _folder(dest) / "logreg.onnx"
    path.write_bytes(onx.SerializeToString())
    return path


def onnx_helper(dest: Path) -> Path:
    """A one-node ONNX graph built with onnx.helper, z = Add(x, y) on float [N, 3]: add.onnx."""
    # Same ModelProto layout as onnx_from_sklearn, here b"\x08\x09\x12\x0emodelbay-tests...".
    import onnx
    from onnx import TensorProto, helper

    inputs = [helper.make_tensor_value_info(n, TensorProto.FLOAT, ["N", 3]) for n in ("x", "y")]
    output = helper.make_tensor_value_info("z", TensorProto.FLOAT, ["N", 3])
    graph = helper.make_graph([helper.make_node("Add", ["x", "y"], ["z"])], "add", inputs, [output])
    model = helper.make_model(
        graph, producer_name="modelbay-tests", opset_imports=[helper.make_opsetid("", 17)]
    )
    model.ir_version = 9  # a version every recent onnxruntime reads
    onnx.checker.check_model(model)
    path = _folder(dest) / "add.onnx"
    onnx.save(model, str(path))
    return path


# ---------------------------------------------------------------------------------- pytorch


def _tiny_linear() -> Any:
    """A seeded torch.nn.Linear(4, 3), made without disturbing the global RNG."""
    import torch

    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(SEED)
        return torch.nn.Linear(4, 3)


def torch_zip(dest: Path) -> Path:
    """torch.save of a tiny nn.Linear(4, 3) state_dict: linear.pt."""
    # A zip (b"PK\x03\x04", entries stored, padded with "FB..ZZZZ" extra fields to 64-byte
    # alignment) whose entries sit under one folder named after the file stem: linear/data.pkl
    # first (pickle whose tensors are persistent ids), linear/.format_version,
    # linear/.storage_alignment, linear/byteorder, linear/data/0 and /1 (raw storages),
    # linear/version (b"3\n") and linear/.data/serialization_id.
    import torch

    path = _folder(dest) / "linear.pt"
    torch.save(_tiny_linear().state_dict(), path)
    return path


def torchscript(dest: Path) -> Path:
    """torch.jit.script of a tiny nn.Linear(4, 3), saved: scripted.pt."""
    # Also a zip under scripted/, but data/0 and data/1 come first, then data.pkl,
    # code/__torch__/torch/nn/modules/linear.py (+ .debug_pkl), constants.pkl, version,
    # byteorder, .data/serialization_id. code/ and constants.pkl are what a torch.save zip
    # lacks. Not byte-stable: the code's attribute order and serialization_id vary per run.
    import torch

    path = _folder(dest) / "scripted.pt"
    with _quiet():
        torch.jit.script(_tiny_linear()).save(str(path))
    return path


def safetensors_file(dest: Path) -> Path:
    """safetensors of weight float32 [3, 4] and bias float32 [3], metadata format=pt."""
    # u64 little-endian header length, then a JSON header {"__metadata__":{"format":"pt"},
    # "bias":{"dtype":"F32","shape":[3],"data_offsets":[0,12]},...} padded with spaces to a
    # multiple of 8, then the raw tensors.
    import numpy as np
    from safetensors.numpy import save_file

    tensors: dict[str, np.ndarray[Any, Any]] = {
        "weight": np.arange(12, dtype=np.float32).reshape(3, 4) / 10,
        "bias": np.zeros(3, dtype=np.float32),
    }
    path = _folder(dest) / "model.safetensors"
    save_file(tensors, str(path), metadata={"format": "pt"})
    return path


# ---------------------------------------------------------------------------------- keras
# TensorFlow and Keras 3 cannot be installed here: these files are written by hand with the
# layout Keras writes, and the weights with h5py (real HDF5, magic b"\x89HDF\r\n\x1a\n").


def _dtype_policy() -> dict[str, Any]:
    """Keras 3's serialized float32 DTypePolicy."""
    return {
        "module": "keras",
        "class_name": "DTypePolicy",
        "config": {"name": "float32"},
        "registered_name": None,
    }


def _keras3_dense(name: str, units: int, input_dim: int) -> dict[str, Any]:
    """Keras 3's serialized Dense layer."""
    return {
        "module": "keras.layers",
        "class_name": "Dense",
        "config": {
            "name": name,
            "trainable": True,
            "dtype": _dtype_policy(),
            "units": units,
            "activation": "softmax",
            "use_bias": True,
            "kernel_initializer": {
                "module": "keras.initializers",
                "class_name": "GlorotUniform",
                "config": {"seed": None},
                "registered_name": None,
            },
            "bias_initializer": {
                "module": "keras.initializers",
                "class_name": "Zeros",
                "config": {},
                "registered_name": None,
            },
            "kernel_regularizer": None,
            "bias_regularizer": None,
            "kernel_constraint": None,
            "bias_constraint": None,
            "lora_rank": None,
        },
        "registered_name": None,
        "build_config": {"input_shape": [None, input_dim]},
    }


def _keras3_sequential(layers: list[dict[str, Any]]) -> dict[str, Any]:
    """Keras 3's serialized Sequential model (config.json) with an InputLayer of 4 features."""
    input_layer = {
        "module": "keras.layers",
        "class_name": "InputLayer",
        "config": {
            "batch_shape": [None, 4],
            "dtype": "float32",
            "sparse": False,
            "name": "input_layer",
        },
        "registered_name": None,
    }
    return {
        "module": "keras",
        "class_name": "Sequential",
        "config": {
            "name": "sequential",
            "trainable": True,
            "dtype": _dtype_policy(),
            "layers": [input_layer, *layers],
            "build_input_shape": [None, 4],
        },
        "registered_name": None,
        "build_config": {"input_shape": [None, 4]},
        "compile_config": None,
    }


def _keras3_weights_h5() -> bytes:
    """Keras 3's model.weights.h5 for one Dense(3) on 4 inputs: layers/dense/vars/{0,1}."""
    import h5py
    import numpy as np

    buffer = io.BytesIO()
    with h5py.File(buffer, "w") as f:
        f.create_group("vars")  # the model's own variables: none
        dense = f.create_group("layers/dense/vars")
        dense.create_dataset("0", data=np.arange(12, dtype=np.float32).reshape(4, 3) / 10)
        dense.create_dataset("1", data=np.zeros(3, dtype=np.float32))
    return buffer.getvalue()


def _keras_archive(path: Path, config: dict[str, Any]) -> Path:
    """Write a .keras zip as Keras 3 does: metadata.json, config.json, model.weights.h5."""
    metadata = {"keras_version": KERAS_VERSION, "date_saved": "2024-10-15@12:34:56"}
    with zipfile.ZipFile(path, "w") as zf:  # Keras stores the entries, uncompressed
        zf.writestr(_zip_entry("metadata.json"), json.dumps(metadata))
        zf.writestr(_zip_entry("config.json"), json.dumps(config))
        zf.writestr(_zip_entry("model.weights.h5"), _keras3_weights_h5())
    return path


def keras_zip(dest: Path) -> Path:
    """A Keras 3 .keras archive of a Sequential with one Dense layer: model.keras."""
    # A zip (b"PK\x03\x04") whose first entry is metadata.json: the name "metadata.json" sits
    # at byte 30, then {"keras_version": "3.6.0", ...}; config.json has "module": "keras".
    config = _keras3_sequential([_keras3_dense("dense", 3, 4)])
    return _keras_archive(_folder(dest) / "model.keras", config)


def keras_zip_with_lambda(dest: Path) -> Path:
    """A .keras archive whose config holds a Lambda layer with marshalled bytecode: lambda.keras."""
    # Keras 3 serializes a Python lambda as {"class_name": "__lambda__", "config": {"code":
    # base64(marshal(code object)), "defaults": ..., "closure": ...}}: loading it with
    # safe_mode=False runs that bytecode. The bytecode here is only ``lambda x: x * 2.0``.
    source = compile("lambda x: x * 2.0", "<keras-lambda>", "eval")
    code = next(c for c in source.co_consts if isinstance(c, types.CodeType))
    lambda_layer = {
        "module": "keras.layers",
        "class_name": "Lambda",
        "config": {
            "name": "lambda",
            "trainable": True,
            "dtype": _dtype_policy(),
            "function": {
                "class_name": "__lambda__",
                "config": {
                    # codecs' base64 as Keras uses it: wrapped every 76 characters
                    "code": base64.encodebytes(marshal.dumps(code)).decode("ascii"),
                    "defaults": None,
                    "closure": None,
                },
            },
            "arguments": {},
        },
        "registered_name": None,
        "build_config": {"input_shape": [None, 3]},
    }
    config = _keras3_sequential([_keras3_dense("dense", 3, 4), lambda_layer])
    return _keras_archive(_folder(dest) / "lambda.keras", config)


def keras_h5(dest: Path) -> Path:
    """A legacy (Keras 2 / tf.keras) whole-model HDF5 file with one Dense layer: model.h5."""
    # HDF5 (b"\x89HDF\r\n\x1a\n") with root attributes keras_version, backend and model_config
    # (JSON bytes), and a model_weights group: model_weights/dense/dense/kernel:0 and bias:0.
    import h5py
    import numpy as np

    dense: dict[str, Any] = {
        "module": "keras.layers",
        "class_name": "Dense",
        "config": {
            "name": "dense",
            "trainable": True,
            "dtype": "float32",
            "batch_input_shape": [None, 4],
            "units": 3,
            "activation": "softmax",
            "use_bias": True,
            "kernel_initializer": {
                "module": "keras.initializers",
                "class_name": "GlorotUniform",
                "config": {"seed": None},
                "registered_name": None,
            },
            "bias_initializer": {
                "module": "keras.initializers",
                "class_name": "Zeros",
                "config": {},
                "registered_name": None,
            },
            "kernel_regularizer": None,
            "bias_regularizer": None,
            "activity_regularizer": None,
            "kernel_constraint": None,
            "bias_constraint": None,
        },
        "registered_name": None,
        "build_config": {"input_shape": [None, 4]},
    }
    input_layer = {
        "module": "keras.layers",
        "class_name": "InputLayer",
        "config": {
            "batch_input_shape": [None, 4],
            "dtype": "float32",
            "sparse": False,
            "ragged": False,
            "name": "dense_input",
        },
        "registered_name": None,
    }
    model_config = {
        "class_name": "Sequential",
        "config": {"name": "sequential", "layers": [input_layer, dense]},
    }
    path = _folder(dest) / "model.h5"
    with h5py.File(path, "w") as f:
        # tf.keras writes the plain values as str and the dicts as UTF-8 JSON bytes
        f.attrs["keras_version"] = KERAS_LEGACY_VERSION
        f.attrs["backend"] = "tensorflow"
        f.attrs["model_config"] = json.dumps(model_config).encode("utf8")
        weights = f.create_group("model_weights")
        weights.attrs["layer_names"] = np.array([b"dense"])
        weights.attrs["backend"] = b"tensorflow"
        weights.attrs["keras_version"] = KERAS_LEGACY_VERSION.encode("utf8")
        layer = weights.create_group("dense")
        layer.attrs["weight_names"] = np.array([b"dense/kernel:0", b"dense/bias:0"])
        kernel = np.arange(12, dtype=np.float32).reshape(4, 3) / 10
        layer.create_dataset("dense/kernel:0", data=kernel)
        layer.create_dataset("dense/bias:0", data=np.zeros(3, dtype=np.float32))
    return path


def tf_savedmodel(dest: Path) -> Path:
    """A TensorFlow SavedModel folder laid out by hand: saved_model_dir/."""
    # TensorFlow is not installable here, so the folder is made by hand. What identifies it is
    # the layout: saved_model.pb (a SavedModel protobuf: field 1 saved_model_schema_version=1,
    # field 2 meta_graphs), variables/variables.index (a TF table whose last 8 bytes are the
    # magic 0xdb4775248b80fb57, little-endian), variables/variables.data-00000-of-00001 (raw
    # tensor bytes) and fingerprint.pb (a FingerprintDef protobuf, TF >= 2.12).
    root = _folder(dest / "saved_model_dir")
    variables = _folder(root / "variables")
    (root / "saved_model.pb").write_bytes(b"\x08\x01\x12\x00")
    (variables / "variables.index").write_bytes(
        b"\x00" * 40 + struct.pack("<Q", 0xDB4775248B80FB57)
    )
    (variables / "variables.data-00000-of-00001").write_bytes(struct.pack("<12f", *range(12)))
    # FingerprintDef: checksum, graph/signature/object-graph/checkpoint hashes, version {1}
    fingerprint = b"".join(bytes([field << 3, 0x2A]) for field in range(1, 6))
    (root / "fingerprint.pb").write_bytes(fingerprint + b"\x32\x02\x08\x01")
    return root


# ---------------------------------------------------------------------------------- mlflow


def _yaml_single_quoted(text: str, column: int, indent: int, width: int = 80) -> str:
    """A single-quoted YAML scalar folded at spaces the way PyYAML's emitter folds it."""
    # PyYAML replaces a space by a line break (plus ``indent`` spaces) once the line already
    # passes ``width`` columns. ``column`` is where the opening quote goes.
    words = text.replace("'", "''").split(" ")
    out = "'" + words[0]
    column += 1 + len(words[0])
    for word in words[1:]:
        if column > width:
            out += "\n" + " " * indent
            column = indent
        else:
            out += " "
            column += 1
        out += word
        column += len(word)
    return out + "'"


def mlflow_sklearn(dest: Path) -> Path:
    """An MLflow sklearn model folder laid out by hand, MLmodel and all: mlflow_model/."""
    # MLflow is not a project dependency, so the folder is made by hand exactly as MLflow 2.x
    # writes it: MLmodel (YAML, keys sorted, flavors python_function + sklearn), model.pkl,
    # conda.yaml, python_env.yaml, requirements.txt. MLmodel is what identifies the folder.
    import sklearn

    x, _ = _iris()
    root = _folder(dest / "mlflow_model")
    sk_version = sklearn.__version__
    python_version = "3.11.7"
    _pickle_to(root / "model.pkl", _iris_forest(), pickle.DEFAULT_PROTOCOL)
    pip_requirements = [f"mlflow=={MLFLOW_VERSION}", f"scikit-learn=={sk_version}"]
    pip_requirements.append("cloudpickle==3.0.0")
    (root / "requirements.txt").write_text("".join(f"{r}\n" for r in pip_requirements))
    (root / "conda.yaml").write_text(
        "channels:\n- conda-forge\ndependencies:\n"
        f"- python={python_version}\n- pip<=24.2\n- pip:\n"
        + "".join(f"  - {r}\n" for r in pip_requirements)
        + "name: mlflow-env\n"
    )
    (root / "python_env.yaml").write_text(
        f"python: {python_version}\nbuild_dependencies:\n- pip==24.2\n- setuptools\n"
        "- wheel==0.44.0\ndependencies:\n- -r requirements.txt\n"
    )
    size = sum(p.stat().st_size for p in root.rglob("*") if p.is_file())
    inputs = json.dumps([{"type": "double", "name": c, "required": True} for c in x.columns])
    outputs = json.dumps([{"type": "tensor", "tensor-spec": {"dtype": "int64", "shape": [-1]}}])
    mlmodel = f"""\
artifact_path: model
flavors:
  python_function:
    env:
      conda: conda.yaml
      virtualenv: python_env.yaml
    loader_module: mlflow.sklearn
    model_path: model.pkl
    predict_fn: predict
    python_version: {python_version}
  sklearn:
    code: null
    pickled_model: model.pkl
    serialization_format: cloudpickle
    sklearn_version: {sk_version}
mlflow_version: {MLFLOW_VERSION}
model_size_bytes: {size}
model_uuid: d2b5c8a4e4f34b7c9a0f6e1d3c2b1a09
run_id: c3f1a2b4d5e64f7a8b9c0d1e2f3a4b5c
signature:
  inputs: {_yaml_single_quoted(inputs, column=10, indent=4)}
  outputs: {_yaml_single_quoted(outputs, column=11, indent=4)}
  params: null
utc_time_created: '2024-10-15 12:34:56.789012'
"""
    (root / "MLmodel").write_text(mlmodel)
    return root


# ---------------------------------------------------------------------------------- gguf


def _gguf_string(text: str) -> bytes:
    """A GGUF string: u64 byte length, then the UTF-8 bytes (no terminator)."""
    data = text.encode("utf-8")
    return struct.pack("<Q", len(data)) + data


def gguf_file(dest: Path) -> Path:
    """A tiny valid GGUF v3 file with two metadata keys and one F32 tensor: tiny.gguf."""
    # GGUF, all little-endian:
    #   header   b"GGUF" | u32 version=3 | u64 tensor_count=1 | u64 metadata_kv_count=2
    #   kv       string key | u32 value type (8 = string) | value (string: u64 len + bytes)
    #   tensors  string name | u32 n_dims | u64 dims[n_dims] | u32 ggml type (0 = F32)
    #            | u64 offset of the data, relative to the start of the data section
    #   padding  zeros up to a multiple of general.alignment (32 when the key is absent)
    #   data     4 x 2 float32 = 32 bytes
    string_type, f32_type, alignment = 8, 0, 32
    out = bytearray(b"GGUF")
    out += struct.pack("<IQQ", 3, 1, 2)
    for key, value in (("general.architecture", "llama"), ("general.name", "tiny-test")):
        out += _gguf_string(key) + struct.pack("<I", string_type) + _gguf_string(value)
    out += _gguf_string("token_embd.weight")
    out += struct.pack("<I", 2) + struct.pack("<QQ", 4, 2)
    out += struct.pack("<IQ", f32_type, 0)
    out += b"\x00" * (-len(out) % alignment)
    out += struct.pack("<8f", *(i / 8 for i in range(8)))
    path = _folder(dest) / "tiny.gguf"
    path.write_bytes(bytes(out))
    return path


# ---------------------------------------------------------------------------------- malicious


class _CreatesMarker:
    """Unpickling this object calls ``builtins.exec`` with code that creates the marker file."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple[Callable[[str], None], tuple[str]]:
        # Pickled as the global builtins.exec plus a REDUCE: the class itself is not stored.
        return exec, (f"open({str(self.marker)!r}, 'w').close()",)


def malicious_pickle(dest: Path, marker: Path) -> Path:
    """A pickle that, if ever loaded, runs exec and creates ``marker``: evil.pkl."""
    # Python 3.11's default protocol 4: b"\x80\x04\x95" FRAME, then SHORT_BINUNICODE "builtins",
    # "exec", STACK_GLOBAL, the code string, TUPLE1, REDUCE, STOP: 79 bytes.
    return _pickle_to(_folder(dest) / "evil.pkl", _CreatesMarker(marker), pickle.DEFAULT_PROTOCOL)


def malicious_joblib(dest: Path, marker: Path) -> Path:
    """A joblib file with a real 80 kB numpy array first and the exec payload after it."""
    # The array's raw bytes sit inside the pickle stream (after its NumpyArrayWrapper), so a
    # scanner that stops at the first non-opcode byte never reaches the payload: evil.joblib.
    import joblib
    import numpy as np

    path = _folder(dest) / "evil.joblib"
    joblib.dump({"weights": np.zeros(10000), "payload": _CreatesMarker(marker)}, path)
    return path


def malicious_torch_zip(dest: Path, marker: Path) -> Path:
    """A torch.save zip of a state_dict plus the exec payload: evil.pt."""
    # torch.save pickles non-tensor objects normally: evil/data.pkl holds builtins.exec.
    # torch.load(weights_only=True), the default since torch 2.6, refuses it.
    import torch

    path = _folder(dest) / "evil.pt"
    payload = {"state_dict": _tiny_linear().state_dict(), "payload": _CreatesMarker(marker)}
    torch.save(payload, path)
    return path


# ---------------------------------------------------------------------------------- corrupt


def _variant_copy(path: Path, dest: Path, tag: str) -> Path:
    """Copy a file or folder into ``dest``, named with ``.tag`` inserted before its suffix."""
    target = _folder(dest) / f"{path.stem}.{tag}{path.suffix}"
    if target.is_dir():
        shutil.rmtree(target)
    if path.is_dir():
        shutil.copytree(path, target)
    else:
        shutil.copyfile(path, target)
    return target


def _victim(path: Path) -> Path:
    """The file itself, or the largest file inside a folder."""
    if path.is_file():
        return path
    files = sorted(p for p in path.rglob("*") if p.is_file())
    return max(files, key=lambda p: p.stat().st_size)  # the first one on a tie


def truncated(path: Path, dest: Path) -> Path:
    """A copy of ``path`` whose file (for a folder: its largest file) is cut to half its size."""
    target = _variant_copy(path, dest, "truncated")
    victim = _victim(target)
    with victim.open("r+b") as f:
        f.truncate(victim.stat().st_size // 2)
    return target


def garbage_tail(path: Path, dest: Path) -> Path:
    """A copy of ``path`` whose file (or largest file) has its middle 64 bytes set to 0xFF."""
    target = _variant_copy(path, dest, "garbage")
    victim = _victim(target)
    size = victim.stat().st_size
    start = max(0, size // 2 - 32)
    with victim.open("r+b") as f:
        f.seek(start)
        f.write(b"\xff" * min(64, size - start))
    return target


# ---------------------------------------------------------------------------------- registry

REAL_MODELS: dict[str, tuple[Callable[[Path], Path], str, str]] = {
    "sklearn_pickle": (sklearn_pickle, "pickle", "sklearn"),
    "sklearn_pickle_p0": (sklearn_pickle_protocol0, "pickle", "sklearn"),
    **{
        f"sklearn_joblib_{compress or 'raw'}": (
            functools.partial(sklearn_joblib, compress=compress),
            "joblib",
            "sklearn",
        )
        for compress in JOBLIB_COMPRESSIONS
    },
    "xgboost_pickle": (xgboost_pickle, "pickle", "xgboost"),
    "xgboost_json": (xgboost_json, "xgboost-json", "xgboost"),
    "xgboost_ubj": (xgboost_ubj, "xgboost-ubj", "xgboost"),
    "lightgbm_text": (lightgbm_text, "lightgbm", "lightgbm"),
    "lightgbm_pickle": (lightgbm_pickle, "pickle", "lightgbm"),
    "catboost_cbm": (catboost_cbm, "catboost", "catboost"),
    "onnx_sklearn": (onnx_from_sklearn, "onnx", "onnx"),
    "onnx_helper": (onnx_helper, "onnx", "onnx"),
    "torch_zip": (torch_zip, "torch", "pytorch"),
    "torchscript": (torchscript, "torchscript", "pytorch"),
    "safetensors": (safetensors_file, "safetensors", "pytorch"),
    "keras_zip": (keras_zip, "keras", "tensorflow"),
    "keras_h5": (keras_h5, "keras", "tensorflow"),
    "tf_savedmodel": (tf_savedmodel, "tf-savedmodel", "tensorflow"),
    "mlflow_sklearn": (mlflow_sklearn, "mlflow", "sklearn"),
    "gguf": (gguf_file, "gguf", "llama.cpp"),
}
