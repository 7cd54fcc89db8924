"""Redraw time of every interactive figure in the book, measured in a live Jupyter kernel.

    python benchmarks/widgets.py            # every chapter with a widget, default scale
    python benchmarks/widgets.py --chapters kernel_gradient positive_definite --scale quick

For each chapter (``book/<chapter>.md``, read with jupytext) a fresh kernel is started in ``book/``
with ``NTK_COURSE_SCALE`` set, and the chapter's code cells run in it, as the book build does. Then
every ``FigureWidget`` the chapter made (``ntk_course.chapters.widgets``, found in ipywidgets' own
registry of live widgets, in creation order) has each of its controls moved, in turn, to the first,
middle and last value of the control's own range (min / middle step / max of a slider, base**min ...
of a FloatLogSlider; first / middle / last option of a menu or selection slider), timing the
setting of ``.value``: the change fires the widget's observer, ``FigureWidget._redraw``, which
shows a precomputed frame when the values are on its grid ("frame") and otherwise runs ``draw``
and renders the PNG ("computed"). A move to the value the control already holds fires no event, so
there ``_redraw`` is called directly. After its three moves each control goes back to its starting
value, so every control is measured from the chapter's default state. The time is the kernel's
(the browser's decoding of the PNG is not included).

One line is printed per redraw; at the end the median and worst redraw per chapter and overall, and
the controls whose median exceeds 1 s or whose worst exceeds 3 s (the README's target, meant for a
2-core CPU: run e.g. under ``taskset -c 0,1`` on an otherwise idle machine).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
from dataclasses import dataclass
from pathlib import Path

import jupytext
from jupyter_client.manager import KernelManager
from sphinx_external_toc.parsing import parse_toc_yaml

REPO = Path(__file__).resolve().parents[1]
MEDIAN_TARGET, WORST_TARGET = 1.0, 3.0

# Runs in the chapter's kernel after its cells: lists the figures' controls, then measures one
# control per call.
PROBE = r'''
import json as _ntk_json, time as _ntk_time
from ipywidgets.widgets.widget import _instances as _ntk_live
from ntk_course.chapters.widgets import FigureWidget as _NtkFigure, _options as _ntk_options
_ntk_figures = [w for w in list(_ntk_live.values()) if isinstance(w, _NtkFigure)]

def _ntk_targets(control):
    """First, middle and last value of the control's own range."""
    picked = _ntk_options(control)
    if picked is not None:
        return [picked[0][0], picked[0][len(picked[0]) // 2], picked[0][-1]]
    step = control.step or 1
    middle = control.min + round((control.max - control.min) / step) // 2 * step
    middle = int(middle) if isinstance(control.min, int) else round(middle, 12)
    ends = [control.min, middle, control.max]
    # FloatLogSlider: exponents
    return [control.base ** e for e in ends] if hasattr(control, "base") else ends

def _ntk_measure(index, name):
    figure = _ntk_figures[index]
    control = figure._controls[name]
    start = control.value
    for value in _ntk_targets(control):
        values = {n: value if n == name else c.value for n, c in figure._controls.items()}
        key = figure._frames.key(values)
        path = "frame" if key is not None and key in figure._frames.frames else "computed"
        began = _ntk_time.perf_counter()
        if control.value == value:
            figure._redraw()
        else:
            control.value = value
        seconds = _ntk_time.perf_counter() - began
        print(_ntk_json.dumps({"value": repr(value), "seconds": seconds, "path": path}))
    control.value = start

print(_ntk_json.dumps([
    [i, n, c.description or n] for i, f in enumerate(_ntk_figures) for n, c in f._controls.items()
]))
'''


@dataclass
class Redraw:
    chapter: str
    widget: int
    control: str
    value: str
    seconds: float
    path: str


class CellError(RuntimeError):
    """A cell raised in the kernel."""


def widget_chapters() -> list[str]:
    """The chapters of ``_toc.yml``, in reading order, whose source calls ``interactive_figure``."""
    names = []
    for docname in parse_toc_yaml(REPO / "_toc.yml"):
        source = REPO / f"{docname}.md"
        if source.exists() and "interactive_figure(" in source.read_text(encoding="utf-8"):
            names.append(docname.removeprefix("book/"))
    return names


def run(client: object, code: str, timeout: float) -> str:
    """Execute ``code`` in the kernel and return its stdout.

    A cell that raises becomes CellError.
    """
    out: list[str] = []

    def hook(msg: dict) -> None:
        if msg["msg_type"] == "stream" and msg["content"]["name"] == "stdout":
            out.append(msg["content"]["text"])

    reply = client.execute_interactive(code, timeout=timeout, output_hook=hook)
    if reply["content"]["status"] != "ok":
        raise CellError(f"{reply['content'].get('ename')}: {reply['content'].get('evalue')}")
    return "".join(out)


def measure_chapter(chapter: str, scale: str, timeout: float) -> list[Redraw]:
    """Run the chapter in a fresh kernel, then move every control of its figures.

    Prints each redraw.
    """
    cells = [
        c.source
        for c in jupytext.read(REPO / "book" / f"{chapter}.md").cells
        if c.cell_type == "code"
    ]
    manager = KernelManager(kernel_name="python3")
    manager.start_kernel(cwd=str(REPO / "book"), env={**os.environ, "NTK_COURSE_SCALE": scale})
    client = manager.blocking_client()
    client.start_channels()
    redraws: list[Redraw] = []
    try:
        client.wait_for_ready(timeout=60)
        for number, source in enumerate(cells, 1):
            try:
                run(client, source, timeout)
            except CellError as error:
                raise CellError(f"code cell {number} of {len(cells)}: {error}") from None
        controls = json.loads(run(client, PROBE, timeout))
        if not controls:
            raise CellError("the chapter made no interactive figure")
        for index, name, description in controls:
            output = run(client, f"_ntk_measure({index}, {name!r})", timeout)
            for line in output.splitlines():
                record = json.loads(line)
                redraw = Redraw(
                    chapter, index, description, record["value"], record["seconds"], record["path"]
                )
                print(
                    f"{chapter:<20} widget {index}  {description:>12} = {redraw.value:<24} "
                    f"{redraw.seconds:7.3f} s  {redraw.path}",
                    flush=True,
                )
                redraws.append(redraw)
    finally:
        client.stop_channels()
        manager.shutdown_kernel(now=True)
    return redraws


def summary(label: str, seconds: list[float]) -> str:
    return (
        f"{label:<20} {len(seconds):3d} redraws  "
        f"median {statistics.median(seconds):7.3f} s  worst {max(seconds):7.3f} s"
    )


def report(redraws: list[Redraw]) -> None:
    """Median and worst per chapter and overall, and the controls over the targets."""
    print()
    for chapter in dict.fromkeys(r.chapter for r in redraws):
        print(summary(chapter, [r.seconds for r in redraws if r.chapter == chapter]))
    print(summary("all chapters", [r.seconds for r in redraws]))
    controls: dict[tuple[str, int, str], list[float]] = {}
    for r in redraws:
        controls.setdefault((r.chapter, r.widget, r.control), []).append(r.seconds)
    over = [
        (key, times)
        for key, times in controls.items()
        if statistics.median(times) > MEDIAN_TARGET or max(times) > WORST_TARGET
    ]
    print(
        f"\ncontrols over {MEDIAN_TARGET:g} s median or {WORST_TARGET:g} s worst: {len(over)} of "
        f"{len(controls)}"
    )
    for (chapter, widget, control), times in over:
        print(
            f"  {chapter} widget {widget} {control}: median {statistics.median(times):.3f} s, "
            f"worst {max(times):.3f} s"
        )


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--chapters",
        nargs="+",
        default=None,
        help="chapter names (book/<name>.md); default: every chapter with a widget",
    )
    parser.add_argument("--scale", choices=["quick", "default", "paper"], default="default")
    parser.add_argument(
        "--timeout",
        type=float,
        default=900.0,
        help="seconds allowed per code cell and per control (default 900)",
    )
    args = parser.parse_args()
    chapters = args.chapters or widget_chapters()
    missing = [c for c in chapters if not (REPO / "book" / f"{c}.md").exists()]
    if missing:
        parser.error(
            f"no book/<chapter>.md for {missing}; expected names such as {widget_chapters()}"
        )
    print(f"scale {args.scale}, chapters {' '.join(chapters)}", flush=True)
    redraws: list[Redraw] = []
    failed: list[str] = []
    for chapter in chapters:
        try:
            redraws += measure_chapter(chapter, args.scale, args.timeout)
        except (CellError, TimeoutError) as error:
            print(f"{chapter}: not measured ({type(error).__name__}: {error})", flush=True)
            failed.append(chapter)
    if redraws:
        report(redraws)
    if failed:
        print(f"\nchapters that did not execute: {' '.join(failed)}")
    return 1 if failed or not redraws else 0


if __name__ == "__main__":
    sys.exit(main())
