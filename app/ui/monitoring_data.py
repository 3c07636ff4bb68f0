"""What the Monitoring panel plots, as numpy columns: read from the registry off the GUI thread.

Stored windows (:meth:`Registry.monitor_windows`) become a :class:`WindowBlock`:
one float column per plotted series (drift score per feature, traffic per
window, prediction quantiles or label shares), all the same length, with a
row of NaN wherever time has a hole (the service was down, the desktop could
not reach it), so every curve shows a gap there instead of a line across it.
The GUI appends blocks to :class:`Columns`, preallocated arrays whose views
go straight to ``setData``.

No Qt here: the blocks are built in the background jobs of the panel.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from app.monitor.live import Reference, Thresholds
    from app.registry import Registry
    from app.registry.monitoring import WindowInfo

MAX_POINTS = 200_000
"""Windows a service keeps in memory: 2.3 days of 1-second windows, 139 days of minutes.
Older ones stay in the registry (and in the CSV export); the plots start later."""
GAP_FACTOR = 2.5
"""A hole longer than this many windows between two windows is drawn as a gap."""
TIME = "t"
DRIFT = "drift:"
LABEL = "label:"
QUANTILES = ("p10", "p50", "p90")


# ---------------------------------------------------------------------- blocks
@dataclass
class WindowBlock:
    """Stored windows as columns of equal length (gap rows included)."""

    columns: dict[str, Any]
    windows: int
    features: list[str] = field(default_factory=list)
    family: str | None = None
    threshold: float | None = None
    last: tuple[dt.datetime, float, frozenset[int]] | None = None
    """(start of the newest window, its seconds, the ids of the windows starting then)."""

    @property
    def rows(self) -> int:
        return len(self.columns[TIME])


def block_of(
    windows: Sequence[WindowInfo], after: tuple[dt.datetime, float, frozenset[int]] | None = None
) -> WindowBlock:
    """The columns of ``windows`` (oldest first) that come after ``after`` (what the panel
    already holds: the newest start, its length, the ids starting then)."""
    from app.monitor.live import score

    if after is not None:
        start, _seconds, ids = after
        windows = [w for w in windows if w.started_at > start or w.id not in ids]
        windows = [w for w in windows if w.started_at >= start]
    times: list[float] = []
    rows: list[dict[str, float]] = []
    features: list[str] = []
    seen: set[str] = set()
    family = threshold = None
    previous = (after[0].timestamp(), after[1]) if after is not None else None
    for window in windows:
        moment = window.started_at.timestamp()
        if previous is not None and moment - previous[0] > GAP_FACTOR * max(previous[1], 1e-3):
            times.append(previous[0] + previous[1])  # a hole: every curve breaks here
            rows.append({})
        seconds = window.seconds if window.seconds > 0 else 1.0
        row = {
            "requests_per_s": window.requests / seconds,
            "errors_per_s": window.errors / seconds,
            "rows": float(window.rows),
        }
        drift = window.drift or {}
        family = drift.get("family", family)
        threshold = drift.get("threshold", threshold)
        for name, entry in (drift.get("features") or {}).items():
            if name not in seen:
                seen.add(name)
                features.append(name)
            row[DRIFT + name] = score(entry)
        row.update(_predictions(drift.get("predictions")))
        times.append(moment)
        rows.append(row)
        previous = (moment, seconds)
    keys = {key for row in rows for key in row}
    columns: dict[str, Any] = {TIME: np.asarray(times, dtype=np.float64)}
    for key in sorted(keys):
        columns[key] = np.asarray([row.get(key, math.nan) for row in rows], dtype=np.float64)
    last = after
    if windows:
        newest = windows[-1].started_at
        ids = frozenset(w.id for w in windows if w.started_at == newest)
        if after is not None and after[0] == newest:
            ids |= after[2]
        last = (newest, windows[-1].seconds, ids)
    return WindowBlock(
        columns=columns,
        windows=len(windows),
        features=features,
        family=family,
        threshold=threshold,
        last=last,
    )


def _predictions(summary: Mapping[str, Any] | None) -> dict[str, float]:
    if not summary:
        return {}
    if summary.get("kind") == "numeric":
        return {key: float(summary[key]) for key in QUANTILES if summary.get(key) is not None}
    shares = summary.get("shares") or {}
    return {LABEL + str(label): float(share) for label, share in shares.items()}


# ---------------------------------------------------------------------- columns
class Columns:
    """Float columns of one length, preallocated and grown by doubling; read as views.

    Appending a block writes into the spare room (no copy of what is there); past
    ``limit`` rows the oldest quarter is dropped in one move, so a service that
    runs for weeks costs bounded memory and amortised constant time per window.
    """

    def __init__(self, capacity: int = 1024, limit: int = MAX_POINTS) -> None:
        self.limit = limit
        self.capacity = capacity
        self.length = 0
        self.dropped = 0  # rows dropped from the front so far (row indices moved by that)
        self.arrays: dict[str, Any] = {TIME: np.empty(capacity)}

    def __len__(self) -> int:
        return self.length

    def __contains__(self, key: str) -> bool:
        return key in self.arrays

    def keys(self) -> list[str]:
        return list(self.arrays)

    def view(self, key: str) -> Any:
        """The column's values so far (a view: valid until the next append)."""
        found = self.arrays.get(key)
        if found is None:
            return np.full(self.length, np.nan)
        return found[: self.length]

    @property
    def times(self) -> Any:
        return self.arrays[TIME][: self.length]

    def last_time(self) -> float | None:
        return float(self.arrays[TIME][self.length - 1]) if self.length else None

    def clear(self) -> None:
        self.dropped += self.length
        self.length = 0

    def append(self, block: Mapping[str, Any]) -> None:
        count = len(block[TIME])
        if count == 0:
            return
        skip = max(0, count - self.limit)  # a block larger than the limit: its newest rows
        count -= skip
        if self.length + count > self.limit:
            keep = max(0, min(self.length, self.limit * 3 // 4 - count))
            for array in self.arrays.values():
                array[:keep] = array[self.length - keep : self.length]
            self.dropped += self.length - keep
            self.length = keep
        needed = self.length + count
        if needed > self.capacity:
            capacity = min(max(self.capacity * 2, needed), max(self.limit, needed))
            for key, array in self.arrays.items():
                grown = np.full(capacity, np.nan)
                grown[: self.length] = array[: self.length]
                self.arrays[key] = grown
            self.capacity = capacity
        for key, values in block.items():
            if key not in self.arrays:
                self.arrays[key] = np.full(self.capacity, np.nan)
            self.arrays[key][self.length : needed] = values[skip:]
        for key, array in self.arrays.items():
            if key not in block:
                array[self.length : needed] = np.nan
        self.length = needed


SETTLE_BUCKETS = 16
"""Complete buckets the newest part of a curve holds before they join its settled part."""


class PeakView:
    """Columns from one row on, reduced to the largest and smallest value of each bucket of
    ``bucket`` rows (pyqtgraph's "peak" downsampling), kept up to date as rows arrive, in
    two parts: the settled buckets and the newest ones.

    pyqtgraph reduces a curve's every visible point on each ``setData``: a day of 1-second
    windows is 86,400 points per curve, 20 curves, every second. Here a new window costs
    the reduction of its own bucket only, and a curve whose reduced points did not change
    (the new value lies within its bucket's range) needs no ``setData`` and no repaint.

    The plots draw the two parts as two items: a new window changes only the newest part
    (the incomplete bucket and up to ``settle`` complete ones before it, a strip a few
    dozen pixels wide at the right edge), so only that strip is painted again. Every
    ``settle`` complete buckets the newest part joins the settled one (one full repaint).
    With ``bucket`` 1 (fewer rows than pixel columns) every row is a bucket of one point.
    """

    def __init__(self, settle: int = SETTLE_BUCKETS) -> None:
        self.settle = max(1, settle)
        self.bucket = 0  # rows per bucket; 0: not built; 1: the rows as they are
        self.start = 0  # the row (in the columns) where the first bucket begins
        self.dropped = 0  # Columns.dropped when built: other values mean rows moved
        self.keys: list[str] = []
        self.done = 0  # complete buckets reduced
        self.settled = 0  # complete buckets in the settled part
        self.x: Any = np.empty(0)
        self.y: dict[str, Any] = {}
        self.tail: dict[str, tuple[float, float]] = {}
        self.tail_x = math.nan

    def stale(self, columns: Columns, keys: Sequence[str]) -> bool:
        return self.bucket == 0 or self.dropped != columns.dropped or list(keys) != self.keys

    def build(self, columns: Columns, keys: Sequence[str], start: int, bucket: int) -> None:
        """Reduce the rows from ``start`` on; every complete bucket is settled."""
        self.bucket, self.start, self.dropped = max(1, bucket), max(0, start), columns.dropped
        self.keys = list(keys)
        self.done = self.settled = 0
        self.x = np.empty(0)
        self.y = {key: np.empty(0) for key in self.keys}
        self.tail = {}
        self.tail_x = math.nan
        self.extend(columns)
        self.settled = self.done

    def extend(self, columns: Columns) -> tuple[set[str], set[str]]:
        """Reduce the rows that arrived since: (the keys whose settled points changed, the
        keys whose newest points changed)."""
        size, rows = self.bucket, len(columns)
        if size == 1:
            done, self.done = self.done, max(0, rows - self.start)
            return self._settle(set(self.keys) if self.done > done else set())
        full = max(0, (rows - self.start) // size)
        changed: set[str] = set()
        if full > self.done:
            low, high = self.start + self.done * size, self.start + full * size
            times = columns.times[low:high].reshape(-1, size)
            self.x = np.concatenate([self.x, np.repeat((times[:, 0] + times[:, -1]) / 2, 2)])
            for key in self.keys:
                block = columns.view(key)[low:high].reshape(-1, size)
                pairs = np.empty((len(block), 2))
                pairs[:, 0] = np.fmax.reduce(block, axis=1)  # NaN only where all are NaN
                pairs[:, 1] = np.fmin.reduce(block, axis=1)
                self.y[key] = np.concatenate([self.y[key], pairs.ravel()])
            self.done = full
            changed.update(self.keys)
        low = self.start + full * size
        if low < rows:
            self.tail_x = float((columns.times[low] + columns.times[rows - 1]) / 2)
            for key in self.keys:
                values = columns.view(key)[low:rows]
                tail = (float(np.fmax.reduce(values)), float(np.fmin.reduce(values)))
                if key in changed or not _same(tail, self.tail.get(key)):
                    changed.add(key)
                    self.tail[key] = tail
        elif self.tail:
            changed.update(self.tail)
            self.tail = {}
        return self._settle(changed)

    def _settle(self, changed: set[str]) -> tuple[set[str], set[str]]:
        if self.done - self.settled < self.settle:
            return set(), changed
        self.settled = self.done
        return set(self.keys), set(self.keys)

    def _points(self, buckets: int) -> int:
        return buckets if self.bucket == 1 else 2 * buckets

    def settled_data(self, columns: Columns, key: str) -> tuple[Any, Any]:
        """The points of the settled buckets of ``key``."""
        end = self._points(self.settled)
        if self.bucket == 1:
            rows = slice(self.start, self.start + end)
            return columns.times[rows], columns.view(key)[rows]
        return self.x[:end], self.y[key][:end]

    def newest_data(self, columns: Columns, key: str) -> tuple[Any, Any]:
        """The points after the settled ones of ``key``, from the last settled point on (the
        two parts join there)."""
        first = max(0, self._points(self.settled) - 1)
        if self.bucket == 1:
            rows = slice(self.start + first, len(columns))
            return columns.times[rows], columns.view(key)[rows]
        x, y = self.x[first:], self.y[key][first:]
        tail = self.tail.get(key)
        if tail is None:
            return x, y
        return np.append(x, (self.tail_x, self.tail_x)), np.append(y, tail)

    def data(self, columns: Columns, key: str) -> tuple[Any, Any]:
        """All the points to draw for ``key``."""
        x, y = self.settled_data(columns, key)
        newer_x, newer_y = self.newest_data(columns, key)
        skip = 1 if len(x) else 0  # the point where the two parts join
        return np.concatenate([x, newer_x[skip:]]), np.concatenate([y, newer_y[skip:]])


def _same(a: tuple[float, float], b: tuple[float, float] | None) -> bool:
    if b is None:
        return False
    return all(x == y or (math.isnan(x) and math.isnan(y)) for x, y in zip(a, b, strict=True))


# ---------------------------------------------------------------------- reading the registry
@dataclass
class History:
    """Everything the panel shows of a service, read in one background job."""

    host: str
    service: str
    block: WindowBlock
    thresholds: Thresholds
    alert: dict[str, Any]
    span: dict[str, Any] | None
    reference: Reference | None
    pooled: dict[str, Any] | None
    ref: str | None
    """The version of the newest window (whose reference the histogram shows)."""
    serving: str | None
    """The version of the newest deployment, with its status (``iris:2, live``)."""


@dataclass
class Newer:
    """What a pull stored after the windows the panel holds, and the span's current data."""

    block: WindowBlock
    span: tuple[dict[str, Any] | None, Reference | None, dict[str, Any] | None, str | None]


def read_history(
    registry: Registry, host: str, service: str, *, limit: int = MAX_POINTS
) -> History:
    """The stored windows of ``service`` on ``host`` (the newest ``limit``), its thresholds,
    alert state, and the pooled newest span against its reference."""
    from app.monitor.live import Thresholds

    stored, alert = registry.monitor_settings(host, service)
    thresholds = Thresholds.from_json(stored)
    windows = registry.monitor_windows(host, service, newest=limit)
    span, reference, pooled, ref = newest_span(registry, host, service, thresholds)
    newest = registry.deployments(host=host, service=service, limit=1)
    return History(
        host=host,
        service=service,
        block=block_of(windows),
        thresholds=thresholds,
        alert=alert,
        span=span,
        reference=reference,
        pooled=pooled,
        ref=ref,
        serving=f"{newest[0].ref}, {newest[0].status}" if newest else None,
    )


def read_newer(
    registry: Registry,
    host: str,
    service: str,
    after: tuple[dt.datetime, float, frozenset[int]] | None,
    thresholds: Thresholds,
) -> Newer:
    since = after[0] if after is not None else None
    windows = registry.monitor_windows(host, service, since=since)
    return Newer(block_of(windows, after), newest_span(registry, host, service, thresholds))


def newest_span(
    registry: Registry, host: str, service: str, thresholds: Thresholds
) -> tuple[dict[str, Any] | None, Reference | None, dict[str, Any] | None, str | None]:
    """(the span's drift, the reference, the span's pooled data, the version), as
    :meth:`Monitor.span` pools it (:func:`app.monitor.live.newest_span`)."""
    from app.monitor import live

    found = live.newest_span(registry, host, service, thresholds)
    if found is None:
        return None, None, None, None
    span = found.drift if found.reference is not None else None
    return span, found.reference, found.pooled, found.ref


# ---------------------------------------------------------------------- traffic from /metrics
@dataclass(frozen=True)
class LiveTraffic:
    """Traffic between two pulls, from the service's cumulative /metrics counters."""

    at: float
    per_second: float
    error_share: float | None
    latency_ms: float | None


def traffic_between(
    before: tuple[str | None, float, Mapping[str, float]] | None,
    now: tuple[str | None, float, Mapping[str, float]],
) -> LiveTraffic | None:
    """(version, time, counters) twice -> the traffic between; None when the counters of
    another version, or of a restarted one (they went down), are compared."""
    if before is None or before[0] != now[0]:
        return None
    seconds = now[1] - before[1]
    delta = {key: float(now[2].get(key, 0.0)) - float(before[2].get(key, 0.0)) for key in now[2]}
    requests = delta.get("requests", 0.0)
    if seconds <= 0 or requests < 0:
        return None
    count = delta.get("latency_count", 0.0)
    return LiveTraffic(
        at=now[1],
        per_second=requests / seconds,
        error_share=delta.get("errors", 0.0) / requests if requests > 0 else None,
        latency_ms=1000 * delta.get("latency_sum", 0.0) / count if count > 0 else None,
    )
