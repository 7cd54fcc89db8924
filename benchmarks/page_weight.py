"""Weight of every page of the built website, and how long a slow link waits for typeset math.

    python benchmarks/page_weight.py _build/test/_build/html            # weights only
    python benchmarks/page_weight.py SITE --throttle                    # and time to typeset
    python benchmarks/page_weight.py SITE --pages book/intro.html --throttle --plain

Each page of ``_toc.yml`` is opened in headless Chromium (``NTK_COURSE_CHROMIUM`` or Debian's
``/usr/bin/chromium``) from a local server, with the cache off, at a phone's 390 x 844 viewport,
and every image is loaded (``loading="eager"``), as a reader who scrolls to the end would load
them, but no control of an interactive figure is touched. Every resource the page fetched is
counted once: its size on disk ("plain") and its size compressed with gzip at level 6 ("gzip",
what a static host such as GitHub Pages serves for text; PNG and WOFF2 files are already
compressed and count as they are).

``--throttle``: the page is opened again on an emulated "Fast 3G" link (1.6 Mbit/s down,
750 kbit/s up, 150 ms round trip: Chrome DevTools' preset, through the DevTools protocol's
``Network.emulateNetworkConditions``), served gzipped (or plain with ``--plain``), and the time
from the navigation's start to the moment no math on the first screen is left raw (MathJax's
``startup.promise``, then, as the site typesets lazily, every math element in the viewport drawn)
is printed: how long a reader on that link sees raw LaTeX.
The target (issue 21) is at most 1 MiB gzipped per chapter and math typeset within 5 s.
"""

from __future__ import annotations

import argparse
import functools
import gzip
import http.server
import mimetypes
import os
import re
import sys
import threading
import urllib.parse
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[1]
CHROMIUM = os.environ.get("NTK_COURSE_CHROMIUM", "/usr/bin/chromium")
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
         "--disable-background-networking"]  # fmt: skip
PHONE = {"width": 390, "height": 844}
FAST_3G = {  # Chrome DevTools' "Fast 3G" preset (bytes per second, milliseconds)
    "offline": False,
    "latency": 150,
    "downloadThroughput": 1.6 * 1024 * 1024 / 8,
    "uploadThroughput": 750 * 1024 / 8,
}
PRECOMPRESSED = {".png", ".jpg", ".jpeg", ".gif", ".woff", ".woff2", ".ico"}
MIB = 2**20


def toc_pages() -> list[str]:
    """The site paths of the pages of ``_toc.yml``, in reading order."""
    toc = yaml.safe_load((REPO / "_toc.yml").read_text(encoding="utf-8"))
    pages = [toc["root"]]

    def walk(node: object) -> None:
        if isinstance(node, dict):
            if "file" in node:
                pages.append(str(node["file"]))
            for key in ("parts", "chapters", "sections"):
                walk(node.get(key, []))
        elif isinstance(node, list):
            for item in node:
                walk(item)

    walk(toc)
    return [re.sub(r"\.(md|ipynb)$", "", p) + ".html" for p in pages]


@functools.cache
def weights(path: Path) -> tuple[int, int]:
    """(plain, gzipped) bytes of one file as a static host serves it."""
    data = path.read_bytes()
    if path.suffix.lower() in PRECOMPRESSED:
        return len(data), len(data)
    return len(data), len(gzip.compress(data, compresslevel=6, mtime=0))


def serve(root: Path, compress: bool) -> tuple[http.server.ThreadingHTTPServer, str]:
    """A local server of ``root``; with ``compress`` it gzips text as static hosts do."""

    class Handler(http.server.SimpleHTTPRequestHandler):
        def log_message(self, format: str, *args: object) -> None:  # noqa: A002
            pass

        def do_GET(self) -> None:  # noqa: N802 - stdlib name
            path = Path(self.translate_path(self.path))
            accepts = "gzip" in self.headers.get("Accept-Encoding", "")
            if not (compress and accepts and path.is_file()) or path.suffix in PRECOMPRESSED:
                super().do_GET()
                return
            body = gzip.compress(path.read_bytes(), compresslevel=6, mtime=0)
            self.send_response(200)
            kind = mimetypes.guess_type(str(path))[0] or "application/octet-stream"
            self.send_header("Content-Type", kind)
            self.send_header("Content-Encoding", "gzip")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            try:
                self.wfile.write(body)
            except (BrokenPipeError, ConnectionResetError):  # the tab closed first
                pass

    handler = functools.partial(Handler, directory=str(root))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, f"http://127.0.0.1:{server.server_address[1]}/"


