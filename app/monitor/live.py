"""Live monitoring: windows pulled from a deployed service, stored, and compared with the reference.

The serving runtime (app/serving/monitor.py) keeps, per window of time, how
many live values fell in each bin of the reference profile (numeric features:
the reference's decile bins; categorical ones: its top categories plus
"other"), and a reservoir sample of rows with what the model said about them.
:class:`Monitor` asks a service's backends for the windows after the last one
stored (``GET /monitoring/windows?since=SEQ&limit=N``, through the verified SSH
session, as a deploy's health checks do), stores them in the registry with
their drift, and says whether the service crosses its alert thresholds.
Windows are keyed by (deployment, seq): a pull that fails half-way, or a
desktop closed for an hour, loses nothing the runtime still holds.

Drift of a window (or of a span of the newest windows, counts added and
samples pooled) follows ``drift compare``'s rule (docs/drift.md), with what a
window has instead of the whole current table:

- numeric features: KS (reference of at most 1,000 rows) or the Wasserstein
  distance normalised by the reference's standard deviation (larger
  references) between the reference (its values, or 1,000 quantiles of them,
  kept in the profile) and the window's reservoir sample;
- categorical features: chi-square, the z-test (two values) or the
  Jensen-Shannon distance on the counts per category ("other" included);
- PSI and the Jensen-Shannon distance on the counts per bin for every
  feature, always.

A window with fewer than ``min_rows`` rows gets no verdict (a gap in the plots,
not a false alarm). No Qt here: the GUI's Monitoring panel and ``modelbay
monitor`` both drive this module.
"""

from __future__ import annotations

import contextlib
import csv
import dataclasses
import datetime as dt
import http.client
import itertools
import json
import math
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from app.errors import InvalidInputError, ModelbayError, NotFoundError
from app.monitor import stattests
from app.monitor.drift import (
    NUMERIC,
    P_VALUE_TESTS,
    DriftOptions,
    choose_test,
)

if TYPE_CHECKING:
    import docker

    from app.registry.deployments import DeploymentInfo
    from app.registry.monitoring import NewWindow, WindowInfo
    from app.registry.service import Registry
    from app.remote.secrets import SecretPrompt, SecretStore
    from app.remote.ssh import SSHSession

PAGE = 60
"""Windows asked for per request: a catching-up pull pages through what the runtime holds."""
SPAN_SAMPLE = 5000
"""Rows a span's pooled sample keeps at most (drawn with a fixed seed)."""


class MonitorError(ModelbayError):
    """A pull failed: the host, the service or its answer; the message says which."""


# ---------------------------------------------------------------------- thresholds
@dataclass(frozen=True)
class Thresholds:
    """When a service alerts, judged on the span of its newest windows."""

    drift_share: float = 0.5
    """Alert when at least this share of the features drift over the span."""
    error_rate: float = 0.05
    """Alert when at least this share of the span's requests failed."""
    span: int = 10
    """How many of the newest windows the span pools."""
    min_rows: int = 30
    """Rows a window (or span) needs before it gets a verdict."""

    KEYS = ("drift_share", "error_rate", "span", "min_rows")

    def check(self) -> Thresholds:
        if not 0 < self.drift_share <= 1:
            raise InvalidInputError(
                f"drift_share must be above 0 and at most 1, not {self.drift_share}",
                hint="0.5 alerts when half of the features drift",
            )
        if not 0 < self.error_rate <= 1:
            raise InvalidInputError(
                f"error_rate must be above 0 and at most 1, not {self.error_rate}",
                hint="0.05 alerts when one request in twenty fails",
            )
        if self.span < 1:
            raise InvalidInputError(f"span must be at least 1 window, not {self.span}")
        if self.min_rows < 1:
            raise InvalidInputError(f"min_rows must be at least 1, not {self.min_rows}")
        return self

    @classmethod
    def from_json(cls, stored: Mapping[str, Any]) -> Thresholds:
        known = {k: stored[k] for k in cls.KEYS if k in stored}
        return cls(**known)

    def with_changes(self, changes: Mapping[str, str | float | int]) -> Thresholds:
        """These thresholds with ``changes`` (``{"drift_share": "0.3"}``, text or numbers)."""
        values: dict[str, Any] = {}
        for key, raw in changes.items():
            if key not in self.KEYS:
                raise InvalidInputError(
                    f"unknown threshold {key!r}", hint=f"choose from {', '.join(self.KEYS)}"
                )
            try:
                values[key] = int(raw) if key in ("span", "min_rows") else float(raw)
            except (TypeError, ValueError):
                raise InvalidInputError(f"{key} must be a number, not {raw!r}") from None
        return dataclasses.replace(self, **values).check()

    def to_json(self) -> dict[str, Any]:
        return {k: getattr(self, k) for k in self.KEYS}


