#!/usr/bin/env bash
# The whole test suite at the quick scale: the book built once with warnings as errors, the unit
# tests, every chapter and solved assignment executed under nbval, and the website in a browser.
#   bash tests/run_all.sh            (extra arguments go to pytest)
set -euo pipefail
cd "$(dirname "$0")/.."
export NTK_COURSE_SCALE="${NTK_COURSE_SCALE:-quick}"
export NTK_COURSE_STRICT_CHECKS=1   # a failed ntk_course.grading.check raises in the solved assignments
out=_build/test
rm -rf "$out" && mkdir -p "$out/notebooks"

echo "== building the book (scale: $NTK_COURSE_SCALE, warnings are errors)"
jupyter-book build . -W --keep-going --path-output "$out"
export NTK_COURSE_SITE="$PWD/$out/_build/html"

echo "== converting the chapters and solved assignments to notebooks for nbval"
for md in $(grep -l '^kernelspec:' book/*.md book/assignments/*.md 2>/dev/null); do
  name=$(echo "${md#book/}" | tr '/' '_')
  jupytext --quiet --to ipynb --output "$out/notebooks/${name%.md}.ipynb" "$md"
done

echo "== pytest: unit tests, nbval, website"
python -m pytest tests "$out/notebooks" --nbval-lax -p no:cacheprovider "$@"
