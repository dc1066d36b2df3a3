"""The control panel reads and writes Configs, shows bad input and reports each user edit once."""

import ipywidgets as w
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from olexplore.engine.learning_rate import DECAY_FUNCTIONS
from olexplore.engine.optimizers import KERAS_OPTIMIZER_NAMES, OPTIMIZER_CLS_NAMES
from olexplore.problems import problem_names
from olexplore.runs.config import REQUIRED, Clipping, Config, Decay, decay_parameters
from olexplore.runs.run import LIVE_FIELDS
from olexplore.ui.controls import ControlPanel, parse_numbers, suggested_decay_params

NAMES = ["x", "y"]
MLP_NAMES = ["mlp/hidden/kernel", "mlp/hidden/bias", "mlp/output/kernel", "mlp/output/bias"]


# ----------------------------------------------------------------- strategies
def _decay_value(key):
    if key in ("staircase", "cycle"):
        return st.booleans()
    if key in ("decay_steps", "first_decay_steps"):
        return st.integers(1, 10**6)
    return st.floats(-1e3, 1e3, allow_nan=False)


@st.composite
def decays(draw):
    name = draw(st.sampled_from(["none", *DECAY_FUNCTIONS]))
    if name == "none":
        return Decay()
    if name == "piecewise_constant":
        boundaries = sorted(draw(st.sets(st.integers(0, 10**5), min_size=1, max_size=4)))
        values = draw(
            st.lists(
                st.floats(0, 10, allow_nan=False),
                min_size=len(boundaries) + 1,
                max_size=len(boundaries) + 1,
            )
        )
        return Decay(name, {"boundaries": boundaries, "values": values})
    params = {}
    for key, default in decay_parameters(name).items():
        if default is REQUIRED:
            params[key] = draw(_decay_value(key))
        elif draw(st.booleans()):  # optional ones sometimes, and sometimes at their default
            params[key] = draw(st.just(default) | _decay_value(key))
    return Decay(name, params)


clippings = st.builds(
    Clipping,
    kind=st.sampled_from(["none", "global_norm", "adaptive"]),
    norm=st.floats(1e-6, 1e6),
    std_factor=st.floats(1e-3, 100),
    decay=st.floats(0, 0.999),
    static_max_norm=st.none() | st.floats(1e-3, 1e3),
)


def configs(multiplier_keys=("x", "y", "x|y", ".*", "mlp/hidden/.*")):
    return st.builds(
        Config,
        problem=st.sampled_from([*problem_names(), "not-yet-registered"]),
        optimizer=st.sampled_from([*OPTIMIZER_CLS_NAMES, *KERAS_OPTIMIZER_NAMES]),
        learning_rate=st.floats(0, 1e3),  # the slider ends at 10
        decay=decays(),
        clipping=clippings,
        noise_scale=st.floats(0, 10),
        multipliers=st.dictionaries(
            st.sampled_from(multiplier_keys), st.floats(-10, 10), max_size=3
        ),
        steps=st.integers(1, 10**6),
        batch_size=st.integers(1, 4096),
        seed=st.integers(0, 2**31 - 1),
        problem_params=st.sampled_from([{}, {"condition_number": 4.0}]),
    )


# One panel for all examples: each Config is written over whatever the previous one left.
PANEL = ControlPanel()


# ----------------------------------------------------------------- round trips
def test_default_panel_describes_the_default_config():
    panel = ControlPanel()
    assert panel.config == Config()
    assert panel.valid and panel.error_message == ""


@settings(max_examples=80, deadline=None)
@given(configs())
def test_config_round_trips_through_the_widgets(config):
    PANEL.config = config
    assert PANEL.config == config
    assert PANEL.valid and PANEL.error_message == ""
    assert PANEL.last_valid_config == config


@settings(max_examples=40, deadline=None)
@given(configs(multiplier_keys=("x", "y", "x|y", "[xy]")))
def test_round_trip_survives_variable_rows(config):
    PANEL.config = config
    PANEL.set_variable_names(NAMES)
    assert PANEL.config == config
    for name in NAMES:
        assert PANEL.multipliers[name].value == config.multipliers.get(name, 1.0)


def test_unregistered_problem_is_kept_and_labelled():
    panel = ControlPanel(Config(problem="some-future-problem"))
    assert panel.config.problem == "some-future-problem"
    assert ("some-future-problem (not registered)", "some-future-problem") in panel.problem.options
    assert "not registered" in panel.problem_description.value


