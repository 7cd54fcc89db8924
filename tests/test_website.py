"""The course website as a reader sees it, in headless Chromium with no network.

One session fixture builds the book at the quick scale (or takes an already built site from the
environment variable ``NTK_COURSE_SITE``, the ``_build/html`` folder of a finished build), serves
it on 127.0.0.1 and opens every page of the table of contents in Debian's Chromium, driven by
Playwright. Every request that would leave localhost is aborted, so the pages are checked as a
classroom without internet sees them. Per page the tests check:

* the math is typeset by the site's own MathJax (no raw ``$$``, ``\\[``, ``\\(`` left, no TeX
  errors), lazily (``ui/lazy``: the math on screen first, the rest as the reader scrolls; the
  tests typeset all of it before they look);
* every image is loaded with a non-zero natural size, figures have an opaque light background
  with dark ink and are not shrunk on a 1366 x 768 laptop screen until their text is unreadable;
* no JavaScript errors in the console, no request leaves localhost;
* every internal link resolves (HTTP 200, and for ``#anchor`` the target id exists);
* chapters have the Binder and Colab launch buttons, theorem-like and exercise blocks and figures;
* every control of every interactive figure's static player moves its figure (to both ends and a
  middle value), and a page with its images, scripts and styles weighs at most ``MAX_PAGE_MIB``.

And on a phone (390 x 844, issue 21), page by page: the page does not scroll sideways; no inline
formula is cut off (it fits, or scrolls); display math and printed output that do not fit scroll
(overflow auto, a visible scrollbar); no equation number covers its equation; every content image
has alt text (not its file name) and a caption; a figure shown at less than half its drawn size,
where its 12 pt text falls under 9 px, opens at full size on a tap; and every chapter, with
everything it loads before a player is touched (all images included), weighs at most
``MAX_CHAPTER_GZIP_MIB`` gzipped, as a static host serves it.

The browser is ``NTK_COURSE_CHROMIUM`` when set, else Debian's ``/usr/bin/chromium``, else
Playwright's own Chromium (``python -m playwright install chromium``). With ``CI=true`` a missing
Playwright or Chromium fails the run; elsewhere it skips this module with the reason
(``bash tests/run_all.sh`` checks for the browser before any work and never leaves pytest's "no
tests ran" exit to its caller).

A full-page screenshot of every page is written to ``NTK_COURSE_SCREENSHOTS`` (default
``<repo>/_build/screenshots``); the folder is printed at the end of the session. With ``CI=true``
the screenshot is of the first screen only (a full page of a long chapter costs seconds of
software rendering, and nobody looks at CI's); ``NTK_COURSE_FULL_SCREENSHOTS=1`` or ``0`` decides.
"""

from __future__ import annotations

import functools
import gzip
import html.parser
import http.server
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import unicodedata
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[1]
BINDER_POST_BUILD = (REPO / "binder" / "postBuild").read_text(encoding="utf-8")
COLAB_CONFIGURED = bool(re.search(r"^\s*colab_url:\s*\S", (REPO / "_config.yml").read_text(), re.M))
CHROMIUM = Path(os.environ.get("NTK_COURSE_CHROMIUM", "/usr/bin/chromium"))  # see _find_chromium
CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
VIEWPORT = {"width": 1366, "height": 768}  # a common laptop screen
BUILD_TIMEOUT_S = 30 * 60
PAGE_TIMEOUT_MS = 60_000
# A course figure has 12 pt text; at the inline dpi of 110 that is 18 px in the PNG. Shown at
# less than 0.6 of its natural width, the text falls under 11 px on screen: too small to read.
MIN_FIGURE_SCALE = 0.6
# The theme and the offline MathJax weigh about 2.5 MiB; the rest is the chapter and its frames.
MAX_PAGE_MIB = 6.0

PHONE = {"width": 390, "height": 844}
# Every chapter, with its images, scripts, styles and fonts, gzipped (issue 21). The player frames
# beyond the first of each player are image files fetched only when a reader moves a control.
MAX_CHAPTER_GZIP_MIB = 1.0
# The course style's 12 pt text is 18 px in a figure drawn at 110 dpi: shown at less than half its
# size it falls under 9 px, and the figure must open at full size on a tap.
MIN_TEXT_PX, FIGURE_TEXT_PX = 9.0, 12 * 110 / 72
UNCOMPRESSED = {".png", ".jpg", ".jpeg", ".gif", ".woff", ".woff2", ".ico"}

IN_CI = os.environ.get("CI", "").strip().lower() in {"true", "1", "yes"}
FULL_SCREENSHOTS = os.environ.get("NTK_COURSE_FULL_SCREENSHOTS", "0" if IN_CI else "1") != "0"


def _missing(why: str) -> None:
    """A missing browser skips the test on a reader's machine, and fails it in CI (CI=true)."""
    if IN_CI:
        pytest.fail(f"website test cannot run in CI: {why}", pytrace=False)
    pytest.skip(f"website test skipped: {why}", allow_module_level=True)


try:
    from playwright.sync_api import sync_playwright
except ImportError:  # pragma: no cover - depends on the machine
    _missing("the Python package 'playwright' is not installed (pip install -r requirements.txt)")


def _find_chromium() -> Path | None:
    """NTK_COURSE_CHROMIUM when set (and nothing else), else Debian's, else Playwright's own
    Chromium."""
    if "NTK_COURSE_CHROMIUM" in os.environ:
        return CHROMIUM if CHROMIUM.is_file() else None
    if CHROMIUM.is_file():
        return CHROMIUM
    try:
        with sync_playwright() as p:
            own = Path(p.chromium.executable_path)
    except Exception:  # noqa: BLE001 - no driver, no browser: the same answer
        return None
    return own if own.is_file() else None


_found = _find_chromium()
if _found is None:  # pragma: no cover - depends on the machine
    if "NTK_COURSE_CHROMIUM" in os.environ:
        _missing(
            f"no browser at NTK_COURSE_CHROMIUM={CHROMIUM} (unset it, or point it at a Chromium)"
        )
    _missing(
        f"no browser at {CHROMIUM} nor Playwright's own Chromium "
        "(fix: python -m playwright install --with-deps chromium)"
    )
CHROMIUM = _found


