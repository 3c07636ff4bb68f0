"""The model registry: SQLAlchemy tables, Alembic migrations and the :class:`Registry` API."""

from app.registry.names import VersionRef, parse_ref
from app.registry.service import (
    EventInfo,
    ModelSummary,
    NewVersion,
    Registry,
    RegistryVerifyReport,
    VersionInfo,
)

__all__ = [
    "EventInfo",
    "ModelSummary",
    "NewVersion",
    "Registry",
    "RegistryVerifyReport",
    "VersionInfo",
    "VersionRef",
    "parse_ref",
]
