"""The user's own problem: a Keras model with data, or variables and a loss callable.

:class:`CustomProblem` wraps objects that already exist, so unlike the other problems its
:meth:`~CustomProblem.build` cannot create fresh variables. It keeps a copy of the variables'
values taken when the problem is made and **restores them at every build**: each build (each
run, each reset) starts from the same weights, and all builds share the same variable objects
(so ``setup.variable_names`` are the model's own names, stable across builds, and a train op
built earlier keeps training the same variables). The seed only drives the shuffling of
``(x, y)`` arrays; it does not re-draw the weights.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Mapping
from typing import Any, ClassVar

import numpy as np

from olexplore._tensorflow import tf
from olexplore.engine.validation import describe
from olexplore.engine.variables import as_tf_variable
from olexplore.problems.base import Problem, Setup
from olexplore.problems.params import MAX_BATCH_SIZE, count
from olexplore.problems.real import check_examples, check_labels, shuffled_batches


class BatchSizeWarning(UserWarning):
    """A batch size above the number of examples given: batches hold every example once."""


def _is_keras_layer(value: Any) -> bool:
    import keras  # noqa: PLC0415

    return isinstance(value, keras.layers.Layer)


def _summary(value: Any) -> str:
    if isinstance(value, np.ndarray):
        return f"an array of shape {value.shape}"
    return describe(value)


def _as_array(value: Any, argument: str) -> np.ndarray:
    array = check_examples(value, argument)
    if array.dtype.kind == "f":
        array = array.astype(np.float32)
    return array


def _is_sparse_categorical(loss: Any) -> bool:
    """True for the losses that take integer class labels (by name, class or function)."""
    import keras  # noqa: PLC0415

    if isinstance(loss, str):
        return "sparse_categorical" in loss
    if isinstance(loss, keras.losses.SparseCategoricalCrossentropy):
        return True
    return getattr(loss, "__name__", "") == "sparse_categorical_crossentropy"


def _classes_of(model: Any, sample: Any) -> int | None:
    """The number of outputs of ``model`` on ``sample`` (None when not one tensor of logits)."""
    try:
        shape = model(sample).shape
    except Exception:  # noqa: BLE001 - a model of several outputs, say: no bound to check
        return None
    return int(shape[-1]) if len(shape) >= 2 and shape[-1] else None


def _keras_loss(loss: Any, argument: str) -> Callable[[Any, Any], Any]:
    import keras  # noqa: PLC0415

    if isinstance(loss, str):
        try:
            function = keras.losses.get(loss)
        except ValueError:
            function = None
        if callable(function):  # a known name: a loss function or a keras.losses.Loss
            return function
    elif callable(loss):
        return loss
    raise ValueError(
        f"{argument}: got {describe(loss)}; accepted: a Keras loss name such as "
        "'sparse_categorical_crossentropy' or 'mse', a keras.losses.Loss, or a callable "
        "(y_true, y_pred) -> loss."
    )


def _without_arguments(function: Callable[[], Any]) -> Callable[[], Any]:
    """The loss of a problem without data: ``function()``, as a function of no argument."""

    def loss() -> Any:
        return function()

    return loss


class CustomProblem(Problem):
    """Your own model or loss, ready for the explorer and ``optimize_loss``.

    Forms accepted:

    * ``CustomProblem(model, x, y)``: a Keras model with arrays (endless shuffled batches of the
      build's ``batch_size``, seeded); the loss is the model's compiled loss or ``loss``
      (a Keras loss name, a ``keras.losses.Loss`` or a callable ``(y_true, y_pred)``; when both
      exist ``loss`` wins), averaged over the batch, plus the model's regularisation losses.
    * ``CustomProblem(model, dataset=ds)``: ``ds`` a ``tf.data.Dataset`` of ``(x, y)``
      batches, repeated without end (the build's ``batch_size`` does not apply).
    * ``CustomProblem(loss_fn, variables=[...])`` with ``x`` (and ``y``), a ``dataset`` (its
      elements are spread as arguments) or no data (``loss_fn()``).

    ``evaluate`` is an optional callable returning ``{name: number}`` (e.g. validation
    metrics). ``variables`` with a model lists the variables to expose (default: all trainable
    ones). See the module docstring for what re-building does.

    >>> w = tf.Variable(3.0, name="w")
    >>> problem = CustomProblem(lambda: (w - 1.0) ** 2, variables=[w])
    >>> _ = w.assign(-5.0)  # e.g. after training
    >>> float(problem.build().loss()), problem.build().variable_names
    (4.0, ['w'])
    """

    name = "custom"
    title = "Your own problem"
    description = "A model or loss you bring, with your data."
    kind = "custom"
    suggested: ClassVar[dict[str, Any]] = {"optimizer": "Adam", "learning_rate": 0.001}

    def __init__(
        self,
        model_or_loss: Any,
        x: Any = None,
        y: Any = None,
        dataset: tf.data.Dataset | None = None,
        variables: list[Any] | None = None,
        loss: Any = None,
        evaluate: Callable[[], Mapping[str, Any]] | None = None,
        name: str = "custom",
    ) -> None:
        if not isinstance(name, str) or not name:
            raise ValueError(f"name: got {describe(name)}; accepted: a non-empty str.")
        self.name = name
        if evaluate is not None and not callable(evaluate):
            raise ValueError(
                f"evaluate: got {describe(evaluate)}; accepted: None or a callable of no "
                "argument returning {name: number}."
            )
        self._evaluate = evaluate
        if dataset is not None and (x is not None or y is not None):
            raise ValueError(
                f"dataset: got a dataset together with x={_summary(x)}, y={_summary(y)}; "
                "accepted: either x (and y) arrays or a tf.data.Dataset, not both."
            )
        if dataset is not None and not isinstance(dataset, tf.data.Dataset):
            raise ValueError(
                f"dataset: got {describe(dataset)}; accepted: a tf.data.Dataset (of (x, y) "
                "batches for a model)."
            )
        self.dataset = dataset
        self.x = None if x is None else _as_array(x, "x")
        self.y = None if y is None else _as_array(y, "y")
        if self.x is None and self.y is not None:
            raise ValueError(
                f"x: got None with y={_summary(self.y)}; accepted: the inputs matching y."
            )
        if self.x is not None and self.y is not None and len(self.x) != len(self.y):
            raise ValueError(
                f"y: got {len(self.y)} rows for {len(self.x)} rows of x; accepted: one target "
                "per example of x."
            )
        self.model = model_or_loss if _is_keras_layer(model_or_loss) else None
        if self.model is not None:
            self._loss_of_batch = self._model_loss(self.model, loss)
        elif callable(model_or_loss):
            if loss is not None:
                raise ValueError(
                    f"loss: got {describe(loss)} with a loss callable as model_or_loss; "
                    "accepted: loss=None (it only picks the loss of a Keras model)."
                )
            self._loss_of_batch = model_or_loss
        else:
            raise ValueError(
                f"model_or_loss: got {describe(model_or_loss)}; accepted: a keras.Model (or "
                "layer) or a callable returning the scalar loss."
            )
        self.variables = self._check_variables(variables)
        self._initial_values = [v.numpy() for v in self._all_variables()]

    # ----------------------------------------------------------------- checks
    def _model_loss(self, model: Any, loss: Any) -> Callable[..., Any]:
        if self.dataset is None and (self.x is None or self.y is None):
            raise ValueError(
                "x, y: a Keras model needs data; accepted: x and y arrays (one row per example) "
                f"or dataset=tf.data.Dataset of (x, y) batches; got x={_summary(self.x)}, "
                f"y={_summary(self.y)}."
            )
        if self.dataset is not None:
            spec = self.dataset.element_spec
            if not (isinstance(spec, tuple) and len(spec) == 2):
                raise ValueError(
                    f"dataset: got elements {spec}; accepted with a Keras model: (x, y) tuples."
                )
        if loss is None:
            compiled = getattr(model, "loss", None) if getattr(model, "compiled", False) else None
            if compiled is None:
                raise ValueError(
                    "loss: got None and the model is not compiled with a loss; accepted: a Keras "
                    "loss name such as 'sparse_categorical_crossentropy', a keras.losses.Loss, "
                    "a callable (y_true, y_pred), or a model compiled with one loss."
                )
            if isinstance(compiled, (list, tuple, dict)):
                raise ValueError(
                    f"loss: got None and the model is compiled with several losses "
                    f"({describe(compiled)}); accepted: loss=<one callable (y_true, y_pred)>."
                )
            function = _keras_loss(compiled, "the model's compiled loss")
            sparse = _is_sparse_categorical(compiled)
        else:
            function = _keras_loss(loss, "loss")
            sparse = _is_sparse_categorical(loss)
        if not model.built:
            if self.x is not None:
                sample = self.x[:1]
            else:
                assert self.dataset is not None, "checked above: a model has x or a dataset"
                sample = next(iter(self.dataset.take(1)))[0]
            model(sample)
        # Integer class labels, below the model's outputs (y comes with x: checked in __init__).
        if sparse and self.x is not None and self.y is not None:
            classes = _classes_of(model, self.x[:1])
            self.y = check_labels(self.y, "y", classes).reshape(self.y.shape)

        def model_loss(x: Any, y: Any) -> tf.Tensor:
            value = tf.reduce_mean(function(y, model(x, training=True)))
            extra = model.losses
            return value + tf.add_n(extra) if extra else value

        return model_loss

    def _check_variables(self, variables: Any) -> list[tf.Variable]:
        if variables is None:
            if self.model is None:
                raise ValueError(
                    "variables: got None with a loss callable; accepted: the list of "
                    "tf.Variables the loss reads (they are listed by name and reset on build)."
                )
            return [as_tf_variable(v) for v in self.model.trainable_variables]
        accepted = "accepted: a list of tf.Variables or Keras variables."
        if isinstance(variables, tf.Variable) or hasattr(variables, "value"):
            variables = [variables]
        elif isinstance(variables, (str, bytes, Mapping)) or not hasattr(variables, "__iter__"):
            raise ValueError(f"variables: got {describe(variables)}; {accepted}")
        checked = []
        for variable in variables:
            try:
                checked.append(as_tf_variable(variable))
            except TypeError:
                raise ValueError(
                    f"variables: got {describe(variable)} in the list; {accepted}"
                ) from None
        if not checked:
            raise ValueError(f"variables: got an empty list; {accepted}")
        return checked

    def _all_variables(self) -> list[tf.Variable]:
        # Everything a build resets: all of a model's variables (non-trainable state such as
        # batch-norm statistics included) or the given variables.
        if self.model is None:
            return self.variables
        return [as_tf_variable(v) for v in self.model.variables]

    # ----------------------------------------------------------------- building
    def build(self, seed: int = 0, batch_size: int = 64) -> Setup:
        """Restore the initial values and return the setup (same variables every time)."""
        batch_size = count(batch_size, "batch_size", 1, MAX_BATCH_SIZE)
        for variable, value in zip(self._all_variables(), self._initial_values, strict=True):
            variable.assign(value)
        function = self._loss_of_batch
        data = None
        loss = function
        if self.dataset is not None:
            data = self.dataset.repeat()
        elif self.x is not None:
            size = min(batch_size, len(self.x))
            if size < batch_size:  # no example twice in a batch, and said so
                warnings.warn(
                    f"batch_size: got {batch_size}, more than the {len(self.x)} examples of x; "
                    f"every batch is all {len(self.x)} examples (pass batch_size <= "
                    f"{len(self.x)} to silence this).",
                    BatchSizeWarning,
                    stacklevel=2,
                )
            if self.y is not None:
                data = shuffled_batches(self.x, self.y, size, seed)
            else:
                data = shuffled_batches(self.x, np.zeros(len(self.x), np.int32), size, seed)
                data = data.map(lambda x, _: x)
        else:
            loss = _without_arguments(function)
        return Setup(
            variables=list(self.variables),
            loss=loss,
            data=data,
            evaluate=None if self._evaluate is None else self._evaluated,
            extras={"model": self.model} if self.model is not None else {},
        )

    def _evaluated(self) -> dict[str, float]:
        assert self._evaluate is not None, "build() hands this out only with an evaluate"
        result = self._evaluate()
        if not isinstance(result, Mapping):
            raise ValueError(
                f"evaluate: returned {describe(result)}; accepted: a dict {{name: number}}."
            )
        return {str(k): float(v) for k, v in result.items()}
