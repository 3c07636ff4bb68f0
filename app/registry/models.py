"""The registry's tables as SQLAlchemy 2.0 ORM classes.

The schema itself is created and changed only by Alembic migrations
(``app/registry/migrations``); a test checks that these classes and the
migrated database agree.
"""

from __future__ import annotations

import datetime as dt
from typing import Any, ClassVar

from sqlalchemy import (
    JSON,
    BigInteger,
    CheckConstraint,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

VERSION_STATUSES = ("ready", "quarantined", "archived")
BUILD_STATUSES = ("verified", "built", "failed", "cancelled")
DEPLOYMENT_STATUSES = ("deploying", "live", "retired", "stopped", "failed", "interrupted")


class UTCDateTime(TypeDecorator[dt.datetime]):
    """Timestamps are stored as naive UTC and always come back timezone-aware (UTC)."""

    impl = DateTime
    cache_ok = True

    def process_bind_param(self, value: dt.datetime | None, dialect: Dialect) -> dt.datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetimes are ambiguous; pass a timezone-aware one")
        return value.astimezone(dt.UTC).replace(tzinfo=None)

    def process_result_value(
        self, value: dt.datetime | None, dialect: Dialect
    ) -> dt.datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=dt.UTC)


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    # none_as_null: a missing signature is SQL NULL, not the JSON text 'null' (cheaper to read).
    type_annotation_map: ClassVar[dict[Any, Any]] = {
        dt.datetime: UTCDateTime,
        dict[str, Any]: JSON(none_as_null=True),
    }


class Model(Base):
    __tablename__ = "models"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    description: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(default=utcnow, index=True)
    # Denormalised so "every model with its newest version" is one indexed join.
    latest_version_id: Mapped[int | None] = mapped_column(
        ForeignKey("model_versions.id", use_alter=True, ondelete="SET NULL")
    )

    versions: Mapped[list[ModelVersion]] = relationship(
        back_populates="model", foreign_keys="ModelVersion.model_id", passive_deletes=True
    )


