"""The registry's record of deployments: what ran where, from when to when, and how it ended.

A mixin of :class:`app.registry.Registry` (same sessions, same event log). The
host's own container labels are the truth about what runs *now*; these rows
are the history, and the place a reconcile writes what it found (see
app/deploy). Every change is also a line in the event log.
"""

from __future__ import annotations

import datetime as dt
import secrets
from collections.abc import Iterable, Iterator
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from sqlalchemy import or_, select, update
from sqlalchemy.orm import Session

from app.config import current_user
from app.errors import InvalidInputError, NotFoundError
from app.registry.models import DEPLOYMENT_STATUSES, Deployment, Event, Model, utcnow

if TYPE_CHECKING:
    from app.registry.service import VersionInfo

ENDED = ("retired", "stopped", "failed", "interrupted")


@dataclass(frozen=True)
class DeploymentInfo:
    id: int
    uid: str
    host: str
    service: str
    kind: str  # deploy | rollback
    name: str
    version: int
    image_id: str
    image_tag: str
    container: str | None
    port: int | None
    public: bool
    settings: dict[str, Any]
    status: str
    error: str
    log_tail: str
    predecessor_id: int | None
    created_by: str
    started_at: dt.datetime
    live_at: dt.datetime | None
    ended_at: dt.datetime | None

    @property
    def ref(self) -> str:
        return f"{self.name}:{self.version}"

    @property
    def address(self) -> str:
        """SERVICE@HOST, how the CLI names a service."""
        return f"{self.service}@{self.host}"

    def to_json(self) -> dict[str, Any]:
        def when(value: dt.datetime | None) -> str | None:
            return value.isoformat() if value else None

        return {
            "id": self.id,
            "uid": self.uid,
            "host": self.host,
            "service": self.service,
            "kind": self.kind,
            "ref": self.ref,
            "name": self.name,
            "version": self.version,
            "image_id": self.image_id,
            "image_tag": self.image_tag,
            "container": self.container,
            "port": self.port,
            "public": self.public,
            "settings": self.settings,
            "status": self.status,
            "error": self.error,
            "log_tail": self.log_tail,
            "predecessor_id": self.predecessor_id,
            "created_by": self.created_by,
            "started_at": when(self.started_at),
            "live_at": when(self.live_at),
            "ended_at": when(self.ended_at),
        }


@dataclass(frozen=True)
class NewDeployment:
    host: str
    service: str
    target: VersionInfo
    image_id: str
    image_tag: str
    kind: str = "deploy"
    port: int | None = None
    public: bool = False
    settings: dict[str, Any] = field(default_factory=dict)
    predecessor_id: int | None = None


