"""The heartbeat instrument sees a frozen event loop, and stays quiet on an idle one.

The thresholds are loose on purpose: these tests check what the instrument
detects, not how fast the machine is.
"""

from __future__ import annotations

import time

import pytest
from pytestqt.qtbot import QtBot

from tests.ui.heartbeat import Heartbeat, percentile


def test_a_blocked_gui_thread_shows_up_as_a_stall(qtbot: QtBot) -> None:
    from PySide6.QtCore import QTimer

    beat = Heartbeat()
    beat.start()
    QTimer.singleShot(50, lambda: time.sleep(0.2))  # freeze the GUI thread for 200 ms
    qtbot.wait(400)
    beat.stop()
    assert beat.longest_stall_ms >= 150, beat.summary()
    [stall] = beat.stalls(over_ms=150)
    assert stall.stall_ms == pytest.approx(beat.longest_stall_ms)
    assert stall.gui_cpu_ms < 100  # it slept: a waiting GUI thread, not a busy one
    assert stall.gui_blocked_ms is None or stall.gui_blocked_ms >= 50
    assert beat.percentile_gap_ms(100) == pytest.approx(beat.longest_gap_ms)


def test_a_busy_gui_thread_is_told_from_a_sleeping_one(qtbot: QtBot) -> None:
    from PySide6.QtCore import QTimer

    def spin() -> None:
        until = time.perf_counter() + 0.2
        while time.perf_counter() < until:
            pass

    beat = Heartbeat()
    beat.start()
    QTimer.singleShot(50, spin)  # keep the GUI thread computing for 200 ms
    qtbot.wait(400)
    beat.stop()
    [stall] = beat.stalls(over_ms=150)
    # running, or ready to run on a machine busy with other work: not asleep
    assert stall.gui_cpu_ms + (stall.gui_queued_ms or 0) >= 100, stall


def test_an_idle_event_loop_keeps_ticking(qtbot: QtBot) -> None:
    beat = Heartbeat()
    beat.start()
    running_while_started = beat.running
    qtbot.wait(300)
    beat.stop()
    assert running_while_started
    assert not beat.running
    assert beat.ticks > 10, beat.summary()
    ticks = beat.ticks
    qtbot.wait(50)
    assert beat.ticks == ticks  # stopped means stopped


def test_percentiles_interpolate_between_ranks() -> None:
    assert percentile([], 99) == 0.0
    assert percentile([5.0], 99) == 5.0
    assert percentile([4.0, 1.0, 3.0, 2.0], 0) == 1.0
    assert percentile([4.0, 1.0, 3.0, 2.0], 100) == 4.0
    assert percentile([1.0, 2.0, 3.0, 4.0, 5.0], 50) == 3.0
    assert percentile([0.0, 10.0], 25) == pytest.approx(2.5)
