"""The ``olexplore`` command line: the real console script, flags -> Config, outputs, errors,
Ctrl-C, problems, and how lab/app start Jupyter."""

import csv
import itertools
import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from olexplore import cli
from olexplore.cli_args import FIELD_FLAGS, config_from_args
from olexplore.problems import problem_names
from olexplore.runs.config import Clipping, Config, field_names
from olexplore.runs.export import load_json
from olexplore.runs.record import RunRecord
from olexplore.runs.run import Run

PNG = b"\x89PNG\r\n\x1a\n"
SCRIPT = Path(sys.executable).parent / "olexplore"
ENV = {
    **os.environ,
    "TF_CPP_MIN_LOG_LEVEL": "3",
    "TF_ENABLE_ONEDNN_OPTS": "0",
    "MPLBACKEND": "Agg",
}


def read_csv(path):
    with open(path, newline="", encoding="utf-8") as file:
        return list(csv.DictReader(file))


def parse(*argv, command="run"):
    return config_from_args(cli.build_parser().parse_args([command, *argv]), grid=command != "run")


def script(*argv):
    assert SCRIPT.exists(), f"{SCRIPT} is missing: run .venv/bin/pip install --no-deps -e ."
    return [str(SCRIPT), *argv]


# --------------------------------------------------------------------- the console script
@pytest.mark.slow
def test_console_script_run_writes_history_record_and_figure(tmp_path):
    out = tmp_path / "out"
    argv = ["run", "--problem", "quadratic", "--optimizer", "SGD", "--learning-rate", "0.1"]
    argv += ["--steps", "40", "--seed", "3", "--out", str(out)]
    done = subprocess.run(script(*argv), capture_output=True, text=True, env=ENV, timeout=120)
    assert done.returncode == 0, done.stderr
    assert "final loss" in done.stdout and "finished (40/40 steps" in done.stdout
    assert "run [####################] 40/40" in done.stderr  # the progress bar

    rows = read_csv(out / "history.csv")
    assert [int(row["step"]) for row in rows] == list(range(40))  # one row per step
    assert {row["optimizer"] for row in rows} == {"SGD"}
    (record,) = load_json(out / "run.json")
    assert record == RunRecord.from_json((out / "run.json").read_text())
    expected = Config(problem="quadratic", optimizer="SGD", learning_rate=0.1, steps=40, seed=3)
    assert record.config == expected
    assert record.status == "finished" and len(record.history) == 40
    np.testing.assert_array_equal(
        np.array([float(row["loss"]) for row in rows], np.float32), record.history["loss"]
    )
    assert (out / "figure.png").read_bytes()[:8] == PNG


@pytest.mark.slow
def test_ctrl_c_stops_the_console_script_and_writes_what_it_has(tmp_path):
    out = tmp_path / "out"
    argv = script("run", "--problem", "rosenbrock", "--steps", "10000000", "--out", str(out))
    process = subprocess.Popen(
        argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=ENV
    )
    for line in process.stderr:  # wait until training has started
        if line.startswith("run ["):
            break
    process.send_signal(signal.SIGINT)
    stdout, stderr = process.communicate(timeout=120)
    assert process.returncode == 130, stderr
    (record,) = load_json(out / "run.json")
    assert record.status == "stopped" and "interrupted (Ctrl-C) at step" in record.reason
    assert 0 < len(record.history) < 10_000_000
    assert len(read_csv(out / "history.csv")) == len(record.history)
    assert (out / "figure.png").read_bytes()[:8] == PNG
    assert "interrupted (Ctrl-C)" in stderr and "status" in stdout


# --------------------------------------------------------------------- flags -> Config
def test_every_config_field_has_a_flag():
    assert {field.partition(".")[0] for field in FIELD_FLAGS} == set(field_names())
    for command in ("run", "compare"):
        parser = cli.build_parser()._subparsers._group_actions[0].choices[command]
        options = {option for action in parser._actions for option in action.option_strings}
        assert set(FIELD_FLAGS.values()) | {"--config", "--out"} <= options


