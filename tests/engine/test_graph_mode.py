"""optimize_loss in tf.compat.v1 graph mode: TF 1's behaviour, with TF 1's numbers.

The model of TF 1's own tests: loss = |var * x| with var = 10 and x = 5, so the gradient is 5 and
one SGD step at learning rate 0.1 gives 9.5.
"""

import numpy as np
import pytest
import tensorflow as tf

from olexplore import OPTIMIZER_CLS_NAMES, adaptive_clipping_fn, optimize_loss

v1 = tf.compat.v1


def setup_model(with_step=True):
    x = v1.placeholder(tf.float32, [])
    var = v1.get_variable("test", [], initializer=v1.constant_initializer(10.0))
    loss = tf.abs(var * x)
    global_step = None
    if with_step:
        global_step = v1.get_variable(
            "global_step",
            [],
            dtype=tf.int64,
            trainable=False,
            initializer=v1.constant_initializer(0, dtype=tf.int64),
        )
    return x, var, loss, global_step


def run_one_step(session, train, x, feed=None):
    session.run(v1.global_variables_initializer())
    return session.run(train, {x: 5.0, **(feed or {})})


@pytest.mark.parametrize(
    "optimizer",
    [
        "SGD",
        v1.train.GradientDescentOptimizer,
        lambda lr: v1.train.GradientDescentOptimizer(learning_rate=lr),
        "instance",
    ],
    ids=["name", "class", "factory", "instance"],
)
def test_four_optimizer_forms_take_one_sgd_step(session, optimizer):
    x, var, loss, global_step = setup_model()
    if optimizer == "instance":
        optimizer = v1.train.GradientDescentOptimizer(learning_rate=0.1)
    train = optimize_loss(loss, global_step, learning_rate=0.1, optimizer=optimizer)
    loss_value = run_one_step(session, train, x)
    assert loss_value == pytest.approx(50.0)  # the loss of the same run, before the update
    assert session.run(var) == pytest.approx(9.5)
    assert session.run(global_step) == 1


def test_returns_a_tensor_not_an_operation(session):
    x, _, loss, global_step = setup_model()
    train = optimize_loss(loss, global_step, 0.1, "SGD")
    assert isinstance(train, tf.Tensor)
    assert train.shape.rank == 0


def test_factory_without_learning_rate_is_called_with_no_argument(session):
    x, var, loss, global_step = setup_model()
    train = optimize_loss(
        loss,
        global_step,
        learning_rate=None,
        optimizer=lambda: v1.train.GradientDescentOptimizer(0.1),
    )
    run_one_step(session, train, x)
    assert session.run(var) == pytest.approx(9.5)
    names = [v.name for v in v1.global_variables()]
    assert "OptimizeLoss/learning_rate:0" not in names


def test_optimizer_table_maps_to_v1_classes_with_tf1_defaults(graph):
    expected = {
        "Adagrad": v1.train.AdagradOptimizer,
        "Adam": v1.train.AdamOptimizer,
        "Ftrl": v1.train.FtrlOptimizer,
        "Momentum": v1.train.MomentumOptimizer,
        "RMSProp": v1.train.RMSPropOptimizer,
        "SGD": v1.train.GradientDescentOptimizer,
    }
    assert list(OPTIMIZER_CLS_NAMES) == list(expected)
    for name, cls in expected.items():
        built = OPTIMIZER_CLS_NAMES[name](learning_rate=0.1)
        assert type(built) is cls
    assert OPTIMIZER_CLS_NAMES["Momentum"](learning_rate=0.1)._momentum == 0.9
    assert OPTIMIZER_CLS_NAMES["Adam"](learning_rate=0.1)._epsilon == 1e-8


@pytest.mark.parametrize("name", list(OPTIMIZER_CLS_NAMES))
def test_every_named_optimizer_matches_its_v1_class_by_hand(graph, name):
    x = v1.placeholder(tf.float32, [])
    var = v1.get_variable("w", [2], initializer=v1.constant_initializer([1.0, -2.0]))
    twin = v1.get_variable("twin", [2], initializer=v1.constant_initializer([1.0, -2.0]))
    step = v1.train.get_or_create_global_step()
    train = optimize_loss(tf.reduce_sum(tf.square(var * x)), step, 0.05, name, summaries=[])
    by_hand = OPTIMIZER_CLS_NAMES[name](learning_rate=0.05).minimize(
        tf.reduce_sum(tf.square(twin * x)), var_list=[twin]
    )
    with v1.Session() as session:
        session.run(v1.global_variables_initializer())
        for _ in range(3):
            session.run([train, by_hand], {x: 1.5})
        np.testing.assert_allclose(*session.run([var, twin]), rtol=1e-6)
        assert not np.allclose(session.run(var), [1.0, -2.0])
        assert session.run(step) == 3


