"""MovingAverageOptimizer in graph mode (as in TF 1) and in TF 2 mode; contrib-spec §2.3.

Numbers are derived by hand from TF 1's own test: SGD with learning rate 2, constant gradients
0.1 for var0 and 0.01 for var1, average decay 0.5.
"""

import keras
import numpy as np
import pytest

from olexplore._tensorflow import tf
from olexplore.engine.variables import as_tf_variable
from olexplore.opt import MovingAverageOptimizer, VariableClippingOptimizer

DTYPES = [tf.float16, tf.float32, tf.float64]
TOLERANCE = {tf.float16: 2e-3, tf.float32: 1e-6, tf.float64: 1e-12}

VAR0, VAR1 = np.array([1.0, 2.0]), np.array([3.0, 4.0])
GRAD0, GRAD1 = np.array([0.1, 0.1]), np.array([0.01, 0.01])
STEP1 = (VAR0 - 2 * GRAD0, VAR1 - 2 * GRAD1)  # [0.8, 1.8], [2.98, 3.98]
STEP2 = (VAR0 - 4 * GRAD0, VAR1 - 4 * GRAD1)  # [0.6, 1.6], [2.96, 3.96]
AVG1 = ([0.9, 1.9], [2.99, 3.99])  # 0.5 * initial + 0.5 * step 1
AVG2 = ([0.75, 1.75], [2.975, 3.975])  # 0.5 * AVG1 + 0.5 * step 2


def assert_close(actual, expected, dtype=tf.float32):
    tol = TOLERANCE[dtype]
    np.testing.assert_allclose(np.asarray(actual, np.float64), expected, rtol=tol, atol=tol)


def sgd():
    return tf.compat.v1.train.GradientDescentOptimizer(learning_rate=2.0)


def make_variables(dtype=tf.float32):
    var0 = tf.Variable(tf.constant(VAR0, dtype), name="var0")
    var1 = tf.Variable(tf.constant(VAR1, dtype), name="var1")
    return var0, var1


def graph_loss(var0, var1):
    dtype = var0.dtype
    return tf.reduce_sum(tf.constant(GRAD0, dtype) * var0) + tf.reduce_sum(
        tf.constant(GRAD1, dtype) * var1
    )


def constant_grads(var0, var1):
    return [(tf.constant(GRAD0, var0.dtype), var0), (tf.constant(GRAD1, var1.dtype), var1)]


def init(sess):
    sess.run(tf.compat.v1.global_variables_initializer())


