"""Run: real numbers on the 2-D surfaces, divergence, reproducibility, live changes, chunks."""

import math

import numpy as np
import pytest

from olexplore.runs import Clipping, Config, Decay, ResetRequired, Run, build_train_op
from olexplore.runs.arguments import noise_seed
from olexplore.runs.builder import build_setup
from olexplore.runs.run import reset_fields

QUADRATIC = Config(problem="quadratic", optimizer="SGD", learning_rate=0.1, steps=100)


def per_step(history):
    """Every series but the wall time, which no two runs share."""
    return {name: history[name] for name in history.names if name != "wall_time"}


def assert_identical(first, second):
    a, b = per_step(first), per_step(second)
    assert list(a) == list(b)
    for name in a:
        assert np.array_equal(a[name], b[name], equal_nan=True), name


# ----------------------------------------------------------------- numbers
def test_adam_on_rosenbrock_reaches_the_minimum():
    run = Run(Config(problem="rosenbrock", optimizer="Adam", learning_rate=0.05, steps=1000))
    history = run.run()
    assert (run.status, run.reason, run.step) == ("finished", None, 1000)
    position = history["position"]
    assert position[0].tolist() == pytest.approx([-1.5, 2.0], abs=0.06)  # after one step
    assert np.linalg.norm(position[-1] - [1.0, 1.0]) < 0.1
    assert history["loss"][-1] < 1e-3 < history["loss"][0]


def test_sgd_on_the_quadratic_matches_the_closed_form():
    # (x^2 + 10 y^2) / 2 from (-1.8, 1.2): x_k = -1.8 * 0.9^k, y_k = 1.2 * 0.0^k
    history = Run(QUADRATIC.replace(steps=20)).run()
    k = np.arange(20)
    expected = 0.5 * (1.8 * 0.9**k) ** 2 + 5.0 * np.where(k == 0, 1.44, 0.0)
    np.testing.assert_allclose(history["loss"], expected, rtol=1e-5)
    np.testing.assert_allclose(history["learning_rate"], 0.1)
    assert history["position"][-1][1] == 0.0


def test_too_high_a_learning_rate_diverges_with_a_reason_and_keeps_the_history():
    run = Run(QUADRATIC.replace(learning_rate=1.0, steps=500))
    history = run.run()  # divergence is an outcome, not an exception
    assert run.status == "diverged"
    assert run.reason == "diverged at step 20: loss is inf and gradient norm is inf"
    assert run.step == len(history) == 21
    assert np.isfinite(history["loss"][:20]).all() and np.isinf(history["loss"][20])
    # y is multiplied by (1 - 10) each step: the loss grows by 81 per step
    ratios = history["loss"][5:15] / history["loss"][4:14]
    np.testing.assert_allclose(ratios, 81.0, rtol=1e-3)
    assert run.advance() == 0 and run.step == 21


def test_a_gradient_norm_overflow_is_named():
    run = Run(Config(problem="rosenbrock", optimizer="SGD", learning_rate=0.01, steps=100))
    run.run()
    assert run.status == "diverged"
    assert run.reason.startswith("diverged at step ") and "gradient norm is inf" in run.reason
    assert np.isinf(run.history["global_norm"][-1])


# ----------------------------------------------------------------- reproducibility
def test_same_config_and_seed_reproduce_bit_for_bit_whatever_the_chunks():
    config = Config(problem="rastrigin", optimizer="Momentum", learning_rate=0.002, steps=300)
    config = config.replace(noise_scale=2.0, clipping=Clipping("global_norm", norm=10.0))
    first = Run(config, chunk_seconds=1e-6).run()  # chunks of one step
    second = Run(config, chunk_seconds=10.0).run()  # a few large chunks
    assert_identical(first, second)
    other_seed = Run(config.replace(seed=1)).run()
    assert not np.array_equal(first["position"], other_seed["position"])
    noiseless = Run(config.replace(noise_scale=0.0)).run()
    assert not np.array_equal(first["position"], noiseless["position"])


