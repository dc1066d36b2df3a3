"""The toys, trained with optimize_loss: gradient noise, exploding gradients, |var * x|."""

import numpy as np
import pytest
import tensorflow as tf

from olexplore import optimize_loss
from olexplore.problems import get_problem, problem_names
from olexplore.problems.toys import TOYS, AbsLinear, ExplodingGradients, NoisyQuadratic


def first_batches(setup, count):
    return [b.numpy() for b in setup.data.take(count)]


# ----------------------------------------------------------------- noisy quadratic
def test_noisy_quadratic_without_noise_is_the_clean_bowl():
    problem = NoisyQuadratic(noise=0.0, condition_number=10.0)
    setup = problem.build(seed=0, batch_size=5)
    z = next(iter(setup.data))
    with tf.GradientTape() as tape:
        value = setup.loss(z)
    gradient = [float(g) for g in tape.gradient(value, setup.variables)]
    x, y = problem.start
    assert float(value) == pytest.approx(0.5 * (x * x + 10.0 * y * y))
    assert gradient == pytest.approx([x, 10.0 * y])


def test_noisy_quadratic_gradient_is_clean_gradient_plus_noise_times_batch_mean():
    problem = NoisyQuadratic(noise=3.0, condition_number=4.0)
    setup = problem.build(seed=0, batch_size=7)
    z = next(iter(setup.data))
    assert z.shape == (7, 2)
    with tf.GradientTape() as tape:
        value = setup.loss(z)
    gradient = np.array([float(g) for g in tape.gradient(value, setup.variables)])
    w = np.array(problem.start)
    np.testing.assert_allclose(
        gradient, np.array([1.0, 4.0]) * w + 3.0 * z.numpy().mean(0), rtol=1e-5
    )


@pytest.mark.parametrize("batch_size", [1, 16])
def test_noisy_quadratic_gradient_noise_has_the_chosen_size(batch_size):
    # At the minimum the whole gradient is noise; learning rate 0 keeps w there.
    problem = NoisyQuadratic(noise=2.0, dim=1, start=[0.0])
    setup = problem.build(seed=3, batch_size=batch_size)
    train = optimize_loss(setup.loss, None, 0.0, "SGD")
    norms = train.run_steps(4000, data=setup.data)["global_norm"]
    measured = float(np.sqrt(np.mean(norms.astype(np.float64) ** 2)))
    assert measured == pytest.approx(2.0 / np.sqrt(batch_size), rel=0.05)


def test_noisy_quadratic_loss_is_the_clean_loss_on_average():
    problem = NoisyQuadratic(noise=1.0, condition_number=10.0)
    setup = problem.build(seed=0, batch_size=4)
    train = optimize_loss(setup.loss, None, 0.0, "SGD")
    losses = train.run_steps(4000, data=setup.data)["loss"].astype(np.float64)
    clean = setup.evaluate()["val_loss"]
    x, y = problem.start
    assert clean == pytest.approx(0.5 * (x * x + 10 * y * y), rel=1e-6)
    # The noise term has standard deviation noise * |w| / sqrt(batch) = 1.08 per step.
    assert losses.std() == pytest.approx(np.hypot(x, y) / 2, rel=0.1)
    assert abs(losses.mean() - clean) < 4 * losses.std() / np.sqrt(len(losses))


def test_noisy_quadratic_sgd_stalls_at_a_noise_floor_that_batches_lower():
    floors = {}
    for noise, batch_size in [(0.0, 1), (1.0, 1), (1.0, 64)]:
        problem = NoisyQuadratic(noise=noise)
        setup = problem.build(seed=0, batch_size=batch_size)
        train = optimize_loss(setup.loss, None, 0.1, "SGD")
        positions = train.run_steps(300, data=setup.data, record=setup.record)["position"]
        tail = positions[-150:].astype(np.float64)
        floors[noise, batch_size] = float(np.mean(problem.expected_loss(tail)))
        assert setup.evaluate()["distance_to_minimum"] == pytest.approx(
            np.hypot(*positions[-1]), rel=1e-5
        )
    assert floors[0.0, 1] < 1e-8
    assert floors[1.0, 1] > 0.02
    # A 64-example batch divides the gradient-noise variance, and so the floor, by ~64.
    assert 20 < floors[1.0, 1] / floors[1.0, 64] < 200


