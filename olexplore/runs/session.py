"""``Session``: the explorer's model, with no widgets — settings, edits, runs and presets.

As TensorFlow Playground's ``state.ts`` owns every value of its page, a Session owns everything
the explorer shows: the last valid :class:`~olexplore.runs.config.Config`, the edits that are
pending because they are invalid, the current run and every run kept for comparison. A view (the
widget panel, a test, a script) only calls :meth:`Session.edit` and reads the state back.

>>> session = Session(Config(problem="quadratic", optimizer="SGD", learning_rate=0.1, steps=40))
>>> session.edit("learning_rate", -1).kind
'invalid'
>>> session.invalid
{'learning_rate': 'learning_rate: got -1 (int); accepted: a number >= 0.'}
>>> session.edit("learning_rate", 0.2).kind, session.invalid
('live', {})
>>> history = session.run()
>>> session.current.status, len(history)
('finished', 40)
>>> edit = session.edit("seed", 3)
>>> edit.kind, session.current.step, len(session.runs)
('reset', 0, 2)
"""

from __future__ import annotations

import dataclasses
import inspect
import numbers
import warnings
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

from olexplore.engine.validation import describe
from olexplore.problems.base import Problem
from olexplore.problems.registry import problem_class, problem_names
from olexplore.runs.config import Config, Decay
from olexplore.runs.fields import (
    FIELDS,
    matching_names,
    set_path,
    suggested_decay_params,
    suggested_settings,
    value_at,
)
from olexplore.runs.fields import field as field_row
from olexplore.runs.history import History
from olexplore.runs.labels import label as run_label
from olexplore.runs.labels import starting_config
from olexplore.runs.run import Run

EditKind = Literal["live", "reset", "invalid"]
#: Deleted runs that :meth:`Session.undo` can bring back.
UNDO_DEPTH = 20


@dataclass(frozen=True)
class Edit:
    """What one :meth:`Session.edit` did.

    ``kind`` is ``"live"`` (the running run took it, no retrace), ``"reset"`` (the next run
    starts from the new settings; a run that had trained is kept) or ``"invalid"`` (nothing
    changed; ``message`` names the field, the value and what is accepted). ``applied`` lists
    ``{field: (old, new)}`` for what changed, ``dropped`` the settings that a problem change
    removed and ``message`` says it all in one line.
    """

    field: str
    value: Any
    kind: EditKind
    message: str = ""
    applied: Mapping[str, tuple[Any, Any]] = dataclasses.field(default_factory=dict)
    dropped: tuple[str, ...] = ()


