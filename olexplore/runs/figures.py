"""Static figures of run records with matplotlib's object API (no pyplot state, no widgets).

Runs get colours from the Okabe–Ito palette (safe for colour-blind readers) and, so that colour
is never the only cue, cycling line styles; the dashed style is kept for "after clipping".
Diverged runs end in a ×. Every line carries a ``gid`` such as ``"0:loss"`` (run 0's loss),
``"0:loss:raw"`` (unsmoothed, drawn faintly under a smoothed line) or
``"0:clipped_global_norm"``, which tests and the explorer use to find it.
"""

from __future__ import annotations

import os
from collections.abc import Collection, Hashable, Mapping, Sequence
from pathlib import Path
from typing import Any, TypedDict

import numpy as np
from matplotlib.axes import Axes
from matplotlib.colors import LogNorm
from matplotlib.figure import Figure
from matplotlib.typing import LineStyleType

from olexplore.engine.validation import describe
from olexplore.problems.base import Surface
from olexplore.runs.aggregate import (
    check_weight,
    divergence_step,
    ema,
    group_records,
    metric_names,
    seed_band,
    sensitivity_points,
    series_of,
)
from olexplore.runs.record import as_records

__all__ = [
    "LOG_Y_METRICS",
    "OKABE_ITO",
    "plain_text",
    "RUN_LINESTYLES",
    "RunStyle",
    "ema",
    "group_records",
    "plot_runs",
    "plot_seeds",
    "plot_sensitivity",
    "plot_trajectories",
    "run_style",
    "save_figure",
    "seed_band",
    "sensitivity_points",
]

#: Okabe & Ito (2008), ordered for contrast on white; yellow last.
#: Okabe and Ito's colour-blind-safe palette without its yellow (#F0E442), which all but
#: vanishes on a white background.
OKABE_ITO = ("#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#000000")
#: Line styles cycled over runs ("--" is reserved for the clipped global norm).
RUN_LINESTYLES: tuple[LineStyleType, ...] = ("-", "-.", ":")
#: Metrics drawn on a log y axis by default (when all their values are positive).
LOG_Y_METRICS = ("loss", "val_loss", "global_norm")


def plain_text(text: str) -> str:
    """``text`` for a matplotlib label or title, shown as typed (``$`` is not mathtext).

    >>> print(plain_text("cost $5"))
    cost \\$5
    """
    return str(text).replace("$", r"\$")


class RunStyle(TypedDict):
    """How a run is drawn: its colour and its line style (see :func:`run_style`)."""

    color: str
    linestyle: LineStyleType


