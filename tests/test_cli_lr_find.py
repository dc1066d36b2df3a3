"""``olexplore lr-find`` (olexplore/cli_lr_find.py), through a parser built by its add_parser."""

import csv
import json

import pytest

from olexplore.cli_args import Parser, UsageError
from olexplore.cli_lr_find import add_parser, command_lr_find

QUADRATIC = ["--problem", "quadratic", "--optimizer", "SGD", "--start", "1e-3", "--stop", "10"]


def parse(argv):
    parser = Parser(prog="olexplore")
    commands = parser.add_subparsers(dest="command", required=True)
    add_parser(commands)
    return parser.parse_args(["lr-find", *argv])


def test_writes_csv_json_png_and_prints_the_suggestions(tmp_path, capsys):
    out = tmp_path / "out"
    args = parse([*QUADRATIC, "--steps", "40", "--seeds", "2", "--out", str(out)])
    assert command_lr_find(args, []) == 0
    printed, progress = capsys.readouterr()
    lines = printed.splitlines()
    assert lines[0].split()[:2] == ["steepest", "0.0134"]
    assert lines[1].split()[:2] == ["valley", "0.0215"]
    assert lines[2].split()[:2] == ["minimum_over_10", "0.0464"]
    assert lines[3] == f"{'stopped at step':<16} 31, 31"
    assert progress.splitlines() == [
        "lr-find: seed 0: loss above 4x its best at step 31",
        "lr-find: seed 1: loss above 4x its best at step 31",
    ]
    data = json.loads((out / "lr_find.json").read_text())
    assert data["suggestions"] == pytest.approx([0.013434, 0.021544, 0.046416], rel=1e-4)
    assert data["stopped"] == [31, 31] and len(data["learning_rates"]) == 40
    with (out / "lr_find.csv").open() as file:
        rows = list(csv.DictReader(file))
    assert {row["seed"] for row in rows} == {"0", "1"}
    assert float(rows[0]["learning_rate_at_step"]) == pytest.approx(1e-3)
    assert (out / "lr_find.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert (
        lines[-1] == f"wrote {out / 'lr_find.csv'}, {out / 'lr_find.json'}, {out / 'lr_find.png'}"
    )


def test_defaults_and_config_flags():
    args = parse(["--problem", "digits-mlp", "--clip-norm", "2", "--multiplier", "mlp/.*=0.5"])
    assert (args.start, args.stop, args.steps, args.seeds, args.out) == (1e-6, 10.0, 200, 3, None)
    assert args.__dict__["clipping.norm"] == 2.0
    assert args.__dict__["multipliers"] == [("mlp/.*", 0.5)]


@pytest.mark.parametrize(
    "argv, message",
    [
        (["--steps", "5"], "argument --steps: got 5; accepted: an int from 10 to 100_000."),
        (["--seeds", "0"], "argument --seeds: got 0; accepted: an int from 1 to 100."),
        (["--start", "0"], "argument --start: got 0.0 (float); accepted: a finite number > 0."),
        (["--stop", "1e-9"], "argument --start: got 0.001 with stop 1e-09; accepted: start < stop"),
        (["--learning-rate", "0.1"], "argument --learning-rate: lr-find ramps the learning rate"),
        (["--decay", "cosine_decay"], "argument --decay: lr-find ramps the learning rate itself"),
        (
            ["--multiplier", "nothing=0"],
            "argument --multiplier: gradient_multipliers: key 'nothing' matches no variable",
        ),
    ],
)
def test_bad_flags_are_usage_errors_naming_the_flag(argv, message):
    with pytest.raises(UsageError) as error:
        command_lr_find(parse([*QUADRATIC, *argv, "--no-progress"]), [])
    assert str(error.value).startswith(message), str(error.value)


def test_unrecognized_arguments():
    with pytest.raises(UsageError, match="^unrecognized arguments: --fast$"):
        command_lr_find(parse(QUADRATIC), ["--fast"])


def test_unwritable_out_is_a_usage_error(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(UsageError, match=r"^argument --out: cannot create '.*file/sub'"):
        command_lr_find(parse([*QUADRATIC, "--out", str(blocker / "sub")]), [])


def test_the_olexplore_command_has_lr_find(tmp_path, capsys):
    from olexplore.cli import main

    out = tmp_path / "lr"
    argv = ["lr-find", "--problem", "quadratic", "--optimizer", "SGD", "--steps", "30"]
    assert main([*argv, "--seeds", "1", "--out", str(out)]) == 0
    assert sorted(p.name for p in out.iterdir()) == ["lr_find.csv", "lr_find.json", "lr_find.png"]
    assert "valley" in capsys.readouterr().out
    assert main(["lr-find", "--steps", "5"]) == 2
    assert "--steps: got 5" in capsys.readouterr().err
