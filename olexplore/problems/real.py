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

import functools
import os
import warnings
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np

from olexplore._tensorflow import tf
from olexplore.engine.validation import describe
from olexplore.engine.variables import as_tf_variable
from olexplore.problems.base import Problem, Setup
from olexplore.problems.params import MAX_BATCH_SIZE, count

KERAS_DATASETS = ("mnist", "fashion_mnist")


class DatasetFallbackWarning(UserWarning):
    """A dataset could not be loaded, so a problem trains on the bundled digits instead."""


class DatasetUnavailableError(RuntimeError):
    """A dataset could not be loaded (no network, a missing or malformed file)."""


@dataclass(frozen=True)
class ClassificationData:
    """Inputs ``x`` (``[n, ...]`` floats), integer ``labels`` (``[n]``) and where they came from."""

    x: np.ndarray
    labels: np.ndarray
    classes: int
    source: str


@functools.lru_cache(maxsize=4)
def load_sklearn_dataset(name: str) -> ClassificationData:
    """One of sklearn's bundled datasets (no download): ``"digits"`` or ``"breast_cancer"``.

    >>> data = load_sklearn_dataset("digits")
    >>> data.x.shape, data.classes
    ((1797, 64), 10)
    """
    from sklearn import datasets  # noqa: PLC0415 - slow import, only when needed

    loaders = {"digits": datasets.load_digits, "breast_cancer": datasets.load_breast_cancer}
    if name not in loaders:
        raise ValueError(f"name: got {describe(name)}; accepted: one of {', '.join(loaders)}.")
    bunch = loaders[name]()
    labels = bunch.target.astype(np.int32)
    return ClassificationData(
        bunch.data.astype(np.float32), labels, int(labels.max()) + 1, f"sklearn {name}"
    )


def load_keras_dataset(name: str, path: str | os.PathLike | None = None) -> ClassificationData:
    """The training part of ``keras.datasets.<name>``, or of a local ``.npz`` in its format.

    ``path`` is a file with arrays ``x_train`` ``[n, ...]`` and ``y_train`` ``[n]`` (what
    ``keras.datasets.mnist`` downloads); without it Keras loads (and if needed downloads) the
    dataset. A failed download raises :class:`DatasetUnavailableError` saying why; a ``path``
    that cannot be read, or whose arrays are not examples and class labels, a ``ValueError``
    naming the file.

    >>> load_keras_dataset("cifar")
    Traceback (most recent call last):
    ...
    ValueError: name: got 'cifar' (str); accepted: one of mnist, fashion_mnist.
    """
    if name not in KERAS_DATASETS:
        raise ValueError(
            f"name: got {describe(name)}; accepted: one of {', '.join(KERAS_DATASETS)}."
        )
    if path is not None:
        if not os.path.isfile(path):
            raise ValueError(
                f"path: got {os.fspath(path)!r}, which is not a file; accepted: the path of an "
                "existing .npz file with x_train and y_train (only path=None falls back to the "
                "bundled digits when keras.datasets cannot load)."
            )
        return _load_npz(os.fspath(path), name)
    return _download(name)


@functools.lru_cache(maxsize=2)
def _download(name: str) -> ClassificationData:
    import keras  # noqa: PLC0415

    try:
        (x, labels), _ = getattr(keras.datasets, name).load_data()
    except Exception as error:  # keras raises a bare Exception on a failed download
        raise DatasetUnavailableError(
            f"keras.datasets.{name}.load_data() failed: {error}"
        ) from None
    return _classification(x, labels, f"keras.datasets.{name}")


def _load_npz(path: str, name: str) -> ClassificationData:
    # An explicit file must load or fail: every problem with it is a ValueError naming it.
    try:
        with np.load(path, allow_pickle=False) as file:
            if not hasattr(file, "files"):
                raise ValueError("it holds one array, not a .npz archive")
            missing = [key for key in ("x_train", "y_train") if key not in file.files]
            if missing:
                raise ValueError(
                    f"it has arrays {file.files}; accepted: a .npz in the Keras format with "
                    "x_train [n, ...] and y_train [n]"
                )
            x, labels = file["x_train"], file["y_train"]
    except Exception as error:  # noqa: BLE001 - BadZipFile, EOFError, zlib.error, OSError, ...
        raise ValueError(f"path: could not read {path!r} as a Keras-format .npz: {error}") from None
    if x.ndim < 2 or labels.shape != (len(x),):
        raise ValueError(
            f"path: {path!r}: x_train has shape {x.shape} and y_train {labels.shape}; "
            "accepted: x_train [n, ...] and y_train [n]"
        )
    return _classification(x, labels, f"{name} from {path}", f"path: {path!r}: ")


def check_examples(x: Any, argument: str, *, minimum: int = 1) -> np.ndarray:
    """``x`` as an array of numbers with at least ``minimum`` rows, else a ValueError.

    >>> check_examples(np.zeros((3, 2)), "x").shape
    (3, 2)
    >>> check_examples(np.array(["a", "b"]), "x_train")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    ValueError: x_train: got an array of dtype <U1 and shape (2,); accepted: a NumPy array ...
    """
    try:
        array = np.asarray(x)
    except Exception:  # noqa: BLE001 - ragged lists and the like: not array-like
        array = np.asarray(None)
    accepted = (
        "accepted: a NumPy array (or array-like) of numbers (bool, int or float), one row per "
        f"example, at least {minimum} row{'s' if minimum > 1 else ''}"
    )
    if array.dtype.kind not in "biuf" or array.ndim == 0 or len(array) < minimum:
        got = (
            f"an array of dtype {array.dtype} and shape {array.shape}"
            if array.dtype != object and array.ndim
            else describe(x)
        )
        raise ValueError(f"{argument}: got {got}; {accepted}.")
    return array