@pytest.mark.parametrize(
    "optimizer",
    ["blah", tf.Variable, object(), lambda lr: None],
    ids=["name", "class", "obj", "fn"],
)
def test_wrong_optimizer_is_a_value_error_naming_it(graph, optimizer):
    _, _, loss, global_step = setup_model()
    with pytest.raises(ValueError, match="optimizer"):
        optimize_loss(loss, global_step, learning_rate=0.1, optimizer=optimizer)


def test_keras_optimizer_in_graph_mode_says_why(graph):
    import keras

    _, _, loss, global_step = setup_model()
    with pytest.raises(ValueError, match="graph mode"):
        optimize_loss(loss, global_step, 0.1, keras.optimizers.SGD(0.1))
    with pytest.raises(ValueError, match="graph mode"):
        optimize_loss(loss, global_step, 0.1, "AdamW")


@pytest.mark.parametrize("optimizer", ["SGD", v1.train.GradientDescentOptimizer])
def test_name_or_class_needs_a_learning_rate(graph, optimizer):
    _, _, loss, global_step = setup_model()
    with pytest.raises(ValueError, match="learning_rate: got None"):
        optimize_loss(loss, global_step, learning_rate=None, optimizer=optimizer)


def test_bad_summary_name(graph):
    _, _, loss, global_step = setup_model()
    with pytest.raises(ValueError, match="bad_summary"):
        optimize_loss(loss, global_step, 0.1, "SGD", summaries=["loss", "bad_summary"])


def test_invalid_loss(graph):
    _, _, _, global_step = setup_model()
    with pytest.raises(ValueError, match="loss: got None"):
        optimize_loss(None, global_step, 0.1, "SGD")
    with pytest.raises(ValueError, match="scalar"):
        optimize_loss([[1.0]], global_step, 0.1, "SGD")
    unknown_rank = v1.placeholder(tf.float32)
    with pytest.raises(ValueError, match="scalar"):
        optimize_loss(unknown_rank, global_step, 0.1, "SGD")


def test_invalid_global_step(graph):
    _, _, loss, _ = setup_model(with_step=False)
    float_step = v1.get_variable("float_step", [], dtype=tf.float64, trainable=False)
    with pytest.raises(TypeError, match="integer"):
        optimize_loss(loss, float_step, 0.1, "SGD")
    vector_step = v1.get_variable("vector_step", [1], dtype=tf.int64, trainable=False)
    with pytest.raises(TypeError, match="scalar"):
        optimize_loss(loss, vector_step, 0.1, "SGD")
    with pytest.raises(TypeError, match="Variable or Tensor"):
        optimize_loss(loss, 3, 0.1, "SGD")


@pytest.mark.parametrize("bad", [-0.1, "0.1", [0.1], float("nan")])
def test_invalid_learning_rate(graph, bad):
    _, _, loss, global_step = setup_model()
    with pytest.raises(ValueError, match="learning_rate: got"):
        optimize_loss(loss, global_step, bad, "SGD")


def test_non_scalar_learning_rate_tensor_is_rejected(graph):
    _, _, loss, global_step = setup_model()
    with pytest.raises(ValueError, match="learning_rate"):
        optimize_loss(loss, global_step, tf.constant([0.1, 0.2]), "SGD")


def test_int_learning_rate_and_zero_are_accepted(session):
    x, var, loss, global_step = setup_model()
    train = optimize_loss(loss, global_step, 0, "SGD")
    run_one_step(session, train, x)
    assert session.run(var) == pytest.approx(10.0)
    assert session.run(global_step) == 1
    (lr,) = [v for v in v1.global_variables() if v.name == "OptimizeLoss/learning_rate:0"]
    assert lr.dtype.base_dtype == tf.float32


def test_learning_rate_tensor_is_used_as_is(session):
    x, var, loss, global_step = setup_model()
    lr = v1.placeholder(tf.float32, [])
    train = optimize_loss(loss, global_step, lr, "SGD")
    run_one_step(session, train, x, {lr: 0.2})
    assert session.run(var) == pytest.approx(9.0)


def test_learning_rate_variable_is_not_trainable(session):
    x, _, loss, global_step = setup_model()
    optimize_loss(loss, global_step, 0.1, "SGD")
    trainable = [v.name for v in v1.trainable_variables()]
    assert trainable == ["test:0"]
    assert "OptimizeLoss/learning_rate:0" in [v.name for v in v1.global_variables()]


