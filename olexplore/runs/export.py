"""Export run records: one CSV for all runs, JSON run records, TensorBoard events, and code.

* :func:`to_csv` writes every run into one long-format table (one row per run and step).
* :func:`to_json` / :func:`load_json` write and read a list of self-describing run records.
* :func:`to_tensorboard` writes one TensorBoard run directory per record.
* :func:`as_code` turns a Config into a runnable ``optimize_loss`` script.

Every function takes RunRecords or anything :func:`~olexplore.runs.record.record_of` accepts.
"""

from __future__ import annotations

import ast
import csv
import json
import math
import os
import re
from collections.abc import Iterable, Mapping
from itertools import repeat
from keyword import iskeyword
from pathlib import Path
from typing import Any

import numpy as np

from olexplore._tensorflow import tf
from olexplore.engine.validation import describe
from olexplore.runs import safe_json
from olexplore.runs.arguments import GLOBAL_STEP, Call, engine_arguments
from olexplore.runs.config import Config
from olexplore.runs.record import RunRecord, as_records, flat_config

PathLike = str | os.PathLike

#: Columns that come before the config columns in :func:`to_csv`.
CSV_LEADING_COLUMNS = ("run", "label", "status")


# --------------------------------------------------------------------- CSV
def to_csv(records: Any, path: PathLike) -> Path:
    """Write all runs into one long-format CSV file and return its path.

    Columns: ``run`` (position in ``records``), ``label``, ``status``, the flattened config
    (``problem``, ``optimizer``, ``learning_rate``, ``decay.name``, ``decay.params.*``,
    ``clipping.*``, ``noise_scale``, ``multipliers.*``, ``steps``, ``batch_size``, ``seed``,
    ``problem_params.*``), ``step``, then every per-step series (a two-column series such as
    ``position`` becomes ``position_x`` and ``position_y``; the per-step learning rate is
    ``learning_rate_at_step``, since ``learning_rate`` is the Config's) and every evaluation
    (``val_loss``, ...), which fills only the rows of its steps. Values keep full precision;
    ``nan``/``inf`` are written as such; an empty cell means the run has no such column.

    >>> import tempfile
    >>> from olexplore.runs.history import History
    >>> history = History()
    >>> history.extend({"loss": np.array([2.0, 1.5], np.float32)})
    >>> path = to_csv([RunRecord(Config(), history)], tempfile.mkdtemp() + "/runs.csv")
    >>> rows = path.read_text().splitlines()
    >>> len(rows), rows[0].split(",")[-2:], rows[2].split(",")[-2:]
    (3, ['step', 'loss'], ['1', '1.5'])
    """
    records = as_records(records)
    configs = [flat_config(record.config) for record in records]
    config_columns = _union(list(config) for config in configs)
    reserved = {*CSV_LEADING_COLUMNS, *config_columns, "step"}
    tables = [_series_columns(record, reserved) for record in records]
    evaluated = {name for _, _, names in tables for name in names}
    data_columns = _union(list(columns) for columns, _, _ in tables)
    data_columns.sort(key=lambda name: name in evaluated)  # evaluations last (stable)
    path = Path(path)
    with path.open("w", newline="", encoding="utf-8") as file:
        writer = csv.writer(file)
        header = [*CSV_LEADING_COLUMNS, *config_columns, "step", *data_columns]
        writer.writerow([csv_text(name) for name in header])
        for index, (record, config, (columns, steps, _)) in enumerate(
            zip(records, configs, tables, strict=True)
        ):
            rows = len(steps)
            leading = (index, record.label, record.status)
            cells: list[Iterable[str]] = [repeat(_cell(value), rows) for value in leading]
            cells += [repeat(_cell(config.get(name)), rows) for name in config_columns]
            cells.append(steps.astype(str))
            cells += [columns.get(name, repeat("", rows)) for name in data_columns]
            writer.writerows(zip(*cells, strict=False))
    return path


