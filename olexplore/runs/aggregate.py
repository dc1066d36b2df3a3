"""Statistics of run records for figures and tables: smoothing, groups, seed bands, sensitivity.

NumPy only (no matplotlib), so the live explorer and the static figures compute the same numbers.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Hashable, Sequence
from typing import Any

import numpy as np
from scipy.signal import lfilter

from olexplore.engine.validation import describe, is_real_number
from olexplore.runs.record import RunRecord, as_records, flat_config


def ema(values: Any, weight: float) -> np.ndarray:
    """TensorBoard's debiased exponential moving average of ``values``.

    ``s_k = weight * s_(k-1) + (1 - weight) * x_k`` from ``s_0 = 0``, divided by
    ``1 - weight**k`` so the first values are not pulled towards zero; ``k`` counts finite
    values only. NaN and infinities are left where they are and skipped; a constant series is
    returned unchanged. ``weight`` is TensorBoard's smoothing slider, in [0, 1).

    >>> ema([1.0, float("nan"), 3.0], 0.5).tolist()  # 3: (0.25 + 1.5) / (1 - 0.25)
    [1.0, nan, 2.3333333333333335]
    """
    weight = check_weight(weight)
    values = np.array(values, dtype=np.float64)
    if values.ndim != 1:
        raise ValueError(f"values: got an array of shape {values.shape}; accepted: 1-D values.")
    finite = np.isfinite(values)
    kept = values[finite]
    if weight == 0 or kept.size == 0 or np.all(kept == kept[0]):
        return values
    smoothed = lfilter([1.0 - weight], [1.0, -weight], kept)
    values[finite] = smoothed / (1.0 - weight ** np.arange(1, kept.size + 1))
    return values


def check_weight(weight: Any, argument: str = "weight") -> float:
    """``weight`` as a float when it is a smoothing weight in [0, 1), else a ValueError."""
    if not is_real_number(weight) or not 0.0 <= float(weight) < 1.0:
        raise ValueError(
            f"{argument}: got {describe(weight)}; accepted: a number in [0, 1) (0: no "
            "smoothing, 0.6: TensorBoard's default, 0.99: strong)."
        )
    return float(weight)


def metric_names(record: RunRecord) -> list[str]:
    """The per-step series and evaluations a record has (what figures can draw)."""
    return [*record.history.names, *(n for n in record.history.evaluations if n != "step")]


def series_of(record: RunRecord, metric: str) -> tuple[np.ndarray, np.ndarray] | None:
    """``(steps, values)`` of a per-step series or of an evaluation; ``None`` when absent."""
    history = record.history
    if metric in history.names:
        values = np.asarray(history[metric])
        if values.ndim != 1:
            raise ValueError(
                f"metrics: {metric!r} has shape {values.shape}, not one value per step; "
                "accepted: scalar series (draw 'position' with plot_trajectories)."
            )
        return history.steps, values
    evaluations = history.evaluations
    if metric != "step" and metric in evaluations:
        return evaluations["step"], evaluations[metric]
    return None


def divergence_step(record: RunRecord) -> float:
    """The first step whose loss or global norm is not finite (the last step when none is;
    infinity for a run that did not diverge): where figures put a diverged run's ×."""
    if not record.diverged:
        return np.inf
    history = record.history
    bad = np.zeros(len(history), dtype=bool)
    for name in ("loss", "global_norm"):
        if name in history.names:
            bad |= ~np.isfinite(history[name])
    steps = history.steps
    return float(steps[np.argmax(bad)] if bad.any() else steps[-1] if len(steps) else np.inf)


def _group_key(group_by: Any) -> Callable[[RunRecord], Hashable]:
    if group_by is None:
        return lambda record: record.config.replace(seed=0)
    if callable(group_by):
        return group_by
    if isinstance(group_by, str):

        def key(record: RunRecord) -> Hashable:
            flat = flat_config(record.config)
            if group_by not in flat:
                raise ValueError(
                    f"group_by: got {group_by!r}; accepted: None, a function of a record, or a "
                    f"config key among {sorted(flat)}."
                )
            value = flat[group_by]
            return tuple(value) if isinstance(value, list) else value

        return key
    raise ValueError(f"group_by: got {describe(group_by)}; accepted: None, a key or a function.")


