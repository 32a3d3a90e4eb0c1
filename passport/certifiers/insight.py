"""What a certifier (or a mandated depositor) sees of its deposits, its statistics and the
errors holders reported on its passages. Every query is scoped to the caller's BCR."""

from __future__ import annotations

import datetime as dt
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from passport.auth.access import Actor
from passport.db import Page, Paged, paginate, utcnow
from passport.deposits.models import Deposit, DepositStat, DepositStatus
from passport.errors import NotFound
from passport.journal import service as journal
from passport.records.models import ErrorReport, Passage, ReportStatus
from passport.referentials.models import Certification


def _bcr(actor: Actor) -> str:
    assert actor.certifier_bcr is not None
    return actor.certifier_bcr


def visible(actor: Actor) -> Any:
    """Deposits the caller filed (uploaded, or emitted: a file an operator ingested with
    ``passport flux ingest`` has no uploader), and those filed for it (it is their
    certifier) — as the passages its statistics count."""
    bcr = _bcr(actor)
    return sa.or_(Deposit.submitted_by == bcr, Deposit.emitter_bcr == bcr,
                  Deposit.certifier_bcr == bcr)


def deposits(db: Session, actor: Actor, *, page: int, page_size: int,
             status: str | None = None, received_from: dt.date | None = None,
             received_to: dt.date | None = None) -> Page:
    query = sa.select(Deposit).where(visible(actor))
    if status:
        query = query.where(Deposit.status == DepositStatus(status))
    if received_from:
        query = query.where(Deposit.received_at >= dt.datetime.combine(
            received_from, dt.time(), dt.UTC))
    if received_to:
        query = query.where(Deposit.received_at < dt.datetime.combine(
            received_to + dt.timedelta(days=1), dt.time(), dt.UTC))
    return paginate(db, query, Deposit.received_at.desc(), Deposit.id.desc(), page=page,
                    page_size=page_size)


def deposit(db: Session, actor: Actor, deposit_id: int) -> Deposit:
    found = db.scalar(sa.select(Deposit).where(Deposit.id == deposit_id, visible(actor)))
    if found is None:
        raise NotFound("No such deposit.")
    return found


def stats(db: Session, actor: Actor, *, month_from: str | None = None,
          month_to: str | None = None, certification: str | None = None) -> dict[str, Any]:
    """Passages received, OK and KO by family of reason, per certification and month; and
    files received and rejected per month."""
    bcr = _bcr(actor)
    s = DepositStat
    where = [sa.or_(s.certifier_bcr == bcr, s.emitter_bcr == bcr)]
    if month_from:
        where.append(s.month >= month_from)
    if month_to:
        where.append(s.month <= month_to)
    if certification:
        where.append(s.certification_code == certification)
    rows: dict[tuple[str, str, str], dict[str, Any]] = {}
    for stat in db.scalars(sa.select(s).where(*where)):
        key = (stat.month, stat.certification_type, stat.certification_code)
        row = rows.setdefault(key, {
            "month": stat.month, "certification_type": stat.certification_type,
            "certification_code": stat.certification_code, "received": 0, "ok": 0,
            "ko": {"nirisation": 0, "duplicate": 0, "rules": 0, "other": 0},
            "ko_by_code": {}})
        row["received"] += stat.received
        row["ok"] += stat.ok
        for family in row["ko"]:
            row["ko"][family] += getattr(stat, f"ko_{family}")
        for code, n in stat.ko_by_code.items():
            row["ko_by_code"][code] = row["ko_by_code"].get(code, 0) + n
    titles = dict(((t, c), title) for t, c, title in db.execute(
        sa.select(Certification.type, Certification.code, Certification.title).where(
            Certification.code.in_({k[2] for k in rows}))).all()) if rows else {}
    passages = []
    for key in sorted(rows, key=lambda k: (k[0], k[1], k[2]), reverse=True):
        row = rows[key]
        row["certification_title"] = titles.get((key[1], key[2]))
        passages.append(row)
    month = sa.func.substr(sa.cast(Deposit.received_at, sa.String), 1, 7)
    if db.bind is not None and db.bind.dialect.name == "postgresql":
        month = sa.func.to_char(sa.func.timezone("UTC", Deposit.received_at), "YYYY-MM")
    files_query = sa.select(month.label("month"), Deposit.status, Deposit.error_code,
                            sa.func.count()).where(visible(actor))
    if month_from:
        files_query = files_query.where(month >= month_from)
    if month_to:
        files_query = files_query.where(month <= month_to)
    files: dict[str, dict[str, Any]] = {}
    for m, status, code, n in db.execute(files_query.group_by(month, Deposit.status,
                                                              Deposit.error_code)):
        row = files.setdefault(m, {"month": m, "deposits": 0, "rejected": 0,
                                   "rejected_by_code": {}})
        row["deposits"] += n
        if status == DepositStatus.REJETE:
            row["rejected"] += n
            row["rejected_by_code"][code or "inconnu"] = (
                row["rejected_by_code"].get(code or "inconnu", 0) + n)
    return {"passages": passages, "files": [files[m] for m in sorted(files, reverse=True)]}


def _report_row(report: ErrorReport, passage: Passage, certification: Certification
                ) -> dict[str, Any]:
    sent = passage.titulaire or {}
    return {"id": report.id, "report": report, "passage": {
        "emitter_bcr": passage.emitter_bcr, "id_technique": passage.id_technique,
        "deposit_id": passage.deposit_id,
        "certification": {"type": certification.type, "code": certification.code},
        "holder_as_sent": {k: v for k, v in sent.items() if k in (
            "nomNaissance", "nomUsage", "prenom1", "anneeNaissance", "nomTitulaire",
            "prenom1Titulaire")},
        "withdrawn": passage.withdrawn_at is not None}}


def _reports_query(actor: Actor) -> Any:
    return (sa.select(ErrorReport, Passage, Certification)
            .join(Passage, Passage.id == ErrorReport.passage_id)
            .join(Certification, Certification.id == Passage.certification_id)
            .where(ErrorReport.certifier_bcr == _bcr(actor)))


def holder_reports(db: Session, actor: Actor, *, page: int, page_size: int,
                   status: str | None = None) -> Page:
    """Errors holders reported on the caller's passages, oldest open first."""
    query = _reports_query(actor)
    if status:
        query = query.where(ErrorReport.status == ReportStatus(status))
    rows, total = Paged.of(query, ErrorReport.created_at, ErrorReport.id).page(
        db, page, page_size)
    return Page([_report_row(*row) for row in rows], page, page_size, total)


def answer_report(db: Session, actor: Actor, report_id: int, status: str,
                  response: str | None) -> dict[str, Any]:
    """Mark a holder's report in progress, handled or rejected, with a response the holder
    reads (and a line in the holder's journal)."""
    row = db.execute(_reports_query(actor).where(ErrorReport.id == report_id)).first()
    if row is None:
        raise NotFound("No such report.")
    report = row[0]
    report.status = ReportStatus(status)
    if response is not None:
        report.certifier_response = response
    report.updated_at = utcnow()
    journal.append(db, report.holder_id, "report.answered", actor_type="system",
                   actor_label=f"Certificateur {report.certifier_bcr}",
                   details={"report_id": report.id, "status": status})
    return _report_row(*row)
