"""Figures numbered per chapter: Fig. 1 onwards on every page.

Loaded from _config.yml (``sphinx: local_extensions: {ntk_numbering: book/_ext}``). Sphinx numbers
figures across the whole book when the table of contents is not section-numbered (one counter for
every page, walked in reading order), so a chapter's first figure could be "Fig. 23". Equations
are numbered per page already (``math_numfig: false``); this does the same for figures: once Sphinx
has assigned its numbers (``env-get-updated``), each page's figures are renumbered 1, 2, ... in the
order Sphinx met them. ``{numref}`` reads the same table, so references follow; a reference to a
figure of another page shows that page's number.
"""

from __future__ import annotations

from typing import Any


def _per_page(app: Any, env: Any) -> list[str]:
    """Renumber ``env.toc_fignumbers``: per page, 1, 2, ... in the global order. Runs after
    Sphinx's own numbering (both on ``env-get-updated``; this one later); no page to add to the
    ones Sphinx rewrites, as a page's numbers change only when its global ones do."""
    for numbers in env.toc_fignumbers.values():
        for figtype, by_id in numbers.items():
            if figtype != "figure":
                continue
            order = sorted(by_id, key=lambda figure_id: by_id[figure_id])
            numbers[figtype] = {figure_id: (k,) for k, figure_id in enumerate(order, start=1)}
    return []


def setup(app: Any) -> dict[str, Any]:
    app.connect("env-get-updated", _per_page, priority=900)
    return {"version": "1.0", "parallel_read_safe": True, "parallel_write_safe": True}
