"""Interactive figures that move on the static website too.

``interactive_figure(draw, width=IntSlider(...), depth=SelectionSlider(...))`` draws
``draw(**values)`` for every combination of the controls' grid values (a few per control, chosen by
the chapter) and shows them as:

* on the built website (no kernel): an HTML player, one slider or menu per control showing the
  parameter's name and value (a play button on time), that swaps precomputed frames (palette PNG;
  the site's build moves them into image files that ``book/_static/ntk_widgets.js`` fetches when
  needed, also offline), with the same axes in every frame unless ``fixed_axes=False``;
* in a live notebook (Jupyter, Binder, Colab): the ipywidgets controls themselves, which compute any
  value in their range and show a precomputed frame at once when the value is on the grid.

The grid of a control is its options (Dropdown, SelectionSlider, ToggleButtons) or, for a numeric
slider, every value from min to max by step when there are at most ``MAX_VALUES`` of them, else
``AUTO_VALUES`` evenly spaced ones (the current value included); ``grid={"width": [...]}`` sets it
explicitly. Keep the product of the grid sizes small (frames are computed when the cell runs and
weigh about 15-30 kB each): :data:`MAX_FRAMES` bounds it. At the ``quick`` scale (CI) each grid is
thinned to its ends and the current value, so a widget costs at most 3 x 3 draws there. ``draw``
must make one matplotlib figure (``ntk_course.chapters.plotting.new_axes``); keep it cheap (well
under a second), and compute anything expensive once, outside it.
"""

from __future__ import annotations

import base64
import html
import io
import itertools
import json
import math
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import ipywidgets
import matplotlib.pyplot as plt
import numpy as np
from PIL import Image

from ..config import scale
from .plotting import share_limits

__all__ = ["FigureWidget", "Frames", "control_grid", "interactive_figure", "precompute"]

MAX_VALUES = 12
AUTO_VALUES = 8
MAX_FRAMES = 120
DPI = 100
COLOURS = 128
HTML_MIME = "text/html"
# What a screen reader says after a control's value (aria-valuetext), by the control's name;
# interactive_figure(units=...) adds or overrides. Time t has no unit (t = learning rate x steps).
UNITS = {"width": "neurons per hidden layer", "depth": "weight layers", "n_train": "digits"}
# Controls that step through time get a play button on the website.
TIME_NAMES = ("t", "time", "steps", "epoch")


def _options(control: ipywidgets.ValueWidget) -> tuple[list[object], list[str]] | None:
    """The (values, labels) of a control that picks from a list, else None."""
    options = getattr(control, "options", None)
    if options is None:
        return None
    pairs = [o if isinstance(o, tuple) and len(o) == 2 else (_label(o), o) for o in options]
    return [v for _, v in pairs], [str(label) for label, _ in pairs]


def _label(value: object) -> str:
    """A grid value as a reader writes it: ``100`` (not ``100.0``), ``0.03``, ``1e+04``."""
    return f"{value:g}" if isinstance(value, float) else str(value)


def _numeric_grid(control: ipywidgets.ValueWidget) -> list[float]:
    """Grid of a numeric slider; a log slider (FloatLogSlider) steps its exponent between min and
    max."""
    lo, hi, step = control.min, control.max, control.step or 1
    count = int(math.floor((hi - lo) / step + 1e-9)) + 1
    if count <= MAX_VALUES:
        steps = list(range(count))
    else:
        steps = [
            int(i) for i in np.unique(np.round(np.linspace(0, count - 1, AUTO_VALUES)).astype(int))
        ]
    if isinstance(control, ipywidgets.FloatLogSlider):
        values = [float(f"{control.base ** (lo + i * step):.12g}") for i in steps]
    elif isinstance(control, ipywidgets.IntSlider):
        values = [int(lo + i * step) for i in steps]
    else:
        values = [float(round(lo + i * step, 12)) for i in steps]
    return sorted(set(values) | {control.value})


