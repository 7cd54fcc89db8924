"""Interactive figures that also leave a static figure for the website.

``interactive_figure(draw, width=IntSlider(...), ...)`` first draws ``draw`` at the widgets'
current values as an ordinary figure (what the website shows, built without a kernel), then, in a
live notebook, shows the controls; moving them redraws the figure below them.
"""
from __future__ import annotations

from collections.abc import Callable

import ipywidgets
import matplotlib.pyplot as plt
from IPython.display import display


def interactive_figure(draw: Callable[..., object], **controls: ipywidgets.ValueWidget) -> None:
    """Draw ``draw(**values)`` statically at the default values, then attach the ``controls``."""
    draw(**{name: w.value for name, w in controls.items()})
    plt.show()
    output = ipywidgets.Output()

    def redraw(_: object = None) -> None:
        with output:
            output.clear_output(wait=True)
            draw(**{name: w.value for name, w in controls.items()})
            plt.show()

    for w in controls.values():
        w.continuous_update = False
        w.observe(redraw, names="value")
    box = ipywidgets.VBox([ipywidgets.HTML("<b>Move the controls to redraw the figure:</b>"), ipywidgets.HBox(list(controls.values())), output])
    display(box)
