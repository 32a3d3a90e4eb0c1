"""Consents to CEP advisors: grants, advisor-initiated requests, receipts, advisor reads.

A consent covers an organisation (SIRET) and optionally one named advisor (email), for
chosen sections, a purpose and a duration (1 day to 1 year). Every advisor request checks
the consent in the database, so a revoked or expired consent blocks the very next request;
every advisor read is journaled with the consent's id.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import secrets
import uuid
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from passport import ratelimit
from passport.auth.access import Actor
from passport.auth.models import Role
from passport.cleanup import Leftovers
from passport.consents.models import Consent, ConsentReceipt, ConsentRequest
from passport.db import utcnow
from passport.errors import Gone, InvalidInput, NotFound, RateLimited
from passport.holders.models import Holder, IdentityRecord
from passport.journal import service as journal
from passport.journal.models import JournalEntry
from passport.records import service as records
from passport.sharing import verification
from passport.sharing.verification import ALPHABET

CODE_TTL = dt.timedelta(minutes=15)
#: A request an advisor made lapses if the holder has not decided it within this time.
PENDING_TTL = dt.timedelta(days=30)
CODE_LENGTH = 8
#: How often an advisor's listing of a holder is journaled at most.
LISTED_EVERY = dt.timedelta(hours=1)
#: Codes an advisor may try per minute (8 characters of 32: 2^40 codes, 15 minutes each).
REDEEM_PER_MINUTE = 10
CONTROLLER = {
    "piiController": "Caisse des Dépôts et Consignations — Mon Compte Formation",
    "contact": "Délégué à la protection des données",
    "address": "56 rue de Lille, 75007 Paris, France",
    "email": "dpo@caissedesdepots.fr",
    "phone": "+33 1 58 50 00 00",
}
PURPOSE_LABELS = {
    "accompagnement_cep": "Accompagnement en conseil en évolution professionnelle (CEP)",
    "bilan_competences": "Bilan de compétences",
    "autre": "Autre finalité",
}
SECTION_LABELS = {"certifications": "Certifications et diplômes attestés",
                  "declarations": "Éléments déclarés", "cv": "CV"}


def _code_hash(code: str) -> str:
    return hashlib.sha256(code.encode()).hexdigest()


def _duration(days: int) -> dt.timedelta:
    if not 1 <= days <= 365:
        raise InvalidInput("A consent lasts from 1 day to 1 year.", errors=[
            {"field": "duration_days", "source": "json", "messages": ["between 1 and 365"]}])
    return dt.timedelta(days=days)


def _status(consent: Consent, now: dt.datetime) -> str:
    if consent.revoked_at is not None:
        return "revoked"
    if consent.expires_at <= now:
        return "expired"
    if consent.starts_at > now:
        return "scheduled"
    return "active"


def view(consent: Consent) -> dict[str, Any]:
    """A consent as its holder sees it."""
    return {
        "id": consent.id, "organisation_siret": consent.organisation_siret,
        "advisor_email": consent.advisor_email, "sections": consent.sections,
        "purpose": consent.purpose, "purpose_text": consent.purpose_text,
        "given_via": consent.given_via, "starts_at": consent.starts_at,
        "expires_at": consent.expires_at, "revoked_at": consent.revoked_at,
        "status": _status(consent, utcnow()), "created_at": consent.created_at,
        "updated_at": consent.updated_at,
    }


def _receipt(db: Session, holder_id: int, event: str, *, consent: Consent | None = None,
             request: ConsentRequest | None = None, now: dt.datetime | None = None
             ) -> ConsentReceipt:
    """Issue a consent receipt (Kantara Consent Receipt v1.1 fields, ISO/IEC TS 27560
    event types): what was agreed, with whom, for what, until when, and how to withdraw."""
    now = now or utcnow()
    source = consent or request
    assert source is not None
    receipt_id = str(uuid.uuid4())
    recipient = f"Organisme SIRET {source.organisation_siret}"
    if source.advisor_email:
        recipient += f", conseiller {source.advisor_email}"
    sections = list(source.sections or [])
    start = consent.starts_at if consent else now
    end = consent.expires_at if consent else None
    document = {
        "version": "KI-CR-v1.1.0",
        "jurisdiction": "FR",
        "consentTimestamp": int(now.timestamp()),
        "collectionMethod": ("Donné par le titulaire dans son passeport"
                             if (consent and consent.given_via == "holder")
                             else "Demandé par le conseiller, décidé par le titulaire"),
        "consentReceiptID": receipt_id,
        "language": "fr",
        "piiPrincipalId": f"titulaire:{holder_id}",
        "piiControllers": [CONTROLLER],
        "policyUrl": "https://passport.example/confidentialite",
        "services": [{
            "service": "Accès d'un conseiller à votre passeport de compétences",
            "purposes": [{
                "purpose": PURPOSE_LABELS.get(source.purpose or "autre", "Autre")
                + (f" : {source.purpose_text}" if source.purpose_text else ""),
                "purposeCategory": [source.purpose or "autre"],
                "consentType": "EXPLICIT",
                "piiCategory": [SECTION_LABELS[s] for s in sections],
                "primaryPurpose": True,
                "termination": (f"Jusqu'au {end:%d/%m/%Y à %H:%M} UTC, ou à votre retrait"
                                if end else "Sans objet (refusé)"),
                "thirdPartyDisclosure": event != "refused",
                "thirdPartyName": recipient,
            }],
        }],
        "sensitive": False,
        "spiCat": [],
        # ISO/IEC TS 27560 record fields
        "event": {"type": event, "time": now.isoformat()},
        "validity": {"start": start.isoformat(), "end": end.isoformat() if end else None},
        "recipients": [recipient],
        "withdrawal": {
            "method": "Retirez votre consentement à tout moment dans votre passeport "
                      "(Consentements), ou par l'API : DELETE /api/v1/me/consents/{id}.",
            "effect": "Le conseiller perd l'accès dès sa requête suivante.",
        },
        "consentId": consent.id if consent else None,
    }
    receipt = ConsentReceipt(id=receipt_id, holder_id=holder_id,
                             consent_id=consent.id if consent else None,
                             request_id=request.id if request else None, event=event,
                             document=document, created_at=now)
    db.add(receipt)
    db.flush()
    return receipt


def _new_consent(db: Session, holder_id: int, data: dict[str, Any], given_via: str) -> Consent:
    now = utcnow()
    consent = Consent(
        holder_id=holder_id, reference=secrets.token_urlsafe(18),
        organisation_siret=data["organisation_siret"],
        advisor_email=(data.get("advisor_email") or "").lower() or None,
        sections=sorted(set(data["sections"])), purpose=data["purpose"],
        purpose_text=data.get("purpose_text"), given_via=given_via, starts_at=now,
        expires_at=now + _duration(data["duration_days"]), created_at=now, updated_at=now)
    db.add(consent)
    db.flush()
    return consent


def grant(db: Session, actor: Actor, data: dict[str, Any]) -> dict[str, Any]:
    """The holder grants a consent."""
    holder_id = actor.own_holder_id()
    consent = _new_consent(db, holder_id, data, "holder")
    receipt = _receipt(db, holder_id, "granted", consent=consent)
    journal.append(db, holder_id, "consent.granted", actor_label="Vous", consent_id=consent.id,
                   details={"organisation_siret": consent.organisation_siret,
                            "sections": consent.sections, "receipt_id": receipt.id})
    return view(consent)


def _own(db: Session, actor: Actor, consent_id: int, *, for_update: bool = False) -> Consent:
    """One of the caller's consents; ``for_update`` for a change (two withdrawals sent at
    once would each issue a receipt)."""
    query = sa.select(Consent).where(Consent.id == consent_id,
                                     Consent.holder_id == actor.own_holder_id())
    consent = db.scalar(query.with_for_update() if for_update else query)
    if consent is None:
        raise NotFound("No such consent.")
    return consent


def listing(db: Session, actor: Actor) -> list[dict[str, Any]]:
    return [view(c) for c in db.scalars(sa.select(Consent).where(
        Consent.holder_id == actor.own_holder_id()).order_by(Consent.created_at.desc(),
                                                             Consent.id.desc()))]


def one(db: Session, actor: Actor, consent_id: int) -> dict[str, Any]:
    return view(_own(db, actor, consent_id))


def renew(db: Session, actor: Actor, consent_id: int, duration_days: int) -> dict[str, Any]:
    """Extend a consent for ``duration_days`` from now."""
    consent = _own(db, actor, consent_id, for_update=True)
    if consent.revoked_at is not None:
        raise InvalidInput("A withdrawn consent cannot be renewed; grant a new one.")
    now = utcnow()
    consent.expires_at = now + _duration(duration_days)
    consent.updated_at = now
    receipt = _receipt(db, consent.holder_id, "renewed", consent=consent)
    journal.append(db, consent.holder_id, "consent.renewed", actor_label="Vous",
                   consent_id=consent.id, details={"receipt_id": receipt.id,
                                                   "expires_at": consent.expires_at.isoformat()})
    return view(consent)


def revoke(db: Session, actor: Actor, consent_id: int) -> None:
    """Withdraw a consent: the advisor's very next request answers 404."""
    consent = _own(db, actor, consent_id, for_update=True)
    if consent.revoked_at is None:
        consent.revoked_at = consent.updated_at = utcnow()
        receipt = _receipt(db, consent.holder_id, "revoked", consent=consent)
        journal.append(db, consent.holder_id, "consent.revoked", actor_label="Vous",
                       consent_id=consent.id, details={"receipt_id": receipt.id})


