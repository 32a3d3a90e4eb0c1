"""Shares: the holder picks items (attested and/or declared), masks fields, sets an expiry,
a view limit and an access code; anyone with the link sees exactly that, until it ends.

Recipient views and verifications are third-party reads: each lands in the holder's journal.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import re
import secrets
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from passport import ratelimit
from passport.auth.access import Actor
from passport.auth.keys import KeyRing
from passport.auth.server import hash_secret, verify_secret
from passport.config import Settings
from passport.db import utcnow
from passport.errors import CodeRequired, Gone, InvalidInput, NotFound, RateLimited
from passport.journal import service as journal
from passport.nir import NirVault
from passport.records import service as records
from passport.records.models import Declaration, Passage
from passport.referentials import service as referentials
from passport.sharing import verification
from passport.sharing.models import Share, ShareItem, VerificationCode

DEFAULT_DAYS, MAX_DAYS = 30, 365
CODE_LOCK_AFTER, CODE_LOCK_FOR = 5, dt.timedelta(minutes=15)
MASKABLE = {
    "certification": ("mention", "scoring", "digital", "language_level", "option", "exam",
                      "proof_url"),
    "declaration": ("description", "organisation", "location", "start_date", "end_date",
                    "skills", "level", "url"),
}
#: What a share token's ciphertext is bound to (AES-GCM associated data).
TOKEN_PURPOSE = b"passport:share-token:v1"


class ShareGone(Gone):
    """The share ended: expired, revoked or out of views (410)."""

    code = "share_gone"
    title = "This share has ended"

    def __init__(self, reason: str, when: dt.datetime | None) -> None:
        super().__init__({"expired": "The link has expired.", "revoked": "The link was revoked.",
                          "exhausted": "The link reached its number of views."}[reason])
        self.reason = reason
        self.when = when

    def extra(self) -> dict[str, Any]:
        return {"reason": self.reason, "ended_at": self.when.isoformat() if self.when else None}


class ShareCodeRequired(CodeRequired):
    """The share needs its access code (401)."""

    code = "share_code_required"
    title = "Access code required"
    challenge = 'ShareCode realm="share", header="X-Share-Code"'


class ShareCodeInvalid(ShareCodeRequired):
    """A wrong access code (401)."""

    code = "share_code_invalid"
    title = "Wrong access code"


class ShareLocked(RateLimited):
    """Too many wrong access codes: the share refuses codes for a while (429)."""

    code = "share_code_locked"
    title = "Too many wrong access codes"


# -- token storage ------------------------------------------------------------------------
def token_hash(token: str) -> str:
    """How a share token is looked up (the token itself is never stored in clear)."""
    return hashlib.sha256(token.encode()).hexdigest()


def share_url(settings: Settings, token: str) -> str:
    return f"{settings.issuer}/s/{token}"


def _status(share: Share, now: dt.datetime) -> str:
    if share.revoked_at is not None:
        return "revoked"
    if share.expires_at <= now:
        return "expired"
    if share.max_views is not None and share.view_count >= share.max_views:
        return "exhausted"
    return "active"


@dataclass
class ShareContext:
    """What the share service needs besides the session."""

    settings: Settings
    vault: NirVault
    keys: KeyRing


def summary(db: Session, share: Share) -> dict[str, Any]:
    """A share as its holder sees it, without its link (the export has this much)."""
    items = db.scalars(sa.select(ShareItem).where(ShareItem.share_id == share.id)
                       .order_by(ShareItem.position)).all()
    return {
        "id": share.id, "label": share.label, "shown_name": share.shown_name,
        "expires_at": share.expires_at, "max_views": share.max_views,
        "view_count": share.view_count, "access_code_required": share.access_code_hash is not None,
        "status": _status(share, utcnow()), "revoked_at": share.revoked_at,
        "items": [{"kind": i.kind, "id": i.item_id, "masked_fields": i.masked_fields}
                  for i in items],
        "created_at": share.created_at, "updated_at": share.updated_at,
    }


def holder_view(db: Session, ctx: ShareContext, share: Share) -> dict[str, Any]:
    """The holder's own view of a share, with its link."""
    token = ctx.vault.decrypt_value(share.token_key_id, share.token_enc, TOKEN_PURPOSE)
    return {**summary(db, share), "url": share_url(ctx.settings, token), "token": token}


