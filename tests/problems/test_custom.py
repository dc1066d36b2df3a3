"""The user's own problem: Keras models with arrays or datasets, variables with a loss."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from olexplore import optimize_loss
from olexplore.problems import CustomProblem, problem_names


def blobs(n=200, seed=0):
    """Two Gaussian blobs in 4-D, labels 0/1: learnable by a linear model."""
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 2, n)
    x = rng.standard_normal((n, 4)) + 2.0 * (labels[:, None] * 2 - 1)
    return x, labels


def classifier(name="classifier", compiled=True, regulariser=None):
    model = keras.Sequential(
        [
            keras.Input((4,)),
            keras.layers.Dense(
                8,
                activation="relu",
                name="hidden",
                kernel_initializer=keras.initializers.GlorotUniform(seed=1),
                kernel_regularizer=regulariser,
            ),
            keras.layers.Dense(
                2, name="logits", kernel_initializer=keras.initializers.GlorotUniform(seed=2)
            ),
        ],
        name=name,
    )
    if compiled:
        model.compile(loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    return model


def numpy_cross_entropy(logits, labels):
    logits = logits - logits.max(1, keepdims=True)
    log_p = logits - np.log(np.exp(logits).sum(1, keepdims=True))
    return float(-log_p[np.arange(len(labels)), labels].mean())


# ----------------------------------------------------------------- Keras models
def test_compiled_model_with_arrays_trains_and_rebuilds_from_its_initial_weights():
    x, y = blobs()
    model = classifier()
    initial = [v.numpy() for v in model.variables]
    problem = CustomProblem(model, x, y)
    setup = problem.build(seed=0, batch_size=16)
    assert setup.variable_names == [
        "classifier/hidden/kernel",
        "classifier/hidden/bias",
        "classifier/logits/kernel",
        "classifier/logits/bias",
    ]
    assert setup.extras["model"] is model
    xb, yb = next(iter(setup.data))
    assert xb.shape == (16, 4) and xb.dtype == tf.float32
    assert float(setup.loss(xb, yb)) == pytest.approx(
        numpy_cross_entropy(model(xb).numpy(), yb.numpy()), rel=1e-5
    )

    train = optimize_loss(setup.loss, None, 0.01, "Adam")
    losses = train.run_steps(150, data=setup.data)["loss"]
    assert losses[-10:].mean() < 0.1 * losses[:10].mean()
    assert not np.array_equal(initial[0], model.variables[0].numpy())

    again = problem.build(seed=0, batch_size=16)
    for value, variable in zip(initial, model.variables, strict=True):
        np.testing.assert_array_equal(value, variable.numpy())
    assert again.variable_names == setup.variable_names
    assert all(a is b for a, b in zip(again.variables, setup.variables, strict=True))


def test_loss_argument_works_for_an_uncompiled_model_and_wins_over_the_compiled_loss():
    x, y = blobs(40)
    model = keras.Sequential(
        [keras.Input((4,)), keras.layers.Dense(2, activation="softmax", name="probabilities")],
        name="softmax_model",
    )
    setup = CustomProblem(model, x, y, loss="sparse_categorical_crossentropy").build(batch_size=40)
    xb, yb = next(iter(setup.data))
    probabilities = model(xb).numpy()
    expected = -np.log(probabilities[np.arange(40), yb.numpy()]).mean()
    assert float(setup.loss(xb, yb)) == pytest.approx(expected, rel=1e-5)

    model.compile(loss="mse")
    chosen = CustomProblem(model, x, y, loss=lambda t, p: tf.reduce_sum(p) * 0 + 7.0).build()
    assert float(chosen.loss(xb, yb)) == 7.0
    compiled = CustomProblem(model, x, y.astype(np.float32)[:, None]).build(batch_size=40)
    xb, yb = next(iter(compiled.data))
    mse = np.mean((model(xb).numpy() - yb.numpy()) ** 2, axis=-1).mean()
    assert float(compiled.loss(xb, yb)) == pytest.approx(mse, rel=1e-5)


def test_regularisation_losses_are_added():
    x, y = blobs(32)
    model = classifier("regularised", regulariser=keras.regularizers.L2(0.5))
    setup = CustomProblem(model, x, y).build(batch_size=32)
    xb, yb = next(iter(setup.data))
    kernel = model.get_layer("hidden").kernel.numpy()
    data_loss = numpy_cross_entropy(model(xb).numpy(), yb.numpy())
    assert float(setup.loss(xb, yb)) == pytest.approx(data_loss + 0.5 * np.sum(kernel**2), rel=1e-5)


def test_dataset_of_batches_is_repeated_without_end():
    x, y = blobs(64)
    model = classifier("on_dataset")
    dataset = tf.data.Dataset.from_tensor_slices((x.astype(np.float32), y)).batch(16)
    setup = CustomProblem(model, dataset=dataset).build(batch_size=999)
    train = optimize_loss(setup.loss, None, 0.01, "Adam")
    history = train.run_steps(40, data=setup.data)  # 4 batches per pass, 10 passes
    assert len(history["loss"]) == 40
    assert history["loss"][-4:].mean() < history["loss"][:4].mean()


def test_an_unbuilt_model_is_built_from_the_data():
    x, y = blobs(20)
    model = keras.Sequential([keras.layers.Dense(2, name="late")], name="unbuilt")
    assert not model.built
    setup = CustomProblem(model, x, y, loss="sparse_categorical_crossentropy").build()
    assert setup.variable_names == ["unbuilt/late/kernel", "unbuilt/late/bias"]
    model2 = keras.Sequential([keras.layers.Dense(3, name="late")], name="unbuilt_ds")
    dataset = tf.data.Dataset.from_tensor_slices((x.astype(np.float32), y)).batch(5)
    setup2 = CustomProblem(model2, dataset=dataset, loss="mse").build()
    assert setup2.variables[0].shape == (4, 3)


def test_model_multipliers_by_variable_name():
    x, y = blobs(64)
    model = classifier("frozen_hidden")
    setup = CustomProblem(model, x, y).build()
    kernel = setup.variables[0].numpy()
    train = optimize_loss(
        setup.loss, None, 0.1, "SGD", gradient_multipliers={"frozen_hidden/hidden/kernel": 0.0}
    )
    train.run_steps(5, data=setup.data)
    np.testing.assert_array_equal(kernel, setup.variables[0].numpy())
    assert not np.array_equal(setup.variables[1].numpy(), np.zeros(8))


def test_evaluate_is_wrapped_to_floats():
    x, y = blobs(50)
    model = classifier("evaluated")
    x_val = tf.constant(x[:10], tf.float32)

    def evaluate():
        return {"val_mean_logit": tf.reduce_mean(model(x_val)), "count": np.int64(10)}

    setup = CustomProblem(model, x, y, evaluate=evaluate).build()
    result = setup.evaluate()
    assert result["count"] == 10.0 and isinstance(result["val_mean_logit"], float)
    assert CustomProblem(model, x, y).build().evaluate is None
    broken = CustomProblem(model, x, y, evaluate=lambda: 0.5).build()
    with pytest.raises(ValueError, match=r"evaluate: returned 0.5 \(float\); accepted: a dict"):
        broken.evaluate()


# ----------------------------------------------------------------- variables + loss callable
def test_variables_and_loss_without_data():
    w = tf.Variable([3.0, -1.0], name="weights")
    b = tf.Variable(2.0, name="offset")
    problem = CustomProblem(
        lambda: tf.reduce_sum(tf.square(w - 1.0)) + b * b, variables=[w, b], name="bowl"
    )
    assert problem.name == "bowl" and problem.kind == "custom"
    setup = problem.build()
    assert setup.variable_names == ["weights", "offset"] and setup.data is None
    train = optimize_loss(setup.loss, None, 0.1, "SGD")
    train.run_steps(100)
    np.testing.assert_allclose(w.numpy(), [1.0, 1.0], atol=1e-4)
    problem.build()
    np.testing.assert_array_equal(w.numpy(), [3.0, -1.0])
    assert float(b.numpy()) == 2.0


def test_variables_and_loss_with_x_only_and_with_x_y():
    w = tf.Variable(0.0, name="centre")
    x = np.array([1.0, 2.0, 3.0, 6.0])
    setup = CustomProblem(lambda xb: tf.reduce_mean(tf.square(w - xb)), x=x, variables=[w]).build(
        batch_size=2
    )
    batches = [b.numpy().tolist() for b in setup.data.take(2)]
    assert sorted(batches[0] + batches[1]) == [1.0, 2.0, 3.0, 6.0]
    train = optimize_loss(setup.loss, None, 0.02, "SGD")
    train.run_steps(400, data=setup.data)
    assert float(w.numpy()) == pytest.approx(3.0, abs=0.3)

    slope = tf.Variable(0.0, name="slope")
    xs = np.linspace(-1, 1, 20)
    setup = CustomProblem(
        lambda xb, yb: tf.reduce_mean(tf.square(slope * xb - yb)),
        x=xs,
        y=3.0 * xs,
        variables=slope,
    ).build(batch_size=5)
    optimize_loss(setup.loss, None, 0.5, "SGD").run_steps(200, data=setup.data)
    assert float(slope.numpy()) == pytest.approx(3.0, abs=1e-3)


def test_variables_and_loss_with_a_dataset_spreads_elements():
    a = tf.Variable(0.0, name="a")
    dataset = tf.data.Dataset.from_tensors((tf.constant(2.0), tf.constant(5.0)))
    setup = CustomProblem(lambda p, q: tf.square(a * p - q), dataset=dataset, variables=[a]).build()
    optimize_loss(setup.loss, None, 0.05, "SGD").run_steps(100, data=setup.data)
    assert float(a.numpy()) == pytest.approx(2.5, abs=1e-4)


def test_keras_variables_are_accepted():
    layer = keras.layers.Dense(1, name="solo")
    layer.build((None, 2))
    problem = CustomProblem(
        lambda: tf.reduce_sum(tf.square(layer.kernel)), variables=layer.trainable_variables
    )
    assert problem.build().variable_names == ["solo/kernel", "solo/bias"]


# ----------------------------------------------------------------- errors
@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda m, x, y: CustomProblem(42), r"model_or_loss: got 42 \(int\); accepted: a keras"),
        (lambda m, x, y: CustomProblem(m), r"x, y: a Keras model needs data"),
        (
            lambda m, x, y: CustomProblem(m, x),
            r"x, y: a Keras model needs data.*x=an array of shape \(20, 4\), y=None",
        ),
        (
            lambda m, x, y: CustomProblem(m, None, y),
            r"x: got None with y=an array of shape \(20,\)",
        ),
        (lambda m, x, y: CustomProblem(m, x, y[:-1]), r"y: got 19 rows for 20 rows of x"),
        (
            lambda m, x, y: CustomProblem(m, x, y, dataset=tf.data.Dataset.range(3)),
            r"dataset: got a dataset together with x=an array of shape \(20, 4\)",
        ),
        (lambda m, x, y: CustomProblem(m, dataset=[1, 2]), r"dataset: got \[1, 2\] \(list\)"),
        (
            lambda m, x, y: CustomProblem(m, dataset=tf.data.Dataset.range(3)),
            r"dataset: got elements .*accepted with a Keras model: \(x, y\) tuples",
        ),
        (lambda m, x, y: CustomProblem(m, "abc", y), r"x: got 'abc' \(str\); accepted: a NumPy"),
        (
            lambda m, x, y: CustomProblem(classifier("raw", compiled=False), x, y),
            r"loss: got None and the model is not compiled",
        ),
        (lambda m, x, y: CustomProblem(m, x, y, loss="nope"), r"loss: got 'nope' \(str\)"),
        (lambda m, x, y: CustomProblem(m, x, y, loss=3), r"loss: got 3 \(int\); accepted: a Keras"),
        (lambda m, x, y: CustomProblem(lambda: 1.0), r"variables: got None with a loss callable"),
        (
            lambda m, x, y: CustomProblem(lambda: 1.0, variables=[1.0]),
            r"variables: got 1.0 \(float\) in the list; accepted: a list of tf.Variables",
        ),
        (
            lambda m, x, y: CustomProblem(lambda: 1.0, variables="w"),
            r"variables: got 'w' \(str\); accepted",
        ),
        (lambda m, x, y: CustomProblem(lambda: 1.0, variables=[]), r"variables: got an empty"),
        (
            lambda m, x, y: CustomProblem(lambda: 1.0, variables=[tf.Variable(1.0)], loss="mse"),
            r"loss: got 'mse' \(str\) with a loss callable",
        ),
        (lambda m, x, y: CustomProblem(m, x, y, evaluate=3), r"evaluate: got 3 \(int\)"),
        (lambda m, x, y: CustomProblem(m, x, y, name=""), r"name: got '' \(str\)"),
        (lambda m, x, y: CustomProblem(m, x, y).build(batch_size=-1), r"batch_size: got -1"),
    ],
)
def test_bad_input_names_the_argument_the_value_and_what_is_accepted(call, message):
    x, y = blobs(20)
    with pytest.raises(ValueError, match=message):
        call(classifier("errors"), x, y)


def test_custom_problem_is_not_registered():
    assert "custom" not in problem_names()
