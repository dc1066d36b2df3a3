"""The explorer's learning-rate range test: a button that runs
:func:`~olexplore.runs.lr_range.lr_range_test` on the current settings, the curves with their
band over seeds (drawn by ``LRRangeResult.plot``, shown as a PNG), and one button per suggestion
that makes it the learning rate.
"""

from __future__ import annotations

import io
from collections.abc import Callable

import ipywidgets as widgets
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from olexplore.runs.config import Config
from olexplore.runs.lr_range import LRRangeResult, lr_range_test

#: The test the button runs: short enough to wait for (digits-mlp, 3 seeds: about 4 s here).
STEPS, SEEDS = 150, 3
_RULES = {
    "steepest": "steepest descent",
    "valley": "valley",
    "minimum_over_10": "minimum ÷ 10",
}


class LRFinder:
    """The range test's widgets; ``apply(rate)`` is called when a suggestion is chosen.

    >>> from olexplore.runs import Config
    >>> finder = LRFinder(apply=lambda rate: None)
    >>> result = finder.run(Config(problem="quadratic", optimizer="SGD"), steps=40, seeds=1)
    >>> sorted(finder.suggestions), bytes(finder.image.value[:4])
    (['minimum_over_10', 'steepest', 'valley'], b'\\x89PNG')
    """

    def __init__(self, apply: Callable[[float], None]) -> None:
        self.apply = apply
        self.result: LRRangeResult | None = None
        self.image = widgets.Image(format="png", layout=widgets.Layout(max_width="640px"))
        self.choices = widgets.HBox()
        self.widget = widgets.VBox([self.image, self.choices])
        self.widget.layout.display = "none"  # until a test has run

    @property
    def suggestions(self) -> dict[str, float]:
        """The last test's suggested rates by rule (empty before a test)."""
        return {} if self.result is None else dict(self.result.suggestions)

    def run(self, config: Config, *, steps: int = STEPS, seeds: int = SEEDS) -> LRRangeResult:
        """Run the test on ``config``, draw it and offer its suggestions."""
        result = lr_range_test(config, steps=steps, seeds=seeds)
        self.result = result
        figure = Figure(figsize=(6.4, 3.6), dpi=100, layout="constrained")
        result.plot(figure.add_subplot())
        buffer = io.BytesIO()
        FigureCanvasAgg(figure).print_png(buffer)
        self.image.value = buffer.getvalue()
        for old in self.choices.children:
            old.close()
        self.choices.children = [
            self._choice(rule, rate) for rule, rate in self.suggestions.items()
        ]
        self.widget.layout.display = None
        return result

    def _choice(self, rule: str, rate: float) -> widgets.Button:
        button = widgets.Button(
            description=f"use {_RULES.get(rule, rule)}: {rate:.3g}",
            tooltip=f"Make {rate:.6g} the learning rate (the {_RULES.get(rule, rule)} rule)",
            layout=widgets.Layout(width="auto"),
        )
        button.on_click(lambda _: self.apply(float(f"{rate:.3g}")))
        return button

    def close(self) -> None:
        """Close every widget made."""
        for child in self.choices.children:
            child.close()
        for widget in (self.choices, self.image, self.widget):
            widget.close()
