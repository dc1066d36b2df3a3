"""The learning-rate range test (Smith, 2017; fastai's ``lr_find``) on a Config, over seeds.

Each seed is a :class:`~olexplore.runs.run.Run` of the Config with the learning rate ramped
exponentially from ``start`` to ``stop``: the ramp is TF 1's ``exponential_decay`` with
``decay_steps=1`` (rate ``start * (stop / start) ** (step / (steps - 1))``), so every step runs
inside the Run's fused ``optimize_loss`` loop and the config's optimizer, clipping, noise and
multipliers apply as in any run. (Setting the rate between single steps instead runs the same
train op ~5× slower: 2.05 ms against 0.42 ms a step on digits-mlp, 2 000 steps, this machine.)
A seed stops when its smoothed loss exceeds 4× its best (fastai's rule); what it recorded after
that step is NaN. Each seed builds its own problem and train op and releases them at the end.
"""

from __future__ import annotations

import bisect
import json
import math
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from scipy.ndimage import gaussian_filter1d

from olexplore.engine.validation import describe, is_real_number
from olexplore.runs.aggregate import ema
from olexplore.runs.config import Config, Decay
from olexplore.runs.export import to_csv
from olexplore.runs.fields import MAX_SEED
from olexplore.runs.figures import OKABE_ITO
from olexplore.runs.history import encode_floats
from olexplore.runs.record import RunRecord, record_of
from olexplore.runs.run import Run
from olexplore.runs.schedule import schedule

__all__ = ["LRRangeResult", "SUGGESTIONS", "lr_range_test", "suggest", "valley_index"]

#: The suggestion rules, in the order they are drawn.
SUGGESTIONS = ("steepest", "valley", "minimum_over_10")
FORMAT = "olexplore.lr_range"
MIN_STEPS, MAX_RAMP_STEPS = 10, 100_000
MAX_SEEDS = 100
#: A seed stops once its smoothed loss exceeds ``best + (DIVERGENCE - 1) * |best|`` (4× best).
DIVERGENCE = 4.0
#: Weight of the causal moving average the stopping rule watches (TensorBoard's ``ema``).
STOP_SMOOTHING = 0.9
#: Width of the centred Gaussian smoothing before the rules, as a fraction of ``steps``.
SMOOTHING_FRACTION = 0.02
#: Points skipped after the first ``steps // SKIP_START_DIVISOR`` and before the stop (fastai).
SKIP_START_DIVISOR, SKIP_END = 10, 5


def _check(config: Any, start: Any, stop: Any, steps: Any, seeds: Any) -> tuple[float, float]:
    if not isinstance(config, Config):
        raise ValueError(f"config: got {describe(config)}; accepted: a Config.")
    for name, value in (("start", start), ("stop", stop)):
        if not is_real_number(value) or not 0 < float(value) < math.inf:
            raise ValueError(f"{name}: got {describe(value)}; accepted: a finite number > 0.")
    if not float(start) < float(stop):
        raise ValueError(
            f"start: got {start!r} with stop {stop!r}; accepted: start < stop (both > 0)."
        )
    for name, value, low, high in (
        ("steps", steps, MIN_STEPS, MAX_RAMP_STEPS),
        ("seeds", seeds, 1, MAX_SEEDS),
    ):
        if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer)):
            raise ValueError(
                f"{name}: got {describe(value)}; accepted: an int from {low} to {high}."
            )
        if not low <= value <= high:
            raise ValueError(f"{name}: got {value!r}; accepted: an int from {low} to {high:_}.")
    return float(start), float(stop)


def ramp_config(config: Config, start: float, stop: float, steps: int) -> Config:
    """``config`` with its rate ramped exponentially from ``start`` (step 0) to ``stop``.

    >>> ramp = ramp_config(Config(), 1e-3, 1.0, 4)
    >>> ramp.learning_rate, ramp.decay.name, round(ramp.decay.params["decay_rate"], 6)
    (0.001, 'exponential_decay', 10.0)
    """
    rate = (stop / start) ** (1.0 / (steps - 1))
    decay = Decay("exponential_decay", {"decay_steps": 1, "decay_rate": rate})
    return config.replace(learning_rate=start, decay=decay, steps=steps)


