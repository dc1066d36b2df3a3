"""The canvases of the live figure: an ipympl widget, or Agg rendered into a PNG ``Image``
widget, each taking the figure's lock for its own draws (resize, zoom, download, savefig).

The ipympl canvas sends every frame whole. ipympl's own "diff" frames (only the changed pixels,
composited by the browser over what it shows) are right only if the browser draws every one of
them, and ipympl 0.10's front end does not: it sets its ``Image.src`` to each frame as it
arrives, so a frame that comes while the previous one is still decoding replaces it unseen, and
every later diff is laid over a picture the kernel never drew (stale tick labels, grid lines,
curves). A whole frame replaces everything, so the last frame received is what the kernel holds.
Frames are encoded by :func:`png_bytes` (~3x faster than the Pillow encoder ipympl uses, so a
whole frame costs less than ipympl's diff frame). These overrides are written for the ipympl
versions in :data:`IPYMPL_VERSIONS`; importing this module with another one installed fails.
"""

from __future__ import annotations

import base64
import functools
import importlib.metadata
import importlib.util
import itertools
import re
import struct
import threading
import warnings
import zlib
from contextlib import AbstractContextManager
from typing import Any, Literal, TypeAlias

import ipywidgets
import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from olexplore.engine.validation import describe

BACKENDS = ("auto", "ipympl", "png")
#: What :func:`resolve_backend` chooses: the ipympl widget, or PNG frames in an Image widget.
Backend: TypeAlias = Literal["ipympl", "png"]
#: ipympl versions the canvas below was written for and checked with in a browser: [low, high)
IPYMPL_VERSIONS = ((0, 10), (0, 11))
_FIGURE_NUMBERS = itertools.count(1)


def check_ipympl_version(version: str) -> None:
    """Raise ``ImportError`` unless ipympl ``version`` is in :data:`IPYMPL_VERSIONS`.

    >>> check_ipympl_version("0.10.0")
    >>> check_ipympl_version("0.9.7")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    ImportError: olexplore.ui.canvas: ipympl 0.9.7 is installed; accepted: ipympl >=0.10, <0.11 ...
    """
    (low, high), found = IPYMPL_VERSIONS, re.match(r"(\d+)\.(\d+)", version)
    if found and low <= (int(found[1]), int(found[2])) < high:
        return
    wanted = f">={low[0]}.{low[1]},<{high[0]}.{high[1]}"
    raise ImportError(
        f"olexplore.ui.canvas: ipympl {version} is installed; accepted: ipympl "
        f"{wanted.replace(',', ', ')} (the live figure's canvas overrides ipympl's frames for "
        f"those versions). Install 'ipympl{wanted}', or uninstall ipympl to draw PNG frames "
        "instead."
    )


if importlib.util.find_spec("ipympl") is not None:
    check_ipympl_version(importlib.metadata.version("ipympl"))


def in_kernel() -> bool:
    """True inside a Jupyter kernel (where an ipympl canvas can reach a browser)."""
    try:
        from IPython import get_ipython
    except ImportError:
        return False
    shell = get_ipython()
    return shell is not None and getattr(shell, "kernel", None) is not None


def resolve_backend(backend: object) -> Backend:
    """``"ipympl"`` or ``"png"`` for a ``backend`` argument of :class:`LiveFigure`.

    >>> resolve_backend("auto")  # no kernel here
    'png'
    """
    if backend not in BACKENDS:
        raise ValueError(f"backend: got {describe(backend)}; accepted: one of {BACKENDS}.")
    available = importlib.util.find_spec("ipympl") is not None
    if backend == "auto":
        return "ipympl" if available and in_kernel() else "png"
    if backend == "ipympl" and not available:
        raise ValueError(
            "backend: got 'ipympl', which is not installed; accepted: 'png', 'auto', or "
            "`pip install ipympl` first."
        )
    return "ipympl" if backend == "ipympl" else "png"


def _locked(canvas_class: type) -> type:
    class Locked(canvas_class):
        """A canvas whose own draws (ipympl: resize, zoom, download; savefig) take the lock."""

        _draw_lock = threading.RLock()

        def draw(self) -> None:
            with self._draw_lock:
                super().draw()

        def print_figure(self, *args: Any, **kwargs: Any) -> Any:
            with self._draw_lock:
                return super().print_figure(*args, **kwargs)

    Locked.__name__ = Locked.__qualname__ = f"Locked{canvas_class.__name__}"
    return Locked