def control_grid(
    name: str, control: ipywidgets.ValueWidget, explicit: Sequence[object] | None = None
) -> tuple[list[object], list[str]]:
    """The grid values of one control and their labels (see the module docstring)."""
    picked = _options(control)
    if explicit is not None:
        values = list(explicit)
        if not values:
            raise ValueError(
                f"grid[{name!r}] is empty; expected the values the website's frames show"
            )
        if picked is not None and any(v not in picked[0] for v in values):
            raise ValueError(
                f"grid[{name!r}] = {values} must pick from the control's options {picked[0]}"
            )
    elif picked is not None:
        values = picked[0]
    elif hasattr(control, "min") and hasattr(control, "max"):
        values = _numeric_grid(control)
    else:
        raise ValueError(
            f"control {name!r} ({type(control).__name__}) has no options or range; "
            f"pass grid={{{name!r}: [...]}}"
        )
    if picked is not None:
        labels = [picked[1][picked[0].index(v)] for v in values]
    else:
        labels = [_label(v) for v in values]
    if control.value not in values:
        raise ValueError(
            f"control {name!r}: its value {control.value!r} must be one of the grid values {values}"
        )
    return values, labels


def _thin(
    values: list[object], labels: list[str], current: object
) -> tuple[list[object], list[str]]:
    """The ends of a grid and the current value (the quick scale's grid)."""
    keep = sorted({0, len(values) - 1, values.index(current)})
    return [values[i] for i in keep], [labels[i] for i in keep]


def render_png(figure: plt.Figure) -> bytes:
    """The figure as a palette PNG of at most ``COLOURS`` colours (a third of a full-colour PNG's
    size)."""
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=DPI)
    image = Image.open(io.BytesIO(buffer.getvalue())).convert("RGB")
    out = io.BytesIO()
    image.quantize(colors=COLOURS, method=Image.Quantize.MEDIANCUT).save(
        out, format="PNG", optimize=True
    )
    return out.getvalue()


def _draw_png(draw: Callable[..., object], values: dict[str, object]) -> bytes:
    plt.close("all")
    draw(**values)
    figure = plt.gcf()
    try:
        return render_png(figure)
    finally:
        plt.close("all")


