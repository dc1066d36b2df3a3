"""Ctrl-C and faults inside Run.run(): nothing lost, history and weights agree, runs continue.

The losses here call a ``tf.py_function`` at every step, so a test can interrupt or break the
chunk at an exact step from inside the fused ``tf.function`` call, as a real Ctrl-C or a bug in
the user's loss does.
"""

import os
import signal
import threading
import time

import numpy as np
import pytest
import tensorflow as tf

from olexplore.problems import CustomProblem
from olexplore.runs import Config, Run
from olexplore.runs.run import RunBusyError

CONFIG = Config(problem="custom", optimizer="Adam", learning_rate=0.05, steps=120, seed=0)


class Trigger:
    """Counts the loss's calls; once armed, does ``action`` at the ``at``-th call from then,
    once; ``fail_on`` (weights) raises whenever the loss sees exactly those weights."""

    def __init__(self):
        self.calls = 0
        self.at = None
        self.action = None
        self.delay = 0.0
        self.fail_on = None

    def arm(self, at, action):
        self.calls, self.at, self.action = 0, at, action

    def __call__(self, w):
        self.calls += 1
        if self.delay:
            time.sleep(self.delay)
        if self.fail_on is not None and np.array_equal(w.numpy(), self.fail_on):
            raise ValueError("the user's loss broke")
        if self.at is not None and self.calls >= self.at:
            action, self.at = self.action, None
            action()
        return np.float32(1.0)


def problem_with(trigger):
    """A 2-D bowl whose loss passes through ``trigger`` (a py_function) at every step."""
    w = tf.Variable([1.5, -2.0], name="w")

    def loss():
        scale = tf.stop_gradient(tf.py_function(trigger, [w], tf.float32))
        scale.set_shape([])
        return scale * tf.reduce_sum(tf.constant([1.0, 4.0]) * tf.square(w))

    return CustomProblem(loss, variables=[w]), w


def reference():
    """The same run, never interrupted: its history step by step and its weights after each."""
    trigger = Trigger()
    problem, w = problem_with(trigger)
    run = Run(CONFIG, problem)
    weights = []
    while not run.done:
        run.advance(1)
        weights.append(w.numpy().copy())
    return run.history, np.array(weights)


@pytest.fixture(scope="module")
def expected():
    return reference()


def assert_agree(run, w, expected):
    """The history is the uninterrupted run's first steps, and the weights are its weights."""
    history, weights = expected
    step = run.step
    assert int(run.train_op.iterations.numpy()) == step
    np.testing.assert_array_equal(run.history["loss"], history["loss"][:step])
    if step:
        np.testing.assert_array_equal(w.numpy(), weights[step - 1])


def raise_keyboard_interrupt():
    raise KeyboardInterrupt


def test_ctrl_c_from_a_progress_callback_pauses_and_the_run_continues(expected):
    trigger = Trigger()
    problem, w = problem_with(trigger)
    run = Run(CONFIG, problem)
    calls = []

    def progress(r):
        calls.append(r.step)
        if len(calls) == 2:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        run.run(progress=progress)
    assert run.status == "paused" and run.reason == f"interrupted at step {calls[-1]}"
    assert run.step == calls[-1] > 0
    assert_agree(run, w, expected)
    history = run.run()
    assert run.status == "finished" and run.reason is None
    np.testing.assert_array_equal(history["loss"], expected[0]["loss"])


def test_ctrl_c_raised_inside_the_loss_keeps_the_chunks_good_steps(expected):
    trigger = Trigger()
    problem, w = problem_with(trigger)
    run = Run(CONFIG, problem)
    run.advance(10)
    assert run.step == 10
    trigger.arm(7, raise_keyboard_interrupt)  # the 7th step of the next chunk
    with pytest.raises(KeyboardInterrupt):
        run.advance(40)
    assert run.status == "paused" and run.reason == f"interrupted at step {run.step}"
    # 10 + the 6 steps before the interrupted one; the step counter, which does not wait for
    # the loss, may have counted the 7th, and the replay then runs it (once) too.
    assert run.step in (16, 17)
    assert_agree(run, w, expected)
    run.run()
    assert run.status == "finished"
    np.testing.assert_array_equal(run.history["loss"], expected[0]["loss"])
    np.testing.assert_array_equal(w.numpy(), expected[1][-1])


