"""Per-certification counts of one file, for the certifier's statistics: passages received,
accepted, and refused by family of reason, so a certifier can fix its data at the source."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ingestion.rules import Problem

#: Families of refusal, from the first error's code.
KO_FAMILIES = ("nirisation", "duplicate", "rules", "other")


def family(code: str) -> str:
    """``nirisation`` (no single holder found), ``duplicate``, ``rules`` or ``other``."""
    if code.startswith(("nirisation_", "nir_", "dossier_")):
        return "nirisation"
    if code == "doublon":
        return "duplicate"
    if code.startswith("regle_"):
        return "rules"
    return "other"


@dataclass
class _Counts:
    received: int = 0
    ok: int = 0
    ko: dict[str, int] = field(default_factory=lambda: dict.fromkeys(KO_FAMILIES, 0))
    ko_by_code: dict[str, int] = field(default_factory=dict)


class StatsBuilder:
    """Counts by (certification type, code) while a file is loaded."""

    def __init__(self) -> None:
        self._by_certification: dict[tuple[str, str], _Counts] = {}

    def add(self, certification_type: str | None, certification_code: str | None,
            errors: list[Problem]) -> None:
        key = (certification_type or "", certification_code or "")
        counts = self._by_certification.get(key)
        if counts is None:
            counts = self._by_certification[key] = _Counts()
        counts.received += 1
        if not errors:
            counts.ok += 1
            return
        code = errors[0].code
        counts.ko[family(code)] += 1
        counts.ko_by_code[code] = counts.ko_by_code.get(code, 0) + 1

    def rows(self) -> list[dict[str, Any]]:
        """One row per certification."""
        return [
            {"certification_type": t, "certification_code": c, "received": n.received,
             "ok": n.ok, **{f"ko_{name}": n.ko[name] for name in KO_FAMILIES},
             "ko_by_code": n.ko_by_code}
            for (t, c), n in sorted(self._by_certification.items())
        ]