# ----------------------------------------------------------------- decay
def test_decay_parameter_widgets_appear_and_disappear_with_the_choice():
    panel = ControlPanel(Config(steps=300, learning_rate=0.1))
    assert panel.decay_box.children == () and panel.decay_box.layout.display == "none"
    for name in DECAY_FUNCTIONS:
        panel.decay_name.value = name
        shown = panel.decay_params
        assert list(shown) == list(decay_parameters(name))
        assert list(panel.decay_box.children) == list(shown.values())
        assert panel.decay_box.layout.display != "none"
        for key, widget in shown.items():
            expected = {"staircase": w.Checkbox, "cycle": w.Checkbox, "boundaries": w.Text}
            expected |= {"values": w.Text, "decay_steps": w.IntText, "first_decay_steps": w.IntText}
            assert type(widget) is expected.get(key, w.FloatText)
        # every choice is usable at once: required parameters are pre-filled for this run
        assert panel.valid
        config = panel.config
        assert config.decay.name == name
        suggested = suggested_decay_params(name, steps=300, learning_rate=0.1)
        required = [k for k, v in decay_parameters(name).items() if v is REQUIRED]
        assert {k: config.decay.params[k] for k in required} == {k: suggested[k] for k in required}
    panel.decay_name.value = "none"
    assert panel.decay_box.children == () and panel.decay_box.layout.display == "none"
    assert panel.config.decay == Decay()


def test_required_decay_parameters_get_sensible_values():
    assert suggested_decay_params("exponential_decay", steps=500)["decay_steps"] == 100
    assert suggested_decay_params("exponential_decay")["decay_rate"] == 0.5
    assert suggested_decay_params("cosine_decay", steps=300)["decay_steps"] == 300
    piecewise = suggested_decay_params("piecewise_constant", steps=2, learning_rate=0.5)
    assert piecewise == {"boundaries": (1, 2), "values": (0.5, 0.05, 0.005)}
    panel = ControlPanel(Config(steps=300, learning_rate=0.1))
    panel.decay_name.value = "piecewise_constant"
    assert panel.decay_params["boundaries"].value == "150, 225"
    assert panel.decay_params["values"].value == "0.1, 0.01, 0.001"


def test_optional_decay_parameters_are_kept_only_when_given_or_edited():
    panel = ControlPanel()
    panel.decay_name.value = "exponential_decay"
    assert "staircase" not in panel.config.decay.params
    panel.decay_params["staircase"].value = True
    panel.decay_params["staircase"].value = False  # edited back to the default: still explicit
    assert panel.config.decay.params["staircase"] is False
    given = Decay("cosine_decay", {"decay_steps": 10, "alpha": 0.0})
    panel.config = Config(decay=given)
    assert panel.config.decay == given


def test_list_parameters_are_parsed_never_evaluated():
    assert parse_numbers("100, 200,", "b") == (100, 200)
    assert parse_numbers(" 1e-3 ", "v") == (0.001,)
    for text in ("__import__('os').getcwd()", "[1, 2]", "1 + 1", ""):
        with pytest.raises(ValueError, match="accepted: comma-separated numbers"):
            parse_numbers(text, "decay.params.boundaries")


# ----------------------------------------------------------------- learning rate
def test_typed_learning_rate_beyond_the_slider_still_works():
    panel = ControlPanel()
    panel.learning_rate_text.value = 50.0
    assert panel.learning_rate.value == 10.0  # the slider's end
    assert panel.config.learning_rate == 50.0
    panel.learning_rate_text.value = 1e-7
    assert panel.learning_rate.value == pytest.approx(1e-5)
    assert panel.config.learning_rate == 1e-7
    panel.learning_rate.value = 10**-1.5  # dragging the slider writes a readable number
    assert panel.learning_rate_text.value == 0.0316
    assert panel.config.learning_rate == 0.0316
    panel.config = Config(learning_rate=123.0)
    assert panel.learning_rate.value == 10.0 and panel.config.learning_rate == 123.0


# ----------------------------------------------------------------- bad input
def _set(attribute, value, *, decay=None, pattern=False):
    def edit(panel):
        if decay:
            panel.decay_name.value = decay
        if pattern:
            panel.patterns[0][0].value = value
        elif decay and attribute in panel.decay_params:
            panel.decay_params[attribute].value = value
        else:
            getattr(panel, attribute).value = value

    return edit


