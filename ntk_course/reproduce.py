"""``python -m ntk_course.reproduce``: the paper's Section 6 at any scale.

See :mod:`ntk_course.chapters.reproduce`. A command, not part of the library: it only forwards
to the chapters' reproduction script.
"""

from .chapters.reproduce import main

if __name__ == "__main__":
    main()