def thresholds_of(registry: Registry, host: str, service: str) -> Thresholds:
    stored, _ = registry.monitor_settings(host, service)
    return Thresholds.from_json(stored)


def set_thresholds(
    registry: Registry, host: str, service: str, changes: Mapping[str, str | float | int]
) -> Thresholds:
    updated = thresholds_of(registry, host, service).with_changes(changes)
    registry.set_monitor_thresholds(host, service, updated.to_json())
    return updated


# ---------------------------------------------------------------------- reference
@dataclass
class _Feature:
    name: str
    kind: str
    test: str
    keys: list[str]  # the count cells: bins for numeric features, categories + "other"
    counts: Any  # the reference's counts in those cells
    sample: Any  # numeric: the reference sample's values, sorted
    scale: float  # numeric: the reference's standard deviation (Wasserstein's unit)


class Reference:
    """A version's reference profile, prepared once for comparing many windows with it."""

    def __init__(self, profile: Mapping[str, Any], options: DriftOptions | None = None) -> None:
        self.profile = profile
        self.options = options or DriftOptions()
        self.rows = int(profile.get("rows") or 0)
        sample = profile.get("sample") or []
        self.features: dict[str, _Feature] = {}
        for name, spec in (profile.get("columns") or {}).items():
            self.features[name] = self._feature(name, spec, sample)

    def _feature(self, name: str, spec: Mapping[str, Any], sample: list[Any]) -> _Feature:
        if spec.get("kind") == NUMERIC:
            edges = spec.get("bin_edges") or []
            if spec.get("quantiles") is not None:  # the whole reference (app/monitor/profile.py)
                values = np.asarray(spec["quantiles"], dtype=np.float64)
            else:  # a profile made before they were kept: its sample, noisier
                values = _numbers([row.get(name) for row in sample])
            values.sort()
            stats = spec.get("stats") or {}
            count = int(stats.get("count") or 0)
            std = stats.get("std") or 0.0
            # Evidently divides by the population standard deviation of the reference
            scale = float(std) * math.sqrt((count - 1) / count) if count > 1 else 0.0
            unique = len(np.unique(values)) if len(values) else 0
            return _Feature(
                name=name,
                kind=NUMERIC,
                test=choose_test(NUMERIC, count, unique),
                keys=_bin_labels(edges),
                counts=np.asarray(spec.get("counts") or [0] * (len(edges) + 1), dtype=np.int64),
                sample=values,
                scale=max(scale, stattests.WASSERSTEIN_MIN_SCALE),
            )
        categories = [str(c) for c in spec.get("categories") or []]
        counted = spec.get("counts") or {}
        counts = [int(counted.get(c, 0)) for c in categories] + [int(spec.get("other") or 0)]
        present = sum(counts)
        distinct = len(categories) + (1 if counts[-1] else 0)
        return _Feature(
            name=name,
            kind="categorical",
            test=choose_test("categorical", present, distinct),
            keys=[*categories, "other"],
            counts=np.asarray(counts, dtype=np.int64),
            sample=None,
            scale=1.0,
        )

    @property
    def family(self) -> str:
        """``p_value`` when the features are judged by p-values (small reference), else
        ``distance``: what the drift plots show on their vertical axis."""
        tests = {f.test for f in self.features.values()}
        return "p_value" if tests and tests <= set(P_VALUE_TESTS) else "distance"

    @property
    def threshold(self) -> float:
        options = self.options
        return options.p_threshold if self.family == "p_value" else options.distance_threshold


def _bin_labels(edges: Sequence[float]) -> list[str]:
    if not edges:
        return ["all"]
    shown = [f"{e:.4g}" for e in edges]
    labels = [f"< {shown[0]}"]
    labels += [f"{a} to {b}" for a, b in itertools.pairwise(shown)]
    labels.append(f">= {shown[-1]}")
    return labels


def _numbers(values: Sequence[Any]) -> Any:
    """The finite numbers among ``values`` (None, text and infinities left out)."""
    found = []
    for value in values:
        if isinstance(value, bool | int | float):
            found.append(float(value))
        elif isinstance(value, str):
            with contextlib.suppress(ValueError):
                found.append(float(value))
    array = np.asarray(found, dtype=np.float64)
    return array[np.isfinite(array)]


