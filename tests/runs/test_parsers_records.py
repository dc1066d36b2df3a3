"""Run-record parsers on damaged and hostile input (issue 11, item 10): every failure is a
``ValueError`` naming the file and the field, never a RecursionError, MemoryError, KeyError,
AttributeError, TypeError or UnicodeDecodeError, and never a huge allocation."""

import copy
import json
import tracemalloc

import numpy as np
import pytest

from olexplore.runs.config import Config
from olexplore.runs.export import load_json, to_json
from olexplore.runs.history import History, history_from_dict
from olexplore.runs.record import RunRecord
from olexplore.runs.safe_json import loads


@pytest.fixture(scope="module")
def good():
    history = History()
    history.extend(
        {
            "loss": np.array([2.0, 1.0, np.nan], np.float32),
            "position": np.array([[1.0, 2.0], [0.5, 1.5], [0.0, 1.0]], np.float32),
        }
    )
    history.add_evaluation(2, {"val_loss": 0.5})
    return RunRecord(Config(problem="quadratic"), history).to_dict()


def write(tmp_path, data):
    path = tmp_path / "runs.json"
    path.write_text(json.dumps(data), encoding="utf-8")
    return path


def damaged(good, edit):
    data = copy.deepcopy(good)
    edit(data)
    return data


def set_in(keys, value):
    def edit(data):
        target = data
        for key in keys[:-1]:
            target = target[key]
        target[keys[-1]] = value

    return edit


CASES = [
    # (what is damaged, the edit, the field the message names, what it says)
    ("series as a list", set_in(["history", "series", "loss"], [1.0, 2.0]),
     "history.series.loss", "accepted: a JSON object"),
    ("series not an object", set_in(["history", "series"], [1]),
     "history.series", "accepted: a JSON object"),
    ("history a string", set_in(["history"], "abc"), "history", "accepted: a JSON object"),
    ("dtype bogus", set_in(["history", "series", "loss", "dtype"], "bogus"),
     "history.series.loss.dtype", "got 'bogus' (str); accepted: one of ['float16'"),
    ("dtype object", set_in(["history", "series", "loss", "dtype"], "object"),
     "history.series.loss.dtype", "accepted: one of"),
    ("huge length", set_in(["history", "length"], 10**12),
     "history.length", "got 1000000000000 (int) but the series hold 3 entries"),
    ("negative length", set_in(["history", "length"], -1), "history.length", ">= 0"),
    ("length a string", set_in(["history", "length"], "3"), "history.length", "an integer"),
    ("huge shape", set_in(["history", "series", "loss", "shape"], [10**12]),
     "history.series.loss.shape", "accepted: the shape of its values [3]"),
    ("values missing", set_in(["history", "series", "loss"], {"dtype": "float32"}),
     "history.series.loss", "missing 'values'"),
    ("values a number", set_in(["history", "series", "loss", "values"], 5),
     "history.series.loss.values", "accepted: a list of numbers"),
    ("values ragged", set_in(["history", "series", "position", "values"], [[1, 2], [3]]),
     "history.series.position.values", "rows of different lengths"),
    ("values of objects", set_in(["history", "series", "loss", "values"], [{}, {}, {}]),
     "history.series.loss.values", "got {} (dict)"),
    ("series of two lengths", set_in(["history", "series", "loss"], {"values": [1.0]}),
     "history.series", "different lengths [1, 3]"),
    ("first_step a float", set_in(["history", "first_step"], 1.5),
     "history.first_step", "an integer >= 0"),
    ("evaluation steps", set_in(["history", "evaluations", "step"], {"a": 1}),
     "history.evaluations.step", "a list of steps"),
    ("evaluation values", set_in(["history", "evaluations", "val_loss"], [1.0, 2.0]),
     "history.evaluations.val_loss", "2 values for 1 steps"),
    ("surface empty", set_in(["surface"], {}), "surface", "missing x_range, y_range"),
    ("surface a list", set_in(["surface"], [1, 2]), "surface", "null or a JSON object"),
    ("surface range", set_in(["surface"], {"x_range": [1], "y_range": [0, 1], "minima": [],
                                           "start": [0, 0], "log_scale": False}),
     "surface.x_range", "two numbers"),
    ("surface minima", set_in(["surface"], {"x_range": [0, 1], "y_range": [0, 1],
                                            "minima": [[0, "a"]], "start": [0, 0],
                                            "log_scale": False}),
     "surface.minima[0]", "two numbers"),
    ("variable names", set_in(["variable_names"], "abc"), "variable_names", "list of strings"),
    ("versions", set_in(["versions"], [1]), "versions", "an object of strings"),
    ("device", set_in(["device"], 5), "device", "a string"),
    ("config a list", set_in(["config"], [1]), "config", "a JSON object"),
    ("format_version true", set_in(["format_version"], True), "format_version", "1 to 1"),
]  # fmt: skip