def test_gradient_clip_by_global_norm(session):
    x, var, loss, global_step = setup_model()
    train = optimize_loss(loss, global_step, 0.1, "SGD", clip_gradients=0.1)
    run_one_step(session, train, x)
    assert session.run(var) == pytest.approx(9.99)


def test_clip_gradients_rejects_other_types(graph):
    _, _, loss, global_step = setup_model()
    for bad in ["5", 0.0, -1.0, [1.0]]:
        with pytest.raises(ValueError, match="clip_gradients"):
            optimize_loss(loss, global_step, 0.1, "SGD", clip_gradients=bad)


def test_clip_gradients_callable_receives_and_returns_pairs(session):
    x, var, loss, global_step = setup_model()
    seen = []

    def halve(grads_and_vars):
        seen.append(list(grads_and_vars))
        return [(g / 2.0, v) for g, v in grads_and_vars]

    train = optimize_loss(loss, global_step, 0.1, "SGD", clip_gradients=halve)
    run_one_step(session, train, x)
    assert session.run(var) == pytest.approx(9.75)
    assert [v.name for _, v in seen[0]] == ["test:0"]


def test_adaptive_gradient_clip_matches_tf1(session):
    x, var, loss, global_step = setup_model()
    train = optimize_loss(loss, global_step, 0.1, "SGD", clip_gradients=adaptive_clipping_fn())
    run_one_step(session, train, x)
    # TF 1's testAdaptiveGradientClip: 9.8916, and exactly two state variables.
    assert session.run(var) == pytest.approx(9.8916, abs=1e-4)
    assert session.run(global_step) == 1
    state = [v.name for v in v1.global_variables() if v.name.startswith("OptimizeLoss/Adaptive")]
    assert state == [
        "OptimizeLoss/AdaptiveMaxNorm/mean:0",
        "OptimizeLoss/AdaptiveMaxNorm/sq_mean:0",
    ]


def test_gradient_multiply_by_variable_and_by_name(session):
    x, var, loss, global_step = setup_model()
    train = optimize_loss(loss, global_step, 0.1, "SGD", gradient_multipliers={var: 7.0})
    run_one_step(session, train, x)
    assert session.run(var) == pytest.approx(6.5)


@pytest.mark.parametrize("key", ["test:0", "test", "te.t"])
def test_gradient_multiplier_name_keys(session, key):
    x, var, loss, global_step = setup_model()
    train = optimize_loss(loss, global_step, 0.1, "SGD", gradient_multipliers={key: 7.0})
    run_one_step(session, train, x)
    assert session.run(var) == pytest.approx(6.5)


@pytest.mark.parametrize("dtype", [tf.float32, tf.float64])
def test_gradient_multiplier_placeholder(session, dtype):
    x, var, loss, global_step = setup_model()
    multiplier = v1.placeholder(dtype, [])
    train = optimize_loss(loss, global_step, 0.1, "SGD", gradient_multipliers={var: multiplier})
    run_one_step(session, train, x, {multiplier: 7.0})
    assert session.run(var) == pytest.approx(6.5)


def test_gradient_multiplier_unknown_key_lists_variables(graph):
    _, _, loss, global_step = setup_model()
    with pytest.raises(ValueError, match="'test'"):
        optimize_loss(loss, global_step, 0.1, "SGD", gradient_multipliers={"nothing": 2.0})


def test_gradient_noise_with_clipping_clips_after_noise(session):
    x, var, loss, global_step = setup_model()
    train = optimize_loss(
        loss,
        global_step,
        0.1,
        "SGD",
        gradient_noise_scale=1000.0,
        gradient_noise_seed=7,
        clip_gradients=10.0,
    )
    run_one_step(session, train, x)
    # Noise pushes |gradient| far above 10; clipping brings it back to exactly 10.
    assert abs(session.run(var) - 10.0) == pytest.approx(1.0, abs=1e-5)


def test_gradient_noise_is_seeded_and_bounded(graph):
    x, var, _, global_step = setup_model()
    loss = var * x  # gradient exactly 5 everywhere
    train = optimize_loss(
        loss, global_step, 1.0, "SGD", gradient_noise_scale=0.5, gradient_noise_seed=3
    )
    values = []
    for _ in range(2):
        with v1.Session() as session:
            session.run(v1.global_variables_initializer())
            steps = []
            for _ in range(20):
                before = session.run(var)
                session.run(train, {x: 5.0})
                steps.append(before - session.run(var))  # = 5 + noise, lr 1
            values.append(np.array(steps))
    np.testing.assert_array_equal(values[0], values[1])
    noise = values[0] - 5.0
    assert np.all(np.abs(noise) < 1.0)
    assert noise.std() > 0.1


