"""Every Voilà page ends its kernel: served exactly as ``olexplore app`` serves it, the app is
reloaded 3 times (its explorer training) and closed, and the server's REST API and its process
table must show at most one kernel after each reload and none after the close; a page that goes
without ``beforeunload`` (a killed tab) has its training kernel culled.

Kernels are counted twice: by the server (``GET /api/kernels/<id>?token=...`` for every kernel a
page was given: 200 alive, 404 gone; Voilà 0.5 has no ``GET /api/kernels`` list, that address is
taken for a file of the notebook's folder) and by the operating system (the server's
``ipykernel_launcher`` child processes, whose resident memory is recorded too). Figures go to
test-artifacts/browser/voila-kernels/kernels.json.
"""

from __future__ import annotations

import json
import re
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from datetime import datetime
from typing import Any

import psutil
import pytest
from playwright.sync_api import WebSocket

from olexplore.launcher import KERNEL_CULL_INTERVAL_SECONDS, KERNEL_IDLE_SECONDS
from tests.browser.conftest import ARTIFACTS, VoilaApp
from tests.browser.helpers import BrowserPage, ExplorerView, wait_until

pytestmark = pytest.mark.browser

RELOADS = 3
LOAD_SECONDS = 240  # a TensorFlow kernel starting and running the app on a busy machine
SHUTDOWN_SECONDS = 30  # the bounded wait for a kernel whose page is gone to end
LONG_RUN = 1_000_000
FOLDER = ARTIFACTS / "voila-kernels"
FIGURES: dict = {}
# Requests to our own server must never go through a proxy from the environment.
_DIRECT = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def kernel_model(app: VoilaApp, kernel_id: str) -> dict | None:
    """The server's model of the kernel (``connections``, ``last_activity``...), None if gone."""
    url = f"{app.base}api/kernels/{kernel_id}?token={app.token}"
    try:
        with _DIRECT.open(url, timeout=10) as answer:
            return json.loads(answer.read())
    except urllib.error.HTTPError as error:
        if error.code == 404:
            return None
        raise


def living(app: VoilaApp, kernel_ids: list[str]) -> list[str]:
    return [k for k in kernel_ids if kernel_model(app, k) is not None]


def kernel_processes(app: VoilaApp, kernel_id: str = "") -> list[psutil.Process]:
    """The server's kernels (or the one with ``kernel_id``, named by its connection file
    ``kernel-<id>.json``) as the operating system sees them."""
    found = []
    for child in psutil.Process(app.process.pid).children(recursive=True):
        try:
            command = child.cmdline()
            if any("ipykernel_launcher" in part for part in command) and any(
                kernel_id in part for part in command
            ):
                found.append(child)
        except psutil.NoSuchProcess:
            continue
    return found


def kernels_rss_mb(app: VoilaApp) -> float:
    total = 0
    for process in kernel_processes(app):
        try:
            total += process.memory_info().rss
        except psutil.NoSuchProcess:
            continue
    return round(total / 2**20, 1)


def open_app(browser: BrowserPage, app: VoilaApp, opened: list[float], reload: bool) -> str:
    """Load (or reload) the app until the explorer shows; the page's kernel id."""
    page = browser.page
    sockets = len(opened)
    if reload:
        page.reload(timeout=LOAD_SECONDS * 1000)
    else:
        page.goto(app.url, timeout=LOAD_SECONDS * 1000)
    ExplorerView(page).status.wait_for(timeout=LOAD_SECONDS * 1000)
    wait_until(page, lambda: len(opened) > sockets, 30, "the page connects to its kernel")
    config = page.evaluate("JSON.parse(document.getElementById('jupyter-config-data').textContent)")
    kernel_id = config["kernelId"]
    model = kernel_model(app, kernel_id)
    assert model is not None, f"the page's kernel {kernel_id} is unknown to the server"
    # The culler must never end a kernel before its page connects: from the end of the
    # notebook's run (its last activity) to the page's websocket (Playwright saw it open).
    ran = datetime.fromisoformat(model["last_activity"].replace("Z", "+00:00")).timestamp()
    FIGURES.setdefault("seconds_from_notebook_run_to_page_connection", []).append(
        round(opened[-1] - ran, 2)
    )
    return kernel_id


def play_long_run(browser: BrowserPage) -> None:
    """Train a run far longer than the test, as a person would: steps, then Play."""
    explorer = ExplorerView(browser.page)
    explorer.type_number(explorer.steps, str(LONG_RUN))
    wait_until(
        browser.page,
        lambda: f"/{LONG_RUN}" in explorer.status_text() or "steps" in explorer.message_text(),
        10,
        lambda: f"the explorer takes {LONG_RUN} steps (status: {explorer.status_text()!r})",
    )
    start = explorer.step()
    explorer.button("Play").click()
    explorer.wait_for_step_above(explorer.wait_for_step_above(start))


def watch_sockets(browser: BrowserPage) -> list[float]:
    """When each of the page's kernel websockets opened (time.time())."""
    opened: list[float] = []

    def seen(websocket: WebSocket) -> None:
        if "/channels" in websocket.url:
            opened.append(time.time())

    browser.page.on("websocket", seen)
    return opened


