"""The explorer's controls: one widget per field of the field table, and nothing else.

The panel holds no settings of its own: :meth:`ControlPanel.show` writes a Config into the
widgets (without calling anyone back), each user edit calls ``on_edit(field, value)`` once with
the field's dotted path (``"learning_rate"``, ``"decay.params.decay_steps"``, ``"multipliers"``,
...), and :meth:`ControlPanel.mark` shows each invalid field's message at the field. Widget
kinds, descriptions and tooltips come from :data:`~olexplore.runs.fields.FIELDS`. Text a user
types (decay lists, multiplier patterns) is parsed as numbers or handed on as text, never
evaluated. The explorer binds the panel to a :class:`~olexplore.runs.session.Session`.
"""

from __future__ import annotations

import html
import math
from collections.abc import Callable, Collection, Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any, TypeAlias, TypeVar

import ipywidgets as w

from olexplore.engine.learning_rate import DECAY_FUNCTIONS
from olexplore.engine.optimizers import KERAS_OPTIMIZER_NAMES, OPTIMIZER_CLS_NAMES
from olexplore.problems import problem_class, problem_names
from olexplore.runs.config import Config
from olexplore.runs.fields import (
    DECAY_PARAMETERS,
    FIELDS,
    Field,
    suggested_decay_params,
    value_at,
)
from olexplore.ui.closing import close_tree

_LISTS = ("boundaries", "values")
_WIDE = {"description_width": "initial"}
_CLIP_TIPS = [
    "No clipping (clip_gradients=None).",
    "Rescale all gradients when their global norm exceeds the clip value.",
    "TF 1's adaptive_clipping_fn: clip at an outlier norm learned from the norm's history.",
]
#: Tooltips of the widgets that are not a field's own control.
_EXTRA_TIPS = {
    "learning_rate_text": "The exact learning rate (any value >= 0, also beyond the slider): "
    "the box wins over the slider.",
    "clipping_norm_text": "The exact clip norm (any value > 0): the box wins over the slider.",
    "add_pattern": "Add a row for another multiplier pattern.",
    "pattern_key": "A variable name or a regular expression over the names, e.g. 'mlp/hidden/.*'.",
    "pattern_factor": "gradient_multipliers: factor for the variables the pattern matches.",
    "names_hint": "Variable rows appear once the problem has been built.",
    "problem_description": "What the chosen problem shows.",
}
INVALID_CLASS = "olexplore-invalid"
#: The control kinds made from a field table row (the others: decay parameters, rows, none).
CONTROLS = ("dropdown", "toggle", "log_slider", "float", "int")
#: Decades the log sliders span (the box next to them takes any value).
_SLIDER_EXPONENTS = {"learning_rate": (-5, 1), "clipping.norm": (-3, 3)}
_CHOICE_TIPS = {"clipping.kind": _CLIP_TIPS}
#: What an optional setting's box holds before it is first used.
_OPTIONAL_START = {"clipping.static_max_norm": 10.0}
#: Fields other settings depend on (their rows appear and disappear with them).
_NEEDED = {row.needs[0] for row in FIELDS.values() if row.needs is not None}

#: The widget a field's own control is, one per kind in :data:`CONTROLS`.
Control: TypeAlias = w.Dropdown | w.ToggleButtons | w.FloatLogSlider | w.FloatText | w.IntText
#: The widget of a decay parameter: a checkbox, a number box, or a text of numbers (lists).
DecayControl: TypeAlias = w.Checkbox | w.IntText | w.FloatText | w.Text
_C = TypeVar("_C", bound=Control)
_D = TypeVar("_D", bound=w.DOMWidget)


def _dropdown_options(path: str, row: Field) -> list[tuple[str, str]]:
    if path == "problem":
        return []  # filled by ``_set_problem`` (titles, and your own problem)
    if path == "optimizer":
        return [(n, n) for n in OPTIMIZER_CLS_NAMES] + [
            (f"{n} (Keras)", n) for n in KERAS_OPTIMIZER_NAMES
        ]
    return [(choice, choice) for choice in row.choices()] if row.choices else []


def parse_numbers(text: str) -> tuple[int | float, ...] | str:
    """Comma-separated numbers from ``text`` without evaluating it; the text itself when it
    is not such a list (the Session then names what is wrong).

    >>> parse_numbers("100, 200"), parse_numbers("0.1, 1e-2"), parse_numbers("1, x")
    ((100, 200), (0.1, 0.01), '1, x')
    """
    numbers: list[int | float] = []
    for part in filter(None, (p.strip() for p in str(text).split(","))):
        try:
            numbers.append(int(part))
        except ValueError:
            try:
                numbers.append(float(part))
            except ValueError:
                return str(text)
    return tuple(numbers) if numbers else str(text)


