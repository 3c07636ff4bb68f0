"""The registry: every model version, its files, tags, aliases and history.

:class:`Registry` is the one API the CLI and the GUI use. Reads return plain
frozen dataclasses (:class:`VersionInfo`, :class:`ModelSummary`,
:class:`EventInfo`) that are safe to hand to another thread. Every method opens
its own short session, so one ``Registry`` can serve several worker threads.

Crash safety of an import: files go into the artifact store first (each one
fsynced and renamed into place); only then does one database transaction
record the version, its files, tags and event. A crash before the commit leaves
no version (at worst an unreferenced blob); a crash after it leaves a complete
one. There is no moment at which a version points at a missing file.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import (
    Engine,
    Select,
    delete,
    exists,
    func,
    insert,
    or_,
    select,
    update,
)
from sqlalchemy.exc import IntegrityError, OperationalError
from sqlalchemy.orm import Session, aliased, sessionmaker

from app.config import Config, current_user
from app.errors import ConflictError, InvalidInputError, NotFoundError, RegistryError
from app.progress import NEVER_CANCELLED, CancelToken, ProgressCallback, no_progress
from app.registry import db  # the submodule, not the lazy package API
from app.registry.deployments import DeploymentRecords
from app.registry.models import (
    BUILD_STATUSES,
    Alias,
    Dataset,
    DatasetVersion,
    Event,
    Host,
    ImageBuild,
    Model,
    ModelVersion,
    Tag,
    VersionFile,
    utcnow,
)
from app.registry.monitoring import MonitorRecords
from app.registry.names import (
    MAX_NAME,
    VersionRef,
    check_name,
    check_tag,
    derive_name,
    parse_ref,
)
from app.store import ArtifactStore, StoredFile, VerifyReport

_IN_CHUNK = 500  # ids per IN (...) list: well under every backend's parameter limit
REFERENCE_SUFFIX = "-reference"


# ---------------------------------------------------------------------- value objects
@dataclass(frozen=True)
class VersionInfo:
    id: int
    model_id: int
    name: str
    version: int
    format: str
    framework: str
    framework_version: str | None
    sha256: str
    size: int
    file_count: int
    is_folder: bool
    status: str
    created_at: dt.datetime
    created_by: str
    source_path: str
    note: str
    description: str
    signature: dict[str, Any] | None = None
    params: dict[str, Any] | None = None
    metrics: dict[str, Any] | None = None
    safety: dict[str, Any] | None = None
    details: dict[str, Any] | None = None
    tags: Mapping[str, str] = field(default_factory=dict)
    aliases: tuple[str, ...] = ()
    files: tuple[StoredFile, ...] = ()
    reference_id: int | None = None
    """The id of the reference dataset version (:meth:`Registry.reference` reads it)."""

    @property
    def ref(self) -> str:
        return f"{self.name}:{self.version}"

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "version": self.version,
            "sha256": self.sha256,
            "size": self.size,
            "files": [{"path": f.path, "sha256": f.sha256, "size": f.size} for f in self.files],
            "file_count": self.file_count,
            "is_folder": self.is_folder,
            "format": self.format,
            "framework": self.framework,
            "framework_version": self.framework_version,
            "status": self.status,
            "tags": dict(self.tags),
            "aliases": list(self.aliases),
            "signature": self.signature,
            "params": self.params,
            "metrics": self.metrics,
            "safety": self.safety,
            "details": self.details,
            "note": self.note,
            "description": self.description,
            "source_path": self.source_path,
            "created_by": self.created_by,
            "created_at": self.created_at.isoformat(),
        }


@dataclass(frozen=True)
class ModelSummary:
    name: str
    description: str
    updated_at: dt.datetime
    version_count: int
    latest: VersionInfo
    aliases: Mapping[str, int] = field(default_factory=dict)  # every alias -> its version


@dataclass(frozen=True)
class EventInfo:
    id: int
    at: dt.datetime
    actor: str
    action: str
    model_name: str | None
    version: int | None
    details: dict[str, Any]

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "at": self.at.isoformat(),
            "actor": self.actor,
            "action": self.action,
            "model": self.model_name,
            "version": self.version,
            "details": self.details,
        }


@dataclass(frozen=True)
class DatasetVersionInfo:
    """One version of a dataset (e.g. a model's reference data): a stored file, its schema
    (columns, dtypes, rows) and its profile (see :mod:`app.monitor.profile`)."""

    id: int
    dataset: str
    version: int
    sha256: str
    size: int
    format: str  # csv | parquet
    source_path: str
    schema: dict[str, Any]
    profile: dict[str, Any] | None
    created_by: str
    created_at: dt.datetime

    @property
    def ref(self) -> str:
        return f"{self.dataset}:{self.version}"

    @property
    def file_name(self) -> str:
        return Path(self.source_path).name or self.sha256[:12]

    @property
    def rows(self) -> int:
        return int(self.schema.get("rows") or 0)

    @property
    def columns(self) -> list[str]:
        return [str(c["name"]) for c in self.schema.get("columns") or []]

    @property
    def warnings(self) -> list[str]:
        return list((self.profile or {}).get("warnings") or [])

    def to_json(self, *, with_profile: bool = False) -> dict[str, Any]:
        data: dict[str, Any] = {
            "dataset": self.dataset,
            "version": self.version,
            "sha256": self.sha256,
            "size": self.size,
            "format": self.format,
            "file": self.file_name,
            "source_path": self.source_path,
            "rows": self.rows,
            "columns": self.columns,
            "profiled_columns": list((self.profile or {}).get("columns") or {}),
            "schema": self.schema,
            "warnings": self.warnings,
            "created_by": self.created_by,
            "created_at": self.created_at.isoformat(),
        }
        if with_profile:
            data["profile"] = self.profile
        return data


@dataclass(frozen=True)
class NewVersion:
    """A version to register whose files are already in the artifact store."""

    name: str
    files: tuple[StoredFile, ...]
    sha256: str
    is_folder: bool = False
    format: str = "unknown"
    framework: str = "unknown"
    framework_version: str | None = None
    signature: dict[str, Any] | None = None
    params: dict[str, Any] | None = None
    metrics: dict[str, Any] | None = None
    safety: dict[str, Any] | None = None
    details: dict[str, Any] | None = None
    status: str = "ready"
    tags: Mapping[str, str] = field(default_factory=dict)
    note: str = ""
    source_path: str = ""


@dataclass(frozen=True)
class BuildInfo:
    """One finished image build of a version, as the registry recorded it."""

    id: int
    name: str
    version: int
    status: str  # verified | built | failed | cancelled
    tag: str
    image_id: str | None
    base_image: str
    base_image_id: str | None
    lock_sha256: str | None
    lock_text: str | None
    requirements: list[dict[str, str]]
    layers: list[str]
    size: int | None
    seconds: float
    smoke: dict[str, Any] | None
    error: str
    created_by: str
    created_at: dt.datetime

    @property
    def ref(self) -> str:
        return f"{self.name}:{self.version}"

    def to_json(self, *, with_lock: bool = False) -> dict[str, Any]:
        data = {
            "id": self.id,
            "name": self.name,
            "version": self.version,
            "status": self.status,
            "tag": self.tag,
            "image_id": self.image_id,
            "base_image": self.base_image,
            "base_image_id": self.base_image_id,
            "lock_sha256": self.lock_sha256,
            "requirements": self.requirements,
            "layers": self.layers,
            "size": self.size,
            "seconds": self.seconds,
            "smoke": self.smoke,
            "error": self.error,
            "created_by": self.created_by,
            "created_at": self.created_at.isoformat(),
        }
        if with_lock:
            data["lock"] = self.lock_text
        return data


@dataclass(frozen=True)
class HostInfo:
    """A machine to ship to. ``address``/``port``/``user`` may be filled from ~/.ssh/config
    at connect time; the pinned host key is public, secrets are in the OS keyring."""

    id: int
    name: str
    address: str
    port: int | None
    user: str | None
    identity_file: str | None
    host_key_type: str | None
    host_key: str | None  # base64, as in known_hosts
    host_key_fingerprint: str | None  # SHA256:..., as OpenSSH prints it
    last_check: dict[str, Any] | None
    created_by: str
    created_at: dt.datetime

    @property
    def ssh_target(self) -> str:
        user = f"{self.user}@" if self.user else ""
        port = f":{self.port}" if self.port else ""
        return f"{user}{self.address}{port}"

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "ssh": self.ssh_target,
            "address": self.address,
            "port": self.port,
            "user": self.user,
            "identity_file": self.identity_file,
            "host_key_type": self.host_key_type,
            "host_key_fingerprint": self.host_key_fingerprint,
            "trusted": self.host_key is not None,
            "last_check": self.last_check,
            "created_by": self.created_by,
            "created_at": self.created_at.isoformat(),
        }


@dataclass(frozen=True)
class NewBuild:
    """What an image build produced, to record (see :meth:`Registry.record_build`)."""

    status: str
    tag: str
    base_image: str
    seconds: float
    image_id: str | None = None
    base_image_id: str | None = None
    lock_sha256: str | None = None
    lock_text: str | None = None
    requirements: list[dict[str, str]] = field(default_factory=list)
    layers: list[str] = field(default_factory=list)
    size: int | None = None
    smoke: dict[str, Any] | None = None
    error: str = ""


@dataclass
class RegistryVerifyReport:
    store: VerifyReport
    # "name:version" -> the file paths that are missing or corrupt; reference tables are
    # listed by their dataset version ("<model>-reference:N" -> the table's file name)
    damaged: dict[str, list[str]]

    @property
    def ok(self) -> bool:
        return self.store.ok


# ---------------------------------------------------------------------- the registry
class Registry(DeploymentRecords, MonitorRecords):
    """Open with :meth:`open`; close with :meth:`close` (or use as a context manager)."""

    def __init__(self, engine: Engine, store: ArtifactStore) -> None:
        self.engine = engine
        self.store = store
        self._read = sessionmaker(engine, expire_on_commit=False)
        self._write = sessionmaker(engine.execution_options(**db.WRITE), expire_on_commit=False)

    @classmethod
    def open(cls, config: Config | None = None) -> Registry:
        """Open (creating or upgrading if needed) the registry described by ``config``."""
        config = config or Config.from_environment()
        store = ArtifactStore(config.store_dir)
        store.ensure()
        if config.database_url.startswith("sqlite:///"):
            Path(config.database_url.removeprefix("sqlite:///")).parent.mkdir(
                parents=True, exist_ok=True
            )
        engine = db.create_registry_engine(config.database_url)
        try:
            db.ensure_schema(engine)
        except BaseException:
            engine.dispose()
            raise
        store.clean_temp()
        return cls(engine, store)

    def close(self) -> None:
        self.engine.dispose()

    def __enter__(self) -> Registry:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ------------------------------------------------------------------ sessions
    @contextmanager
    def _reading(self) -> Iterator[Session]:
        try:
            with self._read() as session:
                yield session
        except OperationalError as exc:
            raise db.unavailable(self.engine, exc) from exc

    @contextmanager
    def _writing(self) -> Iterator[Session]:
        try:
            with self._write() as session, session.begin():
                yield session
        except OperationalError as exc:
            raise db.unavailable(self.engine, exc) from exc

    # ------------------------------------------------------------------ import
    def import_path(
        self,
        path: Path,
        *,
        name: str | None = None,
        tags: Mapping[str, str] | None = None,
        note: str = "",
        progress: ProgressCallback = no_progress,
        cancel: CancelToken = NEVER_CANCELLED,
    ) -> VersionInfo:
        """Copy a model file or folder into the store, inspect it, register a new version.

        The stored copy (not the source, which could change meanwhile) is what
        gets recognised and scanned. A version whose pickles would run code is
        registered ``quarantined``. A file that claims a format but is broken
        is refused with the reason, and no version is registered.
        """
        from app.formats import DANGEROUS, inspect_files

        path = Path(path)
        model_name = check_name(name) if name is not None else derive_name(path)
        checked_tags = dict(check_tag(k, v) for k, v in (tags or {}).items())
        ingested = self.store.ingest(path, progress=progress, cancel=cancel)
        try:
            cancel.raise_if_cancelled()
            progress(ingested.size, ingested.size, "scanning")
            found = inspect_files(
                {f.path: self.store.blob_path(f.sha256) for f in ingested.files},
                is_folder=ingested.is_folder,
            )
            cancel.raise_if_cancelled()
            safety = found.safety.to_json()
            if found.message:
                safety["message"] = found.message
            [info] = self.register_versions(
                [
                    NewVersion(
                        name=model_name,
                        files=ingested.files,
                        sha256=ingested.sha256,
                        is_folder=ingested.is_folder,
                        format=found.format,
                        framework=found.framework,
                        framework_version=found.framework_version,
                        signature=found.signature,
                        safety=safety,
                        details=found.details or None,
                        status="quarantined" if found.safety.verdict == DANGEROUS else "ready",
                        tags=checked_tags,
                        note=note,
                        source_path=str(path.absolute()),
                    )
                ]
            )
        except BaseException:  # refused (a cut file), cancelled, or failed: store nothing
            self._remove_unreferenced(ingested.created)
            raise
        return info

    def _remove_unreferenced(self, sha256s: Iterable[str]) -> None:
        """Remove the blobs an import stored, unless a version or a dataset refers to one
        (the same bytes imported meanwhile by another process)."""
        wanted = set(sha256s)
        if not wanted:
            return
        try:
            with self._reading() as session:
                used = set(
                    session.scalars(
                        select(VersionFile.sha256).where(VersionFile.sha256.in_(wanted))
                    )
                ) | set(
                    session.scalars(
                        select(DatasetVersion.sha256).where(DatasetVersion.sha256.in_(wanted))
                    )
                )
            self.store.remove(wanted - used)
        except Exception:  # noqa: BLE001 - the import's own error is the one to report
            from app.logs import log

            log.warning("could not remove the files of a refused import", exc_info=True)

    def register_versions(
        self, specs: Sequence[NewVersion], *, actor: str | None = None
    ) -> list[VersionInfo]:
        """Register several versions in one transaction (all or none).

        Files must already be in the store; a version whose blobs are missing
        is refused rather than recorded.
        """
        if not specs:
            return []
        actor = actor or current_user()
        for spec in specs:
            for item in spec.files:
                if not self.store.has(item.sha256):
                    raise RegistryError(
                        f"refusing to register {spec.name}: file {item.path} is not in the store"
                    )
        for _attempt in range(3):
            try:
                return self._register(specs, actor)
            except IntegrityError:  # another process created the same model first: retry
                continue
        raise RegistryError("could not register the version: the registry kept changing under it")

    def _register(self, specs: Sequence[NewVersion], actor: str) -> list[VersionInfo]:
        now = utcnow()
        names = sorted({check_name(s.name) for s in specs})
        with self._writing() as session:
            existing = {
                row.name: (row.id, row.description)
                for row in session.execute(
                    select(Model.id, Model.name, Model.description)
                    .where(Model.name.in_(names))
                    .with_for_update()
                )
            }
            missing = [n for n in names if n not in existing]
            if missing:
                created = session.execute(
                    insert(Model).returning(Model.id, Model.name, sort_by_parameter_order=True),
                    [
                        {"name": n, "description": "", "created_at": now, "updated_at": now}
                        for n in missing
                    ],
                ).all()
                for row in created:
                    existing[row.name] = (row.id, "")
                session.execute(
                    insert(Event),
                    [
                        {
                            "at": now,
                            "actor": actor,
                            "action": "model.created",
                            "model_id": row.id,
                            "model_name": row.name,
                            "version": None,
                            "details": {},
                        }
                        for row in created
                    ],
                )
            next_version = {
                model_id: (top or 0) + 1
                for model_id, top in session.execute(
                    select(ModelVersion.model_id, func.max(ModelVersion.version))
                    .where(ModelVersion.model_id.in_([existing[n][0] for n in names]))
                    .group_by(ModelVersion.model_id)
                )
            }
            rows = []
            for spec in specs:
                model_id = existing[spec.name][0]
                number = next_version.get(model_id, 1)
                next_version[model_id] = number + 1
                rows.append(
                    {
                        "model_id": model_id,
                        "version": number,
                        "format": spec.format,
                        "framework": spec.framework,
                        "framework_version": spec.framework_version,
                        "sha256": spec.sha256,
                        "size": sum(f.size for f in spec.files),
                        "file_count": len(spec.files),
                        "is_folder": spec.is_folder,
                        "signature": spec.signature,
                        "params": spec.params,
                        "metrics": spec.metrics,
                        "status": spec.status,
                        "safety": spec.safety,
                        "details": spec.details,
                        "source_path": spec.source_path,
                        "note": spec.note,
                        "created_by": actor,
                        "created_at": now,
                    }
                )
            ids = session.scalars(
                insert(ModelVersion).returning(ModelVersion.id, sort_by_parameter_order=True),
                rows,
            ).all()
            file_rows = [
                {"version_id": vid, "path": f.path, "sha256": f.sha256, "size": f.size}
                for vid, spec in zip(ids, specs, strict=True)
                for f in spec.files
            ]
            session.execute(insert(VersionFile), file_rows)
            tag_rows = [
                {"version_id": vid, "key": k, "value": v}
                for vid, spec in zip(ids, specs, strict=True)
                for k, v in spec.tags.items()
            ]
            if tag_rows:
                session.execute(insert(Tag), tag_rows)
            latest: dict[int, int] = {}
            for vid, values in zip(ids, rows, strict=True):
                latest[values["model_id"]] = vid
            session.execute(
                update(Model),
                [
                    {"id": mid, "latest_version_id": vid, "updated_at": now}
                    for mid, vid in latest.items()
                ],
            )
            session.execute(
                insert(Event),
                [
                    {
                        "at": now,
                        "actor": actor,
                        "action": "version.registered",
                        "model_id": row["model_id"],
                        "model_name": spec.name,
                        "version": row["version"],
                        "details": {
                            "sha256": spec.sha256,
                            "size": row["size"],
                            "source_path": spec.source_path,
                            "status": spec.status,
                            **({"tags": dict(spec.tags)} if spec.tags else {}),
                        },
                    }
                    for row, spec in zip(rows, specs, strict=True)
                ],
            )
        return [
            VersionInfo(
                id=vid,
                model_id=row["model_id"],
                name=spec.name,
                version=row["version"],
                format=spec.format,
                framework=spec.framework,
                framework_version=spec.framework_version,
                sha256=spec.sha256,
                size=row["size"],
                file_count=row["file_count"],
                is_folder=spec.is_folder,
                status=spec.status,
                created_at=now,
                created_by=actor,
                source_path=spec.source_path,
                note=spec.note,
                description=existing[spec.name][1],
                signature=spec.signature,
                params=spec.params,
                metrics=spec.metrics,
                safety=spec.safety,
                details=spec.details,
                tags=dict(spec.tags),
                aliases=(),
                files=tuple(spec.files),
            )
            for vid, row, spec in zip(ids, rows, specs, strict=True)
        ]

    # ------------------------------------------------------------------ reading
    def get(self, ref: str | VersionRef) -> VersionInfo:
        """The version ``ref`` names (``NAME``, ``NAME:VERSION``, ``NAME@ALIAS``), with files."""
        parsed = parse_ref(ref) if isinstance(ref, str) else ref
        with self._reading() as session:
            model_id = self._model_id(session, parsed.name)
            stmt = _version_select().where(ModelVersion.model_id == model_id)
            if parsed.alias is not None:
                stmt = stmt.join(Alias, Alias.version_id == ModelVersion.id).where(
                    Alias.model_id == model_id, Alias.name == parsed.alias
                )
            elif parsed.version is not None:
                stmt = stmt.where(ModelVersion.version == parsed.version)
            else:
                stmt = stmt.where(
                    ModelVersion.id
                    == select(Model.latest_version_id).where(Model.id == model_id).scalar_subquery()
                )
            rows = session.execute(stmt).all()
            if not rows:
                raise self._missing_version(session, parsed, model_id)
            return _assemble(session, rows, with_files=True)[0]

    def versions_of(self, name: str, *, with_files: bool = False) -> list[VersionInfo]:
        """Every version of one model, newest first."""
        with self._reading() as session:
            model_id = self._model_id(session, check_name(name))
            rows = session.execute(
                _version_select()
                .where(ModelVersion.model_id == model_id)
                .order_by(ModelVersion.version.desc())
            ).all()
            return _assemble(session, rows, with_files=with_files)

    def list_versions(
        self,
        *,
        query: str | None = None,
        tags: Mapping[str, str] | None = None,
        alias: str | None = None,
        latest_only: bool = True,
        limit: int | None = None,
        offset: int = 0,
        with_files: bool = False,
    ) -> list[VersionInfo]:
        """Versions matching every filter given, newest first.

        With ``latest_only`` (the default) only the newest matching version of
        each model is kept: a list of models. ``query`` matches the model name
        or description, the version's note, or a tag key or value (case-insensitive).
        """
        stmt = _version_select()
        tag_items = list((tags or {}).items())
        order_col: Any = ModelVersion.id
        if tag_items:
            # The first tag drives the query: walk its (key, value, version_id) index backwards.
            key, value = tag_items[0]
            stmt = stmt.join(Tag, Tag.version_id == ModelVersion.id).where(
                Tag.key == key, Tag.value == value
            )
            order_col = Tag.version_id
            for key, value in tag_items[1:]:
                other = aliased(Tag)
                stmt = stmt.where(
                    exists().where(
                        other.version_id == ModelVersion.id, other.key == key, other.value == value
                    )
                )
        if alias is not None:
            stmt = stmt.join(Alias, Alias.version_id == ModelVersion.id).where(Alias.name == alias)
        if query:
            pattern = _like_pattern(query)
            tag_alias = select(Tag.version_id).where(
                or_(Tag.key.ilike(pattern, escape="\\"), Tag.value.ilike(pattern, escape="\\"))
            )
            stmt = stmt.where(
                or_(
                    Model.name.ilike(pattern, escape="\\"),
                    Model.description.ilike(pattern, escape="\\"),
                    ModelVersion.note.ilike(pattern, escape="\\"),
                    ModelVersion.id.in_(tag_alias),
                )
            )
        filtered = bool(tag_items or alias is not None or query)
        if latest_only and not filtered:
            stmt = stmt.where(Model.latest_version_id == ModelVersion.id)
            stmt = stmt.order_by(ModelVersion.id.desc())
        elif latest_only:
            ranked = stmt.add_columns(
                func.row_number()
                .over(partition_by=ModelVersion.model_id, order_by=ModelVersion.version.desc())
                .label("rank")
            ).subquery()
            stmt = (
                select(*[c for c in ranked.c if c.name != "rank"])
                .where(ranked.c.rank == 1)
                .order_by(ranked.c.id.desc())
            )
        else:
            stmt = stmt.order_by(order_col.desc())
        if limit is not None:
            stmt = stmt.limit(limit)
        if offset:
            stmt = stmt.offset(offset)
        with self._reading() as session:
            rows = session.execute(stmt).all()
            return _assemble(session, rows, with_files=with_files)

    def list_models(
        self,
        *,
        query: str | None = None,
        include_tags: bool = False,
        order_by: str = "updated",
        descending: bool = True,
        limit: int | None = 100,
        offset: int = 0,
    ) -> list[ModelSummary]:
        """Models with their newest version; by default the most recently changed first.

        ``query`` matches the model name or description (case-insensitive) and,
        with ``include_tags``, any tag key or value of any of its versions.
        ``order_by`` is one of :data:`MODEL_ORDERS`.
        """
        if order_by not in MODEL_ORDERS:
            raise InvalidInputError(
                f"cannot sort models by {order_by!r}",
                hint=f"choose one of {', '.join(MODEL_ORDERS)}",
            )
        key = _model_order_column(order_by)
        stmt = (
            _version_select()
            .add_columns(Model.updated_at.label("model_updated_at"))
            .where(Model.latest_version_id == ModelVersion.id)
            .order_by(
                # the same NULL placement on every backend (PostgreSQL differs from SQLite)
                key.desc().nulls_last() if descending else key.asc().nulls_first(),
                Model.id.desc() if descending else Model.id.asc(),
            )
        )
        if query:
            stmt = stmt.where(_model_matches(query, include_tags=include_tags))
        if limit is not None:
            stmt = stmt.limit(limit)
        if offset:
            stmt = stmt.offset(offset)
        with self._reading() as session:
            rows = session.execute(stmt).all()
            infos = _assemble(session, rows, with_files=False)
            aliases: dict[int, dict[str, int]] = defaultdict(dict)
            for chunk in _chunks([i.model_id for i in infos]):
                for model_id, alias, number in session.execute(
                    select(Alias.model_id, Alias.name, ModelVersion.version)
                    .join(ModelVersion, ModelVersion.id == Alias.version_id)
                    .where(Alias.model_id.in_(chunk))
                    .order_by(Alias.name)
                ):
                    aliases[model_id][alias] = number
        # Versions are numbered 1..N and never deleted, so the newest number is the count.
        return [
            ModelSummary(
                name=info.name,
                description=info.description,
                updated_at=row.model_updated_at,
                version_count=info.version,
                latest=info,
                aliases=aliases.get(info.model_id, {}),
            )
            for info, row in zip(infos, rows, strict=True)
        ]

    def existing_models(self, names: Iterable[str]) -> set[str]:
        """Which of ``names`` are models in the registry."""
        wanted = sorted(set(names))
        found: set[str] = set()
        with self._reading() as session:
            for chunk in _chunks(wanted):
                found.update(session.scalars(select(Model.name).where(Model.name.in_(chunk))))
        return found

    def count_models(self, *, query: str | None = None, include_tags: bool = False) -> int:
        """How many models :meth:`list_models` would return without a limit."""
        stmt = select(func.count()).select_from(Model)
        if query:
            stmt = stmt.where(_model_matches(query, include_tags=include_tags))
        with self._reading() as session:
            return session.scalar(stmt) or 0

    def count(self) -> tuple[int, int]:
        """(number of models, number of versions)."""
        with self._reading() as session:
            models = session.scalar(select(func.count()).select_from(Model)) or 0
            versions = session.scalar(select(func.count()).select_from(ModelVersion)) or 0
        return models, versions

    def history(self, name: str, *, limit: int | None = None) -> list[EventInfo]:
        """The event log of one model, oldest first."""
        with self._reading() as session:
            model_id = self._model_id(session, check_name(name))
            stmt = select(Event).where(Event.model_id == model_id).order_by(Event.id)
            if limit is not None:
                stmt = stmt.limit(limit)
            return [
                EventInfo(
                    id=e.id,
                    at=e.at,
                    actor=e.actor,
                    action=e.action,
                    model_name=e.model_name,
                    version=e.version,
                    details=e.details or {},
                )
                for e in session.scalars(stmt)
            ]

    # ------------------------------------------------------------------ changing
    def set_tags(
        self, ref: str, tags: Mapping[str, str], *, actor: str | None = None
    ) -> VersionInfo:
        checked = dict(check_tag(k, v) for k, v in tags.items())
        if not checked:
            raise InvalidInputError("no tag given", hint="write KEY=VALUE")
        actor = actor or current_user()
        target = self.get(ref)
        with self._writing() as session:
            current = dict(
                session.execute(select(Tag.key, Tag.value).where(Tag.version_id == target.id)).all()
            )
            for key, value in checked.items():
                if key in current:
                    session.execute(
                        update(Tag)
                        .where(Tag.version_id == target.id, Tag.key == key)
                        .values(value=value)
                    )
                else:
                    session.add(Tag(version_id=target.id, key=key, value=value))
                self._log(
                    session,
                    actor,
                    "tag.set",
                    target,
                    {"key": key, "value": value, "previous": current.get(key)},
                )
            self._touch(session, target.model_id)
        return self.get(target.ref)

    def remove_tags(
        self, ref: str, keys: Iterable[str], *, actor: str | None = None
    ) -> VersionInfo:
        actor = actor or current_user()
        target = self.get(ref)
        with self._writing() as session:
            for key in keys:
                tag = session.scalar(select(Tag).where(Tag.version_id == target.id, Tag.key == key))
                if tag is None:
                    raise NotFoundError(f"{target.ref} has no tag {key!r}")
                session.delete(tag)
                self._log(session, actor, "tag.removed", target, {"key": key, "value": tag.value})
            self._touch(session, target.model_id)
        return self.get(target.ref)

    def set_alias(
        self, name: str, alias: str, version: int, *, actor: str | None = None
    ) -> VersionInfo:
        """Point ``alias`` of model ``name`` at ``version`` (moving it if it exists)."""
        alias = check_name(alias, what="alias")
        actor = actor or current_user()
        target = self.get(VersionRef(check_name(name), version=version))
        if target.status == "archived":
            raise ConflictError(
                f"{target.ref} is archived; an alias cannot point at an archived version",
                hint="pick a version that is not archived",
            )
        with self._writing() as session:
            row = session.scalar(
                select(Alias).where(Alias.model_id == target.model_id, Alias.name == alias)
            )
            previous: int | None = None
            if row is None:
                session.add(
                    Alias(
                        model_id=target.model_id,
                        name=alias,
                        version_id=target.id,
                        updated_at=utcnow(),
                    )
                )
            else:
                previous = session.scalar(
                    select(ModelVersion.version).where(ModelVersion.id == row.version_id)
                )
                row.version_id = target.id
                row.updated_at = utcnow()
            self._log(
                session,
                actor,
                "alias.set",
                target,
                {"alias": alias, "from_version": previous, "to_version": target.version},
            )
            self._touch(session, target.model_id)
        return self.get(target.ref)

    def remove_alias(self, name: str, alias: str, *, actor: str | None = None) -> None:
        actor = actor or current_user()
        target = self.get(VersionRef(check_name(name), alias=check_name(alias, what="alias")))
        with self._writing() as session:
            session.execute(
                delete(Alias).where(Alias.model_id == target.model_id, Alias.name == alias)
            )
            self._log(
                session,
                actor,
                "alias.removed",
                target,
                {"alias": alias, "from_version": target.version},
            )
            self._touch(session, target.model_id)

    def archive(self, ref: str, *, actor: str | None = None) -> VersionInfo:
        """Mark a version archived. Refused while an alias points at it."""
        actor = actor or current_user()
        target = self.get(ref)
        if target.status == "archived":
            return target
        if target.aliases:
            names = ", ".join(target.aliases)
            raise ConflictError(
                f"{target.ref} is what {names} points at; archiving it would leave "
                f"{'that alias' if len(target.aliases) == 1 else 'those aliases'} dangling",
                hint=f"move the alias first: modelbay alias {target.name} "
                f"{target.aliases[0]} OTHER_VERSION",
            )
        with self._writing() as session:
            session.execute(
                update(ModelVersion).where(ModelVersion.id == target.id).values(status="archived")
            )
            self._log(
                session, actor, "version.archived", target, {"previous_status": target.status}
            )
            self._touch(session, target.model_id)
        return self.get(target.ref)

    def approve(self, ref: str, *, actor: str | None = None) -> VersionInfo:
        """Release a quarantined version: a person vouches for the code its files would run."""
        actor = actor or current_user()
        target = self.get(ref)
        if target.status != "quarantined":
            raise ConflictError(
                f"{target.ref} is not quarantined (its status is {target.status})",
                hint="only a quarantined version needs approval",
            )
        findings = [f.get("global") for f in (target.safety or {}).get("findings", [])]
        safety = dict(target.safety or {})
        safety["approved"] = {"by": actor, "at": utcnow().isoformat()}
        with self._writing() as session:
            session.execute(
                update(ModelVersion)
                .where(ModelVersion.id == target.id, ModelVersion.status == "quarantined")
                .values(status="ready", safety=safety)
            )
            self._log(session, actor, "version.approved", target, {"findings": findings})
            self._touch(session, target.model_id)
        return self.get(target.ref)

    # ------------------------------------------------------------------ reference data
    def attach_reference(
        self,
        ref: str | VersionRef,
        path: Path,
        *,
        encoding: str = "utf-8",
        actor: str | None = None,
        progress: ProgressCallback = no_progress,
        cancel: CancelToken = NEVER_CANCELLED,
    ) -> tuple[VersionInfo, DatasetVersionInfo]:
        """Make a table (CSV, or Parquet with pyarrow) the reference data of ``ref``.

        The table is read and profiled against the version's signature first, so
        data that cannot serve as a reference stores nothing. Then the file goes
        into the artifact store (content-addressed: the same file is stored once)
        and one transaction records it as a version of the dataset
        ``<model>-reference`` (an identical earlier one, same file and profile, is
        reused), links it to the version and logs ``reference.attached``.
        """
        from app.monitor.profile import profile_table, table_schema
        from app.monitor.tables import read_table, table_format

        actor = actor or current_user()
        target = self.get(ref)
        path = Path(path)
        progress(0, 3, f"reading {path.name}")
        before = _file_state(path)
        frame = read_table(path, encoding=encoding)
        cancel.raise_if_cancelled()
        progress(1, 3, f"profiling {path.name}")
        profile = profile_table(frame, signature=target.signature, name=str(path))
        fmt = table_format(path)
        schema = {"format": fmt, **table_schema(frame)}
        if fmt == "csv":
            schema["encoding"] = encoding
        del frame
        cancel.raise_if_cancelled()
        progress(2, 3, f"storing {path.name}")
        sha256, size = self.store.put_file(path, cancel=cancel)
        if _file_state(path) != before or (before is not None and before[0] != size):
            raise ConflictError(
                f"{path} changed while it was being read",
                hint="attach it again once whatever writes it has finished",
            )
        progress(3, 3, "recording")
        stored = _StoredTable(path, sha256, size, fmt, schema, profile)
        for _attempt in range(3):
            try:
                info = self._record_reference(target, stored, actor)
                break
            except IntegrityError:  # another process created the same dataset (version) first
                continue
        else:
            raise RegistryError("could not record the reference: the registry kept changing")
        return self.get(target.ref), info

    def _record_reference(
        self, target: VersionInfo, stored: _StoredTable, actor: str
    ) -> DatasetVersionInfo:
        name = reference_dataset_name(target.name)
        now = utcnow()
        with self._writing() as session:
            dataset_id = session.scalar(select(Dataset.id).where(Dataset.name == name))
            if dataset_id is None:
                dataset = Dataset(
                    name=name, description=f"reference data of {target.name}", created_at=now
                )
                session.add(dataset)
                session.flush()
                dataset_id = dataset.id
            same_file = session.scalars(
                select(DatasetVersion)
                .where(DatasetVersion.dataset_id == dataset_id)
                .where(DatasetVersion.sha256 == stored.sha256)
                .order_by(DatasetVersion.version)
            ).all()
            row = next(
                (r for r in same_file if r.schema == stored.schema and r.profile == stored.profile),
                None,
            )
            if row is None:
                top = session.scalar(
                    select(func.max(DatasetVersion.version)).where(
                        DatasetVersion.dataset_id == dataset_id
                    )
                )
                row = DatasetVersion(
                    dataset_id=dataset_id,
                    version=(top or 0) + 1,
                    sha256=stored.sha256,
                    size=stored.size,
                    format=stored.format,
                    source_path=str(stored.path.absolute()),
                    schema=stored.schema,
                    profile=stored.profile,
                    created_by=actor,
                    created_at=now,
                )
                session.add(row)
                session.flush()
            previous = session.execute(
                select(Dataset.name, DatasetVersion.version)
                .join(DatasetVersion, DatasetVersion.dataset_id == Dataset.id)
                .join(ModelVersion, ModelVersion.reference_dataset_version_id == DatasetVersion.id)
                .where(ModelVersion.id == target.id)
            ).first()
            session.execute(
                update(ModelVersion)
                .where(ModelVersion.id == target.id)
                .values(reference_dataset_version_id=row.id)
            )
            info = _dataset_version_info(row, name)
            self._log(
                session,
                actor,
                "reference.attached",
                target,
                {
                    "dataset": info.ref,
                    "file": stored.path.name,
                    "sha256": info.sha256,
                    "rows": info.rows,
                    "columns": len(info.columns),
                    "previous": f"{previous[0]}:{previous[1]}" if previous else None,
                },
            )
            self._touch(session, target.model_id)
        return info

    def reference(self, ref: str | VersionRef | VersionInfo) -> DatasetVersionInfo | None:
        """The reference data attached to a version (with its profile), or None."""
        target = ref if isinstance(ref, VersionInfo) else self.get(ref)
        if target.reference_id is None:
            return None
        with self._reading() as session:
            found = session.execute(
                select(DatasetVersion, Dataset.name)
                .join(Dataset, Dataset.id == DatasetVersion.dataset_id)
                .where(DatasetVersion.id == target.reference_id)
            ).first()
            return None if found is None else _dataset_version_info(found[0], found[1])

    def reference_profile(self, ref: str | VersionRef | VersionInfo) -> dict[str, Any] | None:
        """The profile of the version's reference data, or None when it has none."""
        found = self.reference(ref)
        return None if found is None else found.profile

    # ------------------------------------------------------------------ image builds
    def record_build(
        self, target: VersionInfo, build: NewBuild, *, actor: str | None = None
    ) -> BuildInfo:
        """Record a finished build of ``target`` (and an event in the model's history)."""
        if build.status not in BUILD_STATUSES:
            raise InvalidInputError(f"unknown build status {build.status!r}")
        actor = actor or current_user()
        with self._writing() as session:
            row = ImageBuild(
                version_id=target.id,
                status=build.status,
                tag=build.tag,
                image_id=build.image_id,
                base_image=build.base_image,
                base_image_id=build.base_image_id,
                lock_sha256=build.lock_sha256,
                lock_text=build.lock_text,
                requirements=build.requirements or None,
                layers=build.layers or None,
                size=build.size,
                seconds=round(build.seconds, 3),
                smoke=build.smoke,
                error=build.error,
                created_by=actor,
                created_at=utcnow(),
            )
            session.add(row)
            self._log(
                session,
                actor,
                f"image.{build.status}",
                target,
                {"tag": build.tag, "image_id": build.image_id, "error": build.error or None},
            )
            session.flush()
            build_id = row.id
        return self.builds(target.ref, build_id=build_id)[0]

    def builds(
        self,
        ref: str | None = None,
        *,
        model: str | None = None,
        limit: int | None = None,
        build_id: int | None = None,
    ) -> list[BuildInfo]:
        """Recorded builds, newest first: of the version ``ref`` names, of every version of
        ``model``, or of everything."""
        stmt = (
            select(ImageBuild, Model.name, ModelVersion.version)
            .join(ModelVersion, ModelVersion.id == ImageBuild.version_id)
            .join(Model, Model.id == ModelVersion.model_id)
            .order_by(ImageBuild.id.desc())
        )
        if ref is not None:
            stmt = stmt.where(ImageBuild.version_id == self.get(ref).id)
        if model is not None:
            stmt = stmt.where(Model.name == check_name(model))
        if build_id is not None:
            stmt = stmt.where(ImageBuild.id == build_id)
        if limit is not None:
            stmt = stmt.limit(limit)
        with self._reading() as session:
            return [_build_info(row, name, version) for row, name, version in session.execute(stmt)]

    # ------------------------------------------------------------------ hosts
    def add_host(
        self,
        name: str,
        address: str,
        *,
        port: int | None = None,
        user: str | None = None,
        identity_file: str | None = None,
        actor: str | None = None,
    ) -> HostInfo:
        actor = actor or current_user()
        name = check_name(name)
        if not address.strip():
            raise InvalidInputError("a host needs an address", hint="--ssh [USER@]HOST[:PORT]")
        try:
            with self._writing() as session:
                session.add(
                    Host(
                        name=name,
                        address=address.strip(),
                        port=port,
                        user=user or None,
                        identity_file=identity_file or None,
                        created_by=actor,
                        created_at=utcnow(),
                    )
                )
                self._log_host(session, actor, "host.added", name, {"address": address})
        except IntegrityError:
            raise ConflictError(
                f"there is already a host named {name!r}",
                hint=f"pick another name, or `modelbay host remove {name}` first",
            ) from None
        return self.get_host(name)

    def get_host(self, name: str) -> HostInfo:
        with self._reading() as session:
            row = session.scalars(select(Host).where(Host.name == name)).first()
            if row is None:
                names = session.scalars(select(Host.name).order_by(Host.name)).all()
                raise NotFoundError(
                    f"there is no host named {name!r}",
                    hint=("the hosts are " + ", ".join(names))
                    if names
                    else "add one with `modelbay host add NAME --ssh USER@HOST`",
                )
            return _host_info(row)

    def hosts(self) -> list[HostInfo]:
        with self._reading() as session:
            return [_host_info(h) for h in session.scalars(select(Host).order_by(Host.name))]

    def remove_host(self, name: str, *, actor: str | None = None) -> None:
        actor = actor or current_user()
        self.get_host(name)
        with self._writing() as session:
            session.execute(delete(Host).where(Host.name == name))
            self._log_host(session, actor, "host.removed", name, {})

    def pin_host_key(
        self, name: str, key_type: str, key: str, fingerprint: str, *, actor: str | None = None
    ) -> HostInfo:
        """Trust ``key`` as the host's key from now on (it was shown to a person first)."""
        actor = actor or current_user()
        previous = self.get_host(name).host_key_fingerprint
        with self._writing() as session:
            session.execute(
                update(Host)
                .where(Host.name == name)
                .values(host_key_type=key_type, host_key=key, host_key_fingerprint=fingerprint)
            )
            self._log_host(
                session,
                actor,
                "host.key_trusted",
                name,
                {"fingerprint": fingerprint, "previous": previous},
            )
        return self.get_host(name)

    def record_host_check(self, name: str, check: dict[str, Any]) -> HostInfo:
        with self._writing() as session:
            session.execute(update(Host).where(Host.name == name).values(last_check=check))
        return self.get_host(name)

    def _log_host(
        self, session: Session, actor: str, action: str, name: str, details: dict[str, Any]
    ) -> None:
        session.add(
            Event(at=utcnow(), actor=actor, action=action, details={"host": name, **details})
        )

    def log_event(
        self, action: str, target: VersionInfo, details: dict[str, Any], *, actor: str | None = None
    ) -> None:
        """Append one line to the event log about ``target`` (e.g. an image shipped)."""
        with self._writing() as session:
            self._log(session, actor or current_user(), action, target, details)

    def set_description(self, name: str, description: str, *, actor: str | None = None) -> None:
        actor = actor or current_user()
        with self._writing() as session:
            model_id = self._model_id(session, check_name(name))
            session.execute(
                update(Model).where(Model.id == model_id).values(description=description)
            )
            session.add(
                Event(
                    at=utcnow(),
                    actor=actor,
                    action="model.described",
                    model_id=model_id,
                    model_name=name,
                    details={},
                )
            )
            self._touch(session, model_id)

    # ------------------------------------------------------------------ files
    def export(
        self,
        ref: str,
        destination: Path,
        *,
        progress: ProgressCallback = no_progress,
        cancel: CancelToken = NEVER_CANCELLED,
    ) -> list[Path]:
        """Write a version's files into ``destination``, byte-identical to what was imported."""
        info = self.get(ref)
        destination = Path(destination)
        if destination.exists() and not destination.is_dir():
            raise InvalidInputError(f"{destination} exists and is not a folder")
        destination.mkdir(parents=True, exist_ok=True)
        if info.is_folder:
            # A folder model comes back as a folder named like the original.
            destination = destination / (Path(info.source_path).name or info.name)
        return self.store.export(info.files, destination, progress=progress, cancel=cancel)

    def verify(
        self,
        *,
        progress: ProgressCallback = no_progress,
        cancel: CancelToken = NEVER_CANCELLED,
    ) -> RegistryVerifyReport:
        """Re-hash every file the registry refers to; name the versions that are damaged."""
        with self._reading() as session:
            expected = dict(
                session.execute(
                    select(VersionFile.sha256, func.max(VersionFile.size)).group_by(
                        VersionFile.sha256
                    )
                ).all()
            )
            # reference tables are stored files too
            for sha256, size in session.execute(
                select(DatasetVersion.sha256, func.max(DatasetVersion.size)).group_by(
                    DatasetVersion.sha256
                )
            ):
                expected.setdefault(sha256, size)
        report = self.store.verify(expected.items(), progress=progress, cancel=cancel)
        bad = set(report.missing) | set(report.corrupt)
        damaged: dict[str, list[str]] = defaultdict(list)
        if bad:
            with self._reading() as session:
                for chunk in _chunks(sorted(bad)):
                    for name, version, path in session.execute(
                        select(Model.name, ModelVersion.version, VersionFile.path)
                        .join(ModelVersion, ModelVersion.id == VersionFile.version_id)
                        .join(Model, Model.id == ModelVersion.model_id)
                        .where(VersionFile.sha256.in_(chunk))
                        .order_by(Model.name, ModelVersion.version)
                    ):
                        damaged[f"{name}:{version}"].append(path)
                    for dataset, number, source in session.execute(
                        select(Dataset.name, DatasetVersion.version, DatasetVersion.source_path)
                        .join(Dataset, Dataset.id == DatasetVersion.dataset_id)
                        .where(DatasetVersion.sha256.in_(chunk))
                        .order_by(Dataset.name, DatasetVersion.version)
                    ):
                        damaged[f"{dataset}:{number}"].append(Path(source).name)
        return RegistryVerifyReport(report, dict(damaged))

    # ------------------------------------------------------------------ internals
    def _model_id(self, session: Session, name: str) -> int:
        model_id = session.scalar(select(Model.id).where(Model.name == name))
        if model_id is None:
            raise NotFoundError(
                f"there is no model named {name!r}",
                hint="`modelbay list` shows the models in the registry",
            )
        return model_id

    def _missing_version(self, session: Session, ref: VersionRef, model_id: int) -> NotFoundError:
        if ref.alias is not None:
            known = session.scalars(
                select(Alias.name).where(Alias.model_id == model_id).order_by(Alias.name)
            ).all()
            return NotFoundError(
                f"model {ref.name!r} has no alias {ref.alias!r}",
                hint=f"its aliases: {', '.join(known)}" if known else "it has no aliases yet",
            )
        top = session.scalar(
            select(func.max(ModelVersion.version)).where(ModelVersion.model_id == model_id)
        )
        return NotFoundError(
            f"model {ref.name!r} has no version {ref.version}",
            hint=f"its versions go from 1 to {top}" if top else "it has no versions",
        )

    def _log(
        self,
        session: Session,
        actor: str,
        action: str,
        target: VersionInfo,
        details: dict[str, Any],
    ) -> None:
        session.add(
            Event(
                at=utcnow(),
                actor=actor,
                action=action,
                model_id=target.model_id,
                model_name=target.name,
                version=target.version,
                details=details,
            )
        )

    def _touch(self, session: Session, model_id: int) -> None:
        session.execute(update(Model).where(Model.id == model_id).values(updated_at=utcnow()))


# ---------------------------------------------------------------------- query helpers
_VERSION_COLUMNS = (
    ModelVersion.id,
    ModelVersion.model_id,
    Model.name,
    ModelVersion.version,
    ModelVersion.format,
    ModelVersion.framework,
    ModelVersion.framework_version,
    ModelVersion.sha256,
    ModelVersion.size,
    ModelVersion.file_count,
    ModelVersion.is_folder,
    ModelVersion.status,
    ModelVersion.created_at,
    ModelVersion.created_by,
    ModelVersion.source_path,
    ModelVersion.note,
    Model.description,
    ModelVersion.signature,
    ModelVersion.params,
    ModelVersion.metrics,
    ModelVersion.safety,
    ModelVersion.details,
    ModelVersion.reference_dataset_version_id,
)


MODEL_ORDERS = (
    "name",
    "latest_version",
    "format",
    "framework",
    "size",
    "aliases",
    "status",
    "updated",
)
"""What :meth:`Registry.list_models` can sort by (the columns of the GUI's model table)."""


def _model_order_column(order_by: str) -> Any:
    if order_by == "aliases":
        # A model's aliases sort by the first one alphabetically; models without any come first.
        return select(func.min(Alias.name)).where(Alias.model_id == Model.id).scalar_subquery()
    return {
        "name": Model.name,
        "latest_version": ModelVersion.version,
        "format": ModelVersion.format,
        "framework": ModelVersion.framework,
        "size": ModelVersion.size,
        "status": ModelVersion.status,
        "updated": Model.updated_at,
    }[order_by]


def _model_matches(query: str, *, include_tags: bool) -> Any:
    pattern = _like_pattern(query)
    conditions = [
        Model.name.ilike(pattern, escape="\\"),
        Model.description.ilike(pattern, escape="\\"),
    ]
    if include_tags:
        tagged = (
            select(ModelVersion.model_id)
            .join(Tag, Tag.version_id == ModelVersion.id)
            .where(or_(Tag.key.ilike(pattern, escape="\\"), Tag.value.ilike(pattern, escape="\\")))
        )
        conditions.append(Model.id.in_(tagged))
    return or_(*conditions)


def _version_select() -> Select[Any]:
    return select(*_VERSION_COLUMNS).join(Model, Model.id == ModelVersion.model_id)


def _assemble(session: Session, rows: Sequence[Any], *, with_files: bool) -> list[VersionInfo]:
    """Turn version rows into VersionInfo, loading tags, aliases (and files) in a few IN queries."""
    ids = [row.id for row in rows]
    tags: dict[int, dict[str, str]] = defaultdict(dict)
    aliases: dict[int, list[str]] = defaultdict(list)
    files: dict[int, list[StoredFile]] = defaultdict(list)
    for chunk in _chunks(ids):
        for vid, key, value in session.execute(
            select(Tag.version_id, Tag.key, Tag.value)
            .where(Tag.version_id.in_(chunk))
            .order_by(Tag.key)
        ):
            tags[vid][key] = value
        for vid, name in session.execute(
            select(Alias.version_id, Alias.name)
            .where(Alias.version_id.in_(chunk))
            .order_by(Alias.name)
        ):
            aliases[vid].append(name)
        if with_files:
            for vid, path, sha, size in session.execute(
                select(
                    VersionFile.version_id, VersionFile.path, VersionFile.sha256, VersionFile.size
                )
                .where(VersionFile.version_id.in_(chunk))
                .order_by(VersionFile.path)
            ):
                files[vid].append(StoredFile(path, sha, size))
    return [
        VersionInfo(
            id=row.id,
            model_id=row.model_id,
            name=row.name,
            version=row.version,
            format=row.format,
            framework=row.framework,
            framework_version=row.framework_version,
            sha256=row.sha256,
            size=row.size,
            file_count=row.file_count,
            is_folder=row.is_folder,
            status=row.status,
            created_at=row.created_at,
            created_by=row.created_by,
            source_path=row.source_path,
            note=row.note,
            description=row.description,
            signature=row.signature,
            params=row.params,
            metrics=row.metrics,
            safety=row.safety,
            details=row.details,
            tags=tags.get(row.id, {}),
            aliases=tuple(aliases.get(row.id, ())),
            files=tuple(files.get(row.id, ())),
            reference_id=row.reference_dataset_version_id,
        )
        for row in rows
    ]


def _host_info(row: Host) -> HostInfo:
    return HostInfo(
        id=row.id,
        name=row.name,
        address=row.address,
        port=row.port,
        user=row.user,
        identity_file=row.identity_file,
        host_key_type=row.host_key_type,
        host_key=row.host_key,
        host_key_fingerprint=row.host_key_fingerprint,
        last_check=row.last_check,
        created_by=row.created_by,
        created_at=row.created_at,
    )


def _build_info(row: ImageBuild, name: str, version: int) -> BuildInfo:
    return BuildInfo(
        id=row.id,
        name=name,
        version=version,
        status=row.status,
        tag=row.tag,
        image_id=row.image_id,
        base_image=row.base_image,
        base_image_id=row.base_image_id,
        lock_sha256=row.lock_sha256,
        lock_text=row.lock_text,
        requirements=list(row.requirements or []),
        layers=list(row.layers or []),
        size=row.size,
        seconds=row.seconds,
        smoke=row.smoke,
        error=row.error,
        created_by=row.created_by,
        created_at=row.created_at,
    )


def _chunks(items: Sequence[Any]) -> Iterator[Sequence[Any]]:
    for start in range(0, len(items), _IN_CHUNK):
        yield items[start : start + _IN_CHUNK]


def _like_pattern(text: str) -> str:
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def reference_dataset_name(model: str) -> str:
    """The dataset a model's reference tables are versions of: ``<model>-reference``."""
    return model[: MAX_NAME - len(REFERENCE_SUFFIX)] + REFERENCE_SUFFIX


@dataclass(frozen=True)
class _StoredTable:
    """A table in the artifact store, read and profiled, to record as a dataset version."""

    path: Path
    sha256: str
    size: int
    format: str
    schema: dict[str, Any]
    profile: dict[str, Any]


def _file_state(path: Path) -> tuple[int, int] | None:
    """(size, modification time in ns) of a file, to notice it changing under a read."""
    try:
        st = path.stat()
    except OSError:
        return None
    return st.st_size, st.st_mtime_ns


def _dataset_version_info(row: DatasetVersion, dataset: str) -> DatasetVersionInfo:
    return DatasetVersionInfo(
        id=row.id,
        dataset=dataset,
        version=row.version,
        sha256=row.sha256,
        size=row.size,
        format=row.format,
        source_path=row.source_path,
        schema=dict(row.schema or {}),
        profile=row.profile,
        created_by=row.created_by,
        created_at=row.created_at,
    )
