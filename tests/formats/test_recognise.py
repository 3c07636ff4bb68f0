"""Recognition by bytes of real model files written by the real libraries, and what is read."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from app.errors import InvalidInputError
from app.formats import Inspection, inspect_files
from tests.formats import makers


def inspect(path: Path) -> Inspection:
    if path.is_dir():
        files = {p.relative_to(path).as_posix(): p for p in path.rglob("*") if p.is_file()}
        return inspect_files(files, is_folder=True)
    return inspect_files({path.name: path}, is_folder=False)


@pytest.mark.parametrize("key", sorted(makers.REAL_MODELS))
def test_real_models_are_recognised_and_pass_the_safety_scan(
    key: str, real_models: dict[str, Path]
) -> None:
    _, expected_format, expected_framework = makers.REAL_MODELS[key]
    found = inspect(real_models[key])
    assert (found.format, found.framework) == (expected_format, expected_framework)
    assert found.safety.verdict == "safe", found.safety.findings
    assert found.message is None


@pytest.mark.parametrize(
    "key", sorted(k for k in makers.REAL_MODELS if "pickle" in k or "joblib" in k)
)
def test_recognition_ignores_the_file_name(
    key: str, real_models: dict[str, Path], tmp_path: Path
) -> None:
    renamed = tmp_path / "weights.bin"
    shutil.copyfile(real_models[key], renamed)
    assert inspect(renamed).format == makers.REAL_MODELS[key][1]


def test_sklearn_metadata_is_read_from_the_pickle_bytes(real_models: dict[str, Path]) -> None:
    import sklearn

    for key in ("sklearn_pickle", "sklearn_pickle_p0", "sklearn_joblib_raw", "sklearn_joblib_lz4"):
        found = inspect(real_models[key])
        assert found.framework_version == sklearn.__version__, key
        assert found.details["class"] == "sklearn.ensemble._forest.RandomForestClassifier"
        assert found.signature is not None
        assert found.signature["n_features"] == 4
        assert [i["name"] for i in found.signature["inputs"]] == [
            "sepal length (cm)",
            "sepal width (cm)",
            "petal length (cm)",
            "petal width (cm)",
        ], key


def test_xgboost_version_and_features(real_models: dict[str, Path]) -> None:
    import xgboost

    for key in ("xgboost_json", "xgboost_ubj"):
        found = inspect(real_models[key])
        assert found.framework_version == xgboost.__version__, key
        assert found.signature is not None
        assert found.signature["n_features"] == 4
    pickled = inspect(real_models["xgboost_pickle"])
    assert (
        pickled.details["libraries"] == ["sklearn", "xgboost"]
        or "xgboost" in pickled.details["libraries"]
    )


def test_lightgbm_text_header(real_models: dict[str, Path]) -> None:
    found = inspect(real_models["lightgbm_text"])
    assert found.signature is not None
    assert found.signature["n_features"] == 4
    assert found.details["model_format"] == "v4"


def test_onnx_graph_inputs_and_outputs(real_models: dict[str, Path]) -> None:
    found = inspect(real_models["onnx_sklearn"])
    assert found.signature is not None
    [first] = found.signature["inputs"]
    assert first == {"name": "input", "type": "float", "shape": [None, 4]}
    assert {o["name"] for o in found.signature["outputs"]} >= {"label"}
    assert found.details["producer"].startswith("skl2onnx")
    assert found.details["opset"]["ai.onnx"] >= 1
    helper = inspect(real_models["onnx_helper"])
    assert helper.signature is not None
    assert [i["shape"] for i in helper.signature["inputs"]] == [["N", 3], ["N", 3]]


def test_safetensors_header(real_models: dict[str, Path]) -> None:
    found = inspect(real_models["safetensors"])
    assert found.signature is not None
    tensors = {t["name"]: (t["dtype"], t["shape"]) for t in found.signature["tensors"]}
    assert tensors == {"weight": ("F32", [3, 4]), "bias": ("F32", [3])}
    assert found.details["metadata"] == {"format": "pt"}


def test_keras_versions(real_models: dict[str, Path]) -> None:
    assert inspect(real_models["keras_zip"]).framework_version == "3.6.0"
    assert inspect(real_models["keras_h5"]).framework_version == "2.15.0"


def test_mlflow_folder_flavors_signature_and_requirements(real_models: dict[str, Path]) -> None:
    import sklearn

    found = inspect(real_models["mlflow_sklearn"])
    assert found.framework_version == sklearn.__version__
    assert found.details["flavors"] == ["python_function", "sklearn"]
    assert f"scikit-learn=={sklearn.__version__}" in found.details["requirements"]
    assert found.signature is not None
    assert [i["name"] for i in found.signature["inputs"]][:1] == ["sepal length (cm)"]
    assert [s["path"] for s in found.safety.scanned] == ["model.pkl"]


def test_gguf_header(real_models: dict[str, Path]) -> None:
    found = inspect(real_models["gguf"])
    assert found.details["metadata"]["general.architecture"] == "llama"
    assert found.details["tensors"] == 1


def test_unknown_bytes_are_unknown_with_a_message(tmp_path: Path) -> None:
    path = tmp_path / "model.pkl"  # the extension promises a pickle; the bytes do not
    path.write_bytes(b"just some notes about my model\n" * 10)
    found = inspect(path)
    assert (found.format, found.framework) == ("unknown", "unknown")
    assert found.safety.verdict == "unknown"
    assert found.message is not None
    assert "cannot be built" in found.message


def test_keras_lambda_layer_is_dangerous(make: object) -> None:
    path = make(makers.keras_zip_with_lambda)  # type: ignore[operator]
    found = inspect(path)
    assert found.format == "keras"
    assert found.safety.verdict == "dangerous"
    assert found.safety.findings[0].name == "Lambda"


# Formats whose structure tells a cut file from a whole one without the framework.
TRUNCATION_DETECTED = {
    "sklearn_pickle",
    "sklearn_pickle_p0",
    "xgboost_pickle",
    "lightgbm_pickle",
    "xgboost_json",
    "xgboost_ubj",
    "onnx_sklearn",
    "onnx_helper",
    "torch_zip",
    "torchscript",
    "safetensors",
    "keras_zip",
    "mlflow_sklearn",
    *(k for k in makers.REAL_MODELS if k.startswith("sklearn_joblib")),
}


@pytest.mark.parametrize("key", sorted(makers.REAL_MODELS))
@pytest.mark.parametrize("damage", [makers.truncated, makers.garbage_tail], ids=["cut", "garbage"])
def test_damaged_files_are_refused_with_a_reason_or_still_recognised(
    key: str, damage: object, real_models: dict[str, Path], tmp_path: Path
) -> None:
    damaged = damage(real_models[key], tmp_path)  # type: ignore[operator]
    try:
        found = inspect(damaged)
    except InvalidInputError as exc:
        refusal = exc
    else:
        refusal = None
    if refusal is not None:
        assert "cannot be read" in refusal.message
        assert refusal.hint is not None
        return
    # Not refused: only acceptable where the damage cannot be seen without loading the model.
    assert not (damage is makers.truncated and key in TRUNCATION_DETECTED), (
        f"a truncated {key} was accepted as {found.format}"
    )


def test_a_cut_onnx_file_is_named_as_people_write_the_format(
    real_models: dict[str, Path], tmp_path: Path
) -> None:
    damaged = makers.truncated(real_models["onnx_sklearn"], tmp_path)
    with pytest.raises(InvalidInputError) as refused:
        inspect(damaged)
    assert f"{damaged.name} looks like an ONNX file but cannot be read" in refused.value.message


@pytest.mark.parametrize(
    ("format_id", "words"),
    [
        ("pickle", "a pickle file"),
        ("onnx", "an ONNX file"),
        ("xgboost-json", "an XGBoost JSON file"),
        ("mlflow", "an MLflow file"),
        ("lightgbm", "a LightGBM file"),
        ("gzip-compressed", "a gzip-compressed file"),
    ],
)
def test_formats_take_the_article_of_their_name(format_id: str, words: str) -> None:
    from app.formats.recognise import a_format_file

    assert a_format_file(format_id) == words
