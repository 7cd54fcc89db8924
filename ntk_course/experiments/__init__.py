"""The paper's numerical experiments (Section 6), one module per figure, shared by the chapters and
by ``python -m ntk_course.reproduce``. Each module has a settings dataclass with ``for_scale()``, a
``run(settings, device=...)`` that returns a result dataclass, and a ``plot(result, ...)``."""