def _series_columns(
    record: RunRecord, reserved: set[str]
) -> tuple[dict[str, Any], np.ndarray, list[str]]:
    """``({column: strings}, steps, evaluation columns)`` of one run: history rows plus
    evaluation-only steps.

    A series named like a config column (``learning_rate``) gets the suffix ``_at_step``; an
    evaluation named like a series gets the prefix ``eval/``.
    """
    history = record.history
    evaluations = history.evaluations
    eval_steps = evaluations["step"].astype(np.int64)
    steps = np.union1d(history.steps, eval_steps)
    at_history = np.isin(steps, history.steps)
    columns: dict[str, Any] = {}
    for name in history.names:
        values = np.asarray(history[name])
        parts = [values] if values.ndim == 1 else list(values.reshape(len(values), -1).T)
        suffixes = [""] if values.ndim == 1 else _column_suffixes(len(parts))
        for suffix, part in zip(suffixes, parts, strict=True):
            column = np.full(steps.shape, "", dtype=object)
            column[at_history] = part.astype(str)
            column_name = name + suffix
            columns[column_name + "_at_step" if column_name in reserved else column_name] = column
    positions = np.searchsorted(steps, eval_steps)
    evaluated = []
    for name, values in evaluations.items():
        if name == "step":
            continue
        column = np.full(steps.shape, "", dtype=object)
        column[positions] = values.astype(str)
        evaluated.append(f"eval/{name}" if name in columns or name in reserved else name)
        columns[evaluated[-1]] = column
    return columns, steps, evaluated


def _column_suffixes(count: int) -> list[str]:
    return ["_x", "_y"] if count == 2 else [f"_{i}" for i in range(count)]


def _union(lists: Iterable[list[str]]) -> list[str]:
    seen: dict[str, None] = {}
    for names in lists:
        seen.update(dict.fromkeys(names))
    return list(seen)


#: First characters that make a spreadsheet read a cell as a formula (OWASP CSV injection).
FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")


def csv_text(text: str) -> str:
    """A text cell a spreadsheet shows as text: a cell starting like a formula gets a ``'``.

    Numbers are not text: they are written with ``str`` and never pass through here.

    >>> csv_text("=HYPERLINK(1)"), csv_text("-cmd"), csv_text("Adam lr=0.05")
    ("'=HYPERLINK(1)", "'-cmd", 'Adam lr=0.05')
    """
    return "'" + text if text.startswith(FORMULA_PREFIXES) else text


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, (list, tuple, Mapping)):
        return csv_text(json.dumps(_plain(value), ensure_ascii=False))
    if isinstance(value, (bool, int, float, np.number)):
        return str(value)
    return csv_text(str(value))


