"""The planned learning rate of a Config at every step, from the decay function its run uses.

:func:`schedule` builds the run's own ``learning_rate_decay_fn`` (through
:func:`~olexplore.runs.arguments.engine_arguments`, as the run builder does), reads it with the
run's base-rate variable and a step counter, and casts each value to float32 as the train op
does before the optimizer reads it: the array equals the ``learning_rate`` a run of the same
Config records at every step (without live changes), bit for bit.
"""

from __future__ import annotations

import numpy as np

from olexplore._tensorflow import tf
from olexplore.engine.learning_rate import call_if_callable
from olexplore.engine.variables import setting_variable
from olexplore.runs.arguments import Call, engine_arguments, materialize
from olexplore.runs.config import Config
from olexplore.runs.fields import steps_argument

__all__ = ["schedule"]


def _planned_decay(config: Config) -> Call | None:
    """The run's decay call; ``noisy_linear_cosine_decay`` without its noise (see below)."""
    call = engine_arguments(config)["learning_rate_decay_fn"]
    if call is not None and call.args == ("noisy_linear_cosine_decay",):
        call = Call(call.function, call.args, {**call.kwargs, "initial_variance": 0.0})
    return call


def schedule(
    config: Config, steps: int | None = None, *, every: int = 1, xla: bool = False
) -> np.ndarray:
    """The learning rate of every step ``0 .. steps - 1`` (default ``config.steps``), float32;
    with ``every=k`` of steps ``0, k, 2k, ...`` only (a preview of a long plan: the explorer
    draws about 2,000 points, where a million steps one by one take seconds).

    float32 because that is the dtype of the variable the optimizer reads and of the
    ``learning_rate`` a :class:`~olexplore.runs.run.Run` records: the values are the same
    computation (TF's decay function on the step, in float32, one step at a time), so they are
    bit-equal to the recorded rates, not merely close. Without a decay every step has
    ``config.learning_rate`` (as float32). Live changes of the base rate during a run are not
    part of the plan.

    ``xla`` compiles the plan with XLA, for a train op whose steps XLA compiles (XLA rewrites
    some divisions, which puts a few decays a few ulps away from TF's kernels). A Run builds
    its train op without XLA (:func:`~olexplore.runs.builder.build_train_op`), hence the
    default; pass ``run.train_op.compile_info.xla`` to match a train op that was built.

    ``noisy_linear_cosine_decay`` draws unseeded noise inside each step (TF's
    ``random_normal`` without a seed), so no two runs share its values: the plan is the
    noise-free rate (``initial_variance=0``), around which a run's rate scatters with
    standard deviation ``rate * cosine * sqrt(initial_variance / (1 + step) ** variance_decay)``.

    >>> from olexplore.runs.config import Decay
    >>> config = Config(learning_rate=0.1, decay=Decay("exponential_decay",
    ...     {"decay_steps": 2, "decay_rate": 0.5, "staircase": True}), steps=5)
    >>> rates = schedule(config)
    >>> rates.dtype, rates.tolist() == np.float32([0.1, 0.1, 0.05, 0.05, 0.025]).tolist()
    (dtype('float32'), True)
    >>> schedule(Config(learning_rate=0.5), steps=3).tolist()
    [0.5, 0.5, 0.5]
    >>> schedule(config, every=2).tolist() == rates[::2].tolist()
    True
    >>> schedule(Config(), steps=-1)  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    ValueError: steps: got -1 (int); accepted: None (config.steps, here 500) or an int from 0 ...
    """
    if not isinstance(config, Config):
        raise ValueError(f"config: got {config!r} ({type(config).__name__}); accepted: a Config.")
    if not isinstance(xla, bool):
        raise ValueError(f"xla: got {xla!r} ({type(xla).__name__}); accepted: True or False.")
    given = steps_argument(steps, "steps", f"config.steps, here {config.steps}")
    steps = config.steps if given is None else given
    if isinstance(every, (bool, np.bool_)) or not isinstance(every, (int, np.integer)) or every < 1:
        raise ValueError(f"every: got {every!r} ({type(every).__name__}); accepted: an int >= 1.")
    every = int(every)
    count = -(-steps // every)  # the steps 0, every, ... below steps
    base = setting_variable(config.learning_rate, "schedule/learning_rate")
    call = _planned_decay(config)
    if call is None or steps == 0:
        return np.full(count, base.numpy(), dtype=np.float32)
    global_step = setting_variable(0, "schedule/global_step", tf.int64)
    decay_fn = materialize(call, global_step)

    @tf.function(autograph=False, jit_compile=xla)
    def plan(stop: tf.Tensor, stride: tf.Tensor, size: tf.Tensor) -> tf.Tensor:
        def body(step: tf.Tensor, rates: tf.TensorArray) -> tuple[tf.Tensor, tf.TensorArray]:
            assigned = global_step.assign(step)
            with tf.control_dependencies([assigned]):
                rate = tf.cast(call_if_callable(decay_fn(base, global_step)), tf.float32)
            return step + stride, rates.write(tf.cast(step // stride, tf.int32), rate)

        rates = tf.TensorArray(tf.float32, size=size)
        _, rates = tf.while_loop(
            lambda step, _: step < stop, body, (tf.constant(0, tf.int64), rates)
        )
        return rates.stack()

    stop, stride = tf.constant(steps, tf.int64), tf.constant(every, tf.int64)
    return plan(stop, stride, tf.constant(count, tf.int32)).numpy()
