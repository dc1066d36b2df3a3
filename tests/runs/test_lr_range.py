"""lr_range_test: the LR range test over seeds, through a Run's optimize_loss train op."""

import json
import math

import numpy as np
import pytest
from matplotlib.axes import Axes

from olexplore.runs import Config
from olexplore.runs.config import Clipping
from olexplore.runs.lr_range import (
    SUGGESTIONS,
    lr_range_test,
    stop_step,
    suggest,
    valley_index,
)

QUADRATIC = Config(problem="quadratic", optimizer="SGD")
RAMP = {"start": 1e-3, "stop": 10.0, "steps": 40}


@pytest.fixture(scope="module")
def digits():
    return lr_range_test(Config(problem="digits-mlp", optimizer="Adam"), steps=100, seeds=3)


@pytest.fixture(scope="module")
def quadratic():
    return lr_range_test(QUADRATIC, seeds=1, **RAMP)


def test_digits_mlp_with_adam_suggests_a_rate_between_1e4_and_1e1_for_each_seed(digits):
    assert digits.losses.shape == (3, 100) and digits.learning_rates.shape == (100,)
    for name in SUGGESTIONS:
        per_seed = digits.per_seed[name]
        assert per_seed.shape == (3,)
        assert np.all((1e-4 < per_seed) & (per_seed < 1e-1)), (name, per_seed)
        assert digits.spread[name] == (per_seed.min(), per_seed.max())
        assert digits.suggestions[name] == pytest.approx(float(np.median(per_seed)))
    # Each seed trained from its own initial values and data order: the curves differ.
    assert not np.array_equal(digits.losses[0, :20], digits.losses[1, :20])
    assert [run.config.seed for run in digits.runs] == [0, 1, 2]


def test_the_ramp_is_exponential_and_is_the_rate_the_train_op_applied(digits):
    rates = digits.learning_rates
    assert rates[0] == np.float32(1e-6) and rates[-1] == pytest.approx(10.0, rel=1e-5)
    ratios = rates[1:].astype(np.float64) / rates[:-1]
    np.testing.assert_allclose(ratios, (1e7) ** (1 / 99), rtol=1e-5)
    for run in digits.runs:
        recorded = run.history["learning_rate"]
        np.testing.assert_array_equal(recorded, rates[: len(recorded)])


def test_a_seed_stops_at_4x_its_best_and_is_nan_after(digits, quadratic):
    for result in (digits, quadratic):
        for index, run in enumerate(result.runs):
            at = int(result.stopped[index])
            assert at == stop_step(run.history["loss"]) and 0 < at < result.losses.shape[1] - 1
            assert np.isfinite(result.losses[index, : at + 1]).all()
            assert np.isnan(result.losses[index, at + 1 :]).all()
            assert run.status == "stopped" and run.reason == f"loss above 4x its best at step {at}"
            assert len(run.history) >= at + 1  # its chunk may have run on: masked, not lost
    # quadratic, SGD: the loss falls from 8.82 to 0.0019 at rate 0.46, then blows up.
    losses = quadratic.losses[0]
    assert losses[0] == pytest.approx(8.82) and np.nanmin(losses) == pytest.approx(0.0019, abs=1e-4)
    assert int(quadratic.stopped[0]) == 31 and losses[31] == pytest.approx(118.1, rel=1e-3)


def test_stop_rule_on_known_curves():
    assert stop_step(np.array([4.0, 2.0, 1.0, 1.0, 9.0, 50.0])) == 5
    assert stop_step(np.array([1.0, 0.5, np.inf, 0.1])) == 2
    assert stop_step(np.array([1.0, 0.5, np.nan])) == 2
    assert stop_step(np.linspace(3.0, 1.0, 50)) is None
    # Negative losses: "4x best" is best + 3 * |best| (a rise of three times its size).
    assert stop_step(np.array([-1.0, -2.0, -2.0, 20.0])) == 3
    assert stop_step(np.array([-1.0, -2.0, -1.5])) is None


