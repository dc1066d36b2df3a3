"""History: growth, NaN back-fill, read-only views, evaluations, truncation, memory."""

import numpy as np
import pytest

from olexplore.runs import History


def test_chunks_append_and_steps_are_implicit():
    history = History(first_step=10, capacity=2)
    history.extend({"loss": np.arange(3.0), "position": np.zeros((3, 2))})
    history.extend({"loss": np.arange(3.0, 8.0), "position": np.ones((5, 2))})
    assert len(history) == 8
    assert history["loss"].tolist() == list(range(8))
    assert history.steps.tolist() == list(range(10, 18))
    assert history["step"].tolist() == list(range(10, 18))
    assert history["position"].shape == (8, 2)
    assert history["loss"].dtype == np.float32
    assert history.last("loss") == 7.0 and np.isnan(History().last("loss"))


def test_missing_and_new_series_are_nan_filled():
    history = History()
    history.extend({"loss": [1.0, 2.0]})
    history.extend({"loss": [3.0], "clipped_global_norm": [0.5]})
    history.extend({"clipped_global_norm": [0.25]})
    assert np.isnan(history["clipped_global_norm"][:2]).all()
    assert history["clipped_global_norm"][2:].tolist() == [0.5, 0.25]
    assert np.isnan(history["loss"][3])


def test_views_are_read_only_and_unknown_names_are_named():
    history = History()
    history.extend({"loss": [1.0]})
    with pytest.raises(ValueError):
        history["loss"][0] = 5.0
    with pytest.raises(KeyError, match="'lr': recorded series are \\['loss'\\]"):
        history["lr"]


def test_unequal_chunk_lengths_are_an_error():
    with pytest.raises(ValueError, match=r"chunk: series of different lengths \[1, 2\]"):
        History().extend({"loss": [1.0, 2.0], "global_norm": [1.0]})


def test_evaluations_are_sparse_and_aligned():
    history = History()
    history.add_evaluation(0, {"val_loss": 2.0})
    history.add_evaluation(10, {"val_loss": 1.0, "val_accuracy": 0.5})
    table = history.evaluations
    assert table["step"].tolist() == [0, 10]
    assert table["val_loss"].tolist() == [2.0, 1.0]
    assert np.isnan(table["val_accuracy"][0]) and table["val_accuracy"][1] == 0.5


def test_truncate_drops_later_steps_and_evaluations():
    history = History()
    history.extend({"loss": np.arange(10.0)})
    history.add_evaluation(5, {"val_loss": 1.0})
    history.add_evaluation(10, {"val_loss": 0.5})
    history.truncate(6)
    assert history["loss"].tolist() == [0, 1, 2, 3, 4, 5]
    assert history.evaluations["step"].tolist() == [5]
    history.extend({"loss": [42.0]})
    assert history["loss"][-1] == 42.0 and len(history) == 7


def test_to_dict_copies():
    history = History()
    history.extend({"loss": [1.0, 2.0], "global_norm": [3.0, 4.0]})
    data = history.to_dict(["loss"])
    assert list(data) == ["step", "loss"]
    data["loss"][0] = 9.0
    assert history["loss"][0] == 1.0


def test_a_million_steps_of_six_series_stay_under_30_mb():
    history = History()
    names = ["loss", "learning_rate", "global_norm", "clipped_global_norm", "wall_time", "x"]
    chunk = {name: np.ones(5000, np.float32) for name in names}
    for _ in range(200):
        history.extend(chunk)
    assert len(history) == 1_000_000
    assert history.nbytes < 30 * 2**20
    assert all(history[name].dtype == np.float32 for name in names)
    assert history["wall_time"][-1] == 1.0