def test_variables_without_gradient_pass_through_every_transform(session):
    x, var, loss, global_step = setup_model()
    unused = v1.get_variable("unused", [], initializer=v1.constant_initializer(3.0))
    train = optimize_loss(
        loss,
        global_step,
        0.1,
        "SGD",
        gradient_noise_scale=1.0,
        gradient_multipliers={unused: 2.0},
        clip_gradients=adaptive_clipping_fn(),
        variables=[var, unused],
    )
    run_one_step(session, train, x)
    assert session.run(unused) == 3.0
    assert session.run(var) != 10.0


def test_update_ops_run_with_the_step(session):
    x, var, loss, global_step = setup_model()
    update_var = v1.get_variable("update", [], initializer=v1.constant_initializer(10.0))
    update_op = v1.assign(update_var, 20.0)
    train = optimize_loss(loss, global_step, 0.1, "SGD", update_ops=[update_op])
    run_one_step(session, train, x)
    assert session.run(update_var) == 20.0
    assert session.run(var) == pytest.approx(9.5)


def test_update_ops_come_from_the_collection_and_empty_list_disables_it(graph):
    x, var, loss, global_step = setup_model()
    counter = v1.get_variable("counter", [], initializer=v1.constant_initializer(0.0))
    v1.add_to_collection(v1.GraphKeys.UPDATE_OPS, v1.assign_add(counter, 1.0))
    from_collection = optimize_loss(loss, global_step, 0.1, "SGD")
    disabled = optimize_loss(loss, global_step, 0.1, "SGD", update_ops=[])
    with v1.Session() as session:
        session.run(v1.global_variables_initializer())
        session.run(from_collection, {x: 5.0})
        assert session.run(counter) == 1.0
        session.run(disabled, {x: 5.0})
        assert session.run(counter) == 1.0


def test_no_increment_global_step(session):
    x, var, loss, global_step = setup_model()
    train = optimize_loss(loss, global_step, 0.1, "SGD", increment_global_step=False)
    run_one_step(session, train, x)
    assert session.run(global_step) == 0
    assert session.run(var) == pytest.approx(9.5)


def test_decay_fn_uses_the_global_step(session):
    x, var, loss, global_step = setup_model()
    seen = []

    def decay(lr, step):
        seen.append(step)
        return lr * 0.5

    train = optimize_loss(loss, global_step, 0.1, "SGD", learning_rate_decay_fn=decay)
    run_one_step(session, train, x)
    assert seen == [global_step]
    assert session.run(var) == pytest.approx(9.75)


def test_tf_compat_decay_function_in_graph_mode(session):
    x, var, loss, global_step = setup_model()
    train = optimize_loss(
        loss,
        global_step,
        0.1,
        "SGD",
        learning_rate_decay_fn=lambda lr, gs: v1.train.exponential_decay(lr, gs, 1, 0.5),
    )
    session.run(v1.global_variables_initializer())
    session.run(train, {x: 5.0})  # step 0: lr 0.1
    session.run(train, {x: 5.0})  # step 1: lr 0.05
    assert session.run(var) == pytest.approx(10 - 0.5 - 0.25)


def test_decay_without_global_step_is_an_error(graph):
    _, _, loss, _ = setup_model(with_step=False)
    with pytest.raises(ValueError, match="global_step is required"):
        optimize_loss(loss, None, 0.1, "SGD", learning_rate_decay_fn=lambda lr, gs: lr)


def test_decay_is_ignored_without_learning_rate(session):
    x, var, loss, _ = setup_model(with_step=False)
    train = optimize_loss(
        loss,
        None,
        None,
        v1.train.GradientDescentOptimizer(0.1),
        learning_rate_decay_fn=lambda lr, gs: 1 / 0,
    )
    run_one_step(session, train, x)
    assert session.run(var) == pytest.approx(9.5)


def test_unregistered_global_step_variable_is_found(session):
    x, var, loss, _ = setup_model(with_step=False)
    step = v1.get_variable(
        "global_step", [], dtype=tf.int64, trainable=False, initializer=v1.zeros_initializer()
    )
    train = optimize_loss(loss, None, 0.1, "SGD")
    run_one_step(session, train, x)
    assert session.run(step) == 1


def test_registered_global_step_is_found(session):
    x, var, loss, _ = setup_model(with_step=False)
    step = v1.train.get_or_create_global_step()
    train = optimize_loss(loss, None, 0.1, "SGD")
    run_one_step(session, train, x)
    assert session.run(step) == 1