def _plain(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {str(key): _plain(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(item) for item in value]
    return value


# --------------------------------------------------------------------- JSON
def to_json(records: Any, path: PathLike, indent: int | None = None) -> Path:
    """Write the records as a JSON list of self-describing run records; return the path.

    >>> import tempfile
    >>> from olexplore.runs.history import History
    >>> path = to_json([RunRecord(Config(), History())], tempfile.mkdtemp() + "/runs.json")
    >>> [record.status for record in load_json(path)]
    ['finished']
    """
    records = as_records(records)
    text = json.dumps([record.to_dict() for record in records], indent=indent, allow_nan=False)
    path = Path(path)
    path.write_text(text, encoding="utf-8")
    return path


def load_json(path: PathLike) -> list[RunRecord]:
    """Read the run records written by :func:`to_json` (or one record's ``to_json()``).

    Anything but such records (a binary file, nesting beyond reason, a damaged field) is a
    ``ValueError`` that names the file, the record and the field; a missing file is the
    ``OSError``.

    >>> import tempfile
    >>> path = Path(tempfile.mkdtemp()) / "runs.json"
    >>> _ = path.write_text('[{"format": "olexplore.run_record", "format_version": 1, '
    ...     '"status": "finished", "config": {}, "history": {"series": {"loss": []}}}]')
    >>> load_json(path)  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ValueError: '.../runs.json', record 0: history.series.loss: got [] (list); accepted: ...
    """
    source = repr(str(path))
    data = safe_json.loads(safe_json.read_text(path), source=source)
    items = data if isinstance(data, list) else [data]
    records = []
    for index, item in enumerate(items):
        try:
            records.append(RunRecord.from_dict(item))
        except (ValueError, KeyError, TypeError) as error:
            raise ValueError(f"{source}, record {index}: {error}") from None
    return records


# --------------------------------------------------------------------- TensorBoard
def to_tensorboard(records: Any, logdir: PathLike) -> list[Path]:
    """Write one TensorBoard run directory per record under ``logdir``; return them.

    Directories are named ``<run>_<label>`` (e.g. ``00_Adam_lr_0.05_seed_0``). Every per-step
    series is written with ``tf.summary`` as a scalar at its step (tags ``loss``,
    ``learning_rate``, ``global_norm``, ``clipped_global_norm``, ...; a two-column series as
    ``position/x`` and ``position/y``), NaN and infinities included; evaluations
    (``val_loss``, ...) at their steps. The config is written as the text summary ``config``
    and as HParams, so TensorBoard's HParams dashboard lists the runs with their settings.
    Use a fresh ``logdir``: exporting into the same directories again adds a second event
    file to each. Read the scalars back with TensorBoard's ``EventAccumulator`` (TF 2
    summaries are tensors: ``accumulator.Tensors("loss")``).
    """
    from tensorboard.plugins.hparams import api as hparams_api

    records = as_records(records)
    logdir = Path(logdir)
    width = max(2, len(str(len(records) - 1)))
    directories = []
    for index, record in enumerate(records):
        directory = logdir / f"{index:0{width}d}_{_slug(record.label)}"
        tags, steps, values = _scalar_events(record)
        writer = tf.summary.create_file_writer(str(directory))
        try:
            _write_scalars_function()(writer, tags, steps, values)
            with writer.as_default():
                tf.summary.text("config", _markdown_code(record.config.to_json()), step=0)
                hparams = {
                    key: value if isinstance(value, (bool, int, float, str)) else _cell(value)
                    for key, value in flat_config(record.config).items()
                    if value is not None
                }
                hparams_api.hparams(hparams, trial_id=directory.name)
        finally:
            writer.close()
        directories.append(directory)
    return directories


def _markdown_code(text: str) -> str:
    r"""``text`` as an indented Markdown code block: TensorBoard shows it verbatim, so no user
    text in it becomes markup or HTML; still valid JSON when ``text`` is JSON.

    >>> print(_markdown_code('{\n  "problem": "<b>x</b>"\n}'))
        {
          "problem": "<b>x</b>"
        }
    """
    return "\n".join("    " + line for line in text.splitlines())


def _slug(label: str) -> str:
    return re.sub(r"[^A-Za-z0-9._=+-]+", "_", label).strip("_") or "run"


def _scalar_events(record: RunRecord) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(tags, steps, values)`` of every scalar event, sorted by step (stable)."""
    history = record.history
    tags, steps, values = [], [], []
    for name in history.names:
        series = np.asarray(history[name])
        parts = [series] if series.ndim == 1 else list(series.reshape(len(series), -1).T)
        suffixes = (
            [""]
            if series.ndim == 1
            else [s.replace("_", "/") for s in _column_suffixes(len(parts))]
        )
        for suffix, part in zip(suffixes, parts, strict=True):
            tags.append(np.full(len(part), name + suffix, dtype=object))
            steps.append(history.steps)
            values.append(part.astype(np.float32))
    evaluations = history.evaluations
    for name, series in evaluations.items():
        if name == "step":
            continue
        tag = f"eval/{name}" if name in history.names else name
        tags.append(np.full(len(series), tag, dtype=object))
        steps.append(evaluations["step"].astype(np.int64))
        values.append(series.astype(np.float32))
    if not tags:
        return np.array([], object), np.array([], np.int64), np.array([], np.float32)
    steps_all = np.concatenate(steps)
    order = np.argsort(steps_all, kind="stable")
    return np.concatenate(tags)[order], steps_all[order], np.concatenate(values)[order]


def _write_scalars_function() -> Any:
    # Built per writer: a traced summary op keeps the writer it was traced with.
    from tensorboard.plugins.scalar.metadata import create_summary_metadata

    metadata = create_summary_metadata(display_name=None, description=None).SerializeToString()

    @tf.function(autograph=False)
    def write(writer: Any, tags: tf.Tensor, steps: tf.Tensor, values: tf.Tensor) -> tf.Tensor:
        with writer.as_default():

            def body(index: tf.Tensor) -> tuple[tf.Tensor]:
                tf.summary.write(tags[index], values[index], step=steps[index], metadata=metadata)
                return (index + 1,)

            tf.while_loop(lambda index: index < tf.size(tags), body, (tf.constant(0),))
        return tf.constant(True)

    def call(writer: Any, tags: np.ndarray, steps: np.ndarray, values: np.ndarray) -> None:
        write(
            writer,
            tf.constant(tags.astype(str) if tags.size else np.array([], str), tf.string),
            tf.constant(steps, tf.int64),
            tf.constant(values, tf.float32),
        )
        writer.flush()

    return call


# --------------------------------------------------------------------- as code
def as_code(config: Config) -> str:
    """A complete Python script that trains ``config`` with ``optimize_loss``, as a Run does.

    The script seeds Python, NumPy and TensorFlow (``keras.utils.set_random_seed``), builds the
    problem with the Config's seed and batch size, creates the global step (as TF 1 code did;
    adaptive clipping reads it too), makes the exact ``optimize_loss(...)`` call (optimizer,
    learning rate, decay, clipping, gradient noise with its seed, multipliers), and runs
    ``config.steps`` steps, stopping after a step whose loss or gradient norm is not finite.

    >>> code = as_code(Config(problem="quadratic", optimizer="SGD", learning_rate=0.1, steps=3))
    >>> exec(compile(code, "<as_code>", "exec"), {})
    final loss after 3 steps: 1.06288
    >>> print(code[code.index("train = "):code.index("history = ")].strip())
    train = optimize_loss(
        setup.loss,
        global_step,
        0.1,  # learning_rate
        "SGD",
        variables=setup.variables,
        jit_compile=False,  # as the Run
    )
    """
    if not isinstance(config, Config):
        raise ValueError(f"config: got {describe(config)}; accepted: a Config.")
    seed, batch_size = _literal(int(config.seed)), _literal(int(config.batch_size))
    engine = engine_arguments(config)  # what a Run passes to optimize_loss, as plain data
    noise = engine["gradient_noise_scale"] > 0  # 0.0 draws nothing: left out of the script
    arguments = [
        "setup.loss,",
        "global_step,",
        f"{_literal(engine['learning_rate'])},  # learning_rate",
        f"{_literal(engine['optimizer'])},",
    ]
    if noise:
        arguments.append(f"gradient_noise_scale={_literal(engine['gradient_noise_scale'])},")
    if engine["gradient_multipliers"]:
        arguments.append(f"gradient_multipliers={_literal(engine['gradient_multipliers'])},")
    for keyword in ("clip_gradients", "learning_rate_decay_fn"):
        value = engine[keyword]
        if isinstance(value, Call):
            arguments.append(_call(keyword, _function(value), _call_arguments(value)))
        elif value is not None:
            arguments.append(f"{keyword}={_literal(value)},")
    arguments.append("variables=setup.variables,")
    if engine["jit_compile"] != "auto":  # optimize_loss's default; the Run's own choice else
        arguments.append(f"jit_compile={_literal(engine['jit_compile'])},  # as the Run")
    if noise:  # the number itself: whatever the Run derives its noise seed from
        noise_seed = _literal(int(engine["gradient_noise_seed"]))
        arguments.append(f"gradient_noise_seed={noise_seed},  # the Run's (runs.arguments)")
    imports = ["import keras", "import tensorflow as tf", ""]
    if any(isinstance(value, Call) for value in engine.values()):
        imports.append("import olexplore")
    imports += ["from olexplore import optimize_loss", "from olexplore.problems import get_problem"]
    data = "" if _is_surface(config.problem) else "data=setup.data, "
    problem = _join(_literal(config.problem), _keywords(dict(config.problem_params)))
    # The docstring and the comment hold user text: quote-, backslash- and newline-free.
    summary = (
        f"Train {_prose(config.problem)} with {_prose(config.optimizer)} at learning rate "
        f"{float(config.learning_rate):g} (seed {seed}), as olexplore did."
    )
    lines = [
        f'"""{summary}"""',
        "",
        f"# Config: {_comment(config.to_dict())}",
        *imports,
        "",
        f"keras.utils.set_random_seed({seed})  # Python, NumPy and TensorFlow",
        f"setup = get_problem({problem}).build(seed={seed}, batch_size={batch_size})",
        'global_step = tf.Variable(0, dtype=tf.int64, trainable=False, name="global_step")',
        "",
        "train = optimize_loss(",
        *(f"    {argument}" for argument in arguments),
        ")",
        f"history = train.run_steps({_literal(int(config.steps))}, {data}record=setup.record, "
        "stop_on_nonfinite=True)",
        "print(f\"final loss after {len(history['loss'])} steps: {history['loss'][-1]:.6g}\")",
        "",
    ]
    return "\n".join(lines)


def _call(keyword: str, function: str, inner: str) -> str:
    """``keyword=function(inner),`` as a call argument, wrapped when longer than a line."""
    text = f"{keyword}={function}({inner}),"
    if len(text) <= 95:
        return text
    return f"{keyword}={function}(\n        {inner}\n    ),"


#: The olexplore functions a script may call to build a transform (``olexplore.<name>``).
_SCRIPT_FUNCTIONS = ("adaptive_clipping_fn", "decay_function")


def _function(call: Call) -> str:
    if call.function not in _SCRIPT_FUNCTIONS:
        raise ValueError(
            f"engine argument: got a call of {call.function!r}; accepted: "
            f"{list(_SCRIPT_FUNCTIONS)}."
        )
    return f"olexplore.{call.function}"


def _call_arguments(call: Call) -> str:
    return _join(*(_literal(arg) for arg in call.args), _keywords(dict(call.kwargs)))


def _is_surface(problem: str) -> bool:
    from olexplore.problems import problem_class

    try:
        return problem_class(problem).kind == "surface"
    except ValueError:
        return False


def _join(*parts: str) -> str:
    return ", ".join(part for part in parts if part)


def _keywords(options: dict[str, Any]) -> str:
    if all(isinstance(key, str) and _is_name(key) for key in options):
        return ", ".join(f"{key}={_literal(value)}" for key, value in options.items())
    return f"**{_literal(options)}"


def _is_name(key: str) -> bool:
    """Whether ``key`` can be written as ``key=value`` (an ASCII identifier, not a keyword)."""
    return key.isascii() and key.isidentifier() and not iskeyword(key)


def _literal(value: Any) -> str:
    r"""Python source for a JSON-like value: an escaped literal that evaluates back to it.

    Strings are written in double quotes (JSON's escaping, ASCII only) and checked to read back
    as the same string; anything else is refused rather than written.

    >>> print(_literal({'a"+x': ["\n", 1.5, float("nan"), None]}))
    {"a\"+x": ["\n", 1.5, float("nan"), None]}
    """
    if value is GLOBAL_STEP:
        return "global_step"  # the script's own variable
    if isinstance(value, str):
        text = json.dumps(str(value), ensure_ascii=True)
        if ast.literal_eval(text) != value:  # lone surrogates: JSON and Python disagree
            text = ascii(str(value))
        return text
    if isinstance(value, bool) or value is None:
        return repr(value)
    if isinstance(value, (int, np.integer)):
        return repr(int(value))
    if isinstance(value, (float, np.floating)):
        number = float(value)
        return repr(number) if math.isfinite(number) else f'float("{number!r}")'
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_literal(item) for item in value) + "]"
    if isinstance(value, Mapping):
        return "{" + ", ".join(f"{_literal(k)}: {_literal(v)}" for k, v in value.items()) + "}"
    raise ValueError(f"config value: got {describe(value)}; accepted: JSON-like values.")


#: Characters a docstring built from user text must not hold (quotes, backslash, backtick).
_PROSE_UNSAFE = frozenset("\"'`\\")


def _prose(text: Any) -> str:
    r"""User text for a docstring: no quotes, backslashes or line breaks, at most 80 characters.

    >>> _prose("x" + '"' * 3 + "+__import__('os').system('id')\\\n")
    'x+__import__(os).system(id)'
    """
    cleaned = "".join(c for c in str(text) if c.isprintable() and c not in _PROSE_UNSAFE)
    return cleaned[:77] + "..." if len(cleaned) > 80 else cleaned


def _comment(data: Any) -> str:
    r"""JSON text for a ``#`` comment line: ASCII only, so no character can end the line.

    >>> print(_comment({"problem": "a\nb\u2028"}))
    {"problem":"a\nb\u2028"}
    """
    return json.dumps(_plain(data), separators=(",", ":"), ensure_ascii=True, allow_nan=True)
