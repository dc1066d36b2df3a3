"""``RunRecord``: a finished (or stopped) run frozen as data, independent of the live ``Run``.

A record holds what exporters and static figures need: the Config, a copy of the History, the
status and its reason, a label, the 2-D surface when there is one, the variable names, and where
it ran (library versions, device, time). ``to_json``/``from_json`` make it a self-describing
document, in the spirit of DeepOBS / Crowded Valley run files: the history arrays survive exactly
(float32 values as their shortest decimal form, NaN and infinities as the strings ``"NaN"``,
``"Infinity"`` and ``"-Infinity"``, since JSON has no such numbers).
"""

from __future__ import annotations

import json
import platform
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timezone
from importlib import metadata
from typing import Any

import numpy as np

from olexplore._tensorflow import tf
from olexplore.engine.validation import describe
from olexplore.problems.base import Surface
from olexplore.runs.config import Config
from olexplore.runs.history import (  # noqa: F401 - the codec is part of this module's API
    History,
    copy_history,
    decode_floats,
    encode_floats,
    history_from_dict,
    history_to_dict,
)
from olexplore.runs.labels import describe as describe_config
from olexplore.runs.safe_json import loads

FORMAT = "olexplore.run_record"
FORMAT_VERSION = 1
#: Statuses a Run is expected to report; other non-empty strings are kept as they are.
STATUSES = ("finished", "diverged", "stopped", "running", "failed")


def library_versions() -> dict[str, str]:
    """Versions of olexplore, TensorFlow, Keras, NumPy and Python.

    >>> sorted(library_versions())
    ['keras', 'numpy', 'olexplore', 'python', 'tensorflow']
    """
    import olexplore  # the package is initialised by the time this runs

    try:
        keras = metadata.version("keras")
    except metadata.PackageNotFoundError:  # pragma: no cover - Keras ships with TF 2.21
        keras = "not installed"
    return {
        "olexplore": olexplore.__version__,
        "tensorflow": tf.__version__,
        "keras": keras,
        "numpy": np.__version__,
        "python": platform.python_version(),
    }


def device_name() -> str:
    """``"CPU"``, or the name of the first GPU TensorFlow sees (``"2 x <name>"`` for two).

    >>> isinstance(device_name(), str)
    True
    """
    gpus = tf.config.list_physical_devices("GPU")
    if not gpus:
        return "CPU"
    try:
        name = tf.config.experimental.get_device_details(gpus[0]).get("device_name", "GPU")
    except (RuntimeError, ValueError):  # pragma: no cover - details unavailable
        name = "GPU"
    return name if len(gpus) == 1 else f"{len(gpus)} x {name}"


def now_iso() -> str:
    """The current UTC time, ISO 8601 to the second."""
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def default_label(config: Config) -> str:
    """A short label for a run of ``config``.

    >>> default_label(Config(optimizer="Adam", learning_rate=0.05, seed=3))
    'Adam lr 0.05 seed 3'
    """
    return f"{describe_config(config)} seed {config.seed}"


def flat_config(config: Config) -> dict[str, Any]:
    """The Config as one flat mapping, nested keys joined with dots (CSV columns, grouping).

    >>> flat = flat_config(Config(decay={"name": "exponential_decay",
    ...     "params": {"decay_steps": 10, "decay_rate": 0.5}}))
    >>> flat["optimizer"], flat["decay.name"], flat["decay.params.decay_steps"]
    ('Adam', 'exponential_decay', 10)
    """
    flat: dict[str, Any] = {}

    def walk(prefix: str, value: Any) -> None:
        if isinstance(value, Mapping):
            for key, item in value.items():
                walk(f"{prefix}.{key}" if prefix else str(key), item)
        else:
            flat[prefix] = value

    walk("", config.to_dict())
    return flat


