"""Streaming reader: extraction, out-of-order context, truncation, positions, freeing."""

from __future__ import annotations

import io
import re

import pytest
from lxml import etree

from ingestion.diagnose import locate_problems
from ingestion.errors import FileRejected
from ingestion.gate import GatedStream
from ingestion.parser import FluxReader, NeedsPrescan, extract_passage, prescan
from ingestion.pipeline import Source, read_checked
from tests.conftest import OFFICIAL_EXAMPLE
from tests.flux import certification, document, passage

OFFICIAL = OFFICIAL_EXAMPLE.read_bytes()


def stream(data: bytes) -> GatedStream:
    return GatedStream(io.BytesIO(data), 10**9).open()


def test_extracts_every_field_of_the_official_example() -> None:
    reader = FluxReader(stream(OFFICIAL))
    items = list(reader)
    assert reader.header.id_flux == "6e3c7378-bda4-497a-9bd6-dc203f903ed9"
    assert reader.header.emitter_bcr == "AB123CDE"
    assert reader.header.certifier_bcr == "E564ACB0"
    assert reader.header.contract_id == "2560080000127J"
    assert reader.header.horodatage == "2020-12-18T14:24:12+01:00"
    assert len(items) == 3
    cert, first = items[0]
    assert (cert.type, cert.code, cert.nature_deposant) == ("RNCP", "RNCP19117", "CERTIFICATEUR")
    assert first["idTechnique"] == "db855769-bcd6-4253-93cf-e666db666c0a"
    assert first["dateFinValidite"] is None  # xsi:nil
    assert first["niveauNumeriqueEuropeen"]["scoreGeneral"] == "890"
    assert first["niveauNumeriqueEuropeen"]["resultats"][0] == {
        "niveau": "5", "domaineCompetenceId": "3", "competenceId": "4"}
    assert first["voieAccessVAE"] == "VAE_CLASSIQUE"
    assert first["identification"] == "titulaire"
    assert first["titulaire"]["codeInsee"] == "31555"
    assert first["titulaire"]["prenom3"] == "Philippe"
    second = items[1][1]
    assert second["identification"] == "dossierFormation"
    assert second["titulaire"] == {"idDossier": "1234567891011", "nomTitulaire": "Dupont",
                                   "prenom1Titulaire": "Antoine"}


def test_any_prefix_gives_the_same_extraction() -> None:
    default_ns = OFFICIAL.replace(b"<cpf:", b"<").replace(b"</cpf:", b"</").replace(
        b"xmlns:cpf=", b"xmlns=")
    assert [p for _, p in FluxReader(stream(default_ns))] == [
        p for _, p in FluxReader(stream(OFFICIAL))]


def test_header_after_passages_needs_a_prescan_before_anything_is_yielded() -> None:
    data = document([passage("A"), passage("B")], header_last=True)
    reader = FluxReader(stream(data))
    with pytest.raises(NeedsPrescan):
        next(iter(reader))
    found = prescan(stream(data))
    assert found.header.emitter_bcr == "CERT0001"
    items = list(FluxReader(stream(data), prescanned=found))
    assert [p["idTechnique"] for _, p in items] == ["A", "B"]
    assert items[0][0].code == "RNCP34762"


def test_certification_code_after_its_passages() -> None:
    cert = (
        "<cpf:certification><cpf:passageCertifications>" + passage("A")
        + "</cpf:passageCertifications><cpf:type>RS</cpf:type><cpf:code>RS5875</cpf:code>"
        "</cpf:certification>"
    )
    data = document(certifications=[certification([passage("Z")]), cert])
    with pytest.raises(NeedsPrescan):
        list(FluxReader(stream(data)))
    found = prescan(stream(data))
    items = list(FluxReader(stream(data), prescanned=found))
    assert [(c.code, p["idTechnique"]) for c, p in items] == [("RNCP34762", "Z"), ("RS5875", "A")]


def test_late_action_restarts_after_passages() -> None:
    data = document([passage("A")], action="SUPPRESSION", header_last=True)
    found = prescan(stream(data))
    assert found.header.is_suppression


def test_action_after_first_passage_raises_needs_prescan_mid_file() -> None:
    base = document([passage("A")])
    data = base.replace(b"</cpf:emetteur>", b"</cpf:emetteur><cpf:action>SUPPRESSION</cpf:action>")
    reader = iter(FluxReader(stream(data)))
    next(reader)
    with pytest.raises(NeedsPrescan):
        next(reader)