def receipts(db: Session, actor: Actor) -> list[ConsentReceipt]:
    """Every receipt of the caller, newest first."""
    return list(db.scalars(sa.select(ConsentReceipt).where(
        ConsentReceipt.holder_id == actor.own_holder_id())
        .order_by(ConsentReceipt.created_at.desc())))


def consent_receipts(db: Session, actor: Actor, consent_id: int) -> list[ConsentReceipt]:
    """The receipts of one of the caller's consents, oldest first."""
    consent = _own(db, actor, consent_id)
    return list(db.scalars(sa.select(ConsentReceipt).where(
        ConsentReceipt.consent_id == consent.id).order_by(ConsentReceipt.created_at)))


def receipt(db: Session, actor: Actor, receipt_id: str) -> ConsentReceipt:
    found = db.scalar(sa.select(ConsentReceipt).where(
        ConsentReceipt.id == receipt_id, ConsentReceipt.holder_id == actor.own_holder_id()))
    if found is None:
        raise NotFound("No such receipt.")
    return found


# -- advisor-initiated requests -------------------------------------------------------------
def new_code(db: Session, actor: Actor) -> dict[str, Any]:
    """A one-time code (15 minutes) the holder reads to their advisor."""
    holder_id = actor.own_holder_id()
    while True:
        code = "".join(secrets.choice(ALPHABET) for _ in range(CODE_LENGTH))
        if db.scalar(sa.select(ConsentRequest.id).where(
                ConsentRequest.code_hash == _code_hash(code))) is None:
            break
    now = utcnow()
    request = ConsentRequest(holder_id=holder_id, code_hash=_code_hash(code),
                             code_expires_at=now + CODE_TTL, status="code", created_at=now,
                             updated_at=now)
    db.add(request)
    db.flush()
    return {"code": f"{code[:4]}-{code[4:]}", "expires_at": request.code_expires_at,
            "request_id": request.id}