class TestGraphMode:
    @pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: d.name)
    def test_one_and_two_steps(self, dtype):
        with tf.Graph().as_default():
            var0, var1 = make_variables(dtype)
            opt = MovingAverageOptimizer(sgd(), average_decay=0.5)
            train = opt.minimize(graph_loss(var0, var1))
            averages = [opt.average(var0), opt.average(var1)]
            with tf.compat.v1.Session() as sess:
                init(sess)
                assert_close(sess.run(averages), [VAR0, VAR1], dtype)
                sess.run(train)
                assert_close(sess.run([var0, var1]), STEP1, dtype)
                assert_close(sess.run(averages), AVG1, dtype)
                sess.run(train)
                assert_close(sess.run([var0, var1]), STEP2, dtype)
                assert_close(sess.run(averages), AVG2, dtype)

    def test_not_sequential_reads_the_variable_before_or_after_its_update(self):
        with tf.Graph().as_default():
            var0, var1 = make_variables()
            opt = MovingAverageOptimizer(sgd(), average_decay=0.5, sequential_update=False)
            train = opt.minimize(graph_loss(var0, var1))
            with tf.compat.v1.Session() as sess:
                init(sess)
                sess.run(train)
                assert_close(sess.run([var0, var1]), STEP1)
                for average, initial, after in zip(
                    sess.run([opt.average(var0), opt.average(var1)]),
                    (VAR0, VAR1),
                    AVG1,
                    strict=True,
                ):
                    assert np.allclose(average, initial) or np.allclose(average, after)

    @pytest.mark.parametrize(
        "num_updates, expected",
        [
            # decay min(0.5, 1/10) = 0.1: 0.1 * initial + 0.9 * step, twice.
            (0, ([0.82, 1.82], [0.622, 1.622])),
            # decay min(0.5, 101/110) = 0.5: the cap leaves average_decay.
            (100, (AVG1[0], AVG2[0])),
        ],
    )
    def test_constant_num_updates(self, num_updates, expected):
        with tf.Graph().as_default():
            var0, var1 = make_variables()
            opt = MovingAverageOptimizer(sgd(), average_decay=0.5, num_updates=num_updates)
            train = opt.minimize(graph_loss(var0, var1))
            with tf.compat.v1.Session() as sess:
                init(sess)
                sess.run(train)
                assert_close(sess.run(opt.average(var0)), expected[0])
                sess.run(train)
                assert_close(sess.run(opt.average(var0)), expected[1])

    def test_global_step_as_num_updates_is_read_after_its_increment(self):
        with tf.Graph().as_default():
            var0, var1 = make_variables()
            step = tf.compat.v1.train.get_or_create_global_step()
            opt = MovingAverageOptimizer(sgd(), average_decay=0.9, num_updates=step)
            train = opt.minimize(graph_loss(var0, var1), global_step=step)
            with tf.compat.v1.Session() as sess:
                init(sess)
                sess.run(train)  # step 1: decay min(0.9, 2/11)
                first = 2 / 11 * VAR0 + 9 / 11 * STEP1[0]
                assert_close(sess.run(opt.average(var0)), first)
                sess.run(train)  # step 2: decay min(0.9, 3/12)
                assert_close(sess.run(opt.average(var0)), 0.25 * first + 0.75 * STEP2[0])
                assert sess.run(step) == 2

    def test_shadow_variables(self):
        with tf.Graph().as_default():
            var0, var1 = make_variables()
            opt = MovingAverageOptimizer(sgd())
            assert opt.average(var0) is None
            opt.minimize(graph_loss(var0, var1))
            shadow = opt.average(var0)
            assert shadow.name == "var0/ExponentialMovingAverage:0"
            assert opt.average(var1).name == "var1/ExponentialMovingAverage:0"
            assert not shadow.trainable
            assert shadow in tf.compat.v1.global_variables()
            assert shadow not in tf.compat.v1.trainable_variables()
            assert shadow in opt.variables()

    def test_swapping_saver_before_minimize_raises(self):
        with tf.Graph().as_default():
            var0, _ = make_variables()
            opt = MovingAverageOptimizer(sgd())
            with pytest.raises(RuntimeError, match="apply_gradients or minimize"):
                opt.swapping_saver([var0])

    def test_swapping_saver_needs_every_counterpart(self):
        with tf.Graph().as_default():
            var0, var1 = make_variables()
            opt = MovingAverageOptimizer(sgd(), average_decay=0.5)
            opt.minimize(graph_loss(var0, var1))
            with pytest.raises(ValueError, match="Variable to swap var0/ExponentialMovingAverage"):
                opt.swapping_saver(var_list=[var0])
            with pytest.raises(ValueError, match="Variable to swap var1 is not part"):
                opt.swapping_saver(var_list=[opt.average(var1)])
            with pytest.raises(ValueError, match="Variable to swap"):
                opt.swapping_saver(var_list={"var0": var0, "var1": var1})
            opt.swapping_saver(var_list=[var0, opt.average(var0)])  # a complete subset

    def test_swapping_saver_round_trip_and_evaluation_restore(self, tmp_path):
        with tf.Graph().as_default():
            var0, var1 = make_variables()
            step = tf.compat.v1.train.get_or_create_global_step()
            opt = MovingAverageOptimizer(sgd(), average_decay=0.5)
            train = opt.minimize(graph_loss(var0, var1), global_step=step)
            avg0, avg1 = opt.average(var0), opt.average(var1)
            saver = opt.swapping_saver(max_to_keep=3)
            subset_saver = opt.swapping_saver(var_list=[var0, avg0], name="subset")
            plain_saver = tf.compat.v1.train.Saver()
            perturb = tf.group(
                var0.assign_add([1.0, 1.0]),
                var1.assign_add([2.0, 2.0]),
                avg0.assign_add([3.0, 3.0]),
                avg1.assign_add([4.0, 4.0]),
            )
            assert saver.saver_def.max_to_keep == 3
            assert saver.saver_def.save_tensor_name.startswith("swapping_saver")
            with tf.compat.v1.Session() as sess:
                init(sess)
                sess.run(train)
                path = saver.save(sess, str(tmp_path / "model"))
                # The checkpoint holds each average under its variable's name, and back.
                reader = tf.train.load_checkpoint(path)
                assert_close(reader.get_tensor("var0"), AVG1[0])
                assert_close(reader.get_tensor("var0/ExponentialMovingAverage"), STEP1[0])
                assert_close(reader.get_tensor("var1"), AVG1[1])
                assert reader.get_tensor("global_step") == 1  # not swapped
                # Save then restore with the swapping saver is the identity.
                sess.run(perturb)
                saver.restore(sess, path)
                assert_close(sess.run([var0, var1]), STEP1)
                assert_close(sess.run([avg0, avg1]), AVG1)
                # A subset saver restores only its subset.
                subset_path = subset_saver.save(sess, str(tmp_path / "subset"))
                sess.run(perturb)
                subset_saver.restore(sess, subset_path)
                assert_close(sess.run([var0, avg0]), [STEP1[0], AVG1[0]])
                assert_close(sess.run([var1, avg1]), [STEP1[1] + 2, np.array(AVG1[1]) + 4])
                # Evaluation: a plain Saver puts the averages into the variables.
                saver.restore(sess, path)
                plain_saver.restore(sess, path)
                assert_close(sess.run([var0, var1]), AVG1)
                assert_close(sess.run([avg0, avg1]), STEP1)

    def test_partitioned_variables(self, tmp_path):
        with tf.Graph().as_default():
            partitioned = tf.compat.v1.get_variable(
                "var0",
                initializer=tf.constant([1.0, 2.0, 1.0, 2.0]),
                partitioner=tf.compat.v1.fixed_size_partitioner(num_shards=2),
            )
            loss = tf.reduce_sum(0.1 * partitioned.as_tensor())
            opt = MovingAverageOptimizer(sgd(), average_decay=0.5)
            train = opt.minimize(loss)
            parts = list(partitioned)
            assert [opt.average(p).name for p in parts] == [
                "var0/part_0/ExponentialMovingAverage:0",
                "var0/part_1/ExponentialMovingAverage:0",
            ]
            with pytest.raises(ValueError, match="Variable to swap var0/part_0/Exp"):
                opt.swapping_saver(var_list=[partitioned])
            saver = opt.swapping_saver()
            plain_saver = tf.compat.v1.train.Saver()
            with tf.compat.v1.Session() as sess:
                init(sess)
                sess.run(train)
                path = saver.save(sess, str(tmp_path / "model"))
                reader = tf.train.load_checkpoint(path)
                assert_close(reader.get_tensor("var0"), [0.9, 1.9, 0.9, 1.9])
                assert_close(reader.get_tensor("var0/ExponentialMovingAverage"), [0.8, 1.8] * 2)
                plain_saver.restore(sess, path)
                assert_close(sess.run(partitioned.as_tensor()), [0.9, 1.9, 0.9, 1.9])

    def test_wrapped_optimizer_computes_and_applies(self):
        class Recording(tf.compat.v1.train.GradientDescentOptimizer):
            def compute_gradients(self, *args, **kwargs):
                self.computed = True
                return super().compute_gradients(*args, **kwargs)

            def apply_gradients(self, *args, **kwargs):
                self.applied = True
                return super().apply_gradients(*args, **kwargs)

        with tf.Graph().as_default():
            var = tf.Variable([1.2], name="var")
            inner = Recording(learning_rate=2.0)
            train = MovingAverageOptimizer(inner).minimize(var**2)
            assert inner.computed and inner.applied
            with tf.compat.v1.Session() as sess:
                init(sess)
                sess.run(train)
                assert_close(sess.run(var), [1.2 - 2.0 * 2.4])  # -3.6

    def test_compute_gradients_takes_the_v1_arguments_positionally(self):
        with tf.Graph().as_default():
            var0, var1 = make_variables()
            opt = MovingAverageOptimizer(sgd())
            pairs = opt.compute_gradients(
                graph_loss(var0, var1), [var0, var1], tf.compat.v1.train.Optimizer.GATE_NONE
            )
            assert [v for _, v in pairs] == [var0, var1]
            with tf.compat.v1.Session() as sess:
                assert_close(sess.run([g for g, _ in pairs]), [GRAD0, GRAD1])

    def test_slots_of_the_wrapped_optimizer(self):
        with tf.Graph().as_default():
            var0, var1 = make_variables()
            inner = tf.compat.v1.train.MomentumOptimizer(0.1, momentum=0.9)
            opt = MovingAverageOptimizer(inner)
            opt.minimize(graph_loss(var0, var1))
            assert opt.get_slot_names() == ["momentum"]
            assert opt.get_slot(var0, "momentum") is inner.get_slot(var0, "momentum")
            assert inner.get_slot(var0, "momentum") in opt.variables()

    def test_keras_optimizer_is_a_type_error(self):
        with tf.Graph().as_default():
            var0, var1 = make_variables()
            opt = MovingAverageOptimizer(keras.optimizers.SGD(2.0))
            with pytest.raises(TypeError, match="Keras 3 optimizer"):
                opt.minimize(graph_loss(var0, var1), var_list=[var0, var1])
            with pytest.raises(TypeError, match="Keras 3 optimizer"):
                opt.apply_gradients(constant_grads(var0, var1))

    def test_tf2_only_methods_raise(self):
        with tf.Graph().as_default():
            var0, var1 = make_variables()
            opt = MovingAverageOptimizer(sgd())
            opt.minimize(graph_loss(var0, var1))
            with pytest.raises(RuntimeError, match="TF 2 mode"), opt.swap_averages():
                pass
            with pytest.raises(RuntimeError, match="TF 2 mode"):
                opt.swapping_checkpoint(optimizer=opt)


