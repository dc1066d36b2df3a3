"""Ctrl-C inside sweep(): the finished runs and the one in progress are kept and returned."""

import io

import numpy as np
import pytest
import tensorflow as tf

from olexplore.problems import CustomProblem
from olexplore.runs import Config, Run, sweep

BASE = Config(problem="quadratic", optimizer="SGD", learning_rate=0.1, steps=30)


def test_ctrl_c_in_the_progress_callback_returns_the_partial_result():
    reported = []

    def progress(done, total, run):
        reported.append((done, total, run.status))
        if done == 3:
            raise KeyboardInterrupt

    result = sweep(BASE, {"learning_rate": [0.01, 0.1, 0.2]}, seeds=2, progress=progress)
    assert result.interrupted is True
    assert reported == [(1, 6, "finished"), (2, 6, "finished"), (3, 6, "finished")]
    assert [len(cell) for cell in result.cells] == [2, 1]
    assert [c.learning_rate for c in result.configs] == [0.01, 0.1]
    assert [s["learning_rate"] for s in result.settings] == [0.01, 0.1]
    assert all(run.status == "finished" and run.step == 30 for run in result.runs)
    rows = result.table()
    assert [row["runs"] for row in rows] == [2, 1]
    alone = Run(BASE.replace(learning_rate=0.1, seed=0)).run()
    np.testing.assert_array_equal(result.cells[1][0].history["loss"], alone["loss"])
    assert "interrupted" in repr(result)


def test_ctrl_c_inside_a_run_stops_and_keeps_it():
    w = tf.Variable(2.0, name="w")
    calls = []

    def trigger():
        calls.append(1)
        if len(calls) == 30 + 7:  # the 8th step of the second run
            raise KeyboardInterrupt
        return np.float32(1.0)

    def loss():
        scale = tf.stop_gradient(tf.py_function(trigger, [], tf.float32))
        scale.set_shape([])
        return scale * w * w

    problem = CustomProblem(loss, variables=[w])
    stream = io.StringIO()
    result = sweep(
        BASE.replace(problem="custom"),
        {"optimizer": ["SGD", "Adam"]},
        seeds=2,
        problem=problem,
        stream=stream,
    )
    assert result.interrupted
    (cell,) = result.cells
    first, second = cell
    assert first.status == "finished" and first.step == 30
    assert second.status == "stopped"
    assert second.reason == f"interrupted at step {second.step} (Ctrl-C in the sweep)"
    assert second.step in (7, 8)  # its good steps are kept (see test_faults_run)
    assert "sweep interrupted" in stream.getvalue()
    assert result.table()[0]["stopped"] == 1


def test_an_uninterrupted_sweep_says_so():
    result = sweep(BASE, {"learning_rate": [0.1]}, seeds=1, progress=False)
    assert result.interrupted is False


def test_ctrl_c_while_a_run_is_built_keeps_the_runs_before_it(monkeypatch):
    built = []
    original = Run.__init__

    def interrupted_third_build(self, *args, **kwargs):
        built.append(1)
        if len(built) == 3:
            raise KeyboardInterrupt
        original(self, *args, **kwargs)

    monkeypatch.setattr(Run, "__init__", interrupted_third_build)
    result = sweep(BASE, {"learning_rate": [0.01, 0.1]}, seeds=2, progress=False)
    assert result.interrupted and [len(cell) for cell in result.cells] == [2]
    assert len(result.configs) == 1 and all(run.status == "finished" for run in result.runs)


@pytest.mark.parametrize(
    ("grid", "seeds", "message"),
    [
        ({"learning_rate": [0.1]}, 10**9, r"seeds: got 1000000000; accepted: a count from 1 to "),
        ({"learning_rate": [0.1]}, [0, 1.5], r"seeds: got 1.5 in the list; accepted: a count"),
        ({"learning_rate": [0.1]}, [True], r"seeds: got True in the list"),
        ({"learning_rate": [0.1]}, "12", r"seeds: got '12'; accepted: a count"),
        ({"learning_rate": [0.1]}, [2**40], r"seeds: seed: got 1099511627776"),
        (
            {"learning_rate": [0.1] * 200, "noise_scale": [0.0] * 100},
            1,
            r"grid, seeds: got 20,000 runs \(200 x 100 settings x 1 seeds\); accepted: at most "
            r"10,000 runs per sweep\.",
        ),
    ],
)
def test_sweep_sizes_and_seeds_are_bounded_and_named(grid, seeds, message):
    with pytest.raises(ValueError, match=message):
        sweep(BASE, grid, seeds=seeds, progress=False)
