"""The byte gate: refuse dangerous or unsupported input before lxml sees a single byte.

See docs/ingestion.md ("Untrusted XML").  The gate checks the head of the stream
(compression magic numbers, byte-order marks, the XML declaration, any ``<!`` markup
before the root element) and then wraps the stream so that the whole file is size-capped
and NUL-free while the parser reads it.
"""

from __future__ import annotations

import re
from typing import BinaryIO

from ingestion.errors import FileProblem, FileRejected

#: How far we look for the root element.  A prolog longer than this is refused: real
#: files have a one-line declaration, and an unbounded prolog is a cheap attack.
PROLOG_LIMIT = 64 * 1024
CHUNK = 256 * 1024

_COMPRESSED = (
    (b"\x1f\x8b", "gzip"),
    (b"PK\x03\x04", "zip"),
    (b"PK\x05\x06", "zip"),
    (b"\xfd7zXZ\x00", "xz"),
    (b"BZh", "bzip2"),
    (b"\x28\xb5\x2f\xfd", "zstd"),
    (b"7z\xbc\xaf\x27\x1c", "7z"),
    (b"\x04\x22\x4d\x18", "lz4"),
)
_FOREIGN_BOMS = (
    (b"\x00\x00\xfe\xff", "UTF-32"),
    (b"\xff\xfe\x00\x00", "UTF-32"),
    (b"\xfe\xff", "UTF-16"),
    (b"\xff\xfe", "UTF-16"),
)
_UTF8_BOM = b"\xef\xbb\xbf"
_XML_DECL = re.compile(
    rb"<\?xml(?P<attrs>[^?]*)\?>",
)
_DECL_ATTR = re.compile(rb"""\s+(?P<name>[A-Za-z]+)\s*=\s*(?:"(?P<dq>[^"]*)"|'(?P<sq>[^']*)')""")
_NAME_START = re.compile(rb"[A-Za-z_:\x80-\xff]")
#: A tag starts with ``<`` and a name or ``/``; ``<!`` and ``<?`` open comments, CDATA
#: sections and processing instructions, which do not end an element's text.
_TAG_START = re.compile(rb"<[^!?]")

#: Pieces (character or entity references, comments, CDATA sections, processing
#: instructions, attributes) allowed in the bytes between two tags.  libxml2's streaming
#: schema validation appends an element's text piece by piece and walks what it has so far
#: each time: n pieces cost n² (400,000 pieces took a second, 2 million half a minute); a
#: tag with 200,000 attributes took two seconds and 300 MB.  The longest text of the
#: schema is 255 characters; a tag has a handful of attributes.
MAX_PIECES = 4096
#: Bytes allowed without a ``<``: a text, a comment or a tag of the schema is a few hundred
#: bytes; megabytes of them only cost memory and time before libxml2's own limits (10 MB).
MAX_RUN = 1024 * 1024
#: Bytes a reader may take in without an element it acts on ending (a passage, a
#: certification, a header field), when it marks them (`GatedStream.unit_ended`).  A
#: schema-valid passage is a few kilobytes (~40 KB with every text written as character
#: references); lxml keeps an element's whole subtree, and libxml2's validator each of its
#: children, until it ends: a passage holding 60 MB of empty ``<resultat/>`` (4 million,
#: schema-valid) took 1 GB before this bound.
MAX_UNIT_BYTES = 1024 * 1024


def _reject(code: str, message: str, line: int | None = None, column: int | None = None) -> None:
    raise FileRejected([FileProblem(code, message, line, column)])


def _position(data: bytes, offset: int) -> tuple[int, int]:
    line = data.count(b"\n", 0, offset) + 1
    column = offset - (data.rfind(b"\n", 0, offset) + 1) + 1
    return line, column


