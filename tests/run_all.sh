#!/usr/bin/env bash
# The whole test suite, at the quick scale unless NTK_COURSE_SCALE says otherwise:
#   0. prerequisites, in seconds and before any work: the packages of requirements.txt are installed
#      (ntk_course from this checkout) and a Chromium runs: $NTK_COURSE_CHROMIUM, Debian's
#      /usr/bin/chromium or Playwright's own. With none, the script gets one itself: Debian's chromium
#      with apt-get when run as root, else Playwright's (python -m playwright install chromium). If
#      that fails too it stops at once and prints the one command that fixes it;
#   1. ruff (lint and format) and the examples in the library's docstrings; then the unit tests,
#      and every chapter and solved assignment executed once under nbval, which compares the cells
#      that print each chapter's key numbers with tests/reference_outputs.json;
#   2. the book built from those executions (jupyter-cache: no chapter runs a second time), with
#      warnings as errors;
#   3. the website in headless Chromium.
#   bash tests/run_all.sh                          (extra arguments go to both pytest runs)
#   bash tests/run_all.sh --check                  (step 0 only: exit 0 when the suite can run)
#   NTK_COURSE_WEBSITE=skip bash tests/run_all.sh  (no browser needed: steps 0-2 only, the end says
#                                                   that the website test did not run, exit 0)
#   NTK_COURSE_SCALE=default bash tests/run_all.sh (the pre-release check: the reader's scale)
#   NTK_COURSE_WORKERS=0 bash tests/run_all.sh     (one process; by default pytest-xdist runs one
#                                                   worker per core, at most 4)
# With CI=true nothing is skipped: a browser that cannot be had fails at once, and
# NTK_COURSE_WEBSITE=skip is refused.
set -euo pipefail
cd "$(dirname "$0")/.."
check_only=0
if [ "${1:-}" = "--check" ]; then check_only=1; shift; fi
export NTK_COURSE_SCALE="${NTK_COURSE_SCALE:-quick}"
export NTK_COURSE_STRICT_CHECKS=1   # a failed ntk_course.assignments.check raises in the solved assignments
start=$SECONDS
case "$(printf %s "${CI:-}" | tr '[:upper:]' '[:lower:]')" in true | 1 | yes) in_ci=1 ;; *) in_ci=0 ;; esac
website="${NTK_COURSE_WEBSITE:-run}"
skip_cmd="NTK_COURSE_WEBSITE=skip bash tests/run_all.sh"

stop() {  # stop "<what is wrong>" "<the command that fixes it>" [opt-out allowed: 1]
  echo "error: $1" >&2
  echo "fix:   $2" >&2
  if [ "${3:-0}" = 1 ] && [ "$in_ci" = 0 ]; then
    echo "or run everything but the website test: $skip_cmd" >&2
  fi
  exit 1
}

# --------------------------------------------------------------------------- 0. prerequisites
echo "== prerequisites (python: $(command -v python))"
case "$website" in
  run) ;;
  skip) if [ "$in_ci" = 1 ]; then
          stop "CI=true runs everything: NTK_COURSE_WEBSITE=skip is refused in CI" "unset NTK_COURSE_WEBSITE"
        fi ;;
  *) stop "NTK_COURSE_WEBSITE=$website: expected 'run' (the default) or 'skip'" "$skip_cmd" ;;
esac

if ! problems=$(python - 2>&1 <<'EOF'
import importlib.metadata as md, importlib.util, pathlib, sys
try:
    from packaging.requirements import Requirement
except ImportError:
    from pip._vendor.packaging.requirements import Requirement
missing = []
for line in pathlib.Path("requirements.txt").read_text().splitlines():
    line = line.split(" #")[0].strip()
    if line and not line.startswith(("#", "-")):
        requirement = Requirement(line)
        if requirement.marker is not None and not requirement.marker.evaluate():
            continue
        try:
            md.version(requirement.name)
        except md.PackageNotFoundError:
            missing.append(line)
if missing:
    sys.exit("packages missing: " + " ".join(missing))
# Found, not imported: importing torch alone takes 3 s to 20 s on 2 busy cores.
for module in ("ntk_course", "torch", "pytest", "nbval", "jupyter_book", "playwright.sync_api"):
    try:
        spec = importlib.util.find_spec(module)
    except Exception as error:  # noqa: BLE001 - report whatever breaks the lookup
        sys.exit(f"python cannot find {module}: {type(error).__name__}: {error}")
    if spec is None:
        sys.exit(f"python cannot find {module}")
where = pathlib.Path(importlib.util.find_spec("ntk_course").origin).resolve().parent.parent
if where != pathlib.Path.cwd().resolve():
    sys.exit(f"python finds ntk_course in {where}, not in this checkout {pathlib.Path.cwd()}")
EOF
); then
  stop "${problems##*$'\n'}" "python -m pip install -r requirements.txt"
