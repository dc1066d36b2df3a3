"""One-click scenarios: named groups of Configs that show one effect, run side by side.

Each :class:`Preset` holds the Configs to compare (the baseline first, the one that makes the
point last), a short label for each (for legends) and a note saying what to look for and why.
Presets only describe runs: a preset whose problem is not registered is still a valid Preset,
and the tests train the quick ones to check that each shows what its note claims.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from olexplore.runs.config import Clipping, Config, Decay
from olexplore.runs.labels import describe


@dataclass(frozen=True)
class Preset:
    """A named scenario: ``configs`` to run side by side, ``labels`` for them, and a ``note``.

    ``configs`` (any sequence, kept as a tuple) holds at least one Config; ``labels``, when
    given, holds one label per Config (default: none, see :meth:`label`).

    >>> preset = PRESETS["noise escapes a saddle"]
    >>> [config.noise_scale for config in preset.configs], preset.labels
    ([0.0, 0.1], ('no noise', 'noise 0.1'))
    >>> Preset("empty", "nothing to run", [], "")
    Traceback (most recent call last):
    ...
    ValueError: Preset.configs: got 0 configs for 'empty'; accepted: one or more Configs.
    """

    name: str
    description: str
    configs: Sequence[Config]
    note: str
    labels: Sequence[str] = ()

    def __post_init__(self) -> None:
        configs, labels = tuple(self.configs), tuple(self.labels)
        if not configs:
            raise ValueError(
                f"Preset.configs: got 0 configs for {self.name!r}; accepted: one or more Configs."
            )
        for config in configs:
            if not isinstance(config, Config):
                raise ValueError(
                    f"Preset.configs: got {config!r} ({type(config).__name__}) in "
                    f"{self.name!r}; accepted: olexplore Config objects."
                )
        if labels and len(labels) != len(configs):
            raise ValueError(
                f"Preset.labels: got {len(labels)} labels for {len(configs)} configs in "
                f"{self.name!r}; accepted: none or one label per config."
            )
        object.__setattr__(self, "configs", configs)
        object.__setattr__(self, "labels", labels)

    def label(self, index: int) -> str:
        """The label of ``configs[index]`` (its description when none was given).

        >>> PRESETS["Adam versus SGD on Rosenbrock"].label(1)
        'Adam lr 0.05'
        """
        if self.labels:
            return self.labels[index]
        return describe(self.configs[index])


def _preset(name: str, description: str, note: str, *runs: tuple[str, Config]) -> Preset:
    return Preset(
        name, description, [config for _, config in runs], note, [label for label, _ in runs]
    )


_BOWL = Config(
    problem="quadratic",
    problem_params={"condition_number": 10.0},
    optimizer="SGD",
    learning_rate=0.1,
    steps=100,
)
_CHAIN = Config(
    problem="exploding-gradients", optimizer="SGD", learning_rate=0.03, steps=200, batch_size=32
)
_SADDLE = Config(problem="saddle", optimizer="SGD", learning_rate=0.05, steps=200)
_NOISY = Config(
    problem="noisy-quadratic", optimizer="SGD", learning_rate=0.1, steps=300, batch_size=8
)
_ROSENBROCK = Config(problem="rosenbrock", steps=1000)
_DIGITS = Config(
    problem="digits-mlp", optimizer="Adam", learning_rate=0.001, steps=300, batch_size=64
)

PRESETS: dict[str, Preset] = {
    preset.name: preset
    for preset in (
        _preset(
            "learning rate too high diverges",
            "SGD on a quadratic bowl of condition number 10: rate 0.1 converges, 0.3 diverges.",
            "On a quadratic, gradient descent is stable only while the learning rate is below "
            "2 / (largest curvature) = 2 / 10 = 0.2. At 0.3 every step multiplies the steep "
            "coordinate y by 1 - 0.3 * 10 = -2: |y| doubles each step and the loss overflows to "
            "inf after about 60 steps. At 0.1 both coordinates shrink (x by 0.9 per step, y to 0 "
            "at once). Type 0.19 and then 0.21 in the learning-rate box to find the edge.",
            ("lr 0.1", _BOWL),
            ("lr 0.3 (too high)", _BOWL.replace(learning_rate=0.3)),
        ),
        _preset(
            "clipping rescues exploding gradients",
            "A 20-layer linear chain with gain 1.15 per layer: SGD diverges at once unless the "
            "global gradient norm is clipped at 1.",
            "The chain computes the right map 1.15^20 (about 16) times too large, and each "
            "layer's gradient is a product of 19 such gains, so the first SGD step overshoots "
            "and the loss reaches inf within a couple of steps. tf.clip_by_global_norm at 1.0 "
            "rescales the whole gradient to norm 1 whenever it is larger, keeping its direction: "
            "with the same learning rate the chain walks down and converges.",
            ("no clipping", _CHAIN),
            ("clip global norm 1", _CHAIN.replace(clipping=Clipping("global_norm", norm=1.0))),
        ),
        _preset(
            "noise escapes a saddle",
            "SGD started on the ridge y = 0 of x^2 + y^4/4 - y^2, without and with gradient noise.",
            "On the ridge the gradient along y is exactly zero, so plain gradient descent slides "
            "into the saddle point (0, 0) and stays there. Gradient noise "
            "(gradient_noise_scale=0.1, seeded by the run's seed) nudges y off the ridge; the "
            "negative curvature then carries it on to a minimum at (0, +-sqrt(2)).",
            ("no noise", _SADDLE),
            ("noise 0.1", _SADDLE.replace(noise_scale=0.1)),
        ),
        _preset(
            "decay versus constant",
            "SGD on a quadratic with noisy gradients: a constant rate against exponential decay.",
            "With noisy gradients, constant-rate SGD reaches the bowl quickly and then hovers at "
            "a noise floor that grows with the learning rate. exponential_decay lowers the rate "
            "to 0.1 * 0.3^(step / 100), 0.0027 at step 300: the same fast start, then the "
            "iterate settles much closer to the minimum. Compare the learning-rate curves and "
            "the noise-free validation loss at the end.",
            ("constant", _NOISY),
            (
                "exponential decay",
                _NOISY.replace(
                    decay=Decay("exponential_decay", {"decay_steps": 100, "decay_rate": 0.3})
                ),
            ),
        ),
        _preset(
            "Adam versus SGD on Rosenbrock",
            "1000 steps from (-1.5, 2) along Rosenbrock's curved valley: SGD at 0.001 against "
            "Adam at 0.05.",
            "The valley's walls are about 1000 times steeper than its floor. SGD must keep its "
            "rate below about 0.002 or it diverges across the walls (try 0.0021), and at 0.001 "
            "it crawls along the flat floor, still far from (1, 1) after 1000 steps. Adam "
            "divides each coordinate's step by a running estimate of its gradient size, so one "
            "rate suits both directions: it follows the valley to within 0.05 of (1, 1), and "
            "rates from 0.05 to 0.3 all get there. A fair comparison tunes each optimizer: SGD "
            "at exactly 0.002 gets close too, on the edge of divergence.",
            ("SGD lr 0.001", _ROSENBROCK.replace(optimizer="SGD", learning_rate=0.001)),
            ("Adam lr 0.05", _ROSENBROCK.replace(optimizer="Adam", learning_rate=0.05)),
        ),
        _preset(
            "multipliers freeze a layer",
            "A 64-128-10 MLP on the 8x8 digits, trained whole and with its hidden layer frozen by "
            "a gradient multiplier of 0.",
            "gradient_multipliers={'mlp/hidden/.*': 0.0} multiplies the gradients of the hidden "
            "layer's kernel and bias by zero, so they keep their random initial values and only "
            "the output layer learns: a linear classifier on random ReLU features. It still "
            "learns (about 0.91 validation accuracy after 300 steps with seed 0) but less than "
            "the whole network (about 0.97). A factor such as 0.1 slows a layer down with SGD; "
            "Adam divides by the gradient's size, so it largely undoes any factor but 0.",
            ("all layers", _DIGITS),
            ("hidden layer frozen", _DIGITS.replace(multipliers={"mlp/hidden/.*": 0.0})),
        ),
    )
}
