"""A heartbeat on the Qt GUI thread: how long does the event loop stop answering?

A :class:`Heartbeat` runs a precise ``QTimer`` every few milliseconds and
records, with ``time.perf_counter()``, the gap between consecutive ticks. While
the event loop is free each gap is about one interval; whenever something
blocks the GUI thread (a query, a long slot, a layout of thousands of rows, a
worker thread holding the GIL) the next tick comes late, and the gap minus the
interval is how long the window was frozen::

    beat = Heartbeat()
    beat.start()
    ...  # run the event loop while the app does its work
    beat.stop()
    print(beat.ticks, beat.longest_stall_ms, beat.percentile_gap_ms(99))

It measures only while the event loop runs: time spent before ``start()`` or
outside any event loop (e.g. constructing a window before ``exec()``) shows up
as one long gap only if it happens between two ticks.

Each tick also reads the clocks of the GUI thread, so a :class:`Stall` says
where the time went: the GUI thread running (a slow slot, a big layout), ready
to run but waiting for a free CPU (a machine busy with other work; Linux only,
from ``/proc/thread-self/schedstat``), or neither: asleep, on the GIL held by a
worker thread, on a lock, or on I/O.
"""

from __future__ import annotations

import math
import os
import time
from typing import TYPE_CHECKING, NamedTuple

if TYPE_CHECKING:
    from PySide6.QtCore import QObject, QTimer

DEFAULT_INTERVAL_MS = 5
_SCHEDSTAT = "/proc/thread-self/schedstat"  # on-CPU ns, run-queue wait ns, time slices


class Stall(NamedTuple):
    """One late tick: when it came, how long the loop was stuck, and where the time went."""

    ended_s: float
    """Seconds after ``start()`` at which the late tick came."""
    stall_ms: float
    """The gap minus the interval."""
    gui_cpu_ms: float
    """The GUI thread running on a CPU during the gap."""
    gui_queued_ms: float | None
    """The GUI thread ready to run but waiting for a CPU (None where the OS does not say)."""
    process_cpu_ms: float
    """All threads of the process running on a CPU during the gap."""

    @property
    def gui_blocked_ms(self) -> float | None:
        """Neither running nor queued: asleep on the GIL, a lock or I/O (about; None if unknown)."""
        if self.gui_queued_ms is None:
            return None
        return max(0.0, self.stall_ms - self.gui_cpu_ms - self.gui_queued_ms)


