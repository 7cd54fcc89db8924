"""The Colab install cell of every notebook, made from the one repository URL in ``_config.yml``.

A notebook opened on Colab has no checkout of the course, so its first (hidden) cell installs the
library from the repository: ``%pip install --quiet "ntk_course @ git+<url>"``. The URL is
``repository.url`` in ``_config.yml``, which also makes the website's launch buttons. After changing
it, run ``python tools/colab.py`` (from a checkout) to rewrite the install line of every notebook
(``book/**/*.md`` and their paired ``.ipynb``); ``--check`` only reports the ones that differ
(tests/test_launch.py runs that check).
"""

from __future__ import annotations

import argparse
import re
import sys
from collections.abc import Sequence
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]  # the checkout: tools/ sits at its top level
INSTALL_RE = re.compile(r'%pip install --quiet \\?"ntk_course @ git\+([^"\\]+)\\?"')


def repository_url(config: Path = ROOT / "_config.yml") -> str:
    """``repository.url`` of the Jupyter Book configuration."""
    url = (yaml.safe_load(config.read_text(encoding="utf-8")).get("repository") or {}).get("url")
    if not isinstance(url, str) or not url.startswith("https://"):
        raise ValueError(
            f"{config} must set repository.url to the course's https:// repository; got {url!r}"
        )
    return url.rstrip("/")


def notebooks(root: Path = ROOT) -> list[Path]:
    """Every notebook of the book that carries an install cell.

    Both the MyST sources and their .ipynb pairs.
    """
    return sorted(
        p
        for p in (root / "book").rglob("*")
        if p.suffix in {".md", ".ipynb"} and INSTALL_RE.search(p.read_text(encoding="utf-8"))
    )


def installed_urls(path: Path) -> list[str]:
    """The repository URLs the install lines of one notebook point at."""
    return INSTALL_RE.findall(path.read_text(encoding="utf-8"))


def stamp(paths: Sequence[Path], url: str) -> list[Path]:
    """Rewrite the install line of each notebook to install from ``url``.

    Returns
    -------
    list of Path
        The files changed.
    """
    changed = []
    for path in paths:
        text = path.read_text(encoding="utf-8")
        new = INSTALL_RE.sub(lambda m: m.group(0).replace(m.group(1), url), text)
        if new != text:
            path.write_text(new, encoding="utf-8")
            changed.append(path)
    return changed


def main(argv: Sequence[str] | None = None) -> int:
    """Rewrite the install lines that differ from ``_config.yml``, or with ``--check`` list them.

    Returns
    -------
    int
        The exit status: 1 when ``--check`` found a notebook that differs, else 0.
    """
    parser = argparse.ArgumentParser(
        prog="python tools/colab.py", description=__doc__.split("\n")[0]
    )
    parser.add_argument(
        "--check", action="store_true", help="only list the notebooks whose install line differs"
    )
    args = parser.parse_args(argv)
    url = repository_url()
    wrong = [p for p in notebooks() if set(installed_urls(p)) != {url}]
    if args.check:
        for p in wrong:
            print(
                f"{p.relative_to(ROOT)}: installs from {installed_urls(p)}, _config.yml says {url}"
            )
        return 1 if wrong else 0
    for p in stamp(wrong, url):
        print(f"rewrote {p.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