def stop_step(losses: np.ndarray) -> int | None:
    """The first step whose smoothed loss exceeds 4× the best so far, or is not finite.

    >>> stop_step(np.array([4.0, 2.0, 1.0, 1.0, 9.0, 50.0])), stop_step(np.ones(3))
    (5, None)
    """
    losses = np.asarray(losses, dtype=np.float64)
    bad = ~np.isfinite(losses)
    smoothed = ema(np.where(bad, np.nan, losses), STOP_SMOOTHING)
    best = np.fmin.accumulate(smoothed)
    with np.errstate(invalid="ignore"):
        over = smoothed > best + (DIVERGENCE - 1) * np.abs(best)
    hits = np.flatnonzero(bad | over)
    return int(hits[0]) if hits.size else None


def valley_index(losses: np.ndarray) -> int:
    """fastai's ``valley`` rule: the index a third and a half into the longest valley.

    The valley is the longest strictly decreasing subsequence of ``losses`` (found in
    O(n log n) with patience sorting, the same lengths as fastai's O(n²) loops); it ends at
    its first longest end and is taken to start that many points earlier; the rule picks
    ``start + int(length / 3) + int(length / 6)``, at least 0. See ``valley`` in
    https://github.com/fastai/fastai/blob/master/fastai/callback/schedule.py (fastai 2.5+).
    A curve without any decrease gives 0 (fastai indexes ``-1``, the last point).

    >>> valley_index(np.array([5.0, 4.0, 3.0, 2.0, 1.0, 0.5, 3.0, 9.0]))
    2
    """
    tails: list[float] = []  # tails[k]: the largest end of a decreasing run of length k + 1
    best_length, best_end = 0, 0
    for index, value in enumerate(np.asarray(losses, dtype=np.float64)):
        position = bisect.bisect_left(tails, -value)
        if position == len(tails):
            tails.append(-value)
        else:
            tails[position] = -value
        if position + 1 > best_length:
            best_length, best_end = position + 1, index
    start = best_end - best_length  # fastai's max_start: one before the valley's first point
    sections = (best_end - start) / 3
    return max(start + int(sections) + int(sections / 2), 0)


def suggest(learning_rates: np.ndarray, losses: np.ndarray) -> dict[str, float]:
    """The three suggested rates of one seed's curve (NaN where too little of it is left).

    The curve is cut at its first NaN, smoothed with a centred Gaussian (sigma 2 % of the
    ramp's points, at least 1), and the first 10 % of the ramp and the last 5 points before
    the cut are skipped (fastai's ``[num_it // 10 : -5]``). ``steepest``: the rate of the most
    negative slope d loss / d log(rate); ``valley``: :func:`valley_index`; ``minimum_over_10``:
    a tenth of the rate of the lowest loss.

    >>> rates = np.geomspace(1e-5, 1.0, 100)
    >>> losses = 1 / (1 + np.exp(4 * (np.log10(rates) + 3))) + 0.02 * np.arange(100) ** 0.5
    >>> losses[80:] = np.nan
    >>> {key: f"{value:.2g}" for key, value in suggest(rates, losses).items()}
    {'steepest': '0.001', 'valley': '0.001', 'minimum_over_10': '0.0019'}
    """
    rates = np.asarray(learning_rates, dtype=np.float64)
    losses = np.asarray(losses, dtype=np.float64)
    finite = np.isfinite(losses)
    end = int(np.argmin(finite)) if not finite.all() else losses.size
    skip = rates.size // SKIP_START_DIVISOR
    if end - SKIP_END - skip < 3:
        return dict.fromkeys(SUGGESTIONS, math.nan)
    sigma = max(1.0, SMOOTHING_FRACTION * rates.size)
    smoothed = gaussian_filter1d(losses[:end], sigma, mode="nearest")[skip : end - SKIP_END]
    window = rates[skip : end - SKIP_END]
    slope = np.gradient(smoothed, np.log(window))
    return {
        "steepest": float(window[np.argmin(slope)]),
        "valley": float(window[valley_index(smoothed)]),
        "minimum_over_10": float(window[np.argmin(smoothed)] / 10),
    }


