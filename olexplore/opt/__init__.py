"""Ports of the ``tf.contrib.opt`` optimizers to TensorFlow 2."""
