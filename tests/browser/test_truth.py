"""The figure in the browser is the kernel's figure: after each step of a scripted session in
JupyterLab and in Voilà, the ipympl canvas's pixels equal ``explorer.figure.rendered()`` (the
figure drawn whole by matplotlib in the kernel) within tests/browser/truth.py's tolerance.

The session: Play ~3 s, a new learning rate typed while playing, Pause, Step ×3, a replay step
marked, Reset, a
preset, the problem switched to digits-mlp, log y, a run deleted, a 20,000-step run finished.
The notebook is ``truth.ipynb`` (conftest): the explorer notebook with a hidden hook that saves
``rendered()`` on demand. For each step, test-artifacts/browser/truth-<app>/ gets a screenshot
of the page and, when they differ, the browser's canvas, the kernel's figure and their
difference. The browser's frame rate while playing is printed (``frames/s``).
"""

from __future__ import annotations

import base64
import io
import re
import time

import numpy as np
import pytest
from PIL import Image

from olexplore.problems import problem_class
from tests.browser.helpers import ExplorerView, run_all_in_lab, wait_until
from tests.browser.truth import TOLERANCE, TRUTH_CLASS, differing_share

pytestmark = pytest.mark.browser

LONG_RUN, FINISHED_RUN = 1_000_000, 20_000
REPLAY_STEP = 40  # marked on the paused Rosenbrock run (and its contour)
NEW_RATE = "0.002"
PRESET = "learning rate too high diverges"  # two short quadratic runs, the second diverges
SETTLED_SECONDS = 1.5  # no frame for this long and not "running": the last frame is out
FRAME_SECONDS = 8.0  # how long a last frame may take to arrive and show


class Truth:
    """Compares the page's canvas with the kernel's figure, step by step."""

    def __init__(self, browser, explorer: ExplorerView, truth_dir) -> None:
        self.browser, self.explorer, self.truth_dir = browser, explorer, truth_dir
        self.page = browser.page
        self.shares: dict[str, float] = {}
        self.page.locator(f".{TRUTH_CLASS}").wait_for(state="attached")

    def settle(self) -> None:
        """Wait until nothing trains: the status line does not say "running" and no frame has
        come for a while (a preset's runs train one after the other behind the status line)."""
        deadline = time.monotonic() + 300
        while True:
            running = self.explorer.status_text().rstrip().endswith("running")
            last_frame = self.browser.frames[-1] if self.browser.frames else 0.0
            if not running and time.monotonic() - last_frame >= SETTLED_SECONDS:
                return
            assert time.monotonic() < deadline, f"still training: {self.explorer.status_text()!r}"
            self.browser.sleep(0.1)

    def kernel_figure(self) -> np.ndarray:
        """Ask the hook for ``explorer.figure.rendered()``; the saved RGB pixels."""
        label = f".{TRUTH_CLASS} .widget-label"
        read = f"() => document.querySelector('{label}').textContent"
        before = self.page.evaluate(read)
        self.page.evaluate(f"() => document.querySelector('.{TRUTH_CLASS} button').click()")
        name = wait_until(
            self.page,
            lambda: (text := self.page.evaluate(read)) != before and text,
            30,
            "the kernel saved its figure (the hook's label names the file)",
        )
        path = self.truth_dir / name
        wait_until(self.page, path.is_file, 10, f"{path} exists")
        return np.asarray(Image.open(path).convert("RGB"))

    def browser_canvas(self) -> np.ndarray:
        url = self.explorer.canvas_image()
        data = base64.b64decode(url.split(",", 1)[1])
        return np.asarray(Image.open(io.BytesIO(data)).convert("RGB"))

    def check(self, step: str) -> None:
        """After ``step``: settle, then the canvas equals the kernel's figure."""
        self.settle()
        kernel = self.kernel_figure()
        deadline = time.monotonic() + FRAME_SECONDS
        while True:
            shown = self.browser_canvas()
            share = differing_share(shown, kernel)
            if share < TOLERANCE or time.monotonic() > deadline:
                break
            self.browser.sleep(0.25)
        self.shares[step] = share
        self.browser.screenshot(step)
        if share >= TOLERANCE:
            folder = self.browser.folder
            Image.fromarray(shown).save(folder / f"{step}-browser.png")
            Image.fromarray(kernel).save(folder / f"{step}-kernel.png")
            if shown.shape == kernel.shape:
                diff = (np.abs(shown.astype(int) - kernel.astype(int)).max(axis=2) > 16) * 255
                Image.fromarray(diff.astype(np.uint8)).save(folder / f"{step}-difference.png")
        assert share < TOLERANCE, (
            f"after {step!r} the browser's canvas ({shown.shape[1]}x{shown.shape[0]}) differs "
            f"from the kernel's figure ({kernel.shape[1]}x{kernel.shape[0]}) in {share:.2%} of "
            f"its pixels (tolerance {TOLERANCE:.1%}); see {self.browser.folder}"
        )


