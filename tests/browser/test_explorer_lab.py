"""The explorer notebook in JupyterLab, driven in Chromium as a person would: Run All Cells,
Play, a new learning rate while it plays, Pause, Keep run and a second run.

The tests share one page and run in order (each makes sure of what it needs first: a long
run, training or not). Screenshots: test-artifacts/browser/lab/.
"""

import re
import time

import pytest

from olexplore.runs import Config
from olexplore.runs.export import as_code
from tests.browser.helpers import (
    check_copy_as_code,
    pause_while_playing,
    run_all_in_lab,
    wait_until,
)

pytestmark = pytest.mark.browser

LONG_RUN = 1_000_000  # steps: the default 500 take well under a second on Rosenbrock
FIRST_RATE, SECOND_RATE = "0.02", "0.002"  # on the log slider's grid after rounding to 3 digits
# The line panels (loss, learning rate, global norm) on the canvas: below the title and legend
# (which show every run's colour), left of the contour panel (whose levels are coloured too).
LINE_PANELS = (0.0, 0.15, 0.55, 1.0)


@pytest.fixture(scope="module")
def lab(jupyter_lab, open_page):
    """The notebook open in JupyterLab after Run → Run All Cells, its explorer shown."""
    browser = open_page("lab")
    explorer = run_all_in_lab(browser, jupyter_lab, "explorer.ipynb")
    try:
        yield browser, explorer
    finally:
        browser.save_console()
        browser.page.close()


def test_run_all_shows_one_explorer_with_the_notebooks_finished_run(lab):
    """The last cell sets 0.05 and trains 200 steps with explorer.run(): the explorer shows
    that run, finished, and the settings it was given (nothing changed them since)."""
    browser, explorer = lab
    assert explorer.root.count() == 1
    browser.sleep(1.0)  # let any late widget message arrive
    seen = {
        "status": explorer.status_text(),
        "message": explorer.message_text(),
        "learning-rate box": explorer.learning_rate.input_value(),
    }
    assert (
        re.search(r"step 200/200\b.*finished", seen["status"])
        and seen["learning-rate box"] == "0.05"
        and not re.search(r"applied live|resets the run", seen["message"])
    ), f"after Run All the explorer shows {seen}"


#: The settings the notebook's last cell gives the explorer.
NOTEBOOK_CONFIG = Config(problem="rosenbrock", optimizer="Adam", learning_rate=0.05, steps=200)


def test_copy_as_code_puts_the_kernels_code_on_the_clipboard_and_shows_it(lab):
    browser, explorer = lab
    expected = as_code(NOTEBOOK_CONFIG)
    said = check_copy_as_code(browser, explorer, expected)
    assert f"copied {len(expected.splitlines())} lines" in said


def test_play_advances_the_step_counter_and_redraws_the_canvas(lab):
    browser, explorer = lab
    explorer.type_number(explorer.steps, str(LONG_RUN))
    wait_until(  # a live change ("applied live … steps 200 → 1e+06") or a reset
        browser.page,
        lambda: re.search(
            rf"steps \S+ → {re.escape(f'{LONG_RUN:g}')}|changing steps", explorer.message_text()
        ),
        10,
        lambda: f"the message mentions the new steps (message: {explorer.message_text()!r})",
    )
    start = explorer.step()
    before = explorer.canvas_image()
    browser.screenshot("before-play")

    explorer.button("Play").click()
    first = explorer.wait_for_step_above(start)
    explorer.wait_for_step_above(first)  # and keeps counting
    assert f"/{LONG_RUN}" in explorer.status_text()
    browser.screenshot("playing")

    width, height = explorer.canvas_size()
    assert width > 0 and height > 0, (
        f"the ipympl canvas is {width}×{height} px: the figure is not visible. Console:\n"
        + "\n".join(browser.errors()[-10:])
    )
    wait_until(
        browser.page,
        lambda: explorer.canvas_image() != before,
        10,
        "the canvas image changes while training",
    )
    browser.screenshot("canvas-redrawn")