class RequestLapsed(Gone):
    code = "consent_request_expired"
    title = "Consent request expired"


def _lapses_at(request: ConsentRequest) -> dt.datetime | None:
    """When a request waiting for the holder lapses (None once decided)."""
    return request.updated_at + PENDING_TTL if request.status == "pending" else None


def request_view(request: ConsentRequest, now: dt.datetime | None = None) -> dict[str, Any]:
    lapses_at = _lapses_at(request)
    lapsed = lapses_at is not None and lapses_at <= (now or utcnow())
    return {
        "id": request.id, "status": "expired" if lapsed else request.status,
        "expires_at": lapses_at,
        "organisation_siret": request.organisation_siret,
        "advisor_email": request.advisor_email, "advisor_name": request.advisor_name,
        "sections": request.sections, "purpose": request.purpose,
        "purpose_text": request.purpose_text, "duration_days": request.duration_days,
        "consent_id": request.consent_id, "created_at": request.created_at,
        "updated_at": request.updated_at,
    }


def redeem(db: Session, advisor: Actor, data: dict[str, Any]) -> dict[str, Any]:
    """The advisor types the holder's code: a pending request the holder will decide."""
    assert advisor.role is Role.ADVISOR and advisor.account is not None
    wait = ratelimit.hit(db, f"consent-code:{advisor.account.id}", REDEEM_PER_MINUTE,
                         dt.timedelta(minutes=1))
    if wait is not None:
        raise RateLimited("Too many codes tried; wait a minute.", wait)
    if not advisor.account.siret:
        raise InvalidInput("Your login carries no organisation (SIRET): a consent is given to "
                           "an organisation.")
    now = utcnow()
    request = db.scalar(sa.select(ConsentRequest).where(
        ConsentRequest.code_hash == _code_hash(verification.clean(data["code"])),
        ConsentRequest.status == "code").with_for_update())
    if request is None or request.code_expires_at <= now:
        raise NotFound("This code is unknown, used or expired; ask the holder for a new one.")
    _duration(data["duration_days"])
    request.status = "pending"
    request.advisor_account_id = advisor.account.id
    request.organisation_siret = advisor.account.siret
    request.advisor_email = advisor.account.email if data.get("named", True) else None
    request.advisor_name = advisor.account.display_name
    request.sections = sorted(set(data["sections"]))
    request.purpose, request.purpose_text = data["purpose"], data.get("purpose_text")
    request.duration_days = data["duration_days"]
    request.updated_at = now
    journal.append(db, request.holder_id, "consent.requested", actor_type="advisor",
                   actor_label=_advisor_label(advisor),
                   details={"request_id": request.id, "sections": request.sections})
    return {"id": request.id, "status": request.status, "sections": request.sections,
            "purpose": request.purpose, "duration_days": request.duration_days}


