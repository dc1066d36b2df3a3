"""Exports of real run records: CSV, JSON, TensorBoard events (read back), and code."""

import ast
import csv
import math

import numpy as np
import pytest
import tensorflow as tf
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

import olexplore
from olexplore import optimize_loss
from olexplore.problems import get_problem
from olexplore.runs.arguments import RUNS_JIT_COMPILE, noise_seed
from olexplore.runs.config import Config
from olexplore.runs.export import as_code, load_json, to_csv, to_json, to_tensorboard
from olexplore.runs.record import flat_config
from tests.runs.test_record import assert_histories_equal, train_record


@pytest.fixture(scope="module")
def records():
    """Adam; SGD with clipping at 1 (its own label); SGD that diverges after a few steps."""
    return [
        train_record("Adam", 0.05, steps=40),
        train_record("SGD", 0.001, steps=30, clip=1.0, label="SGD, clip 1"),
        train_record("SGD", 0.01, steps=20),
    ]


def read_csv(path):
    with open(path, newline="", encoding="utf-8") as file:
        return list(csv.DictReader(file))


# --------------------------------------------------------------------- CSV
def test_csv_has_one_row_per_run_and_step(records, tmp_path):
    rows = read_csv(to_csv(records, tmp_path / "runs.csv"))
    # every history step, plus the evaluation after the last step
    assert len(rows) == (40 + 1) + (30 + 1) + (20 + 1)
    assert [row["run"] for row in rows].count("1") == 31
    header = list(rows[0])
    assert header[:6] == ["run", "label", "status", "problem", "optimizer", "learning_rate"]
    step = header.index("step")
    assert header[step + 1 :] == [
        "loss",
        "learning_rate_at_step",
        "global_norm",
        "position_x",
        "position_y",
        "clipped_global_norm",
        "val_loss",
    ]
    assert {"seed", "decay.name", "clipping.kind", "clipping.norm", "noise_scale"} <= set(header)


def test_csv_values_are_the_histories(records, tmp_path):
    rows = read_csv(to_csv(records, tmp_path / "runs.csv"))
    for index, record in enumerate(records):
        mine = [row for row in rows if row["run"] == str(index)]
        history = record.history
        assert [int(row["step"]) for row in mine] == list(range(len(history) + 1))
        trained = mine[:-1]
        for column, values in [
            ("loss", history["loss"]),
            ("learning_rate_at_step", history["learning_rate"]),
            ("global_norm", history["global_norm"]),
            ("position_x", history["position"][:, 0]),
            ("position_y", history["position"][:, 1]),
        ]:
            read = np.array([float(row[column]) for row in trained], dtype=np.float32)
            np.testing.assert_array_equal(read, values)  # full float32 precision, NaN kept
        flat = flat_config(record.config)
        assert {row["label"] for row in mine} == {record.label}
        assert {row["status"] for row in mine} == {record.status}
        assert {row["optimizer"] for row in mine} == {record.config.optimizer}
        assert {float(row["learning_rate"]) for row in mine} == {record.config.learning_rate}
        assert {row["clipping.kind"] for row in mine} == {flat["clipping.kind"]}
        # val_loss only where it was measured: before the first step and after the last
        val = [(int(row["step"]), row["val_loss"]) for row in mine if row["val_loss"]]
        expected = record.history.evaluations
        assert [s for s, _ in val] == expected["step"].tolist()
        assert np.array_equal([float(v) for _, v in val], expected["val_loss"], equal_nan=True)
        assert mine[-1]["loss"] == ""  # the evaluation-only row has no training values


def test_csv_marks_missing_series_empty_and_divergence_nan(records, tmp_path):
    rows = read_csv(to_csv(records, tmp_path / "runs.csv"))
    adam = [row for row in rows if row["run"] == "0"]
    clipped = [row for row in rows if row["run"] == "1"]
    diverged = [row for row in rows if row["run"] == "2"]
    assert {row["clipped_global_norm"] for row in adam} == {""}
    assert float(clipped[0]["clipped_global_norm"]) == pytest.approx(1.0)
    assert diverged[0]["status"] == "diverged"
    assert math.isnan(float(diverged[-2]["loss"]))


# --------------------------------------------------------------------- JSON
def test_json_file_round_trip(records, tmp_path):
    loaded = load_json(to_json(records, tmp_path / "runs.json"))
    assert len(loaded) == 3
    for mine, original in zip(loaded, records, strict=True):
        assert_histories_equal(mine.history, original.history)
        assert mine.config == original.config and mine.status == original.status
        assert mine == original
    assert np.isnan(loaded[2].history["loss"][-1])
    one = tmp_path / "one.json"
    one.write_text(records[0].to_json())
    assert load_json(one) == [records[0]]