class ModelVersion(Base):
    __tablename__ = "model_versions"
    __table_args__ = (
        UniqueConstraint("model_id", "version"),
        CheckConstraint("status IN ('ready', 'quarantined', 'archived')", name="status_known"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    model_id: Mapped[int] = mapped_column(ForeignKey("models.id", ondelete="CASCADE"))
    version: Mapped[int] = mapped_column(Integer)
    format: Mapped[str] = mapped_column(String(40), default="unknown")
    framework: Mapped[str] = mapped_column(String(40), default="unknown")
    framework_version: Mapped[str | None] = mapped_column(String(80))
    sha256: Mapped[str] = mapped_column(String(64), index=True)
    size: Mapped[int] = mapped_column(BigInteger)
    file_count: Mapped[int] = mapped_column(Integer)
    is_folder: Mapped[bool] = mapped_column(default=False)
    signature: Mapped[dict[str, Any] | None] = mapped_column()
    params: Mapped[dict[str, Any] | None] = mapped_column()
    metrics: Mapped[dict[str, Any] | None] = mapped_column()
    status: Mapped[str] = mapped_column(String(20), default="ready")
    safety: Mapped[dict[str, Any] | None] = mapped_column()
    details: Mapped[dict[str, Any] | None] = mapped_column()
    reference_dataset_version_id: Mapped[int | None] = mapped_column(
        ForeignKey("dataset_versions.id", ondelete="SET NULL")
    )
    source_path: Mapped[str] = mapped_column(Text, default="")
    note: Mapped[str] = mapped_column(Text, default="")
    created_by: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)

    model: Mapped[Model] = relationship(back_populates="versions", foreign_keys=[model_id])
    files: Mapped[list[VersionFile]] = relationship(
        back_populates="version", order_by="VersionFile.path", passive_deletes=True
    )
    tags: Mapped[list[Tag]] = relationship(
        back_populates="version", order_by="Tag.key", passive_deletes=True
    )


class VersionFile(Base):
    __tablename__ = "version_files"
    __table_args__ = (UniqueConstraint("version_id", "path"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    version_id: Mapped[int] = mapped_column(ForeignKey("model_versions.id", ondelete="CASCADE"))
    path: Mapped[str] = mapped_column(Text)
    sha256: Mapped[str] = mapped_column(String(64), index=True)
    size: Mapped[int] = mapped_column(BigInteger)

    version: Mapped[ModelVersion] = relationship(back_populates="files")


class Tag(Base):
    __tablename__ = "tags"
    __table_args__ = (
        UniqueConstraint("version_id", "key"),
        # Serves "versions with tag K=V, newest first" as one backwards index walk.
        Index("ix_tags_key_value_version_id", "key", "value", "version_id"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    version_id: Mapped[int] = mapped_column(ForeignKey("model_versions.id", ondelete="CASCADE"))
    key: Mapped[str] = mapped_column(String(250))
    value: Mapped[str] = mapped_column(String(1000))

    version: Mapped[ModelVersion] = relationship(back_populates="tags")


class Alias(Base):
    __tablename__ = "aliases"
    __table_args__ = (UniqueConstraint("model_id", "name"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    model_id: Mapped[int] = mapped_column(ForeignKey("models.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(200))
    version_id: Mapped[int] = mapped_column(
        ForeignKey("model_versions.id", ondelete="CASCADE"), index=True
    )
    updated_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


class Dataset(Base):
    __tablename__ = "datasets"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    description: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


class DatasetVersion(Base):
    __tablename__ = "dataset_versions"
    __table_args__ = (UniqueConstraint("dataset_id", "version"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    dataset_id: Mapped[int] = mapped_column(ForeignKey("datasets.id", ondelete="CASCADE"))
    version: Mapped[int] = mapped_column(Integer)
    sha256: Mapped[str] = mapped_column(String(64), index=True)
    size: Mapped[int] = mapped_column(BigInteger)
    format: Mapped[str] = mapped_column(String(40))
    source_path: Mapped[str] = mapped_column(Text, default="")
    schema: Mapped[dict[str, Any] | None] = mapped_column()
    profile: Mapped[dict[str, Any] | None] = mapped_column()
    created_by: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


class ImageBuild(Base):
    """One finished image build of a version (verified, built, failed or cancelled)."""

    __tablename__ = "image_builds"
    __table_args__ = (
        CheckConstraint(
            "status IN ('verified', 'built', 'failed', 'cancelled')", name="status_known"
        ),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    version_id: Mapped[int] = mapped_column(
        ForeignKey("model_versions.id", ondelete="CASCADE"), index=True
    )
    status: Mapped[str] = mapped_column(String(20))
    tag: Mapped[str] = mapped_column(String(300))
    image_id: Mapped[str | None] = mapped_column(String(100))
    base_image: Mapped[str] = mapped_column(String(300))
    base_image_id: Mapped[str | None] = mapped_column(String(100))
    lock_sha256: Mapped[str | None] = mapped_column(String(64))
    lock_text: Mapped[str | None] = mapped_column(Text)
    requirements: Mapped[list[dict[str, str]] | None] = mapped_column(JSON(none_as_null=True))
    layers: Mapped[list[str] | None] = mapped_column(JSON(none_as_null=True))
    size: Mapped[int | None] = mapped_column(BigInteger)
    seconds: Mapped[float] = mapped_column(Float)
    smoke: Mapped[dict[str, Any] | None] = mapped_column()
    error: Mapped[str] = mapped_column(Text, default="")
    created_by: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


class Host(Base):
    """A machine images ship to, reached over SSH. Secrets never live here (OS keyring)."""

    __tablename__ = "hosts"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    address: Mapped[str] = mapped_column(String(300))
    port: Mapped[int | None] = mapped_column(Integer)
    user: Mapped[str | None] = mapped_column(String(200))
    identity_file: Mapped[str | None] = mapped_column(Text)
    host_key_type: Mapped[str | None] = mapped_column(String(60))
    host_key: Mapped[str | None] = mapped_column(Text)
    host_key_fingerprint: Mapped[str | None] = mapped_column(String(100))
    last_check: Mapped[dict[str, Any] | None] = mapped_column()
    created_by: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


class Deployment(Base):
    """One attempt to run a version as a service on a host, and how it ended.

    ``deploying`` -> ``live`` (it answers behind the service's front) -> ``retired``
    (a newer deployment of the service took over) or ``stopped``; or ``failed`` (never
    served), or ``interrupted`` (the deploying process died; found on the next look).
    Host and model are recorded by name as well, so the history outlives them.
    """

    __tablename__ = "deployments"
    __table_args__ = (
        CheckConstraint(
            "status IN ('deploying', 'live', 'retired', 'stopped', 'failed', 'interrupted')",
            name="status_known",
        ),
        Index("ix_deployments_host_service_id", "host", "service", "id"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    uid: Mapped[str] = mapped_column(String(40), unique=True)  # on the container's labels
    host: Mapped[str] = mapped_column(String(200))
    service: Mapped[str] = mapped_column(String(200))
    kind: Mapped[str] = mapped_column(String(20))  # deploy | rollback
    version_id: Mapped[int | None] = mapped_column(
        ForeignKey("model_versions.id", ondelete="SET NULL"), index=True
    )
    model_name: Mapped[str] = mapped_column(String(200))
    version: Mapped[int] = mapped_column(Integer)
    image_id: Mapped[str] = mapped_column(String(100))
    image_tag: Mapped[str] = mapped_column(String(300))
    container: Mapped[str | None] = mapped_column(String(200))
    port: Mapped[int | None] = mapped_column(Integer)
    public: Mapped[bool] = mapped_column(default=False)
    settings: Mapped[dict[str, Any] | None] = mapped_column()  # env names, limits; no values
    status: Mapped[str] = mapped_column(String(20))
    error: Mapped[str] = mapped_column(Text, default="")
    log_tail: Mapped[str] = mapped_column(Text, default="")
    predecessor_id: Mapped[int | None] = mapped_column(
        ForeignKey("deployments.id", ondelete="SET NULL")
    )
    created_by: Mapped[str] = mapped_column(String(200))
    started_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    live_at: Mapped[dt.datetime | None] = mapped_column()
    ended_at: Mapped[dt.datetime | None] = mapped_column()


class Event(Base):
    """One line of the append-only event log (database triggers refuse UPDATE and DELETE).

    The model is recorded by id *and* name, without a foreign key, so the log
    outlives anything it talks about.
    """

    __tablename__ = "events"
    __table_args__ = (Index("ix_events_model_id_id", "model_id", "id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    at: Mapped[dt.datetime] = mapped_column(default=utcnow, index=True)
    actor: Mapped[str] = mapped_column(String(200))
    action: Mapped[str] = mapped_column(String(60))
    model_id: Mapped[int | None] = mapped_column(Integer)
    model_name: Mapped[str | None] = mapped_column(String(200))
    version: Mapped[int | None] = mapped_column(Integer)
    details: Mapped[dict[str, Any] | None] = mapped_column()


class MonitorWindow(Base):
    """One monitoring window of a deployment, as pulled from its runtime (see app/monitor/live)."""

    __tablename__ = "monitor_windows"
    __table_args__ = (
        UniqueConstraint("deployment_id", "seq"),
        Index("ix_monitor_windows_host_service_started_at", "host", "service", "started_at"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    deployment_id: Mapped[int] = mapped_column(ForeignKey("deployments.id", ondelete="CASCADE"))
    host: Mapped[str] = mapped_column(String(200))
    service: Mapped[str] = mapped_column(String(200))
    seq: Mapped[int] = mapped_column(BigInteger)
    started_at: Mapped[dt.datetime] = mapped_column()
    seconds: Mapped[float] = mapped_column(Float)
    requests: Mapped[int] = mapped_column(Integer)
    rows: Mapped[int] = mapped_column(Integer)
    errors: Mapped[int] = mapped_column(Integer)
    data: Mapped[dict[str, Any] | None] = mapped_column()  # counts, sample: as the runtime sent
    drift: Mapped[dict[str, Any] | None] = mapped_column()  # computed when stored
    fetched_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


class MonitorSettings(Base):
    """A service's alert thresholds and whether it is alerting now."""

    __tablename__ = "monitor_settings"
    __table_args__ = (UniqueConstraint("host", "service"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    host: Mapped[str] = mapped_column(String(200))
    service: Mapped[str] = mapped_column(String(200))
    thresholds: Mapped[dict[str, Any] | None] = mapped_column()
    alert: Mapped[dict[str, Any] | None] = mapped_column()
    updated_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