def test_noisy_quadratic_data_is_seeded():
    problem = NoisyQuadratic()
    a = first_batches(problem.build(seed=1, batch_size=3), 3)
    b = first_batches(problem.build(seed=1, batch_size=3), 3)
    c = first_batches(problem.build(seed=2, batch_size=3), 3)
    np.testing.assert_array_equal(np.stack(a), np.stack(b))
    assert not np.array_equal(np.stack(a), np.stack(c))
    assert not np.array_equal(a[0], a[1])  # a fresh draw every batch


def test_noisy_quadratic_in_many_dimensions_uses_one_vector():
    problem = NoisyQuadratic(dim=5, condition_number=16.0)
    setup = problem.build()
    assert setup.variable_names == ["w"]
    assert setup.surface is None
    np.testing.assert_allclose(problem.curvatures, [1, 2, 4, 8, 16], rtol=1e-6)
    assert float(setup.record()["distance"]) == pytest.approx(np.sqrt(5))
    surface = NoisyQuadratic(condition_number=3.0).build().surface
    assert surface.function(1.0, 1.0) == pytest.approx(2.0)
    assert surface.start == (-1.8, 1.2)


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"noise": -1.0}, r"noise: got -1.0 \(float\); accepted: a finite number >= 0"),
        ({"condition_number": 0.5}, r"condition_number: got 0.5 .*>= 1"),
        ({"dim": 0}, r"dim: got 0 \(int\); accepted: an int >= 1"),
        ({"start": (1.0, 2.0, 3.0)}, r"start: got \(1.0, 2.0, 3.0\).*2 finite numbers"),
    ],
)
def test_noisy_quadratic_rejects_bad_arguments(params, message):
    with pytest.raises(ValueError, match=message):
        NoisyQuadratic(**params)


# ----------------------------------------------------------------- exploding gradients
def train_chain(seed, clip, steps):
    problem = ExplodingGradients()
    setup = problem.build(seed=seed, batch_size=32)
    suggested = ExplodingGradients.suggested
    train = optimize_loss(
        setup.loss, None, suggested["learning_rate"], suggested["optimizer"], clip_gradients=clip
    )
    return setup, train.run_steps(steps, data=setup.data)


@pytest.mark.parametrize("seed", [0, 1])
def test_exploding_gradients_diverge_without_clipping_and_converge_with_it(seed):
    _, plain = train_chain(seed, None, 100)
    assert plain["global_norm"][0] > 1000
    assert not np.all(np.isfinite(plain["loss"])), "SGD without clipping should overflow"
    first_bad = int(np.argmin(np.isfinite(plain["loss"])))
    assert first_bad < 100

    setup, clipped = train_chain(seed, 1.0, 200)
    assert np.all(np.isfinite(clipped["loss"]))
    assert clipped["global_norm"][0] > 1000
    assert np.all(clipped["clipped_global_norm"] <= 1.0 + 1e-4)
    assert clipped["loss"][-1] < 1e-4 < 100 < clipped["loss"][0]
    # Converged to the target map: the chain's product is the product of the rotations.
    product = np.linalg.multi_dot([v.numpy() for v in setup.variables])
    np.testing.assert_allclose(product, setup.extras["target"], atol=1e-3)
    assert np.abs(product - np.eye(8)).max() > 0.1  # the target is not a trivial map


def test_exploding_gradients_start_with_gain_times_rotations():
    problem = ExplodingGradients(depth=4, width=3, gain=1.5)
    first, again = problem.build(seed=5), problem.build(seed=5)
    other = problem.build(seed=6)
    assert (
        first.variable_names
        == again.variable_names
        == [f"chain/layer_{i:02d}/kernel" for i in range(4)]
    )
    for a, b, c in zip(first.variables, again.variables, other.variables, strict=True):
        np.testing.assert_array_equal(a.numpy(), b.numpy())
        assert not np.array_equal(a.numpy(), c.numpy())
        np.testing.assert_allclose(np.linalg.svd(a.numpy())[1], [1.5] * 3, rtol=1e-5)
        assert np.linalg.det(a.numpy()) == pytest.approx(1.5**3, rel=1e-5)
    assert first.extras["initial_gain"] == pytest.approx(1.5**4)
    chain = np.linalg.multi_dot([v.numpy() for v in first.variables])
    np.testing.assert_allclose(chain, 1.5**4 * first.extras["target"], rtol=1e-4, atol=1e-5)
    x = next(iter(first.data))
    assert x.shape == (64, 3)


