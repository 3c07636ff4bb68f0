"""The model registry: SQLAlchemy tables, Alembic migrations and the :class:`Registry` API.

The API is loaded on first use: importing ``app.registry.names`` (what the CLI
needs to parse its arguments) must not pull in SQLAlchemy, so ``modelbay
--help`` and ``--version`` start without it.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from app.registry.deployments import DeploymentInfo as DeploymentInfo
    from app.registry.deployments import NewDeployment as NewDeployment
    from app.registry.names import VersionRef as VersionRef
    from app.registry.names import parse_ref as parse_ref
    from app.registry.service import BuildInfo as BuildInfo
    from app.registry.service import DatasetVersionInfo as DatasetVersionInfo
    from app.registry.service import EventInfo as EventInfo
    from app.registry.service import HostInfo as HostInfo
    from app.registry.service import ModelSummary as ModelSummary
    from app.registry.service import NewBuild as NewBuild
    from app.registry.service import NewVersion as NewVersion
    from app.registry.service import Registry as Registry
    from app.registry.service import RegistryVerifyReport as RegistryVerifyReport
    from app.registry.service import VersionInfo as VersionInfo

_LAZY = {
    "DeploymentInfo": "app.registry.deployments",
    "NewDeployment": "app.registry.deployments",
    "BuildInfo": "app.registry.service",
    "DatasetVersionInfo": "app.registry.service",
    "NewBuild": "app.registry.service",
    "EventInfo": "app.registry.service",
    "HostInfo": "app.registry.service",
    "ModelSummary": "app.registry.service",
    "NewVersion": "app.registry.service",
    "Registry": "app.registry.service",
    "RegistryVerifyReport": "app.registry.service",
    "VersionInfo": "app.registry.service",
    "VersionRef": "app.registry.names",
    "parse_ref": "app.registry.names",
}

__all__ = [
    "BuildInfo",
    "DatasetVersionInfo",
    "DeploymentInfo",
    "EventInfo",
    "HostInfo",
    "ModelSummary",
    "NewBuild",
    "NewDeployment",
    "NewVersion",
    "Registry",
    "RegistryVerifyReport",
    "VersionInfo",
    "VersionRef",
    "parse_ref",
]


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'app.registry' has no attribute {name!r}")
    return getattr(import_module(module), name)
