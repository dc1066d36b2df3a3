"""sweep(executor=...): a Dask LocalCluster (2 single-threaded worker processes) and a spawn
ProcessPoolExecutor give the serial sweep's runs, bit for bit and in order; faults are kept.

The cluster runs with ``allowed-failures: 0`` (a task on a dead worker is a KilledWorker at once,
so the sweep's own resubmission is what is tested) and ``worker-saturation: 1.0`` (a worker holds
only the run it is training, so a killed worker takes no other run with it).
"""

import concurrent.futures as cf
import functools
import io
import multiprocessing
import os
import signal
import sys
import time
import types
from pathlib import Path

import numpy as np
import pytest

from olexplore.problems.base import Problem
from olexplore.problems.registry import get_problem
from olexplore.runs import Config, sweep
from olexplore.runs.executors import SweptRecord
from tests.runs.conftest import Blobs

dask = pytest.importorskip("dask")
distributed = pytest.importorskip("distributed")

BASE = Config(problem="quadratic", optimizer="SGD", learning_rate=0.1, steps=50, noise_scale=0.5)


@pytest.fixture(scope="module")
def client():
    settings = {
        "distributed.scheduler.allowed-failures": 0,
        "distributed.scheduler.worker-saturation": 1.0,
    }
    with dask.config.set(settings):
        cluster = distributed.LocalCluster(
            n_workers=2,
            threads_per_worker=1,
            processes=True,
            host="127.0.0.1",
            dashboard_address=None,
        )
        with cluster, distributed.Client(cluster) as client:
            yield client


def assert_same_runs(parallel, serial):
    """Same configs, statuses, reasons and every history series (wall_time is a clock)."""
    assert [r.config for r in parallel] == [r.config for r in serial]
    assert [(r.status, r.reason) for r in parallel] == [(r.status, r.reason) for r in serial]
    for mine, theirs in zip(parallel, serial, strict=True):
        names = [n for n in theirs.history.names if n != "wall_time"]
        assert [n for n in mine.history.names if n != "wall_time"] == names
        for name in names:
            np.testing.assert_array_equal(mine.history[name], theirs.history[name], err_msg=name)
        for name, values in theirs.history.evaluations.items():
            np.testing.assert_array_equal(mine.history.evaluations[name], values, err_msg=name)


def assert_one_import_per_worker(runs, workers=2):
    """Each worker process counts its runs 1, 2, 3, ...: TensorFlow and olexplore were imported
    once in it (a fresh import per run would restart the count at 1)."""
    counts = {}
    for run in runs:
        counts.setdefault(run.pid, []).append(run.process_run)
    assert os.getpid() not in counts and 1 <= len(counts) <= workers, counts
    for pid, numbers in counts.items():
        assert sorted(numbers) == list(range(min(numbers), min(numbers) + len(numbers))), pid


def test_two_dask_workers_give_the_serial_sweep_bit_for_bit(client):
    grid = {"optimizer": ["SGD", "Adam"], "learning_rate": [0.1, 1.5]}  # SGD at 1.5 diverges
    serial = sweep(BASE, grid, seeds=2, progress=False)
    parallel = sweep(BASE, grid, seeds=2, progress=False, executor=client)
    assert parallel.settings == serial.settings and parallel.seeds == [0, 1]
    assert all(isinstance(run, SweptRecord) for run in parallel.runs)
    assert [run.status for run in parallel.runs].count("diverged") == 2
    assert_same_runs(parallel.runs, serial.runs)
    assert_one_import_per_worker(parallel.runs)
    assert parallel.table()[1]["diverged"] == 2
    assert parallel.runs[0].surface is not None  # rebuilt here from the registry
    for row, theirs in zip(parallel.table(), serial.table(), strict=True):
        assert row["final_loss_mean"] == theirs["final_loss_mean"] or (
            row["final_loss_mean"] == theirs["final_loss_mean"] == np.inf
        )


