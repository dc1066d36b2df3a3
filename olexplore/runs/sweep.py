"""Compare settings honestly: a grid of Config fields x seeds, summarised as DeepOBS does.

DeepOBS's protocol (Schneider et al., ICLR 2019): tune the learning rate per optimizer on a grid,
repeat each setting over several seeds, then compare mean and spread, and show how the final
loss depends on the learning rate (its *sensitivity*). Runs that diverge are counted and shown as
such (their final loss is ``inf``), never silently dropped.
"""

from __future__ import annotations

import dataclasses
import itertools
import math
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any, NamedTuple, TextIO

import numpy as np

from olexplore.problems.base import Problem
from olexplore.runs.config import Config, field_names
from olexplore.runs.run import Run

Progress = Callable[[int, int, Run], Any]


def with_field(config: Config, name: str, value: Any) -> Config:
    """``config`` with the (possibly dotted) field ``name`` set to ``value``, validated.

    Dots go into ``decay``/``clipping`` and into mappings, whose key is the rest of the name
    (``"multipliers.dense/.*"``, ``"decay.params.decay_rate"``, ``"problem_params.start"``).

    >>> with_field(Config(), "clipping.norm", 2).clipping.norm
    2.0
    """
    return _replaced(config, name, value, name)


def _replaced(obj: Any, path: str, value: Any, full: str) -> Any:
    if isinstance(obj, Mapping):
        return {**obj, path: value}
    head, _, rest = path.partition(".")
    if not dataclasses.is_dataclass(obj) or isinstance(obj, type):  # an instance only
        raise ValueError(f"grid: {full!r} goes into {obj!r}, which has no fields.")
    names = [f.name for f in dataclasses.fields(obj)]
    if head not in names:
        accepted = names if isinstance(obj, Config) else [f"...{head}" for head in names]
        raise ValueError(f"grid: {full!r} is not a Config field; accepted: {accepted}.")
    new = value if not rest else _replaced(getattr(obj, head), rest, value, full)
    return dataclasses.replace(obj, **{head: new})


def _format(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)


#: Most runs one sweep makes (settings x seeds): beyond it a typo, not a plan.
MAX_RUNS = 10_000


def _seed_list(base: Config, seeds: Sequence[int] | int) -> list[int]:
    accepted = f"accepted: a count from 1 to {MAX_RUNS} or a list of integer seeds"
    if isinstance(seeds, (int, np.integer)) and not isinstance(seeds, (bool, np.bool_)):
        if not 1 <= seeds <= MAX_RUNS:
            raise ValueError(f"seeds: got {seeds!r}; {accepted}.")
        chosen = [base.seed + i for i in range(int(seeds))]
    elif isinstance(seeds, (str, bytes)) or not isinstance(seeds, Sequence):
        raise ValueError(f"seeds: got {seeds!r}; {accepted}.")
    else:
        if not seeds:
            raise ValueError("seeds: got an empty list; accepted: at least one seed.")
        if len(seeds) > MAX_RUNS:
            raise ValueError(f"seeds: got a list of {len(seeds)}; {accepted}.")
        bad = [
            s
            for s in seeds
            if isinstance(s, (bool, np.bool_)) or not isinstance(s, (int, np.integer))
        ]
        if bad:
            raise ValueError(f"seeds: got {bad[0]!r} in the list; {accepted}.")
        chosen = [int(s) for s in seeds]
    for seed in chosen:  # Config's bounds, named as this argument
        try:
            base.replace(seed=seed)
        except ValueError as error:
            raise ValueError(f"seeds: {error}") from None
    return chosen


class _TextBar:
    """A one-line progress bar on a text stream (tqdm-free)."""

    def __init__(self, total: int, stream: TextIO) -> None:
        self.total, self.stream, self.began = total, stream, time.perf_counter()

    def __call__(self, done: int, total: int, run: Run) -> None:
        filled = int(20 * done / total)
        seconds = time.perf_counter() - self.began
        self.stream.write(
            f"\rsweep [{'#' * filled}{'.' * (20 - filled)}] {done}/{total} "
            f"{run.label} seed={run.config.seed} {run.status} {seconds:.1f}s"
        )
        if done == total:
            self.stream.write("\n")
        self.stream.flush()


def final_metrics(run: Run) -> dict[str, float]:
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
        cells: list[list[Run]],
        *,
        interrupted: bool = False,
    ) -> None:
        self.grid = {name: list(values) for name, values in grid.items()}
        self.settings, self.configs, self.seeds = settings, configs, seeds
        self.cells = cells  # cells[i]: the runs of configs[i], one per seed
        self.interrupted = bool(interrupted)
        self._metrics = [[final_metrics(run) for run in cell] for cell in cells]

    @property
    def runs(self) -> list[Run]:
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