def test_without_any_global_step_no_step_is_counted(session):
    x, var, loss, _ = setup_model(with_step=False)
    train = optimize_loss(loss, None, 0.1, "SGD")
    run_one_step(session, train, x)
    assert session.run(var) == pytest.approx(9.5)


def test_all_gradients_none_is_an_error(graph):
    _, _, loss, global_step = setup_model()
    unused = v1.get_variable("unused", [], initializer=v1.constant_initializer(3.0))
    with pytest.raises(ValueError, match="No gradients"):
        optimize_loss(loss, global_step, 0.1, "SGD", variables=[unused])


def test_scope_names_and_uniquified_repeat_calls(graph):
    _, _, loss, global_step = setup_model()
    optimize_loss(loss, global_step, 0.1, "SGD")
    optimize_loss(loss, global_step, 0.1, "SGD")
    optimize_loss(loss, global_step, 0.1, "SGD", name="Mine")
    names = [v.name for v in v1.global_variables() if "learning_rate" in v.name]
    assert names == [
        "OptimizeLoss/learning_rate:0",
        "OptimizeLoss_1/learning_rate:0",
        "Mine/learning_rate:0",
    ]


def test_summary_tags(graph):
    _, var, loss, global_step = setup_model()
    optimize_loss(
        loss,
        global_step,
        0.1,
        "SGD",
        clip_gradients=adaptive_clipping_fn(report_summary=True),
        summaries=["loss", "learning_rate", "gradients", "gradient_norm", "global_gradient_norm"],
    )
    tags = {op.name: op.type for op in graph.get_operations() if op.type.endswith("Summary")}
    assert tags == {
        "OptimizeLoss/learning_rate_1": "ScalarSummary",  # the variable took the plain name
        "OptimizeLoss/loss": "ScalarSummary",
        "OptimizeLoss/global_norm/gradient_norm": "ScalarSummary",
        "OptimizeLoss/global_norm/clipped_gradient_norm": "ScalarSummary",
        "OptimizeLoss/global_norm/adaptive_max_gradient_norm": "ScalarSummary",
        "OptimizeLoss/gradient_norm/test_0": "ScalarSummary",
        "OptimizeLoss/gradients/test_0": "HistogramSummary",
    }
    assert len(v1.get_collection(v1.GraphKeys.SUMMARIES)) == 7


def test_summary_values_before_and_after_clipping(graph):
    x, _, loss, global_step = setup_model()
    train = optimize_loss(
        loss,
        global_step,
        0.1,
        "SGD",
        clip_gradients=2.0,
        summaries=["global_gradient_norm", "gradient_norm", "loss"],
    )
    merged = v1.summary.merge_all()
    with v1.Session() as session:
        session.run(v1.global_variables_initializer())
        _, serialized = session.run([train, merged], {x: 5.0})
    summary = v1.Summary.FromString(serialized)
    values = {value.tag: value.simple_value for value in summary.value}
    assert values == pytest.approx(
        {
            "OptimizeLoss/global_norm/gradient_norm": 5.0,
            "OptimizeLoss/global_norm/clipped_gradient_norm": 2.0,
            "OptimizeLoss/gradient_norm/test_0": 2.0,
            "OptimizeLoss/loss": 50.0,
        }
    )


def test_no_learning_rate_summary_without_learning_rate(graph):
    _, _, loss, global_step = setup_model()
    optimize_loss(loss, global_step, None, lambda: v1.train.GradientDescentOptimizer(0.1))
    tags = [op.name for op in graph.get_operations() if op.type == "ScalarSummary"]
    assert "OptimizeLoss/learning_rate" not in " ".join(tags)


def test_sparse_gradients_stay_sparse_through_multipliers_and_clipping(session):
    table = v1.get_variable("table", [4, 2], initializer=v1.ones_initializer())
    ids = tf.constant([0, 2])
    loss = tf.reduce_sum(tf.nn.embedding_lookup(table, ids) * 3.0)
    global_step = v1.train.get_or_create_global_step()
    kinds = []

    def record(grads_and_vars):
        kinds.append(type(grads_and_vars[0][0]).__name__)
        return grads_and_vars

    train = optimize_loss(
        loss, global_step, 0.1, "SGD", gradient_multipliers={table: 2.0}, clip_gradients=record
    )
    session.run(v1.global_variables_initializer())
    session.run(train)
    assert kinds == ["IndexedSlices"]
    np.testing.assert_allclose(session.run(table), [[0.4, 0.4], [1, 1], [0.4, 0.4], [1, 1]])
