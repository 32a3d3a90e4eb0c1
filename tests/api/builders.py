"""Objects the API tests start from, built through the services (as the API would)."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from threading import Barrier
from typing import Any

from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy.orm import Session, sessionmaker
from werkzeug.test import TestResponse

from passport.auth.access import Actor
from passport.auth.models import ROLE_SCOPES, Account, Role
from passport.consents import service as consents
from passport.db import unit_of_work
from passport.nir import NirVault
from passport.sharing import service as shares

ORG = "73282932000074"
OTHER_ORG = "55208131766522"


def at_once(app: Flask, send: Callable[[FlaskClient], TestResponse],
            times: int = 4) -> list[TestResponse]:
    """``send`` from ``times`` clients released together (a double click, two devices, a
    replayed token racing its legitimate use)."""
    barrier = Barrier(times)

    def one(_: int) -> TestResponse:
        client = app.test_client()
        barrier.wait()
        return send(client)

    with ThreadPoolExecutor(times) as pool:
        return list(pool.map(one, range(times)))


def actor(db: Session, account_id: int) -> Actor:
    """The actor a token of this account would give."""
    account = db.get(Account, account_id)
    assert account is not None
    return Actor(account.role, account.public_id, "test-app", ROLE_SCOPES[account.role],
                 uuid.uuid4().hex, account=account)


def share_context(app: Flask) -> shares.ShareContext:
    settings = app.config["PASSPORT_SETTINGS"]
    return shares.ShareContext(settings, NirVault(settings), app.extensions["passport.keys"])


def a_share(app: Flask, committed: sessionmaker[Session], account_id: int,
            items: list[dict[str, Any]], **data: Any) -> dict[str, Any]:
    with unit_of_work(committed) as db:
        return shares.create(db, share_context(app), actor(db, account_id),
                             {"items": items, **data})


def advisor(committed: sessionmaker[Session], email: str, siret: str | None = ORG,
            name: str = "Camille Conseil") -> int:
    with unit_of_work(committed) as db:
        account = Account(public_id=str(uuid.uuid4()), role=Role.ADVISOR, issuer="test",
                          subject=f"advisor-{uuid.uuid4().hex[:8]}", email=email, siret=siret,
                          display_name=name)
        db.add(account)
        db.flush()
        return account.id


def a_consent(committed: sessionmaker[Session], account_id: int, **data: Any
              ) -> dict[str, Any]:
    body = {"organisation_siret": ORG, "sections": ["certifications", "declarations"],
            "purpose": "accompagnement_cep", "duration_days": 90, **data}
    with unit_of_work(committed) as db:
        return consents.grant(db, actor(db, account_id), body)


def a_pending_request(committed: sessionmaker[Session], holder_account: int,
                      advisor_account: int) -> int:
    with unit_of_work(committed) as db:
        code = consents.new_code(db, actor(db, holder_account))
        consents.redeem(db, actor(db, advisor_account), {
            "code": code["code"], "sections": ["certifications"],
            "purpose": "bilan_competences", "duration_days": 30})
        return int(code["request_id"])


def expire_consent(committed: sessionmaker[Session], consent_id: int) -> None:
    from passport.consents.models import Consent
    from passport.db import utcnow

    with unit_of_work(committed) as db:
        consent = db.get(Consent, consent_id)
        assert consent is not None
        consent.expires_at = utcnow() - dt.timedelta(seconds=1)


def age_entries(committed: sessionmaker[Session], holder_id: int, kind: str, hours: int
                ) -> None:
    """Make a holder's entries of ``kind`` look older (bypassing the append-only guard the
    way only a test may: inside a purge permit, delete and re-insert them)."""
    import sqlalchemy as sa

    from passport.db import utcnow
    from passport.journal.models import JournalEntry, JournalPurgePermit

    with unit_of_work(committed) as db:
        entries = db.scalars(sa.select(JournalEntry).where(
            JournalEntry.holder_id == holder_id, JournalEntry.kind == kind)).all()
        rows = [{c.name: getattr(e, c.key) for c in JournalEntry.__table__.columns}
                for e in entries]
        for e in entries:
            db.expunge(e)
        db.add(JournalPurgePermit(granted_at=utcnow()))
        db.flush()
        db.execute(sa.delete(JournalEntry).where(JournalEntry.id.in_([r["id"] for r in rows])))
        for row in rows:
            row["occurred_at"] -= dt.timedelta(hours=hours)
            db.execute(sa.insert(JournalEntry).values(**row))
        db.execute(sa.delete(JournalPurgePermit))
