"""The hostile-input corpus of the ingestion entry point (untrusted-xml.md).

Each case is (name, bytes, expected stable code).  ``CASES`` are small and run in the test
process (tests/unit/test_hostile.py); ``HEAVY`` adds the resource-exhaustion cases, built
on demand; ``write`` lays the whole corpus out as files, which
tests/integration/test_hostile_corpus.py runs one per process under time and memory limits
and the XML fuzzer takes as seeds.
"""

from __future__ import annotations

import bz2
import gzip
import io
import lzma
import re
import zipfile
from collections.abc import Callable, Iterator
from pathlib import Path

from tests.flux import document, passage

VALID = document()


def zipped(data: bytes) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as z:
        z.writestr("flux.xml", data)
    return buffer.getvalue()


BILLION_LAUGHS = (
    b'<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol">'
    + b"".join(
        f'<!ENTITY lol{i} "{"&lol{};".format("" if i == 1 else i - 1) * 10}">'.encode()
        for i in range(1, 10)
    )
    + b']><cpf:flux xmlns:cpf="urn:cdc:cpf:pc5:schema:1.0.0">&lol9;</cpf:flux>'
)


CASES: list[tuple[str, bytes, str]] = [
    ("gzip", gzip.compress(VALID), "compressed_input"),
    ("zip", zipped(VALID), "compressed_input"),
    ("xz", lzma.compress(VALID), "compressed_input"),
    ("bzip2", bz2.compress(VALID), "compressed_input"),
    ("utf-16 with BOM", VALID.decode().replace("UTF-8", "UTF-16").encode("utf-16"), "encoding"),
    ("utf-16 without BOM", VALID.decode().encode("utf-16-le"), "encoding"),
    ("utf-32", VALID.decode().encode("utf-32"), "encoding"),
    ("declared latin-1", VALID.replace(b"UTF-8", b"ISO-8859-1"), "encoding"),
    ("invalid UTF-8 bytes", VALID.replace(b"Dupont", b"Dupont\xe9"), "encoding"),
    ("NUL byte", VALID.replace(b"Dupont", b"Dup\x00ont"), "encoding"),
    ("internal entity", VALID.replace(
        b"<cpf:flux", b'<!DOCTYPE x [<!ENTITY e "Dupont">]><cpf:flux', 1), "doctype_forbidden"),
    ("billion laughs", BILLION_LAUGHS, "doctype_forbidden"),
    ("external entity", VALID.replace(
        b"<cpf:flux", b'<!DOCTYPE x [<!ENTITY e SYSTEM "file:///etc/passwd">]><cpf:flux', 1),
     "doctype_forbidden"),
    ("external DTD", VALID.replace(
        b"<cpf:flux", b'<!DOCTYPE flux SYSTEM "http://127.0.0.1:9/x.dtd"><cpf:flux', 1),
     "doctype_forbidden"),
    ("parameter entity", VALID.replace(
        b"<cpf:flux", b'<!DOCTYPE x [<!ENTITY % p SYSTEM "http://127.0.0.1:9/p">%p;]><cpf:flux',
        1), "doctype_forbidden"),
    ("DOCTYPE after a comment", VALID.replace(
        b"<cpf:flux", b"<!-- hello --><!DOCTYPE flux><cpf:flux", 1), "doctype_forbidden"),
    ("undeclared entity reference", VALID.replace(b"Dupont", b"&xxe;"), "entity_forbidden"),
    ("truncated in a passage", VALID[: len(VALID) // 2], "truncated"),
    ("truncated before the root closes", VALID[: VALID.rindex(b"</cpf:flux>")], "truncated"),
    ("truncated inside the last end tag", VALID[: VALID.rindex(b"</cpf:flux>") + 5],
     "truncated"),
    ("garbage", b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 4, "encoding"),
    ("text garbage", b"this is not xml at all", "not_well_formed"),
    ("empty", b"", "empty"),
    ("only whitespace", b" \n\t\n", "empty"),
    ("XML 1.1", VALID.replace(b'version="1.0"', b'version="1.1"'), "xml_version"),
    ("two roots", VALID + VALID[VALID.index(b"<cpf:flux"):], "not_well_formed"),
    ("wrong namespace", VALID.replace(b"urn:cdc:cpf:pc5:schema:1.0.0", b"urn:cdc:x"), "schema"),
    ("second certificateur", VALID.replace(
        b"</cpf:certificateur>",
        b"</cpf:certificateur><cpf:certificateur><cpf:idClient>CERT0002</cpf:idClient>"
        b"<cpf:idContrat>X</cpf:idContrat><cpf:certifications/></cpf:certificateur>"), "schema"),
    ("dictionary's bracketed enumeration", document([passage(modalitesInscription={
        "modaliteAcces": "EQUIVALENCE_(DIPLOME_ETRANGER)"})]), "schema"),
    ("xsi:nil without xsi declared", VALID.replace(
        b' xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"', b""), "not_well_formed"),
    ("XInclude is not processed", VALID.replace(b"<cpf:passageCertifications>",
              b'<cpf:passageCertifications><xi:include xmlns:xi="http://www.w3.org/2001/'
              b'XInclude" href="file:///etc/passwd" parse="text"/>'), "schema"),
]


def _big_document(passages: int) -> bytes:
    return document([passage(f"P-{i}") for i in range(passages)])


def _cut(data: bytes, before: bytes, near: int) -> bytes:
    return data[: data.rindex(before, 0, near)]


def _zip_bomb() -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("flux.xml", b"\0" * 200_000_000)
    return buffer.getvalue()


def _in_id_flux(content: bytes) -> bytes:
    return VALID.replace(b"<cpf:idFlux>flux-test-1</cpf:idFlux>", content, 1)


def _inside_passage(content: bytes) -> bytes:
    return VALID.replace(b"</cpf:passageCertification>", content + b"</cpf:passageCertification>", 1)


def _many_invalid_passages() -> bytes:
    valid = _big_document(20_000)
    return re.sub(rb"<cpf:idTechnique>", b"<cpf:inconnu/><cpf:idTechnique>", valid)


#: (name, builder, expected codes (any of), extra arguments of ``python -m ingestion``).
HEAVY: list[tuple[str, Callable[[], bytes], set[str], list[str]]] = [
    ("gzip bomb (200 MB of zeros)", lambda: gzip.compress(b"\0" * 200_000_000, 1),
     {"compressed_input"}, []),
    ("zip bomb (200 MB of zeros)", _zip_bomb, {"compressed_input"}, []),
    ("xz bomb", lambda: lzma.compress(b"\0" * 50_000_000, preset=1), {"compressed_input"}, []),
    ("bzip2 bomb", lambda: bz2.compress(b"\0" * 50_000_000, 1), {"compressed_input"}, []),
    ("over the size limit", lambda: _big_document(3000), {"too_large"}, ["--max-bytes", "1000000"]),
    ("truncated large file (read by the child reader)",
     lambda: _cut(_big_document(6000), b"<cpf:passageCertification>", 3_000_000), {"truncated"}, []),
    ("text node of 12 MB", lambda: _in_id_flux(b"<cpf:idFlux>" + b"x" * 12_000_000 + b"</cpf:idFlux>"),
     {"resource_limit", "schema"}, []),
    ("attribute value of 20 MB", lambda: VALID.replace(
        b"<cpf:flux ", b'<cpf:flux a="' + b"x" * 20_000_000 + b'" ', 1),
     {"resource_limit", "schema"}, []),
    ("comment of 20 MB", lambda: _inside_passage(b"<!--" + b"x" * 20_000_000 + b"-->"),
     {"resource_limit", "schema"}, []),
    ("nesting 100,000 deep", lambda: _inside_passage(b"<cpf:x>" * 100_000 + b"</cpf:x>" * 100_000),
     {"resource_limit", "schema"}, []),
    ("element name of 60 KB", lambda: _in_id_flux(b"<cpf:" + b"a" * 60_000 + b"/>"),
     {"resource_limit", "schema", "not_well_formed"}, []),
    ("200,000 attributes", lambda: VALID.replace(
        b"<cpf:flux ", b"<cpf:flux " + b"".join(b'a%d="" ' % i for i in range(200_000)), 1),
     {"resource_limit", "schema", "not_well_formed"}, []),
    ("2 million character references", lambda: _in_id_flux(
        b"<cpf:idFlux>" + b"&#65;" * 2_000_000 + b"</cpf:idFlux>"), {"resource_limit", "schema"}, []),
    ("a million unknown elements", lambda: _inside_passage(b"<cpf:x/>" * 1_000_000),
     {"resource_limit", "schema"}, []),
    ("20,000 invalid passages", _many_invalid_passages, {"schema"}, []),
    ("4 million results in one passage (schema-valid)", lambda: _inside_passage(
        b"<cpf:niveauNumeriqueEuropeen><cpf:resultats>" + b"<cpf:resultat/>" * 4_000_000
        + b"</cpf:resultats></cpf:niveauNumeriqueEuropeen>"), {"resource_limit"}, []),
]


def write(directory: Path) -> Iterator[tuple[Path, set[str], list[str]]]:
    """Write the whole corpus as files; yields (file, expected codes, extra arguments)."""
    directory.mkdir(parents=True, exist_ok=True)
    cases: list[tuple[str, Callable[[], bytes], set[str], list[str]]] = [
        (name, (lambda data=data: data), {code}, []) for name, data, code in CASES]
    for number, (name, build, expected, extra) in enumerate(cases + HEAVY):
        path = directory / f"{number:02d}-{re.sub(r'[^a-z0-9]+', '-', name.lower()).strip('-')}.xml"
        path.write_bytes(build())
        yield path, expected, extra
