"""The ``olexplore`` command: train, compare, list problems, open the explorer.

``olexplore run --problem rosenbrock --optimizer Adam --learning-rate 0.01 --out DIR`` trains one
Config with a progress bar, prints the final metrics and writes ``DIR/history.csv``,
``DIR/run.json`` and ``DIR/figure.png``. ``olexplore compare ... --optimizer SGD Adam
--learning-rate 0.01 0.1 --seeds 3 --out DIR`` sweeps the grid and writes ``DIR/runs.csv``,
``DIR/runs.json`` and ``DIR/comparison.png``; ``--workers N`` trains its runs in N local
worker processes (a Dask LocalCluster, or a process pool without Dask) and ``--scheduler
ADDRESS`` on an existing Dask cluster, with the same results. ``olexplore lr-find --problem
... --out DIR`` runs the learning-rate range test and writes ``DIR/lr_find.csv``, ``.json`` and
``.png``. ``olexplore problems`` lists the
problems; ``olexplore lab`` / ``olexplore app`` open the explorer notebook in JupyterLab /
Voilà (their own options go after ``--``). Exit status: 0 done, 1 a run failed, 2 bad flags or
config, 130 interrupted (Ctrl-C; what was recorded is written first). No command ends in a
traceback: every error is one ``olexplore: error: ...`` line naming the flag or file;
``--debug`` adds the traceback of an unexpected one.
"""

from __future__ import annotations

import argparse
import contextlib
import math
import sys
import time
import traceback
import zipfile
from collections.abc import Hashable, Iterator, Sequence
from pathlib import Path
from typing import Any, TextIO

import numpy as np
from matplotlib.figure import Figure

import olexplore
from olexplore.cli_args import (
    Parser,
    UsageError,
    add_config_flags,
    add_executor_flags,
    config_from_args,
    flags_for,
    integer,
    split_passthrough,
    suggested_settings,
)
from olexplore.cli_lr_find import add_parser as add_lr_find_parser
from olexplore.cli_lr_find import command_lr_find
from olexplore.launcher import KERNEL_IDLE_SECONDS, LaunchFailure, command_jupyter
from olexplore.problems.registry import problem_class, problem_names
from olexplore.runs import safe_json
from olexplore.runs.aggregate import sensitivity_points
from olexplore.runs.executors import connect, local_executor
from olexplore.runs.export import to_csv, to_json
from olexplore.runs.figures import (
    plot_runs,
    plot_seeds,
    plot_sensitivity,
    plot_trajectories,
    save_figure,
)
from olexplore.runs.record import RunRecord, flat_config, record_of
from olexplore.runs.run import Run
from olexplore.runs.sweep import SweptRun, final_metrics, sweep

INTERRUPTED = 130
DEBUG_HINT = "run with --debug for the traceback"


class CommandFailure(Exception):
    """A command that could not do its work (a problem that fails to build, a file that cannot
    be written): one line, exit status 1."""


def error_text(error: BaseException) -> str:
    """``"Type: message"`` of an exception, with the file an ``OSError`` names.

    >>> error_text(FileNotFoundError(2, "No such file or directory", "data/mnist.npz"))
    "FileNotFoundError: No such file or directory: 'data/mnist.npz'"
    >>> import zipfile
    >>> error_text(zipfile.BadZipFile("File is not a zip file"))
    'BadZipFile: File is not a zip file'
    """
    if isinstance(error, OSError) and error.strerror:
        message = error.strerror + (f": {str(error.filename)!r}" if error.filename else "")
    else:
        message = str(error) or "(no message)"
    return f"{type(error).__name__}: {' '.join(message.split())}"


#: Errors that bad input causes (a damaged data file, an unreadable path, an unparsable value);
#: any other exception while building is unexpected and says how to see its traceback.
INPUT_ERRORS = (OSError, EOFError, ValueError, RecursionError, MemoryError, zipfile.BadZipFile)


