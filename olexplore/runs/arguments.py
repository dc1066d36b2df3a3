"""From a Config to the arguments of ``optimize_loss``: the one place a setting meets the engine.

:func:`engine_arguments` maps every setting to the ``optimize_loss`` keyword it becomes, as
plain data: numbers, names, mappings, and :class:`Call` for the olexplore functions that build
a transform (``adaptive_clipping_fn``, ``decay_function``). The run builder turns the Calls into
objects (:func:`materialize`); ``as_code`` writes them as source. A new setting is a row of the
field table plus its line here.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from olexplore.runs.config import Config

#: Mixed with the seed so the noise stream differs from the initialisation stream of one seed.
_NOISE_STREAM = 0x6E6F697365  # "noise"


class _GlobalStep:
    """Stands for the run's global step variable (made when the train op is built)."""

    def __repr__(self) -> str:
        return "GLOBAL_STEP"


GLOBAL_STEP = _GlobalStep()


@dataclass(frozen=True)
class Call:
    """A call of an olexplore function by name: ``Call("decay_function", ("cosine_decay",),
    {"decay_steps": 100})`` is ``olexplore.decay_function("cosine_decay", decay_steps=100)``."""

    function: str
    args: tuple[Any, ...] = ()
    kwargs: Mapping[str, Any] = field(default_factory=dict)


def noise_seed(seed: int) -> int:
    """The gradient-noise seed of a run with ``seed``: fixed, distinct per seed, below 2**32.

    >>> noise_seed(0) == noise_seed(0) != noise_seed(1)
    True
    """
    return int(np.random.SeedSequence([int(seed), _NOISE_STREAM]).generate_state(1)[0])


def _clip_gradients(config: Config) -> Any:
    clipping = config.clipping
    if clipping.kind == "global_norm":
        return clipping.norm
    if clipping.kind == "adaptive":
        options = {"std_factor": clipping.std_factor, "decay": clipping.decay}
        if clipping.static_max_norm is not None:
            options["static_max_norm"] = clipping.static_max_norm
        return Call("adaptive_clipping_fn", (), {**options, "global_step": GLOBAL_STEP})
    return None


#: Runs train without XLA for now: each new train op compiles its fused loop (~0.7 s here) and
#: every reset of the explorer builds a new one, so a 200-step Rosenbrock run that takes 0.1 s
#: would take about a second. XLA comes to runs once a reset reuses the compiled step (issue 12).
RUNS_JIT_COMPILE = False


def engine_arguments(config: Config) -> dict[str, Any]:
    """The ``optimize_loss`` keyword arguments of ``config`` (besides loss, step, variables).

    The noise scale is always given (``0.0`` draws nothing) so it can be switched on live.

    >>> arguments = engine_arguments(Config(optimizer="SGD", clipping={"kind": "adaptive"}))
    >>> arguments["optimizer"], arguments["clip_gradients"].function
    ('SGD', 'adaptive_clipping_fn')
    """
    decay = config.decay
    return {
        "learning_rate": config.learning_rate,
        "optimizer": config.optimizer,
        "gradient_noise_scale": config.noise_scale,
        "gradient_multipliers": dict(config.multipliers) or None,
        "clip_gradients": _clip_gradients(config),
        "learning_rate_decay_fn": (
            None if decay.name == "none" else Call("decay_function", (decay.name,), decay.params)
        ),
        "gradient_noise_seed": noise_seed(config.seed),
        "jit_compile": RUNS_JIT_COMPILE,
    }


def materialize(value: Any, global_step: Any) -> Any:
    """``value`` with every :class:`Call` made and :data:`GLOBAL_STEP` replaced.

    >>> fn = materialize(Call("decay_function", ("cosine_decay",), {"decay_steps": 10}), None)
    >>> callable(fn)
    True
    """
    if value is GLOBAL_STEP:
        return global_step
    if isinstance(value, Call):
        from olexplore.engine.adaptive_clipping import adaptive_clipping_fn  # noqa: PLC0415
        from olexplore.engine.learning_rate import decay_function  # noqa: PLC0415

        functions = {"adaptive_clipping_fn": adaptive_clipping_fn, "decay_function": decay_function}
        args = [materialize(item, global_step) for item in value.args]
        kwargs = {k: materialize(v, global_step) for k, v in value.kwargs.items()}
        return functions[value.function](*args, **kwargs)
    return value