class TestTF2Mode:
    @pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: d.name)
    def test_eager_one_and_two_steps(self, dtype):
        var0, var1 = make_variables(dtype)
        opt = MovingAverageOptimizer(sgd(), average_decay=0.5)
        assert opt.apply_gradients(constant_grads(var0, var1)) is None
        assert_close([var0, var1], STEP1, dtype)
        assert_close([opt.average(var0), opt.average(var1)], AVG1, dtype)
        opt.apply_gradients(constant_grads(var0, var1))
        assert_close([var0, var1], STEP2, dtype)
        assert_close([opt.average(var0), opt.average(var1)], AVG2, dtype)
        assert opt.average(var0).name.startswith("var0/ExponentialMovingAverage")

    @pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: d.name)
    def test_tf_function_creates_averages_from_the_values_before_the_update(self, dtype):
        var0, var1 = make_variables(dtype)
        opt = MovingAverageOptimizer(sgd(), average_decay=0.5)

        @tf.function
        def step():
            opt.apply_gradients(constant_grads(var0, var1))

        step()
        assert_close([opt.average(var0), opt.average(var1)], AVG1, dtype)
        step()
        assert_close([var0, var1], STEP2, dtype)
        assert_close([opt.average(var0), opt.average(var1)], AVG2, dtype)

    def test_not_sequential_averages_the_values_before_the_update(self):
        var0, var1 = make_variables()
        opt = MovingAverageOptimizer(sgd(), average_decay=0.5, sequential_update=False)
        opt.apply_gradients(constant_grads(var0, var1))
        assert_close([opt.average(var0), opt.average(var1)], [VAR0, VAR1])
        opt.apply_gradients(constant_grads(var0, var1))
        assert_close([opt.average(var0), opt.average(var1)], AVG1)  # 0.5 * initial + 0.5 * step 1

    def test_constant_num_updates(self):
        var0, var1 = make_variables()
        opt = MovingAverageOptimizer(sgd(), average_decay=0.5, num_updates=0)
        opt.apply_gradients(constant_grads(var0, var1))
        assert_close(opt.average(var0), [0.82, 1.82])  # decay min(0.5, 1/10)

    def test_global_step_as_num_updates(self):
        var0, var1 = make_variables()
        step = tf.Variable(0, dtype=tf.int64)
        opt = MovingAverageOptimizer(sgd(), average_decay=0.9, num_updates=step)
        opt.apply_gradients(constant_grads(var0, var1), global_step=step)
        first = 2 / 11 * VAR0 + 9 / 11 * STEP1[0]
        assert_close(opt.average(var0), first)
        opt.apply_gradients(constant_grads(var0, var1), global_step=step)
        assert_close(opt.average(var0), 0.25 * first + 0.75 * STEP2[0])

    def test_keras_optimizer_and_global_step(self):
        var0, var1 = make_variables()
        step = tf.Variable(0, dtype=tf.int64)
        opt = MovingAverageOptimizer(keras.optimizers.SGD(2.0), average_decay=0.5)

        @tf.function
        def train():
            opt.apply_gradients(constant_grads(var0, var1), global_step=step)

        train()
        train()
        assert_close([var0, var1], STEP2)
        assert_close([opt.average(var0), opt.average(var1)], AVG2)
        assert step.numpy() == 2

    def test_minimize_keras_model_variables(self):
        layer = keras.layers.Dense(
            1, use_bias=False, kernel_initializer=keras.initializers.Constant([[1.0], [2.0]])
        )
        layer.build((None, 2))
        x = tf.constant([[0.1, 0.2]])  # d loss / d kernel = x^T
        for inner in (sgd(), keras.optimizers.SGD(2.0)):
            layer.kernel.assign([[1.0], [2.0]])
            opt = MovingAverageOptimizer(inner, average_decay=0.5)
            opt.minimize(lambda: tf.reduce_sum(layer(x)), var_list=layer.trainable_variables)
            assert_close(layer.kernel, [[0.8], [1.6]])
            assert_close(opt.average(layer.kernel), [[0.9], [1.8]])
            assert opt.average(layer.kernel) is opt.average(as_tf_variable(layer.kernel))

    def test_keras_optimizer_computes_gradients_with_a_tape(self):
        var0, var1 = make_variables()
        frozen = tf.Variable(5.0, trainable=False)
        opt = MovingAverageOptimizer(keras.optimizers.SGD(2.0))
        pairs = opt.compute_gradients(lambda: graph_loss(var0, var1) * frozen)
        assert [v.name for _, v in pairs] == [var0.name, var1.name]
        assert_close([g for g, _ in pairs], [5 * GRAD0, 5 * GRAD1])
        with pytest.raises(TypeError, match="loss: in TF 2 mode the loss must be a callable"):
            opt.compute_gradients(graph_loss(var0, var1), [var0, var1])

    def test_build_creates_the_averages_up_front(self):
        var0, var1 = make_variables()
        opt = MovingAverageOptimizer(sgd(), average_decay=0.5)
        opt.build([var0, var1])
        assert_close([opt.average(var0), opt.average(var1)], [VAR0, VAR1])
        var0.assign([5.0, 5.0])  # the average keeps the value it was built from
        assert_close(opt.average(var0), VAR0)

    def test_swap_averages(self):
        var0, var1 = make_variables()
        opt = MovingAverageOptimizer(sgd(), average_decay=0.5)
        with pytest.raises(RuntimeError, match="before swapping"), opt.swap_averages():
            pass
        opt.apply_gradients(constant_grads(var0, var1))
        with opt.swap_averages():
            assert_close([var0, var1], AVG1)
            assert_close([opt.average(var0), opt.average(var1)], STEP1)
            with opt.swap_averages():  # nested: no second swap
                assert_close([var0, var1], AVG1)
            assert_close([var0, var1], AVG1)
        assert_close([var0, var1], STEP1)
        assert_close([opt.average(var0), opt.average(var1)], AVG1)

    def test_swap_averages_swaps_back_on_error(self):
        var0, var1 = make_variables()
        opt = MovingAverageOptimizer(sgd(), average_decay=0.5)
        opt.apply_gradients(constant_grads(var0, var1))
        with pytest.raises(KeyError), opt.swap_averages():
            raise KeyError("evaluation failed")
        assert_close([var0, var1], STEP1)

    def test_swapping_checkpoint(self, tmp_path):
        var0, var1 = make_variables()
        opt = MovingAverageOptimizer(sgd(), average_decay=0.5)
        with pytest.raises(RuntimeError, match="before swapping"):
            opt.swapping_checkpoint(var0=var0, optimizer=opt)
        opt.apply_gradients(constant_grads(var0, var1))
        with pytest.raises(ValueError, match="optimizer=opt"):
            opt.swapping_checkpoint(var0=var0, var1=var1)
        checkpoint = opt.swapping_checkpoint(var0=var0, var1=var1, optimizer=opt)
        assert isinstance(checkpoint, tf.train.Checkpoint)
        path = checkpoint.save(str(tmp_path / "ckpt"))
        assert_close([var0, var1], STEP1)  # swapped back after saving
        reader = tf.train.load_checkpoint(path)
        assert_close(reader.get_tensor("var0/.ATTRIBUTES/VARIABLE_VALUE"), AVG1[0])
        key = "optimizer/var0.SExponentialMovingAverage/.ATTRIBUTES/VARIABLE_VALUE"
        assert_close(reader.get_tensor(key), STEP1[0])
        # Restoring through it is the inverse.
        var0.assign([9.0, 9.0])
        opt.average(var0).assign([7.0, 7.0])
        checkpoint.restore(path).assert_consumed()
        assert_close([var0, opt.average(var0)], [STEP1[0], AVG1[0]])
        # Evaluation: a plain checkpoint of the model restores the averages.
        evaluated = tf.Variable([0.0, 0.0])
        tf.train.Checkpoint(var0=evaluated).restore(path).expect_partial()
        assert_close(evaluated, AVG1[0])
        # write/read and CheckpointManager swap too.
        written = checkpoint.write(str(tmp_path / "written"))
        assert_close(tf.train.load_checkpoint(written).get_tensor(key), STEP1[0])
        var0.assign([9.0, 9.0])
        checkpoint.read(written).assert_consumed()
        assert_close(var0, STEP1[0])
        managed = tf.train.CheckpointManager(checkpoint, str(tmp_path / "managed"), 1).save()
        reader = tf.train.load_checkpoint(managed)
        assert_close(reader.get_tensor("var0/.ATTRIBUTES/VARIABLE_VALUE"), AVG1[0])

    def test_checkpoint_restores_into_new_objects_and_training_continues(self, tmp_path):
        def make():
            var = tf.Variable([1.0, 2.0], name="v")
            inner = VariableClippingOptimizer(
                tf.compat.v1.train.AdamOptimizer(0.1), {"v": [0]}, max_norm=1.5
            )
            return var, MovingAverageOptimizer(inner, average_decay=0.5)

        var, opt = make()
        opt.minimize(lambda: tf.reduce_sum(var * var), var_list=[var])
        path = tf.train.Checkpoint(var=var, optimizer=opt).save(str(tmp_path / "ckpt"))
        new_var, new_opt = make()
        status = tf.train.Checkpoint(var=new_var, optimizer=new_opt).restore(path)
        new_opt.minimize(lambda: tf.reduce_sum(new_var * new_var), var_list=[new_var])
        status.assert_consumed()  # Adam's slots and beta powers, and the average
        opt.minimize(lambda: tf.reduce_sum(var * var), var_list=[var])
        assert_close(new_var, var.numpy())
        assert_close(new_opt.average(new_var), opt.average(var).numpy())

    def test_swapping_saver_is_graph_mode_only(self):
        var0, var1 = make_variables()
        opt = MovingAverageOptimizer(sgd())
        opt.apply_gradients(constant_grads(var0, var1))
        with pytest.raises(RuntimeError, match="swapping_checkpoint"):
            opt.swapping_saver([var0, var1])


