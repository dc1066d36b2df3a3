"""The explorer's learning-rate range test: Find learning rate draws the curves and offers each
suggestion; choosing one sets the learning rate as if typed."""

import pytest

from olexplore.runs import Config
from olexplore.ui.explorer import Explorer


@pytest.mark.slow
def test_find_learning_rate_offers_suggestions_that_set_the_rate():
    config = Config(problem="digits-mlp", optimizer="Adam", learning_rate=0.05, steps=300)
    explorer = Explorer(config, backend="png")
    result = explorer.find_learning_rate()
    assert set(result.suggestions) == {"steepest", "valley", "minimum_over_10"}
    for rate in result.suggestions.values():
        assert 1e-4 <= rate <= 1e-1
    assert "range test suggests" in explorer.message.value
    assert bytes(explorer.lr_finder.image.value[:4]) == b"\x89PNG"
    buttons = explorer.lr_finder.choices.children
    valley = next(b for b in buttons if "valley" in b.description)
    valley.click()
    chosen = float(f"{result.suggestions['valley']:.3g}")
    assert explorer.config.learning_rate == chosen
    assert explorer.panel.value("learning_rate") == pytest.approx(chosen)
    explorer.close()
    assert explorer.lr_finder.widget.comm is None and valley.comm is None


def test_find_learning_rate_waits_for_invalid_settings():
    explorer = Explorer(Config(problem="quadratic", optimizer="SGD"), backend="png")
    explorer.panel.learning_rate_text.value = -1.0
    assert explorer.find_learning_rate() is None  # refused, and said at the message
    assert "cannot test while settings are invalid: learning_rate" in explorer.message.value
    assert explorer.lr_finder.result is None