def sweep(
    base: Config,
    grid: Mapping[str, Sequence[Any]],
    seeds: Sequence[int] | int = 3,
    progress: bool | Progress | None = True,
    *,
    problem: Problem | None = None,
    stream: TextIO | None = None,
    **run_options: Any,
) -> SweepResult:
    """Run every combination of ``grid`` values (Config fields, dotted allowed) for every seed.

    Runs go one after another; ``progress`` is ``True`` (a text bar on ``stream``, default
    stderr), false, or ``fn(done, total, run)``. ``seeds`` is a count (``base.seed``,
    ``base.seed + 1``, ...) or a list. ``problem`` and ``run_options`` (``evaluate_every``,
    ``record_variable_norms``, ...) go to every :class:`Run`. A run that fails is kept with
    status ``"failed"``; the sweep raises only when every run failed. All configs are validated
    before the first run. A Ctrl-C (``KeyboardInterrupt``, also from ``progress``) stops the
    run in progress, keeps it (``"stopped"``, with every step it trained) and returns the
    partial result with ``interrupted`` True.

    >>> result = sweep(Config(problem="quadratic", optimizer="SGD", steps=30),
    ...                {"learning_rate": [0.1, 1.0]}, seeds=1, progress=False)
    >>> [(row["learning_rate"], row["diverged"]) for row in result.table()]
    [(0.1, 0), (1.0, 1)]
    """
    if not isinstance(base, Config):
        raise ValueError(f"base: got {base!r} ({type(base).__name__}); accepted: a Config.")
    if not isinstance(grid, Mapping):
        raise ValueError(
            f"grid: got {grid!r}; accepted: a mapping from Config fields to lists of values, "
            "e.g. {'optimizer': ['SGD', 'Adam'], 'learning_rate': [0.01, 0.1]}."
        )
    for name, values in grid.items():
        if name == "seed":
            raise ValueError("grid: got 'seed'; accepted: any other field (pass seeds=...).")
        if name.partition(".")[0] not in field_names():
            raise ValueError(f"grid: {name!r} is not a Config field; accepted: {field_names()}.")
        if isinstance(values, (str, bytes)) or not isinstance(values, Sequence) or not values:
            raise ValueError(f"grid[{name!r}]: got {values!r}; accepted: a non-empty list.")
    seed_list = _seed_list(base, seeds)
    total = math.prod(len(values) for values in grid.values()) * len(seed_list)
    if total > MAX_RUNS:
        raise ValueError(
            f"grid, seeds: got {total:,} runs ({' x '.join(str(len(v)) for v in grid.values())} "
            f"settings x {len(seed_list)} seeds); accepted: at most {MAX_RUNS:,} runs per sweep."
        )
    settings = [dict(zip(grid, combo, strict=True)) for combo in itertools.product(*grid.values())]
    configs = []
    for setting in settings:
        config = base
        for name, value in setting.items():
            config = with_field(config, name, value)
        configs.append(config)
    report: Progress | None = progress if callable(progress) else None
    if progress is True:
        report = _TextBar(total, stream or sys.stderr)
    cells: list[list[Run]] = []
    errors: list[Exception] = []
    interrupted = False
    try:
        for config in configs:
            cell: list[Run] = []
            cells.append(cell)
            for seed in seed_list:
                run = Run(config.replace(seed=seed), problem, **run_options)
                cell.append(run)
                _run_one(run, errors)
                if report is not None:
                    report(len(cells[:-1]) * len(seed_list) + len(cell), total, run)
    except KeyboardInterrupt:  # keep what ran: the runs so far, the one in progress stopped
        interrupted = True
        for run in (run for cell in cells for run in cell):
            run.release()
        if progress is True:
            (stream or sys.stderr).write("\nsweep interrupted\n")
    while cells and not cells[-1]:
        cells.pop()
    if not interrupted and len(errors) == total:
        raise errors[0]
    count = len(cells)
    return SweepResult(
        grid, settings[:count], configs[:count], seed_list, cells, interrupted=interrupted
    )


def _run_one(run: Run, errors: list[Exception]) -> None:
    """Train ``run`` to its end; a failure is kept (in ``errors`` too), a Ctrl-C stops it."""
    try:
        run.run()
    except KeyboardInterrupt:
        step = run.step
        run.stop()
        run.reason = f"interrupted at step {step} (Ctrl-C in the sweep)"
        raise
    except Exception as error:  # noqa: BLE001 - kept as a failed run
        errors.append(error)
    finally:
        run.release()