def advisor_requests(db: Session, advisor: Actor) -> list[dict[str, Any]]:
    """The requests this advisor made, newest first: where each stands, and the consent's
    reference once approved — nothing of the holder (an approved one's name comes with the
    holders list, which is journaled)."""
    assert advisor.account is not None
    now = utcnow()
    rows = db.execute(
        sa.select(ConsentRequest, Consent)
        .outerjoin(Consent, Consent.id == ConsentRequest.consent_id)
        .where(ConsentRequest.advisor_account_id == advisor.account.id)
        .order_by(ConsentRequest.id.desc())).all()
    found = []
    for request, consent in rows:
        view = request_view(request, now)
        found.append({key: view[key] for key in (
            "id", "status", "expires_at", "sections", "purpose", "purpose_text",
            "duration_days", "created_at", "updated_at")} | {
            "named": request.advisor_email is not None,
            "consent_reference": consent.reference if consent else None,
            "consent_status": _status(consent, now) if consent else None})
    return found


def pending(db: Session, actor: Actor) -> list[dict[str, Any]]:
    return [request_view(r) for r in db.scalars(sa.select(ConsentRequest).where(
        ConsentRequest.holder_id == actor.own_holder_id(),
        ConsentRequest.status.in_(("pending", "approved", "refused")))
        .order_by(ConsentRequest.updated_at.desc()))]


