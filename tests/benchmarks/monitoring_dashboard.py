"""monitoring_dashboard: does the Monitoring panel keep up with a live service?

In a child process per Qt platform (``offscreen``, and ``xcb`` on a real X
server: $DISPLAY, or an Xvfb started for the run), the real
:class:`~app.ui.monitoring_panel.MonitoringPanel` (1090 x 650, the size it has
in a 1280 x 800 main window) gets a day of history in its arrays: 86,400
one-second windows of 20 features (drift scores with a few drifting features
and 1 % of windows without a verdict, requests and errors per window,
prediction quantiles), appended as one block (the registry is not involved:
reading and decoding a day of stored windows is a background job, measured
here only as the one-off first draw). Then live updates, time-compressed: every
``--update-ms`` one new window (drawn from the same distributions as the day:
drift scores, Poisson traffic, noisy prediction quantiles, 1 % without a
verdict) is appended and drawn, as after each pull. Per update the benchmark
times the append, the ``setData`` of what changed (:meth:`Dashboard.redraw`)
and the paint it causes: the event loop's next two turns, run at once, in which
Qt delivers the scene's change and paints the changed part of the window (and
flushes it to the screen on xcb); the second catches what the first posted. An
update that changes nothing on screen paints nothing and is timed without a
paint: the user sees none. Paints that come after the timed turns are counted
("late paints"): if there are any, the figures miss them. The GUI thread's CPU
time per update is reported beside the wall time (the difference is time spent
waiting for a CPU on a busy machine).
Also per view: a full repaint of the plots (as when the window is uncovered),
and a 5 ms heartbeat on the GUI thread (tests/ui/heartbeat.py) records the
longest event-loop stall over the whole live phase.

Until 2026-11 a turn that did not paint was followed by a forced repaint of
the whole plot area, which timed a full repaint the user never sees (most
updates of the whole-day view); docs/drift.md has the figures of both.

Two views: the whole day on screen (worst case for drawing: every curve spans
all 86,400 windows, downsampled by peaks to the pixel columns), and the last
hour. The peer, in the same process: the same panel with its curves'
clipping, downsampling and incremental peak reduction switched off (naive
setData of every point), fewer updates (each one is slow).

Targets: under 16 ms per update (median and p95), no stall over 50 ms.

Rerun:  .venv/bin/python -m tests.benchmarks monitoring_dashboard [--updates N]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from tests.benchmarks._common import ROOT, VENV_BIN, print_header, print_table, verdict
from tests.benchmarks.gui_responsiveness import machine_load

TARGET_UPDATE_MS = 16.0
TARGET_STALL_MS = 50.0
PYTHON = VENV_BIN / "python"
PANEL_SIZE = (1090, 650)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("monitoring_dashboard")
    group.add_argument("--features", type=int, default=20, help="features (curves) in the plot")
    group.add_argument(
        "--history", type=int, default=86_400, help="windows of history (one a second: a day)"
    )
    group.add_argument("--updates", type=int, default=200, help="live updates measured per view")
    group.add_argument(
        "--naive-updates", type=int, default=15, help="live updates of the naive peer"
    )
    group.add_argument(
        "--update-ms",
        type=int,
        default=100,
        help="time between two live windows (a second in real life, compressed)",
    )


# ---------------------------------------------------------------------- the child process
def synthetic_day(features: int, windows: int, start: float) -> Any:
    """A day of 1-second windows as the panel's columns: drift scores (three features
    drifting from the middle of the day on), gaps, traffic and prediction quantiles."""
    import numpy as np

    from app.ui.monitoring_data import DRIFT, TIME, WindowBlock

    rng = np.random.default_rng(0)
    t = start + np.arange(windows, dtype=np.float64)
    columns: dict[str, Any] = {TIME: t}
    names = [f"feature_{i:02d}" for i in range(features)]
    for index, name in enumerate(names):
        noise = np.abs(rng.normal(0.04, 0.02, windows))
        if index < 3:
            noise[windows // 2 :] += np.linspace(0, 0.3 + 0.1 * index, windows - windows // 2)
        noise[rng.random(windows) < 0.01] = np.nan  # windows too small to judge: gaps
        columns[DRIFT + name] = noise
    requests = rng.poisson(20, windows).astype(np.float64)
    columns["requests_per_s"] = requests
    columns["errors_per_s"] = rng.binomial(requests.astype(np.int64), 0.01).astype(np.float64)
    for key, value in quantiles(np.arange(windows), rng).items():
        columns[key] = value
    return WindowBlock(
        columns=columns, windows=windows, features=names, family="distance", threshold=0.1
    ), names


def quantiles(rows: Any, rng: Any) -> dict[str, Any]:
    """Prediction quantiles per window: a slow wave, each window's sample adding noise."""
    import numpy as np

    median = 0.4 + 0.05 * np.sin(rows / 3600) + rng.normal(0, 0.01, len(rows))
    spread = 0.2 + rng.normal(0, 0.01, len(rows))
    return {"p10": median - spread, "p50": median, "p90": median + spread}


