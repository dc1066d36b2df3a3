"""What a sweep returns: its runs grouped by grid setting, and DeepOBS-style summaries.

A run here is a live :class:`Run` (a sweep in this process) or a :class:`SweptRecord` (a sweep
on an executor); both have ``config``, ``history``, ``status``, ``reason``, ``label`` and
``seconds``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any, NamedTuple, Union

import numpy as np

from olexplore.runs.config import Config
from olexplore.runs.executors import SweptRecord
from olexplore.runs.run import Run

SweptRun = Union[Run, SweptRecord]  # noqa: UP007 - a runtime alias on Python 3.10


def _format(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)


def final_metrics(run: SweptRun) -> dict[str, float]:
    """Per-run summary: ``final_loss``, ``best_loss``, ``final_<evaluation>``, ``seconds``.

    A diverged run has final losses ``inf`` (and other final evaluations NaN); a failed run NaN.
    """
    loss = run.history["loss"] if "loss" in run.history else np.array([])
    finite = loss[np.isfinite(loss)]
    metrics = {
        "final_loss": float(loss[-1]) if len(loss) else math.nan,
        "best_loss": float(finite.min()) if len(finite) else math.nan,
        "seconds": run.seconds,
    }
    for name, values in run.history.evaluations.items():
        if name != "step":
            metrics[f"final_{name}"] = float(values[-1]) if len(values) else math.nan
    for name in metrics:
        if name.startswith("final_") and run.status == "failed":
            metrics[name] = math.nan
        elif name.startswith("final_") and run.status == "diverged":
            metrics[name] = math.inf if name.endswith("loss") else math.nan
    return metrics


def _stats(values: Sequence[float]) -> dict[str, float]:
    array = np.asarray(values, dtype=np.float64)
    with np.errstate(invalid="ignore"):
        return {
            "mean": float(array.mean()),
            "std": float(array.std()),
            "min": float(array.min()),
            "max": float(array.max()),
        }


class Sensitivity(NamedTuple):
    """A metric against one setting, for one group: sorted ``x``, mean and spread over seeds."""

    x: np.ndarray
    mean: np.ndarray
    spread: np.ndarray  # standard deviation over seeds
    diverged: np.ndarray  # diverged runs at each x
    failed: np.ndarray  # failed runs at each x


class SweepResult:
    """The runs of a sweep, grouped by grid setting, with DeepOBS-style summaries.

    ``interrupted`` is True when a Ctrl-C ended the sweep early: ``settings``/``configs``/
    ``cells`` then hold the settings reached, and the last cell may have fewer runs than
    ``seeds`` (its last run ``stopped``, with what it had trained).
    """

    def __init__(
        self,
        grid: Mapping[str, Sequence[Any]],
        settings: list[dict[str, Any]],
        configs: list[Config],
        seeds: list[int],
        cells: list[list[SweptRun]],
        *,
        interrupted: bool = False,
    ) -> None:
        self.grid = {name: list(values) for name, values in grid.items()}
        self.settings, self.configs, self.seeds = settings, configs, seeds
        self.cells = cells  # cells[i]: the runs of configs[i], one per seed
        self.interrupted = bool(interrupted)
        self._metrics = [[final_metrics(run) for run in cell] for cell in cells]

    @property
    def runs(self) -> list[SweptRun]:
        """All runs, setting by setting, seed by seed."""
        return [run for cell in self.cells for run in cell]

    def label(self, index: int) -> str:
        """``"Adam, learning_rate=0.05"``: the grid values of setting ``index``."""
        setting = self.settings[index]
        parts = [
            _format(v) if isinstance(v, str) else f"{k}={_format(v)}" for k, v in setting.items()
        ]
        return ", ".join(parts) or "base"

    def table(self) -> list[dict[str, Any]]:
        """One row per setting: grid values, ``label``, ``config``, run/divergence counts and
        ``<metric>_mean/_std/_min/_max`` over seeds for every metric of :func:`final_metrics`."""
        rows = []
        for index, (cell, metrics) in enumerate(zip(self.cells, self._metrics, strict=True)):
            row: dict[str, Any] = {**self.settings[index], "label": self.label(index)}
            row["config"] = self.configs[index]
            row["runs"] = len(cell)
            for status in ("diverged", "failed", "stopped"):
                row[status] = sum(run.status == status for run in cell)
            for name in metrics[0] if metrics else ():
                for stat, value in _stats([m.get(name, math.nan) for m in metrics]).items():
                    row[f"{name}_{stat}"] = value
            rows.append(row)
        return rows

    def format_table(self, metric: str = "final_loss") -> str:
        """The table as aligned text: label, mean ± std of ``metric``, and divergences."""
        rows = self.table()
        width = max([len(row["label"]) for row in rows] + [7])
        lines = [f"{'setting':<{width}}  {metric + ' (mean ± std)':>26}  diverged"]
        for row in rows:
            mean, std = row.get(f"{metric}_mean", math.nan), row.get(f"{metric}_std", math.nan)
            lines.append(
                f"{row['label']:<{width}}  {f'{mean:.4g} ± {std:.2g}':>26}  "
                f"{row['diverged']}/{row['runs']}"
            )
        return "\n".join(lines)

    def _check_key(self, name: str | None, argument: str) -> None:
        if name is not None and name not in self.grid:
            raise ValueError(
                f"{argument}: got {name!r}; accepted: a field varied in the grid, one of "
                f"{list(self.grid)}" + (" or None." if argument == "group_by" else ".")
            )

    def _group(self, index: int, group_by: str | None, besides: str | None) -> str:
        setting = self.settings[index]
        parts = [] if group_by is None else [_format(setting[group_by])]
        parts += [f"{k}={_format(v)}" for k, v in setting.items() if k not in (group_by, besides)]
        return ", ".join(parts) or "all"

    def sensitivity(
        self,
        x: str = "learning_rate",
        group_by: str | None = "optimizer",
        metric: str = "final_loss",
    ) -> dict[str, Sensitivity]:
        """``metric`` (mean and spread over seeds) against the grid field ``x``, per group.

        Groups are the values of ``group_by`` plus any other field the grid varies. Diverged
        runs make their point's mean ``inf`` and are counted in ``diverged``.
        """
        self._check_key(x, "x")
        self._check_key(group_by, "group_by")
        rows = self.table()
        groups: dict[str, list[dict[str, Any]]] = {}
        for index, row in enumerate(rows):
            groups.setdefault(self._group(index, group_by, x), []).append(row)
        result = {}
        for key, members in groups.items():
            members = sorted(members, key=lambda row: row[x])
            result[key] = Sensitivity(
                np.array([row[x] for row in members]),
                np.array([row.get(f"{metric}_mean", math.nan) for row in members]),
                np.array([row.get(f"{metric}_std", math.nan) for row in members]),
                np.array([row["diverged"] for row in members]),
                np.array([row["failed"] for row in members]),
            )
        return result

    def best(
        self, metric: str = "final_loss", group_by: str | None = "optimizer"
    ) -> dict[str, dict[str, Any]]:
        """Per group, the table row with the best mean ``metric`` over seeds (lowest; highest
        for accuracies). With ``group_by="optimizer"`` this is DeepOBS's "tune the learning rate
        per optimizer, then compare"; rerun ``row["config"]`` with more seeds to confirm."""
        self._check_key(group_by, "group_by")
        sign = -1.0 if "accuracy" in metric else 1.0
        rows = self.table()
        chosen: dict[str, tuple[dict[str, Any], float]] = {}  # group: (row, score)
        for index, row in enumerate(rows):
            if f"{metric}_mean" not in row:
                raise ValueError(
                    f"metric: got {metric!r}; accepted: one of "
                    f"{sorted({k[:-5] for k in row if k.endswith('_mean')})}."
                )
            key = "all" if group_by is None else _format(self.settings[index][group_by])
            score = sign * row[f"{metric}_mean"]
            score = math.inf if math.isnan(score) else score
            if key not in chosen or score < chosen[key][1]:
                chosen[key] = (row, score)
        return {key: row for key, (row, _) in chosen.items()}

    def curves(self, name: str = "loss") -> dict[str, tuple[np.ndarray, np.ndarray, np.ndarray]]:
        """Per setting, ``(steps, mean, std)`` of a per-step series over seeds; where a seed
        stopped early (diverged) the mean is NaN, so the band ends there."""
        result = {}
        for index, cell in enumerate(self.cells):
            length = max(len(run.history) for run in cell)
            stacked = np.full((len(cell), length), np.nan)
            for row, run in enumerate(cell):
                if name in run.history:
                    stacked[row, : len(run.history)] = run.history[name]
            with np.errstate(invalid="ignore"):
                result[self.label(index)] = (
                    np.arange(length),
                    stacked.mean(axis=0),
                    stacked.std(axis=0),
                )
        return result

    def __repr__(self) -> str:
        tail = ", interrupted" if self.interrupted else ""
        return f"SweepResult({len(self.configs)} settings x {len(self.seeds)} seeds{tail})"