FLAG_TABLE = [
    (["--problem", "beale"], lambda c: c.problem, "beale"),
    (["--optimizer", "RMSProp"], lambda c: c.optimizer, "RMSProp"),
    (["--learning-rate", "0.25"], lambda c: c.learning_rate, 0.25),
    (
        ["--decay", "exponential_decay", "--decay-param", "decay_steps=100"]
        + ["--decay-param", "decay_rate=0.5", "--decay-param", "staircase=true"],
        lambda c: (c.decay.name, dict(c.decay.params)),
        ("exponential_decay", {"decay_steps": 100, "decay_rate": 0.5, "staircase": True}),
    ),
    (
        ["--decay", "piecewise_constant", "--decay-param", "boundaries=[10, 20]"]
        + ["--decay-param", "values=[0.1,0.01,0.001]"],
        lambda c: dict(c.decay.params),
        {"boundaries": (10, 20), "values": (0.1, 0.01, 0.001)},
    ),
    (["--clip", "global_norm"], lambda c: (c.clipping.kind, c.clipping.norm), ("global_norm", 1.0)),
    (["--clip-norm", "2.5"], lambda c: (c.clipping.kind, c.clipping.norm), ("global_norm", 2.5)),
    (
        ["--clip", "adaptive", "--clip-std-factor", "3", "--clip-decay", "0.9"]
        + ["--clip-static-max-norm", "5"],
        lambda c: c.clipping,
        Clipping("adaptive", std_factor=3, decay=0.9, static_max_norm=5.0),
    ),
    (
        ["--clip", "adaptive", "--clip-static-max-norm", "none"],
        lambda c: c.clipping.static_max_norm,
        None,
    ),
    (["--noise-scale", "0.01"], lambda c: c.noise_scale, 0.01),
    (
        ["--multiplier", "x=0.5", "--multiplier", "(x|y)=2"],
        lambda c: dict(c.multipliers),
        {"x": 0.5, "(x|y)": 2.0},
    ),
    (["--steps", "123"], lambda c: c.steps, 123),
    (["--batch-size", "16"], lambda c: c.batch_size, 16),
    (["--seed", "7"], lambda c: c.seed, 7),
    (
        ["--problem", "quadratic", "--problem-param", "condition_number=4"],
        lambda c: dict(c.problem_params),
        {"condition_number": 4},
    ),
]


@pytest.mark.parametrize(
    "argv, read, expected", FLAG_TABLE, ids=[" ".join(a)[:50] for a, _, _ in FLAG_TABLE]
)
def test_each_flag_sets_its_config_field(argv, read, expected):
    config, grid, _ = parse(*argv)
    assert read(config) == expected and grid == {}


def test_unset_flags_take_the_problem_suggestions_then_config_defaults():
    config, _, _ = parse("--problem", "digits-mlp")
    assert (config.optimizer, config.learning_rate, config.steps) == ("Adam", 0.001, 500)
    assert config.noise_scale == Config().noise_scale
    config, _, _ = parse("--problem", "exploding-gradients", "--learning-rate", "0.01")
    assert (config.learning_rate, config.clipping.kind, config.clipping.norm) == (
        0.01,
        "global_norm",
        1.0,
    )


def test_config_file_then_flags_override_it(tmp_path):
    decay = {"name": "exponential_decay", "params": {"decay_steps": 10, "decay_rate": 0.5}}
    saved = Config(problem="quadratic", optimizer="Momentum", learning_rate=0.3, decay=decay)
    path = tmp_path / "config.json"
    path.write_text(saved.to_json())
    assert parse("--config", str(path))[0] == saved
    config, _, _ = parse("--config", str(path), "--learning-rate", "0.2", "--seed", "4")
    assert config == saved.replace(learning_rate=0.2, seed=4)
    config, _, _ = parse("--config", str(path), "--decay-param", "decay_rate=0.9")
    assert dict(config.decay.params) == {"decay_steps": 10, "decay_rate": 0.9}
    config, _, _ = parse("--config", str(path), "--decay", "none")  # its parameters go too
    assert config.decay.name == "none" and not config.decay.params
    partial = tmp_path / "partial.json"  # missing fields: suggestions, then defaults
    partial.write_text(json.dumps({"problem": "rosenbrock", "steps": 30}))
    config, _, _ = parse("--config", str(partial))
    assert (config.optimizer, config.learning_rate, config.steps) == ("Adam", 0.05, 30)


def test_compare_flags_make_a_grid():
    argv = ["--optimizer", "SGD", "Adam", "--learning-rate", "0.1", "--clip-norm", "1", "2"]
    config, grid, _ = parse(*argv, command="compare")
    assert grid == {"optimizer": ["SGD", "Adam"], "clipping.norm": [1.0, 2.0]}
    assert (config.learning_rate, config.clipping.kind) == (0.1, "global_norm")


