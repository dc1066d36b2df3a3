"""olexplore: TF 1's optimize_loss and tf.contrib.opt on TensorFlow 2, with a Jupyter explorer.

>>> from olexplore import optimize_loss, OPTIMIZER_CLS_NAMES
>>> sorted(OPTIMIZER_CLS_NAMES)
['Adagrad', 'Adam', 'Ftrl', 'Momentum', 'RMSProp', 'SGD']
"""

from olexplore._tensorflow import tf  # noqa: F401 - raises a helpful ImportError without TF
from olexplore.engine import (
    DECAY_FUNCTIONS,
    KERAS_OPTIMIZER_NAMES,
    OPTIMIZER_CLS_NAMES,
    OPTIMIZER_SUMMARIES,
    TrainOp,
    adaptive_clipping_fn,
    decay_function,
    optimize_loss,
)

__version__ = "0.1.0"


def __getattr__(name: str) -> object:
    # The explorer pulls in ipywidgets and matplotlib: import it only when asked for, so the
    # engine stays usable without a notebook stack.
    if name in ("Explorer", "explore"):
        from olexplore.ui import explorer  # noqa: PLC0415

        return getattr(explorer, name)
    raise AttributeError(f"module 'olexplore' has no attribute {name!r}")


__all__ = [
    "DECAY_FUNCTIONS",
    "Explorer",
    "KERAS_OPTIMIZER_NAMES",
    "OPTIMIZER_CLS_NAMES",
    "OPTIMIZER_SUMMARIES",
    "TrainOp",
    "adaptive_clipping_fn",
    "decay_function",
    "explore",
    "optimize_loss",
    "__version__",
]
