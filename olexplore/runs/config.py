"""``Config``: one serialisable, validated description of a run (every control plus the seed).

Like TensorFlow Playground's state object, a Config is all a run needs: the explorer only edits
Configs, the CLI parses them from flags or JSON, and a Config reproduces its run. Nothing a user
types is ever evaluated as code.
"""

from __future__ import annotations

import dataclasses
import inspect
import json
import math
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from olexplore.engine.learning_rate import DECAY_FUNCTIONS
from olexplore.engine.optimizers import optimizer_names
from olexplore.engine.validation import describe, is_real_number

CLIP_KINDS = ("none", "global_norm", "adaptive")


class FrozenMapping(Mapping):
    """An immutable, hashable ``dict`` (so Configs can be hashed, compared and used as keys).

    >>> FrozenMapping({"b": 1, "a": 2}) == {"a": 2, "b": 1}
    True
    """

    def __init__(self, items: Mapping[str, Any] | None = None) -> None:
        self._items = dict(items or {})

    def __getitem__(self, key: str) -> Any:
        return self._items[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._items)

    def __len__(self) -> int:
        return len(self._items)

    def __hash__(self) -> int:
        return hash(tuple(sorted((k, _hashable(v)) for k, v in self._items.items())))

    def __repr__(self) -> str:
        return repr(self._items)


def _hashable(value: Any) -> Any:
    if isinstance(value, (list, tuple)):
        return tuple(_hashable(v) for v in value)
    return value


def _number(
    value: Any, argument: str, *, minimum: float = -math.inf, strict: bool = False, accepted: str
) -> float:
    if not is_real_number(value) or not math.isfinite(float(value)):
        raise ValueError(f"{argument}: got {describe(value)}; accepted: {accepted}.")
    number = float(value)
    if number < minimum or (strict and number == minimum):
        raise ValueError(f"{argument}: got {describe(value)}; accepted: {accepted}.")
    return number


