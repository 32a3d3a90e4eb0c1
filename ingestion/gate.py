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


class GatedStream:
    """A read-only stream that replays the checked head, then caps size and refuses NULs."""

    def __init__(self, raw: BinaryIO, max_bytes: int) -> None:
        self._raw = raw
        self._max = max_bytes
        self._pending = b""
        self.bytes_read = 0
        self.head = b""

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

    def close(self) -> None:
        """Close the underlying stream."""
        self._raw.close()

    def read(self, size: int = -1) -> bytes:
        """File-like read used by lxml."""
        if size is None or size < 0:
            size = CHUNK
        if self._pending:
            data, self._pending = self._pending[:size], self._pending[size:]
            return data
        data = self._raw.read(size)
        if data:
            self._count(data)
            if b"\x00" in data:
                _reject("encoding", "Le fichier contient des octets nuls : seul UTF-8 est accepté.")
        return data