def test_learning_rate_changes_live_while_playing(lab):
    browser, explorer = lab
    explorer.ensure_playing()
    rows = len(explorer.rows())
    before = explorer.step()

    explorer.type_number(explorer.learning_rate, FIRST_RATE)
    message = wait_until(
        browser.page,
        lambda: "applied live" in (text := explorer.message_text()) and text,
        10,
        lambda: (
            f"the message says the learning rate was applied live (message: "
            f"{explorer.message_text()!r})"
        ),
    )
    assert re.search(rf"learning_rate \S+ → {re.escape(FIRST_RATE)}\b", message), message
    applied_at = int(re.search(r"at step (\d+)", message).group(1))
    assert applied_at >= before  # the running run took it: no reset to step 0

    steps = [explorer.step()]
    for _ in range(5):
        browser.sleep(0.3)
        steps.append(explorer.step())
    browser.screenshot("learning-rate-changed")
    assert steps == sorted(steps) and steps[-1] > applied_at, steps  # never back to 0
    assert explorer.status_text().rstrip().endswith("running")
    assert "resets the run" not in explorer.message_text()
    assert len(explorer.rows()) == rows
    assert explorer.learning_rate.input_value() == FIRST_RATE  # as typed, not re-rounded


def test_pause_stops_the_step_counter_quickly(lab):
    browser, explorer = lab
    latency, shown = pause_while_playing(browser, explorer)
    print(
        f"\nJupyterLab pause latency: last step increase {latency * 1000:.0f} ms after the "
        f"click, 'paused' shown after {shown * 1000:.0f} ms"
    )
    assert latency < 5.0


def test_keep_run_then_play_draws_both_runs(lab):
    browser, explorer = lab
    if explorer.step() == 0:
        explorer.ensure_playing()
    if not explorer.status_text().rstrip().endswith("paused"):
        explorer.button("Pause").click()
    kept_steps = wait_until(
        browser.page,
        lambda: explorer.status_text().rstrip().endswith("paused") and explorer.step(),
        10,
        "the first run is paused",
    )

    explorer.button("Keep run").click()
    wait_until(  # the rows come first, their numbers in the next widget messages
        browser.page,
        lambda: len(rows := explorer.rows()) == 2 and all(row["step"] for row in rows),
        10,
        lambda: f"the run table shows two runs (rows: {explorer.rows()})",
    )
    assert "kept" in explorer.message_text()
    kept, current = explorer.rows()
    assert int(kept["step"]) == kept_steps and "(current)" in current["run"]
    assert explorer.step() == 0

    explorer.type_number(explorer.learning_rate, SECOND_RATE)  # a second run that differs
    wait_until(
        browser.page,
        lambda: f"→ {SECOND_RATE}" in explorer.message_text(),
        10,
        lambda: f"the new learning rate is taken (message: {explorer.message_text()!r})",
    )
    colours = explorer.run_colours()
    assert len(colours) == 2 and colours[0] != colours[1], colours
    before = explorer.canvas_image()
    pixels_before = explorer.colour_pixels(colours, LINE_PANELS)
    assert pixels_before[0] > 200, f"the kept run {colours[0]} is not drawn: {pixels_before}"
    browser.screenshot("kept-first-run")

    explorer.button("Play").click()
    explorer.wait_for_step_above(2_000)
    kept, current = explorer.rows()
    assert int(kept["step"]) == kept_steps, "the kept run must not train on"
    assert f"lr {SECOND_RATE}" in current["differs"], current
    assert explorer.canvas_image() != before, "the canvas did not change for the second run"
    pixels = wait_until(
        browser.page,
        lambda: (
            (p := explorer.colour_pixels(colours, LINE_PANELS))[1] > max(200, 3 * pixels_before[1])
            and p
        ),
        10,
        lambda: (
            f"the second run's colour {colours[1]} is drawn (pixels of each run's colour: "
            f"{explorer.colour_pixels(colours, LINE_PANELS)}, before Play: {pixels_before})"
        ),
    )
    browser.screenshot("two-runs")
    print(
        f"\npixels of the runs' colours {colours} in the line panels: {pixels_before} "
        f"before Play, {pixels} after"
    )
    assert pixels[0] > 200, f"the kept run's trace {colours[0]} is gone: {pixels}"

    explorer.button("Pause").click()
    wait_until(
        browser.page,
        lambda: explorer.status_text().rstrip().endswith("paused"),
        10,
        "the second run is paused",
    )
    browser.screenshot("end")


