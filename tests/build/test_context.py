"""The build context: byte-reproducible, layers ordered for reuse, nothing but what it needs."""

from __future__ import annotations

import hashlib
import io
import os
import tarfile
from pathlib import Path

import pytest

from app.build import context as ctx
from app.build.requirements import Requirement
from app.build.smoke import sample_request
from app.build.wheelhouse import Lock, LockedWheel, Target, Wheelhouse

TARGET = Target(python="3.11", machine="x86_64", libc="glibc", libc_version="2.36")
META = {"name": "Iris Classifier", "version": 3, "sha256": "ab" * 32, "format": "joblib"}


@pytest.fixture
def house_and_lock(tmp_path: Path) -> tuple[Wheelhouse, Lock]:
    house = Wheelhouse(tmp_path / "cache")
    house.wheels.mkdir(parents=True)
    data = b"a wheel's bytes"
    name = "six-1.16.0-py2.py3-none-any.whl"
    (house.wheels / name).write_bytes(data)
    (house.wheels / "other-1.0-py3-none-any.whl").write_bytes(b"not in the lock")
    wheel = LockedWheel("six", "1.16.0", name, hashlib.sha256(data).hexdigest(), len(data))
    text = f"six==1.16.0 --hash=sha256:{wheel.sha256}\n"
    lock = Lock(
        text=text,
        sha256=hashlib.sha256(text.encode()).hexdigest(),
        wheels=(wheel,),
        requirements=(Requirement("six", "==1.16.0", "test"),),
        target=TARGET,
        reused=False,
    )
    return house, lock


def _context(house: Wheelhouse, lock: Lock) -> bytes:
    stream = io.BytesIO()
    ctx.write_context(
        stream,
        dockerfile_text=ctx.dockerfile("base:1"),
        lock=lock,
        wheelhouse=house,
        runtime=ctx.runtime_files(),
    )
    return stream.getvalue()


def test_same_inputs_give_byte_identical_contexts(
    house_and_lock: tuple[Wheelhouse, Lock], tmp_path: Path
) -> None:
    house, lock = house_and_lock
    first = _context(house, lock)
    wheel = house.wheel_path(lock.wheels[0])
    os.utime(wheel, (0, 0))  # written at another time: must not matter
    assert _context(house, lock) == first


def test_context_holds_exactly_dockerfile_lock_locked_wheels_and_runtime(
    house_and_lock: tuple[Wheelhouse, Lock], tmp_path: Path
) -> None:
    house, lock = house_and_lock
    data = _context(house, lock)
    with tarfile.open(fileobj=io.BytesIO(data)) as tar:
        members = {m.name: m for m in tar.getmembers()}
        assert tar.extractfile("requirements.lock").read().decode() == lock.text  # type: ignore[union-attr]
    files = sorted(name for name, m in members.items() if m.isfile())
    assert "wheels/six-1.16.0-py2.py3-none-any.whl" in files
    assert "wheels/other-1.0-py3-none-any.whl" not in files  # only what the lock names
    assert {
        "Dockerfile",
        "requirements.lock",
        "runtime/app/__init__.py",
        "runtime/app/serving/server.py",
        "runtime/app/serving/requirements.txt",
    } <= set(files)
    assert not [name for name in files if name.startswith("runtime/") and "__pycache__" in name]
    assert not [name for name in files if name.startswith("model")]  # Modelbay adds the model
    assert {(m.uid, m.gid, m.mtime) for m in members.values()} == {(0, 0, ctx.FIXED_MTIME)}


def test_dockerfile_orders_layers_from_least_to_most_changing() -> None:
    text = ctx.dockerfile("python:3.11-slim")
    order = [
        "FROM python:3.11-slim AS dependencies",
        "--no-index --find-links /tmp/modelbay/wheels --require-hashes",
        "\nFROM python:3.11-slim\n",
        "COPY --from=dependencies /opt/modelbay/venv",
        "COPY runtime/",
        f"USER {ctx.RUNTIME_USER}",
        "HEALTHCHECK",
        'CMD ["python3", "-m", "app.serving"]',
    ]
    positions = [text.index(piece) for piece in order]
    assert positions == sorted(positions)
    assert "/health" in text
    assert "USER 0" not in text
    assert "model" not in text.split("HEALTHCHECK")[1]  # the model layer is not Docker's work


def test_image_tag_is_a_valid_repository_name() -> None:
    assert ctx.image_tag("Iris Classifier", 3) == "modelbay/iris-classifier:3"
    assert ctx.image_tag("Café/Ünïcode!!", 1) == "modelbay/caf-n-code:1"
    assert ctx.image_tag("***", 2) == "modelbay/model:2"


def test_sample_request_prefers_the_profile_then_the_signature() -> None:
    profile = {
        "columns": {
            "a": {"kind": "numeric", "bin_edges": [0, 1, 2, 3, 4]},
            "b": {"kind": "categorical", "categories": ["x", "y"]},
        }
    }
    assert sample_request(None, profile) == {
        "dataframe_split": {"columns": ["a", "b"], "data": [[2, "x"]]}
    }
    named = {"inputs": [{"name": "f1", "type": "number"}, {"name": "s", "type": "string"}]}
    assert sample_request(named, None) == {
        "dataframe_split": {"columns": ["f1", "s"], "data": [[0.0, ""]]}
    }
    tensor = {"inputs": [{"name": "input", "type": "float", "shape": [None, 3]}]}
    assert sample_request(tensor, None) == {"instances": [[0.0, 0.0, 0.0]]}
    assert sample_request({"inputs": [], "n_features": 2}, None) == {"instances": [[0.0, 0.0]]}
    assert sample_request(None, None) is None
