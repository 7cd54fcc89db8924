"""Small fixes to the course website, found by tests/test_website.py in a browser.

Loaded from _config.yml (``sphinx: local_extensions: {ntk_site: book/_ext}``). Each fix says
what a reader would otherwise see:

* Sphinx 7.4 writes every inline script added by an extension during reading twice (the first
  copy is registered with filename ``None``, the second with ``''``, so they do not compare
  equal; fixed upstream in sphinx-doc/sphinx#13402, in Sphinx 8.2). sphinx-thebe's copy declares
  ``const THEBE_JS_URL``, so the second one throws "Identifier 'THEBE_JS_URL' has already been
  declared" on every page. We drop repeated inline scripts from each page.
* pydata-sphinx-theme reads the colour mode from the template variable ``default_mode``, which
  jupyter-book leaves empty: every first visit logs "Got invalid theme mode". We default to light
  (the figures are drawn on white); the reader can still switch with the theme button.
* pydata-sphinx-theme 0.17 puts a persistent search button in a top navbar that
  sphinx-book-theme does not use: a second, full-width bar with a search field duplicating the one
  in the sidebar. jupyter-book rebuilds ``html_theme_options`` itself, so it is emptied here.
* The static players of interactive figures arrive from the notebooks with every frame inline, as
  base64 in the page (51-90 % of a chapter's HTML, issue 21). After the build each frame becomes
  an image file ``_images/ntk-frames/<sha256>.png`` (identical frames are stored once) and the
  player lists their addresses; ``ntk_widgets.js`` fetches the neighbours of the current value
  when a reader reaches a player. Every content image gets ``loading="lazy"``.
* A figure directive without ``:alt:`` gets its file name as alt text; the caption is used.
* pydata-sphinx-theme loads the search index and Sphinx's search code in the head of every page,
  blocking its rendering, for a search-as-you-type box this site does not switch on
  (``search_as_you_type`` is off); they stay on search.html only.
* pydata-sphinx-theme loads Font Awesome's whole icon script (1.5 MB, 530 KiB gzipped) with
  ``defer`` before MathJax, so on a slow link raw LaTeX stays on screen until it has arrived. The
  site uses about twenty icons: the script is replaced, at the same address, by one that holds
  only the icons the pages name (their SVG paths copied from the original) and draws them the
  same way (``<i class="fa-solid fa-x">`` becomes ``<svg class="svg-inline--fa fa-x">``).
* The bibliography's labels were sphinxcontrib-bibtex's "alpha" keys (``[JGH18]``), which match
  nothing a reader sees in the text, where citations read "Jacot et al. (2018)". The style
  ``ntk_authoryear`` labels each entry "Jacot et al. 2018" (a, b for twins), sorted by author
  and year, and prints its DOI or link (``bibtex_default_style`` in ``_config.yml``).
* Sphinx's search matches words letter for letter: "Gronwall" found nothing, only "Grönwall".
  Every indexed word with an accent is also indexed without it. And it ranks pages by the words
  they hold, not by the phrase: "spectral bias" listed least_squares before the spectral-bias
  chapter. ``search_scorer.js`` (``html_search_scorer``) puts first a page whose title holds the
  whole query.
* The launch buttons of an assignment page opened the solved page. Binder's opens the student
  handout instead, ``handouts/a<k>/student/a<k>.ipynb``, which ``binder/postBuild`` makes with
  ``python -m ntk_course.assignments build handouts/`` (Colab can open only files of the
  repository, so its button opens the page's own, solved, copy: see the next item).
* The Colab button opened the paired notebook ``book/<page>.ipynb``, whose MyST (``{prf:theorem}``
  blocks, ``{cite:t}`` roles, glued numbers) Colab shows as raw text. It opens the plain-Markdown
  copy ``colab/<page>.ipynb`` instead, which ``python tools/colab.py`` writes from the paired
  notebook (a page without a copy keeps its notebook).
* ``book/_static/custom.css`` (layout tweaks for a laptop screen and a phone) and
  ``book/_static/ntk_widgets.js`` (the static players of the interactive figures, see
  ``ntk_course/chapters/widgets.py``) are added to every page.
"""

from __future__ import annotations

import base64
import hashlib
import html
import io
import json
import os
import re
import struct
from pathlib import Path
from typing import Any

