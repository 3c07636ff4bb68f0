"""The Monitoring panel's plots (pyqtgraph): drift per feature over time, the selected
feature's reference vs current histogram, predictions, traffic and latency.

Imported when the Monitoring panel first needs its plots, never on start-up
(pyqtgraph and numpy cost a few hundred ms). Every curve is created once, when
its series first appears, and fed with ``setData`` by :meth:`Dashboard.redraw`,
which a short single-shot timer calls once after any number of appends. The
rows in view are reduced to a max and a min per bucket of rows, incrementally
(:class:`~app.ui.monitoring_data.PeakView`): a new window reduces only its own
bucket, and a curve whose points did not change is not touched. Each curve is
drawn in two parts: its settled buckets by its own curve item, its newest few
dozen points by the plot's :class:`NewestParts`, which has only the changed
pixel columns painted again; so a day of 1-second windows for 20 features
(1.7 M points) updates in a few milliseconds. The time axes of the four time
plots are linked (zoom one, all follow) and move in steps; docs/drift.md ("Live
dashboard") has the measurements behind each choice.
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

os.environ.setdefault("PYQTGRAPH_QT_LIB", "PySide6")  # never another binding found installed

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QEvent, QPointF, Qt, QTimer, Signal
from PySide6.QtGui import QBrush, QColor, QIcon, QPainter, QPalette, QPen, QPixmap, QPolygonF
from PySide6.QtWidgets import (
    QAbstractItemView,
    QHeaderView,
    QLabel,
    QSplitter,
    QTreeWidget,
    QTreeWidgetItem,
    QVBoxLayout,
    QWidget,
)

from app.ui.hosts_panel import dot
from app.ui.monitoring_data import (
    DRIFT,
    LABEL,
    QUANTILES,
    TIME,
    Columns,
    LiveTraffic,
    PeakView,
    WindowBlock,
)

REDRAW_MS = 30
"""Appends within this time are drawn together."""
PIXELS_PER_BUCKET = 2
"""A max and a min per two pixel columns: half the segments of one pair per column (a full
repaint of 25 curves is mostly Qt drawing segments), no visible loss at 1-pixel pens."""
HEADROOM = 0.05
"""The time axis shows this share of its span ahead of the newest window, and moves when
the newest window reaches its end."""
MIN_PLOTS_WIDTH = 500
"""The feature list widens to fit its columns only while the plots keep this much."""
GREEN, AMBER, RED, GREY = "#2e7d32", "#ef8f00", "#c62828", "#9e9e9e"
# 20 colours told apart on light and dark backgrounds (Tableau 20, reds left out: red says
# "drifts" in this panel)
PALETTE = (
    "#1f77b4", "#ff7f0e", "#2ca02c", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22",
    "#17becf", "#aec7e8", "#ffbb78", "#98df8a", "#c5b0d5", "#c49c94", "#f7b6d2", "#c7c7c7",
    "#dbdb8d", "#9edae5", "#393b79", "#637939",
)  # fmt: skip
LABEL_COLOURS = ("#1f77b4", "#ff7f0e", "#2ca02c", "#9467bd", "#8c564b", "#17becf", "#e377c2")
REFERENCE_BRUSH = "#8fa9c8"
REQUESTS = "#1f77b4"
QUANTILE_COLOUR = "#9ecae1"
CURRENT_BRUSH = "#ef8f00"
FEATURE_COLUMNS = ["Feature", "Drift score", "Status"]


def _key(colour: str, words: str) -> str:
    """Words in a title, in the colour of what they name (a legend that covers no data)."""
    return f"<span style='color: {colour}; font-weight: bold;'>&#9632; {words}</span>"


def _bounds(columns: Columns, keys: list[str], start: int) -> tuple[float, float] | None:
    """(smallest, largest) finite value of the columns from row ``start`` on; None if none."""
    low, high = math.inf, -math.inf
    for key in keys:
        if key not in columns:
            continue
        values = columns.view(key)[start:]
        values = values[np.isfinite(values)]
        if values.size:
            low = min(low, float(values.min()))
            high = max(high, float(values.max()))
    return (low, high) if low <= high else None


def _minimum_height_only(label: pg.LabelItem) -> None:
    height = label.itemRect().height()
    label.setMinimumWidth(0)
    label.setMinimumHeight(height)
    label.setPreferredHeight(height)
    label.updateGeometry()


def fast_curve(item: pg.PlotDataItem) -> pg.PlotDataItem:
    """Draw only what is in view, at most about two points per pixel column (min and max)."""
    item.setClipToView(True)
    item.setDownsampling(auto=True, method="peak")
    # peak keeps a max and a min per bucket: a pair of points per pixel column draws every
    # spike (pyqtgraph's default, 5 per column, draws 5x the segments for no visible gain)
    item.opts["autoDownsampleFactor"] = 1.0
    item.setDynamicRangeLimit(None)  # it measures the whole curve's bounds on every setData
    return item


class NewestParts(pg.GraphicsObject):  # type: ignore[misc]  # pyqtgraph has no types
    """The newest points of the curves of one plot (:class:`PeakView`'s newest buckets: a
    strip a few dozen pixels wide at the right edge), all drawn by this one item.

    A new window changes the last point or two of some curves. pyqtgraph's curve items
    repaint their whole bounding box on each ``setData``, and with it every curve that
    crosses it: 20 curves of a day's history, most of the time of an update. This item
    marks only the pixel columns whose points changed for repainting, the curves' settled
    parts end left of them (so Qt does not paint those again), and its bounds grow in
    steps. One item instead of one per curve also spares the Python work per curve that
    pyqtgraph's items do on each change and paint.
    """

    PAD = 3.0
    """Pixels around a point that its segments may touch (1-pixel pens, rounding)."""

    def __init__(self) -> None:
        super().__init__()
        self.parts: dict[str, tuple[Any, Any]] = {}
        self._pens: dict[str, QPen] = {}
        self._z: dict[str, float] = {}
        self._paths: dict[str, Any] = {}
        self._order: list[str] = []
        self._bounds = pg.QtCore.QRectF()

    def style(self, key: str, pen: QPen, z: float) -> None:
        """The pen of ``key``'s points and its place among the others (higher: on top)."""
        if self._pens.get(key) == pen and self._z.get(key) == z:
            return
        self._pens[key], self._z[key] = QPen(pen), z
        self._order = sorted(self._pens, key=lambda k: self._z[k])
        self.update()

    def forget(self, key: str) -> None:
        for found in (self.parts, self._pens, self._z, self._paths):
            found.pop(key, None)
        self._order = [k for k in self._order if k != key]
        self.update()

    def set_points(self, key: str, x: Any, y: Any) -> None:
        """The newest points of ``key``: repaints the columns from the first that changed."""
        old = self.parts.get(key)
        self.parts[key] = (x, y)
        self._paths.pop(key, None)
        if not len(x):
            if old is not None and len(old[0]):
                self.update()
            return
        first = _first_change(old, x, y)
        if first >= len(x) and old is not None and len(old[0]) == len(x):
            return  # the same points
        px, py = self._pixel()
        left = float(x[max(0, first - 1)])
        if old is not None and len(old[0]):
            left = min(left, float(old[0][min(max(0, first - 1), len(old[0]) - 1)]))
        finite = y[np.isfinite(y)]
        low, high = (float(finite.min()), float(finite.max())) if finite.size else (0.0, 0.0)
        needed = pg.QtCore.QRectF(
            float(x[0]) - self.PAD * px,
            low - self.PAD * py,
            float(x[-1]) - float(x[0]) + 2 * self.PAD * px,
            high - low + 2 * self.PAD * py,
        )
        if not self._bounds.contains(needed):
            # grow in steps: room for more windows on the right, and a third more height
            grown = needed.united(self._bounds) if self._bounds.isValid() else needed
            extra = max(grown.height(), 1e-9) / 3
            grown.adjust(0, -extra, grown.width() + 64 * px, extra)
            self.prepareGeometryChange()
            self._bounds = grown
        bounds = self._bounds
        dirty = pg.QtCore.QRectF(
            left - self.PAD * px, bounds.top(), bounds.right() - left, bounds.height()
        )
        shown = self.viewRect()  # not the neighbouring plot's axis the bounds may reach
        self.update(dirty if shown is None else dirty.intersected(shown))

    def rebuild(self) -> None:
        """Forget the points and bounds (the newest parts start anew: a fold, a new view);
        what was drawn is painted over, the points set next are drawn whole."""
        self.prepareGeometryChange()
        self._bounds = pg.QtCore.QRectF()
        self.parts.clear()
        self._paths.clear()

    def _pixel(self) -> tuple[float, float]:
        """(width, height) of a screen pixel in data units (1 before the item is shown)."""
        vectors = self.pixelVectors()
        if vectors[0] is None or vectors[1] is None:
            return 1.0, 1.0
        return abs(vectors[0].x()) or 1.0, abs(vectors[1].y()) or 1.0

    def boundingRect(self) -> Any:
        return self._bounds

    def viewTransformChanged(self) -> None:
        """The view zoomed or moved: the pixel pads change (a full repaint follows anyway)."""
        super().viewTransformChanged()
        parts = dict(self.parts)
        self.rebuild()
        for key, (x, y) in parts.items():
            self.set_points(key, x, y)

    def paint(self, painter: QPainter, *_: Any) -> None:
        painter.setRenderHint(
            QPainter.RenderHint.Antialiasing, bool(pg.getConfigOption("antialias"))
        )
        for key in self._order:
            found = self.parts.get(key)
            if found is None or not len(found[0]):
                continue
            drawn = self._paths.get(key)
            if drawn is None:
                x, y = found
                line = pg.arrayToQPath(x, y, connect="finite") if len(x) > 1 else None
                drawn = self._paths[key] = (line, _lone_points(x, y))
            line, dots = drawn
            pen = self._pens[key]
            if line is not None:
                painter.setPen(pen)
                painter.drawPath(line)
            if dots is not None:  # a line through them draws nothing: a dot each
                dot = QPen(pen)
                dot.setCosmetic(True)  # pixels, whatever the zoom
                dot.setWidthF(2 * self.PAD)
                dot.setCapStyle(Qt.PenCapStyle.RoundCap)
                painter.setPen(dot)
                painter.drawPoints(dots)


