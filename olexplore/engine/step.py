"""What one TF 2 training step does, and the state it needs, for :class:`TrainOp`.

:class:`StepBuilder` validates the arguments of ``optimize_loss`` up front, creates the state
outside any ``tf.function`` and provides :meth:`StepBuilder.step`, the traced body: gradients ->
noise -> multipliers -> global norm -> clipping -> apply, in TF 1's order.
"""

from __future__ import annotations

import contextlib
import inspect
from collections.abc import Callable, Iterable
from typing import Any

from olexplore._tensorflow import tf
from olexplore.engine import distribute
from olexplore.engine.adaptive_clipping import REPORT_KEY, AdaptiveClipping
from olexplore.engine.learning_rate import LearningRate
from olexplore.engine.optimizers import is_keras_optimizer, resolve_optimizer
from olexplore.engine.pipeline import (
    CLIPPED_GLOBAL_NORM,
    GLOBAL_NORM,
    clip_transform,
    gradient_pipeline,
    run_pipeline,
)
from olexplore.engine.summaries import (
    ADAPTIVE_MAX_NORM_TAG,
    CLIPPED_GLOBAL_NORM_TAG,
    GLOBAL_NORM_TAG,
    default_writer,
    summary_variable_name,
    write_histograms,
    write_scalars,
)
from olexplore.engine.transforms import GradientTransform, GradsAndVars, add_noise
from olexplore.engine.validation import (
    check_clip_norm,
    check_gradient_noise_scale,
    check_learning_rate,
    describe,
)
from olexplore.engine.variables import (
    check_variable_list,
    resolve_variable_mapping,
    setting_variable,
    touched_trainable_variables,
    variable_name,
)


def _takes_no_required_arguments(function: Callable) -> bool:
    try:
        signature = inspect.signature(function)
    except (TypeError, ValueError):
        return False
    return all(
        p.default is not inspect.Parameter.empty
        or p.kind in (inspect.Parameter.VAR_POSITIONAL, inspect.Parameter.VAR_KEYWORD)
        for p in signature.parameters.values()
    )


def _owned_global_step(global_step: Any, increment: bool) -> Any:
    """The step counter: a new int64 variable, or the given one (a Tensor when not incremented)."""
    if global_step is None:
        return setting_variable(0, "global_step", tf.int64)
    kind = tf.Variable if increment else (tf.Variable, tf.Tensor)
    if (
        not isinstance(global_step, kind)
        or not global_step.dtype.is_integer
        or global_step.shape.rank != 0
    ):
        raise TypeError(
            f"global_step: got {describe(global_step)}; accepted: None (the train op then owns "
            "one) or a scalar integer tf.Variable" + ("" if increment else " or Tensor") + "."
        )
    return global_step


