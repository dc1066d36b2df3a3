"""The explorer notebook as a Voilà app in Chromium: the explorer without code, Play, Pause.

The tests share one page and run in order. Screenshots: test-artifacts/browser/voila/.
"""

import re

import pytest
from playwright.sync_api import TimeoutError as PlaywrightTimeout

from olexplore.runs.export import as_code
from tests.browser.helpers import (
    ExplorerView,
    check_copy_as_code,
    pause_while_playing,
    wait_until,
)
from tests.browser.test_explorer_lab import NOTEBOOK_CONFIG

pytestmark = pytest.mark.browser

LONG_RUN = 1_000_000


@pytest.fixture(scope="module")
def app(voila, open_page):
    """The Voilà page once the notebook has run and the explorer is shown."""
    browser = open_page("voila")
    page = browser.page
    try:
        page.goto(voila, timeout=120_000)
        explorer = ExplorerView(page)
        # every cell has run once the last one's output is there; then the widgets render
        page.get_by_text("closer to the minimum").wait_for(timeout=120_000)
        try:
            explorer.status.wait_for(timeout=30_000)
        except PlaywrightTimeout:
            browser.screenshot("not-rendered")
            loading = page.get_by_text("Loading widget").count()
            pytest.fail(
                f"Voilà ran the notebook but shows no explorer ({loading} 'Loading widget...' "
                "left). Console and kernel errors:\n" + "\n".join(browser.errors()[-10:]),
                pytrace=False,
            )
        browser.screenshot("rendered")
    except BaseException:
        browser.save_console()
        page.close()
        raise
    try:
        yield browser, explorer
    finally:
        browser.save_console()
        page.close()


def test_voila_renders_the_explorer_without_code(app):
    browser, explorer = app
    page = browser.page
    assert explorer.root.count() == 1
    code = ".jp-CodeCell .jp-Cell-inputWrapper, .jp-InputPrompt, .cm-editor, .CodeMirror"
    assert page.locator(code).count() == 0
    assert "from olexplore import Explorer" not in page.locator("body").inner_text()
    for name in ("Play", "Pause", "Step", "Reset", "Keep run"):
        assert explorer.button(name).is_visible(), name


def test_voila_copy_as_code_puts_the_kernels_code_on_the_clipboard(app):
    browser, explorer = app
    said = check_copy_as_code(browser, explorer, as_code(NOTEBOOK_CONFIG))
    assert "copied" in said


def test_voila_play_advances_the_step_counter(app):
    browser, explorer = app
    explorer.type_number(explorer.steps, str(LONG_RUN))
    wait_until(
        browser.page,
        lambda: re.search(
            rf"steps \S+ → {re.escape(f'{LONG_RUN:g}')}|changing steps", explorer.message_text()
        ),
        10,
        lambda: f"the message mentions the new steps (message: {explorer.message_text()!r})",
    )
    start = explorer.step()
    explorer.button("Play").click()
    first = explorer.wait_for_step_above(start)
    explorer.wait_for_step_above(first)
    assert f"/{LONG_RUN}" in explorer.status_text()
    assert explorer.status_text().rstrip().endswith("running")
    browser.screenshot("playing")


def test_voila_figure_redraws_while_playing(app):
    browser, explorer = app
    explorer.ensure_playing()
    width, height = explorer.canvas_size()
    assert width > 0 and height > 0, (
        f"the ipympl canvas is {width}×{height} px: the figure is not visible. Console:\n"
        + "\n".join(browser.errors()[-10:])
    )
    before = explorer.canvas_image()
    wait_until(
        browser.page,
        lambda: explorer.canvas_image() != before,
        10,
        "the canvas image changes while training",
    )
    browser.screenshot("canvas-redrawn")


def test_voila_pause_stops_the_step_counter(app):
    browser, explorer = app
    latency, shown = pause_while_playing(browser, explorer)
    print(
        f"\nVoilà pause latency: last step increase {latency * 1000:.0f} ms after the click, "
        f"'paused' shown after {shown * 1000:.0f} ms"
    )
    assert latency < 5.0