def test_a_slow_pace_lets_a_person_watch_a_run(lab):
    """At 10 steps/s the step counter climbs by about ten a second, not thousands."""
    browser, explorer = lab
    if explorer.status_text().rstrip().endswith("running"):
        explorer.button("Pause").click()
        wait_until(
            browser.page,
            lambda: not explorer.status_text().rstrip().endswith("running"),
            10,
            "the run pauses",
        )
    pace = explorer.root.locator(
        "select", has=browser.page.locator("option", has_text="10 steps/s")
    )
    pace.select_option(label="10 steps/s")
    wait_until(
        browser.page,
        lambda: "(paced at 10/s)" in explorer.status_text(),
        10,
        lambda: f"the status line says the pace (status: {explorer.status_text()!r})",
    )
    before = explorer.step()
    explorer.button("Play").click()
    explorer.wait_for_step_above(before)
    begun, first = time.monotonic(), explorer.step()
    browser.sleep(3.0)
    taken, elapsed = explorer.step() - first, time.monotonic() - begun
    browser.screenshot("paced")
    explorer.button("Pause").click()
    pace.select_option(label="as fast as possible")
    # the schedule never runs ahead (+2: a step due at once, one shown late); the kernel may lag
    assert 5 <= taken <= 10 * elapsed + 2, (taken, elapsed)


def test_replay_plays_the_mark_along_the_runs(lab):
    """The ▶ of the replay row moves the replay step on its own, and the canvas follows."""
    browser, explorer = lab
    if explorer.status_text().rstrip().endswith("running"):
        explorer.button("Pause").click()
    readout = explorer.root.locator(".widget-slider", has_text="replay step").locator(
        ".widget-readout"
    )
    explorer.set_replay_step(0)
    before = explorer.canvas_image()
    explorer.root.locator(".widget-play button").first.click()  # ▶
    seen = [
        wait_until(
            browser.page,
            lambda: (value := int(readout.inner_text().replace(",", ""))) > 0 and value,
            10,
            "the replay step moves",
        )
    ]
    browser.sleep(1.0)
    seen.append(int(readout.inner_text().replace(",", "")))
    browser.screenshot("replaying")
    explorer.root.locator(".widget-play button").nth(1).click()  # ■ stops (and goes to 0)
    assert seen[1] > seen[0], seen
    wait_until(
        browser.page,
        lambda: explorer.canvas_image() != before,
        10,
        "the canvas shows the replay's mark",
    )


def test_find_learning_rate_then_use_a_suggestion(lab):
    """Find learning rate draws the range test; a suggestion's button sets the learning rate."""
    browser, explorer = lab
    if explorer.status_text().rstrip().endswith("running"):
        explorer.button("Pause").click()
    explorer.button("Find learning rate").click()
    choice = explorer.root.locator("button", has_text="use valley")
    choice.wait_for(timeout=120_000)
    assert "range test suggests" in explorer.message_text()
    finder_image = explorer.root.locator(".widget-image").last
    assert finder_image.bounding_box()["height"] > 100  # the curves are shown
    rate = re.search(r"use valley: (\S+)", choice.inner_text()).group(1)
    choice.click()
    wait_until(
        browser.page,
        lambda: float(explorer.learning_rate.input_value()) == float(rate),
        10,
        lambda: (
            f"the learning rate box says {rate} (it says {explorer.learning_rate.input_value()!r})"
        ),
    )
    browser.screenshot("learning-rate-found")
