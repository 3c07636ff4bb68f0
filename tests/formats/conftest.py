"""Real model files, made once per test session by the real libraries (see makers.py)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from tests.formats import makers


@pytest.fixture(scope="session")
def real_models(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Every entry of makers.REAL_MODELS, written once into a session folder."""
    root = tmp_path_factory.mktemp("real-models")
    made: dict[str, Path] = {}
    for key, (maker, _, _) in makers.REAL_MODELS.items():
        made[key] = maker(root / key)
    return made


@pytest.fixture
def make(tmp_path: Path) -> Callable[..., Path]:
    """Call a maker into this test's own folder: make(makers.malicious_pickle, marker)."""

    def call(maker: Callable[..., Path], *args: object) -> Path:
        return maker(tmp_path / "made", *args)

    return call
