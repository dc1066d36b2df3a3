"""Ports of the ``tf.contrib.opt`` optimizers to TensorFlow 2."""

from olexplore.opt.external_optimizer import ExternalOptimizerInterface
from olexplore.opt.moving_average import MovingAverageOptimizer
from olexplore.opt.scipy_optimizer import ScipyOptimizerInterface
from olexplore.opt.variable_clipping import VariableClippingOptimizer

__all__ = [
    "ExternalOptimizerInterface",
    "MovingAverageOptimizer",
    "ScipyOptimizerInterface",
    "VariableClippingOptimizer",
]