def check_head(head: bytes, *, at_eof: bool) -> None:
    """Check the first bytes of a file (up to `PROLOG_LIMIT`); raise `FileRejected`."""
    if not head.strip():
        _reject("empty", "Le fichier est vide.")
    for magic, name in _COMPRESSED:
        if head.startswith(magic):
            _reject(
                "compressed_input",
                f"Le fichier est compressé ({name}) : déposez le fichier XML lui-même.",
            )
    for bom, name in _FOREIGN_BOMS:
        if head.startswith(bom):
            _reject("encoding", f"Le fichier est encodé en {name} : seul UTF-8 est accepté.")
    if b"\x00" in head:
        _reject("encoding", "Le fichier contient des octets nuls : seul UTF-8 est accepté.")

    pos = len(_UTF8_BOM) if head.startswith(_UTF8_BOM) else 0
    decl = _XML_DECL.match(head, pos)
    if decl:
        attrs = {
            m.group("name").lower(): (m.group("dq") if m.group("dq") is not None else m.group("sq"))
            for m in _DECL_ATTR.finditer(decl.group("attrs"))
        }
        version = attrs.get(b"version")
        if version is not None and version != b"1.0":
            _reject("xml_version", "Seul XML 1.0 est accepté.", 1, 1)
        encoding = attrs.get(b"encoding")
        if encoding is not None and encoding.lower() not in (b"utf-8", b"utf8"):
            _reject(
                "encoding",
                f"Encodage déclaré « {encoding.decode('ascii', 'replace')} » : "
                "seul UTF-8 est accepté.",
                1,
                1,
            )
        pos = decl.end()
    _scan_prolog(head, pos, at_eof=at_eof)


def _scan_prolog(head: bytes, pos: int, *, at_eof: bool) -> None:
    """Walk whitespace, comments and processing instructions up to the root element."""
    size = len(head)
    while True:
        while pos < size and head[pos] in b" \t\r\n":
            pos += 1
        if pos >= size:
            if at_eof:
                _reject("not_well_formed", "Le fichier ne contient aucun élément XML.")
            _reject("prolog_too_large", "Le début du fichier ne contient pas d'élément racine.")
        if head.startswith(b"<!--", pos):
            end = head.find(b"-->", pos + 4)
            if end < 0:
                _reject("prolog_too_large", "Commentaire non terminé avant l'élément racine.")
            pos = end + 3
        elif head.startswith(b"<?", pos):
            end = head.find(b"?>", pos + 2)
            if end < 0:
                _reject("prolog_too_large", "Instruction non terminée avant l'élément racine.")
            pos = end + 2
        elif head.startswith(b"<!", pos):
            line, column = _position(head, pos)
            _reject(
                "doctype_forbidden",
                "Les déclarations DOCTYPE et ENTITY sont interdites.",
                line,
                column,
            )
        elif head.startswith(b"<", pos) and _NAME_START.match(head, pos + 1):
            return
        else:
            line, column = _position(head, pos)
            _reject("not_well_formed", "Contenu inattendu avant l'élément racine.", line, column)


#: Every byte but the ones that start a piece: ``&`` (a reference), ``!`` (``<!--``,
#: ``<![CDATA[``), ``?`` (``<?``) and ``=`` (an attribute).  A ``!``, ``?`` or ``=`` in a
#: text counts too: real texts have a few, never thousands.
_NOT_PIECES = bytes(b for b in range(256) if b not in b"&!?=")


def _pieces(data: bytes, start: int = 0, end: int | None = None) -> int:
    part = data if start == 0 and end is None else data[start:end]
    return len(part.translate(None, _NOT_PIECES))  # one pass at C speed


def _last_tag_start(data: bytes) -> int:
    end = len(data)
    while (at := data.rfind(b"<", 0, end)) >= 0:
        if at + 1 == len(data) or data[at + 1] not in b"!?":
            return at
        end = at
    return -1


