"""The field table: one row per Config field, the single source of what a setting is.

Each :class:`Field` says a setting's dotted path (``learning_rate``, ``clipping.norm``,
``decay.name``), its type and bounds or choices, its default, one line of help, its CLI flag,
the kind of control that edits it, whether a change applies live to a running run or resets it,
and the short word that names it in run labels. :class:`~olexplore.runs.config.Config` validates
with it, the CLI builds its flags and ``--help`` from it, the explorer builds its controls and
tooltips from it, and :class:`~olexplore.runs.session.Session` decides live-or-reset with it.
Adding a setting is one row here plus its use in the engine.

Decay functions have parameters of their own (``decay_steps``, ``boundaries``, ...): they have
a table of the same shape, :data:`DECAY_PARAMETERS`.

>>> FIELDS["learning_rate"].flag, FIELDS["learning_rate"].live
('--learning-rate', True)
>>> FIELDS["seed"].check(2**32)
Traceback (most recent call last):
...
ValueError: seed: got 4294967296 (int); accepted: an integer from 0 to 4294967295.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from olexplore.engine.learning_rate import DECAY_FUNCTIONS
from olexplore.engine.optimizers import optimizer_names
from olexplore.engine.validation import describe, is_real_number
from olexplore.problems.params import MAX_BATCH_SIZE

CLIP_KINDS = ("none", "global_norm", "adaptive")
#: The largest step count a run accepts (a History of this length is ~0.3 GB).
MAX_STEPS = 10_000_000
MAX_SEED = 2**32 - 1
#: Patterns longer than this are refused before they reach ``re`` (deep nesting recurses).
MAX_PATTERN_LENGTH = 500
#: A name a user's own problem may carry: letters, digits, ``_ . -``, at most 64 characters.
PROBLEM_NAME = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,63}")


@dataclass(frozen=True)
class Field:
    """One setting: how it is typed, bounded, shown, flagged and applied.

    ``kind`` is ``"choice"``, ``"float"``, ``"int"``, ``"bool"`` or ``"mapping"``; ``control``
    names the widget that edits it (``"dropdown"``, ``"toggle"``, ``"log_slider"``,
    ``"float"``, ``"int"``, ``"checkbox"``, ``"decay"``, ``"rows"``). ``needs`` is a
    ``(field, value)`` the setting depends on (a clip norm needs ``clipping.kind ==
    "global_norm"``) and ``effect(config)`` any other condition; :meth:`applies` combines them,
    so labels, the run table and the CLI can leave out or refuse settings without effect.

    >>> FIELDS["clipping.norm"].check(0)
    Traceback (most recent call last):
    ...
    ValueError: clipping.norm: got 0 (int); accepted: a number > 0.
    """

    path: str
    kind: str
    default: Any
    help: str
    flag: str | None
    control: str
    live: bool = False
    choices: Callable[[], Sequence[str]] | None = None
    minimum: float | None = None
    maximum: float | None = None
    strict_minimum: bool = False
    strict_maximum: bool = False
    optional: bool = False
    grid: bool = False
    short: str = ""
    metavar: str | None = None
    needs: tuple[str, str] | None = None
    effect: Callable[[Any], bool] | None = None
    label: str = ""

    @property
    def title(self) -> str:
        """The words a control shows beside the setting.

        >>> FIELDS["batch_size"].title, FIELDS["clipping.kind"].title
        ('batch size', 'clipping')
        """
        return self.label or self.path.rsplit(".", 1)[-1].replace("_", " ")

    def applies(self, config: Any) -> bool:
        """Whether this setting has any effect under ``config``.

        >>> from olexplore.runs.config import Config
        >>> FIELDS["clipping.norm"].applies(Config()), FIELDS["learning_rate"].applies(Config())
        (False, True)
        """
        if self.needs is not None and value_at(config, self.needs[0]) != self.needs[1]:
            return False
        return self.effect is None or self.effect(config)

    @property
    def accepted(self) -> str:
        """What the field accepts, in words (the end of every error message)."""
        if self.kind == "choice":
            return f"one of {', '.join(self.choices())}" if self.choices else "a name"
        if self.kind == "bool":
            return "true or false"
        if self.kind == "mapping":
            return self.help
        noun = "an integer" if self.kind == "int" else "a number"
        low, high = self.minimum, self.maximum
        strict = self.strict_minimum or self.strict_maximum
        if low is not None and high is not None and not strict:
            text = f"{noun} from {_format(low)} to {_format(high)}"
        elif low is not None and high is not None:
            right = ")" if self.strict_maximum else "]"
            text = f"{noun} in {'(' if self.strict_minimum else '['}{_format(low)}, "
            text += f"{_format(high)}{right}"
        elif low is not None:
            text = f"{noun} {'>' if self.strict_minimum else '>='} {_format(low)}"
        else:
            text = f"a finite {noun.split()[-1]}"
        return f"null or {text}" if self.optional else text

    def error(self, value: Any, detail: str = "") -> ValueError:
        """The ValueError for ``value``: the field, the value received, what is accepted."""
        detail = f" {detail}" if detail else ""
        return ValueError(f"{self.path}: got {describe(value)}{detail}; accepted: {self.accepted}.")

    def check(self, value: Any) -> Any:
        """``value`` normalised (ints as ``int``, numbers as ``float``), or a ValueError.

        >>> FIELDS["learning_rate"].check(1), FIELDS["steps"].check(500.0)
        (1.0, 500)
        """
        if value is None and self.optional:
            return None
        if self.kind == "choice":
            names = list(self.choices()) if self.choices else []
            if not isinstance(value, str) or (names and value not in names):
                raise self.error(value)
            return value
        if self.kind == "bool":
            if not isinstance(value, bool):
                raise self.error(value)
            return value
        if self.kind == "int":
            return self._integer(value)
        if self.kind == "float":
            return self._number(value)
        return value  # mappings are checked by their owner (Config)

    def _integer(self, value: Any) -> int:
        if isinstance(value, float) and value.is_integer():
            value = int(value)
        if isinstance(value, bool) or not isinstance(value, int):
            raise self.error(value)
        self._bounds(value, value)
        return int(value)

    def _number(self, value: Any) -> float:
        if not is_real_number(value) or not math.isfinite(float(value)):
            raise self.error(value)
        number = float(value)
        self._bounds(value, number)
        return number

    def _bounds(self, value: Any, number: float) -> None:
        low, high = self.minimum, self.maximum
        if low is not None and (number < low or (self.strict_minimum and number == low)):
            raise self.error(value)
        if high is not None and (number > high or (self.strict_maximum and number == high)):
            raise self.error(value)


def _format(number: float) -> str:
    return str(int(number)) if float(number).is_integer() else f"{number:g}"


#: What the clipping settings depend on (``Field.needs``).
GLOBAL_NORM = ("clipping.kind", "global_norm")
ADAPTIVE = ("clipping.kind", "adaptive")


def _has_data(config: Any) -> bool:
    from olexplore.problems.registry import problem_class, problem_names  # noqa: PLC0415

    if config.problem not in problem_names():
        return True  # a user's own problem: assume it has data
    return problem_class(config.problem).kind != "surface"


def _problem_names() -> list[str]:
    from olexplore.problems.registry import problem_names  # noqa: PLC0415

    return problem_names()


_ROWS = [
    Field("problem", "choice", "rosenbrock", "What to train: a 2-D surface, a toy or a real model "
          "(changing it resets the run and applies its suggested settings).", "--problem",
          "dropdown", choices=_problem_names, short="problem", metavar="NAME"),
    Field("optimizer", "choice", "Adam", "TF 1's six optimizer names (tf.compat.v1.train "
          "classes, Momentum at 0.9) or a Keras 3 optimizer, as optimize_loss's optimizer.",
          "--optimizer", "dropdown", choices=optimizer_names, grid=True, short="",
          metavar="NAME"),
    Field("learning_rate", "float", 0.01, "Base learning rate (any number >= 0; the box takes "
          "the exact value, the slider is log-scaled). Changes live, without a reset.",
          "--learning-rate", "log_slider", live=True, minimum=0.0, grid=True, short="lr",
          metavar="LR"),
    Field("decay.name", "choice", "none", "learning_rate_decay_fn: none or one of TF 1's nine "
          "tf.compat.v1.train decay functions, called with the rate and the global step.",
          "--decay", "dropdown", choices=lambda: ["none", *DECAY_FUNCTIONS], short="decay",
          metavar="NAME", label="decay"),
    Field("decay.params", "mapping", {}, "the decay function's parameters, e.g. "
          "decay_rate=0.5 (see DECAY_PARAMETERS)", "--decay-param", "decay", metavar="KEY=VALUE"),
    Field("clipping.kind", "choice", "none", "clip_gradients: none, a fixed global norm "
          "(tf.clip_by_global_norm) or TF 1's adaptive clipping of the log norm's outliers.",
          "--clip", "toggle", choices=lambda: CLIP_KINDS, grid=True, short="clip", label="clipping",
          metavar="KIND"),
    Field("clipping.norm", "float", 1.0, "The global norm gradients are clipped to (live, "
          "without a reset).", "--clip-norm", "log_slider", live=True, minimum=0.0,
          strict_minimum=True, grid=True, short="clip", metavar="X", needs=GLOBAL_NORM,
          label="clip norm"),
    Field("clipping.std_factor", "float", 2.0, "Adaptive clipping: clip above mean + "
          "std_factor * std of the log norm.", "--clip-std-factor", "float", minimum=0.0,
          strict_minimum=True, short="std factor", metavar="X", needs=ADAPTIVE),
    Field("clipping.decay", "float", 0.95, "Adaptive clipping: decay of its moving averages.",
          "--clip-decay", "float", minimum=0.0, maximum=1.0, strict_maximum=True,
          short="clip decay", metavar="X", needs=ADAPTIVE),
    Field("clipping.static_max_norm", "float", None, "Adaptive clipping: also clip at this "
          "fixed maximum global norm ('none': no fixed maximum).", "--clip-static-max-norm",
          "float", minimum=0.0, strict_minimum=True, optional=True, short="max norm",
          metavar="X", needs=ADAPTIVE, label="max norm"),
    Field("noise_scale", "float", 0.0, "gradient_noise_scale: standard deviation of the "
          "truncated-normal noise added to every gradient (0 is off; live).", "--noise-scale",
          "float", live=True, minimum=0.0, grid=True, short="noise", metavar="X"),
    Field("multipliers", "mapping", {}, "a mapping from variable names or regular expressions "
          "over them to finite factors, e.g. {'mlp/hidden/.*': 0.0}", "--multiplier", "rows",
          short="×", metavar="PATTERN=FACTOR"),
    Field("steps", "int", 500, "Number of training steps of the run (raising it continues a "
          "finished run).", "--steps", "int", live=True, minimum=1, maximum=MAX_STEPS,
          short="steps", metavar="N"),
    Field("batch_size", "int", 64, "Examples per step for problems with data (2-D surfaces "
          "have none).", "--batch-size", "int", minimum=1, maximum=MAX_BATCH_SIZE, grid=True,
          short="batch", metavar="N", effect=_has_data),
    Field("seed", "int", 0, "Seeds initial values, data order and gradient noise: same seed, "
          "same run.", "--seed", "int", minimum=0, maximum=MAX_SEED, short="seed", metavar="N"),
    Field("problem_params", "mapping", {}, "a mapping of the problem's own parameters, e.g. "
          "{'condition_number': 10}", "--problem-param", "none", metavar="KEY=VALUE"),
]  # fmt: skip

#: Every Config field by dotted path, in the order of the panel and of ``--help``.
FIELDS: dict[str, Field] = {row.path: row for row in _ROWS}

#: Fields whose change a running run takes without a reset.
LIVE = frozenset(path for path, row in FIELDS.items() if row.live)


@dataclass(frozen=True)
class DecayParameter:
    """One parameter of the decay functions: its checks and help (shared by all decays).

    >>> DECAY_PARAMETERS["decay_rate"].check(-5)
    Traceback (most recent call last):
    ...
    ValueError: decay.params.decay_rate: got -5 (int); accepted: a number > 0.
    """

    name: str
    kind: str  # "float", "int", "bool", "steps" (increasing ints) or "rates" (numbers >= 0)
    help: str
    minimum: float | None = None
    maximum: float | None = None
    strict_minimum: bool = False

    @property
    def field(self) -> Field:
        """This parameter as a :class:`Field` (for its checks and messages)."""
        kind = self.kind if self.kind in ("float", "int", "bool") else "float"
        return Field(
            f"decay.params.{self.name}", kind, None, self.help, None, self.kind,
            minimum=self.minimum, maximum=self.maximum, strict_minimum=self.strict_minimum,
        )  # fmt: skip

    def check(self, value: Any) -> Any:
        """``value`` normalised, or a ValueError naming ``decay.params.<name>``."""
        if self.kind not in ("steps", "rates"):
            return self.field.check(value)
        path = f"decay.params.{self.name}"
        words = "step numbers >= 0" if self.kind == "steps" else "learning rates >= 0"
        accepted = f"a list of {words}"
        if not isinstance(value, (list, tuple)) or not value:
            raise ValueError(f"{path}: got {describe(value)}; accepted: {accepted}.")
        element = Field(path, "int" if self.kind == "steps" else "float", None, "", None, "",
                        minimum=0.0)  # fmt: skip
        items = []
        for item in value:
            try:
                items.append(element.check(item))
            except ValueError:
                raise ValueError(
                    f"{path}: got {describe(value)}, where {item!r} is not accepted; "
                    f"accepted: {accepted}."
                ) from None
        if self.kind == "steps" and any(b <= a for a, b in zip(items, items[1:], strict=False)):
            raise ValueError(f"{path}: got {describe(value)}; accepted: increasing step numbers.")
        return tuple(items)


_DECAY_ROWS = [
    DecayParameter("decay_steps", "int", "Steps over which the rate decays (per decay_rate, or "
                   "the whole schedule).", minimum=1),
    DecayParameter("first_decay_steps", "int", "Steps of the first cosine period, before the "
                   "first restart.", minimum=1),
    DecayParameter("decay_rate", "float", "How much the rate decays per decay_steps.",
                   minimum=0.0, strict_minimum=True),
    DecayParameter("staircase", "bool", "Decay in jumps every decay_steps instead of smoothly."),
    DecayParameter("boundaries", "steps", "Increasing step numbers where the rate changes, "
                   "comma-separated."),
    DecayParameter("values", "rates", "The rates themselves, comma-separated: one more than "
                   "boundaries."),
    DecayParameter("end_learning_rate", "float", "The rate reached after decay_steps.",
                   minimum=0.0),
    DecayParameter("power", "float", "Exponent of the polynomial (1.0 is linear).",
                   minimum=0.0, strict_minimum=True),
    DecayParameter("cycle", "bool", "Restart the polynomial decay after decay_steps instead of "
                   "staying at the end rate."),
    DecayParameter("alpha", "float", "Floor of the cosine decay, as a fraction of the rate.",
                   minimum=0.0, maximum=1.0),
    DecayParameter("t_mul", "float", "Each cosine period is t_mul times longer than the "
                   "previous one.", minimum=0.0, strict_minimum=True),
    DecayParameter("m_mul", "float", "Each restart starts at m_mul times the previous starting "
                   "rate.", minimum=0.0),
    DecayParameter("num_periods", "float", "Number of cosine periods over decay_steps.",
                   minimum=0.0, strict_minimum=True),
    DecayParameter("beta", "float", "Constant added to the linear-cosine factor.", minimum=0.0),
    DecayParameter("initial_variance", "float", "Initial variance of the noise added to the "
                   "linear-cosine factor.", minimum=0.0),
    DecayParameter("variance_decay", "float", "How fast that noise variance decays with the "
                   "step.", minimum=0.0),
]  # fmt: skip

#: Every parameter of the nine decay functions, by name.
DECAY_PARAMETERS: dict[str, DecayParameter] = {row.name: row for row in _DECAY_ROWS}


def field(path: str) -> Field:
    """The row of ``path``; a ValueError listing the fields when there is none.

    >>> field("clipping.norm").short
    'clip'
    """
    if path in FIELDS:
        return FIELDS[path]
    raise ValueError(f"field: got {describe(path)}; accepted: one of {', '.join(FIELDS)}.")


def steps_argument(value: Any, argument: str, none: str) -> int | None:
    """A step count given to a function: ``None`` (meaning ``none``), or an int in
    ``[0, MAX_STEPS]``; anything else is a ValueError naming ``argument``.

    >>> steps_argument(None, "steps", "to the end"), steps_argument(5, "steps", "to the end")
    (None, 5)
    >>> steps_argument(-1, "steps", "to the end")
    Traceback (most recent call last):
    ...
    ValueError: steps: got -1 (int); accepted: None (to the end) or an int from 0 to 10_000_000.
    """
    if value is None:
        return None
    if (
        isinstance(value, (bool, np.bool_))
        or not isinstance(value, (int, np.integer))
        or not 0 <= value <= MAX_STEPS
    ):
        raise ValueError(
            f"{argument}: got {describe(value)}; accepted: None ({none}) or an int from 0 to "
            f"{MAX_STEPS:_}."
        )
    return int(value)


def check_problem_name(value: Any) -> str:
    """A registered problem's name, or a user problem's name made of safe characters only.

    >>> check_problem_name("rosenbrock")
    'rosenbrock'
    >>> check_problem_name("x'+__import__('os')")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    ValueError: problem: got "x'+__import__('os')" (str); accepted: a registered problem ...
    """
    if isinstance(value, str) and (value in _problem_names() or PROBLEM_NAME.fullmatch(value)):
        return value
    raise ValueError(
        f"problem: got {describe(value)}; accepted: a registered problem "
        f"({', '.join(_problem_names())}) or, for your own Problem, a name of letters, digits, "
        "'_', '.' and '-' (at most 64 characters)."
    )


def compile_pattern(key: str, argument: str = "multipliers") -> re.Pattern[str]:
    """``key`` compiled as a regular expression, or a ValueError that says why not.

    >>> compile_pattern("mlp/.*").pattern
    'mlp/.*'
    >>> compile_pattern("(")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    ValueError: multipliers: key '(' is not a regular expression (missing ), ...
    """
    accepted = "a variable name or a regular expression over the names"
    if len(key) > MAX_PATTERN_LENGTH:
        raise ValueError(
            f"{argument}: key of {len(key)} characters is too long; accepted: {accepted} of at "
            f"most {MAX_PATTERN_LENGTH} characters."
        )
    try:
        return re.compile(key)
    except (re.error, RecursionError, OverflowError) as error:
        raise ValueError(
            f"{argument}: key {key!r} is not a regular expression ({error}); accepted: {accepted}."
        ) from None


def matching_names(key: str, names: Sequence[str]) -> list[str]:
    """The variable ``names`` that multiplier ``key`` designates (a name or a whole-name regex).

    >>> matching_names("mlp/hidden/.*", ["mlp/hidden/kernel", "mlp/hidden/bias", "mlp/out/bias"])
    ['mlp/hidden/kernel', 'mlp/hidden/bias']
    >>> matching_names("x:0", ["x", "y"])
    ['x']
    """
    exact = key.removesuffix(":0")
    if exact in names:
        return [exact]
    pattern = compile_pattern(exact)
    return [name for name in names if pattern.fullmatch(name)]


def suggested_decay_params(name: str, steps: int = 500, learning_rate: float = 0.01) -> dict:
    """The parameters of decay ``name``: TF's defaults, and required ones filled in for a run.

    >>> suggested_decay_params("exponential_decay")
    {'decay_steps': 100, 'decay_rate': 0.5, 'staircase': False}
    >>> suggested_decay_params("piecewise_constant", steps=300, learning_rate=0.1)
    {'boundaries': (150, 225), 'values': (0.1, 0.01, 0.001)}
    """
    from olexplore.runs.config import REQUIRED, decay_parameters  # noqa: PLC0415

    steps = max(1, int(steps))
    first = max(1, steps // 2)
    whole_run = name in {
        f"{kind}_decay" for kind in ("polynomial", "cosine", "linear_cosine", "noisy_linear_cosine")
    }
    fill = {
        "decay_steps": steps if whole_run else max(1, steps // 5),
        "first_decay_steps": max(1, steps // 4),
        "decay_rate": 0.5,
        "boundaries": (first, max(first + 1, 3 * steps // 4)),
        "values": tuple(float(f"{learning_rate / f:.6g}") for f in (1, 10, 100)),
    }
    return {k: fill[k] if v is REQUIRED else v for k, v in decay_parameters(name).items()}


def set_path(data: dict[str, Any], path: str, value: Any) -> None:
    """Set dotted ``path`` in ``data`` (a Config's :meth:`~Config.to_dict`), copying what it
    changes inside.

    >>> data = {"clipping": {"kind": "none", "norm": 1.0}}
    >>> set_path(data, "clipping.norm", 2.0)
    >>> data
    {'clipping': {'kind': 'none', 'norm': 2.0}}
    """
    head, _, rest = path.partition(".")
    if rest:
        data[head] = {**data.get(head, {}), rest: value}
    else:
        data[head] = value


def suggested_settings(problem: str) -> dict[str, Any]:
    """A registered problem's suggested settings, ``{field path: value}``, checked against the
    field table (a problem that suggests something else is a bug, said at once).

    >>> suggested_settings("exploding-gradients")["clipping.kind"]
    'global_norm'
    """
    from olexplore.problems.registry import problem_class  # noqa: PLC0415

    settings = dict(problem_class(problem).suggested)
    unknown = sorted(set(settings) - set(FIELDS))
    if unknown:
        raise ValueError(
            f"{problem}.suggested: got {unknown}; accepted: field paths such as "
            f"{', '.join(list(FIELDS)[:4])}, ..."
        )
    return settings


def value_at(config: Any, path: str) -> Any:
    """The value of dotted ``path`` in ``config`` (mappings as plain dicts).

    >>> from olexplore.runs.config import Config
    >>> value_at(Config(), "clipping.norm"), value_at(Config(), "decay.params")
    (1.0, {})
    """
    value = config
    for part in path.split("."):
        value = value[part] if isinstance(value, Mapping) else getattr(value, part)
    return dict(value) if isinstance(value, Mapping) else value
