"""The explorer, headless: the same objects a person drives in the notebook, driven from Python."""

import asyncio
import concurrent.futures
import html

import numpy as np
import pytest

from olexplore.runs import Config
from olexplore.runs.presets import PRESETS
from olexplore.ui.explorer import Explorer

QUADRATIC = Config(problem="quadratic", optimizer="SGD", learning_rate=0.1, steps=40)


@pytest.fixture
def explorer(tmp_path):
    return Explorer(QUADRATIC, backend="png", export_dir=tmp_path / "export")


def test_run_trains_the_settings_and_reports_them(explorer):
    history = explorer.run()
    assert len(history) == 40
    assert explorer.current.status == "finished"
    assert history["loss"][-1] < 1e-3 * history["loss"][0]
    assert "step <b>40</b>/40" in explorer.status.value
    assert explorer.config == QUADRATIC


def test_keep_compares_runs_in_stable_colours(explorer):
    explorer.run()
    explorer.keep()
    explorer.panel.learning_rate_text.value = 0.05
    explorer.run()
    kept, current = explorer.entries
    assert (kept.run.config.learning_rate, current.run.config.learning_rate) == (0.1, 0.05)
    assert kept.color != current.color and not kept.current and current.current
    assert [len(e.run.history) for e in explorer.entries] == [40, 40]
    assert explorer.table.entries[1].cells["differs"].value == "lr 0.05"
    assert explorer.table.entries[0].cells["differs"].value == "SGD lr 0.1"


def test_live_learning_rate_change_keeps_the_run_and_its_compiled_step(explorer):
    explorer.run(steps=10)
    run = explorer.current
    traces = run.traces
    explorer.panel.learning_rate_text.value = 0.02
    assert explorer.current is run and run.step == 10
    assert "applied live at step 10" in explorer.message.value
    explorer.run()
    assert run.traces == traces
    np.testing.assert_allclose(run.history["learning_rate"][10:], 0.02)


def test_structural_change_resets_and_says_so(explorer):
    explorer.run(steps=5)
    first = explorer.current
    explorer.panel.optimizer.value = "Adam"
    assert "optimizer changed: the next run starts from the new settings" in explorer.message.value
    assert "the run of 5 steps is kept" in explorer.message.value
    assert explorer.current.step == 0 and explorer.current.config.optimizer == "Adam"
    assert [e.run for e in explorer.entries] == [first, explorer.current]
    assert first.status == "stopped" and first.step == 5


def test_bad_input_is_a_message_and_nothing_is_lost(explorer):
    explorer.run()
    explorer.keep()
    explorer.panel.learning_rate_text.value = -1.0
    at_field = html.unescape(explorer.panel.messages["learning_rate"].value)
    assert "learning_rate: got -1.0 (float); accepted: a number >= 0." in at_field
    assert "olexplore-invalid" in explorer.panel.learning_rate._dom_classes
    assert explorer.session.invalid and explorer.config.learning_rate == 0.1
    assert len(explorer.entries) == 2 and explorer.entries[0].run.step == 40
    explorer.play()  # refused, saying which field
    assert "cannot train while settings are invalid: learning_rate" in explorer.message.value
    with pytest.raises(ValueError, match="learning_rate"):
        explorer.run()
    explorer.panel.learning_rate_text.value = 0.1
    assert explorer.panel.messages["learning_rate"].value == ""
    assert not explorer.session.invalid and len(explorer.run()) == 40


def test_divergence_is_marked_in_the_table_and_the_message(explorer):
    explorer.config = QUADRATIC.replace(learning_rate=0.5, steps=500)
    explorer.run()
    run = explorer.current
    assert run.status == "diverged"
    assert "diverged at step" in explorer.message.value
    assert "diverged" in explorer.table.entries[-1].cells["status"].value
    assert "diverged at step" in explorer.figure.title  # the note goes with its run
    explorer.reset()
    assert "diverged" in explorer.figure.title  # the diverged run is still shown
    explorer._on_delete(explorer.entries[0])
    assert "diverged" not in explorer.figure.title  # and goes with it


