"""``Run``: one Config trained in fused chunks; pause, resume, stop; live lr/clip/noise changes.

A run advances by one ``tf.function`` call at a time (``TrainOp.run_steps``); the number of steps
per call adapts so that a call takes about ``chunk_seconds``, so a caller (the explorer's Play
loop, a progress bar) can interleave other work between chunks on the main thread. Live changes
assign variables of the train op, so they neither reset the run nor retrace the step.
"""

from __future__ import annotations

import contextlib
import dataclasses
import math
import signal
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np

from olexplore._tensorflow import tf
from olexplore.engine.train_op import TrainOp
from olexplore.problems.base import Problem, Setup
from olexplore.runs.builder import (
    Snapshot,
    TrainState,
    build_setup,
    build_train_op,
    collecting_variables,
    problem_of,
)
from olexplore.runs.config import Config
from olexplore.runs.fields import FIELDS, steps_argument, value_at
from olexplore.runs.history import History
from olexplore.runs.labels import label as run_label
from olexplore.runs.labels import starting_config

STATUSES = ("ready", "running", "paused", "finished", "stopped", "diverged", "failed")
DONE = frozenset({"finished", "stopped", "diverged", "failed"})
#: Top-level Config fields that change live; ``clipping.norm`` too while clipping a global norm.
LIVE_FIELDS = tuple(path for path, row in FIELDS.items() if row.live and "." not in path)

_FIRST_CHUNK = 16
_MAX_CHUNK = 1 << 16
_MAX_GROWTH = 8  # a chunk at most this many times the previous one (timings are noisy)
_EVALUATIONS_PER_RUN = 20


def _default_evaluate_every(steps: int) -> int:
    """Steps between evaluations when none is given: about 20 evaluations per run."""
    return max(1, math.ceil(steps / _EVALUATIONS_PER_RUN))


class RunBusyError(RuntimeError):
    """A second thread asked a Run to train while another thread was training it."""


def _is_interrupt(error: BaseException) -> bool:
    """A KeyboardInterrupt, also one that TensorFlow wrapped (raised inside a py_function)."""
    if isinstance(error, KeyboardInterrupt):
        return True
    return isinstance(error, tf.errors.OpError) and "\nKeyboardInterrupt" in str(error)


