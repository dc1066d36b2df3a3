"""Config: validation with named errors, JSON round trip, unknown keys, replace, differences."""

import json
import math

import pytest

from olexplore.runs import Clipping, Config, Decay
from olexplore.runs.config import FrozenMapping, decay_parameters, field_names


def full_config():
    return Config(
        problem="quadratic",
        optimizer="Momentum",
        learning_rate=0.05,
        decay=Decay("exponential_decay", {"decay_steps": 100, "decay_rate": 0.5}),
        clipping=Clipping("global_norm", norm=2),
        noise_scale=0.1,
        multipliers={"x": 0.5, "y.*": 2},
        steps=250,
        batch_size=32,
        seed=7,
        problem_params={"condition_number": 4.0, "start": [1.0, -1.0]},
    )


def test_json_round_trip_is_exact():
    config = full_config()
    text = config.to_json()
    assert Config.from_json(text) == config
    assert Config.from_dict(json.loads(text)) == config
    assert hash(Config.from_json(text)) == hash(config)
    data = json.loads(text)
    assert data["decay"] == {
        "name": "exponential_decay",
        "params": {"decay_steps": 100, "decay_rate": 0.5},
    }
    assert data["clipping"]["norm"] == 2.0 and data["multipliers"] == {"x": 0.5, "y.*": 2.0}


def test_defaults_and_field_names():
    config = Config()
    assert (config.problem, config.optimizer, config.steps, config.seed) == (
        "rosenbrock",
        "Adam",
        500,
        0,
    )
    assert field_names() == [
        "problem",
        "optimizer",
        "learning_rate",
        "decay",
        "clipping",
        "noise_scale",
        "multipliers",
        "steps",
        "batch_size",
        "seed",
        "problem_params",
    ]


def test_nested_mappings_become_objects():
    config = Config(decay={"name": "cosine_decay", "params": {"decay_steps": 10}})
    assert isinstance(config.decay, Decay) and config.decay.params["decay_steps"] == 10
    assert Config(clipping={"kind": "adaptive"}).clipping == Clipping("adaptive")


@pytest.mark.parametrize(
    "changes, message",
    [
        ({"optimizer": "adam"}, "optimizer: got 'adam' (str); accepted: one of Adagrad"),
        ({"learning_rate": -0.1}, "learning_rate: got -0.1 (float); accepted: a number >= 0"),
        ({"learning_rate": math.nan}, "learning_rate: got nan"),
        ({"learning_rate": "0.1"}, "learning_rate: got '0.1' (str)"),
        ({"noise_scale": -1}, "noise_scale: got -1 (int)"),
        ({"steps": 0}, "steps: got 0 (int); accepted: an integer from 1 to 10000000"),
        ({"steps": 10**12}, "steps: got 1000000000000 (int); accepted: an integer from 1 to"),
        ({"steps": 1e12}, "steps: got 1000000000000 (int); accepted: an integer from 1 to"),
        ({"steps": 2.5}, "steps: got 2.5 (float)"),
        ({"batch_size": True}, "batch_size: got True (bool)"),
        ({"seed": -1}, "seed: got -1 (int); accepted: an integer from 0 to 4294967295"),
        ({"seed": 2**32}, "seed: got 4294967296 (int); accepted: an integer from 0 to"),
        ({"batch_size": 10**7}, "batch_size: got 10000000 (int); accepted: an integer from 1"),
        ({"problem": 'x"""+__import__("os").system("id")+"""'}, 'problem: got \'x"""+'),
        ({"multipliers": {"(": 0.0}}, "multipliers: key '(' is not a regular expression"),
        ({"multipliers": {"(" * 5000 + ")" * 5000: 0.0}}, "multipliers: key of 10000 char"),
        ({"multipliers": {"x": math.inf}}, "multipliers['x']: got inf (float)"),
        ({"problem_params": {"depth": object}}, "problem_params.depth: got <class 'object'>"),
        ({"problem_params": {"a b": 1}}, "problem_params: key 'a b' (str) is not accepted"),
        ({"problem": ""}, "problem: got '' (str)"),
        ({"multipliers": {"x": "big"}}, "multipliers['x']: got 'big' (str)"),
        ({"multipliers": [("x", 1.0)]}, "multipliers: got [('x', 1.0)] (list)"),
        ({"clipping": Clipping("none")}, None),
    ],
)
def test_validation_names_argument_value_and_accepted(changes, message):
    if message is None:
        Config(**changes)
        return
    with pytest.raises(ValueError) as error:
        Config(**changes)
    assert message in str(error.value)


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"kind": "clip"}, "clipping.kind: got 'clip' (str); accepted: one of none, global_norm"),
        ({"norm": 0}, "clipping.norm: got 0 (int); accepted: a number > 0."),
        ({"decay": 1.0}, "clipping.decay: got 1.0 (float); accepted: a number in [0, 1)."),
        ({"std_factor": -2}, "clipping.std_factor: got -2 (int)"),
        ({"static_max_norm": 0.0}, "clipping.static_max_norm: got 0.0 (float)"),
    ],
)
def test_clipping_validation(kwargs, message):
    with pytest.raises(ValueError, match="clipping") as error:
        Clipping(**kwargs)
    assert message in str(error.value)


