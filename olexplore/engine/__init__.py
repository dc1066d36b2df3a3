"""optimize_loss and its gradient transforms on TensorFlow 2 (TensorFlow only, no widgets)."""

from olexplore.engine.adaptive_clipping import adaptive_clipping_fn
from olexplore.engine.learning_rate import DECAY_FUNCTIONS, decay_function
from olexplore.engine.optimize_loss import optimize_loss
from olexplore.engine.optimizers import KERAS_OPTIMIZER_NAMES, OPTIMIZER_CLS_NAMES
from olexplore.engine.train_op import TrainOp
from olexplore.engine.validation import OPTIMIZER_SUMMARIES

__all__ = [
    "DECAY_FUNCTIONS",
    "KERAS_OPTIMIZER_NAMES",
    "OPTIMIZER_CLS_NAMES",
    "OPTIMIZER_SUMMARIES",
    "TrainOp",
    "adaptive_clipping_fn",
    "decay_function",
    "optimize_loss",
]
