"""The README's Python examples run as written."""

import re
from pathlib import Path

import pytest

README = Path(__file__).resolve().parents[1] / "README.md"
BLOCKS = re.findall(r"```python\n(.*?)```", README.read_text(), flags=re.DOTALL)


def test_readme_has_examples():
    assert len(BLOCKS) >= 2


@pytest.mark.parametrize("index", range(len(BLOCKS)))
def test_readme_example_runs(index):
    namespace = {}
    exec(compile(BLOCKS[index], f"README.md block {index}", "exec"), namespace)  # noqa: S102
    if "train" in namespace and "history" in namespace:
        assert len(namespace["history"]["loss"]) == 100
        assert set(namespace["train"].metrics) >= {"loss", "learning_rate", "global_norm"}
    if "explorer" in namespace:
        assert namespace["explorer"].current.status == "finished"