fi
echo "   packages of requirements.txt: installed (ntk_course from this checkout)"

browser=""
why=""        # what was tried, for the message when no browser can be had
tried() { case "$why" in *"; $1"*) ;; *) why+="; $1" ;; esac; }
runs() {      # runs <path>: a browser there that starts (--version loads its shared libraries)
  [ -n "$1" ] && [ -f "$1" ] && [ -x "$1" ] || { tried "no browser at $1"; return 1; }
  local out
  if out=$(timeout 60 "$1" --version 2>/dev/null); then browser=$1; version=${out%%$'\n'*}; return 0; fi
  out=$(timeout 60 "$1" --version 2>&1 || true)
  tried "$1 does not start: $(printf '%s' "$out" | grep -v '^\s*$' | tail -1 || true)"
  return 1
}
own=""        # where Playwright's own Chromium is, or would be once installed (asked once)
playwright_chromium() {
  [ -n "$own" ] || own=$(python -c 'from playwright.sync_api import sync_playwright
with sync_playwright() as p: print(p.chromium.executable_path)' 2>/dev/null || true)
}
find_browser() {
  if [ -n "${NTK_COURSE_CHROMIUM:-}" ]; then
    runs "$NTK_COURSE_CHROMIUM" || true
  else
    runs /usr/bin/chromium || { playwright_chromium; runs "$own"; } || true
  fi
}

if [ "$website" = run ]; then
  find_browser
  if [ -z "$browser" ] && [ -n "${NTK_COURSE_CHROMIUM:-}" ]; then
    stop "NTK_COURSE_CHROMIUM=$NTK_COURSE_CHROMIUM is not a Chromium that starts (${why#; })" \
      "unset NTK_COURSE_CHROMIUM, or point it at a Chromium" 1
  fi
  as_root=0
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then as_root=1; fi
  log=$(mktemp)
  trap 'rm -f "$log"' EXIT
  if [ -z "$browser" ] && [ "$as_root" = 1 ]; then
    echo "   no browser: installing Debian's chromium (apt-get, as root) ..."
    if timeout 600 sh -c 'apt-get -qq -o Acquire::Retries=0 -o Acquire::http::Timeout=20 update &&
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends chromium fonts-dejavu-core' \
        >"$log" 2>&1; then
      runs /usr/bin/chromium || true
    else
      why+="; apt-get install chromium failed: $(grep -v '^\s*$' "$log" | tail -1 || true)"
    fi
  fi
  if [ -z "$browser" ]; then
    echo "   no browser: downloading Playwright's Chromium (python -m playwright install chromium) ..."
    if PLAYWRIGHT_DOWNLOAD_CONNECTION_TIMEOUT="${PLAYWRIGHT_DOWNLOAD_CONNECTION_TIMEOUT:-20000}" \
        timeout 600 python -m playwright install chromium >"$log" 2>&1; then
      playwright_chromium; runs "$own" || true
    else
      why+="; python -m playwright install chromium failed: $(grep -m1 -E '^Error' "$log" || true)"
    fi
  fi
  if [ -z "$browser" ]; then
    if [ "$as_root" = 1 ]; then
      fix="apt-get update && apt-get install -y --no-install-recommends chromium fonts-dejavu-core"
    else
      fix="python -m playwright install --with-deps chromium"
    fi
    stop "no Chromium for the website test (${why#; })" "$fix" 1
  fi
  export NTK_COURSE_CHROMIUM="$browser"
  echo "   browser: $browser ($version)"
else
  echo "   browser: not looked for (NTK_COURSE_WEBSITE=skip): the website test will not run"
fi
# The grading tests run students' code in Debian's bubblewrap sandbox (tests/test_grade_class.py).
if ! command -v bwrap >/dev/null; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    echo "   no bubblewrap: installing Debian's bubblewrap (apt-get, as root) ..."
    timeout 600 sh -c 'apt-get -qq -o Acquire::Retries=0 update &&
      DEBIAN_FRONTEND=noninteractive apt-get install -y -qq bubblewrap' >/dev/null 2>&1 || true
  fi
  command -v bwrap >/dev/null || stop "no bubblewrap (bwrap) for the grading sandbox" \
    "apt-get update && apt-get install -y bubblewrap"
fi
echo "   sandbox: $(command -v bwrap)"
echo "== prerequisites met in $((SECONDS - start)) s"
if [ "$check_only" = 1 ]; then
  [ "$website" = skip ] && echo "not run: the website test (tests/test_website.py), because NTK_COURSE_WEBSITE=skip"
  exit 0
fi

# --------------------------------------------------------------------------- 1a. style and examples
echo "== ruff: lint and format (lines <= 100; configuration in pyproject.toml)"
ruff check --no-cache .
ruff format --no-cache --check .
echo "== doctests: the examples in the library's docstrings"
python -m pytest --doctest-modules ntk_course --ignore=ntk_course/chapters \
  --ignore=ntk_course/assignments --ignore=ntk_course/reproduce.py -p no:cacheprovider -q

# --------------------------------------------------------------------------- 1b. pytest and nbval
# Workers: one per core, at most 4 (NTK_COURSE_WORKERS overrides; 0 runs in one process).
cores=$(python -c 'import os; print(len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count())')
workers="${NTK_COURSE_WORKERS:-$((cores < 4 ? cores : 4))}"
case "$workers" in '' | *[!0-9]*) stop "NTK_COURSE_WORKERS=$workers: expected a number of workers (0: one process)" "unset NTK_COURSE_WORKERS" ;; esac
threads="${OMP_NUM_THREADS:-}"
if [ -z "$threads" ] && [ "$workers" -ge 2 ]; then threads=1; fi
out="$PWD/_build/test"
rm -rf "$out" && mkdir -p "$out"
export NTK_COURSE_JUPYTER_CACHE="$out/jupyter_cache"

