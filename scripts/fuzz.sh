#!/usr/bin/env bash
# Coverage-guided fuzzing of the flux reader (atheris + libFuzzer).
#   scripts/fuzz.sh [SECONDS]        (default: FUZZ_SECONDS, else 3600)
#   FUZZ_JOBS=N                      N fuzzing processes in parallel (default 1)
#   FUZZ_DIR=DIR                     corpus, findings and job logs (default artifacts/fuzz)
# The corpus grows in DIR/corpus (kept between runs); findings are written to
# DIR/crash-* (or timeout-*, oom-*) and make the script fail.  Copy a finding to
# tests/data/fuzz-regressions/ once fixed: the test suite replays that folder.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
seconds=${1:-${FUZZ_SECONDS:-3600}}
jobs=${FUZZ_JOBS:-1}
dir=${FUZZ_DIR:-artifacts/fuzz}
mkdir -p "$dir/corpus"
dir=$(cd "$dir" && pwd)
seeds=$(mktemp -d /tmp/passport-fuzz-seeds.XXXXXX)
trap 'rm -rf "$seeds"' EXIT
"$root/.venv/bin/python" -m tests.fuzz.seeds "$seeds" >/dev/null
cp tests/data/fuzz-regressions/* "$seeds"/ 2>/dev/null || true
args=(-max_total_time="$seconds" -max_len=65536 -timeout=10 -rss_limit_mb=1024
      -dict="$root/tests/fuzz/flux.dict" -artifact_prefix="$dir/" -print_final_stats=1)
if [ "$jobs" -gt 1 ]; then
  # libFuzzer's parallel mode starts each job by running the fuzzer's own file again (so it
  # is executable, and finds the virtual environment's python first on PATH) and writes
  # each job's output to fuzz-N.log in the working directory: DIR.
  export PATH="$root/.venv/bin:$PATH" PYTHONPATH="$root${PYTHONPATH:+:$PYTHONPATH}"
  cd "$dir"
  args+=(-jobs="$jobs" -workers="$jobs")
fi
"$root/.venv/bin/python" -m tests.fuzz.flux_fuzzer "${args[@]}" "$dir/corpus" "$seeds"
