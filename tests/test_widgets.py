"""Interactive figures: grids of control values, precomputed frames, the static player and live
redraws."""

from __future__ import annotations

import base64
import itertools
import json
import re
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import pytest  # noqa: E402
from ipywidgets import Dropdown, FloatSlider, IntSlider, SelectionSlider  # noqa: E402

from ntk_course.chapters.plotting import new_axes  # noqa: E402
from ntk_course.chapters.widgets import (  # noqa: E402
    MAX_FRAMES,
    FigureWidget,
    control_grid,
    precompute,
)

CALLS: list[dict] = []


def draw(a: int, b: str) -> None:
    CALLS.append({"a": a, "b": b})
    fig, ax = new_axes(width=3, height=2)
    ax.plot([0, 1], [0, a], color={"x": "red", "y": "blue"}[b], label=b)
    ax.set_xlabel("x")
    ax.set_ylabel("y")


def test_grids_follow_the_controls() -> None:
    assert control_grid("a", IntSlider(value=2, min=1, max=5))[0] == [1, 2, 3, 4, 5]
    values, labels = control_grid("w", IntSlider(value=256, min=16, max=4096, step=16))
    assert len(values) <= 9 and values[0] == 16 and values[-1] == 4096 and 256 in values
    assert control_grid("s", SelectionSlider(options=[("tiny", 1), ("big", 9)], value=9)) == (
        [1, 9],
        ["tiny", "big"],
    )
    assert control_grid("f", FloatSlider(value=0.5, min=0.0, max=1.0, step=0.25))[1] == [
        "0",
        "0.25",
        "0.5",
        "0.75",
        "1",
    ]
    assert control_grid("a", IntSlider(value=3, min=1, max=50), [1, 3, 50])[0] == [1, 3, 50]
    with pytest.raises(ValueError, match="must be one of the grid values"):
        control_grid("a", IntSlider(value=4, min=1, max=50), [1, 3, 50])
    with pytest.raises(ValueError, match="must pick from the control's options"):
        control_grid("d", Dropdown(options=["x", "y"], value="x"), ["z"])


def test_every_combination_is_drawn_once_and_the_player_indexes_them_row_major() -> None:
    CALLS.clear()
    controls = {
        "a": IntSlider(value=2, min=1, max=3, description="a"),
        "b": Dropdown(options=["x", "y"], value="y", description="b"),
    }
    frames = precompute(draw, controls)
    assert len(CALLS) == 6 and {(c["a"], c["b"]) for c in CALLS} == set(
        itertools.product([1, 2, 3], ["x", "y"])
    )
    assert len(set(frames.frames.values())) == 6  # six different pictures
    page = frames.html("two lines")
    data = json.loads(
        re.search(
            r'<script type="application/json" class="ntk-widget-data">(.*?)</script>', page
        ).group(1)
    )
    assert data["sizes"] == [3, 2]
    # the JavaScript computes index = i_a * 2 + i_b: frame (a=3, b="x") is at 2 * 2 + 0
    assert base64.b64decode(data["frames"][4]) == frames.frames[(3, "x")]
    first = re.search(r'src="data:image/png;base64,([^"]+)"', page).group(1)
    assert base64.b64decode(first) == frames.frames[(2, "y")]  # the controls' current values
    assert 'type="range"' in page and "<select" in page and 'value="1"' in page


def test_too_many_frames_or_unknown_names_are_refused_before_drawing() -> None:
    CALLS.clear()
    big = {
        "a": IntSlider(value=1, min=1, max=12),
        "b": Dropdown(options=list("xy"), value="x"),
        "c": IntSlider(value=1, min=1, max=12),
    }
    with pytest.raises(ValueError, match=f"at most {MAX_FRAMES}"):
        precompute(lambda a, b, c: draw(a, b), big)
    with pytest.raises(ValueError, match="not controls"):
        precompute(
            draw,
            {"a": IntSlider(value=1, min=1, max=2), "b": Dropdown(options=["x"], value="x")},
            {"q": [1]},
        )
    assert CALLS == []


def test_live_redraw_shows_a_precomputed_frame_or_computes_a_new_value() -> None:
    controls = {
        "a": IntSlider(value=1, min=1, max=40),
        "b": Dropdown(options=["x", "y"], value="x"),
    }
    frames = precompute(draw, controls, {"a": [1, 2]})
    widget = FigureWidget(draw, controls, frames, "lines")
    CALLS.clear()
    controls["a"].value = 2
    assert CALLS == [] and widget._image.value == frames.frames[(2, "x")]
    controls["a"].value = 37  # off the grid: drawn on demand
    assert CALLS == [{"a": 37, "b": "x"}] and widget._image.value not in frames.frames.values()
    bundle = widget._repr_mimebundle_()
    assert "text/html" in bundle and "ntk-widget" in bundle["text/html"]
    assert "application/vnd.jupyter.widget-view+json" in bundle