def _lone_points(x: Any, y: Any) -> QPolygonF | None:
    """The points with no drawn neighbour: the first window of a service, or one between
    gaps (None when there are none)."""
    finite = np.isfinite(y)
    before = np.concatenate(([False], finite[:-1]))
    after = np.concatenate((finite[1:], [False]))
    lone = finite & ~before & ~after
    if not lone.any():
        return None
    return QPolygonF([QPointF(float(a), float(b)) for a, b in zip(x[lone], y[lone], strict=True)])


def _first_change(old: tuple[Any, Any] | None, x: Any, y: Any) -> int:
    """The index of the first point of (x, y) that differs from ``old`` (len(x): none)."""
    if old is None:
        return 0
    count = min(len(x), len(old[0]))
    same = (old[0][:count] == x[:count]) & (
        (old[1][:count] == y[:count]) | (np.isnan(old[1][:count]) & np.isnan(y[:count]))
    )
    differ = np.flatnonzero(~same)
    return int(differ[0]) if differ.size else count


def swatch(colour: str) -> QIcon:
    pixmap = QPixmap(18, 10)
    pixmap.fill(Qt.GlobalColor.transparent)
    painter = QPainter(pixmap)
    painter.setPen(QPen(QColor(colour), 3))
    painter.drawLine(1, 5, 17, 5)
    painter.end()
    return QIcon(pixmap)