FRAMES = "_images/ntk-frames"
_DATA = re.compile(
    r'(<script type="application/json" class="ntk-widget-data">)(.*?)(</script>)', re.S
)
_FIRST = re.compile(r'(<img class="ntk-widget-frame"[^>]*?)src="data:image/png;base64,([^"]+)"')
_IMG = re.compile(r"<img (?![^>]*\bloading=)")
_ICON = re.compile(r'<(?:i|span)\b[^>]*class="([^"]*\bfa-[^"]*)"')
_ICON_DEF = re.compile(
    r'(?:"([\w-]+)"|\b([A-Za-z_]\w*)):\[(\d+),(\d+),\[[^\]]*\],"[0-9a-f]+","(M[^"]+)"\]'
)
_FA_CLASS = re.compile(r'\.fa-([\w-]+):before\{content:"\\(f[0-9a-f]{3})"\}')
_PUA = re.compile("[\ue000-\uf8ff]")
_PACK = re.compile(r'"(fa[bsr])"')
_SUBSET_MARK = "/* ntk-course: Font Awesome subset */"
_PACKS = {"fa-solid": "fas", "fas": "fas", "fa-brands": "fab", "fab": "fab", "fa-regular": "far"}
_NOT_ICONS = {"fa-lg", "fa-fw", "fa-xs", "fa-sm", "fa-2x", "fa-spin", "fa-solid", "fa-brands"}
_FA_CSS = (
    "svg.svg-inline--fa{display:inline-block;height:1em;overflow:visible;box-sizing:content-box;"
    "vertical-align:-.125em}.svg-inline--fa.fa-lg{vertical-align:-.2em}"
    ".fa-lg{font-size:1.25em;line-height:.05em}.svg-inline--fa.fa-fw{width:1.25em}"
)
_FA_JS = """(function () {
  "use strict";
  var ICONS = %s, PACKS = %s;
  var style = document.createElement("style");
  style.textContent = %s;
  document.head.appendChild(style);
  var NS = "http://www.w3.org/2000/svg";
  function draw(el) {
    var classes = (el.getAttribute("class") || "").split(/\\s+/), pack = "fas", icon = null;
    classes.forEach(function (c) { if (PACKS[c]) { pack = PACKS[c]; } });
    classes.forEach(function (c) {
      var name = c.slice(3);
      if (c.indexOf("fa-") === 0 && ICONS[pack] && ICONS[pack][name]) { icon = ICONS[pack][name]; }
    });
    if (!icon) { return; }
    var svg = document.createElementNS(NS, "svg");
    for (var i = 0; i < el.attributes.length; i++) {
      svg.setAttribute(el.attributes[i].name, el.attributes[i].value);
    }
    svg.setAttribute("class", "svg-inline--fa " + classes.join(" "));
    svg.setAttribute("viewBox", "0 0 " + icon[0] + " " + icon[1]);
    svg.setAttribute("aria-hidden", "true");
    svg.setAttribute("focusable", "false");
    var path = document.createElementNS(NS, "path");
    path.setAttribute("fill", "currentColor");
    path.setAttribute("d", icon[2]);
    svg.appendChild(path);
    el.parentNode.replaceChild(svg, el);
  }
  var SELECTOR = "i[class*='fa-'], span[class*='fa-']";
  function run(node) {
    if (node.matches && node.matches(SELECTOR)) { draw(node); return; }
    node.querySelectorAll(SELECTOR).forEach(draw);
  }
  function start() {
    run(document);
    new MutationObserver(function (records) {
      records.forEach(function (r) {
        r.addedNodes.forEach(function (n) { if (n.nodeType === 1) { run(n); } });
      });
    }).observe(document.body, { childList: true, subtree: true });
  }
  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", start);
  } else {
    start();
  }
})();
"""


def _theme_defaults(app: Any, config: Any) -> None:
    config.html_theme_options.setdefault("navbar_persistent", [])
    if not config.html_search_scorer:  # a page whose title holds the query first (the JS says why)
        config.html_search_scorer = str(Path(__file__).with_name("search_scorer.js"))
    context = dict(config.html_context or {})
    context.setdefault("default_mode", "light")
    config.html_context = context


def _add_static_files(app: Any) -> None:
    for static in app.config.html_static_path:
        if (Path(app.confdir) / static / "custom.css").is_file():
            app.add_css_file("custom.css")
            app.add_js_file("ntk_widgets.js")
            return


