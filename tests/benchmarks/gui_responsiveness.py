"""gui_responsiveness: does the window stay responsive while the registry opens and imports run?

In-process, offscreen (``QT_QPA_PLATFORM=offscreen``), with a real QApplication
and the real ``MainWindow`` on a copy of the cached 1,000 x 100 registry (the
copy lives in a temp folder under the work folder, so the cache is never
written to). A :class:`~tests.ui.heartbeat.Heartbeat` ticks every 5 ms on the
GUI thread and records the gaps between ticks, phase by phase:

    (a) open: from ``show()`` until the first page of models is in the table
        (the registry opens and the first page is read in the background;
        SQLAlchemy is already imported here, by the benchmark's own fixtures,
        so a cold process is gui_start's business: its driver runs a heartbeat
        too);
    (b) scroll: scroll the table to the bottom, wait for the lazily fetched
        page, again, ``--scroll-pages`` times;
    (c) import: ``window.start_imports`` of the cached 1 GiB random file (the
        one ``import_throughput`` uses, page cache warmed first) until its job
        is done and the refreshed table shows the new model selected.

Prints the time to the first page (and how it splits up), the time per lazily
fetched page, the import time, and per phase the heartbeat ticks, the longest
stall and the 99th percentile gap, then every stall over the target.
Target: no stall over 50 ms in any phase.

Rerun:  .venv/bin/python -m tests.benchmarks gui_responsiveness [--scroll-pages N]
"""

from __future__ import annotations

import argparse
import os
import shutil
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from app.config import Config
from tests.benchmarks._common import print_header, print_table, verdict
from tests.benchmarks._fixtures import modelbay_home, random_file
from tests.ui.heartbeat import Heartbeat, Stall

TARGET_STALL_MS = 50.0
IMPORT_NAME = "gui-bench-import"
TIMEOUT_S = 600.0


