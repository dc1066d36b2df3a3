"""Real models on real data: splits, names, seeds, losses, accuracy, and the MNIST loader."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from olexplore import optimize_loss
from olexplore.problems import DatasetFallbackWarning, get_problem, problem_names, real
from olexplore.problems.real import (
    REAL,
    BreastCancerLogReg,
    DigitsCNN,
    DigitsMLP,
    FashionMnistMLP,
    MnistMLP,
    load_keras_dataset,
    load_sklearn_dataset,
    shuffled_batches,
    split_and_standardise,
)


def softmax_cross_entropy(logits, labels):
    logits = logits - logits.max(1, keepdims=True)
    log_p = logits - np.log(np.exp(logits).sum(1, keepdims=True))
    return float(-log_p[np.arange(len(labels)), labels].mean())


def write_keras_npz(path, n=60, side=28, classes=10):
    """A tiny file in keras.datasets.mnist's format; class k lights up block k of the image."""
    rng = np.random.default_rng(0)
    labels = np.arange(n) % classes
    x = rng.integers(0, 40, size=(n, side, side)).astype(np.uint8)
    for i, label in enumerate(labels):
        x[i, label * 2 : label * 2 + 2, :] = 255
    np.savez(path, x_train=x, y_train=labels.astype(np.uint8), x_test=x[:5], y_test=labels[:5])
    return x, labels


@pytest.fixture
def no_download(monkeypatch):
    """keras.datasets fails as it does without a network (and nothing is cached)."""

    def fail():
        raise Exception(  # what keras.utils.get_file raises
            "URL fetch failure on https://storage.googleapis.com/tensorflow/tf-keras-datasets/"
            "mnist.npz: None -- [Errno -2] Name or service not known"
        )

    monkeypatch.setattr(keras.datasets.mnist, "load_data", fail)
    monkeypatch.setattr(keras.datasets.fashion_mnist, "load_data", fail)
    real._download.cache_clear()
    yield
    real._download.cache_clear()


# ----------------------------------------------------------------- split and batches
def test_split_is_seeded_disjoint_complete_and_standardised():
    data = load_sklearn_dataset("digits")
    ids = np.arange(len(data.x))
    x_train, id_train, x_val, id_val = split_and_standardise(data.x, ids, 3, 0.2)
    assert len(id_val) == round(0.2 * len(ids)) == 359
    assert sorted(np.concatenate([id_train, id_val]).tolist()) == ids.tolist()
    varying = data.x[id_train].std(0) > 0
    np.testing.assert_allclose(x_train.mean(0), 0.0, atol=1e-5)
    np.testing.assert_allclose(x_train.std(0)[varying], 1.0, rtol=1e-4)
    assert np.all(x_train[:, ~varying] == 0.0)  # constant pixels stay finite
    # The validation part is scaled with the training statistics, not its own.
    train_part = data.x[id_train][:, varying]
    expected = (data.x[id_val][:, varying] - train_part.mean(0)) / train_part.std(0)
    np.testing.assert_allclose(x_val[:, varying], expected, rtol=1e-4, atol=1e-5)
    same = split_and_standardise(data.x, ids, 3, 0.2)[3]
    other = split_and_standardise(data.x, ids, 4, 0.2)[3]
    np.testing.assert_array_equal(id_val, same)
    assert not np.array_equal(id_val, other)


def test_shuffled_batches_are_seeded_endless_and_reshuffled():
    x, y = np.arange(10.0), np.arange(10)

    def epochs(seed):
        return [b[1].numpy().tolist() for b in shuffled_batches(x, y, 5, seed).take(4)]

    first = epochs(1)
    assert first == epochs(1) != epochs(2)
    assert sorted(first[0] + first[1]) == list(range(10))  # an epoch sees every example once
    assert first[:2] != first[2:]  # the next epoch is shuffled again
    batch = next(iter(shuffled_batches(x, y, 4, 0)))
    np.testing.assert_array_equal(batch[0].numpy(), batch[1].numpy())  # pairs stay together