def test_data_init_and_evaluations_reproduce_bit_for_bit(blobs):
    config = Config(problem="blobs", optimizer="Adam", learning_rate=0.05, steps=60, seed=3)
    runs = [Run(config.replace(batch_size=16), blobs()) for _ in range(2)]
    histories = [run.run() for run in runs]
    assert_identical(*histories)
    first, second = (h.evaluations for h in histories)
    assert all(np.array_equal(first[k], second[k]) for k in first)
    differently_seeded = Run(config.replace(batch_size=16, seed=4), blobs()).run()
    assert not np.array_equal(histories[0]["loss"], differently_seeded["loss"])


def test_noise_seed_is_derived_from_the_config_seed():
    assert noise_seed(0) == noise_seed(0)
    assert len({noise_seed(seed) for seed in range(100)}) == 100
    assert all(0 <= noise_seed(seed) < 2**32 for seed in range(10))


# ----------------------------------------------------------------- history contents
def test_history_series_with_clipping_and_variable_norms():
    config = Config(problem="rosenbrock", optimizer="Adam", learning_rate=0.05, steps=50)
    run = Run(
        config.replace(clipping=Clipping("global_norm", norm=1.0)), record_variable_norms=True
    )
    history = run.run()
    assert history.names == [
        "loss",
        "learning_rate",
        "global_norm",
        "clipped_global_norm",
        "gradient_norm/x",
        "gradient_norm/y",
        "position",
        "wall_time",
    ]
    assert (history["clipped_global_norm"] <= 1.0 + 1e-6).all()
    clipped = np.minimum(history["global_norm"], 1.0)
    np.testing.assert_allclose(history["clipped_global_norm"], clipped, rtol=1e-5)
    per_variable = np.hypot(history["gradient_norm/x"], history["gradient_norm/y"])
    np.testing.assert_allclose(per_variable, history["clipped_global_norm"], rtol=1e-5)
    wall = history["wall_time"]
    assert wall.dtype == np.float32 and (np.diff(wall) >= 0).all() and wall[0] > 0
    assert wall[-1] == pytest.approx(run.seconds, rel=1e-5)
    assert run.surface is run.setup.surface and run.variable_names == ["x", "y"]


def test_evaluations_every_k_steps_and_at_the_ends(blobs):
    config = Config(problem="blobs", optimizer="Adam", learning_rate=0.05, steps=100)
    run = Run(config, blobs())
    assert run.evaluate_every == 5  # about 20 evaluations by default
    history = run.run()
    table = history.evaluations
    assert table["step"].tolist() == list(range(0, 101, 5))
    assert table["val_accuracy"][-1] > 0.8 > table["val_accuracy"][0]
    assert table["val_loss"][-1] < table["val_loss"][0]
    custom = Run(config, blobs(), evaluate_every=30)
    assert custom.run().evaluations["step"].tolist() == [0, 30, 60, 90, 100]
    assert "step" in Run(QUADRATIC).history.evaluations  # surfaces: nothing to evaluate


def test_a_longer_step_budget_keeps_about_twenty_evaluations(blobs):
    config = Config(problem="blobs", optimizer="Adam", learning_rate=0.05, steps=100)
    run = Run(config, blobs())
    run.run(20)  # evaluated at 0, 5, ..., 20
    run.apply_live_changes(config.replace(steps=1000))  # the explorer's steps box, live
    assert run.evaluate_every == 50
    history = run.run()
    steps = history.evaluations["step"].tolist()
    assert steps == [0, 5, 10, 15, 20, *range(50, 1001, 50)]
    given = Run(config, blobs(), evaluate_every=30)
    given.apply_live_changes(config.replace(steps=1000))
    assert given.evaluate_every == 30  # what was asked for stays