def add_arguments(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("gui_responsiveness")
    group.add_argument(
        "--scroll-pages",
        type=int,
        default=4,
        help="pages fetched by scrolling to the bottom (4 reach the end of 1,000 models)",
    )


@dataclass
class Phase:
    """What the heartbeat saw during one phase."""

    title: str
    seconds: float
    ticks: int
    longest_stall_ms: float
    p99_gap_ms: float
    stalls: list[Stall] = field(default_factory=list)

    @classmethod
    def of(cls, title: str, beat: Heartbeat) -> Phase:
        return cls(
            title,
            beat.duration_s,
            beat.ticks,
            beat.longest_stall_ms,
            beat.percentile_gap_ms(99),
            beat.stalls(over_ms=TARGET_STALL_MS),
        )


def describe(stall: Stall) -> str:
    """Where a stall's time went, in words."""
    queued, blocked = stall.gui_queued_ms, stall.gui_blocked_ms
    where = f"GUI thread running {stall.gui_cpu_ms:.0f} ms"
    if queued is not None and blocked is not None:
        where += (
            f", waiting for a free CPU {queued:.0f} ms, asleep (GIL, lock or I/O) {blocked:.0f} ms"
        )
    return (
        f"{stall.stall_ms:.0f} ms, ending {stall.ended_s:.3f} s in: {where}; whole process "
        f"CPU {stall.process_cpu_ms:.0f} ms"
    )


def machine_load(before: float, after: float) -> str:
    """A line on how busy the machine was: stalls on a shared box are partly other work."""
    return (
        f"machine: {os.cpu_count()} CPUs, 1-minute load average {before:.2f} before, "
        f"{after:.2f} after"
    )


def copy_home(source: Path, workdir: Path) -> Path:
    """A private copy of a cached data home, in a temp folder under ``workdir``."""
    scratch = Path(tempfile.mkdtemp(prefix="gui-", dir=workdir))
    home = scratch / "home"
    shutil.copytree(source, home)
    return home


def wait_until(condition: Callable[[], bool], what: str, timeout_s: float = TIMEOUT_S) -> None:
    """Run the Qt event loop until ``condition()`` holds (checked every 10 ms).

    The timings themselves come from signal handlers, not from this poll.
    """
    from PySide6.QtCore import QEventLoop, QTimer

    if condition():
        return
    loop = QEventLoop()
    poll = QTimer()
    poll.setInterval(10)
    poll.timeout.connect(lambda: loop.quit() if condition() else None)
    deadline = QTimer()
    deadline.setSingleShot(True)
    deadline.timeout.connect(loop.quit)
    poll.start()
    deadline.start(int(timeout_s * 1000))
    loop.exec()
    poll.stop()
    deadline.stop()
    if not condition():
        raise SystemExit(f"benchmark aborted: gave up waiting {timeout_s:.0f} s for {what}")


def _warm_page_cache(path: Path) -> None:
    with path.open("rb", buffering=0) as source:
        while source.read(1 << 24):
            pass


def measure(home: Path, source: Path, scroll_pages: int) -> dict[str, Any]:
    """Open the window on ``home``, scroll, import ``source``; return timings and phases."""
    os.environ["QT_QPA_PLATFORM"] = "offscreen"
    from PySide6.QtCore import QCoreApplication, QEvent
    from PySide6.QtWidgets import QApplication

    from app.ui.import_dialog import ImportRequest
    from app.ui.jobs import JobState
    from app.ui.main_window import MainWindow, current_theme
    from app.ui.models_table import SUMMARY_ROLE
    from app.ui.theme import apply_theme

    app = QApplication.instance() or QApplication(["modelbay-bench"])
    assert isinstance(app, QApplication)
    marks: dict[str, float] = {}

    def mark(name: str) -> None:
        marks.setdefault(name, time.perf_counter())

    phases: list[Phase] = []
    beat = Heartbeat()

    # (a) open: construct and show as app.ui.run() does, then the first page
    marks["start"] = time.perf_counter()
    window = MainWindow(Config.at(home))
    apply_theme(app, current_theme(window.settings))
    marks["constructed"] = time.perf_counter()
    panel = window.models_panel
    model = panel.model
    table = panel.table
    model.modelAboutToBeReset.connect(
        lambda: mark("registry open") if window.registry is not None else None
    )
    model.sig_loaded.connect(lambda _total: mark("first page"))
    window.show()
    marks["shown"] = time.perf_counter()
    beat.start()
    try:
        wait_until(lambda: "first page" in marks, "the first page of models")
        wait_until(lambda: model.rowCount() > 0, "the rows of the first page")
        beat.stop()
        phases.append(Phase.of("(a) open: show() to first page", beat))

        # (b) scroll to the bottom; the view asks the model to fetchMore
        page_seconds: list[float] = []
        beat.start()
        for _ in range(scroll_pages):
            before = model.rowCount()
            if not model.canFetchMore():
                break
            started = time.perf_counter()
            table.scrollToBottom()

            def grown(before: int = before) -> bool:
                return model.rowCount() > before

            wait_until(grown, "a lazily fetched page")
            page_seconds.append(time.perf_counter() - started)
        app.processEvents()  # paint the last page while still measuring
        beat.stop()
        phases.append(Phase.of(f"(b) scroll: {len(page_seconds)} pages fetched", beat))
        rows_after_scroll = model.rowCount()

        # (c) import a big file while the window stays in use
        _warm_page_cache(source)
        job_done: dict[str, float] = {}
        beat.start()
        import_start = time.perf_counter()
        [job] = window.start_imports([ImportRequest(source, IMPORT_NAME, {}, "")])

        def note_done(_state: object) -> None:
            if job.finished:
                job_done.setdefault("at", time.perf_counter())

        job.sig_state.connect(note_done)
        wait_until(lambda: job.finished, "the import job")
        if job.state is not JobState.DONE:
            raise SystemExit(f"benchmark aborted: the import ended {job.state.value}: {job.error}")

        def selected_is_import() -> bool:
            index = table.currentIndex()
            summary = model.data(index, SUMMARY_ROLE) if index.isValid() else None
            return summary is not None and summary.name == IMPORT_NAME

        wait_until(selected_is_import, "the imported model selected in the table")
        shown_at = time.perf_counter()
        app.processEvents()
        beat.stop()
        phases.append(Phase.of("(c) import: job done, new model selected", beat))
    finally:
        beat.stop()
        closing = time.perf_counter()
        window.close()  # saves settings, shuts the job queues down, closes the registry
        marks["closed"] = time.perf_counter() - closing
        window.deleteLater()
        QCoreApplication.sendPostedEvents(None, QEvent.Type.DeferredDelete)
        app.processEvents()

    return {
        "marks": marks,
        "phases": phases,
        "page_seconds": page_seconds,
        "rows_after_scroll": rows_after_scroll,
        "import_s": job_done["at"] - import_start,
        "import_to_selected_s": shown_at - import_start,
        "import_size": source.stat().st_size,
    }


def run(args: argparse.Namespace) -> None:
    workdir: Path = args.workdir
    cached = modelbay_home(workdir, args.models, args.versions, refill=args.refill)
    source = random_file(workdir, args.import_mib << 20)
    home = copy_home(cached, workdir)
    load_before = os.getloadavg()[0]
    try:
        result = measure(home, source, args.scroll_pages)
    finally:
        load_after = os.getloadavg()[0]
        shutil.rmtree(home.parent, ignore_errors=True)
        os.sync()

    marks: dict[str, float] = result["marks"]
    phases: list[Phase] = result["phases"]
    n = f"{args.models * args.versions // 1000}k"
    print_header(
        f"gui_responsiveness: MainWindow @{n} versions (a copy), offscreen, heartbeat every "
        f"5 ms on the GUI thread"
    )

    print(machine_load(load_before, load_after))

    def since_start(name: str) -> str:
        return f"{marks[name] - marks['start']:.3f}"

    print_table(
        ["step (from MainWindow() on)", "s"],
        [
            ["MainWindow(config) constructed, theme applied", since_start("constructed")],
            ["show() returned", since_start("shown")],
            ["registry open (background job done)", since_start("registry open")],
            ["first page of models in the table", since_start("first page")],
        ],
    )
    pages = result["page_seconds"]
    if pages:
        print(
            f"lazy pages: {len(pages)} fetched by scrolling to the bottom, "
            f"{min(pages) * 1000:.0f}-{max(pages) * 1000:.0f} ms each "
            f"(median {sorted(pages)[len(pages) // 2] * 1000:.0f} ms), "
            f"{result['rows_after_scroll']} rows"
        )
    mib = result["import_size"] / (1 << 20)
    print(
        f"import: {mib:.0f} MiB in {result['import_s']:.2f} s to job done "
        f"({mib / result['import_s']:.0f} MiB/s), {result['import_to_selected_s']:.2f} s "
        "to the new model selected in the refreshed table"
    )
    print()
    print_table(
        [
            "phase",
            "s",
            "ticks",
            "longest stall ms",
            "p99 gap ms",
            f"stalls > {TARGET_STALL_MS:.0f}",
        ],
        [
            [
                p.title,
                f"{p.seconds:.2f}",
                str(p.ticks),
                f"{p.longest_stall_ms:.1f}",
                f"{p.p99_gap_ms:.1f}",
                str(len(p.stalls)),
            ]
            for p in phases
        ],
    )
    for p in phases:
        for stall in p.stalls:
            print(f"  stall in {p.title.split(':')[0]}: {describe(stall)}")
    worst = max(phases, key=lambda p: p.longest_stall_ms)
    verdict(
        "longest GUI event-loop stall (open, scroll, 1 GiB import)",
        f"{worst.longest_stall_ms:.0f} ms in {worst.title.split(':')[0]}",
        f"<= {TARGET_STALL_MS:.0f} ms",
        worst.longest_stall_ms <= TARGET_STALL_MS,
    )