def fastai_valley(losses):
    """fastai 2.7's ``valley`` (fastai/callback/schedule.py), loops as written there."""
    n = len(losses)
    max_start, max_end = 0, 0
    lds = [1] * n
    for i in range(1, n):
        for j in range(0, i):
            if (losses[i] < losses[j]) and (lds[i] < lds[j] + 1):
                lds[i] = lds[j] + 1
            if lds[max_end] < lds[i]:
                max_end = i
                max_start = max_end - lds[max_end]
    sections = (max_end - max_start) / 3
    return max_start + int(sections) + int(sections / 2)


def test_valley_matches_fastai_on_random_curves():
    rng = np.random.default_rng(0)
    for size in (2, 5, 30, 80, 200):
        for _ in range(20):
            curve = rng.normal(size=size).cumsum() + rng.integers(0, 3, size=size)  # with ties
            assert valley_index(curve) == max(fastai_valley(list(curve)), 0)
    assert valley_index(np.arange(10.0)) == 0  # fastai's -1 (its last point)


def test_suggestions_are_robust_to_a_noisy_curve():
    # A smooth drop, steepest at 1e-3 (per decade), lowest at 2.5e-2, then a rise; 10 % noise.
    rates = np.geomspace(1e-6, 10.0, 200)
    x = np.log10(rates)
    clean = 2.0 / (1 + np.exp(3 * (x + 3))) + 0.05 * np.exp(1.5 * (x + 1.7))
    assert suggest(rates, clean)["steepest"] == pytest.approx(9.77e-4, rel=1e-3)
    raw_misses = 0
    for seed in range(5):
        noisy = clean * (1 + 0.1 * np.random.default_rng(seed).normal(size=rates.size))
        noisy[190:] = np.nan  # stopped
        found = suggest(rates, noisy)
        assert abs(math.log10(found["steepest"]) + 3) < 0.25, found  # within a factor 1.8
        assert abs(math.log10(found["minimum_over_10"]) - math.log10(2.5e-3)) < 0.1, found
        assert 1e-4 < found["valley"] < 1e-2
        # Without the smoothing the steepest raw slope lands on a noise spike.
        raw_slope = np.gradient(noisy[20:185], x[20:185])
        raw_misses += abs(math.log10(rates[20:185][np.argmin(raw_slope)]) + 3) > 0.5
    assert raw_misses >= 4


def test_too_short_a_curve_suggests_nothing():
    rates = np.geomspace(1e-6, 1.0, 100)
    losses = np.full(100, np.nan)
    losses[:15] = 1.0
    assert all(math.isnan(v) for v in suggest(rates, losses).values())


def test_multipliers_reach_the_train_op(quadratic):
    frozen = lr_range_test(QUADRATIC.replace(multipliers={".*": 0.0}), seeds=1, **RAMP)
    assert frozen.stopped.tolist() == [-1]  # nothing moves: it never diverges
    assert np.all(frozen.losses[0] == np.float32(8.82))
    assert all(math.isfinite(v) for v in frozen.suggestions.values())
    half = lr_range_test(QUADRATIC.replace(multipliers={"x": 0.0}), seeds=1, **RAMP)
    assert not np.array_equal(half.losses[0, :20], quadratic.losses[0, :20])


def test_clipping_reaches_the_train_op(quadratic):
    clipped = lr_range_test(
        QUADRATIC.replace(clipping=Clipping("global_norm", 1e-3)), seeds=1, **RAMP
    )
    losses = clipped.losses[0]
    assert clipped.stopped.tolist() == [-1]  # steps at most rate x 0.001: no blow-up
    assert np.isfinite(losses).all() and losses[-1] < losses[0]
    # Unclipped SGD moved the loss from 8.82 to 4.94 in 10 steps; clipped it barely moves.
    assert quadratic.losses[0, 10] == pytest.approx(4.94, abs=0.01)
    assert losses[0] - losses[10] < 1e-3


