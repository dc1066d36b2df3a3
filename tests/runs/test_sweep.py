"""sweep: grid x seeds, DeepOBS-style tables, sensitivity and best settings, honest divergence."""

import io
import math

import numpy as np
import pytest

from olexplore.runs import Clipping, Config, SweepResult, sweep
from olexplore.runs.sweep import final_metrics, with_field

# Noise makes the seeds matter on a deterministic surface.
BASE = Config(problem="quadratic", optimizer="SGD", learning_rate=0.1, steps=40, noise_scale=0.5)


@pytest.fixture(scope="module")
def result():
    grid = {"optimizer": ["SGD", "Adam"], "learning_rate": [0.3, 0.05]}
    return sweep(BASE, grid, seeds=2, progress=False)


def test_two_optimizers_by_two_learning_rates_by_two_seeds(result):
    assert isinstance(result, SweepResult) and repr(result) == "SweepResult(4 settings x 2 seeds)"
    assert len(result.runs) == 8 and result.seeds == [0, 1]
    assert [run.config.seed for run in result.runs] == [0, 1] * 4
    assert [(s["optimizer"], s["learning_rate"]) for s in result.settings] == [
        ("SGD", 0.3),
        ("SGD", 0.05),
        ("Adam", 0.3),
        ("Adam", 0.05),
    ]
    assert all(run.train_op is None and run.status == "finished" for run in result.runs)
    table = result.table()
    assert [row["label"] for row in table] == [
        "SGD, learning_rate=0.3",
        "SGD, learning_rate=0.05",
        "Adam, learning_rate=0.3",
        "Adam, learning_rate=0.05",
    ]
    for row, cell in zip(table, result.cells, strict=True):
        finals = [float(run.history["loss"][-1]) for run in cell]
        assert finals[0] != finals[1]  # the seeds differ
        assert row["runs"] == 2 and row["diverged"] == 0 and row["failed"] == 0
        assert row["final_loss_mean"] == pytest.approx(np.mean(finals))
        assert row["final_loss_std"] == pytest.approx(np.std(finals))
        assert (row["final_loss_min"], row["final_loss_max"]) == (min(finals), max(finals))
        bests = [float(run.history["loss"].min()) for run in cell]
        assert row["best_loss_mean"] == pytest.approx(np.mean(bests))
        assert row["config"].optimizer == row["optimizer"] and row["config"].seed == 0


def test_sensitivity_per_optimizer(result):
    curves = result.sensitivity("learning_rate", group_by="optimizer")
    assert list(curves) == ["SGD", "Adam"]
    table = {row["label"]: row for row in result.table()}
    for optimizer, curve in curves.items():
        assert curve.x.tolist() == [0.05, 0.3]  # sorted by learning rate
        expected = [table[f"{optimizer}, learning_rate={lr}"]["final_loss_mean"] for lr in curve.x]
        np.testing.assert_allclose(curve.mean, expected)
        assert curve.spread.shape == (2,) and (curve.diverged == 0).all()
    flat = result.sensitivity(group_by=None)
    assert set(flat) == {"optimizer=SGD", "optimizer=Adam"}  # other fields never get mixed
    with pytest.raises(ValueError, match="x: got 'seed'; accepted: a field varied in the grid"):
        result.sensitivity(x="seed")


def test_best_learning_rate_per_optimizer(result):
    best = result.best()
    table = result.table()
    for optimizer in ("SGD", "Adam"):
        rows = [row for row in table if row["optimizer"] == optimizer]
        lowest = min(rows, key=lambda row: row["final_loss_mean"])
        assert best[optimizer]["label"] == lowest["label"]
    assert result.best(group_by=None)["all"]["final_loss_mean"] == min(
        row["final_loss_mean"] for row in table
    )
    with pytest.raises(ValueError, match="metric: got 'accuracy'; accepted: one of"):
        result.best("accuracy")


def test_curves_and_text_table(result):
    curves = result.curves("loss")
    steps, mean, std = curves["SGD, learning_rate=0.3"]
    assert steps.tolist() == list(range(40)) and mean.shape == std.shape == (40,)
    cell = result.cells[0]
    np.testing.assert_allclose(mean, np.mean([run.history["loss"] for run in cell], axis=0))
    text = result.format_table()
    assert text.splitlines()[0].startswith("setting") and "0/2" in text
    assert len(text.splitlines()) == 5


