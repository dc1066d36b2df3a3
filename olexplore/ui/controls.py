"""The explorer's controls: a panel of widgets that reads and writes one :class:`Config`.

As on TensorFlow Playground's page, the widgets are the only state: ``panel.config`` builds and
validates a Config from them, ``panel.config = c`` writes them all without a storm of callbacks.
A widget value that makes the Config invalid never raises into the kernel: the panel shows the
message (field, value, what is accepted) and keeps ``last_valid_config``. User text (decay lists,
multiplier patterns) is parsed as numbers or compiled as regular expressions, never evaluated.
"""

from __future__ import annotations

import html
import math
import re
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any

import ipywidgets as w

from olexplore.engine.learning_rate import DECAY_FUNCTIONS
from olexplore.engine.optimizers import KERAS_OPTIMIZER_NAMES, OPTIMIZER_CLS_NAMES
from olexplore.problems import problem_class, problem_names
from olexplore.runs.config import REQUIRED, Clipping, Config, Decay, decay_parameters
from olexplore.runs.run import LIVE_FIELDS

#: Fields applied to a running run without a reset (``Run.apply_live_changes``).
LIVE = frozenset({*LIVE_FIELDS, "clipping.norm"})
_WHOLE_RUN = {
    f"{kind}_decay" for kind in ("polynomial", "cosine", "linear_cosine", "noisy_linear_cosine")
}
_LISTS = ("boundaries", "values")
_NUMBERS_ACCEPTED = "comma-separated numbers, e.g. '100, 200'"
_WIDE = {"description_width": "initial"}
_CLIP_OPTIONS = [("none", "none"), ("global norm", "global_norm"), ("adaptive", "adaptive")]
_CLIP_TIPS = [
    "No clipping (clip_gradients=None).",
    "Rescale all gradients when their global norm exceeds the clip value.",
    "TF 1's adaptive_clipping_fn: clip at an outlier norm learned from the norm's history.",
]
_TIPS = {
    "problem": "What to train: a 2-D surface, a toy or a real model (changing it resets the run).",
    "optimizer": "TF 1's six optimizer names (tf.compat.v1.train classes, Momentum at 0.9) or a "
    "Keras 3 extra, as optimize_loss's optimizer argument.",
    "learning_rate": "Base learning rate on a log scale; it changes live, without a reset.",
    "learning_rate_text": "The exact learning rate (any value >= 0, also beyond the slider).",
    "decay_name": "learning_rate_decay_fn: none or one of TF 1's nine tf.compat.v1.train decays, "
    "called with the learning rate and the global step at every step.",
    "clipping_kind": "clip_gradients: none, a fixed global norm (tf.clip_by_global_norm) or TF 1's "
    "adaptive clipping from moving averages of the log norm.",
    "clipping_norm": "The global norm gradients are clipped to (live, without a reset).",
    "clipping_std_factor": "Adaptive clipping: clip above mean + std_factor * std of the log norm.",
    "clipping_decay": "Adaptive clipping: decay of its moving averages, in [0, 1).",
    "clipping_static_max_norm_on": "Adaptive clipping: also clip at a fixed maximum norm.",
    "clipping_static_max_norm": "Adaptive clipping: that fixed maximum global norm.",
    "noise_scale": "gradient_noise_scale: std of the truncated-normal noise added to every "
    "gradient (0 is off; live).",
    "add_pattern": "Add a row for another multiplier pattern.",
    "pattern_key": "A variable name or a regular expression over the names, e.g. 'mlp/hidden/.*'.",
    "pattern_factor": "gradient_multipliers: factor for the variables the pattern matches.",
    "steps": "Number of training steps of the run.",
    "batch_size": "Examples per step for problems with data (ignored by 2-D surfaces).",
    "seed": "Seeds initial values, data order and gradient noise: same seed, same run.",
    "error": "Messages about invalid settings appear here.",
    "problem_description": "What the chosen problem shows.",
    "names_hint": "Variable rows appear once the problem has been built.",
}
_DECAY_TIPS = {
    "decay_steps": "Steps over which the rate decays (per decay_rate, or the whole schedule).",
    "decay_rate": "How much the rate decays per decay_steps.",
    "staircase": "Decay in jumps every decay_steps instead of smoothly.",
    "boundaries": "Increasing step numbers where the rate changes, comma-separated.",
    "values": "The rates themselves, comma-separated: one more than boundaries.",
    "end_learning_rate": "The rate reached after decay_steps.",
    "power": "Exponent of the polynomial (1.0 is linear).",
    "cycle": "Restart the polynomial decay after decay_steps instead of staying at the end rate.",
    "alpha": "Floor of the cosine decay, as a fraction of the learning rate.",
    "first_decay_steps": "Steps of the first cosine period, before the first restart.",
    "t_mul": "Each cosine period is t_mul times longer than the previous one.",
    "m_mul": "Each restart starts at m_mul times the previous starting rate.",
    "num_periods": "Number of cosine periods over decay_steps.",
    "beta": "Constant added to the linear-cosine factor.",
    "initial_variance": "Initial variance of the noise added to the linear-cosine factor.",
    "variance_decay": "How fast that noise variance decays with the step.",
}