def test_noise_reaches_the_train_op_and_is_seeded(quadratic):
    base = lr_range_test(QUADRATIC, seeds=2, **RAMP)
    assert np.array_equal(base.losses[0], base.losses[1], equal_nan=True)  # a surface: no noise
    noisy = lr_range_test(QUADRATIC.replace(noise_scale=1.0), seeds=2, **RAMP)
    assert not np.array_equal(noisy.losses[0, :20], noisy.losses[1, :20])
    again = lr_range_test(QUADRATIC.replace(noise_scale=1.0), seeds=2, **RAMP)
    np.testing.assert_array_equal(again.losses, noisy.losses)


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"start": 0.0}, "start: got 0.0 (float); accepted: a finite number > 0."),
        ({"start": -1e-3}, "start: got -0.001 (float); accepted: a finite number > 0."),
        ({"stop": math.inf}, "stop: got inf (float); accepted: a finite number > 0."),
        ({"stop": math.nan}, "stop: got nan (float); accepted: a finite number > 0."),
        ({"start": "1e-3"}, "start: got '1e-3' (str); accepted: a finite number > 0."),
        ({"start": 1.0, "stop": 1.0}, "start: got 1.0 with stop 1.0; accepted: start < stop"),
        ({"steps": 9}, "steps: got 9; accepted: an int from 10 to 100_000."),
        ({"steps": 100_001}, "steps: got 100001; accepted: an int from 10 to 100_000."),
        ({"steps": 50.0}, "steps: got 50.0 (float); accepted: an int from 10 to 100000."),
        ({"steps": True}, "steps: got True (bool); accepted: an int from 10 to 100000."),
        ({"seeds": 0}, "seeds: got 0; accepted: an int from 1 to 100."),
        ({"seeds": 101}, "seeds: got 101; accepted: an int from 1 to 100."),
    ],
)
def test_bad_arguments_name_the_argument_value_and_what_is_accepted(kwargs, message):
    with pytest.raises(ValueError) as error:
        lr_range_test(QUADRATIC, **kwargs)
    assert str(error.value).startswith(message)


def test_bad_config():
    with pytest.raises(ValueError, match=r"^config: got .*accepted: a Config\.$"):
        lr_range_test({"problem": "quadratic"})  # pyright: ignore[reportArgumentType]


def test_plot_draws_the_mean_the_band_and_the_suggestions(digits):
    ax = digits.plot()
    assert isinstance(ax, Axes) and ax.get_xscale() == "log"
    labels = [line.get_label() for line in ax.get_lines()]
    assert labels[0] == "mean loss"
    for name, value in digits.suggestions.items():
        line = ax.get_lines()[labels.index(f"{name} {value:.2g}")]
        assert np.asarray(line.get_xdata())[0] == value
    mean = np.asarray(ax.get_lines()[0].get_ydata())
    np.testing.assert_allclose(mean[:50], np.nanmean(digits.losses[:, :50], axis=0))
    assert len(ax.collections) == 1  # the lowest-highest band


def test_json_and_csv_export(quadratic, tmp_path):
    data = json.loads(quadratic.to_json(tmp_path / "lr.json").read_text())
    assert data["format"] == "olexplore.lr_range" and data["config"]["problem"] == "quadratic"
    assert data["losses"][0][32] == "NaN" and data["losses"][0][0] == pytest.approx(8.82)
    assert data["stopped"] == [31] and data["suggestion_names"] == list(SUGGESTIONS)
    assert data["suggestions"] == pytest.approx(list(quadratic.suggestions.values()))
    assert data["runs"][0]["format"] == "olexplore.run_record"
    rows = (tmp_path / "lr.csv").parent.joinpath("lr.csv")
    quadratic.to_csv(rows)
    header, *lines = rows.read_text().splitlines()
    columns = header.split(",")
    assert {"step", "loss", "learning_rate_at_step", "decay.params.decay_rate"} <= set(columns)
    assert len(lines) == len(quadratic.runs[0].history)
    first = dict(zip(columns, lines[0].split(","), strict=False))
    assert float(first["learning_rate_at_step"]) == pytest.approx(1e-3)
