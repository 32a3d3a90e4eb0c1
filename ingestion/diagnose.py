"""Second pass, run only when a file failed: every schema error with its line and column.

libxml2's streaming validation (the fast pass) reports no positions, and tree validation
reports a line but no column.  This pass gets both, in flat memory:

* expat and an lxml pull parser read the same chunks in lockstep; expat gives the line and
  column of every start tag, lxml the elements, in the same document order;
* each element gets a small unique number written into its ``sourceline``, which libxml2
  copies into the errors it reports, so an error maps back to expat's position;
* each ``passageCertification``, then each ``certification``, is validated on its own,
  grafted into a minimal valid skeleton, then released; what remains of the document, with
  a valid placeholder where the units were, is validated at the end.
"""

from __future__ import annotations

import xml.parsers.expat
from collections import deque
from collections.abc import Callable
from typing import BinaryIO

from lxml import etree

from ingestion.errors import FileProblem, FileRejected
from ingestion.gate import CHUNK, GatedStream
from ingestion.parser import (
    CERTIFICATION,
    HARDENED,
    MAX_PROBLEMS,
    PASSAGE,
    schema_message,
    syntax_problem,
)
from ingestion.schema import NS, compiled

_P = "{" + NS + "}"
_PASSAGES = _P + "passageCertifications"
_CERTIFICATIONS = _P + "certifications"
_MAX_NUMBER = 65535  # libxml2 keeps a node's line in 16 bits
#: Elements in one unit (or between units) beyond which the pass stops: a real passage has
#: about fifty, and grafting a unit costs lxml time quadratic in its size (40,000 elements:
#: 0.6 s; a million: hours).
MAX_UNIT_ELEMENTS = 5000


def _el(parent: etree._Element | None, name: str, text: str | None = None) -> etree._Element:
    el = etree.Element(_P + name) if parent is None else etree.SubElement(parent, _P + name)
    el.text = text
    return el


def _valid_passage() -> etree._Element:
    p = _el(None, "passageCertification")
    for name, text in (
        ("idTechnique", "placeholder"),
        ("obtentionCertification", "PAR_ADMISSION"),
        ("donneeCertifiee", "true"),
        ("dateDebutValidite", "2020-01-01"),
        ("dateFinValidite", "2030-01-01"),
        ("presenceNiveauLangueEuro", "false"),
        ("presenceNiveauNumeriqueEuro", "false"),
        ("scoring", "placeholder"),
        ("mentionValidee", "SANS_MENTION"),
    ):
        _el(p, name, text)
    _el(_el(p, "modalitesInscription"), "modaliteAcces", "VAE")
    dossier = _el(_el(p, "identificationTitulaire"), "dossierFormation")
    for name in ("idDossier", "nomTitulaire", "prenom1Titulaire"):
        _el(dossier, name, "X")
    return p


def _valid_certification(*, with_passage: bool) -> etree._Element:
    c = _el(None, "certification")
    _el(c, "type", "RNCP")
    _el(c, "code", "RNCP1")
    passages = _el(c, "passageCertifications")
    if with_passage:
        passages.append(_valid_passage())
    return c


class _Diagnosis:
    """State of one diagnostic pass."""

    def __init__(self, schema: etree.XMLSchema, limit: int, valid_passages: int = 0) -> None:
        self.schema = schema
        self.limit = limit
        #: The first passages, known valid (`FileRejected.valid_passages`): released
        #: unchecked, ~25 % of this pass when the error is far in the file.
        self.unchecked = valid_passages
        self.problems: list[FileProblem] = []
        self._seen: set[tuple[str, int | None, int | None]] = set()
        self.starts: deque[tuple[int, int]] = deque()
        self._positions: dict[int, tuple[int, int]] = {}
        self._free = list(range(_MAX_NUMBER, 0, -1))
        self.root: etree._Element | None = None
        self._last_parent: etree._Element | None = None
        self._since_unit = 0  # elements started since the last unit began or ended
        #: No more problems wanted: the limit is reached, or the pass stopped.
        self.full = False
        # A minimal valid flux whose certification / passage slots receive the units.
        self.skeleton = _el(None, "flux")
        _el(self.skeleton, "idFlux", "x")
        _el(self.skeleton, "horodatage", "2020-01-01T00:00:00+00:00")
        emetteur = _el(self.skeleton, "emetteur")
        _el(emetteur, "idClient", "AAAAAAAA")
        certificateur = _el(_el(emetteur, "certificateurs"), "certificateur")
        _el(certificateur, "idClient", "AAAAAAAA")
        _el(certificateur, "idContrat", "X")
        self.cert_slot = _el(certificateur, "certifications")
        self.cert_slot.append(_valid_certification(with_passage=False))

    def add(self, problem: FileProblem) -> None:
        key = (problem.message, problem.line, problem.column)
        if key not in self._seen:
            self._seen.add(key)
            self.problems.append(problem)
            self.full = self.full or len(self.problems) >= self.limit

    def on_start(self, el: etree._Element) -> None:
        position = self.starts.popleft()
        if self.root is None:
            self.root = el
        if self._free:  # else more live elements than numbers: this one stays unpositioned
            number = self._free.pop()
            el.sourceline = number
            self._positions[number] = position
        self._since_unit += 1
        if el.tag in (PASSAGE, CERTIFICATION):
            self._since_unit = 0
        elif self._since_unit > MAX_UNIT_ELEMENTS:
            self.full = True
            self.add(FileProblem(
                "resource_limit",
                f"Plus de {MAX_UNIT_ELEMENTS} éléments dans un même passage ou hors des "
                "passages : le diagnostic s'arrête ici.", *position))

    def on_end(self, el: etree._Element) -> None:
        tag = el.tag  # (lxml builds the string at each read)
        if tag != PASSAGE and tag != CERTIFICATION:
            return
        self._since_unit = 0
        parent = el.getparent()
        if parent is None:
            return
        if tag == PASSAGE and parent.tag == _PASSAGES:
            grand = parent.getparent()
            if grand is not None and grand.tag == CERTIFICATION:
                slot = self.cert_slot[0][2]  # passageCertifications of the skeleton
                self._check_unit(el, parent, slot, _valid_passage, check=not self.unchecked)
                self.unchecked = max(0, self.unchecked - 1)
        elif tag == CERTIFICATION and parent.tag == _CERTIFICATIONS:
            keep = self.cert_slot[0]
            self.cert_slot.remove(keep)
            self._check_unit(
                el, parent, self.cert_slot, lambda: _valid_certification(with_passage=True)
            )
            self.cert_slot.append(keep)

    def _check_unit(
        self,
        el: etree._Element,
        parent: etree._Element,
        slot: etree._Element,
        placeholder: Callable[[], etree._Element],
        *,
        check: bool = True,
    ) -> None:
        index = parent.index(el)
        if check:
            slot.append(el)  # moves the element, with its numbered subtree, into the skeleton
            self.validate(self.skeleton)
            slot.remove(el)
        else:
            parent.remove(el)
        self._release(el)
        # Units of one container arrive together: one placeholder keeps the container valid.
        if parent is not self._last_parent:
            self._last_parent = parent
            parent.insert(index, placeholder())

    def _release(self, el: etree._Element) -> None:
        for node in el.iter():
            number = node.sourceline
            if number and self._positions.pop(number, None) is not None:
                self._free.append(number)

    def validate(self, root: etree._Element) -> None:
        if self.schema.validate(etree.ElementTree(root)):
            return
        for entry in self.schema.error_log:
            if self.full:
                break
            line, column = self._positions.get(entry.line, (None, None))
            self.add(FileProblem("schema", schema_message(entry.message), line, column, kind="XSD"))


