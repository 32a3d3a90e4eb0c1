"""Check a file without touching the database: bytes, schema, per-passage business rules."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ingestion.diagnose import locate_problems
from ingestion.errors import FileProblem, FileRejected
from ingestion.parser import (
    UNLOCATED_SYNTAX_ERROR,
    NeedsPrescan,
    Prescan,
    open_gated,
    prescan,
)
from ingestion.pipeline import Source, read_checked


def positioned(
    problems: list[FileProblem], source: Source, *, max_bytes: int, schema_version: str
) -> list[FileProblem]:
    """Replace unpositioned problems (schema errors, parser errors libxml2 swallowed) by the
    diagnostic pass's positioned and classified ones."""
    if not any(p.kind == "XSD" or p == UNLOCATED_SYNTAX_ERROR for p in problems):
        return problems
    located = locate_problems(source.open, max_bytes=max_bytes, schema_version=schema_version)
    return located or problems


@dataclass
class ValidationResult:
    """Verdict on one file (the JSON shape of ``passport flux validate --json``)."""

    file: str
    schema_valid: bool
    errors: list[FileProblem] = field(default_factory=list)
    passages: list[dict[str, Any]] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        """JSON shape."""
        return {
            "file": self.file,
            "schema_valid": self.schema_valid,
            "errors": [e.as_dict() for e in self.errors],
            "passages": self.passages,
        }


def validate(
    name: str,
    source: Source,
    *,
    max_bytes: int,
    schema_version: str = "1.1.5",
    subprocess_min_bytes: int | None = None,
) -> ValidationResult:
    """Run gate, schema and rules (no NIRisation, no duplicates: those need the store)."""

    def run(prescanned: Prescan | None) -> list[dict[str, Any]]:
        passages = []
        for batch in read_checked(source, max_bytes=max_bytes, schema_version=schema_version,
                                  batch_size=2000, prescanned=prescanned,
                                  subprocess_min_bytes=subprocess_min_bytes):
            for _cert, checked in batch.items:
                passages.append({
                    "id_technique": checked.id_technique,
                    "ok": checked.ok,
                    "messages": [e.message for e in checked.errors],
                    "errors": [e.as_dict() for e in checked.errors],
                    "warnings": [w.as_dict() for w in checked.warnings],
                })
        return passages

    result = ValidationResult(name, True)
    try:
        try:
            result.passages = run(None)
        except NeedsPrescan:
            result.passages = run(prescan(open_gated(source.open, max_bytes)))
    except FileRejected as exc:
        result.schema_valid = False
        result.errors = positioned(
            exc.problems, source, max_bytes=max_bytes, schema_version=schema_version
        )
    return result