@pytest.mark.parametrize("name, edit, field, says", CASES, ids=[c[0] for c in CASES])
def test_a_damaged_field_is_a_value_error_naming_file_and_field(
    good, tmp_path, name, edit, field, says
):
    path = write(tmp_path, damaged(good, edit))
    tracemalloc.start()
    try:
        with pytest.raises(ValueError) as raised:
            load_json(path)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    message = str(raised.value)
    assert message.startswith(f"{str(path)!r}, record 0: ")
    assert f"{field}:" in message and says in message, message
    assert peak < 50 * 2**20  # bounded by the data present (the issue saw a 3.6 TiB request)


def test_the_good_document_loads(good, tmp_path):
    (record,) = load_json(write(tmp_path, good))
    assert record.history["loss"].tolist()[:2] == [2.0, 1.0]
    assert record.history["position"].shape == (3, 2)
    assert record.history.evaluations["val_loss"].tolist() == [0.5]


def test_an_emptied_two_column_series_round_trips(tmp_path):
    history = History()
    history.extend({"position": np.zeros((2, 2), np.float32)})
    history.truncate(0)
    (record,) = load_json(to_json([RunRecord(Config(), history)], tmp_path / "r.json"))
    assert len(record.history) == 0


def test_a_binary_file_names_the_file(tmp_path):
    path = tmp_path / "runs.json"
    path.write_bytes(b"PK\x03\x04\x14\x00\x08\x00\xff\xfe\x00")
    with pytest.raises(ValueError, match=r"runs.json': not UTF-8 text \(byte 0xff at position 8"):
        load_json(path)


def test_deeply_nested_json_is_refused_before_parsing(tmp_path):
    path = tmp_path / "runs.json"
    path.write_text("[" * 100_000 + "]" * 100_000)
    with pytest.raises(ValueError, match=r"runs.json': not valid JSON \(nested 100000 deep"):
        load_json(path)
    with pytest.raises(ValueError, match=r"^record: not valid JSON \(nested 5000 deep"):
        RunRecord.from_json('{"a": ' * 5000 + "1" + "}" * 5000)


def test_nan_and_infinity_constants_are_not_json(good, tmp_path):
    text = json.dumps(good).replace('"NaN"', "NaN", 1)
    path = tmp_path / "runs.json"
    path.write_text(text)
    with pytest.raises(ValueError, match=r"runs.json': not valid JSON \(NaN is not JSON\)"):
        load_json(path)
    assert loads("[NaN, -Infinity]", source="x", allow_nan=True)[1] == -np.inf


def test_brackets_inside_strings_do_not_count_as_nesting():
    text = json.dumps({"label": "[" * 1000, "nested": [[["x"]]]})
    assert loads(text, source="x")["label"] == "[" * 1000


def test_truncated_json_names_the_file(good, tmp_path):
    path = tmp_path / "runs.json"
    path.write_text(json.dumps(good)[:-20])
    with pytest.raises(ValueError, match=r"runs.json': not valid JSON \(Expecting"):
        load_json(path)


def test_from_json_names_its_source(good):
    bad = damaged(good, set_in(["history", "series", "loss", "dtype"], "bogus"))
    with pytest.raises(ValueError, match=r"^run.json: history.series.loss.dtype: got 'bogus'"):
        RunRecord.from_json(json.dumps(bad), source="run.json")


def test_history_from_dict_alone_names_its_fields():
    with pytest.raises(ValueError, match=r"^history: got \[1\] \(list\)"):
        history_from_dict([1])
    with pytest.raises(ValueError, match=r"^run.history.length"):
        history_from_dict({"length": 5}, field="run.history")