def _drop_repeated_inline_scripts(
    app: Any, pagename: str, templatename: str, context: dict, doctree: Any
) -> None:
    scripts = context.get("script_files")
    if not scripts:
        return
    seen: set[tuple[str, ...]] = set()
    kept = []
    for script in scripts:
        filename = getattr(script, "filename", None)
        attributes = getattr(script, "attributes", {}) or {}
        key = ("file", filename) if filename else ("inline", str(attributes.get("body", "")))
        if key in seen:
            continue
        seen.add(key)
        kept.append(script)
    if len(kept) < len(scripts):
        context["script_files"] = kept


def _png_size(png: bytes) -> tuple[int, int]:
    return struct.unpack(">II", png[16:24])


_SEARCH_SCRIPTS = re.compile(
    r'\s*<script src="[^"]*(?:_static/searchtools\.js|_static/language_data\.js|searchindex\.js)'
    r'[^"]*"></script>'
)


def _externalise_frames(page: Path, outdir: Path, keep_search: bool = True) -> None:
    """Move a page's inline player frames into image files and list their addresses instead."""
    text = page.read_text(encoding="utf-8")
    frames_dir = outdir / FRAMES
    prefix = Path(os.path.relpath(frames_dir, page.parent)).as_posix()

    def store(encoded: str) -> tuple[str, bytes]:
        png = base64.b64decode(encoded)
        name = hashlib.sha256(png).hexdigest()[:20] + ".png"
        frames_dir.mkdir(parents=True, exist_ok=True)
        if not (frames_dir / name).is_file():
            (frames_dir / name).write_bytes(png)
        return f"{prefix}/{name}", png

    def data(match: re.Match) -> str:
        payload = json.loads(match.group(2))
        if "frames" in payload:
            payload["urls"] = [store(f)[0] for f in payload.pop("frames")]
        return match.group(1) + json.dumps(payload) + match.group(3)

    def first(match: re.Match) -> str:
        url, png = store(match.group(2))
        width, height = _png_size(png)
        return f'{match.group(1)}width="{width}" height="{height}" src="{url}"'

    def caption_alt(match: re.Match) -> str:  # a figure's alt is its file name: use its caption
        block = match.group(0)
        img = re.search(r'<img [^>]*?alt="([^"]*)" src="([^"]*)"', block)
        caption = re.search(r'<span class="caption-text">(.*?)</span>\s*<a', block, re.S)
        if not img or img.group(1) != img.group(2) or not caption:
            return block
        plain = re.sub(r"<[^>]+>|\\[()]", "", caption.group(1))
        words = html.escape(" ".join(plain.split()))
        return block.replace(f'alt="{img.group(1)}"', f'alt="{words}"', 1)

    new = re.sub(r"<figure\b.*?</figure>", caption_alt, text, flags=re.S)
    if not keep_search and page.name != "search.html":
        new = _SEARCH_SCRIPTS.sub("", new)
    new = _DATA.sub(data, new)
    new = _FIRST.sub(first, new)
    new = _IMG.sub('<img loading="lazy" decoding="async" ', new)
    if new != text:
        page.write_text(new, encoding="utf-8")


def _subset_icons(outdir: Path, pages: list[Path]) -> None:
    """Replace Font Awesome's script by one holding only the icons the pages use."""
    script = outdir / "_static" / "scripts" / "fontawesome.js"
    if not script.is_file():
        return
    source = script.read_text(encoding="utf-8")
    if source.startswith(_SUBSET_MARK):
        return
    wanted: dict[str, set[str]] = {}
    for page in pages:
        for classes in _ICON.findall(page.read_text(encoding="utf-8")):
            names = classes.split()
            pack = next((_PACKS[c] for c in names if c in _PACKS), "fas")
            wanted.setdefault(pack, set()).update(
                c[3:] for c in names if c.startswith("fa-") and c not in _NOT_ICONS
            )
    packs = [(m.start(), m.group(1)) for m in _PACK.finditer(source)]
    icons: dict[str, dict[str, list]] = {}
    for match in _ICON_DEF.finditer(source):
        name = match.group(1) or match.group(2)
        # an icon table ends where it is registered under its pack's prefix
        pack = next((p for at, p in packs if at > match.end()), None)
        if pack in wanted and name in wanted[pack] and name not in icons.get(pack, {}):
            width, height, path = int(match.group(3)), int(match.group(4)), match.group(5)
            icons.setdefault(pack, {})[name] = [width, height, path]
    packs_js = json.dumps({c: p for c, p in _PACKS.items()})
    subset = _FA_JS % (json.dumps(icons), packs_js, json.dumps(_FA_CSS))
    script.write_text(_SUBSET_MARK + "\n" + subset, encoding="utf-8")