class DeploymentRecords:
    """Registry methods about deployments (mixed into :class:`Registry`)."""

    if TYPE_CHECKING:

        def _reading(self) -> AbstractContextManager[Session]: ...
        def _writing(self) -> AbstractContextManager[Session]: ...
        def _log(
            self,
            session: Session,
            actor: str,
            action: str,
            target: VersionInfo,
            details: dict[str, Any],
        ) -> None: ...

    def start_deployment(self, new: NewDeployment, *, actor: str | None = None) -> DeploymentInfo:
        """Record that a deployment begins (status ``deploying``); its ``uid`` labels the
        container, so the host can always be matched back to this row."""
        if new.kind not in {"deploy", "rollback"}:
            raise InvalidInputError(f"unknown deployment kind {new.kind!r}")
        actor = actor or current_user()
        with self._writing() as session:
            row = Deployment(
                uid=secrets.token_hex(6),
                host=new.host,
                service=new.service,
                kind=new.kind,
                version_id=new.target.id,
                model_name=new.target.name,
                version=new.target.version,
                image_id=new.image_id,
                image_tag=new.image_tag,
                port=new.port,
                public=new.public,
                settings=new.settings or None,
                status="deploying",
                error="",
                log_tail="",
                predecessor_id=new.predecessor_id,
                created_by=actor,
                started_at=utcnow(),
            )
            session.add(row)
            self._log(
                session,
                actor,
                f"{new.kind}.started",
                new.target,
                {"host": new.host, "service": new.service, "image_id": new.image_id},
            )
            session.flush()
            uid = row.uid
        return self.deployment(uid)

    def update_deployment(
        self,
        uid: str,
        status: str | None = None,
        *,
        container: str | None = None,
        port: int | None = None,
        error: str | None = None,
        log_tail: str | None = None,
        actor: str | None = None,
        at: dt.datetime | None = None,
    ) -> DeploymentInfo:
        """Change what is known about a deployment; a new ``status`` is also logged."""
        if status is not None and status not in DEPLOYMENT_STATUSES:
            raise InvalidInputError(f"unknown deployment status {status!r}")
        current = self.deployment(uid)
        values: dict[str, Any] = {}
        for key, value in (
            ("container", container),
            ("port", port),
            ("error", error),
            ("log_tail", log_tail),
        ):
            if value is not None:
                values[key] = value
        now = at or utcnow()
        if status is not None and status != current.status:
            values["status"] = status
            if status == "live":
                values["live_at"] = now
            elif status in ENDED:
                values["ended_at"] = now
        if not values:
            return current
        with self._writing() as session:
            session.execute(update(Deployment).where(Deployment.uid == uid).values(**values))
            if "status" in values:
                self._log_deployment(session, actor or current_user(), current, status or "")
        return self.deployment(uid)

    def _log_deployment(
        self, session: Session, actor: str, info: DeploymentInfo, status: str
    ) -> None:
        session.add(
            Event(
                at=utcnow(),
                actor=actor,
                action=f"deployment.{status}",
                model_id=session.scalar(select(Model.id).where(Model.name == info.name)),
                model_name=info.name,
                version=info.version,
                details={
                    "host": info.host,
                    "service": info.service,
                    "uid": info.uid,
                    "image_id": info.image_id,
                },
            )
        )

    def deployment(self, uid: str) -> DeploymentInfo:
        with self._reading() as session:
            row = session.scalars(select(Deployment).where(Deployment.uid == uid)).first()
            if row is None:
                raise NotFoundError(f"there is no deployment {uid!r}")
            return _info(row)

    def deployments(
        self,
        *,
        host: str | None = None,
        service: str | None = None,
        statuses: Iterable[str] | None = None,
        limit: int | None = None,
    ) -> list[DeploymentInfo]:
        """Recorded deployments, newest first."""
        stmt = select(Deployment).order_by(Deployment.id.desc())
        if host is not None:
            stmt = stmt.where(Deployment.host == host)
        if service is not None:
            stmt = stmt.where(Deployment.service == service)
        if statuses is not None:
            stmt = stmt.where(Deployment.status.in_(list(statuses)))
        if limit is not None:
            stmt = stmt.limit(limit)
        with self._reading() as session:
            return [_info(row) for row in session.scalars(stmt)]

    def serving_at(self, host: str, when: dt.datetime) -> list[DeploymentInfo]:
        """The deployments that answered on ``host`` at ``when`` (one per service)."""
        if when.tzinfo is None:
            raise InvalidInputError("give the time with its time zone (e.g. ...Z for UTC)")
        stmt = (
            select(Deployment)
            .where(
                Deployment.host == host,
                Deployment.live_at.is_not(None),
                Deployment.live_at <= when,
                or_(Deployment.ended_at.is_(None), Deployment.ended_at > when),
            )
            .order_by(Deployment.service, Deployment.id.desc())
        )
        with self._reading() as session:
            return [_info(row) for row in session.scalars(stmt)]

    def iter_services(self) -> Iterator[tuple[str, str]]:
        """Every (host, service) pair that was ever deployed."""
        stmt = select(Deployment.host, Deployment.service).distinct()
        with self._reading() as session:
            yield from ((h, s) for h, s in session.execute(stmt))


def _info(row: Deployment) -> DeploymentInfo:
    return DeploymentInfo(
        id=row.id,
        uid=row.uid,
        host=row.host,
        service=row.service,
        kind=row.kind,
        name=row.model_name,
        version=row.version,
        image_id=row.image_id,
        image_tag=row.image_tag,
        container=row.container,
        port=row.port,
        public=row.public,
        settings=dict(row.settings or {}),
        status=row.status,
        error=row.error,
        log_tail=row.log_tail,
        predecessor_id=row.predecessor_id,
        created_by=row.created_by,
        started_at=row.started_at,
        live_at=row.live_at,
        ended_at=row.ended_at,
    )