def run_style(index: int) -> RunStyle:
    """Colour and line style of the ``index``-th run: the first seven solid, each in its own
    colour, then the colours again dash-dotted and dotted (unique for 21 runs).

    >>> run_style(0), run_style(7)
    ({'color': '#0072B2', 'linestyle': '-'}, {'color': '#0072B2', 'linestyle': '-.'})
    """
    return {
        "color": OKABE_ITO[index % len(OKABE_ITO)],
        "linestyle": RUN_LINESTYLES[(index // len(OKABE_ITO)) % len(RUN_LINESTYLES)],
    }


# --------------------------------------------------------------------- run panels
def plot_runs(
    records: Any,
    metrics: Sequence[str] = ("loss", "learning_rate", "global_norm"),
    *,
    log_x: bool = False,
    log_y: bool | Collection[str] | None = None,
    smoothing: float = 0.0,
    figure: Figure | None = None,
    axes: Sequence[Axes] | None = None,
) -> Figure:
    """One panel per metric, runs overlaid; returns the Figure.

    ``metrics`` are per-step series or evaluations (``val_loss``, drawn with dots;
    see :func:`~olexplore.runs.aggregate.series_of`). The
    ``global_norm`` panel adds, dashed, the norm after clipping wherever clipping changed it.
    ``log_y``: ``None`` puts ``loss``, ``val_loss`` and ``global_norm`` on log axes when all
    their values are positive; ``True``/``False`` for all panels; or the metric names to log.
    With ``log_x``, step 0 is not drawn. ``smoothing`` is :func:`ema`'s weight. Draws into
    ``axes`` (one per metric) or into ``figure`` (cleared first), else into a new Figure.

    >>> from olexplore.runs.config import Config
    >>> from olexplore.runs.history import History
    >>> from olexplore.runs.record import RunRecord
    >>> history = History()
    >>> history.extend({"loss": np.array([4.0, 2.0, 1.0]), "learning_rate": np.full(3, 0.1)})
    >>> figure = plot_runs([RunRecord(Config(), history)], ("loss", "learning_rate"))
    >>> [(ax.get_yscale(), len(ax.lines)) for ax in figure.axes]
    [('log', 1), ('linear', 1)]
    """
    records = as_records(records)
    if not records:
        raise ValueError("records: got none; accepted: one or more run records or runs.")
    metrics = _names(metrics, "metrics")
    smoothing = check_weight(smoothing, "smoothing")
    axes = _panels(len(metrics), figure, axes, height=2.3)
    for ax, metric in zip(axes, metrics, strict=True):
        drawn = []
        for index, record in enumerate(records):
            series = series_of(record, metric)
            if series is None:
                continue
            style = run_style(index)
            label = record.label if ax is axes[0] else "_nolegend_"
            evaluation = metric not in record.history.names
            line = _draw(ax, *series, smoothing, f"{index}:{metric}", label, evaluation, **style)
            drawn.append(series[1])
            if metric == "global_norm" and "clipped_global_norm" in record.history.names:
                clipped = record.history["clipped_global_norm"]
                if not np.array_equal(clipped, series[1], equal_nan=True):
                    style = {**style, "linestyle": "--"}
                    gid = f"{index}:clipped_global_norm"
                    _draw(ax, series[0], clipped, smoothing, gid, "_nolegend_", False, **style)
                    drawn.append(clipped)
            if record.diverged:
                until = divergence_step(record)
                _mark_diverged(ax, line, f"{index}:{metric}:diverged", style["color"], until)
        if not drawn:
            available = sorted({name for r in records for name in metric_names(r)})
            raise ValueError(f"metrics: no run has {metric!r}; accepted: {available}.")
        ax.set_ylabel(metric.replace("_", " "))
        _scales(ax, log_x, _log_y(log_y, metric, drawn, metrics))
        ax.grid(True, alpha=0.3)
    axes[-1].set_xlabel("step")
    axes[0].legend(fontsize="small")
    return _top_figure(axes[0])


def _names(metrics: Any, argument: str) -> list[str]:
    if isinstance(metrics, str):
        metrics = [metrics]
    metrics = list(metrics)
    if not metrics or not all(isinstance(name, str) for name in metrics):
        raise ValueError(f"{argument}: got {describe(metrics)}; accepted: metric names.")
    return metrics


def _panels(count: int, figure: Figure | None, axes: Any, height: float) -> list[Axes]:
    if axes is not None:
        axes = [axes] if isinstance(axes, Axes) else list(axes)
        if len(axes) != count or not all(isinstance(ax, Axes) for ax in axes):
            raise ValueError(
                f"axes: got {describe(axes)}; accepted: {count} matplotlib Axes, one per panel."
            )
        return axes
    if figure is None:
        figure = Figure(figsize=(7.0, 0.8 + height * count), layout="constrained")
    else:
        figure.clear()
    return list(figure.subplots(count, 1, sharex=True, squeeze=False)[:, 0])


def _draw(
    ax: Axes,
    steps: np.ndarray,
    values: np.ndarray,
    smoothing: float,
    gid: str,
    label: str,
    dots: bool,
    **style: Any,
) -> Any:
    marker = {"marker": "o", "markersize": 3} if dots else {}
    if smoothing:
        ax.plot(steps, values, gid=f"{gid}:raw", alpha=0.25, linewidth=0.8, **style, **marker)
        values = ema(values, smoothing)
    label = plain_text(label)
    (line,) = ax.plot(steps, values, gid=gid, label=label, linewidth=1.4, **style, **marker)
    return line


def _mark_diverged(ax: Axes, line: Any, gid: str, color: str, until: float = np.inf) -> None:
    """A × on ``line``'s last finite point (at x <= ``until``)."""
    x, y = np.asarray(line.get_xdata(), float), np.asarray(line.get_ydata(), float)
    finite = np.flatnonzero(np.isfinite(y) & (x <= until))
    if finite.size:
        last = finite[-1]
        ax.scatter([x[last]], [y[last]], marker="x", s=60, color=color, zorder=3, gid=gid)


def _log_y(log_y: Any, metric: str, drawn: list[np.ndarray], metrics: list[str]) -> bool:
    if log_y is None:
        values = np.concatenate([np.asarray(v, float).ravel() for v in drawn])
        values = values[np.isfinite(values)]
        return metric in LOG_Y_METRICS and values.size > 0 and bool(np.all(values > 0))
    if isinstance(log_y, bool):
        return log_y
    names = [log_y] if isinstance(log_y, str) else list(log_y)
    unknown = [name for name in names if name not in metrics]
    if unknown:
        raise ValueError(
            f"log_y: got {describe(log_y)}; accepted: None, True, False or names among {metrics}."
        )
    return metric in names


def _scales(ax: Axes, log_x: bool, log_y: bool) -> None:
    if log_x:
        ax.set_xscale("log", nonpositive="mask")
    if log_y:
        ax.set_yscale("log", nonpositive="mask")


# --------------------------------------------------------------------- seeds
def plot_seeds(
    records: Any,
    group_by: Any = None,
    metric: str = "loss",
    *,
    log_x: bool = False,
    log_y: bool | None = None,
    smoothing: float = 0.0,
    show_runs: bool = False,
    ax: Axes | None = None,
) -> Figure:
    """Mean ± one standard deviation of ``metric`` over the seeds of each group.

    Groups come from :func:`group_records`; the legend gives each group's run count and how
    many diverged. ``show_runs`` draws the single runs faintly too.
    """
    groups = group_records(records, group_by)
    smoothing = check_weight(smoothing, "smoothing")
    ax = ax if ax is not None else _panels(1, None, None, height=3.6)[0]
    means = []
    for index, (label, members) in enumerate(groups.items()):
        style = run_style(index)
        steps, mean, std = seed_band(members, metric, smoothing)
        diverged = sum(record.diverged for record in members)
        text = f"{label} (n={len(members)}" + (f", {diverged} diverged)" if diverged else ")")
        ax.fill_between(steps, mean - std, mean + std, color=style["color"], alpha=0.2, lw=0)
        ax.plot(steps, mean, gid=f"{index}:{metric}:mean", label=plain_text(text), **style)
        if show_runs:
            for number, record in enumerate(members):
                steps_run, values = series_of(record, metric) or (np.array([]), np.array([]))
                gid = f"{index}:{metric}:run{number}"
                ax.plot(steps_run, values, gid=gid, alpha=0.3, linewidth=0.7, **style)
        means.append(mean)
    ax.set_xlabel("step")
    ax.set_ylabel(f"{metric.replace('_', ' ')} (mean ± std)")
    _scales(ax, log_x, _log_y(log_y, metric, means, [metric]))
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize="small")
    return _top_figure(ax)


# --------------------------------------------------------------------- 2-D and sensitivity
def plot_trajectories(
    records: Any,
    surface: Surface | None = None,
    *,
    levels: int = 30,
    resolution: int = 200,
    ax: Axes | None = None,
) -> Figure:
    """Contours of ``surface`` (log-spaced levels when ``surface.log_scale``), its minima (★)
    and start (○), and one trajectory per run: the start, then the recorded ``position``s.

    ``surface`` defaults to the first record's. Runs without a ``position`` series are skipped.
    """
    records = as_records(records)
    if surface is None:
        surface = next((r.surface for r in records if r.surface is not None), None)
    if not isinstance(surface, Surface):
        raise ValueError(
            f"surface: got {describe(surface)} and no record carries one; accepted: a Surface, "
            "e.g. get_problem('rosenbrock').surface()."
        )
    ax = ax if ax is not None else _panels(1, None, None, height=4.6)[0]
    x, y, z = surface.grid(resolution)
    if surface.log_scale:
        positive = z[np.isfinite(z) & (z > 0)]
        bounds = (positive.min(), positive.max())
        contour_levels = np.geomspace(*bounds, levels)
        ax.contour(x, y, z, levels=contour_levels, norm=LogNorm(*bounds), cmap="viridis")
    else:
        ax.contour(x, y, z, levels=levels, cmap="viridis")
    marks = {"zorder": 4, "edgecolor": "black", "facecolor": "white"}
    if surface.minima:  # a surface may know no minimum
        ax.scatter(*np.transpose(surface.minima), marker="*", s=200, gid="minima", **marks)
    ax.scatter(*surface.start, marker="o", s=60, gid="start", **marks)
    for index, record in enumerate(records):
        if "position" not in record.history.names:
            continue
        start = (record.surface or surface).start
        path = np.vstack([start, np.asarray(record.history["position"], dtype=np.float64)])
        style = run_style(index)
        label = plain_text(record.label)
        (line,) = ax.plot(*path.T, gid=f"{index}:position", label=label, **style)
        line.set(marker=".", markersize=3)
        if record.diverged:  # at the last finite position
            _mark_diverged(ax, line, f"{index}:position:diverged", style["color"])
    ax.set(xlim=surface.x_range, ylim=surface.y_range, xlabel="x", ylabel="y")
    if ax.get_legend_handles_labels()[0]:
        ax.legend(fontsize="small")
    return _top_figure(ax)


def plot_sensitivity(
    points: Mapping[Hashable, tuple[Any, Any, Any]],
    *,
    xlabel: str = "learning rate",
    ylabel: str = "final loss",
    log_y: bool | None = None,
    ax: Axes | None = None,
) -> Figure:
    """Final value against a setting (log x): per group ``(x, mean, spread)`` arrays.

    Each group gets a line with dots and a ``mean ± spread`` band; where ``mean`` is NaN or
    infinite the setting diverged and a × is drawn at the top of the axes. ``log_y=None`` uses
    a log y axis when every finite mean is positive.
    """
    if not isinstance(points, Mapping) or not points:
        raise ValueError(
            f"points: got {describe(points)}; accepted: a non-empty mapping "
            "{group: (x, mean, spread)}."
        )
    ax = ax if ax is not None else _panels(1, None, None, height=3.6)[0]
    means, diverged = [], False
    for index, (group, arrays) in enumerate(points.items()):
        try:
            x, mean, spread = (np.asarray(a, dtype=np.float64).ravel() for a in arrays)
        except (TypeError, ValueError):
            x, mean, spread = np.empty(0), np.empty(1), np.empty(2)  # refused below
        if not x.size == mean.size == spread.size:
            raise ValueError(
                f"points[{group!r}]: got {describe(arrays)}; accepted: (x, mean, spread), three "
                "arrays of one length."
            )
        order = np.argsort(x)
        x, mean, spread = x[order], mean[order], spread[order]
        ok = np.isfinite(mean)
        style = run_style(index)
        ax.fill_between(
            x[ok], (mean - spread)[ok], (mean + spread)[ok], alpha=0.2, lw=0, color=style["color"]
        )
        label = plain_text(str(group))
        ax.plot(x[ok], mean[ok], marker="o", gid=f"{index}:mean", label=label, **style)
        if not ok.all():
            diverged = True
            ax.scatter(
                x[~ok],
                np.full((~ok).sum(), 0.96),
                marker="x",
                s=60,
                color=style["color"],
                transform=ax.get_xaxis_transform(),
                gid=f"{index}:diverged",
                clip_on=False,
            )
        means.append(mean[ok])
    ax.set_xscale("log")
    _scales(ax, False, _log_y(log_y, "loss", means, ["loss"]))
    ax.set(xlabel=xlabel, ylabel=ylabel)
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize="small", title="× diverged" if diverged else None)
    return _top_figure(ax)


def save_figure(figure: Figure, path: str | os.PathLike) -> Path:
    """Save ``figure`` as PNG or SVG, chosen by the file extension; return the path."""
    path = Path(path)
    kind = path.suffix.lower().lstrip(".")
    if kind not in ("png", "svg"):
        raise ValueError(
            f"path: got {str(path)!r} (extension {path.suffix!r}); accepted: a .png or .svg file."
        )
    if not isinstance(figure, Figure):
        raise ValueError(f"figure: got {describe(figure)}; accepted: a matplotlib Figure.")
    metadata = {"Date": None} if kind == "svg" else {}  # reproducible SVG files
    figure.savefig(path, format=kind, dpi=150, metadata=metadata)
    return path


def _top_figure(ax: Axes) -> Figure:
    """The Figure that holds ``ax`` (through any subfigures)."""
    figure = ax.get_figure(root=True)
    assert isinstance(figure, Figure)
    return figure
