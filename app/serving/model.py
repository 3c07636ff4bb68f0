"""Load a model folder into something that predicts: one predictor per supported format.

The runtime is the one place that *does* load model files (the desktop never
does): it only ever receives versions that the registry let through (ready or
explicitly approved), and it runs in its own process or container.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from app.serving.errors import CannotServe

METADATA_FILE = "modelbay.json"
PROFILE_FILE = "profile.json"
SERVABLE = ("pickle", "joblib", "onnx", "xgboost-json", "xgboost-ubj", "lightgbm", "mlflow")


class Predictor(Protocol):
    def predict(self, frame: Any) -> Any: ...


@dataclass
class ModelFolder:
    root: Path
    meta: dict[str, Any]
    profile: dict[str, Any] | None = None
    load_seconds: float = 0.0
    predictor: Predictor | None = field(default=None, repr=False)

    @property
    def name(self) -> str:
        return str(self.meta.get("name", "model"))

    @property
    def version(self) -> str:
        return str(self.meta.get("version", "0"))

    @property
    def signature(self) -> dict[str, Any] | None:
        signature = self.meta.get("signature")
        return signature if isinstance(signature, dict) else None

    @classmethod
    def read(cls, root: Path) -> ModelFolder:
        try:
            meta = json.loads((root / METADATA_FILE).read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise CannotServe(
                f"{root} has no {METADATA_FILE}: it is not a Modelbay model folder"
            ) from None
        except json.JSONDecodeError as exc:
            raise CannotServe(f"{root / METADATA_FILE} is not valid JSON: {exc}") from None
        if meta.get("format") not in SERVABLE:
            raise CannotServe(
                f"format {meta.get('format')!r} cannot be served; the runtime serves "
                + ", ".join(SERVABLE)
            )
        profile = None
        if (root / PROFILE_FILE).exists():
            profile = json.loads((root / PROFILE_FILE).read_text(encoding="utf-8"))
        return cls(root=root, meta=meta, profile=profile)

    def load(self) -> None:
        start = time.perf_counter()
        self.predictor = load_predictor(self.root, self.meta)
        self.load_seconds = time.perf_counter() - start

    def main_file(self) -> Path:
        files = [str(f["path"]) for f in self.meta.get("files", [])]
        if len(files) != 1:
            raise CannotServe(f"expected one model file, found {len(files)}")
        return self.root / files[0]


def load_predictor(root: Path, meta: dict[str, Any]) -> Predictor:
    fmt = meta.get("format")
    folder = ModelFolder(root=root, meta=meta)
    if fmt == "pickle":
        import pickle

        with folder.main_file().open("rb") as stream:
            return _estimator(pickle.load(stream))  # noqa: S301 - a released version, by design
    if fmt == "joblib":
        import joblib

        return _estimator(joblib.load(folder.main_file()))
    if fmt == "onnx":
        return OnnxPredictor(folder.main_file())
    if fmt in {"xgboost-json", "xgboost-ubj"}:
        return XGBoostPredictor(folder.main_file())
    if fmt == "lightgbm":
        return LightGBMPredictor(folder.main_file())
    if fmt == "mlflow":
        return _mlflow(root, meta)
    raise CannotServe(f"format {fmt!r} cannot be served")


def _estimator(obj: Any) -> Predictor:
    if not callable(getattr(obj, "predict", None)):
        raise CannotServe(f"the loaded object ({type(obj).__name__}) has no predict() method")
    return obj  # type: ignore[no-any-return]


class OnnxPredictor:
    """Feeds the frame to the graph's inputs: one tensor input takes all columns in order;
    several inputs take the column of the same name."""

    def __init__(self, path: Path) -> None:
        import onnxruntime

        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads = 1
        self.session = onnxruntime.InferenceSession(
            str(path), options, providers=["CPUExecutionProvider"]
        )
        self.inputs = self.session.get_inputs()
        self.output = self.session.get_outputs()[0].name

    def predict(self, frame: Any) -> Any:
        import numpy as np

        if len(self.inputs) == 1:
            tensor = self.inputs[0]
            dtype = np.int64 if "int64" in tensor.type else np.float32
            feed = {tensor.name: frame.to_numpy(dtype=dtype)}
        else:
            feed = {
                i.name: frame[i.name]
                .to_numpy(dtype=np.int64 if "int64" in i.type else np.float32)
                .reshape(-1, 1)
                for i in self.inputs
            }
        return self.session.run([self.output], feed)[0]


class XGBoostPredictor:
    def __init__(self, path: Path) -> None:
        import xgboost

        self.booster = xgboost.Booster(model_file=str(path))
        self.booster.set_param({"nthread": 1})

    def predict(self, frame: Any) -> Any:
        import xgboost

        names = self.booster.feature_names
        matrix = xgboost.DMatrix(frame.to_numpy(dtype="float32"), feature_names=names)
        return self.booster.predict(matrix)


class LightGBMPredictor:
    def __init__(self, path: Path) -> None:
        import lightgbm

        self.booster = lightgbm.Booster(model_file=str(path))

    def predict(self, frame: Any) -> Any:
        return self.booster.predict(frame.to_numpy(dtype="float64"), num_threads=1)


def _mlflow(root: Path, meta: dict[str, Any]) -> Predictor:
    import yaml

    mlmodel = yaml.safe_load((root / "MLmodel").read_text(encoding="utf-8"))
    flavors = mlmodel.get("flavors") or {}
    sklearn = flavors.get("sklearn")
    if isinstance(sklearn, dict) and sklearn.get("pickled_model"):
        path = root / str(sklearn["pickled_model"])
        if sklearn.get("serialization_format") == "cloudpickle":
            import cloudpickle

            with path.open("rb") as stream:
                return _estimator(cloudpickle.load(stream))
        import pickle

        with path.open("rb") as stream:
            return _estimator(pickle.load(stream))  # noqa: S301 - a released version
    for flavor, fmt in (("xgboost", "xgboost-json"), ("lightgbm", "lightgbm"), ("onnx", "onnx")):
        spec = flavors.get(flavor)
        if isinstance(spec, dict) and spec.get("data"):
            return load_predictor(root, {"format": fmt, "files": [{"path": spec["data"]}]})
    raise CannotServe(
        "this MLflow model's flavors (" + ", ".join(sorted(flavors)) + ") need MLflow itself to "
        "load; the runtime serves MLflow models with a sklearn, xgboost, lightgbm or onnx flavor"
    )