def _expiry(data: dict[str, Any], now: dt.datetime) -> dt.datetime:
    if data.get("expires_at") is not None:
        expires = data["expires_at"]
    else:
        expires = now + dt.timedelta(days=data.get("expires_in_days") or DEFAULT_DAYS)
    if expires <= now:
        raise InvalidInput("The expiry must be in the future.",
                           errors=[{"field": "expires_at", "source": "json",
                                    "messages": ["must be in the future"]}])
    if expires > now + dt.timedelta(days=MAX_DAYS, minutes=5):
        raise InvalidInput("A share lasts one year at most.",
                           errors=[{"field": "expires_at", "source": "json",
                                    "messages": [f"at most {MAX_DAYS} days from now"]}])
    return expires


def _check_items(db: Session, holder_id: int, items: list[dict[str, Any]]) -> None:
    errors = []
    for index, item in enumerate(items):
        kind, item_id = item["kind"], item["id"]
        bad = sorted(set(item.get("masked_fields", [])) - set(MASKABLE[kind]))
        if bad:
            errors.append((f"items.{index}.masked_fields",
                           f"cannot mask {', '.join(bad)}; maskable: {', '.join(MASKABLE[kind])}"))
        if kind == "certification":
            passage = db.get(Passage, item_id)
            if passage is None or passage.holder_id != holder_id:
                errors.append((f"items.{index}.id", "no such certification in your passport"))
            elif passage.withdrawn_at is not None:
                errors.append((f"items.{index}.id", "withdrawn by its certifier"))
        else:
            declaration = db.get(Declaration, item_id)
            if declaration is None or declaration.holder_id != holder_id:
                errors.append((f"items.{index}.id", "no such declaration in your passport"))
    if errors:
        raise InvalidInput("Some items cannot be shared.", errors=[
            {"field": f, "source": "json", "messages": [m]} for f, m in errors])


def create(db: Session, ctx: ShareContext, actor: Actor, data: dict[str, Any]) -> dict[str, Any]:
    """Create a share; its link carries a 192-bit random token."""
    shown_name = actor.account.display_name if actor.account else None
    return create_for(db, ctx, actor.own_holder_id(), data, shown_name)


def create_for(db: Session, ctx: ShareContext, holder_id: int, data: dict[str, Any],
               default_name: str | None = None) -> dict[str, Any]:
    """Create a share of ``holder_id``'s items (`create` for the holder's own request)."""
    now = utcnow()
    items = list(data.get("items") or [])
    if data.get("all_visible"):
        chosen = {(i["kind"], i["id"]) for i in items}
        for row in db.scalars(sa.select(Passage.id).where(
                Passage.holder_id == holder_id, Passage.withdrawn_at.is_(None),
                Passage.hidden.is_(False)).order_by(Passage.date_debut_validite.desc())):
            if ("certification", row) not in chosen:
                items.append({"kind": "certification", "id": row, "masked_fields": []})
        for row in db.scalars(sa.select(Declaration.id).where(
                Declaration.holder_id == holder_id, Declaration.hidden.is_(False))
                .order_by(Declaration.id)):
            if ("declaration", row) not in chosen:
                items.append({"kind": "declaration", "id": row, "masked_fields": []})
    if not items:
        raise InvalidInput("Choose at least one item to share.", errors=[
            {"field": "items", "source": "json", "messages": ["at least one item"]}])
    _check_items(db, holder_id, items)
    token = secrets.token_urlsafe(24)
    share = Share(
        holder_id=holder_id, token_hash=token_hash(token),
        token_enc=ctx.vault.encrypt_value(token, TOKEN_PURPOSE), token_key_id=ctx.vault.key_id,
        label=data.get("label"),
        shown_name=data.get("shown_name") or default_name,
        expires_at=_expiry(data, now), max_views=data.get("max_views"),
        access_code_hash=hash_secret(data["access_code"]) if data.get("access_code") else None,
        created_at=now, updated_at=now)
    db.add(share)
    db.flush()
    for position, item in enumerate(items):
        db.add(ShareItem(share_id=share.id, holder_id=holder_id, kind=item["kind"],
                         item_id=item["id"], masked_fields=sorted(set(item.get("masked_fields",
                                                                               []))),
                         position=position))
        if item["kind"] == "certification":
            verification.code_for(db, item["id"], holder_id)
    db.flush()
    journal.append(db, holder_id, "share.created", actor_label="Vous", share_id=share.id,
                   details={"items": len(items), "expires_at": share.expires_at.isoformat(),
                            "label": share.label})
    return holder_view(db, ctx, share)


