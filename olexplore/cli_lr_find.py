"""``olexplore lr-find``: the learning-rate range test from the command line.

``olexplore lr-find --problem digits-mlp --optimizer Adam --start 1e-6 --stop 10 --steps 200
--seeds 3 --out DIR`` ramps the rate of the Config the flags describe (the same flags as
``olexplore run``; ``--learning-rate`` and ``--decay`` are refused, since the ramp replaces
them, and ``--steps`` is the ramp's length), prints the suggestions and writes
``DIR/lr_find.csv`` (every seed's steps), ``DIR/lr_find.json`` (curves, suggestions, spread,
run records) and ``DIR/lr_find.png``.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from matplotlib.figure import Figure

from olexplore.cli_args import UsageError, add_config_flags, config_from_args, integer, number
from olexplore.runs.figures import save_figure
from olexplore.runs.lr_range import MAX_RAMP_STEPS, MAX_SEEDS, MIN_STEPS, lr_range_test
from olexplore.runs.run import Run

__all__ = ["add_parser", "command_lr_find"]

#: Flags of ``olexplore run`` that the ramp replaces.
_REPLACED = {"learning_rate": "--learning-rate", "decay.name": "--decay"}
_REPLACED["decay.params"] = "--decay-param"
#: lr_range_test's arguments -> their flags (for its error messages).
_ARGUMENT_FLAGS = {"start": "--start", "stop": "--stop", "steps": "--steps", "seeds": "--seeds"}


def add_parser(commands: Any) -> argparse.ArgumentParser:
    """Add the ``lr-find`` command to ``commands`` (``parser.add_subparsers()``); return it.

    >>> from olexplore.cli_args import Parser
    >>> commands = Parser(prog="olexplore").add_subparsers(dest="command")
    >>> sub = add_parser(commands)
    >>> args = sub.parse_args(["--problem", "quadratic", "--steps", "50"])
    >>> args.steps, args.start, args.stop, args.seeds
    (50, 1e-06, 10.0, 3)
    """
    summary = "LR range test: ramp the learning rate and suggest one"
    sub = commands.add_parser(
        "lr-find",
        help=summary,
        description=(
            f"{summary} (fastai's lr_find, over seeds). Unset flags: the problem's suggested "
            "settings, then Config's defaults; the ramp replaces --learning-rate and --decay."
        ),
        allow_abbrev=False,
        conflict_handler="resolve",  # its --steps (the ramp's) replaces the Config's
    )
    add_config_flags(sub)
    sub.add_argument(
        "--start",
        type=number,
        default=1e-6,
        metavar="LR",
        help="first learning rate of the ramp (1e-6)",
    )
    sub.add_argument(
        "--stop",
        type=number,
        default=10.0,
        metavar="LR",
        help="last learning rate of the ramp (10)",
    )
    sub.add_argument(
        "--steps",
        type=integer,
        default=200,
        metavar="N",
        help=f"steps of the ramp, {MIN_STEPS} to {MAX_RAMP_STEPS:_} (200)",
    )
    sub.add_argument(
        "--seeds",
        type=integer,
        default=3,
        metavar="N",
        help=f"seeds: --seed, --seed+1, ..., 1 to {MAX_SEEDS} (3)",
    )
    sub.add_argument("--out", metavar="DIR", help="write lr_find.csv, .json and .png into DIR")
    sub.add_argument("--no-progress", action="store_true", help="no progress lines")
    return sub


def _usage(error: ValueError) -> UsageError:
    """lr_range_test's ``"steps: got ..."`` as ``"argument --steps: got ..."``."""
    name, _, rest = str(error).partition(": ")
    flag = _ARGUMENT_FLAGS.get(name)
    return UsageError(f"argument {flag}: {rest}" if flag else str(error))


def _summary(result: Any) -> str:
    rows = []
    spread = result.spread
    for name, value in result.suggestions.items():
        lowest, highest = spread[name]
        rows.append(f"{name:<16} {value:<10.3g} (seeds: {lowest:.3g} to {highest:.3g})")
    stopped = ", ".join("-" if s < 0 else str(int(s)) for s in result.stopped)
    return "\n".join([*rows, f"{'stopped at step':<16} {stopped}"])


def command_lr_find(args: argparse.Namespace, extra: list[str]) -> int:
    """``olexplore lr-find``: run the test, print the suggestions, write CSV, JSON and PNG.

    Bad flags raise :class:`~olexplore.cli_args.UsageError` (one line, exit status 2, printed
    by ``olexplore.cli.main``); a failure while training prints one line and returns 1.
    """
    if extra:
        raise UsageError(f"unrecognized arguments: {' '.join(extra)}")
    for field, flag in _REPLACED.items():
        if getattr(args, field, None) is not None:
            raise UsageError(
                f"argument {flag}: lr-find ramps the learning rate itself; accepted: --start "
                "and --stop instead"
            )
    config, _, sources = config_from_args(args)
    out = None if args.out is None else Path(args.out)
    if out is not None:
        try:
            out.mkdir(parents=True, exist_ok=True)
        except OSError as error:
            raise UsageError(f"argument --out: cannot create {args.out!r} ({error})") from None
    stream = None if args.no_progress else sys.stderr

    def progress(index: int, run: Run) -> None:
        if stream is not None and run.done:
            print(f"lr-find: seed {run.config.seed}: {run.reason or run.status}", file=stream)

    try:
        result = lr_range_test(
            config,
            start=args.start,
            stop=args.stop,
            steps=args.steps,
            seeds=args.seeds,
            progress=progress,
        )
    except ValueError as error:
        if str(error).split(":", 1)[0] in _ARGUMENT_FLAGS:
            raise _usage(error) from None
        raise UsageError(sources.explain(error)) from None  # e.g. a multiplier matching nothing
    except Exception as error:  # noqa: BLE001 - one line, as the other commands
        print(f"olexplore: error: lr-find failed: {type(error).__name__}: {error}", file=sys.stderr)
        return 1
    print(_summary(result))
    if out is not None:
        try:
            written = [result.to_csv(out / "lr_find.csv"), result.to_json(out / "lr_find.json")]
            figure = Figure(figsize=(6.4, 4.4), layout="constrained")
            result.plot(figure.add_subplot())
            written.append(save_figure(figure, out / "lr_find.png"))
        except OSError as error:
            print(f"olexplore: error: argument --out: cannot write ({error})", file=sys.stderr)
            return 1
        print("wrote " + ", ".join(str(path) for path in written))
    return 0