@dataclass(eq=False)
class RunRecord:
    """One run as data: Config, History, status and where it ran.

    Equality compares the JSON form (so NaN equals NaN and the surface function is ignored).

    >>> history = History()
    >>> history.extend({"loss": np.array([2.0, np.nan], np.float32)})
    >>> record = RunRecord(Config(problem="quadratic"), history, status="diverged")
    >>> copy = RunRecord.from_json(record.to_json())
    >>> copy == record, copy.history["loss"].tolist(), copy.label
    (True, [2.0, nan], 'Adam lr 0.01 seed 0')
    """

    config: Config
    history: History
    status: str = "finished"
    reason: str | None = None
    label: str = ""
    surface: Surface | None = None
    variable_names: list[str] = field(default_factory=list)
    versions: dict[str, str] = field(default_factory=library_versions)
    device: str = field(default_factory=device_name)
    created: str = field(default_factory=now_iso)

    def __post_init__(self) -> None:
        if isinstance(self.config, Mapping):
            self.config = Config.from_dict(self.config)
        if not isinstance(self.config, Config):
            raise ValueError(f"config: got {describe(self.config)}; accepted: a Config.")
        if not isinstance(self.history, History):
            raise ValueError(f"history: got {describe(self.history)}; accepted: a History.")
        if not isinstance(self.status, str) or not self.status:
            raise ValueError(
                f"status: got {describe(self.status)}; accepted: a non-empty string such as "
                f"{', '.join(map(repr, STATUSES))}."
            )
        if self.reason is not None and not isinstance(self.reason, str):
            raise ValueError(f"reason: got {describe(self.reason)}; accepted: None or a string.")
        if not isinstance(self.label, str):
            raise ValueError(f"label: got {describe(self.label)}; accepted: a string.")
        self.label = self.label or default_label(self.config)
        if self.surface is not None and not isinstance(self.surface, Surface):
            raise ValueError(f"surface: got {describe(self.surface)}; accepted: None or a Surface.")
        self.variable_names = [str(name) for name in self.variable_names]
        self.versions = {str(k): str(v) for k, v in dict(self.versions).items()}

    __hash__ = None  # pyright: ignore[reportAssignmentType] - mutable, compared by value

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, RunRecord):
            return NotImplemented
        return self.to_dict() == other.to_dict()

    @property
    def diverged(self) -> bool:
        """Whether the run's status is ``"diverged"``."""
        return self.status == "diverged"

    # ----------------------------------------------------------------- JSON
    def to_dict(self) -> dict[str, Any]:
        """Plain, strict-JSON-ready data (no NaN or infinity numbers)."""
        surface = None
        if self.surface is not None:
            surface = {
                "x_range": list(self.surface.x_range),
                "y_range": list(self.surface.y_range),
                "minima": [list(point) for point in self.surface.minima],
                "start": list(self.surface.start),
                "log_scale": bool(self.surface.log_scale),
            }
        return {
            "format": FORMAT,
            "format_version": FORMAT_VERSION,
            "label": self.label,
            "status": self.status,
            "reason": self.reason,
            "seed": self.config.seed,
            "created": self.created,
            "device": self.device,
            "versions": dict(self.versions),
            "config": self.config.to_dict(),
            "variable_names": list(self.variable_names),
            "surface": surface,
            "history": history_to_dict(self.history),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> RunRecord:
        """A record from :meth:`to_dict` output; the surface function is rebuilt from the
        problem registry (``None`` when the problem is not registered).

        Every field is checked: a damaged document is a ``ValueError`` that names the field.

        >>> RunRecord.from_dict({"format": FORMAT, "format_version": 1, "status": "finished",
        ...                      "config": {}, "history": {}, "surface": {}})
        ... # doctest: +ELLIPSIS
        Traceback (most recent call last):
        ValueError: surface: missing x_range, y_range, minima, start, log_scale; accepted: ...
        """
        if not isinstance(data, Mapping) or data.get("format") != FORMAT:
            got = data.get("format") if isinstance(data, Mapping) else data
            raise ValueError(
                f"record: got {describe(got)} as format; accepted: a JSON object with "
                f'"format": "{FORMAT}".'
            )
        version = data.get("format_version")
        if (
            isinstance(version, bool)
            or not isinstance(version, int)
            or not 1 <= version <= FORMAT_VERSION
        ):
            raise ValueError(
                f"record.format_version: got {describe(version)}; accepted: 1 to {FORMAT_VERSION}."
            )
        missing = [key for key in ("config", "history", "status") if key not in data]
        if missing:
            raise ValueError(
                f"record: missing key(s) {missing}; accepted: a run record with config, history "
                "and status."
            )
        try:
            config = Config.from_dict(data["config"])
        except (TypeError, ValueError) as error:
            message = str(error)
            prefix = "" if message.startswith("config") else "config: "
            raise ValueError(f"{prefix}{message}") from None
        if data.get("seed", config.seed) != config.seed:
            raise ValueError(
                f"record.seed: got {describe(data['seed'])} but config.seed is {config.seed}; "
                "accepted: the same seed in both places."
            )
        return cls(
            config=config,
            history=history_from_dict(data["history"]),
            status=data["status"],
            reason=data.get("reason"),
            label=data.get("label", ""),
            surface=_surface_from_dict(config, data.get("surface")),
            variable_names=_strings(data.get("variable_names", []), "variable_names"),
            versions=_string_mapping(data.get("versions", {}), "versions"),
            device=_string(data.get("device", "unknown"), "device"),
            created=_string(data.get("created", ""), "created"),
        )

    def to_json(self, indent: int | None = None) -> str:
        """Strict JSON text (``allow_nan=False``) of :meth:`to_dict`."""
        return json.dumps(self.to_dict(), indent=indent, allow_nan=False)

    @classmethod
    def from_json(cls, text: str, *, source: str = "record") -> RunRecord:
        """A record from :meth:`to_json` text; errors start with ``source`` (a file name).

        >>> RunRecord.from_json("[" * 10_000, source="run.json")
        Traceback (most recent call last):
        ValueError: run.json: not valid JSON (nested 10000 deep; accepted: at most 64).
        """
        data = loads(text, source=source)
        try:
            return cls.from_dict(data)
        except ValueError as error:
            if source == "record":
                raise
            raise ValueError(f"{source}: {error}") from None


def _string(value: Any, field: str) -> str:
    if not isinstance(value, str):
        raise ValueError(f"{field}: got {describe(value)}; accepted: a string.")
    return value


def _strings(value: Any, field: str) -> list[str]:
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        raise ValueError(f"{field}: got {describe(value)}; accepted: a list of strings.")
    return list(value)


def _string_mapping(value: Any, field: str) -> dict[str, str]:
    if not isinstance(value, Mapping) or not all(isinstance(v, str) for v in value.values()):
        raise ValueError(f"{field}: got {describe(value)}; accepted: an object of strings.")
    return dict(value)


_SURFACE_KEYS = ("x_range", "y_range", "minima", "start", "log_scale")


def _point(value: Any, field: str) -> tuple[float, float]:
    if (
        not isinstance(value, list)
        or len(value) != 2
        or not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in value)
    ):
        raise ValueError(f"{field}: got {describe(value)}; accepted: two numbers [a, b].")
    return (float(value[0]), float(value[1]))


