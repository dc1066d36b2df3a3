"""``MovingAverageOptimizer``: ``tf.contrib.opt``'s wrapper that keeps moving averages of weights.

The averaged weights of a network often evaluate better than the trained ones. This wrapper
applies the gradients with ``opt``, then updates one ``tf.compat.v1.train.ExponentialMovingAverage``
shadow per trained variable (``avg <- decay * avg + (1 - decay) * var``, no zero-debias, each
shadow named ``<variable name>/ExponentialMovingAverage`` and starting from the variable's
initial value). Evaluation swaps the averages into the variables: in a ``tf.compat.v1`` graph
through a checkpoint written by :meth:`MovingAverageOptimizer.swapping_saver` and read by a plain
``Saver``, in TF 2 mode with :meth:`~MovingAverageOptimizer.swap_averages` or
:meth:`~MovingAverageOptimizer.swapping_checkpoint`.
"""

from __future__ import annotations

import contextlib
import numbers
from collections.abc import Iterable, Iterator, Mapping
from typing import Any

from olexplore._compat import save_slice_info, track_child
from olexplore._tensorflow import tf
from olexplore.engine.variables import as_tf_variable, variable_name
from olexplore.opt._wrapping import (
    GradsAndVars,
    NumberOrTensor,
    WrappedOptimizer,
    WrappingOptimizer,
    check_number,
    group,
    in_graph_mode,
    runs_after,
)


