"""The data behind the real problems: sklearn's bundled sets, keras.datasets, local ``.npz``.

Loading checks what it loads: examples must be numbers, labels non-negative integers, and a
file the user names must load or fail with a ``ValueError`` naming it (only the default,
keras.datasets, may fall back to the bundled digits; see :mod:`olexplore.problems.real`).
Splits and batches are drawn from a seed through explicit generators, never global state.
"""

from __future__ import annotations

import functools
import os
from dataclasses import dataclass
from typing import Any

import numpy as np

from olexplore._tensorflow import tf
from olexplore.engine.validation import describe

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
        value = array[bad[0]].item()  # a Python number (round() refuses NumPy's bool)
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