def test_decay_validation():
    with pytest.raises(ValueError, match=r"decay.name: got 'fast_decay' \(str\)"):
        Decay("fast_decay")
    with pytest.raises(ValueError, match="decay.params: exponential_decay needs decay_rate"):
        Decay("exponential_decay", {"decay_steps": 10})
    with pytest.raises(ValueError, match="'rate' is not a parameter of exponential_decay"):
        Decay("exponential_decay", {"decay_steps": 10, "decay_rate": 0.5, "rate": 1})
    with pytest.raises(ValueError, match="decay.params.staircase: got 1 .int.; accepted: true"):
        Decay("exponential_decay", {"decay_steps": 10, "decay_rate": 0.5, "staircase": 1})
    with pytest.raises(ValueError, match="decay.params: got {'decay_steps': 3} with decay 'none'"):
        Decay("none", {"decay_steps": 3})
    with pytest.raises(ValueError, match="decay.params.decay_steps: got 0"):
        Decay("cosine_decay", {"decay_steps": 0})


def test_piecewise_constant_boundaries_are_increasing_step_numbers():
    decay = Decay("piecewise_constant", {"boundaries": [100, 200.0], "values": [1, 0.5, 0.1]})
    assert decay.params["boundaries"] == (100, 200)
    assert all(isinstance(b, int) for b in decay.params["boundaries"])
    assert decay.params["values"] == (1.0, 0.5, 0.1)
    with pytest.raises(ValueError, match=r"decay.params.boundaries: got \[1.5\] .list., where 1.5"):
        Decay("piecewise_constant", {"boundaries": [1.5], "values": [1, 2]})
    with pytest.raises(ValueError, match="accepted: increasing step numbers"):
        Decay("piecewise_constant", {"boundaries": [200, 100], "values": [1, 2, 3]})
    with pytest.raises(ValueError, match="got 2 values for 2 boundaries"):
        Decay("piecewise_constant", {"boundaries": [100, 200], "values": [1, 2]})


@pytest.mark.parametrize(
    "params, message",
    [
        ({"decay_steps": 10, "decay_rate": -5}, "decay.params.decay_rate: got -5 (int); accepted"),
        ({"decay_steps": 10, "decay_rate": 0.0}, "decay.params.decay_rate: got 0.0 (float)"),
        ({"decay_steps": 2.5, "decay_rate": 0.5}, "decay_steps: got 2.5 (float); accepted: an int"),
    ],
)
def test_decay_rates_that_would_give_nan_or_growth_are_refused(params, message):
    with pytest.raises(ValueError) as error:
        Decay("exponential_decay", params)
    assert message in str(error.value)


def test_piecewise_values_must_be_learning_rates():
    with pytest.raises(ValueError, match=r"values: got \[0.1, -0.5\] .list., where -0.5 is not"):
        Decay("piecewise_constant", {"boundaries": [100], "values": [0.1, -0.5]})
    with pytest.raises(ValueError, match="decay.params.alpha: got 2.0 .float.; accepted: a number"):
        Decay("cosine_decay", {"decay_steps": 10, "alpha": 2.0})


def test_decay_parameters_lists_required_and_defaults():
    params = decay_parameters("cosine_decay")
    assert list(params) == ["decay_steps", "alpha"] and params["alpha"] == 0.0
    assert repr(params["decay_steps"]) == "<required>"
    assert "boundaries" in decay_parameters("piecewise_constant")


def test_unknown_keys_are_errors():
    data = full_config().to_dict()
    with pytest.raises(ValueError, match=r"config: unknown key\(s\) \['lr'\]; accepted: \["):
        Config.from_dict({**data, "lr": 0.1})
    with pytest.raises(ValueError, match=r"config.clipping: unknown key\(s\) \['max'\]"):
        Config.from_dict({**data, "clipping": {"kind": "none", "max": 1}})
    with pytest.raises(ValueError, match="config: not valid JSON"):
        Config.from_json("{problem: quadratic}")
    with pytest.raises(ValueError, match="config: got"):
        Config.from_dict([1, 2])


def test_replace_validates_and_rejects_unknown_fields():
    config = full_config()
    changed = config.replace(learning_rate=1, seed=3)
    assert (changed.learning_rate, changed.seed, config.learning_rate) == (1.0, 3, 0.05)
    with pytest.raises(ValueError, match=r"unknown Config field\(s\) \['lr'\]"):
        config.replace(lr=0.1)
    with pytest.raises(ValueError, match="learning_rate: got -1"):
        config.replace(learning_rate=-1)


def test_configs_are_frozen_and_hashable():
    config = full_config()
    with pytest.raises(AttributeError):
        config.learning_rate = 1.0
    assert isinstance(config.multipliers, FrozenMapping)
    assert len({config, full_config(), config.replace(seed=8)}) == 2


def test_differences_name_the_changed_fields():
    config = full_config()
    other = config.replace(learning_rate=0.1, clipping=Clipping("adaptive"))
    differences = config.differences(other)
    assert set(differences) == {"learning_rate", "clipping"}
    assert differences["learning_rate"] == (0.05, 0.1)
    assert config.differences(config) == {}


def test_from_json_refuses_deep_nesting_and_nan_with_a_value_error():
    with pytest.raises(ValueError, match="config: not valid JSON .nested 5000 deep"):
        Config.from_json("[" * 5000)
    with pytest.raises(ValueError, match="config: not valid JSON .NaN is not JSON"):
        Config.from_json('{"learning_rate": NaN}')
