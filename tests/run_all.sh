#!/usr/bin/env bash
# The whole test suite, at the quick scale unless NTK_COURSE_SCALE says otherwise:
#   1. the unit tests, and every chapter and solved assignment executed once under nbval, which
#      compares the cells that print each chapter's key numbers with tests/reference_outputs.json;
#   2. the book built from those executions (jupyter-cache: no chapter runs a second time), with
#      warnings as errors;
#   3. the website in headless Chromium.
#   bash tests/run_all.sh                          (extra arguments go to both pytest runs)
#   NTK_COURSE_SCALE=default bash tests/run_all.sh (the pre-release check: the reader's scale)
set -euo pipefail
cd "$(dirname "$0")/.."
export NTK_COURSE_SCALE="${NTK_COURSE_SCALE:-quick}"
export NTK_COURSE_STRICT_CHECKS=1   # a failed ntk_course.assignments.check raises in the solved assignments
out="$PWD/_build/test"
rm -rf "$out" && mkdir -p "$out"
export NTK_COURSE_JUPYTER_CACHE="$out/jupyter_cache"
start=$SECONDS

echo "== notebooks for nbval (scale: $NTK_COURSE_SCALE)"
python tests/nbval_cache.py prepare "$out/notebooks" >/dev/null

echo "== pytest: unit tests, and each chapter and solved assignment executed once under nbval"
PYTHONPATH=tests python -m pytest tests "$out/notebooks" --ignore tests/test_website.py \
  --nbval-lax --nbval-sanitize-with tests/nbval_sanitize.cfg -p nbval_cache -p no:cacheprovider "$@"

echo "== building the book from nbval's executions (warnings are errors)"
python tests/nbval_cache.py config "$out/_config.yml"
status=0
jupyter-book build . -W --keep-going --config "$out/_config.yml" --path-output "$out" >"$out/build.log" 2>&1 || status=$?
grep -E "WARNING|ERROR|Executing notebook|build succeeded" "$out/build.log" || true
if [ "$status" != 0 ]; then
  tail -40 "$out/build.log" >&2
  echo "error: the book build failed (exit $status; full log in $out/build.log)" >&2
  exit "$status"
fi
if grep -q "Executing notebook" "$out/build.log"; then
  echo "error: the book build executed a notebook that nbval had not run (see $out/build.log)" >&2
  exit 1
fi

echo "== the website in Chromium"
NTK_COURSE_SITE="$out/_build/html" NTK_COURSE_BUILD_LOG="$out/build.log" \
  python -m pytest tests/test_website.py -p no:cacheprovider "$@"
echo "== all passed in $((SECONDS - start)) s (scale: $NTK_COURSE_SCALE)"
