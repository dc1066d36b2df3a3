"""The explorer's live figure: loss, learning rate and global norm (before and after clipping) of
every shown run, and on 2-D problems a contour with their trajectories, redrawn while training.

What the browser shows is what the kernel's figure holds: :meth:`LiveFigure.rendered` is the
figure drawn whole by matplotlib, and every frame sent equals it (within antialiasing where line
pieces join; the browser tests compare the two pixel by pixel). Frames are sent whole (see
:mod:`olexplore.ui.canvas`), so a frame the browser skips cannot leave stale pixels behind.

Built for speed: each run's artists are created once and fed with ``set_data``; every line is
decimated to about one point per pixel by a min/max envelope kept up to date incrementally, so
a frame costs the same after 1,000 or 1,000,000 steps. A full matplotlib draw of the explorer's
figure (10 runs) costs 3-4x a frame drawn in layers (benchmarks/RESULTS.md, "Explorer UI"), so a
frame redraws only what changed (:class:`~olexplore.ui.figure_panels.FrameLayers`: axes and
labels when limits change, new line pieces otherwise). While a run trains, axis limits are
sticky (they leave room to grow); once nothing trains they fit the data shown. Ticks come from
matplotlib's locators (at most about one step label per inch, written 350k). A trace that
appears, goes, is hidden or shown, gets a new history (a reset) or stops training is drawn at
once; otherwise :meth:`LiveFigure.update` draws at most every ``min_interval`` seconds, further
apart (up to 0.22 s: still 4 frames a second, frames coming after training chunks) when a frame
would take more than 12 % of the time. One re-entrant lock guards the artists and every draw,
ipympl's own draws (resize, zoom, download) included, so the explorer may update from any
thread or event loop. A resize of the canvas (ipympl's resize handle, matplotlib's
``resize_event``) lays the figure out for its new size, as a figure made at that size, and
draws a full frame.
"""

from __future__ import annotations

import math
import statistics
import threading
import time
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import ipywidgets
import numpy as np
from matplotlib.axes import Axes
from matplotlib.backend_bases import Event
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.ticker import EngFormatter, LogFormatter, MaxNLocator
from matplotlib.typing import LineStyleType

from olexplore.engine.validation import describe, is_real_number
from olexplore.problems.base import Surface
from olexplore.runs.aggregate import check_weight
from olexplore.runs.figures import LOG_Y_METRICS, plot_trajectories, run_style
from olexplore.runs.history import History
from olexplore.ui.canvas import BACKENDS, attach_canvas, resolve_backend, show_png
from olexplore.ui.figure_panels import (
    HELD,
    Envelope,
    FrameLayers,
    Generation,
    RunArtists,
    Smoother,
    panel_rectangles,
    same_surface,
    sticky_limits,
)

__all__ = ["BACKENDS", "PANELS", "LiveFigure", "Trace"]

PANELS = ("loss", "learning_rate", "global_norm")
NOTE_STATUSES = ("diverged", "failed")  # a trace in one of these gets a note in the title
FRAME_SHARE = 0.12  # of the wall time a redraw may take, within the 4 frames a second below
MAX_FRAME_INTERVAL = 0.22  # frames come after a training chunk: >= 4 a second
#: Held-out metrics get panels on the right (where 2-D problems have their contour), these first
HELD_OUT_FIRST, MAX_HELD_OUT = ("val_loss", "val_accuracy"), 2
_TITLE_INCHES, _LEGEND_ROW_INCHES, _LEGEND_COLUMN_INCHES = 0.3, 0.2, 2.6
# A legend label longer than its column would push the legend off the figure: cut to fit (the
# run table shows it whole). Small DejaVu Sans averages about 15 characters an inch.
_LEGEND_HANDLE_INCHES, _LEGEND_CHARACTERS_PER_INCH = 0.6, 15
_LegendEntry = tuple[str, str, LineStyleType]  # label, colour, line style
_YLABELS = {
    "loss": "loss",
    "learning_rate": "learning rate",
    "global_norm": "global norm\n(dashed: clipped)",
}