BAD_INPUT = [
    (_set("learning_rate_text", -0.5), r"learning_rate: got -0\.5 .*accepted: a number >= 0"),
    (_set("x(", "x(", pattern=True), r"multipliers: key 'x\(' is not a regular expression"),
    (_set("z.*", "z.*", pattern=True), r"multipliers: key 'z\.\*' matches no variable.*'x'"),
    (_set("decay_steps", 0, decay="exponential_decay"), r"decay.params.decay_steps: got 0"),
    (_set("decay_rate", float("inf"), decay="exponential_decay"), r"decay_rate: got inf"),
    (_set("boundaries", "10, ten", decay="piecewise_constant"), r"'ten' is not a number"),
    (_set("boundaries", "200, 100", decay="piecewise_constant"), r"increasing step numbers"),
    (_set("values", "0.1, 0.01", decay="piecewise_constant"), r"one more value than boundar"),
    (_set("clipping_decay", 1.0), r"clipping.decay: got 1.0; accepted: a number in \[0, 1\)"),
    (_set("clipping_std_factor", -2.0), r"clipping.std_factor: got -2.0"),
    (_set("noise_scale", -0.1), r"noise_scale: got -0.1"),
    (_set("steps", 0), r"steps: got 0 .*accepted: an integer >= 1"),
    (_set("batch_size", -4), r"batch_size: got -4"),
    (_set("seed", -1), r"seed: got -1"),
]


@pytest.mark.parametrize(("edit", "message"), BAD_INPUT)
def test_bad_input_shows_a_message_and_keeps_the_last_valid_config(edit, message):
    good = Config(problem="quadratic", optimizer="SGD", learning_rate=0.2, steps=100)
    panel = ControlPanel(good, variable_names=NAMES)
    edit(panel)  # a widget edit never raises into the kernel
    assert not panel.valid
    assert panel.error_message and panel.error.value
    with pytest.raises(ValueError, match=message):
        _ = panel.config
    assert panel.last_valid_config.learning_rate == 0.2 and panel.last_valid_config.steps == 100
    panel.config = good  # fixing the input clears the message
    assert panel.valid and panel.error_message == "" and panel.error.value == ""


def test_messages_are_escaped_html():
    panel = ControlPanel(variable_names=NAMES)
    panel.patterns[0][0].value = "<b>("
    assert "&lt;b&gt;" in panel.error.value and "<b>" not in panel.error.value


def test_duplicate_multiplier_keys_are_an_error():
    panel = ControlPanel(variable_names=NAMES)
    panel.multipliers["x"].value = 0.5
    panel.patterns[0][0].value = "x"
    panel.patterns[0][1].value = 2.0
    with pytest.raises(ValueError, match="'x' is given twice"):
        _ = panel.config


# ----------------------------------------------------------------- callbacks
STEPS_LIVE = "steps" in LIVE_FIELDS
EDITS = [
    ("learning_rate", 0.1, "learning_rate", True),
    ("learning_rate_text", 0.02, "learning_rate", True),
    ("clipping_norm", 5.0, "clipping.norm", True),
    ("noise_scale", 0.3, "noise_scale", True),
    ("problem", "rosenbrock", "problem", False),
    ("optimizer", "Adam", "optimizer", False),
    ("seed", 7, "seed", False),
    ("batch_size", 16, "batch_size", False),
    ("steps", 250, "steps", STEPS_LIVE),
    ("decay_name", "polynomial_decay", "decay.name", False),
    ("clipping_kind", "adaptive", "clipping.kind", False),
    ("clipping_std_factor", 3.0, "clipping.std_factor", False),
    ("clipping_decay", 0.5, "clipping.decay", False),
    ("clipping_static_max_norm_on", True, "clipping.static_max_norm", False),
]


@pytest.mark.parametrize(("attribute", "value", "field", "live"), EDITS)
def test_each_user_edit_calls_back_once_with_its_live_flag(attribute, value, field, live):
    start = Config(problem="quadratic", optimizer="SGD", clipping=Clipping("global_norm", norm=1.0))
    panel = ControlPanel(start, variable_names=NAMES)
    calls = []
    panel.on_change(lambda *args: calls.append(args))
    getattr(panel, attribute).value = value
    assert calls == [(field, live)]
    assert panel.valid


