#!/usr/bin/env python3
"""Coverage-guided fuzzing of the ingestion entry point (byte gate → parser → schema →
diagnosis → business rules) with atheris.

    make fuzz                         # the long run (FUZZ_SECONDS, default 1 hour)
    .venv/bin/python -m tests.fuzz.flux_fuzzer -max_total_time=60 CORPUS_DIR SEED_DIR

Each input is validated as `passport flux validate` does; `tests.fuzz.invariants` is the
oracle.  A finding is any exception out of `validate` (a bug: every refusal must be a
`FileRejected` turned into problems), a refusal without a stable code from
`ingestion.errors.READER_CODES`, a verdict that contradicts itself, or a native crash.
libFuzzer writes the input to ``artifacts/fuzz/crash-…``; once fixed, copy it to
``tests/data/fuzz-regressions/``: tests/integration/test_fuzz.py replays that folder.
"""

from __future__ import annotations

import sys

import atheris

with atheris.instrument_imports(include=["ingestion"]):
    import ingestion.validate  # noqa: F401 -- instrumented for coverage feedback
    from tests.fuzz.invariants import check

def main() -> None:
    atheris.Setup(sys.argv, check)
    atheris.Fuzz()


if __name__ == "__main__":
    main()
