"""A version's reference profile goes into its image: the build context's model/profile.json."""

from __future__ import annotations

import hashlib
import io
import json
import tarfile
from pathlib import Path
from typing import Any

import pytest

from app.build import context as ctx
from app.build.requirements import Requirement
from app.build.service import BuildOptions, with_reference_profile
from app.build.smoke import sample_request
from app.build.wheelhouse import Lock, Target, Wheelhouse
from app.bundle import model_metadata, write_model_folder
from app.monitor.profile import runtime_profile
from app.registry import Registry, VersionInfo
from tests.formats import makers

TARGET = Target(python="3.11", machine="x86_64", libc="glibc", libc_version="2.36")


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
    """The context `modelbay build` sends to Docker, written as _Job.write_context does."""
    house = Wheelhouse(tmp / "cache")
    text = "# nothing to install\n"
    lock = Lock(
        text=text,
        sha256=hashlib.sha256(text.encode()).hexdigest(),
        wheels=(),
        requirements=(Requirement("six", "==1.16.0", "test"),),
        target=TARGET,
        reused=False,
    )
    runtime = ctx.runtime_files()
    labels = ctx.labels(model_metadata(info), lock, ctx.digest(runtime))
    model_dir = write_model_folder(registry, info, tmp / "model", profile=options.profile)
    stream = io.BytesIO()
    ctx.write_context(
        stream,
        dockerfile_text=ctx.dockerfile("base:1", labels, ctx.image_tag(info.name, info.version)),
        lock=lock,
        wheelhouse=house,
        runtime=runtime,
        model_dir=model_dir,
    )
    return stream.getvalue()


def baked_profile(context: bytes) -> dict[str, Any] | None:
    with tarfile.open(fileobj=io.BytesIO(context)) as tar:
        if "model/profile.json" not in tar.getnames():
            return None
        member = tar.extractfile("model/profile.json")
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