def test_load_json_names_the_file_and_record(tmp_path):
    bad = tmp_path / "bad.json"
    bad.write_text('[{"format": "olexplore.run_record", "format_version": 1}]')
    missing = r"bad.json', record 0: record: missing key\(s\) \['config', 'history', 'status'\]"
    with pytest.raises(ValueError, match=missing):
        load_json(bad)
    bad.write_text("{")
    with pytest.raises(ValueError, match=r"bad.json': not valid JSON \(Expecting property name"):
        load_json(bad)


# --------------------------------------------------------------------- TensorBoard
def read_events(directory):
    accumulator = EventAccumulator(str(directory), size_guidance={"tensors": 0})
    accumulator.Reload()
    return accumulator


def scalars(accumulator, tag):
    events = accumulator.Tensors(tag)
    steps = [event.step for event in events]
    values = np.array([tf.make_ndarray(event.tensor_proto) for event in events], np.float32)
    return steps, values


def test_tensorboard_events_read_back(records, tmp_path):
    directories = to_tensorboard(records, tmp_path / "logs")
    assert [d.name for d in directories] == [
        "00_Adam_lr_0.05_seed_0",
        "01_SGD_clip_1",
        "02_SGD_lr_0.01_seed_0",
    ]
    for directory, record in zip(directories, records, strict=True):
        accumulator = read_events(directory)
        tags = set(accumulator.Tags()["tensors"])
        history = record.history
        expected = {"loss", "learning_rate", "global_norm", "position/x", "position/y", "val_loss"}
        assert expected <= tags
        assert ("clipped_global_norm" in tags) == ("clipped_global_norm" in history)
        series = {
            "loss": history["loss"],
            "learning_rate": history["learning_rate"],
            "global_norm": history["global_norm"],
            "position/x": history["position"][:, 0],
            "position/y": history["position"][:, 1],
        }
        if "clipped_global_norm" in history:
            series["clipped_global_norm"] = history["clipped_global_norm"]
        for tag, values in series.items():
            steps, read = scalars(accumulator, tag)
            assert steps == history.steps.tolist(), tag
            np.testing.assert_array_equal(read, values)  # NaN of the diverged run included
        steps, read = scalars(accumulator, "val_loss")
        assert steps == history.evaluations["step"].tolist()
        np.testing.assert_array_equal(read, history.evaluations["val_loss"].astype(np.float32))
        assert accumulator.SummaryMetadata("loss").plugin_data.plugin_name == "scalars"
        (text,) = accumulator.Tensors("config")
        written = tf.make_ndarray(text.tensor_proto).item().decode()
        assert Config.from_json(written) == record.config
        assert all(line.startswith("    ") for line in written.splitlines())  # a code block
        assert "_hparams_/session_start_info" in tags


# --------------------------------------------------------------------- as code
CONFIGS = [
    Config(problem="rosenbrock", optimizer="Adam", learning_rate=0.05, steps=25),
    Config(
        problem="rosenbrock",
        optimizer="Momentum",
        learning_rate=0.001,
        decay={"name": "exponential_decay", "params": {"decay_steps": 5, "decay_rate": 0.5}},
        clipping={"kind": "global_norm", "norm": 2.0},
        noise_scale=0.5,
        multipliers={"x": 0.5},
        steps=25,
        seed=3,
    ),
    Config(
        problem="quadratic",
        optimizer="RMSProp",
        learning_rate=0.01,
        decay={
            "name": "piecewise_constant",
            "params": {"boundaries": [10], "values": [0.01, 0.002]},
        },
        clipping={"kind": "adaptive", "std_factor": 1.5, "decay": 0.9, "static_max_norm": 5.0},
        problem_params={"condition_number": 4.0, "start": [1.0, -1.0]},
        steps=25,
    ),
]


@pytest.mark.parametrize("config", CONFIGS, ids=["plain", "decay-clip-noise", "adaptive"])
def test_as_code_is_valid_python_with_the_exact_call(config):
    code = as_code(config)
    tree = ast.parse(code)
    compile(code, "<as_code>", "exec")
    (call,) = [
        node.value
        for node in tree.body
        if isinstance(node, ast.Assign) and node.targets[0].id == "train"
    ]
    assert call.func.id == "optimize_loss"
    assert ast.literal_eval(call.args[2]) == config.learning_rate
    assert ast.literal_eval(call.args[3]) == config.optimizer
    keywords = {k.arg: k.value for k in call.keywords}
    if config.noise_scale:
        assert ast.literal_eval(keywords["gradient_noise_scale"]) == config.noise_scale
        assert ast.literal_eval(keywords["gradient_noise_seed"]) == noise_seed(config.seed)
    if config.multipliers:
        assert ast.literal_eval(keywords["gradient_multipliers"]) == dict(config.multipliers)
    if config.clipping.kind == "global_norm":
        assert ast.literal_eval(keywords["clip_gradients"]) == config.clipping.norm
    if config.decay.name != "none":
        decay = keywords["learning_rate_decay_fn"]
        assert ast.unparse(decay.func) == "olexplore.decay_function"
        assert ast.literal_eval(decay.args[0]) == config.decay.name
    assert f"run_steps({config.steps}, record=setup.record" in code
    assert f".build(seed={config.seed}, batch_size={config.batch_size})" in code


