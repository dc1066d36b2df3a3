"""The explorer: wiring between a :class:`~olexplore.runs.session.Session` and its views.

The Session owns every setting and every run; the explorer binds the control panel's edits to
``session.edit``, shows each invalid field's message at the field, draws the Session's runs in
the live figure and the run table, and drives training on the kernel's event loop with the
:class:`~olexplore.ui.trainer.Trainer`. Every callback is guarded: an error becomes a message
in the panel, and the kernel and the finished runs survive.
"""

from __future__ import annotations

import functools
import html
import os
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import ipywidgets as widgets

from olexplore.problems.base import Problem
from olexplore.runs.config import Config
from olexplore.runs.export import as_code, to_csv, to_json
from olexplore.runs.figures import run_style, save_figure
from olexplore.runs.history import History
from olexplore.runs.lr_range import LRRangeResult
from olexplore.runs.presets import PRESETS
from olexplore.runs.record import device_name, record_of
from olexplore.runs.run import Run
from olexplore.runs.schedule import schedule
from olexplore.runs.session import Edit, Session
from olexplore.ui.clipboard import CopyButton
from olexplore.ui.closing import close_tree
from olexplore.ui.controls import ControlPanel
from olexplore.ui.layout import FIGURE_INCHES, arrange
from olexplore.ui.live_figure import LiveFigure, Trace
from olexplore.ui.lr_finder import SEEDS, STEPS, LRFinder
from olexplore.ui.notebook import config_from_query, download_links, replace_explorer_of_this_cell
from olexplore.ui.run_table import Entry, RunTable
from olexplore.ui.trainer import PACES, Trainer

#: About how many points of the planned learning rate the figure draws.
PLAN_POINTS = 2000
#: Seconds between refreshes of the status line and run table while training.
TEXT_INTERVAL = 0.25


def _guarded(method: Callable[..., Any]) -> Callable[..., Any]:
    """Run a widget callback; show any error in the panel instead of raising into the kernel."""

    @functools.wraps(method)
    def wrapper(self: Explorer, *args: Any, **kwargs: Any) -> Any:
        try:
            return method(self, *args, **kwargs)
        except ValueError as error:  # bad input: its message names the field and what is accepted
            self.show_message(str(error), error=True)
            return None
        except Exception as error:  # noqa: BLE001 - shown to the user, never lost
            self.show_message(f"{type(error).__name__}: {error}", error=True)
            return None

    return wrapper


