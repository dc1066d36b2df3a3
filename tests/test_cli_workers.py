"""``olexplore compare --workers N`` and ``--scheduler ADDRESS``: the serial comparison's runs,
trained in other processes; bad values and unreachable schedulers are one named line."""

import socket
import sys

import numpy as np
import pytest

from olexplore import cli
from olexplore.runs import executors
from olexplore.runs.export import load_json

distributed = pytest.importorskip("distributed")

COMPARE = ["compare", "--problem", "quadratic", "--optimizer", "SGD", "Adam"]
COMPARE += ["--noise-scale", "0.5", "--seeds", "2", "--steps", "20", "--no-progress"]


@pytest.fixture(scope="module")
def scheduler():
    with distributed.LocalCluster(
        n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1", dashboard_address=None
    ) as cluster:
        yield cluster.scheduler_address


@pytest.fixture(scope="module")
def serial(tmp_path_factory):
    out = tmp_path_factory.mktemp("serial")
    assert cli.main([*COMPARE, "--out", str(out)]) == 0
    return load_json(out / "runs.json")


def assert_same_records(records, serial):
    assert [(r.config, r.status, r.label) for r in records] == [
        (r.config, r.status, r.label) for r in serial
    ]
    for mine, theirs in zip(records, serial, strict=True):
        for name in (n for n in theirs.history.names if n != "wall_time"):
            np.testing.assert_array_equal(mine.history[name], theirs.history[name], err_msg=name)


def one_error_line(capsys):
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1, lines
    return lines[0]


def test_compare_on_an_existing_dask_cluster(scheduler, serial, tmp_path, capsys):
    assert cli.main([*COMPARE, "--scheduler", scheduler, "--out", str(tmp_path)]) == 0
    assert_same_records(load_json(tmp_path / "runs.json"), serial)
    assert capsys.readouterr().out.splitlines()[0].startswith("setting")


def test_compare_on_local_workers_with_dask_and_with_a_process_pool(serial, tmp_path, monkeypatch):
    assert cli.main([*COMPARE, "--workers", "2", "--out", str(tmp_path / "dask")]) == 0
    assert_same_records(load_json(tmp_path / "dask" / "runs.json"), serial)
    monkeypatch.setitem(sys.modules, "distributed", None)  # as if dask were not installed
    with executors.local_executor(1) as pool:
        assert type(pool).__name__ == "ProcessPoolExecutor"
        assert pool._mp_context.get_start_method() == "spawn"


def test_compare_on_a_process_pool_without_dask(serial, tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "distributed", None)
    assert cli.main([*COMPARE, "--workers", "2", "--out", str(tmp_path)]) == 0
    assert_same_records(load_json(tmp_path / "runs.json"), serial)


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        (["--workers", "0"], "argument --workers: got 0; accepted: an integer >= 1"),
        (["--workers", "-3"], "argument --workers: got -3; accepted: an integer >= 1"),
        (["--workers", "two"], "argument --workers: got 'two'; accepted: an integer"),
        (
            ["--scheduler", "10.0.0.5"],
            "argument --scheduler: got '10.0.0.5'; accepted: a Dask scheduler address such as "
            "tcp://10.0.0.5:8786",
        ),
        (
            ["--workers", "2", "--scheduler", "tcp://10.0.0.5:8786"],
            "argument --scheduler: not allowed with argument --workers",
        ),
    ],
)
def test_bad_worker_flags_are_named(flags, message, capsys):
    assert cli.main([*COMPARE, *flags]) == 2
    assert one_error_line(capsys) == f"olexplore: error: {message}"


def test_a_scheduler_without_dask_names_the_extra(monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "distributed", None)
    assert cli.main([*COMPARE, "--scheduler", "tcp://127.0.0.1:8786"]) == 2
    line = one_error_line(capsys)
    assert line == (
        "olexplore: error: argument --scheduler: a Dask scheduler address needs "
        "dask.distributed, which is an optional extra: pip install 'olexplore[dask]'"
    )


def test_an_unreachable_scheduler_is_one_line(monkeypatch, capsys):
    with socket.socket() as free:  # a port nobody listens on
        free.bind(("127.0.0.1", 0))
        port = free.getsockname()[1]
    monkeypatch.setattr(executors, "CONNECT_TIMEOUT", "1s")
    assert cli.main([*COMPARE, "--scheduler", f"tcp://127.0.0.1:{port}"]) == 1
    line = one_error_line(capsys)
    assert line.startswith(
        f"olexplore: error: argument --scheduler: cannot connect to the Dask scheduler at "
        f"'tcp://127.0.0.1:{port}' within 1s ("
    ), line
