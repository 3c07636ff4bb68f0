"""Registry tests run twice: on SQLite (the default) and on a real PostgreSQL server."""

from __future__ import annotations

from pathlib import Path

import pytest

from app.config import Config


@pytest.fixture(
    params=[
        "sqlite",
        pytest.param("postgresql", marks=[pytest.mark.integration, pytest.mark.postgres]),
    ]
)
def config(request: pytest.FixtureRequest, tmp_path: Path) -> Config:
    if request.param == "sqlite":
        return Config.at(tmp_path / "home")
    url: str = request.getfixturevalue("postgres_url")
    return Config.at(tmp_path / "home", database_url=url)
