"""Hostile and broken input: each is refused with its stable code, and nothing crashes.

(untrusted-xml.md; the separate-process corpus with time and memory limits is in
tests/integration/test_hostile_corpus.py.)
"""

from __future__ import annotations

import io

import pytest

from ingestion.pipeline import Source
from ingestion.validate import ValidationResult, validate
from tests.flux import Raw, document, passage
from tests.hostile_corpus import CASES, VALID


def check(data: bytes, max_bytes: int = 10**8, version: str = "1.1.5") -> ValidationResult:
    return validate("hostile.xml", Source(opener=lambda: io.BytesIO(data)), max_bytes=max_bytes,
                    schema_version=version)


def codes(data: bytes, **kwargs: object) -> list[str]:
    result = check(data, **kwargs)  # type: ignore[arg-type]
    assert result.schema_valid is False
    assert result.passages == []
    return [e.code for e in result.errors]


@pytest.mark.parametrize(("name", "data", "expected"), CASES)
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


def test_a_text_made_of_many_references_is_refused_before_libxml2_sees_it() -> None:
    # 2 million references took libxml2's streaming validation half a minute (n² appends).
    from ingestion.gate import MAX_PIECES

    data = VALID.replace(b"<cpf:idFlux>flux-test-1</cpf:idFlux>",
                         b"<cpf:idFlux>" + b"&#65;" * (MAX_PIECES + 1) + b"</cpf:idFlux>")
    assert codes(data) == ["resource_limit"]
    for piece in (b"A<!---->", b"<![CDATA[A]]>", b"A<?p?>"):
        split = VALID.replace(b"<cpf:idFlux>flux-test-1</cpf:idFlux>",
                              b"<cpf:idFlux>" + piece * (MAX_PIECES + 1) + b"</cpf:idFlux>")
        assert codes(split) == ["resource_limit"], piece


def test_the_longest_real_texts_with_every_character_escaped_are_fine() -> None:
    # 255 characters (the schema's longest text), all as references, in every passage.
    escaped = Raw("<cpf:verbatim>" + "&#233;" * 255 + "</cpf:verbatim>")
    data = document([passage(f"P-{i}", verbatim=escaped) for i in range(200)])
    result = check(data)
    assert result.schema_valid, result.errors


def test_markup_limits_hold_across_any_chunking() -> None:
    from ingestion.errors import FileRejected
    from ingestion.gate import MAX_PIECES, MAX_RUN, MarkupLimits

    def feed(data: bytes, size: int) -> None:
        limits = MarkupLimits()
        for i in range(0, len(data), size):
            limits.feed(data[i:i + size])

    many = b"<a>" + b"&amp;" * (MAX_PIECES + 1) + b"</a>"
    just = b"<a>" + b"&amp;" * MAX_PIECES + b"</a><b>" + b"&amp;" * MAX_PIECES + b"</b>"
    long_run = b"<a>" + b"x" * (MAX_RUN + 1) + b"</a>"
    for size in (1, 7, 4096, 1 << 20):
        if size < 4096 or len(long_run) > size:
            with pytest.raises(FileRejected):
                feed(long_run, size)
        with pytest.raises(FileRejected):
            feed(many, size)
        feed(just, size)  # each text at the limit: fine
    attributes = b"<a " + b"".join(b'x%d="" ' % i for i in range(MAX_PIECES + 1)) + b"/>"
    with pytest.raises(FileRejected):
        feed(attributes, 65536)
