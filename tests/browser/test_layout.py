"""The explorer's layout holds in a real browser (olexplore.ui.layout): in JupyterLab at
1600×1000 with the file browser open and in Voilà at 1280×800 the whole figure, the control
panel and the run table's first columns are on screen; at 900 px wide the panel stacks over
the figure; a 2,000-character message moves nothing; an invalid value is marked at its field,
Play is refused while it is, and the panel says the field's own message.

Each app's tests share one page and run in order (the narrow screen last). Boxes are measured
with ``getBoundingClientRect`` in CSS pixels; positions that must not move are measured from
the explorer's own top-left corner, so scrolling the page changes nothing. Screenshots:
test-artifacts/browser/layout-lab/ and layout-voila/.
"""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
from playwright.sync_api import Locator
from playwright.sync_api import TimeoutError as PlaywrightTimeout

from olexplore.ui.layout import FIGURE_INCHES
from tests.browser.helpers import BrowserPage, ExplorerView, run_all_in_lab, wait_until

pytestmark = pytest.mark.browser

VIEWPORTS = {"lab": (1600, 1000), "voila": (1280, 800)}
NARROW = (900, 1000)
# Settings JSON with two unknown keys of 1,000 characters each: Load config refuses it with a
# message that names both (> 2,000 characters, two words that no line can hold).
LONG_JSON = json.dumps({"a" * 1000: 1, "b" * 1000: 2})
SLACK = 1.0  # px: what "unchanged" allows (sub-pixel rounding)

# Boxes (CSS px, viewport coordinates) of what the layout must keep on screen.
GEOMETRY = """(root) => {
    const box = (element) => {
        if (!element) return null;
        const r = element.getBoundingClientRect();
        return {left: r.left, right: r.right, top: r.top, bottom: r.bottom,
                width: r.width, height: r.height};
    };
    const one = (selector) => root.querySelector(selector);
    const play = [...root.querySelectorAll('button.widget-button')]
        .find((button) => button.textContent.trim() === 'Play');
    const cells = root.querySelectorAll('.olexplore-run-table > *');
    const message = one('.olexplore-message');
    const output = root.closest('.jp-OutputArea-output');
    return {
        root: box(root),
        panel: box(one('.olexplore-panel')),
        column: box(one('.olexplore-column')),
        play: box(play),
        figure: box(one('.jupyter-matplotlib')),
        canvas: box(one('.jupyter-matplotlib canvas')),
        table: box(one('.olexplore-run-table')),
        table_scroll: one('.olexplore-run-table').scrollWidth,
        first_cell: box(cells[0]),
        run_cell: box(cells[1]),
        message: box(message),
        message_scroll: message ? [message.scrollHeight, message.clientHeight] : null,
        canvas_pixels: (({width, height}) => [width, height])(one('.jupyter-matplotlib canvas')),
        ratio: window.devicePixelRatio,
        output: box(output),
        viewport: {left: 0, top: 0, right: document.documentElement.clientWidth,
                   bottom: document.documentElement.clientHeight},
    };
}"""


def geometry(explorer: ExplorerView) -> dict[str, Any]:
    return explorer.root.evaluate(GEOMETRY)


def relative(geo: dict[str, Any], name: str) -> tuple[float, float]:
    """Where ``name``'s top-left corner is, from the explorer's top-left corner."""
    return geo[name]["left"] - geo["root"]["left"], geo[name]["top"] - geo["root"]["top"]


def inside(inner: dict[str, float], outer: dict[str, float], horizontally_only=True) -> bool:
    sides = ("left", "right") if horizontally_only else ("left", "right", "top", "bottom")
    return all(
        (inner[s] >= outer[s] - SLACK) if s in ("left", "top") else (inner[s] <= outer[s] + SLACK)
        for s in sides
    )


def widths(geo: dict[str, Any]) -> str:
    """The measured widths, for the test log (and the layout's constants)."""
    parts = [f"viewport {geo['viewport']['right']:.0f}"]
    if geo["output"]:
        parts.append(
            f"output area {geo['output']['width']:.0f} (right {geo['output']['right']:.0f})"
        )
    parts += [
        f"explorer {geo['root']['width']:.0f}",
        f"panel {geo['panel']['width']:.0f}",
        f"column {geo['column']['width']:.0f}",
        f"figure widget {geo['figure']['width']:.0f}",
        f"canvas {geo['canvas']['width']:.0f} (right {geo['canvas']['right']:.0f})",
        f"run table {geo['table']['width']:.0f} (content {geo['table_scroll']})",
    ]
    return ", ".join(parts)


@pytest.fixture(scope="module", params=["lab", "voila"])
def app(request, open_page):
    """The explorer on a page: JupyterLab after Run All Cells (file browser open) at
    1600×1000, or the Voilà app at 1280×800."""
    name = request.param
    browser = open_page(f"layout-{name}")
    width, height = VIEWPORTS[name]
    browser.page.set_viewport_size({"width": width, "height": height})
    if name == "lab":
        explorer = run_all_in_lab(browser, request.getfixturevalue("jupyter_lab"), "explorer.ipynb")
    else:
        explorer = _open_voila(browser, request.getfixturevalue("voila"))
    explorer.canvas.wait_for()
    wait_until(browser.page, lambda: explorer.canvas_size()[0] > 0, 30, "the canvas has a size")
    try:
        yield name, browser, explorer
    finally:
        browser.save_console()
        browser.page.close()