# --------------------------------------------------------------------------- pages of the book
@dataclass(frozen=True)
class TocPage:
    """One page of the table of contents: ``name`` is its path without suffix, e.g. book/intro."""

    name: str
    root: bool

    @property
    def html(self) -> str:
        return f"{self.name}.html"

    @property
    def source(self) -> Path | None:
        for suffix in ("", ".md", ".ipynb", ".rst"):
            path = REPO / f"{self.name}{suffix}"
            if path.is_file():
                return path
        return None

    @property
    def is_notebook(self) -> bool:
        """A page that runs code: an .ipynb, or a MyST notebook (.md with a kernelspec)."""
        source = self.source
        if source is None:
            return False
        if source.suffix == ".ipynb":
            return True
        text = source.read_text(encoding="utf-8")
        front = re.match(r"---\n(.*?)\n---", text, re.S)
        return bool(front and "kernelspec:" in front.group(1))

    @property
    def is_chapter(self) -> bool:
        """Chapters: notebooks directly under book/, except the root (welcome) page.

        Every chapter must state a result (prf block), hold exercises and show a figure; the
        welcome page and the bibliography need not, nor anything in a sub-folder (assignments).
        """
        return self.is_notebook and not self.root and Path(self.name).parent == Path("book")


def _strip_suffix(file: str) -> str:
    for suffix in (".md", ".ipynb", ".rst"):
        if file.endswith(suffix):
            return file[: -len(suffix)]
    return file


def toc_pages() -> list[TocPage]:
    """Every page the table of contents lists, in reading order (read from _toc.yml)."""
    toc = yaml.safe_load((REPO / "_toc.yml").read_text(encoding="utf-8"))
    pages = [TocPage(_strip_suffix(toc["root"]), root=True)]

    def walk(node: object) -> None:
        if isinstance(node, dict):
            if "file" in node:
                pages.append(TocPage(_strip_suffix(str(node["file"])), root=False))
            for key in ("parts", "chapters", "sections"):
                walk(node.get(key, []))
        elif isinstance(node, list):
            for item in node:
                walk(item)

    walk(toc)
    return pages


PAGES = toc_pages()
CHAPTERS = [p for p in PAGES if p.is_chapter]
NOTEBOOKS = [p for p in PAGES if p.is_notebook]


def _by_page(pages: list[TocPage]) -> list:
    """The pages as parameters, each in the pytest-xdist group of its name: with ``--dist
    loadgroup`` (tests/run_all.sh) one worker runs all of a page's tests and opens it once."""
    return [pytest.param(p, id=p.name, marks=pytest.mark.xdist_group(p.name)) for p in pages]


# --------------------------------------------------------------------------- build and serve
@dataclass
class Site:
    html: Path
    url: str
    build_returncode: int | None
    build_log: str
    build_seconds: float
    screenshots: Path
    browse_seconds: float = 0.0
    visits: dict[str, Visit] = field(default_factory=dict)


def _build_site(out: Path) -> tuple[Path, int, str, float]:
    command = [
        sys.executable,
        "-c",
        "import sys; from jupyter_book.cli.main import main; sys.exit(main())",
        "build",
        str(REPO),
        "-W",
        "--keep-going",
        "--path-output",
        str(out),
    ]
    env = dict(os.environ, NTK_COURSE_SCALE="quick")
    start = time.perf_counter()
    done = subprocess.run(
        command, cwd=REPO, env=env, capture_output=True, text=True, timeout=BUILD_TIMEOUT_S
    )
    seconds = time.perf_counter() - start
    log = re.sub(r"\x1b\[[0-9;]*m", "", done.stdout + done.stderr)
    return out / "_build" / "html", done.returncode, log, seconds


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - stdlib name
        pass


class _Server(http.server.ThreadingHTTPServer):
    """The site's server; a tab closed while a file was still on its way (a player frame or an
    image below the first screen) is not an error of the site, and prints no traceback."""

    def handle_error(self, request: object, client_address: tuple) -> None:
        if not isinstance(sys.exc_info()[1], ConnectionError):
            super().handle_error(request, client_address)