def decide(db: Session, actor: Actor, request_id: int, approve: bool) -> dict[str, Any]:
    """The holder approves (a consent is created) or refuses a pending request."""
    # Locked: two decisions sent at once (a double click, two devices) would each find it
    # pending and each create a consent.
    request = db.scalar(sa.select(ConsentRequest).where(
        ConsentRequest.id == request_id, ConsentRequest.holder_id == actor.own_holder_id())
        .with_for_update())
    if request is None or request.status != "pending":
        raise NotFound("No such pending request.")
    now = utcnow()
    lapses_at = _lapses_at(request)
    if lapses_at is not None and lapses_at <= now:
        raise RequestLapsed(f"This request waited for your decision until {lapses_at:%Y-%m-%d} "
                            "and has lapsed; the advisor can ask again with a new code.")
    request.updated_at = now
    if approve:
        assert request.organisation_siret and request.sections and request.purpose
        consent = _new_consent(db, request.holder_id, {
            "organisation_siret": request.organisation_siret,
            "advisor_email": request.advisor_email, "sections": request.sections,
            "purpose": request.purpose, "purpose_text": request.purpose_text,
            "duration_days": request.duration_days}, "advisor_request")
        request.status, request.consent_id = "approved", consent.id
        receipt = _receipt(db, request.holder_id, "granted", consent=consent, request=request)
        journal.append(db, request.holder_id, "consent.granted", actor_label="Vous",
                       consent_id=consent.id, details={"request_id": request.id,
                                                       "receipt_id": receipt.id})
    else:
        request.status = "refused"
        receipt = _receipt(db, request.holder_id, "refused", request=request)
        journal.append(db, request.holder_id, "consent.refused", actor_label="Vous",
                       details={"request_id": request.id, "receipt_id": receipt.id})
    return request_view(request)


# -- the advisor side -----------------------------------------------------------------------
def _advisor_label(advisor: Actor) -> str:
    account = advisor.account
    assert account is not None
    name = account.display_name or account.email or "Conseiller"
    return f"{name} — organisme SIRET {account.siret}"


# Consents covering an advisor (parameters: `_covering`'s) and the holder's identity: built
# once, as every advisor read runs them.
_COVERS = sa.and_(
    Consent.organisation_siret == sa.bindparam("siret"),
    sa.or_(Consent.advisor_email.is_(None), Consent.advisor_email == sa.bindparam("email")),
    Consent.revoked_at.is_(None), Consent.starts_at <= sa.bindparam("now"),
    Consent.expires_at > sa.bindparam("now"))
_COVERING = sa.select(Consent).where(_COVERS).order_by(Consent.expires_at)
# With the holder's identity (for the name): one round trip less on every advisor read.
_COVERING_REFERENCE = (
    sa.select(Consent, IdentityRecord).join(Holder, Holder.id == Consent.holder_id)
    .outerjoin(IdentityRecord, IdentityRecord.nir_hmac == Holder.nir_hmac)
    .where(Consent.reference == sa.bindparam("reference"), _COVERS))
_IDENTITY = (sa.select(IdentityRecord).join(Holder, Holder.nir_hmac == IdentityRecord.nir_hmac)
             .where(Holder.id == sa.bindparam("holder_id")))


def _covering(advisor: Actor, now: dt.datetime) -> dict[str, Any]:
    """The parameters of the consents covering ``advisor`` at ``now``: their organisation,
    for everyone in it or for this advisor, neither revoked nor expired."""
    account = advisor.account
    assert account is not None
    return {"siret": account.siret, "email": account.email, "now": now}


def holder_name(db: Session, holder_id: int) -> str | None:
    """The holder's first name and name, from the identity directory."""
    return _name(db.scalar(_IDENTITY, {"holder_id": holder_id}))


