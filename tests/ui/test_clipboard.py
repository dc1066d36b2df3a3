"""Copy as code: the page holds the code of the current settings ahead of the click, escaped,
and the button's handler is fixed text that never contains what a user typed."""

import html
import re

from olexplore.runs import Config
from olexplore.runs.export import as_code
from olexplore.ui.clipboard import CopyButton
from olexplore.ui.explorer import Explorer

PAYLOAD = '</textarea><img src=x onerror="alert(1)"><script>alert(2)</script>\'"'


def test_the_text_is_escaped_data_and_the_handler_never_changes():
    button = CopyButton("Copy as code", 'a "tooltip"')
    empty = button.widget.value
    button.text = PAYLOAD
    value = button.widget.value
    assert "<img" not in value and "<script>" not in value and "</textarea><img" not in value
    (hidden,) = re.findall(r"<textarea hidden readonly>(.*?)</textarea>", value, re.S)
    assert html.unescape(hidden) == PAYLOAD  # what the browser's textarea.value gives back
    handler = re.search(r'onclick="([^"]*)"', value).group(1)
    assert handler == re.search(r'onclick="([^"]*)"', empty).group(1)
    assert "alert" not in handler and "navigator.clipboard.writeText(text)" in handler
    assert 'title="a &quot;tooltip&quot;"' in value


def test_the_explorer_keeps_the_code_of_its_current_settings():
    config = Config(problem="quadratic", optimizer="SGD", learning_rate=0.1, steps=20)
    explorer = Explorer(config, backend="png")
    assert explorer.copy_code.text == as_code(config)
    explorer.panel.learning_rate_text.value = 0.05  # a live edit
    assert explorer.copy_code.text == as_code(explorer.config)
    assert "0.05" in explorer.copy_code.text
    explorer.panel.optimizer.value = "Adam"  # a reset
    assert "'Adam'" in explorer.copy_code.text or '"Adam"' in explorer.copy_code.text
    assert explorer.show_code() == explorer.copy_code.text
    explorer.close()
    assert explorer.copy_code.widget.comm is None