class StepBuilder:
    """State and traced body of one TF 2 train op (see ``optimize_loss`` for the arguments).

    ``summaries``, ``clip_gradients``, ``gradient_noise_scale``, ``gradient_multipliers``,
    ``learning_rate_decay_fn``, ``name`` and ``gradient_noise_seed`` arrive validated by
    :func:`olexplore.engine.optimize_loss.optimize_loss`.
    """

    def __init__(
        self,
        loss: Callable[..., Any],
        global_step: Any,
        learning_rate: Any,
        optimizer: Any,
        *,
        gradient_noise_scale: Any,
        gradient_multipliers: dict[Any, Any] | None,
        clip_gradients: Any,
        learning_rate_decay_fn: Callable[[Any, Any], Any] | None,
        update_ops: Any,
        variables: Any,
        name: str | None,
        summaries: list[str],
        increment_global_step: bool,
        gradient_noise_seed: int | None,
    ) -> None:
        self.loss = loss
        self.scope = name or "OptimizeLoss"
        self.strategy = distribute.current_strategy()
        # A nested tf.function gives the user's loss autograph (Python control flow on tensors)
        # while the engine's own traced code runs without it. Not under a strategy: one trace
        # would capture the first replica's copies of the variables for every replica.
        self.compiled_loss = loss
        if self.strategy is None and not hasattr(loss, "get_concrete_function"):
            self.compiled_loss = tf.function(loss)
        self.increment_global_step = bool(increment_global_step)
        self.summaries = summaries
        learning_rate = check_learning_rate(learning_rate, allow_variable=True)
        self.update_ops = self._check_update_ops(update_ops)
        given_variables = None if variables is None else check_variable_list(variables)
        self.gradient_multipliers = gradient_multipliers

        self.global_step = _owned_global_step(global_step, self.increment_global_step)
        self.iterations = setting_variable(0, f"{self.scope}/iterations", tf.int64)
        self.learning_rate = LearningRate(
            learning_rate, learning_rate_decay_fn, self.global_step, self.scope
        )
        self.optimizer = resolve_optimizer(
            optimizer,
            self.learning_rate.applied,
            self.learning_rate.given,
            graph_mode=False,
            keras_learning_rate=self.learning_rate.for_keras(),
        )
        self.learning_rate.optimizer = self.optimizer

        self.noise_scale = None
        self.noise = None
        if gradient_noise_scale is not None:
            self.noise_scale = setting_variable(
                gradient_noise_scale, f"{self.scope}/gradient_noise_scale"
            )
            self.noise = add_noise(self.noise_scale, gradient_noise_seed, self.iterations)

        self.clip_norm = None
        if isinstance(clip_gradients, float):
            self.clip_norm = setting_variable(clip_gradients, f"{self.scope}/clip_norm")
        self.clip = clip_transform(clip_gradients, self.clip_norm)
        if self.clip is not None:
            self.clip.init(())  # adaptive clipping creates its statistics now, in this scope
        self.adaptive = isinstance(clip_gradients, AdaptiveClipping)
        self.report_adaptive = isinstance(clip_gradients, AdaptiveClipping) and bool(
            clip_gradients.report_summary
        )

        self.variables: list[tf.Variable] | None = None
        self.pipeline: GradientTransform | None = None
        self.pipeline_state: Any = ()
        self.built = False
        if given_variables is not None:
            self._finish_build(given_variables)
        elif _takes_no_required_arguments(loss):
            self.ensure_built((), {})

    @staticmethod
    def _check_update_ops(update_ops: Any) -> list[Callable[[], Any]]:
        if update_ops is None:
            return []
        if isinstance(update_ops, str) or not isinstance(update_ops, Iterable):
            raise ValueError(
                f"update_ops: got {describe(update_ops)}; accepted in TF 2 mode: None or a list "
                "of callables taking no arguments, run at every step before the update."
            )
        update_ops = list(update_ops)
        for op in update_ops:
            if not callable(op):
                raise ValueError(
                    f"update_ops: got {describe(op)} in the list; accepted in TF 2 mode: "
                    "callables taking no arguments, run at every step before the update."
                )
        return update_ops

    # ----------------------------------------------------------------- building
    def _scope(self) -> Any:
        return self.strategy.scope() if self.strategy is not None else contextlib.nullcontext()

    def ensure_built(self, args: tuple, kwargs: dict) -> None:
        """Discover the variables the loss touches (running it once, eagerly) if not known."""
        if not self.built:
            with self._scope():
                self._finish_build(touched_trainable_variables(self.loss, *args, **kwargs))

    def _finish_build(self, variables: list[tf.Variable]) -> None:
        if not variables:
            raise ValueError(
                "variables: the loss reads no trainable variable, so there is nothing to "
                "optimize; pass variables=[...] or make the loss depend on trainable variables."
            )
        self.variables = variables
        multipliers = None
        if self.gradient_multipliers is not None:
            multipliers = resolve_variable_mapping(
                self.gradient_multipliers, variables, "gradient_multipliers"
            )
        self.pipeline = gradient_pipeline(noise=self.noise, multipliers=multipliers, clip=self.clip)
        self.pipeline_state = self.pipeline.init(variables)
        if is_keras_optimizer(self.optimizer):
            with self._scope():
                self.optimizer.build(variables)
        build = getattr(self.optimizer, "build", None)
        if not is_keras_optimizer(self.optimizer) and callable(build):
            build(variables)
        self.built = True

    def metric_names(self) -> list[str]:
        """The metrics each step reports, in a fixed order."""
        names = ["loss", "learning_rate", "global_norm"]
        if self.clip is not None:
            names.append("clipped_global_norm")
        if self.adaptive:
            names.append(REPORT_KEY)
        if "gradient_norm" in self.summaries and self.variables:
            names += [f"gradient_norm/{variable_name(v)}" for v in self.variables]
        return names

    def summary_writer(self) -> Any:
        """The default ``tf.summary`` writer now, if any summary is requested."""
        return default_writer() if (self.summaries or self.report_adaptive) else None

    def set_noise_scale(self, value: Any) -> None:
        """Change the gradient-noise scale between steps."""
        if self.noise_scale is None:
            raise ValueError(
                "gradient_noise_scale: this train op was built without gradient noise; build "
                "it with gradient_noise_scale=0.0 to be able to change the scale later."
            )
        checked = check_gradient_noise_scale(value)
        if checked is None:
            raise ValueError(
                "gradient_noise_scale: got None; accepted: a non-negative finite float (0.0 "
                "switches the noise off)."
            )
        self.noise_scale.assign(tf.cast(checked, self.noise_scale.dtype))

    def set_clip_norm(self, value: Any) -> None:
        """Change the global-norm clip value between steps."""
        if self.clip_norm is None:
            raise ValueError(
                "clip_norm: this train op was built without a float clip_gradients; build it "
                "with clip_gradients=<float> to be able to change the clip value later."
            )
        self.clip_norm.assign(check_clip_norm(value))

    # ----------------------------------------------------------------- the step
    def _built_variables(self) -> list[tf.Variable]:
        if self.variables is None:
            raise RuntimeError("StepBuilder.step: call ensure_built() before tracing a step")
        return self.variables

    def _built_pipeline(self) -> GradientTransform:
        if self.pipeline is None:
            raise RuntimeError("StepBuilder.step: call ensure_built() before tracing a step")
        return self.pipeline

    def _loss_and_gradients(self, args: tuple, kwargs: dict) -> tuple[Any, list[Any]]:
        # Watching accessed variables (not tape.watch) also works for mirrored variables in
        # replica context, where watching the variable objects misses the other replicas.
        with tf.GradientTape() as tape:
            loss = tf.convert_to_tensor(self.compiled_loss(*args, **kwargs))
        if loss.shape.rank != 0 or not loss.dtype.is_floating:
            raise ValueError(
                f"loss: the callable {describe(self.loss)} returned a {loss.dtype.name} tensor "
                f"of shape {loss.shape}; accepted: a float scalar, e.g. tf.reduce_mean(...)."
            )
        return loss, tape.gradient(loss, self._built_variables())

    def _apply(self, pairs: GradsAndVars) -> None:
        if is_keras_optimizer(self.optimizer):
            self.optimizer.apply_gradients(pairs)
        else:
            step = self.global_step if self.increment_global_step else None
            self.optimizer.apply_gradients(pairs, global_step=step)

    def step(self, args: tuple, kwargs: dict, writer: Any) -> tuple[Any, dict[str, Any]]:
        """One training step (traced): returns the loss and this step's metrics."""
        with self._scope():
            summary_step = self.global_step.read_value()
            for update in self.update_ops:
                update()
            learning_rate = self.learning_rate.update()
            if self.strategy is not None:
                loss, gradients = distribute.distributed_gradients(
                    self.strategy, self._loss_and_gradients, args, kwargs
                )
            else:
                loss, gradients = self._loss_and_gradients(args, kwargs)
            variables = self._built_variables()
            if all(g is None for g in gradients):
                raise ValueError(
                    "No gradients provided for any variable: the loss does not depend on "
                    f"{[variable_name(v) for v in variables]}."
                )
            pairs = list(zip(gradients, variables, strict=True))
            pairs, reports = run_pipeline(self._built_pipeline(), self.pipeline_state, pairs)
            metrics = {"loss": loss, "learning_rate": learning_rate}
            for name in (GLOBAL_NORM, CLIPPED_GLOBAL_NORM, REPORT_KEY):
                if name in reports:
                    metrics[name] = reports[name]
            if "gradient_norm" in self.summaries:
                norms = {
                    v.ref(): tf.norm(g.values if isinstance(g, tf.IndexedSlices) else g)
                    for g, v in pairs
                    if g is not None
                }
                for variable in variables:
                    metrics[f"gradient_norm/{variable_name(variable)}"] = norms.get(
                        variable.ref(), tf.constant(0.0)
                    )
            present = [(g, v) for g, v in pairs if g is not None]
            if self.strategy is not None:
                kept = [v for _, v in present]
                distribute.distributed_apply(
                    self.strategy,
                    lambda grads: self._apply(list(zip(grads, kept, strict=True))),
                    [g for g, _ in present],
                )
            else:
                self._apply(present)
            if is_keras_optimizer(self.optimizer) and self.increment_global_step:
                self.global_step.assign_add(1)
            self.iterations.assign_add(1)
            metrics = {k: tf.cast(v, tf.float32) for k, v in metrics.items()}
            if writer is not None:
                self._write_summaries(writer, metrics, pairs, summary_step)
            return loss, metrics

    def _write_summaries(
        self, writer: Any, metrics: dict[str, Any], pairs: list, step: Any
    ) -> None:
        wanted = self.summaries
        scalars = {}
        if "loss" in wanted:
            scalars["loss"] = metrics["loss"]
        if "learning_rate" in wanted:
            scalars["learning_rate"] = metrics["learning_rate"]
        if "global_gradient_norm" in wanted or "gradient_norm" in wanted:
            scalars[GLOBAL_NORM_TAG] = metrics["global_norm"]
            if "clipped_global_norm" in metrics:
                scalars[CLIPPED_GLOBAL_NORM_TAG] = metrics["clipped_global_norm"]
        if self.report_adaptive:
            scalars[ADAPTIVE_MAX_NORM_TAG] = metrics[REPORT_KEY]
        histograms = {}
        for gradient, variable in pairs:
            if gradient is None:
                continue
            values = gradient.values if isinstance(gradient, tf.IndexedSlices) else gradient
            tag = summary_variable_name(variable)
            if "gradient_norm" in wanted:
                scalars[f"gradient_norm/{tag}"] = tf.norm(values)
            if "gradients" in wanted:
                histograms[f"gradients/{tag}"] = values
        with writer.as_default():
            write_scalars(self.scope, scalars, step)
            write_histograms(self.scope, histograms, step)
