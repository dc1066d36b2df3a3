"""The flags of ``olexplore run`` and ``olexplore compare``, and the Config they describe.

Every Config field has a flag. A Config is assembled in layers, later ones winning: the Config
defaults, the problem's suggested settings (``olexplore problems`` lists them), ``--config
FILE.json`` (a Config, or a run record such as ``run.json``), then the flags given explicitly.
Values are parsed as numbers or JSON, never evaluated. Errors name the flag (or the file), the
value and what is accepted, and become one ``olexplore: error: ...`` line with exit status 2.
"""

from __future__ import annotations

import argparse
import json
import math
import re
from collections.abc import Sequence
from typing import Any

from olexplore.problems.registry import get_problem, problem_class
from olexplore.runs import safe_json
from olexplore.runs.config import Config
from olexplore.runs.fields import FIELDS, set_path, suggested_settings
from olexplore.runs.record import FORMAT as RECORD_FORMAT
from olexplore.runs.sweep import with_field

#: Config field (dotted below decay/clipping) -> its flag, from the field table.
FIELD_FLAGS = {path: row.flag for path, row in FIELDS.items() if row.flag}
#: Fields ``compare`` accepts several values for (a sweep grid over their product).
GRID_FIELDS = tuple(path for path, row in FIELDS.items() if row.grid)


class UsageError(Exception):
    """A bad flag, value or config: reported as one line, exit status 2."""


class Parser(argparse.ArgumentParser):
    """An ArgumentParser whose errors raise :class:`UsageError` instead of exiting."""

    def error(self, message: str) -> Any:  # noqa: D102 - argparse's hook
        raise UsageError(message)


# --------------------------------------------------------------------- value types
def number(text: str) -> float:
    """A finite number from a flag value.

    >>> number("1e-3")
    0.001
    >>> number("fast")
    Traceback (most recent call last):
    argparse.ArgumentTypeError: got 'fast'; accepted: a finite number, e.g. 0.01
    """
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"got {text!r}; accepted: a finite number, e.g. 0.01")
    return value


def integer(text: str) -> int:
    """An integer from a flag value (``"500"``, not ``"5e2"``)."""
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"got {text!r}; accepted: an integer") from None


def optional_number(text: str) -> float | None:
    """A finite number, or ``None`` for ``none``/``null``."""
    if text.strip().lower() in ("none", "null"):
        return None
    try:
        return number(text)
    except argparse.ArgumentTypeError:
        raise argparse.ArgumentTypeError(
            f"got {text!r}; accepted: a positive number or 'none'"
        ) from None


def _reject_constant(name: str) -> Any:
    raise ValueError(name)


def key_value(text: str) -> tuple[str, Any]:
    """``KEY=VALUE`` with VALUE read as a JSON number, boolean, string or list (else as text).

    >>> key_value("decay_steps=100"), key_value("boundaries=[100, 200]")
    (('decay_steps', 100), ('boundaries', [100, 200]))
    >>> key_value("staircase=true"), key_value("path=/data/x.npz")
    (('staircase', True), ('path', '/data/x.npz'))
    """
    key, equals, raw = text.partition("=")
    key = key.strip()
    if not equals or not key:
        raise argparse.ArgumentTypeError(
            f"got {text!r}; accepted: KEY=VALUE, e.g. decay_rate=0.5 or boundaries=[100,200]"
        )
    if safe_json.nesting_depth(raw) > safe_json.MAX_DEPTH:
        raise argparse.ArgumentTypeError(
            f"got a value nested {safe_json.nesting_depth(raw)} deep; accepted: JSON nested at "
            f"most {safe_json.MAX_DEPTH} deep"
        )
    try:
        value = json.loads(raw, parse_constant=_reject_constant)  # no NaN or Infinity
    except ValueError:
        value = raw  # plain text, e.g. a path
    if isinstance(value, dict):
        raise argparse.ArgumentTypeError(
            f"got {text!r}; accepted: VALUE as a JSON number, true/false, string or list"
        )
    return key, value


