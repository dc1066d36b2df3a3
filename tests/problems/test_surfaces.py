"""The 2-D surfaces: TF loss == NumPy function, minima are minima, trajectories are recorded."""

import numpy as np
import pytest
import tensorflow as tf
from hypothesis import given, settings
from hypothesis import strategies as st

from olexplore import optimize_loss
from olexplore.problems import get_problem, problem_names
from olexplore.problems.surfaces import SURFACES, Quadratic, Rosenbrock, Saddle

IDS = [cls.name for cls in SURFACES]


def tf_value_and_gradient(problem, point):
    setup = problem.build()
    for variable, coordinate in zip(setup.variables, point, strict=True):
        variable.assign(coordinate)
    with tf.GradientTape() as tape:
        value = setup.loss()
    gradient = tape.gradient(value, setup.variables)
    return float(value), np.array([float(g) for g in gradient])


@pytest.mark.parametrize("cls", SURFACES, ids=IDS)
def test_tf_loss_equals_numpy_function_at_fixed_points(cls):
    problem = cls()
    function = problem.numpy_function()
    points = [problem.start, *problem.minima, (0.3, -0.7), (-1.1, 0.4), (2.0, 1.5)]
    for point in points:
        value, _ = tf_value_and_gradient(problem, point)
        expected = float(function(np.float32(point[0]), np.float32(point[1])))
        assert value == pytest.approx(expected, rel=1e-5, abs=1e-4), (cls.name, point)


@settings(max_examples=25, deadline=None)
@given(
    index=st.integers(0, len(SURFACES) - 1),
    u=st.floats(0.0, 1.0),
    v=st.floats(0.0, 1.0),
)
def test_tf_loss_equals_numpy_function_anywhere_in_range(index, u, v):
    problem = SURFACES[index]()
    x = np.float32(problem.x_range[0] + u * (problem.x_range[1] - problem.x_range[0]))
    y = np.float32(problem.y_range[0] + v * (problem.y_range[1] - problem.y_range[0]))
    setup = problem.build()
    setup.variables[0].assign(x)
    setup.variables[1].assign(y)
    expected = float(problem.numpy_function()(np.float64(x), np.float64(y)))
    assert float(setup.loss()) == pytest.approx(expected, rel=1e-4, abs=1e-3)


@pytest.mark.parametrize("cls", SURFACES, ids=IDS)
def test_listed_minima_have_zero_gradient_and_lowest_value_nearby(cls):
    problem = cls()
    function = problem.numpy_function()
    for mx, my in problem.minima:
        _, gradient = tf_value_and_gradient(problem, (mx, my))
        assert np.abs(gradient).max() < 2e-3, (cls.name, (mx, my), gradient)
        centre = float(function(mx, my))
        angles = np.linspace(0.0, 2 * np.pi, 16, endpoint=False)
        for radius in (1e-3, 1e-2, 1e-1):
            ring = function(mx + radius * np.cos(angles), my + radius * np.sin(angles))
            assert np.all(ring >= centre - 1e-9), (cls.name, (mx, my), radius)


@pytest.mark.parametrize("cls", SURFACES, ids=IDS)
def test_no_point_of_the_plotted_grid_is_below_the_best_listed_minimum(cls):
    surface = cls().surface()
    _, _, z = surface.grid(301)
    best = min(float(surface.function(x, y)) for x, y in surface.minima)
    assert z.min() >= best - 1e-6
    assert surface.start == cls.default_start


def test_gradient_is_nonzero_away_from_the_minimum():
    # Guards the minimum test above against a gradient that is always zero.
    _, gradient = tf_value_and_gradient(Rosenbrock(), (0.0, 0.0))
    assert gradient == pytest.approx([-2.0, 0.0])


def test_quadratic_trajectory_is_recorded_at_every_step_of_run_steps():
    problem = Quadratic(condition_number=4.0)
    setup = problem.build()
    train = optimize_loss(setup.loss, None, 0.1, "SGD")
    history = train.run_steps(12, record=setup.record)
    positions = history["position"]
    assert positions.shape == (12, 2)
    steps = np.arange(1, 13)
    x0, y0 = problem.start
    expected = np.stack([x0 * 0.9**steps, y0 * (1 - 0.1 * 4.0) ** steps], axis=1)
    np.testing.assert_allclose(positions, expected, rtol=1e-5, atol=1e-6)
    # The recorded position after the last step is where the variables are now.
    assert positions[-1] == pytest.approx([float(v) for v in setup.variables])
    # The loss of each step is the function at the position before that step.
    before = np.vstack([problem.start, positions[:-1]])
    np.testing.assert_allclose(
        history["loss"], problem.numpy_function()(before[:, 0], before[:, 1]), rtol=1e-5
    )


@pytest.mark.parametrize("cls", SURFACES, ids=IDS)
def test_suggested_settings_lower_the_loss(cls):
    problem = cls()
    setup = problem.build()
    suggested = cls.suggested
    train = optimize_loss(setup.loss, None, suggested["learning_rate"], suggested["optimizer"])
    history = train.run_steps(suggested["steps"], record=setup.record)
    loss = history["loss"]
    assert np.all(np.isfinite(loss))
    final = float(setup.loss())
    assert final < 0.5 * loss[0] or final < loss[0] - 1.0, (cls.name, loss[0], final)


def test_rosenbrock_with_adam_gets_close_to_its_minimum():
    setup = Rosenbrock().build()
    train = optimize_loss(setup.loss, None, 0.05, "Adam")
    train.run_steps(2000)
    assert [float(v) for v in setup.variables] == pytest.approx([1.0, 1.0], abs=0.05)


def test_saddle_on_the_ridge_needs_noise_to_leave_it():
    plain = Saddle().build()
    optimize_loss(plain.loss, None, 0.05, "SGD").run_steps(200)
    assert float(plain.variables[1]) == 0.0
    noisy = Saddle().build()
    train = optimize_loss(
        noisy.loss, None, 0.05, "SGD", gradient_noise_scale=0.1, gradient_noise_seed=1
    )
    train.run_steps(200)
    assert abs(float(noisy.variables[1])) == pytest.approx(2**0.5, abs=0.1)


def test_surface_problems_are_registered_and_check_their_arguments():
    for cls in SURFACES:
        assert cls.name in problem_names()
        assert type(get_problem(cls.name)) is cls
    assert get_problem("quadratic", start=(1, 2)).start == (1.0, 2.0)
    with pytest.raises(ValueError, match=r"start: got \(1, 'a'\).*two numbers"):
        Rosenbrock(start=(1, "a"))
    with pytest.raises(ValueError, match=r"start: got .*nan.*finite"):
        Rosenbrock(start=(1.0, float("nan")))
    with pytest.raises(ValueError, match=r"condition_number: got 0.5.*>= 1"):
        Quadratic(condition_number=0.5)
    with pytest.raises(ValueError, match=r"problem_params: .*'quadratic'"):
        get_problem("quadratic", curvature=3)
    with pytest.raises(ValueError, match=r"problem: got 'nope' \(str\); accepted: one of"):
        get_problem("nope")
