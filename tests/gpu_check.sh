#!/usr/bin/env bash
# The GPU check, for a machine with CUDA (CI has none): the tests marked `cuda` (those taking the
# `device` fixture run on the CPU and on the GPU, those taking `gpu` compare the GPU with the CPU),
# then the paper-scale reproduction of Figures 1-3. Logs and figures go to
# _build/gpu_check/; commit gpu_check.log and the reproduction's results.json when they change.
#   bash tests/gpu_check.sh
set -euo pipefail
cd "$(dirname "$0")/.."
python -c "import sys, torch; sys.exit(0 if torch.cuda.is_available() else 'gpu_check: no CUDA device on this machine')"
out=_build/gpu_check
rm -rf "$out" && mkdir -p "$out"
{
  echo "== $(date -u +%FT%TZ) $(python -c 'import torch; print(torch.__version__, torch.cuda.get_device_name(0))')"
  echo "== pytest -m cuda"
  NTK_COURSE_SCALE=quick python -m pytest tests -m cuda -p no:cacheprovider -q
  echo "== python -m ntk_course.reproduce --scale paper --device cuda"
  python -m ntk_course.reproduce --scale paper --device cuda --out "$out/reproduction" --no-progress
} 2>&1 | tee "$out/gpu_check.log"
