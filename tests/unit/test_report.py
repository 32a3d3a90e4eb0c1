"""The report builder: outcomes in document order across its compression chunks."""

from __future__ import annotations

import hashlib
import tempfile
from typing import Any

import pytest
from lxml import etree

from ingestion.report import Report, ReportBuilder
from ingestion.rules import Problem

KO = Problem("doublon", "Le passage existe déjà « é »", "Already stored")
WARNING = Problem("regle_vae", "Règle 3", "Rule 3")


def test_outcomes_round_trip_in_order_across_chunks() -> None:
    builder = ReportBuilder()
    expected = []
    for i in range(2_501):  # more than two chunks of 1,000 lines, and a partial one
        errors = [KO] if i % 7 == 0 else []
        warnings = [WARNING] if i % 11 == 0 else []
        builder.add(f"ID-{i}\n\"x\"", errors, warnings)  # a newline and quotes in an id
        expected.append((f"ID-{i}\n\"x\"", not errors, bool(warnings)))
    report = Report(file_name="f.xml", id_traitement=1, status="TRAITE_AVEC_ERREURS",
                    outcomes=builder.outcomes())
    got = [(p["id"], p["ok"], "warnings" in p) for p in report.passages()]
    assert got == expected
    assert (builder.ok, builder.ko, builder.warnings) == (2_143, 358, 228)
    assert builder.ko_by_code == {"doublon": 358}
    first = next(report.passages())
    assert first["errors"] == [KO.as_dict()] and first["warnings"] == [WARNING.as_dict()]


def test_parts_leave_the_builder_while_outcomes_are_added() -> None:
    """The compressed report goes to the sink in parts as it grows, not at the end."""
    sent: list[tuple[int, int, int]] = []  # (seq, part size, outcomes added so far)
    builder = ReportBuilder(lambda seq, part: sent.append((seq, len(part), added)), 1024)
    for added in range(1, 5_001):
        builder.add(hashlib.sha256(b"%d" % added).hexdigest(), [], [])  # incompressible ids
    during = len(sent)
    total = builder.finish()
    assert during >= 100 and total == len(sent)
    assert [seq for seq, _, _ in sent] == list(range(total))
    assert {size for _, size, _ in sent[:-1]} == {1024}
    assert sent[0][2] <= 1_000  # the first part left after the first thousand outcomes


def test_xml_rendering_past_its_spools_memory_keeps_the_cdc_order(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """OK ids and warnings wait in spools that move to disk past `SPOOL_MEMORY`; the XML
    still lists every KO passage first, then every OK id, then the warnings, in order."""
    monkeypatch.setattr("ingestion.report.SPOOL_MEMORY", 4096)
    spools: list[tempfile.SpooledTemporaryFile[str]] = []
    spooled = tempfile.SpooledTemporaryFile

    def recorded(*args: Any, **kwargs: Any) -> tempfile.SpooledTemporaryFile[str]:
        spools.append(spooled(*args, **kwargs))
        return spools[-1]

    monkeypatch.setattr(tempfile, "SpooledTemporaryFile", recorded)
    builder = ReportBuilder()
    for i in range(3_000):
        builder.add(f"ID-{i}", [KO] if i % 10 == 0 else [], [WARNING] if i % 3 == 0 else [])
    report = Report(file_name="f.xml", id_traitement=1, status="TRAITE_AVEC_ERREURS",
                    id_flux="x", outcomes=builder.outcomes())
    root = etree.fromstring(report.to_xml())
    ko = [p.findtext("idTechnique") for p in root.find("PassagesKO")]
    ok = [e.text for e in root.find("PassagesOK")]
    warned = [p.findtext("idTechnique") for p in root.find("Avertissements")]
    assert ko == [f"ID-{i}" for i in range(0, 3_000, 10)]
    assert ok == [f"ID-{i}" for i in range(3_000) if i % 10]
    assert warned == [f"ID-{i}" for i in range(0, 3_000, 3)]
    assert [spool._rolled for spool in spools] == [True, True]  # both went to disk