def test_multipliers_decay_and_adaptive_clipping_reach_the_train_op():
    config = Config(problem="rosenbrock", optimizer="SGD", learning_rate=1e-4, steps=40)
    frozen_x = Run(config.replace(multipliers={"x": 0.0})).run()
    assert (frozen_x["position"][:, 0] == -1.5).all()
    assert (frozen_x["position"][:, 1] != 2.0).any()
    decay = Decay("exponential_decay", {"decay_steps": 10, "decay_rate": 0.5})
    decayed = Run(config.replace(decay=decay)).run()
    expected = 1e-4 * 0.5 ** (np.arange(40) / 10)
    np.testing.assert_allclose(decayed["learning_rate"], expected, rtol=1e-6)
    piecewise = Decay("piecewise_constant", {"boundaries": [9, 19], "values": [3e-4, 2e-4, 1e-4]})
    stepped = Run(config.replace(decay=piecewise)).run()["learning_rate"]
    np.testing.assert_allclose(stepped[[0, 9, 10, 19, 20]], [3e-4, 3e-4, 2e-4, 2e-4, 1e-4])
    adaptive = Run(config.replace(clipping=Clipping("adaptive", static_max_norm=5.0))).run()
    assert (adaptive["clipped_global_norm"] <= 5.0 + 1e-4).all()
    assert np.isfinite(adaptive["adaptive_max_gradient_norm"]).all()


def test_build_train_op_maps_the_config():
    config = Config(
        problem="quadratic",
        optimizer="RMSProp",
        learning_rate=0.5,
        clipping=Clipping("global_norm", norm=3),
        noise_scale=0.25,
    )
    train_op = build_train_op(config, build_setup(config))
    assert type(train_op.optimizer).__name__ == "RMSPropOptimizer"
    assert (train_op.learning_rate, train_op.clip_norm, train_op.gradient_noise_scale) == (
        0.5,
        3.0,
        0.25,
    )
    with pytest.raises(ValueError, match="config: got 'quadratic' .str.; accepted: a Config"):
        build_train_op("quadratic", None)


def test_a_problem_instance_overrides_the_registry(blobs):
    problem = blobs()
    run = Run(Config(problem="quadratic"), problem)
    assert run.problem is problem and run.variable_names == ["kernel", "bias"]
    with pytest.raises(ValueError, match="problem: got 'blobs' .str.; accepted: None"):
        Run(Config(), "blobs")
    with pytest.raises(ValueError, match="problem: got 'nope' .str.; accepted: one of quadratic"):
        Run(Config(problem="nope"))


# ----------------------------------------------------------------- live changes
def test_learning_rate_changes_live_without_retracing():
    run = Run(Config(problem="rosenbrock", optimizer="Adam", learning_rate=0.01, steps=200))
    run.run(steps=100)
    assert (run.status, run.step) == ("running", 100)
    traces = run.traces
    run.set_learning_rate(0.05)
    run.run()
    assert run.traces == traces and run.status == "finished"
    rates = run.history["learning_rate"]
    np.testing.assert_allclose(rates[:100], 0.01)
    np.testing.assert_allclose(rates[100:], 0.05)
    assert run.changes == [(100, "learning_rate", 0.01, 0.05)]
    assert run.config.learning_rate == 0.05
    assert run.label == "Adam lr 0.01; lr 0.01→0.05 at step 100"  # where it started, then when


def test_clip_and_noise_change_live_without_retracing():
    config = Config(problem="quadratic", optimizer="SGD", learning_rate=0.1, steps=60)
    run = Run(config.replace(clipping=Clipping("global_norm", norm=100.0)))
    run.run(steps=20)
    traces = run.traces
    run.set_clip_norm(0.5)
    run.run(steps=20)
    run.set_noise_scale(0.3)
    run.run()
    assert run.traces == traces
    clipped = run.history["clipped_global_norm"]
    assert (clipped[20:] <= 0.5 + 1e-6).all() and clipped[0] > 0.5
    reference = Run(config.replace(clipping=Clipping("global_norm", norm=100.0)))
    reference.run(steps=20)
    reference.set_clip_norm(0.5)
    reference.run()  # the same changes, without noise: identical up to step 40 only
    ours, theirs = run.history["position"], reference.history["position"]
    assert np.array_equal(ours[:40], theirs[:40]) and (ours[40:] != theirs[40:]).all()
    assert run.label == "SGD lr 0.1 clip 100; clip 100→0.5 at step 20; noise 0→0.3 at step 40"
    assert [change[:2] for change in run.changes] == [(20, "clipping.norm"), (40, "noise_scale")]