# ----------------------------------------------------------------- the problems
@pytest.mark.parametrize(
    ("cls", "names", "input_shape"),
    [
        (DigitsMLP, ["mlp/hidden/kernel", "mlp/hidden/bias", "mlp/output/kernel"], (64,)),
        (DigitsCNN, ["cnn/conv1/kernel", "cnn/conv1/bias", "cnn/conv2/kernel"], (8, 8, 1)),
        (BreastCancerLogReg, ["logreg/linear/kernel", "logreg/linear/bias"], (30,)),
    ],
)
def test_names_and_initial_weights_are_stable_across_builds(cls, names, input_shape):
    first, again, other = cls().build(seed=7), cls().build(seed=7), cls().build(seed=8)
    assert first.variable_names == again.variable_names == other.variable_names
    assert first.variable_names[: len(names)] == names
    for a, b, c in zip(first.variables, again.variables, other.variables, strict=True):
        assert a is not b  # every build makes fresh variables
        np.testing.assert_array_equal(a.numpy(), b.numpy())
        if "kernel" in a.name:
            assert not np.array_equal(a.numpy(), c.numpy())
    assert first.extras["model"].input_shape[1:] == input_shape
    x, labels = next(iter(first.data))
    assert x.shape[1:] == input_shape and x.shape[0] == 64
    np.testing.assert_array_equal(x.numpy(), next(iter(again.data))[0].numpy())


def test_digits_loss_and_evaluation_are_mean_cross_entropy_on_the_split():
    setup = DigitsMLP().build(seed=2, batch_size=32)
    model = setup.extras["model"]
    x, labels = next(iter(setup.data))
    logits = model(x).numpy()
    assert float(setup.loss(x, labels)) == pytest.approx(
        softmax_cross_entropy(logits, labels.numpy()), rel=1e-5
    )
    data = load_sklearn_dataset("digits")
    _, _, x_val, y_val = split_and_standardise(data.x, data.labels, 2, 0.2)
    val_logits = model(x_val).numpy()
    result = setup.evaluate()
    assert set(result) == {"val_loss", "val_accuracy"}
    assert result["val_loss"] == pytest.approx(softmax_cross_entropy(val_logits, y_val), rel=1e-5)
    assert result["val_accuracy"] == pytest.approx(np.mean(val_logits.argmax(1) == y_val))
    assert setup.extras["train_size"] == 1438 and setup.extras["validation_size"] == 359


@pytest.mark.parametrize(
    ("cls", "optimizer", "learning_rate", "steps", "accuracy"),
    [
        (DigitsMLP, "Adam", 0.001, 300, 0.85),
        (DigitsCNN, "Adam", 0.003, 250, 0.85),
        (BreastCancerLogReg, "SGD", 0.1, 200, 0.9),
    ],
)
def test_training_reaches_a_good_validation_accuracy(
    cls, optimizer, learning_rate, steps, accuracy
):
    setup = cls().build(seed=0, batch_size=64)
    before = setup.evaluate()
    train = optimize_loss(setup.loss, None, learning_rate, optimizer)
    history = train.run_steps(steps, data=setup.data)
    after = setup.evaluate()
    assert len(history["loss"]) == steps
    assert before["val_accuracy"] < 0.8
    assert after["val_accuracy"] > accuracy, after
    assert after["val_loss"] < 0.5 * before["val_loss"]


def test_breast_cancer_is_binary_with_one_logit():
    setup = BreastCancerLogReg().build(seed=0, batch_size=16)
    x, labels = next(iter(setup.data))
    assert set(np.unique(load_sklearn_dataset("breast_cancer").labels)) == {0, 1}
    logits = setup.extras["model"](x).numpy().reshape(-1)
    y = labels.numpy()
    expected = np.mean(np.logaddexp(0.0, logits) - y * logits)  # sigmoid cross-entropy
    assert float(setup.loss(x, labels)) == pytest.approx(expected, rel=1e-5)
    assert setup.extras["classes"] == 2