@dataclass(frozen=True)
class LRRangeResult:
    """What :func:`lr_range_test` measured: curves per seed and the suggestions over seeds.

    ``learning_rates`` ([steps], float32: the rates the optimizer applied, from
    :func:`~olexplore.runs.schedule.schedule`), ``losses`` ([seeds, steps], float32, NaN after
    each seed's stop), ``stopped`` (the step each seed stopped at, ``-1`` if it did not),
    ``per_seed`` (each rule's rate per seed), ``runs`` (the seeds' run records).
    """

    config: Config
    learning_rates: np.ndarray
    losses: np.ndarray
    stopped: np.ndarray
    per_seed: dict[str, np.ndarray]
    runs: list[RunRecord] = field(default_factory=list)

    @property
    def suggestions(self) -> dict[str, float]:
        """Each rule's rate: the median over seeds (in log space: for an even number of seeds
        the geometric mean of the middle two); NaN when no seed has one."""
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # all NaN
            return {k: float(np.exp(np.nanmedian(np.log(v)))) for k, v in self.per_seed.items()}

    @property
    def spread(self) -> dict[str, tuple[float, float]]:
        """Each rule's ``(lowest, highest)`` rate over seeds."""
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            return {k: (float(np.nanmin(v)), float(np.nanmax(v))) for k, v in self.per_seed.items()}

    def plot(self, ax: Axes | None = None) -> Axes:
        """Mean loss over seeds against the rate (log), the lowest–highest band, and each
        suggestion (median: dashed line; spread over seeds: shaded). Returns the Axes.

        >>> result = lr_range_test(Config(problem="quadratic", optimizer="SGD"), start=1e-3,
        ...                        stop=10.0, steps=40, seeds=1)
        >>> ax = result.plot()
        >>> [line.get_label() for line in ax.get_lines()][:2]
        ['mean loss', 'steepest 0.013']
        """
        if ax is None:
            ax = Figure(figsize=(6.4, 4.4), layout="constrained").add_subplot()
        rates = self.learning_rates.astype(np.float64)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # steps no seed reached
            mean = np.nanmean(self.losses, axis=0)
            low, high = np.nanmin(self.losses, axis=0), np.nanmax(self.losses, axis=0)
        seeds = len(self.losses)
        ax.fill_between(
            rates,
            low,
            high,
            color=OKABE_ITO[0],
            alpha=0.25,
            linewidth=0,
            label=f"lowest–highest of {seeds} seeds",
        )
        ax.plot(rates, mean, color=OKABE_ITO[0], label="mean loss")
        spread = self.spread
        for index, (name, value) in enumerate(self.suggestions.items()):
            if not math.isfinite(value):
                continue
            color = OKABE_ITO[index + 1]
            ax.axvline(
                value, color=color, linestyle="--", linewidth=1.2, label=f"{name} {value:.2g}"
            )
            lowest, highest = spread[name]
            if highest > lowest:
                ax.axvspan(lowest, highest, color=color, alpha=0.12, linewidth=0)
        ax.set_xscale("log")
        finite = mean[np.isfinite(mean)]
        if finite.size:  # the last steps before a stop can be huge: keep the curve readable
            top, bottom = min(float(np.nanmax(high)), 2.0 * float(finite[0])), float(np.nanmin(low))
            if top > bottom:
                ax.set_ylim(bottom - 0.05 * (top - bottom), top)
        ax.set_xlabel("learning rate")
        ax.set_ylabel("loss")
        ax.set_title(
            f"{self.config.problem}, {self.config.optimizer}: LR range test",
            fontsize="medium",
            parse_math=False,
        )
        ax.legend(fontsize="small")
        return ax

    def to_dict(self) -> dict[str, Any]:
        """Plain, strict-JSON data: the config, the curves (NaN as ``"NaN"``), suggestions,
        spread, per-seed rates and each seed's run record."""
        return {
            "format": FORMAT,
            "format_version": 1,
            "config": self.config.to_dict(),
            "start": float(self.learning_rates[0]),
            "stop": float(self.learning_rates[-1]),
            "learning_rates": encode_floats(self.learning_rates),
            "losses": encode_floats(self.losses),
            "stopped": self.stopped.tolist(),
            "suggestions": encode_floats(np.array(list(self.suggestions.values()))),
            "suggestion_names": list(SUGGESTIONS),
            "spread": {k: encode_floats(np.array(v)) for k, v in self.spread.items()},
            "per_seed": {k: encode_floats(v) for k, v in self.per_seed.items()},
            "runs": [record.to_dict() for record in self.runs],
        }

    def to_json(self, path: str | Path) -> Path:
        """Write :meth:`to_dict` as JSON to ``path``; return the path."""
        path = Path(path)
        path.write_text(json.dumps(self.to_dict(), allow_nan=False), encoding="utf-8")
        return path

    def to_csv(self, path: str | Path) -> Path:
        """Write the seeds' runs as one long CSV (:func:`olexplore.runs.export.to_csv`:
        config columns, ``step``, ``loss``, ``learning_rate_at_step``, ...); return the path."""
        return to_csv(self.runs, path)


