"""A sweep's runs in other processes: any ``concurrent.futures.Executor`` or a Dask ``Client``.

No scheduler is written here: runs go to the executor the caller gives (a
``ProcessPoolExecutor``, a ``dask.distributed.Client`` on a ``LocalCluster`` or on a cluster
started by dask-jobqueue, dask-kubernetes or Coiled), and this module only submits, collects in
order, and decides what a fault means.

What travels to a worker: the run's :class:`Config` (a frozen dataclass of plain values), the run
options, and for a problem of the user's own a *problem factory*: a picklable callable that builds
the :class:`Problem` inside the worker (a module-level function or class, or a
``functools.partial`` of one; the worker must be able to import its module). A ``Problem``
*instance* does not travel: its ``tf.Variable`` objects, ``tf.data`` pipelines and the closures
over them belong to the TensorFlow runtime of the process that made them, and pickle refuses them.

What comes back: a :class:`SweptRecord` (a :class:`RunRecord` plus the training time and the
worker's process id), made of NumPy arrays and plain values. A 2-D surface's function (often a
lambda) stays in the worker and is rebuilt here from the problem registry.

Each run is seeded from its Config alone, so a run gives the same numbers in any process. This
module is imported once per worker process, with TensorFlow; ``SweptRecord.process_run`` counts
the runs that process has trained (1, 2, 3, ...), which shows that neither is imported per run.
"""

from __future__ import annotations

import concurrent.futures as cf
import contextlib
import multiprocessing
import os
import pickle
import sys
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from olexplore.problems.base import Problem, Surface
from olexplore.problems.registry import get_problem
from olexplore.runs.config import Config
from olexplore.runs.history import History
from olexplore.runs.record import RunRecord
from olexplore.runs.run import Run

ProblemFactory = Callable[[], Problem]
#: What ``pip`` installs for Dask support.
DASK_EXTRA = "pip install 'olexplore[dask]'"

_RUNS_HERE = 0  # runs this process has trained (see the module's docstring)


@dataclass(eq=False)
class SweptRecord(RunRecord):
    """A sweep's run as data: a :class:`RunRecord` with ``seconds`` (training time), ``pid``
    (the process that trained it), ``process_run`` (the how-manieth run of that process),
    ``timings`` (``time.time()`` stamps: ``started``, ``built``, ``finished``) and ``error``
    (the exception of a failed run, when it could travel).

    >>> record = SweptRecord(Config(problem="quadratic"), History(), status="failed",
    ...                      reason="could not build the run: ValueError: bad")
    >>> record.step, record.status, record.seconds
    (0, 'failed', 0.0)
    """

    seconds: float = 0.0
    pid: int = 0
    process_run: int = 0
    timings: dict[str, float] = field(default_factory=dict)
    error: BaseException | None = field(default=None, repr=False)

    @property
    def step(self) -> int:
        """Steps trained (the history's length)."""
        return len(self.history)

    def release(self) -> None:
        """Nothing to release: a record holds no TensorFlow objects."""


def _error_text(error: BaseException) -> str:
    return f"{type(error).__name__}: {' '.join((str(error) or '(no message)').split())}"


def _travelling(error: BaseException) -> BaseException:
    """``error`` if pickle can carry it back, else a RuntimeError with its text."""
    try:
        pickle.loads(pickle.dumps(error))
    except Exception:  # noqa: BLE001 - any failure to round-trip
        return RuntimeError(_error_text(error))
    return error


def failed_record(config: Config, reason: str, error: BaseException | None = None) -> SweptRecord:
    """A run that never trained: status ``"failed"`` with ``reason``.

    >>> failed_record(Config(problem="quadratic"), "the worker died").reason
    'the worker died'
    """
    return SweptRecord(config, History(), status="failed", reason=reason, error=error)


def train_config(
    config: Config, factory: ProblemFactory | None = None, options: Mapping[str, Any] = {}
) -> SweptRecord:
    """Build and train one run of ``config`` here; every failure is kept in the record.

    This is what a worker runs. ``factory()`` builds the user's own problem (``None``: the
    registered ``config.problem``); ``options`` go to :class:`Run`.

    >>> record = train_config(Config(problem="quadratic", optimizer="SGD", steps=30))
    >>> record.status, record.step, record.pid == os.getpid()
    ('finished', 30, True)
    """
    global _RUNS_HERE
    _RUNS_HERE += 1
    timings = {"started": time.time()}
    where = {"pid": os.getpid(), "process_run": _RUNS_HERE, "timings": timings}
    try:
        run = Run(config, None if factory is None else factory(), **options)
    except Exception as error:  # noqa: BLE001 - a run that cannot be built is kept as failed
        reason = f"could not build the run: {_error_text(error)}"
        return SweptRecord(config, History(), "failed", reason, error=_travelling(error), **where)
    timings["built"] = time.time()
    error: BaseException | None = None
    try:
        run.run()
    except Exception as raised:  # noqa: BLE001 - kept as a failed run
        error = _travelling(raised)
        if run.status != "failed" or not run.reason:
            run.status, run.reason = "failed", _error_text(raised)
    finally:
        run.release()
    timings["finished"] = time.time()
    return SweptRecord(
        run.config,
        run.history,
        run.status,
        run.reason,
        run.label,
        surface=None,  # its function stays here (see the module's docstring)
        variable_names=list(run.variable_names),
        seconds=run.seconds,
        error=error,
        **where,
    )


