"""The ``olexplore`` command line: the real console script, flags -> Config, outputs, errors,
Ctrl-C, problems, and how lab/app start Jupyter."""

import contextlib
import csv
import itertools
import json
import os
import re
import signal
import subprocess
import sys
import warnings
import zipfile
from pathlib import Path

import numpy as np
import pytest

from olexplore import cli, launcher
from olexplore.cli_args import FIELD_FLAGS, config_from_args
from olexplore.problems import problem_names
from olexplore.runs.config import Clipping, Config, field_names
from olexplore.runs.export import load_json
from olexplore.runs.record import RunRecord
from olexplore.runs.run import Run

PNG = b"\x89PNG\r\n\x1a\n"
#: The options with which every Voilà page's kernel ends with its page (see the launcher).
KERNEL_ENDING = ("--Voila.tornado_settings=", "--MappingKernelManager.")
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


def one_error_line(capsys, status_line_start="olexplore: error: "):
    captured = capsys.readouterr()
    lines = captured.err.splitlines()
    assert len(lines) == 1 and lines[0].startswith(status_line_start), captured.err
    assert "Traceback" not in captured.err
    return lines[0]


@pytest.mark.parametrize(
    "content, says",
    [
        (b"PK\x03\x04\xff\xfe\x00\x00", "not UTF-8 text (byte 0xff at position 4)"),
        (b"[" * 100_000, "not valid JSON (nested 100000 deep"),
        (b'{"learning_rate": NaN}', "not valid JSON (NaN is not JSON)"),
        (b'{"learning_rate": 0.1, "optim', "not valid JSON (Unterminated string"),
    ],
    ids=["binary", "deep", "nan", "truncated"],
)
def test_a_damaged_config_file_is_one_line_naming_the_flag_and_file(
    tmp_path, capsys, content, says
):
    path = tmp_path / "config.json"
    path.write_bytes(content)
    assert cli.main(["run", "--config", str(path), "--no-progress"]) == 2
    line = one_error_line(capsys)
    assert line.startswith(f"olexplore: error: argument --config: {str(path)!r}: "), line
    assert says in line, line


def test_a_config_directory_is_one_line(tmp_path, capsys):
    assert cli.main(["run", "--config", str(tmp_path)]) == 2
    line = one_error_line(capsys)
    assert "--config" in line and str(tmp_path) in line


@pytest.mark.parametrize(
    "error",
    [
        zipfile.BadZipFile("File is not a zip file"),
        EOFError("Compressed file ended before the end-of-stream marker was reached"),
        OSError(5, "Input/output error", "data/mnist.npz"),
        UnicodeDecodeError("utf-8", b"\xff", 0, 1, "invalid start byte"),
    ],
    ids=["BadZipFile", "EOFError", "OSError", "UnicodeDecodeError"],
)
def test_a_problem_that_fails_to_build_is_one_line_exit_1(error, monkeypatch, capsys):
    def broken(*args, **kwargs):
        raise error

    monkeypatch.setattr("olexplore.runs.run.build_setup", broken)
    for command in ("run", "compare"):
        assert cli.main([command, "--problem", "quadratic", "--no-progress"]) == 1
        line = one_error_line(capsys)
        assert type(error).__name__ in line and "--debug" not in line, line
        if command == "run":
            assert line.startswith("olexplore: error: problem 'quadratic' could not be built: ")
    assert "'data/mnist.npz'" in str(
        cli.error_text(OSError(5, "Input/output error", "data/mnist.npz"))
    )


def test_a_truncated_data_file_is_one_line(tmp_path, capsys):
    path = tmp_path / "mnist.npz"
    path.write_bytes(b"PK\x03\x04" + b"\x00" * 20)  # the start of a zip, cut short
    argv = ["run", "--problem", "mnist", "--problem-param", f"path={path}", "--steps", "1"]
    assert cli.main([*argv, "--no-progress"]) in (1, 2)
    one_error_line(capsys)


