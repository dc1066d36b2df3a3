"""Copy as code never runs what a user typed (issue 11, item 1).

Every user-typed place of a Config (problem name, problem parameters' keys and values,
multiplier patterns, decay name and parameters, optimizer) gets hostile text that would create a
marker file if it were ever executed. The script ``as_code`` writes must compile, and running it
(with stand-ins for TensorFlow and the problem, so every line runs in a blink) must hand the
hostile text on as plain strings, unchanged, and never create the marker. Config's own
validation is bypassed on purpose: the escaping must hold whatever Config accepts.
"""

import ast
import builtins
import dataclasses
import os
import subprocess
import sys

import pytest

from olexplore.runs.config import Config, FrozenMapping
from olexplore.runs.export import as_code


def payloads(marker):
    """Strings that break out of a quoted literal, a docstring or a comment line."""
    act = f"open({str(marker)!r}, 'w').write('pwned')"
    return [
        f'x"""+str({act})+"""',
        f"x'''+str({act})+'''",
        f'x"+str({act})+"',
        f"x'+str({act})+'",
        f"x\n{act}\n#",
        f"x\r{act}\r#",
        f"x\\\n{act}",
        f'x\\"""+str({act})#',
        f"x\u2028{act}\x0c{act}",
        f"{{{act}}}",  # f-string braces
        f"x\x00\x1b[2J{act}",
    ]


class Fake:
    """Stands for every module and object the script touches; records the calls."""

    def __init__(self, calls, path):
        self._calls, self._path = calls, path

    def __getattr__(self, name):
        return Fake(self._calls, f"{self._path}.{name}")

    def __call__(self, *args, **kwargs):
        self._calls.append((self._path, args, kwargs))
        return Fake(self._calls, f"{self._path}()")

    def __getitem__(self, key):
        return [1.0]


def run_script(code, calls):
    """Run the generated script with its imports answered by :class:`Fake`."""
    allowed = {"keras", "tensorflow", "olexplore", "olexplore.problems", "olexplore.runs.arguments"}

    def fake_import(name, globals=None, locals=None, fromlist=(), level=0):
        assert name in allowed, f"the script imported {name!r}"
        return Fake(calls, name)

    namespace = {"__builtins__": {**vars(builtins), "__import__": fake_import}}
    exec(compile(code, "<as_code>", "exec"), namespace)  # noqa: S102 - the point of the test
    return namespace


def hostile(config, place, text):
    """``config`` with ``text`` in one user-typed place, bypassing validation."""
    set_ = object.__setattr__
    if place == "problem":
        set_(config, "problem", text)
    elif place == "optimizer":
        set_(config, "optimizer", text)
    elif place == "problem_params key":
        set_(config, "problem_params", FrozenMapping({text: 1, "depth": 2}))
    elif place == "problem_params value":
        set_(config, "problem_params", FrozenMapping({"name": text, "tags": [text]}))
    elif place == "multiplier pattern":
        set_(config, "multipliers", FrozenMapping({text: 0.5, "w": 2.0}))
    elif place == "decay name":
        set_(config.decay, "name", text)
    elif place == "decay param key":
        set_(config.decay, "params", FrozenMapping({text: 3, "decay_steps": 10}))
    elif place == "decay param value":
        set_(config.decay, "params", FrozenMapping({"decay_steps": 10, "decay_rate": text}))
    return config


PLACES = [
    "problem",
    "optimizer",
    "problem_params key",
    "problem_params value",
    "multiplier pattern",
    "decay name",
    "decay param key",
    "decay param value",
]


def base_config():
    config = Config(
        problem="quadratic",
        optimizer="SGD",
        learning_rate=0.1,
        steps=3,
        noise_scale=0.01,
        decay={"name": "exponential_decay", "params": {"decay_steps": 10, "decay_rate": 0.5}},
        clipping={"kind": "adaptive"},
    )
    # Fresh, unshared Decay so a test's injection cannot leak into another Config.
    object.__setattr__(config, "decay", dataclasses.replace(config.decay))
    return config


