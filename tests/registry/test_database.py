"""The registry database: migrations, upgrades on open, backend settings, clear failures."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import create_engine, inspect, text

from app.config import Config
from app.errors import RegistryError
from app.registry import Registry
from app.registry import db as registry_db
from app.registry.models import Base


def test_head_revision_constant_matches_the_newest_migration() -> None:
    from alembic.script import ScriptDirectory

    script = ScriptDirectory.from_config(registry_db.alembic_config())
    assert script.get_heads() == [registry_db.HEAD_REVISION]


def test_migrated_schema_matches_the_orm_classes(config: Config) -> None:
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    Registry.open(config).close()
    engine = registry_db.create_registry_engine(config.database_url)
    try:
        with engine.connect() as connection:
            context = MigrationContext.configure(connection)
            diff = compare_metadata(context, Base.metadata)
    finally:
        engine.dispose()
    assert diff == []


def test_an_older_registry_is_upgraded_on_open(config: Config, model_file: Path) -> None:
    """A registry at an older revision (here: before the first migration) opens upgraded."""
    engine = registry_db.create_registry_engine(config.database_url)
    config.home.mkdir(parents=True, exist_ok=True)
    try:
        registry_db.upgrade(engine, "head")
        registry_db.upgrade_to(engine, "base")
        assert set(inspect(engine).get_table_names()) <= {"alembic_version"}
        assert registry_db.current_revision(engine) is None
    finally:
        engine.dispose()
    with Registry.open(config) as registry:
        assert registry_db.current_revision(registry.engine) == registry_db.HEAD_REVISION
        assert registry.import_path(model_file).version == 1


def test_a_registry_from_a_newer_modelbay_is_refused(config: Config) -> None:
    Registry.open(config).close()
    engine = create_engine(config.database_url)
    with engine.begin() as connection:
        connection.execute(text("UPDATE alembic_version SET version_num = '9999'"))
    engine.dispose()
    with pytest.raises(RegistryError, match="newer Modelbay") as caught:
        Registry.open(config)
    assert "upgrade Modelbay" in str(caught.value.hint)


def test_backend_settings(config: Config) -> None:
    with Registry.open(config) as registry, registry.engine.connect() as connection:
        if registry.engine.dialect.name == "sqlite":
            assert connection.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
            assert connection.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
            assert connection.exec_driver_sql("PRAGMA busy_timeout").scalar() == 30000
            assert connection.exec_driver_sql("PRAGMA synchronous").scalar() == 2  # FULL
        else:
            assert registry.engine.dialect.name == "postgresql"
            assert connection.exec_driver_sql("SHOW server_encoding").scalar() == "UTF8"


def test_unreachable_database_server_is_a_clear_error(tmp_path: Path) -> None:
    url = f"postgresql+psycopg://nobody@/nothing?host={tmp_path}&port=1"
    with pytest.raises(RegistryError, match="cannot open the registry database") as caught:
        Registry.open(Config.at(tmp_path / "home", database_url=url))
    assert "server is up" in (caught.value.hint or "")


def test_unknown_database_driver_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(RegistryError, match=r"not installed|not a usable database URL"):
        Registry.open(Config.at(tmp_path / "home", database_url="oracle+nodriver://x@y/z"))


def test_unreadable_sqlite_file_is_a_clear_error(tmp_path: Path) -> None:
    home = tmp_path / "home"
    home.mkdir()
    (home / "registry.db").write_bytes(b"this is not a database" * 100)
    with pytest.raises(RegistryError, match="cannot open the registry database"):
        Registry.open(Config.at(home))
