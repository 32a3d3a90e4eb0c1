"""The journal: every third-party read lands in it; it is hash-chained, append-only in the
database and in the application, verifiable, and purged past retention without breaking
the chain."""

from __future__ import annotations

import datetime as dt
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from click.testing import CliRunner
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy.orm import Session, sessionmaker

from passport.auth.models import Account, Role
from passport.cli import main
from passport.db import unit_of_work, utcnow
from passport.holders.models import Holder
from passport.journal import service as journal
from passport.journal.models import JournalEntry
from tests.api import builders
from tests.api.test_access_matrix import api_routes
from tests.oauth import bearer, mint

# -- every third-party read is journaled -----------------------------------------------------
#: Every way someone other than the holder reads the holder's data. The test below checks
#: that this list covers every public route and every advisor route of the app.
THIRD_PARTY_READS = [
    ("GET", "/api/v1/shares/<string:token>"),
    ("GET", "/s/<string:token>"),
    ("POST", "/s/<string:token>"),
    ("GET", "/api/v1/verify/<string:code>"),
    ("GET", "/verifier/<string:code>"),
    ("GET", "/verifier"),
    ("GET", "/api/v1/advisor/holders"),
    ("GET", "/api/v1/advisor/holders/<string:reference>/passport"),
    ("GET", "/api/v1/advisor/holders/<string:reference>/cv"),
]
#: Third-party routes that read nothing of a holder.
NOT_READS = {("POST", "/api/v1/advisor/consent-requests"): "turns a code into a request",
             ("GET", "/api/v1/advisor/consent-requests"):
                 "the advisor's own requests and their outcome: no passport, no identity",
             ("POST", "/api/v1/flux/validate"): "checks the caller's own file, stores nothing",
             ("GET", "/api/v1/flux/validate/<string:token>"):
                 "the verdict on the caller's own file, queued: no passport, no identity"}


def third_party_routes(app: Flask) -> set[tuple[str, str]]:
    found = set()
    for rule, method, handler in api_routes(app):
        access = handler.__passport_access__
        # Public routes, and advisor routes (not the /me routes every role has for itself).
        if access is None or (Role.ADVISOR in access.roles and Role.HOLDER not in access.roles):
            found.add((method, rule))
    for rule in app.url_map.iter_rules():
        if rule.endpoint.startswith("share_pages."):
            found |= {(m, rule.rule) for m in rule.methods if m in ("GET", "POST")}
    return found


def test_the_walk_covers_every_third_party_route(app: Flask) -> None:
    missing = third_party_routes(app) - set(THIRD_PARTY_READS) - set(NOT_READS)
    assert not missing, f"third-party routes not walked below: {sorted(missing)}"


@pytest.fixture
def walk(app: Flask, client: FlaskClient, committed: sessionmaker[Session],
         holder: dict[str, Any]) -> dict[str, Any]:
    """A holder with a plain share, a share with an access code, and a consent to an
    advisor; the requests of each third-party read path."""
    passport = client.get("/api/v1/me/passport", headers=bearer(holder["token"])).json
    item = passport["certifications"]["items"][0]["id"]
    items = [{"kind": "certification", "id": item}]
    plain = client.post("/api/v1/me/shares", json={"items": items},
                        headers=bearer(holder["token"])).json
    coded = client.post("/api/v1/me/shares", json={"items": items, "access_code": "sésame-42"},
                        headers=bearer(holder["token"])).json
    code = client.get(f"/api/v1/shares/{plain['token']}").json["items"][0]["verification"]["code"]
    advisor_id = builders.advisor(committed, "camille@cep.example")
    builders.a_consent(committed, _account_of(committed, holder["holder_id"]),
                       sections=["certifications", "declarations", "cv"])
    with unit_of_work(committed) as db:
        advisor_token = mint(app, db, db.get(Account, advisor_id))
    reference = client.get("/api/v1/advisor/holders", headers=bearer(advisor_token)).json[0][
        "reference"]
    advisor = bearer(advisor_token)
    return {
        ("GET", "/api/v1/shares/<string:token>"): lambda c: c.get(
            f"/api/v1/shares/{plain['token']}"),
        ("GET", "/s/<string:token>"): lambda c: c.get(f"/s/{plain['token']}"),
        ("POST", "/s/<string:token>"): lambda c: c.post(f"/s/{coded['token']}",
                                                        data={"code": "sésame-42"}),
        ("GET", "/api/v1/verify/<string:code>"): lambda c: c.get(f"/api/v1/verify/{code}"),
        ("GET", "/verifier/<string:code>"): lambda c: c.get(f"/verifier/{code}"),
        ("GET", "/verifier"): lambda c: c.get(f"/verifier?code={code}"),
        ("GET", "/api/v1/advisor/holders"): lambda c: c.get("/api/v1/advisor/holders",
                                                            headers=advisor),
        ("GET", "/api/v1/advisor/holders/<string:reference>/passport"): lambda c: c.get(
            f"/api/v1/advisor/holders/{reference}/passport", headers=advisor),
        ("GET", "/api/v1/advisor/holders/<string:reference>/cv"): lambda c: c.get(
            f"/api/v1/advisor/holders/{reference}/cv?format=json-resume", headers=advisor),
    }