def _subset_icon_fonts(outdir: Path, pages: list[Path]) -> None:
    """Cut Font Awesome's web fonts (270 KiB that a page loads for a few glyphs drawn by CSS) down
    to the glyphs the site's style sheets and pages name, as WOFF files the theme's CSS points
    to instead."""
    css_path = outdir / "_static" / "styles" / "pydata-sphinx-theme.css"
    fonts = outdir / "_static" / "vendor" / "fontawesome" / "webfonts"
    if not css_path.is_file() or not fonts.is_dir():
        return
    css = css_path.read_text(encoding="utf-8")
    if "-subset.woff" in css:
        return
    from fontTools import subset

    code = {m.group(1): int(m.group(2), 16) for m in _FA_CLASS.finditer(css)}
    wanted = {ord(c) for c in _PUA.findall(css)}  # the theme's own icons, as literal characters
    for other in (outdir / "_static").rglob("*.css"):
        text = other.read_text(encoding="utf-8", errors="replace")
        wanted |= {ord(c) for c in _PUA.findall(text)}
        if other != css_path:
            wanted |= {int(h, 16) for h in re.findall(r"\\(f[0-9a-f]{3})", text)}
    for page in pages:
        for classes in _ICON.findall(page.read_text(encoding="utf-8")):
            wanted |= {code[c[3:]] for c in classes.split() if c[3:] in code}
    for font in sorted(fonts.glob("fa-*.woff2")):
        if not font.with_suffix(".ttf").is_file():
            continue
        options = subset.Options()
        options.flavor = "woff"  # zlib: no brotli needed to read the .ttf or write this
        face = subset.load_font(str(font.with_suffix(".ttf")), options)
        subsetter = subset.Subsetter(options)
        subsetter.populate(unicodes=sorted(wanted))
        subsetter.subset(face)
        small = font.with_name(font.stem + "-subset.woff")
        subset.save_font(face, str(small), options)
        css = css.replace(
            f'url(../vendor/fontawesome/webfonts/{font.name}) format("woff2")',
            f'url(../vendor/fontawesome/webfonts/{small.name}) format("woff")',
        )
    css_path.write_text(css, encoding="utf-8")


def _palette_images(outdir: Path) -> None:
    """Store the pages' opaque PNG figures with a 256-colour palette when that is smaller (plots
    have few colours; this about halves them)."""
    from PIL import Image

    for png in sorted((outdir / "_images").glob("*.png")):
        with Image.open(png) as image:
            if image.mode == "P":
                continue
            rgba = image.convert("RGBA")
        if rgba.getextrema()[3][0] < 255:
            continue  # transparent pixels: left as they are
        out = io.BytesIO()
        rgba.convert("RGB").quantize(256, method=Image.Quantize.MEDIANCUT).save(
            out, format="PNG", optimize=True
        )
        if out.tell() < png.stat().st_size * 0.9:
            png.write_bytes(out.getvalue())


def _register_bibliography_style() -> None:
    """The pybtex style ``ntk_authoryear``: unsrt's entries with author-year labels."""
    from pybtex.plugin import register_plugin
    from pybtex.richtext import Text
    from pybtex.style.formatting.unsrt import Style as UnsrtStyle
    from pybtex.style.labels import BaseLabelStyle

    def surname(person: Any) -> str:
        return Text.from_latex(" ".join(person.prelast_names + person.last_names)).render_as("text")

    class AuthorYearLabels(BaseLabelStyle):
        def format_labels(self, sorted_entries: Any) -> Any:
            labels = []
            for entry in sorted_entries:
                people = entry.persons.get("author") or entry.persons.get("editor") or []
                names = [surname(p) for p in people]
                who = (
                    f"{names[0]} et al."
                    if len(names) > 2
                    else " & ".join(names) or entry.fields.get("title", entry.key)[:20]
                )
                labels.append(f"{who} {entry.fields.get('year', '')}".strip())
            seen: dict[str, int] = {}
            for label in labels:
                seen[label] = seen.get(label, 0) + 1
            twins: dict[str, int] = {}
            for label in labels:
                if seen[label] > 1:
                    twins[label] = twins.get(label, 0) + 1
                    yield label + "abcdefghij"[twins[label] - 1]
                else:
                    yield label

    class AuthorYearStyle(UnsrtStyle):
        default_label_style = AuthorYearLabels
        default_sorting_style = "author_year_title"

    register_plugin("pybtex.style.formatting", "ntk_authoryear", AuthorYearStyle)