@contextlib.contextmanager
def _deferred_interrupts() -> Iterator[Callable[[], bool]]:
    """Hold Ctrl-C back until the block ends (main thread, default handler only).

    The block is one chunk and its recording, so a Ctrl-C no longer lands between the weights'
    update and the history's. A second Ctrl-C inside the block interrupts at once (the caller
    then restores the chunk's snapshot). Yields a function telling whether one arrived.
    """
    if (
        threading.current_thread() is not threading.main_thread()
        or signal.getsignal(signal.SIGINT) is not signal.default_int_handler
    ):
        yield lambda: False
        return
    received: list[int] = []

    def hold(signum: int, frame: Any) -> None:
        received.append(signum)
        signal.signal(signal.SIGINT, signal.default_int_handler)

    signal.signal(signal.SIGINT, hold)
    try:
        yield lambda: bool(received)
    finally:
        signal.signal(signal.SIGINT, signal.default_int_handler)


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
    fields: list[str] = []
    for path, row in FIELDS.items():
        if row.live or value_at(old, path) == value_at(new, path):
            continue
        if row.needs is not None and value_at(old, row.needs[0]) != row.needs[1]:
            continue  # a setting without effect on this run (e.g. std_factor without adaptive)
        name = "decay" if path.startswith("decay.") else path
        if name not in fields:
            fields.append(name)
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
        with collecting_variables() as self._created:
            # Both None once release() has dropped them: _require_built() reads them.
            self.setup: Setup | None = build_setup(config, self.problem)
            self.train_op: TrainOp | None = build_train_op(
                config, self.setup, variable_norms=record_variable_norms
            )
        self._iterator = None if self.setup.data is None else iter(self.setup.data)
        self._state: TrainState | None = None  # made before the first chunk
        self._snapshot: Snapshot | None = None  # taken before every chunk
        self._lock = threading.RLock()
        self.history = History(capacity=min(config.steps, _MAX_CHUNK))
        self.surface = self.setup.surface  # these two outlive release()
        self.variable_names = self.setup.variable_names
        self.chunk_seconds = float(chunk_seconds)
        self.evaluate_every: int | None = None
        self._evaluate_every_given = evaluate_every is not None
        if self.setup.evaluate is not None:
            self.evaluate_every = evaluate_every or _default_evaluate_every(config.steps)
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
        """What the run is, with its live changes: ``"Adam lr 0.05 clip 1; lr 0.05→0.01 at
        step 40"`` (a Session names runs by what differs from its first run instead)."""
        return run_label(starting_config(self.config, self.changes), None, self.changes)

    @property
    def steps_per_second(self) -> float:
        """Recent training speed (0.0 before a chunk has been timed)."""
        return 0.0 if not self._step_seconds else 1.0 / self._step_seconds

    @property
    def traces(self) -> int:
        """How often the fused step was traced; live changes leave it unchanged."""
        return self._require_built("counting traces")[1].tracing_count

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
            if self.reason and self.reason.startswith("interrupted"):
                self.reason = None

    def stop(self) -> None:
        """End the run for good; its history is kept."""
        if not self.done:
            self.status = "stopped"
            self.reason = f"stopped at step {self.step}"

    def release(self) -> None:
        """Drop the TensorFlow objects (stopping the run first); history, config, ``surface``
        and ``variable_names`` stay. While another thread is in a chunk the run is stopped
        (it ends after that chunk) and :class:`RunBusyError` says to release it afterwards."""
        self.stop()
        self._claim("release() it once that thread's run() has returned (it is stopped now)")
        try:
            self.setup = None
            self.train_op = None
            self._iterator = self._state = self._snapshot = None
            self._created = []
        finally:
            self._lock.release()

    # ----------------------------------------------------------------- stepping
    def advance(self, max_steps: int | None = None) -> int:
        """Run one chunk of at most ``max_steps`` steps; return how many steps ran.

        Does nothing (returns 0) when paused or done. An exception inside the chunk sets
        ``status`` to ``"failed"`` and ``reason``/``error`` and is not raised. The history
        always matches the weights: a chunk that failed at its ``k``-th step is rolled back to
        its start and its good steps are run again one by one and recorded, so ``reason``
        names the step that failed (``run.step``: the history holds the steps before it) and
        the weights are those the history ends with.

        A Ctrl-C (``KeyboardInterrupt``) during a chunk is held until the chunk is recorded
        (one raised from inside the loss: the good steps are kept as above); the run is then
        ``"paused"`` and the ``KeyboardInterrupt`` is raised; :meth:`run` continues it.
        Another thread calling ``advance``/``run`` while one trains gets :class:`RunBusyError`.
        """
        max_steps = steps_argument(max_steps, "max_steps", "one chunk")
        self._claim()
        try:
            if self.done or self.status == "paused" or max_steps == 0:
                return 0
            self.status = "running"
            start = self.step
            try:
                return self._advance(max_steps)
            except BaseException as error:
                if _is_interrupt(error):
                    if not self.done:
                        self.status = "paused"
                        self.reason = f"interrupted at step {self.step}"
                    if isinstance(error, KeyboardInterrupt):
                        raise
                    raise KeyboardInterrupt(str(error).split("\n", 1)[0]) from error
                if not isinstance(error, Exception):
                    raise
                self.status = "failed"
                self.reason = f"failed at step {self.step}: {type(error).__name__}: {error}"
                self.error = error
                return self.step - start
        finally:
            self._lock.release()

    def _claim(self, advice: str = "wait for it, or pause() it from here and retry") -> None:
        """Take the training lock (re-entrant in this thread) or refuse at once."""
        if not self._lock.acquire(blocking=False):
            raise RunBusyError(
                f"run: another thread is training this Run (at step {self.step}); accepted: "
                f"one thread at a time: {advice}."
            )

    def _require_built(self, action: str) -> tuple[Setup, TrainOp]:
        """``(setup, train_op)``, or a ValueError naming ``action`` once :meth:`release` ran."""
        if self.setup is None or self.train_op is None:
            raise ValueError(
                f"this run was released; {action} needs a run that was not (start a new Run "
                "with the same Config)."
            )
        return self.setup, self.train_op

    def _prepare(self) -> TrainState:
        """Build the optimizer and trace the chunk (0 steps), then list the training state."""
        setup, train_op = self._require_built("training")
        with collecting_variables() as created:
            train_op.run_steps(0, data=self._iterator, record=setup.record)
        extra = setup.extras.get("model")
        variables = [*self._created, *created, *setup.variables]
        variables += list(getattr(extra, "variables", []) or [])
        self._state = TrainState(variables)
        self._created = []
        return self._state

    def _in_step(self, state: TrainState) -> None:
        done_in_op = int(self._require_built("training")[1].iterations.numpy())
        if done_in_op == self.step:
            return
        snapshot = self._snapshot
        if snapshot is not None and snapshot.step == self.step:  # e.g. a third Ctrl-C
            state.restore(snapshot)
            return
        raise RuntimeError(
            f"the train op ran {done_in_op} steps but the history holds {self.step}; "
            "start a new Run."
        )

    def _advance(self, max_steps: int | None) -> int:
        start = self.step
        state = self._prepare() if self._state is None else self._state
        self._in_step(state)
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
        self._snapshot = snapshot = state.snapshot(start)
        try:
            with _deferred_interrupts() as interrupted:
                ran = self._chunk(count, adapt=True)
        except BaseException:
            if self.step == start:  # the weights may be ahead of the history: make them agree
                self._recover(state, snapshot)
            raise
        if interrupted():
            raise KeyboardInterrupt(f"interrupted at step {self.step}")
        return ran

    def _recover(self, state: TrainState, snapshot: Snapshot) -> None:
        """Roll the chunk back to ``snapshot``, then run its good steps again one by one.

        The step counter may have run one step ahead of the weights (its increment does not
        wait for the loss), so it only bounds the replay: single steps are atomic, and the
        first that fails is undone and ends the replay.
        """
        bound = int(self._require_built("training")[1].iterations.numpy()) - snapshot.step
        state.restore(snapshot)
        with _deferred_interrupts():
            for _ in range(bound):
                before = state.snapshot(self.step)
                try:
                    self._chunk(1, adapt=False)
                except BaseException:  # noqa: BLE001 - the first error is the one to report
                    state.restore(before)
                    return
                if self.status != "running":  # diverged, finished, out of data
                    return

    def _chunk(self, count: int, *, adapt: bool) -> int:
        """Run ``count`` steps in one call and record them (divergence, evaluation, end)."""
        setup, train_op = self._require_built("training")
        traces = train_op.tracing_count
        began = time.perf_counter()
        chunk = train_op.run_steps(
            count, data=self._iterator, stop_on_nonfinite=True, record=setup.record
        )
        elapsed = time.perf_counter() - began
        ran = len(chunk["loss"])
        fractions = np.arange(1, ran + 1, dtype=np.float64) / max(ran, 1)
        chunk["wall_time"] = (self.seconds + elapsed * fractions).astype(np.float32)
        self.history.extend(chunk)
        self.seconds += elapsed
        if adapt and ran and train_op.tracing_count == traces:  # a chunk that compiled says nothing
            self._adapt_chunk_size(elapsed / ran)
        if ran and self._check_divergence(chunk):
            return ran
        every = self.evaluate_every
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
        evaluate = self._require_built("evaluating")[0].evaluate
        if evaluate is not None:  # without it evaluate_every is None (ignored if set by hand)
            self.history.add_evaluation(self.step, evaluate())

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
        A ``KeyboardInterrupt`` (Ctrl-C, also one raised by ``progress``) leaves the run
        ``"paused"`` with every step done recorded, and is raised; ``run()`` again continues.
        Another thread's ``run()`` on the same Run is refused with :class:`RunBusyError`.

        >>> run = Run(Config(problem="quadratic", optimizer="SGD", steps=40))
        >>> len(run.run(steps=10)), run.status
        (10, 'running')
        >>> run.run(steps="3")  # doctest: +ELLIPSIS
        Traceback (most recent call last):
        ...
        ValueError: steps: got '3' (str); accepted: None (to config.steps) or an int from 0 to ...
        """
        steps = steps_argument(steps, "steps", "to config.steps")
        self._claim()
        try:
            self.resume()
            target = None if steps is None else self.step + steps
            while not self.done and self.status != "paused":
                if target is not None and self.step >= target:
                    break
                self.advance(None if target is None else target - self.step)
                if self.status == "failed" and self.error is not None:  # advance() sets both
                    raise self.error
                if progress is not None:
                    progress(self)
        except KeyboardInterrupt:
            if not self.done:
                self.status = "paused"
                self.reason = f"interrupted at step {self.step}"
            raise
        finally:
            self._lock.release()
        return self.history

    # ----------------------------------------------------------------- live changes
    def _note(self, field: str, old: Any, new: Any) -> None:
        # Before the first step a change is the run's starting setting, not a live change.
        if old != new and self.step > 0:
            self.changes.append((self.step, field, old, new))

    def set_learning_rate(self, value: float) -> None:
        """Change the base learning rate from the next step on (no reset, no retrace)."""
        train_op = self._require_built("a live change")[1]
        config = self.config.replace(learning_rate=value)  # validates, names the argument
        train_op.learning_rate = config.learning_rate
        self._note("learning_rate", self.config.learning_rate, config.learning_rate)
        self.config = config

    def set_noise_scale(self, value: float) -> None:
        """Change the gradient-noise standard deviation (0 switches the noise off)."""
        train_op = self._require_built("a live change")[1]
        config = self.config.replace(noise_scale=value)
        train_op.gradient_noise_scale = config.noise_scale
        self._note("noise_scale", self.config.noise_scale, config.noise_scale)
        self.config = config

    def set_clip_norm(self, value: float) -> None:
        """Change the global-norm clip value (only with ``clipping.kind == "global_norm"``)."""
        train_op = self._require_built("a live change")[1]
        clipping = self.config.clipping
        if clipping.kind != "global_norm":
            raise ValueError(
                f"clip_norm: got {value!r}, but this run's clipping kind is {clipping.kind!r}; "
                "accepted: a clip value only with clipping kind 'global_norm' (changing the "
                "kind needs a new Run)."
            )
        config = self.config.replace(clipping=dataclasses.replace(clipping, norm=value))
        train_op.clip_norm = config.clipping.norm
        self._note("clipping.norm", clipping.norm, config.clipping.norm)
        self.config = config

    def set_steps(self, steps: int) -> None:
        """Change the step budget; raising it reopens a finished run."""
        config = self.config.replace(steps=steps)
        self._note("steps", self.config.steps, config.steps)
        self.config = config
        if self.evaluate_every and not self._evaluate_every_given:  # still ~20 per run
            self.evaluate_every = _default_evaluate_every(config.steps)
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
