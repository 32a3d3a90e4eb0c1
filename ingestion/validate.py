"""Check a file without touching the database: bytes, schema, per-passage business rules."""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import IO, Any

import orjson

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


class Spool:
    """Passage verdicts as JSON lines in an anonymous temporary file, for a caller that lists
    every passage of a file of any size: 200,000 verdicts held as Python objects are ~210 MB.

    Has the list methods ``ValidationResult`` uses (``append``, ``clear``, ``len``, iteration).
    """

    def __init__(self) -> None:
        self._file = tempfile.TemporaryFile()  # noqa: SIM115 - closed by `close`
        self._count = 0

    def append(self, verdict: dict[str, Any]) -> None:
        """Write one verdict (orjson escapes every control character: one line each)."""
        self._file.write(orjson.dumps(verdict, option=orjson.OPT_APPEND_NEWLINE))
        self._count += 1

    def clear(self) -> None:
        """Forget every verdict."""
        self._file.seek(0)
        self._file.truncate()
        self._count = 0

    def __len__(self) -> int:
        return self._count

    def lines(self) -> Iterator[bytes]:
        """Each verdict's JSON, in order, without its newline."""
        self._file.seek(0)
        for line in self._file:
            yield line[:-1]
        self._file.seek(0, 2)

    def __iter__(self) -> Iterator[dict[str, Any]]:
        return (orjson.loads(line) for line in self.lines())

    def close(self) -> None:
        """Delete the temporary file."""
        self._file.close()


@dataclass
class ValidationResult:
    """Verdict on one file (`as_dict`: the JSON shape of ``passport flux validate --json``)."""

    file: str
    schema_valid: bool
    errors: list[FileProblem] = field(default_factory=list)
    #: Every passage's verdict; with ``listed``, only the first flagged ones (KO or warned);
    #: ``spooled``, on disk.
    passages: list[dict[str, Any]] | Spool = field(default_factory=list)
    passages_total: int = 0
    passages_ko: int = 0
    #: Flagged passages ``listed`` left out.
    flagged_left_out: int = 0

    def as_dict(self) -> dict[str, Any]:
        """JSON shape."""
        return {**self._head(), "passages": list(self.passages)}

    def _head(self) -> dict[str, Any]:
        return {
            "file": self.file,
            "schema_valid": self.schema_valid,
            "errors": [e.as_dict() for e in self.errors],
        }

    def write_json(self, out: IO[bytes]) -> None:
        """Write `as_dict`'s JSON and a newline to ``out``, the passages one by one."""
        out.write(orjson.dumps(self._head())[:-1] + b',"passages":[')
        lines = (self.passages.lines() if isinstance(self.passages, Spool)
                 else map(orjson.dumps, self.passages))
        for i, line in enumerate(lines):
            if i:
                out.write(b",")
            out.write(line)
        out.write(b"]}\n")

    def close(self) -> None:
        """Let go of the spooled verdicts, if any."""
        if isinstance(self.passages, Spool):
            self.passages.close()

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
        self.passages.clear()
        self.passages_total = self.passages_ko = self.flagged_left_out = 0


def validate(
    name: str,
    source: Source,
    *,
    max_bytes: int,
    schema_version: str = "1.1.5",
    subprocess_min_bytes: int | None = None,
    listed: int | None = None,
    spooled: bool = False,
) -> ValidationResult:
    """Run gate, schema and rules (no NIRisation, no duplicates: those need the store).

    Every passage's verdict is kept, or with ``listed`` only the first ``listed`` flagged
    ones, the rest counted: memory then stays flat in the file's size (the dry-run API);
    ``spooled`` keeps every verdict on disk instead (the command line's listing; `close` the
    result when done).
    """
    result = ValidationResult(name, True, passages=Spool() if spooled else [])

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
