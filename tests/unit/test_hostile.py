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


def _results(count: int, *, header_last: bool = False) -> bytes:
    """Two passages, the second holding ``count`` empty DigComp results (schema-valid)."""
    results = Raw("<cpf:niveauNumeriqueEuropeen><cpf:resultats>" + "<cpf:resultat/>" * count
                  + "</cpf:resultats></cpf:niveauNumeriqueEuropeen>")
    return document([passage("P-1"), passage("P-2", presenceNiveauNumeriqueEuro="true",
                                             niveauNumeriqueEuropeen=results)],
                    header_last=header_last)


def test_a_passage_bigger_than_a_unit_is_refused_before_it_ends() -> None:
    # lxml keeps a passage's subtree, and libxml2's validator its children, until the
    # passage ends: 4 million results took 1 GB (the corpus has that file).
    from ingestion.gate import MAX_UNIT_BYTES

    # (The bound counts from the read in which the previous passage ended: a read late.)
    result = check(_results(2 * MAX_UNIT_BYTES // len("<cpf:resultat/>")))
    assert [(e.code, e.line) for e in result.errors] == [("resource_limit", None)]
    assert "1048576 octets à la suite sans fin de passage" in result.errors[0].message
    assert result.passages == []

    # Just under the bound the passage is read, and rule 2 names 5 problems of 60,000.
    result = check(_results(60_000))
    assert result.schema_valid, result.errors
    first, second = result.passages
    assert first["ok"] and not second["ok"]
    [message] = second["messages"]
    assert message.count("le résultat") == 4
    assert message.endswith("; et 59996 autre(s) problème(s)")


def test_bytes_between_passages_are_a_unit_too() -> None:
    from ingestion.gate import MAX_UNIT_BYTES

    comment = "<!--" + "c" * 1000 + "-->"
    gap = comment * (2 * MAX_UNIT_BYTES // len(comment))
    assert codes(document([passage("P-1"), gap + passage("P-2")])) == ["resource_limit"]
    assert check(document([passage("P-1"), comment * 900 + passage("P-2")])).schema_valid


def test_the_schema_less_first_pass_bounds_its_units() -> None:
    # A file whose header comes last is read twice (prescan, then the reader): both bound.
    from ingestion.errors import FileRejected
    from ingestion.gate import MAX_UNIT_BYTES
    from ingestion.parser import open_gated, prescan

    data = _results(2 * MAX_UNIT_BYTES // len("<cpf:resultat/>"), header_last=True)
    with pytest.raises(FileRejected) as refused:
        prescan(open_gated(lambda: io.BytesIO(data), 10**8))
    assert [p.code for p in refused.value.problems] == ["resource_limit"]
    assert codes(data) == ["resource_limit"]
    small = _results(10, header_last=True)
    assert len(prescan(open_gated(lambda: io.BytesIO(small), 10**8)).certifications) == 1


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
