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
from ingestion.rules import Checked


def positioned(rejected: FileRejected, source: Source, *, max_bytes: int,
               schema_version: str) -> list[FileProblem]:
    """The problems of a rejection, unpositioned ones (schema errors, parser errors libxml2
    swallowed) replaced by the diagnostic pass's positioned and classified ones."""
    problems = rejected.problems
    if not any(p.kind == "XSD" or p == UNLOCATED_SYNTAX_ERROR for p in problems):
        return problems
    located = locate_problems(source.open, max_bytes=max_bytes, schema_version=schema_version,
                              valid_passages=rejected.valid_passages)
    return located or problems


@dataclass
class ValidationResult:
    """Verdict on one file (`as_dict`: the JSON shape of ``passport flux validate --json``)."""

    file: str
    schema_valid: bool
    errors: list[FileProblem] = field(default_factory=list)
    #: Every passage's verdict; with ``listed``, only the first flagged ones (KO or warned).
    passages: list[dict[str, Any]] = field(default_factory=list)
    passages_total: int = 0
    passages_ko: int = 0
    #: Flagged passages ``listed`` left out.
    flagged_left_out: int = 0

    def as_dict(self) -> dict[str, Any]:
        """JSON shape."""
        return {
            "file": self.file,
            "schema_valid": self.schema_valid,
            "errors": [e.as_dict() for e in self.errors],
            "passages": self.passages,
        }

    def count(self, checked: Checked, listed: int | None) -> None:
        """Count a checked passage; keep its verdict unless ``listed`` leaves it out."""
        self.passages_total += 1
        self.passages_ko += not checked.ok
        if listed is not None:
            if checked.ok and not checked.warnings:
                return
            if len(self.passages) >= listed:
                self.flagged_left_out += 1
                return
        self.passages.append({
            "id_technique": checked.id_technique,
            "ok": checked.ok,
            "messages": [e.message for e in checked.errors],
            "errors": [e.as_dict() for e in checked.errors],
            "warnings": [w.as_dict() for w in checked.warnings],
        })

    def forget_passages(self) -> None:
        """Back to no passage (a read starting again, or a file refused)."""
        self.passages = []
        self.passages_total = self.passages_ko = self.flagged_left_out = 0


def validate(
    name: str,
    source: Source,
    *,
    max_bytes: int,
    schema_version: str = "1.1.5",
    subprocess_min_bytes: int | None = None,
    listed: int | None = None,
) -> ValidationResult:
    """Run gate, schema and rules (no NIRisation, no duplicates: those need the store).

    Every passage's verdict is kept, or with ``listed`` only the first ``listed`` flagged
    ones, the rest counted: memory then stays flat in the file's size (the dry-run API).
    """
    result = ValidationResult(name, True)

    def run(prescanned: Prescan | None) -> None:
        result.forget_passages()
        for batch in read_checked(source, max_bytes=max_bytes, schema_version=schema_version,
                                  batch_size=2000, prescanned=prescanned,
                                  subprocess_min_bytes=subprocess_min_bytes):
            for _cert, checked in batch.items:
                result.count(checked, listed)

    try:
        try:
            run(None)
        except NeedsPrescan:
            run(prescan(open_gated(source.open, max_bytes)))
    except FileRejected as exc:
        result.forget_passages()
        result.schema_valid = False
        result.errors = positioned(
            exc, source, max_bytes=max_bytes, schema_version=schema_version
        )
    return result
