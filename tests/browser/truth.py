"""What the truth tests compare: a browser canvas against the kernel's figure drawn whole
(``LiveFigure.rendered()``), and the notebook cell that lets a test ask the kernel for it.

Kept free of Playwright so that the unit tests (tests/ui) use the same comparison.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

LEVELS = 16  # a pixel differs when one of its channels differs by more than this
TOLERANCE = 0.005  # share of the pixels that may differ (antialiasing where line pieces join)
TRUTH_DIR_VARIABLE = "OLEXPLORE_TRUTH_DIR"
TRUTH_CLASS = "olexplore-truth"

# Appended to the test's copy of the explorer notebook. Under OLEXPLORE_TRUTH_DIR it shows a
# hidden button (nothing on screen) that saves explorer.figure.rendered() as <pid>-NN.png there
# and then names the file in a hidden label: a test clicks it from the page in Lab and in Voilà.
HOOK_CELL = f'''\
import os as _os
if _os.environ.get("{TRUTH_DIR_VARIABLE}"):
    import pathlib as _pathlib
    import ipywidgets as _widgets
    from PIL import Image as _Image

    _truth_dir = _pathlib.Path(_os.environ["{TRUTH_DIR_VARIABLE}"])
    _truth_count = _widgets.Label("0", layout=_widgets.Layout(display="none"))
    _truth_button = _widgets.Button(description="truth", layout=_widgets.Layout(display="none"))

    def _dump_truth(_):
        count = int(_truth_count.value.split("-")[-1].split(".")[0]) + 1
        name = f"{{_os.getpid()}}-{{count:02d}}.png"  # one kernel's dumps, in order
        _Image.fromarray(explorer.figure.rendered()).save(_truth_dir / name)
        _truth_count.value = name

    _truth_button.on_click(_dump_truth)
    _truth_box = _widgets.HBox([_truth_button, _truth_count])
    _truth_box.add_class("{TRUTH_CLASS}")
    _truth_box.layout.display = "none"
    display(_truth_box)
'''


def differing_share(a: np.ndarray, b: np.ndarray, levels: int = LEVELS) -> float:
    """The share of pixels of two ``(height, width, >=3)`` images whose RGB differ by more than
    ``levels`` in some channel (1.0 when the sizes differ).

    >>> white = np.full((2, 2, 3), 255, np.uint8)
    >>> grey = white.copy(); grey[0, 0] = 200
    >>> differing_share(white, grey), differing_share(white, white[:1])
    (0.25, 1.0)
    """
    a, b = np.asarray(a)[..., :3].astype(int), np.asarray(b)[..., :3].astype(int)
    if a.shape != b.shape:
        return 1.0
    return float((np.abs(a - b).max(axis=2) > levels).mean())


def with_hook(notebook: Path, target: Path) -> Path:
    """Write ``notebook`` with :data:`HOOK_CELL` added after its first code cell (the one that
    shows the explorer) into ``target``; the outputs of `make notebooks` are dropped."""
    content = json.loads(notebook.read_text())
    cells = content["cells"]
    first = next(i for i, cell in enumerate(cells) if cell["cell_type"] == "code")
    for cell in cells:
        if cell["cell_type"] == "code":
            cell["outputs"], cell["execution_count"] = [], None
    hook = {
        "cell_type": "code",
        "execution_count": None,
        "metadata": {"tags": ["truth-hook"]},
        "outputs": [],
        "source": HOOK_CELL.splitlines(keepends=True),
    }
    cells.insert(first + 1, hook)
    target.write_text(json.dumps(content, indent=1))
    return target
