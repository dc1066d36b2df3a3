"""RunRecord: built from real short trainings, JSON round trips exact, duck-typed runs."""

import json
from datetime import datetime
from types import SimpleNamespace

import numpy as np
import pytest

from olexplore import optimize_loss
from olexplore.problems import get_problem
from olexplore.runs.config import Config
from olexplore.runs.history import History
from olexplore.runs.record import (
    RunRecord,
    as_records,
    copy_history,
    decode_floats,
    device_name,
    encode_floats,
    flat_config,
    history_from_dict,
    history_to_dict,
    record_of,
)


def train_record(
    optimizer="Adam",
    learning_rate=0.05,
    *,
    steps=50,
    seed=0,
    clip=None,
    noise=0.0,
    problem="rosenbrock",
    label="",
):
    """A record of a real training on a 2-D problem, with evaluations before and after.

    The status is "diverged" when the loss or the gradient norm stopped being finite.
    """
    config = Config(
        problem=problem,
        optimizer=optimizer,
        learning_rate=learning_rate,
        steps=steps,
        seed=seed,
        noise_scale=noise,
        clipping={"kind": "global_norm", "norm": clip} if clip else {"kind": "none"},
    )
    setup = get_problem(problem).build(seed=seed)
    train = optimize_loss(
        setup.loss,
        None,
        learning_rate,
        optimizer,
        clip_gradients=clip,
        gradient_noise_scale=noise or None,
        gradient_noise_seed=seed if noise else None,
    )
    history = History()
    history.add_evaluation(0, {"val_loss": float(setup.loss())})
    chunk = train.run_steps(steps, record=setup.record)
    history.extend(chunk)
    history.add_evaluation(len(history), {"val_loss": float(setup.loss())})
    finite = np.isfinite(chunk["loss"]).all() and np.isfinite(chunk["global_norm"]).all()
    return RunRecord(
        config,
        history,
        status="finished" if finite else "diverged",
        reason=None if finite else "loss is not finite",
        label=label,
        surface=setup.surface,
        variable_names=setup.variable_names,
    )


@pytest.fixture(scope="module")
def adam():
    return train_record("Adam", 0.05)


@pytest.fixture(scope="module")
def diverged():
    return train_record("SGD", 0.01, steps=20)


def assert_histories_equal(mine, theirs):
    assert mine.first_step == theirs.first_step
    assert mine.names == theirs.names
    for name in mine.names:
        assert mine[name].dtype == theirs[name].dtype, name
        np.testing.assert_array_equal(mine[name], theirs[name])  # NaN == NaN here
    assert list(mine.evaluations) == list(theirs.evaluations)
    for name, values in mine.evaluations.items():
        assert np.array_equal(values, theirs.evaluations[name], equal_nan=True), name


# --------------------------------------------------------------------- building
def test_a_record_keeps_the_training(adam):
    history = adam.history
    assert len(history) == 50
    assert history.names == ["loss", "learning_rate", "global_norm", "position"]
    assert history["loss"][0] == pytest.approx(12.5)  # Rosenbrock at its start (-1.5, 2)
    assert history["loss"][-1] < 6.0
    assert history["position"].shape == (50, 2)
    assert history.evaluations["step"].tolist() == [0, 50]
    assert adam.status == "finished" and adam.reason is None
    assert adam.label == "Adam lr 0.05 seed 0"
    assert adam.variable_names == ["x", "y"]
    assert adam.surface.log_scale and adam.surface.minima == ((1.0, 1.0),)
    assert sorted(adam.versions) == ["keras", "numpy", "olexplore", "python", "tensorflow"]
    assert adam.versions["numpy"] == np.__version__
    assert adam.device == device_name() and adam.device
    assert datetime.fromisoformat(adam.created).tzinfo is not None


def test_a_diverged_training_is_recorded_with_nan(diverged):
    loss = diverged.history["loss"]
    assert diverged.status == "diverged" and diverged.diverged
    assert np.isfinite(loss[0]) and np.isnan(loss[-1])