def test_an_unexpected_error_is_one_line_unless_debug(monkeypatch, capsys):
    def broken(args):
        raise TypeError("boom")

    monkeypatch.setattr(cli, "command_problems", broken)
    assert cli.main(["problems"]) == 1
    line = one_error_line(capsys)
    assert line == (
        "olexplore: error: internal error: TypeError: boom (run with --debug for the traceback)"
    )
    assert cli.main(["--debug", "problems"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("Traceback (most recent call last):")
    assert err.splitlines()[-1] == "olexplore: error: internal error: TypeError: boom"
    assert cli.main(["problems", "--debug"]) == 1  # anywhere before --
    assert "Traceback" in capsys.readouterr().err


def test_debug_shows_the_traceback_of_a_build_failure(monkeypatch, capsys):
    def broken(*args, **kwargs):
        raise zipfile.BadZipFile("File is not a zip file")

    monkeypatch.setattr("olexplore.runs.run.build_setup", broken)
    assert cli.main(["run", "--problem", "quadratic", "--debug", "--no-progress"]) == 1
    err = capsys.readouterr().err
    assert "Traceback" in err and "broken" in err
    assert err.splitlines()[-1].startswith("olexplore: error: problem 'quadratic' could not be")


def test_an_output_that_cannot_be_written_is_one_line(tmp_path, monkeypatch, capsys):
    def full(*args, **kwargs):
        raise OSError(28, "No space left on device", str(tmp_path / "history.csv"))

    monkeypatch.setattr(cli, "to_csv", full)
    argv = ["run", "--problem", "quadratic", "--steps", "3", "--no-progress", "--out"]
    assert cli.main([*argv, str(tmp_path)]) == 1
    line = one_error_line(capsys)
    assert line.startswith(f"olexplore: error: argument --out: cannot write into {str(tmp_path)!r}")
    assert "No space left on device" in line


@pytest.mark.slow
def test_python_dash_m_olexplore_runs_the_command():
    done = subprocess.run(
        [sys.executable, "-m", "olexplore", "problems", "--names"],
        capture_output=True,
        text=True,
        env=ENV,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == problem_names()
    done = subprocess.run(
        [sys.executable, "-m", "olexplore", "run", "--steps", "0"],
        capture_output=True,
        text=True,
        env=ENV,
        timeout=300,
    )
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert done.stderr.strip().splitlines()[-1].startswith("olexplore: error: argument --steps")


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
    monkeypatch.setattr(launcher, "_exec", lambda argv: started.append(argv) or 0)
    monkeypatch.setattr(
        launcher, "notebook_candidates", lambda name=None: [tmp_path / "no.ipynb", notebook]
    )
    assert cli.main([command, "--", "--no-browser", "--port", "8899"]) == 0
    (argv,) = started
    assert argv[:4] == [sys.executable, "-m", module, str(notebook)]
    argv = [option for option in argv if not option.startswith(KERNEL_ENDING)]
    root = command == "lab" and os.geteuid() == 0
    if command == "app":  # served behind a token on 127.0.0.1, at the port given
        token = argv[4].removeprefix("--Voila.token=")
        assert len(token) >= 40 and argv[5:7] == ["--Voila.ip=127.0.0.1", "--Voila.port_retries=0"]
        argv = argv[:4] + argv[7:]
    assert argv[4:] == ["--allow-root"] * root + ["--no-browser", "--port", "8899"]
    assert cli.main([command, "--notebook", str(notebook), "--no-browser"]) == 0
    assert started[-1][-1] == "--no-browser"


def test_app_serves_voila_behind_a_fresh_token_and_prints_its_address(
    tmp_path, monkeypatch, capsys
):
    notebook = tmp_path / "explorer.ipynb"
    notebook.write_text("{}")
    started = []
    monkeypatch.setattr(launcher, "_exec", lambda argv: started.append(argv) or 0)
    assert cli.main(["app", "--notebook", str(notebook)]) == 0
    assert cli.main(["app", "--notebook", str(notebook)]) == 0
    first, second = [[o for o in argv if not o.startswith(KERNEL_ENDING)] for argv in started]
    (token,) = [a.removeprefix("--Voila.token=") for a in first if a.startswith("--Voila.tok")]
    (port,) = [int(a.removeprefix("--port=")) for a in first if a.startswith("--port=")]
    assert first[4:] == [
        f"--Voila.token={token}",
        "--Voila.ip=127.0.0.1",
        f"--port={port}",
        "--Voila.port_retries=0",
        "--no-browser",
    ]
    assert second[4] != first[4]  # a fresh token each time
    line = capsys.readouterr().err.splitlines()[0]
    assert (
        line == f"olexplore: the explorer will be served at http://127.0.0.1:{port}/?token={token}"
    )


def test_app_keeps_the_token_ip_and_port_given_after_the_dashes(tmp_path, monkeypatch, capsys):
    notebook = tmp_path / "explorer.ipynb"
    notebook.write_text("{}")
    started = []
    monkeypatch.setattr(launcher, "_exec", lambda argv: started.append(argv) or 0)
    extra = ["--Voila.token=mine", "--Voila.ip=0.0.0.0", "--port=9123"]
    assert cli.main(["app", "--notebook", str(notebook), "--", *extra]) == 0
    (argv,) = started
    argv = [option for option in argv if not option.startswith(KERNEL_ENDING)]
    assert argv[4:] == ["--Voila.port_retries=0", "--no-browser", *extra]
    assert "http://127.0.0.1:9123/?token=mine" in capsys.readouterr().err


def test_app_help_says_how_it_is_served(capsys):
    assert cli.main(["app", "--help"]) == 0
    help_text = " ".join(capsys.readouterr().out.split())
    assert "127.0.0.1 behind a fresh random token" in help_text
    assert "Voilà 0.5 would open its browser tab without the token" in help_text


def test_app_help_says_pages_end_their_kernels(capsys):
    assert cli.main(["app", "--help"]) == 0
    help_text = " ".join(capsys.readouterr().out.split())
    assert "Closing or reloading a page ends its kernel" in help_text
    assert "(a killed tab) ends 60 s after it last ran code" in help_text


def test_voila_options_give_the_page_its_xsrf_cookie_and_cull_kernels_left_without_a_page():
    from jupyter_server.services.kernels.kernelmanager import MappingKernelManager

    options, _ = launcher.voila_options([], token="t", xsrf="00ff")
    ending = [option for option in options if option.startswith(KERNEL_ENDING)]
    cookie = "_xsrf=00ff; Path=/; SameSite=Strict"
    assert ending[:3] == [
        f"--Voila.tornado_settings={{'headers': {{'Set-Cookie': '{cookie}'}}}}",
        "--MappingKernelManager.cull_idle_timeout=60",
        "--MappingKernelManager.cull_interval=10",
    ]
    untracked = [
        option.removeprefix(KERNEL_ENDING[1] + "untracked_message_types=") for option in ending[3:]
    ]
    defaults = MappingKernelManager.class_traits()["untracked_message_types"].default()
    assert untracked == [*defaults, "comm_open", "comm_msg", "comm_close"]
    assert len(defaults) == 21 and "status" in defaults and "comm_msg" not in defaults
    first, second = (" ".join(launcher.voila_options([])[0]) for _ in range(2))
    secret = re.compile(r"'_xsrf=([0-9a-f]{32}); ")
    assert secret.search(first)[1] != secret.search(second)[1]  # a fresh secret per server


def test_voila_options_leave_the_kernel_settings_given_after_the_dashes():
    extra = ["--MappingKernelManager.cull_idle_timeout=600", "--Voila.tornado_settings=a=b"]
    options, _ = launcher.voila_options(extra, token="t")
    assert not [
        o for o in options if o.startswith(("--Voila.tornado", "--MappingKernelManager.cull_idle"))
    ]
    assert "--MappingKernelManager.cull_interval=10" in options
    assert "--MappingKernelManager.untracked_message_types=comm_msg" in options


def test_voila_reads_the_kernel_ending_options_as_meant():
    """Voilà's own command line parser: a dict trait takes one ``{...}`` literal (traitlets 5
    deprecates that form but has no other for a nested dict), and jupyter_server's kernel
    manager gets the culler's settings."""
    from jupyter_server.services.kernels.kernelmanager import AsyncMappingKernelManager
    from voila.app import Voila

    options, url = launcher.voila_options([], token="t", xsrf="00ff")
    app = Voila()
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", "--tornado_settings=", DeprecationWarning)
        app.parse_command_line(options)
    cookie = "_xsrf=00ff; Path=/; SameSite=Strict"
    assert app.tornado_settings == {"headers": {"Set-Cookie": cookie}}
    assert url == f"http://{app.ip}:{app.port}/?token={app.token}" and app.port_retries == 0
    manager = AsyncMappingKernelManager(config=app.config)
    assert (manager.cull_idle_timeout, manager.cull_interval) == (60, 10)
    assert {"comm_open", "comm_msg", "comm_close", "status"} <= set(manager.untracked_message_types)
    assert not manager.cull_busy and not manager.cull_connected  # a connected page keeps it


@contextlib.contextmanager
def _real_voila(folder):
    """The real Voilà on an empty notebook in ``folder`` with ``olexplore app``'s options
    (token ``sesame``); yields the address to open, stops the server after."""
    notebook = folder / "empty.ipynb"
    notebook.write_text(
        json.dumps({"cells": [], "metadata": {}, "nbformat": 4, "nbformat_minor": 5})
    )
    options, url = launcher.voila_options([], token="sesame")
    argv = [sys.executable, "-m", "voila", str(notebook), *options]
    server = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=ENV)
    try:
        yield url
    finally:
        server.terminate()
        server.wait(timeout=30)


@pytest.mark.slow
def test_voila_ends_a_kernel_on_its_pages_shutdown_request_and_still_checks_xsrf(tmp_path):
    """What Voilà's page sends on ``beforeunload`` (a form with ``_xsrf`` copied from the
    page's cookie, and the login cookie), given to the real Voilà with ``olexplore app``'s
    options: 204 and the kernel gone; a wrong ``_xsrf`` is still refused."""
    import http.cookiejar
    import time
    import urllib.error
    import urllib.request

    cookies = http.cookiejar.CookieJar()
    browser = urllib.request.build_opener(
        urllib.request.ProxyHandler({}), urllib.request.HTTPCookieProcessor(cookies)
    )
    with _real_voila(tmp_path) as url:
        base = url.split("?")[0]
        for _ in range(120):
            try:
                with browser.open(url, timeout=30) as answer:
                    page = answer.read().decode()
                break
            except (urllib.error.URLError, ConnectionError):
                time.sleep(0.5)
        else:
            pytest.fail("Voilà did not start")
        (kernel,) = re.findall(r'"kernelId": "([0-9a-f-]+)"', page)
        # as the page's script does: document.cookie's _xsrf, or "" when there is none
        xsrf = next((cookie.value for cookie in cookies if cookie.name == "_xsrf"), "")

        def shutdown(value):
            form = f"_xsrf={value}".encode()
            return browser.open(f"{base}voila/api/shutdown/{kernel}", data=form, timeout=30)

        with pytest.raises(urllib.error.HTTPError) as refused:
            shutdown("0" * 32)
        assert refused.value.code == 403
        assert b"XSRF cookie does not match POST argument" in refused.value.read()
        with shutdown(xsrf) as answer:
            assert answer.status == 204
        with pytest.raises(urllib.error.HTTPError) as gone:
            browser.open(f"{base}api/kernels/{kernel}?token=sesame", timeout=30)
        assert gone.value.code == 404


@pytest.mark.slow
def test_voila_refuses_requests_without_the_token(tmp_path):
    """The options ``olexplore app`` builds, given to the real Voilà."""
    import time
    import urllib.error
    import urllib.request

    with _real_voila(tmp_path) as url:
        base = url.split("?")[0]
        for _ in range(120):
            try:
                with urllib.request.urlopen(url, timeout=5) as answer:
                    assert answer.status == 200
                break
            except (urllib.error.URLError, ConnectionError):
                time.sleep(0.5)
        else:
            pytest.fail("Voilà did not start")

        class NoRedirect(urllib.request.HTTPRedirectHandler):
            def redirect_request(self, *args, **kwargs):
                return None

        opener = urllib.request.build_opener(NoRedirect)
        with pytest.raises(urllib.error.HTTPError) as refused:
            opener.open(base, timeout=5)
        assert refused.value.code == 302 and "/login" in refused.value.headers["Location"]
        with pytest.raises(urllib.error.HTTPError):
            opener.open(base + "api/kernels", timeout=5)


def test_lab_without_the_notebook_exits_2(tmp_path, monkeypatch, capsys):
    missing = tmp_path / "notebooks" / "explorer.ipynb"
    monkeypatch.setattr(launcher, "notebook_candidates", lambda name=None: [missing])
    monkeypatch.setattr(launcher, "_exec", lambda argv: pytest.fail("must not start Jupyter"))
    assert cli.main(["lab"]) == 2
    (line,) = capsys.readouterr().err.splitlines()
    assert "explorer notebook was not found" in line and str(missing) in line


def test_the_notebook_is_found_beside_the_package():
    source_tree = Path(launcher.__file__).resolve().parents[1] / "notebooks" / "explorer.ipynb"
    assert launcher.notebook_candidates()[0] == source_tree
    assert launcher.find_notebook() == source_tree  # notebooks/explorer.ipynb is in the repository


def test_a_flag_value_nested_too_deeply_is_one_line_naming_the_flag(capsys):
    deep = "[" * 5000
    assert cli.main(["run", "--decay-param", f"x={deep}", "--no-progress"]) == 2
    line = one_error_line(capsys)
    assert line.startswith("olexplore: error: argument --decay-param: "), line
    assert "5000 deep" in line or "nested" in line


def test_a_figure_that_cannot_be_drawn_keeps_the_data_files(tmp_path, monkeypatch, capsys):
    def broken(record):
        raise ValueError("Expected \\frac{num}{den}")

    monkeypatch.setattr(cli, "run_figure", broken)
    argv = ["run", "--problem", "quadratic", "--steps", "3", "--no-progress", "--out"]
    assert cli.main([*argv, str(tmp_path)]) == 0
    captured = capsys.readouterr()
    assert captured.err.splitlines() == [
        "olexplore: warning: figure.png not drawn: ValueError: Expected \\frac{num}{den}"
    ]
    assert f"wrote {tmp_path / 'history.csv'}, {tmp_path / 'run.json'}\n" in captured.out
    assert len(read_csv(tmp_path / "history.csv")) == 3


def test_figure_titles_are_not_mathtext(tmp_path):
    from matplotlib.text import Text

    record = load_json(_one_run_json(tmp_path))[0]
    record.label = "cost $\\frac{$ and $5$"
    title = f"quadratic: {record.label} (finished)"
    figure = cli.run_figure(record)
    (text,) = figure.findobj(lambda a: isinstance(a, Text) and a.get_text() == title)
    assert text.get_parse_math() is False  # a "$" in user text is a dollar sign


def _one_run_json(tmp_path):
    argv = ["run", "--problem", "quadratic", "--steps", "3", "--no-progress", "--out"]
    assert cli.main([*argv, str(tmp_path / "one")]) == 0
    return tmp_path / "one" / "run.json"


def test_app_serves_the_explorer_alone_and_lab_the_guided_notebook(monkeypatch):
    started = []
    monkeypatch.setattr(launcher, "_exec", lambda argv: started.append(argv) or 0)
    assert cli.main(["app"]) == 0
    assert Path(started[0][3]).name == "app.ipynb"  # no guide, a fresh run ready to Play
    assert (
        launcher.find_notebook(name=launcher.APP_NOTEBOOK).parent == launcher.find_notebook().parent
    )
    cells = json.loads(launcher.find_notebook(name=launcher.APP_NOTEBOOK).read_text())["cells"]
    assert [cell["cell_type"] for cell in cells] == ["code"]
    assert "Explorer()" in "".join(cells[0]["source"])