echo "== notebooks for nbval (scale: $NTK_COURSE_SCALE)"
python tests/nbval_cache.py prepare "$out/notebooks" >/dev/null

echo "== pytest: unit tests, and each chapter and solved assignment executed once under nbval" \
  "($workers workers)"
# pytest-xdist: a test file (a notebook's cells with it) runs whole on one worker, in order; one
# torch thread per worker (OMP_NUM_THREADS), as the workers already use every core between them.
env PYTHONPATH=tests ${threads:+OMP_NUM_THREADS=$threads} python -m pytest tests "$out/notebooks" \
  --ignore tests/test_website.py -n "$workers" --dist loadfile \
  --nbval-lax --nbval-sanitize-with tests/nbval_sanitize.cfg -p nbval_cache -p no:cacheprovider "$@"

# --------------------------------------------------------------------------- 2. the book
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

# --------------------------------------------------------------------------- 3. the website
if [ "$website" = skip ]; then
  echo "== passed in $((SECONDS - start)) s (scale: $NTK_COURSE_SCALE)"
  echo "not run: the website test (tests/test_website.py), because NTK_COURSE_WEBSITE=skip;" \
    "with a browser, run it with: bash tests/run_all.sh"
  exit 0
fi
echo "== the website in Chromium ($NTK_COURSE_CHROMIUM)"
status=0
# A page's tests run on one worker (xdist_group), which opens the page once for all of them.
NTK_COURSE_SITE="$out/_build/html" NTK_COURSE_BUILD_LOG="$out/build.log" \
  python -m pytest tests/test_website.py -n "$workers" --dist loadgroup -p no:cacheprovider "$@" \
  || status=$?
if [ "$status" = 5 ]; then
  echo "error: the website step ran no test (pytest exit 5, 'no tests ran'); its skip reason is above" >&2
  exit 1
fi
[ "$status" = 0 ] || exit "$status"
echo "== all passed in $((SECONDS - start)) s (scale: $NTK_COURSE_SCALE)"