# --------------------------------------------------------------------- progress
class ProgressBar:
    """A one-line text bar on ``stream`` (``None``: silent), redrawn in place on a terminal,
    else written as a line at most every 2 s (logs, CI).

    >>> import io
    >>> stream = io.StringIO()
    >>> bar = ProgressBar(4, "run", stream)
    >>> bar.update(2, "loss 0.5"); bar.update(4, "loss 0.1"); bar.close()
    >>> stream.getvalue().splitlines()
    ['run [##########..........] 2/4 loss 0.5', 'run [####################] 4/4 loss 0.1']
    """

    def __init__(self, total: int, label: str, stream: TextIO | None) -> None:
        self.total, self.label, self.stream = max(1, int(total)), label, stream
        self.tty = stream is not None and stream.isatty()
        self.min_interval = 0.1 if self.tty else 2.0
        self._drawn_at, self._text, self._shown = -math.inf, "", True

    def update(self, done: int, note: str = "") -> None:
        """Show ``done`` of ``total`` (drawn at most every ``min_interval`` seconds)."""
        filled = min(20, 20 * done // self.total)
        bar = f"[{'#' * filled}{'.' * (20 - filled)}]"
        self._text, self._shown = f"{self.label} {bar} {done}/{self.total} {note}".rstrip(), False
        if time.perf_counter() - self._drawn_at >= self.min_interval:
            self._draw()

    def _draw(self) -> None:
        if self.stream is not None:
            self.stream.write(f"\r{self._text}\x1b[K" if self.tty else f"{self._text}\n")
            self.stream.flush()
        self._shown, self._drawn_at = True, time.perf_counter()

    def close(self) -> None:
        """Draw the last state if it is not shown yet, and end the line."""
        if not self._shown:
            self._draw()
        if self.tty and self.stream is not None and self._drawn_at > -math.inf:
            self.stream.write("\n")
            self.stream.flush()


def _number(value: Any) -> str:
    if isinstance(value, float) and math.isfinite(value):
        return f"{value:.6g}"
    return str(value)


def _table(rows: Sequence[Sequence[Any]]) -> str:
    widths = [max(len(_number(row[i])) for row in rows) for i in range(len(rows[0]))]
    return "\n".join(
        "  ".join(
            _number(cell).ljust(width) for cell, width in zip(row, widths, strict=True)
        ).rstrip()
        for row in rows
    )


# --------------------------------------------------------------------- run
def run_figure(record: RunRecord) -> Figure:
    """Loss, learning rate and global norm (and validation accuracy) over the steps, with the
    trajectory on the surface beside them for a 2-D problem."""
    history = record.history
    metrics = [m for m in ("loss", "learning_rate", "global_norm") if m in history.names]
    metrics += [m for m in ("val_accuracy",) if m in history.evaluations]
    trajectory = record.surface is not None and "position" in history.names
    figure = Figure(
        figsize=(12 if trajectory else 7, 1.2 + 2.2 * len(metrics)), layout="constrained"
    )
    grid = figure.add_gridspec(len(metrics), 2 if trajectory else 1)
    axes = [figure.add_subplot(grid[0, 0])]
    axes += [figure.add_subplot(grid[i, 0], sharex=axes[0]) for i in range(1, len(metrics))]
    plot_runs(record, metrics, axes=axes)
    if trajectory:
        plot_trajectories(record, ax=figure.add_subplot(grid[:, 1]))
    title = f"{record.config.problem}: {record.label} ({record.status})"
    figure.suptitle(title, parse_math=False)  # user text: a "$" is a dollar, not mathtext
    return figure


def _write_run(record: RunRecord, out: Path) -> list[Path]:
    paths = [to_csv([record], out / "history.csv"), out / "run.json"]
    paths[1].write_text(record.to_json(), encoding="utf-8")
    if len(record.history):
        paths += _figure(lambda: run_figure(record), out / "figure.png")
    return paths


def _figure(draw: Any, path: Path) -> list[Path]:
    """``[path]`` of the saved figure, or ``[]`` with one warning line when it cannot be drawn
    (the data files are written already and stay)."""
    try:
        return [save_figure(draw(), path)]
    except OSError:
        raise
    except Exception as error:  # noqa: BLE001 - e.g. mathtext in a label; the data is kept
        print(f"olexplore: warning: {path.name} not drawn: {error_text(error)}", file=sys.stderr)
        return []


def _run_summary(run: Run) -> str:
    history, config = run.history, run.config
    speed = f", {run.step / run.seconds:,.0f} steps/s" if run.seconds else ""
    rows = [
        ("problem", config.problem),
        ("setting", f"{run.label} seed={config.seed}"),
        ("status", f"{run.status} ({run.step}/{config.steps} steps, {run.seconds:.2f} s{speed})"),
    ]
    if run.reason:
        rows.append(("reason", run.reason))
    metrics = final_metrics(run)
    rows += [("final loss", float(history.last("loss"))), ("best loss", metrics["best_loss"])]
    for name in ("learning_rate", "global_norm", "clipped_global_norm"):
        if name in history:
            rows.append((name.replace("_", " "), float(history.last(name))))
    for name, values in history.evaluations.items():
        if name != "step" and len(values):
            rows.append((name.replace("_", " "), float(values[-1])))
    if "position" in history and len(history):
        rows.append(("position", ", ".join(f"{v:.6g}" for v in history["position"][-1])))
    return _table(rows)


def command_run(args: argparse.Namespace) -> int:
    """``olexplore run``: train one Config; write history.csv, run.json, figure.png."""
    config, _, sources = _config(args)
    run = _build(Run, config, sources)
    out = _output_directory(args.out)
    bar = ProgressBar(config.steps, "run", None if args.no_progress else sys.stderr)

    def progress(run: Run) -> None:
        speed = f"  {run.steps_per_second:,.0f} steps/s" if run.steps_per_second else ""
        bar.update(run.step, f"loss {float(run.history.last('loss')):.4g}{speed}")

    code = 0
    try:
        run.run(progress=progress)
    except KeyboardInterrupt:
        run.stop()
        run.reason = f"interrupted (Ctrl-C) at step {run.step} of {config.steps}"
        code = INTERRUPTED
    except Exception:  # noqa: BLE001 - a failed run is reported and written, not a traceback
        code = 1
        if args.debug:
            traceback.print_exc()
    finally:
        bar.close()
    print(_run_summary(run))
    if out is not None:
        written = _writing(out, lambda: _write_run(record_of(run), out))
        print("wrote " + ", ".join(str(path) for path in written))
    if code:
        print(f"olexplore: {run.reason}", file=sys.stderr)
    return code


# --------------------------------------------------------------------- compare
def _setting_label(config: Any, grid: dict[str, list[Any]]) -> str:
    flat = flat_config(config)
    parts = [f"{field}={_number(flat[field])}" for field in grid]
    return ", ".join(parts) or f"{config.optimizer} lr={config.learning_rate:g}"


def comparison_figure(records: list[RunRecord], grid: dict[str, list[Any]]) -> Figure:
    """Loss (mean ± std over seeds) per setting; final loss against the learning rate when it
    varies; validation accuracy per setting when the problem evaluates."""
    panels = ["loss"]
    if len(grid.get("learning_rate", [])) > 1:
        panels.append("sensitivity")
    if any(len(r.history.evaluations.get("val_accuracy", [])) for r in records):
        panels.append("val_accuracy")
    stochastic = problem_class(records[0].config.problem).kind != "surface"
    figure = Figure(figsize=(6.5 * len(panels), 4.8), layout="constrained")
    axes = figure.subplots(1, len(panels), squeeze=False)[0]
    for ax, panel in zip(axes, panels, strict=True):
        if panel == "sensitivity":
            others = {k: v for k, v in grid.items() if k != "learning_rate"}

            def group(record: RunRecord, others: dict = others) -> str:
                return _setting_label(record.config, others) if others else "all"

            points: dict[Hashable, Any] = {}
            points.update(sensitivity_points(records, group_by=group))
            plot_sensitivity(points, ax=ax)
        else:
            smoothing = 0.6 if panel == "loss" and stochastic else 0.0  # minibatch noise
            plot_seeds(records, None, panel, smoothing=smoothing, ax=ax)
    figure.suptitle(f"{records[0].config.problem}: {len(records)} runs", parse_math=False)
    return figure


def _compare_summary(runs: list[SweptRun], grid: dict[str, list[Any]]) -> str:
    groups: dict[str, list[dict[str, float]]] = {}
    for run in runs:
        row = {**final_metrics(run), "diverged": run.status == "diverged"}
        groups.setdefault(_setting_label(run.config, grid), []).append(row)
    evaluated = any("final_val_accuracy" in m for rows in groups.values() for m in rows)
    rows: list[list[Any]] = [["setting", "runs", "diverged", "final loss (mean ± std)"]]
    rows[0] += ["val accuracy (mean)"] if evaluated else []
    for label, metrics in groups.items():
        losses = np.array([m["final_loss"] for m in metrics])
        with np.errstate(invalid="ignore"):
            loss = f"{losses.mean():.4g} ± {losses.std():.2g}"
        rows.append([label, len(metrics), sum(m["diverged"] for m in metrics), loss])
        if evaluated:
            accuracy = np.mean([m.get("final_val_accuracy", np.nan) for m in metrics])
            rows[-1].append(f"{accuracy:.4g}")
    return _table(rows)


def command_compare(args: argparse.Namespace) -> int:
    """``olexplore compare``: a grid x seeds sweep; write runs.csv, runs.json, comparison.png."""
    config, grid, sources = _config(args, grid=True)
    if args.seeds < 1:
        raise UsageError(f"argument --seeds: got {args.seeds}; accepted: an integer >= 1")
    out = _output_directory(args.out)
    total = args.seeds * math.prod(len(values) for values in grid.values())
    bar = ProgressBar(total, "compare", None if args.no_progress else sys.stderr)
    done: list[SweptRun] = []

    def progress(count: int, _total: int, run: SweptRun) -> None:
        done.append(run)
        bar.update(count, f"{run.label} seed={run.config.seed}: {run.status}")

    code = 0
    try:
        with _executor(args) as executor:
            result = sweep(config, grid, seeds=args.seeds, progress=progress, executor=executor)
        reported = done
        # In the sweep's order (workers finish in any order); after a Ctrl-C the run it
        # stopped is kept when it trained a step
        done = [r for r in result.runs if len(r.history) or any(r is s for s in reported)]
        if getattr(result, "interrupted", False):  # Ctrl-C: the sweep kept what it ran
            code = INTERRUPTED
    except KeyboardInterrupt:
        code = INTERRUPTED
    except (UsageError, CommandFailure):  # --scheduler: no Dask, or no scheduler there
        raise
    except Exception as error:  # noqa: BLE001 - reported in one line
        trained = [run for run in done if run.status != "failed"]
        if not trained and type(error) is ValueError:  # e.g. a multiplier matching nothing
            raise UsageError(sources.explain(error)) from None
        if args.debug:
            traceback.print_exc()
        what = "every run failed" if not trained else "the comparison failed"
        print(f"olexplore: error: {what}: {error_text(error)}", file=sys.stderr)
        code = 1
    finally:
        bar.close()
    if done:
        print(_compare_summary(done, grid))
    if out is not None:
        records = []
        for run in done:
            record = record_of(run, copy=False)
            record.label = f"{_setting_label(run.config, grid)} seed={run.config.seed}"
            records.append(record)
        written = _writing(out, lambda: _write_comparison(records, grid, out))
        print("wrote " + ", ".join(str(path) for path in written))
    if code == INTERRUPTED:
        print(f"olexplore: interrupted (Ctrl-C) after {len(done)} of {total} runs", file=sys.stderr)
    return code


@contextlib.contextmanager
def _executor(args: argparse.Namespace) -> Iterator[Any]:
    """Where ``compare`` trains: here (``None``), ``--workers`` local processes, or the Dask
    cluster of ``--scheduler``; a missing dask.distributed or an unreachable scheduler is one
    line naming the flag."""
    if args.scheduler is not None:
        try:
            client = connect(args.scheduler, "argument --scheduler")
        except ImportError as error:
            raise UsageError(str(error).split(" (importing")[0]) from None
        except OSError as error:
            raise CommandFailure(str(error)) from None
        with client:
            yield client
    elif args.workers is not None:
        with local_executor(args.workers) as executor:
            yield executor
    else:
        yield None


def _write_comparison(records: list[RunRecord], grid: dict[str, list[Any]], out: Path) -> list:
    written = [to_csv(records, out / "runs.csv"), to_json(records, out / "runs.json")]
    if records:
        written += _figure(lambda: comparison_figure(records, grid), out / "comparison.png")
    return written


def _writing(out: Path, write: Any) -> list[Path]:
    """``write()``; an error writing into ``out`` becomes one line naming ``--out``."""
    try:
        return write()
    except OSError as error:
        reason = error_text(error)
        raise CommandFailure(f"argument --out: cannot write into {str(out)!r} ({reason})") from None


def _config(args: argparse.Namespace, *, grid: bool = False) -> tuple[Any, Any, Any]:
    """:func:`config_from_args`, with a ``--config`` file checked first: a binary, truncated,
    deeply nested or non-JSON file is a usage error naming the flag and the file."""
    if getattr(args, "config", None):
        try:
            safe_json.load(args.config)
        except ValueError as error:
            raise UsageError(f"argument --config: {error}") from None
        except OSError as error:
            raise UsageError(f"argument --config: {error_text(error)}") from None
    return config_from_args(args, grid=grid)


def _build(kind: Any, config: Any, sources: Any) -> Any:
    """``kind(config)`` (a Run builds its problem): a ValueError is a usage error naming the
    flag (e.g. a multiplier that matches no variable); any other failure, such as a truncated
    data file, is one line naming the problem (exit 1)."""
    try:
        return kind(config)
    except KeyboardInterrupt:
        raise
    except Exception as error:
        if type(error) is ValueError:
            raise UsageError(sources.explain(error)) from None
        hint = "" if isinstance(error, INPUT_ERRORS) else f"; {DEBUG_HINT}"
        raise CommandFailure(
            f"problem {config.problem!r} could not be built: {error_text(error)}{hint}"
        ) from error


def _output_directory(out: str | None) -> Path | None:
    if out is None:
        return None
    path = Path(out)
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise UsageError(f"argument --out: cannot create {out!r} ({error.strerror})") from None
    return path


# --------------------------------------------------------------------- problems
def command_problems(args: argparse.Namespace) -> int:
    """``olexplore problems``: every registered problem, its kind and suggested flags."""
    for name in problem_names():
        cls = problem_class(name)
        if args.names:
            print(name)
            continue
        print(f"{name} ({cls.kind}): {cls.title}")
        print(f"    {cls.description}")
        print(f"    suggested: {' '.join(flags_for(suggested_settings(name)))}")
    return 0


# --------------------------------------------------------------------- parser and main
def build_parser() -> Parser:
    """The ``olexplore`` argument parser with its six commands."""
    parser = Parser(
        prog="olexplore",
        description=(__doc__ or "").split("\n\n")[0].replace("``", ""),
        allow_abbrev=False,
    )
    parser.add_argument("--version", action="version", version=f"olexplore {olexplore.__version__}")
    parser.add_argument(
        "--debug", action="store_true", help="show the traceback of an unexpected error"
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    defaults = "Unset flags: the problem's suggested settings, then Config's defaults."
    for name, grid in (("run", False), ("compare", True)):
        summary = "train one Config" if not grid else "compare settings over seeds"
        sub = commands.add_parser(
            name, help=summary, description=f"{summary}. {defaults}", allow_abbrev=False
        )
        add_config_flags(sub, grid=grid)
        if grid:
            seeds = "seeds per setting: --seed, --seed+1, ... (3)"
            sub.add_argument("--seeds", type=integer, default=3, metavar="N", help=seeds)
            add_executor_flags(sub)
        sub.add_argument("--out", metavar="DIR", help="write the results into DIR")
        sub.add_argument("--no-progress", action="store_true", help="no progress bar")
    problems = commands.add_parser("problems", help="list the problems", allow_abbrev=False)
    problems.add_argument("--names", action="store_true", help="names only, one per line")
    served = {
        "lab": "JupyterLab makes its own token and prints the address with it.",
        "app": (
            "Voilà is served on 127.0.0.1 behind a fresh random token; the address with the "
            "token is printed (Voilà 0.5 would open its browser tab without the token, so no "
            "tab is opened: open the printed address). Closing or reloading a page ends its "
            f"kernel; a kernel left without a page (a killed tab) ends {KERNEL_IDLE_SECONDS} s "
            "after it last ran code."
        ),
    }
    for name, tool in (("lab", "JupyterLab"), ("app", "Voilà")):
        sub = commands.add_parser(
            name,
            help=f"open the explorer in {tool}",
            description=(
                f"Open the explorer notebook in {tool}; {tool}'s options go after --. "
                f"{served[name]}"
            ),
            allow_abbrev=False,
        )
        sub.add_argument("--notebook", metavar="PATH", help="another notebook to open")
    add_lr_find_parser(commands)
    return parser


def _too_deep(argv: Sequence[str]) -> str:
    """The message for a flag value nested too deeply to parse, naming the flag when found.

    >>> _too_deep(["run", "--decay-param", "x=" + "[" * 5000])
    'argument --decay-param: the value is nested 5000 deep; accepted: at most 64 levels of JSON'
    """
    for index, argument in enumerate(argv):
        flag, _, value = argument.partition("=") if argument.startswith("--") else ("", "", "")
        if not flag:
            flag, value = (argv[index - 1] if index else ""), argument
        depth = safe_json.nesting_depth(value)
        if depth > safe_json.MAX_DEPTH:
            return (
                f"argument {flag}: the value is nested {depth} deep; accepted: at most "
                f"{safe_json.MAX_DEPTH} levels of JSON"
            )
    return "a value is nested too deeply to parse; accepted: at most 64 levels of JSON"


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``olexplore`` command line; return the exit status.

    Bad input is one ``olexplore: error: ...`` line (status 2 for flags and files, 1 for a
    failure while running); an unexpected error is one line too, with its traceback only under
    ``--debug`` (anywhere before ``--``).

    >>> main(["run", "--steps", "0"])
    2
    """
    argv = sys.argv[1:] if argv is None else list(argv)
    argv, passthrough = split_passthrough(argv)
    debug = "--debug" in argv
    argv = [arg for arg in argv if arg != "--debug"]
    try:
        args, unknown = build_parser().parse_known_args(argv)
        args.debug = debug
        extra = [*unknown, *passthrough]
        if args.command in ("lab", "app"):
            return command_jupyter(args, extra)
        if args.command == "lr-find":
            return command_lr_find(args, extra)
        if extra:
            raise UsageError(f"unrecognized arguments: {' '.join(extra)}")
        handlers = {"run": command_run, "compare": command_compare, "problems": command_problems}
        return handlers[args.command](args)
    except UsageError as error:
        print(f"olexplore: error: {error}", file=sys.stderr)
        return 2
    except (CommandFailure, LaunchFailure) as error:
        if debug and error.__cause__ is not None:
            traceback.print_exception(error.__cause__)
        print(f"olexplore: error: {error}", file=sys.stderr)
        return 1
    except SystemExit as exit_:  # --help, --version
        return exit_.code if isinstance(exit_.code, int) else 0
    except KeyboardInterrupt:  # before anything was recorded (e.g. while building)
        print("olexplore: interrupted", file=sys.stderr)
        return INTERRUPTED
    except RecursionError:  # a flag's JSON value nested beyond what Python parses
        print(f"olexplore: error: {_too_deep(argv)}", file=sys.stderr)
        return 2
    except Exception as error:  # noqa: BLE001 - one line, the traceback only when asked for
        if debug:
            traceback.print_exc()
        hint = "" if debug else f" ({DEBUG_HINT})"
        print(f"olexplore: error: internal error: {error_text(error)}{hint}", file=sys.stderr)
        return 1
