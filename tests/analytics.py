"""A small, hand-computable population for the analytics tests, built through the real
imports and deposits (so the incremental refreshes run as in production).

Exit 2024-01-31 unless said; entry 2023-09-01; window 12 months.

RNCP37488 at ORG_A — cohort 5, abandoned 1:
  f1  award 2024-02-29   1 month after the exit (31 Jan + 1 month = 29 Feb)   success
  f2  award 2025-01-31   exactly exit + 12 months (the window's edge)          success
  f3  award 2025-02-01   13 months: out at 12, in at 18                         failure
  f4  award 2023-08-01   before the entry                                       failure
  f5  award 2024-03-01   withdrawn by a SUPPRESSION flux                        failure
  f8  ABANDON, exit 2024-03-01
  f9  EN_COURS (not counted)
RNCP34762 at ORG_B — cohort 2:
  f6  award on RNCP39568, its successor sheet, 2024-06-01 (5 months)            success
  f7  no award                                                                  failure
RNCP37488 at ORG_A, exit 2023-06-30 — f10 award 2023-07-15 (1 month)            success
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

from sqlalchemy.orm import Session, sessionmaker

from passport.analytics.refresh import full_refresh
from passport.config import Settings
from passport.db import unit_of_work
from passport.demo.generate import nir_key
from passport.nir import NirVault
from passport.training.service import TRAINING_COLUMNS
from tests.flux import certification, document, dossier, passage
from tests.helpers import ingest, write_csv
from tests.referentials import load_samples

ORG_A = "73282932000074"
ORG_B = "55208131766522"
ENTRY, EXIT = "2023-09-01", "2024-01-31"


def nir(n: int) -> str:
    nir13 = f"1960575123{n:03d}"
    return nir13 + nir_key(nir13)


def id_dossier(n: int) -> str:
    return f"{90000000000 + n}"


FILES: dict[int, dict[str, str]] = {
    1: {"certification_code": "RNCP37488", "siret_organisme": ORG_A, "modalite_acces": "VAE"},
    2: {"certification_code": "RNCP37488", "siret_organisme": ORG_A, "modalite_acces": "VAE"},
    3: {"certification_code": "RNCP37488", "siret_organisme": ORG_A},
    4: {"certification_code": "RNCP37488", "siret_organisme": ORG_A},
    5: {"certification_code": "RNCP37488", "siret_organisme": ORG_A},
    6: {"certification_code": "RNCP34762", "siret_organisme": ORG_B},
    7: {"certification_code": "RNCP34762", "siret_organisme": ORG_B},
    8: {"certification_code": "RNCP37488", "siret_organisme": ORG_A, "statut": "ABANDON",
        "date_sortie": "2024-03-01"},
    9: {"certification_code": "RNCP37488", "siret_organisme": ORG_A, "statut": "EN_COURS",
        "date_sortie": ""},
    10: {"certification_code": "RNCP37488", "siret_organisme": ORG_A, "date_entree": "2023-01-02",
         "date_sortie": "2023-06-30"},
}
#: person → (certification awarded, validity start)
AWARDS: dict[int, tuple[str, str]] = {
    1: ("RNCP37488", "2024-02-29"), 2: ("RNCP37488", "2025-01-31"),
    3: ("RNCP37488", "2025-02-01"), 4: ("RNCP37488", "2023-08-01"),
    5: ("RNCP37488", "2024-03-01"), 6: ("RNCP39568", "2024-06-01"),
    10: ("RNCP37488", "2023-07-15"),
}
IDENTIFIERS = [nir(n) for n in FILES] + [id_dossier(n) for n in FILES] + ["1996-05"]


def training_rows() -> list[dict[str, str]]:
    return [{"id_dossier": id_dossier(n), "nir": nir(n), "nom": "Martin", "prenom": f"P{n}",
             "certification_type": "RNCP", "date_entree": ENTRY, "date_sortie": EXIT,
             "statut": "TERMINE", "siret_organisme": "", "modalite_acces": "", **row}
            for n, row in FILES.items()]


def award(n: int, code_date: tuple[str, str]) -> str:
    day = dt.date.fromisoformat(code_date[1])
    return passage(f"A-{n}", identificationTitulaire=dossier(id_dossier(n), "Martin", f"P{n}"),
                   dateDebutExamen=str(day - dt.timedelta(days=20)),
                   dateFinExamen=str(day - dt.timedelta(days=19)), dateDebutValidite=str(day))


def build(committed: sessionmaker[Session], settings: Settings, tmp: Path) -> None:
    """Referentials, then a first (empty) full refresh, then the imports and deposits —
    each keeping the aggregates up to date incrementally."""
    load_samples(committed, rome=False)
    with unit_of_work(committed) as db:
        full_refresh(db)
    path = write_csv(tmp / "training.csv", (*TRAINING_COLUMNS, "modalite_acces"),
                     training_rows())
    from passport.training.service import import_training_files

    with unit_of_work(committed) as db:
        import_training_files(db, path, NirVault(settings))
    by_code: dict[str, list[str]] = {}
    for n, code_date in AWARDS.items():
        by_code.setdefault(code_date[0], []).append(award(n, code_date))
    ingest(committed, settings, tmp, document(certifications=[
        certification(items, code=code) for code, items in sorted(by_code.items())]), "awards.xml")
    ingest(committed, settings, tmp, document(certifications=[certification(
        [award(5, AWARDS[5])], code="RNCP37488")], action="SUPPRESSION", id_flux="del-1"),
        "del.xml")


def rows_by(result: dict[str, Any], key: str) -> dict[Any, dict[str, Any]]:
    return {row["group"][key]: row for row in result["rows"]}
