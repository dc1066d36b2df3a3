"""Presets are valid Configs on registered problems, and the quick ones show what they claim."""

import numpy as np
import pytest

from olexplore.problems import problem_names
from olexplore.runs import Config, Run
from olexplore.runs.presets import PRESETS, Preset

ISSUE_NAMES = [
    "learning rate too high diverges",
    "clipping rescues exploding gradients",
    "noise escapes a saddle",
    "decay versus constant",
    "Adam versus SGD on Rosenbrock",
    "multipliers freeze a layer",
]


def _run(config):
    run = Run(config)
    run.run()
    return run


def test_the_six_presets_of_the_issue_in_order():
    assert list(PRESETS) == ISSUE_NAMES
    for key, preset in PRESETS.items():
        assert preset.name == key
        assert preset.description and preset.note
        assert len(preset.labels) == len(preset.configs) >= 2  # each one is a comparison


def test_preset_configs_are_valid_and_serialisable():
    for preset in PRESETS.values():
        for config in preset.configs:
            assert isinstance(config, Config)
            assert Config.from_json(config.to_json()) == config


def test_every_preset_problem_is_registered():
    used = {config.problem for preset in PRESETS.values() for config in preset.configs}
    assert used <= set(problem_names()), used - set(problem_names())


def test_preset_checks_its_arguments():
    config = Config()
    assert Preset("one", "d", [config], "n").configs == (config,)
    assert Preset("one", "d", [config], "n").label(0) == "Adam lr 0.01"
    with pytest.raises(ValueError, match="accepted: one or more Configs"):
        Preset("none", "d", [], "n")
    with pytest.raises(ValueError, match=r"got \{'problem': 'saddle'\} \(dict\)"):
        Preset("dict", "d", [{"problem": "saddle"}], "n")
    with pytest.raises(ValueError, match="got 1 labels for 2 configs"):
        Preset("labels", "d", [config, config], "n", ["only one"])


# ----------------------------------------------------------------- they show what they claim
def test_too_high_a_learning_rate_diverges():
    works, diverges = PRESETS["learning rate too high diverges"].configs
    good = _run(works)
    assert good.status == "finished" and good.history["loss"][-1] < 1e-6
    bad = _run(diverges)
    assert bad.status == "diverged", bad.reason
    assert not np.isfinite(bad.history["global_norm"][-1])


def test_clipping_rescues_exploding_gradients():
    plain, clipped = PRESETS["clipping rescues exploding gradients"].configs
    assert clipped.clipping.kind == "global_norm"
    assert _run(plain).status == "diverged"
    rescued = _run(clipped)
    assert rescued.status == "finished"
    loss = rescued.history["loss"]
    assert loss[-1] < 1e-6 < loss[0]


def test_noise_escapes_the_saddle_and_plain_descent_does_not():
    plain, noisy = PRESETS["noise escapes a saddle"].configs
    stuck = _run(plain).history["position"]
    assert np.abs(stuck[:, 1]).max() < 1e-6  # never leaves the ridge y = 0
    assert np.hypot(*stuck[-1]) < 1e-3  # ... and ends in the saddle point
    escaped = _run(noisy).history["position"]
    assert abs(escaped[-1, 1]) > 1.0  # near a minimum at y = +-sqrt(2)
    assert abs(abs(escaped[-1, 1]) - np.sqrt(2)) < 0.1


def test_decay_ends_with_a_smaller_rate_and_closer_to_the_minimum():
    constant, decayed = (_run(c) for c in PRESETS["decay versus constant"].configs)
    assert constant.history["learning_rate"][-1] == pytest.approx(0.1)
    assert decayed.history["learning_rate"][-1] < 0.003
    late = slice(-5, None)  # the last five evaluations of the noise-free loss
    floor = constant.history.evaluations["val_loss"][late].mean()
    assert decayed.history.evaluations["val_loss"][late].mean() < floor / 5


def test_adam_reaches_the_rosenbrock_minimum_and_sgd_does_not():
    sgd, adam = PRESETS["Adam versus SGD on Rosenbrock"].configs
    assert (sgd.optimizer, adam.optimizer) == ("SGD", "Adam")

    def distance(config):
        return float(np.hypot(*(_run(config).history["position"][-1] - 1.0)))

    assert distance(adam) < 0.05
    assert distance(sgd) > 0.5


def test_a_zero_multiplier_freezes_the_hidden_layer():
    trained, frozen = PRESETS["multipliers freeze a layer"].configs
    assert dict(frozen.multipliers) == {"mlp/hidden/.*": 0.0} and not trained.multipliers
    run = Run(frozen.replace(steps=10))  # a few steps show it; the preset trains 300
    before = {
        n: v.numpy().copy() for n, v in zip(run.variable_names, run.setup.variables, strict=True)
    }
    run.run()
    after = {n: v.numpy() for n, v in zip(run.variable_names, run.setup.variables, strict=True)}
    for name in before:
        unchanged = np.array_equal(before[name], after[name])
        assert unchanged == name.startswith("mlp/hidden/"), name