def _surface_of(config: Config) -> Surface | None:
    """The registered problem's 2-D surface (``None`` for other problems)."""
    try:
        make = getattr(get_problem(config.problem, **dict(config.problem_params)), "surface", None)
        surface = make() if callable(make) else None
    except (ValueError, TypeError, AttributeError):
        return None
    return surface if isinstance(surface, Surface) else None


# --------------------------------------------------------------------- executors
#: How long :func:`connect` tries to reach a scheduler.
CONNECT_TIMEOUT = "10s"


def connect(address: str, argument: str = "executor") -> Any:
    """A ``dask.distributed.Client`` connected to the scheduler at ``address``.

    Without dask.distributed an ImportError names the extra; a scheduler that cannot be
    reached within :data:`CONNECT_TIMEOUT` is an ``OSError`` naming ``argument`` and ``address``.
    """
    try:
        from distributed import Client
    except ImportError as error:
        raise ImportError(
            f"{argument}: a Dask scheduler address needs dask.distributed, which is an optional "
            f"extra: {DASK_EXTRA} (importing it failed: {error})"
        ) from error
    try:
        return Client(address, timeout=CONNECT_TIMEOUT)
    except (OSError, TimeoutError) as error:
        raise OSError(
            f"{argument}: cannot connect to the Dask scheduler at {address!r} within "
            f"{CONNECT_TIMEOUT} ({_error_text(error)})"
        ) from None


def _is_client(executor: Any) -> bool:
    distributed = sys.modules.get("distributed")
    return distributed is not None and isinstance(executor, distributed.Client)


@contextlib.contextmanager
def as_executor(executor: Any, stream: Any = None) -> Iterator[cf.Executor]:
    """A ``concurrent.futures.Executor`` for ``executor``: itself, a Dask ``Client``'s own
    executor, or (a string) a new ``Client`` connected to that scheduler address, closed on
    exit. The Dask dashboard's address is written to ``stream`` when there is one.

    >>> with cf.ThreadPoolExecutor(1) as pool, as_executor(pool) as same:
    ...     same is pool
    True
    >>> with as_executor(42) as nothing:  # doctest: +ELLIPSIS
    ...     pass
    Traceback (most recent call last):
    ValueError: executor: got 42 (int); accepted: None, a concurrent.futures.Executor, ...
    """
    if isinstance(executor, str):
        with connect(executor) as client:
            _say_dashboard(client, stream)
            yield client.get_executor(pure=False)
        return
    if _is_client(executor):
        _say_dashboard(executor, stream)
        yield executor.get_executor(pure=False)
        return
    if isinstance(executor, cf.Executor):
        yield executor
        return
    raise ValueError(
        f"executor: got {executor!r} ({type(executor).__name__}); accepted: None, a "
        "concurrent.futures.Executor, a dask.distributed.Client, or a Dask scheduler address "
        "such as 'tcp://10.0.0.5:8786'."
    )


def _say_dashboard(client: Any, stream: Any) -> None:
    try:
        link = client.dashboard_link
    except Exception:  # noqa: BLE001 - a scheduler without a dashboard (no bokeh)
        link = None
    if stream is not None:
        stream.write(f"sweep: Dask dashboard at {link}\n" if link else "")
        stream.flush()


def check_factory(factory: Any, executor: Any) -> None:
    """Refuse, before any run, a factory that is not callable or cannot reach a worker."""
    if factory is None:
        return
    if not callable(factory):
        raise ValueError(
            f"problem_factory: got {factory!r} ({type(factory).__name__}); accepted: a callable "
            "that returns a Problem (e.g. a module-level function)."
        )
    if executor is None or isinstance(executor, cf.ThreadPoolExecutor):
        return
    dumps = pickle.dumps
    if isinstance(executor, str) or _is_client(executor):  # Dask pickles with cloudpickle
        import cloudpickle

        dumps = cloudpickle.dumps
    try:
        dumps(factory)
    except Exception as error:  # noqa: BLE001 - any pickling failure
        raise ValueError(
            f"problem_factory: got {factory!r}, which cannot be pickled to reach a worker "
            f"({_error_text(error)}); accepted: a module-level function or class, or a "
            "functools.partial of one, that builds the Problem in the worker."
        ) from None