@dataclass
class Frames:
    """Frames of ``draw`` over the product of the controls' grids, in row-major order of
    ``names``."""

    names: list[str]
    descriptions: list[str]
    values: list[list[object]]
    labels: list[list[str]]
    kinds: list[str]
    default: tuple
    frames: dict[tuple, bytes] = field(default_factory=dict)
    units: list[str] = field(default_factory=list)
    caption: str = ""

    def key(self, values: dict[str, object]) -> tuple | None:
        """The grid point equal to ``values`` (floats compared to round-off), or None."""
        out = []
        for name, grid in zip(self.names, self.values):
            v = values[name]
            match = [
                g
                for g in grid
                if g == v
                or (
                    isinstance(g, float)
                    and isinstance(v, float)
                    and math.isclose(g, v, rel_tol=1e-9, abs_tol=1e-12)
                )
            ]
            if not match:
                return None
            out.append(match[0])
        return tuple(out)

    def spoken(self, axis: int, index: int) -> str:
        """``"width n = 100 neurons per hidden layer"``: a control's value for a screen reader."""
        unit = self.units[axis] if axis < len(self.units) else ""
        return f"{self.descriptions[axis]} = {self.labels[axis][index]} {unit}".strip()

    def html(self, alt: str) -> str:
        """The static player: one control per parameter (a play button on time-like sliders), a
        caption, and the frames embedded as base64 PNG. The website's build
        (``book/_ext/ntk_site.py``) moves the frames into image files that
        ``book/_static/ntk_widgets.js`` fetches when a control needs them."""
        ident = f"ntk-widget-{uuid.uuid4().hex[:8]}"
        order = list(itertools.product(*self.values))
        current = [v.index(d) for v, d in zip(self.values, self.default)]
        data = {
            "frames": [base64.b64encode(self.frames[k]).decode() for k in order],
            "sizes": [len(v) for v in self.values],
            "spoken": [
                [self.spoken(i, j) for j in range(len(v))] for i, v in enumerate(self.values)
            ],
        }
        controls = []
        for i, (desc, labels, kind) in enumerate(zip(self.descriptions, self.labels, self.kinds)):
            label = html.escape(desc)
            if kind == "menu":
                opts = "".join(
                    f'<option value="{j}"{" selected" if j == current[i] else ""}>'
                    f"{html.escape(t)}</option>"
                    for j, t in enumerate(labels)
                )
                field_html = f'<select data-axis="{i}" aria-label="{label}">{opts}</select>'
            else:
                field_html = (
                    f'<input type="range" data-axis="{i}" min="0" max="{len(labels) - 1}" step="1" '
                    f'value="{current[i]}" aria-label="{label}" '
                    f'aria-valuetext="{html.escape(self.spoken(i, current[i]))}" '
                    f'data-labels="{html.escape(json.dumps(labels))}">'
                    f"<output>{html.escape(labels[current[i]])}</output>"
                )
                if self.names[i] in TIME_NAMES or desc.lower().startswith("time"):
                    field_html += (
                        f'<button type="button" class="ntk-widget-play" data-play="{i}" '
                        f'aria-label="play: step {label} through its values">&#9654;</button>'
                    )
            controls.append(
                f'<label class="ntk-widget-control"><span>{label}</span>{field_html}</label>'
            )
        now = ", ".join(self.spoken(i, j) for i, j in enumerate(current))
        caption = (
            f'<p class="ntk-widget-caption" id="{ident}-caption">{html.escape(self.caption)}</p>'
            if self.caption
            else ""
        )
        first = base64.b64encode(self.frames[self.default]).decode()
        return (
            f'<div class="ntk-widget" id="{ident}" role="group" aria-label="interactive figure">'
            f'<div class="ntk-widget-controls">{"".join(controls)}</div>'
            f'<img class="ntk-widget-frame" alt="{html.escape(f"{alt} ({now})")}" '
            f'data-alt="{html.escape(alt)}" src="data:image/png;base64,{first}">'
            f"{caption}"
            f'<script type="application/json" class="ntk-widget-data">{json.dumps(data)}</script>'
            "</div>"
        )


def precompute(
    draw: Callable[..., object],
    controls: dict[str, ipywidgets.ValueWidget],
    grid: dict[str, Sequence[object]] | None = None,
    *,
    fixed_axes: bool = True,
    units: dict[str, str] | None = None,
    caption: str = "",
) -> Frames:
    """Draw every combination of the controls' grid values (checks the names and the frame count
    first). With ``fixed_axes`` the frames that share their menus' choices (a menu picks another
    curve, a slider moves a parameter) get the same axis limits (``plotting.share_limits``), so
    that what stays fixed in the text stays fixed on screen; ``units`` name each control's unit for
    screen readers (defaults: :data:`UNITS`); ``caption`` says what to look for."""
    grid = dict(grid or {})
    unknown = set(grid) - set(controls)
    if unknown:
        raise ValueError(
            f"grid names {sorted(unknown)} are not controls; the controls are {sorted(controls)}"
        )
    if not controls:
        raise ValueError("interactive_figure needs at least one control")
    names = list(controls)
    grids = [control_grid(n, controls[n], grid.get(n)) for n in names]
    count = math.prod(len(v) for v, _ in grids)
    if count > MAX_FRAMES:
        sizes = {n: len(v) for n, (v, _) in zip(names, grids)}
        raise ValueError(
            f"the controls' grids {sizes} make {count} frames; expected at most {MAX_FRAMES}: "
            "pass a coarser grid="
        )
    if scale() == "quick":
        grids = [
            _thin(values, labels, controls[n].value) for n, (values, labels) in zip(names, grids)
        ]
    kinds = [
        "menu"
        if isinstance(
            controls[n], ipywidgets.Dropdown | ipywidgets.ToggleButtons | ipywidgets.RadioButtons
        )
        else "slider"
        for n in names
    ]
    frames = Frames(
        names,
        [controls[n].description or n for n in names],
        [v for v, _ in grids],
        [t for _, t in grids],
        kinds,
        tuple(controls[n].value for n in names),
        units=[{**UNITS, **(units or {})}.get(n, "") for n in names],
        caption=caption,
    )
    combos = list(itertools.product(*frames.values))
    if not fixed_axes:
        for combo in combos:
            frames.frames[combo] = _draw_png(draw, dict(zip(names, combo)))
        return frames
    figures = []
    for combo in combos:  # drawn first, rendered once every limit is known
        plt.close("all")
        draw(**dict(zip(names, combo)))
        figures.append(plt.gcf())
        plt.close("all")  # the Figure stays usable; pyplot (and the inline backend) forget it
    groups: dict[tuple, list[plt.Figure]] = {}  # a menu picks another thing: its own axes
    for combo, figure in zip(combos, figures):
        menus = tuple(v for v, kind in zip(combo, kinds) if kind == "menu")
        groups.setdefault(menus, []).append(figure)
    for group in groups.values():
        share_limits(group)
    for combo, figure in zip(combos, figures):
        frames.frames[combo] = render_png(figure)
    return frames