def test_divergence_is_counted_not_dropped():
    grid = {"learning_rate": [0.1, 1.0]}
    result = sweep(BASE.replace(steps=60, noise_scale=0.0), grid, seeds=[5, 6], progress=False)
    stable, diverged = result.table()
    assert diverged["diverged"] == 2 and stable["diverged"] == 0
    assert diverged["final_loss_mean"] == math.inf and np.isfinite(diverged["best_loss_mean"])
    curve = result.sensitivity(group_by=None)["all"]
    assert curve.x.tolist() == [0.1, 1.0] and curve.diverged.tolist() == [0, 2]
    assert curve.mean[1] == math.inf
    assert result.best(group_by=None)["all"]["learning_rate"] == 0.1
    steps, mean, _ = result.curves()["learning_rate=1"]
    assert len(steps) == 21 and mean[-1] == math.inf  # the curve ends at the divergence
    assert [run.config.seed for run in result.runs] == [5, 6, 5, 6]


def test_dotted_fields_and_progress_bar():
    stream = io.StringIO()
    base = BASE.replace(clipping=Clipping("global_norm", norm=1.0), steps=10)
    result = sweep(base, {"clipping.norm": [0.5, 2]}, seeds=1, stream=stream)
    assert [run.config.clipping.norm for run in result.runs] == [0.5, 2.0]
    assert all(run.history["clipped_global_norm"].max() <= 2.0 + 1e-6 for run in result.runs)
    output = stream.getvalue()
    assert "sweep [" in output and "2/2" in output and output.endswith("\n")
    calls = []
    sweep(base, {"learning_rate": [0.1]}, seeds=1, progress=lambda *a: calls.append(a[:2]))
    assert calls == [(1, 1)]


def test_with_field_goes_into_nested_settings():
    config = with_field(
        Config(),
        "decay",
        {"name": "exponential_decay", "params": {"decay_steps": 10, "decay_rate": 0.5}},
    )
    config = with_field(config, "decay.params.decay_rate", 0.25)
    assert config.decay.params["decay_rate"] == 0.25
    assert with_field(config, "multipliers.dense/.*", 0.5).multipliers == {"dense/.*": 0.5}
    assert with_field(config, "problem_params.condition_number", 3).problem_params == {
        "condition_number": 3
    }
    with pytest.raises(ValueError, match=r"grid: 'clipping.max' is not a Config field"):
        with_field(config, "clipping.max", 1.0)


def test_grid_errors_come_before_any_run():
    calls = []

    def progress(*args):
        calls.append(args)

    for grid, message in [
        ({"lr": [0.1]}, r"grid: 'lr' is not a Config field; accepted: \['problem'"),
        ({"seed": [1, 2]}, "grid: got 'seed'; accepted: any other field .pass seeds=...."),
        ({"learning_rate": []}, r"grid\['learning_rate'\]: got \[\]; accepted: a non-empty list"),
        ({"optimizer": "SGD"}, r"grid\['optimizer'\]: got 'SGD'"),
        ({"learning_rate": [0.1, -1.0]}, "learning_rate: got -1.0 .float.; accepted"),
    ]:
        with pytest.raises(ValueError, match=message):
            sweep(BASE, grid, seeds=1, progress=progress)
    with pytest.raises(ValueError, match="seeds: got 0; accepted: a count from 1 to 10000"):
        sweep(BASE, {"learning_rate": [0.1]}, seeds=0)
    with pytest.raises(ValueError, match="grid: got"):
        sweep(BASE, [("learning_rate", [0.1])])
    with pytest.raises(ValueError, match="base: got"):
        sweep("quadratic", {})
    assert calls == []


def test_failed_runs_are_kept_and_counted(blobs):
    base = Config(problem="blobs", optimizer="SGD", learning_rate=0.1, steps=10)
    result = sweep(
        base,
        {"learning_rate": [0.1]},
        seeds=[0, 1],
        progress=False,
        problem=blobs(fail_seed=1),
        evaluate_every=5,
    )
    (row,) = result.table()
    assert (row["runs"], row["failed"]) == (2, 1)
    assert [run.status for run in result.runs] == ["finished", "failed"]
    assert math.isnan(row["final_loss_mean"])
    metrics = final_metrics(result.runs[0])
    assert set(metrics) == {
        "final_loss",
        "best_loss",
        "seconds",
        "final_val_loss",
        "final_val_accuracy",
    }
    assert "final_val_accuracy_mean" in row
    with pytest.raises(RuntimeError, match="evaluation broke"):
        sweep(base, {"learning_rate": [0.1]}, seeds=[1], progress=False, problem=blobs(fail_seed=1))