def pattern_factor(text: str) -> tuple[str, float]:
    """``PATTERN=FACTOR`` (the last ``=`` splits, so patterns may contain one).

    >>> pattern_factor("mlp/hidden/.*=0.5")
    ('mlp/hidden/.*', 0.5)
    """
    pattern, equals, raw = text.rpartition("=")
    try:
        factor = number(raw) if equals and pattern else None
    except argparse.ArgumentTypeError:
        factor = None
    if factor is None:
        raise argparse.ArgumentTypeError(
            f"got {text!r}; accepted: PATTERN=FACTOR with a number FACTOR, e.g. "
            "'mlp/hidden/.*=0.5' (a variable name or a regular expression over names)"
        )
    return pattern, factor


# --------------------------------------------------------------------- the flags
def add_config_flags(parser: argparse.ArgumentParser, *, grid: bool = False) -> None:
    """Add a flag for every Config field of the field table (and ``--config``); with ``grid``
    the fields marked ``grid`` take several values.

    >>> parser = Parser(prog="olexplore run")
    >>> add_config_flags(parser)
    >>> "--clip-norm X" in parser.format_help()
    True
    """
    config_help = "start from this Config (or run record, e.g. run.json); flags override it"
    parser.add_argument("--config", metavar="FILE.json", help=config_help)
    for path, row in FIELDS.items():
        if row.flag is None:
            continue
        options: dict[str, Any] = {"metavar": row.metavar, "help": row.help}
        if row.kind == "choice":
            options["choices"] = list(row.choices()) if row.choices else None
        elif row.kind == "mapping":
            parse = pattern_factor if path == "multipliers" else key_value
            options.update(type=parse, action="append")
            options["help"] = f"repeatable: {row.help}"
        elif row.kind == "int":
            options["type"] = integer
        else:
            options["type"] = optional_number if row.optional else number
        if row.needs is not None:
            flag = FIELD_FLAGS[row.needs[0]]
            options["help"] += f" (with {flag} {row.needs[1]})"
        if grid and row.grid:
            options["nargs"] = "+"
            options["help"] += " (several values: one setting each)"
        parser.add_argument(row.flag, dest=path, default=None, **options)


def workers(text: str) -> int:
    """A number of worker processes for ``compare --workers``.

    >>> workers("2")
    2
    >>> workers("0")
    Traceback (most recent call last):
    argparse.ArgumentTypeError: got 0; accepted: an integer >= 1
    """
    count = integer(text)
    if count < 1:
        raise argparse.ArgumentTypeError(f"got {count}; accepted: an integer >= 1")
    return count


_ADDRESS = re.compile(r"((tcp|tls|ws|wss|ucx)://)?(\[[0-9a-fA-F:]+\]|[\w.-]+):\d{1,5}")


def scheduler_address(text: str) -> str:
    """A Dask scheduler address for ``compare --scheduler`` (``tcp://host:port`` or
    ``host:port``); nothing is contacted here.

    >>> scheduler_address("tcp://10.0.0.5:8786")
    'tcp://10.0.0.5:8786'
    >>> scheduler_address("10.0.0.5")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    argparse.ArgumentTypeError: got '10.0.0.5'; accepted: a Dask scheduler address such as ...
    """
    if not _ADDRESS.fullmatch(text):
        raise argparse.ArgumentTypeError(
            f"got {text!r}; accepted: a Dask scheduler address such as tcp://10.0.0.5:8786"
        )
    return text


def add_executor_flags(parser: argparse.ArgumentParser) -> None:
    """``--workers N`` and ``--scheduler ADDRESS`` (one or the other) for ``compare``.

    >>> parser = Parser(prog="olexplore compare")
    >>> add_executor_flags(parser)
    >>> parser.parse_args(["--workers", "2"]).workers
    2
    """
    where = parser.add_mutually_exclusive_group()
    where.add_argument(
        "--workers",
        type=workers,
        metavar="N",
        help=(
            "train the runs in N single-threaded worker processes on this machine: a Dask "
            "LocalCluster on 127.0.0.1 (olexplore[dask]), else a process pool"
        ),
    )
    where.add_argument(
        "--scheduler",
        type=scheduler_address,
        metavar="ADDRESS",
        help="train the runs on the Dask cluster of this scheduler, e.g. tcp://10.0.0.5:8786",
    )


