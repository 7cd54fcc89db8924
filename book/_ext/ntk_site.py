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
* ``book/_static/custom.css`` (layout tweaks for a laptop screen) and
  ``book/_static/ntk_widgets.js`` (the static players of the interactive figures, see
  ``ntk_course/chapters/widgets.py``) are added to every page.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any


def _theme_defaults(app: Any, config: Any) -> None:
    config.html_theme_options.setdefault("navbar_persistent", [])
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


def setup(app: Any) -> dict[str, Any]:
    app.connect("config-inited", _theme_defaults)
    app.connect("builder-inited", _add_static_files)
    app.connect("html-page-context", _drop_repeated_inline_scripts)
    return {"version": "1.0", "parallel_read_safe": True, "parallel_write_safe": True}