LockedAggCanvas = _locked(FigureCanvasAgg)


@functools.cache
def _locked_ipympl_canvas() -> type:
    from ipympl.backend_nbagg import Canvas

    class WholeFrameCanvas(_locked(Canvas)):
        """An ipympl canvas that sends every frame whole (see the module's docstring)."""

        def get_diff_image(self) -> bytes | None:
            if not self._png_is_old:
                return None
            self._png_is_old = False
            self.set_image_mode("full")  # the browser clears its canvas, then draws the frame
            return png_bytes(np.asarray(self.get_renderer().buffer_rgba()))

        def handle_resize(self, event: Any) -> None:
            # The browser's new size: the figure's size, its resize_event (the live figure
            # lays itself out again) and the frame after it, all under the figure's lock.
            with self._draw_lock:
                super().handle_resize(event)

        def send_binary(self, data: Any) -> None:
            # ipympl 0.10, until its front end says "initialized", sends the raw RGBA buffer
            # in place of the PNG ``data`` (the browser's image breaks and the canvas stays
            # 0x0 px) and keeps the frame as bare base64 in ``_data_url``, which its front end
            # requests as a relative URL. Send ``data`` itself, and keep it as a data URL.
            if self.syncing_data_url:
                encoded = base64.b64encode(data).decode("ascii")
                self._data_url = f"data:image/png;base64,{encoded}"
            self.send({"data": '{"type": "binary"}'}, buffers=[data])

    return WholeFrameCanvas


def attach_canvas(
    figure: Figure, backend: Backend, lock: AbstractContextManager[object]
) -> ipywidgets.DOMWidget:
    """Give ``figure`` a canvas whose draws take ``lock``; return the widget that shows it: the
    ipympl canvas itself (made under ``plt.ioff()``, so it shows only where it is placed), or an
    ``ipywidgets.Image`` that :func:`show_png` fills.

    >>> figure = Figure(figsize=(2, 1), dpi=100)
    >>> image = attach_canvas(figure, "png", threading.RLock())
    >>> figure.canvas.draw()
    >>> show_png(figure.canvas, image)
    >>> type(image).__name__, bytes(image.value[:4])
    ('Image', b'\\x89PNG')
    """
    if backend == "png":
        LockedAggCanvas(figure)._draw_lock = lock
        return ipywidgets.Image(format="png")
    import matplotlib.pyplot as plt
    from ipympl.backend_nbagg import FigureManager

    with plt.ioff(), warnings.catch_warnings():
        warnings.filterwarnings("ignore", "Passing unrecognized arguments", DeprecationWarning)
        canvas = _locked_ipympl_canvas()(figure)
        canvas._draw_lock = lock
        FigureManager(canvas, next(_FIGURE_NUMBERS))
    canvas.header_visible = False
    canvas.toolbar_position = "left"
    return canvas


def png_bytes(rgba: np.ndarray) -> bytes:
    """An opaque ``(height, width, 4)`` image as an RGB PNG, written for speed: no row filters
    and zlib level 1 (here ~2.5x faster than Pillow's fastest setting, and smaller for figures).

    >>> data = png_bytes(np.full((2, 3, 4), 255, dtype=np.uint8))
    >>> data[:8], struct.unpack(">II", data[16:24])  # the signature; width and height
    (b'\\x89PNG\\r\\n\\x1a\\n', (3, 2))
    """
    height, width = rgba.shape[:2]
    rows = np.zeros((height, 1 + 3 * width), dtype=np.uint8)  # each row: filter 0, then RGB
    rows[:, 1:] = np.asarray(rgba)[:, :, :3].reshape(height, 3 * width)
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)

    def chunk(kind: bytes, data: bytes) -> bytes:
        crc = zlib.crc32(kind + data) & 0xFFFFFFFF
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", crc)

    idat = zlib.compress(rows.tobytes(), 1)
    return (
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", idat) + chunk(b"IEND", b"")
    )


def show_png(canvas: FigureCanvasAgg, image: ipywidgets.Image) -> None:
    """Put what ``canvas`` rendered last into ``image.value`` as PNG."""
    image.value = png_bytes(np.asarray(canvas.get_renderer().buffer_rgba()))