def _own(db: Session, actor: Actor, share_id: int, *, for_update: bool = False) -> Share:
    query = sa.select(Share).where(Share.id == share_id,
                                   Share.holder_id == actor.own_holder_id())
    share = db.scalar(query.with_for_update() if for_update else query)
    if share is None:
        raise NotFound("No such share.")
    return share


def listing(db: Session, ctx: ShareContext, actor: Actor) -> list[dict[str, Any]]:
    """The caller's shares, newest first."""
    shares = db.scalars(sa.select(Share).where(Share.holder_id == actor.own_holder_id())
                        .order_by(Share.created_at.desc(), Share.id.desc())).all()
    return [holder_view(db, ctx, s) for s in shares]


def one(db: Session, ctx: ShareContext, actor: Actor, share_id: int) -> dict[str, Any]:
    return holder_view(db, ctx, _own(db, actor, share_id))


def update(db: Session, ctx: ShareContext, actor: Actor, share_id: int,
           changes: dict[str, Any]) -> dict[str, Any]:
    """Extend (or shorten) a share, rename it, change its view limit or access code."""
    share = _own(db, actor, share_id, for_update=True)
    if share.revoked_at is not None:
        raise InvalidInput("A revoked share stays revoked; create a new one.")
    now = utcnow()
    if "expires_at" in changes or "expires_in_days" in changes:
        share.expires_at = _expiry(changes, now)
    for name in ("label", "shown_name", "max_views"):
        if name in changes:
            setattr(share, name, changes[name])
    if "access_code" in changes:
        code = changes["access_code"]
        share.access_code_hash = hash_secret(code) if code else None
        share.failed_codes, share.locked_until = 0, None
    share.updated_at = now
    journal.append(db, share.holder_id, "share.updated", actor_label="Vous", share_id=share.id,
                   details={"fields": sorted(changes)})
    return holder_view(db, ctx, share)


def revoke(db: Session, actor: Actor, share_id: int) -> None:
    """End a share: the very next view answers 410."""
    share = _own(db, actor, share_id, for_update=True)
    if share.revoked_at is None:
        share.revoked_at = share.updated_at = utcnow()
        journal.append(db, share.holder_id, "share.revoked", actor_label="Vous",
                       share_id=share.id)


# -- recipients ---------------------------------------------------------------------------
def coarse_client(user_agent: str | None) -> str:
    """"Firefox / Windows", "programme", … — enough for the holder, nothing more."""
    ua = user_agent or ""
    if not ua or re.search(r"curl|python|wget|httpx|java|go-http|bot|spider", ua, re.I):
        return "programme"
    browser = next((name for pattern, name in (
        ("Edg/", "Edge"), ("Firefox/", "Firefox"), ("Chrome/", "Chrome"), ("Safari/", "Safari"))
        if pattern in ua), "navigateur")
    system = next((name for pattern, name in (
        ("Android", "Android"), ("iPhone", "iOS"), ("iPad", "iOS"), ("Windows", "Windows"),
        ("Mac OS", "macOS"), ("Linux", "Linux")) if pattern in ua), "système inconnu")
    return f"{browser} / {system}"


def _recipient_facts(item: dict[str, Any]) -> dict[str, Any]:
    """The canonical facts of an attested item (signed, and answered by /verify)."""
    return {
        "type": item["type"], "code": item["code"], "title": item["title"],
        "level": item["level"],
        "certifier": item["certifier"],
        "obtained_by": item["obtained_by"], "definitive": item["definitive"],
        "validity": {"start": item["validity"]["start"].isoformat(),
                     "end": item["validity"]["end"].isoformat()
                     if item["validity"]["end"] else None},
    }


