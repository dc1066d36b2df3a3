"""The machinery of the live figure (:mod:`olexplore.ui.live_figure`): a run's artists and the
caches that feed them, incremental smoothing and decimation of growing series, "sticky" axis
limits, where the panels go, and drawing a frame in layers (the canvases are in
:mod:`olexplore.ui.canvas`).

A live history only ever grows at its end, so everything here is incremental: smoothing and the
min/max envelope are computed once for the points already seen, and a frame redraws only the
new pieces of each line, however long the history gets.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import astuple
from typing import Any, TypeAlias

import numpy as np
from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.lines import Line2D

from olexplore.problems.base import Surface
from olexplore.runs.aggregate import check_weight, ema
from olexplore.runs.history import History
from olexplore.ui.decimate import min_max_envelope

_GENERATIONS = itertools.count()
#: An axes rectangle as matplotlib's ``set_position`` takes it: left, bottom, width, height
#: (figure fractions).
Rect: TypeAlias = tuple[float, float, float, float]
#: What a line's settled points belong to: its envelope's generation, or for a trajectory the
#: generations of its x and y envelopes.
Generation: TypeAlias = int | tuple[int, int]


def bucket_size(length: int, buckets: int) -> int:
    """The smallest power of two ``b`` that cuts ``length`` points into at most ``buckets``.

    Powers of two keep bucket edges fixed while a series grows (8 points per bucket stay 8
    until the series needs 16), so finished buckets never need recomputing.

    >>> bucket_size(10_000, 300), bucket_size(10, 300), bucket_size(0, 1)
    (64, 1, 1)
    """
    size = 1
    while size * buckets < length:
        size *= 2
    return size


def _same(a: Any, b: Any) -> bool:
    return bool(a == b or (a != a and b != b))  # NaN equals NaN here


class Envelope:
    """:func:`~olexplore.ui.decimate.min_max_envelope` of a growing series, kept up to date.

    Buckets are :func:`bucket_size` points wide and aligned at index 0: complete buckets are
    reduced once, with ``min_max_envelope(indices, values, count)``; the last, partial bucket is
    reduced at every call with one bucket. :meth:`update` returns ``(indices, values)`` of at
    most ``2 * buckets + 2`` points: the envelope plus the first and the latest point, so a live
    line starts at the first step and ends at the current value. A series that got shorter or
    changed under the cache (a reset run) is recomputed from scratch.

    >>> envelope = Envelope()
    >>> values = np.array([0, 5, 1, 1, 1, 1, 1, 1, -3, 1, 2], dtype=float)
    >>> [a.tolist() for a in envelope.update(values, buckets=2)]  # buckets of 8 points
    [[0, 1, 8, 10], [0.0, 5.0, -3.0, 2.0]]
    """

    def __init__(self) -> None:
        self.reset()

    def reset(self) -> None:
        """Forget the cached buckets."""
        self.generation = next(_GENERATIONS)  # changes whenever drawn points may change
        self._size = 0
        self.reduced = 0  # leading values reduced into complete buckets, for good
        self.settled = 0  # leading points of the result that stay until the next reset
        self._last: Any = None  # the last reduced value, to notice a replaced series
        self._indices = np.empty(0, dtype=np.int64)
        self._values = np.empty(0, dtype=np.float64)
        self._result: Any = None  # the last result, and the series' length and end it came from
        self._seen: Any = None

    def update(self, values: np.ndarray, buckets: int) -> tuple[np.ndarray, np.ndarray]:
        """The envelope of all of ``values`` (the cached part is reused)."""
        length = len(values)
        size = bucket_size(length, buckets)
        if (
            size != self._size
            or length < self.reduced
            or (self.reduced and not _same(values[self.reduced - 1], self._last))
        ):
            self.reset()
            self._size = size
        seen = (length, values[length - 1] if length else None)
        if self._seen is not None and self._seen[0] == length and _same(self._seen[1], seen[1]):
            return self._result  # an idle run: nothing new
        full = length - length % size
        if full > self.reduced:
            indices = np.arange(self.reduced, full)
            picked, kept = min_max_envelope(
                indices, values[self.reduced : full], indices.size // size
            )
            if not self.reduced and picked[0] != 0:  # the line starts at the first point
                picked, kept = np.r_[0, picked], np.r_[values[0], kept]
            self._indices = np.concatenate([self._indices, picked])
            self._values = np.concatenate([self._values, np.asarray(kept, dtype=np.float64)])
            self.reduced, self.settled = full, self._indices.size
            self._last = values[full - 1]
        picked, kept = min_max_envelope(np.arange(full, length), values[full:], 1)
        last = picked[-1] if picked.size else (self._indices[-1] if self._indices.size else -1)
        if length and last != length - 1:  # and ends at the latest one
            picked, kept = np.r_[picked, length - 1], np.r_[kept, values[length - 1]]
        self._seen = seen
        self._result = (
            np.concatenate([self._indices, picked]),
            np.concatenate([self._values, np.asarray(kept, dtype=np.float64)]),
        )
        return self._result


class Smoother:
    """:func:`~olexplore.runs.aggregate.ema` of a growing series, extended chunk by chunk.

    Only the new values are filtered (by ``ema`` itself, from a zero state) and joined to the
    running state: with ``s`` the undebiased average after ``K`` finite values and ``e_j`` the
    debiased average of the ``j`` new finite values, the result is
    ``(w**j * s + (1 - w**j) * e_j) / (1 - w**(K + j))``, the same as smoothing everything again.

    >>> smoother = Smoother(0.5)
    >>> _ = smoother.update(np.array([1.0, np.nan]))
    >>> smoother.update(np.array([1.0, np.nan, 3.0])).tolist()
    [1.0, nan, 2.3333333333333335]
    >>> ema([1.0, np.nan, 3.0], 0.5).tolist()
    [1.0, nan, 2.3333333333333335]
    """

    def __init__(self, weight: float) -> None:
        self.weight = check_weight(weight, "smoothing")
        self.reset()

    def reset(self) -> None:
        """Start again from no values."""
        self._state = 0.0  # the undebiased average
        self._count = 0  # finite values seen
        self._buffer = np.empty(0, dtype=np.float64)
        self._last: Any = None

    def update(self, values: np.ndarray) -> np.ndarray:
        """The smoothed series, as long as ``values``."""
        done = self._buffer.size
        if len(values) < done or (done and not _same(values[done - 1], self._last)):
            self.reset()
            done = 0
        new = np.asarray(values[done:], dtype=np.float64)
        if new.size:
            finite = np.isfinite(new)
            smoothed = ema(new, self.weight)
            if finite.any():
                w = self.weight
                j = np.arange(1, int(finite.sum()) + 1)
                fresh = smoothed[finite]
                smoothed[finite] = (w**j * self._state + (1.0 - w**j) * fresh) / (
                    1.0 - w ** (self._count + j)
                )
                self._state = w ** j[-1] * self._state + (1.0 - w ** j[-1]) * fresh[-1]
                self._count += int(j[-1])
            self._buffer = np.concatenate([self._buffer, smoothed])
            self._last = values[len(values) - 1]
        return self._buffer


def sticky_limits(
    view: tuple[float, float] | None,
    low: float,
    high: float,
    *,
    log: bool = False,
    grow: float = 0.0,
    pad: float = 0.08,
    shrink: float = 0.25,
) -> tuple[float, float] | None:
    """New limits for data spanning ``[low, high]``, or ``None`` to keep ``view``.

    A view is kept while it holds the data and the data fill at least ``shrink`` of it (on a
    log axis, in decades), so the axes, ticks and labels need redrawing only now and then. New
    limits pad the data by ``pad`` of its span on both sides, plus ``grow`` of the span on the
    side where the data left the view (above, for a first view): room to go on.

    >>> sticky_limits(None, 0, 100, grow=0.3, pad=0.0)
    (0.0, 130.0)
    >>> sticky_limits((0.0, 130.0), 0, 120, grow=0.3, pad=0.0) is None
    True
    >>> sticky_limits((1e-3, 10.0), 1e-4, 1.0, log=True, grow=0.25)  # left below: room below
    (4.78630092322638e-06, 2.0892961308540396)
    """
    forward, backward = (math.log10, lambda v: 10.0**v) if log else (float, float)
    lo, hi = forward(low), forward(high)
    if view is not None:
        view_lo, view_hi = forward(view[0]), forward(view[1])
        if view_lo <= lo and hi <= view_hi and (hi - lo) >= shrink * (view_hi - view_lo):
            return None
    span = hi - lo
    if span > 1e-9 * max(abs(lo), abs(hi)):
        margin = pad * span
    else:
        span, margin = 0.0, (0.05 if log else abs(lo) * 0.05 or 0.5)
    below = view is not None and lo < forward(view[0])
    above = view is None or hi > forward(view[1])
    return backward(lo - margin - below * grow * span), backward(hi + margin + above * grow * span)


def panel_rectangles(
    width: float, height: float, top: float, contour: bool, held_out: int = 0
) -> tuple[list[Rect], Rect | None, list[Rect]]:
    """Axes rectangles (figure fractions) for the three stacked line panels and, on the right,
    a square-ish contour panel (with ``contour``) or ``held_out`` stacked panels of held-out
    metrics (validation loss, accuracy); ``width``, ``height`` and the space kept free at the
    ``top`` (title, legend) are in inches. The contour takes the right column if both are asked.

    >>> lines, contour, held = panel_rectangles(9.0, 6.0, 0.5, contour=False)
    >>> len(lines), contour is None, held, [round(v, 3) for v in lines[0]]
    (3, True, [], [0.1, 0.658, 0.878, 0.258])
    >>> lines, _, held = panel_rectangles(9.0, 6.0, 0.5, contour=False, held_out=2)
    >>> len(held), round(lines[0][2] + lines[0][0], 3) < round(held[0][0], 3)
    (2, True)
    """
    left, right, bottom, gap, column_gap = 0.9, 0.2, 0.55, 0.15, 0.75
    usable_height = max(height - top - bottom, 0.3)
    held_out = 0 if contour else held_out
    if contour:
        column = min(usable_height, 0.42 * width)
    elif held_out:
        column = 0.34 * width
    else:
        column = 0.0
    line_width = width - left - right - (column + column_gap if column else 0.0)
    row = (usable_height - 2 * gap) / 3
    lines = [
        (left / width, (bottom + (2 - i) * (row + gap)) / height, line_width / width, row / height)
        for i in range(3)
    ]
    x0 = (width - right - column) / width
    if contour:
        y0 = (bottom + (usable_height - column) / 2) / height
        return lines, (x0, y0, column / width, column / height), []
    held_row = (usable_height - (held_out - 1) * gap * 2) / max(held_out, 1)
    held = [
        (
            x0,
            (bottom + (held_out - 1 - i) * (held_row + 2 * gap)) / height,
            column / width,
            held_row / height,
        )
        for i in range(held_out)
    ]
    return lines, None, held


def last_finite(values: np.ndarray, first_step: int = 0) -> tuple[list[float], list[float]]:
    """Where a diverged run's × goes: its last finite point, as ``([x], [y])`` with x the step
    (1-D values) or the point itself (2-D positions); empty lists when nothing is finite.

    >>> last_finite(np.array([3.0, 2.0, np.inf, np.nan]), first_step=10)
    ([11], [2.0])
    """
    finite = np.isfinite(values) if values.ndim == 1 else np.isfinite(values).all(axis=1)
    where = np.flatnonzero(finite)
    if not where.size:
        return [], []
    last = values[where[-1]]
    if values.ndim == 1:
        return [first_step + int(where[-1])], [float(last)]
    return [float(last[0])], [float(last[1])]


def same_surface(a: Surface | None, b: Surface | None) -> bool:
    """Whether two surfaces draw the same contour: equal ranges, minima, start and scale, and
    equal values on a coarse grid (``problem.surface()`` makes a new function at every call).

    >>> bowl = Surface(lambda x, y: x**2 + y**2, (-1, 1), (-1, 1), ((0.0, 0.0),), (0.5, 0.5))
    >>> same_surface(bowl, Surface(lambda x, y: y**2 + x**2, *astuple(bowl)[1:]))
    True
    """
    if a is b:
        return True
    if a is None or b is None or astuple(a)[1:] != astuple(b)[1:]:
        return False
    with np.errstate(all="ignore"):
        return bool(np.array_equal(a.grid(9)[2], b.grid(9)[2], equal_nan=True))


# --------------------------------------------------------------------- a run's artists
#: role -> (panel, history series, zorder); a run's artist has the gid ``"{key}:{role}"``.
ROLES = {
    "loss:raw": ("loss", "loss", 1.9),
    "loss": ("loss", "loss", 2.0),
    "learning_rate": ("learning_rate", "learning_rate", 2.0),
    "global_norm": ("global_norm", "global_norm", 2.0),
    "clipped_global_norm": ("global_norm", "clipped_global_norm", 2.1),
    "position": ("contour", "position", 2.5),
}
#: A held-out metric's panel, and each run's artist in it, is named ``held:<metric>``.
HELD = "held:"
MAX_DOTS = 60  # evaluations drawn as dots; more (a run made longer) as a plain line
_ALWAYS = ("loss", "learning_rate", "global_norm")  # drawn (empty) even before they exist
_MARKED = ("loss", "learning_rate", "global_norm", "position")  # get the × of a diverged run


def panel_of(role: str) -> str:
    """The panel a run's artist of ``role`` is drawn in.

    >>> panel_of("loss:raw"), panel_of("position:diverged"), panel_of("held:val_loss")
    ('loss', 'contour', 'held:val_loss')
    """
    if role.startswith(HELD):
        return role
    return ROLES[role.split(":")[0]][0]


class RunArtists:
    """One run's artists by role, each created once when first needed (``clipped_global_norm``
    and ``position`` when recorded, ``<role>:diverged`` markers when the run diverges, a
    ``held:<metric>`` line when its panel is shown and the run has evaluated it), and the caches
    that feed them. ``trace`` arguments are :class:`~olexplore.ui.live_figure.Trace`."""

    def __init__(self, history: History, smoothing: float) -> None:
        self.history = history
        self.lines: dict[str, Line2D] = {}
        self.envelopes: dict[str, Envelope] = {}
        self.smoother = Smoother(smoothing) if smoothing else None
        #: role -> (generation, count): its line's first ``count`` points stay as they are
        #: until the generation changes (what a figure may keep drawn between frames)
        self.settled: dict[str, tuple[Generation, int]] = {}
        self.fed_length = 0  # the history's length at the last feed
        self._style: tuple[str, str] | None = None

    def remove(self, panel: str | None = None) -> None:
        """Take the artists (of one ``panel``, or all) off their axes and forget them."""
        for role in [r for r in self.lines if panel in (None, panel_of(r))]:
            self.lines.pop(role).remove()
            self.envelopes.pop(role, None)
        if panel in (None, "contour"):
            self.envelopes.pop("position:x", None)
            self.envelopes.pop("position:y", None)

    def sync(self, trace: Any, axes: dict[str, Axes], smoothing: float) -> None:
        """Create the artists ``trace`` now needs; follow its colour, style and visibility."""
        names = trace.history.names
        for role, (panel, series, zorder) in ROLES.items():
            wanted = series in _ALWAYS or series in names
            if role not in self.lines and wanted and panel in axes:
                self._add(axes[panel], trace, role, zorder)
            marker = f"{role}:diverged"
            if trace.status == "diverged" and role in _MARKED and role in self.lines:
                if marker not in self.lines:
                    self._add(axes[panel], trace, marker, 3.0)
        evaluated = trace.history.evaluation_names
        for panel, ax in axes.items():
            if panel.startswith(HELD) and panel not in self.lines:
                if panel[len(HELD) :] in evaluated:
                    self._add(ax, trace, panel, 2.0)
        if self._style != (trace.color, trace.linestyle):
            self._style = (trace.color, trace.linestyle)
            for role, line in self.lines.items():
                line.set_color(trace.color)
                if (role in ROLES or role.startswith(HELD)) and role != "clipped_global_norm":
                    line.set_linestyle(trace.linestyle)
        for role, line in self.lines.items():
            shown = trace.visible
            if role == "loss:raw":
                shown = shown and smoothing > 0
            elif role.endswith(":diverged"):
                shown = shown and trace.status == "diverged"
            line.set_visible(shown)

    def _add(self, ax: Axes, trace: Any, role: str, zorder: float) -> None:
        style: dict[str, Any] = {"linewidth": 1.4, "linestyle": trace.linestyle}
        if role == "loss:raw":
            style.update(alpha=0.25, linewidth=0.8)
        elif role == "clipped_global_norm":
            style["linestyle"] = "--"
        elif role.endswith(":diverged"):
            style = {"linestyle": "none", "marker": "x", "markersize": 9, "markeredgewidth": 2}
        elif role.startswith(HELD):  # a few evaluations: each one a dot
            style.update(marker="o", markersize=3.5, linewidth=1.2)
        gid = f"{trace.key}:{role}"
        self.lines[role] = ax.add_line(
            Line2D([], [], color=trace.color, zorder=zorder, gid=gid, **style)
        )
        for name in ("position:x", "position:y") if role == "position" else (role,):
            self.envelopes.setdefault(name, Envelope())

    def feed(
        self,
        buckets: dict[str, int],
        log_y: dict[str, bool],
        extents: dict[str, list[float]],
        start: Any = None,
    ) -> None:
        """``set_data`` for the shown artists: each line the envelope of its series in
        ``buckets[panel]`` buckets (x in steps), the loss smoothed when a smoother is set, a
        trajectory from ``start``; widen each panel's ``extents`` to the values drawn."""
        history = self.history
        self.fed_length = len(history)
        table: dict[str, np.ndarray] | None = None
        for role, line in self.lines.items():
            if role.endswith(":diverged") or not line.get_visible():
                continue
            if role.startswith(HELD):  # sparse: drawn as recorded, no decimation
                table = history.evaluations if table is None else table
                values = table.get(role[len(HELD) :], np.empty(0))
                line.set_data(table["step"][: len(values)], values)
                line.set_marker("o" if len(values) <= MAX_DOTS else "None")  # else a crowd
                self.settled[role] = (0, 0)  # a few points: redrawn with every frame
                _widen(extents, role, values, log_y[role])
                continue
            panel, series, _ = ROLES[role]
            if role == "position":  # the points that are extremes of x or y in their bucket
                values = history["position"]
                along_x, along_y = self.envelopes["position:x"], self.envelopes["position:y"]
                picked = np.union1d(
                    along_x.update(values[:, 0], buckets[panel])[0],
                    along_y.update(values[:, 1], buckets[panel])[0],
                )
                path = np.asarray(values[picked], dtype=np.float64)
                line.set_data(*np.vstack([np.reshape(start, (1, 2)), path]).T)
                reduced = min(along_x.reduced, along_y.reduced)
                count = 1 + int(np.searchsorted(picked, reduced))  # the start point too
                self.settled[role] = ((along_x.generation, along_y.generation), count)
            else:
                values = history[series] if series in history else np.empty(0)
                if role == "loss" and self.smoother is not None:
                    values = self.smoother.update(values)
                envelope = self.envelopes[role]
                indices, drawn = envelope.update(values, buckets[panel])
                line.set_data(indices + history.first_step, drawn)
                self.settled[role] = (envelope.generation, envelope.settled)
                _widen(extents, panel, drawn, log_y[panel])
            marker = self.lines.get(f"{role}:diverged")
            if marker is not None and marker.get_visible():
                marker.set_data(*last_finite(values, history.first_step))