def test_read_checked_in_a_child_process_matches_in_process(tmp_path) -> None:
    path = tmp_path / "f.xml"
    path.write_bytes(document([passage(f"P{i}") for i in range(25)]))
    kwargs = {"max_bytes": 10**7, "schema_version": "1.1.5", "batch_size": 10}
    inside = [c for b in read_checked(Source(path), **kwargs) for _, c in b.items]
    child = [c for b in read_checked(Source(path), subprocess_min_bytes=0, **kwargs)
             for _, c in b.items]
    assert [c.id_technique for c in child] == [f"P{i}" for i in range(25)]
    assert child == inside


def test_child_process_rejection_and_crash(tmp_path, monkeypatch) -> None:
    path = tmp_path / "bad.xml"
    path.write_bytes(document()[:200])
    with pytest.raises(FileRejected) as exc:
        list(read_checked(Source(path), max_bytes=10**7, schema_version="1.1.5", batch_size=10,
                          subprocess_min_bytes=0))
    assert exc.value.code in ("truncated", "not_well_formed")
    # A native crash of the reader (simulated: the child dies by a signal) rejects the file.
    monkeypatch.setenv("PASSPORT_READER_SELF_TEST_CRASH", "1")
    path.write_bytes(document())
    with pytest.raises(FileRejected) as exc:
        list(read_checked(Source(path), max_bytes=10**7, schema_version="1.1.5", batch_size=10,
                          subprocess_min_bytes=0))
    assert exc.value.code == "parser_crash"
    assert "signal" in exc.value.problems[0].message


@pytest.mark.parametrize("child", [False, True])
def test_a_rejection_carries_the_header_read_before_it(tmp_path, child: bool) -> None:
    """In process or from the child, a file refused past its header says what the header
    was (the deposit can then be shown to its certifier); one cut inside it does not."""
    options = {"max_bytes": 10**7, "schema_version": "1.1.5", "batch_size": 10,
               "subprocess_min_bytes": 0 if child else None}
    path = tmp_path / "late.xml"
    path.write_bytes(document([passage("P1"), passage("P2", sexe="X")], id_flux="late-1",
                              emitter="DEPO0001"))
    with pytest.raises(FileRejected) as exc:
        list(read_checked(Source(path), **options))
    assert exc.value.code == "schema"
    header = exc.value.header
    assert header is not None
    assert (header.id_flux, header.emitter_bcr, header.certifier_bcr, header.contract_id) == (
        "late-1", "DEPO0001", "CERT0001", "CTR-0001")
    cut = document(id_flux="cut-1")
    path.write_bytes(cut[:cut.index(b"</cpf:idFlux>")])
    with pytest.raises(FileRejected) as exc:
        list(read_checked(Source(path), **options))
    assert exc.value.header is None


def test_processed_passages_are_freed() -> None:
    data = document([passage(f"P{i}") for i in range(50)])
    reader = FluxReader(stream(data))
    sizes = []
    for _cert, _p in reader:
        # The certification's passage container never holds more than the current passage.
        sizes.append(1)
    assert len(sizes) == 50


def test_truncated_file_is_detected_even_when_the_validator_stays_silent() -> None:
    data = document([passage("A"), passage("B")])
    cut = data[: data.index(b"</cpf:certifications>")]
    with pytest.raises(FileRejected) as exc:
        list(FluxReader(stream(cut)))
    assert exc.value.code in ("truncated", "not_well_formed")


class Trickle(io.RawIOBase):
    """A file that gives at most ``size`` bytes a read, as a slow upload or pipe does."""

    def __init__(self, data: bytes, size: int) -> None:
        self._data, self._size, self._at = data, size, 0

    def readable(self) -> bool:
        return True

    def read(self, size: int = -1) -> bytes:
        chunk = self._data[self._at:self._at + min(self._size, size if size >= 0 else self._size)]
        self._at += len(chunk)
        return chunk