@dataclass
class Trace:
    """One run as the live figure draws it; ``history`` may grow between updates.

    >>> Trace.styled(1, "run-1", "Adam lr=0.1", History()).color
    '#D55E00'
    """

    key: str  # stable id
    label: str
    history: History
    color: str
    linestyle: LineStyleType = "-"
    visible: bool = True
    status: str = "running"  # "diverged" runs get an × at their last finite point
    reason: str = ""  # why a diverged or failed run ended: its note in the title

    @classmethod
    def styled(cls, index: int, key: str, label: str, history: History, **fields: Any) -> Trace:
        """A Trace coloured and dashed like run ``index`` of the static figures (``run_style``)."""
        return cls(key, label, history, **{**run_style(index), **fields})


class LiveFigure:
    """The live figure and its widget (an ipympl canvas, or a PNG ``ipywidgets.Image``).

    ``backend="auto"`` picks ipympl inside a Jupyter kernel where it is installed, else PNG.

    >>> live = LiveFigure(backend="png", min_interval=0.0)
    >>> history = History()
    >>> history.extend({"loss": np.geomspace(10, 0.1, 5000), "learning_rate": np.full(5000, 0.1),
    ...                 "global_norm": np.linspace(3, 1, 5000)})
    >>> live.update([Trace("a", "Adam", history, "#0072B2")])
    True
    >>> len(live.artists("a")["loss"].get_xdata()) < 1000, bytes(live.widget.value[:4])
    (True, b'\\x89PNG')
    >>> live.set_log_y("learning_rate", True)
    >>> live.set_smoothing(0.6)
    >>> live.axes["learning_rate"].get_yscale(), live.artists("a")["loss:raw"].get_visible()
    ('log', True)
    """

    def __init__(
        self,
        backend: str = "auto",
        width: float = 9.0,
        height: float = 6.0,
        min_interval: float = 0.2,
    ) -> None:
        self.backend = resolve_backend(backend)
        for name, value in (("width", width), ("height", height)):
            if not is_real_number(value) or not 2.0 <= value <= 40.0:
                raise ValueError(f"{name}: got {describe(value)}; accepted: inches in [2, 40].")
        if not is_real_number(min_interval) or not 0.0 <= min_interval <= 60.0:
            raise ValueError(
                f"min_interval: got {describe(min_interval)}; accepted: seconds in [0, 60]."
            )
        self.min_interval = float(min_interval)
        self.last_draw_seconds = 0.0
        self._lock = threading.RLock()
        self._costs: deque[float] = deque(maxlen=5)
        self._last_draw = -math.inf
        self._log_y = {panel: panel in LOG_Y_METRICS for panel in PANELS}
        self._smoothing = 0.0
        self._traces: list[Trace] = []
        self._drawn: dict[str, RunArtists] = {}
        self._notes: dict[str, str] = {}  # trace key -> its note (mark)
        self._pending_note: str | None = None  # mark() before the trace's status says why
        self._shape: tuple = ()  # what update() draws at once when it changes
        self._surface: Surface | None = None
        self._held: tuple[str, ...] = ()  # the held-out metrics that have panels
        self._cursor: int | None = None  # the step marked by set_cursor
        self._plan: Line2D | None = None  # the planned learning rate (set_plan)
        self._plan_range: tuple[float, float, int] | None = None  # its low, high and length
        self._cursor_artists: dict[str, Line2D] = {}  # panel or "at:<trace key>" -> artist
        self._layers = FrameLayers()
        self._structure = 0  # bumped whenever the background changes
        self._legend: Any = None
        self._legend_entries: tuple[_LegendEntry, ...] = ()
        self._legend_rows = 0
        self._ours: dict[tuple[Axes, str], deque] = {}  # views this figure set, per axis
        self.figure = Figure(figsize=(width, height), dpi=100)
        self.widget = attach_canvas(self.figure, self.backend, self._lock)
        self._title = self.figure.suptitle("", x=0.01, ha="left", fontsize="medium")
        self._axes: dict[str, Axes] = {}
        for panel in PANELS:
            ax = self.figure.add_axes((0, 0, 1, 1), sharex=self._axes.get("loss"))
            ax.set_autoscale_on(False)
            ax.set_ylabel(_YLABELS[panel])
            ax.yaxis.get_offset_text().set_fontsize("small")
            ax.grid(True, alpha=0.3)
            ax.tick_params(labelbottom=panel == PANELS[-1], labelsize="small")
            self._axes[panel] = ax
            self._reset_y(panel)
        self._axes[PANELS[-1]].set_xlabel("step")
        steps = self._axes["loss"].xaxis  # shared by the three panels
        self._set_step_ticks()
        steps.set_major_formatter(EngFormatter(sep=""))  # 350k, 1.2M: short labels
        self._set_view(self._axes["loss"], "x", (0.0, 100.0))
        self._layout()
        self.figure.canvas.mpl_connect("resize_event", self._on_resize)
        self.draw()

    # ----------------------------------------------------------------- read-outs
    @property
    def log_y(self) -> dict[str, bool]:
        """Whether each panel has a log y axis (change with :meth:`set_log_y`)."""
        return dict(self._log_y)

    @property
    def smoothing(self) -> float:
        """The EMA weight of the loss panel (change with :meth:`set_smoothing`)."""
        return self._smoothing

    @property
    def axes(self) -> dict[str, Axes]:
        """The panels: ``"loss"``, ``"learning_rate"``, ``"global_norm"`` (+ ``"contour"``, or
        ``"held:val_loss"``, ``"held:val_accuracy"``: the held-out metrics of the runs shown)."""
        return dict(self._axes)

    @property
    def frame_interval(self) -> float:
        """Seconds :meth:`update` waits between draws: ``min_interval`` (0: none), or longer
        when recent draws took more than 12 % of it (at most 0.22 s, or ``min_interval``)."""
        if not self.min_interval or not self._costs:
            return self.min_interval
        cost = statistics.median(self._costs)
        return max(self.min_interval, min(cost / FRAME_SHARE, MAX_FRAME_INTERVAL))

    def artists(self, key: str) -> dict[str, Line2D]:
        """A run's artists by role: ``loss``, ``loss:raw``, ``learning_rate``, ``global_norm``,
        ``clipped_global_norm``, ``position``, and ``<role>:diverged`` markers."""
        drawn = self._drawn.get(key)
        if drawn is None:
            raise KeyError(f"key: got {key!r}; accepted: a shown trace's key, {list(self._drawn)}")
        return dict(drawn.lines)

    # ----------------------------------------------------------------- settings
    def set_surface(self, surface: Surface | None) -> None:
        """Add the contour panel for ``surface`` (drawn once), or remove it with ``None``."""
        if surface is not None and not isinstance(surface, Surface):
            raise ValueError(
                f"surface: got {describe(surface)}; accepted: a Surface (problem.surface()), None."
            )
        with self._lock:
            if same_surface(surface, self._surface):
                return
            if "contour" in self._axes:
                for drawn in self._drawn.values():
                    drawn.remove("contour")
                self._axes.pop("contour").remove()
            self._surface = surface
            if surface is not None:
                ax = self.figure.add_axes((0, 0, 1, 1))
                plot_trajectories([], surface, ax=ax)
                ax.set_autoscale_on(False)
                ax.tick_params(labelsize="small")
                self._axes["contour"] = ax
            self._sync_held(self._traces)  # the contour takes the right column
            self._layout()
            self._sync_artists(self._traces)
            self.draw()

    def set_log_y(self, panel: str, on: bool) -> None:
        """Put ``panel``'s y axis on a log scale (non-positive values are not drawn) or not."""
        if panel not in PANELS:
            raise ValueError(f"panel: got {describe(panel)}; accepted: one of {PANELS}.")
        if not isinstance(on, (bool, np.bool_)):
            raise ValueError(f"on: got {describe(on)}; accepted: True or False.")
        with self._lock:
            if self._log_y[panel] == bool(on):
                return
            self._log_y[panel] = bool(on)
            for name in self._line_panels():
                if self._panel_base(name) == panel:
                    self._reset_y(name)
            self.draw()

    def set_smoothing(self, weight: float) -> None:
        """Draw the loss as an EMA of weight ``weight`` over the faint raw loss (0: raw only)."""
        weight = check_weight(weight, "smoothing")
        with self._lock:
            if weight == self._smoothing:
                return
            self._smoothing = weight
            for drawn in self._drawn.values():
                drawn.smoother = Smoother(weight) if weight else None
                drawn.envelopes["loss"].reset()
            self._sync_artists(self._traces)
            self.draw()

    @property
    def cursor(self) -> int | None:
        """The step marked on every run (see :meth:`set_cursor`), or ``None``."""
        return self._cursor

    def set_plan(self, rates: Any, color: str = "#555555", every: int = 1) -> None:
        """Show the planned learning rate (``rates`` at steps 0, ``every``, 2·``every``, ...,
        e.g. from :func:`olexplore.runs.schedule.schedule`) as a faint band under the runs in
        the learning-rate panel; ``None`` removes it. Before anything has trained the steps
        axis spans the whole plan.

        >>> live = LiveFigure(backend="png")
        >>> live.set_plan(np.geomspace(0.1, 0.001, 5000))
        >>> [float(x) for x in live.axes["loss"].get_xlim()]
        [0.0, 4999.0]
        """
        if isinstance(every, bool) or not isinstance(every, (int, np.integer)) or every < 1:
            raise ValueError(f"every: got {describe(every)}; accepted: an integer >= 1.")
        if rates is not None:
            rates = np.asarray(rates, dtype=np.float64)
            if rates.ndim != 1 or not rates.size:
                raise ValueError(
                    f"rates: got {describe(rates)}; accepted: None or a 1-D array of one "
                    "learning rate per step."
                )
        with self._lock:
            if self._plan is not None:
                self._plan.remove()
                self._plan, self._plan_range = None, None
            if rates is not None:
                ax = self._axes["learning_rate"]
                buckets = max(8, int(ax.bbox.width) // 2)
                steps, drawn = Envelope().update(rates, buckets)
                line = Line2D(
                    steps * every, drawn, color=color, alpha=0.3, linewidth=3.0, zorder=1.5
                )
                self._plan = ax.add_line(line)
                finite = rates[np.isfinite(rates)]
                if finite.size:
                    length = (rates.size - 1) * every + 1
                    self._plan_range = (float(finite.min()), float(finite.max()), length)
            self._structure += 1
            self.draw()

    @property
    def plan(self) -> Line2D | None:
        """The planned learning rate's line (see :meth:`set_plan`), or ``None``."""
        return self._plan

    def set_cursor(self, step: int | None) -> None:
        """Mark ``step`` on every shown run: a vertical line across the panels with steps and,
        on a contour, each run's point after ``step`` steps (its last one if it stopped before),
        so a trajectory can be replayed; ``None`` removes the marks.

        >>> live = LiveFigure(backend="png")
        >>> history = History()
        >>> history.extend({"loss": [4.0, 2.0, 1.0], "position": [[1, 1], [2, 2], [3, 3]]})
        >>> live.set_surface(Surface(lambda x, y: x + y, (0, 4), (0, 4), (), (0.0, 0.0)))
        >>> _ = live.update([Trace("a", "Adam", history, "k")])
        >>> live.set_cursor(2)
        >>> live.cursor_point("a")
        (2.0, 2.0)
        """
        if step is not None and (
            isinstance(step, bool) or not isinstance(step, (int, np.integer)) or step < 0
        ):
            raise ValueError(f"step: got {describe(step)}; accepted: None or an integer >= 0.")
        with self._lock:
            self._cursor = None if step is None else int(step)
            self.draw()

    def cursor_point(self, key: str) -> tuple[float, float] | None:
        """Where the cursor marks the trace of ``key`` on the contour (``None``: no mark)."""
        artist = self._cursor_artists.get(f"at:{key}")
        if artist is None or not artist.get_visible():
            return None
        x, y = artist.get_data()
        return float(np.asarray(x)[0]), float(np.asarray(y)[0])

    def mark(self, text: str, key: str | None = None) -> None:
        """A note in the title for one run, e.g. ``"diverged at step 37"``, shown as
        ``"<label>: <text>"`` while its trace is shown: the trace of ``key``, or without a key
        the shown traces that have diverged or failed (if none has yet, those that have at the
        next :meth:`update`). A note goes with its trace (removed, or a new history under its
        key: a reset). ``text=""`` clears the note of ``key``, or all. A diverged or failed
        trace without a note shows its ``reason`` (or status).

        >>> live = LiveFigure(backend="png")
        >>> history = History()
        >>> history.extend({"loss": [1.0, float("nan")]})
        >>> live.update([Trace("a", "Adam", history, "k", status="diverged")])
        True
        >>> live.mark("diverged at step 1"); live.title
        'Adam: diverged at step 1'
        >>> _ = live.update([]); live.title
        ''
        """
        if not isinstance(text, str):
            raise ValueError(f"text: got {describe(text)}; accepted: a string.")
        if key is not None and not isinstance(key, str):
            raise ValueError(f"key: got {describe(key)}; accepted: a trace's key (str) or None.")
        with self._lock:
            if key is not None:
                if text:
                    self._notes[key] = text
                else:
                    self._notes.pop(key, None)
            elif not text:
                self._notes.clear()
                self._pending_note = None
            else:
                self._pending_note = text
                self._attach_pending_note(self._traces)
            self._sync_title(self._traces)
            self.draw()

    @property
    def title(self) -> str:
        """The figure's title: the notes of the shown runs (see :meth:`mark`)."""
        return self._title.get_text()

    def _attach_pending_note(self, traces: list[Trace]) -> None:
        ended = [t for t in traces if t.status in NOTE_STATUSES and t.key not in self._notes]
        if self._pending_note and ended:
            for trace in ended:
                self._notes[trace.key] = self._pending_note
            self._pending_note = None

    def _sync_title(self, traces: list[Trace]) -> None:
        notes = []
        for trace in traces:
            note = self._notes.get(trace.key)
            if note is None and trace.status in NOTE_STATUSES:
                note = trace.reason or trace.status
            if note and trace.visible:
                notes.append(f"{trace.label}: {note}" if trace.label else note)
        if len(notes) > 2:
            notes = [*notes[:2], f"+ {len(notes) - 2} more"]
        text = " · ".join(notes)
        if text != self._title.get_text():
            self._title.set_text(text)
            self._structure += 1

    # ----------------------------------------------------------------- drawing
    def update(self, traces: Iterable[Trace], *, force: bool = False) -> bool:
        """Show ``traces`` (in order; artists for new keys are made once, those of keys no longer
        given are removed) and draw them if :attr:`frame_interval` has passed since the last
        draw, or with ``force``. Returns whether it drew. Without a draw it only adds, removes,
        shows or hides artists; their data follow at the next draw."""
        traces = _check_traces(traces)
        with self._lock:
            shape = tuple(
                (t.key, id(t.history), t.visible, t.status == "running", t.status) for t in traces
            )
            shrunk = any(
                len(t.history) < self._drawn[t.key].fed_length
                for t in traces
                if t.key in self._drawn and self._drawn[t.key].history is t.history
            )
            changed, self._shape = shape != self._shape or shrunk, shape
            self._traces = traces
            self._sync_artists(traces)
            self._attach_pending_note(traces)
            self._pending_note = None  # a note waits for one update at most
            self._sync_title(traces)
            due = time.perf_counter() - self._last_draw >= self.frame_interval
            if not (force or changed or due):
                return False
            self.draw()
            return True

    def draw(self) -> float:
        """Bring the artists up to date and draw now; returns the seconds it took."""
        with self._lock:
            start = self._last_draw = time.perf_counter()
            self._update_limits(self._sync_data())
            canvas = self._agg_canvas()
            signature = (
                self._sync_cursor(),
                self._structure,
                self.figure.bbox.bounds,
                tuple((ax.get_xlim(), ax.get_ylim()) for ax in self._axes.values()),
            )
            self._layers.render(canvas, self._shown(), signature)
            if self.backend == "ipympl":
                canvas.blit(self.figure.bbox)  # sends the changed pixels to the browser
            elif isinstance(self.widget, ipywidgets.Image):
                show_png(canvas, self.widget)
            self.last_draw_seconds = time.perf_counter() - start
            self._costs.append(self.last_draw_seconds)
            return self.last_draw_seconds

    def rendered(self) -> np.ndarray:
        """The figure drawn whole by matplotlib now, as ``(height, width, 4)`` RGBA (a copy),
        without sending anything: what the browser's canvas shows once the last frame is in.

        >>> LiveFigure(backend="png").rendered().shape
        (600, 900, 4)
        """
        with self._lock:
            canvas = self._agg_canvas()
            FigureCanvasAgg.draw(canvas)  # only renders (ipympl's own draw also sends)
            return np.array(canvas.buffer_rgba())

    def _agg_canvas(self) -> FigureCanvasAgg:
        """The figure's canvas, which :func:`~olexplore.ui.canvas.attach_canvas` made an Agg
        one (ipympl's canvas is one too)."""
        canvas = self.figure.canvas
        if not isinstance(canvas, FigureCanvasAgg):
            raise TypeError(
                f"figure.canvas: got {type(canvas).__name__}; accepted: an Agg canvas (the one "
                "LiveFigure attached; do not give its figure another canvas)."
            )
        return canvas

    def _shown(self) -> list[tuple[Line2D, Generation, int, int]]:
        """The visible artists of all runs in drawing order: ``(line, generation, settled
        points, history length)``."""
        shown = [
            (line, *drawn.settled.get(role, (0, 0)), drawn.fed_length)
            for drawn in self._drawn.values()
            for role, line in drawn.lines.items()
            if line.get_visible()
        ]
        return sorted(shown, key=lambda item: item[0].get_zorder())

    # ----------------------------------------------------------------- artists
    def _sync_artists(self, traces: list[Trace]) -> None:
        self._sync_held(traces)
        keys = {trace.key for trace in traces}
        for key in [key for key in self._drawn if key not in keys]:
            self._drawn.pop(key).remove()
        for key in [key for key in self._notes if key not in keys]:
            del self._notes[key]
        for trace in traces:
            drawn = self._drawn.get(trace.key)
            if drawn is None or drawn.history is not trace.history:
                if drawn is not None:  # a new history under the same key: start afresh
                    drawn.remove()
                    self._notes.pop(trace.key, None)
                drawn = self._drawn[trace.key] = RunArtists(trace.history, self._smoothing)
            drawn.sync(trace, self._axes, self._smoothing)
        self._sync_legend(traces)

    def _sync_legend(self, traces: list[Trace]) -> None:
        entries: tuple[_LegendEntry, ...] = tuple(
            (t.label, t.color, t.linestyle) for t in traces if t.visible
        )
        if entries == self._legend_entries:
            return
        self._legend_entries = entries
        if self._legend is not None:
            self._legend.remove()
            self._legend = None
        width, height = self.figure.get_size_inches()
        columns = max(1, min(len(entries), int(width // _LEGEND_COLUMN_INCHES)))
        if len(entries) > 3 * columns:  # three rows at most
            more = len(entries) - 3 * columns + 1
            entries = (*entries[: 3 * columns - 1], (f"+ {more} more", "none", "-"))
        fits = int((width / columns - _LEGEND_HANDLE_INCHES) * _LEGEND_CHARACTERS_PER_INCH)
        entries = tuple((shorten(label, fits), c, s) for label, c, s in entries)
        rows = math.ceil(len(entries) / columns)
        if rows != self._legend_rows:
            self._legend_rows = rows
            self._layout()
        if entries:
            handles = [Line2D([], [], color=c, linestyle=s, linewidth=1.6) for _, c, s in entries]
            self._legend = self.figure.legend(
                handles,
                [label for label, _, _ in entries],
                loc="upper center",
                bbox_to_anchor=(0.5, 1 - _TITLE_INCHES / height),
                ncols=columns,
                frameon=False,
                fontsize="small",
            )
        self._structure += 1

    def _sync_held(self, traces: list[Trace]) -> None:
        """Panels for the held-out metrics the traces have recorded (none beside a contour)."""
        names: list[str] = []
        for trace in traces:
            names += [n for n in trace.history.evaluation_names if n not in names]
        first = [n for n in HELD_OUT_FIRST if n in names]
        held = tuple([*first, *(n for n in names if n not in first)][:MAX_HELD_OUT])
        if self._surface is not None:
            held = ()
        if held == self._held:
            return
        for name in self._held:
            for drawn in self._drawn.values():
                drawn.remove(HELD + name)
            ax = self._axes.pop(HELD + name)
            self._ours.pop((ax, "y"), None)
            ax.remove()
        self._held = held
        for index, name in enumerate(held):
            ax = self.figure.add_axes((0, 0, 1, 1), sharex=self._axes["loss"])
            ax.set_autoscale_on(False)
            ax.set_ylabel(name.replace("val_", "validation ").replace("_", " "))
            ax.yaxis.get_offset_text().set_fontsize("small")
            ax.grid(True, alpha=0.3)
            last = index == len(held) - 1
            ax.tick_params(labelbottom=last, labelsize="small")
            if last:
                ax.set_xlabel("step")
            self._axes[HELD + name] = ax
            self._reset_y(HELD + name)
        self._layout()

    def _sync_cursor(self) -> tuple:
        """Place (or hide) the cursor's artists; returns what they show (for the frame's
        background, which holds them)."""
        step, artists = self._cursor, self._cursor_artists
        wanted: dict[str, tuple[Axes, tuple[float, float], str]] = {}
        if step is not None:
            for panel in self._line_panels():
                wanted[panel] = (self._axes[panel], (step, step), "#555555")
            contour = self._axes.get("contour")
            if contour is not None:
                for trace in self._traces:
                    if trace.visible and "position" in trace.history:
                        point = self._position_after(trace.history, step)
                        wanted[f"at:{trace.key}"] = (contour, point, trace.color)
        for name in [name for name in artists if name not in wanted]:
            artists.pop(name).remove()
        for name, (ax, (x, y), color) in wanted.items():
            artist = artists.get(name)
            if artist is None or artist.axes is not ax:
                if name.startswith("at:"):
                    style = {"marker": "o", "markersize": 8, "markeredgecolor": "black"}
                    artist = Line2D([x], [y], linestyle="none", zorder=4, **style)
                    ax.add_line(artist)
                else:
                    artist = ax.axvline(x, linewidth=1.0, alpha=0.7, zorder=3.5)
                artists[name] = artist
            if name.startswith("at:"):
                artist.set_data([x], [y])
            else:
                artist.set_xdata([x, x])
            artist.set_color(color)
        return tuple((name, wanted[name][1], wanted[name][2]) for name in sorted(wanted))

    def _position_after(self, history: History, step: int) -> tuple[float, float]:
        """A 2-D run's point after ``step`` steps: the start, or the position recorded then."""
        index = min(step - history.first_step, len(history))
        if index <= 0:
            start = self._surface.start if self._surface is not None else (math.nan, math.nan)
            return float(start[0]), float(start[1])
        x, y = history["position"][index - 1]
        return float(x), float(y)

    def _line_panels(self) -> list[str]:
        """The panels with steps along x: the three of :data:`PANELS` and the held-out ones."""
        return [*PANELS, *(HELD + name for name in self._held)]

    @staticmethod
    def _panel_base(panel: str) -> str:
        """The panel whose log-y setting ``panel`` follows (validation loss follows loss)."""
        return "loss" if panel == HELD + "val_loss" else panel

    def _is_log(self, panel: str) -> bool:
        return self._log_y.get(self._panel_base(panel), False)

    def _on_resize(self, event: Event) -> None:
        """The canvas got a new size (ipympl's resize handle): lay the figure out for it, as a
        figure made at that size would be, and draw a full frame."""
        with self._lock:
            self._set_step_ticks()
            self._legend_entries = ()  # its columns and its place follow the size
            self._sync_legend(self._traces)
            self._layout()
            self.draw()

    def _set_step_ticks(self) -> None:
        """About one step label per inch of the figure's width (the axis shared by the panels
        with steps)."""
        width = self.figure.get_size_inches()[0]
        locator = MaxNLocator(
            nbins=max(3, int(width - 1.1)), integer=True, steps=[1, 2, 2.5, 5, 10]
        )
        self._axes["loss"].xaxis.set_major_locator(locator)

    def _layout(self) -> None:
        width, height = self.figure.get_size_inches()
        rows = self._legend_rows
        top = _TITLE_INCHES + rows * _LEGEND_ROW_INCHES + (0.12 if rows else 0.0)
        lines, contour, held = panel_rectangles(
            width, height, top, "contour" in self._axes, len(self._held)
        )
        for panel, rectangle in zip(PANELS, lines, strict=True):
            self._axes[panel].set_position(rectangle)
        if contour is not None:
            self._axes["contour"].set_position(contour)
        for name, rectangle in zip(self._held, held, strict=True):
            self._axes[HELD + name].set_position(rectangle)
        self._structure += 1

    # ----------------------------------------------------------------- data and limits
    def _sync_data(self) -> dict[str, list[float]]:
        """``set_data`` for every shown artist; returns each panel's [low, high] drawn values."""
        panels = self._line_panels()
        extents = {panel: [math.inf, -math.inf] for panel in panels}
        log_y = {panel: self._is_log(panel) for panel in panels}
        buckets = {name: max(8, int(ax.bbox.width) // 2) for name, ax in self._axes.items()}
        start = None if self._surface is None else self._surface.start
        for trace in self._traces:
            if trace.visible:
                self._drawn[trace.key].feed(buckets, log_y, extents, start)
        return extents

    def _update_limits(self, extents: dict[str, list[float]]) -> None:
        """While a shown run trains, sticky limits with room to grow; otherwise limits that fit
        the data shown. A linear axis of values >= 0 never goes below 0."""
        shown = [t for t in self._traces if t.visible and len(t.history)]
        training = any(t.status == "running" for t in shown)
        loss_ax = self._axes["loss"]
        if not self._user_moved(loss_ax, "x"):
            view: tuple[float, float] | None = (0.0, 100.0)
            if not shown and self._plan_range is not None:  # nothing trained: the whole plan
                view = (0.0, float(max(self._plan_range[2] - 1, 1)))
            if shown:
                first = min(t.history.first_step for t in shown)
                last = max(t.history.first_step + len(t.history) - 1 for t in shown)
                kept = loss_ax.get_xlim() if training else None
                view = sticky_limits(kept, first, last, grow=float(training), pad=0.0)
            if view is not None:
                self._set_view(loss_ax, "x", view)
        if self._plan_range is not None:  # the plan is drawn too
            low, high, _ = self._plan_range
            if self._is_log("learning_rate"):
                low = low if low > 0 else extents["learning_rate"][0]
            rates = extents["learning_rate"]
            extents["learning_rate"] = [min(rates[0], low), max(rates[1], high)]
        for panel in self._line_panels():
            low, high = extents[panel]
            ax, log = self._axes[panel], self._is_log(panel)
            if self._user_moved(ax, "y"):
                continue
            if low > high:  # nothing drawn
                view = (0.1, 10.0) if log else (0.0, 1.0)
            else:
                kept = ax.get_ylim() if training else None
                view = sticky_limits(kept, low, high, log=log, pad=0.05, grow=float(training))
            if view is not None:
                if not log and low >= 0 and view[0] < 0:
                    view = (0.0, view[1])
                if panel.endswith("accuracy") and high <= 1.0 < view[1]:  # a share: at most 1
                    view = (view[0], 1.0 + 0.05 * (1.0 - min(view[0], low)))
                self._set_view(ax, "y", view)

    def _set_view(self, ax: Axes, axis: str, view: tuple[float, float]) -> None:
        (ax.set_xlim if axis == "x" else ax.set_ylim)(view)
        ours = self._ours.setdefault((ax, axis), deque(maxlen=64))
        ours.append(ax.get_xlim() if axis == "x" else ax.get_ylim())

    def _user_moved(self, ax: Axes, axis: str) -> bool:
        """True after a pan or zoom in ipympl (until Home brings back a view of ours)."""
        ours = self._ours.get((ax, axis))
        return bool(ours) and (ax.get_xlim() if axis == "x" else ax.get_ylim()) not in ours

    def _reset_y(self, panel: str) -> None:
        ax, log = self._axes[panel], self._is_log(panel)
        self._ours.pop((ax, "y"), None)
        if log:
            ax.set_ylim(0.1, 10.0)
            ax.set_yscale("log", nonpositive="mask")
            # within a decade the minor ticks are labelled: 2, 3 rather than 2×10⁰, 3×10⁰
            ax.yaxis.set_minor_formatter(
                LogFormatter(labelOnlyBase=False, minor_thresholds=(1, 0.4))
            )
        else:
            ax.set_yscale("linear")  # installs a new locator: keep about 4 ticks
            ax.yaxis.set_major_locator(MaxNLocator(nbins=4, steps=[1, 2, 2.5, 5, 10]))
        self._set_view(ax, "y", (0.1, 10.0) if log else (0.0, 1.0))
        self._structure += 1


def shorten(label: str, characters: int) -> str:
    """``label`` cut to ``characters`` (at least 8), ending in "…" when cut.

    >>> shorten("digits-mlp, Adam, lr 0.001, 20000 steps", 20), shorten("lr 0.3", 20)
    ('digits-mlp, Adam, l…', 'lr 0.3')
    """
    characters = max(8, characters)
    return label if len(label) <= characters else label[: characters - 1].rstrip() + "…"


def _check_traces(traces: Any) -> list[Trace]:
    if isinstance(traces, (str, bytes)) or not isinstance(traces, Iterable):
        raise ValueError(f"traces: got {describe(traces)}; accepted: a sequence of Trace.")
    traces = list(traces)
    for index, trace in enumerate(traces):
        if not isinstance(trace, Trace) or not isinstance(trace.history, History):
            bad, what = (trace.history, ".history") if isinstance(trace, Trace) else (trace, "")
            accepted = "a History" if what else "a Trace"
            raise ValueError(f"traces[{index}]{what}: got {describe(bad)}; accepted: {accepted}.")
    keys = [trace.key for trace in traces]
    if len(set(keys)) != len(keys):
        repeated = sorted({key for key in keys if keys.count(key) > 1})
        raise ValueError(f"traces: keys {repeated} repeat; accepted: one Trace per key.")
    return traces