def one_window(names: list[str], moment: float, row: int, rng: Any) -> Any:
    """The window after the day (``row`` windows after its start), drawn as the day's are."""
    import numpy as np

    from app.ui.monitoring_data import DRIFT, TIME, WindowBlock

    columns: dict[str, Any] = {TIME: np.asarray([moment])}
    for index, name in enumerate(names):
        score = abs(rng.normal(0.04 + (0.4 if index < 3 else 0), 0.02))
        columns[DRIFT + name] = np.asarray([np.nan if rng.random() < 0.01 else score])
    requests = float(rng.poisson(20))
    columns["requests_per_s"] = np.asarray([requests])
    columns["errors_per_s"] = np.asarray([float(rng.binomial(int(requests), 0.01))])
    for key, value in quantiles(np.asarray([row]), rng).items():
        columns[key] = value
    return WindowBlock(columns=columns, windows=1)


class PaintCounter:
    """Counts the paint events a widget receives (an event filter)."""

    def __init__(self, widget: Any) -> None:
        from PySide6.QtCore import QEvent, QObject

        counter = self

        class Filter(QObject):
            def eventFilter(self, _watched: Any, event: Any) -> bool:
                if event.type() == QEvent.Type.Paint:
                    counter.count += 1
                return False

        self.count = 0
        self.filter = Filter()
        widget.installEventFilter(self.filter)


def _percentile(values: list[float], percent: float) -> float:
    from tests.ui.heartbeat import percentile

    return percentile(values, percent)


def _spent(beat: Any) -> str:
    """Where the longest stall's time went: the GUI thread on a CPU, waiting for one."""
    stalls = beat.stalls(0.0)
    if not stalls:
        return "-"
    worst = max(stalls, key=lambda stall: stall.stall_ms)
    queued = "?" if worst.gui_queued_ms is None else f"{worst.gui_queued_ms:.0f}"
    return f"{worst.gui_cpu_ms:.0f} / {queued}"