class TestArguments:
    def test_opt_must_be_an_optimizer(self):
        with pytest.raises(TypeError, match=r"opt: expected .* got 'sgd' of type str"):
            MovingAverageOptimizer("sgd")

    @pytest.mark.parametrize(
        "kwargs, error, match",
        [
            ({"average_decay": 1.5}, ValueError, r"average_decay: .*\[0, 1\], got 1.5"),
            ({"average_decay": "0.9"}, TypeError, "average_decay: .* got '0.9' of type str"),
            ({"num_updates": -1}, ValueError, "num_updates: .* got -1"),
            ({"num_updates": 2.5}, TypeError, "num_updates: .* got 2.5 of type float"),
            ({"sequential_update": 1}, TypeError, "sequential_update: .* got 1 of type int"),
        ],
    )
    def test_invalid_arguments(self, kwargs, error, match):
        with pytest.raises(error, match=match):
            MovingAverageOptimizer(sgd(), **kwargs)

    def test_defaults(self):
        opt = MovingAverageOptimizer(sgd())
        var = tf.Variable([1.0])
        opt.apply_gradients([(tf.constant([1.0]), var)])
        # average_decay 0.9999: 0.9999 * 1 + 0.0001 * (1 - 2)
        assert_close(opt.average(var), [0.9999 - 0.0001])
        assert opt.get_name() == "MovingAverage"