def run_all(
    pool: cf.Executor,
    configs: Sequence[Config],
    factory: ProblemFactory | None,
    options: Mapping[str, Any],
    on_done: Callable[[int, int, SweptRecord], Any] | None = None,
) -> tuple[dict[int, SweptRecord], bool]:
    """Train every config on ``pool``; ``({index: record}, interrupted)``.

    ``on_done(done, total, record)`` is called as each run comes back. A run whose worker
    died (the future raised instead of returning a record) is submitted once more, then kept as
    ``"failed"`` with the reason. A ``KeyboardInterrupt`` (Ctrl-C, also from ``on_done``)
    cancels what has not started and returns what finished, with ``interrupted`` True.

    >>> with cf.ThreadPoolExecutor(1) as pool:
    ...     done, interrupted = run_all(pool, [Config(problem="quadratic", steps=5, seed=s)
    ...                                       for s in (0, 1)], None, {})
    >>> sorted(done), [done[i].config.seed for i in sorted(done)], interrupted
    ([0, 1], [0, 1], False)
    """
    pending: dict[cf.Future, int] = {}
    resubmitted: set[int] = set()
    done: dict[int, SweptRecord] = {}

    def submit(index: int) -> None:
        pending[pool.submit(train_config, configs[index], factory, dict(options))] = index

    try:
        for index in range(len(configs)):
            submit(index)
        while pending:
            finished, _ = cf.wait(pending, timeout=0.5, return_when=cf.FIRST_COMPLETED)
            for future in finished:
                index = pending.pop(future)
                record = _outcome(future, configs[index], index in resubmitted)
                if record is None:  # the worker died: once more
                    resubmitted.add(index)
                    try:
                        submit(index)
                        continue
                    except Exception as error:  # noqa: BLE001 - e.g. a broken process pool
                        record = failed_record(
                            configs[index],
                            f"its worker died and it could not be resubmitted "
                            f"({_error_text(error)})",
                        )
                done[index] = _with_surface(record, factory)
                if on_done is not None:
                    on_done(len(done), len(configs), record)
    except KeyboardInterrupt:
        for future, index in pending.items():
            if not future.cancel() and future.done() and future.exception() is None:
                record = future.result()  # came back before the Ctrl-C was handled
                if isinstance(record, SweptRecord):
                    done[index] = _with_surface(record, factory)
        return done, True
    return done, False


def _with_surface(record: SweptRecord, factory: ProblemFactory | None) -> SweptRecord:
    if record.surface is None and factory is None:
        record.surface = _surface_of(record.config)
    return record


def _outcome(future: cf.Future, config: Config, again: bool) -> SweptRecord | None:
    """The future's record; ``None`` when its worker died for the first time."""
    try:
        record = future.result()
    except cf.CancelledError:
        return failed_record(config, "cancelled on the executor")
    except Exception as error:  # noqa: BLE001 - the run itself never raises (train_config)
        if not again:
            return None
        return failed_record(
            config,
            f"its worker died twice (resubmitted once): {_error_text(error)}",
            _travelling(error),
        )
    if not isinstance(record, SweptRecord):
        return failed_record(config, f"the executor returned {type(record).__name__}")
    return record


# --------------------------------------------------------------------- local pools
@contextlib.contextmanager
def local_executor(workers: int, stream: Any = None) -> Iterator[Any]:
    """``workers`` single-threaded worker processes on this machine: a Dask ``LocalCluster``
    on 127.0.0.1 (its ``Client``) when dask.distributed is installed, else a
    ``ProcessPoolExecutor`` (spawned processes: TensorFlow's threads do not survive a fork).

    >>> with local_executor(0):  # doctest: +ELLIPSIS
    ...     pass
    Traceback (most recent call last):
    ValueError: workers: got 0; accepted: an integer >= 1.
    """
    if isinstance(workers, bool) or not isinstance(workers, int) or workers < 1:
        raise ValueError(f"workers: got {workers!r}; accepted: an integer >= 1.")
    try:
        from distributed import Client, LocalCluster
    except ImportError:
        spawn = multiprocessing.get_context("spawn")
        with cf.ProcessPoolExecutor(workers, mp_context=spawn) as pool:
            yield pool
        return
    cluster = LocalCluster(
        n_workers=workers,
        threads_per_worker=1,
        processes=True,
        host="127.0.0.1",
        dashboard_address="127.0.0.1:0",
    )
    with cluster, Client(cluster) as client:
        yield client
