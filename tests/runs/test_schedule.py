"""schedule(config) equals the learning rate a Run records at every step, for every decay."""

import numpy as np
import pytest

from olexplore.engine.learning_rate import DECAY_FUNCTIONS
from olexplore.runs import Config, Run
from olexplore.runs.config import Decay
from olexplore.runs.fields import suggested_decay_params
from olexplore.runs.schedule import schedule

STEPS = 60
DETERMINISTIC = ["none", *(name for name in DECAY_FUNCTIONS if name != "noisy_linear_cosine_decay")]


def config_with(name, problem, **params):
    decay = Decay()
    if name != "none":
        decay = Decay(name, {**suggested_decay_params(name, STEPS, 0.1), **params})
    return Config(problem=problem, optimizer="SGD", learning_rate=0.1, decay=decay, steps=STEPS)


def recorded_rates(config):
    run = Run(config)
    run.run()
    assert run.status == "finished", run.reason
    assert run.train_op is not None
    return run.history["learning_rate"], run.train_op.compile_info.xla


@pytest.mark.parametrize("problem", ["quadratic", "breast-cancer-logreg"])
@pytest.mark.parametrize("name", DETERMINISTIC)
def test_schedule_is_bit_equal_to_the_recorded_rate(name, problem):
    config = config_with(name, problem)
    recorded, compiled = recorded_rates(config)
    assert compiled is False  # runs build their train op without XLA (runs/builder.py)
    planned = schedule(config)
    assert planned.dtype == np.float32 and planned.shape == (STEPS,)
    np.testing.assert_array_equal(planned, recorded)
    if name != "none":
        assert np.unique(planned).size > 1  # the decay really changes the rate


@pytest.mark.parametrize("name", DETERMINISTIC)
def test_schedule_with_xla_is_bit_equal_to_a_train_op_compiled_by_xla(name):
    # XLA rewrites some divisions (polynomial, inverse-time and linear-cosine decays land a few
    # ulps from TF's kernels), so the plan compiles as the train op does.
    config = config_with(name, "quadratic")
    train_op = Run(config).train_op
    assert train_op is not None
    recorded = train_op.run_steps(STEPS, jit_compile=True)["learning_rate"]
    assert train_op.compile_info.xla is True
    np.testing.assert_array_equal(schedule(config, xla=True), recorded)


def test_every_decay_function_is_covered():
    assert set(DETERMINISTIC) | {"noisy_linear_cosine_decay"} == {"none", *DECAY_FUNCTIONS}
    assert len(DECAY_FUNCTIONS) == 9


def test_noisy_linear_cosine_without_noise_is_bit_equal():
    config = config_with("noisy_linear_cosine_decay", "breast-cancer-logreg", initial_variance=0.0)
    np.testing.assert_array_equal(schedule(config), recorded_rates(config)[0])


def test_noisy_linear_cosine_scatters_around_the_plan_with_its_documented_deviation():
    config = config_with("noisy_linear_cosine_decay", "breast-cancer-logreg", initial_variance=1.0)
    recorded = recorded_rates(config)[0].astype(np.float64)
    planned = schedule(config).astype(np.float64)
    params = config.decay.params
    step = np.minimum(np.arange(STEPS), params["decay_steps"])
    fraction = step / params["decay_steps"]
    cosine = 0.5 * (1 + np.cos(np.pi * 2 * params["num_periods"] * fraction))
    std = np.sqrt(params["initial_variance"] / (1 + step) ** params["variance_decay"])
    keep = cosine > 0.05
    z = (recorded - planned)[keep] / (0.1 * cosine * std)[keep]
    assert not np.array_equal(recorded, planned)
    assert np.abs(z).max() < 5.0
    assert 0.6 < z.std() < 1.4


def test_steps_beyond_and_below_the_config():
    config = config_with("exponential_decay", "quadratic")
    longer = schedule(config, steps=2 * STEPS)
    np.testing.assert_array_equal(longer[:STEPS], schedule(config))
    assert longer[-1] < longer[STEPS - 1]
    assert schedule(config, steps=0).shape == (0,)
    assert schedule(Config(learning_rate=0.3), steps=4).tolist() == [np.float32(0.3)] * 4


@pytest.mark.parametrize("steps", [-1, 2.5, True, "10", 10_000_001])
def test_bad_steps_name_the_argument(steps):
    with pytest.raises(
        ValueError, match=r"^steps: got .*accepted: None \(config.steps, here 500\)"
    ):
        schedule(Config(), steps=steps)


def test_bad_config_and_xla():
    with pytest.raises(ValueError, match=r"^xla: got 'auto' \(str\); accepted: True or False"):
        schedule(Config(), xla="auto")  # pyright: ignore[reportArgumentType]
    with pytest.raises(ValueError, match=r"^config: got \{\} \(dict\); accepted: a Config"):
        schedule({})  # pyright: ignore[reportArgumentType]


@pytest.mark.parametrize("name", ["exponential_decay", "cosine_decay", "piecewise_constant"])
def test_a_preview_every_k_steps_is_the_plan_at_those_steps(name):
    config = config_with(name, "quadratic").replace(steps=301)
    whole = schedule(config)
    for every in (1, 7, 300, 301, 1000):
        np.testing.assert_array_equal(schedule(config, every=every), whole[::every])


@pytest.mark.parametrize("every", [0, -3, 1.5, True, "2"])
def test_bad_every_names_the_argument(every):
    with pytest.raises(ValueError, match=r"^every: got .*; accepted: an int >= 1\."):
        schedule(Config(), every=every)
