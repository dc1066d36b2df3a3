"""The control panel: a view per field that shows a Config, reports each user edit once and
marks invalid fields; it holds no settings of its own."""

import html

import ipywidgets as w
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from olexplore.engine.learning_rate import DECAY_FUNCTIONS
from olexplore.engine.optimizers import KERAS_OPTIMIZER_NAMES, OPTIMIZER_CLS_NAMES
from olexplore.problems import problem_names
from olexplore.runs.config import REQUIRED, Clipping, Config, Decay, decay_parameters
from olexplore.runs.fields import FIELDS, value_at
from olexplore.runs.presets import PRESETS
from olexplore.ui.controls import INVALID_CLASS, ControlPanel, parse_numbers

MLP_NAMES = ["mlp/hidden/kernel", "mlp/hidden/bias", "mlp/output/kernel", "mlp/output/bias"]
SCALARS = [path for path, row in FIELDS.items() if row.kind != "mapping"]


@st.composite
def decays(draw):
    name = draw(st.sampled_from(["none", *DECAY_FUNCTIONS]))
    if name == "none":
        return Decay()
    if name == "piecewise_constant":
        boundaries = sorted(draw(st.sets(st.integers(0, 10**5), min_size=1, max_size=4)))
        size = len(boundaries) + 1
        values = draw(st.lists(st.floats(0, 10), min_size=size, max_size=size))
        return Decay(name, {"boundaries": boundaries, "values": values})
    params = {}
    for key, default in decay_parameters(name).items():
        if default is REQUIRED:
            params[key] = draw(st.integers(1, 10**6) if "steps" in key else st.floats(0.01, 10))
    return Decay(name, params)


configs = st.builds(
    Config,
    problem=st.sampled_from(problem_names()),
    optimizer=st.sampled_from([*OPTIMIZER_CLS_NAMES, *KERAS_OPTIMIZER_NAMES]),
    learning_rate=st.floats(0, 1e3),  # the slider ends at 10: the box holds the value
    decay=decays(),
    clipping=st.builds(
        Clipping,
        kind=st.sampled_from(["none", "global_norm", "adaptive"]),
        norm=st.floats(1e-6, 1e6),
        std_factor=st.floats(1e-3, 100),
        decay=st.floats(0, 0.999),
        static_max_norm=st.none() | st.floats(1e-3, 1e3),
    ),
    noise_scale=st.floats(0, 10),
    multipliers=st.dictionaries(st.sampled_from(["x", ".*", "mlp/hidden/.*"]), st.floats(-9, 9)),
    steps=st.integers(1, 10**6),
    batch_size=st.integers(1, 4096),
    seed=st.integers(0, 2**32 - 1),
)
PANEL = ControlPanel()  # one panel for all examples: each Config is written over the last


def _shown(panel, config):
    for path in SCALARS:
        if path in ("clipping.norm", "learning_rate"):
            assert getattr(panel, path.replace(".", "_") + "_text").value == value_at(config, path)
        else:
            assert panel.value(path) == value_at(config, path), path
    for key, value in config.decay.params.items():
        shown = panel.decay_params[key].value
        assert (parse_numbers(shown) if key in ("boundaries", "values") else shown) == value
    assert panel.multiplier_values() == dict(config.multipliers)


@settings(max_examples=60, deadline=None)
@given(configs)
def test_show_writes_every_field_exactly(config):
    PANEL.show(config)
    _shown(PANEL, config)


def test_presets_show_in_the_panel():
    for preset in PRESETS.values():
        for config in preset.configs:
            PANEL.show(config)
            _shown(PANEL, config)


@pytest.mark.parametrize(
    "attribute, value, path, expected",
    [
        ("problem", "saddle", "problem", "saddle"),
        ("optimizer", "Adagrad", "optimizer", "Adagrad"),
        ("learning_rate_text", 0.05, "learning_rate", 0.05),
        ("learning_rate_text", 1e9, "learning_rate", 1e9),
        ("learning_rate_text", -1.0, "learning_rate", -1.0),
        ("decay_name", "cosine_decay", "decay.name", "cosine_decay"),
        ("clipping_kind", "adaptive", "clipping.kind", "adaptive"),
        ("clipping_norm_text", 0.05, "clipping.norm", 0.05),
        ("clipping_std_factor", 3.0, "clipping.std_factor", 3.0),
        ("clipping_decay", 0.5, "clipping.decay", 0.5),
        ("clipping_static_max_norm_on", True, "clipping.static_max_norm", 10.0),
        ("noise_scale", 0.2, "noise_scale", 0.2),
        ("steps", 77, "steps", 77),
        ("batch_size", 9, "batch_size", 9),
        ("seed", 2**40, "seed", 2**40),
    ],
)
def test_each_user_edit_calls_back_once_with_its_field(attribute, value, path, expected):
    panel, calls = ControlPanel(Config(problem="rosenbrock")), []
    panel.on_edit(lambda *call: calls.append(call))
    getattr(panel, attribute).value = value
    assert calls == [(path, expected)]


def test_the_slider_sends_three_digits_and_the_box_wins():
    panel, calls = ControlPanel(), []
    panel.on_edit(lambda *call: calls.append(call))
    panel.learning_rate.value = 0.0501187
    assert calls == [("learning_rate", 0.0501)] and panel.learning_rate_text.value == 0.0501
    panel.learning_rate_text.value = 50.0  # beyond the slider's end: the exact value goes on
    assert calls[-1] == ("learning_rate", 50.0) and panel.learning_rate.value == 10.0


