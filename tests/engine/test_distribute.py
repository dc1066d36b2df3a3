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
from pathlib import Path

import numpy as np
import pytest

pytestmark = pytest.mark.slow

SCRIPTS = Path(__file__).parent / "distribute_scripts"
TIMEOUT = 120  # seconds, per subprocess
CLIP = 0.5  # common.CLIP
STEPS = 4  # mirrored.STEPS
TOLERANCE = dict(rtol=1e-6, atol=1e-6)
METRIC_TOLERANCE = dict(rtol=1e-5, atol=1e-6)

# scenario -> total steps (fused_* run one single step, then STEPS fused steps)
OPTIMIZE_LOSS_SCENARIOS = {
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


def _start(args: list[str], env: dict[str, str]) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, *args],
        cwd=SCRIPTS,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _finish(processes: dict[str, subprocess.Popen], timeout: float) -> dict[str, dict]:
    """Wait for all processes (killing every one on failure); parse each one's JSON line."""
    outputs: dict[str, tuple[str, str]] = {}
    try:
        for name, process in processes.items():
            try:
                outputs[name] = process.communicate(timeout=timeout)
            except subprocess.TimeoutExpired:
                process.kill()
                _, err = process.communicate()
                pytest.fail(f"{name} did not finish within {timeout} s; stderr:\n{err[-3000:]}")
            if process.returncode != 0:
                pytest.fail(f"{name} exited with {process.returncode}:\n{outputs[name][1][-3000:]}")
    finally:
        for process in processes.values():
            if process.poll() is None:
                process.kill()
                with contextlib.suppress(subprocess.TimeoutExpired):
                    process.communicate(timeout=10)
    results = {}
    for name, (out, err) in outputs.items():
        lines = out.strip().splitlines()
        if not lines:
            pytest.fail(f"{name} printed nothing; stderr:\n{err[-3000:]}")
        results[name] = json.loads(lines[-1])
    return results


def _max_difference(a: dict[str, list], b: dict[str, list]) -> float:
    assert a.keys() == b.keys()
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


# ---------------------------------------------------------------- MirroredStrategy, 2 CPUs
@pytest.fixture(scope="module")
def mirrored():
    """All scenarios of ``mirrored.py``, run once in one subprocess."""
    return _finish({"mirrored.py": _start(["mirrored.py"], _child_env())}, TIMEOUT)["mirrored.py"]


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
    """The scenarios' first-step global norms differ from the plain gradient's."""
    plain = _scenario(mirrored, "keras_global_clipnorm")["optimize_loss_one_device"]
    plain_norm = plain["metrics"][0]["global_norm"]
    for name in ("sgd_clip_multipliers", "adam_noise_clip", "nadam_multipliers_clip"):
        norm = _scenario(mirrored, name)["mirrored"]["metrics"][0]["global_norm"]
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
    # keras.optimizers.SGD(global_clipnorm=0.5) clips each replica's part of the gradient, so two
    # replicas step further than one device (observed: out/bias 1.391 against 1.330).
    keras_gap = _max_difference(result["mirrored"]["variables"], result["one_device"]["variables"])
    assert keras_gap > 1e-2
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


def test_multi_worker_mirrored_strategy_matches_one_device():
    ports = _free_ports(2)
    cluster = {"worker": [f"127.0.0.1:{port}" for port in ports]}
    processes = {}
    try:
        for index in range(2):
            env = _child_env()
            env["TF_CONFIG"] = json.dumps(
                {"cluster": cluster, "task": {"type": "worker", "index": index}}
            )
            processes[f"worker {index}"] = _start(["multi_worker.py", "worker"], env)
        processes["reference"] = _start(["multi_worker.py", "reference"], _child_env())
    except BaseException:
        for process in processes.values():
            process.kill()
        raise
    results = _finish(processes, TIMEOUT)
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
