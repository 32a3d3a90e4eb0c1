"""The processing report ("accusé de traitement"): built while streaming, rendered on demand.

While a file is processed, `ReportBuilder` writes one compact JSON line per passage into a
zlib stream and hands it on in parts of 64 KiB as they fill (the loader stores them at once:
a 200,000-passage report is 4.5 MB compressed, never whole in memory).  `Report` reads the
parts back and renders the CDC XML dialect (spec §9) or JSON, streaming.
"""

from __future__ import annotations

import datetime as dt
import json
import tempfile
import zlib
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from xml.sax.saxutils import escape

import orjson

from ingestion.errors import FileProblem
from ingestion.rules import Problem

REPORT_VERSION = 1


def _drain(spool: Any) -> Iterator[str]:
    spool.seek(0)
    while chunk := spool.read(256 * 1024):
        yield chunk


def report_file_name(file_name: str, when: dt.date) -> str:
    """``Accuse_de_traitement_<deposited file name>_<YYYYMMDD>.xml``."""
    return f"Accuse_de_traitement_{file_name}_{when:%Y%m%d}.xml"


#: Receives the compressed report, part after part, numbered from 0, in order.
PartSink = Callable[[int, bytes], None]

#: What a rendering keeps in memory of each spool before it moves to a temporary file.
SPOOL_MEMORY = 1024 * 1024

#: Size of a stored part of the compressed outcomes (about 3,000 passages each).
PART_SIZE = 64 * 1024


class ReportBuilder:
    """Accumulates passage outcomes, compressed, in document order.

    The compressed stream leaves in parts of `PART_SIZE` bytes through ``sink`` as soon as
    each is full (the loader stores them in the load's transaction), so the builder's memory
    stays the same whatever the number of passages.  Without a sink, the parts are kept and
    `outcomes` returns them.
    """

    def __init__(self, sink: PartSink | None = None, part_size: int | None = None) -> None:
        self._z = zlib.compressobj(6)
        self._kept: list[bytes] = []
        self._sink = sink or (lambda _seq, part: self._kept.append(part))
        self._part_size = part_size or PART_SIZE
        self._parts = 0
        self._pending = bytearray()
        # Lines are compressed a thousand at a time (one call per line cost 4 µs).
        self._lines: list[bytes] = []
        self._finished = False
        self.ok = 0
        self.ko = 0
        self.warnings = 0
        self.ko_by_code: dict[str, int] = {}

    def add(self, id_technique: str, errors: list[Problem], warnings: list[Problem]) -> None:
        """Record the outcome of one passage (KO when ``errors`` is not empty).

        The common case, OK without warning, is stored as a bare JSON string (the id).
        """
        if not errors and not warnings:
            self.ok += 1
            self._write(orjson.dumps(id_technique))
            return
        line: dict[str, Any] = {"id": id_technique, "ok": not errors}
        if errors:
            self.ko += 1
            line["errors"] = [e.as_dict() for e in errors]
            code = errors[0].code
            self.ko_by_code[code] = self.ko_by_code.get(code, 0) + 1
        else:
            self.ok += 1
        if warnings:
            self.warnings += 1
            line["warnings"] = [w.as_dict() for w in warnings]
        self._write(orjson.dumps(line))

    def _write(self, line: bytes) -> None:
        lines = self._lines
        lines.append(line)
        if len(lines) >= 1000:
            self._compress()

    def _compress(self, final: bool = False) -> None:
        assert not self._finished, "the report is already finished"
        if self._lines:
            self._lines.append(b"")
            self._pending += self._z.compress(b"\n".join(self._lines))
            self._lines = []
        if final:
            self._pending += self._z.flush()
            self._finished = True
        pending, size = self._pending, self._part_size
        while len(pending) >= size or (final and pending):
            self._sink(self._parts, bytes(pending[:size]))
            self._parts += 1
            del pending[:size]

    def finish(self) -> int:
        """Send the last parts; return the number of parts.  Nothing may be added after."""
        self._compress(final=True)
        return self._parts

    def outcomes(self) -> list[bytes]:
        """Finish, and return the kept parts (a builder without a sink)."""
        self.finish()
        return self._kept


