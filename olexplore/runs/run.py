"""``Run``: one Config trained in fused chunks; pause, resume, stop; live lr/clip/noise changes.

A run advances by one ``tf.function`` call at a time (``TrainOp.run_steps``); the number of steps
per call adapts so that a call takes about ``chunk_seconds``, so a caller (the explorer's Play
loop, a progress bar) can interleave other work between chunks on the main thread. Live changes
assign variables of the train op, so they neither reset the run nor retrace the step.
"""

from __future__ import annotations

import dataclasses
import math
import time
from collections.abc import Callable
from typing import Any

import numpy as np

from olexplore.problems.base import Problem
from olexplore.runs.builder import build_setup, build_train_op, problem_of
from olexplore.runs.config import Config
from olexplore.runs.history import History

STATUSES = ("ready", "running", "paused", "finished", "stopped", "diverged", "failed")
DONE = frozenset({"finished", "stopped", "diverged", "failed"})
#: Top-level Config fields that change live; ``clipping.norm`` too while clipping a global norm.
LIVE_FIELDS = ("learning_rate", "noise_scale", "steps")

_FIRST_CHUNK = 16
_MAX_CHUNK = 1 << 16
_MAX_GROWTH = 8  # a chunk at most this many times the previous one (timings are noisy)
_EVALUATIONS_PER_RUN = 20


class ResetRequired(ValueError):
    """A Config change that a running run cannot take live; ``fields`` names what changed."""

    def __init__(self, fields: list[str]) -> None:
        self.fields = list(fields)
        super().__init__(
            f"new_config: {', '.join(self.fields)} cannot change during a run; start a new Run "
            f"for that (live: {', '.join(LIVE_FIELDS)}, and clipping.norm with global-norm "
            "clipping)."
        )


def reset_fields(old: Config, new: Config) -> list[str]:
    """The fields of ``new`` that differ from ``old`` and need a new Run (empty: all live).

    >>> from olexplore.runs.config import Clipping
    >>> base = Config(clipping=Clipping("global_norm", norm=1.0))
    >>> reset_fields(base, base.replace(learning_rate=0.5, clipping=Clipping("global_norm", 2)))
    []
    >>> reset_fields(base, base.replace(optimizer="SGD", clipping=Clipping("adaptive")))
    ['optimizer', 'clipping.kind']
    """
    fields = []
    for name in (f.name for f in dataclasses.fields(Config)):
        if name in LIVE_FIELDS or getattr(old, name) == getattr(new, name):
            continue
        if name != "clipping":
            fields.append(name)
            continue
        before, after = old.clipping, new.clipping
        if before.kind != after.kind:
            fields.append("clipping.kind")
        elif before.kind == "adaptive":  # its parameters live in the clipping function
            fields += [
                f"clipping.{part}"
                for part in ("std_factor", "decay", "static_max_norm")
                if getattr(before, part) != getattr(after, part)
            ]
    return fields


def _nonfinite(name: str, value: float) -> str | None:
    return None if math.isfinite(value) else f"{name} is {value}"


