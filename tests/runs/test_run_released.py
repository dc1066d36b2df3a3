"""A released Run (its TensorFlow objects dropped) refuses what needs them, by name."""

import pytest

from olexplore.runs import Config, Run

QUADRATIC = Config(problem="quadratic", optimizer="SGD", learning_rate=0.1, steps=10)


def test_reopening_a_released_finished_run_fails_it_with_a_clear_reason():
    run = Run(QUADRATIC)
    history = run.run()
    run.release()  # a finished run stays finished: set_steps may reopen it
    run.set_steps(20)
    with pytest.raises(ValueError, match="this run was released; training needs a run that"):
        run.run()
    assert run.status == "failed" and run.step == 10 and len(history) == 10
    assert run.reason == (
        "failed at step 10: ValueError: this run was released; training needs a run that was "
        "not (start a new Run with the same Config)."
    )


def test_traces_and_live_changes_of_a_released_run_say_it_was_released():
    run = Run(QUADRATIC)
    run.run(steps=3)
    assert run.traces >= 1  # readable while built
    run.release()
    with pytest.raises(ValueError, match="released; counting traces needs a run that was not"):
        _ = run.traces
    with pytest.raises(ValueError, match="released; a live change needs a run that was not"):
        run.set_learning_rate(0.5)
    assert run.config.learning_rate == 0.1 and run.changes == []