@dataclass
class Report:
    """A stored report: summary fields plus the compressed per-passage outcomes."""

    file_name: str
    id_traitement: int
    status: str
    id_flux: str | None = None
    errors: list[FileProblem] = field(default_factory=list)
    #: The compressed outcomes, part after part (`ReportBuilder`): a list, or a stored
    #: report's parts read one at a time.  Iterated once per rendering.
    outcomes: Iterable[bytes] = ()
    counts: dict[str, Any] = field(default_factory=dict)

    # -- storage -------------------------------------------------------------------
    def summary(self) -> dict[str, Any]:
        """Everything but the outcomes, for `passport.deposits.models.DepositReport.summary`."""
        return {
            "version": REPORT_VERSION,
            "file_name": self.file_name,
            "id_traitement": self.id_traitement,
            "status": self.status,
            "id_flux": self.id_flux,
            "errors": [e.as_dict() for e in self.errors],
            "counts": self.counts,
        }

    @classmethod
    def stored(cls, summary: dict[str, Any], outcomes: Iterable[bytes]) -> Report:
        """Inverse of `summary` (and `outcomes`)."""
        return cls(
            file_name=summary["file_name"],
            id_traitement=summary["id_traitement"],
            status=summary["status"],
            id_flux=summary["id_flux"],
            errors=[
                FileProblem(e["code"], e["message"], e["line"], e["column"], e["type"])
                for e in summary["errors"]
            ],
            outcomes=outcomes,
            counts=summary["counts"],
        )

    def passages(self) -> Iterator[dict[str, Any]]:
        """Outcomes in document order, decompressed incrementally."""
        for line in self._lines():
            item = orjson.loads(line)
            yield {"id": item, "ok": True} if isinstance(item, str) else item

    def _lines(self) -> Iterator[bytes]:
        z = zlib.decompressobj()
        pending = b""
        for part in self.outcomes:
            for start in range(0, len(part), 16 * 1024):
                pending += z.decompress(part[start : start + 16 * 1024])
                *lines, pending = pending.split(b"\n")
                yield from lines
        pending += z.flush()
        yield from (line for line in pending.split(b"\n") if line)

    # -- rendering -----------------------------------------------------------------
    def iter_xml(self) -> Iterator[str]:
        """The CDC XML dialect, in pieces (no namespace; unused ``ns2`` as real reports)."""
        yield '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
        yield '<rapport xmlns:ns2="urn:cdc:cpf:pc5:rapport:schema">\n'
        yield f"  <nomFichier>{escape(self.file_name)}</nomFichier>\n"
        if self.errors:
            yield f"  <idTraitement>{self.id_traitement}</idTraitement>\n"
            yield "  <erreurs>\n"
            for e in self.errors:
                yield "    <erreur>"
                yield f"<type>{escape(e.kind)}</type><message>{escape(e.message)}</message>"
                if e.line is not None:
                    yield f"<ligne>{e.line}</ligne>"
                if e.column is not None:
                    yield f"<colonne>{e.column}</colonne>"
                yield "</erreur>\n"
            yield "  </erreurs>\n</rapport>\n"
            return
        yield f"  <idFlux>{escape(self.id_flux or '')}</idFlux>\n"
        yield f"  <idTraitement>{self.id_traitement}</idTraitement>\n"
        yield "  <PassagesKO>\n"
        # One pass: KO passages go out at once, OK ids and warnings wait in spools (memory up
        # to 1 MB each, then disk), since the CDC layout puts PassagesKO first.  (8 MB for
        # the OK ids held a 200,000-passage report's 7.5 MB in every rendering process.)
        with (
            tempfile.SpooledTemporaryFile(SPOOL_MEMORY, "w+", encoding="utf-8") as oks,
            tempfile.SpooledTemporaryFile(SPOOL_MEMORY, "w+", encoding="utf-8") as warned,
        ):
            for p in self.passages():
                ident = escape(p["id"])
                if p["ok"]:
                    oks.write(f"    <idTechnique>{ident}</idTechnique>\n")
                else:
                    message = escape(" ; ".join(e["message"] for e in p["errors"]))
                    yield (
                        f"    <passage><idTechnique>{ident}</idTechnique>"
                        f"<messageErreur>{message}</messageErreur></passage>\n"
                    )
                for w in p.get("warnings", ()):
                    warned.write(
                        f"    <passage><idTechnique>{ident}</idTechnique>"
                        f"<messageAvertissement>{escape(w['message'])}</messageAvertissement>"
                        "</passage>\n"
                    )
            yield "  </PassagesKO>\n  <PassagesOK>\n"
            yield from _drain(oks)
            yield "  </PassagesOK>\n"
            if warned.tell():
                # Not in the CDC reports: an extra block at the end, ignored by their readers.
                yield "  <Avertissements>\n"
                yield from _drain(warned)
                yield "  </Avertissements>\n"
        yield "</rapport>\n"

    def write_xml(self, target: Path) -> None:
        """Write the XML report to a file, streaming."""
        with target.open("w", encoding="utf-8") as fh:
            fh.writelines(self.iter_xml())

    def to_xml(self) -> bytes:
        """The whole XML report (use `iter_xml` to stream a large one)."""
        return "".join(self.iter_xml()).encode("utf-8")

    def iter_json(self) -> Iterator[str]:
        """The JSON report, in pieces: summary fields, then ``passages`` one by one."""
        head = {
            "file_name": self.file_name,
            "id_traitement": self.id_traitement,
            "id_flux": self.id_flux,
            "status": self.status,
            "counts": self.counts,
            "errors": [e.as_dict() for e in self.errors],
        }
        yield json.dumps(head, ensure_ascii=False)[:-1] + ', "passages": ['
        first = True
        for p in self.passages():
            item = {
                "id_technique": p["id"],
                "ok": p["ok"],
                "errors": p.get("errors", []),
                "warnings": p.get("warnings", []),
            }
            yield ("" if first else ",") + orjson.dumps(item).decode()
            first = False
        yield "]}"

    def to_json(self) -> dict[str, Any]:
        """The JSON report as a dict (small reports; the API streams `iter_json`)."""
        data: dict[str, Any] = json.loads("".join(self.iter_json()))
        return data