def wait_for(condition: Callable[[], Any], timeout: float, what: Callable[[], str]) -> float:
    """Poll ``condition`` every 0.5 s until it holds (the seconds it took) or fail saying
    ``what`` was awaited, as the server sees it at the timeout."""
    start = time.monotonic()
    while not condition():
        if time.monotonic() - start > timeout:
            raise AssertionError(f"timed out after {timeout:g} s waiting until {what()}")
        time.sleep(0.5)
    return time.monotonic() - start


def save_figures() -> None:
    FOLDER.mkdir(parents=True, exist_ok=True)
    (FOLDER / "kernels.json").write_text(json.dumps(FIGURES, indent=2) + "\n")


def shutdown_refusals(app: VoilaApp) -> list[str]:
    text = app.log.read_text(errors="replace")
    return re.findall(r".*\b403\b.*/voila/api/shutdown/.*", text)


def test_reloads_and_closing_end_their_kernels(voila_app, open_page):
    app = voila_app
    browser = open_page("voila-kernels")
    opened = watch_sockets(browser)
    kernels: list[str] = []
    memory = FIGURES.setdefault("kernels_rss_mb", {})
    try:
        kernels.append(open_app(browser, app, opened, reload=False))
        play_long_run(browser)  # the first page's kernel is training when the page goes
        memory["after the first load"] = kernels_rss_mb(app)
        browser.screenshot("first-load-training")
        for reload in range(1, RELOADS + 1):
            kernels.append(open_app(browser, app, opened, reload=True))
            try:
                wait_for(
                    lambda: (
                        living(app, kernels) == kernels[-1:] and len(kernel_processes(app)) <= 1
                    ),
                    SHUTDOWN_SECONDS,
                    lambda reload=reload: (
                        f"after reload {reload} only the page's kernel lives (alive: "
                        f"{living(app, kernels)} of {kernels}, {len(kernel_processes(app))} "
                        f"kernel processes; refused shutdowns: {shutdown_refusals(app)})"
                    ),
                )
            finally:  # recorded either way: the figure of the leak too
                memory[f"after reload {reload}"] = kernels_rss_mb(app)
        browser.screenshot("after-reloads")
    except BaseException:
        browser.save_console()
        browser.page.close()
        save_figures()
        raise
    browser.save_console()
    browser.page.close(run_before_unload=True)  # a person closing the tab
    wait_for(
        lambda: not living(app, kernels) and not kernel_processes(app),
        SHUTDOWN_SECONDS,
        lambda: (
            f"the tab's kernel ends once it is closed (alive: {living(app, kernels)}, "
            f"{len(kernel_processes(app))} kernel processes; refused shutdowns: "
            f"{shutdown_refusals(app)})"
        ),
    )
    memory["after closing the tab"] = kernels_rss_mb(app)
    save_figures()
    assert shutdown_refusals(app) == []
    log = app.log.read_text(errors="replace")
    for kernel_id in kernels:  # each by the page's shutdown request, none culled
        assert f"Kernel shutdown: {kernel_id}" in log
    assert not re.search(r"Culling '\w+' kernel", log)
    gaps = FIGURES["seconds_from_notebook_run_to_page_connection"]
    assert max(gaps) < KERNEL_IDLE_SECONDS / 3, gaps  # the culler's timeout has room


def test_a_tab_gone_without_unload_has_its_training_kernel_culled(voila_app, open_page):
    """A killed tab sends no shutdown request; its kernel, still training, is culled once the
    culler's timeout has passed since the notebook ran (and its page is gone)."""
    app = voila_app
    browser = open_page("voila-kernels-culled")
    opened = watch_sockets(browser)
    try:
        kernel_id = open_app(browser, app, opened, reload=False)
        play_long_run(browser)
        browser.screenshot("training")
    except BaseException:
        browser.save_console()
        browser.page.close()
        raise
    browser.save_console()
    closed = time.monotonic()
    browser.page.close()  # Playwright's default: no beforeunload, as when a tab is killed
    wait_for(
        lambda: (kernel_model(app, kernel_id) or {}).get("connections") == 0,
        SHUTDOWN_SECONDS,
        lambda: f"the server sees the page gone ({kernel_model(app, kernel_id)})",
    )
    (kernel,) = kernel_processes(app, kernel_id)
    kernel.cpu_percent()
    time.sleep(2)
    busy = kernel.cpu_percent()
    assert busy > 5, f"the kernel trains on without its page ({busy:.0f} % of a core)"
    bound = KERNEL_IDLE_SECONDS + KERNEL_CULL_INTERVAL_SECONDS + SHUTDOWN_SECONDS
    wait_for(
        lambda: kernel_model(app, kernel_id) is None and not kernel_processes(app, kernel_id),
        bound,
        lambda: f"the culler ends the abandoned kernel ({kernel_model(app, kernel_id)})",
    )
    FIGURES["seconds_from_killed_tab_to_culled_kernel"] = round(time.monotonic() - closed, 1)
    FIGURES["training_kernel_cpu_percent_without_its_page"] = round(busy)
    save_figures()
    assert re.search(rf"Culling '\w+' kernel '\w+' \({kernel_id}\)", app.log.read_text())