_LOAD_ALL_IMAGES = """
async () => {
  const wait = (ms) => new Promise((r) => setTimeout(r, ms));
  if (window.MathJax && MathJax.startup && MathJax.startup.promise) {
    await Promise.race([MathJax.startup.promise, wait(30000)]);
  }
  for (const img of document.images) {
    img.loading = 'eager';
    if (!img.complete) {
      await Promise.race([new Promise((r) => { img.onload = r; img.onerror = r; }), wait(15000)]);
    }
  }
  await wait(300);
  return true;
}
"""

_TYPESET_TIME = """
async () => {
  const wait = (ms) => new Promise((r) => setTimeout(r, ms));
  const script = () => document.querySelector('script[src*="mathjax"]');
  while (document.readyState === 'loading' && !script()) { await wait(20); }
  if (!script()) { return null; }
  while (!(window.MathJax && MathJax.startup && MathJax.startup.promise)) { await wait(20); }
  await MathJax.startup.promise;
  // MathJax's lazy typesetting (ui/lazy) resolves startup.promise before the math in view is
  // drawn: wait until none is left there, raw TeX or a lazy marker.
  const inView = (el) => {
    const r = el.getBoundingClientRect();
    return r.bottom > 0 && r.top < innerHeight && r.right > 0 && r.left < innerWidth;
  };
  const raw = () => [...document.querySelectorAll('mjx-lazy, .math')].some((el) => inView(el)
      && (el.tagName === 'MJX-LAZY' || !el.querySelector('mjx-container, mjx-lazy')));
  while (raw()) { await wait(20); }
  return performance.now() / 1000;
}
"""


def page_weight(context, url: str, root: Path, base: str) -> tuple[int, int, int]:
    """(plain, gzipped, count) of everything ``url`` fetched, images included, no player touched."""
    urls: set[str] = set()
    tab = context.new_page()
    tab.on("requestfinished", lambda request: urls.add(request.url))
    try:
        tab.goto(url, wait_until="load")
        tab.evaluate(_LOAD_ALL_IMAGES)
    finally:
        tab.close()
    plain = packed = count = 0
    for fetched in urls:
        if not fetched.startswith(base):
            continue
        local = root / urllib.parse.unquote(urllib.parse.urlsplit(fetched).path.lstrip("/"))
        if local.is_dir():
            local = local / "index.html"
        if local.is_file():
            p, g = weights(local)
            plain, packed, count = plain + p, packed + g, count + 1
    return plain, packed, count


def typeset_seconds(browser, url: str) -> float | None:
    """Seconds from navigation until no math on the first screen is raw, on the Fast 3G link
    (None: no MathJax)."""
    context = browser.new_context(viewport=PHONE)
    tab = context.new_page()
    try:
        cdp = context.new_cdp_session(tab)
        cdp.send("Network.enable")
        cdp.send("Network.setCacheDisabled", {"cacheDisabled": True})
        cdp.send("Network.emulateNetworkConditions", FAST_3G)
        tab.goto(url, wait_until="commit", timeout=180_000)
        seconds = tab.evaluate(_TYPESET_TIME)
        return None if seconds is None else float(seconds)
    finally:
        context.close()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("site", type=Path, help="the built site (a _build/html folder)")
    parser.add_argument("--pages", nargs="*", help="site paths (default: every page of _toc.yml)")
    parser.add_argument("--throttle", action="store_true", help="time to typeset on Fast 3G")
    parser.add_argument("--plain", action="store_true", help="serve uncompressed when throttled")
    args = parser.parse_args()
    root = args.site.resolve()
    if not (root / "index.html").is_file():
        parser.error(f"{root} has no index.html: give a built _build/html folder")
    from playwright.sync_api import sync_playwright

    pages = args.pages or toc_pages()
    server, base = serve(root, compress=False)
    zipped_server, zipped_base = serve(root, compress=not args.plain)
    worst = 0
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=FLAGS)
        context = browser.new_context(viewport=PHONE)
        context.route(
            "**/*", lambda r: r.continue_() if r.request.url.startswith(base) else r.abort()
        )
        header = f"{'page':34} {'plain MiB':>9} {'gzip MiB':>9} {'files':>5}"
        print(header + ("  typeset on Fast 3G" if args.throttle else ""), flush=True)
        for page in pages:
            plain, packed, count = page_weight(context, base + page, root, base)
            worst = max(worst, packed)
            line = f"{page:34} {plain / MIB:9.2f} {packed / MIB:9.2f} {count:5d}"
            if args.throttle:
                seconds = typeset_seconds(browser, zipped_base + page)
                served = "plain" if args.plain else "gzip"
                line += "  no math" if seconds is None else f"  {seconds:5.1f} s ({served})"
            print(line, flush=True)
        browser.close()
    server.shutdown()
    zipped_server.shutdown()
    print(f"heaviest page: {worst / MIB:.2f} MiB gzipped (target: at most 1 MiB per chapter)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
