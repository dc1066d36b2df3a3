"""Real models on real data: MLP and CNN on sklearn's digits, logistic regression, MNIST.

Every problem here splits its data into training and validation parts from the seed,
standardises the inputs with the training part's statistics, streams endless shuffled batches of
``(x, labels)`` and trains on the mean cross-entropy. Layers and models carry explicit names,
so ``setup.variable_names`` (``"mlp/hidden/kernel"``, ...) is the same in every build, and the
initialisers are seeded, so the same seed gives the same initial weights.

MNIST and Fashion-MNIST come through ``keras.datasets`` (downloaded once into
``~/.keras/datasets``) or from a local ``.npz`` file in the Keras format (arrays ``x_train``
and ``y_train``). When neither works (no network, say) the problem warns with
:class:`DatasetFallbackWarning`, says why, and trains on the bundled digits instead.
"""

from __future__ import annotations

import os
import warnings
from typing import Any, ClassVar

import numpy as np

from olexplore._tensorflow import tf
from olexplore.engine.validation import describe
from olexplore.engine.variables import as_tf_variable
from olexplore.problems.base import Problem, Setup
from olexplore.problems.datasets import (  # noqa: F401 - part of this module's API
    KERAS_DATASETS,
    ClassificationData,
    DatasetFallbackWarning,
    DatasetUnavailableError,
    _download,
    check_examples,
    check_labels,
    load_keras_dataset,
    load_sklearn_dataset,
    shuffled_batches,
    split_and_standardise,
)
from olexplore.problems.params import MAX_BATCH_SIZE, count


class ClassifierProblem(Problem):
    """Base of the problems here: subclasses load the data and make the (named) Keras model."""

    kind = "real"
    validation_fraction: ClassVar[float] = 0.2

    def load(self) -> ClassificationData:
        """The whole dataset (before the split)."""
        raise NotImplementedError

    def make_model(self, input_shape: tuple[int, ...], classes: int, seeds: list[int]) -> Any:
        """A fresh ``keras.Model`` returning logits; ``seeds`` seed its initialisers."""
        raise NotImplementedError

    def input_shape(self, data: ClassificationData) -> tuple[int, ...]:
        """Shape of one example as the model takes it (default: flat features)."""
        return (int(np.prod(data.x.shape[1:])),)

    def build(self, seed: int = 0, batch_size: int = 64) -> Setup:
        """Split, standardise, make the model from ``seed``; ``data`` is endless batches."""
        batch_size = count(batch_size, "batch_size", 1, MAX_BATCH_SIZE)
        data = self.load()
        shape = self.input_shape(data)
        x = data.x.reshape((len(data.x), *shape))
        x_train, y_train, x_val, y_val = split_and_standardise(
            x, data.labels, seed, self.validation_fraction
        )
        if batch_size > len(x_train):
            raise ValueError(
                f"batch_size: got {describe(batch_size)}; accepted: an int from 1 to "
                f"{len(x_train)}, the training examples of {self.name} ({data.source}); a "
                "larger batch would repeat examples."
            )
        seeds = [int(s) for s in np.random.SeedSequence(seed).generate_state(8)]
        model = self.make_model(shape, data.classes, seeds)

        def loss(x: tf.Tensor, labels: tf.Tensor) -> tf.Tensor:
            return cross_entropy_and_accuracy(model(x, training=True), labels)[0]

        validation_size = len(x_val)
        x_val, y_val = tf.constant(x_val), tf.constant(y_val)
        validation = tf.function(
            lambda: cross_entropy_and_accuracy(model(x_val, training=False), y_val)
        )

        def evaluate() -> dict[str, float]:
            val_loss, val_accuracy = validation()
            return {"val_loss": float(val_loss), "val_accuracy": float(val_accuracy)}

        return Setup(
            variables=[as_tf_variable(v) for v in model.trainable_variables],
            loss=loss,
            data=shuffled_batches(x_train, y_train, int(batch_size), seed),
            evaluate=evaluate,
            extras={
                "model": model,
                "dataset": data.source,
                "classes": data.classes,
                "train_size": len(x_train),
                "validation_size": validation_size,
            },
        )