def _holder_name(passage: Passage) -> str | None:
    sent = passage.titulaire or {}
    first = sent.get("prenom1") or sent.get("prenom1Titulaire")
    last = sent.get("nomUsage") or sent.get("nomNaissance") or sent.get("nomTitulaire")
    return " ".join(filter(None, [first, last])) or None


def attested_for_recipient(db: Session, ctx: ShareContext, row: tuple[Any, ...],
                           masked: list[str]) -> dict[str, Any]:
    """An attested item as a recipient (of a share or a CV) sees it."""
    passage: Passage = row[0]
    item = referentials.enrich(db, [records.certification_item(*row)])[0]
    code = verification.code_for(db, passage.id, passage.holder_id)
    facts = _recipient_facts(item)
    shown = {k: v for k, v in item.items()
             if k not in ("provenance", "hidden", "verbatim", "id", "withdrawn_at", "access")
             and k not in masked}
    shown.update({
        "kind": "certification", "attestation": "garanti",
        "attested_by": item["certifier"],
        "verification": {"code": verification.display(code),
                         "url": verification.verification_url(ctx.settings, code),
                         "jws": verification.attestation(ctx.settings, ctx.keys, code, facts,
                                                         item["status"])},
        "masked_fields": masked,
    })
    return shown


def declared_for_recipient(declaration: Declaration, masked: list[str]) -> dict[str, Any]:
    item = records.declaration_item(declaration)
    shown = {k: v for k, v in item.items()
             if k not in ("provenance", "hidden", "id") and k not in masked}
    shown.update({"kind": "declaration", "declaration_kind": item["kind"],
                  "attestation": "declare", "declared_by": "holder", "masked_fields": masked})
    return shown


def _recipient_label(share: Share) -> str:
    return f"Destinataire du partage « {share.label or share.id} »"


def _find(db: Session, token: str, *, counted: bool = False) -> Share:
    """The active share of a token; `NotFound` or `ShareGone` otherwise. ``counted``: the
    visit's view was already counted, so a share out of views still shows."""
    share = db.scalar(sa.select(Share).where(Share.token_hash == token_hash(token))
                      .with_for_update())
    if share is None:
        raise NotFound("No such share.")
    status = _status(share, utcnow())
    if status != "active" and not (counted and status == "exhausted"):
        # Out of views has no date of its own (the holder may also have lowered the limit).
        raise ShareGone(status, {"revoked": share.revoked_at, "expired": share.expires_at}
                        .get(status))
    return share


def share_status(db: Session, token: str) -> str:
    """``missing``, ``active``, ``expired``, ``revoked`` or ``exhausted`` (counts nothing)."""
    share = db.scalar(sa.select(Share).where(Share.token_hash == token_hash(token)))
    return "missing" if share is None else _status(share, utcnow())


def revisit(db: Session, ctx: ShareContext, token: str, share_id: int) -> dict[str, Any] | None:
    """The items again for a recipient already let in during this visit (same browser, a
    few minutes: a reload, a language switch), without counting a new view; None when the
    visit does not match. An ended share still answers `ShareGone`."""
    share = _find(db, token, counted=True)
    return recipient_view(db, ctx, share) if share.id == share_id else None