class TestOptimizeLossContract:
    """What optimize_loss does with an Optimizer instance (to switch to the real one)."""

    def test_graph_mode(self):
        with tf.Graph().as_default():
            var0, var1 = make_variables()
            step = tf.compat.v1.train.get_or_create_global_step()
            opt = MovingAverageOptimizer(sgd(), average_decay=0.5)
            grads_and_vars = opt.compute_gradients(
                graph_loss(var0, var1), [var0, var1], colocate_gradients_with_ops=False
            )
            train = opt.apply_gradients(grads_and_vars, global_step=step, name="train")
            # The wrapped optimizer's op (the step increment) gets the name, as in TF 1.
            assert train.name == "train_with_avg"
            assert [op.name for op in train.control_inputs] == ["train", "ExponentialMovingAverage"]
            graph = tf.compat.v1.get_default_graph()
            assert graph.get_operation_by_name("train").type == "AssignAddVariableOp"
            with tf.compat.v1.Session() as sess:
                init(sess)
                sess.run(train)
                sess.run(train)
                assert_close(sess.run([var0, var1]), STEP2)
                assert_close(sess.run([opt.average(var0), opt.average(var1)]), AVG2)
                assert sess.run(step) == 2

    @pytest.mark.parametrize("keras_inner", [False, True], ids=["v1", "keras"])
    def test_learning_rate_read_for_the_metric(self, keras_inner):
        inner = keras.optimizers.SGD(2.5) if keras_inner else sgd()
        for opt in (
            MovingAverageOptimizer(inner),
            VariableClippingOptimizer(MovingAverageOptimizer(inner), {}, 1.0),
        ):
            rate = opt._learning_rate
            assert float(rate() if callable(rate) else rate) == (2.5 if keras_inner else 2.0)

    @pytest.mark.parametrize("keras_inner", [False, True], ids=["v1", "keras"])
    def test_tf2_mode(self, keras_inner):
        var0, var1 = make_variables()
        variables = [var0, var1]
        step = tf.Variable(0, dtype=tf.int64, name="global_step")
        inner = keras.optimizers.SGD(2.0) if keras_inner else sgd()
        opt = MovingAverageOptimizer(inner, average_decay=0.5)
        opt.build(variables)

        @tf.function
        def train():
            with tf.GradientTape() as tape:
                loss = tf.reduce_sum(GRAD0 * var0) + tf.reduce_sum(GRAD1 * var1)
            grads = tape.gradient(loss, variables)
            opt.apply_gradients(list(zip(grads, variables, strict=True)), global_step=step)
            return loss

        train()
        train()
        assert_close(variables, STEP2)
        assert_close([opt.average(var0), opt.average(var1)], AVG2)
        assert step.numpy() == 2