def _widen(extents: dict[str, list[float]], panel: str, drawn: np.ndarray, log: bool) -> None:
    """Widen ``extents[panel]`` to the finite values drawn (on a log axis: positive ones)."""
    kept = drawn[np.isfinite(drawn) & ((drawn > 0) | (not log))]
    if kept.size:
        low, high = extents[panel]
        extents[panel] = [min(low, float(kept.min())), max(high, float(kept.max()))]


# --------------------------------------------------------------------- drawing in layers
class FrameLayers:
    """Draws a frame in three layers, so that it costs about what changed since the last one.

    The background (everything but the runs' artists) is rendered only when ``signature``
    (limits, scales, legend, title, size) changes. The settled points of each line (complete
    envelope buckets, which later frames only extend) are kept drawn in a snapshot over it; the
    rest (the partial bucket, markers) is drawn over the snapshot at every frame. An idle run's
    line goes into the snapshot whole, until it grows again.
    """

    def __init__(self, snapshot_points: int = 64) -> None:
        self.snapshot_points = snapshot_points  # fewer new settled points: drawn with the rest
        self._background: Any = None
        self._snapshot: Any = None
        self._signature: Any = None
        self._layers: tuple = ()
        self._drawn: dict[Line2D, tuple[int, int | None]] = {}  # points in the snapshot, whole
        self._lengths: dict[Line2D, int] = {}  # history lengths at the last frame

    def render(
        self,
        canvas: FigureCanvasAgg,
        shown: list[tuple[Line2D, Generation, int, int]],
        signature: Any,
    ) -> None:
        """Render ``shown`` (``(line, generation, settled points, history length)`` in drawing
        order) into the canvas's buffer, without sending it anywhere."""
        box = canvas.figure.bbox
        if self._background is None or signature != self._signature:
            for line, *_ in shown:
                line.set_visible(False)
            try:
                FigureCanvasAgg.draw(canvas)  # only renders (ipympl's own draw also sends)
            finally:
                for line, *_ in shown:
                    line.set_visible(True)
            self._background = canvas.copy_from_bbox(box)
            self._signature, self._snapshot = signature, None
        layers = tuple((id(line), generation, line.get_color()) for line, generation, *_ in shown)
        if (
            self._snapshot is None
            or layers != self._layers
            # a line kept whole whose run went on: its old partial bucket is in the snapshot
            or any(self._drawn.get(line, (0, None))[1] not in (None, n) for line, *_, n in shown)
        ):
            canvas.restore_region(self._background)
            self._layers, self._drawn = layers, {}
        else:
            canvas.restore_region(self._snapshot)
        rest = []
        for line, _, count, length in shown:
            done, whole = self._drawn.get(line, (0, None))
            if whole is not None:
                continue
            if self._lengths.get(line) == length:  # an idle run: keep all of it
                draw_part(line, max(done - 1, 0), None)
                self._drawn[line] = (count, length)
                continue
            if count - done >= self.snapshot_points:
                draw_part(line, max(done - 1, 0), count)
                self._drawn[line] = done, _ = (count, None)
            rest.append((line, done))
        self._lengths = {line: length for line, *_, length in shown}
        self._snapshot = canvas.copy_from_bbox(box)
        for line, done in rest:
            draw_part(line, max(done - 1, 0), None)


