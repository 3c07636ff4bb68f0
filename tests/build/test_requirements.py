"""What an image installs: the runtime's list plus the model's framework, pinned from its files."""

from __future__ import annotations

from pathlib import Path

import pytest
import sklearn
import xgboost

from app.build.requirements import DEFAULT_VERSIONS, model_requirements, runtime_requirements
from app.bundle import check_servable
from app.errors import ConflictError, InvalidInputError
from app.registry import Registry
from tests.formats import makers


def _pins(registry: Registry, path: Path) -> dict[str, tuple[str, str]]:
    info = registry.import_path(path)
    return {r.name: (r.spec, r.source) for r in model_requirements(info)}


def test_runtime_list_is_the_one_shipped_beside_the_runtime() -> None:
    names = [r.name for r in runtime_requirements()]
    assert names[:3] == ["starlette", "uvicorn", "uvloop"]
    assert {"prometheus-client", "numpy", "pandas", "orjson"} <= set(names)
    assert all(r.source == "runtime" and r.spec.startswith(">=") for r in runtime_requirements())


def test_scikit_learn_pinned_to_the_release_recorded_in_the_pickle(
    registry: Registry, tmp_path: Path
) -> None:
    pins = _pins(registry, makers.sklearn_pickle(tmp_path / "a"))
    assert pins == {"scikit-learn": (f"=={sklearn.__version__}", "recorded in the model")}


def test_joblib_file_also_needs_joblib_at_the_default_release(
    registry: Registry, tmp_path: Path
) -> None:
    pins = _pins(registry, makers.sklearn_joblib(tmp_path / "a"))
    assert pins["scikit-learn"][0] == f"=={sklearn.__version__}"
    assert pins["joblib"] == (
        f"=={DEFAULT_VERSIONS['joblib']}",
        "Modelbay's default: the model does not say",
    )


def test_lz4_compressed_joblib_needs_lz4(registry: Registry, tmp_path: Path) -> None:
    assert "lz4" in _pins(registry, makers.sklearn_joblib(tmp_path / "a", compress="lz4"))


def test_xgboost_json_pinned_to_the_release_that_saved_it(
    registry: Registry, tmp_path: Path
) -> None:
    pins = _pins(registry, makers.xgboost_json(tmp_path / "a"))
    assert pins == {"xgboost": (f"=={xgboost.__version__}", "recorded in the model")}


def test_pickled_xgboost_classifier_needs_xgboost(registry: Registry, tmp_path: Path) -> None:
    assert "xgboost" in _pins(registry, makers.xgboost_pickle(tmp_path / "a"))


def test_onnx_and_lightgbm_get_their_runtimes_at_documented_defaults(
    registry: Registry, tmp_path: Path
) -> None:
    onnx = _pins(registry, makers.onnx_from_sklearn(tmp_path / "a"))
    assert onnx == {
        "onnxruntime": (
            f"=={DEFAULT_VERSIONS['onnxruntime']}",
            "Modelbay's default: the model does not say",
        )
    }
    lightgbm = _pins(registry, makers.lightgbm_text(tmp_path / "b"))
    assert lightgbm["lightgbm"][0] == f"=={DEFAULT_VERSIONS['lightgbm']}"


def test_mlflow_model_uses_its_requirements_txt(registry: Registry, tmp_path: Path) -> None:
    pins = _pins(registry, makers.mlflow_sklearn(tmp_path / "a"))
    assert pins["scikit-learn"] == (f"=={sklearn.__version__}", "MLflow requirements.txt")
    assert pins["cloudpickle"] == ("==3.0.0", "MLflow requirements.txt")
    assert "mlflow" not in pins  # the runtime loads the flavor itself


def test_a_format_the_runtime_cannot_serve_is_refused_with_the_reason(
    registry: Registry, tmp_path: Path
) -> None:
    info = registry.import_path(makers.safetensors_file(tmp_path / "a"))
    with pytest.raises(InvalidInputError, match="safetensors format, which the image cannot serve"):
        model_requirements(info)
    with pytest.raises(InvalidInputError, match="serving runtime cannot load"):
        check_servable(info)


def test_quarantined_version_is_refused_before_anything_is_built(
    registry: Registry, tmp_path: Path
) -> None:
    info = registry.import_path(makers.malicious_pickle(tmp_path / "a", tmp_path / "marker"))
    assert info.status == "quarantined"
    with pytest.raises(ConflictError, match="quarantined: loading it would run code"):
        check_servable(info)
