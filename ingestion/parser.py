"""Streaming parse + XSD validation of a flux, one passage at a time, in flat memory.

`FluxReader` runs a hardened ``iterparse`` with the compiled schema over a gated stream and
yields each ``passageCertification`` as a plain dict, together with the file header and the
certification it belongs to.  It polls the parser's error log after every passage, so a
schema error at passage 25,000 stops the work there; `ingestion.diagnose` then locates every
schema error with line and column.

The flux uses ``xsd:all`` almost everywhere, so a valid file may send its header
(``idFlux``, ``emetteur/idClient``…) or a certification's ``type``/``code`` *after* the
passages.  Real emitters never do; when a file does, the reader raises `NeedsPrescan` before
yielding anything (or, for a late ``action``, after), and the caller restarts with
`prescan`, a cheap first pass that collects that context.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any, BinaryIO

from lxml import etree

from ingestion.errors import FileProblem, FileRejected
from ingestion.gate import MAX_UNIT_BYTES, GatedStream
from ingestion.schema import NS, XSI_NS, compiled

#: Parser options required by docs/ingestion.md: no entity expansion, no network, no DTD.
HARDENED: dict[str, Any] = {
    "resolve_entities": False,
    "no_network": True,
    "load_dtd": False,
    "dtd_validation": False,
    "attribute_defaults": False,
    "huge_tree": False,
    "remove_comments": True,
    "remove_pis": True,
}

_P = "{" + NS + "}"
_NSLEN = len(_P)
_XSI_NIL = "{" + XSI_NS + "}nil"
FLUX = _P + "flux"
ID_FLUX = _P + "idFlux"
HORODATAGE = _P + "horodatage"
ACTION = _P + "action"
EMETTEUR = _P + "emetteur"
CERTIFICATEUR = _P + "certificateur"
ID_CLIENT = _P + "idClient"
ID_CONTRAT = _P + "idContrat"
CERTIFICATION = _P + "certification"
TYPE = _P + "type"
CODE = _P + "code"
NATURE = _P + "natureDeposant"
PASSAGE = _P + "passageCertification"
_EVENT_TAGS = [
    FLUX,
    ID_FLUX,
    HORODATAGE,
    ACTION,
    ID_CLIENT,
    ID_CONTRAT,
    CERTIFICATION,
    TYPE,
    CODE,
    NATURE,
    PASSAGE,
]

Passage = dict[str, Any]


@dataclass
class FluxHeader:
    """The file-level context of a flux."""

    id_flux: str | None = None
    horodatage: str | None = None
    action: str | None = None
    emitter_bcr: str | None = None
    certifier_bcr: str | None = None
    contract_id: str | None = None

    @property
    def complete(self) -> bool:
        """True when every mandatory header field has been read."""
        return None not in (
            self.id_flux,
            self.horodatage,
            self.emitter_bcr,
            self.certifier_bcr,
            self.contract_id,
        )

    @property
    def is_suppression(self) -> bool:
        """True for a 1.1.5 ``SUPPRESSION`` flux (withdraws the passages it names)."""
        return self.action == "SUPPRESSION"


@dataclass
class CertificationContext:
    """The certification (``type`` + ``code``) that the current passages belong to."""

    type: str | None = None
    code: str | None = None
    nature_deposant: str | None = None


@dataclass
class Prescan:
    """Header and certification contexts collected by `prescan`, in document order."""

    header: FluxHeader
    certifications: list[CertificationContext] = field(default_factory=list)


class NeedsPrescan(Exception):
    """The file sends context after the passages that need it; restart with `prescan`."""


# Where each element of a passage goes (see `extract_passage`).
_TOP, _HOLDER, _RESULT, _NEW_RESULT, _DIGITAL, _KIND, _SKIP = range(7)
_ROUTES: dict[str, tuple[int, str]] = {
    **{_P + name: (_TOP, name) for name in (
        "idTechnique", "urlPreuve", "libelleOption", "obtentionCertification",
        "donneeCertifiee", "dateDebutExamen", "dateFinExamen", "modalitePassageExamen",
        "codePostalCentreExamen", "dateDebutValidite", "dateFinValidite",
        "presenceNiveauLangueEuro", "niveauLangueEuropeen", "presenceNiveauNumeriqueEuro",
        "scoring", "mentionValidee", "verbatim", "modaliteAcces", "voieAccessVAE",
        "initiativeInscription", "dateInscription",
    )},
    **{_P + name: (_HOLDER, name) for name in (
        "nomNaissance", "nomUsage", "prenom1", "prenom2", "prenom3", "anneeNaissance",
        "moisNaissance", "jourNaissance", "sexe", "codeInsee", "codePostal",
        "libelleCommuneNaissance", "codePaysNaissance", "libellePaysNaissance",
        "commentairesMEN", "idDossier", "nomTitulaire", "prenom1Titulaire", "nir",
    )},
    **{_P + name: (_RESULT, name) for name in ("niveau", "domaineCompetenceId", "competenceId")},
    _P + "resultat": (_NEW_RESULT, ""),
    _P + "scoreGeneral": (_DIGITAL, "scoreGeneral"),
    _P + "niveauNumeriqueEuropeen": (_DIGITAL, ""),
    **{_P + name: (_KIND, name) for name in (
        "titulaire", "dossierFormation", "identifiantNational",
    )},
    **{_P + name: (_SKIP, "") for name in (
        "passageCertification", "modalitesInscription", "identificationTitulaire",
        "codeCommuneNaissance", "codeInseeNaissance", "codePostalNaissance", "resultats",
    )},
}


def extract_passage(el: etree._Element) -> Passage:
    """Turn a ``passageCertification`` element into a dict keyed by XML local names.

    ``modalitesInscription`` is flattened; ``niveauNumeriqueEuropeen`` becomes
    ``{"scoreGeneral": ..., "resultats": [{...}, ...]}``; the holder identification becomes
    ``identification`` (``titulaire``, ``dossierFormation`` or ``identifiantNational``) and
    ``titulaire`` (its fields, with ``codeInsee`` / ``codePostal`` lifted from their wrappers).
    Values are the raw text; typing is the rules' job.

    A nil element gives None: in a schema-valid document a nillable element has no text
    exactly when it is ``xsi:nil`` (empty content is invalid for every nillable type here,
    and a nil element may not even hold whitespace), so no attribute needs reading.

    This runs once per passage, so it makes one pass over the subtree and reads each
    element's ``.tag`` once (lxml builds a new string on every access); element names are
    unique within a passage except the DigComp result fields, routed by `_ROUTES`.
    """
    out: Passage = {}
    holder: dict[str, Any] = {}
    digital: dict[str, Any] | None = None
    result: dict[str, Any] = {}
    routes = _ROUTES
    for node in el.iter():
        dest, key = routes[node.tag]
        if dest == _TOP:
            out[key] = node.text
        elif dest == _HOLDER:
            holder[key] = node.text
        elif dest == _RESULT:
            result[key] = node.text
        elif dest == _NEW_RESULT:
            result = {}
            assert digital is not None
            digital["resultats"].append(result)
        elif dest == _DIGITAL:
            if key:
                assert digital is not None
                digital[key] = node.text
            else:
                digital = out["niveauNumeriqueEuropeen"] = {"scoreGeneral": None, "resultats": []}
        elif dest == _KIND:
            out["identification"] = key
    out["titulaire"] = holder
    return out


def _collect_context(
    tag: str, el: etree._Element, header: FluxHeader, current: CertificationContext
) -> None:
    """Record a header or certification field from its end event."""
    if tag == TYPE:
        current.type = el.text
    elif tag == CODE:
        current.code = el.text
    elif tag == NATURE:
        current.nature_deposant = el.text
    elif tag == ID_CLIENT:
        parent = el.getparent()
        if parent is not None and parent.tag == EMETTEUR:
            header.emitter_bcr = el.text
        else:
            header.certifier_bcr = el.text
    elif tag == ID_CONTRAT:
        header.contract_id = el.text
    elif tag == ID_FLUX:
        header.id_flux = el.text
    elif tag == HORODATAGE:
        header.horodatage = el.text
    elif tag == ACTION:
        header.action = el.text


def _free(el: etree._Element) -> None:
    """Release a processed element and its already-processed previous siblings."""
    el.clear(keep_tail=True)
    parent = el.getparent()
    if parent is not None:
        while el.getprevious() is not None:
            del parent[0]


def syntax_problem(message: str, line: int | None, column: int | None) -> FileProblem:
    """Map a parser (not schema) error to a problem with a stable code."""
    lowered = message.lower()
    if "encoding" in lowered or "utf-8" in lowered or "char 0x" in lowered:
        code, text = "encoding", "Le fichier n'est pas en UTF-8 valide"
    elif "excessive depth" in lowered or "huge" in lowered or "too long" in lowered or (
        "resource limit" in lowered
    ):
        code, text = "resource_limit", "Le fichier dépasse une limite de sécurité du lecteur XML"
    elif "premature end" in lowered or "end of data" in lowered:
        code, text = "truncated", "Le fichier est tronqué"
    elif "entity" in lowered:
        code, text = "entity_forbidden", "Les entités XML sont interdites"
    else:
        code, text = "not_well_formed", "Le fichier n'est pas un document XML bien formé"
    return FileProblem(code, f"{text} : {message.strip()}", line or None, column or None)


#: What the streaming pass reports when libxml2 swallowed the real parser error (it does
#: when a schema is plugged into iterparse): `ingestion.validate.positioned` then runs the
#: schema-less diagnostic pass, which finds and classifies it.
UNLOCATED_SYNTAX_ERROR = FileProblem(
    "not_well_formed", "Le fichier n'est pas un document XML bien formé."
)


def _syntax_problem(exc: etree.XMLSyntaxError, log: Any) -> FileProblem:
    entries = [e for e in log if e.domain_name != "SCHEMASV"] if log is not None else []
    if not entries:
        return UNLOCATED_SYNTAX_ERROR
    entry = entries[0]
    return syntax_problem(entry.message, entry.line, entry.column)


#: Problems reported for one file: the first thousand say enough, and a file can make
#: libxml2 log one per attribute or element (200,000 of them cost seconds to convert).
MAX_PROBLEMS = 1000


def _schema_problems(log: Any) -> list[FileProblem]:
    schema_entries = (e for e in log if e.domain_name == "SCHEMASV")
    return [FileProblem("schema", schema_message(e.message), None, None, kind="XSD")
            for e in itertools.islice(schema_entries, MAX_PROBLEMS)]


def schema_message(raw: str) -> str:
    """A libxml2 schema message, made readable (``cpf:`` prefix instead of the namespace)."""
    return "Non conforme au schéma : " + raw.replace(_P, "cpf:").strip()


class FluxReader:
    """Iterate over the passages of a gated stream; see the module docstring."""

    def __init__(
        self,
        stream: GatedStream,
        *,
        schema_version: str = "1.1.5",
        prescanned: Prescan | None = None,
    ) -> None:
        self._stream = stream
        self._schema = compiled(schema_version)
        self._prescanned = prescanned
        self.header = prescanned.header if prescanned else FluxHeader()
        self.certification = CertificationContext()
        self.passages_read = 0
        self.root_closed = False

    @property
    def bytes_read(self) -> int:
        """Bytes consumed from the file so far (for progress bars)."""
        return self._stream.bytes_read

    @property
    def _cut_short(self) -> bool:
        """The input ran out before the root's end tag was read."""
        return self._stream.ended and not self.root_closed

    def __iter__(self) -> Iterator[tuple[CertificationContext, Passage]]:
        """Yield ``(certification, passage)``; raise `FileRejected` at the first problem."""
        try:
            yield from self._read()
        finally:
            self._stream.close()

    def _read(self) -> Iterator[tuple[CertificationContext, Passage]]:
        it = etree.iterparse(
            self._stream, events=("end",), tag=_EVENT_TAGS, schema=self._schema, **HARDENED
        )
        header = self.header
        prescanned = self._prescanned
        known = prescanned is not None
        cert_index = 0
        cert = prescanned.certifications[0] if prescanned and prescanned.certifications else None
        current = self.certification
        stream = self._stream
        stream.unit_limit = MAX_UNIT_BYTES
        try:
            for _, el in it:
                if stream.ended:
                    # Since lxml 6.2 a parser with a schema plugged in, closed at the end of
                    # a truncated file, emits the `end` of every element still open and
                    # raises nothing: an element ended after the input ran out was cut
                    # (untrusted-xml.md: truncation; its end tag was never read).
                    break
                stream.unit_ended()
                tag = el.tag
                if tag == PASSAGE:
                    if len(it.error_log):
                        break
                    if not known and (
                        not header.complete or current.type is None or current.code is None
                    ):
                        raise NeedsPrescan
                    self.passages_read += 1
                    passage = extract_passage(el)
                    _free(el)
                    yield (cert or current), passage
                elif tag == CERTIFICATION:
                    _free(el)
                    cert_index += 1
                    self.certification = current = CertificationContext()
                    if prescanned and cert_index < len(prescanned.certifications):
                        cert = prescanned.certifications[cert_index]
                elif tag == FLUX:
                    self.root_closed = True
                elif not known:
                    _collect_context(tag, el, header, current)
                    if tag == ACTION and self.passages_read:
                        raise NeedsPrescan
        except etree.XMLSyntaxError as exc:
            # Of a file cut short, what the validator said of the last, partial element (a
            # tag name cut to `<c`: "Element 'c': This element is not expected") is noise.
            found = [] if self._cut_short else _schema_problems(it.error_log)
            raise FileRejected([*found, _syntax_problem(exc, it.error_log)]) from None
        if not self._cut_short and (found := _schema_problems(it.error_log)):
            raise FileRejected(found)
        if not self.root_closed:
            raise FileRejected(
                [FileProblem("truncated", "Le fichier est tronqué : l'élément racine n'est pas fermé.")]
            )


def prescan(stream: GatedStream) -> Prescan:
    """First pass without schema: collect the header and every certification's context."""
    found = Prescan(FluxHeader())
    current = CertificationContext()
    header = found.header
    it = etree.iterparse(stream, events=("end",), tag=_EVENT_TAGS, **HARDENED)
    stream.unit_limit = MAX_UNIT_BYTES
    try:
        for _, el in it:
            stream.unit_ended()
            tag = el.tag
            if tag == CERTIFICATION:
                found.certifications.append(current)
                current = CertificationContext()
                _free(el)
            elif tag == PASSAGE:
                _free(el)
            else:
                _collect_context(tag, el, header, current)
    except etree.XMLSyntaxError as exc:
        raise FileRejected([_syntax_problem(exc, it.error_log)]) from None
    finally:
        stream.close()
    return found


def open_gated(opener: Callable[[], BinaryIO], max_bytes: int) -> GatedStream:
    """Open the source and pass it through the byte gate."""
    return GatedStream(opener(), max_bytes).open()