# --------------------------------------------------------------------- outputs
def test_compare_writes_runs_and_a_figure(tmp_path, capsys):
    argv = ["compare", "--problem", "quadratic", "--optimizer", "SGD", "Adam"]
    argv += ["--learning-rate", "0.01", "0.1", "--seeds", "2", "--steps", "15"]
    assert cli.main([*argv, "--seed", "5", "--out", str(tmp_path)]) == 0
    records = load_json(tmp_path / "runs.json")
    settings = [(r.config.optimizer, r.config.learning_rate, r.config.seed) for r in records]
    assert settings == list(itertools.product(["SGD", "Adam"], [0.01, 0.1], [5, 6]))
    rows = read_csv(tmp_path / "runs.csv")
    assert len(rows) == 8 * 15 and len({row["run"] for row in rows}) == 8
    assert (tmp_path / "comparison.png").read_bytes()[:8] == PNG
    table = capsys.readouterr().out.splitlines()
    assert table[0].startswith("setting") and len(table) == 1 + 4 + 1  # header, 4 settings, wrote
    assert table[1].split()[:4] == ["optimizer=SGD,", "learning_rate=0.01", "2", "0"]


def test_a_diverged_run_is_a_result_not_an_error(tmp_path, capsys):
    argv = ["run", "--problem", "quadratic", "--optimizer", "SGD", "--learning-rate", "1.0"]
    assert cli.main([*argv, "--steps", "200", "--out", str(tmp_path), "--no-progress"]) == 0
    (record,) = load_json(tmp_path / "run.json")
    assert record.status == "diverged" and len(record.history) < 200
    assert "diverged" in capsys.readouterr().out


def test_interrupted_run_writes_the_partial_history(tmp_path, capsys, monkeypatch):
    advance, calls = Run.advance, []

    def ctrl_c_on_third_chunk(self, max_steps=None):
        calls.append(self.step)
        if len(calls) == 3:
            raise KeyboardInterrupt
        return advance(self, max_steps)

    monkeypatch.setattr(Run, "advance", ctrl_c_on_third_chunk)
    argv = ["run", "--problem", "rosenbrock", "--steps", "5000", "--out", str(tmp_path)]
    assert cli.main(argv) == 130
    (record,) = load_json(tmp_path / "run.json")
    assert record.status == "stopped" and record.reason.startswith("interrupted (Ctrl-C)")
    assert len(record.history) == calls[-1] > 0
    assert len(read_csv(tmp_path / "history.csv")) == len(record.history)
    assert (tmp_path / "figure.png").read_bytes()[:8] == PNG
    assert "interrupted (Ctrl-C) at step" in capsys.readouterr().err


def test_interrupted_compare_writes_the_finished_runs(tmp_path, capsys, monkeypatch):
    run, calls = Run.run, []

    def ctrl_c_in_third_run(self, *args, **kwargs):
        calls.append(self.config.seed)
        if len(calls) == 3:
            raise KeyboardInterrupt
        return run(self, *args, **kwargs)

    monkeypatch.setattr(Run, "run", ctrl_c_in_third_run)
    argv = ["compare", "--problem", "quadratic", "--learning-rate", "0.01", "0.1", "--seeds", "2"]
    assert cli.main([*argv, "--steps", "10", "--out", str(tmp_path)]) == 130
    assert [r.config.seed for r in load_json(tmp_path / "runs.json")] == [0, 1]
    assert len(read_csv(tmp_path / "runs.csv")) == 2 * 10
    assert "after 2 of 4 runs" in capsys.readouterr().err


# --------------------------------------------------------------------- errors
BAD = [
    (["run", "--learning-rate", "abc"], "--learning-rate", "'abc'"),
    (["run", "--learning-rate", "-1"], "--learning-rate", "-1"),
    (["run", "--optimizer", "Adamm"], "--optimizer", "'Adamm'"),
    (["run", "--problem", "nope"], "--problem", "'nope'"),
    (["run", "--steps", "0"], "--steps", "0"),
    (["run", "--steps", "5e2"], "--steps", "'5e2'"),
    (["run", "--batch-size", "-4"], "--batch-size", "-4"),
    (["run", "--decay", "fast"], "--decay", "'fast'"),
    (["run", "--decay-param", "decay_steps"], "--decay-param", "'decay_steps'"),
    (
        ["run", "--decay", "exponential_decay", "--decay-param", "decay_steps=0"]
        + ["--decay-param", "decay_rate=0.5"],
        "--decay-param",
        "got 0",
    ),
    (["run", "--decay", "exponential_decay"], "--decay", "decay_steps, decay_rate"),
    (["run", "--clip", "sometimes"], "--clip", "'sometimes'"),
    (["run", "--clip-norm", "0"], "--clip-norm", "0"),
    (["run", "--clip-std-factor", "2"], "--clip-std-factor", "2"),
    (["run", "--noise-scale", "nan"], "--noise-scale", "'nan'"),
    (["run", "--multiplier", "x=half"], "--multiplier", "'x=half'"),
    (["run", "--problem", "quadratic", "--multiplier", "w=0.5"], "--multiplier", "'w'"),
    (["run", "--problem", "quadratic", "--problem-param", "bogus=1"], "--problem-param", "bogus"),
    (["run", "--seed", "-1"], "--seed", "-1"),
    (["run", "--config", "missing.json"], "--config", "missing.json"),
    (["run", "--learnig-rate", "0.1"], "unrecognized arguments", "--learnig-rate"),
    (["compare", "--learning-rate", "0.1", "-2"], "--learning-rate", "-2"),
    (["compare", "--seeds", "0"], "--seeds", "0"),
]


