"""The model folder the serving runtime reads, written from the registry alone.

``modelbay serve`` points the runtime at one; the image build (a later issue)
copies one into the image. It holds the version's files at their relative
paths and ``modelbay.json`` describing the version (see app/serving).
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

from app.errors import ConflictError, InvalidInputError
from app.serving.model import SERVABLE as SERVABLE_FORMATS  # the runtime decides

if TYPE_CHECKING:
    from app.registry import Registry, VersionInfo


def check_servable(info: VersionInfo) -> None:
    """Refuse, with the reason, a version the runtime must not or cannot serve."""
    if info.status == "quarantined":
        raise ConflictError(
            f"{info.ref} is quarantined: loading it would run code it carries",
            hint=f"review it with `modelbay show {info.ref}`; `modelbay approve {info.ref}` "
            "if you trust its source",
        )
    if info.status == "archived":
        raise ConflictError(
            f"{info.ref} is archived",
            hint="build, serve or deploy a version that is not archived (`modelbay list --all` "
            "shows each version's status)",
        )
    if info.format not in SERVABLE_FORMATS:
        raise InvalidInputError(
            f"{info.ref} is in the {info.format} format, which the serving runtime cannot load",
            hint="it serves " + ", ".join(SERVABLE_FORMATS),
        )


def model_metadata(info: VersionInfo) -> dict[str, Any]:
    return {
        "name": info.name,
        "version": info.version,
        "sha256": info.sha256,
        "format": info.format,
        "framework": info.framework,
        "framework_version": info.framework_version,
        "signature": info.signature,
        "files": [{"path": f.path, "sha256": f.sha256, "size": f.size} for f in info.files],
    }


def monitoring_profile(registry: Registry, info: VersionInfo) -> dict[str, Any] | None:
    """The profile the runtime buckets live inputs with: that of the version's reference
    data (without its sample rows, which stay on the desktop), or None when it has none."""
    profile = registry.reference_profile(info)
    if profile is None:
        return None
    from app.monitor.profile import runtime_profile

    return runtime_profile(profile)


def write_model_folder(
    registry: Registry, info: VersionInfo, root: Path, *, profile: dict[str, Any] | None = None
) -> Path:
    """Write (or reuse, when complete) the model folder of ``info`` at ``root``."""
    from app.serving.model import METADATA_FILE, PROFILE_FILE

    check_servable(info)
    metadata = json.dumps(model_metadata(info), indent=2, sort_keys=True)
    marker = root / METADATA_FILE
    if not (marker.exists() and marker.read_text(encoding="utf-8") == metadata):
        if root.exists():
            shutil.rmtree(root)
        root.parent.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=".partial-", dir=root.parent))
        registry.store.export(info.files, staging)
        (staging / METADATA_FILE).write_text(metadata, encoding="utf-8")
        os.replace(staging, root)  # the folder appears complete or not at all
    profile_path = root / PROFILE_FILE
    if profile is not None:
        profile_path.write_text(json.dumps(profile), encoding="utf-8")
    elif profile_path.exists():
        profile_path.unlink()
    return root