# --------------------------------------------------------------------- Config assembly
def read_config_file(path: str) -> dict[str, Any]:
    """The Config mapping in ``path``: a Config's JSON or a run record's ``config``."""
    flag = f"argument --config: {path!r}"
    try:
        text = safe_json.read_text(path)
    except OSError as error:
        reason = error.strerror or error
        raise UsageError(f"{flag} cannot be read ({reason}); accepted: a JSON file") from None
    except ValueError as error:
        raise UsageError(f"argument --config: {error}") from None
    try:
        data = safe_json.loads(text, source=flag)
    except ValueError as error:
        raise UsageError(str(error).replace(": not valid JSON", " is not valid JSON")) from None
    if isinstance(data, dict) and data.get("format") == RECORD_FORMAT:
        data = data.get("config")
    if not isinstance(data, dict):
        raise UsageError(f"{flag} holds {type(data).__name__}; accepted: a JSON object (a Config)")
    try:
        Config.from_dict(data)
    except (ValueError, TypeError) as error:
        raise UsageError(f"{flag}: {error}") from None
    return data


class Sources:
    """Where each field's value came from, to name the flag (or file) in an error."""

    def __init__(self) -> None:
        self.by_field: dict[str, str] = {}

    def note(self, field: str, source: str) -> None:
        """Record that ``field`` (dotted) was set by ``source``."""
        self.by_field[field] = source

    def explain(self, error: Exception) -> str:
        """``error``'s message, prefixed with the flag or file of the field it is about."""
        message = str(error)
        head = message.split(":", 1)[0].split("[", 1)[0].removeprefix("gradient_").split(".")
        shared = {f: _shared_prefix(f.split("."), head) for f in self.by_field}
        field = max(shared, key=lambda f: shared[f], default=None)
        if field is None or not shared[field]:  # e.g. decay.params when only --decay was given
            return message
        source = self.by_field[field]
        if source == f"argument {FIELD_FLAGS.get(field)}" and message.startswith(f"{field}: "):
            message = message[len(field) + 2 :]
        return f"{source}: {message}"


def _shared_prefix(parts: list[str], other: list[str]) -> int:
    count = 0
    for mine, theirs in zip(parts, other, strict=False):
        if mine != theirs:
            break
        count += 1
    return count


def _given(args: argparse.Namespace, field: str) -> Any:
    return getattr(args, field, None)