def test_as_code_runs_and_reproduces_direct_training():
    config = CONFIGS[1]
    namespace = {}
    exec(compile(as_code(config), "<as_code>", "exec"), namespace)

    # the same settings, written by hand
    tf.keras.utils.set_random_seed(3)
    setup = get_problem("rosenbrock").build(seed=3, batch_size=64)
    train = optimize_loss(
        setup.loss,
        tf.Variable(0, dtype=tf.int64, trainable=False),
        0.001,
        "Momentum",
        gradient_noise_scale=0.5,
        gradient_multipliers={"x": 0.5},
        clip_gradients=2.0,
        learning_rate_decay_fn=olexplore.decay_function(
            "exponential_decay", decay_steps=5, decay_rate=0.5
        ),
        gradient_noise_seed=noise_seed(3),
        jit_compile=RUNS_JIT_COMPILE,  # as a Run trains (XLA rounds a few last bits otherwise)
    )
    direct = train.run_steps(25, record=setup.record)
    snippet = namespace["history"]
    assert len(snippet["loss"]) == 25
    assert snippet["loss"][-1] == direct["loss"][-1]
    for name in ("loss", "learning_rate", "global_norm", "clipped_global_norm", "position"):
        np.testing.assert_array_equal(snippet[name], direct[name])


@pytest.mark.parametrize("config", CONFIGS[1:], ids=["decay-clip-noise", "adaptive"])
def test_as_code_reproduces_a_run_of_the_config(config):
    from olexplore.runs.run import Run

    namespace = {}
    exec(compile(as_code(config), "<as_code>", "exec"), namespace)
    history = Run(config).run()
    for name in ("loss", "learning_rate", "global_norm", "position"):
        np.testing.assert_array_equal(namespace["history"][name], history[name])


def test_as_code_rejects_what_is_not_a_config():
    with pytest.raises(ValueError, match=r"config: got \{\} \(dict\); accepted: a Config"):
        as_code({})


def test_exports_name_bad_records(tmp_path):
    with pytest.raises(ValueError, match=r"records\[0\]: run: got 1 \(int\)"):
        to_csv([1], tmp_path / "x.csv")


# --------------------------------------------------------------------- CSV injection
def test_csv_text_cells_that_look_like_formulas_are_neutralised(records, tmp_path):
    """OWASP's rule: a text cell starting with = + - @ tab or CR gets a leading quote; numbers
    (negative, NaN, infinite) stay numbers and the file still reads back."""
    from olexplore.runs.config import FrozenMapping
    from olexplore.runs.record import RunRecord

    record = records[0]
    config = Config(problem="quadratic", learning_rate=0.05)
    object.__setattr__(config, "problem", "=cmd|' /C calc'!A0")
    object.__setattr__(config, "problem_params", FrozenMapping({"@tag": "+1+2", "k": -0.5}))
    object.__setattr__(config, "multipliers", FrozenMapping({"-w": -0.5}))
    hostile = RunRecord(config, record.history, status="\tfinished", label='-2+3 ";=HYPERLINK("x")')
    rows = read_csv(to_csv([hostile], tmp_path / "runs.csv"))
    row = rows[0]
    assert row["label"] == '\'-2+3 ";=HYPERLINK("x")'
    assert row["status"] == "'\tfinished"
    assert row["problem"] == "'=cmd|' /C calc'!A0"
    assert row["problem_params.@tag"] == "'+1+2"
    assert row["problem_params.k"] == "-0.5" and row["multipliers.-w"] == "-0.5"
    assert float(row["learning_rate"]) == 0.05
    losses = [float(r["loss"]) for r in rows if r["loss"]]
    np.testing.assert_array_equal(np.float32(losses), record.history["loss"])

    from olexplore.runs.history import History

    history = History()
    values = np.array([-0.5, np.inf, -np.inf, np.nan], np.float32)
    history.extend({"loss": values, "=SUM(A1)": values})
    numbers = read_csv(to_csv([RunRecord(Config(), history)], tmp_path / "numbers.csv"))
    assert [r["loss"] for r in numbers] == ["-0.5", "inf", "-inf", "nan"]
    assert [r["'=SUM(A1)"] for r in numbers] == ["-0.5", "inf", "-inf", "nan"]  # header cell
