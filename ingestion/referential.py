"""Checks of a flux against the referentials, when they are loaded: a certification code
France compétences does not know, a certifier the sheet does not list (through the
registry's BCR → SIRET), an award after the sheet's last delivery date. Warnings in the
report; KO in strict mode (``PASSPORT_REFERENTIAL_STRICT``)."""

from __future__ import annotations

import datetime as dt

import sqlalchemy as sa
from sqlalchemy.orm import Session

from ingestion.rules import VALUE_COLUMNS, Problem
from passport.certifiers.models import Certifier
from passport.referentials.models import Sheet, SheetCertifier

_START = VALUE_COLUMNS.index("date_debut_validite")


def unknown_code(code: str) -> Problem:
    return Problem(
        "referentiel_code_inconnu",
        f"Le code {code} n'existe pas dans le référentiel France compétences chargé",
        f"Code {code} is not in the loaded France compétences referential")


def certifier_not_listed(bcr: str, siret: str, code: str) -> Problem:
    return Problem(
        "referentiel_certificateur_absent",
        f"Le certificateur {bcr} (SIRET {siret}) ne figure pas parmi les certificateurs de "
        f"la fiche {code}",
        f"Certifier {bcr} (SIRET {siret}) is not listed on sheet {code}")


def after_deadline(code: str, start: str, deadline: dt.date) -> Problem:
    return Problem(
        "referentiel_delivrance_tardive",
        f"La validité commence le {start}, après la date limite de délivrance de la fiche "
        f"{code} ({deadline:%d/%m/%Y})",
        f"Validity starts {start}, after the last delivery date of sheet {code} "
        f"({deadline:%Y-%m-%d})")


class ReferentialCheck:
    """Per file: each certification context is looked up once."""

    def __init__(self, session: Session, certifier_bcr: str | None) -> None:
        self.session = session
        self.loaded = {r for (r,) in session.execute(
            sa.select(Sheet.repertoire).distinct())}
        certifier = session.get(Certifier, certifier_bcr) if certifier_bcr else None
        self.bcr, self.siret = certifier_bcr, certifier.siret if certifier else None
        self._cache: dict[tuple[str, str], tuple[list[Problem], dt.date | None]] = {}

    def _context(self, type_: str, code: str) -> tuple[list[Problem], dt.date | None]:
        key = (type_, code)
        if key not in self._cache:
            problems: list[Problem] = []
            deadline = None
            if type_ in self.loaded:
                sheet = self.session.get(Sheet, code)
                if sheet is None:
                    problems.append(unknown_code(code))
                else:
                    deadline = sheet.delivery_deadline
                    sirets = {s for (s,) in self.session.execute(sa.select(
                        SheetCertifier.siret).where(SheetCertifier.numero == code))}
                    if self.siret and sirets - {None} and self.siret not in sirets:
                        problems.append(certifier_not_listed(self.bcr or "", self.siret, code))
            self._cache[key] = (problems, deadline)
        return self._cache[key]

    def problems(self, type_: str | None, code: str | None, row: tuple[object, ...]
                 ) -> list[Problem]:
        """The referential's remarks on one passage."""
        if not type_ or not code or not self.loaded:
            return []
        problems, deadline = self._context(type_, code)
        start = row[_START]
        if deadline is not None and isinstance(start, str) and start > deadline.isoformat():
            return [*problems, after_deadline(code, start, deadline)]
        return problems
