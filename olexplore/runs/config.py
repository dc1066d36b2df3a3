"""``Config``: one serialisable, validated description of a run (every control plus the seed).

Like TensorFlow Playground's state object, a Config is all a run needs: the explorer only edits
Configs, the CLI parses them from flags or JSON, and a Config reproduces its run. Nothing a user
types is ever evaluated as code.
"""

from __future__ import annotations

import dataclasses
import inspect
import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from olexplore.engine.learning_rate import DECAY_FUNCTIONS
from olexplore.engine.validation import describe, is_real_number
from olexplore.runs import safe_json
from olexplore.runs.fields import (
    CLIP_KINDS,
    DECAY_PARAMETERS,
    FIELDS,
    check_problem_name,
    compile_pattern,
)

#: The top-level settings that are one value each, checked by their field table row.
_SCALARS = [
    path
    for path, row in FIELDS.items()
    if "." not in path and row.kind != "mapping" and path != "problem"
]

__all__ = ["CLIP_KINDS", "REQUIRED", "Clipping", "Config", "Decay", "FrozenMapping"]


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
    """A learning-rate decay: ``"none"`` or one of the nine ``tf.compat.v1.train`` functions.

    >>> Decay("exponential_decay", {"decay_steps": 100, "decay_rate": 0.5}).params["decay_rate"]
    0.5
    """

    name: str = "none"
    params: Mapping[str, Any] = field(default_factory=FrozenMapping)

    def __post_init__(self) -> None:
        name = FIELDS["decay.name"].check(self.name)
        if not isinstance(self.params, Mapping):
            raise FIELDS["decay.params"].error(self.params)
        params = dict(self.params)
        if name == "none":
            if params:
                raise ValueError(
                    f"decay.params: got {params!r} with decay 'none'; accepted: no parameters."
                )
        else:
            known = decay_parameters(name)
            for key, value in params.items():
                if key not in known:
                    raise ValueError(
                        f"decay.params: {key!r} is not a parameter of {name}; accepted: "
                        f"{', '.join(known)}."
                    )
                params[key] = DECAY_PARAMETERS[key].check(value)
            missing = [k for k, v in known.items() if v is REQUIRED and k not in params]
            if missing:
                raise ValueError(
                    f"decay.params: {name} needs {', '.join(missing)}; got {params!r}."
                )
            if name == "piecewise_constant":
                boundaries, values = params["boundaries"], params["values"]
                if len(values) != len(boundaries) + 1:
                    raise ValueError(
                        f"decay.params.values: got {len(values)} values for {len(boundaries)} "
                        f"boundaries; accepted: one more value than boundaries ("
                        f"{len(boundaries) + 1})."
                    )
        object.__setattr__(self, "params", FrozenMapping(params))


@dataclass(frozen=True)
class Clipping:
    """Gradient clipping: ``"none"``, ``"global_norm"`` (at ``norm``) or ``"adaptive"``.

    >>> Clipping("global_norm", norm=2).norm
    2.0
    """

    kind: str = "none"
    norm: float = 1.0
    std_factor: float = 2.0
    decay: float = 0.95
    static_max_norm: float | None = None

    def __post_init__(self) -> None:
        for part in ("kind", "norm", "std_factor", "decay", "static_max_norm"):
            value = FIELDS[f"clipping.{part}"].check(getattr(self, part))
            object.__setattr__(self, part, value)


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
        set_ = object.__setattr__
        set_(self, "problem", check_problem_name(self.problem))
        for name in _SCALARS:
            set_(self, name, FIELDS[name].check(getattr(self, name)))
        if isinstance(self.decay, Mapping):
            set_(self, "decay", Decay(**self.decay))
        if isinstance(self.clipping, Mapping):
            set_(self, "clipping", Clipping(**self.clipping))
        if not isinstance(self.decay, Decay) or not isinstance(self.clipping, Clipping):
            raise ValueError("decay and clipping must be Decay and Clipping objects or mappings.")
        set_(self, "multipliers", FrozenMapping(_multipliers(self.multipliers)))
        set_(self, "problem_params", FrozenMapping(_problem_params(self.problem_params)))

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
        return cls.from_dict(safe_json.loads(text, source="config"))


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


def _multipliers(value: Any) -> dict[str, float]:
    row = FIELDS["multipliers"]
    if not isinstance(value, Mapping):
        raise row.error(value)
    factors = {}
    for key, factor in value.items():
        if not isinstance(key, str) or not key.strip():
            raise ValueError(
                f"multipliers: key {describe(key)} is not accepted; accepted: variable names "
                "or regular expressions over them."
            )
        compile_pattern(key)
        if not is_real_number(factor) or not np.isfinite(float(factor)):
            raise ValueError(
                f"multipliers[{key!r}]: got {describe(factor)}; accepted: a finite number."
            )
        factors[key] = float(factor)
    return factors


def _problem_params(value: Any) -> dict[str, Any]:
    if not isinstance(value, Mapping):
        raise FIELDS["problem_params"].error(value)
    for key, item in value.items():
        if not isinstance(key, str) or not key.isidentifier():
            raise ValueError(
                f"problem_params: key {describe(key)} is not accepted; accepted: parameter "
                "names (Python identifiers such as condition_number)."
            )
        if not _json_like(item):
            raise ValueError(
                f"problem_params.{key}: got {describe(item)}; accepted: a number, true/false, "
                "text, null or a list of these."
            )
    return dict(value)


def _json_like(value: Any, depth: int = 0) -> bool:
    if value is None or isinstance(value, (bool, str)):
        return True
    if is_real_number(value):
        return bool(np.isfinite(float(value)))
    if isinstance(value, (list, tuple)) and depth < 2:
        return all(_json_like(item, depth + 1) for item in value)
    return False