def format_score(value: float | None, family: str | None) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "—"
    if family == "p_value":
        return f"p = {value:.2g}" if value < 0.001 else f"p = {value:.3f}"
    return f"{value:.3f}"


def span_words(span: Mapping[str, Any] | None, family: str | None, threshold: Any) -> str:
    """The verdict on the newest windows pooled, for the summary under the features."""
    if not span:
        return "No verdict yet: it needs windows with enough rows."
    rows = int(span.get("rows") or 0)
    windows = span.get("windows")
    pooled = f"the newest {windows} windows ({rows:,} rows)" if windows else f"{rows:,} rows"
    if span.get("drift_share") is None:
        return f"No verdict on {pooled}: too few rows."
    drifted = span.get("drifted") or []
    judged = span.get("judged") or 0
    rule = (
        (f"p-value below {threshold:g}" if family == "p_value" else f"distance of {threshold:g}+")
        if threshold is not None
        else "its test"
    )
    colour = RED if drifted else GREEN
    return (
        f"<b style='color: {colour}'>{len(drifted)} of {judged} features drift</b> in "
        f"{pooled}. A feature drifts at a {rule}; "
        "hover a feature for its test and PSI."
    )


class Dashboard(QWidget):
    """The features list and the plots of one service."""

    sig_feature_selected = Signal(str)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.visible_seconds: float | None = None  # None: all the time held
        self.curves: dict[str, pg.PlotDataItem] = {}
        self.prediction_curves: dict[str, pg.PlotDataItem] = {}
        self.newest: dict[str, NewestParts] = {}
        """Where the newest points of each curve of windows are drawn, by column."""
        self._items: dict[str, QTreeWidgetItem] = {}
        self._latency_measured = True
        self._threshold_shown: tuple[str | None, float | None] | None = None
        self.reduce_peaks = True  # False: every curve gets all its points (the benchmark's peer)
        self._forget()

        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        self.splitter = QSplitter(Qt.Orientation.Horizontal, self)
        self.feature_list = QTreeWidget(self)
        self.feature_list.setAccessibleName("Features")
        self.feature_list.setHeaderLabels(FEATURE_COLUMNS)
        self.feature_list.headerItem().setToolTip(
            1, "The feature's test on the newest windows pooled (see the summary below)"
        )
        self.feature_list.setRootIsDecorated(False)
        self.feature_list.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.feature_list.header().setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        self.feature_list.header().setStretchLastSection(True)
        self.feature_list.itemSelectionChanged.connect(self._feature_clicked)
        self.summary = QLabel(self)
        self.summary.setWordWrap(True)
        self.summary.setTextFormat(Qt.TextFormat.RichText)
        self.summary.setAccessibleName("Drift summary")
        left = QWidget(self)
        column = QVBoxLayout(left)
        column.setContentsMargins(0, 0, 0, 0)
        column.addWidget(self.feature_list, 1)
        column.addWidget(self.summary)
        self.graphics = pg.GraphicsLayoutWidget(self)
        self.graphics.setAccessibleName("Monitoring plots")
        self.splitter.addWidget(left)
        self.splitter.addWidget(self.graphics)
        self.splitter.setStretchFactor(1, 1)
        self.splitter.setSizes([280, 810])
        layout.addWidget(self.splitter)
        self._build_plots()
        self.redraw_timer = QTimer(self)
        self.redraw_timer.setSingleShot(True)
        self.redraw_timer.setInterval(REDRAW_MS)
        self.redraw_timer.timeout.connect(self.redraw)
        self._apply_palette()

    # ------------------------------------------------------------------ building
    def _build_plots(self) -> None:
        g = self.graphics
        self.drift_plot = g.addPlot(
            row=0, col=0, colspan=3, axisItems={"bottom": pg.DateAxisItem(orientation="bottom")}
        )
        self._title(self.drift_plot, "Drift of each feature, per window")
        self.drift_plot.setLabel("bottom", "window start (local time)")
        self.drift_plot.showGrid(x=False, y=False)
        self.threshold_line = pg.InfiniteLine(
            angle=0,
            movable=False,
            pen=pg.mkPen(RED, width=1.5, style=Qt.PenStyle.DashLine),
            label="",
            labelOpts={
                "position": 0.02,
                "color": RED,
                "anchors": [(0, 1), (0, 1)],
            },
        )
        self.threshold_line.setVisible(False)
        self.threshold_line.setZValue(10)  # over the curves, its words on their own background
        self.drift_plot.addItem(self.threshold_line, ignoreBounds=True)

        self.histogram_plot = g.addPlot(row=1, col=0)
        self._title(self.histogram_plot, "Reference vs current")
        self.histogram_plot.setLabel("bottom", "% of rows")
        self.histogram_plot.invertY(True)  # the first bin on top
        self.histogram_plot.setMouseEnabled(x=False, y=False)
        self.histogram_plot.hideButtons()
        self.reference_bars = pg.BarGraphItem(
            x0=[], y=[], width=[], height=0.38, brush=REFERENCE_BRUSH, pen=None
        )
        self.current_bars = pg.BarGraphItem(
            x0=[], y=[], width=[], height=0.38, brush=CURRENT_BRUSH, pen=None
        )
        self.histogram_plot.addItem(self.reference_bars)
        self.histogram_plot.addItem(self.current_bars)

        self.prediction_plot = self._time_plot(g, 1, 1, "Predictions (sampled rows)")
        self.prediction_legend = self.prediction_plot.addLegend(offset=(5, 2), colCount=3)
        side = g.addLayout(row=1, col=2)
        self.traffic_plot = self._time_plot(
            side, 0, 0, f"{_key(REQUESTS, 'requests')} {_key(RED, 'errors')} per second"
        )
        self.requests_curve = fast_curve(self.traffic_plot.plot(pen=pg.mkPen(REQUESTS, width=1.0)))
        self.errors_curve = fast_curve(self.traffic_plot.plot(pen=pg.mkPen(RED, width=1.0)))
        self._newest_part(self.traffic_plot, "requests_per_s", self.requests_curve)
        self._newest_part(self.traffic_plot, "errors_per_s", self.errors_curve)
        self.latency_plot = self._time_plot(side, 1, 0, "Latency, ms (from /metrics)")
        self.latency_curve = fast_curve(
            self.latency_plot.plot(pen=pg.mkPen("#9467bd", width=1.0), connect="finite")
        )
        for plot in (self.prediction_plot, self.traffic_plot, self.latency_plot):
            plot.setXLink(self.drift_plot)
        for plot in self.time_plots():
            # the ranges follow the data here (_follow), in steps, without pyqtgraph's auto
            # range: that measures every curve's bounds and redraws every axis per update
            plot.disableAutoRange()
            plot.getViewBox().sigRangeChangedManually.connect(self._moved_by_hand)
        central = g.ci.layout
        central.setRowStretchFactor(0, 3)
        central.setRowStretchFactor(1, 2)

    def _time_plot(self, layout: Any, row: int, col: int, title: str) -> pg.PlotItem:
        plot = layout.addPlot(
            row=row, col=col, axisItems={"bottom": pg.DateAxisItem(orientation="bottom")}
        )
        self._title(plot, title)
        plot.showGrid(x=False, y=False)
        return plot

    def _newest_part(self, plot: pg.PlotItem, key: str, curve: pg.PlotDataItem) -> None:
        """Draw the newest points of ``curve`` (column ``key``) with the plot's NewestParts."""
        parts = next((p for p in self.newest.values() if p.getViewBox() is plot.getViewBox()), None)
        if parts is None:
            parts = NewestParts()
            parts.setZValue(3)  # over the curves' settled parts, under the threshold
            plot.addItem(parts, ignoreBounds=True)
        parts.style(key, curve.opts["pen"], curve.zValue())
        self.newest[key] = parts

    def _apply_palette(self) -> None:
        palette = self.palette()
        background = palette.color(QPalette.ColorRole.Base)
        text = palette.color(QPalette.ColorRole.Text)
        self.graphics.setBackground(background)
        behind = QColor(background)
        behind.setAlpha(210)  # the threshold's words stay readable over the curves
        self.threshold_line.label.fill = pg.mkBrush(behind)
        self.threshold_line.label.update()
        for plot in self.plots():
            for name in ("left", "bottom"):
                axis = plot.getAxis(name)
                axis.setPen(text)
                axis.setTextPen(text)
                axis.enableAutoSIPrefix(False)  # "distance (x0.001)" reads badly
            self._title(plot, str(plot.property("title") or ""))
        self.prediction_legend.setLabelTextColor(text)
        self._style_curves()

    def _title(self, plot: pg.PlotItem, text: str) -> None:
        plot.setProperty("title", text)
        colour = self.palette().color(QPalette.ColorRole.Text).name()
        label = plot.titleLabel
        if not getattr(label, "height_only", False):
            # a long title (a long feature name) must not widen the layout past the window:
            # the label keeps its height as its minimum, not its width
            label.height_only = True
            label.updateMin = lambda: _minimum_height_only(label)
        plot.setTitle(text, color=colour, size="10pt" if plot is self.drift_plot else "9pt")

    def changeEvent(self, event: QEvent) -> None:
        super().changeEvent(event)
        if event.type() == QEvent.Type.PaletteChange:
            self._apply_palette()

    def time_plots(self) -> list[pg.PlotItem]:
        return [self.drift_plot, self.prediction_plot, self.traffic_plot, self.latency_plot]

    def plots(self) -> list[pg.PlotItem]:
        return [
            self.drift_plot,
            self.histogram_plot,
            self.prediction_plot,
            self.traffic_plot,
            self.latency_plot,
        ]

    # ------------------------------------------------------------------ data in
    def reset(self) -> None:
        """Forget the service shown: its columns, curves and features."""
        for name, curve in self.curves.items():
            self.drift_plot.removeItem(curve)
            self.newest.pop(DRIFT + name).forget(DRIFT + name)
        for key, curve in self.prediction_curves.items():
            self.prediction_plot.removeItem(curve)
            self.newest.pop(key).forget(key)
            self.prediction_legend.removeItem(curve)
        self.curves.clear()
        self.prediction_curves.clear()
        self._forget()
        self._items.clear()
        self.feature_list.clear()
        self.show_histogram()
        self.redraw()

    def _forget(self) -> None:
        self.windows = Columns()
        self.live = Columns(capacity=256, limit=20_000)
        self.family: str | None = None
        self.threshold: float | None = None
        self.features: list[str] = []
        self.drifting: set[str] = set()
        self.span: dict[str, Any] | None = None
        self.selected: str | None = None
        self._picked = False  # True once the user picks a feature: then it stays selected
        self._histogram_source: tuple[Any, Mapping[str, Any] | None] | None = None
        self._following = True  # False once the user zooms or pans: then nothing moves
        self._x_range: tuple[float, float] | None = None
        self._y_ranges: dict[str, tuple[float, float]] = {}
        self._new_rows = 0  # appended since the last redraw
        self.peaks = PeakView()
        self._latency_drawn: tuple[int, int] | None = None  # (rows, dropped) drawn

    def append(self, block: WindowBlock) -> None:
        """Add stored windows (the newest after what is held); drawn on the next redraw."""
        if block.family is not None:
            self.family = block.family
        if block.threshold is not None:
            self.threshold = block.threshold
        for name in block.features:
            self._feature(name)
        for key in block.columns:
            if key in QUANTILES or key.startswith(LABEL):
                self._prediction_curve(key)
        self.windows.append(block.columns)
        self._new_rows += block.rows
        self.schedule()

    def append_traffic(self, found: LiveTraffic | None, at: float) -> None:
        """A pull's traffic from /metrics; None (a failed pull, a restart) leaves a gap."""
        latency = math.nan if found is None or found.latency_ms is None else found.latency_ms
        self.live.append({TIME: np.asarray([at]), "latency_ms": np.asarray([latency])})
        self.schedule()

    def set_span(self, span: Mapping[str, Any] | None) -> None:
        """The pooled newest windows' verdicts: the list's statuses and the curves' weight."""
        self.span = dict(span) if span else None
        features = (span or {}).get("features") or {}
        if span and span.get("family"):
            self.family = span["family"]
            self.threshold = span.get("threshold", self.threshold)
        for name in features:
            self._feature(name)
        self.drifting = {n for n, e in features.items() if e.get("drifted")}
        self.summary.setText(span_words(span, self.family, self.threshold))
        for name, item in self._items.items():
            entry = features.get(name)
            self._describe(item, name, entry)
        self._fit_feature_list()
        if self.drifting and self.selected not in self.drifting and not self._picked:
            from app.monitor.live import score  # the histogram shows what drifts most

            self.select_feature(max(self.drifting, key=lambda n: score(features[n])))
        self._style_curves()
        self.schedule()

    def _fit_feature_list(self) -> None:
        """Wide enough for every column (names, scores, "no verdict"), within reason."""
        header, tree = self.feature_list.header(), self.feature_list
        last = header.count() - 1
        needed = sum(
            max(
                header.sectionSizeHint(c),
                tree.sizeHintForColumn(c),
                header.defaultSectionSize() if c == last else 0,  # the stretched one's least
            )
            for c in range(header.count())
        )
        scroll = self.feature_list.verticalScrollBar().sizeHint().width()
        frame = 2 * self.feature_list.frameWidth()
        want = min(needed + scroll + frame, 440)
        sizes = self.splitter.sizes()
        plots = sum(sizes) - want
        if sizes and 0 < sizes[0] < want and plots >= MIN_PLOTS_WIDTH:  # the plots come first
            self.splitter.setSizes([want, plots])

    def set_histogram_source(self, reference: Any, pooled: Mapping[str, Any] | None) -> None:
        """The reference (:class:`app.monitor.live.Reference`) and the span's pooled data."""
        self._histogram_source = (reference, pooled) if reference is not None else None
        self.show_histogram()

    def set_drift_title(self, text: str) -> None:
        self._title(self.drift_plot, text)

    def set_visible_seconds(self, seconds: float | None) -> None:
        """Follow the newest ``seconds`` of time, or show all that is held (None); this also
        follows the newest windows again after a zoom by hand."""
        self.visible_seconds = seconds
        self._following = True
        self._x_range = None
        for plot in self.time_plots():
            plot.disableAutoRange()
        self.redraw()

    def _moved_by_hand(self, *_: object) -> None:
        self._following = False
        self.peaks = PeakView()  # reduced again for the new view on the next redraw
        self.schedule()

    def schedule(self) -> None:
        if not self.redraw_timer.isActive():
            self.redraw_timer.start()

    # ------------------------------------------------------------------ features
    def _feature(self, name: str) -> None:
        if name in self.curves:
            return
        colour = PALETTE[len(self.features) % len(PALETTE)]
        self.features.append(name)
        curve = self.drift_plot.plot(pen=self._pen(name, colour), connect="finite")
        curve.setProperty("colour", colour)
        self.curves[name] = fast_curve(curve)
        self._newest_part(self.drift_plot, DRIFT + name, curve)
        item = QTreeWidgetItem(self.feature_list, [name, "", ""])
        item.setIcon(0, swatch(colour))
        self._items[name] = item
        self._describe(item, name, None)
        if self.selected is None:
            self.select_feature(name)

    def _describe(self, item: QTreeWidgetItem, name: str, entry: Mapping[str, Any] | None) -> None:
        """The feature's line: its score over the newest windows and a status dot."""
        plain = QBrush(self.palette().color(QPalette.ColorRole.Text))
        if entry is None:
            item.setText(1, "—")
            item.setText(2, "not judged")
            item.setIcon(2, dot(GREY))
            item.setForeground(2, plain)
            for column in range(len(FEATURE_COLUMNS)):
                item.setToolTip(column, f"{name}: no windows judged yet")
            return
        from app.monitor.live import score

        shown = format_score(score(entry), self.family)
        item.setText(1, shown)
        drifted = entry.get("drifted")
        font = item.font(0)
        font.setBold(bool(drifted))
        for column in range(len(FEATURE_COLUMNS)):
            item.setFont(column, font)
        if drifted:
            item.setText(2, "drifts")
            item.setIcon(2, dot(RED))
            item.setForeground(2, QBrush(QColor(RED)))
        elif drifted is None:
            item.setText(2, "no verdict")
            item.setIcon(2, dot(GREY))
            item.setForeground(2, plain)
        else:
            item.setText(2, "ok")
            item.setIcon(2, dot(GREEN))
            item.setForeground(2, plain)
        tip = f"{name}: {entry.get('test')} {shown} over the newest windows pooled"
        if entry.get("psi") is not None:
            tip += f"; PSI {entry['psi']:.3f}"
        if entry.get("missing_rate"):
            tip += f"; {100 * entry['missing_rate']:.1f} % missing"
        if entry.get("reason"):
            tip += f"; {entry['reason']}"
        for column in range(len(FEATURE_COLUMNS)):
            item.setToolTip(column, tip)

    def _pen(self, name: str, colour: str) -> QPen:
        """Drifting (and the selected) features in full colour, the others faded.

        Every pen is one pixel wide and opaque (faded = mixed with the background): Qt
        draws such lines on its fast path, while a 2-3 px pen strokes every segment (a day
        of 1-second windows took 15x longer to paint) and a translucent one blends each."""
        shown = QColor(colour)
        if name not in self.drifting and name != self.selected:
            back = self.palette().color(QPalette.ColorRole.Base)
            mix = 0.6  # of the background
            shown = QColor.fromRgbF(
                shown.redF() * (1 - mix) + back.redF() * mix,
                shown.greenF() * (1 - mix) + back.greenF() * mix,
                shown.blueF() * (1 - mix) + back.blueF() * mix,
            )
        pen: QPen = pg.mkPen(shown, width=1.0)
        return pen

    def _style_curves(self) -> None:
        for name, curve in self.curves.items():
            pen = self._pen(name, str(curve.property("colour")))
            z = 2 if name == self.selected else 1 if name in self.drifting else 0
            curve.setPen(pen)
            curve.setZValue(z)
            self.newest[DRIFT + name].style(DRIFT + name, pen, z)

    def select_feature(self, name: str) -> None:
        item = self._items.get(name)
        if item is None:
            return
        self.selected = name
        if not item.isSelected():
            self.feature_list.setCurrentItem(item)
        self._style_curves()
        self.show_histogram()
        self.sig_feature_selected.emit(name)

    def _feature_clicked(self) -> None:
        items = self.feature_list.selectedItems()
        if items:
            name = items[0].text(0)
            if name != self.selected:
                self._picked = True
                self.select_feature(name)

    # ------------------------------------------------------------------ drawing
    def show_histogram(self) -> None:
        """Reference vs current shares of the selected feature (current: the pooled span)."""
        from app.monitor.live import histogram

        found = None
        source = self._histogram_source
        if source is not None and self.selected is not None and source[1] is not None:
            found = histogram(source[0], source[1], self.selected)
        plot = self.histogram_plot
        if found is None:
            self.reference_bars.setOpts(x0=[], y=[], width=[])
            self.current_bars.setOpts(x0=[], y=[], width=[])
            plot.getAxis("left").setTicks([[]])
            why = "no reference data" if source is None else "no windows yet"
            self._title(plot, f"Reference vs current: {self.selected or '—'} ({why})")
            return
        labels, reference, current = found
        where = np.arange(len(labels), dtype=np.float64)
        reference = [100 * share for share in reference]
        current = [100 * share for share in current]
        self.reference_bars.setOpts(x0=np.zeros(len(labels)), y=where - 0.2, width=reference)
        self.current_bars.setOpts(x0=np.zeros(len(labels)), y=where + 0.2, width=current)
        plot.getAxis("left").setTicks([[(float(i), label) for i, label in enumerate(labels)]])
        plot.setYRange(-0.6, len(labels) - 0.4, padding=0)
        plot.setXRange(0, max([*reference, *current, 1.0]) * 1.1, padding=0)
        windows = (self.span or {}).get("windows")
        self._title(
            plot,
            f"{self.selected}: {_key(REFERENCE_BRUSH, 'reference')} "
            f"{_key(CURRENT_BRUSH, 'current')}",
        )
        plot.setLabel(
            "bottom", f"% of rows (current: newest {windows} windows)" if windows else "% of rows"
        )

    def redraw(self) -> None:
        """Follow the newest time, then hand each curve whose points changed its data."""
        self.redraw_timer.stop()
        columns = self.windows
        t = columns.times
        start = self._follow()
        curves = self._window_curves()
        if not self.reduce_peaks:
            for key, curve in curves.items():
                curve.setData(t, columns.view(key))
                if key in self.newest[key].parts:
                    self.newest[key].forget(key)
        else:
            peaks = self.peaks
            if start is not None or peaks.stale(columns, list(curves)):
                self._reduce(list(curves), start)
                settled = newest = set(curves)
            else:
                settled, newest = peaks.extend(columns)
            for key in settled:
                curves[key].setData(*peaks.settled_data(columns, key))
            if settled:  # the newest parts start anew at the settled parts' end
                for parts in set(self.newest.values()):
                    parts.rebuild()
            for key in newest:
                self.newest[key].set_points(key, *peaks.newest_data(columns, key))
        latency = self.live.view("latency_ms")
        if self._latency_drawn != (len(self.live), self.live.dropped):
            self._latency_drawn = (len(self.live), self.live.dropped)
            self.latency_curve.setData(self.live.times, latency)
        measured = bool(np.isfinite(latency).any())
        if measured != self._latency_measured:
            self._latency_measured = measured
            self._title(
                self.latency_plot,
                "Latency, ms (from /metrics)" if measured else "Latency, ms: after two pulls",
            )
        self._draw_threshold(t)

    def drawn(self, key: str) -> tuple[Any, Any]:
        """The points drawn for column ``key``: its curve's and its newest part's, joined."""
        x, y = self._window_curves()[key].getOriginalDataset()
        newer_x, newer_y = self.newest[key].parts.get(key, (None, None))
        parts_x = [a for a in (x, newer_x) if a is not None and len(a)]
        parts_y = [a for a in (y, newer_y) if a is not None and len(a)]
        if len(parts_x) == 2:  # the newest part begins at the curve's last point
            parts_x[1], parts_y[1] = parts_x[1][1:], parts_y[1][1:]
        if not parts_x:
            return np.empty(0), np.empty(0)
        return np.concatenate(parts_x), np.concatenate(parts_y)

    def _window_curves(self) -> dict[str, pg.PlotDataItem]:
        curves = {DRIFT + name: curve for name, curve in self.curves.items()}
        curves.update(self.prediction_curves)
        curves["requests_per_s"] = self.requests_curve
        curves["errors_per_s"] = self.errors_curve
        return curves

    def _reduce(self, keys: list[str], start: int | None) -> None:
        """Reduce the rows in view (from ``start``, else the view's left edge) to about two
        points per pixel column of the plot."""
        times = self.windows.times
        left, right = self.drift_plot.getViewBox().viewRange()[0]
        first = int(np.searchsorted(times, left)) if start is None else start
        last = int(np.searchsorted(times, right, side="right"))
        pixels = max(100.0, self.drift_plot.getViewBox().width())
        bucket = int(max(1, (last - first) // (pixels / PIXELS_PER_BUCKET)))
        self.peaks.build(self.windows, keys, max(0, first - bucket), bucket)

    def _draw_threshold(self, t: Any) -> None:
        shown = (self.family, self.threshold) if len(t) else (None, None)
        if shown == self._threshold_shown:
            return  # relabelling an axis lays the plot out again: only on a change
        self._threshold_shown = shown
        family, threshold = shown
        if threshold is None:
            self.threshold_line.setVisible(False)
            self.drift_plot.setLabel("left", "drift score")
            return
        self.threshold_line.setVisible(True)
        self.threshold_line.setPos(threshold)
        if family == "p_value":
            self.threshold_line.label.setFormat(f"drift threshold p = {threshold:g} (below: drift)")
            self.drift_plot.setLabel("left", "p-value (low = drift)")
        else:
            self.threshold_line.label.setFormat(
                f"drift threshold {threshold:g} (at or above: drift)"
            )
            self.drift_plot.setLabel("left", "distance (high = drift)")

    def _follow(self) -> int | None:
        """Keep the newest window in view. The time axis moves in steps (HEADROOM of what it
        shows), so most updates change no range: no axis is redrawn, no curve is cut again.
        The first row in view when the axis moved, else None."""
        new_rows, self._new_rows = self._new_rows, 0
        self._fit_latency()
        times = self.windows.times
        if not self._following or not len(times):
            return None
        first, last = float(times[0]), float(times[-1])
        moved = None
        if self._x_range is None or last > self._x_range[1]:
            seconds = self.visible_seconds
            span = max(last - first, 60.0) if seconds is None else float(seconds)
            # at least a minute: the first window is drawn at the right, not on the left edge
            left = min(first, last - span) if seconds is None else last - span
            self._x_range = (left, last + HEADROOM * span)
            self.drift_plot.setXRange(*self._x_range, padding=0)
            start = moved = int(np.searchsorted(times, left))
            self._y_ranges = {}
        else:
            start = max(0, len(times) - new_rows)  # only the new rows can widen a range
        self._fit_y(start)
        return moved

    def _fit_y(self, start: int) -> None:
        columns = self.windows
        p_values = self.family == "p_value"
        drift = [DRIFT + name for name in self.curves]
        floor = 1.5 * self.threshold if self.threshold is not None and not p_values else 0.1
        self._widen(
            self.drift_plot,
            "drift",
            (0.0, 1.0) if p_values else (0.0, floor),
            None if p_values else _bounds(columns, drift, start),
            zero=True,
        )
        labels = [k for k in self.prediction_curves if k.startswith(LABEL)]
        self._widen(
            self.prediction_plot,
            "predictions",
            (0.0, 1.0) if labels else None,
            None if labels else _bounds(columns, list(self.prediction_curves), start),
        )
        traffic = ["requests_per_s", "errors_per_s"]
        self._widen(self.traffic_plot, "traffic", None,
                    _bounds(columns, traffic, start), zero=True)  # fmt: skip

    def _fit_latency(self) -> None:
        found = _bounds(self.live, ["latency_ms"], 0)
        top = 1.0 if found is None else found[1] * 1.15 or 1.0
        if self._y_ranges.get("latency") != (0.0, top):
            self._y_ranges["latency"] = (0.0, top)
            self.latency_plot.setYRange(0.0, top, padding=0)

    def _widen(
        self,
        plot: pg.PlotItem,
        key: str,
        least: tuple[float, float] | None,
        found: tuple[float, float] | None,
        *,
        zero: bool = False,
    ) -> None:
        """Set ``plot``'s vertical range to hold what it held, ``least`` and ``found``."""
        low, high = self._y_ranges.get(key, least or (math.inf, -math.inf))
        if found is not None:
            pad = 0.08 * max(found[1] - found[0], abs(found[1]) * 0.1, 1e-9)
            low = min(low, 0.0 if zero else found[0] - pad)
            high = max(high, found[1] + pad)
        if not math.isfinite(low) or not math.isfinite(high) or high <= low:
            return
        if self._y_ranges.get(key) != (low, high):
            self._y_ranges[key] = (low, high)
            plot.setYRange(low, high, padding=0)

    # ------------------------------------------------------------------ export
    def export_png(self, path: Path) -> Path:
        """The plots as they are on screen, to a PNG file."""
        from pyqtgraph.exporters import ImageExporter

        self.redraw()
        exporter = ImageExporter(self.graphics.scene())
        exporter.parameters()["width"] = max(1, int(self.graphics.width()))
        exporter.export(str(path))
        return path

    def export_svg(self, path: Path) -> Path:
        """The plots as vector graphics (what is in view, downsampled as on screen)."""
        from pyqtgraph.exporters import SVGExporter

        _read_closed_paths()
        self.redraw()
        SVGExporter(self.graphics.scene()).export(str(path))
        return path

    # ------------------------------------------------------------------ predictions
    def _prediction_curve(self, key: str) -> None:
        if key in self.prediction_curves:
            return
        name: str | None = None
        if key in QUANTILES:
            # thin and solid: wide or dashed pens are slow to draw on long curves
            pen = pg.mkPen(REQUESTS if key == "p50" else QUANTILE_COLOUR, width=1.0)
            self._title(
                self.prediction_plot,
                f"Predictions: {_key(REQUESTS, 'median')} {_key(QUANTILE_COLOUR, 'p10, p90')}",
            )
            self.prediction_plot.setLabel("left", "predicted value")
        else:
            colour = LABEL_COLOURS[len(self.prediction_curves) % len(LABEL_COLOURS)]
            pen = pg.mkPen(colour, width=1.0)
            name = key.removeprefix(LABEL)
            self._title(self.prediction_plot, "Predictions: share of each label")
            self.prediction_plot.setLabel("left", "share of predictions")
        curve = self.prediction_plot.plot(pen=pen, name=name, connect="finite")
        self.prediction_curves[key] = fast_curve(curve)
        self._newest_part(self.prediction_plot, key, curve)


def _read_closed_paths() -> None:
    """Teach pyqtgraph's SVG exporter the "Z" (close path) that Qt 6.10+ writes: it splits
    every token of a path on "," and fails on "Z" (pyqtgraph issue 3495, fixed after 0.14.0).
    A "Z" becomes a line back to where the subpath began, which draws the same outline."""
    import importlib

    functions = vars(importlib.import_module("pyqtgraph.exporters.SVGExporter"))
    original = functions["correctCoordinates"]
    if getattr(original, "reads_closed_paths", False):
        return

    def correct(node: Any, defs: Any, item: Any, options: Any) -> Any:
        for path in node.getElementsByTagName("path"):
            tokens = path.getAttribute("d").split()
            if "Z" not in tokens and "z" not in tokens:
                continue
            start = ""
            rewritten = []
            for token in tokens:
                if token[:1] == "M":
                    start = token[1:]
                if token in ("Z", "z"):
                    if start:
                        rewritten.append("L" + start)
                    continue
                rewritten.append(token)
            path.setAttribute("d", " ".join(rewritten))
        return original(node, defs, item, options)

    correct.reads_closed_paths = True  # type: ignore[attr-defined]
    functions["correctCoordinates"] = correct