def _account_of(committed: sessionmaker[Session], holder_id: int) -> int:
    with unit_of_work(committed) as db:
        return int(db.scalar(sa.select(Account.id).where(Account.holder_id == holder_id)))


def _third_party_entries(committed: sessionmaker[Session], holder_id: int) -> list[JournalEntry]:
    with unit_of_work(committed) as db:
        return list(db.scalars(sa.select(JournalEntry).where(
            JournalEntry.holder_id == holder_id,
            JournalEntry.actor_type.in_(journal.THIRD_PARTY)).order_by(JournalEntry.seq)))


@pytest.mark.parametrize("path", THIRD_PARTY_READS, ids=[f"{m} {p}" for m, p in THIRD_PARTY_READS])
def test_every_third_party_read_is_journaled(app: Flask, committed: sessionmaker[Session],
                                             holder: dict[str, Any], walk: dict[Any, Any],
                                             path: tuple[str, str]) -> None:
    # The advisor's list is journaled at most hourly: start from a journal without it.
    if path == ("GET", "/api/v1/advisor/holders"):
        builders.age_entries(committed, holder["holder_id"], "advisor.listed", hours=2)
    before = len(_third_party_entries(committed, holder["holder_id"]))
    response = walk[path](app.test_client())  # a fresh client: no visit cookie
    assert response.status_code == 200, response.get_data(as_text=True)
    entries = _third_party_entries(committed, holder["holder_id"])
    assert len(entries) == before + 1, [e.kind for e in entries]
    last = entries[-1]
    assert last.actor_label
    if path[1].startswith("/api/v1/advisor"):
        assert last.consent_id is not None and last.actor_type == "advisor"
    if "token" in path[1]:
        assert last.share_id is not None and last.actor_type == "recipient"


@pytest.mark.parametrize("path", THIRD_PARTY_READS, ids=[f"{m} {p}" for m, p in THIRD_PARTY_READS])
def test_third_party_reads_at_once_are_each_answered_and_journaled(
        app: Flask, committed: sessionmaker[Session], holder: dict[str, Any],
        walk: dict[Any, Any], path: tuple[str, str]) -> None:
    """The same read four times at once (a link preview and its reader, two of an
    advisor's tabs): each answers and each lands in the journal, on SQLite too (a page that
    read, then wrote after another request's commit, failed: 'database is locked')."""
    hourly = path == ("GET", "/api/v1/advisor/holders")
    if hourly:
        builders.age_entries(committed, holder["holder_id"], "advisor.listed", hours=2)
    before = len(_third_party_entries(committed, holder["holder_id"]))
    answers = builders.at_once(app, walk[path])
    assert [a.status_code for a in answers] == [200] * len(answers)
    added = len(_third_party_entries(committed, holder["holder_id"])) - before
    assert added == (1 if hourly else len(answers))


def test_the_advisor_list_is_journaled_at_most_hourly(client: FlaskClient,
                                                      committed: sessionmaker[Session],
                                                      holder: dict[str, Any],
                                                      walk: dict[Any, Any]) -> None:
    read = walk[("GET", "/api/v1/advisor/holders")]
    for _ in range(3):
        assert read(client).status_code == 200
    listed = [e for e in _third_party_entries(committed, holder["holder_id"])
              if e.kind == "advisor.listed"]
    assert len(listed) == 1


# -- the chain -------------------------------------------------------------------------------
def _holder(db: Session) -> int:
    holder = Holder(nir_hmac=f"{utcnow().timestamp()}".ljust(64, "0"), nir_enc=b"x",
                    nir_key_id="dev")
    db.add(holder)
    db.flush()
    return holder.id


def _fill(db: Session, holder_id: int, ages_in_days: list[int]) -> None:
    now = utcnow()
    for days in ages_in_days:
        journal.append(db, holder_id, "share.viewed", actor_type="recipient",
                       actor_label="Destinataire", details={"view": days},
                       when=now - dt.timedelta(days=days))


