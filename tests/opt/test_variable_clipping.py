"""VariableClippingOptimizer in graph mode (as in TF 1) and in TF 2 mode; contrib-spec §2.4.

Numbers are derived by hand from TF 1's own test: SGD with learning rate 3, gradients 0.1 (0.01
for the unclipped var1), max norm 2; a slice over the limit is rescaled to norm 2.
"""

import warnings

import keras
import numpy as np
import pytest

from olexplore._tensorflow import tf
from olexplore.opt import MovingAverageOptimizer, VariableClippingOptimizer

DTYPES = [tf.float16, tf.float32, tf.float64]
TOLERANCE = {tf.float16: 2e-3, tf.float32: 1e-6, tf.float64: 1e-12}


def assert_close(actual, expected, dtype=tf.float32):
    tol = TOLERANCE[dtype]
    np.testing.assert_allclose(np.asarray(actual, np.float64), expected, rtol=tol, atol=tol)


def to_norm(vector, norm=2.0):
    vector = np.asarray(vector, np.float64)
    return norm * vector / np.linalg.norm(vector)


def sgd(learning_rate=3.0):
    return tf.compat.v1.train.GradientDescentOptimizer(learning_rate)


# Dense: var0 rows are clipped along dimension 1, var1 is not clipped.
DENSE0, DENSE1 = [[0.0, 1.0], [2.0, 3.0]], [4.0, 5.0]
DENSE0_AFTER = [[-0.3, 0.7], to_norm([1.7, 2.7])]  # row 0 has norm 0.76 < 2: kept
DENSE1_AFTER = [3.97, 4.97]

# Sparse: a gradient for rows 0 and 2; var0 clipped along dimension 1 (its touched rows only),
# var1 along dimension 0 (its columns, which needs the whole variable).
SPARSE0 = [[0.0, 1.0], [2.0, 3.0], [4.0, 5.0]]
SPARSE1 = [[0.0, 1.0], [0.0, 3.0], [0.0, 5.0]]
SPARSE0_AFTER = [[-0.3, 0.7], [2.0, 3.0], to_norm([3.7, 4.7])]  # row 1 (norm 3.6) untouched
SPARSE1_AFTER = np.transpose([[-0.3, 0.0, -0.3], to_norm([0.7, 3.0, 4.7])])


def dense_setup(dtype, opt_factory=None, **kwargs):
    var0 = tf.Variable(DENSE0, dtype=dtype, name="var0")
    var1 = tf.Variable(DENSE1, dtype=dtype, name="var1")
    grads = [tf.fill([2, 2], tf.constant(0.1, dtype)), tf.fill([2], tf.constant(0.01, dtype))]
    keys = kwargs.pop("keys", None) or {var0: [1]}
    opt = VariableClippingOptimizer((opt_factory or sgd)(), keys, 2.0, **kwargs)
    return var0, var1, opt, list(zip(grads, [var0, var1], strict=True))


def sparse_grads(dtype, indices=(0, 2)):
    values = tf.fill([len(indices), 2], tf.constant(0.1, dtype))
    return tf.IndexedSlices(values, tf.constant(indices), tf.constant([3, 2]))


def run_graph(update_op, variables, steps=1):
    with tf.compat.v1.Session() as sess:
        sess.run(tf.compat.v1.global_variables_initializer())
        for _ in range(steps):
            sess.run(update_op)
        return sess.run(variables)