def cross_entropy_and_accuracy(logits: tf.Tensor, labels: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
    """Mean cross-entropy and accuracy: sigmoid for one logit per example, softmax for more."""
    if logits.shape[-1] == 1:
        logits, labels = tf.reshape(logits, [-1]), tf.cast(labels, tf.float32)
        losses = tf.nn.sigmoid_cross_entropy_with_logits(labels=labels, logits=logits)
        hits = tf.equal(tf.cast(logits > 0, tf.float32), labels)
    else:
        labels = tf.cast(labels, tf.int32)
        losses = tf.nn.sparse_softmax_cross_entropy_with_logits(labels=labels, logits=logits)
        hits = tf.equal(tf.argmax(logits, -1, output_type=tf.int32), labels)
    return tf.reduce_mean(losses), tf.reduce_mean(tf.cast(hits, tf.float32))


def _dense(units: int, name: str, seed: int, activation: str | None = None) -> Any:
    import keras  # noqa: PLC0415

    initializer = keras.initializers.GlorotUniform(seed=seed)
    return keras.layers.Dense(
        units,
        activation=activation,
        # Keras leaves kernel_initializer unannotated; pyright guesses str from its default.
        kernel_initializer=initializer,  # pyright: ignore[reportArgumentType]
        name=name,
    )


def mlp(input_shape: tuple[int, ...], classes: int, seeds: list[int], hidden: int = 128) -> Any:
    """``input -> Dense(hidden, relu) "hidden" -> Dense(classes) "output"``, named ``"mlp"``."""
    import keras  # noqa: PLC0415

    return keras.Sequential(
        [
            keras.Input(input_shape, name="input"),
            _dense(hidden, "hidden", seeds[0], "relu"),
            _dense(classes, "output", seeds[1]),
        ],
        name="mlp",
    )


class DigitsMLP(ClassifierProblem):
    """A 64-128-10 MLP on sklearn's 8x8 digits (1438 training, 359 validation images).

    >>> setup = DigitsMLP().build(seed=0)
    >>> setup.variable_names
    ['mlp/hidden/kernel', 'mlp/hidden/bias', 'mlp/output/kernel', 'mlp/output/bias']
    """

    name = "digits-mlp"
    title = "MLP on digits"
    description = "A 64-128-10 ReLU network on sklearn's 8x8 handwritten digits."
    suggested: ClassVar[dict[str, Any]] = dict(
        optimizer="Adam", learning_rate=0.001, steps=500, batch_size=64
    )

    def load(self) -> ClassificationData:
        return load_sklearn_dataset("digits")

    def make_model(self, input_shape: tuple[int, ...], classes: int, seeds: list[int]) -> Any:
        return mlp(input_shape, classes, seeds)


class DigitsCNN(DigitsMLP):
    """A small CNN on the 8x8 digits: two 3x3 convolutions with pooling, then the logits.

    >>> DigitsCNN().build(seed=0).variable_names[:2]
    ['cnn/conv1/kernel', 'cnn/conv1/bias']
    """

    name = "digits-cnn"
    title = "CNN on digits"
    description = "conv(16) - pool - conv(32) - pool - dense(10) on the 8x8 digit images."
    suggested: ClassVar[dict[str, Any]] = dict(
        optimizer="Adam", learning_rate=0.003, steps=500, batch_size=64
    )

    def input_shape(self, data: ClassificationData) -> tuple[int, ...]:
        return (8, 8, 1)

    def make_model(self, input_shape: tuple[int, ...], classes: int, seeds: list[int]) -> Any:
        import keras  # noqa: PLC0415

        def conv(filters: int, name: str, seed: int) -> Any:
            initializer = keras.initializers.GlorotUniform(seed=seed)
            return keras.layers.Conv2D(
                filters,
                3,
                padding="same",
                activation="relu",
                # Unannotated in Keras; pyright guesses str from the default "glorot_uniform".
                kernel_initializer=initializer,  # pyright: ignore[reportArgumentType]
                name=name,
            )

        return keras.Sequential(
            [
                keras.Input(input_shape, name="input"),
                conv(16, "conv1", seeds[0]),
                keras.layers.MaxPooling2D(2, name="pool1"),
                conv(32, "conv2", seeds[1]),
                keras.layers.MaxPooling2D(2, name="pool2"),
                keras.layers.Flatten(name="flatten"),
                _dense(classes, "output", seeds[2]),
            ],
            name="cnn",
        )


class BreastCancerLogReg(ClassifierProblem):
    """Logistic regression (one sigmoid unit) on sklearn's breast-cancer data (30 features).

    >>> BreastCancerLogReg().build(seed=0).variable_names
    ['logreg/linear/kernel', 'logreg/linear/bias']
    """

    name = "breast-cancer-logreg"
    title = "Logistic regression, breast cancer"
    description = "A convex problem on real data: 30 standardised features, malignant or benign."
    suggested: ClassVar[dict[str, Any]] = dict(
        optimizer="SGD", learning_rate=0.1, steps=300, batch_size=32
    )

    def load(self) -> ClassificationData:
        return load_sklearn_dataset("breast_cancer")

    def make_model(self, input_shape: tuple[int, ...], classes: int, seeds: list[int]) -> Any:
        import keras  # noqa: PLC0415

        return keras.Sequential(
            [keras.Input(input_shape, name="input"), _dense(1, "linear", seeds[0])], name="logreg"
        )


class KerasDatasetMLP(ClassifierProblem):
    """Base of the ``keras.datasets`` problems: a 128-unit MLP, digits when loading fails."""

    dataset: ClassVar[str]
    suggested: ClassVar[dict[str, Any]] = dict(
        optimizer="Adam", learning_rate=0.001, steps=1000, batch_size=128
    )

    def __init__(self, path: str | os.PathLike | None = None) -> None:
        accepted = (
            "accepted: None (keras.datasets, or the bundled digits when it cannot load) or the "
            "path of an existing .npz file with x_train and y_train"
        )
        if path is not None and not isinstance(path, (str, os.PathLike)):
            raise ValueError(f"path: got {describe(path)}; {accepted}.")
        self.path = path

    def load(self) -> ClassificationData:
        try:
            return load_keras_dataset(self.dataset, self.path)
        except DatasetUnavailableError as error:
            warnings.warn(
                f"{self.name}: {self.dataset} is unavailable ({error}); training on sklearn's "
                "bundled 8x8 digits instead. Download it once with network access, or pass "
                "path= a local .npz with x_train and y_train.",
                DatasetFallbackWarning,
                stacklevel=3,
            )
            return load_sklearn_dataset("digits")

    def make_model(self, input_shape: tuple[int, ...], classes: int, seeds: list[int]) -> Any:
        return mlp(input_shape, classes, seeds)


class MnistMLP(KerasDatasetMLP):
    """A 784-128-10 MLP on MNIST (``keras.datasets.mnist``; digits when it cannot load)."""

    name = "mnist-mlp"
    title = "MLP on MNIST"
    description = "A 784-128-10 ReLU network on MNIST (falls back to the 8x8 digits offline)."
    dataset = "mnist"


class FashionMnistMLP(KerasDatasetMLP):
    """A 784-128-10 MLP on Fashion-MNIST (``keras.datasets.fashion_mnist``; digits offline)."""

    name = "fashion-mnist-mlp"
    title = "MLP on Fashion-MNIST"
    description = "A 784-128-10 ReLU network on Fashion-MNIST (falls back to digits offline)."
    dataset = "fashion_mnist"


REAL: tuple[type[Problem], ...] = (
    DigitsMLP,
    DigitsCNN,
    BreastCancerLogReg,
    MnistMLP,
    FashionMnistMLP,
)
