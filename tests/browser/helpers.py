"""What the browser tests read and click on the explorer's page, in the words a person would use:
the status line ("step N/M · loss … · running"), the message under it, the buttons, the
learning-rate and steps boxes, the run table and the ipympl canvas."""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from playwright.sync_api import Locator, Page

STATUS = re.compile(r"step (\d+)/(\d+)")
KERNEL_ERROR_TYPE = re.compile(r'"msg_type": ?"error"')
KERNEL_ERROR = re.compile(r'"ename": ?"([^"]*)", ?"evalue": ?"((?:[^"\\]|\\.)*)"')
TABLE_COLUMNS = 9  # olexplore.ui.run_table.COLUMNS: swatch, run, differs, step, ..., delete


class BrowserPage:
    """A Playwright page that keeps its console messages and writes numbered screenshots and a
    console log into its own folder of test artefacts."""

    def __init__(self, page: Page, folder: Path) -> None:
        self.page = page
        self.folder = folder
        self.console: list[str] = []
        self.frames: list[float] = []  # when each ipympl frame came in (time.monotonic())
        self._shots = 0
        page.on("console", lambda m: self.console.append(f"console.{m.type}: {m.text}"))
        page.on("pageerror", lambda e: self.console.append(f"pageerror: {e}"))
        page.on(
            "requestfailed",
            lambda r: self.console.append(f"requestfailed: {r.url[:160]} ({r.failure})"),
        )
        page.on("websocket", self._watch_kernel)

    def _watch_kernel(self, websocket: Any) -> None:
        """Count ipympl's frames, and log the kernel's error replies (a traceback from a widget
        callback, or from a widget state the front end asked for): they show nowhere on the
        page."""

        def received(payload: str | bytes) -> None:
            if isinstance(payload, bytes) and b"comm_msg" in payload and b"binary" in payload:
                self.frames.append(time.monotonic())  # a figure frame (its PNG attached)
            text = payload.decode("utf-8", "replace") if isinstance(payload, bytes) else payload
            if KERNEL_ERROR_TYPE.search(text):
                for name, value in KERNEL_ERROR.findall(text):
                    self.console.append(f"kernel error: {name}: {value}")

        websocket.on("framereceived", received)

    def screenshot(self, step: str) -> Path:
        """Save the whole page as ``NN-step.png`` (and the console log so far)."""
        self._shots += 1
        path = self.folder / f"{self._shots:02d}-{step}.png"
        self.page.screenshot(path=path)
        self.save_console()
        return path

    def save_console(self) -> None:
        (self.folder / "console.log").write_text("\n".join(self.console) + "\n")

    def errors(self) -> list[str]:
        """Console errors, uncaught page errors, failed requests and kernel errors."""
        kinds = ("console.error", "pageerror", "requestfailed", "kernel error")
        return [line for line in self.console if line.startswith(kinds)]

    def sleep(self, seconds: float) -> None:
        self.page.wait_for_timeout(seconds * 1000)