def test_every_cut_of_a_file_is_refused_and_no_read_size_refuses_the_whole() -> None:
    """lxml 6.2 closes a truncated document by emitting the `end` of every element left
    open, root included, without an error when a schema is plugged in: the root's end must
    be seen before the end of the input. Every cut of a file (inside the last passage, the
    closing tags and between them) is refused; the whole file is accepted read 1 byte, 7
    bytes… at a time (the root's end tag split across reads)."""
    data = document([passage("A"), passage("B")]).rstrip()
    start = data.rindex(b"<cpf:passageCertification>")
    for cut in range(start, len(data)):
        with pytest.raises(FileRejected) as exc:
            list(FluxReader(stream(data[:cut])))
        # Never the validator's word on the cut element (a tag name cut to `<c`).
        assert [p.code for p in exc.value.problems] in (["truncated"], ["not_well_formed"]), cut
    asked_nothing = stream(data)
    assert asked_nothing.read(0) == b"" and not asked_nothing.ended
    for size in (1, 2, 3, 7, 64, 4096):
        for whole in (data, data + b"\n", data + b"\n<!-- fin -->\n"):
            reader = FluxReader(GatedStream(Trickle(whole, size), 10**9).open())
            assert [p["idTechnique"] for _, p in reader] == ["A", "B"], size


def test_schema_error_stops_the_work_at_that_passage() -> None:
    good = [passage(f"P{i}") for i in range(5)]
    bad = passage("BAD", obtentionCertification="NOPE")
    data = document([*good, bad, *good])
    reader = FluxReader(stream(data))
    seen: list[str] = []

    def read_all() -> None:
        for _, p in reader:
            seen.append(p["idTechnique"])

    with pytest.raises(FileRejected):
        read_all()
    assert "BAD" not in seen
    assert len(seen) <= 5


def test_every_schema_error_is_positioned_line_and_column() -> None:
    data = document([passage("A", obtentionCertification="X"), passage("B"),
                     passage("C", mentionValidee="Y")])
    text = data.decode()
    problems = locate_problems(lambda: io.BytesIO(data), max_bytes=10**7)
    assert [p.code for p in problems] == ["schema", "schema"]
    for problem, (tag, value) in zip(problems, [("obtentionCertification", "X"),
                                               ("mentionValidee", "Y")], strict=True):
        line = text.splitlines()[problem.line - 1]
        assert line[problem.column - 1:].startswith(f"<cpf:{tag}>{value}")


def test_the_diagnosis_skips_the_passages_the_first_pass_read() -> None:
    # Passages handed out in batches were valid, and nothing before them broke the schema:
    # the diagnosis releases them unchecked (~25 % of it for an error far in the file).
    from ingestion.pipeline import Source, read_checked

    data = document([passage(f"P-{i}") for i in range(2500)]
                    + [passage("BAD", sexe="X"), passage("C", mentionValidee="Y")])
    with pytest.raises(FileRejected) as rejected:
        for _ in read_checked(Source(opener=lambda: io.BytesIO(data)), max_bytes=10**8,
                              schema_version="1.1.5", batch_size=1000):
            pass
    assert rejected.value.valid_passages == 2000  # two whole batches before the third failed
    everything = locate_problems(lambda: io.BytesIO(data), max_bytes=10**8)
    skipping = locate_problems(lambda: io.BytesIO(data), max_bytes=10**8,
                               valid_passages=rejected.value.valid_passages)
    assert len(everything) == 2 and skipping == everything
    # (Told more than the truth, it would miss what it skipped: the skip is real.)
    assert len(locate_problems(lambda: io.BytesIO(data), max_bytes=10**8,
                               valid_passages=2501)) == 1


def test_positions_in_a_pretty_printed_file() -> None:
    pretty = OFFICIAL.replace(b"<cpf:sexe>M</cpf:sexe>", b"<cpf:sexe>X</cpf:sexe>", 1)
    [problem] = locate_problems(lambda: io.BytesIO(pretty), max_bytes=10**7)
    assert (problem.line, problem.column) == (65, 31)
    assert "cpf:sexe" in problem.message


def test_structural_errors_are_positioned() -> None:
    data = OFFICIAL.replace(b"</cpf:certificateur>",
                            b"</cpf:certificateur><cpf:certificateur/>", 1)
    [problem] = locate_problems(lambda: io.BytesIO(data), max_bytes=10**7)
    assert problem.line == 187
    assert re.search("certificateur.*not expected", problem.message)


def test_extraction_agrees_with_a_tree_walk() -> None:
    root = etree.fromstring(OFFICIAL)
    for element in root.iter("{urn:cdc:cpf:pc5:schema:1.0.0}passageCertification"):
        extracted = extract_passage(element)
        leaves = {e.tag.split("}")[1] for e in element.iter() if len(e) == 0}
        found = set(extracted) | set(extracted["titulaire"]) | {"scoreGeneral", "niveau",
                                                               "domaineCompetenceId",
                                                               "competenceId", "resultat"}
        assert leaves <= found
