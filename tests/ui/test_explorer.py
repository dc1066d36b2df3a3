"""The explorer, headless: the same objects a person drives in the notebook, driven from Python."""

import asyncio
import concurrent.futures
import html

import numpy as np
import pytest

from olexplore.runs import Config
from olexplore.ui.explorer import Explorer
from olexplore.runs.presets import PRESETS

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
    assert "learning_rate=0.05" in explorer.table.entries[1].cells["differs"].value


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
    explorer.panel.optimizer.value = "Adam"
    assert "changing optimizer resets the run" in explorer.message.value
    assert explorer.current.step == 0 and explorer.current.config.optimizer == "Adam"
    assert len(explorer.entries) == 1


def test_bad_input_is_a_message_and_nothing_is_lost(explorer):
    explorer.run()
    explorer.keep()
    explorer.panel.learning_rate_text.value = -1.0
    assert "learning_rate" in explorer.panel.error.value
    assert "-1" in explorer.panel.error.value
    assert len(explorer.entries) == 2 and explorer.entries[0].run.step == 40
    explorer.panel.learning_rate_text.value = 0.1
    assert explorer.panel.error.value == ""


def test_divergence_is_marked_in_the_table_and_the_message(explorer):
    explorer.config = QUADRATIC.replace(learning_rate=0.5, steps=500)
    explorer.run()
    run = explorer.current
    assert run.status == "diverged"
    assert "diverged at step" in explorer.message.value
    assert "diverged" in explorer.table.entries[-1].cells["status"].value


def test_errors_in_callbacks_never_reach_the_kernel(explorer):
    explorer.load_config("{not json")
    assert "not valid JSON" in explorer.message.value
    explorer.load_config('{"optimizer": "Adamm"}')
    assert "optimizer: got 'Adamm'" in html.unescape(explorer.message.value)


def test_delete_and_hide_runs(explorer):
    explorer.run()
    explorer.keep()
    explorer.run(steps=5)
    kept = explorer.entries[0]
    kept.visible = False
    explorer._on_toggle(kept)
    explorer._on_delete(kept)
    assert [e.run for e in explorer.entries] == [explorer.current]
    explorer._on_delete(explorer.entries[0])  # the current run cannot be deleted
    assert len(explorer.entries) == 1


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
        explorer.trainer.run_blocking(entry.run)
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