def suggested_decay_params(name: str, steps: int = 500, learning_rate: float = 0.01) -> dict:
    """The parameters of decay ``name`` with TF's defaults and required ones filled in for a run.

    >>> suggested_decay_params("exponential_decay")
    {'decay_steps': 100, 'decay_rate': 0.5, 'staircase': False}
    >>> suggested_decay_params("piecewise_constant", steps=300, learning_rate=0.1)
    {'boundaries': (150, 225), 'values': (0.1, 0.01, 0.001)}
    """
    steps = max(1, int(steps))
    first = max(1, steps // 2)
    fill = {
        "decay_steps": steps if name in _WHOLE_RUN else max(1, steps // 5),
        "first_decay_steps": max(1, steps // 4),
        "decay_rate": 0.5,
        "boundaries": (first, max(first + 1, 3 * steps // 4)),
        "values": tuple(float(f"{learning_rate / f:.6g}") for f in (1, 10, 100)),
    }
    return {k: fill[k] if v is REQUIRED else v for k, v in decay_parameters(name).items()}


def parse_numbers(text: str, argument: str) -> tuple[int | float, ...]:
    """Comma-separated numbers from ``text``, without evaluating it.

    >>> parse_numbers("100, 200", "decay.params.boundaries")
    (100, 200)
    >>> parse_numbers("0.1, 1e-2", "decay.params.values")
    (0.1, 0.01)
    """
    numbers = []
    for part in filter(None, (p.strip() for p in str(text).split(","))):
        try:
            numbers.append(int(part))
        except ValueError:
            try:
                numbers.append(float(part))
            except ValueError:
                raise ValueError(
                    f"{argument}: got {text!r}, where {part!r} is not a number; "
                    f"accepted: {_NUMBERS_ACCEPTED}."
                ) from None
    if not numbers:
        raise ValueError(f"{argument}: got {text!r}; accepted: {_NUMBERS_ACCEPTED}.")
    return tuple(numbers)


def _format_numbers(values: Sequence[Any]) -> str:
    return ", ".join(repr(v) if isinstance(v, float) else str(v) for v in values)


def _hidden(widget: w.Widget, hidden: bool) -> None:
    widget.layout.display = "none" if hidden else None


class ControlPanel:
    """Widgets for every field of a Config; ``widget`` is what to display.

    Controls are attributes named after the Config field (``problem``, ``optimizer``,
    ``learning_rate`` (log slider) with ``learning_rate_text``, ``decay_name`` with
    ``decay_params``, ``clipping_kind``, ``clipping_norm``, ..., ``noise_scale``,
    ``multipliers`` (name -> factor widget) with ``patterns``, ``steps``, ``batch_size``,
    ``seed``) and ``error``, the message area.

    >>> panel = ControlPanel(Config(problem="rosenbrock", optimizer="SGD"))
    >>> panel.learning_rate_text.value = -1.0  # what a user typing "-1" does
    >>> panel.error_message
    'learning_rate: got -1.0 (float); accepted: a number >= 0.'
    >>> panel.last_valid_config.optimizer, panel.valid
    ('SGD', False)
    >>> panel.learning_rate_text.value = 0.5
    >>> panel.config.learning_rate, panel.error_message
    (0.5, '')
    """

    def __init__(self, config: Config | None = None, variable_names: Sequence[str] = ()) -> None:
        config = Config() if config is None else config
        self._callbacks: list[Callable[[str, bool], Any]] = []
        self._quiet = 0
        self._invalid: str | None = None
        self._error_text = ""
        self._problem_params: Mapping[str, Any] = config.problem_params
        self._explicit: set[str] = set()  # optional decay parameters given or edited
        self._names: list[str] = []
        self.last_valid_config = config
        self.multipliers: dict[str, w.FloatText] = {}
        self.patterns: list[tuple[w.Text, w.FloatText]] = []

        make = self._make
        self.problem = make("problem", w.Dropdown(description="problem"))
        self.problem.observe(self._on_problem, names="value")
        self.problem_description = make("problem_description", w.HTML())
        optimizers = [(n, n) for n in OPTIMIZER_CLS_NAMES]
        optimizers += [(f"{n} (Keras)", n) for n in KERAS_OPTIMIZER_NAMES]
        make("optimizer", w.Dropdown(options=optimizers, description="optimizer"), "optimizer")
        slider = w.FloatLogSlider(min=-5, max=1, description="learning rate", style=_WIDE)
        make("learning_rate", slider).observe(self._on_slider, names="value")
        text = make("learning_rate_text", w.FloatText(layout=w.Layout(width="9em")))
        text.observe(self._on_lr_text, names="value")
        decays = w.Dropdown(options=["none", *DECAY_FUNCTIONS], description="decay")
        make("decay_name", decays).observe(self._on_decay_name, names="value")
        self._decay_widgets = {name: self._decay_controls(name) for name in DECAY_FUNCTIONS}
        self.decay_box = w.VBox(layout=w.Layout(margin="0 0 0 2em"))
        kinds = w.ToggleButtons(options=_CLIP_OPTIONS, tooltips=_CLIP_TIPS, description="clipping")
        make("clipping_kind", kinds, "clipping.kind")
        kinds.observe(lambda _: self._show_chosen(), names="value")
        norm = w.FloatLogSlider(min=-3, max=3, description="clip norm")
        make("clipping_norm", norm, "clipping.norm")
        make("clipping_std_factor", w.FloatText(description="std factor"), "clipping.std_factor")
        make("clipping_decay", w.FloatText(description="decay"), "clipping.decay")
        on = w.Checkbox(description="static max norm", indent=False)
        make("clipping_static_max_norm_on", on, "clipping.static_max_norm")
        static = w.FloatText(value=10.0, description="max norm")
        make("clipping_static_max_norm", static, "clipping.static_max_norm")
        self.adaptive_box = w.VBox(
            [self.clipping_std_factor, self.clipping_decay, w.HBox([on, static])]
        )
        make("noise_scale", w.FloatText(description="noise scale"), "noise_scale")
        button = w.Button(description="+ pattern", layout=w.Layout(width="8em"))
        make("add_pattern", button).on_click(self._on_add_pattern)
        hint = "<i>Variable rows appear once the problem has been built.</i>"
        self.names_hint = make("names_hint", w.HTML(hint))
        self.multipliers_box = w.VBox()
        make("steps", w.IntText(description="steps"), "steps")
        make("batch_size", w.IntText(description="batch size"), "batch_size")
        make("seed", w.IntText(description="seed"), "seed")
        self.error = make("error", w.HTML())
        self.widget = w.VBox(
            [
                self.problem,
                self.problem_description,
                self.optimizer,
                w.HBox([self.learning_rate, self.learning_rate_text]),
                self.decay_name,
                self.decay_box,
                self.clipping_kind,
                self.clipping_norm,
                self.adaptive_box,
                self.noise_scale,
                w.Accordion([self.multipliers_box], titles=("gradient multipliers",)),
                self.steps,
                self.batch_size,
                self.seed,
                self.error,
            ]
        )
        self.config = config
        if variable_names:
            self.set_variable_names(variable_names)

    # ----------------------------------------------------------------- public API
    @property
    def config(self) -> Config:
        """The Config the widgets describe; a ``ValueError`` (also shown) when it is invalid."""
        try:
            config = self._build()
        except ValueError as error:
            self._invalid = str(error)
            self.show_error(self._invalid)
            raise
        self._invalid = None
        self.last_valid_config = config
        return config

    @config.setter
    def config(self, config: Config) -> None:
        if not isinstance(config, Config):
            raise ValueError(f"config: got {config!r}; accepted: an olexplore Config.")
        with self._quietly():
            if config.problem != self.problem.value:
                self._names = []  # the explorer sets them again once the problem is built
            self._set_problem(config.problem)
            self._problem_params = config.problem_params
            self.optimizer.value = config.optimizer
            self._set_learning_rate(config.learning_rate)
            self.decay_name.value = config.decay.name
            self._write_decay(
                config.decay.name, config.decay.params, config.steps, config.learning_rate
            )
            self._explicit = set(config.decay.params)
            self._write_clipping(config.clipping)
            self.noise_scale.value = config.noise_scale
            self.steps.value, self.batch_size.value = config.steps, config.batch_size
            self.seed.value = config.seed
            self._write_multipliers(config.multipliers)
            self._show_chosen()
        self._validate()

    @property
    def valid(self) -> bool:
        """Whether the widgets describe a valid Config (``config`` does not raise)."""
        return self._invalid is None

    @property
    def decay_params(self) -> dict[str, w.Widget]:
        """The parameter widgets of the chosen decay (empty for ``"none"``)."""
        return self._decay_widgets.get(self.decay_name.value, {})

    @property
    def error_message(self) -> str:
        """The text shown in the message area (``""`` when none)."""
        return self._error_text

    def show_error(self, text: str) -> None:
        """Show ``text`` in the message area."""
        self._error_text = str(text)
        self.error.value = (
            f'<span style="color:#b00020">&#9888; {html.escape(self._error_text)}</span>'
        )

    def clear_error(self) -> None:
        """Empty the message area."""
        self._error_text = ""
        self.error.value = ""

    def on_change(self, callback: Callable[[str, bool], Any], remove: bool = False) -> None:
        """Call ``callback(field, live)`` once per user edit (``remove=True`` unregisters it).

        ``field`` is a Config path (``"learning_rate"``, ``"decay.name"``,
        ``"decay.params.decay_steps"``, ``"clipping.kind"``, ``"multipliers"``, ...); ``live`` is
        True when a running run can take the change without a reset (:data:`LIVE`). The panel
        has validated first: read ``valid`` or ``last_valid_config``. Setting ``config`` or
        calling ``set_variable_names`` calls nothing.

        >>> panel, calls = ControlPanel(), []
        >>> panel.on_change(lambda field, live: calls.append((field, live)))
        >>> panel.noise_scale.value, panel.seed.value = 0.1, 3
        >>> calls
        [('noise_scale', True), ('seed', False)]
        """
        if remove:
            self._callbacks.remove(callback)
        else:
            self._callbacks.append(callback)

    def set_variable_names(self, names: Sequence[str]) -> None:
        """One multiplier row per variable name (factor 1.0), keeping the current multipliers.

        >>> panel = ControlPanel(Config(multipliers={"x": 0.0}))
        >>> panel.set_variable_names(["x", "y"])
        >>> {name: row.value for name, row in panel.multipliers.items()}
        {'x': 0.0, 'y': 1.0}
        """
        current = self._read_multipliers(check=False)
        self._names = [str(name) for name in names]
        with self._quietly():
            self._write_multipliers(current)
        self._validate()

    # ----------------------------------------------------------------- building
    def _build(self) -> Config:
        static = (
            self.clipping_static_max_norm.value if self.clipping_static_max_norm_on.value else None
        )
        clipping = (self.clipping_norm, self.clipping_std_factor, self.clipping_decay)
        return Config(
            problem=self.problem.value,
            optimizer=self.optimizer.value,
            learning_rate=self.learning_rate_text.value,
            decay=self._read_decay(),
            clipping=Clipping(self.clipping_kind.value, *(x.value for x in clipping), static),
            noise_scale=self.noise_scale.value,
            multipliers=self._read_multipliers(check=True),
            steps=self.steps.value,
            batch_size=self.batch_size.value,
            seed=self.seed.value,
            problem_params=self._problem_params,
        )

    def _read_decay(self) -> Decay:
        name = self.decay_name.value
        if name == "none":
            return Decay()
        params = {}
        for key, default in decay_parameters(name).items():
            value = self._decay_widgets[name][key].value
            if key in _LISTS:
                value = parse_numbers(value, f"decay.params.{key}")
            if default is REQUIRED or key in self._explicit or value != default:
                params[key] = value
        return Decay(name, params)

    def _read_multipliers(self, check: bool) -> dict[str, float]:
        pairs = [(n, f.value) for n, f in self.multipliers.items() if f.value != 1.0]
        pairs += [(k.value.strip(), f.value) for k, f in self.patterns if k.value.strip()]
        found: dict[str, float] = {}
        for key, factor in pairs:
            if check and key in found:
                raise ValueError(
                    f"multipliers: key {key!r} is given twice; accepted: each name or pattern once."
                )
            if check and self._names and key not in self._names:
                self._check_pattern(key)
            found[key] = factor
        return found

    def _check_pattern(self, key: str) -> None:
        accepted = f"one of the variable names {self._names} or a regular expression matching them"
        try:
            pattern = re.compile(key)
        except re.error as error:
            problem = f"is not a regular expression ({error})"
            raise ValueError(f"multipliers: key {key!r} {problem}; accepted: {accepted}.") from None
        if not any(pattern.fullmatch(name) for name in self._names):
            raise ValueError(f"multipliers: key {key!r} matches no variable; accepted: {accepted}.")

    # ----------------------------------------------------------------- writing
    def _set_problem(self, name: str) -> None:
        options = [(problem_class(n).title, n) for n in problem_names()]
        if name not in problem_names():
            options.append((f"{name} (not registered)", name))
        if list(self.problem.options) != options:
            self.problem.options = options
        self.problem.value = name
        self._describe_problem()

    def _describe_problem(self) -> None:
        name = self.problem.value
        text = problem_class(name).description if name in problem_names() else "(not registered)"
        self.problem_description.value = f"<i>{html.escape(text)}</i>"

    def _set_learning_rate(self, value: float) -> None:
        self.learning_rate_text.value = value
        low, high = 10.0**self.learning_rate.min, 10.0**self.learning_rate.max
        self.learning_rate.value = min(max(value, low), high) if math.isfinite(value) else low

    def _write_decay(
        self, name: str, params: Mapping[str, Any], steps: int, learning_rate: float
    ) -> None:
        if name == "none":
            return
        values = {**suggested_decay_params(name, steps, learning_rate), **params}
        for key, widget in self._decay_widgets[name].items():
            value = values[key]
            widget.value = _format_numbers(value) if key in _LISTS else value

    def _write_clipping(self, clipping: Clipping) -> None:
        self.clipping_kind.value = clipping.kind
        exponent = math.log10(clipping.norm)  # widen the slider so the exact norm fits
        self.clipping_norm.max = max(self.clipping_norm.max, math.ceil(exponent) + 1)
        self.clipping_norm.min = min(self.clipping_norm.min, math.floor(exponent) - 1)
        self.clipping_norm.value = clipping.norm
        self.clipping_std_factor.value = clipping.std_factor
        self.clipping_decay.value = clipping.decay
        self.clipping_static_max_norm_on.value = clipping.static_max_norm is not None
        if clipping.static_max_norm is not None:
            self.clipping_static_max_norm.value = clipping.static_max_norm

    def _write_multipliers(self, multipliers: Mapping[str, float]) -> None:
        for widget in [*self.multipliers.values(), *(x for row in self.patterns for x in row)]:
            widget.close()
        self.multipliers, self.patterns = {}, []
        for name in self._names:
            tip = f"Factor multiplying the gradient of {name} (0 freezes it)."
            row = w.FloatText(
                multipliers.get(name, 1.0), description=name, style=_WIDE, tooltip=tip
            )
            self.multipliers[name] = self._watch(row, "multipliers")
        for key, factor in multipliers.items():
            if key not in self.multipliers or factor == 1.0:  # 1.0 on a row would be dropped
                self._add_pattern_row(key, factor)
        self._add_pattern_row()
        self._layout_multipliers()

    def _add_pattern_row(self, key: str = "", factor: float = 1.0) -> None:
        text = w.Text(key, placeholder="regex, e.g. mlp/hidden/.*", tooltip=_TIPS["pattern_key"])
        number = w.FloatText(factor, layout=w.Layout(width="8em"), tooltip=_TIPS["pattern_factor"])
        self.patterns.append((self._watch(text, "multipliers"), self._watch(number, "multipliers")))

    def _layout_multipliers(self) -> None:
        rows = [*self.multipliers.values()] or [self.names_hint]
        for box in getattr(self, "_pattern_boxes", []):
            box.close()  # a box left open holds closed rows: Voila cannot read its state
        self._pattern_boxes = [w.HBox(row) for row in self.patterns]
        self.multipliers_box.children = [*rows, *self._pattern_boxes, self.add_pattern]

    def _decay_controls(self, name: str) -> dict[str, w.Widget]:
        controls = {}
        for key, value in suggested_decay_params(name).items():
            if isinstance(value, bool):
                widget = w.Checkbox(value=value, description=key, indent=False)
            elif key in _LISTS:
                widget = w.Text(
                    _format_numbers(value), description=key, placeholder="e.g. 100, 200"
                )
            elif isinstance(value, int):
                widget = w.IntText(value=value, description=key, style=_WIDE)
            else:
                widget = w.FloatText(value=value, description=key, style=_WIDE)
            widget.tooltip = _DECAY_TIPS.get(key, f"Parameter {key} of tf.compat.v1.train.{name}.")
            controls[key] = self._watch(widget, f"decay.params.{key}", explicit=key)
        return controls

    def _show_chosen(self) -> None:
        self.decay_box.children = list(self.decay_params.values())
        _hidden(self.decay_box, not self.decay_params)
        _hidden(self.clipping_norm, self.clipping_kind.value != "global_norm")
        _hidden(self.adaptive_box, self.clipping_kind.value != "adaptive")

    # ----------------------------------------------------------------- events
    def _make(self, attribute: str, widget: w.Widget, field: str | None = None) -> Any:
        widget.tooltip = _TIPS[attribute]
        setattr(self, attribute, widget)
        return widget if field is None else self._watch(widget, field)

    @contextmanager
    def _quietly(self) -> Iterator[None]:
        self._quiet += 1
        try:
            yield
        finally:
            self._quiet -= 1

    def _watch(self, widget: w.Widget, field: str, explicit: str | None = None) -> Any:
        def changed(_: Any) -> None:
            if explicit is not None and not self._quiet:
                self._explicit.add(explicit)
            self._edited(field)

        widget.observe(changed, names="value")
        return widget

    def _validate(self) -> None:
        try:
            _ = self.config
        except ValueError:
            return  # shown by ``config``
        self.clear_error()

    def _edited(self, field: str) -> None:
        if self._quiet:
            return
        self._validate()
        for callback in list(self._callbacks):
            try:
                callback(field, field in LIVE)
            except Exception as error:  # noqa: BLE001 - a widget callback must not kill the panel
                self.show_error(
                    f"on_change callback for {field} failed: {type(error).__name__}: {error}"
                )

    def _on_slider(self, change: dict) -> None:
        if self._quiet:
            return
        current = self.learning_rate_text.value
        if current > 0 and math.isfinite(current):
            step = self.learning_rate.step
            snapped = round(math.log10(current) / step) * step
            if abs(math.log10(change["new"]) - snapped) < 1e-9:
                return  # the browser snapped our value to the slider's grid: not a user's move
        with self._quietly():
            self.learning_rate_text.value = float(f"{change['new']:.3g}")
        self._edited("learning_rate")

    def _on_lr_text(self, change: dict) -> None:
        if self._quiet:
            return
        with self._quietly():
            self._set_learning_rate(change["new"])
        self._edited("learning_rate")

    def _on_decay_name(self, change: dict) -> None:
        if not self._quiet:  # a user's choice starts from the suggested parameters
            with self._quietly():
                steps, rate = self.steps.value, self.learning_rate_text.value
                self._write_decay(change["new"], {}, steps, rate if math.isfinite(rate) else 0.01)
            self._explicit = set()
        self._show_chosen()
        self._edited("decay.name")

    def _on_problem(self, change: dict) -> None:
        if change["new"] is None:
            return
        self._describe_problem()
        if not self._quiet:  # the new problem's parameters and variables are not known yet
            self._problem_params = {}
            current = self._read_multipliers(check=False)
            self._names = []
            with self._quietly():
                self._write_multipliers(current)
        self._edited("problem")

    def _on_add_pattern(self, _: Any) -> None:
        self._add_pattern_row()
        self._layout_multipliers()
