"""Opening the registry database: engine settings per backend and schema upgrades.

SQLite (the default) gets WAL, foreign keys, a busy timeout and explicit
transactions: reads begin DEFERRED, writes begin IMMEDIATE so two processes
that register versions at once queue instead of failing half-way. Any other
SQLAlchemy URL (e.g. PostgreSQL for a team) is used as given.

The schema revision lives in the database (Alembic's ``alembic_version``). On
open it is compared with :data:`HEAD_REVISION`; only when they differ is Alembic
imported and the upgrade run, so the common start-up path stays light.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine, create_engine, event, text
from sqlalchemy.exc import DBAPIError, OperationalError
from sqlalchemy.pool import ConnectionPoolEntry

from app.errors import RegistryError

HEAD_REVISION = "0006"
"""The newest migration in ``migrations/versions``; a test keeps the two equal."""

MIGRATIONS_DIR = Path(__file__).with_name("migrations")
WRITE = {"modelbay_write": True}
"""Execution option marking a connection that will write (SQLite: BEGIN IMMEDIATE)."""

_BUSY_TIMEOUT_S = 30


def create_registry_engine(url: str) -> Engine:
    if url.startswith("sqlite"):
        return _sqlite_engine(url)
    try:
        return create_engine(url, pool_pre_ping=True)
    except ModuleNotFoundError as exc:
        raise RegistryError(
            f"the database driver for {url.split(':', 1)[0]} is not installed ({exc.name})",
            hint="for PostgreSQL install the extra: pip install 'modelbay[postgres]'",
        ) from exc
    except Exception as exc:
        raise RegistryError(
            f"MODELBAY_DATABASE_URL is not a usable database URL: {exc}",
            hint="use e.g. sqlite:////path/registry.db or postgresql+psycopg://user@host/db",
        ) from exc


def _sqlite_engine(url: str) -> Engine:
    engine = create_engine(url, connect_args={"timeout": _BUSY_TIMEOUT_S})

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: ConnectionPoolEntry) -> None:
        # Let SQLAlchemy's begin event below decide how transactions start.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        try:
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.execute(f"PRAGMA busy_timeout={_BUSY_TIMEOUT_S * 1000}")
            # FULL: a committed registration survives a power loss, not just a crash.
            cursor.execute("PRAGMA synchronous=FULL")
        finally:
            cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection: Connection) -> None:
        write = connection.get_execution_options().get("modelbay_write", False)
        connection.exec_driver_sql("BEGIN IMMEDIATE" if write else "BEGIN")

    return engine


def current_revision(engine: Engine) -> str | None:
    """The schema revision recorded in the database, or None for a new database."""
    try:
        with engine.connect() as connection:
            row = connection.execute(text("SELECT version_num FROM alembic_version")).first()
    except DBAPIError as exc:
        if _is_missing_table(exc):
            return None
        raise unavailable(engine, exc) from exc
    return None if row is None else str(row[0])


def ensure_schema(engine: Engine) -> None:
    """Create or upgrade the schema to :data:`HEAD_REVISION` (no-op when already there)."""
    revision = current_revision(engine)
    if revision == HEAD_REVISION:
        return
    from alembic.script import ScriptDirectory

    config = alembic_config()
    script = ScriptDirectory.from_config(config)
    known = {rev.revision for rev in script.walk_revisions()}
    if revision is not None and revision not in known:
        raise RegistryError(
            f"the registry database is at schema revision {revision}, which this version of "
            "Modelbay does not know: it was written by a newer Modelbay",
            hint="upgrade Modelbay, or point MODELBAY_HOME at another registry",
        )
    upgrade(engine)


def alembic_config() -> Any:
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    return config


def upgrade(engine: Engine, target: str = "head") -> None:
    from alembic import command

    config = alembic_config()
    try:
        with engine.execution_options(**WRITE).begin() as connection:
            config.attributes["connection"] = connection
            command.upgrade(config, target)
    except OperationalError as exc:
        raise unavailable(engine, exc) from exc


def upgrade_to(engine: Engine, target: str) -> None:
    """Move the schema to ``target`` (e.g. ``"base"``) in either direction; for tests and repair."""
    from alembic import command

    config = alembic_config()
    current = current_revision(engine)
    with engine.execution_options(**WRITE).begin() as connection:
        config.attributes["connection"] = connection
        if current is not None and target == "base":
            command.downgrade(config, target)
        else:
            command.upgrade(config, target)


def _is_missing_table(exc: Exception) -> bool:
    message = str(exc).lower()
    return "no such table" in message or "does not exist" in message


def unavailable(engine: Engine, exc: Exception) -> RegistryError:
    where = engine.url.render_as_string(hide_password=True)
    reason = str(getattr(exc, "orig", exc)).strip().splitlines()[0]
    return RegistryError(
        f"cannot open the registry database {where}: {reason}",
        hint="check that the database file is readable and is a Modelbay registry, or that the "
        "database server is up and accepts this user",
    )