def _fold_search_index(outdir: Path) -> None:
    """Index every accented word of searchindex.js under its unaccented spelling too."""
    import unicodedata

    index = outdir / "searchindex.js"
    if not index.is_file():
        return
    text = index.read_text(encoding="utf-8")
    head, _, rest = text.partition("(")
    body = rest[: rest.rstrip().rfind(")")]
    data = json.loads(body)

    def fold(word: str) -> str:
        return "".join(
            c for c in unicodedata.normalize("NFKD", word) if not unicodedata.combining(c)
        )

    for table in ("terms", "titleterms"):
        terms = data.get(table) or {}
        for word in list(terms):
            plain = fold(word)
            if plain == word:
                continue
            docs = terms[word] if isinstance(terms[word], list) else [terms[word]]
            have = terms.get(plain, [])
            have = have if isinstance(have, list) else [have]
            terms[plain] = sorted(set(have) | set(docs))
    index.write_text(
        head + "(" + json.dumps(data, separators=(",", ":"), ensure_ascii=False) + ")",
        encoding="utf-8",
    )


def _after_build(app: Any, exception: Exception | None) -> None:
    if exception is not None or app.builder.format != "html":
        return
    outdir = Path(app.outdir)
    pages = sorted(outdir.rglob("*.html"))
    options = getattr(app.config, "html_theme_options", None) or {}
    for page in pages:
        _externalise_frames(page, outdir, keep_search=bool(options.get("search_as_you_type")))
    _subset_icons(outdir, pages)
    _subset_icon_fonts(outdir, pages)
    _palette_images(outdir)
    _fold_search_index(outdir)


_ASSIGNMENT = re.compile(r"^book/assignments/(a\d+)$")
_REPOSITORY = Path(__file__).resolve().parents[2]  # book/_ext/ sits two levels below the top


def handout_path(pagename: str) -> str | None:
    """The student handout a page's Binder button opens (``None``: the page's own notebook)."""
    match = _ASSIGNMENT.match(pagename)
    return f"handouts/{match.group(1)}/student/{match.group(1)}.ipynb" if match else None


def colab_path(pagename: str, root: Path = _REPOSITORY) -> str | None:
    """The plain-Markdown copy a page's Colab button opens (``None``: the page's own notebook)."""
    if not pagename.startswith("book/"):
        return None
    path = f"colab/{pagename.removeprefix('book/')}.ipynb"
    return path if (root / path).is_file() else None


def _launch_buttons(
    app: Any, pagename: str, templatename: str, context: dict, doctree: Any
) -> None:
    """Binder opens an assignment's student handout, Colab the page's plain-Markdown copy."""
    handout, copy = handout_path(pagename), colab_path(pagename)
    if handout is None and copy is None:
        return
    page = rf"\b{re.escape(pagename)}\.(ipynb|md)\b"

    def walk(buttons: list) -> None:
        for button in buttons:
            if isinstance(button, dict):
                url = button.get("url")
                if isinstance(url, str) and "mybinder" in url and handout:
                    button["url"] = re.sub(page, handout, url)
                    button["tooltip"] = "Launch the student handout on Binder"
                elif isinstance(url, str) and "colab.research.google.com" in url and copy:
                    button["url"] = re.sub(page, copy, url)
                walk(button.get("buttons", []) or [])

    walk(context.get("header_buttons", []) or [])


def setup(app: Any) -> dict[str, Any]:
    _register_bibliography_style()
    app.connect("config-inited", _theme_defaults)
    app.connect("builder-inited", _add_static_files)
    app.connect("html-page-context", _drop_repeated_inline_scripts)
    app.connect("html-page-context", _launch_buttons, priority=900)
    app.connect("build-finished", _after_build)
    return {"version": "1.0", "parallel_read_safe": True, "parallel_write_safe": True}