def test_frames_are_small() -> None:
    frames = precompute(
        draw, {"a": IntSlider(value=1, min=1, max=2), "b": Dropdown(options=["x"], value="x")}
    )
    assert all(
        png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) < 30_000 for png in frames.frames.values()
    )


def test_the_quick_scale_keeps_the_ends_and_the_current_value(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("NTK_COURSE_SCALE", "quick")
    frames = precompute(
        draw, {"a": IntSlider(value=4, min=1, max=9), "b": Dropdown(options=["x", "y"], value="x")}
    )
    assert frames.values == [[1, 4, 9], ["x", "y"]] and len(frames.frames) == 6


def test_a_log_slider_steps_its_exponent() -> None:
    from ipywidgets import FloatLogSlider

    values, labels = control_grid("t", FloatLogSlider(value=100.0, base=10, min=0, max=5, step=1))
    assert values == [1.0, 10.0, 100.0, 1000.0, 10000.0, 100000.0] and labels[-1] == "100000"


def _relative_luminance(colour: str) -> float:
    """WCAG 2.1 relative luminance of an sRGB colour '#rrggbb' (the standard's own formula)."""
    channels = [int(colour[i : i + 2], 16) / 255 for i in (1, 3, 5)]
    linear = [c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4 for c in channels]
    return 0.2126 * linear[0] + 0.7152 * linear[1] + 0.0722 * linear[2]


def test_the_palette_reads_on_white_and_for_colour_blind_readers() -> None:
    """Every line colour of the style has at least 3:1 contrast on white (WCAG 2.1, 1.4.11), and
    the colours the chapters set side by side (C1 'not yet' next to C2 'learned' in spectral_bias)
    stay apart for a deuteranope: simulated with Vienot, Brettel and Mollon's (1999) matrix, in
    linear RGB, they still differ by more than 0.1 in some channel."""
    import matplotlib as mpl
    import numpy as np

    from ntk_course.chapters.plotting import STYLE

    colours = STYLE["axes.prop_cycle"].by_key()["color"]
    assert len(colours) >= 6
    for colour in colours:
        contrast = 1.05 / (_relative_luminance(colour) + 0.05)
        assert contrast >= 3.0, f"{colour} has {contrast:.2f}:1 contrast on white"
    deuteranope = np.array(
        [[0.29275, 0.70725, 0.0], [0.29275, 0.70725, 0.0], [-0.02234, 0.02234, 1.0]]
    )

    def seen(colour: str) -> np.ndarray:
        rgb = np.array(mpl.colors.to_rgb(colour))
        linear = np.where(rgb <= 0.04045, rgb / 12.92, ((rgb + 0.055) / 1.055) ** 2.4)
        return deuteranope @ linear

    for a, b in zip(colours, colours[1:]):
        assert np.abs(seen(a) - seen(b)).max() > 0.1, f"{a} and {b} look alike to a deuteranope"
    # matplotlib's old red and green (#d62728, #2ca02c) fail this test: the check can fail
    assert np.abs(seen("#d62728") - seen("#2ca02c")).max() < 0.1


def test_the_player_speaks_values_with_units_and_plays_time() -> None:
    """aria-valuetext carries the value and its unit (not the grid index), a float option that is
    an integer is labelled without '.0', a time slider gets a play button, and the caption and
    the alt text (with the current values) are in the player."""

    def lines(width: int, t: float) -> None:
        fig, ax = new_axes(width=3, height=2)
        ax.plot([0, 1], [0, width * t])

    frames = precompute(
        lines,
        {
            "width": SelectionSlider(options=[10, 100], value=100, description="width n"),
            "t": SelectionSlider(options=[1.0, 100.0], value=100.0, description="time t"),
        },
        caption="Watch the slope grow with t.",
    )
    page = frames.html("a line")
    assert frames.labels == [["10", "100"], ["1", "100"]]
    assert 'aria-valuetext="width n = 100 neurons per hidden layer"' in page
    assert 'aria-valuetext="time t = 100"' in page and "100.0" not in page
    assert page.count('class="ntk-widget-play"') == 1 and 'data-play="1"' in page
    assert "Watch the slope grow with t." in page
    assert 'alt="a line (width n = 100 neurons per hidden layer, time t = 100)"' in page


def test_fixed_axes_are_the_union_of_the_frames_limits() -> None:
    """With fixed axes every frame shows the same limits, wide enough for every frame's data
    (compared with the data's own range, not with matplotlib's choice for one frame)."""
    import matplotlib.pyplot as plt

    from ntk_course.chapters.plotting import share_limits

    figures = []
    for top in (1.0, 5.0, 20.0):
        fig, ax = new_axes(width=3, height=2)
        ax.plot([0, 1], [-top / 10, top])
        figures.append(fig)
        plt.close(fig)
    share_limits(figures)
    limits = {f.axes[0].get_ylim() for f in figures}
    assert len(limits) == 1
    low, high = limits.pop()
    assert low <= -2.0 and high >= 20.0
    assert {f.axes[0].get_xlim() for f in figures} == {figures[0].axes[0].get_xlim()}


def test_the_website_build_moves_frames_into_image_files(tmp_path) -> None:
    """book/_ext/ntk_site.py turns a player's inline frames into image files under
    _images/ntk-frames/ (one per distinct frame, named by content) that the page lists by
    address, and gives the first frame its size; the files hold exactly the frames drawn."""
    import sys
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "book" / "_ext"))
    import ntk_site

    frames = precompute(
        draw,
        {"a": IntSlider(value=2, min=1, max=3), "b": Dropdown(options=["x", "y"], value="y")},
    )
    page = tmp_path / "book" / "chapter.html"
    page.parent.mkdir()
    page.write_text(f"<html><body>{frames.html('lines')}</body></html>", encoding="utf-8")
    ntk_site._externalise_frames(page, tmp_path)
    text = page.read_text(encoding="utf-8")
    assert "base64" not in text
    data = json.loads(
        re.search(r'class="ntk-widget-data">(.*?)</script>', text, re.S).group(1)  # type: ignore[union-attr]
    )
    assert "frames" not in data and len(data["urls"]) == 6
    for url, key in zip(data["urls"], itertools.product([1, 2, 3], ["x", "y"])):
        assert url.startswith("../_images/ntk-frames/")
        assert (page.parent / url).read_bytes() == frames.frames[key]
    first = re.search(r'<img [^>]*class="ntk-widget-frame"[^>]*>', text).group(0)  # type: ignore[union-attr]
    width, height = ntk_site._png_size(frames.frames[(2, "y")])
    assert f'width="{width}" height="{height}"' in first and 'loading="lazy"' in first
    assert ntk_site.handout_path("book/assignments/a3") == "handouts/a3/student/a3.ipynb"
    assert ntk_site.handout_path("book/intro") is None


