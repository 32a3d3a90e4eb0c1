"""File-level problems: each has a stable machine code and a French message for the report."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ingestion.parser import FluxHeader

#: The stable codes of a file refused by the reader (gate, parser, schema, diagnosis);
#: the loader adds its own file-level checks (registry, mandate, idFlux, empty flux).
READER_CODES = frozenset({
    "empty", "compressed_input", "encoding", "xml_version", "doctype_forbidden",
    "prolog_too_large", "too_large", "resource_limit", "entity_forbidden", "not_well_formed",
    "truncated", "schema", "parser_crash",
})


@dataclass(frozen=True)
class FileProblem:
    """One reason a whole file is rejected, positioned when we know where it is."""

    code: str
    message: str
    line: int | None = None
    column: int | None = None
    #: The report's ``<type>``: XSD for schema errors, FORMAT for bytes and well-formedness,
    #: METIER for file-level business checks (registry, mandate, idFlux).
    kind: str = "FORMAT"

    def as_dict(self) -> dict[str, object]:
        """JSON shape used by the CLI and the API."""
        return {
            "code": self.code,
            "type": self.kind,
            "message": self.message,
            "line": self.line,
            "column": self.column,
        }


class FileRejected(Exception):
    """The file is rejected as a whole; nothing of it may be stored."""

    def __init__(self, problems: list[FileProblem], header: FluxHeader | None = None) -> None:
        super().__init__(problems[0].message if problems else "fichier rejeté")
        self.problems = problems
        #: The file's header as read before the rejection, when it was read in full; not
        #: checked (the file may break the schema there): see `passport.deposits.service`.
        self.header = header
        #: Passages handed out in batches before the rejection (`read_checked`): valid, and
        #: nothing before them broke the schema; the diagnosis need not check them again.
        self.valid_passages = 0

    @property
    def code(self) -> str:
        """The code of the first problem (the one that stopped the work)."""
        return self.problems[0].code
