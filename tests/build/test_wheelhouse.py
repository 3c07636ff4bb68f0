"""The wheelhouse: pip resolves for the image's Python; the lock is cached and reused offline."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from app.build import wheelhouse as wheelhouse_module
from app.build.requirements import Requirement
from app.build.wheelhouse import Target, Wheelhouse
from app.errors import InvalidInputError

BOOKWORM = Target(python="3.11", machine="x86_64", libc="glibc", libc_version="2.36")
SMALL = [Requirement("six", "==1.16.0", "test"), Requirement("idna", "==3.7", "test")]


def test_platform_tags_cover_every_older_manylinux_best_first() -> None:
    tags = BOOKWORM.platforms
    assert tags[0] == "manylinux_2_36_x86_64"
    assert tags.index("manylinux_2_28_x86_64") < tags.index("manylinux_2_17_x86_64")
    assert {"manylinux2014_x86_64", "manylinux2010_x86_64", "manylinux1_x86_64"} <= set(tags)
    assert tags[-1] == "linux_x86_64"
    assert BOOKWORM.abi == "cp311"
    alpine = Target(python="3.12", machine="aarch64", libc="musl", libc_version="1.2")
    assert alpine.platforms[:2] == ["musllinux_1_2_aarch64", "musllinux_1_1_aarch64"]


def test_lock_pins_every_wheel_by_hash_then_is_reused_without_pip(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    house = Wheelhouse(tmp_path / "cache")
    lines: list[str] = []
    lock = house.lock(SMALL, BOOKWORM, log=lines.append)
    assert not lock.reused
    assert [(w.name, w.version) for w in lock.wheels] == [("idna", "3.7"), ("six", "1.16.0")]
    for wheel in lock.wheels:
        data = house.wheel_path(wheel).read_bytes()
        assert hashlib.sha256(data).hexdigest() == wheel.sha256
        assert f"{wheel.name}=={wheel.version} \\\n    --hash=sha256:{wheel.sha256}" in lock.text
    assert lock.sha256 == hashlib.sha256(lock.text.encode()).hexdigest()
    assert any("resolving" in line for line in lines)

    # a second lock of the same requirements must not run pip at all: make pip unrunnable
    monkeypatch.setattr(wheelhouse_module, "pip_command", lambda: ["/nonexistent/pip"])
    again = house.lock(list(reversed(SMALL)), BOOKWORM)
    assert again.reused
    assert again.text == lock.text

    # a wheel deleted from the cache means the cached lock cannot be used: pip runs again
    monkeypatch.undo()
    house.wheel_path(lock.wheels[0]).unlink()
    fresh = house.lock(SMALL, BOOKWORM)
    assert not fresh.reused
    assert fresh.text == lock.text
    assert house.wheel_path(lock.wheels[0]).is_file()


def test_a_release_that_does_not_exist_is_a_clear_error(tmp_path: Path) -> None:
    house = Wheelhouse(tmp_path / "cache")
    with pytest.raises(InvalidInputError, match="pip found no wheel") as caught:
        house.lock([Requirement("six", "==0.0.1", "test")], BOOKWORM)
    assert "six==0.0.1" in caught.value.message
    assert caught.value.hint is not None
    assert "--base-image" in caught.value.hint