class MarkupLimits:
    """Bounds the pieces between two tags (`MAX_PIECES`) and the bytes without markup
    (`MAX_RUN`) as chunks go by: a chunk that could break the first is looked at tag by
    tag; others cost a few counts, at C speed."""

    def __init__(self) -> None:
        self._pieces = 0  # since the last tag start of the previous chunks
        self._run = 0  # bytes since the last "<" of the previous chunks

    def feed(self, data: bytes) -> None:
        first = data.find(b"<")
        if first < 0:
            self._run += len(data)
            self._check_run(self._run)
        else:
            self._check_run(self._run + first)
            self._run = len(data) - data.rfind(b"<") - 1
        total = _pieces(data)
        if self._pieces + total <= MAX_PIECES:
            last = _last_tag_start(data)
            self._pieces = self._pieces + total if last < 0 else _pieces(data, last)
            return
        start, carry = 0, self._pieces
        for tag in _TAG_START.finditer(data):
            self._check_pieces(carry + _pieces(data, start, tag.start()))
            start, carry = tag.start(), 0
        self._pieces = carry + _pieces(data, start)
        self._check_pieces(self._pieces)

    @staticmethod
    def _check_pieces(pieces: int) -> None:
        if pieces > MAX_PIECES:
            _reject(
                "resource_limit",
                f"Un même texte ou une même balise compte plus de {MAX_PIECES} morceaux "
                "(références de caractères ou d'entités, commentaires, sections CDATA, "
                "attributs) : limite de ressources.",
            )

    @staticmethod
    def _check_run(run: int) -> None:
        if run > MAX_RUN:
            _reject(
                "resource_limit",
                f"Le fichier contient plus de {MAX_RUN} octets d'affilée sans balise (texte, "
                "commentaire ou attribut démesuré) : limite de ressources.",
            )


class GatedStream:
    """A read-only stream that replays the checked head, then caps size, refuses NULs and
    bounds its markup (`MarkupLimits`)."""

    def __init__(self, raw: BinaryIO, max_bytes: int) -> None:
        self._raw = raw
        self._max = max_bytes
        self._pending = b""
        self.bytes_read = 0
        self.head = b""
        #: True once a read found nothing left: the parser has reached the end of the input.
        self.ended = False
        self._limits = MarkupLimits()
        #: `MAX_UNIT_BYTES` once a reader marks the ends of its units; None: unbounded.
        self.unit_limit: int | None = None
        self._unit_start = 0

    def open(self) -> GatedStream:
        """Read and check the head; raise `FileRejected` (and close) when it is refused."""
        try:
            return self._open()
        except BaseException:
            self.close()
            raise

    def _open(self) -> GatedStream:
        head = b""
        at_eof = False
        while len(head) < PROLOG_LIMIT:
            chunk = self._raw.read(PROLOG_LIMIT - len(head))
            if not chunk:
                at_eof = True
                break
            head += chunk
        self._count(head)
        check_head(head, at_eof=at_eof)
        self.head = self._pending = head
        return self

    def _count(self, chunk: bytes) -> None:
        self.bytes_read += len(chunk)
        if self.bytes_read > self._max:
            _reject(
                "too_large",
                f"Le fichier dépasse la taille maximale acceptée ({self._max} octets).",
            )

    def unit_ended(self) -> None:
        """The reader is done with an element: `unit_limit` counts from here on."""
        self._unit_start = self.bytes_read

    def close(self) -> None:
        """Close the underlying stream."""
        self._raw.close()

    def read(self, size: int = -1) -> bytes:
        """File-like read used by lxml."""
        if size is None or size < 0:
            size = CHUNK
        if self._pending:
            data, self._pending = self._pending[:size], self._pending[size:]
        else:
            data = self._raw.read(size)
            if data:
                self._count(data)
                if b"\x00" in data:
                    _reject("encoding",
                            "Le fichier contient des octets nuls : seul UTF-8 est accepté.")
                if self.unit_limit is not None and (
                    self.bytes_read - self._unit_start > self.unit_limit
                ):
                    _reject(
                        "resource_limit",
                        f"Plus de {self.unit_limit} octets à la suite sans fin de passage "
                        "(un passage démesuré, ou ce qui sépare deux passages) : limite de "
                        "ressources.",
                    )
        if not data and size:
            self.ended = True
        self._limits.feed(data)
        return data