class TestGraphMode:
    @pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: d.name)
    def test_dense(self, dtype):
        with tf.Graph().as_default():
            var0, var1, opt, pairs = dense_setup(dtype)
            out0, out1 = run_graph(opt.apply_gradients(pairs), [var0, var1])
        assert_close(out0, DENSE0_AFTER, dtype)
        assert_close(out1, DENSE1_AFTER, dtype)

    @pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: d.name)
    def test_sparse(self, dtype):
        with tf.Graph().as_default():
            var0 = tf.Variable(SPARSE0, dtype=dtype, name="var0")
            var1 = tf.Variable(SPARSE1, dtype=dtype, name="var1")
            opt = VariableClippingOptimizer(sgd(), {var0: [1], var1: [0]}, 2.0)
            grads = sparse_grads(dtype)
            with pytest.warns(UserWarning, match="'var1' across dimensions \\[0\\].*inefficient"):
                update = opt.apply_gradients([(grads, var0), (grads, var1)])
            out0, out1 = run_graph(update, [var0, var1])
        assert_close(out0, SPARSE0_AFTER, dtype)
        assert_close(out1, SPARSE1_AFTER, dtype)

    def test_sparse_clips_a_repeated_row_once(self):
        with tf.Graph().as_default():
            var0 = tf.Variable(SPARSE0, name="var0")
            opt = VariableClippingOptimizer(sgd(), {var0: [1]}, 2.0)
            update = opt.apply_gradients([(sparse_grads(tf.float32, indices=(2, 2)), var0)])
            (out,) = run_graph(update, [var0])
        # Row 2 gets both gradients (4 - 0.6, 5 - 0.6), then is clipped once.
        assert_close(out, [[0.0, 1.0], [2.0, 3.0], to_norm([3.4, 4.4])])

    def test_sparse_dimension_zero_as_a_negative_dimension(self):
        with tf.Graph().as_default():
            var1 = tf.Variable(SPARSE1, name="var1")
            opt = VariableClippingOptimizer(sgd(), {var1: [-2]}, 2.0)
            with pytest.warns(UserWarning, match="inefficient"):
                update = opt.apply_gradients([(sparse_grads(tf.float32), var1)])
            (out,) = run_graph(update, [var1])
        assert_close(out, SPARSE1_AFTER)

    def test_clip_over_all_dimensions(self):
        with tf.Graph().as_default():
            var0, var1, opt, pairs = dense_setup(tf.float32, keys={"var0": [0, 1]})
            out0, _ = run_graph(opt.apply_gradients(pairs), [var0, var1])
        assert_close(out0, to_norm([[-0.3, 0.7], [1.7, 2.7]]))

    def test_several_steps(self):
        with tf.Graph().as_default():
            var0, var1, opt, pairs = dense_setup(tf.float32)
            out0, _ = run_graph(opt.apply_gradients(pairs), [var0, var1], steps=2)
        # Row 1 is clipped to norm 2 after step 1; after step 2 its norm is 1.59: kept.
        after_two = to_norm([1.7, 2.7]) - 0.3
        assert np.linalg.norm(after_two) < 2.0
        assert_close(out0, [[-0.6, 0.4], after_two])

    @pytest.mark.parametrize(
        "kwargs, apply_name, expected",
        [({}, None, "VariableClipping"), ({"name": "Clip"}, None, "Clip"), ({}, "train", "train")],
    )
    def test_name_of_the_returned_op(self, kwargs, apply_name, expected):
        with tf.Graph().as_default():
            _, _, opt, pairs = dense_setup(tf.float32, **kwargs)
            assert opt.apply_gradients(pairs, name=apply_name).name == expected

    def test_nothing_to_clip_still_updates(self):
        with tf.Graph().as_default():
            var0, var1, _, pairs = dense_setup(tf.float32)
            opt = VariableClippingOptimizer(sgd(), {}, 2.0)
            out0, out1 = run_graph(opt.apply_gradients(pairs), [var0, var1])
        assert_close(out0, np.array(DENSE0) - 0.3)
        assert_close(out1, DENSE1_AFTER)

    def test_variable_without_gradient_is_skipped(self):
        with tf.Graph().as_default():
            var0, var1, _, pairs = dense_setup(tf.float32)
            big = tf.Variable([30.0, 40.0], name="big")
            opt = VariableClippingOptimizer(sgd(), {var0: [1], big: [0]}, 2.0)
            update = opt.apply_gradients(pairs + [(None, big)])
            out0, out_big = run_graph(update, [var0, big])
        assert_close(out0, DENSE0_AFTER)
        assert_close(out_big, [30.0, 40.0])

    def test_chained_instances(self):
        with tf.Graph().as_default():
            var0, var1, _, pairs = dense_setup(tf.float32)
            inner = VariableClippingOptimizer(sgd(), {var0: [1]}, 2.0)
            opt = VariableClippingOptimizer(inner, {var1: [0]}, 1.0, name="Outer")
            out0, out1 = run_graph(opt.apply_gradients(pairs), [var0, var1])
        assert_close(out0, DENSE0_AFTER)
        assert_close(out1, to_norm(DENSE1_AFTER, 1.0))

    @pytest.mark.parametrize(
        "kwargs", [{"use_locking": True}, {"colocate_clip_ops_with_vars": True}]
    )
    def test_locking_and_colocation_give_the_same_numbers(self, kwargs):
        with tf.Graph().as_default():
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", DeprecationWarning)
                var0, var1, opt, pairs = dense_setup(tf.float32, **kwargs)
                update = opt.apply_gradients(pairs)
            out0, out1 = run_graph(update, [var0, var1])
        assert_close(out0, DENSE0_AFTER)
        assert_close(out1, DENSE1_AFTER)

    def test_delegates_gradients_and_slots(self):
        with tf.Graph().as_default():
            var0 = tf.Variable([1.0, 2.0], name="var0")
            inner = tf.compat.v1.train.MomentumOptimizer(0.1, momentum=0.9)
            opt = VariableClippingOptimizer(inner, {var0: [0]}, 1.0)
            loss = tf.reduce_sum(var0 * var0)
            ((grad, var),) = opt.compute_gradients(loss, [var0])
            assert var is var0
            opt.apply_gradients([(grad, var)])
            assert opt.get_slot_names() == ["momentum"]
            assert opt.get_slot(var0, "momentum") is inner.get_slot(var0, "momentum")
            with tf.compat.v1.Session() as sess:
                sess.run(tf.compat.v1.global_variables_initializer())
                assert_close(sess.run(grad), [2.0, 4.0])

    def test_max_norm_as_a_tensor_of_another_dtype(self):
        with tf.Graph().as_default():
            var0 = tf.Variable(DENSE0, dtype=tf.float64, name="var0")
            opt = VariableClippingOptimizer(sgd(), {var0: [1]}, tf.constant(2.0, tf.float32))
            grads = tf.fill([2, 2], tf.constant(0.1, tf.float64))
            (out,) = run_graph(opt.apply_gradients([(grads, var0)]), [var0])
        assert_close(out, DENSE0_AFTER, tf.float64)

    def test_keras_optimizer_is_a_type_error(self):
        with tf.Graph().as_default():
            _, _, _, pairs = dense_setup(tf.float32)
            opt = VariableClippingOptimizer(keras.optimizers.SGD(3.0), {"var0": [1]}, 2.0)
            with pytest.raises(TypeError, match="Keras 3 optimizer .* tf.compat.v1 graph"):
                opt.apply_gradients(pairs)