def wait_until(
    page: Page,
    condition: Callable[[], Any],
    timeout: float,
    what: str | Callable[[], str],
    interval: float = 0.1,
) -> Any:
    """Poll ``condition`` until it returns something truthy (returned); fail saying ``what``
    was awaited (a callable is called then, to describe the page as it is at the timeout)."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            what = what() if callable(what) else what
            raise AssertionError(f"timed out after {timeout:g} s waiting until {what}")
        page.wait_for_timeout(interval * 1000)


def copy_as_code(browser: BrowserPage, explorer: ExplorerView) -> tuple[str, str, str]:
    """Click Copy as code as a person would; return the clipboard's text, the code the page
    then shows, and what the button says."""
    page = browser.page
    page.context.grant_permissions(["clipboard-read", "clipboard-write"])
    page.evaluate("() => navigator.clipboard.writeText('')")
    button = explorer.root.locator(".olexplore-copy button")
    button.click()
    wait_until(
        page,
        lambda: "copied" in button.inner_text() or "refused" in button.inner_text(),
        10,
        lambda: f"the button says what it did (it says {button.inner_text()!r})",
    )
    clipboard = page.evaluate("() => navigator.clipboard.readText()")
    shown = explorer.root.locator(".olexplore-copy pre")
    shown.wait_for(state="visible", timeout=5_000)
    return clipboard, shown.inner_text(), button.inner_text()


def check_copy_as_code(browser: BrowserPage, explorer: ExplorerView, expected: str) -> str:
    """Copy as code (see :func:`copy_as_code`): the clipboard and the code shown are
    ``expected``; return what the button says."""
    clipboard, shown, said = copy_as_code(browser, explorer)
    browser.screenshot("copied-as-code")
    assert clipboard == expected, f"the clipboard holds:\n{clipboard}"
    assert shown.strip() == expected.strip()
    return said


class ExplorerView:
    """The explorer widget (CSS class ``olexplore-explorer``) on a page."""

    def __init__(self, page: Page) -> None:
        self.page = page
        self.root = page.locator(".olexplore-explorer")
        self.status = self.root.locator(".widget-html", has_text=STATUS).first
        # the message is the HTML widget right after the status line (Explorer._layout)
        self.message = self.status.locator("xpath=following-sibling::div[1]")
        self.table = self.root.locator(".olexplore-run-table")
        self.canvas = self.root.locator(".jupyter-matplotlib canvas").first
        self.learning_rate = self.root.locator(
            ".widget-text:has(> label[title^='The exact learning rate']) input"
        )
        self.steps = self.root.get_by_label("steps", exact=True)

    # ----------------------------------------------------------------- reading
    def button(self, name: str) -> Locator:
        # by its text: the accessible name also holds the icon font's glyph
        label = re.compile(rf"^\s*{re.escape(name)}\s*$")
        return self.root.locator("button.widget-button", has_text=label)

    def status_text(self) -> str:
        return self.status.inner_text()

    def step(self) -> int:
        match = STATUS.search(self.status_text())
        assert match, f"no 'step N/M' in the status line {self.status_text()!r}"
        return int(match.group(1))

    def set_replay_step(self, step: int) -> None:
        """Type ``step`` into the replay slider's readout and press Enter, as a person would."""
        slider = self.root.locator(".widget-slider", has_text="replay step")
        readout = slider.locator(".widget-readout")
        readout.click()
        self.page.keyboard.press("Control+A")
        self.page.keyboard.type(str(step))
        self.page.keyboard.press("Enter")
        wait_until(
            self.page,
            lambda: readout.inner_text().strip() == str(step),
            10,
            lambda: f"the replay step reads {step} (it reads {readout.inner_text()!r})",
        )

    def message_text(self) -> str:
        return self.message.inner_text()

    def rows(self) -> list[dict[str, str]]:
        """The run table's rows (header left out) as ``{column: text}``."""
        cells = self.table.locator(":scope > *").all_inner_texts()
        names = ["swatch", "run", "differs", "step", "loss", "best", "status", "show", "delete"]
        rows = [cells[i : i + TABLE_COLUMNS] for i in range(0, len(cells), TABLE_COLUMNS)]
        return [dict(zip(names, (c.strip() for c in row), strict=True)) for row in rows[1:]]

    def run_colours(self) -> list[tuple[int, int, int]]:
        """Each row's colour, read from its swatch in the run table."""
        colours = self.table.locator("span[style*='background']").evaluate_all(
            "spans => spans.map(s => getComputedStyle(s).backgroundColor)"
        )
        return [tuple(int(v) for v in re.findall(r"\d+", c)[:3]) for c in colours]

    def canvas_size(self) -> tuple[int, int]:
        return tuple(self.canvas.evaluate("c => [c.width, c.height]"))

    def canvas_image(self) -> str:
        """The canvas pixels as a data URL (what the figure shows right now)."""
        return self.canvas.evaluate("c => c.toDataURL('image/png')")

    def colour_pixels(
        self, colours: list[tuple[int, int, int]], box: tuple[float, float, float, float]
    ) -> list[int]:
        """How many canvas pixels have each colour (± a little) inside ``box``, (left, top,
        right, bottom) as shares of the canvas."""
        return self.canvas.evaluate(
            """(canvas, [colours, box]) => {
                const {width, height} = canvas;
                if (!width || !height) return colours.map(() => 0);
                const [x0, y0] = [Math.floor(box[0] * width), Math.floor(box[1] * height)];
                const [x1, y1] = [Math.ceil(box[2] * width), Math.ceil(box[3] * height)];
                const data = canvas.getContext('2d').getImageData(x0, y0, x1 - x0, y1 - y0).data;
                const counts = colours.map(() => 0);
                for (let i = 0; i < data.length; i += 4) {
                    colours.forEach(([r, g, b], k) => {
                        if (Math.abs(data[i] - r) + Math.abs(data[i + 1] - g)
                            + Math.abs(data[i + 2] - b) <= 24) counts[k] += 1;
                    });
                }
                return counts;
            }""",
            [colours, list(box)],
        )

    # ----------------------------------------------------------------- acting
    def type_number(self, box: Locator, value: str) -> None:
        """Type into a number box and commit it as a person does (Enter)."""
        box.click()
        box.fill(value)
        box.press("Enter")

    def wait_for_step_above(self, step: int, timeout: float = 30.0) -> int:
        return wait_until(
            self.page,
            lambda: (s := self.step()) > step and s,
            timeout,
            lambda: f"the step counter passes {step} (status: {self.status_text()!r})",
        )

    def ensure_playing(self) -> int:
        """Click Play unless the run is already running; return a step seen while it runs."""
        if not self.status_text().rstrip().endswith("running"):
            self.button("Play").click()
        return self.wait_for_step_above(self.step())

    def watch_status(self) -> None:
        """Record in the page every change of the status line (``performance.now()``, step,
        text) and the moment of every click on Pause, without polling from the test."""
        self.status.evaluate(
            """(status) => {
                const read = () => {
                    const m = status.textContent.match(/step (\\d+)\\//);
                    return m ? Number(m[1]) : null;
                };
                const log = window.__olexplore = {changes: [], pauseClicks: [], texts: []};
                let last = read();
                if (window.__olexploreObserver) window.__olexploreObserver.disconnect();
                window.__olexploreObserver = new MutationObserver(() => {
                    const now = performance.now(), step = read();
                    log.texts.push([now, status.textContent]);
                    if (step !== last) { log.changes.push([now, step]); last = step; }
                });
                window.__olexploreObserver.observe(
                    status, {subtree: true, childList: true, characterData: true});
            }"""
        )
        self.button("Pause").evaluate(
            """(button) => {
                if (button.__olexploreWatched) return;
                button.__olexploreWatched = true;
                button.addEventListener(
                    'click', () => window.__olexplore.pauseClicks.push(performance.now()),
                    {capture: true});
            }"""
        )

    def watched(self) -> dict[str, Any]:
        return self.page.evaluate("() => window.__olexplore")

    def pause_latency(self) -> tuple[float, float]:
        """After :meth:`watch_status` and a click on Pause: seconds from the click to the last
        increase of the step counter (0 when none came after it), and to "paused" shown."""
        watched = self.watched()
        clicked = watched["pauseClicks"][-1]
        last_increase = max((t for t, _ in watched["changes"]), default=clicked)
        shown = [t for t, text in watched["texts"] if text.rstrip().endswith("paused")]
        paused = (shown[0] if shown else float("nan")) - clicked
        return max(0.0, last_increase - clicked) / 1000, paused / 1000