def test_live_setters_validate_and_name_the_argument():
    run = Run(QUADRATIC)
    with pytest.raises(ValueError, match=r"learning_rate: got -1 \(int\); accepted: a number"):
        run.set_learning_rate(-1)
    with pytest.raises(ValueError, match=r"noise_scale: got 'x' \(str\)"):
        run.set_noise_scale("x")
    with pytest.raises(ValueError, match="clip_norm: got 1.0, but this run's clipping kind"):
        run.set_clip_norm(1.0)
    clipped = Run(QUADRATIC.replace(clipping=Clipping("global_norm")))
    with pytest.raises(ValueError, match="clipping.norm: got 0 .int.; accepted: a number > 0"):
        clipped.set_clip_norm(0)
    assert run.config == QUADRATIC and run.changes == []


def test_apply_live_changes_applies_or_names_what_needs_a_reset():
    base = QUADRATIC.replace(clipping=Clipping("global_norm", norm=2.0))
    run = Run(base)
    run.run(steps=10)
    new = base.replace(learning_rate=0.05, noise_scale=0.1, steps=150)
    new = new.replace(clipping=Clipping("global_norm", norm=1.0))
    applied = run.apply_live_changes(new)
    assert applied == {
        "learning_rate": (0.1, 0.05),
        "noise_scale": (0.0, 0.1),
        "clipping.norm": (2.0, 1.0),
        "steps": (100, 150),
    }
    assert run.config == new and run.train_op.clip_norm == 1.0
    assert run.train_op.gradient_noise_scale == pytest.approx(0.1)
    structural = new.replace(optimizer="Adam", seed=2, batch_size=8, multipliers={"x": 2.0})
    with pytest.raises(ResetRequired) as error:
        run.apply_live_changes(structural.replace(clipping=Clipping("adaptive")))
    assert error.value.fields == ["optimizer", "clipping.kind", "multipliers", "batch_size", "seed"]
    assert "new_config: optimizer, clipping.kind" in str(error.value)
    assert run.config == new  # nothing applied
    assert reset_fields(
        new, new.replace(problem="beale", decay=Decay("cosine_decay", {"decay_steps": 5}))
    ) == ["problem", "decay"]
    adaptive = Config(clipping=Clipping("adaptive"))
    assert reset_fields(adaptive, adaptive.replace(clipping=Clipping("adaptive", norm=5))) == []
    assert reset_fields(adaptive, adaptive.replace(clipping=Clipping("adaptive", decay=0.5))) == [
        "clipping.decay"
    ]


def test_raising_the_step_budget_reopens_a_finished_run():
    run = Run(QUADRATIC.replace(steps=20))
    run.run()
    assert run.status == "finished" and run.advance() == 0
    run.set_steps(30)
    assert run.status == "running"
    run.run()
    assert (run.status, run.step) == ("finished", 30)
    run.set_steps(10)
    assert run.status == "finished" and run.advance() == 0


# ----------------------------------------------------------------- chunks and control
def test_chunk_size_adapts_to_the_time_budget():
    config = Config(problem="rosenbrock", optimizer="Adam", learning_rate=0.05, steps=3000)
    small, large = [], []
    Run(config, chunk_seconds=1e-6).run(steps=60, progress=lambda r: small.append(r.step))
    Run(config, chunk_seconds=30.0).run(progress=lambda r: large.append(r.step))
    small_chunks, large_chunks = np.diff([0, *small]), np.diff([0, *large])
    # the first chunk compiles, so its time says nothing: the second has the same size
    assert small_chunks[:2].tolist() == [16, 16] and (small_chunks[2:] == 1).all()
    assert large_chunks.tolist() == [16, 16, 128, 1024, 1816]  # growth capped at 8x a chunk
    run = Run(config)
    assert run.advance(max_steps=5) == 5 and run.advance(max_steps=0) == 0
    run.run(steps=100)
    assert run.step == 105 and 1 <= run.chunk_size <= 1 << 16 and run.steps_per_second > 0