def test_errors_in_callbacks_never_reach_the_kernel(explorer):
    explorer.load_config("{not json")
    assert "not valid JSON" in explorer.message.value
    explorer.load_config('{"optimizer": "Adamm"}')
    assert "optimizer: got 'Adamm'" in html.unescape(explorer.message.value)
    assert "ValueError" not in explorer.message.value  # the field's message, no exception name
    assert explorer.config == QUADRATIC


def test_delete_and_hide_runs(explorer):
    explorer.run()
    explorer.keep()
    explorer.run(steps=5)
    kept = explorer.entries[0]
    kept.visible = False
    explorer._on_toggle(kept)
    explorer._on_delete(kept)
    assert [e.run for e in explorer.entries] == [explorer.current]
    assert "Undo brings it back" in explorer.message.value
    explorer.undo()
    assert [e.run for e in explorer.entries] == [kept.run, explorer.current]
    assert kept.visible is False  # it keeps how it was drawn


def test_export_code_and_config_round_trip(explorer, tmp_path):
    explorer.run()
    paths = explorer.export()
    assert sorted(p.name for p in paths) == ["figure.png", "runs.csv", "runs.json"]
    assert paths[2].read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    code = explorer.show_code()
    compile(code, "as_code", "exec")
    assert "optimize_loss(" in code
    assert "'SGD'" in code or '"SGD"' in code
    text = explorer.save_config()
    explorer.panel.learning_rate_text.value = 0.3
    explorer.load_config(text)
    assert explorer.config == QUADRATIC and explorer.current.step == 0


def test_preset_queues_its_runs(explorer):
    key = next(iter(PRESETS))
    explorer.apply_preset(key)
    configs = PRESETS[key].configs
    assert [e.run.config for e in explorer.entries] == list(configs)
    assert explorer.current.config == configs[-1]
    for entry in explorer.entries:
        entry.run.run()
    statuses = {e.run.config.learning_rate: e.run.status for e in explorer.entries}
    assert "diverged" in statuses.values()


def test_play_and_pause_on_an_event_loop():
    async def scenario():
        explorer = Explorer(QUADRATIC.replace(steps=1_000_000), backend="png", chunk_seconds=0.01)
        explorer.play()
        await asyncio.sleep(0.5)
        explorer.pause()
        await asyncio.sleep(0.3)
        paused_at = explorer.current.step
        await asyncio.sleep(0.3)
        return explorer, paused_at

    # A loop of its own in a thread: other tests (Playwright's sync API) may leave one running.
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        explorer, paused_at = pool.submit(asyncio.run, scenario()).result(timeout=120)
    assert paused_at > 0
    assert explorer.current.step == paused_at
    assert explorer.current.status == "paused"
    assert explorer.trainer.last_pause_latency is not None


def test_view_controls_and_panel_attributes(explorer):
    explorer.run()
    explorer.log_y["learning_rate"].value = True
    assert explorer.figure.log_y["learning_rate"] is True
    assert explorer.figure.axes["learning_rate"].get_yscale() == "log"
    explorer.smoothing.value = 0.5
    assert explorer.figure.smoothing == 0.5
    assert explorer.learning_rate is explorer.panel.learning_rate
    with pytest.raises(AttributeError, match="no_such_control"):
        explorer.no_such_control  # noqa: B018


def test_the_explorer_is_wiring_around_its_session(explorer):
    assert explorer.config is explorer.session.config
    assert explorer.problem is explorer.panel.problem  # the dropdown, not a Problem object
    assert explorer.clipping_norm is explorer.panel.controls["clipping.norm"]
    history = explorer.run(steps=7)
    assert history is explorer.session.current.history and len(history) == 7
    with pytest.raises(ValueError, match="steps: got '3' .str.; accepted: an integer >= 0"):
        explorer.run("3")
    explorer.step(-5)
    assert "count: got -5 (int)" in explorer.message.value


def test_step_leaves_the_run_paused(explorer):
    explorer.step()
    explorer.step(2)
    assert explorer.current.step == 3 and explorer.current.status == "paused"
    assert explorer.status.value.rstrip().endswith("paused")