def pause_while_playing(browser: BrowserPage, explorer: ExplorerView) -> tuple[float, float]:
    """Click Pause during training, check the step counter stops; return the latencies.

    Returns ``(seconds from the click to the last step increase, seconds until "paused" shows)``.
    """
    explorer.ensure_playing()
    explorer.watch_status()
    explorer.wait_for_step_above(explorer.step())
    explorer.button("Pause").click()
    wait_until(
        browser.page,
        lambda: explorer.status_text().rstrip().endswith("paused"),
        10,
        lambda: f"the status says paused (status: {explorer.status_text()!r})",
    )
    first = explorer.step()
    browser.sleep(1.0)
    assert explorer.step() == first, "the step counter still moves after Pause"
    browser.screenshot("paused")
    return explorer.pause_latency()


def menu(page: Page, name: str, item: str) -> None:
    """Click ``item`` in JupyterLab's menu ``name``, as a person does."""
    page.locator(".lm-MenuBar-itemLabel", has_text=re.compile(rf"^{re.escape(name)}$")).click()
    page.locator(".lm-Menu-itemLabel", has_text=re.compile(rf"^{re.escape(item)}$")).click()


def run_all_in_lab(browser: BrowserPage, lab_url: str, notebook: str) -> ExplorerView:
    """Open ``notebook`` in JupyterLab, clear its outputs and Run All Cells; once the last
    cell's output is there, the explorer on the page (the page is closed on failure)."""
    page = browser.page
    try:
        page.goto(f"{lab_url}/lab/tree/{notebook}?reset", timeout=60_000)
        page.locator(".jp-NotebookPanel").wait_for(timeout=60_000)
        # the kernel has started and is idle (status bar: "Python 3 (ipykernel) | Idle")
        page.locator(".jp-StatusBar-Widget", has_text=re.compile(r"\|\s*Idle")).first.wait_for(
            timeout=60_000
        )
        browser.screenshot("opened")
        # the copy holds the outputs of `make notebooks`: clear them, so that what follows
        # can only come from this kernel
        menu(page, "Edit", "Clear Outputs of All Cells")
        output = page.locator(".jp-OutputArea-output", has_text="closer to the minimum")
        output.wait_for(state="detached")
        menu(page, "Run", "Run All Cells")
        output.wait_for(timeout=120_000)  # the last cell's output: every cell has run
        explorer = ExplorerView(page)
        explorer.status.wait_for()
        browser.screenshot("ran-all-cells")
        return explorer
    except Exception:
        browser.screenshot("setup-failed")
        browser.save_console()
        page.close()
        raise