def open_share(db: Session, ctx: ShareContext, token: str, access_code: str | None, *,
               user_agent: str | None, channel: str) -> dict[str, Any]:
    """A recipient opens a link: checks, counts the view, journals it, returns the items."""
    share = _find(db, token)
    now = utcnow()
    if share.access_code_hash is not None:
        if share.locked_until is not None and share.locked_until > now:
            raise ShareLocked("Too many wrong codes; try again later.",
                              int((share.locked_until - now).total_seconds()) + 1)
        if not access_code:
            raise ShareCodeRequired("This share needs the access code its owner gave you.")
        if not verify_secret(access_code, share.access_code_hash):
            share.failed_codes += 1
            if share.failed_codes >= CODE_LOCK_AFTER:
                share.failed_codes, share.locked_until = 0, now + CODE_LOCK_FOR
                journal.append(db, share.holder_id, "share.code_refused",
                               actor_type="recipient", share_id=share.id,
                               actor_label=_recipient_label(share),
                               details={"locked_minutes": int(CODE_LOCK_FOR.total_seconds() // 60),
                                        "client": coarse_client(user_agent)})
                raise ShareLocked("Too many wrong codes: the share refuses codes for "
                                  f"{int(CODE_LOCK_FOR.total_seconds() // 60)} minutes.",
                                  int(CODE_LOCK_FOR.total_seconds()))
            raise ShareCodeInvalid("Wrong access code.")
        share.failed_codes = 0
    share.view_count += 1
    journal.append(db, share.holder_id, "share.viewed", actor_type="recipient",
                   actor_label=_recipient_label(share), share_id=share.id,
                   details={"client": coarse_client(user_agent), "channel": channel,
                            "view": share.view_count})
    return recipient_view(db, ctx, share)


def recipient_view(db: Session, ctx: ShareContext, share: Share) -> dict[str, Any]:
    """The items of a share as recipients see them (no checks, no counting)."""
    items = db.scalars(sa.select(ShareItem).where(ShareItem.share_id == share.id)
                       .order_by(ShareItem.position)).all()
    passage_ids = [i.item_id for i in items if i.kind == "certification"]
    rows = {row[0].id: tuple(row) for row in db.execute(
        records.certification_query(share.holder_id).where(Passage.id.in_(passage_ids)))
    } if passage_ids else {}
    declaration_ids = [i.item_id for i in items if i.kind == "declaration"]
    declarations = {d.id: d for d in db.scalars(
        sa.select(Declaration).where(Declaration.id.in_(declaration_ids),
                                     Declaration.holder_id == share.holder_id))
    } if declaration_ids else {}
    shown = []
    for item in items:
        if item.kind == "certification" and item.item_id in rows:
            shown.append(attested_for_recipient(db, ctx, rows[item.item_id], item.masked_fields))
        elif item.kind == "declaration" and item.item_id in declarations:
            shown.append(declared_for_recipient(declarations[item.item_id], item.masked_fields))
    views_left = None if share.max_views is None else max(share.max_views - share.view_count, 0)
    return {"id": share.id, "label": share.label, "shared_by": share.shown_name,
            "expires_at": share.expires_at,
            "views_left": views_left, "items": shown}


def verify(db: Session, ctx: ShareContext, typed: str, *, user_agent: str | None,
           client_address: str | None) -> dict[str, Any]:
    """What a verification code attests, and whether it still holds (rate-limited per
    client address: every attempt counts, found or not)."""
    wait = ratelimit.hit(
        db, ratelimit.client_key("verify", client_address, ctx.settings.nir_hmac_key),
        ctx.settings.verify_rate_per_minute, dt.timedelta(minutes=1))
    if wait is not None:
        raise RateLimited("Too many verifications from your address; try again later.", wait)
    code = verification.normalise(typed)
    found = db.get(VerificationCode, code) if code else None
    if found is None:
        raise NotFound("No item has this verification code.")
    row = db.execute(records.certification_query(found.holder_id)
                     .where(Passage.id == found.passage_id)).first()
    assert row is not None
    passage: Passage = row[0]
    item = records.certification_item(*row)
    status = item["status"]
    journal.append(db, found.holder_id, "item.verified", actor_type="recipient",
                   actor_label="Vérification d'un élément par un tiers",
                   details={"certification_id": passage.id, "client": coarse_client(user_agent)})
    assert code is not None
    return {
        "code": verification.display(code),
        "authentic": True,
        "valid": status == "valide",
        "status": status,
        "withdrawn": status == "retiree",
        "holder_name": _holder_name(passage),
        "item": _recipient_facts(item),
        "checked_at": utcnow(),
        "jws": verification.attestation(ctx.settings, ctx.keys, code, _recipient_facts(item),
                                        status),
    }