def _name(record: IdentityRecord | None) -> str | None:
    if record is None:
        return None
    return " ".join(filter(None, [record.prenom1, record.nom_usage or record.nom_naissance]))


def advisor_holders(db: Session, advisor: Actor) -> list[dict[str, Any]]:
    """The holders whose active consent covers this advisor, by consent reference."""
    now = utcnow()
    consents = db.scalars(_COVERING, _covering(advisor, now)).all()
    # Seeing the holder's name in the list is a read too: journaled, once an hour at most
    # per consent and advisor, so that an advisor's screen refreshing does not flood it.
    label = _advisor_label(advisor)
    listed = sa.select(JournalEntry.consent_id).where(
        JournalEntry.kind == "advisor.listed", JournalEntry.actor_label == label,
        JournalEntry.occurred_at > now - LISTED_EVERY)
    recent = set(db.scalars(listed.where(JournalEntry.consent_id.in_(
        [c.id for c in consents])))) if consents else set()
    for consent in consents:
        if consent.id in recent:
            continue
        # Checked again with the chain held: two listings at once make one entry.
        journal.lock_chain(db, consent.holder_id)
        if db.scalar(listed.where(JournalEntry.consent_id == consent.id).limit(1)) is None:
            journal.append(db, consent.holder_id, "advisor.listed", actor_type="advisor",
                           actor_label=label, consent_id=consent.id)
    return [{"reference": c.reference, "name": holder_name(db, c.holder_id),
             "sections": c.sections, "purpose": c.purpose, "purpose_text": c.purpose_text,
             "expires_at": c.expires_at} for c in consents]


def covering_consent(db: Session, advisor: Actor, reference: str, section: str | None = None
                     ) -> Consent:
    """The active consent behind a reference, for this advisor (and section), else 404."""
    return _covered(db, advisor, reference, section)[0]


def _covered(db: Session, advisor: Actor, reference: str, section: str | None = None
             ) -> tuple[Consent, IdentityRecord | None]:
    """`covering_consent` and the holder's identity record (None outside the directory)."""
    row = db.execute(_COVERING_REFERENCE,
                     {"reference": reference, **_covering(advisor, utcnow())}).first()
    if row is None or (section is not None and section not in row[0].sections):
        raise NotFound("No such holder, or no consent covering it.")
    return row[0], row[1]


def advisor_passport(db: Session, advisor: Actor, reference: str, *, page: int = 1,
                     page_size: int = 50) -> dict[str, Any]:
    """The consented sections of a holder's passport (hidden and withdrawn items left out);
    the read is journaled with the consent."""
    consent, identity = _covered(db, advisor, reference)
    data: dict[str, Any] = {"reference": reference, "name": _name(identity),
                            "sections": consent.sections, "certifications": None,
                            "declarations": None, "consent_expires_at": consent.expires_at}
    if "certifications" in consent.sections:
        data["certifications"] = records.certifications(
            db, consent.holder_id, page=page, page_size=page_size, include_hidden=False)
    if "declarations" in consent.sections:
        data["declarations"] = records.declarations(
            db, consent.holder_id, page=page, page_size=page_size, include_hidden=False)
    journal_read(db, advisor, consent, {"sections": [s for s in consent.sections if s != "cv"],
                                        "page": page})
    return data


def journal_read(db: Session, advisor: Actor, consent: Consent, details: dict[str, Any]
                 ) -> None:
    """Put an advisor's read of the holder's data under this consent in their journal."""
    journal.append(db, consent.holder_id, "advisor.read", actor_type="advisor",
                   actor_label=_advisor_label(advisor), consent_id=consent.id, details=details)


def leftovers(before: dt.datetime) -> list[Leftovers]:
    """Codes holders made and no advisor typed, expired before ``before``
    (`passport.cleanup`); a request an advisor redeemed stays, whatever its state."""
    return [Leftovers("consent codes never used", ConsentRequest.id, sa.and_(
        ConsentRequest.status == "code", ConsentRequest.code_expires_at < before))]