def calls_named(calls, suffix):
    return [(args, kwargs) for path, args, kwargs in calls if path.endswith(suffix)]


def received(place, calls):
    """The value the script handed on for ``place``."""
    ((problem_args, problem_kwargs),) = calls_named(calls, "get_problem")
    ((train_args, train_kwargs),) = calls_named(calls, "optimize_loss")
    ((decay_args, decay_kwargs),) = calls_named(calls, "decay_function")
    if place == "problem":
        return problem_args[0]
    if place == "optimizer":
        return train_args[3]
    if place == "problem_params key":
        return next(iter(problem_kwargs))
    if place == "problem_params value":
        return problem_kwargs["name"]
    if place == "multiplier pattern":
        return next(iter(train_kwargs["gradient_multipliers"]))
    if place == "decay name":
        return decay_args[0]
    if place == "decay param key":
        return next(iter(decay_kwargs))
    return decay_kwargs["decay_rate"]


@pytest.mark.parametrize("place", PLACES)
def test_hostile_text_in_every_place_stays_a_string(place, tmp_path):
    marker = tmp_path / "marker"
    for text in payloads(marker):
        code = as_code(hostile(base_config(), place, text))
        tree = ast.parse(code)  # compiles
        docstring = ast.get_docstring(tree, clean=False)
        assert docstring.startswith("Train ") and docstring.endswith("as olexplore did.")
        assert not any(c in docstring for c in "\"'\\\n\r")
        comments = [line for line in code.splitlines() if line.startswith("#")]
        assert len(comments) == 1 and comments[0].startswith("# Config: {")
        calls = []
        run_script(code, calls)
        assert not marker.exists(), f"{place}: the script ran {text!r}"
        assert received(place, calls) == text  # arrived where it belongs, as typed
        if place == "problem_params value":
            assert calls_named(calls, "get_problem")[0][1]["tags"] == [text]


def test_keyword_and_non_identifier_keys_become_a_mapping(tmp_path):
    config = base_config()
    object.__setattr__(config, "problem_params", FrozenMapping({"if": 1, "a-b": 2, "é": 3}))
    calls = []
    code = as_code(config)
    assert '**{"if": 1, "a-b": 2, "\\u00e9": 3}' in code
    run_script(code, calls)
    ((_, kwargs),) = calls_named(calls, "get_problem")
    assert kwargs == {"if": 1, "a-b": 2, "é": 3}


def test_non_finite_numbers_are_literals_not_names():
    config = base_config()
    object.__setattr__(config, "problem_params", FrozenMapping({"scale": float("inf")}))
    calls = []
    run_script(as_code(config), calls)
    ((_, kwargs),) = calls_named(calls, "get_problem")
    assert kwargs == {"scale": float("inf")}


def test_values_that_are_not_json_like_are_refused():
    config = base_config()
    object.__setattr__(config, "problem_params", FrozenMapping({"f": print}))
    with pytest.raises(ValueError, match="config value: got <built-in function print>"):
        as_code(config)


@pytest.mark.slow
def test_the_real_script_with_a_hostile_problem_name_fails_without_running_it(tmp_path):
    """The issue's own example, run for real: get_problem refuses the name; nothing else runs."""
    marker = tmp_path / "marker"
    name = f'x"""+__import__("os").system("touch {marker}")+"""'
    config = base_config()
    object.__setattr__(config, "problem", name)
    script = tmp_path / "train.py"
    script.write_text(as_code(config), encoding="utf-8")
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", "TF_ENABLE_ONEDNN_OPTS": "0"}
    done = subprocess.run(
        [sys.executable, str(script)], capture_output=True, text=True, env=env, timeout=300
    )
    assert not marker.exists()
    assert done.returncode == 1
    assert "SyntaxError" not in done.stderr
    assert "ValueError" in done.stderr and "problem" in done.stderr
