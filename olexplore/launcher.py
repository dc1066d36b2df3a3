"""``olexplore lab`` / ``olexplore app``: start JupyterLab or Voilà on the explorer notebook.

JupyterLab gets the notebook and its own token. Voilà gets the options of :func:`voila_options`:
served on 127.0.0.1 behind a fresh token, and every page's kernel ends with the page.

Why Voilà needs help for the last part (Voilà 0.5.13, jupyter_server 2.x, tornado 6). On
``beforeunload`` Voilà's page sends ``navigator.sendBeacon(".../voila/api/shutdown/<kernel>")``
with a form field ``_xsrf`` copied from the page's ``_xsrf`` cookie (Voilà's
packages/widgets_manager8/src/index.ts). jupyter_server checks XSRF on every POST that is not
token-authenticated (``JupyterHandler.prepare`` calls ``check_xsrf_cookie``), and a beacon
carries the login cookie, not the token. But the standalone Voilà page never sets the ``_xsrf``
cookie: tornado sets it only when a handler reads ``xsrf_token`` (jupyter_server's
``template_namespace`` does, for its own pages), and Voilà renders its notebook page through
nbconvert without it. So the beacon sends an empty ``_xsrf``, tornado answers 403 "'_xsrf'
argument missing from POST", and the kernel lives on (voila-dashboards/voila#1458).
:func:`voila_options` gives the page the cookie the beacon reads, through jupyter_server's
``headers`` setting (``Voila.tornado_settings``): one random value per server, in tornado's
version-1 token format. XSRF stays checked on every request; the shutdown beacon now passes.

A page that goes without ``beforeunload`` (a killed tab, a crashed browser) sends nothing, so
jupyter_server's idle culler is the backstop: a kernel with no page connected is ended once
:data:`KERNEL_IDLE_SECONDS` have passed since it last ran code, checked every
:data:`KERNEL_CULL_INTERVAL_SECONDS`. Widget traffic (``comm_*`` messages: a training explorer's
figure frames and status updates) does not count as activity, or a training explorer whose page is
gone would never be idle; a kernel with its page connected is never culled.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import secrets
import socket
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

import olexplore
from olexplore.cli_args import UsageError

EXPLORER_NOTEBOOK = "explorer.ipynb"
#: What ``olexplore app`` serves: the explorer alone, on a fresh run (the guide is the Lab's).
APP_NOTEBOOK = "app.ipynb"
#: Where ``olexplore app`` serves Voilà unless told otherwise (Voilà's own default port).
VOILA_PORT = 8866
#: A kernel with no page connected is ended this long after it last ran code. Far above the
#: time from the end of the notebook's run to the page's connection, which must never be
#: culled (at most 1 s, measured by tests/browser/test_voila_kernels.py on a busy 2-core
#: machine; that test fails past a third of this); short beside the 0.6-0.7 GB of resident
#: memory an abandoned explorer kernel holds (measured there too).
KERNEL_IDLE_SECONDS = 60
#: How often jupyter_server's culler looks for such kernels.
KERNEL_CULL_INTERVAL_SECONDS = 10
#: Widget messages: they keep flowing from a training explorer whose page is gone.
WIDGET_MESSAGE_TYPES = ("comm_open", "comm_msg", "comm_close")


class LaunchFailure(Exception):
    """JupyterLab or Voilà could not be started: one line, exit status 1."""


def notebook_candidates(name: str = EXPLORER_NOTEBOOK) -> list[Path]:
    """Where the explorer notebook is looked for, in order: the source tree beside the package
    (a checkout or editable install, what ``make`` sets up), ``./notebooks`` (a checkout next
    to a regular install), then installed data (``<prefix>/share/olexplore/notebooks``).

    >>> [path.name for path in notebook_candidates(APP_NOTEBOOK)]
    ['app.ipynb', 'app.ipynb', 'app.ipynb']
    """
    package = Path(olexplore.__file__).resolve().parent
    return [
        package.parent / "notebooks" / name,
        Path.cwd() / "notebooks" / name,
        Path(sys.prefix) / "share" / "olexplore" / "notebooks" / name,
    ]


def find_notebook(explicit: str | None = None, name: str = EXPLORER_NOTEBOOK) -> Path:
    """The notebook ``name`` (``explicit`` if given), or a UsageError naming where it looked.

    >>> find_notebook("no/such.ipynb")
    Traceback (most recent call last):
    ...
    olexplore.cli_args.UsageError: the explorer notebook was not found (looked for no/such.ipynb); accepted: --notebook PATH to an existing .ipynb
    """  # noqa: E501 - a doctest's output is one line
    candidates = [Path(explicit)] if explicit else notebook_candidates(name)
    for path in candidates:
        if path.is_file():
            return path.resolve()
    looked = ", ".join(str(path) for path in dict.fromkeys(candidates))
    raise UsageError(
        f"the explorer notebook was not found (looked for {looked}); accepted: --notebook PATH "
        f"to an existing .ipynb"
    )


def _exec(command: list[str]) -> int:
    """Replace this process with ``command`` (POSIX); elsewhere run it and return its status."""
    sys.stdout.flush()
    sys.stderr.flush()
    if os.name == "posix":
        os.execv(command[0], command)
    return subprocess.call(command)  # pragma: no cover - Windows


def command_jupyter(args: argparse.Namespace, extra: list[str]) -> int:
    """``olexplore lab|app [-- OPTIONS]``: the explorer notebook in JupyterLab or Voilà."""
    module = "jupyterlab" if args.command == "lab" else "voila"
    if importlib.util.find_spec(module) is None:
        raise UsageError(f"{module} is not installed; install it with pip install 'olexplore[lab]'")
    name = EXPLORER_NOTEBOOK if module == "jupyterlab" else APP_NOTEBOOK
    command = [sys.executable, "-m", module, str(find_notebook(args.notebook, name))]
    if module == "jupyterlab":
        # JupyterLab makes its own token and prints the address with it; it refuses to start
        # as root without --allow-root (containers, CI).
        if hasattr(os, "geteuid") and os.geteuid() == 0:
            command.append("--allow-root")
    else:
        options, url = voila_options(extra)
        command += options
        print(f"olexplore: the explorer will be served at {url}", file=sys.stderr)
    try:
        return _exec([*command, *extra])
    except OSError as error:
        reason = error.strerror or str(error)
        raise LaunchFailure(f"cannot start {module}: {type(error).__name__}: {reason}") from None


def voila_options(
    extra: Sequence[str], token: str | None = None, xsrf: str | None = None
) -> tuple[list[str], str]:
    """Voilà's options for serving the explorer behind a token, and the address to open.

    Voilà 0.5 serves without a token unless given one, so a fresh random ``token`` is passed
    (``--Voila.token``) with ``--Voila.ip=127.0.0.1``; the port is fixed (free 8866, else any
    free port; ``port_retries=0``) so the printed address is the one served. Voilà's own browser
    tab would open without the token (a login page), so it is not opened: open the printed
    address. Each page's kernel ends when the page is closed or reloaded: the page gets the
    ``_xsrf`` cookie (value ``xsrf``, random unless given) its shutdown request needs, and an
    idle culler ends a kernel left without a page (see the module's notes). Options in ``extra``
    (after ``--``) that set the ip, port, token, browser, ``Voila.tornado_settings`` or one of
    the culler's settings win over these.

    >>> options, url = voila_options(["--port=9000"], token="abc", xsrf="5ec2e7")
    >>> options[:5]
    ['--Voila.token=abc', '--Voila.ip=127.0.0.1', '--Voila.port_retries=0', '--no-browser', \
"--Voila.tornado_settings={'headers': {'Set-Cookie': '_xsrf=5ec2e7; Path=/; SameSite=Strict'}}"]
    >>> options[5:7]
    ['--MappingKernelManager.cull_idle_timeout=60', '--MappingKernelManager.cull_interval=10']
    >>> options[-3:]  # after jupyter_server's own list of untracked messages
    ['--MappingKernelManager.untracked_message_types=comm_open', \
'--MappingKernelManager.untracked_message_types=comm_msg', \
'--MappingKernelManager.untracked_message_types=comm_close']
    >>> url
    'http://127.0.0.1:9000/?token=abc'
    """
    given = {option.split("=", 1)[0] for option in extra if option.startswith("--")}
    token = token or secrets.token_urlsafe(32)
    ip, port = _given_value(extra, "ip") or "127.0.0.1", _given_value(extra, "port")
    options = []
    if not given & {"--token", "--Voila.token", "--Voila.auto_token"}:
        options.append(f"--Voila.token={token}")
    if not given & {"--ip", "--Voila.ip"}:
        options.append("--Voila.ip=127.0.0.1")
    if port is None:
        port = str(_free_port(ip if ip not in ("", "0.0.0.0") else "127.0.0.1"))
        options.append(f"--port={port}")
    options.append("--Voila.port_retries=0")
    if not given & {"--no-browser", "--Voila.open_browser"}:
        options.append("--no-browser")
    options += _kernel_ending_options(given, xsrf or secrets.token_hex(16))
    shown = _given_value(extra, "token") or token
    host = ip if ip not in ("", "0.0.0.0") else "127.0.0.1"
    return options, f"http://{host}:{port}/?token={shown}"


def _kernel_ending_options(given: set[str], xsrf: str) -> list[str]:
    """The ``_xsrf`` cookie for Voilà's shutdown beacon and the idle culler, less what the user
    set. A dict trait on traitlets' command line takes one ``{...}`` literal (``key=value``
    items would make the header a string); tests/test_cli.py checks Voilà parses it."""
    cookie = f"_xsrf={xsrf}; Path=/; SameSite=Strict"
    settings = {"headers": {"Set-Cookie": cookie}}
    manager = "--MappingKernelManager."
    options = {
        "--Voila.tornado_settings": [repr(settings)],
        f"{manager}cull_idle_timeout": [str(KERNEL_IDLE_SECONDS)],
        f"{manager}cull_interval": [str(KERNEL_CULL_INTERVAL_SECONDS)],
        f"{manager}untracked_message_types": [*_untracked_messages(), *WIDGET_MESSAGE_TYPES],
    }
    return [
        f"{flag}={value}"
        for flag, values in options.items()
        if flag not in given
        for value in values
    ]


def _untracked_messages() -> list[str]:
    """jupyter_server's default ``MappingKernelManager.untracked_message_types``."""
    from jupyter_server.services.kernels.kernelmanager import MappingKernelManager  # noqa: PLC0415

    default = MappingKernelManager.class_traits()["untracked_message_types"].default() or []
    return [name for name in default if name not in WIDGET_MESSAGE_TYPES]


def _given_value(extra: Sequence[str], name: str) -> str | None:
    """The value of ``--NAME=V`` / ``--Voila.NAME=V`` / ``--NAME V`` in ``extra``, if given.

    >>> _given_value(["--port", "9000"], "port"), _given_value(["--Voila.ip=::1"], "ip")
    ('9000', '::1')
    """
    for index, option in enumerate(extra):
        for flag in (f"--{name}", f"--Voila.{name}"):
            if option.startswith(flag + "="):
                return option.split("=", 1)[1]
            if option == flag and index + 1 < len(extra):
                return extra[index + 1]
    return None


def _free_port(host: str) -> int:
    """Voilà's default port when it is free on ``host``, else a free port the OS picks."""
    for port in (VOILA_PORT, 0):
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
            try:
                probe.bind((host, port))
            except OSError:
                continue
            return probe.getsockname()[1]
    raise LaunchFailure(f"no free port on {host} for Voilà")  # pragma: no cover