def test_chain_links_each_entry_to_the_previous(db: Session) -> None:
    holder_id = _holder(db)
    _fill(db, holder_id, [3, 2, 1])
    entries = db.scalars(sa.select(JournalEntry).where(JournalEntry.holder_id == holder_id)
                         .order_by(JournalEntry.seq)).all()
    assert [e.seq for e in entries] == [1, 2, 3]
    assert entries[0].prev_hash == journal.GENESIS
    assert entries[1].prev_hash == entries[0].hash and entries[2].prev_hash == entries[1].hash
    assert journal.verify(db, holder_id) == (3, [])


def test_concurrent_appends_keep_one_chain(committed: sessionmaker[Session],
                                           is_postgres: bool) -> None:
    """Four writers appending to one holder's journal at once: each entry takes the next
    position and links to the one before (the holder's row lock, then the last link read
    by a statement of its own, whose snapshot sees the append that held the lock)."""
    with unit_of_work(committed) as db:
        holder_id = _holder(db)

    def write(writer: int) -> None:
        for n in range(10):
            with unit_of_work(committed, immediate=not is_postgres) as db:
                journal.append(db, holder_id, "share.viewed", actor_type="recipient",
                               details={"writer": writer, "n": n})

    with ThreadPoolExecutor(4) as pool:
        list(pool.map(write, range(4)))
    with unit_of_work(committed) as db:
        seqs = db.scalars(sa.select(JournalEntry.seq).where(JournalEntry.holder_id == holder_id)
                          .order_by(JournalEntry.seq)).all()
        assert seqs == list(range(1, 41))
        assert journal.verify(db, holder_id) == (40, [])


def _bypass_guards(db: Session) -> None:
    """What an intruder with the database owner's rights could do (inside the test's
    transaction, rolled back afterwards)."""
    if db.bind.dialect.name == "postgresql":
        db.execute(sa.text("ALTER TABLE journal_entries DISABLE TRIGGER USER"))
    else:
        db.execute(sa.text("DROP TRIGGER journal_entries_no_update"))
        db.execute(sa.text("DROP TRIGGER journal_entries_no_delete"))


def test_verify_finds_the_first_altered_or_missing_entry(db: Session) -> None:
    holder_id = _holder(db)
    _fill(db, holder_id, [5, 4, 3, 2, 1])
    _bypass_guards(db)
    db.execute(sa.update(JournalEntry).where(JournalEntry.holder_id == holder_id,
                                             JournalEntry.seq == 3)
               .values(actor_label="Quelqu'un d'autre"))
    _checked, [broken] = journal.verify(db, holder_id)
    assert (broken.seq, broken.reason) == (3, "entry content was altered")
    db.execute(sa.delete(JournalEntry).where(JournalEntry.holder_id == holder_id,
                                             JournalEntry.seq == 2))
    _checked, [broken] = journal.verify(db, holder_id)
    assert (broken.seq, broken.reason) == (2, "entry 2 is missing")


@pytest.mark.parametrize("statement", [
    "UPDATE journal_entries SET actor_label = 'x'",
    "DELETE FROM journal_entries",
    "TRUNCATE journal_entries",
])
def test_the_database_refuses_changes_to_the_journal(db: Session, is_postgres: bool,
                                                     statement: str) -> None:
    if statement.startswith("TRUNCATE") and not is_postgres:
        statement = "DELETE FROM journal_entries"  # SQLite's truncate is an unqualified DELETE
    holder_id = _holder(db)
    _fill(db, holder_id, [1])
    with pytest.raises(sa.exc.DatabaseError, match="append-only"), db.begin_nested():
        db.execute(sa.text(statement))
    assert journal.verify(db, holder_id) == (1, [])


def test_the_application_refuses_changes_to_the_journal(db: Session) -> None:
    holder_id = _holder(db)
    _fill(db, holder_id, [1])
    entry = db.scalars(sa.select(JournalEntry).where(JournalEntry.holder_id == holder_id)).one()
    entry.actor_label = "autre"
    with pytest.raises(journal.JournalIsAppendOnly):
        db.flush()
    db.refresh(entry)  # forget the change
    db.delete(entry)
    with pytest.raises(journal.JournalIsAppendOnly):
        db.flush()