def test_multipliers_can_freeze_a_named_layer():
    setup = DigitsMLP().build(seed=0)
    hidden = [v.numpy() for v in setup.variables[:2]]
    output = setup.variables[2].numpy()
    train = optimize_loss(
        setup.loss, None, 0.01, "SGD", gradient_multipliers={"mlp/hidden/.*": 0.0}
    )
    train.run_steps(5, data=setup.data)
    for before, variable in zip(hidden, setup.variables[:2], strict=False):
        np.testing.assert_array_equal(before, variable.numpy())
    assert not np.array_equal(output, setup.variables[2].numpy())


# ----------------------------------------------------------------- keras.datasets
@pytest.mark.parametrize("cls", [MnistMLP, FashionMnistMLP])
def test_keras_format_file_is_loaded_and_learnable(tmp_path, cls):
    path = tmp_path / "tiny.npz"
    x, labels = write_keras_npz(path)
    data = load_keras_dataset(cls.dataset, path)
    np.testing.assert_array_equal(data.x, x.astype(np.float32))
    np.testing.assert_array_equal(data.labels, labels)
    setup = cls(path=path).build(seed=0, batch_size=8)
    assert setup.variable_names[0] == "mlp/hidden/kernel"
    assert setup.variables[0].shape == (784, 128)
    assert setup.extras["dataset"] == f"{cls.dataset} from {path}"
    assert (setup.extras["train_size"], setup.extras["validation_size"]) == (48, 12)
    train = optimize_loss(setup.loss, None, 0.003, "Adam")
    train.run_steps(60, data=setup.data)
    assert setup.evaluate()["val_accuracy"] == 1.0  # labels travel with their images


def test_without_network_mnist_warns_and_falls_back_to_digits(no_download):
    with pytest.warns(DatasetFallbackWarning) as caught:
        setup = MnistMLP().build(seed=0)
    message = str(caught[0].message)
    assert "mnist-mlp: mnist is unavailable" in message
    assert "URL fetch failure" in message and "Name or service not known" in message
    assert "bundled 8x8 digits" in message and "path=" in message
    assert setup.extras["dataset"] == "sklearn digits"
    assert setup.variable_names == DigitsMLP().build().variable_names
    assert setup.variables[0].shape == (64, 128)
    with pytest.warns(DatasetFallbackWarning, match="fashion-mnist-mlp: fashion_mnist"):
        FashionMnistMLP().build(seed=0)


def test_cached_download_is_used_when_keras_can_load(monkeypatch, tmp_path):
    x, labels = write_keras_npz(tmp_path / "cached.npz", n=20)
    calls = []

    def load_data():
        calls.append(1)
        return (x, labels), (x[:2], labels[:2])

    monkeypatch.setattr(keras.datasets.mnist, "load_data", load_data)
    real._download.cache_clear()
    try:
        setup = MnistMLP().build(seed=0, batch_size=4)
        MnistMLP().build(seed=1, batch_size=4)
    finally:
        real._download.cache_clear()
    assert setup.extras["dataset"] == "keras.datasets.mnist"
    assert setup.extras["train_size"] == 16
    assert len(calls) == 1  # loaded once per process


def test_an_explicit_path_loads_or_fails_naming_the_file(tmp_path, recwarn):
    # Only path=None may fall back to the digits; a file the user names must load or fail.
    missing = tmp_path / "missing.npz"
    with pytest.raises(ValueError, match=r"path: got '.*missing\.npz', which is not a file"):
        MnistMLP(path=missing).build()
    wrong = tmp_path / "wrong.npz"
    np.savez(wrong, images=np.zeros((3, 4)))
    with pytest.raises(
        ValueError, match=r"path: could not read .*wrong\.npz.*has arrays \['images'\]"
    ):
        MnistMLP(path=wrong).build()
    mismatched = tmp_path / "mismatched.npz"
    np.savez(mismatched, x_train=np.zeros((3, 4, 4)), y_train=np.zeros(2))
    with pytest.raises(ValueError, match=r"mismatched\.npz'?: x_train has shape \(3, 4, 4\)"):
        MnistMLP(path=mismatched).build()
    assert not [w for w in recwarn if issubclass(w.category, DatasetFallbackWarning)]