def config_from_args(
    args: argparse.Namespace, *, grid: bool = False
) -> tuple[Config, dict[str, list[Any]], Sources]:
    """``(base Config, sweep grid, sources)`` from parsed flags (grid empty unless ``grid``).

    >>> parser = Parser(prog="olexplore run")
    >>> add_config_flags(parser)
    >>> args = parser.parse_args(["--problem", "quadratic", "--clip-norm", "2"])
    >>> config, _, _ = config_from_args(args)
    >>> config.optimizer, config.learning_rate, config.clipping.kind, config.clipping.norm
    ('SGD', 0.1, 'global_norm', 2.0)
    """
    sources = Sources()
    file_data = read_config_file(args.config) if args.config else {}
    file_source = f"argument --config: {args.config!r}"
    problem = _given(args, "problem") or file_data.get("problem") or Config().problem
    try:
        problem_class(problem)
    except ValueError as error:
        raise UsageError(f"{file_source}: {error}") from None
    data = Config(problem=problem).to_dict()
    for field, value in suggested_settings(problem).items():
        set_path(data, field, value)
        sources.note(field, f"the suggested settings of {problem!r}")
    same_problem = file_data.get("problem", Config().problem) == problem
    for key, value in file_data.items():
        if key == "problem_params" and not same_problem:
            continue  # they belong to the file's problem, not to --problem's
        if key == "decay":
            value = {"name": value.get("name", "none"), "params": dict(value.get("params", {}))}
        data[key] = {**data[key], **value} if key == "clipping" else value
        sources.note(key, file_source)
        for inner in value if isinstance(value, dict) and key in ("decay", "clipping") else ():
            sources.note(f"{key}.{inner}", file_source)

    values: dict[str, list[Any]] = {}
    for field, flag in FIELD_FLAGS.items():
        value = _given(args, field)
        if value is None:
            continue
        sources.note(field, f"argument {flag}")
        if field in ("decay.params", "multipliers", "problem_params"):
            continue
        values[field] = list(value) if isinstance(value, list) else [value]
    _check_clipping_flags(args, data, values)

    for field, options in values.items():
        if field == "decay.name" and options[0] != data["decay"]["name"]:
            data["decay"] = {"name": options[0], "params": {}}  # another decay, its own params
            if not _given(args, "decay.params"):
                sources.note("decay.params", f"argument {FIELD_FLAGS[field]}")
        set_path(data, field, options[0])
    if _given(args, "decay.params"):
        data["decay"] = {**data["decay"], "params": {**data["decay"]["params"]}}
        data["decay"]["params"].update(getattr(args, "decay.params"))
    if _given(args, "multipliers"):
        data["multipliers"] = {**data["multipliers"], **dict(args.multipliers)}
    if _given(args, "problem_params"):
        data["problem_params"] = {**data["problem_params"], **dict(args.problem_params)}
    try:
        config = Config.from_dict(data)
        get_problem(config.problem, **config.problem_params)
    except (ValueError, TypeError) as error:
        raise UsageError(sources.explain(error)) from None

    sweep_grid = {f: v for f, v in values.items() if grid and f in GRID_FIELDS and len(v) > 1}
    for field, options in sweep_grid.items():
        for option in options:
            try:
                with_field(config, field, option)
            except (ValueError, TypeError) as error:
                raise UsageError(sources.explain(error)) from None
    return config, sweep_grid, sources


def _check_clipping_flags(
    args: argparse.Namespace, data: dict[str, Any], values: dict[str, list[Any]]
) -> None:
    """Clipping flags that would be ignored are errors; ``--clip-norm`` alone clips (TF 1)."""
    kinds = set(values.get("clipping.kind", [data["clipping"]["kind"]]))
    if "clipping.norm" in values and "clipping.kind" not in values and kinds == {"none"}:
        values["clipping.kind"] = ["global_norm"]
        kinds = {"global_norm"}
    for field, row in FIELDS.items():
        if row.needs is None or row.needs[0] != "clipping.kind":
            continue
        needs = row.needs[1]
        if field in values and needs not in kinds:
            raise UsageError(
                f"argument {FIELD_FLAGS[field]}: got {_given(args, field)!r}, but clipping is "
                f"{'/'.join(sorted(kinds))}; accepted: only with --clip {needs}"
            )


def flags_for(settings: dict[str, Any]) -> list[str]:
    """Command-line flags that set dotted Config ``settings`` (for printing suggestions).

    >>> flags_for({"optimizer": "SGD", "learning_rate": 0.1, "clipping.norm": 1.0})
    ['--optimizer', 'SGD', '--learning-rate', '0.1', '--clip-norm', '1.0']
    """
    flags: list[str] = []
    for field, value in settings.items():
        flag = FIELD_FLAGS.get(field)
        if flag is not None and field != "clipping.kind":
            flags += [flag, json.dumps(value) if isinstance(value, (list, dict)) else str(value)]
    return flags


def split_passthrough(argv: Sequence[str]) -> tuple[list[str], list[str]]:
    """``(olexplore's arguments, arguments after the first --)``.

    >>> split_passthrough(["lab", "--", "--no-browser"])
    (['lab'], ['--no-browser'])
    """
    argv = list(argv)
    if "--" in argv:
        index = argv.index("--")
        return argv[:index], argv[index + 1 :]
    return argv, []
