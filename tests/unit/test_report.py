"""The report builder: outcomes in document order across its compression chunks."""

from __future__ import annotations

import hashlib

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