class Run:
    """One training run of a :class:`Config`: build once, advance chunk by chunk.

    ``problem`` overrides ``config.problem`` (e.g. a user's own Problem instance).
    ``evaluate_every`` steps (default: about 20 evaluations per run) the problem's ``evaluate``
    is recorded in ``history.evaluations``, also at step 0 and at the last step.
    ``record_variable_norms`` adds per-variable gradient norms to the history.

    ``status``: ``ready`` (built), ``running`` (started, also between chunks), ``paused``,
    then for good ``finished``, ``stopped``, ``diverged`` or ``failed``; ``reason`` says why a
    run ended early. ``evaluate_every`` is ignored for problems without ``evaluate``.

    >>> run = Run(Config(problem="quadratic", optimizer="SGD", learning_rate=0.1, steps=30))
    >>> history = run.run()
    >>> run.status, run.step, len(history), round(float(history["loss"][-1]), 4)
    ('finished', 30, 30, 0.0036)
    >>> run = Run(Config(problem="quadratic", optimizer="SGD", learning_rate=1.0, steps=500))
    >>> _ = run.run()
    >>> run.status, run.reason
    ('diverged', 'diverged at step 20: loss is inf and gradient norm is inf')
    """

    def __init__(
        self,
        config: Config,
        problem: Problem | None = None,
        *,
        evaluate_every: int | None = None,
        chunk_seconds: float = 0.05,
        record_variable_norms: bool = False,
    ) -> None:
        if not isinstance(config, Config):
            raise ValueError(
                f"config: got {config!r} ({type(config).__name__}); accepted: a Config."
            )
        if not (isinstance(chunk_seconds, (int, float)) and 0 < chunk_seconds < math.inf):
            raise ValueError(
                f"chunk_seconds: got {chunk_seconds!r}; accepted: a positive number of seconds "
                "one chunk of steps should take, e.g. 0.05."
            )
        if evaluate_every is not None and (
            isinstance(evaluate_every, bool)
            or not isinstance(evaluate_every, int)
            or evaluate_every < 1
        ):
            raise ValueError(
                f"evaluate_every: got {evaluate_every!r}; accepted: None (about "
                f"{_EVALUATIONS_PER_RUN} evaluations per run) or an integer >= 1."
            )
        self.config = config
        self.problem = problem_of(config, problem)
        self.setup = build_setup(config, self.problem)
        self.train_op = build_train_op(config, self.setup, variable_norms=record_variable_norms)
        self.history = History(capacity=min(config.steps, _MAX_CHUNK))
        self.surface = self.setup.surface  # these two outlive release()
        self.variable_names = self.setup.variable_names
        self.chunk_seconds = float(chunk_seconds)
        self.evaluate_every = None
        if self.setup.evaluate is not None:
            self.evaluate_every = evaluate_every or max(
                1, math.ceil(config.steps / _EVALUATIONS_PER_RUN)
            )
        self.status = "ready"
        self.reason: str | None = None
        self.error: BaseException | None = None
        #: Live changes as ``(step, field, old, new)``: with the Config they replay the run.
        self.changes: list[tuple[int, str, Any, Any]] = []
        self.chunk_size = _FIRST_CHUNK
        self.seconds = 0.0  # time spent in chunks (not paused, not evaluating)
        self._step_seconds: float | None = None

    # ----------------------------------------------------------------- read-outs
    @property
    def step(self) -> int:
        """Steps done so far (the history's length)."""
        return len(self.history)

    @property
    def label(self) -> str:
        """A short description such as ``"Adam lr=0.05 clip=1"``."""
        config = self.config
        parts = [config.optimizer, f"lr={config.learning_rate:g}"]
        if config.decay.name != "none":
            parts.append(config.decay.name)
        if config.clipping.kind == "global_norm":
            parts.append(f"clip={config.clipping.norm:g}")
        elif config.clipping.kind == "adaptive":
            parts.append("clip=adaptive")
        if config.noise_scale:
            parts.append(f"noise={config.noise_scale:g}")
        return " ".join(parts)

    @property
    def steps_per_second(self) -> float:
        """Recent training speed (0.0 before a chunk has been timed)."""
        return 0.0 if not self._step_seconds else 1.0 / self._step_seconds

    @property
    def traces(self) -> int:
        """How often the fused step was traced; live changes leave it unchanged."""
        return self.train_op.tracing_count

    @property
    def done(self) -> bool:
        """True once the run is finished, stopped, diverged or failed."""
        return self.status in DONE

    def __repr__(self) -> str:
        return f"<Run {self.label!r} {self.status} at step {self.step}/{self.config.steps}>"

    # ----------------------------------------------------------------- control
    def pause(self) -> None:
        """Stop advancing until :meth:`resume` (a run that is done stays as it is)."""
        if not self.done:
            self.status = "paused"

    def resume(self) -> None:
        """Continue after :meth:`pause`."""
        if self.status == "paused":
            self.status = "running" if self.step else "ready"

    def stop(self) -> None:
        """End the run for good; its history is kept."""
        if not self.done:
            self.status = "stopped"
            self.reason = f"stopped at step {self.step}"

    def release(self) -> None:
        """Drop the TensorFlow objects (stopping the run first); history, config, ``surface``
        and ``variable_names`` stay."""
        self.stop()
        self.setup = None
        self.train_op = None

    # ----------------------------------------------------------------- stepping
    def advance(self, max_steps: int | None = None) -> int:
        """Run one chunk of at most ``max_steps`` steps; return how many steps ran.

        Does nothing (returns 0) when paused or done. An exception inside the chunk sets
        ``status`` to ``"failed"`` and ``reason``/``error``, keeps the history and is not
        raised: the steps recorded before it are returned (0 when the training call failed).
        """
        if max_steps is not None and (
            isinstance(max_steps, bool)
            or not isinstance(max_steps, (int, np.integer))
            or max_steps < 0
        ):
            raise ValueError(f"max_steps: got {max_steps!r}; accepted: None or an integer >= 0.")
        if self.done or self.status == "paused" or max_steps == 0:
            return 0
        self.status = "running"
        start = self.step
        try:
            return self._advance(max_steps)
        except Exception as error:  # noqa: BLE001 - the caller (a widget) must survive
            self.status = "failed"
            self.reason = f"failed at step {self.step}: {type(error).__name__}: {error}"
            self.error = error
            return self.step - start  # 0 unless the chunk ran and a later part failed

    def _advance(self, max_steps: int | None) -> int:
        start = self.step
        done_in_op = int(self.train_op.iterations.numpy())
        if done_in_op != start:
            raise RuntimeError(
                f"the train op ran {done_in_op} steps but the history holds {start} (a chunk "
                "was interrupted); start a new Run."
            )
        every = self.evaluate_every
        if every and start == 0 and not len(self.history.evaluations["step"]):
            self._evaluate()
        count = min(self.chunk_size, self.config.steps - start)
        if max_steps is not None:
            count = min(count, max_steps)
        if every:
            count = min(count, every - start % every)
        if count <= 0:
            self._finish()
            return 0
        traces = self.traces
        began = time.perf_counter()
        chunk = self.train_op.run_steps(
            count, data=self.setup.data, stop_on_nonfinite=True, record=self.setup.record
        )
        elapsed = time.perf_counter() - began
        ran = len(chunk["loss"])
        fractions = np.arange(1, ran + 1, dtype=np.float64) / max(ran, 1)
        chunk["wall_time"] = (self.seconds + elapsed * fractions).astype(np.float32)
        self.history.extend(chunk)
        self.seconds += elapsed
        if ran and self.traces == traces:  # a chunk that compiled says nothing about speed
            self._adapt_chunk_size(elapsed / ran)
        if ran and self._check_divergence(chunk):
            return ran
        if ran < count:
            self.status = "stopped"
            self.reason = f"the data ran out after {self.step} steps"
        elif every and self.step % every == 0:
            self._evaluate()
        if self.step >= self.config.steps:
            self._finish()
        return ran

    def _adapt_chunk_size(self, step_seconds: float) -> None:
        previous = self._step_seconds
        self._step_seconds = step_seconds if previous is None else 0.5 * (previous + step_seconds)
        target = int(self.chunk_seconds / max(self._step_seconds, 1e-9))
        self.chunk_size = max(1, min(target, _MAX_GROWTH * self.chunk_size, _MAX_CHUNK))

    def _check_divergence(self, chunk: dict[str, np.ndarray]) -> bool:
        loss, norm = float(chunk["loss"][-1]), float(chunk["global_norm"][-1])
        problems = [p for p in (_nonfinite("loss", loss), _nonfinite("gradient norm", norm)) if p]
        if not problems:
            return False
        self.status = "diverged"
        self.reason = f"diverged at step {self.step - 1}: {' and '.join(problems)}"
        return True

    def _evaluate(self) -> None:
        self.history.add_evaluation(self.step, self.setup.evaluate())

    def _finish(self) -> None:
        evaluated = self.history.evaluations["step"]
        if self.evaluate_every and (not len(evaluated) or evaluated[-1] != self.step):
            self._evaluate()
        self.status = "finished"

    def run(
        self, steps: int | None = None, progress: Callable[[Run], Any] | None = None
    ) -> History:
        """Advance until ``config.steps`` (or ``steps`` more), a stop, a pause or divergence.

        ``progress(run)`` is called after each chunk (it may call :meth:`pause` or
        :meth:`stop`). A paused run is resumed first. An exception in a chunk is re-raised.
        """
        if steps is not None and (
            isinstance(steps, bool) or not isinstance(steps, (int, np.integer)) or steps < 0
        ):
            raise ValueError(f"steps: got {steps!r}; accepted: None or an integer >= 0.")
        self.resume()
        target = None if steps is None else self.step + int(steps)
        while not self.done and self.status != "paused":
            if target is not None and self.step >= target:
                break
            self.advance(None if target is None else target - self.step)
            if self.status == "failed":
                raise self.error
            if progress is not None:
                progress(self)
        return self.history

    # ----------------------------------------------------------------- live changes
    def _note(self, field: str, old: Any, new: Any) -> None:
        if old != new:
            self.changes.append((self.step, field, old, new))

    def _require_op(self) -> None:
        if self.train_op is None:
            raise ValueError("this run was released; live changes need a run that was not.")

    def set_learning_rate(self, value: float) -> None:
        """Change the base learning rate from the next step on (no reset, no retrace)."""
        self._require_op()
        config = self.config.replace(learning_rate=value)  # validates, names the argument
        self.train_op.learning_rate = config.learning_rate
        self._note("learning_rate", self.config.learning_rate, config.learning_rate)
        self.config = config

    def set_noise_scale(self, value: float) -> None:
        """Change the gradient-noise standard deviation (0 switches the noise off)."""
        self._require_op()
        config = self.config.replace(noise_scale=value)
        self.train_op.gradient_noise_scale = config.noise_scale
        self._note("noise_scale", self.config.noise_scale, config.noise_scale)
        self.config = config

    def set_clip_norm(self, value: float) -> None:
        """Change the global-norm clip value (only with ``clipping.kind == "global_norm"``)."""
        self._require_op()
        clipping = self.config.clipping
        if clipping.kind != "global_norm":
            raise ValueError(
                f"clip_norm: got {value!r}, but this run's clipping kind is {clipping.kind!r}; "
                "accepted: a clip value only with clipping kind 'global_norm' (changing the "
                "kind needs a new Run)."
            )
        config = self.config.replace(clipping=dataclasses.replace(clipping, norm=value))
        self.train_op.clip_norm = config.clipping.norm
        self._note("clipping.norm", clipping.norm, config.clipping.norm)
        self.config = config

    def set_steps(self, steps: int) -> None:
        """Change the step budget; raising it reopens a finished run."""
        config = self.config.replace(steps=steps)
        self._note("steps", self.config.steps, config.steps)
        self.config = config
        if self.status == "finished" and self.step < config.steps:
            self.status = "running"

    def needs_reset(self, new_config: Config) -> list[str]:
        """Fields of ``new_config`` that cannot change live (see :func:`reset_fields`)."""
        return reset_fields(self.config, new_config)

    def apply_live_changes(self, new_config: Config) -> dict[str, tuple[Any, Any]]:
        """Apply the live differences of ``new_config``; return ``{field: (old, new)}``.

        Raises :class:`ResetRequired` (naming the fields, changing nothing) when ``new_config``
        differs in a field that needs a new Run: problem, optimizer, seed, decay, clipping
        kind or adaptive-clipping parameters, multipliers, batch size, problem parameters.
        """
        if not isinstance(new_config, Config):
            raise ValueError(
                f"new_config: got {new_config!r} ({type(new_config).__name__}); accepted: a Config."
            )
        fields = self.needs_reset(new_config)
        if fields:
            raise ResetRequired(fields)
        old = self.config
        applied = {}
        if new_config.learning_rate != old.learning_rate:
            self.set_learning_rate(new_config.learning_rate)
            applied["learning_rate"] = (old.learning_rate, new_config.learning_rate)
        if new_config.noise_scale != old.noise_scale:
            self.set_noise_scale(new_config.noise_scale)
            applied["noise_scale"] = (old.noise_scale, new_config.noise_scale)
        if old.clipping.kind == "global_norm" and new_config.clipping.norm != old.clipping.norm:
            self.set_clip_norm(new_config.clipping.norm)
            applied["clipping.norm"] = (old.clipping.norm, new_config.clipping.norm)
        if new_config.steps != old.steps:
            self.set_steps(new_config.steps)
            applied["steps"] = (old.steps, new_config.steps)
        self.config = new_config  # also takes settings that are unused (e.g. a norm unclipped)
        return applied