class TestTF2Mode:
    @pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: d.name)
    def test_eager_dense_keyed_by_ref(self, dtype):
        var0 = tf.Variable(DENSE0, dtype=dtype, name="var0")
        var1 = tf.Variable(DENSE1, dtype=dtype, name="var1")
        opt = VariableClippingOptimizer(sgd(), {var0.ref(): [1]}, 2.0)
        grads = [tf.fill([2, 2], tf.constant(0.1, dtype)), tf.fill([2], tf.constant(0.01, dtype))]
        assert opt.apply_gradients(zip(grads, [var0, var1], strict=True)) is None
        assert_close(var0, DENSE0_AFTER, dtype)
        assert_close(var1, DENSE1_AFTER, dtype)

    @pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: d.name)
    def test_tf_function_sparse_keyed_by_name(self, dtype):
        var0 = tf.Variable(SPARSE0, dtype=dtype, name="sparse0")
        var1 = tf.Variable(SPARSE1, dtype=dtype, name="sparse1")
        opt = VariableClippingOptimizer(sgd(), {"sparse0": [1], "sparse1:0": [0]}, 2.0)

        @tf.function
        def step():
            grads = sparse_grads(dtype)
            opt.apply_gradients([(grads, var0), (grads, var1)])

        with pytest.warns(UserWarning, match="'sparse1'"):
            step()
        assert_close(var0, SPARSE0_AFTER, dtype)
        assert_close(var1, SPARSE1_AFTER, dtype)

    def test_keras_optimizer_and_keras_variable(self):
        layer = keras.layers.Dense(2, use_bias=False, name="embedding")
        layer.build((None, 2))
        layer.kernel.assign(DENSE0)
        step = tf.Variable(0, dtype=tf.int64)
        opt = VariableClippingOptimizer(keras.optimizers.SGD(3.0), {"embedding/kernel": [1]}, 2.0)
        opt.apply_gradients([(tf.fill([2, 2], 0.1), layer.kernel)], global_step=step)
        assert_close(layer.kernel, DENSE0_AFTER)
        assert step.numpy() == 1

    def test_regular_expression_key(self):
        first = tf.Variable([[3.0, 4.0]], name="emb/first")
        second = tf.Variable([[6.0, 8.0]], name="emb/second")
        opt = VariableClippingOptimizer(sgd(1.0), {"emb/.*": [1]}, 1.0)
        opt.apply_gradients([(tf.zeros([1, 2]), first), (tf.zeros([1, 2]), second)])
        assert_close([first, second], [[[0.6, 0.8]], [[0.6, 0.8]]])

    def test_moving_average_of_clipped_variables(self):
        var0 = tf.Variable(DENSE0, name="var0")
        clip = VariableClippingOptimizer(sgd(), {var0.ref(): [1]}, 2.0)
        opt = MovingAverageOptimizer(clip, average_decay=0.5)
        opt.apply_gradients([(tf.fill([2, 2], 0.1), var0)])
        assert_close(var0, DENSE0_AFTER)
        assert_close(opt.average(var0), 0.5 * np.array(DENSE0) + 0.5 * np.array(DENSE0_AFTER))

    def test_key_matching_no_variable_is_an_error(self):
        var0 = tf.Variable(DENSE0, name="var0")
        opt = VariableClippingOptimizer(sgd(), {"embeddings": [1]}, 2.0)
        with pytest.raises(ValueError, match="vars_to_clip_dims: key 'embeddings' .*'var0'"):
            opt.apply_gradients([(tf.fill([2, 2], 0.1), var0)])

    def test_dimension_out_of_range_is_an_error(self):
        var0 = tf.Variable(DENSE0, name="var0")
        opt = VariableClippingOptimizer(sgd(), {"var0": [2]}, 2.0)
        with pytest.raises(ValueError, match=r"dimensions \[2\] of 'var0' .* -2 to 1"):
            opt.apply_gradients([(tf.fill([2, 2], 0.1), var0)])