def test_rosenbrock_and_a_digits_mlp_on_dask_match_serial(client):
    rosenbrock = Config(problem="rosenbrock", optimizer="Adam", learning_rate=0.01, steps=50)
    digits = Config(problem="digits-mlp", optimizer="Adam", learning_rate=0.01, steps=50)
    for base in (rosenbrock, digits):
        serial = sweep(base, {"learning_rate": [0.01]}, seeds=1, progress=False)
        parallel = sweep(base, {"learning_rate": [0.01]}, seeds=1, progress=False, executor=client)
        assert_same_runs(parallel.runs, serial.runs)
    assert len(parallel.runs[0].history.evaluations["val_accuracy"]) > 1


def test_failures_are_kept_and_the_others_go_on(client):
    grid = {"multipliers": [{}, {"no_such_variable": 0.5}]}
    result = sweep(BASE, grid, seeds=2, progress=False, executor=client)
    assert [run.status for run in result.runs] == ["finished", "finished", "failed", "failed"]
    reason = result.runs[2].reason
    assert reason.startswith("could not build the run: ValueError: gradient_multipliers"), reason
    assert "no_such_variable" in reason and result.table()[1]["failed"] == 2
    serial = sweep(BASE, grid, seeds=2, progress=False)
    assert [(r.status, r.reason) for r in serial.runs] == [
        (r.status, r.reason) for r in result.runs
    ]
    blobs = Config(problem="blobs", optimizer="SGD", learning_rate=0.1, steps=10)
    raises = functools.partial(Blobs, fail_seed=1)  # its evaluation raises for seed 1
    result = sweep(
        blobs,
        {"learning_rate": [0.1]},
        seeds=[0, 1],
        progress=False,
        executor=client,
        problem_factory=raises,
        evaluate_every=5,
    )
    assert [run.status for run in result.runs] == ["finished", "failed"]
    assert "evaluation broke" in result.runs[1].reason
    with pytest.raises(ValueError, match="gradient_multipliers"):  # every run failed
        sweep(BASE, {"multipliers": [{"nothing": 2.0}]}, seeds=1, progress=False, executor=client)


def test_ctrl_c_cancels_what_has_not_started_and_keeps_what_finished(client):
    reported = []

    def progress(done, total, run):
        reported.append(run)
        if done == 2:
            raise KeyboardInterrupt

    grid = {"learning_rate": [0.01, 0.05, 0.1, 0.2]}
    result = sweep(BASE, grid, seeds=2, progress=progress, executor=client)
    assert result.interrupted and "interrupted" in repr(result)
    assert 2 <= len(result.runs) < 8 and all(r.status == "finished" for r in result.runs)
    assert all(any(r is kept for kept in result.runs) for r in reported)
    deadline = time.monotonic() + 10
    while any(client.processing().values()) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not any(client.processing().values())  # nothing left on the cluster


def test_the_dashboard_link_is_printed_over_one_text_bar(client, monkeypatch):
    link = "http://127.0.0.1:8787/status"
    monkeypatch.setattr(distributed.Client, "dashboard_link", property(lambda self: link))
    stream = io.StringIO()
    sweep(BASE, {"learning_rate": [0.1]}, seeds=2, stream=stream, executor=client)
    output = stream.getvalue()
    assert output.startswith(f"sweep: Dask dashboard at {link}\n")
    assert "sweep [####################] 2/2" in output and output.endswith("\n")


class FakeTqdm:
    """Records what sweep() does with a tqdm bar."""

    made = []

    def __init__(self, total, desc, unit):
        self.n, self.total, self.notes, self.closed = 0, total, [], False
        FakeTqdm.made.append(self)

    def update(self, count):
        self.n += count

    def set_postfix_str(self, text, refresh):
        self.notes.append(text)

    def close(self):
        self.closed = True