def test_a_truncated_npz_is_a_value_error_naming_the_file(tmp_path):
    whole = tmp_path / "whole.npz"
    write_keras_npz(whole)
    truncated = tmp_path / "truncated.npz"
    truncated.write_bytes(whole.read_bytes()[:5000])
    with pytest.raises(ValueError, match=r"path: could not read '.*truncated\.npz'"):
        load_keras_dataset("mnist", truncated)
    with pytest.raises(ValueError, match=r"truncated\.npz"):
        MnistMLP(path=truncated).build()
    not_a_zip = tmp_path / "text.npz"
    not_a_zip.write_text("hello")
    with pytest.raises(ValueError, match=r"path: could not read '.*text\.npz'"):
        load_keras_dataset("mnist", not_a_zip)


@pytest.mark.parametrize(
    ("x", "y", "message"),
    [
        (np.array([["a", "b"]] * 4), np.arange(4), r"x_train: got an array of dtype <U1"),
        (
            np.zeros((0, 3)),
            np.zeros(0),
            r"x_train: got an array of dtype float64 and shape \(0, 3\)",
        ),
        (np.zeros((4, 3)), np.array([0, 1, -1, 2]), r"y_train: got label -1 \(at row 2\)"),
        (np.zeros((4, 3)), np.array([0, 1.5, 1, 2]), r"y_train: got label 1.5 \(at row 1\)"),
    ],
)
def test_bad_arrays_in_a_file_name_the_file_and_the_array(tmp_path, x, y, message):
    path = tmp_path / "bad.npz"
    np.savez(path, x_train=x, y_train=y)
    with pytest.raises(ValueError, match=r"path: '.*bad\.npz': " + message):
        load_keras_dataset("mnist", path)


def test_a_batch_larger_than_the_training_data_is_refused():
    with pytest.raises(
        ValueError,
        match=r"batch_size: got 1439 \(int\); accepted: an int from 1 to 1438, the training "
        r"examples of digits-mlp \(sklearn digits\); a larger batch would repeat examples",
    ):
        DigitsMLP().build(batch_size=1439)
    assert DigitsMLP().build(batch_size=1438).extras["train_size"] == 1438
    with pytest.raises(
        ValueError, match=r"batch_size: got 6 \(int\); accepted: an int from 1 to 5"
    ):
        shuffled_batches(np.arange(5.0), np.arange(5), 6, seed=0)


def test_shuffling_ignores_the_global_tensorflow_seed():
    x, y = np.arange(10.0), np.arange(10)

    def order():
        return [b[1].numpy().tolist() for b in shuffled_batches(x, y, 5, 3).take(4)]

    first = order()
    try:
        tf.random.set_seed(123)
        assert order() == first
        tf.random.set_seed(456)
        assert order() == first
    finally:
        tf.random.set_seed(None)


def test_argument_errors_name_the_argument():
    with pytest.raises(ValueError, match=r"name: got 'cifar' \(str\); accepted: one of mnist"):
        load_keras_dataset("cifar")
    with pytest.raises(ValueError, match=r"name: got 'iris' \(str\); accepted: one of digits"):
        load_sklearn_dataset("iris")
    with pytest.raises(ValueError, match=r"path: got 3 \(int\); accepted: None"):
        MnistMLP(path=3)
    with pytest.raises(ValueError, match=r"batch_size: got 0 \(int\); accepted: an int >= 1"):
        DigitsMLP().build(batch_size=0)


def test_real_problems_are_registered():
    for cls in REAL:
        assert cls.name in problem_names()
        assert cls.kind == "real"
        assert {"optimizer", "learning_rate", "steps", "batch_size"} <= set(cls.suggested)
    assert get_problem("mnist-mlp", path="x.npz").path == "x.npz"
    assert isinstance(get_problem("digits-cnn"), DigitsCNN)


def test_evaluate_is_one_compiled_call():
    setup = DigitsMLP().build(seed=0)
    setup.evaluate()
    model = setup.extras["model"]
    calls = []
    original = model.call
    model.call = lambda *args, **kwargs: calls.append(1) or original(*args, **kwargs)
    try:
        for _ in range(3):
            setup.evaluate()
        assert calls == []  # the traced graph runs; the Python model code is not called again
        model(tf.zeros([1, 64]))
        assert calls == [1]  # (the patch does see eager calls)
    finally:
        model.call = original