class TestArguments:
    @pytest.mark.parametrize(
        "args, error, match",
        [
            (("sgd", {}, 2.0), TypeError, "opt: expected .* got 'sgd' of type str"),
            ((None, [], 2.0), TypeError, "vars_to_clip_dims: expected a dict.* got \\[\\]"),
            ((None, {"v": 1}, 2.0), TypeError, "dimensions of 'v' must be a list.* got 1"),
            ((None, {"v": [1.0]}, 2.0), TypeError, r"got \[1.0\] of type list"),
            ((None, {}, 0.0), ValueError, "max_norm: expected a positive number, got 0.0"),
            ((None, {}, -1), ValueError, "max_norm: expected a positive number, got -1"),
            ((None, {}, "2"), TypeError, "max_norm: .* got '2' of type str"),
            ((None, {}, float("nan")), ValueError, "max_norm: expected a positive number, got nan"),
            ((None, {}, float("inf")), ValueError, "max_norm: expected a finite number, got inf"),
        ],
    )
    def test_invalid_arguments(self, args, error, match):
        opt, keys, max_norm = args
        with pytest.raises(error, match=match):
            VariableClippingOptimizer(opt or sgd(), keys, max_norm)

    def test_keeps_a_copy_of_the_dimensions(self):
        var0 = tf.Variable(DENSE0, name="var0")
        dims = [1]
        keys = {"var0": dims}
        opt = VariableClippingOptimizer(sgd(), keys, 2.0)
        dims.append(0)
        keys["other"] = [0]
        opt.apply_gradients([(tf.fill([2, 2], 0.1), var0)])
        assert_close(var0, DENSE0_AFTER)


class TestOptimizeLossContract:
    """What optimize_loss does with an Optimizer instance (to switch to the real one)."""

    def test_graph_mode(self):
        with tf.Graph().as_default():
            var0 = tf.Variable(DENSE0, name="var0")
            var1 = tf.Variable(DENSE1, name="var1")
            step = tf.compat.v1.train.get_or_create_global_step()
            opt = VariableClippingOptimizer(sgd(), {var0: [1]}, 2.0)
            loss = 0.1 * tf.reduce_sum(var0) + 0.01 * tf.reduce_sum(var1)
            grads_and_vars = opt.compute_gradients(
                loss, [var0, var1], colocate_gradients_with_ops=False
            )
            train = opt.apply_gradients(grads_and_vars, global_step=step, name="train")
            assert train.name == "train"
            out0, out1, out_step = run_graph(train, [var0, var1, step])
        assert_close(out0, DENSE0_AFTER)
        assert_close(out1, DENSE1_AFTER)
        assert out_step == 1

    @pytest.mark.parametrize("keras_inner", [False, True], ids=["v1", "keras"])
    def test_tf2_mode(self, keras_inner):
        var0 = tf.Variable(DENSE0, name="var0")
        var1 = tf.Variable(DENSE1, name="var1")
        variables = [var0, var1]
        step = tf.Variable(0, dtype=tf.int64, name="global_step")
        inner = keras.optimizers.SGD(3.0) if keras_inner else sgd()
        opt = VariableClippingOptimizer(inner, {var0.ref(): [1]}, 2.0)
        opt.build(variables)

        @tf.function
        def train():
            with tf.GradientTape() as tape:
                loss = 0.1 * tf.reduce_sum(var0) + 0.01 * tf.reduce_sum(var1)
            grads = tape.gradient(loss, variables)
            opt.apply_gradients(list(zip(grads, variables, strict=True)), global_step=step)
            return loss

        train()
        assert_close(var0, DENSE0_AFTER)
        assert_close(var1, DENSE1_AFTER)
        assert step.numpy() == 1
