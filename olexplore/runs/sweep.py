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
from typing import Any, TextIO

import numpy as np

from olexplore.problems.base import Problem
from olexplore.runs.config import Config, field_names
from olexplore.runs.executors import (
    ProblemFactory,
    SweptRecord,
    as_executor,
    check_factory,
    failed_record,
    run_all,
)
from olexplore.runs.run import Run
from olexplore.runs.sweep_result import (  # noqa: F401 - part of this module's API
    Sensitivity,
    SweepResult,
    SweptRun,
    final_metrics,
)

Progress = Callable[[int, int, Any], Any]  # (done, total, Run or SweptRecord)


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
    """A one-line progress bar on a given text stream (a log file, a test's buffer); tqdm draws
    the bar everywhere else."""

    def __init__(self, total: int, stream: TextIO) -> None:
        self.total, self.stream, self.began = total, stream, time.perf_counter()

    def __call__(self, done: int, total: int, run: Run | SweptRecord) -> None:
        filled = int(20 * done / total)
        seconds = time.perf_counter() - self.began
        self.stream.write(
            f"\rsweep [{'#' * filled}{'.' * (20 - filled)}] {done}/{total} "
            f"{run.label} seed={run.config.seed} {run.status} {seconds:.1f}s"
        )
        if done == total:
            self.stream.write("\n")
        self.stream.flush()


def sweep(
    base: Config,
    grid: Mapping[str, Sequence[Any]],
    seeds: Sequence[int] | int = 3,
    progress: bool | Progress | None = True,
    *,
    problem: Problem | None = None,
    problem_factory: ProblemFactory | None = None,
    executor: Any = None,
    stream: TextIO | None = None,
    **run_options: Any,
) -> SweepResult:
    """Run every combination of ``grid`` values (Config fields, dotted allowed) for every seed.

    Without ``executor`` runs go one after another in this process. ``executor`` (a
    ``concurrent.futures.Executor`` such as a spawn-context ``ProcessPoolExecutor``, a
    ``dask.distributed.Client``, or a Dask scheduler address, which needs ``olexplore[dask]``)
    trains them in worker processes and returns them as :class:`SweptRecord` objects, in the
    same order and with the same numbers as here (each run is seeded from its Config alone);
    see :mod:`olexplore.runs.executors` for what travels. A run whose worker died is
    resubmitted once, then kept as ``"failed"``.

    ``progress`` is ``True`` (one bar over all runs: tqdm when installed and no ``stream`` is
    given, else a text bar on ``stream``, default stderr; the Dask dashboard's address is
    written there too), false, or ``fn(done, total, run)``. ``seeds`` is a count
    (``base.seed``, ``base.seed + 1``, ...) or a list. ``problem`` (here only) or
    ``problem_factory`` (a picklable callable returning the Problem, called for each run) and
    ``run_options`` (``evaluate_every``, ``record_variable_norms``, ...) go to every
    :class:`Run`. A run that fails to build, raises or diverges is kept with its status and
    reason; the sweep raises only when every run failed. All configs are validated before the
    first run. A Ctrl-C (``KeyboardInterrupt``, also from ``progress``) stops the run in
    progress (in this process: kept ``"stopped"`` with every step it trained; on an executor:
    what has not started is cancelled) and returns the partial result with ``interrupted``
    True.

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
    if problem is not None and (executor is not None or problem_factory is not None):
        raise ValueError(
            f"problem: got {problem!r} with {'executor' if executor is not None else 'a factory'}"
            "; accepted: problem_factory= instead (a picklable callable that builds the Problem "
            "in each worker: a Problem's TensorFlow variables cannot travel between processes)."
        )
    check_factory(problem_factory, executor)
    report, bar = _reporter(progress, total, stream)
    runs = [config.replace(seed=seed) for config in configs for seed in seed_list]
    try:
        if executor is None:
            done, interrupted = _run_here(runs, problem, problem_factory, run_options, report)
        else:
            out = None if progress is False or progress is None else (stream or sys.stderr)
            with as_executor(executor, out) as pool:
                done, interrupted = run_all(pool, runs, problem_factory, run_options, report)
    finally:
        if bar is not None:
            bar.close()
    if interrupted and progress is True:
        (stream or sys.stderr).write("\nsweep interrupted\n")
    if not interrupted and len(done) == total and all(r.status == "failed" for r in done.values()):
        first = done[0]
        raise getattr(first, "error", None) or RuntimeError(first.reason or "every run failed")
    kept = [
        i
        for i in range(len(configs))
        if any(i * len(seed_list) + j in done for j in range(len(seed_list)))
    ]
    cells = [
        [
            done[i * len(seed_list) + j]
            for j in range(len(seed_list))
            if i * len(seed_list) + j in done
        ]
        for i in kept
    ]
    return SweepResult(
        grid,
        [settings[i] for i in kept],
        [configs[i] for i in kept],
        seed_list,
        cells,
        interrupted=interrupted,
    )


def _run_here(
    runs: list[Config],
    problem: Problem | None,
    factory: ProblemFactory | None,
    options: dict[str, Any],
    report: Progress | None,
) -> tuple[dict[int, Any], bool]:
    """Train ``runs`` one after another in this process: ``({index: run}, interrupted)``."""
    done: dict[int, Any] = {}
    try:
        for index, config in enumerate(runs):
            try:
                run = Run(config, problem if factory is None else factory(), **options)
            except Exception as error:  # noqa: BLE001 - kept as a failed run
                reason = f"could not build the run: {type(error).__name__}: {error}"
                done[index] = failed_record(config, reason, error)
            else:
                done[index] = run  # kept, stopped, if a Ctrl-C ends it
                _run_one(run)
            if report is not None:
                report(len(done), len(runs), done[index])
    except KeyboardInterrupt:  # keep what ran: the runs so far, the one in progress stopped
        for run in done.values():
            run.release()
        return done, True
    return done, False


def _run_one(run: Run) -> None:
    """Train ``run`` to its end; a failure is kept (``run.error``), a Ctrl-C stops it."""
    try:
        run.run()
    except KeyboardInterrupt:
        step = run.step
        run.stop()
        run.reason = f"interrupted at step {step} (Ctrl-C in the sweep)"
        raise
    except Exception as error:  # noqa: BLE001 - kept as a failed run
        run.error = error
        if run.status != "failed":
            run.status, run.reason = "failed", f"{type(error).__name__}: {error}"
    finally:
        run.release()


class _TqdmBar:
    """One tqdm bar over all runs (``tqdm.auto``: a widget in notebooks, text elsewhere)."""

    def __init__(self, total: int, tqdm: Any) -> None:
        self.bar = tqdm(total=total, desc="sweep", unit="run")

    def __call__(self, done: int, total: int, run: Any) -> None:
        self.bar.set_postfix_str(f"{run.label} seed={run.config.seed} {run.status}", False)
        self.bar.update(done - self.bar.n)

    def close(self) -> None:
        self.bar.close()


def _reporter(
    progress: bool | Progress | None, total: int, stream: TextIO | None
) -> tuple[Progress | None, _TqdmBar | None]:
    """``(progress function, bar to close)`` for the ``progress`` argument."""
    if callable(progress):
        return progress, None
    if progress is not True:
        return None, None
    if stream is None:
        try:
            from tqdm.auto import tqdm
        except ImportError:
            pass
        else:
            bar = _TqdmBar(total, tqdm)
            return bar, bar
    return _TextBar(total, stream or sys.stderr), None
