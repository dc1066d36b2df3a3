"""Bad problem parameters and data: clear ValueErrors naming the argument, before any work."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from olexplore.problems import CustomProblem, Problem, get_problem, problem_names, register
from olexplore.problems.custom import BatchSizeWarning
from olexplore.problems.registry import problem_class
from olexplore.runs import Config, Run
from olexplore.runs.config import field_names


@pytest.mark.parametrize(
    ("name", "params", "message"),
    [
        (
            "exploding-gradients",
            {"depth": 10**6},
            r"depth: got 1000000 \(int\); accepted: an int >= 1 and <= 1000\.",
        ),
        ("exploding-gradients", {"width": 10**5}, r"width: got 100000 .*<= 1024"),
        (
            "exploding-gradients",
            {"depth": 1000, "width": 1000},
            r"depth, width: got depth=1000 and width=1000, 1,000,000,000 weights; accepted: "
            r"depth \* width\*\*2 <= 10,000,000",
        ),
        ("exploding-gradients", {"gain": 1e9}, r"gain: got 1000000000.0 .*> 0 and <= 10"),
        ("exploding-gradients", {"depth": True}, r"depth: got True \(bool\)"),
        ("noisy-quadratic", {"dim": 10**9}, r"dim: got 1000000000 \(int\); .*<= 10000\."),
        ("noisy-quadratic", {"noise": 1e300}, r"noise: got 1e\+300 .*<= 1e\+06"),
        ("noisy-quadratic", {"condition_number": 1e30}, r"condition_number: got 1e\+30"),
        ("quadratic", {"condition_number": 1e30}, r"condition_number: got 1e\+30 .*<= 1e\+06"),
        ("quadratic", {"condition_number": True}, r"condition_number: got True \(bool\)"),
        ("rosenbrock", {"start": (1e300, 0.0)}, r"start: got \(1e\+300, 0.0\) .*magnitude <="),
        ("abs-linear", {"x": 1e12}, r"x: got 1000000000000.0 .*<= 1e\+06"),
        ("abs-linear", {"start": -1e12}, r"start: got -1000000000000.0 .*>= -1e\+06"),
    ],
)
def test_huge_or_odd_problem_parameters_are_refused_naming_the_parameter(name, params, message):
    with pytest.raises(ValueError, match=message):
        get_problem(name, **params)


def test_a_run_with_a_huge_parameter_fails_before_building_anything():
    config = Config(problem="exploding-gradients", problem_params={"depth": 10**6})
    with pytest.raises(ValueError, match=r"depth: got 1000000 \(int\)"):
        Run(config)


def test_suggested_settings_use_config_field_names():
    for name in problem_names():
        suggested = problem_class(name).suggested
        for key in suggested:
            assert key.partition(".")[0] in field_names(), (name, key)
            assert key not in ("clip_gradients", "gradient_noise_scale"), (name, key)
        if "clipping.norm" in suggested:
            assert suggested["clipping.kind"] == "global_norm", name
    exploding = problem_class("exploding-gradients").suggested
    assert exploding["clipping.kind"] == "global_norm" and exploding["clipping.norm"] == 1.0


def test_suggested_settings_make_a_valid_config():
    for name in problem_names():
        config = Config(problem=name)
        for key, value in problem_class(name).suggested.items():
            head, _, rest = key.partition(".")
            if rest:
                import dataclasses  # noqa: PLC0415

                value = dataclasses.replace(getattr(config, head), **{rest: value})
            config = config.replace(**{head: value})
        assert config.problem == name


# ----------------------------------------------------------------- the registry
def test_register_refuses_a_taken_name_and_non_problems():
    class FakeQuadratic(Problem):
        name = "quadratic"
        title = description = kind = "x"

        def build(self, seed=0, batch_size=64):
            raise NotImplementedError

    before = problem_names()
    with pytest.raises(
        ValueError,
        match=r"problem: FakeQuadratic.name 'quadratic' is already registered to "
        r"olexplore.problems.surfaces.Quadratic",
    ):
        register(FakeQuadratic)
    with pytest.raises(ValueError, match=r"problem: got 42 \(int\); accepted: a subclass"):
        register(42)
    assert problem_names() == before
    assert register(problem_class("quadratic")) is problem_class("quadratic")  # no change
    assert problem_names() == before


# ----------------------------------------------------------------- the user's own data
@pytest.fixture
def model():
    return keras.Sequential(
        [
            keras.Input((3,)),
            keras.layers.Dense(4, kernel_initializer=keras.initializers.GlorotUniform(seed=0)),
        ]
    )


@pytest.mark.parametrize(
    ("x", "y", "loss", "message"),
    [
        (np.array([["a", "b", "c"]] * 5), np.zeros(5), "mse", r"x: got an array of dtype <U1"),
        (np.zeros((0, 3)), np.zeros(0), "mse", r"x: got an array of dtype float64 and shape \(0"),
        (
            np.zeros((5, 3)),
            np.array([0, 1, -1, 2, 3]),
            "sparse_categorical_crossentropy",
            r"y: got label -1 \(at row 2\); accepted: integer class labels from 0 to 3\.",
        ),
        (
            np.zeros((5, 3)),
            np.array([0, 1, 4, 2, 3]),
            keras.losses.SparseCategoricalCrossentropy(from_logits=True),
            r"y: got label 4 \(at row 2\); accepted: integer class labels from 0 to 3\.",
        ),
        (
            np.zeros((5, 3)),
            np.array(["0", "1", "2", "3", "0"]),
            "sparse_categorical_crossentropy",
            r"y: got an array of dtype <U1",
        ),
    ],
)
def test_bad_user_data_is_a_value_error_naming_the_argument(model, x, y, loss, message):
    with pytest.raises(ValueError, match=message):
        CustomProblem(model, x, y, loss=loss)


def test_bool_labels_above_a_one_output_model_name_the_label():
    one_output = keras.Sequential(
        [
            keras.Input((3,)),
            keras.layers.Dense(1, kernel_initializer=keras.initializers.GlorotUniform(seed=0)),
        ]
    )
    y = np.array([False, True, False])
    message = r"y: got label 1 \(at row 1\); accepted: integer class labels from 0 to 0\.$"
    with pytest.raises(ValueError, match=message):
        CustomProblem(one_output, np.zeros((3, 3)), y, loss="sparse_categorical_crossentropy")


def test_explore_refuses_bad_data_with_the_same_message(model):
    import olexplore  # noqa: PLC0415

    with pytest.raises(ValueError, match=r"y: got label -1 \(at row 0\)"):
        olexplore.explore(
            model, np.zeros((4, 3)), np.array([-1, 0, 1, 2]), loss="sparse_categorical_crossentropy"
        )


def test_negative_targets_are_fine_for_a_regression_loss(model):
    problem = CustomProblem(model, np.zeros((5, 3)), -np.ones((5, 4)), loss="mse")
    assert problem.build(batch_size=5).data is not None


def test_a_batch_larger_than_the_users_data_says_so():
    w = tf.Variable(0.0, name="w")
    x = np.arange(4.0)
    problem = CustomProblem(lambda xb: tf.reduce_mean(tf.square(w - xb)), x=x, variables=[w])
    with pytest.warns(BatchSizeWarning, match=r"batch_size: got 64, more than the 4 examples"):
        setup = problem.build(batch_size=64)
    (batch,) = list(setup.data.take(1))
    assert sorted(batch.numpy().tolist()) == [0.0, 1.0, 2.0, 3.0]  # each example once
