"""What the chapters of the book run: figure experiments, scans over widths and depths, steps of the
proofs checked numerically, the plotting style and the widgets.

The paper's Figures 1-3 (:mod:`.figure1`, :mod:`.figure2`, :mod:`.figure3`, run at any scale by
``python -m ntk_course.reproduce``), networks at initialisation (:mod:`.initialisation`),
finite-width scans (:mod:`.finite_width`), Proposition 2 step by step (:mod:`.positivity`), where
the kernel regime stops (:mod:`.parametrisation`, :mod:`.laziness`, :mod:`.depth`), and the figure
style and widgets (:mod:`.plotting`, :mod:`.widgets`). A chapter's module may keep parts in
modules of their own (:mod:`.figure3_pca`, :mod:`.figure3_plots`, :mod:`.generalisation_plots`,
:mod:`.spectral_bias_settings`, :mod:`.spectral_bias_plots`) and re-export them, so that a chapter
imports one module. Everything here builds on the library, ``ntk_course``; the library never
imports from here.
"""
