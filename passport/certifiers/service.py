"""Certifier registry management."""

from __future__ import annotations

import re

import sqlalchemy as sa
from sqlalchemy.orm import Session

from passport.certifiers.models import Certifier, CertifierContract, Mandate

_BCR = re.compile(r"[A-Z0-9]{8}")


class RegistryError(ValueError):
    """A registry change that cannot be made (bad BCR, unknown certifier...)."""


def _bcr(value: str, what: str) -> str:
    if not _BCR.fullmatch(value):
        raise RegistryError(f"{what} must be an 8-character BCR (A-Z, 0-9), got {value!r}")
    return value


def add_certifier(
    session: Session,
    bcr: str,
    contracts: list[str],
    name: str | None = None,
    siret: str | None = None,
) -> Certifier:
    """Create or update a certifier and add its contracts (idempotent)."""
    _bcr(bcr, "--bcr")
    for contract in contracts:
        if not 1 <= len(contract) <= 20:
            raise RegistryError(f"a contract id has 1 to 20 characters, got {contract!r}")
    if siret is not None and not re.fullmatch(r"[0-9]{14}", siret):
        raise RegistryError(f"--siret must be 14 digits, got {siret!r}")
    certifier = session.get(Certifier, bcr)
    if certifier is None:
        certifier = Certifier(bcr=bcr)
        session.add(certifier)
    if name is not None:
        certifier.name = name
    if siret is not None:
        certifier.siret = siret
    session.flush()
    for contract in contracts:
        if session.get(CertifierContract, (bcr, contract)) is None:
            session.add(CertifierContract(certifier_bcr=bcr, contract_id=contract))
    session.flush()
    return certifier


def add_mandate(session: Session, depositor: str, certifier: str) -> Mandate:
    """Allow ``depositor`` to file for ``certifier`` (idempotent)."""
    _bcr(depositor, "--depositor")
    _bcr(certifier, "--certifier")
    if depositor == certifier:
        raise RegistryError("a certifier files for itself without a mandate")
    if session.get(Certifier, certifier) is None:
        raise RegistryError(f"certifier {certifier} is not registered (passport certifiers add)")
    mandate = session.get(Mandate, (depositor, certifier))
    if mandate is None:
        mandate = Mandate(depositor_bcr=depositor, certifier_bcr=certifier)
        session.add(mandate)
        session.flush()
    return mandate


def registry(session: Session) -> list[tuple[Certifier, list[str], list[str]]]:
    """Every certifier with its contracts and mandated depositors."""
    out = []
    for certifier in session.scalars(sa.select(Certifier).order_by(Certifier.bcr)):
        contracts = list(
            session.scalars(
                sa.select(CertifierContract.contract_id)
                .where(CertifierContract.certifier_bcr == certifier.bcr)
                .order_by(CertifierContract.contract_id)
            )
        )
        depositors = list(
            session.scalars(
                sa.select(Mandate.depositor_bcr)
                .where(Mandate.certifier_bcr == certifier.bcr)
                .order_by(Mandate.depositor_bcr)
            )
        )
        out.append((certifier, contracts, depositors))
    return out
