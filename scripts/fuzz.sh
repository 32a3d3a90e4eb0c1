#!/usr/bin/env bash
# Coverage-guided fuzzing of the flux reader (atheris + libFuzzer).
#   scripts/fuzz.sh [SECONDS]        (default: FUZZ_SECONDS, else 3600)
# The corpus grows in artifacts/fuzz/corpus (kept between runs); findings are written to
# artifacts/fuzz/crash-* and make the script fail.  Copy a finding to
# tests/data/fuzz-regressions/ once fixed: the test suite replays that folder.
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-${FUZZ_SECONDS:-3600}}
seeds=$(mktemp -d /tmp/passport-fuzz-seeds.XXXXXX)
trap 'rm -rf "$seeds"' EXIT
mkdir -p artifacts/fuzz/corpus
.venv/bin/python -m tests.fuzz.seeds "$seeds" >/dev/null
cp tests/data/fuzz-regressions/* "$seeds"/ 2>/dev/null || true
jobs=${FUZZ_JOBS:-1}
exec .venv/bin/python -m tests.fuzz.flux_fuzzer -max_total_time="$seconds" -max_len=65536 \
  -timeout=10 -rss_limit_mb=1024 -dict=tests/fuzz/flux.dict -artifact_prefix=artifacts/fuzz/ \
  -print_final_stats=1 -jobs="$jobs" -workers="$jobs" artifacts/fuzz/corpus "$seeds"