def test_chunks_never_pass_the_step_budget():
    run = Run(QUADRATIC.replace(steps=37), chunk_seconds=10.0)
    while run.advance():
        pass
    assert (run.step, run.status) == (37, "finished")


def test_pause_resume_and_stop():
    run = Run(QUADRATIC.replace(steps=100), chunk_seconds=1e-6)
    assert run.status == "ready" and run.steps_per_second == 0.0
    run.pause()
    assert run.status == "paused" and run.advance() == 0 and run.step == 0
    run.resume()
    assert run.status == "ready" and run.advance(10) == 10 and run.status == "running"

    def pause_at_30(r):
        if r.step >= 30:
            r.pause()

    run.run(progress=pause_at_30)
    assert (run.status, run.step) == ("paused", 30)
    run.run(steps=5)  # run() resumes a paused run
    at = run.step
    assert (run.status, at) == ("running", 35)
    run.stop()
    assert (run.status, run.reason) == ("stopped", f"stopped at step {at}")
    assert run.advance() == 0 and run.run().__len__() == at
    run.resume()
    assert run.status == "stopped"
    run.release()
    assert run.train_op is None and len(run.history) == at
    with pytest.raises(ValueError, match="released"):
        run.set_learning_rate(0.1)


def test_an_exception_in_a_chunk_fails_the_run_but_not_the_caller(blobs):
    config = Config(problem="blobs", optimizer="SGD", learning_rate=0.1, steps=100)
    run = Run(config, blobs(fail_evaluation_at=3), evaluate_every=10)
    assert run.advance() == 10  # evaluations at steps 0 and 10
    assert run.advance() == 10  # the third evaluation, after step 20, raises
    assert run.status == "failed" and run.step == 20
    assert run.reason == "failed at step 20: RuntimeError: evaluation broke"
    assert isinstance(run.error, RuntimeError) and run.advance() == 0
    again = Run(config, blobs(fail_evaluation_at=2), evaluate_every=10)
    with pytest.raises(RuntimeError, match="evaluation broke"):
        again.run()
    assert again.status == "failed" and again.step == 10


def test_steps_run_behind_the_runs_back_fail_it():
    run = Run(QUADRATIC)
    run.advance(3)
    run.train_op.run_steps(2)
    assert run.advance() == 0 and run.status == "failed"
    assert "the train op ran 5 steps but the history holds 3" in run.reason


def test_finite_data_stops_the_run_with_a_reason(blobs):
    run = Run(Config(problem="blobs", steps=100, batch_size=64), blobs(repeat=False))
    run.run()
    assert (run.status, run.step, run.reason) == ("stopped", 6, "the data ran out after 6 steps")


def test_argument_errors():
    with pytest.raises(ValueError, match="chunk_seconds: got 0; accepted: a positive number"):
        Run(QUADRATIC, chunk_seconds=0)
    with pytest.raises(ValueError, match="evaluate_every: got 0; accepted: None"):
        Run(QUADRATIC, evaluate_every=0)
    with pytest.raises(ValueError, match="config: got {} .dict.; accepted: a Config"):
        Run({})
    run = Run(QUADRATIC)
    with pytest.raises(
        ValueError,
        match=r"max_steps: got -1 \(int\); accepted: None \(one chunk\) or an int from 0 to "
        r"10_000_000\.",
    ):
        run.advance(-1)
    steps_message = r"accepted: None \(to config.steps\) or an int from 0 to 10_000_000\."
    for bad, shown in [
        (1.5, r"1.5 \(float\)"),
        (-1, r"-1 \(int\)"),
        ("3", r"'3' \(str\)"),
        (True, r"True \(bool\)"),
        (10**12, r"1000000000000 \(int\)"),
        (10_000_001, r"10000001 \(int\)"),
    ]:
        with pytest.raises(ValueError, match=rf"steps: got {shown}; {steps_message}"):
            run.run(steps=bad)
    assert run.step == 0 and run.status == "ready"  # a refused call changes nothing
    with pytest.raises(ValueError, match="new_config: got 'x' .str.; accepted: a Config"):
        run.apply_live_changes("x")
    assert math.isnan(Run(QUADRATIC).history.last("loss"))
