"""One test per private TensorFlow/Keras name in olexplore/_compat.py: each fails when TF or
Keras renames or changes what olexplore relies on."""

from __future__ import annotations

import keras
import numpy as np
import pytest
import tensorflow as tf

from olexplore import _compat


def test_default_summary_writer_reads_tf_summarys_thread_state(tmp_path):
    from tensorflow.python.ops import summary_ops_v2

    assert hasattr(summary_ops_v2, "_summary_state")
    assert _compat.default_summary_writer() is None
    writer = tf.summary.create_file_writer(str(tmp_path))
    with writer.as_default():
        assert _compat.default_summary_writer() is writer
    assert _compat.default_summary_writer() is None


def test_distributed_container_maps_a_component_to_its_mirrored_variable():
    strategy = tf.distribute.MirroredStrategy(["/cpu:0"])
    with strategy.scope():
        mirrored = tf.Variable(1.0)
    component = strategy.experimental_local_results(mirrored)[0]
    assert component is not mirrored
    assert _compat.distributed_container(component) is mirrored
    plain = tf.Variable(2.0)
    assert _compat.distributed_container(plain) is plain


def test_keras_losses_unscaled_switches_off_the_replica_division():
    from keras.src.losses import loss as keras_loss

    original = keras_loss.scale_loss_for_distribution
    assert callable(original)
    with _compat.keras_losses_unscaled():
        assert keras_loss.scale_loss_for_distribution(6.0) == 6.0
    assert keras_loss.scale_loss_for_distribution is original
    # What is switched off: Keras' division by the replica count, called by its loss objects.
    import inspect

    assert "num_replicas_in_sync" in inspect.getsource(original)
    calls = inspect.getsource(keras_loss).count(" scale_loss_for_distribution(")
    assert calls >= 2  # its definition and a call by name, so patching the module works


@pytest.mark.parametrize(
    ("factory", "attribute"),
    [
        (tf.compat.v1.train.GradientDescentOptimizer, "_learning_rate"),
        (tf.compat.v1.train.MomentumOptimizer, "_learning_rate"),
        (tf.compat.v1.train.AdagradOptimizer, "_learning_rate"),
        (tf.compat.v1.train.RMSPropOptimizer, "_learning_rate"),
        (tf.compat.v1.train.FtrlOptimizer, "_learning_rate"),
        (tf.compat.v1.train.AdamOptimizer, "_lr"),
    ],
)
def test_v1_learning_rate_of_every_tf1_optimizer(factory, attribute):
    kwargs = {"momentum": 0.9} if factory is tf.compat.v1.train.MomentumOptimizer else {}
    rate = tf.Variable(0.125)
    optimizer = factory(rate, **kwargs)
    assert getattr(optimizer, attribute) is rate
    assert _compat.v1_learning_rate(optimizer) is rate
    assert _compat.v1_learning_rate(object()) is None


def test_keras_given_learning_rate_is_what_was_given():
    def rate():
        return 0.5

    assert _compat.keras_given_learning_rate(keras.optimizers.SGD(rate)) is rate
    fixed = _compat.keras_given_learning_rate(keras.optimizers.SGD(0.25))
    assert not callable(fixed)
    assert float(np.asarray(fixed)) == 0.25


def test_v1_optimizer_name_and_use_locking():
    optimizer = tf.compat.v1.train.GradientDescentOptimizer(0.1, use_locking=True, name="plain")
    assert _compat.v1_optimizer_name(optimizer) == "plain"
    assert _compat.v1_use_locking(optimizer) is True
    assert _compat.v1_use_locking(tf.compat.v1.train.GradientDescentOptimizer(0.1)) is False


def test_track_child_and_trackable_children_and_lookup_dependency():
    parent = tf.train.Checkpoint()
    child = tf.Variable(3.0)
    assert _compat.track_child(parent, child, "kept") is child
    assert _compat.trackable_children(parent)["kept"] is child
    assert _compat.lookup_dependency(parent, "kept") is child
    assert _compat.lookup_dependency(parent, "missing") is None


def test_initialize_trackable_and_deferred_dependencies_of_a_v1_optimizer():
    optimizer = tf.compat.v1.train.GradientDescentOptimizer(0.1)
    _compat.initialize_trackable(optimizer)
    deferred = _compat.deferred_dependencies(optimizer)
    assert hasattr(deferred, "items") and dict(deferred) == {}


def test_create_or_restore_slot_variable_restores_a_v1_slot(tmp_path):
    # A v1 optimizer's slot restored through the hook: what MovingAverageOptimizer relies on.
    w = tf.Variable([1.0, 2.0])
    optimizer = tf.compat.v1.train.MomentumOptimizer(0.1, momentum=0.9)
    optimizer.minimize(lambda: tf.reduce_sum(w * w), var_list=[w])
    path = tf.train.Checkpoint(w=w, opt=optimizer).save(str(tmp_path / "ckpt"))
    fresh_w = tf.Variable([0.0, 0.0])
    fresh = tf.compat.v1.train.MomentumOptimizer(0.1, momentum=0.9)
    calls = []
    original = type(fresh)._create_or_restore_slot_variable

    def spy(self, *args, **kwargs):
        calls.append(args)
        return original(self, *args, **kwargs)

    type(fresh)._create_or_restore_slot_variable = spy
    try:
        tf.train.Checkpoint(w=fresh_w, opt=fresh).restore(path)
        fresh.minimize(lambda: tf.reduce_sum(fresh_w * 0.0), var_list=[fresh_w])
    finally:
        type(fresh)._create_or_restore_slot_variable = original
    assert calls, "the v1 Optimizer no longer restores slots through this hook"
    # restored [2, 4] (the first gradient), then one step with a zero gradient: 0.9 * [2, 4]
    np.testing.assert_allclose(fresh.get_slot(fresh_w, "momentum").numpy(), [1.8, 3.6])
    # the function form hands a restoration to the same hook
    assert _compat.create_or_restore_slot_variable.__doc__


def test_save_slice_info_of_a_partitioned_variable():
    with tf.Graph().as_default():
        parts = tf.compat.v1.get_variable(
            "p", [4, 2], partitioner=tf.compat.v1.fixed_size_partitioner(2)
        )
        infos = [_compat.save_slice_info(part) for part in parts]
    assert [info.full_name for info in infos] == ["p", "p"]
    assert [info.var_offset for info in infos] == [[0, 0], [2, 0]]
    assert _compat.save_slice_info(tf.Variable(1.0)) is None


@pytest.mark.parametrize(
    ("owner", "name"),
    [(owner, name) for owner, names in _compat.OVERRIDDEN_HOOKS.items() for name in names],
)
def test_the_hooks_olexplore_overrides_still_exist(owner, name):
    classes = {
        "tf.compat.v1.train.Optimizer": tf.compat.v1.train.Optimizer,
        "tf.train.Checkpoint": tf.train.Checkpoint,
    }
    assert hasattr(classes[owner], name)