@pytest.mark.parametrize("argv, flag, value", BAD, ids=[" ".join(a)[:50] for a, _, _ in BAD])
def test_bad_flags_exit_2_with_one_line_naming_flag_and_value(argv, flag, value, capsys):
    assert cli.main([*argv, "--no-progress"]) == 2
    captured = capsys.readouterr()
    lines = captured.err.splitlines()
    assert len(lines) == 1 and lines[0].startswith("olexplore: error: "), captured.err
    assert flag in lines[0] and value in lines[0], lines[0]
    assert captured.out == ""


def test_a_bad_config_file_is_named_with_its_field(tmp_path, capsys):
    path = tmp_path / "bad.json"
    path.write_text(json.dumps({"learning_rate": -1, "optimizer": "Adam"}))
    assert cli.main(["run", "--config", str(path)]) == 2
    (line,) = capsys.readouterr().err.splitlines()
    assert str(path) in line and "learning_rate: got -1" in line
    path.write_text("{not json")
    assert cli.main(["run", "--config", str(path)]) == 2
    assert "not valid JSON" in capsys.readouterr().err


def test_help_and_version_exit_0(capsys):
    assert cli.main(["run", "--help"]) == 0
    assert "--learning-rate" in capsys.readouterr().out
    assert cli.main(["--version"]) == 0


# --------------------------------------------------------------------- problems, lab, app
def test_problems_lists_every_problem(capsys):
    assert cli.main(["problems"]) == 0
    out = capsys.readouterr().out
    for name in problem_names():
        assert f"\n{name} (" in f"\n{out}"
    assert "suggested: --optimizer Adam --learning-rate 0.05 --steps 500" in out
    assert cli.main(["problems", "--names"]) == 0
    assert capsys.readouterr().out.split() == problem_names()


@pytest.mark.parametrize("command, module", [("lab", "jupyterlab"), ("app", "voila")])
def test_lab_and_app_start_jupyter_on_the_notebook(command, module, tmp_path, monkeypatch):
    notebook = tmp_path / "explorer.ipynb"
    notebook.write_text("{}")
    started = []
    monkeypatch.setattr(cli, "_exec", lambda argv: started.append(argv) or 0)
    monkeypatch.setattr(cli, "notebook_candidates", lambda: [tmp_path / "no.ipynb", notebook])
    assert cli.main([command, "--", "--no-browser", "--port", "8899"]) == 0
    (argv,) = started
    assert argv[:4] == [sys.executable, "-m", module, str(notebook)]
    root = command == "lab" and os.geteuid() == 0
    assert argv[4:] == ["--allow-root"] * root + ["--no-browser", "--port", "8899"]
    assert cli.main([command, "--notebook", str(notebook), "--no-browser"]) == 0
    assert started[-1][-1] == "--no-browser"


def test_lab_without_the_notebook_exits_2(tmp_path, monkeypatch, capsys):
    missing = tmp_path / "notebooks" / "explorer.ipynb"
    monkeypatch.setattr(cli, "notebook_candidates", lambda: [missing])
    monkeypatch.setattr(cli, "_exec", lambda argv: pytest.fail("must not start Jupyter"))
    assert cli.main(["lab"]) == 2
    (line,) = capsys.readouterr().err.splitlines()
    assert "explorer notebook was not found" in line and str(missing) in line


def test_the_notebook_is_found_beside_the_package():
    source_tree = Path(cli.__file__).resolve().parents[1] / "notebooks" / "explorer.ipynb"
    assert cli.notebook_candidates()[0] == source_tree
    assert cli.find_notebook() == source_tree  # notebooks/explorer.ipynb is in the repository