def draw_part(line: Line2D, start: int, stop: int | None) -> None:
    """Draw points ``start:stop`` of ``line`` over what its canvas holds (``line`` must be on
    an Axes).

    >>> from matplotlib.figure import Figure
    >>> figure = Figure(figsize=(2, 1))
    >>> canvas = FigureCanvasAgg(figure)
    >>> line = figure.add_subplot().plot([0, 1, 2], [0, 1, 0])[0]
    >>> canvas.draw()
    >>> draw_part(line, 1, 3)
    >>> line.get_xdata().tolist()  # the line keeps all its points
    [0, 1, 2]
    >>> draw_part(Line2D([0, 1], [0, 1], gid="run-1:loss"), 0, None)
    Traceback (most recent call last):
    ...
    ValueError: line: got 'run-1:loss', a line on no Axes; accepted: a line added to an Axes.
    """
    ax = line.axes
    if ax is None:
        name = line.get_gid() or line.get_label()
        raise ValueError(
            f"line: got {name!r}, a line on no Axes; accepted: a line added to an Axes."
        )
    if start == 0 and stop is None:
        ax.draw_artist(line)
        return
    x, y = line.get_xdata(orig=True), line.get_ydata(orig=True)
    line.set_data(np.asarray(x)[start:stop], np.asarray(y)[start:stop])
    try:
        ax.draw_artist(line)
    finally:
        line.set_data(x, y)