def check_labels(labels: Any, argument: str, classes: int | None = None) -> np.ndarray:
    """Integer class labels ``0 <= label < classes`` (``classes`` None: no upper bound).

    >>> check_labels([0, 2, 1], "y", classes=3).tolist()
    [0, 2, 1]
    >>> check_labels([0, -1], "y", classes=3)
    Traceback (most recent call last):
    ...
    ValueError: y: got label -1 (at row 1); accepted: integer class labels from 0 to 2.
    """
    array = np.asarray(labels).reshape(-1) if np.ndim(labels) else np.asarray([labels])
    upper = "" if classes is None else f" to {classes - 1}"
    accepted = f"accepted: integer class labels from 0{upper}"
    if array.dtype.kind not in "biuf":
        raise ValueError(f"{argument}: got an array of dtype {array.dtype}; {accepted}.")
    whole = np.isfinite(array) & (array == np.round(array)) if array.dtype.kind == "f" else None
    bad = np.flatnonzero(~whole) if whole is not None else np.array([], int)
    if not len(bad):
        too_high = array >= classes if classes is not None else np.zeros(len(array), bool)
        bad = np.flatnonzero((array < 0) | too_high)
    if len(bad):
        value = array[bad[0]]
        value = int(value) if np.isfinite(value) and value == round(value) else float(value)
        raise ValueError(f"{argument}: got label {value} (at row {int(bad[0])}); {accepted}.")
    return array.astype(np.int32)


def _classification(
    x: np.ndarray, labels: np.ndarray, source: str, where: str = ""
) -> ClassificationData:
    x = check_examples(x, f"{where}x_train", minimum=2)
    labels = check_labels(labels, f"{where}y_train")
    classes = max(10, int(labels.max()) + 1)
    return ClassificationData(np.asarray(x, np.float32), labels, classes, source)


def split_and_standardise(
    x: np.ndarray, labels: np.ndarray, seed: int, validation_fraction: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """``(x_train, y_train, x_val, y_val)``: a seeded split, inputs scaled by training statistics.

    >>> x = np.arange(20, dtype=np.float32).reshape(10, 2)
    >>> x_train, y_train, x_val, y_val = split_and_standardise(x, np.arange(10), 0, 0.2)
    >>> x_train.shape, x_val.shape, float(abs(x_train.mean(0)).max()) < 1e-6
    ((8, 2), (2, 2), True)
    """
    order = np.random.default_rng(seed).permutation(len(x))
    n_val = min(len(x) - 1, max(1, round(len(x) * validation_fraction)))
    val, train = order[:n_val], order[n_val:]
    flat = x.reshape(len(x), -1)
    mean, std = flat[train].mean(0), flat[train].std(0)
    std = np.where(std > 1e-6, std, 1.0)
    scaled = ((flat - mean) / std).astype(np.float32).reshape(x.shape)
    return scaled[train], labels[train], scaled[val], labels[val]


def shuffled_batches(x: Any, y: Any, batch_size: int, seed: int) -> tf.data.Dataset:
    """Endless ``(x, y)`` batches of ``batch_size``, reshuffled every epoch from ``seed``.

    Epoch ``e``'s order is drawn statelessly from ``(seed, e)``: it depends on nothing else
    (not on TensorFlow's global seed). A ``batch_size`` above the number of examples is
    refused: a batch would hold some examples twice.

    >>> batches = shuffled_batches(np.arange(5.0), np.arange(5), 2, seed=0)
    >>> [b[0].shape.as_list() for b in batches.take(4)]
    [[2], [2], [2], [2]]
    >>> shuffled_batches(np.arange(5.0), np.arange(5), 8, seed=0)  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    ValueError: batch_size: got 8 (int); accepted: an int from 1 to 5, the number of training ...
    """
    x, y = tf.constant(x), tf.constant(y)
    n = int(x.shape[0])
    if (
        not isinstance(batch_size, (int, np.integer))
        or isinstance(batch_size, bool)
        or not 1 <= batch_size <= n
    ):
        raise ValueError(
            f"batch_size: got {describe(batch_size)}; accepted: an int from 1 to {n}, the number "
            "of training examples (a larger batch would repeat examples)."
        )
    key = tf.constant(int(seed), tf.int64)

    def epoch_order(epoch: tf.Tensor) -> tf.Tensor:
        return tf.argsort(tf.random.stateless_uniform([n], seed=tf.stack([key, epoch])))

    orders = tf.data.Dataset.counter().map(epoch_order).unbatch()
    indices = orders.batch(int(batch_size), drop_remainder=True)
    return indices.map(lambda i: (tf.gather(x, i), tf.gather(y, i)))


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
                "validation_size": int(x_val.shape[0]),
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

    return keras.layers.Dense(
        units,
        activation=activation,
        kernel_initializer=keras.initializers.GlorotUniform(seed=seed),
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
                kernel_initializer=initializer,
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
