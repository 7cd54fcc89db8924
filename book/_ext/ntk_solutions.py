"""``NTK_COURSE_SOLUTIONS=hide``: build the website without the assignments' solutions.

For a teacher who publishes the course to a class: with the variable set to ``hide`` every
sphinx-exercise solution (the ``solution`` directive, and the ``solution-start`` ...
``solution-end`` blocks with the code cells between them) is removed from the pages, and no page
source is copied into the site (``html_copy_source``), so the model answers appear nowhere in it.
sphinx-exercise's own ``hide_solutions`` drops the directive but leaves the gated block's code
cells on the page, hence this transform, which runs before sphinx-exercise merges the blocks.
"""

from __future__ import annotations

import os

from docutils import nodes
from sphinx.application import Sphinx
from sphinx.transforms import SphinxTransform
from sphinx_exercise.nodes import solution_end_node, solution_node, solution_start_node

VARIABLE = "NTK_COURSE_SOLUTIONS"


def hidden() -> bool:
    """Whether this build leaves the solutions out (``NTK_COURSE_SOLUTIONS=hide``)."""
    value = os.environ.get(VARIABLE, "show").strip()
    if value not in ("show", "hide"):
        raise ValueError(f"{VARIABLE} must be 'show' or 'hide'; got {value!r}")
    return value == "hide"


class RemoveSolutions(SphinxTransform):
    """Remove every solution, and every gated solution block with what lies inside it."""

    default_priority = 9  # before sphinx-exercise's MergeGatedSolutions (10)

    def apply(self) -> None:
        if not hidden():
            return
        for node in list(self.document.findall(solution_node)):
            node.parent.remove(node)
        for start in list(self.document.findall(solution_start_node)):
            parent: nodes.Element = start.parent
            first = parent.index(start)
            last = next(
                k for k in range(first, len(parent)) if isinstance(parent[k], solution_end_node)
            )
            for child in parent.children[first : last + 1]:
                parent.remove(child)


def _no_sources(app: Sphinx, config: object) -> None:
    if hidden():
        config.html_copy_source = False


def setup(app: Sphinx) -> dict:
    app.setup_extension("sphinx_exercise")
    app.add_transform(RemoveSolutions)
    app.connect("config-inited", _no_sources)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