def test_the_typed_clip_norm_is_taken_exactly(explorer):
    explorer.panel.clipping_kind.value = "global_norm"
    explorer.panel.clipping_norm_text.value = 0.05
    assert explorer.config.clipping.norm == 0.05
    explorer.panel.clipping_norm_text.value = 0
    assert explorer.session.invalid == {
        "clipping.norm": "clipping.norm: got 0.0 (float); accepted: a number > 0."
    }
    assert explorer.config.clipping.norm == 0.05
    explorer.panel.clipping_norm_text.value = 1e9
    assert explorer.config.clipping.norm == 1e9 and not explorer.session.invalid


def test_a_problem_change_after_the_freeze_preset_trains_the_new_problem(tmp_path):
    explorer = Explorer(QUADRATIC, backend="png", export_dir=tmp_path)
    explorer.apply_preset("multipliers freeze a layer")
    explorer.panel.problem.value = "digits-cnn"
    assert "dropped what does not apply to it: multipliers['mlp/hidden/.*']" in html.unescape(
        explorer.message.value
    )
    explorer.run(steps=2)
    assert explorer.current.config.problem == "digits-cnn" and explorer.current.step == 2
    assert "step <b>2</b>/" in explorer.status.value
    assert "conv" in " ".join(explorer.panel.multipliers)  # the CNN's variable rows


def _open_widgets():
    from ipywidgets.widgets.widget import _instances

    return len(_instances)


def test_close_leaves_no_widget_open_and_stops_training(tmp_path):
    before = _open_widgets()
    explorer = Explorer(QUADRATIC, backend="png", export_dir=tmp_path)
    explorer.run()
    explorer.keep()
    explorer.run(steps=5)
    explorer._on_delete(explorer.entries[0])
    explorer.panel.set_variable_names(["x", "y"])
    runs = explorer.runs
    explorer.close()
    assert _open_widgets() == before
    assert all(run.train_op is None for run in runs) and explorer.session.runs == []


def test_running_the_cell_again_closes_the_old_explorer(tmp_path, monkeypatch):
    from olexplore.ui import notebook

    monkeypatch.setattr(notebook, "_cell_id", lambda: "cell-1")
    first = Explorer(QUADRATIC, backend="png", export_dir=tmp_path)
    run = first.current
    second = Explorer(QUADRATIC, backend="png", export_dir=tmp_path)
    assert run.train_op is None and first.panel.widget.comm is None  # closed
    assert second.panel.widget.comm is not None and second.current.train_op is not None


def test_a_dataset_fall_back_is_said_in_the_panel(tmp_path, monkeypatch):
    import keras

    from olexplore.problems import real

    def fail():
        raise Exception("URL fetch failure: Name or service not known")

    monkeypatch.setattr(keras.datasets.mnist, "load_data", fail)
    real._download.cache_clear()
    try:
        with pytest.warns(UserWarning, match="mnist is unavailable"):
            explorer = Explorer(
                Config(problem="mnist-mlp", steps=5), backend="png", export_dir=tmp_path
            )
    finally:
        real._download.cache_clear()
    message = html.unescape(explorer.message.value)
    assert "mnist is unavailable" in message and "bundled 8x8 digits" in message
    assert explorer.session.take_notes() == []  # said once


def test_export_also_offers_the_files_as_browser_downloads(explorer):
    import base64
    import re

    explorer.run()
    paths = explorer.export()
    links = dict(
        re.findall(r'download="([^"]+)" href="data:[^;]+;base64,([^"]+)"', explorer.downloads.value)
    )
    assert sorted(links) == ["figure.png", "runs.csv", "runs.json"]
    for path in paths:
        assert base64.b64decode(links[path.name]) == path.read_bytes()


def test_a_shared_address_opens_the_same_experiment(tmp_path, monkeypatch):
    import urllib.parse

    shared = QUADRATIC.replace(learning_rate=0.02, seed=7)
    monkeypatch.setenv("QUERY_STRING", "config=" + urllib.parse.quote(shared.to_json()))
    assert Explorer(backend="png", export_dir=tmp_path).config == shared
    monkeypatch.setenv("QUERY_STRING", "config=" + urllib.parse.quote('{"seed": -1}'))
    explorer = Explorer(backend="png", export_dir=tmp_path)
    assert explorer.config == Config()  # a bad address changes nothing, and says why
    assert "the address's config: seed: got -1" in html.unescape(explorer.message.value)
