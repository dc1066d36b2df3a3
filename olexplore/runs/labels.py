"""Words for runs: what a run's settings are, and what differs from a reference run.

One vocabulary for the legend, the run table's "differs" column and exported labels, built from
the field table's ``short`` words: ``"lr 0.05"``, ``"clip 1"``, ``"noise 0.1"``, ``"seed 3"``,
``"× mlp/hidden/.*=0"``, ``"condition_number 10"``. Settings without effect (a clip norm when
clipping is off) are left out, values are never raw Python reprs, and live changes read
``"lr 0.05→0.002 at step 851"``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from olexplore.runs.config import Config
from olexplore.runs.fields import FIELDS, value_at

#: One live change of a run: ``(step, field, old, new)``.
Change = tuple[int, str, Any, Any]


def format_value(value: Any) -> str:
    """A setting's value as a person writes it.

    >>> format_value(0.05), format_value(True), format_value((100, 200)), format_value(None)
    ('0.05', 'on', '100, 200', 'none')
    """
    if value is None:
        return "none"
    if isinstance(value, bool):
        return "on" if value else "off"
    if isinstance(value, float):
        return f"{value:g}"
    if isinstance(value, (list, tuple)):
        return ", ".join(format_value(item) for item in value)
    if isinstance(value, Mapping):
        return ", ".join(f"{key}={format_value(item)}" for key, item in value.items())
    return str(value)


def _clipping_words(config: Config) -> str:
    clipping = config.clipping
    if clipping.kind == "none":
        return "no clip"
    if clipping.kind == "global_norm":
        return f"clip {format_value(clipping.norm)}"
    parts = ["clip adaptive"]
    for name in ("std_factor", "decay", "static_max_norm"):
        value = getattr(clipping, name)
        if value != FIELDS[f"clipping.{name}"].default:
            parts.append(f"{FIELDS[f'clipping.{name}'].short} {format_value(value)}")
    return " ".join(parts)


def _decay_words(config: Config) -> str:
    decay = config.decay
    if decay.name == "none":
        return "no decay"
    params = " ".join(f"{key}={format_value(value)}" for key, value in decay.params.items())
    return f"{decay.name} {params}".strip()


def words(config: Config, path: str) -> str:
    """One top-level setting of ``config`` in words (``path`` a Config field name).

    >>> words(Config(learning_rate=0.05), "learning_rate"), words(Config(seed=3), "seed")
    ('lr 0.05', 'seed 3')
    >>> words(Config(multipliers={"mlp/hidden/.*": 0.0}), "multipliers")
    '× mlp/hidden/.*=0'
    """
    if path == "clipping":
        return _clipping_words(config)
    if path == "decay":
        return _decay_words(config)
    if path == "optimizer":
        return config.optimizer
    if path == "problem":
        return config.problem
    if path == "multipliers":
        if not config.multipliers:
            return "no multipliers"
        return " ".join(f"× {key}={format_value(v)}" for key, v in config.multipliers.items())
    if path == "problem_params":  # empty when the problem takes its defaults
        return " ".join(f"{k} {format_value(v)}" for k, v in config.problem_params.items())
    if path == "steps":
        return f"{config.steps} steps"
    return f"{FIELDS[path].short} {format_value(value_at(config, path))}"


def _applies(config: Config, path: str) -> bool:
    row = FIELDS.get(path)
    return row is None or row.applies(config)


def differing(config: Config, reference: Config) -> list[str]:
    """The top-level fields of ``config`` that differ from ``reference`` and have an effect.

    >>> base = Config(problem="quadratic")
    >>> differing(base.replace(optimizer="SGD", seed=3), base)
    ['optimizer', 'seed']
    >>> differing(base.replace(clipping={"kind": "none", "norm": 5.0}), base)
    []
    """
    fields = []
    for path in ("problem", *(name for name in config.to_dict() if name != "problem")):
        if path == "clipping":
            if _clipping_words(config) != _clipping_words(reference):
                fields.append(path)
        elif value_at(config, path) != value_at(reference, path) and _applies(config, path):
            fields.append(path)
    return fields


def describe(config: Config) -> str:
    """A short description of ``config`` alone: optimizer, rate and what is switched on.

    >>> describe(Config(optimizer="Adam", learning_rate=0.05, clipping={"kind": "global_norm"}))
    'Adam lr 0.05 clip 1'
    """
    parts = [config.optimizer, words(config, "learning_rate")]
    if config.decay.name != "none":
        parts.append(config.decay.name)
    if config.clipping.kind != "none":
        parts.append(_clipping_words(config))
    if config.noise_scale:
        parts.append(words(config, "noise_scale"))
    if config.multipliers:
        parts.append(words(config, "multipliers"))
    return " ".join(parts)


def change_words(changes: Sequence[Change]) -> list[str]:
    """Live changes in words: ``"lr 0.05→0.002 at step 851"``.

    >>> change_words([(851, "learning_rate", 0.05, 0.002), (900, "steps", 1000, 2000)])
    ['lr 0.05→0.002 at step 851', 'steps 1000→2000 at step 900']
    """
    out = []
    for step, path, old, new in changes:
        short = FIELDS[path].short if path in FIELDS else path
        out.append(f"{short} {format_value(old)}→{format_value(new)} at step {step}")
    return out


def starting_config(config: Config, changes: Sequence[Change]) -> Config:
    """The Config a run started from, given its current ``config`` and its live ``changes``.

    >>> now = Config(learning_rate=0.002, steps=2000)
    >>> starting_config(now, [(851, "learning_rate", 0.05, 0.002)]).learning_rate
    0.05
    """
    if not changes:
        return config
    first: dict[str, Any] = {}
    for _, path, old, _ in changes:
        first.setdefault(path, old)
    data = config.to_dict()
    for path, old in first.items():
        head, _, rest = path.partition(".")
        if rest:
            data[head] = {**data[head], rest: old}
        else:
            data[head] = old
    return Config.from_dict(data)


def label(config: Config, reference: Config | None = None, changes: Sequence[Change] = ()) -> str:
    """What names a run: its description, or what differs from ``reference``, plus changes.

    ``config`` is the run's starting Config (live changes are listed after it).

    >>> base = Config(problem="rosenbrock", optimizer="Adam", learning_rate=0.05)
    >>> label(base)
    'Adam lr 0.05'
    >>> label(base.replace(optimizer="SGD", learning_rate=0.001), base)
    'SGD, lr 0.001'
    >>> label(base, base, [(851, "learning_rate", 0.05, 0.002)])
    'same settings; lr 0.05→0.002 at step 851'
    """
    if reference is None:
        text = describe(config)
    else:
        parts = (words(config, path) for path in differing(config, reference))
        text = ", ".join(part for part in parts if part)  # no parameters: nothing to say
        text = text or "same settings"
    live = change_words(changes)
    return "; ".join([text, *live]) if live else text