# A colour given as a literal (color="...", colour="...", a "#rrggbb" string, a "tab:" name) or a
# categorical colour map by name, in the chapter modules, assignment modules and the pages' code.
_COLOUR_LITERAL = re.compile(
    r"""colou?r\s*=\s*["']([^"']+)["']|["'](#[0-9a-fA-F]{6})["']|get_cmap\(["'](tab\d\d\w?)["']\)"""
)


def test_every_colour_written_in_a_chapter_reads_on_white() -> None:
    """Issue 21: lines drawn in a literal colour outside the style's palette (Figure 1's pale blues,
    a 'tab10' scatter) fell under 3:1 contrast on white. Every colour literal in the chapters'
    code must have 3:1 (WCAG 2.1, 1.4.11; 'white' as a bar edge excepted), and no categorical
    matplotlib map ('tab10', ...) is used: the palette's colours with markers instead."""
    from matplotlib.colors import to_hex

    from ntk_course.chapters.plotting import PALETTE

    root = Path(__file__).resolve().parents[1]
    sources = [
        *sorted((root / "ntk_course" / "chapters").glob("*.py")),
        *sorted((root / "ntk_course" / "assignments").glob("*.py")),
        *sorted((root / "book").rglob("*.md")),
    ]
    problems = []
    for path in sources:
        for match in _COLOUR_LITERAL.finditer(path.read_text(encoding="utf-8")):
            where = f"{path.relative_to(root)}: {match.group(0)}"
            if match.group(3):
                problems.append(f"{where} (a categorical map: use PALETTE and markers)")
                continue
            name = match.group(1) or match.group(2)
            if name in {"white", "w", "none"}:
                continue
            if re.fullmatch(r"C\d", name):  # the style's cycle: the chapters' palette
                name = PALETTE[int(name[1]) % len(PALETTE)]
            try:
                colour = to_hex(name)
            except ValueError:
                continue  # not a colour (another keyword that happens to match)
            contrast = 1.05 / (_relative_luminance(colour) + 0.05)
            if contrast < 3.0:
                problems.append(f"{where} has {contrast:.2f}:1 contrast on white")
    assert not problems, "\n".join(problems)
