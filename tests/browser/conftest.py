"""Real-browser fixtures: JupyterLab and Voilà serving a copy of notebooks/explorer.ipynb on
127.0.0.1, and Debian's Chromium driven by Playwright (never a downloaded browser: see
../shared/docs/environment.md, "Real browser").

Without /usr/bin/chromium the browser tests are skipped, except in CI (``CI`` set), where they
fail: ``.ci/run`` installs Chromium. Screenshots, console logs and the servers' output (the
kernels' stderr included) go to ``test-artifacts/browser/``.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path

import pytest
from playwright.sync_api import BrowserContext, sync_playwright

from olexplore.launcher import APP_NOTEBOOK, voila_options
from tests.browser.helpers import BrowserPage
from tests.browser.truth import TRUTH_DIR_VARIABLE, with_hook

ROOT = Path(__file__).resolve().parents[2]
NOTEBOOK = ROOT / "notebooks" / "explorer.ipynb"
TRUTH_NOTEBOOK = "truth.ipynb"  # the explorer notebook with the truth hook (tests/browser/truth.py)
ARTIFACTS = ROOT / "test-artifacts" / "browser"
CHROMIUM = Path(os.environ.get("OLEXPLORE_CHROMIUM", "/usr/bin/chromium"))
# The flags of environment.md; Playwright adds its own (headless, automation) to these.
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]
VIEWPORT = {"width": 1600, "height": 1000}
SERVER_START_SECONDS = 60
SERVER_STOP_SECONDS = 15
# Requests to our own servers must never go through a proxy from the environment.
_DIRECT = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def _in_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() not in ("", "0", "false", "no")


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _answers(url: str) -> bool:
    try:
        with _DIRECT.open(url, timeout=2) as response:
            return response.status == 200
    except (urllib.error.URLError, OSError):
        return False


def _tail(path: Path, lines: int = 40) -> str:
    with suppress(OSError):
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    return ""


def _stop(process: subprocess.Popen) -> None:
    """SIGTERM the process group (the server shuts its kernels down), then SIGKILL."""
    with suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(SERVER_STOP_SECONDS)
    except subprocess.TimeoutExpired:
        with suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait(5)
    with suppress(ProcessLookupError):  # anything of ours left in the group
        os.killpg(process.pid, signal.SIGKILL)


@contextmanager
def _serve(
    name: str, command: list[str], cwd: Path, env: dict, ready_url: str
) -> Iterator[subprocess.Popen]:
    """Run ``command`` in its own process group until ``ready_url`` answers (the process is
    yielded); stop it after."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    log_path = ARTIFACTS / f"{name}.log"
    with open(log_path, "w") as log:
        process = subprocess.Popen(
            command,
            cwd=cwd,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        try:
            deadline = time.monotonic() + SERVER_START_SECONDS
            while not _answers(ready_url):
                if process.poll() is not None:
                    raise RuntimeError(
                        f"{name} exited with {process.returncode}:\n{_tail(log_path)}"
                    )
                if time.monotonic() > deadline:
                    raise RuntimeError(
                        f"{name} did not answer {ready_url} within {SERVER_START_SECONDS} s:\n"
                        f"{_tail(log_path)}"
                    )
                time.sleep(0.25)
            yield process
        finally:
            _stop(process)


@pytest.fixture(scope="session")
def chromium() -> Path:
    """Debian's Chromium, or skip (fail in CI) with what to install."""
    if CHROMIUM.is_file() and os.access(CHROMIUM, os.X_OK):
        return CHROMIUM
    message = (
        f"{CHROMIUM} not found: the browser tests need Debian's Chromium "
        "(`apt-get install -y chromium`; `playwright install` cannot download browsers here)"
    )
    if _in_ci():
        pytest.fail(f"{message}; CI is set, so this fails instead of skipping", pytrace=False)
    pytest.skip(message)


@pytest.fixture(scope="session")
def jupyter_home(tmp_path_factory) -> Path:
    """Config, runtime, settings and workspace folders of our own: nothing from ~/.jupyter,
    and JupyterLab neither asks about news nor restores an earlier layout."""
    home = tmp_path_factory.mktemp("jupyter-home")
    settings = home / "lab-settings" / "@jupyterlab" / "apputils-extension"
    settings.mkdir(parents=True)
    (settings / "notification.jupyterlab-settings").write_text(
        json.dumps({"fetchNews": "false", "checkForUpdates": False})
    )
    return home


@pytest.fixture(scope="session")
def truth_dir(tmp_path_factory) -> Path:
    """Where the truth hook of ``truth.ipynb`` saves the kernel's figure (NN.png)."""
    return tmp_path_factory.mktemp("truth")


@pytest.fixture(scope="session")
def server_env(jupyter_home, truth_dir) -> dict:
    env = dict(os.environ)
    env.pop("MPLBACKEND", None)  # `make test` sets Agg; a person's kernel does not have it
    env.update(
        JUPYTER_CONFIG_DIR=str(jupyter_home / "config"),
        JUPYTER_RUNTIME_DIR=str(jupyter_home / "runtime"),
        JUPYTERLAB_SETTINGS_DIR=str(jupyter_home / "lab-settings"),
        JUPYTERLAB_WORKSPACES_DIR=str(jupyter_home / "lab-workspaces"),
        TF_CPP_MIN_LOG_LEVEL="3",
        TF_ENABLE_ONEDNN_OPTS="0",
        PYTHONUNBUFFERED="1",
    )
    env[TRUTH_DIR_VARIABLE] = str(truth_dir)  # read only by truth.ipynb's hook cell
    return env


@pytest.fixture(scope="session")
def notebook_dir(tmp_path_factory) -> Path:
    """A copy of notebooks/explorer.ipynb: the servers (autosave, exports) never touch the
    repository's executed notebook."""
    folder = tmp_path_factory.mktemp("notebooks")
    shutil.copy2(NOTEBOOK, folder / NOTEBOOK.name)
    with_hook(NOTEBOOK, folder / TRUTH_NOTEBOOK)
    return folder


@pytest.fixture(scope="session")
def jupyter_lab(chromium, notebook_dir, server_env) -> Iterator[str]:
    """JupyterLab on 127.0.0.1 (no token, no password) serving ``notebook_dir``; its URL."""
    port = _free_port()
    command = [
        sys.executable,
        "-m",
        "jupyterlab",
        "--no-browser",
        "--ServerApp.ip=127.0.0.1",
        f"--ServerApp.port={port}",
        "--ServerApp.port_retries=0",
        "--ServerApp.token=",
        "--ServerApp.password=",
        f"--ServerApp.root_dir={notebook_dir}",
    ]
    if os.geteuid() == 0:
        command.append("--allow-root")
    url = f"http://127.0.0.1:{port}"
    with _serve("jupyter-lab", command, notebook_dir, server_env, f"{url}/api/status"):
        yield url


@contextmanager
def _voila(notebook: str, notebook_dir: Path, server_env: dict) -> Iterator[str]:
    port = _free_port()
    command = [
        sys.executable,
        "-m",
        "voila",
        notebook,
        "--no-browser",
        f"--port={port}",
        "--Voila.ip=127.0.0.1",
    ]
    url = f"http://127.0.0.1:{port}"
    # a cheap page: "/" itself would start a kernel and run the notebook
    ready = f"{url}/voila/static/voila.js"
    with _serve(f"voila-{Path(notebook).stem}", command, notebook_dir, server_env, ready):
        yield url


@pytest.fixture(scope="session")
def voila(chromium, notebook_dir, server_env) -> Iterator[str]:
    """Voilà serving the explorer notebook as an app on 127.0.0.1; the app's URL."""
    with _voila(NOTEBOOK.name, notebook_dir, server_env) as url:
        yield url


@pytest.fixture(scope="session")
def voila_truth(chromium, notebook_dir, server_env) -> Iterator[str]:
    """Voilà serving ``truth.ipynb`` (the explorer notebook with the truth hook)."""
    with _voila(TRUTH_NOTEBOOK, notebook_dir, server_env) as url:
        yield url


@dataclass(frozen=True)
class VoilaApp:
    """A Voilà server started as ``olexplore app`` starts it."""

    url: str  # the address ``olexplore app`` prints, with the token
    base: str  # ``http://127.0.0.1:PORT/``
    token: str
    process: subprocess.Popen  # the server; its kernels are its child processes
    log: Path  # the server's output (its access log included)


@pytest.fixture(scope="session")
def voila_app(chromium, tmp_path_factory, server_env) -> Iterator[VoilaApp]:
    """Voilà serving a copy of notebooks/app.ipynb with exactly the options ``olexplore app``
    passes (:func:`olexplore.launcher.voila_options`): a fresh token, 127.0.0.1, and every
    page's kernel ending with the page."""
    folder = tmp_path_factory.mktemp("app")
    notebook = folder / APP_NOTEBOOK
    shutil.copy2(ROOT / "notebooks" / APP_NOTEBOOK, notebook)
    options, url = voila_options([])
    command = [sys.executable, "-m", "voila", str(notebook), *options]
    base = url.split("?", 1)[0]
    token = url.split("?token=", 1)[1]
    name = "voila-app"
    with _serve(name, command, folder, server_env, f"{base}voila/static/voila.js") as process:
        yield VoilaApp(url, base, token, process, ARTIFACTS / f"{name}.log")


@pytest.fixture(scope="session")
def browser_context(chromium, tmp_path_factory) -> Iterator[BrowserContext]:
    """Chromium with a fresh profile (``--user-data-dir`` in a temporary folder)."""
    profile = tmp_path_factory.mktemp("chromium-profile")
    with sync_playwright() as playwright:
        context = playwright.chromium.launch_persistent_context(
            profile,
            executable_path=str(chromium),
            headless=True,
            args=CHROMIUM_ARGS,
            viewport=VIEWPORT,
        )
        context.set_default_timeout(30_000)
        try:
            yield context
        finally:
            context.close()


@pytest.fixture(scope="session")
def open_page(browser_context):
    """``open_page(name)``: a new page whose screenshots and console log go to
    ``test-artifacts/browser/<name>/`` (emptied first). Close it with ``.page.close()``."""

    def open_(name: str) -> BrowserPage:
        folder = ARTIFACTS / name
        shutil.rmtree(folder, ignore_errors=True)
        folder.mkdir(parents=True)
        return BrowserPage(browser_context.new_page(), folder)

    return open_