def frame_rate(browser, seconds: float) -> float:
    """Frames per second the page received from the ipympl canvas over ``seconds``."""
    begun, start = len(browser.frames), time.monotonic()
    browser.sleep(seconds)
    return (len(browser.frames) - begun) / (time.monotonic() - start)


def run_sequence(truth: Truth, explorer: ExplorerView) -> None:
    page = truth.page
    truth.check("start")
    explorer.type_number(explorer.steps, str(LONG_RUN))
    explorer.button("Play").click()
    explorer.wait_for_step_above(explorer.step())
    page.wait_for_timeout(1500)
    rate = frame_rate(truth.browser, 3.0)  # Play ~3 s (and more)
    print(f"\nipympl frames the browser received while playing: {rate:.1f} frames/s")
    explorer.type_number(explorer.learning_rate, NEW_RATE)  # while playing
    wait_until(
        page,
        lambda: NEW_RATE in explorer.message_text() or "learning" in explorer.message_text(),
        10,
        lambda: f"the message mentions the new rate (message: {explorer.message_text()!r})",
    )
    page.wait_for_timeout(1000)
    explorer.button("Pause").click()
    truth.check("paused")
    for index in range(3):
        before = explorer.step()
        explorer.button("Step").click()
        explorer.wait_for_step_above(before)
        truth.check(f"step-{index + 1}")
    explorer.set_replay_step(REPLAY_STEP)  # each run's point after that many steps, marked
    page.wait_for_timeout(500)
    truth.check("replay")
    explorer.button("Reset").click()
    wait_until(page, lambda: explorer.step() == 0, 20, "Reset brings the step counter to 0")
    truth.check("reset")
    presets = explorer.root.locator("select", has=page.locator("option", has_text="Presets…"))
    presets.select_option(label=PRESET)
    wait_until(
        page,
        lambda: PRESET in explorer.message_text(),
        20,
        lambda: f"the preset's note shows (message: {explorer.message_text()!r})",
    )
    page.wait_for_timeout(1000)  # its runs start one after the other
    truth.check("preset")
    title = problem_class("digits-mlp").title  # what the problem dropdown shows
    problems = explorer.root.locator("select", has=page.locator("option", has_text=title))
    problems.select_option(label=title)
    wait_until(
        page,
        lambda: "digits" in explorer.message_text().lower() or explorer.step() == 0,
        30,
        lambda: f"the problem changes (message: {explorer.message_text()!r})",
    )
    page.wait_for_timeout(1000)
    truth.check("digits-mlp")
    explorer.root.locator(".widget-checkbox", has_text="log learning rate").locator("input").click()
    page.wait_for_timeout(500)
    truth.check("log-y")
    rows = len(explorer.rows())
    explorer.table.locator("button:has(i.fa-trash)").first.click()
    wait_until(page, lambda: len(explorer.rows()) == rows - 1, 20, "the run's row goes")
    truth.check("deleted")
    explorer.type_number(explorer.steps, str(FINISHED_RUN))
    page.wait_for_timeout(1000)
    explorer.button("Play").click()
    wait_until(
        page,
        lambda: re.search(rf"step {FINISHED_RUN}/{FINISHED_RUN}\b", explorer.status_text()),
        300,
        lambda: f"the run finishes (status: {explorer.status_text()!r})",
    )
    truth.check("finished")
    print(" ".join(f"{step} {share:.3%}" for step, share in truth.shares.items()))


def test_lab_canvas_equals_the_kernels_figure_at_every_step(jupyter_lab, open_page, truth_dir):
    browser = open_page("truth-lab")
    explorer = run_all_in_lab(browser, jupyter_lab, "truth.ipynb")
    try:
        run_sequence(Truth(browser, explorer, truth_dir), explorer)
    finally:
        browser.save_console()
        browser.page.close()


def test_voila_canvas_equals_the_kernels_figure_at_every_step(voila_truth, open_page, truth_dir):
    browser = open_page("truth-voila")
    page = browser.page
    try:
        page.goto(voila_truth, timeout=120_000)
        page.get_by_text("closer to the minimum").wait_for(timeout=120_000)
        explorer = ExplorerView(page)
        explorer.status.wait_for(timeout=60_000)
        explorer.canvas.wait_for(timeout=60_000)
        browser.screenshot("rendered")
        run_sequence(Truth(browser, explorer, truth_dir), explorer)
    finally:
        browser.save_console()
        page.close()
