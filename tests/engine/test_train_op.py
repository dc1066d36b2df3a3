"""optimize_loss in TF 2 mode: the callable train op, its metrics, fused steps and settings."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from olexplore import OPTIMIZER_CLS_NAMES, adaptive_clipping_fn, decay_function, optimize_loss

v1 = tf.compat.v1


def setup_model():
    var = tf.Variable(10.0, name="test")
    return var, (lambda x: tf.abs(var * x))


@pytest.mark.parametrize(
    "optimizer",
    [
        "SGD",
        v1.train.GradientDescentOptimizer,
        lambda lr: v1.train.GradientDescentOptimizer(learning_rate=lr),
        "instance",
        keras.optimizers.SGD,
        "keras-instance",
    ],
    ids=["name", "class", "factory", "instance", "keras-class", "keras-instance"],
)
def test_optimizer_forms_take_one_sgd_step(optimizer):
    var, loss = setup_model()
    if optimizer == "instance":
        optimizer = v1.train.GradientDescentOptimizer(0.1)
    if optimizer == "keras-instance":
        optimizer = keras.optimizers.SGD(0.1)
    train = optimize_loss(loss, None, 0.1, optimizer)
    assert float(train(5.0)) == 50.0
    assert float(var.numpy()) == pytest.approx(9.5)
    assert int(train.global_step.numpy()) == 1
    assert train.global_step.dtype == tf.int64


def test_factory_without_learning_rate():
    var, loss = setup_model()
    train = optimize_loss(loss, None, None, lambda: v1.train.GradientDescentOptimizer(0.1))
    train(5.0)
    assert float(var.numpy()) == pytest.approx(9.5)
    assert train.metrics["learning_rate"] == pytest.approx(0.1)


@pytest.mark.parametrize("name", list(OPTIMIZER_CLS_NAMES))
def test_tf2_mode_equals_graph_mode_for_every_name(name):
    data = np.array([[1.0, 2.0], [-1.0, 0.5], [0.3, -2.0]], np.float32)
    init = np.array([0.5, -1.5], np.float32)
    with tf.Graph().as_default():
        w = v1.get_variable("w", initializer=init)
        x = v1.placeholder(tf.float32, [None, 2])
        step = v1.train.get_or_create_global_step()
        train = optimize_loss(
            tf.reduce_mean(tf.square(tf.linalg.matvec(x, w) - 1.0)),
            step,
            0.05,
            name,
            clip_gradients=1.0,
        )
        with v1.Session() as session:
            session.run(v1.global_variables_initializer())
            for _ in range(4):
                session.run(train, {x: data})
            graph_result = session.run(w)
    w2 = tf.Variable(init)
    op = optimize_loss(
        lambda x: tf.reduce_mean(tf.square(tf.linalg.matvec(x, w2) - 1.0)),
        None,
        0.05,
        name,
        clip_gradients=1.0,
    )
    for _ in range(4):
        op(tf.constant(data))
    np.testing.assert_allclose(w2.numpy(), graph_result, rtol=1e-6, atol=1e-7)
    assert not np.allclose(graph_result, init)


@pytest.mark.parametrize("name", ["AdamW", "Nadam", "Adadelta", "Adamax", "Lion"])
def test_keras_names_train_and_count_steps(name):
    w = tf.Variable([2.0, -3.0])
    train = optimize_loss(lambda: tf.reduce_sum(tf.square(w)), None, 0.05, name)
    first = float(train())
    for _ in range(20):
        train()
    assert first == pytest.approx(13.0)
    assert float(train()) < first
    assert isinstance(train.optimizer, keras.optimizers.Optimizer)
    assert int(train.global_step.numpy()) == 22
    assert train.metrics["learning_rate"] == pytest.approx(0.05)


def test_keras_model_with_v1_adam_matches_a_hand_written_step():
    def model():
        keras.utils.set_random_seed(0)
        return keras.Sequential(
            [keras.Input((3,)), keras.layers.Dense(4, activation="tanh"), keras.layers.Dense(1)]
        )

    x = np.random.RandomState(1).randn(16, 3).astype(np.float32)
    y = x.sum(axis=1, keepdims=True)
    ours, theirs = model(), model()
    train = optimize_loss(lambda x, y: tf.reduce_mean(tf.square(ours(x) - y)), None, 0.01, "Adam")
    adam = v1.train.AdamOptimizer(0.01)
    for _ in range(5):
        train(x, y)
        with tf.GradientTape() as tape:
            loss = tf.reduce_mean(tf.square(theirs(x) - y))
        variables = [v.value for v in theirs.trainable_variables]
        adam.apply_gradients(zip(tape.gradient(loss, variables), variables, strict=True))
    for a, b in zip(ours.trainable_variables, theirs.trainable_variables, strict=True):
        np.testing.assert_allclose(a.numpy(), b.numpy(), rtol=1e-5, atol=1e-6)
    assert [v.name for v in train.variables] == [v.value.name for v in ours.trainable_variables]


def test_metrics_before_and_after_clipping_with_noise_and_multipliers_off():
    w = tf.Variable([3.0, 4.0], name="w")
    b = tf.Variable(1.0, name="b")
    train = optimize_loss(
        lambda: tf.reduce_sum(w * w) / 2 + 2 * b,
        None,
        0.1,
        "SGD",
        clip_gradients=1.0,
        summaries=["gradient_norm"],
    )
    assert train.metrics == {}
    loss = train()
    assert float(loss) == pytest.approx(14.5)
    metrics = train.metrics
    assert metrics == pytest.approx(
        {
            "loss": 14.5,
            "learning_rate": 0.1,
            "global_norm": np.sqrt(9 + 16 + 4),
            "clipped_global_norm": 1.0,
            "gradient_norm/w": 5 / np.sqrt(29),
            "gradient_norm/b": 2 / np.sqrt(29),
        },
        rel=1e-6,
    )
    assert train.metric_names == list(metrics)
    np.testing.assert_allclose(
        w.numpy(), [3 - 0.1 * 3 / np.sqrt(29), 4 - 0.1 * 4 / np.sqrt(29)], rtol=1e-6
    )


def test_global_norm_is_measured_after_multipliers():
    w = tf.Variable([3.0, 4.0], name="w")
    train = optimize_loss(
        lambda: tf.reduce_sum(w * w) / 2, None, 0.1, "SGD", gradient_multipliers={"w": 2.0}
    )
    train()
    assert train.metrics["global_norm"] == pytest.approx(10.0)
    assert "clipped_global_norm" not in train.metrics


@pytest.mark.parametrize("key", ["ref", "layer/kernel", "layer/kernel:0", "layer/.*"])
def test_multiplier_keys(key):
    kernel = tf.Variable([1.0, 1.0], name="layer/kernel")
    bias = tf.Variable(1.0, name="other/bias")
    keys = {"ref": kernel.ref()}  # TF 2 variables are unhashable: dict keys use ref()
    train = optimize_loss(
        lambda: tf.reduce_sum(kernel) + bias,
        None,
        1.0,
        "SGD",
        gradient_multipliers={keys.get(key, key): 0.0},
    )
    train()
    np.testing.assert_array_equal(kernel.numpy(), [1.0, 1.0])
    assert float(bias.numpy()) == 0.0


def test_unknown_multiplier_key_names_the_known_variables():
    kernel = tf.Variable([1.0, 1.0], name="layer/kernel")
    with pytest.raises(ValueError, match=r"gradient_multipliers.*'typo'.*'layer/kernel'"):
        optimize_loss(
            lambda: tf.reduce_sum(kernel), None, 1.0, "SGD", gradient_multipliers={"typo": 0.0}
        )


def test_multipliers_freeze_a_keras_layer_by_pattern():
    keras.utils.set_random_seed(0)
    model = keras.Sequential(
        [
            keras.Input((2,)),
            keras.layers.Dense(3, name="frozen"),
            keras.layers.Dense(1, name="head"),
        ]
    )
    before = [v.numpy().copy() for v in model.trainable_variables]
    x = np.ones((4, 2), np.float32)
    train = optimize_loss(
        lambda x: tf.reduce_mean(model(x) ** 2),
        None,
        0.1,
        "Adam",
        gradient_multipliers={".*frozen.*": 0.0},
    )
    for _ in range(3):
        train(x)
    after = [v.numpy() for v in model.trainable_variables]
    np.testing.assert_array_equal(after[0], before[0])
    np.testing.assert_array_equal(after[1], before[1])
    assert not np.allclose(after[2], before[2])


def test_learning_rate_changes_between_steps_without_retracing():
    var, loss = setup_model()
    train = optimize_loss(loss, None, 0.1, "SGD")
    train(tf.constant(5.0))
    traces = train.tracing_count
    train.learning_rate = 0.2
    assert train.learning_rate == pytest.approx(0.2)
    train(tf.constant(5.0))
    assert float(var.numpy()) == pytest.approx(10 - 0.5 - 1.0)
    assert train.metrics["learning_rate"] == pytest.approx(0.2)
    assert train.tracing_count == traces
    with pytest.raises(ValueError, match="learning_rate: got -1"):
        train.learning_rate = -1
    assert train.learning_rate == pytest.approx(0.2)


def test_learning_rate_of_a_keras_instance_is_settable():
    var, loss = setup_model()
    train = optimize_loss(loss, None, None, keras.optimizers.SGD(0.1))
    train(5.0)
    train.learning_rate = 0.3
    train(5.0)
    assert float(var.numpy()) == pytest.approx(10 - 0.5 - 1.5)


def test_learning_rate_of_a_fixed_v1_instance_is_not_settable():
    var, loss = setup_model()
    train = optimize_loss(loss, None, 0.5, v1.train.GradientDescentOptimizer(0.1))
    train(5.0)
    assert train.learning_rate == pytest.approx(0.1)  # the instance's own rate is what applies
    with pytest.raises(ValueError, match="instance"):
        train.learning_rate = 0.3


def test_learning_rate_variable_is_used_directly():
    var, loss = setup_model()
    rate = tf.Variable(0.1)
    train = optimize_loss(loss, None, rate, "SGD")
    train(5.0)
    rate.assign(0.0)
    train(5.0)
    assert float(var.numpy()) == pytest.approx(9.5)


def test_noise_scale_and_clip_norm_change_between_steps():
    w = tf.Variable(0.0)
    train = optimize_loss(
        lambda: 100.0 * w, None, 1.0, "SGD", clip_gradients=1.0, gradient_noise_scale=0.0
    )
    train()
    assert float(w.numpy()) == pytest.approx(-1.0)
    train.clip_norm = 10
    train()
    assert float(w.numpy()) == pytest.approx(-11.0)
    assert train.clip_norm == 10.0
    train.gradient_noise_scale = 0.5
    train()
    assert train.gradient_noise_scale == 0.5
    with pytest.raises(ValueError, match="clip_gradients"):
        train.clip_norm = 0
    traces = train.tracing_count
    assert traces == 1


def test_settings_that_were_not_built_say_how_to_enable_them():
    var, loss = setup_model()
    train = optimize_loss(loss, None, 0.1, "SGD")
    with pytest.raises(ValueError, match="gradient_noise_scale=0.0"):
        train.gradient_noise_scale = 0.1
    with pytest.raises(ValueError, match="clip_gradients=<float>"):
        train.clip_norm = 1.0
    assert train.gradient_noise_scale is None and train.clip_norm is None


@pytest.mark.parametrize(
    ("name", "params", "expected"),
    [
        ("exponential_decay", {"decay_steps": 2, "decay_rate": 0.5}, [1.0, 0.5**0.5, 0.5]),
        (
            "exponential_decay",
            {"decay_steps": 2, "decay_rate": 0.5, "staircase": True},
            [1.0, 1.0, 0.5],
        ),
        ("inverse_time_decay", {"decay_steps": 1, "decay_rate": 1.0}, [1.0, 0.5, 1 / 3]),
        ("piecewise_constant", {"boundaries": [0, 1], "values": [3.0, 2.0, 1.0]}, [3.0, 2.0, 1.0]),
        ("polynomial_decay", {"decay_steps": 2, "end_learning_rate": 0.0}, [1.0, 0.5, 0.0]),
        ("cosine_decay", {"decay_steps": 2}, [1.0, 0.5, 0.0]),
    ],
)
def test_decay_functions_in_tf2_mode(name, params, expected):
    w = tf.Variable(0.0)
    train = optimize_loss(
        lambda: w, None, 1.0, "SGD", learning_rate_decay_fn=decay_function(name, **params)
    )
    history = train.run_steps(3)
    np.testing.assert_allclose(history["learning_rate"], expected, rtol=1e-6, atol=1e-7)
    assert float(w.numpy()) == pytest.approx(-sum(expected), rel=1e-6)
    assert train.learning_rate == 1.0


def test_tf_compat_decay_functions_work_directly():
    w = tf.Variable(0.0)
    train = optimize_loss(
        lambda: w,
        None,
        0.8,
        "SGD",
        learning_rate_decay_fn=lambda lr, gs: v1.train.exponential_decay(lr, gs, 1, 0.5),
    )
    for _ in range(3):
        train()
    assert train.metrics["learning_rate"] == pytest.approx(0.2)
    assert float(w.numpy()) == pytest.approx(-(0.8 + 0.4 + 0.2))


def test_unknown_decay_name():
    with pytest.raises(ValueError, match="decay: got 'exp'"):
        decay_function("exp")


def test_given_global_step_and_increment_switch():
    var, loss = setup_model()
    step = tf.Variable(7, dtype=tf.int64)
    train = optimize_loss(loss, step, 0.1, "SGD")
    train(5.0)
    assert train.global_step is step and int(step.numpy()) == 8
    frozen = tf.Variable(3, dtype=tf.int32)
    keras_train = optimize_loss(loss, frozen, 0.1, "Nadam", increment_global_step=False)
    keras_train(5.0)
    assert int(frozen.numpy()) == 3


def test_bad_global_step():
    var, loss = setup_model()
    for bad in [3, tf.Variable(0.0), tf.Variable([0], dtype=tf.int64)]:
        with pytest.raises(TypeError, match="global_step"):
            optimize_loss(loss, bad, 0.1, "SGD")


def test_update_ops_run_every_step_before_the_update():
    var, loss = setup_model()
    counter = tf.Variable(0)
    seen_var = tf.Variable(0.0)

    def record():
        counter.assign_add(1)
        seen_var.assign(var)

    train = optimize_loss(loss, None, 0.1, "SGD", update_ops=[record])
    train(5.0)
    train.run_steps(2, 5.0)
    assert int(counter.numpy()) == 3
    assert float(seen_var.numpy()) == pytest.approx(9.0)  # read before the third update
    with pytest.raises(ValueError, match="update_ops"):
        optimize_loss(loss, None, 0.1, "SGD", update_ops=["not callable"])


def test_fused_steps_equal_single_steps():
    def build():
        w = tf.Variable([1.0, -2.0, 0.5])
        x = tf.constant([[1.0, 0.0, 2.0], [0.5, 1.0, -1.0]])
        train = optimize_loss(
            lambda x: tf.reduce_mean(tf.square(tf.linalg.matvec(x, w) - 1)),
            None,
            0.05,
            "Adam",
            clip_gradients=0.5,
            gradient_noise_scale=0.01,
            gradient_noise_seed=11,
        )
        return w, x, train

    w1, x, single = build()
    losses = [float(single(x)) for _ in range(6)]
    w2, x, fused = build()
    history = fused.run_steps(6, x)
    np.testing.assert_allclose(history["loss"], losses, rtol=1e-6)
    np.testing.assert_allclose(w2.numpy(), w1.numpy(), rtol=1e-6)
    assert set(history) == {"loss", "learning_rate", "global_norm", "clipped_global_norm"}
    assert all(len(values) == 6 for values in history.values())
    assert fused.metrics["loss"] == pytest.approx(history["loss"][-1])
    assert int(fused.global_step.numpy()) == 6 and int(fused.iterations.numpy()) == 6
    traces = fused.tracing_count
    fused.run_steps(3, x)
    assert fused.tracing_count == traces
    assert fused.run_steps(0, x)["loss"].shape == (0,)


def test_fused_steps_over_a_dataset_continue_and_stop_at_its_end():
    w = tf.Variable(0.0)
    values = tf.data.Dataset.from_tensor_slices(np.arange(5, dtype=np.float32))
    train = optimize_loss(lambda x: w * x, None, 1.0, "SGD")
    first = train.run_steps(3, data=values)
    rest = train.run_steps(10, data=values)
    np.testing.assert_array_equal(first["global_norm"], [0, 1, 2])
    np.testing.assert_array_equal(rest["global_norm"], [3, 4])
    assert float(w.numpy()) == -10.0
    pairs = tf.data.Dataset.from_tensor_slices((np.ones(3, np.float32), 2 * np.ones(3, np.float32)))
    train2 = optimize_loss(lambda x, y: w * x * y, None, 1.0, "SGD")
    assert len(train2.run_steps(5, data=iter(pairs))["loss"]) == 3
    with pytest.raises(ValueError, match="data: got"):
        train2.run_steps(1, data=[1, 2])


def test_fused_steps_stop_on_divergence():
    w = tf.Variable(1.0)
    train = optimize_loss(lambda: tf.exp(w * w), None, 10.0, "SGD")
    history = train.run_steps(50, stop_on_nonfinite=True)
    assert len(history["loss"]) < 50
    assert not np.isfinite(history["loss"][-1]) or not np.isfinite(history["global_norm"][-1])
    assert np.all(np.isfinite(history["loss"][:-2]))


def test_steps_must_be_a_non_negative_int():
    var, loss = setup_model()
    train = optimize_loss(loss, None, 0.1, "SGD")
    for bad in [-1, 2.5, "3", True]:
        with pytest.raises(ValueError, match="steps"):
            train.run_steps(bad, 5.0)


def test_variables_default_to_those_the_loss_reads():
    used = tf.Variable(1.0, name="used")
    tf.Variable(2.0, name="unused")
    frozen = tf.Variable(3.0, name="frozen", trainable=False)
    train = optimize_loss(lambda: used * frozen, None, 0.1, "SGD")
    assert [v.name for v in train.variables] == ["used:0"]


def test_variables_discovered_on_first_call_when_the_loss_takes_arguments():
    var, loss = setup_model()
    train = optimize_loss(loss, None, 0.1, "SGD")
    assert train.variables is None
    train(5.0)
    assert [v.name for v in train.variables] == ["test:0"]


def test_none_gradients_pass_through_and_all_none_is_an_error():
    var, loss = setup_model()
    unused = tf.Variable(3.0, name="unused")
    train = optimize_loss(
        loss,
        None,
        0.1,
        "SGD",
        variables=[var, unused],
        clip_gradients=1.0,
        gradient_noise_scale=1.0,
        gradient_multipliers={unused.ref(): 2.0},
        summaries=["gradient_norm"],
    )
    train(5.0)
    assert float(unused.numpy()) == 3.0
    assert train.metrics["gradient_norm/unused"] == 0.0
    only_unused = optimize_loss(loss, None, 0.1, "SGD", variables=[unused])
    with pytest.raises(ValueError, match="No gradients"):
        only_unused(5.0)


def test_loss_must_be_a_float_scalar():
    w = tf.Variable([1.0, 2.0])
    with pytest.raises(ValueError, match="float scalar"):
        optimize_loss(lambda: w * 2, None, 0.1, "SGD")()


def test_eager_tensor_loss_is_rejected_with_advice():
    w = tf.Variable(1.0)
    with pytest.raises(ValueError, match="callable"):
        optimize_loss(w * 2.0, None, 0.1, "SGD")


def test_train_op_inside_a_user_tf_function():
    var, loss = setup_model()
    train = optimize_loss(loss, None, 0.1, "SGD")
    train(5.0)

    @tf.function
    def two_steps():
        train(tf.constant(5.0))
        return train(tf.constant(5.0))

    assert float(two_steps()) == pytest.approx(abs(9.0 * 5.0))
    assert float(var.numpy()) == pytest.approx(8.5)


def test_loss_may_use_python_control_flow_on_tensors():
    w = tf.Variable(2.0)

    def loss():
        if w > 0:  # autograph turns this into tf.cond
            return w * w
        return -w

    train = optimize_loss(loss, None, 0.25, "SGD")
    train.run_steps(2)
    assert float(w.numpy()) == pytest.approx(0.5)


def test_sparse_gradients_stay_sparse_in_tf2_mode():
    table = tf.Variable(np.ones((4, 2), np.float32))
    kinds = []

    def record(pairs):
        kinds.append(type(pairs[0][0]).__name__)
        return pairs

    train = optimize_loss(
        lambda: tf.reduce_sum(tf.gather(table, [0, 2]) * 3.0),
        None,
        0.1,
        "SGD",
        gradient_multipliers={table.ref(): 2.0},
        clip_gradients=record,
    )
    train()
    assert kinds == ["IndexedSlices"]
    np.testing.assert_allclose(table.numpy(), [[0.4, 0.4], [1, 1], [0.4, 0.4], [1, 1]])


def test_adaptive_clipping_in_tf2_mode_matches_tf1_numbers():
    var, loss = setup_model()
    clip = adaptive_clipping_fn()
    train = optimize_loss(loss, None, 0.1, "SGD", clip_gradients=clip)
    train(5.0)
    assert float(var.numpy()) == pytest.approx(9.8916, abs=1e-4)
    assert train.metrics["adaptive_max_gradient_norm"] == pytest.approx(2.1858, abs=1e-3)
    assert train.metrics["clipped_global_norm"] == pytest.approx(np.exp(0.05 * np.log(5)), rel=1e-5)


def test_seeded_noise_reproduces_and_unseeded_differs():
    def run(seed):
        w = tf.Variable([0.0, 0.0])
        train = optimize_loss(
            lambda: tf.reduce_sum(w),
            None,
            1.0,
            "SGD",
            gradient_noise_scale=0.1,
            gradient_noise_seed=seed,
        )
        train.run_steps(5)
        return w.numpy()

    np.testing.assert_array_equal(run(4), run(4))
    assert not np.array_equal(run(4), run(5))


def test_fused_steps_record_extra_values_after_each_step():
    w = tf.Variable([1.0, 2.0])
    train = optimize_loss(lambda: tf.reduce_sum(w * w) / 2, None, 0.5, "SGD")

    def position():
        return {"position": w.read_value(), "first": w[0]}

    history = train.run_steps(3, record=position)
    np.testing.assert_allclose(history["position"], [[0.5, 1.0], [0.25, 0.5], [0.125, 0.25]])
    np.testing.assert_allclose(history["first"], [0.5, 0.25, 0.125])
    np.testing.assert_allclose(history["loss"], [2.5, 0.625, 0.15625])


@pytest.mark.parametrize(
    "instance",
    [
        v1.train.AdamOptimizer(0.25),
        v1.train.MomentumOptimizer(0.25, 0.9),
        keras.optimizers.Adam(0.25),
    ],
    ids=["v1-adam", "v1-momentum", "keras-adam"],
)
def test_learning_rate_metric_of_optimizer_instances(instance):
    var, loss = setup_model()
    train = optimize_loss(loss, None, None, instance)
    train(5.0)
    assert train.metrics["learning_rate"] == pytest.approx(0.25)
    assert train.learning_rate == pytest.approx(0.25)


def test_learning_rate_variable_of_a_v1_instance_is_settable():
    var, loss = setup_model()
    rate = tf.Variable(0.1)
    train = optimize_loss(loss, None, None, v1.train.AdamOptimizer(rate))
    train(5.0)
    train.learning_rate = 0.5
    assert float(rate.numpy()) == 0.5


@pytest.mark.parametrize(
    ("name", "params", "message"),
    [
        (
            "exponential_decay",
            {"decay_steps": 10, "decay_rat": 0.5},
            "decay: exponential_decay got parameters ['decay_rat', 'decay_steps'] (unknown "
            "['decay_rat']); accepted: ['decay_steps', 'decay_rate', 'staircase'], of which "
            "['decay_steps', 'decay_rate'] are required.",
        ),
        (
            "piecewise_constant",
            {"boundaries": [10]},
            "decay: piecewise_constant got parameters ['boundaries'] (missing ['values']); "
            "accepted: ['boundaries', 'values'], of which ['boundaries', 'values'] are required.",
        ),
    ],
)
def test_decay_function_checks_its_parameters_when_built(name, params, message):
    with pytest.raises(ValueError) as error:
        decay_function(name, **params)
    assert str(error.value) == message


@pytest.mark.parametrize(
    ("arguments", "shown"),
    [
        ({"steps": 2**31}, "steps: got 2147483648 (int); accepted: an int from 0 to 2**31 - 1"),
        ({"steps": 3, "record": "w"}, "record: got 'w' (str); accepted: None or a function"),
        ({"steps": 3, "stop_on_nonfinite": "no"}, "stop_on_nonfinite: got 'no' (str)"),
    ],
)
def test_run_steps_rejects_bad_arguments_before_running(arguments, shown):
    w = tf.Variable(3.0)
    train = optimize_loss(lambda: w * w, None, 0.25, "SGD")
    with pytest.raises(ValueError) as error:
        train.run_steps(arguments.pop("steps"), **arguments)
    assert str(error.value).startswith(shown)
    assert int(train.global_step) == 0 and float(w.numpy()) == 3.0