class FigureWidget(ipywidgets.VBox):
    """The live controls and the figure; on the static website its HTML player stands in for it."""

    def __init__(
        self,
        draw: Callable[..., object],
        controls: dict[str, ipywidgets.ValueWidget],
        frames: Frames,
        alt: str,
    ) -> None:
        self._draw, self._controls, self._frames, self._alt = draw, controls, frames, alt
        self._image = ipywidgets.Image(
            value=frames.frames[frames.default], format="png", layout={"max_width": "100%"}
        )
        self._status = ipywidgets.HTML("")
        for control in controls.values():
            control.continuous_update = False
            control.observe(self._redraw, names="value")
        header = ipywidgets.HTML("<b>Move the controls to redraw the figure:</b>")
        super().__init__(
            [header, ipywidgets.HBox(list(controls.values())), self._status, self._image]
        )

    def _redraw(self, _: object = None) -> None:
        values = {n: c.value for n, c in self._controls.items()}
        key = self._frames.key(values)
        if key is not None and key in self._frames.frames:
            self._image.value = self._frames.frames[key]
            self._status.value = ""
            return
        self._status.value = "<i>computing this value (not on the precomputed grid)…</i>"
        start = time.perf_counter()
        png = _draw_png(self._draw, values)
        self._image.value = png
        self._status.value = f"<small>computed in {time.perf_counter() - start:.1f} s</small>"

    def _repr_mimebundle_(self, **kwargs: object) -> dict:
        bundle = super()._repr_mimebundle_(**kwargs) or {}
        bundle[HTML_MIME] = self._frames.html(self._alt)
        return bundle


def interactive_figure(
    draw: Callable[..., object],
    *,
    grid: dict[str, Sequence[object]] | None = None,
    alt: str = "",
    caption: str = "",
    fixed_axes: bool = True,
    units: dict[str, str] | None = None,
    **controls: ipywidgets.ValueWidget,
) -> None:
    """Show ``draw(**values)`` with its controls, live in a kernel and as precomputed frames on the
    website.

    ``controls`` are ipywidgets (IntSlider, FloatSlider, SelectionSlider, Dropdown, ...) named as
    ``draw``'s arguments; their current values are the figure the website shows first. ``grid``
    overrides a control's grid values; ``alt`` describes the figure for screen readers (the
    website adds the current values); ``caption`` tells the reader what to look for as the
    controls move; ``fixed_axes`` (default) keeps the axes of every frame the same, so that a
    fixed reference does not seem to move; ``units`` names a control's unit for screen readers.
    """
    frames = precompute(draw, controls, grid, fixed_axes=fixed_axes, units=units, caption=caption)
    if not alt:
        names = ", ".join(frames.descriptions)
        alt = caption or f"figure drawn for each value of {names}"
    widget = FigureWidget(draw, controls, frames, alt)
    from IPython.display import display

    display(widget)