class Explorer:
    """An optimizer-settings explorer for a notebook: ``Explorer()`` then display it.

    Headless use (scripts, tests, nbval): ``explorer.run(steps)`` trains the current settings
    and returns the History; ``explorer.config`` reads and sets every control at once.

    >>> from olexplore.runs import Config
    >>> explorer = Explorer(Config(problem="quadratic", optimizer="SGD", learning_rate=0.1,
    ...                            steps=25), backend="png")
    >>> history = explorer.run()
    >>> len(history), explorer.current.status
    (25, 'finished')
    """

    def __init__(
        self,
        config: Config | None = None,
        *,
        problem: Problem | None = None,
        backend: str = "auto",
        chunk_seconds: float = 0.05,
        export_dir: str | Path = "olexplore-export",
    ) -> None:
        url_config, url_error = config_from_query(os.environ.get("QUERY_STRING", ""))
        if config is None:
            config = url_config
        self.session = Session(config, problem=problem, chunk_seconds=chunk_seconds)
        self.export_dir = Path(export_dir)
        own = problem.name if problem is not None else None
        self.panel = ControlPanel(self.session.config, own_problem=own)
        self.figure = LiveFigure(backend=backend, width=FIGURE_INCHES)
        self.table = RunTable(on_toggle=self._on_toggle, on_delete=self._on_delete)
        self.trainer = Trainer(on_chunk=self._on_chunk, on_end=self._on_end)
        self._entries: dict[Run, Entry] = {}
        self._styles_used = 0
        self._text_refreshed = 0.0
        self._surface_of: Run | None = None
        self._build_buttons()
        self.message = widgets.HTML()
        self.status = widgets.HTML()
        self.copy_code = CopyButton(
            "Copy as code",
            "Copy the optimize_loss call for the current settings to the clipboard (and show it)",
        )
        self._code_of: Config | None = None  # the settings copy_code holds the code of
        self._plan_of: tuple | None = None  # what the planned learning rate shown depends on
        self.config_json = widgets.Textarea(layout=widgets.Layout(width="100%", height="220px"))
        self.downloads = widgets.HTML()
        self.lr_finder = LRFinder(apply=self._apply_learning_rate)
        self.widget = self._layout()
        self.widget.add_class("olexplore-explorer")
        self.panel.on_edit(self._on_edit)
        self._show_settings()
        self._refresh(force=True)
        if url_error:
            self.show_message(url_error, error=True)
        replace_explorer_of_this_cell(self)

    def close(self) -> None:
        """Stop training, drop every run's TensorFlow objects and close every widget made."""
        self.trainer.pause()
        self.trainer.cancel()
        for run in [*self.session.runs, *self.session.queue]:
            run.release()
        self.session.runs.clear()
        self.session.queue.clear()
        self.panel.close()
        self.table.close()
        self.lr_finder.close()
        closer = getattr(self.figure, "close", None)
        if closer is not None:
            closer()
        self._replay_link.close()
        close_tree([self.widget, self.figure.widget, self.copy_code.widget, self.config_json])

    # ----------------------------------------------------------------- layout
    def _build_buttons(self) -> None:
        def button(description: str, icon: str, tooltip: str, handler: Callable) -> widgets.Button:
            b = widgets.Button(
                description=description,
                icon=icon,
                tooltip=tooltip,
                layout=widgets.Layout(width="auto"),
            )
            b.on_click(lambda _: handler())
            return b

        self.play_button = button("Play", "play", "Train the current settings", self.play)
        self.pause_button = button(
            "Pause", "pause", "Pause after the chunk in progress", self.pause
        )
        self.step_button = button("Step", "step-forward", "Run a single training step", self.step)
        self.reset_button = button(
            "Reset", "undo", "Discard the current run and start over", self.reset
        )
        self.keep_button = button(
            "Keep run",
            "thumb-tack",
            "Keep the current run as it is and start a new one (every run is kept anyway)",
            self.keep,
        )
        self.undo_button = button(
            "Undo delete", "undo", "Bring back the last deleted run", self.undo
        )
        self.export_button = button(
            "Export",
            "download",
            "Write all runs as CSV and JSON, and the figure as PNG",
            self.export,
        )
        self.find_button = button(
            "Find learning rate",
            "search",
            f"Learning-rate range test on the current settings ({SEEDS} seeds × {STEPS} steps, "
            "the rate rising from 1e-6 to 10), then pick a suggestion",
            self.find_learning_rate,
        )
        self.save_button = button(
            "Save config", "save", "Show the settings as JSON", self.save_config
        )
        self.load_button = button(
            "Load config",
            "folder-open",
            "Apply the JSON settings from the box below",
            self.load_config,
        )
        self.preset = widgets.Dropdown(
            options=[("Presets…", "")] + [(p.name, key) for key, p in PRESETS.items()],
            value="",
            tooltip="One-click experiments that each show one idea",
            layout=widgets.Layout(width="260px"),
        )
        self.preset.observe(lambda change: self.apply_preset(change["new"]), names="value")
        self.pace = widgets.Dropdown(
            options=[
                ("as fast as possible" if pace is None else f"{pace:,.0f} steps/s", pace or 0.0)
                for pace in PACES
            ],
            value=0.0,
            description="pace",
            tooltip="Steps per second while playing: slow a toy problem down to watch it",
            layout=widgets.Layout(width="230px"),
        )
        self.pace.style.description_width = "initial"
        self.pace.observe(lambda change: self._set_pace(change["new"]), names="value")
        self.log_y = {
            panel: widgets.Checkbox(
                value=self.figure.log_y[panel],
                description=f"log {label}",
                indent=False,
                tooltip=f"Logarithmic y axis for the {label} panel",
                layout=widgets.Layout(width="auto"),
            )
            for panel, label in (
                ("loss", "loss"),
                ("learning_rate", "learning rate"),
                ("global_norm", "gradient norm"),
            )
        }
        for panel, box in self.log_y.items():
            box.observe(
                lambda change, panel=panel: self._set_log_y(panel, change["new"]), names="value"
            )
        self.smoothing = widgets.FloatSlider(
            value=self.figure.smoothing,
            min=0.0,
            max=0.99,
            step=0.01,
            description="smoothing",
            tooltip="Exponential moving average of the loss, debiased as in TensorBoard "
            "(0: raw values)",
            continuous_update=False,
        )
        self.smoothing.observe(lambda change: self._set_smoothing(change["new"]), names="value")
        self.replay_step = widgets.IntSlider(
            value=0,
            min=0,
            max=0,
            description="replay step",
            tooltip="Mark this step on every run (0: no mark); on a contour, where each run was",
            layout=widgets.Layout(width="420px"),
        )
        self.replay_step.style.description_width = "initial"
        self.replay = widgets.Play(
            value=0, min=0, max=0, interval=150, tooltip="Replay the runs step by step"
        )
        self._replay_link = widgets.jslink((self.replay, "value"), (self.replay_step, "value"))
        self.replay_step.observe(lambda change: self._set_cursor(change["new"]), names="value")

    def _layout(self) -> widgets.HBox:
        player = widgets.HBox(
            [
                self.play_button,
                self.pause_button,
                self.step_button,
                self.reset_button,
                self.keep_button,
                self.undo_button,
                self.preset,
                self.pace,
            ]
        )
        tools = widgets.HBox(
            [self.export_button, self.find_button, self.save_button, self.load_button]
        )
        tools = widgets.VBox([tools, self.downloads, self.copy_code.widget, self.lr_finder.widget])
        code_box = widgets.Accordion(children=[self.config_json])
        code_box.set_title(0, "settings (JSON)")
        view = widgets.HBox([*self.log_y.values(), self.smoothing])
        replay = widgets.HBox([self.replay, self.replay_step])
        main = [
            player,
            self.status,
            self.message,
            view,
            self.figure.widget,
            replay,
            self.table.widget,
            tools,
            code_box,
        ]
        return arrange(self.panel.widget, main, self.message)

    def _ipython_display_(self) -> None:
        from IPython.display import display  # noqa: PLC0415

        display(self.widget)

    # ----------------------------------------------------------------- state
    @property
    def config(self) -> Config:
        """The settings: the Session's last valid Config."""
        return self.session.config

    @config.setter
    def config(self, config: Config) -> None:
        self.trainer.cancel()
        self.session.use(config)
        self._show_settings()
        self._refresh(force=True)

    @property
    def current(self) -> Run:
        """The run that Play advances (the Session's current run)."""
        return self.session.current

    @property
    def runs(self) -> list[Run]:
        """Every run shown, oldest first (the Session's runs)."""
        return list(self.session.runs)

    @property
    def entries(self) -> list[Entry]:
        """How each run is drawn (colour, style, visibility), in the order of :attr:`runs`."""
        return [self._entry(run) for run in self.session.runs]

    def show_message(self, text: str, *, error: bool = False) -> None:
        """A message above the figure (errors in red)."""
        colour = "#D55E00" if error else "#0072B2"
        self.message.value = f'<span style="color:{colour}">{html.escape(text)}</span>'

    def _entry(self, run: Run) -> Entry:
        entry = self._entries.get(run)
        if entry is None:
            style = run_style(self._styles_used)
            self._styles_used += 1
            entry = Entry(
                key=f"run-{self._styles_used}",
                run=run,
                color=style["color"],
                linestyle=style.get("linestyle", "-"),
            )
            self._entries[run] = entry
        entry.current = self.session.has_current and run is self.session.current
        entry.name = f"run {list(self._entries).index(run) + 1}"
        entry.differs = self.session.label(run)
        return entry

    def _show_settings(self) -> None:
        """Write the Session's settings into the panel (fields being edited stay as typed)."""
        session = self.session
        self.panel.show(session.config, session.variable_names, keep=set(session.invalid))
        self.panel.mark(session.invalid)
        self._show_surface()

    def _show_surface(self) -> None:
        run = self.session.current
        if run is not self._surface_of:
            self._surface_of = run
            self.figure.set_surface(run.surface)
        notes = self.session.take_notes()
        if notes:  # e.g. MNIST unavailable: the panel says which data trains
            self.show_message(" ".join(notes), error=True)

    # ----------------------------------------------------------------- actions
    @_guarded
    def reset(self) -> None:
        """Start a new run from the settings (a run that trained stays in the comparison)."""
        self.trainer.cancel()
        self.session.queue.clear()
        self.session.reset()
        self._show_surface()
        self._refresh(force=True)

    @_guarded
    def play(self) -> None:
        """Train on the kernel's event loop (returns at once): queued preset runs first."""
        if self.session.queue:
            self._play_next()
            return
        run = self.session.ready_run()  # a ValueError naming invalid fields: shown
        self._show_surface()
        self.show_message("")
        self.trainer.play(run)

    @_guarded
    def pause(self) -> None:
        """Pause after the chunk in progress."""
        self.trainer.pause()

    @_guarded
    def step(self, steps: int = 1) -> None:
        """Run ``steps`` training steps now (blocking) and leave the run paused."""
        self.trainer.cancel()
        self.session.step(steps, progress=self._on_chunk)
        self._refresh(force=True)

    @_guarded
    def keep(self) -> None:
        """Keep the current run as it is and start a new one with the same settings."""
        run = self.session.current
        if run.step == 0:
            self.show_message("nothing to keep yet: train the current run first")
            return
        self.trainer.pause()
        self.trainer.cancel()
        label = self.session.label(run)
        self.session.reset(why="kept")
        self.show_message(f"kept {label} ({run.step} steps); change settings and Play")
        self._refresh(force=True)

    @_guarded
    def undo(self) -> None:
        """Bring back the last deleted run."""
        run = self.session.undo()
        text = "nothing to undo" if run is None else f"restored {self.session.label(run)}"
        self.show_message(text)
        self._refresh(force=True)

    def run(self, steps: int | None = None) -> History:
        """Headless: train the current run until done (or ``steps`` more); return its History.

        Raises a ValueError naming the invalid fields while any edit is invalid.
        """
        history = self.session.run(steps, progress=self._on_chunk)
        self._show_surface()
        self._report_end(self.session.current)
        return history

    @_guarded
    def apply_preset(self, key: str) -> None:
        """Start one of :data:`~olexplore.runs.presets.PRESETS`: its runs train one by one."""
        if not key:
            return
        preset = PRESETS[key]
        self.trainer.cancel()
        self.session.apply_preset(preset)
        self._show_settings()
        self.show_message(f"{preset.name}: {preset.note}")
        self.preset.value = ""
        self._refresh(force=True)
        if self.trainer.loop is not None:
            self._play_next()

    def _play_next(self) -> None:
        queue = self.session.queue
        if queue:
            self.trainer.play(queue.pop(0))
        elif not self.session.current.done:
            self.trainer.play(self.session.current)

    # ----------------------------------------------------------------- callbacks
    @_guarded
    def _on_edit(self, path: str, value: Any) -> None:
        edit = self.session.edit(path, value)
        self.panel.mark(self.session.invalid)
        if edit.kind == "invalid":
            self.show_message(edit.message, error=True)
            return
        if edit.kind == "reset":
            self.trainer.cancel()
            self.session.queue.clear()
        if edit.kind == "reset" and path in ("problem", "decay.name"):
            self._show_settings()  # suggested settings, new variable rows
        if edit.message or self.session.invalid:
            self._show_edit(edit)
        self._show_surface()
        self._refresh(force=True)

    def _show_edit(self, edit: Edit) -> None:
        pending = "; ".join(self.session.invalid.values())
        if pending:
            self.show_message(f"still invalid: {pending}", error=True)
        else:
            self.show_message(edit.message)

    @_guarded
    def _on_chunk(self, run: Run) -> None:
        self._refresh()

    def _report_end(self, run: Run) -> None:
        if run.status in ("diverged", "failed"):  # the figure notes it with its trace
            self.show_message(run.reason or run.status, error=True)
        self._refresh(force=True)

    @_guarded
    def _on_end(self, run: Run) -> None:
        self._report_end(run)
        if run is not self.session.current and run.status != "paused":
            self._play_next()

    @_guarded
    def _set_log_y(self, panel: str, on: bool) -> None:
        self.figure.set_log_y(panel, on)

    @_guarded
    def _set_pace(self, steps_per_second: float) -> None:
        self.trainer.pace = steps_per_second or None
        self._refresh(force=True)

    @_guarded
    def _set_cursor(self, step: int) -> None:
        self.figure.set_cursor(step or None)

    def _show_plan(self, entries: Sequence[Entry]) -> None:
        """The current run's planned learning rate, faint under the runs (about 2,000 points)."""
        if not self.session.has_current:
            return
        run = self.session.current
        config = run.config
        color = next((e.color for e in entries if e.run is run), "#555555")
        key = (config.learning_rate, config.decay, config.steps, color)
        if key != self._plan_of:
            self._plan_of = key
            every = max(1, -(-config.steps // PLAN_POINTS))
            rates = schedule(config, every=every)
            self.figure.set_plan(rates, color=color, every=every)

    def _show_replay_range(self, entries: Sequence[Entry]) -> None:
        """The replay slider spans the longest run shown (Play takes about 60 frames)."""
        last = max((e.run.history.first_step + len(e.run.history) for e in entries), default=0)
        if self.replay_step.max != last:
            self.replay_step.max = self.replay.max = last  # a value beyond it comes down to it
            self.replay.step = max(1, last // 60)

    @_guarded
    def _set_smoothing(self, weight: float) -> None:
        self.figure.set_smoothing(weight)

    def __getattr__(self, name: str) -> Any:
        # Every control of the panel is reachable on the explorer too (explorer.learning_rate).
        if name != "panel" and "panel" in self.__dict__ and hasattr(self.panel, name):
            return getattr(self.panel, name)
        raise AttributeError(f"{type(self).__name__!r} object has no attribute {name!r}")

    @_guarded
    def _on_toggle(self, entry: Entry) -> None:
        self._refresh(force=True)

    @_guarded
    def _on_delete(self, entry: Entry) -> None:
        if self.session.has_current and entry.run is self.session.current:
            self.trainer.cancel()
        self.session.delete(entry.run)
        self.show_message(f"deleted {entry.differs}; Undo brings it back")
        self._refresh(force=True)

    @staticmethod
    def _traces(entries: Sequence[Entry]) -> Sequence[Trace]:
        return [
            Trace(
                key=e.key,
                label=e.differs,
                history=e.run.history,
                color=e.color,
                linestyle=e.linestyle,
                visible=e.visible,
                status=e.run.status,
                reason=e.run.reason or "",
            )
            for e in entries
        ]

    def _refresh(self, force: bool = False) -> None:
        entries = self.entries  # labels and styles once per refresh, for figure and table
        drew = self.figure.update(self._traces(entries), force=force)
        now = time.perf_counter()
        if not (force or drew or now - self._text_refreshed > TEXT_INTERVAL):
            return  # text follows the figure's frame rate: no per-chunk widget traffic
        self._text_refreshed = now
        self.show_code()  # the page holds the code ahead of a click on Copy as code
        self._show_plan(entries)
        self.table.set_entries(entries)
        self._show_replay_range(entries)
        if not self.session.has_current:
            self.status.value = ""
            return
        run = self.session.current
        loss = run.history.last("loss")
        shown = f"{loss:.4g}" if run.step else "–"  # no loss before the first step
        pace = self.trainer.pace
        paced = "" if pace is None else f" (paced at {pace:,.0f}/s)"
        self.status.value = (
            f"step <b>{run.step}</b>/{run.config.steps} · loss <b>{shown}</b> · "
            f"{run.steps_per_second:,.0f} steps/s{paced} · {html.escape(device_name())} · "
            f"{run.status}"
        )

    # ----------------------------------------------------------------- export
    @_guarded
    def export(self) -> list[Path]:
        """Write every run (CSV, JSON) and the figure (PNG) into ``export_dir``."""
        self.export_dir.mkdir(parents=True, exist_ok=True)
        records = [record_of(run) for run in self.session.runs if run.step]
        paths = [
            to_csv(records, self.export_dir / "runs.csv"),
            to_json(records, self.export_dir / "runs.json"),
            save_figure(self.figure.figure, self.export_dir / "figure.png"),
        ]
        paths = [Path(p) for p in paths]
        self.show_message("wrote " + ", ".join(str(p) for p in paths))
        self.downloads.value = download_links(paths)  # the same files, saved by the browser
        return paths

    @_guarded
    def find_learning_rate(self) -> LRRangeResult:
        """Run the learning-rate range test on the current settings (blocking, a few seconds);
        its curves and one button per suggestion appear below the tools."""
        self.trainer.pause()
        self.session.require_valid("test")  # a ValueError naming invalid fields: shown
        config = self.session.config
        self.show_message(f"learning-rate range test: {SEEDS} seeds × {STEPS} steps…")
        result = self.lr_finder.run(config)
        said = ", ".join(
            f"{rule.replace('_', ' ')} {rate:.3g}" for rule, rate in result.suggestions.items()
        )
        self.show_message(f"range test suggests {said}: pick one below the tools")
        return result

    def _apply_learning_rate(self, rate: float) -> None:
        """A suggestion chosen: the learning rate, as if typed into its field."""
        self._on_edit("learning_rate", rate)
        self._show_settings()

    def show_code(self) -> str:
        """The ``optimize_loss`` code for the current settings: what Copy as code copies."""
        config = self.session.config
        if config is not self._code_of:
            self._code_of = config
            self.copy_code.text = as_code(config)
        return self.copy_code.text

    @_guarded
    def save_config(self) -> str:
        """Show (and return) the settings as JSON."""
        self.config_json.value = self.session.to_json()
        return self.config_json.value

    @_guarded
    def load_config(self, text: str | None = None) -> None:
        """Apply settings from JSON text (the box below the figure by default)."""
        self.trainer.cancel()
        self.session.load_json(self.config_json.value if text is None else text)
        self._show_settings()
        self._refresh(force=True)
        self.show_message("settings loaded")


def explore(model_or_loss: Any, x: Any = None, y: Any = None, **kwargs: Any) -> Explorer:
    """An :class:`Explorer` on your own Keras model (or loss callable) and data.

    ``kwargs`` go to :class:`~olexplore.problems.custom.CustomProblem` (e.g. ``loss=``,
    ``dataset=``, ``variables=``) except ``config`` and ``backend``, which go to the Explorer.
    """
    from olexplore.problems.custom import CustomProblem  # noqa: PLC0415

    config = kwargs.pop("config", None)
    backend = kwargs.pop("backend", "auto")
    problem = CustomProblem(model_or_loss, x=x, y=y, **kwargs)
    return Explorer(config or Config(problem=problem.name), problem=problem, backend=backend)