def test_exploding_gradients_per_layer_multipliers_use_layer_names():
    setup = ExplodingGradients(depth=3, width=2).build(seed=0, batch_size=4)
    before = [v.numpy() for v in setup.variables]
    train = optimize_loss(
        setup.loss, None, 0.01, "SGD", gradient_multipliers={"chain/layer_01/kernel": 0.0}
    )
    train.run_steps(5, data=setup.data)
    after = [v.numpy() for v in setup.variables]
    np.testing.assert_array_equal(before[1], after[1])
    assert not np.array_equal(before[0], after[0])


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"depth": 0}, r"depth: got 0 \(int\); accepted: an int >= 1"),
        ({"width": 2.5}, r"width: got 2.5 \(float\); accepted: an int >= 1"),
        ({"gain": 0.0}, r"gain: got 0.0 \(float\); accepted: a finite number > 0"),
    ],
)
def test_exploding_gradients_rejects_bad_arguments(params, message):
    with pytest.raises(ValueError, match=message):
        ExplodingGradients(**params)


# ----------------------------------------------------------------- |var * x|
def test_abs_linear_is_the_seeds_example():
    setup = AbsLinear().build()
    assert setup.variable_names == ["var"]
    train = optimize_loss(setup.loss, None, 0.1, "SGD")
    history = train.run_steps(25, data=setup.data, record=setup.record)
    assert history["loss"][0] == 50.0
    assert history["var"][0] == pytest.approx(9.5)  # one step: 10 - 0.1 * 5
    # Constant-size steps of 0.5 reach 0 exactly after 20 steps; the gradient of |0| is 0.
    np.testing.assert_allclose(history["var"][:20], 10 - 0.5 * np.arange(1, 21), atol=1e-5)
    np.testing.assert_array_equal(history["var"][20:], 0.0)


def test_abs_linear_hops_across_the_kink_unless_the_rate_decays():
    constant = AbsLinear(x=3.0).build()
    train = optimize_loss(constant.loss, None, 0.1, "SGD")
    values = train.run_steps(200, data=constant.data, record=constant.record)["var"]
    tail = values[-50:]
    assert np.all(np.abs(tail) > 1e-3) and np.all(np.abs(tail) <= 0.3 + 1e-5)
    assert np.all(np.sign(tail[1:]) != np.sign(tail[:-1]))  # it keeps crossing 0

    decayed = AbsLinear(x=3.0).build()
    train = optimize_loss(
        decayed.loss,
        None,
        0.1,
        "SGD",
        learning_rate_decay_fn=lambda lr, step: tf.compat.v1.train.exponential_decay(
            lr, step, 10, 0.8
        ),
    )
    train.run_steps(200, data=decayed.data)
    assert abs(float(decayed.variables[0])) < 0.1 * np.abs(tail).min()


def test_abs_linear_arguments():
    assert float(AbsLinear(x=-2.0, start=4.0).build().loss(tf.constant(-2.0))) == 8.0
    with pytest.raises(ValueError, match=r"x: got 'a' \(str\); accepted: a finite number"):
        AbsLinear(x="a")
    with pytest.raises(ValueError, match=r"start: got inf"):
        AbsLinear(start=float("inf"))


def test_toys_are_registered_with_suggested_settings():
    for cls in TOYS:
        assert cls.name in problem_names()
        assert type(get_problem(cls.name)) is cls
        assert cls.kind == "toy"
        assert {"optimizer", "learning_rate", "steps"} <= set(cls.suggested)
    assert get_problem("noisy-quadratic", noise=0.5).noise == 0.5
