"""What must hold for any input of the flux reader (the fuzzer's oracle, also run on the
regression corpus by the test suite)."""

from __future__ import annotations

import io

from ingestion.errors import READER_CODES
from ingestion.pipeline import Source
from ingestion.validate import ValidationResult, validate

MAX_BYTES = 1 << 20


def check(data: bytes) -> ValidationResult:
    """Validate ``data`` and check the verdict's invariants (raise AssertionError)."""
    result = validate("fuzz.xml", Source(opener=lambda: io.BytesIO(data)), max_bytes=MAX_BYTES,
                      schema_version="1.1.5")
    if result.schema_valid:
        assert not result.errors, result.errors
        for passage in result.passages:
            assert passage["ok"] == (not passage["errors"]), passage
    else:
        assert result.errors, "refused without a reason"
        assert not result.passages, "refused, yet passages were read"
        unknown = {p.code for p in result.errors} - READER_CODES
        assert not unknown, f"unstable codes {unknown}"
        for problem in result.errors:
            assert problem.message, problem
            assert problem.line is None or problem.line >= 1, problem
            assert problem.column is None or problem.column >= 1, problem
    return result