class Heartbeat:
    """Measures GUI event-loop stalls from the gaps between the ticks of a precise timer.

    A QApplication (or QCoreApplication) must exist. ``start()`` clears what an
    earlier run recorded, so one instance can measure several phases in turn.
    """

    def __init__(self, interval_ms: int = DEFAULT_INTERVAL_MS, parent: QObject | None = None):
        from PySide6.QtCore import Qt, QTimer

        if interval_ms <= 0:
            raise ValueError(f"the interval must be positive, not {interval_ms} ms")
        self.interval_ms = interval_ms
        self._timer: QTimer = QTimer(parent)
        self._timer.setTimerType(Qt.TimerType.PreciseTimer)
        self._timer.setInterval(interval_ms)
        self._timer.timeout.connect(self._tick)
        self._started_at: float | None = None
        self._stopped_at: float | None = None
        self._last: float | None = None
        self._gaps: list[float] = []  # seconds between consecutive ticks
        self._ends: list[float] = []  # perf_counter() at the tick that closed each gap
        self._schedstat: int | None = None  # the GUI thread's schedstat, open while running
        self._clocks = (0.0, 0.0, 0.0)  # at the last tick: see _read_clocks
        self._spent: list[tuple[float, float, float]] = []  # the clocks' advance in each gap

    # ------------------------------------------------------------------ control
    def start(self) -> None:
        """Forget earlier measurements and start ticking (the first gap starts now)."""
        self._gaps.clear()
        self._ends.clear()
        self._spent.clear()
        if self._schedstat is None:
            try:  # opened on the GUI thread, so it keeps describing this thread
                self._schedstat = os.open(_SCHEDSTAT, os.O_RDONLY)
            except OSError:
                self._schedstat = None
        self._clocks = self._read_clocks()
        self._started_at = time.perf_counter()
        self._stopped_at = None
        self._last = self._started_at
        self._timer.start()

    def stop(self) -> None:
        """Stop ticking; the measurements stay readable until the next ``start()``."""
        self._timer.stop()
        if self._started_at is not None and self._stopped_at is None:
            self._stopped_at = time.perf_counter()
        if self._schedstat is not None:
            os.close(self._schedstat)
            self._schedstat = None

    @property
    def running(self) -> bool:
        return self._timer.isActive()

    def _read_clocks(self) -> tuple[float, float, float]:
        """(GUI thread CPU s, GUI thread run-queue wait s or NaN, process CPU s)."""
        queued = float("nan")
        if self._schedstat is not None:
            try:
                queued = int(os.pread(self._schedstat, 100, 0).split()[1]) / 1e9
            except (OSError, IndexError, ValueError):
                queued = float("nan")
        return time.thread_time(), queued, time.process_time()

    def _tick(self) -> None:
        now = time.perf_counter()
        clocks = self._read_clocks()
        if self._last is not None:
            self._gaps.append(now - self._last)
            self._ends.append(now)
            self._spent.append(
                (
                    clocks[0] - self._clocks[0],
                    clocks[1] - self._clocks[1],
                    clocks[2] - self._clocks[2],
                )
            )
        self._last = now
        self._clocks = clocks

    # ------------------------------------------------------------------ results
    @property
    def ticks(self) -> int:
        """How many times the timer fired since ``start()``."""
        return len(self._gaps)

    @property
    def duration_s(self) -> float:
        """Seconds from ``start()`` to ``stop()`` (or to now while running); 0 before start."""
        if self._started_at is None:
            return 0.0
        end = self._stopped_at if self._stopped_at is not None else time.perf_counter()
        return end - self._started_at

    @property
    def gaps_ms(self) -> list[float]:
        """Every gap between consecutive ticks, in milliseconds, in the order they happened."""
        return [gap * 1000 for gap in self._gaps]

    @property
    def longest_gap_ms(self) -> float:
        """The largest gap between two ticks (0 with fewer than one tick)."""
        return max(self._gaps, default=0.0) * 1000

    @property
    def longest_stall_ms(self) -> float:
        """How long the event loop was unresponsive at worst: the largest gap minus the interval.

        Never negative; 0 when the timer has not fired yet.
        """
        return max(0.0, self.longest_gap_ms - self.interval_ms) if self._gaps else 0.0

    def percentile_gap_ms(self, percent: float) -> float:
        """The ``percent``-th percentile (0-100) of the gaps in ms, linearly interpolated.

        0 when nothing was recorded. ``percentile_gap_ms(50)`` is the median
        gap, ``percentile_gap_ms(100)`` equals :attr:`longest_gap_ms`.
        """
        if not 0 <= percent <= 100:
            raise ValueError(f"a percentile lies between 0 and 100, not {percent}")
        return percentile(self.gaps_ms, percent)

    def stalls(self, over_ms: float) -> list[Stall]:
        """Every stall longer than ``over_ms``, in the order they happened."""
        if self._started_at is None:
            return []
        start, interval = self._started_at, self.interval_ms
        return [
            Stall(
                ended_s=end - start,
                stall_ms=gap * 1000 - interval,
                gui_cpu_ms=cpu * 1000,
                gui_queued_ms=None if math.isnan(queued) else queued * 1000,
                process_cpu_ms=process * 1000,
            )
            for gap, end, (cpu, queued, process) in zip(
                self._gaps, self._ends, self._spent, strict=True
            )
            if gap * 1000 - interval > over_ms
        ]

    def summary(self) -> str:
        """One line for a log or a failing assertion."""
        return (
            f"{self.ticks} ticks in {self.duration_s:.2f} s, longest stall "
            f"{self.longest_stall_ms:.1f} ms, p99 gap {self.percentile_gap_ms(99):.1f} ms"
        )


def percentile(values: list[float], percent: float) -> float:
    """The ``percent``-th percentile of ``values`` (linear between closest ranks); 0 if empty."""
    if not values:
        return 0.0
    ordered = sorted(values)
    rank = (len(ordered) - 1) * percent / 100
    low = int(rank)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)