class MovingAverageOptimizer(WrappingOptimizer):
    """Wraps ``opt`` and keeps an exponential moving average of every variable it trains.

    Args:
        opt: the optimizer that computes and applies the gradients: a ``tf.compat.v1.train``
            optimizer, or a Keras 3 optimizer (TF 2 mode only).
        average_decay: the decay of the averages, in [0, 1] (default 0.9999).
        num_updates: optional count of updates (a number or an integer variable such as the
            global step); the decay used is then ``min(average_decay, (1 + n) / (10 + n))``.
        sequential_update: True (default) updates the averages after the variables. False
            updates them "at the same time": unordered in a graph (each average reads the
            variable before or after its update), before the variable update in TF 2 mode.

    TF 2 mode (eagerly, as here, or inside a ``tf.function``):

    >>> w = tf.Variable([1.0, 2.0], name="w")
    >>> sgd = tf.compat.v1.train.GradientDescentOptimizer(learning_rate=2.0)
    >>> opt = MovingAverageOptimizer(sgd, average_decay=0.5)
    >>> _ = opt.minimize(lambda: tf.reduce_sum(0.1 * w), var_list=[w])
    >>> w.numpy().round(3), opt.average(w).numpy().round(3)
    (array([0.8, 1.8], dtype=float32), array([0.9, 1.9], dtype=float32))
    >>> with opt.swap_averages():
    ...     w.numpy().round(3)
    array([0.9, 1.9], dtype=float32)
    >>> w.numpy().round(3)
    array([0.8, 1.8], dtype=float32)
    """

    def __init__(
        self,
        opt: WrappedOptimizer,
        average_decay: NumberOrTensor = 0.9999,
        num_updates: int | tf.Tensor | tf.Variable | None = None,
        sequential_update: bool = True,
    ) -> None:
        super().__init__(opt, use_locking=False, name="MovingAverage")
        check_number(average_decay, "average_decay", "a number in [0, 1]", _in_unit_interval)
        _check_num_updates(num_updates)
        if not isinstance(sequential_update, bool):
            raise TypeError(
                f"sequential_update: expected True or False, got {sequential_update!r} of type "
                f"{type(sequential_update).__name__}"
            )
        self._ema = tf.compat.v1.train.ExponentialMovingAverage(
            average_decay, num_updates=num_updates
        )
        self._sequential_update = sequential_update
        # Graph mode: variable name <-> shadow name, from the last apply_gradients (as TF 1).
        self._swap_map: dict[str, str] | None = None
        self._averaged: dict[Any, tf.Variable] = {}  # variable.ref() -> variable
        self._tracked_names: set[str] = set()
        self._swap_depth = 0

    def average(self, var: Any) -> tf.Variable | None:
        """The shadow variable holding the moving average of ``var`` (None if it has none).

        ``var`` may be a ``tf.Variable`` or a Keras variable.
        """
        return self._ema.average(as_tf_variable(var))

    def variables(self) -> list[Any]:
        """The variables of ``opt`` followed by the moving averages."""
        return super().variables() + [self._ema.average(v) for v in self._averaged.values()]

    def build(self, var_list: Iterable[Any]) -> None:
        """In TF 2 mode, create the moving averages of ``var_list`` now, from their current values.

        ``apply_gradients`` creates missing averages itself; call this before tracing a
        ``tf.function``, or before swapping, to have them exist up front. In a graph the
        averages are created by ``apply_gradients`` and start from the variables' initial values.
        """
        super().build(var_list)
        if not in_graph_mode():
            self._create_averages([as_tf_variable(v) for v in var_list])

    def apply_gradients(
        self, grads_and_vars: Iterable[tuple[Any, Any]], global_step: Any = None, name: Any = None
    ) -> Any:
        """Apply the gradients with ``opt``, then update the averages of the variables updated.

        ``global_step`` is passed to a v1 ``opt``, and incremented here after a Keras 3 one.
        Returns the op ``train_with_avg`` grouping both updates (None when executing eagerly).
        """
        self._check_mode("apply_gradients")
        pairs: GradsAndVars = list(grads_and_vars)
        var_list = [as_tf_variable(v) for g, v in pairs if g is not None]
        graph_mode = in_graph_mode()
        if not graph_mode:
            # Shadows created after the first update would start from the updated values.
            self._create_averages(var_list)
        if self._sequential_update:
            train_op = self._apply_wrapped(pairs, global_step, name)
            with runs_after(train_op):
                average_op = self._ema.apply(var_list)
        else:
            average_op = self._ema.apply(var_list)
            train_op = self._apply_wrapped(pairs, global_step, name)
        if graph_mode:  # the shadows were just created; swapping_saver() needs the names
            self._register(var_list)
            self._swap_map = {}
            for variable in var_list:
                var_name = variable_name(variable)
                shadow_name = variable_name(self.average(variable))
                self._swap_map[var_name] = shadow_name
                self._swap_map[shadow_name] = var_name
        return group([train_op, average_op], name="train_with_avg")

    def _create_averages(self, variables: list[tf.Variable]) -> None:
        new = [v for v in variables if self._ema.average(v) is None]
        if new:
            # ExponentialMovingAverage creates shadows only in apply(). Run that eagerly, before
            # any update: a new shadow equals its variable, so this update changes nothing.
            with tf.init_scope():
                self._ema.apply(new)
                self._register(new)  # may restore a checkpoint into the new shadows

    def _register(self, variables: list[tf.Variable]) -> None:
        for variable in variables:
            if variable.ref() in self._averaged:
                continue
            self._averaged[variable.ref()] = variable
            # A tf.train.Checkpoint holding this optimizer saves each average under a name made
            # from its variable's (the shadow's own depends on what else the process created).
            name = variable_name(variable) + "/ExponentialMovingAverage"
            while name in self._tracked_names:
                name += "_"
            self._tracked_names.add(name)
            track_child(self, self.average(variable), name=name)

    def swapping_saver(
        self, var_list: Any = None, name: str = "swapping_saver", **saver_kwargs: Any
    ) -> tf.compat.v1.train.Saver:
        """A graph-mode ``Saver`` that saves each average under its variable's name, and back.

        Saving then restoring with it changes nothing; restoring its checkpoint with a plain
        ``Saver`` puts the averages into the variables (the evaluation path). ``var_list`` is as
        for ``Saver`` (default: all global variables) and must hold the counterpart of every
        swapped variable; ``saver_kwargs`` go to ``Saver``.

        >>> import os, tempfile
        >>> with tf.Graph().as_default():
        ...     w = tf.Variable([1.0, 2.0], name="w")
        ...     opt = MovingAverageOptimizer(
        ...         tf.compat.v1.train.GradientDescentOptimizer(2.0), average_decay=0.5)
        ...     train = opt.minimize(tf.reduce_sum(0.1 * w))
        ...     saver, plain = opt.swapping_saver(), tf.compat.v1.train.Saver()
        ...     with tf.compat.v1.Session() as sess:
        ...         sess.run(tf.compat.v1.global_variables_initializer())
        ...         sess.run(train)
        ...         path = saver.save(sess, os.path.join(tempfile.mkdtemp(), "model"))
        ...         plain.restore(sess, path)
        ...         print(sess.run(w).round(3))
        [0.9 1.9]

        Raises:
            RuntimeError: before ``apply_gradients``/``minimize``, or in TF 2 mode.
            ValueError: if ``var_list`` lacks the counterpart of a variable it swaps.
        """
        if not in_graph_mode():
            raise RuntimeError(
                "swapping_saver() builds a tf.compat.v1 Saver for graph mode; in TF 2 mode use "
                "swapping_checkpoint() or swap_averages()"
            )
        if self._swap_map is None:
            raise RuntimeError(
                "Must call apply_gradients or minimize before creating the swapping_saver"
            )
        entries = _saver_entries(tf.compat.v1.global_variables() if var_list is None else var_list)
        by_name = {
            variable_name(part): part
            for value in entries.values()
            for part in (value if isinstance(value, list) else [value])
            if isinstance(part, tf.Variable)
        }

        swap_map = self._swap_map

        def swapped(item: Any) -> Any:
            if not isinstance(item, tf.Variable):
                return item
            counterpart = swap_map.get(variable_name(item))
            if counterpart is None:
                return item
            if counterpart not in by_name:
                raise ValueError(
                    f"Variable to swap {counterpart} is not part of variables to save. This breaks "
                    f"MovingAverageOptimizer: var_list holds {variable_name(item)!r} but not its "
                    f"counterpart {counterpart!r}; add it, or leave var_list out to save every "
                    "global variable"
                )
            return by_name[counterpart]

        swapped_entries = {
            key: [swapped(p) for p in value] if isinstance(value, list) else swapped(value)
            for key, value in entries.items()
        }
        return tf.compat.v1.train.Saver(swapped_entries, name=name, **saver_kwargs)

    @contextlib.contextmanager
    def swap_averages(self) -> Iterator[None]:
        """TF 2 mode: hold the averages in the variables (and the raw values in the shadows).

        The values are swapped back on exit; nested uses swap only once. See the class example.

        Raises:
            RuntimeError: in graph mode, or before any average exists.
        """
        self._check_can_swap()
        if self._swap_depth == 0:
            self._swap_values()
        self._swap_depth += 1
        try:
            yield
        finally:
            self._swap_depth -= 1
            if self._swap_depth == 0:
                self._swap_values()

    def _check_can_swap(self) -> None:
        if in_graph_mode():
            raise RuntimeError(
                "swapping the averages in place assigns values eagerly, so it needs TF 2 mode; in "
                "a tf.compat.v1 graph save with swapping_saver() and restore with a plain Saver"
            )
        if not self._averaged:
            raise RuntimeError(
                "Must call apply_gradients, minimize or build before swapping the averages"
            )

    def _swap_values(self) -> None:
        for variable in self._averaged.values():
            shadow: Any = self.average(variable)  # every averaged variable has a shadow
            raw = variable.read_value()
            variable.assign(shadow.read_value())
            shadow.assign(raw)

    def swapping_checkpoint(self, **checkpoint_kwargs: Any) -> tf.train.Checkpoint:
        """TF 2 mode: a ``tf.train.Checkpoint`` that writes and reads inside :meth:`swap_averages`.

        So each variable's checkpoint entry holds its average, and the averages' entries (under
        this optimizer) the raw values; ``restore`` through it is the inverse, and a plain
        ``tf.train.Checkpoint`` of the model restores the averages into the variables.
        ``checkpoint_kwargs`` are those of ``tf.train.Checkpoint`` and must include this
        optimizer, which holds the averages. ``CheckpointManager`` works with it too.

        >>> import tempfile
        >>> w = tf.Variable([1.0, 2.0])
        >>> opt = MovingAverageOptimizer(
        ...     tf.compat.v1.train.GradientDescentOptimizer(2.0), average_decay=0.5)
        >>> _ = opt.minimize(lambda: tf.reduce_sum(0.1 * w), var_list=[w])
        >>> path = opt.swapping_checkpoint(w=w, optimizer=opt).save(tempfile.mkdtemp() + "/ckpt")
        >>> evaluated = tf.Variable([0.0, 0.0])
        >>> _ = tf.train.Checkpoint(w=evaluated).restore(path)
        >>> evaluated.numpy().round(3), w.numpy().round(3)
        (array([0.9, 1.9], dtype=float32), array([0.8, 1.8], dtype=float32))
        """
        if not any(value is self for value in checkpoint_kwargs.values()):
            raise ValueError(
                "checkpoint_kwargs: the moving averages receive the raw values, so this "
                "MovingAverageOptimizer must be one of the keyword arguments (e.g. "
                f"optimizer=opt); got {sorted(checkpoint_kwargs)}"
            )
        self._check_can_swap()
        return _SwappingCheckpoint(self.swap_averages, **checkpoint_kwargs)