class Session:
    """Settings, runs and presets of one explorer, usable headless.

    ``problem`` is your own :class:`~olexplore.problems.Problem` (e.g. a ``CustomProblem`` of a
    Keras model); it is used while ``config.problem`` is its name. ``session.runs`` holds every
    run shown, oldest first; ``session.current`` the run that Play, :meth:`run` and
    :meth:`step` advance (built from ``session.config`` when first needed). Runs are kept
    automatically — finished, stopped, diverged or replaced by a reset — until
    :meth:`delete`; :meth:`undo` brings the last deleted one back.
    """

    def __init__(
        self,
        config: Config | None = None,
        *,
        problem: Problem | None = None,
        chunk_seconds: float = 0.05,
        evaluate_every: int | None = None,
    ) -> None:
        if problem is not None and not isinstance(problem, Problem):
            raise ValueError(
                f"problem: got {describe(problem)}; accepted: None or an olexplore Problem."
            )
        if config is None:
            config = Config(problem=problem.name) if problem is not None else Config()
        if not isinstance(config, Config):
            raise ValueError(f"config: got {describe(config)}; accepted: None or a Config.")
        self.problem = problem
        self.chunk_seconds = chunk_seconds
        self.evaluate_every = evaluate_every
        self._config = config
        self.invalid: dict[str, str] = {}
        self.runs: list[Run] = []
        self.queue: list[Run] = []
        self._current: Run | None = None
        self._deleted: list[tuple[int, Run]] = []
        self._names: dict[tuple[str, str], list[str]] = {}
        self.titles: dict[Run, str] = {}
        #: Warnings of the problems built since :meth:`take_notes` (the data a run really uses).
        self.notes: list[str] = []

    # ----------------------------------------------------------------- state
    @property
    def config(self) -> Config:
        """The last valid Config: what the next run starts from."""
        return self._config

    @property
    def current(self) -> Run:
        """The run that Play advances; built from :attr:`config` when there is none."""
        if self._current is None:
            run = self._new_run(self._config)
            self._current = run
            self.runs.append(run)
        return self._current

    @property
    def has_current(self) -> bool:
        """Whether a current run exists (reading :attr:`current` would not build one)."""
        return self._current is not None

    @property
    def variable_names(self) -> list[str]:
        """The names of the current problem's variables (builds the current run if needed)."""
        return list(self.current.variable_names)

    def label(self, run: Run) -> str:
        """What names ``run``: what differs from the first run shown, and its live changes.

        A preset's runs keep the preset's own labels.
        """
        if run in self.titles:
            return self.titles[run]
        start = starting_config(run.config, run.changes)
        first = self.runs[0] if self.runs else None
        if first is None or first is run:
            return run_label(start, None, run.changes)
        reference = starting_config(first.config, first.changes)
        return run_label(start, reference, run.changes)

    # ----------------------------------------------------------------- edits
    def edit(self, path: str, value: Any) -> Edit:
        """Set one field (``"learning_rate"``, ``"clipping.norm"``, ``"decay.params.power"``,
        ``"multipliers"``, ...) and apply it live, or prepare a reset, or refuse it.

        >>> session = Session(Config(problem="quadratic", steps=20))
        >>> session.edit("clipping.kind", "global_norm").kind
        'reset'
        >>> session.edit("steps", "many").message
        "steps: got 'many' (str); accepted: an integer from 1 to 10000000."
        """
        _check_path(path)
        if path == "problem":
            return self._edit_problem(value)
        try:
            new = self._with(self._config, path, value)
            self._check_against_run(path, new)
        except ValueError as error:
            return self._refuse(path, value, str(error))
        self.invalid.pop(path, None)
        return self._commit(path, value, new)

    def edits(self, changes: Mapping[str, Any]) -> list[Edit]:
        """:meth:`edit` each ``{field: value}`` in order."""
        return [self.edit(path, value) for path, value in changes.items()]

    def _refuse(self, path: str, value: Any, message: str) -> Edit:
        self.invalid[path] = message
        return Edit(path, value, "invalid", message)

    def _with(self, config: Config, path: str, value: Any) -> Config:
        head, _, rest = path.partition(".")
        if head == "decay":
            decay = config.decay
            if rest == "name":
                name = FIELDS["decay.name"].check(value)
                if name == decay.name:
                    return config
                params = {} if name == "none" else _decay_defaults(name, config)
                return config.replace(decay=Decay(name, params))
            if rest == "params":
                return config.replace(decay=Decay(decay.name, dict(value)))
            key = rest.removeprefix("params.")
            return config.replace(decay=Decay(decay.name, {**decay.params, key: value}))
        if head == "clipping":
            return config.replace(clipping=dataclasses.replace(config.clipping, **{rest: value}))
        if head == "problem_params" and rest:
            return config.replace(problem_params={**config.problem_params, rest: value})
        if head == "multipliers" and not isinstance(value, Mapping):
            return config.replace(multipliers=value)  # Config names what is wrong
        return config.replace(**{head: value})

    def _check_against_run(self, path: str, new: Config) -> None:
        run = self._current
        if path == "multipliers" and new.multipliers:
            names = self.variable_names
            for key in new.multipliers:
                if not matching_names(key, names):
                    raise ValueError(
                        f"multipliers: key {key!r} matches no variable; accepted: one of the "
                        f"variable names {names} or a regular expression matching them."
                    )
        if path == "steps" and run is not None and not run.done and new.steps < run.step:
            raise ValueError(
                f"steps: got {new.steps}, below the current run's step {run.step}; accepted: "
                f"an integer from {run.step} to {FIELDS['steps'].maximum:.0f} (or Reset first)."
            )

    def _commit(self, path: str, value: Any, new: Config) -> Edit:
        old, self._config = self._config, new
        if new == old:
            return Edit(path, value, "live", f"{path} unchanged")
        run = self._current
        live = path in FIELDS and FIELDS[path].live
        if live and run is None:
            applied = {path: (_at(old, path), _at(new, path))}
            return Edit(path, value, "live", _live_words(applied), applied)
        if live and run is not None and (not run.done or _reopens(run, new)):
            applied = run.apply_live_changes(_live_part(run.config, new))
            message = _live_words(applied)
            if run.step and applied:
                message = f"applied live at step {run.step}: {message}"
            return Edit(path, value, "live", message, applied)
        replaced = self._replace_current(f"{path} changed")
        message = f"{path} changed: the next run starts from the new settings"
        if replaced is not None:
            message += f" (the run of {replaced.step} steps is kept)"
        return Edit(path, value, "reset", message, {path: (_at(old, path), _at(new, path))})

    def _edit_problem(self, name: Any) -> Edit:
        own = self.problem.name if self.problem is not None else None
        if not isinstance(name, str) or (name not in problem_names() and name != own):
            accepted = ", ".join([*problem_names(), *([own] if own else [])])
            return self._refuse("problem", name, f"problem: got {describe(name)}; "
                                f"accepted: one of {accepted}.")  # fmt: skip
        self.invalid.pop("problem", None)
        old = self._config
        if name == old.problem:
            return Edit("problem", name, "live", "problem unchanged")
        takes = problem_parameters(name) if name in problem_names() else []
        params = {k: v for k, v in old.problem_params.items() if k in takes}
        dropped = [f"problem_params.{key}" for key in old.problem_params if key not in params]
        data = old.replace(problem=name, problem_params=params, multipliers={}).to_dict()
        suggested = {} if name == own else suggested_settings(name)
        for key, item in suggested.items():
            set_path(data, key, item)
        new = Config.from_dict(data)
        self._replace_current("problem changed")
        self._config = new
        kept = {}
        if old.multipliers:
            names = self.variable_names  # builds the new problem's run, without multipliers
            kept = {k: v for k, v in old.multipliers.items() if matching_names(k, names)}
            dropped += [f"multipliers[{k!r}]" for k in old.multipliers if k not in kept]
            if kept:
                self._discard_current()
                self._config = new.replace(multipliers=kept)
        for key in [k for k in self.invalid if k.startswith(("multipliers", "problem_params"))]:
            del self.invalid[key]
        message = f"problem {name}"
        if suggested:
            message += "; its suggested settings: " + ", ".join(
                f"{k}={v}" for k, v in suggested.items()
            )
        if dropped:
            message += "; dropped what does not apply to it: " + ", ".join(dropped)
        applied = {"problem": (old.problem, name)}
        return Edit("problem", name, "reset", message, applied, tuple(dropped))

    # ----------------------------------------------------------------- runs
    def _new_run(self, config: Config) -> Run:
        own = self.problem is not None and config.problem == self.problem.name
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            run = Run(
                config,
                self.problem if own else None,
                chunk_seconds=self.chunk_seconds,
                evaluate_every=self.evaluate_every,
            )
        for warning in caught:  # said where the user looks, and still warned in Python
            if issubclass(warning.category, UserWarning):
                self.notes.append(str(warning.message))
            warnings.warn_explicit(
                warning.message, warning.category, warning.filename, warning.lineno
            )
        return run

    def take_notes(self) -> list[str]:
        """What building runs had to say since the last call (e.g. MNIST fell back to digits).

        >>> Session(Config(problem="quadratic")).take_notes()
        []
        """
        notes, self.notes = self.notes, []
        return notes

    def _replace_current(self, why: str) -> Run | None:
        """Keep the current run if it trained (stopped, with ``why``), else drop it."""
        run, self._current = self._current, None
        if run is None:
            return None
        if run.step == 0:
            self._forget(run)
            return None
        if not run.done:
            run.stop()
            run.reason = f"stopped at step {run.step}: {why}"
        return run

    def _discard_current(self) -> None:
        run, self._current = self._current, None
        if run is not None:
            self._forget(run)

    def _forget(self, run: Run) -> None:
        if run in self.runs:
            self.runs.remove(run)
        self.titles.pop(run, None)
        run.release()

    def reset(self, why: str = "reset") -> Run:
        """Start a new current run from :attr:`config` (a run that trained is kept, stopped
        with ``why`` in its reason)."""
        self._replace_current(why)
        return self.current

    def require_valid(self, doing: str) -> None:
        """A ValueError (``cannot <doing> while settings are invalid: ...``, naming every
        invalid field) while any edit is pending."""
        if self.invalid:
            fields = "; ".join(self.invalid.values())
            raise ValueError(f"cannot {doing} while settings are invalid: {fields}")

    def ready_run(self) -> Run:
        """The run that training advances: the current one, or a new one from :attr:`config`
        when it is done; a ValueError naming every invalid field while any is pending."""
        self.require_valid("train")
        run = self.current
        if run.done:  # finished, stopped, diverged or failed: a new run with the settings
            self._current = None
            run = self.current
        return run

    def run(
        self, steps: int | None = None, progress: Callable[[Run], Any] | None = None
    ) -> History:
        """Train the current run headlessly: ``steps`` more steps, or to its Config's steps.

        A run that is done is kept and a new one starts from :attr:`config`. Refused (a
        ValueError naming the fields) while any edit is invalid.
        """
        steps = _check_integer(steps, "steps", 0, optional=True)
        run = self.ready_run()
        if steps is not None and run.step + steps > run.config.steps:
            self.edit("steps", run.step + steps)
        return run.run(steps, progress)

    def step(self, count: int = 1, progress: Callable[[Run], Any] | None = None) -> History:
        """Train ``count`` steps and leave the run ``"paused"`` (unless it ended)."""
        history = self.run(_check_integer(count, "count", 1), progress)
        self.current.pause()
        return history

    def delete(self, run: Run) -> None:
        """Remove ``run`` from :attr:`runs` (:meth:`undo` brings it back, without training)."""
        if run not in self.runs:
            raise ValueError(f"run: got {run!r}; accepted: one of session.runs.")
        index = self.runs.index(run)
        if run is self._current:
            self._current = None
        run.stop()
        self.runs.remove(run)
        self._deleted.append((index, run))
        while len(self._deleted) > UNDO_DEPTH:
            self._forget(self._deleted.pop(0)[1])

    def undo(self) -> Run | None:
        """Restore the last deleted run at its place; ``None`` when nothing was deleted."""
        if not self._deleted:
            return None
        index, run = self._deleted.pop()
        self.runs.insert(min(index, len(self.runs)), run)
        return run

    # ----------------------------------------------------------------- presets and JSON
    def apply_preset(self, preset: Any) -> list[Run]:
        """Replace the runs by a preset's (the old ones can be restored with :meth:`undo`).

        Every preset Config becomes a run labelled as the preset says; the last is the
        current run and :attr:`config` becomes its Config. Returns the runs to train, in order
        (also in :attr:`queue`).
        """
        configs, labels = list(preset.configs), list(preset.labels)
        for run in list(self.runs):
            self.delete(run)
        self.invalid.clear()
        runs = []
        for index, config in enumerate(configs):
            run = self._new_run(config)
            self.runs.append(run)
            self.titles[run] = labels[index] if labels else preset.label(index)
            runs.append(run)
        self._config = configs[-1]
        self._current = runs[-1]
        self.queue = runs[:-1]
        return runs

    def run_queue(self) -> list[History]:
        """Train the queued preset runs, then the current run (headless)."""
        histories = []
        while self.queue:
            histories.append(self.queue.pop(0).run())
        histories.append(self.run())
        return histories

    def to_json(self) -> str:
        """The settings as JSON text (what :meth:`load_json` reads)."""
        return self._config.to_json()

    def load_json(self, text: str) -> Config:
        """Take every setting from JSON text; a ValueError naming the field keeps the old ones.

        >>> session = Session()
        >>> session.load_json('{"learning_rate": -3}')
        Traceback (most recent call last):
        ...
        ValueError: learning_rate: got -3 (int); accepted: a number >= 0.
        >>> session.config.learning_rate
        0.01
        """
        if not isinstance(text, str):
            raise ValueError(f"text: got {describe(text)}; accepted: JSON text of a Config.")
        config = Config.from_json(text)
        return self.use(config)

    def use(self, config: Config) -> Config:
        """Take every setting of ``config`` at once (the current run is replaced)."""
        if not isinstance(config, Config):
            raise ValueError(f"config: got {describe(config)}; accepted: a Config.")
        own = self.problem.name if self.problem is not None else None
        if config.problem not in problem_names() and config.problem != own:
            raise ValueError(
                f"problem: got {config.problem!r}; accepted: one of {', '.join(problem_names())}."
            )
        self._replace_current("settings replaced")
        self._config = config
        self.invalid.clear()
        return config


