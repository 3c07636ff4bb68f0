"""A version's reference profile goes into its image: the model layer's profile.json."""

from __future__ import annotations

import io
import json
import tarfile
from pathlib import Path
from typing import Any

import pytest

from app.build.model_image import MODEL_DIR, write_model_layer
from app.build.service import BuildOptions, with_reference_profile
from app.build.smoke import sample_request
from app.bundle import write_model_folder
from app.monitor.profile import runtime_profile
from app.registry import Registry, VersionInfo
from tests.formats import makers


@pytest.fixture
def iris(registry: Registry, tmp_path: Path) -> VersionInfo:
    from sklearn.datasets import load_iris

    data = load_iris(as_frame=True)
    table = tmp_path / "iris.csv"
    data.data.assign(target=data.target).to_csv(table, index=False)
    info = registry.import_path(makers.sklearn_joblib(tmp_path / "made"), name="iris")
    info, _ = registry.attach_reference(info.ref, table)
    return info


def build_context(registry: Registry, info: VersionInfo, options: BuildOptions, tmp: Path) -> bytes:
    """The model layer `modelbay build` puts on the runtime image, written as _Job.add_model
    does (app/build/model_image.py)."""
    model_dir = write_model_folder(registry, info, tmp / "model", profile=options.profile)
    stream = io.BytesIO()
    write_model_layer(model_dir, stream)
    return stream.getvalue()


def baked_profile(layer: bytes) -> dict[str, Any] | None:
    name = f"{MODEL_DIR}/profile.json"
    with tarfile.open(fileobj=io.BytesIO(layer)) as tar:
        if name not in tar.getnames():
            return None
        member = tar.extractfile(name)
        assert member is not None
        loaded: dict[str, Any] = json.loads(member.read())
        return loaded


def test_a_build_bakes_the_reference_profile_with_the_same_edges(
    registry: Registry, iris: VersionInfo, tmp_path: Path
) -> None:
    said: list[str] = []
    options = with_reference_profile(registry, iris, BuildOptions(), said.append)
    stored = registry.reference_profile(iris)
    assert stored is not None
    assert said == [
        "monitoring: live inputs will be counted on the reference data's bins (4 columns)"
    ]
    baked = baked_profile(build_context(registry, iris, options, tmp_path))
    assert baked is not None
    assert baked["columns"] == runtime_profile(stored)["columns"]  # without values/quantiles
    for name, column in baked["columns"].items():
        assert column["bin_edges"] == stored["columns"][name]["bin_edges"]
        assert len(column["bin_edges"]) >= 8  # iris has ties: repeated deciles are merged
    assert "sample" not in baked  # the reference rows stay on the desktop
    # the smoke test sends a row of typical values in the signature's column order
    body = sample_request(iris.signature, options.profile)
    assert body is not None
    assert body["dataframe_split"]["columns"] == [i["name"] for i in iris.signature["inputs"]]  # type: ignore[index]


def test_an_explicit_profile_wins_and_a_version_without_reference_bakes_none(
    registry: Registry, iris: VersionInfo, tmp_path: Path
) -> None:
    mine = {
        "schema_version": 1,
        "columns": {"sepal length (cm)": {"kind": "numeric", "bin_edges": [5.0]}},
    }
    options = with_reference_profile(registry, iris, BuildOptions(profile=mine))
    assert options.profile == mine
    assert baked_profile(build_context(registry, iris, options, tmp_path / "a")) == mine
    bare = registry.import_path(makers.sklearn_joblib(tmp_path / "other"), name="bare")
    options = with_reference_profile(registry, bare, BuildOptions())
    assert options.profile is None
    assert baked_profile(build_context(registry, bare, options, tmp_path / "b")) is None