def test_edits_of_decay_parameters_and_multipliers_call_back_once():
    panel = ControlPanel(
        Config(decay=Decay("exponential_decay", {"decay_steps": 5, "decay_rate": 0.5}))
    )
    panel.set_variable_names(NAMES)
    calls = []
    panel.on_change(lambda *args: calls.append(args))
    panel.decay_params["decay_rate"].value = 0.9
    panel.multipliers["y"].value = 0.0
    panel.patterns[0][0].value = "x"
    assert calls == [
        ("decay.params.decay_rate", False),
        ("multipliers", False),
        ("multipliers", False),
    ]
    assert panel.config.multipliers == {"y": 0.0, "x": 1.0}


def test_setting_a_config_or_names_calls_nothing():
    panel = ControlPanel()
    calls = []
    panel.on_change(lambda *args: calls.append(args))
    panel.config = Config(
        problem="digits-mlp",
        optimizer="RMSProp",
        learning_rate=0.003,
        decay=Decay("piecewise_constant", {"boundaries": [10], "values": [0.1, 0.01]}),
        clipping=Clipping("adaptive", static_max_norm=5.0),
        noise_scale=0.2,
        multipliers={"mlp/hidden/.*": 0.0},
        steps=42,
        batch_size=8,
        seed=3,
    )
    panel.set_variable_names(MLP_NAMES)
    assert calls == []
    assert panel.valid


def test_callbacks_can_be_removed_and_failing_ones_are_shown():
    panel = ControlPanel()
    calls = []

    def record(*args):
        calls.append(args)

    def broken(field, live):
        raise RuntimeError("boom")

    panel.on_change(record)
    panel.on_change(broken)
    panel.seed.value = 5
    assert calls == [("seed", False)]
    assert "on_change callback for seed failed: RuntimeError: boom" in panel.error_message
    panel.on_change(record, remove=True)
    panel.on_change(broken, remove=True)
    panel.seed.value = 6
    assert calls == [("seed", False)]


def test_a_user_choosing_another_problem_drops_its_parameters():
    panel = ControlPanel(Config(problem="quadratic", problem_params={"condition_number": 4}))
    assert panel.config.problem_params == {"condition_number": 4.0}
    panel.problem.value = "rosenbrock"
    assert panel.config.problem_params == {}
    assert "Banana" in panel.problem_description.value


# ----------------------------------------------------------------- multipliers
def test_multiplier_rows_follow_the_variable_names():
    panel = ControlPanel(Config(problem="digits-mlp", multipliers={"mlp/hidden/.*": 0.0}))
    assert panel.multipliers == {}
    assert [text.value for text, _ in panel.patterns] == ["mlp/hidden/.*", ""]
    panel.set_variable_names(MLP_NAMES)
    assert list(panel.multipliers) == MLP_NAMES
    assert all(row.value == 1.0 for row in panel.multipliers.values())
    assert all(row in panel.multipliers_box.children for row in panel.multipliers.values())
    assert panel.config.multipliers == {"mlp/hidden/.*": 0.0}
    panel.multipliers["mlp/output/bias"].value = 0.5
    panel.add_pattern.click()
    assert len(panel.patterns) == 3 and panel.patterns[-1][0].value == ""
    assert panel.config.multipliers == {"mlp/output/bias": 0.5, "mlp/hidden/.*": 0.0}
    # A new problem's names: matching factors stay on their rows, the rest become patterns.
    panel.set_variable_names(["mlp/output/bias", "other"])
    assert list(panel.multipliers) == ["mlp/output/bias", "other"]
    assert panel.multipliers["mlp/output/bias"].value == 0.5
    assert not panel.valid and "'mlp/hidden/.*' matches no variable" in panel.error_message


# ----------------------------------------------------------------- tooltips
def _walk(widget):
    yield widget
    for child in getattr(widget, "children", ()):
        yield from _walk(child)


def test_every_control_has_a_tooltip():
    panel = ControlPanel(variable_names=MLP_NAMES)
    seen = set()
    for decay in ["none", *DECAY_FUNCTIONS]:  # each decay's parameters are in the tree in turn
        panel.decay_name.value = decay
        for widget in _walk(panel.widget):
            seen.add(type(widget).__name__)
            if isinstance(widget, w.Box):
                continue
            assert widget.tooltip, f"{type(widget).__name__} {getattr(widget, 'description', '')}"
            if isinstance(widget, w.ToggleButtons):
                assert len(widget.tooltips) == len(widget.options) and all(widget.tooltips)
    assert {"FloatLogSlider", "FloatText", "IntText", "Checkbox", "Text", "Dropdown"} <= seen
    assert {"ToggleButtons", "Button", "HTML"} <= seen