# --------------------------------------------------------------------- JSON
def test_json_round_trip_is_exact(adam, diverged):
    for record in (adam, diverged):
        text = record.to_json()
        copy = RunRecord.from_json(text)
        assert_histories_equal(copy.history, record.history)
        assert copy.config == record.config
        assert (copy.status, copy.reason, copy.label) == (
            record.status,
            record.reason,
            record.label,
        )
        assert copy.versions == record.versions and copy.device == record.device
        assert copy.created == record.created and copy.variable_names == ["x", "y"]
        assert copy == record
    assert np.isnan(RunRecord.from_json(diverged.to_json()).history["loss"][-1])


def test_json_is_strict_and_self_describing(diverged):
    def no_constants(name):
        raise AssertionError(f"non-standard JSON constant {name}")

    data = json.loads(diverged.to_json(), parse_constant=no_constants)
    assert data["format"] == "olexplore.run_record" and data["format_version"] == 1
    assert data["seed"] == 0 and data["config"]["optimizer"] == "SGD"
    assert data["status"] == "diverged" and data["device"] == diverged.device
    assert set(data["versions"]) == {"olexplore", "tensorflow", "keras", "numpy", "python"}
    loss = data["history"]["series"]["loss"]
    assert loss["dtype"] == "float32" and loss["shape"] == [20]
    assert loss["values"][-1] == "NaN"
    assert data["history"]["series"]["position"]["shape"] == [20, 2]
    assert data["history"]["evaluations"]["step"] == [0, 20]
    assert data["surface"]["start"] == [-1.5, 2.0] and data["surface"]["log_scale"] is True


def test_float32_values_survive_json_bit_for_bit():
    bits = np.random.default_rng(0).integers(0, 2**32, size=20_000, dtype=np.uint64)
    values = bits.astype(np.uint32).view(np.float32)  # every kind: subnormal, huge, NaN, inf
    special = np.array([0.1, 1 / 3, -0.0, np.inf, -np.inf, np.nan, 3.4028235e38, 1e-45], np.float32)
    values = np.concatenate([values, special])
    text = json.dumps(encode_floats(values), allow_nan=False)
    back = decode_floats(json.loads(text), np.float32)
    assert back.dtype == np.float32
    finite = ~np.isnan(values)
    assert np.array_equal(np.isnan(back), ~finite)
    assert np.array_equal(back[finite].view(np.uint32), values[finite].view(np.uint32))


def test_history_codec_keeps_dtypes_first_step_and_sparse_evaluations():
    history = History(first_step=7)
    history.extend({"loss": np.float32([1.5, np.inf]), "position": np.array([[0.1, 0.2], [1, 2]])})
    history.add_evaluation(7, {"val_loss": 0.25})
    history.add_evaluation(9, {"val_accuracy": 0.5})
    copy = history_from_dict(json.loads(json.dumps(history_to_dict(history), allow_nan=False)))
    assert copy["position"].dtype == np.float64  # History keeps 2-D float64 as float64
    assert_histories_equal(copy, history)
    assert np.isnan(copy.evaluations["val_accuracy"][0])


def test_the_surface_function_is_rebuilt_from_the_problem(adam):
    copy = RunRecord.from_json(adam.to_json())
    np.testing.assert_array_equal(copy.surface.grid(20)[2], adam.surface.grid(20)[2])
    assert copy.surface.start == adam.surface.start


def test_an_unregistered_problem_loads_without_a_surface(adam):
    data = adam.to_dict()
    data["config"]["problem"] = "my_own_model"
    assert RunRecord.from_dict(data).surface is None


