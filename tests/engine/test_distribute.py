"""optimize_loss under tf.distribute: results equal one-device training on the same global batch.

The train op splits the global batch over the replicas, sums the gradients, and only then adds
noise, applies multipliers and clips, so every number matches one device. TensorFlow's devices
must be configured before any other call, so each set-up runs in subprocesses
(``distribute_scripts/``) that print JSON:

* ``mirrored.py``: one MirroredStrategy over two logical CPUs; every scenario trains the same
  model on one device and under the strategy, on an odd global batch of 7 (3 + 4 examples).
* ``multi_worker.py``: two MultiWorkerMirroredStrategy workers on 127.0.0.1 and a one-device
  reference, run at the same time.
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

pytestmark = pytest.mark.slow

SCRIPTS = Path(__file__).parent / "distribute_scripts"
TIMEOUT = 150  # seconds from the start of all subprocesses (they run at the same time)
CLIP = 0.5  # common.CLIP
STEPS = 4  # mirrored.STEPS
TOLERANCE = dict(rtol=1e-6, atol=1e-6)
METRIC_TOLERANCE = dict(rtol=1e-5, atol=1e-6)

# scenario -> total steps (fused_* run one single step, then STEPS fused steps)
OPTIMIZE_LOSS_SCENARIOS = {
    "sgd_keras_loss_object": STEPS,  # a Keras loss object scales itself by the replica count
    "sgd_clip_multipliers": STEPS,
    "adam_noise_clip": STEPS,
    "nadam_multipliers_clip": STEPS,
    "adamw_noise_clip": STEPS,
    "momentum_adaptive": STEPS,
    "momentum_adaptive_callable": STEPS,
    "fused_adam_noise_clip": 1 + STEPS,
    "fused_nadam_multipliers_clip": 1 + STEPS,
}
ADAPTIVE = {"momentum_adaptive", "momentum_adaptive_callable"}


def _child_env() -> dict[str, str]:
    env = dict(os.environ)
    for key in list(env):  # gRPC honours proxy variables; the workers talk on 127.0.0.1 only
        if key.lower() in ("http_proxy", "https_proxy", "all_proxy", "grpc_proxy"):
            del env[key]
    env.update(
        TF_CPP_MIN_LOG_LEVEL="3",
        TF_ENABLE_ONEDNN_OPTS="0",
        PYTHONHASHSEED="0",
        NO_PROXY="127.0.0.1,localhost",
        no_proxy="127.0.0.1,localhost",
    )
    env.pop("TF_CONFIG", None)
    return env


class _Process:
    """A script started in the background, its output going to files (no pipe can fill up)."""

    def __init__(self, name: str, args: list[str], env: dict[str, str], logs: Path) -> None:
        self.name = name
        self.stdout = logs / f"{name.replace(' ', '_')}.out"
        self.stderr = logs / f"{name.replace(' ', '_')}.err"
        with self.stdout.open("w") as out, self.stderr.open("w") as err:
            self.popen = subprocess.Popen(
                [sys.executable, *args], cwd=SCRIPTS, env=env, stdout=out, stderr=err
            )

    def kill(self) -> None:
        if self.popen.poll() is None:
            self.popen.kill()
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.popen.wait(timeout=10)

    def result(self, deadline: float) -> dict:
        """Wait until ``deadline`` (``time.monotonic()``) at most; the JSON it printed last."""
        try:
            code = self.popen.wait(timeout=max(deadline - time.monotonic(), 1.0))
        except subprocess.TimeoutExpired:
            self.kill()
            pytest.fail(f"{self.name} did not finish within {TIMEOUT} s:\n{self._stderr()}")
        lines = self.stdout.read_text().strip().splitlines()
        if code != 0 or not lines:
            pytest.fail(f"{self.name} exited with {code}:\n{self._stderr()}")
        return json.loads(lines[-1])

    def _stderr(self) -> str:
        return self.stderr.read_text()[-3000:]


def _max_difference(a: dict[str, list], b: dict[str, list], norm: bool = False) -> float:
    """Largest elementwise difference of two variable snapshots (``norm``: the L2 norm)."""
    assert a.keys() == b.keys()
    if norm:
        return float(np.sqrt(sum(np.sum(np.square(np.subtract(a[k], b[k]))) for k in a)))
    return max(float(np.max(np.abs(np.subtract(a[k], b[k])))) for k in a)


def _assert_variables_close(actual: dict, expected: dict, what: str) -> None:
    for name in expected:
        np.testing.assert_allclose(
            actual[name], expected[name], **TOLERANCE, err_msg=f"{what}: variable {name}"
        )


def _assert_metrics_close(actual: list[dict], expected: list[dict], what: str) -> None:
    assert len(actual) == len(expected), what
    for step, (got, want) in enumerate(zip(actual, expected, strict=True)):
        assert got.keys() == want.keys(), f"{what}, step {step}"
        for key in want:
            np.testing.assert_allclose(
                got[key], want[key], **METRIC_TOLERANCE, err_msg=f"{what}, step {step}: {key}"
            )


def _free_ports(count: int) -> list[int]:
    sockets = []
    try:
        for _ in range(count):
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            s.bind(("127.0.0.1", 0))
            sockets.append(s)
        return [s.getsockname()[1] for s in sockets]
    finally:
        for s in sockets:
            s.close()


def _multi_worker_processes(logs: Path) -> list[_Process]:
    cluster = {"worker": [f"127.0.0.1:{port}" for port in _free_ports(2)]}
    processes = []
    for index in range(2):
        env = _child_env()
        env["TF_CONFIG"] = json.dumps(
            {"cluster": cluster, "task": {"type": "worker", "index": index}}
        )
        processes.append(_Process(f"worker {index}", ["multi_worker.py", "worker"], env, logs))
    processes.append(_Process("reference", ["multi_worker.py", "reference"], _child_env(), logs))
    return processes


class _Runs:
    """This module's subprocesses, started together so that they overlap; each group's
    results are collected on first use, all within ``TIMEOUT`` of the start."""

    def __init__(self) -> None:
        self.groups: dict[str, list[_Process]] = {}
        self.deadline = time.monotonic() + TIMEOUT
        self.results: dict[str, dict[str, dict]] = {}

    def result(self, group: str) -> dict[str, dict]:
        if group not in self.results:
            try:
                self.results[group] = {p.name: p.result(self.deadline) for p in self.groups[group]}
            finally:  # a worker whose peer failed would wait for it for ever
                for process in self.groups[group]:
                    process.kill()
        return self.results[group]

    def kill(self) -> None:
        for processes in self.groups.values():
            for process in processes:
                process.kill()


@pytest.fixture(scope="module")
def runs(request, tmp_path_factory):
    """Start the subprocesses that the selected tests of this module need, all at once."""
    needed = {
        name
        for item in request.session.items
        if item.path == Path(__file__)
        for name in getattr(item, "fixturenames", ())
    }
    logs = tmp_path_factory.mktemp("distribute")
    handle = _Runs()
    try:
        if "mirrored" in needed:
            handle.groups["mirrored"] = [_Process("mirrored", ["mirrored.py"], _child_env(), logs)]
        if "multi_worker" in needed:
            handle.groups["multi_worker"] = _multi_worker_processes(logs)
        yield handle
    finally:
        handle.kill()


# ---------------------------------------------------------------- MirroredStrategy, 2 CPUs
@pytest.fixture(scope="module")
def mirrored(runs):
    """All scenarios of ``mirrored.py``, run once in one subprocess."""
    return runs.result("mirrored")["mirrored"]


def _scenario(mirrored: dict, name: str) -> dict:
    result = mirrored["scenarios"][name]
    assert "error" not in result, f"{name} raised in the subprocess: {result['error']}"
    return result


def test_mirrored_strategy_has_two_cpu_replicas(mirrored):
    assert mirrored["replicas"] == 2
    assert [d.rsplit("/", 1)[-1] for d in mirrored["devices"]] == ["device:CPU:0", "device:CPU:1"]


@pytest.mark.parametrize("name", list(OPTIMIZE_LOSS_SCENARIOS))
def test_mirrored_train_op_matches_one_device(mirrored, name):
    result = _scenario(mirrored, name)
    one, multi = result["one_device"], result["mirrored"]
    steps = OPTIMIZE_LOSS_SCENARIOS[name]

    # The global batch of 7 went to the replicas as 3 + 4 examples, every step.
    assert one["seen"] == [7 * steps, 0]
    assert multi["seen"] == [3 * steps, 4 * steps]

    # Training moved the variables, identically (observed difference: about 1e-7).
    assert _max_difference(one["variables"], mirrored["initial"]) > 1e-2
    _assert_variables_close(multi["variables"], one["variables"], name)

    # One global-step increment per step, not one per replica.
    assert one["global_step"] == multi["global_step"] == steps
    assert one["iterations"] == multi["iterations"] == steps

    # loss, learning rate, global norm (after noise and multipliers) and clipped norm agree.
    assert len(multi["metrics"]) == steps
    _assert_metrics_close(multi["metrics"], one["metrics"], name)
    for metrics in multi["metrics"]:
        assert metrics["loss"] > 1.0
        if name not in ADAPTIVE:
            # clipping of the aggregated gradient is active at every step
            assert metrics["global_norm"] > 4 * CLIP
            assert metrics["clipped_global_norm"] == pytest.approx(CLIP, rel=1e-5)


@pytest.mark.parametrize("name", sorted(ADAPTIVE))
def test_mirrored_adaptive_clipping_matches_one_device(mirrored, name):
    result = _scenario(mirrored, name)
    one, multi = result["one_device"], result["mirrored"]
    # The running statistics (log-norm moving averages) were updated once per step, on the
    # aggregated norm: the same as on one device.
    np.testing.assert_allclose(multi["adaptive_state"], one["adaptive_state"], **TOLERANCE)
    # Clipping acted: the first step's norm (about 9.4) was cut to about 3.1.
    clipped = [m["clipped_global_norm"] < m["global_norm"] - 1e-3 for m in multi["metrics"]]
    assert clipped[0] and any(clipped)
    assert multi["metrics"][0]["clipped_global_norm"] < 0.5 * multi["metrics"][0]["global_norm"]
    if name == "momentum_adaptive":  # passed directly: the bound is reported as a metric
        bounds = [m["adaptive_max_gradient_norm"] for m in multi["metrics"]]
        assert bounds == pytest.approx(
            [m["adaptive_max_gradient_norm"] for m in one["metrics"]], rel=1e-5
        )
        assert multi["metrics"][0]["global_norm"] > bounds[0]


def test_mirrored_noise_and_multipliers_act_on_the_gradient(mirrored):
    """The scenarios' first-step global norms differ from the plain gradient's (8.892): the
    noise and multipliers were applied, once, to the aggregated gradient."""
    plain = _scenario(mirrored, "keras_global_clipnorm")["optimize_loss_one_device"]
    plain_norm = plain["metrics"][0]["global_norm"]
    assert plain_norm == pytest.approx(8.8923, abs=1e-3)
    for name in OPTIMIZE_LOSS_SCENARIOS:
        if name.startswith("fused_"):
            continue
        norm = _scenario(mirrored, name)["mirrored"]["metrics"][0]["global_norm"]
        if name == "sgd_keras_loss_object":  # no noise, no multipliers: the plain gradient
            assert norm == pytest.approx(plain_norm, rel=1e-5), (name, norm, plain_norm)
        else:
            assert abs(norm - plain_norm) > 0.1, (name, norm, plain_norm)


@pytest.mark.parametrize("name", ["adam_noise_clip", "nadam_multipliers_clip"])
def test_mirrored_fused_steps_match_single_steps(mirrored, name):
    """run_steps under the strategy continues exactly as single calls do."""
    single = _scenario(mirrored, name)["mirrored"]["metrics"]
    fused = _scenario(mirrored, f"fused_{name}")["mirrored"]["metrics"]
    _assert_metrics_close(fused[: len(single)], single, f"fused_{name}")


def test_keras_global_clipnorm_clips_per_replica_but_optimize_loss_does_not(mirrored):
    result = _scenario(mirrored, "keras_global_clipnorm")
    # The hand-written strategy.run step is right: without clipping it matches one device.
    unclipped = _max_difference(
        result["mirrored_unclipped"]["variables"], result["one_device_unclipped"]["variables"]
    )
    assert unclipped < 1e-6
    # keras.optimizers.SGD(global_clipnorm=0.5) clips each replica's part of the gradient
    # before the sum: on one device every step moves the variables by lr * 0.5 = 0.05 (0.1999
    # after 4 nearly aligned steps); two replicas' clipped parts point apart, so the variables
    # move 0.168 and end elsewhere (out/bias 1.3912 instead of 1.3302).
    initial = mirrored["initial"]
    one_device_move = _max_difference(result["one_device"]["variables"], initial, norm=True)
    mirrored_move = _max_difference(result["mirrored"]["variables"], initial, norm=True)
    assert one_device_move == pytest.approx(0.1999, abs=1e-3)
    assert mirrored_move == pytest.approx(0.1679, abs=1e-3)
    assert result["one_device"]["variables"]["out/bias"] == pytest.approx([1.33015], abs=1e-4)
    assert result["mirrored"]["variables"]["out/bias"] == pytest.approx([1.39123], abs=1e-4)
    keras_gap = _max_difference(result["mirrored"]["variables"], result["one_device"]["variables"])
    assert keras_gap > 0.05
    # optimize_loss(clip_gradients=0.5) clips the aggregated gradient: it matches one device,
    # and equals Keras's one-device result (the same SGD update).
    _assert_variables_close(
        result["optimize_loss_mirrored"]["variables"],
        result["optimize_loss_one_device"]["variables"],
        "optimize_loss SGD, mirrored",
    )
    _assert_variables_close(
        result["optimize_loss_mirrored"]["variables"],
        result["one_device"]["variables"],
        "optimize_loss SGD against Keras SGD(global_clipnorm) on one device",
    )
    final = result["optimize_loss_mirrored"]["metrics"][-1]
    assert final["global_norm"] > 4 * CLIP
    assert final["clipped_global_norm"] == pytest.approx(CLIP, rel=1e-5)


# ---------------------------------------------------------------- MultiWorkerMirroredStrategy
@pytest.fixture(scope="module")
def multi_worker(runs):
    """The JSON of the two workers and of the one-device reference."""
    return runs.result("multi_worker")


def test_multi_worker_mirrored_strategy_matches_one_device(multi_worker):
    """Two workers on 127.0.0.1, each given the whole global batch, agree with one device."""
    results = multi_worker
    workers = [results["worker 0"], results["worker 1"]]
    reference = results["reference"]
    steps = 4  # multi_worker.STEPS + multi_worker.FUSED_STEPS

    assert [w["task"] for w in workers] == [0, 1]
    assert [w["replicas"] for w in workers] == [2, 2]
    assert reference["replicas"] == 1
    for worker in workers:
        # worker 0's replica took 3 examples of the global batch of 7, worker 1's 4
        assert worker["seen"] == [3 * steps, 4 * steps]
        assert worker["global_step"] == worker["iterations"] == steps
        _assert_variables_close(worker["variables"], workers[0]["variables"], "worker 1 vs 0")
        _assert_variables_close(worker["variables"], reference["variables"], "worker vs 1 device")
        _assert_metrics_close(worker["metrics"], reference["metrics"], "worker vs 1 device")
        for metrics in worker["metrics"]:
            assert metrics["clipped_global_norm"] == pytest.approx(CLIP, rel=1e-5)
    assert reference["seen"] == [7 * steps, 0]
    assert reference["global_step"] == steps
    assert _max_difference(reference["variables"], workers[0]["variables"]) < 1e-6