# --------------------------------------------------------------------- helpers
def _check_path(path: Any) -> None:
    if not isinstance(path, str):
        raise ValueError(f"field: got {describe(path)}; accepted: a Config field name.")
    if path not in FIELDS and not path.startswith(("decay.params.", "problem_params.")):
        field_row(path)  # raises, listing the fields


def _check_integer(value: Any, name: str, minimum: int, optional: bool = False) -> Any:
    if value is None and optional:
        return None
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < minimum:
        accepted = f"an integer >= {minimum}" + (" or None" if optional else "")
        raise ValueError(f"{name}: got {describe(value)}; accepted: {accepted}.")
    return int(value)


def _decay_defaults(name: str, config: Config) -> dict[str, Any]:
    return suggested_decay_params(name, config.steps, config.learning_rate or 0.01)


def _reopens(run: Run, new: Config) -> bool:
    return run.status == "finished" and new.steps > run.step


def _live_part(current: Config, new: Config) -> Config:
    """``current`` with the live fields of ``new`` that take effect on it (the field table's
    ``live`` rows: a clip norm only while clipping a global norm)."""
    data = current.to_dict()
    for path, row in FIELDS.items():
        if row.live and row.applies(current):
            set_path(data, path, value_at(new, path))
    return Config.from_dict(data)


def _live_words(applied: Mapping[str, tuple[Any, Any]]) -> str:
    return ", ".join(f"{key} {old:g} → {new:g}" for key, (old, new) in applied.items())


def _at(config: Config, path: str) -> Any:
    value: Any = config
    for part in path.split("."):
        value = value.get(part) if isinstance(value, Mapping) else getattr(value, part, None)
    return dict(value) if isinstance(value, Mapping) else value


def problem_parameters(name: str) -> list[str]:
    """The parameters a registered problem takes (its constructor's keyword names).

    >>> problem_parameters("quadratic")
    ['condition_number', 'start']
    """
    signature = inspect.signature(problem_class(name).__init__)
    return [p for p in signature.parameters if p != "self"]


__all__ = ["Edit", "Session", "problem_parameters"]
