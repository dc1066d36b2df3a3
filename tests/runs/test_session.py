"""Session: the explorer's model without widgets — edits, invalid fields, runs, presets, JSON."""

import numpy as np
import pytest

from olexplore.runs import Config
from olexplore.runs.presets import PRESETS
from olexplore.runs.session import Session

QUAD = Config(problem="quadratic", optimizer="SGD", learning_rate=0.1, steps=60)


def test_live_edit_applies_to_the_running_run_without_retrace():
    session = Session(QUAD)
    session.step(10)
    run, traces = session.current, session.current.traces
    edit = session.edit("learning_rate", 0.05)
    assert edit.kind == "live" and edit.applied == {"learning_rate": (0.1, 0.05)}
    assert "applied live at step 10" in edit.message
    session.run()
    assert session.current is run and run.traces == traces
    assert run.history["learning_rate"][9] == pytest.approx(0.1)
    assert run.history["learning_rate"][10] == pytest.approx(0.05)


def test_reset_edit_keeps_the_run_that_trained_and_builds_the_next_from_new_settings():
    session = Session(QUAD)
    session.step(5)
    first = session.current
    edit = session.edit("optimizer", "Adam")
    assert edit.kind == "reset" and "kept" in edit.message
    assert first.status == "stopped" and "optimizer changed" in first.reason
    assert session.current is not first and session.current.config.optimizer == "Adam"
    assert session.runs == [first, session.current]


def test_reset_of_an_untrained_run_does_not_keep_an_empty_run():
    session = Session(QUAD)
    _ = session.current
    session.edit("seed", 4)
    session.edit("seed", 5)
    assert session.current.config.seed == 5 and len(session.runs) == 1


def test_invalid_edit_changes_nothing_is_listed_and_refuses_training():
    session = Session(QUAD)
    edit = session.edit("clipping.norm", 0)
    assert edit.kind == "invalid"
    assert edit.message == "clipping.norm: got 0 (int); accepted: a number > 0."
    assert session.config == QUAD and session.invalid == {"clipping.norm": edit.message}
    with pytest.raises(ValueError, match="cannot train while settings are invalid: clipping.norm"):
        session.run()
    assert session.edit("clipping.norm", 2.0).kind == "live"  # no effect without clipping
    assert session.invalid == {}
    assert len(session.run()) == 60


@pytest.mark.parametrize(
    "path, value, message",
    [
        ("learning_rate", "0.05", "learning_rate: got '0.05' (str); accepted: a number >= 0."),
        ("learning_rate", float("inf"), "learning_rate: got inf (float)"),
        ("seed", 2**40, "seed: got 1099511627776 (int); accepted: an integer from 0 to"),
        ("steps", 0, "steps: got 0 (int); accepted: an integer from 1 to 10000000."),
        ("decay.params.decay_rate", -5, "decay.params.decay_rate: got -5 (int)"),
        (
            "problem",
            "rosenbrok",
            "problem: got 'rosenbrok' (str); accepted: one of quadratic, rosenbrock",
        ),
        ("multipliers", {"(": 0.0}, "multipliers: key '(' is not a regular expression"),
    ],
)
def test_invalid_messages_name_field_value_and_accepted(path, value, message):
    session = Session(
        QUAD.replace(
            decay={"name": "exponential_decay", "params": {"decay_steps": 10, "decay_rate": 0.5}}
        )
    )
    edit = session.edit(path, value)
    assert edit.kind == "invalid" and message in edit.message, edit.message


def test_the_typed_learning_rate_is_taken_exactly():
    session = Session(QUAD)
    assert session.edit("learning_rate", 0.05).kind == "live"
    assert session.config.learning_rate == 0.05
    assert session.edit("learning_rate", 1e9).kind == "live"
    assert session.config.learning_rate == 1e9
    assert session.edit("learning_rate", -1).kind == "invalid"
    assert session.config.learning_rate == 1e9


def test_unknown_field_is_an_error_listing_the_fields():
    with pytest.raises(ValueError, match="field: got 'lr' .str.; accepted: one of problem"):
        Session().edit("lr", 0.1)


def test_steps_below_the_current_step_is_invalid_and_names_it():
    session = Session(QUAD)
    session.step(30)
    edit = session.edit("steps", 20)
    assert edit.kind == "invalid"
    assert "below the current run's step 30" in edit.message
    assert session.edit("steps", 40).kind == "live"
    session.run()
    assert session.current.step == 40 and session.current.status == "finished"


def test_raising_steps_continues_a_finished_run():
    session = Session(QUAD.replace(steps=20))
    session.run()
    run = session.current
    assert session.edit("steps", 30).kind == "live"
    session.run()
    assert session.current is run and run.step == 30


def test_step_leaves_the_run_paused():
    session = Session(QUAD)
    history = session.step(3)
    assert len(history) == 3 and session.current.status == "paused"
    session.step()
    assert session.current.step == 4 and session.current.status == "paused"
    with pytest.raises(ValueError, match="count: got -5 .int.; accepted: an integer >= 1"):
        session.step(-5)
    with pytest.raises(ValueError, match="steps: got '3' .str.; accepted: an integer >= 0"):
        session.run("3")