# -- retention ---------------------------------------------------------------------------------
def test_purge_keeps_the_chain_verifiable(committed: sessionmaker[Session]) -> None:
    with unit_of_work(committed) as db:
        partly, wholly, recent = _holder(db), _holder(db), _holder(db)
        _fill(db, partly, [500, 400, 10, 1])
        _fill(db, wholly, [800, 700])
        _fill(db, recent, [3])
    before = journal.months_before(utcnow(), 12)
    with unit_of_work(committed) as db:
        result = journal.purge(db, before)
    assert (result.holders, result.entries) == (2, 4)
    with unit_of_work(committed) as db:
        checked, broken = journal.verify(db)
        assert broken == [] and checked == 3 + 1 + 1
        kept = db.scalars(sa.select(JournalEntry).where(JournalEntry.holder_id == partly)
                          .order_by(JournalEntry.seq)).all()
        assert [(e.seq, e.kind) for e in kept] == [
            (3, "share.viewed"), (4, "share.viewed"), (5, "journal.purged")]
        assert kept[-1].details["purged"] == 2 and kept[-1].details["from_seq"] == 3
        assert kept[-1].actor_type == "system"
        [marker] = db.scalars(sa.select(JournalEntry).where(JournalEntry.holder_id == wholly))
        assert (marker.seq, marker.details["from_seq"]) == (3, 3)
        # The chain goes on after the purge.
        journal.append(db, wholly, "share.viewed", actor_type="recipient")
    with unit_of_work(committed) as db:
        assert journal.verify(db)[1] == []
    # A second purge later, past the first marker, still verifies.
    with unit_of_work(committed) as db:
        result = journal.purge(db, utcnow() + dt.timedelta(seconds=1))
    with unit_of_work(committed) as db:
        assert journal.verify(db)[1] == []
        assert db.scalar(sa.select(sa.func.count()).select_from(JournalEntry)) == result.holders


def test_months_before_clamps_the_day() -> None:
    when = dt.datetime(2026, 3, 31, 12, tzinfo=dt.UTC)
    assert journal.months_before(when, 1) == dt.datetime(2026, 2, 28, 12, tzinfo=dt.UTC)
    assert journal.months_before(when, 12) == dt.datetime(2025, 3, 31, 12, tzinfo=dt.UTC)
    assert journal.months_before(when, 15) == dt.datetime(2024, 12, 31, 12, tzinfo=dt.UTC)


# -- the command line ----------------------------------------------------------------------------
@pytest.fixture
def cli(monkeypatch: pytest.MonkeyPatch, database_url: str, tmp_path: Path) -> CliRunner:
    monkeypatch.setenv("PASSPORT_DATABASE_URL", database_url)
    monkeypatch.setenv("PASSPORT_ENV", "test")
    monkeypatch.setenv("PASSPORT_INSTANCE_DIR", str(tmp_path / "instance"))
    return CliRunner()


def test_cli_verify_reports_the_first_broken_link(cli: CliRunner,
                                                  committed: sessionmaker[Session]) -> None:
    with unit_of_work(committed) as db:
        holder_id = _holder(db)
        _fill(db, holder_id, [3, 2])
    result = cli.invoke(main, ["journal", "verify"])
    assert result.exit_code == 0, result.output
    assert "2 entries checked, every chain intact" in result.stderr
    # A forged entry (inserting is all the database lets anyone do) breaks the chain.
    with unit_of_work(committed) as db:
        db.add(JournalEntry(holder_id=holder_id, seq=3, occurred_at=utcnow(),
                            kind="share.viewed", actor_type="recipient", details={},
                            prev_hash="f" * 64, hash="e" * 64))
    result = cli.invoke(main, ["journal", "verify"])
    assert result.exit_code == 1
    assert f"holder {holder_id}: broken at entry 3: previous link does not match" in result.stderr


def test_cli_purge(cli: CliRunner, committed: sessionmaker[Session], monkeypatch: pytest.MonkeyPatch
                   ) -> None:
    with unit_of_work(committed) as db:
        holder_id = _holder(db)
        _fill(db, holder_id, [400, 100, 1])
    dry = cli.invoke(main, ["journal", "purge", "--dry-run"])
    assert dry.exit_code == 0 and "1 entries older than" in dry.stderr
    monkeypatch.setenv("PASSPORT_JOURNAL_RETENTION_MONTHS", "2")
    result = cli.invoke(main, ["journal", "purge"])
    assert result.exit_code == 0, result.output
    assert "2 entries older than" in result.stderr and "from 1 journals" in result.stderr
    assert cli.invoke(main, ["journal", "verify"]).exit_code == 0
    bad = cli.invoke(main, ["journal", "purge", "--months", "0"])
    assert bad.exit_code == 2 and "0 is not in the range" in bad.stderr