def group_records(records: Any, group_by: Any = None) -> dict[str, list[RunRecord]]:
    """Records grouped by ``group_by`` (default: equal Configs but for the seed), labelled.

    ``group_by`` is ``None``, a flat config key (``"optimizer"``, ``"decay.name"``) or a
    function of a record. Labels name what differs between the groups.
    """
    records = as_records(records)
    if not records:
        raise ValueError("records: got none; accepted: one or more run records or runs.")
    key = _group_key(group_by)
    groups: dict[Hashable, list[RunRecord]] = {}
    for record in records:
        groups.setdefault(key(record), []).append(record)
    if isinstance(group_by, str):
        return {f"{group_by}={k}": members for k, members in groups.items()}
    if callable(group_by):
        return {str(k): members for k, members in groups.items()}
    flats = [flat_config(members[0].config) for members in groups.values()]
    keys = dict.fromkeys(k for flat in flats for k in flat if k != "seed")
    varying = [k for k in keys if len({repr(flat.get(k)) for flat in flats}) > 1]
    labelled = {}
    for flat, members in zip(flats, groups.values(), strict=True):
        parts = [f"{k}={flat.get(k)}" for k in varying]
        labelled[", ".join(parts) or f"{flat['optimizer']} lr={flat['learning_rate']:g}"] = members
    return labelled


def seed_band(
    records: Sequence[RunRecord], metric: str = "loss", smoothing: float = 0.0
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(steps, mean, std)`` of ``metric`` over runs, per step (NaN values left out).

    >>> from olexplore.runs.config import Config
    >>> from olexplore.runs.history import History
    >>> runs = []
    >>> for values in ([1.0, 2.0], [3.0, np.nan]):
    ...     history = History()
    ...     history.extend({"loss": np.array(values)})
    ...     runs.append(RunRecord(Config(), history))
    >>> [a.tolist() for a in seed_band(runs)]
    [[0, 1], [2.0, 2.0], [1.0, 0.0]]
    """
    series = [s for s in (series_of(r, metric) for r in as_records(records)) if s is not None]
    if not series:
        raise ValueError(f"metric: got {metric!r}, which no run has; accepted: a series name.")
    steps = np.unique(np.concatenate([s for s, _ in series]))
    table = np.full((len(series), steps.size), np.nan)
    for row, (s, values) in enumerate(series):
        table[row, np.searchsorted(steps, s)] = ema(values, smoothing) if smoothing else values
    table[~np.isfinite(table)] = np.nan
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # steps no run reached
        return steps, np.nanmean(table, axis=0), np.nanstd(table, axis=0)


def sensitivity_points(
    records: Any, group_by: Any = "optimizer", x: str = "learning_rate", metric: str = "loss"
) -> dict[str, tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """``{group: (x, mean, std)}`` of each run's last ``metric`` value for
    :func:`plot_sensitivity`.

    Runs are grouped by ``group_by`` (see :func:`group_records`); the runs of a group that share
    the config value ``x`` count as repetitions (seeds). A setting where any run diverged (or
    ended on a non-finite value) gets a NaN mean, which the plot shows as diverged.
    """
    result = {}
    for label, members in group_records(records, group_by).items():
        finals: dict[Any, list[float]] = {}
        for record in members:
            flat = flat_config(record.config)
            if x not in flat or not is_real_number(flat[x]):
                raise ValueError(
                    f"x: got {x!r}; accepted: a numeric config key such as 'learning_rate', "
                    f"'noise_scale' or 'clipping.norm' (this run has {flat.get(x)!r})."
                )
            series = series_of(record, metric)
            last = float(series[1][-1]) if series is not None and len(series[1]) else np.nan
            finals.setdefault(flat[x], []).append(np.nan if record.diverged else last)
        xs = np.array(sorted(finals), dtype=np.float64)
        values = [np.asarray(finals[v], dtype=np.float64) for v in sorted(finals)]
        means = np.array([v.mean() if np.isfinite(v).all() else np.nan for v in values])
        result[label] = (xs, means, np.array([v.std() for v in values]))
    return result
