"""The registry's record of monitoring: windows pulled from deployed endpoints, thresholds, alerts.

A mixin of :class:`app.registry.Registry`. Windows are keyed by (deployment,
seq), so pulling the same window twice stores it once; a service's thresholds
and alert state are one row per (host, service), kept across the versions it
serves. What the numbers mean is app/monitor/live's business; this module only
keeps them.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from sqlalchemy import Select, func, select
from sqlalchemy.orm import Session

from app.config import current_user
from app.errors import NotFoundError
from app.registry.models import Deployment, Event, Model, MonitorSettings, MonitorWindow, utcnow

if TYPE_CHECKING:
    from app.registry.deployments import DeploymentInfo


@dataclass(frozen=True)
class NewWindow:
    seq: int
    started_at: dt.datetime
    seconds: float
    requests: int
    rows: int
    errors: int
    data: dict[str, Any]
    drift: dict[str, Any] | None


@dataclass(frozen=True)
class WindowInfo:
    id: int
    uid: str  # the deployment's
    host: str
    service: str
    name: str
    version: int
    seq: int
    started_at: dt.datetime
    seconds: float
    requests: int
    rows: int
    errors: int
    drift: dict[str, Any] | None
    data: dict[str, Any] | None  # None unless asked for (samples are large)

    @property
    def ref(self) -> str:
        return f"{self.name}:{self.version}"

    @property
    def ended_at(self) -> dt.datetime:
        return self.started_at + dt.timedelta(seconds=self.seconds)


class MonitorRecords:
    """Registry methods about monitoring (mixed into :class:`Registry`)."""

    if TYPE_CHECKING:

        def _reading(self) -> AbstractContextManager[Session]: ...
        def _writing(self) -> AbstractContextManager[Session]: ...
        def deployment(self, uid: str) -> DeploymentInfo: ...

    def add_windows(self, uid: str, windows: Sequence[NewWindow]) -> int:
        """Store the deployment's windows not stored yet; how many were new."""
        if not windows:
            return 0
        with self._writing() as session:
            row = session.scalars(select(Deployment).where(Deployment.uid == uid)).first()
            if row is None:
                raise NotFoundError(f"there is no deployment {uid!r}")
            known = set(
                session.scalars(
                    select(MonitorWindow.seq).where(
                        MonitorWindow.deployment_id == row.id,
                        MonitorWindow.seq.in_([w.seq for w in windows]),
                    )
                )
            )
            now = utcnow()
            added = 0
            for window in windows:
                if window.seq in known:
                    continue
                known.add(window.seq)
                session.add(
                    MonitorWindow(
                        deployment_id=row.id,
                        host=row.host,
                        service=row.service,
                        seq=window.seq,
                        started_at=window.started_at,
                        seconds=window.seconds,
                        requests=window.requests,
                        rows=window.rows,
                        errors=window.errors,
                        data=window.data,
                        drift=window.drift,
                        fetched_at=now,
                    )
                )
                added += 1
        return added

    def last_window_seq(self, uid: str) -> int | None:
        """The newest window stored for the deployment (what to ask the runtime after)."""
        with self._reading() as session:
            found = session.scalar(
                select(func.max(MonitorWindow.seq))
                .join(Deployment, Deployment.id == MonitorWindow.deployment_id)
                .where(Deployment.uid == uid)
            )
            return None if found is None else int(found)

    def monitor_windows(
        self,
        host: str,
        service: str,
        *,
        since: dt.datetime | None = None,
        newest: int | None = None,
        with_data: bool = False,
    ) -> list[WindowInfo]:
        """The service's stored windows, oldest first: those starting at or after ``since``,
        or the ``newest`` ones."""
        columns = [
            MonitorWindow.id,
            Deployment.uid,
            MonitorWindow.host,
            MonitorWindow.service,
            Deployment.model_name,
            Deployment.version,
            MonitorWindow.seq,
            MonitorWindow.started_at,
            MonitorWindow.seconds,
            MonitorWindow.requests,
            MonitorWindow.rows,
            MonitorWindow.errors,
            MonitorWindow.drift,
        ]
        if with_data:
            columns.append(MonitorWindow.data)
        stmt = (
            select(*columns)
            .join(Deployment, Deployment.id == MonitorWindow.deployment_id)
            .where(MonitorWindow.host == host, MonitorWindow.service == service)
        )
        if since is not None:
            stmt = stmt.where(MonitorWindow.started_at >= since)
        if newest is not None:
            stmt = stmt.order_by(MonitorWindow.started_at.desc(), MonitorWindow.id.desc()).limit(
                newest
            )
        else:
            stmt = stmt.order_by(MonitorWindow.started_at, MonitorWindow.id)
        with self._reading() as session:
            rows = session.execute(stmt).all()
        found = [_window_info(row, with_data) for row in rows]
        return found[::-1] if newest is not None else found

    def monitor_settings(self, host: str, service: str) -> tuple[dict[str, Any], dict[str, Any]]:
        """(thresholds as stored, possibly empty; the alert state, empty when not alerting)."""
        with self._reading() as session:
            row = session.scalars(_settings_of(host, service)).first()
            if row is None:
                return {}, {}
            return dict(row.thresholds or {}), dict(row.alert or {})

    def set_monitor_thresholds(
        self, host: str, service: str, thresholds: dict[str, Any], *, actor: str | None = None
    ) -> None:
        """Replace the service's thresholds (validated by the caller) and log the change."""
        with self._writing() as session:
            row = self._settings_row(session, host, service)
            row.thresholds = dict(thresholds)
            row.updated_at = utcnow()
            session.add(
                Event(
                    at=utcnow(),
                    actor=actor or current_user(),
                    action="monitor.thresholds",
                    details={"host": host, "service": service, "thresholds": dict(thresholds)},
                )
            )

    def set_monitor_alert(
        self,
        host: str,
        service: str,
        alert: dict[str, Any],
        *,
        ref: tuple[str, int] | None = None,
        actor: str | None = None,
    ) -> None:
        """Mark the service as alerting (``alert`` says why) or clear the mark (``{}``);
        each change is a ``monitor.alert`` or ``monitor.recovered`` event about ``ref``."""
        with self._writing() as session:
            row = self._settings_row(session, host, service)
            was = bool(row.alert)
            row.alert = dict(alert) or None
            row.updated_at = utcnow()
            if was == bool(alert) and not alert:
                return
            model_id = None
            if ref is not None:
                model_id = session.scalar(select(Model.id).where(Model.name == ref[0]))
            session.add(
                Event(
                    at=utcnow(),
                    actor=actor or current_user(),
                    action="monitor.alert" if alert else "monitor.recovered",
                    model_id=model_id,
                    model_name=ref[0] if ref else None,
                    version=ref[1] if ref else None,
                    details={"host": host, "service": service, **dict(alert)},
                )
            )

    @staticmethod
    def _settings_row(session: Session, host: str, service: str) -> MonitorSettings:
        row = session.scalars(_settings_of(host, service)).first()
        if row is None:
            row = MonitorSettings(host=host, service=service, updated_at=utcnow())
            session.add(row)
        return row


def _settings_of(host: str, service: str) -> Select[MonitorSettings]:
    return select(MonitorSettings).where(
        MonitorSettings.host == host, MonitorSettings.service == service
    )


def _window_info(row: Any, with_data: bool) -> WindowInfo:
    return WindowInfo(
        id=row[0],
        uid=row[1],
        host=row[2],
        service=row[3],
        name=row[4],
        version=row[5],
        seq=row[6],
        started_at=row[7],
        seconds=row[8],
        requests=row[9],
        rows=row[10],
        errors=row[11],
        drift=row[12],
        data=row[13] if with_data else None,
    )
