"""The schema is built by the migrations, and the models agree with them."""

from __future__ import annotations

import hashlib

import pytest
import sqlalchemy as sa
from alembic import command

from ingestion.report import ReportBuilder
from ingestion.rules import Problem
from passport.db import make_engine, make_session_factory, utcnow
from passport.deposits.models import Deposit, DepositReportPart, DepositStatus
from passport.deposits.service import load_report
from passport.migrate import alembic_config, check, upgrade
from passport.models import Base


def test_models_match_migrations(engine: sa.Engine, database_url: str) -> None:
    check(database_url)  # raises when autogenerate would emit operations


def test_every_model_table_exists(engine: sa.Engine) -> None:
    tables = set(sa.inspect(engine).get_table_names())
    assert set(Base.metadata.tables) <= tables
    assert "passages" in tables and "alembic_version" in tables


def test_reports_stored_whole_become_parts_and_back(blank_database_url: str) -> None:
    """0012 moves a report's outcomes, stored whole before it, into its part 0 (and its
    downgrade joins the parts again): the stored report reads the same passages."""
    url = blank_database_url
    builder = ReportBuilder(part_size=1024)  # several parts for the way back
    ids = [hashlib.sha256(b"%d" % i).hexdigest()[:30] for i in range(3_000)]  # incompressible
    for i, ident in enumerate(ids):
        builder.add(ident, [Problem("doublon", "Déjà reçu", "Duplicate")] if i % 5 else [], [])
    parts = builder.outcomes()
    assert len(parts) > 2
    stream = b"".join(parts)
    reports = sa.table("deposit_reports", sa.column("deposit_id"), sa.column("version"),
                       sa.column("summary", sa.JSON()), sa.column("outcomes", sa.LargeBinary()),
                       sa.column("created_at"))
    summary = {"version": 1, "file_name": "f.xml", "id_traitement": 1, "status": "TRAITE",
               "id_flux": "x", "errors": [], "counts": {}}
    upgrade(url, "0011")
    engine = make_engine(url)
    try:
        with engine.begin() as conn:
            deposit_id = conn.execute(sa.insert(Deposit.__table__).values(
                file_name="f.xml", sha256="0" * 64, size_bytes=1,
                status=DepositStatus.TRAITE).returning(Deposit.__table__.c.id)).scalar_one()
            conn.execute(sa.insert(reports).values(
                deposit_id=deposit_id, version=1, summary=summary, outcomes=stream,
                created_at=utcnow()))
        upgrade(url)
        expected = [(ident, i % 5 == 0) for i, ident in enumerate(ids)]
        with make_session_factory(engine)() as session:
            report = load_report(session, deposit_id)
            assert report is not None
            assert [(p["id"], p["ok"]) for p in report.passages()] == expected
            # The load writes several parts; the way back joins them into one stream.
            session.execute(sa.delete(DepositReportPart))
            session.add_all(DepositReportPart(deposit_id=deposit_id, seq=seq, data=part)
                            for seq, part in enumerate(parts))
            session.commit()
        command.downgrade(alembic_config(url), "0011")
        with engine.connect() as conn:
            assert conn.execute(sa.select(reports.c.outcomes)).scalar_one() == stream
    finally:
        engine.dispose()



def test_a_rejected_deposit_leaves_its_bytes_free(blank_database_url: str) -> None:
    """0015 rebuilds `deposits` (on SQLite, with reports pointing at its rows): after it,
    the same bytes from the same uploader are one deposit at a time except rejected ones."""
    url = blank_database_url
    upgrade(url, "0014")
    deposits = Deposit.__table__
    engine = make_engine(url)

    def add(conn: sa.Connection, status: DepositStatus) -> int:
        return conn.execute(sa.insert(deposits).values(
            file_name="f.xml", sha256="1" * 64, size_bytes=1, submitted_by="CERT0001",
            status=status).returning(deposits.c.id)).scalar_one()

    try:
        with engine.begin() as conn:
            rejected = add(conn, DepositStatus.REJETE)
            conn.execute(sa.insert(DepositReportPart.__table__).values(
                deposit_id=rejected, seq=0, data=b"x"))
        upgrade(url)
        with engine.begin() as conn:
            assert conn.execute(sa.select(deposits.c.id)).scalars().all() == [rejected]
            add(conn, DepositStatus.REJETE)
            add(conn, DepositStatus.RECU)
        for status in (DepositStatus.RECU, DepositStatus.TRAITE):
            with engine.begin() as conn, pytest.raises(sa.exc.IntegrityError):
                add(conn, status)
        with engine.connect() as conn:
            assert conn.execute(sa.select(sa.func.count()).select_from(deposits)).scalar() == 3
    finally:
        engine.dispose()
