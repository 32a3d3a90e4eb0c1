"""Hostile and broken input: each is refused with its stable code, and nothing crashes.

(untrusted-xml.md; the separate-process corpus with time and memory limits is in
tests/integration/test_hostile_corpus.py.)
"""

from __future__ import annotations

import bz2
import gzip
import io
import lzma
import zipfile

import pytest

from ingestion.pipeline import Source
from ingestion.validate import ValidationResult, validate
from tests.flux import document, passage

VALID = document()


def check(data: bytes, max_bytes: int = 10**8, version: str = "1.1.5") -> ValidationResult:
    return validate("hostile.xml", Source(opener=lambda: io.BytesIO(data)), max_bytes=max_bytes,
                    schema_version=version)


def codes(data: bytes, **kwargs: object) -> list[str]:
    result = check(data, **kwargs)  # type: ignore[arg-type]
    assert result.schema_valid is False
    assert result.passages == []
    return [e.code for e in result.errors]


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


@pytest.mark.parametrize(
    ("name", "data", "expected"),
    [
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
        ("XInclude is not processed", document([passage(verbatim=None) if False else passage()])
         .replace(b"<cpf:passageCertifications>",
                  b'<cpf:passageCertifications><xi:include xmlns:xi="http://www.w3.org/2001/'
                  b'XInclude" href="file:///etc/passwd" parse="text"/>'), "schema"),
    ],
)
def test_refused(name: str, data: bytes, expected: str) -> None:
    assert expected in codes(data)


def test_over_the_size_limit() -> None:
    assert codes(VALID, max_bytes=len(VALID) - 1) == ["too_large"]


def test_over_the_size_limit_beyond_the_head() -> None:
    big = document([passage(f"P-{i}") for i in range(300)])
    assert len(big) > 64 * 1024 * 2
    assert codes(big, max_bytes=100 * 1024) == ["too_large"]


def test_huge_text_node_is_refused_without_growing() -> None:
    data = VALID.replace(b"<cpf:idFlux>flux-test-1</cpf:idFlux>",
                         b"<cpf:idFlux>" + b"x" * (12 * 1024 * 1024) + b"</cpf:idFlux>")
    assert set(codes(data)) & {"resource_limit", "schema"}


def test_deep_nesting_is_refused() -> None:
    depth = 5000
    data = VALID.replace(b"<cpf:verbatim>", b"<cpf:verbatim>", 1).replace(
        b"</cpf:passageCertification>",
        b"<cpf:x>" * depth + b"</cpf:x>" * depth + b"</cpf:passageCertification>", 1)
    assert set(codes(data)) & {"resource_limit", "schema"}


def test_huge_name_is_refused() -> None:
    data = VALID.replace(b"<cpf:idFlux>", b"<cpf:" + b"a" * 60_000 + b"/><cpf:idFlux>", 1)
    assert set(codes(data)) & {"resource_limit", "schema", "not_well_formed"}


def test_utf8_bom_and_processing_instruction_are_fine() -> None:
    data = b"\xef\xbb\xbf" + VALID.replace(
        b"?>", b'?><?xml-stylesheet type="text/xsl" href="http://127.0.0.1:9/x.xsl"?>', 1)
    assert check(data).schema_valid


def test_schema_location_is_never_fetched() -> None:
    # An unreachable address: a fetch would fail (or hang); the verdict must not depend on it.
    data = VALID.replace(
        b"<cpf:flux ", b'<cpf:flux xsi:schemaLocation="urn:cdc:cpf:pc5:schema:1.0.0 '
        b'http://127.0.0.1:9/evil.xsd" ', 1)
    assert check(data).schema_valid


def test_text_nil_is_a_warning_not_a_rejection() -> None:
    result = check(document([passage(scoring="nil")]))
    assert result.schema_valid
    [p] = result.passages
    assert p["ok"] is True
    assert [w["code"] for w in p["warnings"]] == ["valeur_nil_texte"]


def test_positions_of_byte_level_problems() -> None:
    result = check(VALID.replace(b"<cpf:flux", b"<!DOCTYPE x><cpf:flux", 1))
    [problem] = result.errors
    assert (problem.line, problem.column) == (2, 1)
