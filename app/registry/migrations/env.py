"""Alembic environment: runs on the connection that :func:`app.registry.db.upgrade` opened."""

from alembic import context

from app.registry.models import Base

connection = context.config.attributes.get("connection")
if connection is None:  # pragma: no cover - the app always passes its own connection
    raise RuntimeError("run migrations through app.registry.db.upgrade()")

context.configure(
    connection=connection,
    target_metadata=Base.metadata,
    render_as_batch=connection.dialect.name == "sqlite",
    transaction_per_migration=False,
)
with context.begin_transaction():
    context.run_migrations()