# --------------------------------------------------------------------- from runs
def test_record_of_duck_typed_run_snapshots_the_history(adam):
    setup = SimpleNamespace(surface=adam.surface, variable_names=["x", "y"])
    history = copy_history(adam.history)
    run = SimpleNamespace(
        config=adam.config, history=history, status="stopped", reason="user", label="mine"
    )
    run.setup = setup
    record = record_of(run)
    history.extend({"loss": np.float32([0.0])})  # the live run goes on
    assert len(record.history) == 50 and len(history) == 51
    assert (record.status, record.reason, record.label) == ("stopped", "user", "mine")
    assert record.surface is adam.surface and record.variable_names == ["x", "y"]
    assert record_of(run, copy=False).history is history


def test_record_of_a_released_run_reads_surface_from_the_run(adam):
    run = SimpleNamespace(
        config=adam.config,
        history=adam.history,
        status="finished",
        reason=None,
        label="",
        setup=None,
        surface=adam.surface,
        variable_names=["x", "y"],
    )
    record = record_of(run)
    assert record.surface is adam.surface and record.label == "Adam lr 0.05 seed 0"


def test_record_of_a_run_of_the_package():
    from olexplore.runs.run import Run

    run = Run(Config(problem="quadratic", optimizer="SGD", learning_rate=0.1, steps=30))
    run.run()
    record = record_of(run)
    assert record.status == "finished" and record.label == run.label
    assert record.history is not run.history
    assert_histories_equal(record.history, run.history)
    assert record.surface is run.surface and record.variable_names == ["x", "y"]
    assert RunRecord.from_json(record.to_json()) == record


def test_record_of_names_what_is_missing():
    with pytest.raises(TypeError, match=r"lacks history, status, reason, label.*accepted"):
        record_of(SimpleNamespace(config=Config()))


def test_as_records_accepts_one_or_many(adam):
    assert as_records(adam) == [adam]
    assert as_records((adam, adam))[1] is adam
    with pytest.raises(ValueError, match=r"records\[1\].*lacks"):
        as_records([adam, 3])
    with pytest.raises(ValueError, match="records: got 'x'"):
        as_records("x")


# --------------------------------------------------------------------- errors
@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"status": ""}, r"status: got '' \(str\); accepted: a non-empty string"),
        ({"config": 3}, r"config: got 3 \(int\); accepted: a Config"),
        ({"history": {}}, r"history: got \{\} \(dict\); accepted: a History"),
        ({"reason": 1}, r"reason: got 1 \(int\)"),
        ({"surface": "bowl"}, r"surface: got 'bowl' \(str\); accepted: None or a Surface"),
    ],
)
def test_invalid_fields_are_named(changes, message):
    fields = {"config": Config(), "history": History(), **changes}
    with pytest.raises(ValueError, match=message):
        RunRecord(**fields)


def test_from_json_rejects_other_documents(adam):
    with pytest.raises(ValueError, match="record: not valid JSON"):
        RunRecord.from_json("{")
    with pytest.raises(ValueError, match=r"accepted: a JSON object with \"format\""):
        RunRecord.from_json(json.dumps({"format": "something else"}))
    data = adam.to_dict()
    with pytest.raises(ValueError, match=r"format_version: got 2 \(int\); accepted: 1 to 1"):
        RunRecord.from_dict({**data, "format_version": 2})
    with pytest.raises(ValueError, match="record.seed: got 5"):
        RunRecord.from_dict({**data, "seed": 5})
    bad = json.loads(adam.to_json())
    bad["history"]["series"]["loss"]["values"][0] = "nan?"
    with pytest.raises(
        ValueError, match=r"history.series.loss.values: got 'nan\?'; accepted: numbers"
    ):
        RunRecord.from_dict(bad)


def test_flat_config_joins_nested_keys():
    config = Config(multipliers={"x": 0.5}, clipping={"kind": "adaptive"})
    flat = flat_config(config)
    assert flat["multipliers.x"] == 0.5 and flat["clipping.kind"] == "adaptive"
    assert flat["decay.name"] == "none" and "decay.params" not in flat