def measure_child(args: argparse.Namespace) -> dict[str, Any]:
    """Runs in the child: build the panel, load the day, time live updates per view."""
    import numpy as np
    from PySide6.QtCore import QEventLoop, QTimer
    from PySide6.QtWidgets import QApplication

    from app.ui.jobs import JobQueue
    from app.ui.monitoring_panel import MonitoringPanel
    from app.ui.theme import apply_theme
    from tests.ui.heartbeat import Heartbeat

    app = QApplication.instance() or QApplication(["modelbay-bench"])
    assert isinstance(app, QApplication)
    apply_theme(app, "light")
    reader, network = JobQueue(), JobQueue()
    results: dict[str, Any] = {"platform": app.platformName(), "views": []}

    def settle(ms: int = 300) -> None:
        loop = QEventLoop()
        QTimer.singleShot(ms, loop.quit)
        loop.exec()

    def build(naive: bool) -> tuple[MonitoringPanel, Any, list[str], dict[str, float]]:
        panel = MonitoringPanel(reader, network)
        panel.resize(*PANEL_SIZE)
        dashboard = panel.ensure_dashboard()
        panel.stack.setCurrentWidget(panel.plots_page)
        panel.show()
        settle()
        start = time.time() - args.history
        block, names = synthetic_day(args.features, args.history, start)
        began = time.perf_counter()
        dashboard.append(block)
        if naive:
            dashboard.reduce_peaks = False
            for curve in [*dashboard.curves.values(), *dashboard.prediction_curves.values()]:
                curve.setClipToView(False)
                curve.setDownsampling(auto=False, ds=1)
            for curve in (dashboard.requests_curve, dashboard.errors_curve):
                curve.setClipToView(False)
                curve.setDownsampling(auto=False, ds=1)
        appended = time.perf_counter()
        dashboard.set_span(
            {
                "windows": 10,
                "rows": 2000,
                "judged": len(names),
                "drift_share": 3 / len(names),
                "drifted": names[:3],
                "family": "distance",
                "threshold": 0.1,
                "features": {
                    n: {"test": "wasserstein", "statistic": 0.05, "drifted": i < 3}
                    for i, n in enumerate(names)
                },
            }
        )
        dashboard.redraw()
        panel.repaint()
        drawn = time.perf_counter()
        load = {"append_ms": (appended - began) * 1000, "first_draw_ms": (drawn - appended) * 1000}
        return panel, dashboard, names, load

    def live(
        panel: MonitoringPanel, dashboard: Any, names: list[str], updates: int, title: str
    ) -> dict[str, Any]:
        rng = np.random.default_rng(1)
        samples: list[tuple[float, float, float]] = []
        cpu: list[float] = []
        painting = 0  # updates whose turn painted
        late = [0, 0]  # paints after a timed turn, the paint count when the last turn ended
        beat = Heartbeat()
        loop = QEventLoop()
        ticker = QTimer()
        ticker.setInterval(args.update_ms)

        viewport = dashboard.graphics.viewport()
        painted = PaintCounter(viewport)

        def update() -> None:
            nonlocal painting
            late[0] += painted.count - late[1]
            moment = (dashboard.windows.last_time() or time.time()) + 1.0
            block = one_window(names, moment, len(dashboard.windows), rng)
            clock = time.thread_time()
            began = time.perf_counter()
            dashboard.append(block)
            dashboard.redraw_timer.stop()  # drawn here, now, to be timed
            appended = time.perf_counter()
            dashboard.redraw()
            drawn = time.perf_counter()
            # the paint the update causes: Qt delivers the scene's change and paints in the
            # next turn of the event loop; run that turn now, and the one after it for what
            # the first posted (a layout after an axis grew, say)
            before = painted.count
            app.processEvents()
            app.processEvents()
            done = time.perf_counter()
            cpu.append((time.thread_time() - clock) * 1000)
            painting += painted.count > before
            late[1] = painted.count
            samples.append((appended - began, drawn - appended, done - drawn))
            if len(samples) >= updates:
                ticker.stop()
                QTimer.singleShot(50, loop.quit)

        ticker.timeout.connect(update)
        beat.start()
        ticker.start()
        loop.exec()
        beat.stop()
        late[0] += painted.count - late[1]
        full = []
        for _ in range(20):  # the whole plot area, as when the window is uncovered
            began = time.perf_counter()
            viewport.repaint()
            full.append((time.perf_counter() - began) * 1000)
        totals = [sum(s) * 1000 for s in samples]
        return {
            "title": title,
            "updates": len(samples),
            "points": len(dashboard.windows) * (len(names) + 5),
            "median_ms": statistics.median(totals),
            "p95_ms": _percentile(totals, 95),
            "max_ms": max(totals),
            "append_ms": statistics.median(s[0] * 1000 for s in samples),
            "setdata_ms": statistics.median(s[1] * 1000 for s in samples),
            "paint_ms": statistics.median(s[2] * 1000 for s in samples),
            "cpu_median_ms": statistics.median(cpu),
            "cpu_p95_ms": _percentile(cpu, 95),
            "cpu_max_ms": max(cpu),
            "painting": painting,
            "late_paints": late[0],
            "full_repaint_ms": statistics.median(full),
            "longest_stall_ms": beat.longest_stall_ms,
            "longest_stall_spent": _spent(beat),
            "p99_gap_ms": beat.percentile_gap_ms(99),
            "ticks": beat.ticks,
        }

    for naive in (False, True):
        panel, dashboard, names, load = build(naive)
        label = "naive setData (no clip, no downsampling)" if naive else "Modelbay"
        updates = args.naive_updates if naive else args.updates
        for seconds, view in ((None, "whole day on screen"), (3600, "last hour on screen")):
            dashboard.set_visible_seconds(seconds)
            settle()
            found = live(panel, dashboard, names, updates, f"{label}: {view}")
            found.update({f"load_{k}": v for k, v in load.items()})
            results["views"].append(found)
        panel.shutdown()
        panel.close()
        panel.deleteLater()
        settle(100)
    reader.shutdown()
    network.shutdown()
    return results


# ---------------------------------------------------------------------- the parent
@contextmanager
def x_display() -> Iterator[str | None]:
    """$DISPLAY when set, else an Xvfb made for the run, else None (offscreen only)."""
    if os.environ.get("DISPLAY"):
        yield os.environ["DISPLAY"]
        return
    from tests.services import xvfb_display

    try:
        with xvfb_display() as display:
            yield display.name
    except FileNotFoundError:
        yield None