def _open_voila(browser: BrowserPage, url: str) -> ExplorerView:
    page = browser.page
    try:
        page.goto(url, timeout=120_000)
        page.get_by_text("closer to the minimum").wait_for(timeout=120_000)
        explorer = ExplorerView(page)
        explorer.status.wait_for(timeout=30_000)
        browser.screenshot("rendered")
        return explorer
    except (PlaywrightTimeout, AssertionError):
        browser.screenshot("setup-failed")
        browser.save_console()
        page.close()
        raise


def test_the_whole_figure_the_panel_and_the_run_table_are_on_screen(app):
    """Lab at 1600×1000 with the file browser open, Voilà at 1280×800: the canvas (the
    Rosenbrock contour and its minimum at its right) ends inside the output area and the
    viewport; the panel and the run table's first columns are inside the viewport."""
    name, browser, explorer = app
    page = browser.page
    if name == "lab":
        assert page.locator("#filebrowser").is_visible(), "the file browser is not open"
        assert page.locator("#filebrowser").bounding_box()["width"] > 150
    assert explorer.status_text().rstrip().endswith("finished")  # the notebook's Rosenbrock run
    assert "minimum at (1, 1)" in explorer.root.locator(".olexplore-panel").inner_text()
    explorer.table.scroll_into_view_if_needed()
    geo = geometry(explorer)
    print(f"\n{name} {VIEWPORTS[name]}: {widths(geo)}")
    browser.screenshot("fits")
    viewport = geo["viewport"]
    where = geo["output"] or viewport
    assert inside(geo["canvas"], where) and inside(geo["canvas"], viewport), (
        f"the figure is cut: canvas {geo['canvas']}, output area {geo['output']}, "
        f"viewport {viewport}"
    )
    assert inside(geo["panel"], viewport), f"panel {geo['panel']}, viewport {viewport}"
    # the kernel's figure size, shown pixel for pixel: no CSS scaling of the canvas
    assert geo["canvas_pixels"][0] == round(FIGURE_INCHES * 100 * geo["ratio"])
    css = [geo["canvas"]["width"] * geo["ratio"], geo["canvas"]["height"] * geo["ratio"]]
    assert css == geo["canvas_pixels"], f"the canvas is scaled: {css} px for {geo['canvas_pixels']}"
    assert inside(geo["table"], geo["column"]), "the run table is wider than its column"
    for cell in ("first_cell", "run_cell"):
        assert inside(geo[cell], where) and inside(geo[cell], viewport), (
            f"the run table's {cell} {geo[cell]} is off screen ({where})"
        )


def test_a_long_message_moves_nothing(app):
    """Load config with a 2,000-character refusal: the message scrolls in its reserved
    height; the panel keeps its width; Play, the message and the figure stay where they were;
    the column does not get wider."""
    name, browser, explorer = app
    page = browser.page
    before = geometry(explorer)
    page.get_by_text("settings (JSON)", exact=True).click()
    section = explorer.root.locator(".jupyter-widget-Collapse", has_text="settings (JSON)")
    box = section.locator("textarea")
    box.fill(LONG_JSON)
    explorer.button("Load config").click()
    text = wait_until(
        page,
        lambda: "unknown key" in (t := explorer.message_text()) and t,
        10,
        lambda: f"the message refuses the settings (message: {explorer.message_text()[:200]!r})",
    )
    assert len(text) > 2000, len(text)
    after = geometry(explorer)
    print(f"\n{name}: message {before['message']['height']:.1f} px high; {widths(after)}")
    explorer.message.scroll_into_view_if_needed()
    browser.screenshot("long-message")
    assert abs(after["panel"]["width"] - before["panel"]["width"]) <= SLACK, (
        before["panel"],
        after["panel"],
    )
    for part in ("play", "message", "canvas", "panel"):
        moved = [
            abs(a - b) for a, b in zip(relative(after, part), relative(before, part), strict=True)
        ]
        assert max(moved) <= SLACK, f"{part} moved by {moved} px when the message appeared"
    assert abs(after["message"]["height"] - before["message"]["height"]) <= SLACK
    assert abs(after["root"]["width"] - before["root"]["width"]) <= SLACK
    scroll_height, client_height = after["message_scroll"]
    assert scroll_height > client_height, "the long message does not scroll in its area"
    assert abs(after["column"]["width"] - before["column"]["width"]) <= SLACK
    assert after["message"]["right"] <= after["column"]["right"] + SLACK  # not widened
    box.fill("")  # leave the settings box empty


def _field_message(control: Locator) -> str:
    """The message the panel shows under the field of ``control`` (without its warning sign):
    the last HTML widget of the field's row."""
    row = control.locator("xpath=ancestor::div[contains(@class, 'widget-vbox')][1]")
    return row.locator(":scope > .widget-html").last.inner_text().lstrip("⚠ ").strip()


