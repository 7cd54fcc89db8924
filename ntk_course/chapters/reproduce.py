"""Reproduce the paper's Section 6 (Figures 1, 2 and 3) and write the figures and their numbers.

    python -m ntk_course.reproduce                # paper's settings on a GPU, default scale on CPU
    python -m ntk_course.reproduce --figures 1 3 --device cuda --out results/
    python -m ntk_course.reproduce --scale quick  # a smoke run in seconds

Writes ``figure1.png``, ``figure2.png``, ``figure3a.png``, ``figure3b.png``, ``figure3c.png`` and
``results.json`` (the numbers behind the figures, wall times, device and library versions) into
``--out``. Settings: ReLU, beta = 0.1, learning rate 1.0, hidden layers of equal width, as in the
paper; each figure's settings per scale are in ``ntk_course/chapters/figure*.py``.
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import time
from collections.abc import Callable
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import scipy  # noqa: E402
import torch  # noqa: E402
from tqdm.auto import tqdm  # noqa: E402

from .. import __version__  # noqa: E402
from ..config import SCALES  # noqa: E402
from . import figure1, figure2, figure3  # noqa: E402
from .plotting import new_axes, use_style  # noqa: E402


def _panels(*plots: tuple[str, Callable[..., object]]) -> Callable[[object], dict[str, plt.Figure]]:
    """Turn ``(file name, plot(result, ax))`` pairs into a function drawing one figure per panel."""

    def draw(result: object) -> dict[str, plt.Figure]:
        figures = {}
        for name, plot in plots:
            fig, ax = new_axes()
            plot(result, ax)
            figures[name] = fig
        return figures

    return draw


# figure key -> (settings class, run, drawing of the panels)
EXPERIMENTS = {
    "1": (figure1.Figure1Settings, figure1.run, _panels(("figure1", figure1.plot))),
    "2": (figure2.Figure2Settings, figure2.run, _panels(("figure2", figure2.plot))),
    "3": (
        figure3.Figure3Settings,
        figure3.run,
        _panels(
            ("figure3a", figure3.plot_components),
            ("figure3b", figure3.plot_deviation),
            ("figure3c", figure3.plot_convergence),
        ),
    ),
}


def environment(device: torch.device) -> dict[str, object]:
    """Device and library versions, recorded next to the numbers."""
    name = (
        torch.cuda.get_device_name(device)
        if device.type == "cuda"
        else platform.processor() or platform.machine()
    )
    return {
        "device": str(device),
        "device_name": name,
        "cpu_threads": torch.get_num_threads(),
        "python": sys.version.split()[0],
        "torch": torch.__version__,
        "numpy": np.__version__,
        "scipy": scipy.__version__,
        "ntk_course": __version__,
        "platform": platform.platform(),
    }


def _save(figures: dict[str, plt.Figure], out: Path) -> list[str]:
    names = []
    for name, fig in figures.items():
        path = out / f"{name}.png"
        fig.savefig(path)
        plt.close(fig)
        names.append(path.name)
    return names


def reproduce(
    figures: list[str],
    scale: str,
    device: torch.device,
    out: Path,
    progress: bool = True,
    log: Callable[[str], None] = print,
) -> dict[str, object]:
    """Run the chosen figures at ``scale`` on ``device``; write PNGs and results.json into
    ``out``."""
    unknown = sorted(set(figures) - set(EXPERIMENTS))
    if unknown:
        raise ValueError(f"unknown figures {unknown}; expected some of {sorted(EXPERIMENTS)}")
    if scale not in SCALES:
        raise ValueError(f"unknown scale {scale!r}; expected one of {SCALES}")
    out.mkdir(parents=True, exist_ok=True)
    use_style()
    report: dict[str, object] = {
        "scale": scale,
        "label": "the paper's settings"
        if scale == "paper"
        else f"{scale} scale (smaller than the paper's settings)",
        "command": "python -m ntk_course.reproduce " + " ".join(sys.argv[1:]),
        "environment": environment(device),
        "figures": {},
    }
    start = time.perf_counter()
    for key in tqdm(sorted(figures), desc="figures", disable=not progress):
        settings_class, run, draw = EXPERIMENTS[key]
        settings = settings_class.for_scale(scale)
        t0 = time.perf_counter()
        result = run(settings, device=device, progress=progress)
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        seconds = time.perf_counter() - t0
        entry = result.to_json_dict()
        entry["wall_time_s"] = round(seconds, 2)
        entry["files"] = _save(draw(result), out)
        report["figures"][f"figure{key}"] = entry  # type: ignore[index]
        report["wall_time_s"] = round(time.perf_counter() - start, 2)
        (out / "results.json").write_text(json.dumps(report, indent=2))  # after each figure
        log(f"figure {key}: {seconds:.1f} s -> {', '.join(entry['files'])}")
    log(f"total {report['wall_time_s']} s; numbers in {out / 'results.json'}")
    return report


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m ntk_course.reproduce",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--figures", nargs="+", default=sorted(EXPERIMENTS), choices=sorted(EXPERIMENTS)
    )
    parser.add_argument(
        "--scale",
        choices=SCALES,
        default=None,
        help="default: 'paper' when CUDA is available, else 'default'",
    )
    parser.add_argument(
        "--device", default=None, help="cpu, cuda, cuda:1 ... (default: CUDA when present)"
    )
    parser.add_argument("--out", type=Path, default=Path("reproduction"))
    parser.add_argument("--no-progress", action="store_true")
    args = parser.parse_args(argv)
    device = (
        torch.device(args.device)
        if args.device
        else torch.device("cuda" if torch.cuda.is_available() else "cpu")
    )
    scale = args.scale or ("paper" if device.type == "cuda" else "default")
    reproduce(args.figures, scale, device, args.out, progress=not args.no_progress)


if __name__ == "__main__":
    main()
