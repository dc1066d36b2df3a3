"""``optimize_loss``: TF 1's one-call training op, in graph mode and in TF 2 mode."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any, overload

from olexplore._tensorflow import tf
from olexplore.engine.graph_mode import graph_optimize_loss
from olexplore.engine.step import StepBuilder
from olexplore.engine.train_op import TrainOp
from olexplore.engine.validation import (
    check_clip_gradients,
    check_decay_fn,
    check_flag,
    check_gradient_multipliers,
    check_gradient_noise_scale,
    check_name,
    check_noise_seed,
    check_summaries,
)
from olexplore.engine.xla import JitCompile, check_jit_compile

#: What ``clip_gradients`` may be: a maximum global norm or a function over the pairs.
ClipGradients = float | int | Callable[[list[tuple[Any, Any]]], list[tuple[Any, Any]]] | None
#: ``learning_rate_decay_fn(learning_rate, global_step) -> decayed rate``.
DecayFunction = Callable[[Any, Any], Any]


@overload
def optimize_loss(
    loss: tf.Tensor,
    global_step: tf.Variable | tf.Tensor | None,
    learning_rate: float | tf.Tensor | None,
    optimizer: Any,
    gradient_noise_scale: float | tf.Tensor | None = None,
    gradient_multipliers: Mapping[Any, float | tf.Tensor] | None = None,
    clip_gradients: ClipGradients = None,
    learning_rate_decay_fn: DecayFunction | None = None,
    update_ops: Iterable[Any] | None = None,
    variables: Iterable[Any] | None = None,
    name: str | None = None,
    summaries: Iterable[str] | None = None,
    colocate_gradients_with_ops: bool = False,
    increment_global_step: bool = True,
    *,
    gradient_noise_seed: int | None = None,
    jit_compile: JitCompile = "auto",
) -> tf.Tensor: ...


@overload
def optimize_loss(
    loss: Callable[..., Any],
    global_step: tf.Variable | tf.Tensor | None,
    learning_rate: float | tf.Tensor | tf.Variable | None,
    optimizer: Any,
    gradient_noise_scale: float | tf.Tensor | None = None,
    gradient_multipliers: Mapping[Any, float | tf.Tensor] | None = None,
    clip_gradients: ClipGradients = None,
    learning_rate_decay_fn: DecayFunction | None = None,
    update_ops: Iterable[Callable[[], Any]] | None = None,
    variables: Iterable[Any] | None = None,
    name: str | None = None,
    summaries: Iterable[str] | None = None,
    colocate_gradients_with_ops: bool = False,
    increment_global_step: bool = True,
    *,
    gradient_noise_seed: int | None = None,
    jit_compile: JitCompile = "auto",
) -> TrainOp: ...


def optimize_loss(
    loss: Any,
    global_step: Any,
    learning_rate: Any,
    optimizer: Any,
    gradient_noise_scale: Any = None,
    gradient_multipliers: Any = None,
    clip_gradients: Any = None,
    learning_rate_decay_fn: Any = None,
    update_ops: Any = None,
    variables: Any = None,
    name: str | None = None,
    summaries: Any = None,
    colocate_gradients_with_ops: bool = False,
    increment_global_step: bool = True,
    *,
    gradient_noise_seed: int | None = None,
    jit_compile: JitCompile = "auto",
) -> tf.Tensor | TrainOp:
    """Compute, transform and apply the gradients of ``loss``: TF 1's ``optimize_loss``.

    Two modes behind one name:

    * **Graph mode** (``loss`` is a scalar tensor of a ``tf.compat.v1`` graph): returns the
      training tensor exactly as TF 1 did; running it performs one step and yields the loss.
    * **TF 2 mode** (``loss`` is a callable): returns a :class:`~olexplore.engine.train_op.TrainOp`;
      ``train_op(*args, **kwargs)`` runs one compiled step on ``loss(*args, **kwargs)`` and
      returns its loss, ``train_op.run_steps(n, ...)`` runs ``n`` steps in one call, and
      ``train_op.metrics`` holds the latest loss, learning rate and global norms.

    Per step: gradients -> ``gradient_noise_scale`` (truncated-normal noise) ->
    ``gradient_multipliers`` -> global norm -> ``clip_gradients`` (a float clips the global
    norm; a callable such as :func:`adaptive_clipping_fn` gets and returns the
    ``(gradient, variable)`` pairs) -> the optimizer's update and the global-step increment.

    Args:
        loss: scalar ``Tensor`` (graph mode) or callable returning a scalar (TF 2 mode).
        global_step: integer scalar variable incremented each step, or ``None`` (graph mode:
            looked up in the graph; TF 2 mode: created and owned by the train op).
        learning_rate: non-negative float or int, scalar ``Tensor``, (TF 2 mode) scalar
            ``tf.Variable``, or ``None`` when ``optimizer`` is an instance or a no-argument
            factory.
        optimizer: a name from ``OPTIMIZER_CLS_NAMES`` (TF 2 mode also Keras names such as
            ``"AdamW"``), a ``tf.compat.v1.train.Optimizer`` subclass or instance, (TF 2 mode) a
            Keras 3 optimizer class or instance, or a function of the learning rate returning
            one (of no argument when ``learning_rate`` is ``None``).
        gradient_noise_scale: standard deviation of the noise added to every gradient.
        gradient_multipliers: ``{key: factor}``; a key is a variable, its ``ref()``, its name
            with or without ``:0``, or a regular expression over variable names.
        clip_gradients: positive float (maximum global norm) or callable over the pairs.
        learning_rate_decay_fn: ``fn(learning_rate, global_step)``, e.g.
            ``lambda lr, gs: tf.compat.v1.train.exponential_decay(lr, gs, 1000, 0.5)``.
        update_ops: graph mode: operations run before the step (default: the ``UPDATE_OPS``
            collection); TF 2 mode: callables run at each step before the update.
        variables: what to optimize (default: graph mode, all trainable variables; TF 2 mode,
            the trainable variables the loss reads).
        name: scope of variables and summary tags (default ``"OptimizeLoss"``).
        summaries: names from ``OPTIMIZER_SUMMARIES`` to write (default: loss, learning rate
            and global gradient norm); in TF 2 mode they are written when a default
            ``tf.summary`` writer is set, and ``"gradient_norm"`` adds per-variable metrics.
        colocate_gradients_with_ops: graph mode device placement hint (no numeric effect).
        increment_global_step: whether the step increments ``global_step``.
        gradient_noise_seed: makes the gradient noise reproducible (not in TF 1).
        jit_compile: TF 2 mode: ``True`` compiles the step and ``run_steps``'s fused loop with
            XLA, ``False`` does not, ``"auto"`` (the default) uses XLA where the step compiles
            and says in ``train_op.compile_info`` why not elsewhere (see
            :mod:`olexplore.engine.xla`). Graph mode builds TF 1's tensor: ``"auto"`` and
            ``False`` change nothing there, and ``True`` is an error.

    Returns:
        The training tensor (graph mode) or a ``TrainOp`` (TF 2 mode).

    >>> w = tf.Variable(4.0, name="w")
    >>> train = optimize_loss(lambda: w * w, None, 0.1, "SGD", clip_gradients=1.0)
    >>> float(train())  # loss before the step; the gradient 8 is clipped to norm 1
    16.0
    >>> round(float(w.numpy()), 4), train.metrics["global_norm"], int(train.global_step)
    (3.9, 8.0, 1)
    """
    # The checks both modes share, before anything is built (the learning rate, the global step
    # and the variables depend on the mode and are checked there).
    arguments: dict[str, Any] = dict(
        gradient_noise_scale=check_gradient_noise_scale(gradient_noise_scale),
        gradient_multipliers=check_gradient_multipliers(gradient_multipliers),
        clip_gradients=check_clip_gradients(clip_gradients),
        learning_rate_decay_fn=check_decay_fn(learning_rate_decay_fn),
        update_ops=update_ops,
        variables=variables,
        name=check_name(name),
        summaries=check_summaries(summaries),
        increment_global_step=check_flag(increment_global_step, "increment_global_step"),
        gradient_noise_seed=check_noise_seed(gradient_noise_seed),
    )
    jit_compile = check_jit_compile(jit_compile)
    if callable(loss) and not isinstance(loss, (tf.Tensor, tf.Variable)):
        if tf.inside_function():
            raise RuntimeError(
                "optimize_loss: build the train op outside tf.function (it creates variables); "
                "calling the returned train op inside a tf.function is fine."
            )
        builder = StepBuilder(loss, global_step, learning_rate, optimizer, **arguments)
        return TrainOp(builder, jit_compile=jit_compile)
    if tf.executing_eagerly() or tf.inside_function():
        raise ValueError(
            f"loss: got a {type(loss).__name__} while executing eagerly; accepted here: a "
            "callable returning the scalar loss (TF 2 mode), e.g. lambda: model_loss(x, y). "
            "A loss tensor works only in a tf.compat.v1 graph (graph mode)."
        )
    if jit_compile is True:
        raise ValueError(
            "jit_compile: got True in graph mode (the loss is a tensor); accepted there: 'auto' "
            "or False, which both build TF 1's train tensor unchanged. XLA compiles only the TF 2 "
            "train op (pass the loss as a callable)."
        )
    return graph_optimize_loss(
        loss,
        global_step,
        learning_rate,
        optimizer,
        colocate_gradients_with_ops=check_flag(
            colocate_gradients_with_ops, "colocate_gradients_with_ops"
        ),
        **arguments,
    )