class _SwappingCheckpoint(tf.train.Checkpoint):
    """A ``tf.train.Checkpoint`` whose writes and reads happen with the averages swapped in."""

    def __init__(self, swap_averages: Any, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._swap_averages = swap_averages  # a bound method: not a checkpoint dependency

    # save(), write() and CheckpointManager.save() all write through _write(); restore() reads
    # through read(). tests/opt/test_moving_average.py checks each path.
    def _write(self, *args: Any, **kwargs: Any) -> Any:
        with self._swap_averages():
            return super()._write(*args, **kwargs)

    def read(self, *args: Any, **kwargs: Any) -> Any:
        with self._swap_averages():
            return super().read(*args, **kwargs)


def _saver_entries(var_list: Any) -> dict[str, Any]:
    """``var_list`` as the ``Saver``'s name -> variable dict (a partitioned one -> its parts)."""
    if isinstance(var_list, Mapping):
        return {key: _parts_or_self(value) for key, value in var_list.items()}
    entries: dict[str, Any] = {}
    for item in var_list:
        parts = _parts_or_self(item)
        for part in parts if isinstance(parts, list) else [parts]:
            slice_info = save_slice_info(part)  # set on a part of a partitioned variable
            if slice_info is not None:
                entries.setdefault(slice_info.full_name, []).append(part)
                continue
            key = variable_name(part) if isinstance(part, tf.Variable) else str(part.name)
            if key in entries:
                raise ValueError(f"var_list: two entries are named {key!r}; names must be unique")
            entries[key] = part
    return entries


def _parts_or_self(item: Any) -> Any:
    """The parts of a partitioned variable as a list; anything else unchanged."""
    if isinstance(item, (tf.Variable, str)) or not isinstance(item, Iterable):
        return item
    return list(item)


def _in_unit_interval(value: float) -> bool:
    return 0.0 <= value <= 1.0


def _check_num_updates(num_updates: Any) -> None:
    if num_updates is None or isinstance(num_updates, (tf.Tensor, tf.Variable)):
        return
    if isinstance(num_updates, bool) or not isinstance(num_updates, numbers.Integral):
        raise TypeError(
            f"num_updates: expected None, a non-negative integer or an integer tensor/variable "
            f"(such as the global step), got {num_updates!r} of type {type(num_updates).__name__}"
        )
    if num_updates < 0:
        raise ValueError(f"num_updates: expected a non-negative integer, got {num_updates!r}")