@pytest.fixture(scope="session")
def site(tmp_path_factory: pytest.TempPathFactory, request: pytest.FixtureRequest):
    """The built site served on 127.0.0.1 (built once per session, or taken from
    NTK_COURSE_SITE)."""
    prebuilt = os.environ.get("NTK_COURSE_SITE")
    if prebuilt:
        html_dir, returncode, log, seconds = Path(prebuilt).resolve(), None, "", 0.0
        if not (html_dir / "index.html").is_file():
            pytest.fail(
                f"NTK_COURSE_SITE={prebuilt} has no index.html: "
                "point it at a built _build/html folder"
            )
    else:
        html_dir, returncode, log, seconds = _build_site(tmp_path_factory.mktemp("website"))
        if not (html_dir / "index.html").is_file():
            pytest.fail(
                f"the book build wrote no {html_dir}/index.html; end of its log:\n{log[-6000:]}"
            )

    shots = Path(
        os.environ.get("NTK_COURSE_SCREENSHOTS", REPO / "_build" / "screenshots")
    ).resolve()
    shots.mkdir(parents=True, exist_ok=True)
    handler = functools.partial(_QuietHandler, directory=str(html_dir))
    server = _Server(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    served = Site(
        html=html_dir,
        url=f"http://127.0.0.1:{server.server_address[1]}/",
        build_returncode=returncode,
        build_log=log,
        build_seconds=seconds,
        screenshots=shots,
    )
    yield served
    server.shutdown()
    server.server_close()
    _write_screenshot_index(served)
    reporter = request.config.pluginmanager.get_plugin("terminalreporter")
    capture = request.config.pluginmanager.get_plugin("capturemanager")
    if reporter is not None:
        where = f"prebuilt site {html_dir}" if prebuilt else f"quick-scale build {seconds:.0f} s"
        line = (
            f"website test: {where}, browsing {served.browse_seconds:.0f} s over "
            f"{len(served.visits)} pages; screenshots in {shots}"
        )
        if capture is not None:
            with capture.global_and_fixture_disabled():
                reporter.write_line("\n" + line)
        else:
            reporter.write_line("\n" + line)


def _write_screenshot_index(site: Site) -> None:
    """index.html in the screenshot folder: this run's pages in reading order, to scroll through
    (index-gw0.html, ... under pytest-xdist: each worker's own pages)."""
    order = [p.html for p in PAGES] + sorted(set(site.visits) - {p.html for p in PAGES})
    rows = [
        f'<h2>{path}</h2><img src="{site.visits[path].screenshot.name}" '
        'style="max-width:100%;border:1px solid #ccc">'
        for path in order
        if path in site.visits
    ]
    stamp = time.strftime("%Y-%m-%d %H:%M:%S")
    worker = os.environ.get("PYTEST_XDIST_WORKER")
    (site.screenshots / (f"index-{worker}.html" if worker else "index.html")).write_text(
        f"<!doctype html><meta charset=utf-8><title>Course website screenshots</title>"
        f"<p>{len(rows)} pages at {VIEWPORT['width']}x{VIEWPORT['height']}, "
        f"taken {stamp} from {site.html}</p>" + "\n".join(rows),
        encoding="utf-8",
    )


# --------------------------------------------------------------------------- link checking
class _Ids(html.parser.HTMLParser):
    """The id (and a[name]) targets of an HTML page, and the pages it links to."""

    def __init__(self) -> None:
        super().__init__()
        self.ids: set[str] = set()
        self.links: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = dict(attrs)
        if values.get("id"):
            self.ids.add(values["id"])
        if tag == "a" and values.get("name"):
            self.ids.add(values["name"])
        if tag == "a" and values.get("href"):
            self.links.append(values["href"])
        # The search box (a form) and the search/index pages the theme links in the head.
        if tag == "form" and values.get("action"):
            self.links.append(values["action"])
        if (
            tag == "link"
            and values.get("href")
            and (values.get("rel") or "") in {"search", "index", "next", "prev"}
        ):
            self.links.append(values["href"])
        if tag == "meta" and (values.get("http-equiv") or "").lower() == "refresh":
            target = re.search(r"url=(.+)", values.get("content") or "", re.I)
            if target:
                self.links.append(target.group(1).strip())


@functools.cache
def _fetch(url: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=30) as response:
            body = response.read()
            kind = response.headers.get_content_type()
            return response.status, body.decode("utf-8", "replace") if kind == "text/html" else ""
    except urllib.error.HTTPError as error:
        return error.code, ""


@functools.cache
def _parsed(url: str) -> _Ids:
    parser = _Ids()
    parser.feed(_fetch(url)[1])
    return parser


def _is_internal(url: str, site: Site) -> bool:
    return url.startswith(site.url)


def broken_links(hrefs: list[str], page_url: str, live_ids: set[str], site: Site) -> list[str]:
    """The internal links among ``hrefs`` (absolute URLs) that do not resolve."""
    broken = []
    for href in sorted(set(hrefs)):
        if not _is_internal(href, site):
            continue
        target, _, fragment = href.partition("#")
        status = _fetch(target)[0]
        if status != 200:
            broken.append(f"{href} -> HTTP {status}")
            continue
        fragment = urllib.parse.unquote(fragment)
        if fragment and fragment not in _parsed(target).ids:
            if not (target == page_url.partition("#")[0] and fragment in live_ids):
                broken.append(f"{href} -> no element with id '{fragment}'")
    return broken


def crawl(site: Site) -> set[str]:
    """Every HTML page reachable by links from index.html (site-relative paths)."""
    seen: set[str] = set()
    todo = ["index.html"]
    while todo:
        path = todo.pop()
        if path in seen:
            continue
        seen.add(path)
        url = site.url + path
        for href in _parsed(url).links:
            absolute = urllib.parse.urljoin(url, href).partition("#")[0].partition("?")[0]
            if not _is_internal(absolute, site):
                continue
            rel = absolute[len(site.url) :] or "index.html"
            if rel.endswith("/"):
                rel += "index.html"
            if rel.endswith(".html") and rel not in seen and (site.html / rel).is_file():
                todo.append(rel)
    return seen


# --------------------------------------------------------------------------- the browser
@pytest.fixture(scope="session")
def browser(site: Site):
    """One Chromium (fresh profile) for the session; each page opens in its own tab."""
    profile = tempfile.mkdtemp(prefix="ntk-chromium-profile-")
    playwright = sync_playwright().start()
    try:
        context = playwright.chromium.launch_persistent_context(
            profile,
            executable_path=str(CHROMIUM),
            headless=True,
            args=CHROMIUM_FLAGS,
            viewport=VIEWPORT,
            device_scale_factor=1,
            color_scheme="light",
            service_workers="block",
        )
        context.set_default_timeout(PAGE_TIMEOUT_MS)
        yield context
        context.close()
    finally:
        playwright.stop()
        shutil.rmtree(profile, ignore_errors=True)


@dataclass
class Visit:
    """What one page showed in the browser."""

    path: str
    url: str
    console_errors: list[str]
    page_errors: list[str]
    external_requests: list[str]
    failed_internal: list[str]
    facts: dict
    screenshot: Path
    bytes_loaded: int = 0
    widget_moves: list[dict] = field(default_factory=list)


# Everything is measured in one pass in the page, after MathJax and the images have settled.
_SETTLE_JS = """
async () => {
  const wait = (ms) => new Promise((r) => setTimeout(r, ms));
  if (window.MathJax && MathJax.startup && MathJax.startup.promise) {
    await Promise.race([MathJax.startup.promise, wait(30000)]);
    // The site typesets lazily (ui/lazy): math off screen waits for the reader to scroll to it.
    // Every check below is about the typeset page, so all of it is typeset first.
    const lazy = MathJax.startup.document && MathJax.startup.document.lazyTypesetAll;
    if (lazy) { await Promise.race([MathJax.startup.document.lazyTypesetAll(), wait(30000)]); }
  }
  for (const img of document.images) {
    img.loading = 'eager';
    if (!img.complete) {
      const loaded = new Promise((r) => {
        img.addEventListener('load', r);
        img.addEventListener('error', r);
      });
      await Promise.race([loaded, wait(15000)]);
    }
  }
  if (document.fonts) { await document.fonts.ready; }
  return true;
}
"""

_FACTS_JS = r"""
() => {
  const inCode = (el) =>
    !!el.closest('pre, code, .highlight, .cell_input, script, style, textarea');
  const mathEls = [...document.querySelectorAll('.math')].filter((el) => !inCode(el));
  const clone = document.body.cloneNode(true);
  clone.querySelectorAll(
    'pre, code, script, style, textarea, noscript, template, mjx-container, .highlight, .cell_input'
  ).forEach((e) => e.remove());
  const article =
    document.querySelector('article.bd-article') || document.querySelector('main') || document.body;
  const articleWidth = article.getBoundingClientRect().width;
  const luminance = (d, i) => 0.2126 * d[i] + 0.7152 * d[i + 1] + 0.0722 * d[i + 2];
  const images = [...document.images].map((img) => {
    const rect = img.getBoundingClientRect();
    const info = {
      src: img.getAttribute('src'), complete: img.complete,
      naturalWidth: img.naturalWidth, naturalHeight: img.naturalHeight,
      width: rect.width, height: rect.height,
      content: article.contains(img),
      parentWidth: img.parentElement ? img.parentElement.getBoundingClientRect().width : 0,
    };
    if (info.content && img.complete && img.naturalWidth > 0) {
      try {
        const c = document.createElement('canvas');
        c.width = img.naturalWidth; c.height = img.naturalHeight;
        const g = c.getContext('2d');
        g.drawImage(img, 0, 0);
        const d = g.getImageData(0, 0, c.width, c.height).data;
        const corners = [[1, 1], [c.width - 2, 1], [1, c.height - 2], [c.width - 2, c.height - 2]];
        info.cornerAlpha = Math.min(...corners.map(([x, y]) => d[4 * (y * c.width + x) + 3]));
        info.cornerLuminance = Math.min(
          ...corners.map(([x, y]) => luminance(d, 4 * (y * c.width + x))));
        let darkest = 255;
        for (let i = 0; i < d.length; i += 4 * 3) {
          if (d[i + 3] > 200) { darkest = Math.min(darkest, luminance(d, i)); }
        }
        info.darkest = darkest;
      } catch (e) { info.pixelError = String(e); }
    }
    return info;
  });
  const para = article.querySelector('p');
  return {
    title: document.title,
    mathCount: mathEls.length,
    mathTypeset: mathEls.filter((el) => el.querySelector('mjx-container')).length,
    mathjaxScripts: [...document.scripts].map((s) => s.src).filter((s) => /mathjax/i.test(s)),
    mathjaxVersion: (window.MathJax && MathJax.version) || null,
    mathLazy: !!(window.MathJax && MathJax.startup && MathJax.startup.document
      && MathJax.startup.document.lazyTypesetAll),
    mjxContainers: document.querySelectorAll('mjx-container').length,
    texErrors: [...document.querySelectorAll('mjx-merror')]
      .map((e) => e.getAttribute('data-mjx-error') || e.textContent),
    untypeset: mathEls.filter((el) => !el.querySelector('mjx-container')).slice(0, 5)
      .map((el) => el.textContent.slice(0, 120)),
    visibleText: clone.textContent,
    hrefs: [...document.querySelectorAll('a[href]')].map((a) => a.href),
    ids: [...document.querySelectorAll('[id]')].map((e) => e.id),
    images,
    binder: [...document.querySelectorAll('a[href*="mybinder.org/v2/"]')].map((a) => a.href),
    colab: [...document.querySelectorAll('a[href*="colab.research.google.com/github/"]')]
      .map((a) => a.href),
    statements: [...document.querySelectorAll('div.proof')]
      .filter((el) => [...el.classList].some((c) => !['proof', 'admonition'].includes(c)))
      .map((el) => [...el.classList].join(' ')),
    proofs: document.querySelectorAll('div.proof').length,
    exercises: document.querySelectorAll('div.exercise').length,
    solutions: document.querySelectorAll('div.solution').length,
    scrollWidth: document.documentElement.scrollWidth,
    clientWidth: document.documentElement.clientWidth,
    articleWidth,
    bodyFontPx: para ? parseFloat(getComputedStyle(para).fontSize) : null,
    wideEquations: [...document.querySelectorAll('mjx-container[display="true"]')]
      .filter((el) => el.scrollWidth > el.clientWidth + 2)
      .map((el) => {
        const items = (window.MathJax && MathJax.startup && MathJax.startup.document)
          ? MathJax.startup.document.getMathItemsWithin(el) : [];
        const tex = items.length ? items[0].math : el.textContent;
        return {width: el.scrollWidth, column: el.clientWidth,
                tex: tex.trim().replace(/\s+/g, ' ').slice(0, 120)};
      }),
  };
}
"""


# Moves every control of every static player (ntk_widgets.js) to its first, middle and last value,
# through the events a reader's mouse or keyboard fires, and records whether the frame changed.
_WIDGET_JS = r"""
() => {
  const out = [];
  document.querySelectorAll('div.ntk-widget').forEach((root, w) => {
    const img = root.querySelector('img.ntk-widget-frame');
    root.querySelectorAll('[data-axis]').forEach((field) => {
      const count = field.tagName === 'SELECT' ? field.options.length : Number(field.max) + 1;
      const start = field.value;
      const seen = new Set([img.src]);
      const labels = [];
      for (const target of [...new Set([0, Math.floor((count - 1) / 2), count - 1])]) {
        field.value = String(target);
        field.dispatchEvent(new Event('input', {bubbles: true}));
        field.dispatchEvent(new Event('change', {bubbles: true}));
        seen.add(img.src);
        const shown = field.tagName === 'SELECT'
          ? field.options[field.selectedIndex].text
          : (field.nextElementSibling || {}).textContent;
        labels.push(shown);
      }
      field.value = start;
      field.dispatchEvent(new Event('input', {bubbles: true}));
      out.push({widget: w, control: field.getAttribute('aria-label'), values: count,
                frames: seen.size, labels, complete: img.complete && img.naturalWidth > 0});
    });
  });
  return out;
}
"""


def _screenshot_name(path: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "__", path.removesuffix(".html")) + ".png"


def visit(site: Site, browser, path: str) -> Visit:
    """Open ``path`` (site-relative) once per session, offline, and record what it shows."""
    if path in site.visits:
        return site.visits[path]
    start = time.perf_counter()
    console_errors: list[str] = []
    page_errors: list[str] = []
    external: list[str] = []
    failed_internal: list[str] = []
    tab = browser.new_page()

    def route(route) -> None:
        url = route.request.url
        host = urllib.parse.urlsplit(url).hostname
        if url.startswith(("data:", "blob:", "about:")) or host == "127.0.0.1":
            route.continue_()
        else:
            external.append(url)
            route.abort("internetdisconnected")

    def on_console(message) -> None:
        if message.type == "error":
            where = message.location.get("url", "") if message.location else ""
            console_errors.append(f"{message.text} [{where}]")

    def on_response(response) -> None:
        # Chromium asks for /favicon.ico by itself; the book has none and no page links one.
        if (
            _is_internal(response.url, site)
            and response.status >= 400
            and not response.url.endswith("/favicon.ico")
        ):
            failed_internal.append(f"{response.url} -> HTTP {response.status}")

    loaded: list[int] = []

    def on_finished(request) -> None:
        try:
            loaded.append(int(request.sizes().get("responseBodySize", 0)))
        except Exception:  # noqa: BLE001 - a request torn down with its tab has no sizes
            pass

    tab.route("**/*", route)
    tab.on("requestfinished", on_finished)
    tab.on("console", on_console)
    tab.on("pageerror", lambda error: page_errors.append(str(error)))
    tab.on("response", on_response)
    url = site.url + path
    try:
        tab.goto(url, wait_until="load")
        tab.evaluate(_SETTLE_JS)
        facts = tab.evaluate(_FACTS_JS)
        shot = site.screenshots / _screenshot_name(path)
        tab.screenshot(path=str(shot), full_page=FULL_SCREENSHOTS)
        moves = tab.evaluate(_WIDGET_JS)
    finally:
        tab.close()
    result = Visit(
        path,
        url,
        console_errors,
        page_errors,
        external,
        failed_internal,
        facts,
        shot,
        sum(loaded),
        moves,
    )
    site.visits[path] = result
    site.browse_seconds += time.perf_counter() - start
    return result


# --------------------------------------------------------------------------- the checks
RAW_MATH = [
    ("$$", re.compile(r"\$\$")),
    ("\\[", re.compile(r"\\\[")),
    ("\\(", re.compile(r"\\\(")),
    ("\\begin{", re.compile(r"\\begin\{")),
    ("$\\command", re.compile(r"\$\\[A-Za-z]+")),
]


def math_problems(v: Visit, site: Site) -> list[str]:
    f = v.facts
    problems = []
    if f["mathCount"]:
        local = [s for s in f["mathjaxScripts"] if _is_internal(s, site)]
        if not local:
            problems.append(
                "the page has math but loads no MathJax from the site itself "
                f"(scripts: {f['mathjaxScripts']})"
            )
        if not f["mathLazy"]:
            problems.append(
                "MathJax typesets the whole page before showing any of it (ui/lazy is not loaded: "
                "see mathjax3_config in _config.yml); on a slow link the first screen waits"
            )
        if f["mathTypeset"] < f["mathCount"]:
            problems.append(
                f"{f['mathCount'] - f['mathTypeset']} of {f['mathCount']} math elements were not "
                f"typeset by MathJax {f['mathjaxVersion']}; first ones: {f['untypeset']}"
            )
    if f["texErrors"]:
        problems.append(f"MathJax TeX errors: {f['texErrors'][:5]}")
    text = f["visibleText"]
    for label, pattern in RAW_MATH:
        for match in list(pattern.finditer(text))[:3]:
            context = " ".join(text[max(0, match.start() - 60) : match.end() + 60].split())
            problems.append(f"raw LaTeX '{label}' in the visible text: ...{context}...")
    return problems


def figure_problems(v: Visit) -> list[str]:
    problems = []
    for img in v.facts["images"]:
        name = img["src"]
        if not img["complete"] or img["naturalWidth"] == 0 or img["naturalHeight"] == 0:
            problems.append(
                f"image {name} did not load (complete={img['complete']}, "
                f"natural size {img['naturalWidth']}x{img['naturalHeight']})"
            )
            continue
        if not img["content"]:
            continue
        if "pixelError" in img:
            problems.append(f"image {name}: could not read its pixels ({img['pixelError']})")
            continue
        if img["cornerAlpha"] < 255 or img["cornerLuminance"] < 230:
            problems.append(
                f"figure {name} has no opaque light background (corner alpha {img['cornerAlpha']}, "
                f"luminance {img['cornerLuminance']:.0f}): "
                "its dark text would vanish on a dark page"
            )
        if img["darkest"] > 90:
            problems.append(
                f"figure {name} has no dark ink (darkest luminance {img['darkest']:.0f}): "
                "light text or axes"
            )
        scale = img["width"] / img["naturalWidth"]
        if img["width"] > 0 and scale < MIN_FIGURE_SCALE:
            problems.append(
                f"figure {name} is shown at {img['width']:.0f} px of its {img['naturalWidth']} px "
                f"(scale {scale:.2f} < {MIN_FIGURE_SCALE}): "
                "its text is too small to read on a laptop; "
                "make the figure narrower (new_axes width) or split it"
            )
        if img["width"] > img["parentWidth"] + 1:
            problems.append(
                f"figure {name} ({img['width']:.0f} px) overflows its column "
                f"({img['parentWidth']:.0f} px)"
            )
    return problems


def script_problems(v: Visit) -> list[str]:
    return [f"console error: {e}" for e in v.console_errors] + [
        f"page error: {e}" for e in v.page_errors
    ]


def offline_problems(v: Visit) -> list[str]:
    return [f"request to the network (blocked): {u}" for u in sorted(set(v.external_requests))]


def link_problems(v: Visit, site: Site) -> list[str]:
    problems = [f"resource failed: {r}" for r in v.failed_internal]
    problems += [
        f"broken link: {b}"
        for b in broken_links(v.facts["hrefs"], v.url, set(v.facts["ids"]), site)
    ]
    return problems


def layout_problems(v: Visit) -> list[str]:
    f = v.facts
    problems = []
    if f["scrollWidth"] > f["clientWidth"] + 1:
        problems.append(
            f"the page scrolls sideways at {VIEWPORT['width']} px: {f['scrollWidth']} px wide"
        )
    for eq in f["wideEquations"]:
        problems.append(
            f"display equation {eq['width']} px wide in a {eq['column']} px column, "
            "cut off on a laptop "
            f"(break it into lines, e.g. with aligned): {eq['tex']}"
        )
    if f["bodyFontPx"] is not None and f["bodyFontPx"] < 14:
        problems.append(f"body text is {f['bodyFontPx']} px: too small to read")
    return problems


def widget_problems(v: Visit) -> list[str]:
    problems = []
    for move in v.widget_moves:
        where = f"widget {move['widget']} control {move['control']!r}"
        if move["values"] < 2:
            problems.append(f"{where} has a single value: nothing to move")
        elif move["frames"] < min(3, move["values"]):
            problems.append(
                f"{where}: moving it over {move['values']} values showed "
                f"{move['frames']} different frames"
            )
        if not move["complete"]:
            problems.append(f"{where}: the frame image is broken")
        if len(set(move["labels"])) < min(3, move["values"]):
            problems.append(
                f"{where}: the value shown does not follow the control ({move['labels']})"
            )
    if v.bytes_loaded > MAX_PAGE_MIB * 2**20:
        problems.append(
            f"the page loads {v.bytes_loaded / 2**20:.2f} MiB; expected at most {MAX_PAGE_MIB} MiB"
        )
    return problems


def _fail_if(problems: list[str], v: Visit) -> None:
    if problems:
        pytest.fail(
            f"{v.path} (screenshot {v.screenshot}):\n  - " + "\n  - ".join(problems), pytrace=False
        )


# --------------------------------------------------------------------------- on a phone
@pytest.fixture(scope="session")
def phone(browser):
    """The session's Chromium; each phone visit sizes its tab to ``PHONE`` (the CSS sees a
    390 px screen; touch is not emulated, the tests tap with click events)."""
    return browser


_PHONE_JS = r"""
() => {
  const vw = document.documentElement.clientWidth;
  const inCode = (el) => !!el.closest('pre, code, .highlight, .cell_input');
  const scrolls = (el) => ['auto', 'scroll'].includes(getComputedStyle(el).overflowX);
  const short = (el) => el.textContent.trim().replace(/\s+/g, ' ').slice(0, 80);
  const clippedInline = [];
  const main = document.querySelector('article.bd-article') || document.body;
  main.querySelectorAll('span.math').forEach((el) => {
    if (inCode(el)) { return; }
    const box = el.getBoundingClientRect();
    const wide = el.scrollWidth > el.clientWidth + 1;
    let reachable = box.right <= vw + 1;  // or inside a box that scrolls to it (a wide table)
    for (let a = el.parentElement; !reachable && a && a !== document.body; a = a.parentElement) {
      reachable = scrolls(a) && a.scrollWidth > a.clientWidth + 1;
    }
    if ((wide && !scrolls(el)) || !reachable) {
      clippedInline.push({tex: short(el), width: el.scrollWidth, shown: el.clientWidth,
                          right: Math.round(box.right)});
    }
  });
  const unscrollable = [];
  const blocks = [...document.querySelectorAll('mjx-container[display="true"]')]
    .concat([...document.querySelectorAll('div.cell_output pre, div.cell_output div.output')]);
  blocks.forEach((el) => {
    if (el.scrollWidth <= el.clientWidth + 1) { return; }
    let ok = false;
    for (let a = el; a && a !== document.body; a = a.parentElement) {
      if (scrolls(a) && a.scrollWidth > a.clientWidth + 1) { ok = true; break; }
    }
    if (!ok) { unscrollable.push({what: el.tagName.toLowerCase(), text: short(el)}); }
  });
  const coveredEquations = [];
  document.querySelectorAll('div.math').forEach((el) => {
    const number = el.querySelector('span.eqno');
    const eq = el.querySelector('mjx-container');
    if (!number || !eq) { return; }
    const a = number.getBoundingClientRect(), b = eq.getBoundingClientRect();
    const overlap = Math.min(a.right, b.right) > Math.max(a.left, b.left) + 1 &&
      Math.min(a.bottom, b.bottom) > Math.max(a.top, b.top) + 1;
    if (overlap) { coveredEquations.push(short(number)); }
  });
  const article = document.querySelector('article.bd-article') || document.body;
  const images = [...article.querySelectorAll('img')].map((img) => ({
    src: img.getAttribute('src'), alt: (img.getAttribute('alt') || '').trim(),
    width: img.getBoundingClientRect().width, naturalWidth: img.naturalWidth,
    zoomable: img.classList.contains('ntk-zoomable'),
    caption: ((img.closest('figure') && img.closest('figure').querySelector('figcaption'))
      || (img.closest('.ntk-widget') && img.closest('.ntk-widget')
        .querySelector('.ntk-widget-caption')) || {textContent: ''}).textContent.trim(),
    logo: !!img.closest('.dropdown-launch-buttons, .header-article-items, nav, header'),
  }));
  return {scrollWidth: document.documentElement.scrollWidth, clientWidth: vw, clippedInline,
          unscrollable, coveredEquations, images};
}
"""

# Taps the first content figure shown below MIN_TEXT_PX text and reports the enlarged view.
_ZOOM_JS = r"""
(minScale) => {
  const article = document.querySelector('article.bd-article') || document.body;
  const img = [...article.querySelectorAll('img.ntk-zoomable')].find((i) =>
    i.naturalWidth > 0 && i.getBoundingClientRect().width < minScale * i.naturalWidth);
  if (!img) { return null; }
  img.click();
  const view = document.querySelector('div.ntk-zoom');
  const big = view && view.querySelector('img');
  const out = {src: img.getAttribute('src'), opened: !!view,
               shown: big ? big.getBoundingClientRect().width : 0, natural: img.naturalWidth};
  if (view) { view.click(); }
  out.closed = !document.querySelector('div.ntk-zoom');
  return out;
}
"""


@dataclass
class PhoneVisit:
    path: str
    facts: dict
    zoom: dict | None
    gzip_bytes: int
    plain_bytes: int
    screenshot: Path


@functools.cache
def _file_weights(path: Path) -> tuple[int, int]:
    """(plain, gzipped at level 6) bytes of one file; images and fonts count as they are."""
    data = path.read_bytes()
    if path.suffix.lower() in UNCOMPRESSED:
        return len(data), len(data)
    return len(data), len(gzip.compress(data, compresslevel=6, mtime=0))


def phone_visit(site: Site, phone, path: str) -> PhoneVisit:
    """Open ``path`` at 390 px once per session and measure what a phone reader gets."""
    key = "phone:" + path
    if key in site.visits:
        return site.visits[key]
    start = time.perf_counter()
    fetched: set[str] = set()
    tab = phone.new_page()
    tab.set_viewport_size(PHONE)
    tab.route(
        "**/*",
        lambda route: route.continue_() if _is_internal(route.request.url, site) else route.abort(),
    )
    tab.on("requestfinished", lambda request: fetched.add(request.url))
    try:
        tab.goto(site.url + path, wait_until="load")
        tab.evaluate(_SETTLE_JS)
        facts = tab.evaluate(_PHONE_JS)
        shot = site.screenshots / ("phone-" + _screenshot_name(path))
        tab.screenshot(path=str(shot), full_page=False)
        zoom = tab.evaluate(_ZOOM_JS, MIN_TEXT_PX / FIGURE_TEXT_PX)
    finally:
        tab.close()
    plain = packed = 0
    for url in fetched:
        if not _is_internal(url, site):
            continue
        local = site.html / urllib.parse.unquote(urllib.parse.urlsplit(url).path.lstrip("/"))
        if local.is_file():
            p, g = _file_weights(local)
            plain, packed = plain + p, packed + g
    result = PhoneVisit(path, facts, zoom, packed, plain, shot)
    site.visits[key] = result
    site.browse_seconds += time.perf_counter() - start
    return result


_NAMELESS_ALT = re.compile(r"(^$|\.(png|jpe?g|svg|gif)$|^figure$|^image$)", re.I)


def phone_problems(v: PhoneVisit, chapter: bool) -> list[str]:
    f = v.facts
    problems = []
    if f["scrollWidth"] > f["clientWidth"] + 1:
        problems.append(f"the page scrolls sideways on a phone: {f['scrollWidth']} px wide")
    problems += [
        f"inline math cut off at {PHONE['width']} px ({m['width']} px in {m['shown']} px, "
        f"right edge {m['right']}): {m['tex']}"
        for m in f["clippedInline"]
    ]
    problems += [
        f"a {b['what']} wider than the column that does not scroll: {b['text']}"
        for b in f["unscrollable"]
    ]
    problems += [f"equation number {n} covers its equation" for n in f["coveredEquations"]]
    for img in f["images"]:
        if img["logo"]:
            continue
        if _NAMELESS_ALT.search(img["alt"]):
            problems.append(f"image {img['src']} has no alt text (alt={img['alt']!r})")
        if not img["caption"]:
            problems.append(
                f"image {img['src']} has no caption (a static figure's goes in its cell's "
                "metadata, mystnb: figure: caption:; a player's in interactive_figure(caption=))"
            )
        if img["naturalWidth"] and img["width"] > 0:
            text_px = FIGURE_TEXT_PX * img["width"] / img["naturalWidth"]
            if text_px < MIN_TEXT_PX and not img["zoomable"]:
                problems.append(
                    f"figure {img['src']} shows its text at {text_px:.1f} px and cannot be enlarged"
                )
    if v.zoom is not None and not (
        v.zoom["opened"] and v.zoom["shown"] >= 0.99 * v.zoom["natural"] and v.zoom["closed"]
    ):
        problems.append(f"tapping figure {v.zoom['src']} does not show it at full size: {v.zoom}")
    if chapter and v.gzip_bytes > MAX_CHAPTER_GZIP_MIB * 2**20:
        problems.append(
            f"the chapter loads {v.gzip_bytes / 2**20:.2f} MiB gzipped "
            f"({v.plain_bytes / 2**20:.2f} MiB plain) before a player is touched; "
            f"expected at most {MAX_CHAPTER_GZIP_MIB} MiB"
        )
    return problems


# --------------------------------------------------------------------------- tests
def test_book_builds_without_warnings(site: Site) -> None:
    """The build that made the site passed with -W; a prebuilt site comes with its log
    (``NTK_COURSE_BUILD_LOG``, as tests/run_all.sh gives), which must also show that every notebook
    came from nbval's execution (jupyter-cache) rather than being executed a second time."""
    if site.build_returncode is None:
        log_path = os.environ.get("NTK_COURSE_BUILD_LOG")
        assert log_path, (
            "NTK_COURSE_SITE gives a prebuilt site: give its build log too (NTK_COURSE_BUILD_LOG)"
        )
        log = re.sub(
            r"\x1b\[[0-9;]*m", "", Path(log_path).read_text(encoding="utf-8", errors="replace")
        )
        assert "build succeeded" in log, f"{log_path} does not show a successful build"
        executed = [line for line in log.splitlines() if "Executing notebook" in line]
        assert not executed, "the book build executed notebooks again:\n" + "\n".join(executed)
        cached = [p for p in NOTEBOOKS if f"{p.name}.md: Using cached notebook" not in log]
        assert not cached, (
            f"notebooks the build did not take from the cache: {[p.name for p in cached]}"
        )
    else:
        log = site.build_log
        assert site.build_returncode == 0, (
            f"jupyter-book build -W failed (exit {site.build_returncode}):\n" + log[-3000:]
        )
    warnings = [
        line for line in log.splitlines() if "WARNING" in line and "IPKernelApp" not in line
    ]
    assert not warnings, "the book build warned:\n" + "\n".join(warnings[:30])


def test_every_toc_page_is_built_and_linked_from_the_index(site: Site) -> None:
    reachable = crawl(site)
    missing = [p.html for p in PAGES if not (site.html / p.html).is_file()]
    unlinked = [p.html for p in PAGES if p.html not in reachable]
    assert not missing, f"pages of _toc.yml missing from the site: {missing}"
    assert not unlinked, f"pages of _toc.yml not reachable by links from index.html: {unlinked}"


@pytest.mark.parametrize("page", _by_page(PAGES))
def test_math_is_typeset_offline(site: Site, browser, page: TocPage) -> None:
    v = visit(site, browser, page.html)
    _fail_if(math_problems(v, site), v)


@pytest.mark.parametrize("page", _by_page(PAGES))
def test_figures_load_and_read_well(site: Site, browser, page: TocPage) -> None:
    v = visit(site, browser, page.html)
    _fail_if(figure_problems(v), v)


@pytest.mark.parametrize("page", _by_page(PAGES))
def test_no_javascript_errors_and_no_network(site: Site, browser, page: TocPage) -> None:
    v = visit(site, browser, page.html)
    _fail_if(script_problems(v) + offline_problems(v), v)


@pytest.mark.parametrize("page", _by_page(PAGES))
def test_internal_links_resolve(site: Site, browser, page: TocPage) -> None:
    v = visit(site, browser, page.html)
    _fail_if(link_problems(v, site), v)


@pytest.mark.parametrize("page", _by_page(PAGES))
def test_layout_fits_a_laptop_screen(site: Site, browser, page: TocPage) -> None:
    v = visit(site, browser, page.html)
    _fail_if(layout_problems(v), v)


@pytest.mark.parametrize("page", _by_page(NOTEBOOKS))
def test_launch_buttons(site: Site, browser, page: TocPage) -> None:
    """A Binder button on every notebook page, opening a file the repository has."""
    v = visit(site, browser, page.html)
    problems = []
    if not v.facts["binder"]:
        problems.append("no Binder launch button (a link to mybinder.org/v2/...)")
    handout = re.match(r"book/assignments/(a\d+)$", page.name)
    for href in v.facts["binder"]:
        query = urllib.parse.parse_qs(urllib.parse.urlsplit(href).query)
        target = query.get("urlpath", [""])[0].split("/tree/", 1)[-1]
        if handout:  # an assignment opens its student handout, which binder/postBuild makes
            k = handout.group(1)
            if target != f"handouts/{k}/student/{k}.ipynb":
                problems.append(f"Binder button opens {target!r}, not the student handout")
            if "ntk_course.assignments build handouts/" not in BINDER_POST_BUILD:
                problems.append("binder/postBuild does not build the handouts the button opens")
        elif not (REPO / target).is_file():
            problems.append(f"Binder button opens {target!r}, which the repository does not have")
    _fail_if(problems, v)


@pytest.mark.parametrize("page", _by_page(NOTEBOOKS))
def test_colab_button_opens_a_notebook(site: Site, browser, page: TocPage) -> None:
    """Colab opens only .ipynb files: a link to the MyST .md source fails with a JSON parse error.

    sphinx-book-theme links to the .ipynb only when one with the same name sits next to the
    .md at build time (jupyter-book/jupyter-book#752). So a Colab button must be configured
    (``launch_buttons.colab_url`` in _config.yml) only together with such notebooks, and a page
    must not show one otherwise.
    """
    v = visit(site, browser, page.html)
    if not COLAB_CONFIGURED:
        _fail_if(
            [
                f"Colab button present although colab_url is not configured: {h}"
                for h in v.facts["colab"]
            ],
            v,
        )
        return
    problems = (
        [] if v.facts["colab"] else ["no Colab launch button although colab_url is configured"]
    )
    problems += [
        f"Colab button links to a non-notebook: {h}"
        for h in v.facts["colab"]
        if not urllib.parse.urlsplit(h).path.endswith(".ipynb")
    ]
    _fail_if(problems, v)


@pytest.mark.parametrize("page", _by_page(CHAPTERS))
def test_chapter_has_theorems_exercises_and_figures(site: Site, browser, page: TocPage) -> None:
    """Every chapter states a result (prf block), sets exercises with solutions and shows a
    figure."""
    v = visit(site, browser, page.html)
    f = v.facts
    problems = []
    if not f["statements"]:
        problems.append(
            "no theorem-like block "
            "(sphinx-proof div.proof: theorem, proposition, lemma, definition ...)"
        )
    if not f["exercises"]:
        problems.append("no exercise block (sphinx-exercise div.exercise)")
    if f["solutions"] < f["exercises"]:
        problems.append(f"{f['exercises']} exercises but only {f['solutions']} solutions")
    if not [img for img in f["images"] if img["content"]]:
        problems.append("no figure in the chapter")
    _fail_if(problems, v)


@pytest.mark.parametrize("page", _by_page(PAGES))
def test_interactive_figures_move_without_a_kernel_and_pages_stay_light(
    site: Site, browser, page: TocPage
) -> None:
    """Each static player's controls change its frame; every chapter with a code widget has a
    player."""
    v = visit(site, browser, page.html)
    problems = widget_problems(v)
    source = page.source.read_text(encoding="utf-8") if page.source else ""
    if "interactive_figure(" in source and not v.widget_moves:
        problems.append("the chapter calls interactive_figure but the page has no static player")
    _fail_if(problems, v)


def test_pages_outside_the_toc(site: Site, browser) -> None:
    """The other pages a reader can reach from the index (search, general index ...) pass the same
    checks."""
    toc = {p.html for p in PAGES} | {"index.html"}
    problems = []
    for path in sorted(crawl(site) - toc):
        v = visit(site, browser, path)
        for problem in (
            math_problems(v, site)
            + figure_problems(v)
            + script_problems(v)
            + offline_problems(v)
            + link_problems(v, site)
        ):
            problems.append(f"{path}: {problem}")
    assert not problems, "\n".join(problems)


def test_search_works_offline(site: Site, browser) -> None:
    """The search box finds the course's main word with no network (search index served locally)."""
    tab = browser.new_page()
    errors: list[str] = []
    tab.route(
        "**/*",
        lambda route: route.continue_() if _is_internal(route.request.url, site) else route.abort(),
    )
    tab.on("pageerror", lambda error: errors.append(str(error)))
    try:
        tab.goto(site.url + "search.html?q=kernel", wait_until="load")
        tab.wait_for_function(
            "() => document.querySelectorAll('#search-results ul.search li').length > 0",
            timeout=PAGE_TIMEOUT_MS,
        )
        hits = tab.evaluate(
            "() => document.querySelectorAll('#search-results ul.search li').length"
        )
    finally:
        tab.close()
    assert hits > 0 and not errors, f"search for 'kernel' found {hits} pages; page errors: {errors}"


def test_search_ranks_the_page_titled_by_the_query_first(site: Site, browser) -> None:
    """ "spectral bias" must list the chapter whose title holds the phrase first (it came after
    least_squares, which holds both words in separate headings); "gaussian process" likewise."""
    titles = {}
    for page in PAGES:
        html = site.html / page.html
        if html.is_file():
            match = re.search(r"<title>(.*?)(?: &#8212;| —|</title>)", html.read_text("utf-8"))
            if match:
                titles[page.html] = match.group(1)
    tab = browser.new_page()
    tab.route(
        "**/*",
        lambda route: route.continue_() if _is_internal(route.request.url, site) else route.abort(),
    )
    failures = []
    try:
        for query in ("spectral bias", "gaussian process"):
            expected = [h for h, t in titles.items() if query in t.lower()]
            if not expected:
                failures.append(f"no page title holds {query!r}: {sorted(titles.values())}")
                continue
            tab.goto(site.url + "search.html?q=" + query.replace(" ", "+"), wait_until="load")
            tab.wait_for_function(
                "() => document.querySelectorAll('#search-results ul.search li a').length > 0",
                timeout=PAGE_TIMEOUT_MS,
            )
            first = tab.evaluate(
                "() => document.querySelector('#search-results ul.search li a')"
                ".getAttribute('href')"
            )
            if not any(first.split("#")[0].endswith(h.split("/")[-1]) for h in expected):
                failures.append(f"{query!r}: first result {first}, expected one of {expected}")
    finally:
        tab.close()
    assert not failures, failures


def test_search_folds_accents(site: Site, browser) -> None:
    """A word the book spells with an accent is found without it ("Gronwall" for "Grönwall")."""
    text = (site.html / "searchindex.js").read_text(encoding="utf-8")
    terms = json.loads(text[text.index("(") + 1 : text.rstrip().rindex(")")])["terms"]
    accented = sorted(w for w in terms if not w.isascii() and w.isalpha())
    if not accented:
        pytest.skip("no accented word in the search index")
    word = "grönwall" if "grönwall" in accented else accented[0]
    plain = unicodedata.normalize("NFKD", word).encode("ascii", "ignore").decode()
    tab = browser.new_page()
    tab.route(
        "**/*",
        lambda route: route.continue_() if _is_internal(route.request.url, site) else route.abort(),
    )
    try:
        tab.goto(site.url + f"search.html?q={plain}", wait_until="load")
        tab.wait_for_function(
            "() => /Search finished|found/i.test(document.querySelector('#search-results')"
            "?.textContent || '')",
            timeout=PAGE_TIMEOUT_MS,
        )
        hits = tab.evaluate(
            "() => document.querySelectorAll('#search-results ul.search li').length"
        )
    finally:
        tab.close()
    assert hits > 0, f"search for {plain!r} (the index has {word!r}) found nothing"


@pytest.mark.parametrize("page", _by_page(PAGES))
def test_reads_on_a_phone(site: Site, phone, page: TocPage) -> None:
    """At 390 px: no sideways scrolling, no cut formula, scrollable wide blocks, numbers beside
    (not on) their equations, alt text and captions, figures that enlarge, and chapters of at
    most 1 MiB."""
    v = phone_visit(site, phone, page.html)
    problems = phone_problems(v, chapter=page.is_chapter or page.root)
    if problems:
        pytest.fail(
            f"{v.path} on a phone (screenshot {v.screenshot}):\n  - " + "\n  - ".join(problems),
            pytrace=False,
        )