def _surface_from_dict(config: Config, data: Any) -> Surface | None:
    if data is None:
        return None
    if not isinstance(data, Mapping):
        raise ValueError(f"surface: got {describe(data)}; accepted: null or a JSON object.")
    missing = [key for key in _SURFACE_KEYS if key not in data]
    if missing:
        raise ValueError(
            f"surface: missing {', '.join(missing)}; accepted: null or a surface with all of them."
        )
    x_range, y_range = (
        _point(data["x_range"], "surface.x_range"),
        _point(data["y_range"], "surface.y_range"),
    )
    start = _point(data["start"], "surface.start")
    minima = data["minima"]
    if not isinstance(minima, list):
        raise ValueError(f"surface.minima: got {describe(minima)}; accepted: a list of points.")
    minima = tuple(_point(p, f"surface.minima[{i}]") for i, p in enumerate(minima))
    if not isinstance(data["log_scale"], bool):
        raise ValueError(
            f"surface.log_scale: got {describe(data['log_scale'])}; accepted: true or false."
        )
    from olexplore.problems import get_problem

    try:
        make = getattr(get_problem(config.problem, **config.problem_params), "surface", None)
        built = make() if callable(make) else None
        function = built.function if isinstance(built, Surface) else None
    except (ValueError, AttributeError, TypeError):
        return None
    if function is None:
        return None
    return Surface(function, x_range, y_range, minima, start, data["log_scale"])


# --------------------------------------------------------------------- from runs
_RUN_ATTRIBUTES = ("config", "history", "status", "reason", "label")


def record_of(run: Any, *, copy: bool = True) -> RunRecord:
    """A RunRecord of anything shaped like a run: ``.config``, ``.history``, ``.status``,
    ``.reason``, ``.label`` and, optionally, ``.surface`` and ``.variable_names`` (on the run
    or on its ``.setup``). ``copy`` snapshots the history, so a live run can keep training.

    >>> from types import SimpleNamespace
    >>> run = SimpleNamespace(config=Config(), history=History(), status="stopped",
    ...                       reason="stopped by the user", label="first")
    >>> record_of(run).status, record_of(run).label
    ('stopped', 'first')
    """
    if isinstance(run, RunRecord):
        return run
    missing = [name for name in _RUN_ATTRIBUTES if not hasattr(run, name)]
    if missing:
        raise TypeError(
            f"run: got {describe(run)}, which lacks {', '.join(missing)}; accepted: a RunRecord "
            "or an object with .config, .history, .status, .reason, .label (and optionally "
            ".setup)."
        )
    setup = getattr(run, "setup", None)
    surface = getattr(run, "surface", None) or getattr(setup, "surface", None)
    names = getattr(run, "variable_names", None) or getattr(setup, "variable_names", None)
    history = copy_history(run.history) if copy else run.history
    return RunRecord(
        config=run.config,
        history=history,
        status=run.status,
        reason=run.reason,
        label=run.label or "",
        surface=surface,
        variable_names=list(names or []),
    )


def as_records(records: Any, argument: str = "records") -> list[RunRecord]:
    """A list of RunRecords from one record or run, or an iterable of them (not copied).

    >>> as_records(RunRecord(Config(), History()))[0].status
    'finished'
    """
    if isinstance(records, RunRecord) or all(hasattr(records, a) for a in _RUN_ATTRIBUTES):
        return [record_of(records, copy=False)]
    if not isinstance(records, Iterable) or isinstance(records, (str, bytes, Mapping)):
        raise ValueError(
            f"{argument}: got {describe(records)}; accepted: a RunRecord, a run, or a list of them."
        )
    result = []
    for index, item in enumerate(records):
        try:
            result.append(record_of(item, copy=False))
        except TypeError as error:
            raise ValueError(f"{argument}[{index}]: {error}") from None
    return result