def test_problem_change_drops_what_does_not_apply_and_applies_suggested_settings():
    session = Session(PRESETS["multipliers freeze a layer"].configs[1])
    assert session.current.variable_names[0].startswith("mlp/hidden")
    session.step(2)
    edit = session.edit("problem", "digits-cnn")
    assert edit.kind == "reset"
    assert edit.dropped == ("multipliers['mlp/hidden/.*']",)
    assert "dropped" in edit.message and "mlp/hidden" in edit.message
    assert session.config.multipliers == {}
    current = session.current
    assert current.config.problem == "digits-cnn" and current.status == "ready"
    session.step(1)  # the CNN trains: the MLP's pattern is gone
    assert current.step == 1


def test_problem_change_keeps_patterns_that_still_match():
    session = Session(Config(problem="digits-mlp", multipliers={".*bias": 0.5}, steps=5))
    session.edit("problem", "digits-cnn")
    assert session.config.multipliers == {".*bias": 0.5}
    assert session.current.config.multipliers == {".*bias": 0.5}


def test_problem_change_applies_the_problems_suggested_settings():
    session = Session(QUAD)
    session.edit("problem", "exploding-gradients")
    config = session.config
    assert config.clipping.kind == "global_norm" and config.clipping.norm == 1.0
    session.edit("problem", "quadratic")
    assert session.config.problem == "quadratic"


def test_problem_params_that_the_new_problem_lacks_are_dropped():
    session = Session(QUAD.replace(problem_params={"condition_number": 10.0}))
    edit = session.edit("problem", "rosenbrock")
    assert "problem_params.condition_number" in edit.dropped
    assert session.config.problem_params == {}


def test_multipliers_must_match_the_problems_variables():
    session = Session(Config(problem="digits-mlp", steps=5))
    edit = session.edit("multipliers", {"conv/.*": 0.0})
    assert edit.kind == "invalid" and "matches no variable" in edit.message
    assert "mlp/hidden/kernel" in edit.message
    assert session.edit("multipliers", {"mlp/output/.*": 0.0}).kind == "reset"


def test_delete_and_undo():
    session = Session(QUAD.replace(steps=10))
    session.run()
    first = session.current
    session.edit("learning_rate", 0.05)
    session.run()
    second = session.current
    assert session.runs == [first, second]
    session.delete(first)
    assert session.runs == [second]
    assert session.undo() is first and session.runs == [first, second]
    assert session.undo() is None
    session.delete(second)
    assert not session.has_current
    with pytest.raises(ValueError, match="accepted: one of session.runs"):
        session.delete(second)


def test_labels_say_what_differs_from_the_first_run_and_live_changes():
    session = Session(QUAD.replace(steps=20))
    session.run()
    first = session.current
    session.edit("optimizer", "Momentum")
    session.edit("multipliers", {"x": 0.5})
    session.edit("clipping.norm", 3.0)  # no effect: clipping is off
    session.step(10)
    session.edit("learning_rate", 0.02)
    second = session.current
    assert session.label(first) == "SGD lr 0.1"
    assert session.label(second) == "Momentum, × x=0.5; lr 0.1→0.02 at step 10"
    assert "(" not in session.label(second) and "{" not in session.label(second)


def test_load_json_failure_keeps_the_config_and_names_the_field():
    session = Session(QUAD)
    with pytest.raises(ValueError, match="clipping.kind: got 'max'"):
        session.load_json('{"problem": "quadratic", "clipping": {"kind": "max"}}')
    with pytest.raises(ValueError, match="config: not valid JSON"):
        session.load_json("{nope")
    assert session.config == QUAD
    loaded = session.load_json(QUAD.replace(seed=9).to_json())
    assert loaded.seed == 9 and session.current.config.seed == 9
    assert Config.from_json(session.to_json()) == session.config


def test_a_preset_is_a_queue_of_runs_trained_in_order():
    session = Session(QUAD)
    session.run()
    runs = session.apply_preset(PRESETS["learning rate too high diverges"])
    assert [session.label(run) for run in runs] == ["lr 0.1", "lr 0.3 (too high)"]
    assert session.current is runs[-1] and session.queue == runs[:-1]
    histories = session.run_queue()
    assert [run.status for run in runs] == ["finished", "diverged"]
    assert len(histories) == 2 and np.isfinite(histories[0]["loss"][-1])
    assert session.undo().config == QUAD  # the run before the preset is restorable


def test_same_settings_give_the_same_history_in_one_session():
    session = Session(QUAD.replace(noise_scale=0.1))
    first = session.run()
    session.reset()
    second = session.run()
    np.testing.assert_array_equal(first["loss"], second["loss"])


def test_a_label_never_ends_in_an_empty_word():
    session = Session(QUAD.replace(problem_params={"condition_number": 10.0}, steps=5))
    session.run()
    session.edit("problem", "rosenbrock")
    session.run(steps=2)
    label = session.label(session.current)
    assert label.startswith("rosenbrock, ") and not label.rstrip().endswith(",")
    assert ", ," not in label