def locate_problems(
    opener: Callable[[], BinaryIO],
    *,
    max_bytes: int,
    schema_version: str = "1.1.5",
    limit: int = MAX_PROBLEMS,
    valid_passages: int = 0,
) -> list[FileProblem]:
    """Every schema or well-formedness problem of the file, positioned, up to ``limit``;
    the first ``valid_passages`` passages are known valid (the first pass read them)."""
    diagnosis = _Diagnosis(compiled(schema_version), limit, valid_passages)
    stream = GatedStream(opener(), max_bytes).open()
    expat = xml.parsers.expat.ParserCreate()
    expat.SetParamEntityParsing(xml.parsers.expat.XML_PARAM_ENTITY_PARSING_NEVER)

    def expat_start(_name: str, _attrs: object) -> None:
        diagnosis.starts.append((expat.CurrentLineNumber, expat.CurrentColumnNumber + 1))

    expat.StartElementHandler = expat_start
    pull = etree.XMLPullParser(events=("start", "end"), **HARDENED)
    try:
        return _run(diagnosis, stream, expat, pull, limit)
    except FileRejected as exc:
        # The byte gate refused a part the first pass never read (it stopped at its first
        # error; this pass reads on): the problems found up to there, then the gate's.
        return sorted([*diagnosis.problems, *exc.problems], key=_position)[:limit]
    finally:
        stream.close()


def _run(
    diagnosis: _Diagnosis,
    stream: GatedStream,
    expat: xml.parsers.expat.XMLParserType,
    pull: etree.XMLPullParser,
    limit: int,
) -> list[FileProblem]:
    on_start, on_end = diagnosis.on_start, diagnosis.on_end
    try:
        while not diagnosis.full:
            chunk = stream.read(CHUNK)
            # libxml2 first: its messages are the ones we classify and report.
            if chunk:
                pull.feed(chunk)
            else:
                pull.close()
            expat.Parse(chunk, not chunk)
            for event, el in pull.read_events():
                if diagnosis.full:
                    break
                if event == "start":
                    on_start(el)
                else:
                    on_end(el)
            if not chunk:
                break
    except xml.parsers.expat.ExpatError as exc:
        message = xml.parsers.expat.errors.messages[exc.code]
        diagnosis.add(syntax_problem(message, exc.lineno, exc.offset + 1))
        return sorted(diagnosis.problems, key=_position)[:limit]
    except etree.XMLSyntaxError as exc:
        entries = [e for e in exc.error_log if e.domain_name != "SCHEMASV"]
        entry = entries[-1] if entries else None
        if entry is not None:
            diagnosis.add(syntax_problem(entry.message, entry.line, entry.column))
        else:
            position = exc.position or (None, None)
            diagnosis.add(syntax_problem(exc.msg, exc.lineno, position[1]))
        return sorted(diagnosis.problems, key=_position)[:limit]
    if diagnosis.root is not None and not diagnosis.full:
        diagnosis.validate(diagnosis.root)
    return sorted(diagnosis.problems, key=_position)[:limit]


def _position(problem: FileProblem) -> tuple[int, int]:
    return (problem.line or 0, problem.column or 0)