def _integer(value: Any, argument: str, minimum: int, accepted: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        if isinstance(value, float) and value.is_integer() and value >= minimum:
            return int(value)
        raise ValueError(f"{argument}: got {describe(value)}; accepted: {accepted}.")
    return int(value)


def decay_parameters(name: str) -> dict[str, Any]:
    """Parameters of a ``tf.compat.v1.train`` decay function: ``{name: default or REQUIRED}``.

    ``learning_rate``, ``global_step``/``x`` and ``name`` are filled in by the engine.

    >>> decay_parameters("exponential_decay")
    {'decay_steps': <required>, 'decay_rate': <required>, 'staircase': False}
    """
    function = inspect.unwrap(DECAY_FUNCTIONS[name])
    parameters = {}
    for parameter in inspect.signature(function).parameters.values():
        if parameter.name in ("learning_rate", "global_step", "x", "name"):
            continue
        default = parameter.default
        parameters[parameter.name] = REQUIRED if default is inspect.Parameter.empty else default
    return parameters


class _Required:
    def __repr__(self) -> str:
        return "<required>"


REQUIRED = _Required()


@dataclass(frozen=True)
class Decay:
    """A learning-rate decay: ``"none"`` or one of the nine ``tf.compat.v1.train`` functions."""

    name: str = "none"
    params: Mapping[str, Any] = field(default_factory=FrozenMapping)

    def __post_init__(self) -> None:
        accepted = f"'none' or one of {sorted(DECAY_FUNCTIONS)}"
        if self.name != "none" and self.name not in DECAY_FUNCTIONS:
            raise ValueError(f"decay.name: got {describe(self.name)}; accepted: {accepted}.")
        params = dict(self.params)
        if self.name == "none":
            if params:
                raise ValueError(
                    f"decay.params: got {params!r} with decay 'none'; accepted: no parameters."
                )
        else:
            known = decay_parameters(self.name)
            for key, value in params.items():
                if key not in known:
                    raise ValueError(
                        f"decay.params: {key!r} is not a parameter of {self.name}; accepted: "
                        f"{', '.join(known)}."
                    )
                params[key] = _check_decay_value(self.name, key, value)
            missing = [k for k, v in known.items() if v is REQUIRED and k not in params]
            if missing:
                raise ValueError(
                    f"decay.params: {self.name} needs {', '.join(missing)}; got {params!r}."
                )
            if self.name == "piecewise_constant":
                boundaries, values = params["boundaries"], params["values"]
                if len(values) != len(boundaries) + 1:
                    raise ValueError(
                        f"decay.params.values: got {len(values)} values for {len(boundaries)} "
                        f"boundaries; accepted: one more value than boundaries ("
                        f"{len(boundaries) + 1})."
                    )
        object.__setattr__(self, "params", FrozenMapping(params))


def _check_decay_value(decay: str, key: str, value: Any) -> Any:
    argument = f"decay.params.{key}"
    if key in ("staircase", "cycle"):
        if not isinstance(value, bool):
            raise ValueError(f"{argument}: got {describe(value)}; accepted: true or false.")
        return value
    if key in ("boundaries", "values"):
        if not isinstance(value, (list, tuple)) or not value:
            raise ValueError(f"{argument}: got {describe(value)}; accepted: a list of numbers.")
        if key == "boundaries":
            # Step counts: TF compares them with the int64 global step and rejects floats.
            steps = tuple(_integer(v, argument, 0, "a list of step numbers >= 0") for v in value)
            if any(later <= earlier for earlier, later in zip(steps, steps[1:], strict=False)):
                raise ValueError(
                    f"{argument}: got {describe(value)}; accepted: increasing step numbers."
                )
            return steps
        return tuple(_number(v, argument, accepted="a list of finite numbers") for v in value)
    if key in ("decay_steps", "first_decay_steps"):
        return _integer(value, argument, 1, "an integer >= 1")
    return _number(value, argument, accepted="a finite number")


@dataclass(frozen=True)
class Clipping:
    """Gradient clipping: ``"none"``, ``"global_norm"`` (at ``norm``) or ``"adaptive"``."""

    kind: str = "none"
    norm: float = 1.0
    std_factor: float = 2.0
    decay: float = 0.95
    static_max_norm: float | None = None

    def __post_init__(self) -> None:
        if self.kind not in CLIP_KINDS:
            raise ValueError(
                f"clipping.kind: got {describe(self.kind)}; accepted: one of {list(CLIP_KINDS)}."
            )
        object.__setattr__(
            self,
            "norm",
            _number(
                self.norm, "clipping.norm", minimum=0.0, strict=True, accepted="a positive number"
            ),
        )
        object.__setattr__(
            self,
            "std_factor",
            _number(
                self.std_factor,
                "clipping.std_factor",
                minimum=0.0,
                strict=True,
                accepted="a positive number",
            ),
        )
        decay = _number(self.decay, "clipping.decay", minimum=0.0, accepted="a number in [0, 1)")
        if decay >= 1.0:
            raise ValueError(f"clipping.decay: got {decay!r}; accepted: a number in [0, 1).")
        object.__setattr__(self, "decay", decay)
        if self.static_max_norm is not None:
            object.__setattr__(
                self,
                "static_max_norm",
                _number(
                    self.static_max_norm,
                    "clipping.static_max_norm",
                    minimum=0.0,
                    strict=True,
                    accepted="null or a positive number",
                ),
            )


@dataclass(frozen=True)
class Config:
    """Everything a run needs. Immutable; change it with :meth:`replace`.

    >>> config = Config(problem="rosenbrock", optimizer="Adam", learning_rate=0.05)
    >>> Config.from_json(config.to_json()) == config
    True
    >>> config.replace(learning_rate=0.1).learning_rate
    0.1
    """

    problem: str = "rosenbrock"
    optimizer: str = "Adam"
    learning_rate: float = 0.01
    decay: Decay = field(default_factory=Decay)
    clipping: Clipping = field(default_factory=Clipping)
    noise_scale: float = 0.0
    multipliers: Mapping[str, float] = field(default_factory=FrozenMapping)
    steps: int = 500
    batch_size: int = 64
    seed: int = 0
    problem_params: Mapping[str, Any] = field(default_factory=FrozenMapping)

    def __post_init__(self) -> None:
        if not isinstance(self.problem, str) or not self.problem:
            raise ValueError(f"problem: got {describe(self.problem)}; accepted: a problem name.")
        if self.optimizer not in optimizer_names():
            raise ValueError(
                f"optimizer: got {describe(self.optimizer)}; accepted: one of "
                f"{', '.join(optimizer_names())}."
            )
        set_ = object.__setattr__
        set_(
            self,
            "learning_rate",
            _number(self.learning_rate, "learning_rate", minimum=0.0, accepted="a number >= 0"),
        )
        if isinstance(self.decay, Mapping):
            set_(self, "decay", Decay(**self.decay))
        if isinstance(self.clipping, Mapping):
            set_(self, "clipping", Clipping(**self.clipping))
        if not isinstance(self.decay, Decay) or not isinstance(self.clipping, Clipping):
            raise ValueError("decay and clipping must be Decay and Clipping objects or mappings.")
        set_(
            self,
            "noise_scale",
            _number(self.noise_scale, "noise_scale", minimum=0.0, accepted="a number >= 0"),
        )
        if not isinstance(self.multipliers, Mapping):
            raise ValueError(
                f"multipliers: got {describe(self.multipliers)}; accepted: a mapping from "
                "variable names or name patterns to numbers, e.g. {'mlp/hidden/.*': 0.0}."
            )
        multipliers = {}
        for key, value in self.multipliers.items():
            if not isinstance(key, str) or not key:
                raise ValueError(
                    f"multipliers: key {describe(key)} is not accepted; accepted: variable names "
                    "or regular expressions over them."
                )
            multipliers[key] = _number(value, f"multipliers[{key!r}]", accepted="a finite number")
        set_(self, "multipliers", FrozenMapping(multipliers))
        set_(self, "steps", _integer(self.steps, "steps", 1, "an integer >= 1"))
        set_(self, "batch_size", _integer(self.batch_size, "batch_size", 1, "an integer >= 1"))
        set_(self, "seed", _integer(self.seed, "seed", 0, "an integer >= 0"))
        if not isinstance(self.problem_params, Mapping):
            raise ValueError(
                f"problem_params: got {describe(self.problem_params)}; accepted: a mapping."
            )
        set_(self, "problem_params", FrozenMapping(self.problem_params))

    # ----------------------------------------------------------------- changes
    def replace(self, **changes: Any) -> Config:
        """A copy with ``changes`` applied (validated like a new Config)."""
        unknown = set(changes) - {f.name for f in dataclasses.fields(self)}
        if unknown:
            raise ValueError(
                f"unknown Config field(s) {sorted(unknown)}; accepted: {field_names()}."
            )
        return dataclasses.replace(self, **changes)

    def differences(self, other: Config) -> dict[str, tuple[Any, Any]]:
        """``{field: (mine, theirs)}`` for every top-level field that differs."""
        mine, theirs = self.to_dict(), other.to_dict()
        return {k: (mine[k], theirs[k]) for k in mine if mine[k] != theirs[k]}

    # ----------------------------------------------------------------- JSON
    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-ready data."""
        return _plain(dataclasses.asdict(self))

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Config:
        """A Config from :meth:`to_dict` output; unknown keys are an error."""
        if not isinstance(data, Mapping):
            raise ValueError(f"config: got {describe(data)}; accepted: a JSON object.")
        unknown = set(data) - set(field_names())
        if unknown:
            raise ValueError(
                f"config: unknown key(s) {sorted(unknown)}; accepted: {field_names()}."
            )
        data = dict(data)
        for key, kind in (("decay", Decay), ("clipping", Clipping)):
            if key in data and isinstance(data[key], Mapping):
                allowed = {f.name for f in dataclasses.fields(kind)}
                extra = set(data[key]) - allowed
                if extra:
                    raise ValueError(
                        f"config.{key}: unknown key(s) {sorted(extra)}; "
                        f"accepted: {sorted(allowed)}."
                    )
                data[key] = kind(**data[key])
        return cls(**data)

    def to_json(self, indent: int | None = 2) -> str:
        """JSON text of :meth:`to_dict`."""
        return json.dumps(self.to_dict(), indent=indent, sort_keys=False)

    @classmethod
    def from_json(cls, text: str) -> Config:
        """A Config from JSON text (never evaluated as code)."""
        try:
            data = json.loads(text)
        except json.JSONDecodeError as error:
            raise ValueError(f"config: not valid JSON ({error}).") from None
        return cls.from_dict(data)


def field_names() -> list[str]:
    """The top-level keys of a Config.

    >>> field_names()[:3]
    ['problem', 'optimizer', 'learning_rate']
    """
    return [f.name for f in dataclasses.fields(Config)]


def _plain(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value