def test_an_invalid_value_is_marked_at_its_field_and_play_is_refused(app):
    """A learning rate of -1: its control gets ``olexplore-invalid`` and a red box, the
    panel's message is the field's message, and Play is refused (the step counter stays)."""
    name, browser, explorer = app
    page = browser.page
    step = explorer.step()
    explorer.type_number(explorer.learning_rate, "-1")
    wait_until(
        page,
        lambda: explorer.message_text().startswith("learning_rate: got -1"),
        10,
        lambda: f"the message names the learning rate (message: {explorer.message_text()!r})",
    )
    # the learning rate's slider and the box of its exact value beside it, nothing else
    marked = explorer.root.locator(".olexplore-panel .olexplore-invalid")
    kinds = sorted(
        marked.evaluate_all(
            "es => es.map(e => e.classList.contains('widget-slider') ? 'slider'"
            " : e.querySelector('input') ? 'box' : 'other')"
        )
    )
    assert kinds == ["box", "slider"], f"marked invalid: {kinds}"
    assert explorer.learning_rate.evaluate("e => !!e.closest('.olexplore-invalid')")
    border = explorer.learning_rate.evaluate("e => getComputedStyle(e).borderTopColor")
    assert border == "rgb(176, 0, 32)", f"the learning-rate box is not red: {border}"
    field = _field_message(explorer.learning_rate)
    assert explorer.message_text() == field, (explorer.message_text(), field)
    assert field == "learning_rate: got -1.0 (float); accepted: a number >= 0."
    browser.screenshot("invalid-learning-rate")

    explorer.button("Play").click()
    wait_until(
        page,
        lambda: explorer.message_text().startswith("cannot train while settings are invalid"),
        10,
        lambda: f"Play is refused (message: {explorer.message_text()!r})",
    )
    browser.sleep(1.5)
    assert explorer.step() == step, "Play trained with an invalid learning rate"
    assert explorer.message_text() == f"cannot train while settings are invalid: {field}"
    browser.screenshot("play-refused")

    explorer.type_number(explorer.learning_rate, "0.05")
    wait_until(
        page,
        lambda: explorer.root.locator(".olexplore-invalid").count() == 0,
        10,
        "the mark goes once the value is valid again",
    )


def test_an_invalid_seed_says_the_fields_message(app):
    """Seed -1: the panel says the seed field's message (never TensorFlow's "Seed must be
    between ..."), marked at the seed box."""
    name, browser, explorer = app
    page = browser.page
    seed = explorer.root.get_by_label("seed", exact=True)
    explorer.type_number(seed, "-1")
    expected = "seed: got -1 (int); accepted: an integer from 0 to 4294967295."
    wait_until(
        page,
        lambda: explorer.message_text() == expected,
        10,
        lambda: f"the message is the seed's (message: {explorer.message_text()!r})",
    )
    assert "Seed must be between" not in explorer.root.inner_text()
    marked = explorer.root.locator(".olexplore-panel .olexplore-invalid")
    assert marked.count() == 1 and marked.first.locator("input").count() == 1
    assert _field_message(seed) == expected
    browser.screenshot("invalid-seed")
    explorer.type_number(seed, "0")
    wait_until(
        page,
        lambda: explorer.root.locator(".olexplore-invalid").count() == 0,
        10,
        "the seed's mark goes",
    )


def test_a_narrow_screen_stacks_the_panel_over_the_figure(app):
    """At 900 px wide (Lab with the file browser closed) the panel is above the figure and
    nothing is cut: the canvas, the panel and the run table's first columns are on screen."""
    name, browser, explorer = app
    page = browser.page
    if name == "lab" and page.locator("#filebrowser").is_visible():
        page.locator(".jp-SideBar .lm-TabBar-tab[data-id='filebrowser']").click()
        wait_until(page, lambda: not page.locator("#filebrowser").is_visible(), 10, "closed")
    page.set_viewport_size({"width": NARROW[0], "height": NARROW[1]})
    browser.sleep(1.0)
    # the panel's last rows at the middle of the screen, the column's top below them
    explorer.root.get_by_label("seed", exact=True).evaluate(
        "e => e.scrollIntoView({block: 'center'})"
    )
    geo = geometry(explorer)
    print(f"\n{name} {NARROW}: {widths(geo)}")
    browser.screenshot("narrow")
    assert geo["panel"]["bottom"] <= geo["canvas"]["top"] + SLACK, (geo["panel"], geo["canvas"])
    viewport = geo["viewport"]
    where = geo["output"] or viewport
    for part in ("canvas", "panel", "first_cell", "run_cell"):
        assert inside(geo[part], where) and inside(geo[part], viewport), (
            f"{part} {geo[part]} is cut (output area {geo['output']}, viewport {viewport})"
        )
    explorer.table.scroll_into_view_if_needed()
    browser.screenshot("narrow-table")
    assert re.search(r"step \d+/", explorer.status_text())
