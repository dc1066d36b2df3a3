"""A small problem of the tests' own: logistic regression on two blobs, with data and evaluation.

It exercises what the 2-D surfaces do not: a shuffled ``tf.data`` stream, random initial values
(drawn from the build's seed, statelessly: no global random state), held-out evaluation, and
hooks for failures.
"""

import numpy as np
import pytest
import tensorflow as tf

from olexplore.problems.base import Problem, Setup


class Blobs(Problem):
    """Two Gaussian blobs in 2-D, a linear classifier, val_loss and val_accuracy."""

    name = "blobs"
    title = "Blobs"
    description = "Logistic regression on two Gaussian blobs."
    kind = "custom"

    def __init__(self, fail_evaluation_at=None, repeat=True, fail_seed=None):
        self.fail_evaluation_at = fail_evaluation_at
        self.fail_seed = fail_seed
        self.repeat = repeat
        self.evaluations = 0

    def build(self, seed=0, batch_size=64):
        rng = np.random.default_rng(1234)  # the data is fixed; the seed moves init and order
        labels = rng.integers(0, 2, size=512).astype(np.float32)
        features = rng.normal(size=(512, 2)).astype(np.float32) + 1.5 * labels[:, None]
        train, val = slice(0, 384), slice(384, 512)
        kernel = tf.Variable(tf.random.stateless_normal([2, 1], seed=[seed, 0]), name="kernel")
        bias = tf.Variable(tf.zeros([1]), name="bias")

        def loss(x, y):
            logits = tf.squeeze(tf.matmul(x, kernel) + bias, axis=1)
            return tf.reduce_mean(tf.nn.sigmoid_cross_entropy_with_logits(labels=y, logits=logits))

        order = np.random.default_rng(seed).permutation(384)  # one order per seed, every epoch
        data = tf.data.Dataset.from_tensor_slices((features[train][order], labels[train][order]))
        data = data.batch(batch_size, drop_remainder=True)
        if self.repeat:
            data = data.repeat()
        fail_seed = self.fail_seed

        def evaluate():
            self.evaluations += 1
            if self.evaluations == self.fail_evaluation_at or fail_seed == seed:
                raise RuntimeError("evaluation broke")
            x, y = features[val], labels[val]
            logits = (x @ kernel.numpy() + bias.numpy())[:, 0]
            accuracy = float(np.mean((logits > 0) == (y > 0.5)))
            return {"val_loss": float(loss(x, y)), "val_accuracy": accuracy}

        return Setup(variables=[kernel, bias], loss=loss, data=data, evaluate=evaluate)


@pytest.fixture
def blobs():
    return Blobs