# ---------------------------------------------------------------------- drift of windows
def counts_of(feature: _Feature, data: Mapping[str, Any]) -> Any:
    """A window's counts in the reference's cells for ``feature`` (None: the window was
    counted on other bins, e.g. the image was built before the reference changed)."""
    bucket = (data.get("features") or {}).get(feature.name)
    if not bucket:
        return None
    if feature.kind == NUMERIC:
        counts = bucket.get("counts")
        if not isinstance(counts, list) or len(counts) != len(feature.keys):
            return None
        return np.asarray(counts, dtype=np.int64)
    counted = bucket.get("counts") or {}
    if not isinstance(counted, dict):
        return None
    cells = [int(counted.get(key, 0)) for key in feature.keys[:-1]]
    other = int(bucket.get("other") or 0) + sum(
        int(v) for k, v in counted.items() if k not in feature.keys
    )
    return np.asarray([*cells, other], dtype=np.int64)


def pool(datas: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """Several windows as one: counts added, samples pooled (at most SPAN_SAMPLE rows)."""
    features: dict[str, Any] = {}
    sample: list[Any] = []
    said: list[Any] = []
    rows = requests = errors = 0
    for data in datas:
        rows += int(data.get("rows") or 0)
        requests += int(data.get("requests") or 0)
        errors += int(data.get("errors") or 0)
        for name, bucket in (data.get("features") or {}).items():
            total = features.get(name)
            if total is None:
                features[name] = json.loads(json.dumps(bucket))
                continue
            if isinstance(bucket.get("counts"), list):
                if len(bucket["counts"]) == len(total["counts"]):
                    total["counts"] = [
                        a + b for a, b in zip(total["counts"], bucket["counts"], strict=True)
                    ]
            else:
                for key, value in (bucket.get("counts") or {}).items():
                    total["counts"][key] = total["counts"].get(key, 0) + value
                total["other"] = total.get("other", 0) + bucket.get("other", 0)
            total["missing"] = total.get("missing", 0) + bucket.get("missing", 0)
        rows_sampled = data.get("sample") or []
        sample.extend(rows_sampled)
        predictions = data.get("sample_predictions") or []
        said.extend(
            predictions if len(predictions) == len(rows_sampled) else [None] * len(rows_sampled)
        )
    if len(sample) > SPAN_SAMPLE:
        kept = np.sort(np.random.default_rng(0).choice(len(sample), SPAN_SAMPLE, replace=False))
        sample = [sample[i] for i in kept]
        said = [said[i] for i in kept]
    return {
        "rows": rows,
        "requests": requests,
        "errors": errors,
        "features": features,
        "sample": sample,
        "sample_predictions": said,
    }


def drift_of(
    reference: Reference, data: Mapping[str, Any], *, min_rows: int = 30
) -> dict[str, Any]:
    """The drift of one window (or a pooled span) against the reference, as stored JSON."""
    rows = int(data.get("rows") or 0)
    features = {
        name: _feature_drift(reference, feature, data, rows, min_rows)
        for name, feature in reference.features.items()
    }
    judged = [n for n, e in features.items() if e["drifted"] is not None]
    drifted = [n for n in judged if features[n]["drifted"]]
    return {
        "rows": rows,
        "requests": int(data.get("requests") or 0),
        "errors": int(data.get("errors") or 0),
        "family": reference.family,
        "threshold": reference.threshold,
        "features": features,
        "judged": len(judged),
        "drifted": drifted,
        "drift_share": len(drifted) / len(judged) if judged else None,
        "predictions": prediction_summary(data),
    }


def _feature_drift(
    reference: Reference, feature: _Feature, data: Mapping[str, Any], rows: int, min_rows: int
) -> dict[str, Any]:
    entry: dict[str, Any] = {"kind": feature.kind, "test": feature.test}
    counts = counts_of(feature, data)
    bucket = (data.get("features") or {}).get(feature.name) or {}
    entry["missing_rate"] = int(bucket.get("missing") or 0) / rows if rows else None
    entry["psi"] = entry["js"] = None
    if counts is not None and counts.sum() > 0 and feature.counts.sum() > 0:
        entry["psi"] = _finite(stattests.psi(feature.counts, counts))
        entry["js"] = _finite(stattests.jensenshannon(feature.counts, counts).statistic)
    entry.update(statistic=None, p_value=None, drifted=None)
    if rows < min_rows:
        entry["reason"] = f"{rows} row{'s' if rows != 1 else ''}, fewer than {min_rows}"
        return entry
    verdict = _verdict(feature, data, counts, entry)
    if verdict is None:
        return entry
    threshold = reference.options.threshold_for(feature.test)
    if verdict.p_value is None:
        drifted = verdict.statistic >= threshold
    elif feature.test == "ks":  # as drift compare: KS at or below, the others below
        drifted = verdict.p_value <= threshold
    else:
        drifted = verdict.p_value < threshold
    entry.update(
        statistic=_finite(verdict.statistic),
        p_value=None if verdict.p_value is None else _finite(verdict.p_value),
        threshold=threshold,
        drifted=bool(drifted),
    )
    return entry


def _verdict(  # noqa: PLR0911 - one return per test
    feature: _Feature, data: Mapping[str, Any], counts: Any, entry: dict[str, Any]
) -> stattests.Outcome | None:
    """The feature's test on the sample (KS, Wasserstein) or the counts (the others)."""
    if feature.test in ("ks", "wasserstein"):
        current = _numbers([row.get(feature.name) for row in data.get("sample") or []])
        if not len(current) or not len(feature.sample):
            entry["reason"] = "no numbers to compare in the sample"
            return None
        current.sort()
        if feature.test == "ks":
            return stattests.ks(feature.sample, current)
        distance = stattests.wasserstein_of_sorted(feature.sample, current)
        return stattests.Outcome(distance / feature.scale)
    if counts is None or counts.sum() == 0:
        entry["reason"] = "the window was counted on other bins (rebuild the image)"
        return None
    seen = np.flatnonzero(feature.counts + counts)  # as drift compare: values in either table
    if feature.test == "jensenshannon":
        return stattests.jensenshannon(feature.counts[seen], counts[seen])
    if feature.test == "chisquare":
        return stattests.chisquare(feature.counts[seen], counts[seen])
    return stattests.z_test(feature.counts[seen[:2]], counts[seen[:2]])


def score(entry: Mapping[str, Any]) -> float:
    """What the drift plots show for one feature: the test's distance, or its p-value."""
    value = entry.get("p_value") if entry.get("test") in P_VALUE_TESTS else entry.get("statistic")
    return math.nan if value is None else float(value)


def prediction_summary(data: Mapping[str, Any]) -> dict[str, Any] | None:
    """What the model said in a window, from its sample: quantiles of numbers, or label shares."""
    said = [p for p in data.get("sample_predictions") or [] if p is not None]
    if not said:
        return None
    if (
        all(isinstance(p, int | float) and not isinstance(p, bool) for p in said)
        and len(set(said)) > 10
    ):
        values = np.asarray(said, dtype=np.float64)
        q10, q50, q90 = np.quantile(values, [0.1, 0.5, 0.9])
        return {"kind": "numeric", "n": len(said), "p10": q10, "p50": q50, "p90": q90}
    labels: dict[str, int] = {}
    for p in said:
        key = json.dumps(p) if isinstance(p, list) else str(p)
        labels[key] = labels.get(key, 0) + 1
    return {
        "kind": "labels",
        "n": len(said),
        "shares": {k: v / len(said) for k, v in labels.items()},
    }


def histogram(
    reference: Reference, data: Mapping[str, Any], feature: str
) -> tuple[list[str], list[float], list[float]] | None:
    """(cell labels, reference shares, current shares) of one feature, for the histogram plot."""
    found = reference.features.get(feature)
    if found is None:
        return None
    counts = counts_of(found, data)
    if counts is None:
        return None
    ref_total = float(found.counts.sum()) or 1.0
    cur_total = float(counts.sum()) or 1.0
    return (
        list(found.keys),
        [float(c) / ref_total for c in found.counts],
        [float(c) / cur_total for c in counts],
    )


def _s(count: int) -> str:
    return "" if count == 1 else "s"


def _finite(value: float) -> float | None:
    return float(value) if math.isfinite(value) else None


# ---------------------------------------------------------------------- alerts
def alert_reasons(span: Mapping[str, Any], thresholds: Thresholds) -> list[str]:
    """Why the span crosses the thresholds (empty: it does not)."""
    reasons = []
    share = span.get("drift_share")
    if share is not None and share >= thresholds.drift_share:
        drifted = span.get("drifted") or []
        reasons.append(
            f"{len(drifted)} of {span.get('judged')} features drift "
            f"({', '.join(drifted[:5])}{', ...' if len(drifted) > 5 else ''})"
        )
    requests = int(span.get("requests") or 0)
    errors = int(span.get("errors") or 0)
    if requests and errors / requests >= thresholds.error_rate:
        reasons.append(f"{errors} of {requests} requests failed ({errors / requests:.0%})")
    return reasons


# ---------------------------------------------------------------------- pulling
@dataclass
class BackendPull:
    uid: str
    ref: str
    new_windows: int = 0
    error: str | None = None

    def to_json(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


@dataclass
class PullResult:
    host: str
    service: str
    ref: str | None  # the version serving now
    new_windows: int
    backends: list[BackendPull]
    span: dict[str, Any] | None
    thresholds: Thresholds
    alert: dict[str, Any]
    alert_changed: bool
    metrics: dict[str, float] | None
    at: float = field(default_factory=time.time)

    @property
    def address(self) -> str:
        return f"{self.service}@{self.host}"

    def summary(self) -> str:
        """A line for a person: what came in, how much drifts, any alert."""
        new = self.new_windows
        parts = [f"{self.address} ({self.ref or 'nothing serving'}): {new} new window{_s(new)}."]
        span = self.span
        if span is None:
            parts.append("No windows stored yet (send it some traffic).")
        else:
            count = span["windows"]
            parts.append(
                f"Last {count} window{_s(count)}: {span['rows']} rows, "
                f"{span['requests']} requests, {span['errors']} failed;"
            )
            drifted = span.get("drifted") or []
            if span.get("reason"):
                parts.append(span["reason"] + ".")
            elif span.get("drift_share") is None:
                parts.append(f"too few rows to judge drift (min_rows {self.thresholds.min_rows}).")
            elif drifted:
                parts.append(
                    f"{len(drifted)} of {span['judged']} features drift: {', '.join(drifted)}."
                )
            else:
                parts.append(f"no drift in {span['judged']} features.")
        for backend in self.backends:
            if backend.error:
                parts.append(f"({backend.ref}: {backend.error})")
        if self.alert:
            parts.append("ALERT: " + "; ".join(self.alert.get("reasons") or []))
        return " ".join(parts)

    def to_json(self) -> dict[str, Any]:
        return {
            "host": self.host,
            "service": self.service,
            "ref": self.ref,
            "new_windows": self.new_windows,
            "backends": [b.to_json() for b in self.backends],
            "span": self.span,
            "thresholds": self.thresholds.to_json(),
            "alert": self.alert or None,
            "alert_changed": self.alert_changed,
            "metrics": self.metrics,
        }


class Monitor:
    """Pulls one service's windows; keeps its SSH session open between pulls.

    ``pull()`` may be called from a worker thread (one at a time); ``close()``
    ends the session. A failed connection is dropped and opened again on the
    next pull, so a host that comes back is picked up without a restart.
    """

    def __init__(
        self,
        registry: Registry,
        address: str,
        *,
        secrets: SecretStore | None = None,
        prompt: SecretPrompt | None = None,
        options: DriftOptions | None = None,
    ) -> None:
        from app.deploy.service import is_swarm, parse_address

        self.registry = registry
        self.service, self.host = parse_address(address)
        self.registry.get_host(self.host)  # NotFoundError in words when unknown
        if is_swarm(registry, self.host, self.service):
            raise MonitorError(
                f"{self.service} on {self.host} runs as a Docker Swarm service; monitoring "
                "reads the windows of plain deployments only for now",
                hint="deploy it without --swarm to monitor it",
            )
        self.secrets = secrets
        self.prompt = prompt
        self.options = options or DriftOptions()
        self._stack: contextlib.ExitStack | None = None
        self._session: SSHSession | None = None
        self._remote: docker.DockerClient | None = None
        self._references: dict[str, Reference | None] = {}

    @property
    def address(self) -> str:
        return f"{self.service}@{self.host}"

    def __enter__(self) -> Monitor:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    def close(self) -> None:
        stack, self._stack, self._session, self._remote = self._stack, None, None, None
        if stack is not None:
            with contextlib.suppress(Exception):
                stack.close()

    def _connect(self) -> tuple[SSHSession, docker.DockerClient]:
        if self._session is not None and self._remote is not None:
            if self._session.transport.is_active():
                return self._session, self._remote
            self.close()
        from app.deploy.service import host_docker

        stack = contextlib.ExitStack()
        try:
            host = self.registry.get_host(self.host)
            session, remote, _ = stack.enter_context(host_docker(host, self.secrets, self.prompt))
        except BaseException:
            stack.close()
            raise
        self._stack, self._session, self._remote = stack, session, remote
        return session, remote

    def reference_for(self, deployment: DeploymentInfo) -> Reference | None:
        """The reference of the version a deployment runs (cached per version)."""
        return self._reference(deployment.ref)

    def _reference(self, ref: str) -> Reference | None:
        if ref not in self._references:
            self._references[ref] = reference_of(self.registry, ref, self.options)
        return self._references[ref]

    def pull(self, *, thresholds: Thresholds | None = None) -> PullResult:
        """Fetch and store every window the service's backends hold that is not stored yet,
        then judge the span of the newest windows against the thresholds."""
        from app.deploy import host as on_host
        from app.deploy.service import token_entry

        thresholds = thresholds or thresholds_of(self.registry, self.host, self.service)
        try:
            session, remote = self._connect()
            state = on_host.read_services(remote).get(self.service)
        except ModelbayError:
            self.close()
            raise
        except Exception as exc:  # the session died under us: words, and reconnect next time
            self.close()
            raise MonitorError(
                f"lost the connection to {self.host} while reading {self.service}: {exc}",
                hint="the next pull connects again",
            ) from exc
        if state is None:
            raise MonitorError(
                f"nothing runs as {self.service} on {self.host}",
                hint="`modelbay deployments` lists what runs where",
            )
        current = state.current
        pulls: list[BackendPull] = []
        for backend in sorted(
            state.backends, key=lambda b: b.uid != (current.uid if current else "")
        ):
            if backend.state != "running":
                continue
            try:
                row = self.registry.deployment(backend.uid)
            except NotFoundError:
                continue  # not one of ours (reconcile reports it)
            outcome = BackendPull(backend.uid, backend.ref)
            pulls.append(outcome)
            token = on_host.token_of(backend.container)
            try:
                outcome.new_windows = self._pull_backend(session, backend, row, token)
            except MonitorError as exc:
                outcome.error = exc.message
        metrics = None
        if state.port is not None:
            token = (
                self.secrets.get(token_entry(self.host, self.service))
                if (state.public and self.secrets is not None)
                else None
            )
            metrics = on_host.read_metrics(session, state.port, token=token)
        span = self.span(thresholds)
        ref = current.ref if current else None
        alert, changed = self._judge(span, thresholds, current)
        return PullResult(
            host=self.host,
            service=self.service,
            ref=ref,
            new_windows=sum(p.new_windows for p in pulls),
            backends=pulls,
            span=span,
            thresholds=thresholds,
            alert=alert,
            alert_changed=changed,
            metrics=metrics,
        )

    def _pull_backend(
        self, session: SSHSession, backend: Any, row: DeploymentInfo, token: str | None
    ) -> int:
        from app.deploy import host as on_host

        address = on_host.container_ip(backend.container)
        if not address:
            raise MonitorError(f"{backend.name} has no address on the {on_host.NETWORK} network")
        reference = self.reference_for(row)
        added = 0
        while True:
            since = self.registry.last_window_seq(row.uid)
            answer = _get_windows(session, address, -1 if since is None else since, token)
            windows = answer.get("windows") or []
            seconds = float(answer.get("window_seconds") or 60.0)
            added += self.registry.add_windows(
                row.uid, [_new_window(w, seconds, reference) for w in windows]
            )
            if len(windows) < PAGE:
                return added

    def span(self, thresholds: Thresholds) -> dict[str, Any] | None:
        """The drift of the newest windows pooled (see :func:`newest_span`)."""
        found = newest_span(self.registry, self.host, self.service, thresholds, self._reference)
        return None if found is None else found.drift

    def _judge(
        self, span: dict[str, Any] | None, thresholds: Thresholds, current: Any
    ) -> tuple[dict[str, Any], bool]:
        _, before = self.registry.monitor_settings(self.host, self.service)
        reasons = alert_reasons(span, thresholds) if span else []
        ref = (current.model, current.version) if current is not None else None
        if reasons:
            alert = {
                "reasons": reasons,
                "since": before.get("since") or dt.datetime.now(dt.UTC).isoformat(),
                "ref": f"{ref[0]}:{ref[1]}" if ref else None,
            }
            if not before:  # crossing now: mark the service and log it once
                self.registry.set_monitor_alert(self.host, self.service, alert, ref=ref)
            return alert, not before
        if before:
            self.registry.set_monitor_alert(self.host, self.service, {}, ref=ref)
            return {}, True
        return {}, False


def reference_of(
    registry: Registry, ref: str, options: DriftOptions | None = None
) -> Reference | None:
    """The version's reference, prepared; None when it has no reference data."""
    profile = None
    with contextlib.suppress(NotFoundError):
        profile = registry.reference_profile(ref)
    return Reference(profile, options) if profile else None


@dataclass(frozen=True)
class Span:
    """The newest windows of the version serving them, pooled, and their drift."""

    ref: str
    pooled: dict[str, Any]
    reference: Reference | None
    drift: dict[str, Any]  # drift_of's document, or the counts and why there is no verdict


def newest_span(
    registry: Registry,
    host: str,
    service: str,
    thresholds: Thresholds,
    reference: Callable[[str], Reference | None] | None = None,
) -> Span | None:
    """The newest ``thresholds.span`` stored windows of the service, pooled: those of the
    version that served the newest one (other versions' windows are left out), judged
    against its reference (``reference(ref)``, default :func:`reference_of`)."""
    newest = registry.monitor_windows(host, service, newest=thresholds.span, with_data=True)
    if not newest:
        return None
    last = newest[-1]
    mine = [w for w in newest if w.uid == last.uid]
    pooled = pool([w.data or {} for w in mine])
    prepared = (reference or (lambda ref: reference_of(registry, ref)))(last.ref)
    base = {
        "windows": len(mine),
        "from": mine[0].started_at.isoformat(),
        "to": last.ended_at.isoformat(),
        "ref": last.ref,
    }
    if prepared is None:
        drift = {
            **base,
            **{key: pooled[key] for key in ("rows", "requests", "errors")},
            "drift_share": None,
            "drifted": [],
            "judged": 0,
            "features": {},
            "reason": f"{last.ref} has no reference data (modelbay reference {last.ref} DATA)",
        }
    else:
        drift = {**base, **drift_of(prepared, pooled, min_rows=thresholds.min_rows)}
    return Span(ref=last.ref, pooled=pooled, reference=prepared, drift=drift)


def _get_windows(
    session: SSHSession, address: str, since: int, token: str | None
) -> dict[str, Any]:
    import paramiko

    from app.deploy import host as on_host

    path = f"/monitoring/windows?since={since}&limit={PAGE}"
    try:
        status, body = on_host.http_get(
            session,
            address,
            on_host.SERVER_PORT,
            path,
            timeout=20,
            token=token,
            max_bytes=256 << 20,
        )
    except (OSError, EOFError, paramiko.SSHException, http.client.HTTPException) as exc:
        raise MonitorError(f"could not read its windows: {exc or type(exc).__name__}") from exc
    if status == 404:
        raise MonitorError(
            "monitoring is off in this container (started with MODELBAY_MONITORING=0)",
            hint="deploy again without that setting to record windows",
        )
    if status in (401, 403):
        raise MonitorError("the service refused the token Modelbay holds for it")
    if status != 200:
        raise MonitorError(f"its /monitoring/windows answered HTTP {status}")
    try:
        answer = json.loads(body)
    except ValueError as exc:
        raise MonitorError(f"its /monitoring/windows answer is not JSON ({exc})") from exc
    if not isinstance(answer, dict) or not isinstance(answer.get("windows", []), list):
        raise MonitorError("its /monitoring/windows answer has no list of windows")
    return answer


def _new_window(
    window: Mapping[str, Any], seconds: float, reference: Reference | None
) -> NewWindow:
    from app.registry.monitoring import NewWindow

    try:
        seq = int(window["seq"])
        start = float(window.get("start", seq * seconds))
    except (KeyError, TypeError, ValueError) as exc:
        raise MonitorError(f"a window in the answer has no valid seq/start ({exc})") from exc
    data = {
        key: window.get(key)
        for key in ("features", "predictions", "sample", "sample_predictions", "sampled_from")
        if key in window
    }
    counted = {key: int(window.get(key) or 0) for key in ("rows", "requests", "errors")}
    data.update(counted)
    drift = drift_of(reference, data) if reference is not None else None
    return NewWindow(
        seq=seq,
        started_at=dt.datetime.fromtimestamp(start, dt.UTC),
        seconds=float(window.get("end", start + seconds)) - start,
        requests=counted["requests"],
        rows=counted["rows"],
        errors=counted["errors"],
        data=data,
        drift=drift,
    )


def watch(
    monitor: Monitor,
    *,
    interval: float,
    on_result: Callable[[PullResult], None],
    on_error: Callable[[ModelbayError], None],
    stop: Callable[[], bool],
    sleep: Callable[[float], None] = time.sleep,
) -> None:
    """Pull every ``interval`` seconds until ``stop()``; a failed pull is reported and retried."""
    while not stop():
        try:
            on_result(monitor.pull())
        except ModelbayError as exc:
            on_error(exc)
        waited = 0.0
        while waited < interval and not stop():
            step = min(0.5, interval - waited)
            sleep(step)
            waited += step


def live_services(registry: Registry) -> list[str]:
    """SERVICE@HOST of every service serving now (a live deployment) that can be monitored:
    Swarm services are left out, as :class:`Monitor` refuses them."""
    live = registry.deployments(statuses=["live"])
    return sorted({row.address for row in live if not row.settings.get("swarm")})


@dataclass
class Round:
    """One pull of every live service: what came back, and what failed, per service."""

    results: list[PullResult] = field(default_factory=list)
    errors: dict[str, ModelbayError] = field(default_factory=dict)

    @property
    def alerting(self) -> list[str]:
        return [r.address for r in self.results if r.alert]


def pull_all(
    registry: Registry,
    *,
    secrets: SecretStore | None = None,
    prompt: SecretPrompt | None = None,
    skip: Sequence[str] = (),
    stop: Callable[[], bool] = lambda: False,
) -> Round:
    """Pull every live service once (but those in ``skip``), one SSH session each, closed
    afterwards. A service that fails (host down, a secret needed and no ``prompt``) is
    reported in ``errors`` and the others are still pulled. Alerts that begin or end are
    recorded by each pull, as ``modelbay monitor`` does."""
    done = Round()
    for address in live_services(registry):
        if address in skip:
            continue
        if stop():
            break
        try:
            with Monitor(registry, address, secrets=secrets, prompt=prompt) as monitor:
                done.results.append(monitor.pull())
        except ModelbayError as exc:
            done.errors[address] = exc
    return done


# ---------------------------------------------------------------------- export
def iter_rows(windows: Sequence[WindowInfo]) -> Iterator[dict[str, Any]]:
    """One row per window and feature: what the CSV export holds."""
    for window in windows:
        drift = window.drift or {}
        base = {
            "start": window.started_at.isoformat(),
            "seconds": window.seconds,
            "version": window.ref,
            "requests": window.requests,
            "rows": window.rows,
            "errors": window.errors,
            "drift_share": drift.get("drift_share"),
        }
        features = drift.get("features") or {}
        if not features:
            yield {**base, "feature": None}
        for name, entry in features.items():
            yield {
                **base,
                "feature": name,
                "kind": entry.get("kind"),
                "test": entry.get("test"),
                "statistic": entry.get("statistic"),
                "p_value": entry.get("p_value"),
                "psi": entry.get("psi"),
                "js": entry.get("js"),
                "missing_rate": entry.get("missing_rate"),
                "drifted": entry.get("drifted"),
            }


EXPORT_COLUMNS = (
    *("start", "seconds", "version", "requests", "rows", "errors", "drift_share"),
    *("feature", "kind", "test", "statistic", "p_value", "psi", "js", "missing_rate", "drifted"),
)


def export_csv(registry: Registry, host: str, service: str, path: Path) -> int:
    """Write the service's stored windows (one row per window and feature) to ``path``,
    through a temporary file, so a failed export leaves no half file; rows written."""
    windows = registry.monitor_windows(host, service)
    temporary = path.with_name(f".{path.name}.partial")
    written = 0
    try:
        with temporary.open("w", newline="", encoding="utf-8") as out:
            writer = csv.DictWriter(out, fieldnames=EXPORT_COLUMNS, extrasaction="ignore")
            writer.writeheader()
            for row in iter_rows(windows):
                writer.writerow(row)
                written += 1
        temporary.replace(path)
    except OSError as exc:
        temporary.unlink(missing_ok=True)
        raise InvalidInputError(
            f"could not write {path}: {exc.strerror or exc}",
            hint="choose a folder you can write to",
        ) from exc
    return written