def test_decay_parameters_and_multipliers_call_back_with_their_paths():
    panel = ControlPanel(
        Config(decay=Decay("exponential_decay", {"decay_steps": 10, "decay_rate": 0.5}))
    )
    panel.set_variable_names(["x", "y"])
    calls = []
    panel.on_edit(lambda *call: calls.append(call))
    panel.decay_params["decay_rate"].value = 0.25
    panel.multipliers["x"].value = 0.0
    panel.patterns[-1][0].value = "y|z"
    assert calls == [
        ("decay.params.decay_rate", 0.25),
        ("multipliers", {"x": 0.0}),
        ("multipliers", {"x": 0.0, "y|z": 1.0}),
    ]


def test_list_parameters_are_parsed_never_evaluated(tmp_path):
    panel = ControlPanel(
        Config(
            decay={
                "name": "piecewise_constant",
                "params": {"boundaries": [10], "values": [1.0, 0.1]},
            }
        )
    )
    calls = []
    panel.on_edit(lambda *call: calls.append(call))
    panel.decay_params["boundaries"].value = "10, 20"
    marker = tmp_path / "marker"
    payload = f"__import__('pathlib').Path({str(marker)!r}).touch()"
    panel.decay_params["values"].value = payload
    assert calls == [("decay.params.boundaries", (10, 20)), ("decay.params.values", payload)]
    assert not marker.exists()


def test_show_and_names_call_nothing_and_keep_fields_being_corrected():
    panel, calls = ControlPanel(), []
    panel.on_edit(lambda *call: calls.append(call))
    panel.show(Config(problem="digits-mlp", seed=4), MLP_NAMES)
    panel.set_variable_names(MLP_NAMES)
    assert calls == []
    panel.seed.value = -1  # being corrected: a later show keeps what was typed
    panel.show(Config(problem="digits-mlp", seed=4), keep={"seed"})
    assert panel.seed.value == -1 and panel.optimizer.value == "Adam"


def test_mark_shows_escaped_messages_at_their_fields():
    panel = ControlPanel()
    panel.mark({"learning_rate": "learning_rate: got '<b>' (str); accepted: a number >= 0."})
    shown = panel.messages["learning_rate"]
    assert "&lt;b&gt;" in shown.value and "<b>" not in shown.value
    assert "accepted: a number >= 0." in html.unescape(shown.value)
    assert INVALID_CLASS in panel.learning_rate._dom_classes and shown.layout.display is None
    panel.mark({})
    assert shown.value == "" and INVALID_CLASS not in panel.learning_rate._dom_classes


@pytest.mark.parametrize("path", ["learning_rate", "clipping.norm"])
def test_mark_puts_the_invalid_class_on_the_box_the_user_typed_into(path):
    panel = ControlPanel()
    name = path.replace(".", "_")
    slider, box = getattr(panel, name), getattr(panel, f"{name}_text")
    panel.mark({path: f"{path}: got -1.0 (float); accepted: a number > 0."})
    assert INVALID_CLASS in box._dom_classes and INVALID_CLASS in slider._dom_classes
    assert panel.messages[path].layout.display is None
    panel.mark({"seed": "seed: got -1 (int); accepted: an integer in [0, 2**32 - 1]."})
    assert INVALID_CLASS not in box._dom_classes and INVALID_CLASS not in slider._dom_classes
    assert INVALID_CLASS in panel.seed._dom_classes


def test_decay_parameter_widgets_follow_the_choice():
    panel = ControlPanel()
    assert panel.decay_box.layout.display == "none"
    panel.decay_name.value = "polynomial_decay"
    assert list(panel.decay_params) == ["decay_steps", "end_learning_rate", "power", "cycle"]
    shown = [row.children[0] for row in panel.decay_box.children]
    assert shown == list(panel.decay_params.values()) and panel.decay_box.layout.display is None


def test_multiplier_rows_follow_the_variable_names():
    panel = ControlPanel(Config(problem="digits-mlp", multipliers={"mlp/hidden/.*": 0.0}))
    assert panel.multipliers == {}
    assert [text.value for text, _ in panel.patterns] == ["mlp/hidden/.*", ""]
    panel.set_variable_names(MLP_NAMES)
    assert list(panel.multipliers) == MLP_NAMES
    assert all(row in panel.multipliers_box.children for row in panel.multipliers.values())
    panel.add_pattern.click()
    assert len(panel.patterns) == 3 and panel.patterns[-1][0].value == ""


def test_your_own_problem_is_listed_and_described():
    panel = ControlPanel(Config(problem="my-model"), own_problem="my-model")
    assert ("my-model (your problem)", "my-model") in panel.problem.options
    assert "Your own problem" in panel.problem_description.value


def _walk(widget):
    yield widget
    for child in getattr(widget, "children", ()):
        yield from _walk(child)


def test_every_control_has_a_tooltip_from_the_field_table():
    panel = ControlPanel()
    panel.set_variable_names(MLP_NAMES)
    for path, widget in panel.controls.items():
        assert widget.tooltip == FIELDS[path].help
    seen = set()
    for decay in ["none", *DECAY_FUNCTIONS]:  # each decay's parameters are in the tree in turn
        panel.decay_name.value = decay
        for widget in _walk(panel.widget):
            seen.add(type(widget).__name__)
            if isinstance(widget, (w.Box, w.HTML)):
                continue
            assert widget.tooltip, f"{type(widget).__name__} {getattr(widget, 'description', '')}"
    assert {"FloatLogSlider", "FloatText", "IntText", "Checkbox", "Text", "Dropdown"} <= seen


def test_close_closes_every_widget_it_made():
    panel = ControlPanel()
    panel.set_variable_names(MLP_NAMES)
    made = list(panel._all_widgets())
    panel.close()
    assert all(widget.comm is None for widget in made)
