"""The TF 2 train op: one compiled step per call, or N steps fused into one call.

:class:`TrainOp` owns what TF 1 kept in the graph: the learning-rate variables, the optimizer's
slots, the adaptive-clipping state and, when none is given, the global step. Every step also
yields its metrics (loss, learning rate, global norm before and after clipping, per-variable
norms when asked), computed in the same graph as the update, with no second gradient pass.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterator, Mapping
from typing import Any

import numpy as np

from olexplore._tensorflow import tf
from olexplore.engine.fused import as_arguments, fused_steps
from olexplore.engine.step import StepBuilder
from olexplore.engine.validation import check_flag, describe
from olexplore.engine.xla import (
    MAX_BUCKET,
    CompileInfo,
    JitCompile,
    bucket,
    check_jit_compile,
    check_jit_override,
    compile_failure,
    known_obstacle,
)

#: ``run_steps`` records each step at an int32 index.
MAX_FUSED_STEPS = 2**31


class TrainOp:
    """A callable training step built by ``optimize_loss`` from a loss callable.

    ``train_op(*args, **kwargs)`` runs one compiled step (the arguments go to the loss callable)
    and returns that step's loss; :meth:`run_steps` runs many steps in one call. Attributes:
    ``global_step``, ``iterations`` (steps run by this op), ``optimizer``, ``variables``,
    ``metrics`` (the latest step's values as Python floats), ``jit_compile`` and
    ``compile_info`` (whether the latest call ran XLA-compiled, and why not; see
    :mod:`olexplore.engine.xla`), and the settable ``learning_rate``, ``gradient_noise_scale``
    and ``clip_norm``.
    """

    def __init__(self, builder: StepBuilder, jit_compile: JitCompile = False) -> None:
        self._builder = builder
        self._jit_compile: JitCompile = check_jit_compile(jit_compile)
        self._compile_info = CompileInfo(xla=False, reason="no step has run yet")
        # Why this op's step failed to compile with XLA ("auto" then stops trying), and the
        # XLA functions that have run once (a later error of theirs is the step's own error).
        self._xla_failure: str | None = None
        self._verified: set[int] = set()
        self._buckets: dict[int, set[int]] = {}  # fused XLA function id -> row counts compiled
        self._last_metrics: dict[str, Any] = {}
        self._iterators: dict[int, tuple[Any, Iterator]] = {}
        # autograph off (below): the engine's own control flow is explicit; the loss callable is
        # compiled with autograph separately (see StepBuilder).
        # The compiled functions, made on first use: one per combination of a call's Python
        # settings (the summary writer; for run_steps also record, stop_on_nonfinite and whether
        # data is given), keyed by their identities. Each takes only what varies per call (the
        # loss's own arguments, the step count, the iterator), so tf.function dispatches on those
        # alone, as a hand-written step does: passing (args, kwargs, writer) made every call build
        # trace types for a tuple, a dict and None, which cost as much as the rest of a call.
        self._compiled: dict[tuple, tuple[tuple, Any]] = {}

    # ----------------------------------------------------------------- attributes
    @property
    def global_step(self) -> tf.Variable:
        """The step counter (owned by the op when ``global_step=None`` was given)."""
        return self._builder.global_step

    @property
    def iterations(self) -> tf.Variable:
        """How many steps this train op has run (it seeds the gradient noise)."""
        return self._builder.iterations

    @property
    def optimizer(self) -> Any:
        """The optimizer that applies the gradients."""
        return self._builder.optimizer

    @property
    def variables(self) -> list[tf.Variable] | None:
        """The variables being trained (``None`` until discovered on the first call)."""
        return self._builder.variables

    @property
    def tracing_count(self) -> int:
        """How many times the single-step and fused functions were traced (compiled) so far."""
        return sum(
            int(function.experimental_get_tracing_count())
            for _, function in self._compiled.values()
        )

    @property
    def jit_compile(self) -> JitCompile:
        """The ``jit_compile`` setting the op was built with (``True``, ``False`` or ``"auto"``)."""
        return self._jit_compile

    @property
    def compile_info(self) -> CompileInfo:
        """Whether the latest call ran XLA-compiled and, when it did not, why."""
        return self._compile_info

    @property
    def metric_names(self) -> list[str]:
        """Names of the metrics every step reports."""
        return self._builder.metric_names()

    @property
    def metrics(self) -> dict[str, float]:
        """The latest step's metrics as Python floats (empty before the first step)."""
        return {name: float(value) for name, value in self._last_metrics.items()}

    @property
    def learning_rate(self) -> float:
        """The base learning rate; set it between steps (no retrace)."""
        return self._builder.learning_rate.get()

    @learning_rate.setter
    def learning_rate(self, value: float) -> None:
        self._builder.learning_rate.set(value)

    @property
    def gradient_noise_scale(self) -> float | None:
        """The noise scale, settable when the op was built with one."""
        variable = self._builder.noise_scale
        return None if variable is None else float(variable.numpy())

    @gradient_noise_scale.setter
    def gradient_noise_scale(self, value: float) -> None:
        self._builder.set_noise_scale(value)

    @property
    def clip_norm(self) -> float | None:
        """The global-norm clip value, settable when the op was built with a float one."""
        variable = self._builder.clip_norm
        return None if variable is None else float(variable.numpy())

    @clip_norm.setter
    def clip_norm(self, value: float) -> None:
        self._builder.set_clip_norm(value)

    # ----------------------------------------------------------------- stepping
    # Not converted by autograph when a user's tf.function calls the op: the engine's control
    # flow is explicit, and autograph re-parses the lambdas below from their source lines.
    @tf.autograph.experimental.do_not_convert
    def __call__(self, *args: Any, **kwargs: Any) -> tf.Tensor:
        """Run one training step on ``loss(*args, **kwargs)`` and return its loss."""
        builder = self._builder
        builder.ensure_built(args, kwargs)
        writer = builder.summary_writer()
        loss, metrics = self._call_compiled(
            ("step", writer),
            lambda xla: self._one_step_function(writer),
            lambda function, xla: function(*args, **kwargs),
            self._jit_compile,
            writer=writer,
            with_data=False,
        )
        if not tf.inside_function():
            self._last_metrics = metrics
        return loss

    @tf.autograph.experimental.do_not_convert
    def run_steps(
        self,
        steps: int,
        *args: Any,
        data: Any = None,
        stop_on_nonfinite: bool = False,
        record: Callable[[], Mapping[str, Any]] | None = None,
        jit_compile: JitCompile | None = None,
        **kwargs: Any,
    ) -> dict[str, np.ndarray]:
        """Run up to ``steps`` steps in one ``tf.function`` call; return per-step metric arrays.

        Each step calls the loss with ``*args, **kwargs`` or, when ``data`` (a ``tf.data``
        dataset or iterator) is given, with its next element (a tuple is spread as positional
        arguments, a dict as keyword arguments). A dataset passed again continues where the
        last call stopped. Fewer steps run when the data ends, or, with ``stop_on_nonfinite``,
        after the first step whose loss or global norm is NaN or infinite (that step included).
        ``steps`` is a tensor inside, so changing it does not retrace. ``record``, a function
        returning ``{name: tensor}`` (e.g. the current parameters), is evaluated after every
        step and its values are returned beside the metrics (keep passing the same function
        object: a new one retraces). ``jit_compile`` overrides the op's own setting for this
        call; with XLA, step counts within one power of two share one compiled function.

        >>> w = tf.Variable(3.0)
        >>> from olexplore import optimize_loss
        >>> train = optimize_loss(lambda: w * w, None, 0.25, "SGD")
        >>> history = train.run_steps(3)
        >>> [round(float(x), 4) for x in history["loss"]]
        [9.0, 2.25, 0.5625]
        """
        if (
            not isinstance(steps, (int, np.integer))
            or isinstance(steps, bool)
            or not 0 <= steps < MAX_FUSED_STEPS
        ):
            raise ValueError(
                f"steps: got {describe(steps)}; accepted: an int from 0 to 2**31 - 1 (the "
                "steps of one call are recorded in arrays indexed by int32)."
            )
        if record is not None and not callable(record):
            raise ValueError(
                f"record: got {describe(record)}; accepted: None or a function of no arguments "
                "returning {name: tensor}, e.g. record=lambda: {'w': w}."
            )
        stop_on_nonfinite = check_flag(stop_on_nonfinite, "stop_on_nonfinite")
        jit = check_jit_override(jit_compile)
        iterator = None
        if data is not None:
            iterator = self._iterator_for(data)
            element = iterator.element_spec
            sample_args, sample_kwargs = (
                as_arguments(
                    tf.nest.map_structure(
                        lambda s: tf.zeros([1 if d is None else d for d in s.shape], s.dtype),
                        element,
                    )
                )
                if not self._builder.built
                else ((), {})
            )
            self._builder.ensure_built(sample_args, sample_kwargs)
        else:
            self._builder.ensure_built(args, kwargs)
        writer = self._builder.summary_writer()
        settings = ("fused", writer, record, bool(stop_on_nonfinite), iterator is not None)

        def run(fused: Any, xla: bool) -> list[tuple[dict[str, Any], int]]:
            if iterator is not None:
                arrays, count = fused(tf.constant(steps, tf.int64), iterator)
                return [(arrays, int(count))]
            if not xla:
                arrays, count = fused(tf.constant(steps, tf.int64), *args, **kwargs)
                return [(arrays, int(count))]
            # Fixed-size arrays: at most MAX_BUCKET rows per call, stopping at `steps`.
            parts, left = [], steps
            while True:
                chunk = min(left, MAX_BUCKET)
                rows = self._rows_for(id(fused), chunk)
                arrays, count = fused(tf.constant(chunk, tf.int64), rows, *args, **kwargs)
                self._verified.add(id(fused))
                parts.append((arrays, int(count)))
                left -= int(count)
                if int(count) < chunk or left == 0:
                    return parts

        parts = self._call_compiled(
            settings,
            lambda xla: self._fused_function(*settings[1:], xla),
            run,
            self._jit_compile if jit is None else jit,
            writer=writer,
            with_data=iterator is not None,
        )
        history = {
            name: np.concatenate([arrays[name].numpy()[:count] for arrays, count in parts])
            for name in parts[0][0]
        }
        count = sum(count for _, count in parts)
        if count:
            self._last_metrics = {name: values[-1] for name, values in history.items()}
        return history

    def _iterator_for(self, data: Any) -> Any:
        if isinstance(data, tf.data.Dataset):
            cached = self._iterators.get(id(data))
            if cached is None or cached[0] is not data:
                cached = (data, iter(data))
                self._iterators[id(data)] = cached
            return cached[1]
        if isinstance(data, tf.data.Iterator):
            return data
        raise ValueError(
            f"data: got {data!r} ({type(data).__name__}); accepted: a tf.data.Dataset or the "
            "iterator of one (iter(dataset))."
        )

    # ----------------------------------------------------------------- XLA or not
    def _rows_for(self, function_id: int, steps: int) -> int:
        """The rows of a fused XLA call of ``steps`` steps: the smallest compiled bucket that
        holds them, else ``bucket(steps)`` (compiled by this call)."""
        compiled = self._buckets.setdefault(function_id, set())
        rows = min((b for b in compiled if b >= steps), default=bucket(steps))
        compiled.add(rows)
        return rows

    def _call_compiled(
        self,
        settings: tuple,
        make: Callable[[bool], Callable],
        call: Callable[[Any, bool], Any],
        jit: JitCompile,
        *,
        writer: Any,
        with_data: bool,
    ) -> Any:
        """``call(function, xla)`` with the XLA or the plain ``tf.function`` of ``make(xla)``.

        Under ``"auto"`` a failed first XLA compilation (which runs nothing) falls back to the
        plain function and is remembered; ``compile_info`` records what happened.
        """
        reason = "jit_compile=False"
        use_xla = jit is not False
        if use_xla:
            obstacle = known_obstacle(
                writer=writer, with_data=with_data, strategy=self._builder.strategy
            )
            if jit is True and obstacle is not None and not tf.inside_function():
                raise ValueError(
                    f"jit_compile: got True, but {obstacle}; accepted here: 'auto' (which then "
                    "runs the plain tf.function) or False."
                )
            if jit == "auto" and (obstacle or self._xla_failure):
                use_xla, reason = False, str(obstacle or self._xla_failure)
        if use_xla:
            function = self._compiled_function((*settings, True), lambda: make(True))
            try:
                result = call(function, True)
            except (
                tf.errors.InvalidArgumentError,
                tf.errors.UnimplementedError,
                tf.errors.InternalError,
            ) as error:
                failure = compile_failure(error)
                if jit is True or failure is None or id(function) in self._verified:
                    raise
                use_xla, reason = False, failure
                self._xla_failure = failure
            else:
                self._verified.add(id(function))
                self._compile_info = CompileInfo(xla=True)
                return result
        function = self._compiled_function((*settings, False), lambda: make(False))
        result = call(function, False)
        self._compile_info = CompileInfo(xla=False, reason=reason)
        return result

    # ----------------------------------------------------------------- traced bodies
    def _compiled_function(self, settings: tuple, make: Callable[[], Callable]) -> Any:
        """The ``tf.function`` of ``make()`` for these Python settings (made on first use).

        The last setting says whether it is compiled with XLA.
        """
        key = tuple(id(setting) for setting in settings)
        entry = self._compiled.get(key)
        if entry is None or any(a is not b for a, b in zip(entry[0], settings, strict=True)):
            # functools.partial gives each function its own retrace bookkeeping: TensorFlow
            # groups retrace warnings by the code of the function, which every TrainOp shares.
            function = functools.partial(make())
            compiled = tf.function(
                function, reduce_retracing=True, autograph=False, jit_compile=bool(settings[-1])
            )
            entry = (settings, compiled)
            self._compiled[key] = entry
        return entry[1]

    def _one_step_function(self, writer: Any) -> Callable:
        builder = self._builder

        def one_step(*args: Any, **kwargs: Any) -> tuple[Any, dict[str, Any]]:
            return builder.step(args, kwargs, writer)

        return one_step

    def _fused_function(
        self, writer: Any, record: Any, stop_on_nonfinite: bool, with_data: bool, xla: bool
    ) -> Callable:
        if xla:

            def fused_fixed(steps: tf.Tensor, size: int, /, *args: Any, **kwargs: Any) -> Any:
                return fused_steps(
                    self._builder,
                    steps,
                    args,
                    kwargs,
                    None,
                    writer,
                    stop_on_nonfinite,
                    record,
                    size,
                )

            return fused_fixed
        if with_data:

            def fused_on_data(steps: tf.Tensor, iterator: Any, /) -> Any:
                return fused_steps(
                    self._builder, steps, (), {}, iterator, writer, stop_on_nonfinite, record
                )

            return fused_on_data

        def fused(steps: tf.Tensor, /, *args: Any, **kwargs: Any) -> Any:
            return fused_steps(
                self._builder, steps, args, kwargs, None, writer, stop_on_nonfinite, record
            )

        return fused