def run_child(args: argparse.Namespace, platform: str, display: str | None) -> dict[str, Any]:
    env = {**os.environ, "QT_QPA_PLATFORM": platform}
    if display:
        env["DISPLAY"] = display
    argv = [
        str(PYTHON),
        "-m",
        "tests.benchmarks.monitoring_dashboard",
        "--child",
        *("--features", str(args.features), "--history", str(args.history)),
        *("--updates", str(args.updates), "--naive-updates", str(args.naive_updates)),
        *("--update-ms", str(args.update_ms)),
    ]
    done = subprocess.run(argv, env=env, capture_output=True, text=True, cwd=ROOT, check=False)
    if done.returncode != 0:
        sys.stderr.write(done.stderr[-4000:])
        raise SystemExit(f"benchmark aborted: the {platform} child exited with {done.returncode}")
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def run(args: argparse.Namespace) -> None:
    load_before = os.getloadavg()[0]
    runs = [run_child(args, "offscreen", None)]
    with x_display() as display:
        if display is not None:
            runs.append(run_child(args, "xcb", display))
    load_after = os.getloadavg()[0]
    print_header(
        f"monitoring_dashboard: {args.features} features x {args.history:,} one-second "
        f"windows, a live window every {args.update_ms} ms, panel {PANEL_SIZE[0]}x"
        f"{PANEL_SIZE[1]}"
    )
    print(machine_load(load_before, load_after))
    for found in runs:
        mine = found["views"][0]
        print(
            f"{found['platform']}: loading the day: append {mine['load_append_ms']:.0f} ms, "
            f"first draw {mine['load_first_draw_ms']:.0f} ms"
        )
    rows = []
    for found in runs:
        for view in found["views"]:
            rows.append(
                [
                    f"{found['platform']}: {view['title']}",
                    str(view["updates"]),
                    f"{view['median_ms']:.2f}",
                    f"{view['p95_ms']:.2f}",
                    f"{view['max_ms']:.1f}",
                    f"{view['cpu_median_ms']:.2f} / {view['cpu_p95_ms']:.2f} / "
                    f"{view['cpu_max_ms']:.1f}",
                    " / ".join(f"{view[k]:.2f}" for k in ("append_ms", "setdata_ms", "paint_ms")),
                    f"{view['painting']} / {view['late_paints']}",
                    f"{view['full_repaint_ms']:.1f}",
                    f"{view['longest_stall_ms']:.1f}",
                    view["longest_stall_spent"],
                ]
            )
    print_table(
        [
            "platform: panel: view",
            "updates",
            "median ms",
            "p95 ms",
            "max ms",
            "GUI CPU ms median / p95 / max",
            "append / setData / paint ms (medians)",
            "updates that painted / late paints",
            "full repaint ms",
            "longest stall ms",
            "of it GUI CPU / waiting for a CPU ms",
        ],
        rows,
    )
    for found in runs:
        views = found["views"]
        mine, naive = views[:2], views[2:]
        for ours, theirs in zip(mine, naive, strict=True):
            print(
                f"{found['platform']}: {ours['title'].split(': ', 1)[1]}: naive setData takes "
                f"{theirs['median_ms'] / ours['median_ms']:.0f}x as long per update "
                f"({theirs['median_ms']:.0f} ms vs {ours['median_ms']:.1f} ms)"
            )
    late = sum(v["late_paints"] for found in runs for v in found["views"])
    if late:
        print(f"{late} paints came after the timed turn of an update: the figures miss them")
    for found in runs:
        mine = found["views"][:2]
        worst = max(v["p95_ms"] for v in mine)
        medians = ", ".join(f"{v['median_ms']:.1f}" for v in mine)
        verdict(
            f"{found['platform']}: redraw per update (p95, both views)",
            f"{worst:.1f} ms (medians {medians} ms)",
            f"< {TARGET_UPDATE_MS:.0f} ms",
            worst < TARGET_UPDATE_MS,
        )
        stall = max(v["longest_stall_ms"] for v in mine)
        verdict(
            f"{found['platform']}: longest GUI stall during live updates",
            f"{stall:.0f} ms",
            f"<= {TARGET_STALL_MS:.0f} ms",
            stall <= TARGET_STALL_MS,
        )


def _child_main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--child", action="store_true")
    add_arguments(parser)
    args = parser.parse_args(argv)
    result = measure_child(args)
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(_child_main(sys.argv[1:]))