def test_a_real_sigint_mid_chunk_is_held_until_the_chunk_is_recorded(expected):
    trigger = Trigger()
    problem, w = problem_with(trigger)
    run = Run(CONFIG, problem)
    run.advance(4)
    trigger.arm(5, lambda: os.kill(os.getpid(), signal.SIGINT))
    with pytest.raises(KeyboardInterrupt):
        run.run(steps=30)
    assert run.status == "paused"
    assert run.step > 4 + 5  # the whole chunk was recorded, not dropped
    assert_agree(run, w, expected)
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler
    run.run()
    np.testing.assert_array_equal(run.history["loss"], expected[0]["loss"])


def test_an_error_in_the_loss_names_the_real_step_and_keeps_the_steps_before_it(expected):
    trigger = Trigger()
    problem, w = problem_with(trigger)
    run = Run(CONFIG, problem)
    run.advance(12)
    trigger.fail_on = expected[1][19]  # step 20 sees the weights after 20 updates: it fails
    ran = run.advance(50)
    assert run.status == "failed" and ran == 8
    assert run.step == 20  # steps 12..19 kept, as the weights saw them
    assert run.reason.startswith("failed at step 20: InvalidArgumentError: ")
    assert "the user's loss broke" in run.reason
    assert_agree(run, w, expected)
    assert run.advance() == 0 and run.step == 20  # a failed run stays as it is


def test_a_one_off_error_in_the_loss_leaves_history_and_weights_agreeing(expected):
    trigger = Trigger()
    problem, w = problem_with(trigger)
    run = Run(CONFIG, problem)
    run.advance(12)

    def broken_once():
        raise ValueError("a passing fault")

    trigger.arm(9, broken_once)
    ran = run.advance(50)
    assert run.status == "failed" and ran == run.step - 12
    assert run.step in (20, 21)
    assert run.reason.startswith(f"failed at step {run.step}: InvalidArgumentError: ")
    assert "a passing fault" in run.reason
    assert_agree(run, w, expected)


def test_a_second_thread_is_refused_at_once_and_the_first_run_is_unharmed(expected):
    trigger = Trigger()
    trigger.delay = 0.01
    problem, w = problem_with(trigger)
    run = Run(CONFIG, problem)
    errors = []
    thread = threading.Thread(target=lambda: errors.append(run.run()))
    thread.start()
    while run.step == 0 and thread.is_alive():
        time.sleep(0.01)
    began = time.perf_counter()
    with pytest.raises(RunBusyError, match=r"run: another thread is training this Run"):
        run.run()
    with pytest.raises(RunBusyError, match=r"one thread at a time"):
        run.advance()
    assert time.perf_counter() - began < 0.5  # refused at once, not after waiting
    thread.join()
    assert run.status == "finished" and run.step == CONFIG.steps
    np.testing.assert_array_equal(run.history["loss"], expected[0]["loss"])
    assert run.run() is run.history  # free again once the other thread is done


def test_release_from_another_thread_stops_the_run_and_waits_for_the_chunk(expected):
    trigger = Trigger()
    trigger.delay = 0.01
    problem, w = problem_with(trigger)
    run = Run(CONFIG, problem)
    thread = threading.Thread(target=run.run)
    thread.start()
    while run.step == 0 and thread.is_alive():
        time.sleep(0.01)
    with pytest.raises(RunBusyError, match=r"release\(\) it once that thread's run\(\) has"):
        run.release()
    thread.join()
    assert run.status == "stopped" and 0 < run.step < CONFIG.steps
    assert_agree(run, w, expected)
    run.release()
    assert run.train_op is None and run.step == len(run.history)