def _format_numbers(values: Sequence[Any]) -> str:
    return ", ".join(repr(v) if isinstance(v, float) else str(v) for v in values)


def _hidden(widget: w.DOMWidget, hidden: bool) -> None:
    widget.layout.display = "none" if hidden else None


def attribute_name(path: str) -> str:
    """The attribute a field's control has on the panel and the explorer.

    >>> attribute_name("clipping.norm"), attribute_name("learning_rate")
    ('clipping_norm', 'learning_rate')
    """
    return path.replace(".", "_")


class ControlPanel:
    """A widget per field; ``widget`` is what to display.

    ``controls`` maps each field path to its widget, which is also an attribute named by
    :func:`attribute_name` (``panel.learning_rate``, ``panel.clipping_norm``, ...). The learning
    rate and the clip norm have a log slider and a box with the exact value
    (``learning_rate_text``, ``clipping_norm_text``): the box wins.

    >>> panel, edits = ControlPanel(Config(problem="rosenbrock")), []
    >>> panel.on_edit(lambda path, value: edits.append((path, value)))
    >>> panel.learning_rate_text.value = 0.05  # what typing 0.05 in the box does
    >>> panel.seed.value = 3
    >>> edits
    [('learning_rate', 0.05), ('seed', 3)]
    >>> panel.mark({"seed": "seed: got -1 (int); accepted: ..."})
    >>> panel.messages["seed"].value != "" and INVALID_CLASS in panel.seed._dom_classes
    True
    """

    def __init__(self, config: Config | None = None, own_problem: str | None = None) -> None:
        config = Config() if config is None else config
        self._callbacks: list[Callable[[str, Any], None]] = []
        self._quiet = 0
        self._own_problem = own_problem
        self._names: list[str] = []
        self.controls: dict[str, Control] = {}
        self._dropdowns: dict[str, w.Dropdown] = {}  # the controls of the choice fields
        self._sliders: dict[str, w.FloatLogSlider] = {}  # of the log-slider fields
        self._boxes: dict[str, w.FloatText] = {}  # the exact-value box beside each log slider
        self._switches: dict[str, w.Checkbox] = {}  # the "use ..." box of each optional field
        self.messages: dict[str, w.HTML] = {}
        self.multipliers: dict[str, w.FloatText] = {}
        self.patterns: list[tuple[w.Text, w.FloatText]] = []
        self._pattern_boxes: list[w.HBox] = []
        self._rows: dict[str, w.VBox] = {}

        rows: list[w.Widget] = []
        for path, row in FIELDS.items():  # one control per row of the field table, in order
            if row.control == "rows":
                rows.append(self._multiplier_section())
            elif row.control in CONTROLS:
                rows.append(self._control(path))
            if path == "problem":
                self.problem_description = self._extra("problem_description", w.HTML())
                rows.append(self.problem_description)
            elif path == "decay.name":
                self._decay_widgets: dict[str, dict[str, DecayControl]] = {
                    n: self._decay_controls(n) for n in DECAY_FUNCTIONS
                }
                self._decay_rows = {
                    name: [w.VBox([widget, self.messages[f"decay.params.{key}"]])
                           for key, widget in widgets.items()]
                    for name, widgets in self._decay_widgets.items()
                }  # fmt: skip
                self.decay_box = w.VBox(layout=w.Layout(margin="0 0 0 2em"))
                rows.append(self.decay_box)
        self.widget = w.VBox(rows)
        self.widget.add_class("olexplore-panel")
        self.show(config)

    # ----------------------------------------------------------------- public API
    def on_edit(self, callback: Callable[[str, Any], None], remove: bool = False) -> None:
        """Call ``callback(field, value)`` once per user edit (``remove=True`` unregisters it).

        :meth:`show` and :meth:`set_variable_names` call nothing.
        """
        if remove:
            self._callbacks.remove(callback)
        else:
            self._callbacks.append(callback)

    def show(
        self,
        config: Config,
        variable_names: Sequence[str] | None = None,
        keep: Collection[str] = (),
    ) -> None:
        """Write ``config`` into every widget (and, when given, the multiplier rows' names).

        The fields in ``keep`` (those a user is correcting) keep what was typed.
        """
        if not isinstance(config, Config):
            raise ValueError(f"config: got {config!r}; accepted: an olexplore Config.")
        kept = {path: self.value(path) for path in keep if path in self.controls}
        with self._quietly():
            if variable_names is not None:
                self._names = [str(name) for name in variable_names]
            elif config.problem != self._dropdowns["problem"].value:
                self._names = []
            self._set_problem(config.problem)
            for path in self.controls:
                if path != "problem":
                    self._write(path, value_at(config, path))
            self._write_decay(config)
            self._write_multipliers(config.multipliers)
            for path, value in kept.items():
                self._write(path, value)
            self._show_chosen()

    def mark(self, invalid: Mapping[str, str]) -> None:
        """Show each ``{field: message}`` at its field; clear the fields not listed. A marked
        field's control gets :data:`INVALID_CLASS`, and so does the box of the exact value
        beside a log slider (what the user typed into).

        >>> panel = ControlPanel()
        >>> panel.mark({"clipping.norm": "clipping.norm: got 0 (int); accepted: a number > 0."})
        >>> INVALID_CLASS in panel.clipping_norm_text._dom_classes
        True
        """
        for path, message in self.messages.items():
            text = invalid.get(path) or next(
                (m for p, m in invalid.items() if p.startswith(path + ".")), ""
            )
            message.value = (
                f'<span style="color:#b00020">&#9888; {html.escape(text)}</span>' if text else ""
            )
            _hidden(message, not text)
            for widget in (self.controls.get(path), self._boxes.get(path)):
                if widget is not None and text:
                    widget.add_class(INVALID_CLASS)
                elif widget is not None:
                    widget.remove_class(INVALID_CLASS)

    def set_variable_names(self, names: Sequence[str]) -> None:
        """One multiplier row per variable name (factor 1.0), keeping the current factors."""
        current = self.multiplier_values()
        self._names = [str(name) for name in names]
        with self._quietly():
            self._write_multipliers(current)

    def multiplier_values(self) -> dict[str, Any]:
        """The multipliers the rows describe: rows with a factor other than 1, then patterns."""
        found: dict[str, Any] = {n: f.value for n, f in self.multipliers.items() if f.value != 1.0}
        for key, factor in self.patterns:
            if key.value.strip():
                found[key.value.strip()] = factor.value
        return found

    @property
    def decay_params(self) -> dict[str, DecayControl]:
        """The parameter widgets of the chosen decay (empty for ``"none"``)."""
        return self._decay_widgets.get(self._chosen_decay(), {})

    def close(self) -> None:
        """Close every widget the panel made."""
        close_tree(self._all_widgets())

    # ----------------------------------------------------------------- building
    def _bind(self, path: str, widget: _C) -> _C:
        row = FIELDS[path]
        widget.description = row.title
        widget.tooltip = row.help
        if isinstance(widget, (w.Dropdown, w.FloatText, w.IntText, w.FloatLogSlider)):
            widget.style.description_width = "initial"
        setattr(self, attribute_name(path), widget)
        self.controls[path] = widget
        self.messages[path] = w.HTML()
        _hidden(self.messages[path], True)
        widget.observe(lambda change: self._edited(path, self.value(path)), names="value")
        return widget

    def _extra(self, name: str, widget: _D) -> _D:
        widget.tooltip = _EXTRA_TIPS[name]
        setattr(self, name, widget)
        return widget

    def _row(self, path: str) -> w.VBox:
        main = self.controls[path]
        parts = [self._switches.get(path), main, self._boxes.get(path)]
        shown = [part for part in parts if part is not None]
        line = w.HBox(shown) if len(shown) > 1 else main
        self._rows[path] = w.VBox([line, self.messages[path]])
        return self._rows[path]

    def _control(self, path: str) -> w.VBox:
        """The control of ``path``, made from its row of the field table, with its message."""
        row = FIELDS[path]
        if row.control == "log_slider":
            self._slider_and_box(path, *_SLIDER_EXPONENTS.get(path, (-3, 3)))
        elif row.control == "toggle":
            choices = list(row.choices()) if row.choices else []
            options = [(choice.replace("_", " "), choice) for choice in choices]
            tips = _CHOICE_TIPS.get(path, [row.help] * len(options))
            self._bind(path, w.ToggleButtons(options=options, tooltips=tips))
        elif row.control == "dropdown":
            self._dropdowns[path] = self._bind(
                path, w.Dropdown(options=_dropdown_options(path, row))
            )
        else:
            if row.optional:  # a checkbox says whether the setting is used at all
                on = w.Checkbox(indent=False, description=f"use {row.title}", tooltip=row.help)
                setattr(self, f"{attribute_name(path)}_on", on)
                self._switches[path] = on
                on.observe(lambda _: self._edited(path, self.value(path)), names="value")
            start = _OPTIONAL_START.get(path, 0.0)  # 0 is what a new box holds
            self._bind(path, w.IntText() if row.kind == "int" else w.FloatText(start))
        return self._row(path)

    def _multiplier_section(self) -> w.Accordion:
        self.add_pattern = self._extra("add_pattern", w.Button(description="+ pattern"))
        self.add_pattern.layout.width = "8em"
        self.add_pattern.on_click(self._on_add_pattern)
        hint = "<i>Variable rows appear once the problem has been built.</i>"
        self.names_hint = self._extra("names_hint", w.HTML(hint))
        self.multipliers_box = w.VBox()
        self.messages["multipliers"] = w.HTML()
        section = w.VBox([self.multipliers_box, self.messages["multipliers"]])
        return w.Accordion([section], titles=("gradient multipliers",))

    def _slider_and_box(self, path: str, low: int, high: int) -> None:
        slider = self._bind(path, w.FloatLogSlider(min=low, max=high, readout=False))
        slider.unobserve_all("value")
        slider.observe(lambda change: self._on_slider(path, change), names="value")
        name = f"{attribute_name(path)}_text"
        text = self._extra(name, w.FloatText(layout=w.Layout(width="9em")))
        text.observe(lambda change: self._on_box(path, change), names="value")
        self._sliders[path], self._boxes[path] = slider, text

    def _decay_controls(self, name: str) -> dict[str, DecayControl]:
        controls: dict[str, DecayControl] = {}
        for key, value in suggested_decay_params(name).items():
            widget: DecayControl
            if isinstance(value, bool):
                widget = w.Checkbox(value=value, description=key, indent=False)
            elif key in _LISTS:
                widget = w.Text(_format_numbers(value), description=key, placeholder="100, 200")
            elif isinstance(value, int):
                widget = w.IntText(value=value, description=key, style=_WIDE)
            else:
                widget = w.FloatText(value=value, description=key, style=_WIDE)
            widget.tooltip = DECAY_PARAMETERS[key].help
            path = f"decay.params.{key}"
            if path not in self.messages:
                self.messages[path] = w.HTML()
                _hidden(self.messages[path], True)
            widget.observe(
                lambda change, key=key, path=path: self._edited(
                    path, parse_numbers(change["new"]) if key in _LISTS else change["new"]
                ),
                names="value",
            )
            controls[key] = widget
        return controls

    # ----------------------------------------------------------------- reading
    def value(self, path: str) -> Any:
        """The value the control of field ``path`` shows (``None`` for an unset max norm)."""
        if FIELDS[path].optional and not self._switches[path].value:
            return None
        return self.controls[path].value

    def _chosen_decay(self) -> str:
        """The decay function chosen (``"none"`` while the dropdown holds no choice)."""
        name = self._dropdowns["decay.name"].value
        return name if isinstance(name, str) else "none"

    # ----------------------------------------------------------------- writing
    def _set_problem(self, name: str) -> None:
        options = [(problem_class(n).title, n) for n in problem_names()]
        if name not in problem_names():
            options.append((f"{name} (your problem)", name))
        problem = self._dropdowns["problem"]
        if list(problem.options) != options:
            problem.options = options
        problem.value = name
        text = problem_class(name).description if name in problem_names() else "Your own problem."
        self.problem_description.value = f"<i>{html.escape(text)}</i>"

    def _set_slider(self, path: str, value: float) -> None:
        slider = self._sliders[path]
        self._boxes[path].value = value
        low, high = 10.0**slider.min, 10.0**slider.max
        slider.value = min(max(value, low), high) if value > 0 and math.isfinite(value) else low

    def _write_decay(self, config: Config) -> None:
        name = config.decay.name
        if name == "none":
            return
        values = {**suggested_decay_params(name, config.steps, config.learning_rate or 0.01)}
        values.update(config.decay.params)
        for key, widget in self._decay_widgets[name].items():
            value = values[key]
            if isinstance(widget, w.Text):  # the lists (see _decay_controls)
                widget.value = _format_numbers(value)
            else:
                widget.value = value

    def _write(self, path: str, value: Any) -> None:
        if FIELDS[path].control == "log_slider":
            self._set_slider(path, value)
        elif FIELDS[path].optional:
            self._switches[path].value = value is not None
            if value is not None:
                self.controls[path].value = value
        else:
            self.controls[path].value = value

    def _write_multipliers(self, multipliers: Mapping[str, float]) -> None:
        close_tree([*self.multipliers.values(), *(x for row in self.patterns for x in row)])
        self.multipliers, self.patterns = {}, []
        for name in self._names:
            tip = f"Factor multiplying the gradient of {name} (0 freezes it)."
            row = w.FloatText(
                multipliers.get(name, 1.0), description=name, style=_WIDE, tooltip=tip
            )
            self.multipliers[name] = self._watch_multiplier(row)
        for key, factor in multipliers.items():
            if key not in self.multipliers or factor == 1.0:  # 1.0 on a row would be dropped
                self._add_pattern_row(key, factor)
        self._add_pattern_row()
        self._layout_multipliers()

    def _add_pattern_row(self, key: str = "", factor: float = 1.0) -> None:
        tips = _EXTRA_TIPS
        text = w.Text(key, placeholder="regex, e.g. mlp/hidden/.*", tooltip=tips["pattern_key"])
        number = w.FloatText(factor, layout=w.Layout(width="8em"), tooltip=tips["pattern_factor"])
        self.patterns.append((self._watch_multiplier(text), self._watch_multiplier(number)))

    def _layout_multipliers(self) -> None:
        rows = [*self.multipliers.values()] or [self.names_hint]
        for box in self._pattern_boxes:  # a box left open holds closed rows: Voila cannot
            box.layout.close()  # read its state (the rows themselves live on in new boxes)
            box.close()
        self._pattern_boxes = [w.HBox(row) for row in self.patterns]
        self.multipliers_box.children = [*rows, *self._pattern_boxes, self.add_pattern]

    def _show_chosen(self) -> None:
        self.decay_box.children = self._decay_rows.get(self._chosen_decay(), [])
        _hidden(self.decay_box, not self.decay_params)
        for path, row in FIELDS.items():  # a setting without effect is not shown
            if row.needs is not None and path in self._rows:
                _hidden(self._rows[path], self.value(row.needs[0]) != row.needs[1])

    def _all_widgets(self) -> Iterator[w.Widget]:
        yield self.names_hint  # not in the tree while variable rows are shown
        yield from self.controls.values()
        yield from self.messages.values()
        for widgets in self._decay_widgets.values():
            yield from widgets.values()
        for rows in self._decay_rows.values():
            yield from rows
        yield from self.multipliers.values()
        for row in self.patterns:
            yield from row
        yield from self._pattern_boxes
        yield self.widget

    # ----------------------------------------------------------------- events
    @contextmanager
    def _quietly(self) -> Iterator[None]:
        self._quiet += 1
        try:
            yield
        finally:
            self._quiet -= 1

    def _watch_multiplier(self, widget: _D) -> _D:
        widget.observe(lambda _: self._edited("multipliers", self.multiplier_values()), "value")
        return widget

    def _edited(self, path: str, value: Any) -> None:
        if self._quiet:
            return
        if path == "decay.name" or path in _NEEDED:
            self._show_chosen()
        for callback in list(self._callbacks):
            callback(path, value)

    def _on_slider(self, path: str, change: Mapping[str, Any]) -> None:
        if self._quiet:
            return
        box, slider = self._boxes[path], self._sliders[path]
        current = box.value
        if slider.step is not None and current > 0 and math.isfinite(current):
            snapped = round(math.log10(current) / slider.step) * slider.step
            if abs(math.log10(change["new"]) - snapped) < 1e-9:
                return  # the browser snapped our value to the slider's grid: not a user's move
        value = float(f"{change['new']:.3g}")
        with self._quietly():
            box.value = value
        self._edited(path, value)

    def _on_box(self, path: str, change: Mapping[str, Any]) -> None:
        if self._quiet:
            return
        with self._quietly():
            self._set_slider(path, change["new"])
        self._edited(path, change["new"])

    def _on_add_pattern(self, _: Any) -> None:
        self._add_pattern_row()
        self._layout_multipliers()


__all__ = ["INVALID_CLASS", "ControlPanel", "attribute_name", "parse_numbers"]
