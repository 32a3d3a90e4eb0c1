"""The report builder: outcomes in document order across its compression chunks."""

from __future__ import annotations

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