def test_one_tqdm_bar_over_all_runs_when_tqdm_is_installed(process_pool, monkeypatch):
    monkeypatch.setitem(sys.modules, "tqdm.auto", types.SimpleNamespace(tqdm=FakeTqdm))
    sweep(BASE, {"learning_rate": [0.1, 0.2]}, seeds=1, executor=process_pool)
    (bar,) = FakeTqdm.made
    assert (bar.n, bar.total, bar.closed) == (2, 2, True)
    assert sorted(bar.notes) == [
        "SGD lr 0.1 noise 0.5 seed=0 finished",
        "SGD lr 0.2 noise 0.5 seed=0 finished",
    ]


class KillingQuadratic(Problem):
    """The quadratic, except that building seed ``always`` kills the worker process every time
    and building seed ``once`` kills it the first time (a marker file remembers)."""

    name = "quadratic"
    title = "Quadratic that kills its worker"
    description = "For the killed-worker test."
    kind = "surface"

    def __init__(self, marker, once, always):
        self.marker, self.once, self.always = Path(marker), once, always

    def build(self, seed=0, batch_size=64):
        first = seed == self.once and not self.marker.exists()
        if first:
            self.marker.write_text("killed once")
        if seed == self.always or first:
            os.kill(os.getpid(), signal.SIGKILL)
        return get_problem("quadratic").build(seed=seed, batch_size=batch_size)


def test_a_killed_worker_has_its_run_resubmitted_once_then_failed(client, tmp_path):
    factory = functools.partial(KillingQuadratic, tmp_path / "marker", once=1, always=2)
    result = sweep(
        BASE,
        {"learning_rate": [0.1]},
        seeds=4,
        progress=False,
        executor=client,
        problem_factory=factory,
    )
    statuses = [run.status for run in result.runs]
    assert statuses == ["finished", "finished", "failed", "finished"], result.runs[2].reason
    assert (tmp_path / "marker").read_text() == "killed once"
    reason = result.runs[2].reason
    assert reason.startswith("its worker died twice (resubmitted once): KilledWorker"), reason
    serial = sweep(BASE, {"learning_rate": [0.1]}, seeds=[0, 1, 3], progress=False)
    assert_same_runs([result.runs[i] for i in (0, 1, 3)], serial.runs)


@pytest.fixture(scope="module")
def process_pool():
    """A ProcessPoolExecutor with the "spawn" context: TensorFlow's thread pools do not survive
    a fork (a forked child of a process that imported TensorFlow can hang), so workers must start
    as fresh interpreters."""
    with cf.ProcessPoolExecutor(2, mp_context=multiprocessing.get_context("spawn")) as pool:
        yield pool


def test_a_spawn_process_pool_gives_the_serial_sweep(process_pool):
    grid = {"optimizer": ["SGD", "Adam"]}
    serial = sweep(BASE, grid, seeds=2, progress=False)
    parallel = sweep(BASE, grid, seeds=2, progress=False, executor=process_pool)
    assert_same_runs(parallel.runs, serial.runs)
    assert_one_import_per_worker(parallel.runs)
    with pytest.raises(ValueError, match=r"problem_factory: got <function .*cannot be pickled"):
        sweep(BASE, grid, seeds=1, executor=process_pool, problem_factory=lambda: Blobs())


def test_wrong_executors_and_problems_are_named(process_pool, monkeypatch):
    with pytest.raises(ValueError, match=r"executor: got 42 \(int\); accepted: None, a conc"):
        sweep(BASE, {"learning_rate": [0.1]}, seeds=1, executor=42)
    with pytest.raises(ValueError, match=r"problem: got .* with executor; accepted: problem_fa"):
        sweep(BASE, {"learning_rate": [0.1]}, seeds=1, executor=process_pool, problem=Blobs())
    with pytest.raises(ValueError, match=r"problem_factory: got 3 \(int\); accepted: a callable"):
        sweep(BASE, {"learning_rate": [0.1]}, seeds=1, problem_factory=3)
    monkeypatch.setitem(sys.modules, "distributed", None)  # as if dask were not installed
    with pytest.raises(ImportError, match=r"pip install 'olexplore\[dask\]'"):
        sweep(BASE, {"learning_rate": [0.1]}, seeds=1, executor="tcp://127.0.0.1:8786")