def lr_range_test(
    config: Config,
    *,
    start: float = 1e-6,
    stop: float = 10.0,
    steps: int = 200,
    seeds: int = 3,
    progress: Callable[[int, Run], Any] | None = None,
) -> LRRangeResult:
    """Train ``config`` with the rate ramped from ``start`` to ``stop`` over ``steps`` steps,
    once per seed (``config.seed``, ``+1``, ...), and suggest a learning rate.

    ``config.learning_rate``, ``decay`` and ``steps`` are replaced by the ramp; everything
    else applies. ``progress(seed_index, run)`` is called after every chunk of steps.

    >>> result = lr_range_test(Config(problem="quadratic", optimizer="SGD"), start=1e-3,
    ...                        stop=10.0, steps=40, seeds=2)
    >>> result.losses.shape, int(result.stopped[0]), bool(np.isnan(result.losses[0, -1]))
    ((2, 40), 31, True)
    >>> {key: f"{value:.2g}" for key, value in result.suggestions.items()}
    {'steepest': '0.013', 'valley': '0.022', 'minimum_over_10': '0.046'}
    >>> lr_range_test(Config(), start=1.0, stop=0.1)
    Traceback (most recent call last):
    ...
    ValueError: start: got 1.0 with stop 0.1; accepted: start < stop (both > 0).
    """
    start, stop = _check(config, start, stop, steps, seeds)
    ramp = ramp_config(config, start, stop, int(steps))
    rates = schedule(ramp)
    losses = np.full((seeds, steps), np.nan, dtype=np.float32)
    stopped = np.full(seeds, -1, dtype=np.int64)
    records = []
    for index in range(seeds):
        run = Run(
            ramp.replace(seed=(config.seed + index) % (MAX_SEED + 1)),
            chunk_seconds=0.02,
            evaluate_every=MAX_RAMP_STEPS,
        )
        found: list[int] = []

        def watch(run: Run, index: int = index, found: list[int] = found) -> None:
            at = stop_step(run.history["loss"])
            if at is not None:
                found.append(at)
                if run.status != "diverged":  # Run's own reason names the non-finite value
                    run.stop()
                    run.status = "stopped"  # also when the chunk that went past it finished
                    run.reason = f"loss above {DIVERGENCE:g}x its best at step {at}"
            if progress is not None:
                progress(index, run)

        try:
            run.run(progress=watch)
        finally:
            run.release()
        recorded = run.history["loss"]
        if found:
            stopped[index] = found[0]
            recorded = recorded[: found[0] + 1]
        losses[index, : len(recorded)] = np.where(np.isfinite(recorded), recorded, np.nan)
        records.append(record_of(run))
    per_seed = {name: np.full(seeds, np.nan) for name in SUGGESTIONS}
    for index in range(seeds):
        for name, value in suggest(rates, losses[index]).items():
            per_seed[name][index] = value
    return LRRangeResult(config, rates, losses, stopped, per_seed, records)
