"""The certifier API (``/api/v1/certifier/…``, client-credentials tokens, scope
``deposits:write``) and the public dry-run validator (``POST /api/v1/flux/validate``)."""

from __future__ import annotations

import datetime as dt
import shutil
import tempfile
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from flask import Response, current_app, jsonify, request, stream_with_context, url_for
from flask.views import MethodView

from ingestion.report import report_file_name
from passport import ratelimit
from passport.auth.access import current_actor, protect, public
from passport.auth.models import Role
from passport.certifiers import insight
from passport.config import Settings
from passport.db import Page
from passport.deposits import dryruns, schemas, upload
from passport.deposits.models import Deposit, DepositStatus
from passport.deposits.models import DryRun as DryRunRow
from passport.deposits.service import load_report
from passport.deposits.storage import DRY_RUNS, storing
from passport.errors import Busy, Conflict, NotFound, RateLimited, TooManyPending
from passport.jobs import Queue
from passport.web.blueprint import Blueprint
from passport.web.db import committing, lock_for_writing, session, transactional

blp = Blueprint("certifier", __name__, url_prefix="/api/v1",
                description="Certifiers: deposits, processing reports, statistics")
CERTIFIER: dict[str, Any] = {"scopes": ["deposits:write"], "roles": [Role.CERTIFIER]}
UPLOAD_BODY = {"content": {
    "application/xml": {"schema": {"type": "string", "format": "binary"}},
    "multipart/form-data": {"schema": {"type": "object", "properties": {
        "file": {"type": "string", "format": "binary"}}, "required": ["file"]}},
}, "description": "The flux (optionally Content-Encoding: gzip); name it with X-File-Name"}


def _settings() -> Settings:
    return current_app.config["PASSPORT_SETTINGS"]


def jobs() -> Queue:
    """The application's job queue (Celery or the in-process pool), made on first use."""
    queue = current_app.extensions.get("passport.jobs")
    if queue is None:
        from passport.jobs import JobContext, queue_for
        from passport.nir import NirVault

        settings = _settings()
        queue = queue_for(JobContext(settings, current_app.extensions["passport.sessions"],
                                     NirVault(settings)))
        current_app.extensions["passport.jobs"] = queue
    return queue


@blp.route("/certifier/deposits")
class Deposits(MethodView):
    """My deposits."""

    @protect(**CERTIFIER)
    @blp.arguments(schemas.DepositQuerySchema, location="query")
    @blp.response(200, schemas.DepositPage)
    def get(self, query: dict[str, Any]) -> Page:
        """The deposits I filed and those filed on my behalf, newest first."""
        return insight.deposits(session(), current_actor(), **query)

    @protect(**CERTIFIER)
    @blp.doc(requestBody=UPLOAD_BODY)
    @blp.response(202, schemas.DepositSchema, description="Received: the acknowledgment")
    @blp.alt_response(200, schema=schemas.DepositSchema,
                      description="These bytes were already received from you (and not rejected)")
    @blp.alt_response(413, description="Over PASSPORT_MAX_UPLOAD_BYTES (inflated, with gzip)")
    @blp.alt_response(415, description="Not application/xml nor multipart/form-data")
    @blp.alt_response(503, description="Storage failed (full, unavailable): send it again "
                      "later (`storage_unavailable`, `Retry-After`)")
    def post(self) -> tuple[Deposit, int, dict[str, str]]:
        """File a flux. The body is streamed to storage and hashed; the answer is the
        acknowledgment of receipt (``RECU``) at once, and processing runs as a job. The
        same bytes sent again by the same emitter return the existing deposit, unless it
        was rejected: then they are a new deposit, processed again."""
        settings = _settings()
        bcr = current_actor().certifier_bcr
        received = upload.receive(request, settings.storage_dir / "flux",
                                  settings.max_upload_bytes)
        db = session()
        existing = _existing(bcr, received.sha256)
        if existing is not None:
            return existing, 200, {"Location": _location(existing)}
        # End the read before writing: on SQLite a transaction that read before a job's
        # commit could not write any more (the unique constraint guards the race).
        db.rollback()
        deposit = Deposit(file_name=received.file_name, sha256=received.sha256,
                          size_bytes=received.size, source="api", submitted_by=bcr,
                          storage_path=str(received.path), status=DepositStatus.RECU)
        db.add(deposit)
        try:
            db.commit()
        except sa.exc.IntegrityError:  # the same bytes, sent twice at once
            db.rollback()
            existing = _existing(bcr, received.sha256)
            assert existing is not None
            return existing, 200, {"Location": _location(existing)}
        jobs().submit(deposit.id)
        return deposit, 202, {"Location": _location(deposit)}


def _existing(bcr: str | None, sha256: str) -> Deposit | None:
    return session().scalar(sa.select(Deposit).where(
        Deposit.submitted_by == bcr, Deposit.sha256 == sha256,
        Deposit.status != DepositStatus.REJETE))


def _location(deposit: Deposit) -> str:
    return url_for("certifier.DepositResource", deposit_id=deposit.id)


@blp.route("/certifier/deposits/<id32:deposit_id>")
class DepositResource(MethodView):
    """One deposit."""

    @protect(**CERTIFIER, objects="deposit filed by or for the caller")
    @blp.response(200, schemas.DepositSchema)
    def get(self, deposit_id: int) -> Deposit:
        """Status and counts of a deposit."""
        return insight.deposit(session(), current_actor(), deposit_id)


@blp.route("/certifier/deposits/<id32:deposit_id>/report")
class DepositReport(MethodView):
    """The processing report ("accusé de traitement")."""

    @protect(**CERTIFIER, objects="deposit filed by or for the caller")
    @blp.arguments(schemas.ReportQuerySchema, location="query")
    @blp.response(200, description="The report: CDC XML (Accept: application/xml) or JSON",
                  content_type="application/json")
    @blp.alt_response(409, description="Not processed yet (see Retry-After)")
    def get(self, query: dict[str, Any], deposit_id: int) -> Response:
        """The processing report in the CDC XML dialect (``Accept: application/xml``, named
        ``Accuse_de_traitement_<name>_<YYYYMMDD>.xml``) or as JSON, streamed."""
        deposit = insight.deposit(session(), current_actor(), deposit_id)
        if not deposit.status.is_final:
            raise ReportNotReady(f"Deposit {deposit_id} is {deposit.status.value}: the report "
                                 "comes when processing ends.")
        report = load_report(session(), deposit_id)
        assert report is not None
        wanted = query.get("format") or (
            "xml" if request.accept_mimetypes.best_match(
                ["application/json", "application/xml", "text/xml"]) in (
                "application/xml", "text/xml") else "json")
        name = report_file_name(deposit.file_name, deposit.received_at.date())
        if wanted == "xml":
            return Response(stream_with_context(report.iter_xml()), mimetype="application/xml",
                            headers={"Content-Disposition": f'attachment; filename="{name}"'})
        json_name = name.removesuffix(".xml") + ".json"
        return Response(stream_with_context(report.iter_json()), mimetype="application/json",
                        headers={"Content-Disposition": f'inline; filename="{json_name}"'})


class ReportNotReady(Conflict):
    code = "report_not_ready"
    title = "Report not ready"


@blp.route("/certifier/stats")
class Stats(MethodView):
    @protect(**CERTIFIER)
    @blp.arguments(schemas.StatsQuerySchema, location="query")
    @blp.response(200, schemas.StatsSchema)
    def get(self, query: dict[str, Any]) -> dict[str, Any]:
        """Passages received, accepted and refused by family of reason (NIRisation,
        duplicates, business rules, other) and by code, per certification and month; and
        files received and rejected per month. Fix the data at the source."""
        return insight.stats(session(), current_actor(), **query)


@blp.route("/certifier/reports")
class HolderReports(MethodView):
    @protect(**CERTIFIER)
    @blp.arguments(schemas.HolderReportQuerySchema, location="query")
    @blp.response(200, schemas.HolderReportPage)
    def get(self, query: dict[str, Any]) -> Page:
        """Errors holders reported on my passages (wrong name, wrong date, not mine…),
        oldest first."""
        return insight.holder_reports(session(), current_actor(), **query)


@blp.route("/certifier/reports/<int:report_id>")
class HolderReport(MethodView):
    @protect(**CERTIFIER, objects="report on one of the caller's passages")
    @blp.arguments(schemas.HolderReportPatchSchema)
    @blp.response(200, schemas.HolderReportSchema)
    @transactional
    def patch(self, data: dict[str, Any], report_id: int) -> dict[str, Any]:
        """Mark a report in progress, handled or rejected, with a response for the holder
        (who sees it, and a line in their journal)."""
        return insight.answer_report(session(), current_actor(), report_id, data["status"],
                                     data.get("response"))


#: Seconds a client is asked to wait before polling a queued dry run again.
QUEUED_RETRY_AFTER = 5

PREFER = {"in": "header", "name": "Prefer", "required": False, "schema": {"type": "string"},
          "description": "`respond-async`: queue the check and answer 202 at once (for large "
                         "files: a 200,000-passage file takes up to a minute); poll the "
                         "Location for the verdict"}


@blp.route("/flux/validate")
class DryRun(MethodView):
    """Check a file as filing would, without storing anything."""

    @public
    @blp.doc(requestBody=UPLOAD_BODY, parameters=[PREFER])
    @blp.response(200, schemas.DryRunSchema)
    @blp.alt_response(202, schema=schemas.QueuedDryRunSchema,
                      description="Queued (`Prefer: respond-async`): poll the Location")
    @blp.alt_response(413, description="Over PASSPORT_MAX_UPLOAD_BYTES")
    @blp.alt_response(429, description="Too many validations from your address "
                      "(`rate_limited`), or as many queued dry runs of yours waiting or running "
                      "as one address may have (`too_many_pending`); with Retry-After")
    @blp.alt_response(503, description="Every dry-run slot of this host is taken, or as many "
                      "dry runs are queued as the service keeps (`busy`, with Retry-After), or "
                      "storage failed (full, unavailable): try again later")
    @committing(RateLimited)
    def post(self) -> dict[str, Any] | Response:
        """The byte gate, the official schema and the business rules on an uploaded file,
        with every problem's line and column. No login; rate-limited per address; nothing
        is kept (queued, the file until checked and the verdict until it expires).
        NIRisation, duplicates and the registry are only checked when filing."""
        settings = _settings()
        client = ratelimit.client_key("validate", request.remote_addr, settings.nir_hmac_key)
        lock_for_writing(session())  # SQLite: the count is read, then written
        wait = ratelimit.hit(session(), client, settings.validate_rate_per_minute,
                             dt.timedelta(minutes=1))
        if wait is not None:
            raise RateLimited("Too many validations from your address; try again later.", wait)
        session().commit()
        if _prefers_async():
            return _queue_dry_run(settings, client)
        with ratelimit.slot(settings.instance_dir / "slots", "validate",
                            settings.validate_concurrency) as held:
            if not held:
                raise Busy("Every dry-run validation slot is taken; try again shortly, ask "
                           "for a queued check (Prefer: respond-async), or file the deposit: "
                           "filing checks the same and queues the work.")
            return _dry_run(settings)


@blp.route("/flux/validate/<string:token>")
class QueuedDryRun(MethodView):
    """A queued dry run, reached through the token its 202 gave."""

    @public
    @blp.response(200, schemas.QueuedDryRunSchema)
    @blp.alt_response(404, description="No such dry run, or its verdict expired")
    def get(self, token: str) -> tuple[dict[str, Any], int, dict[str, str]]:
        """Where a queued dry run stands; its verdict once ``TERMINE`` (``Retry-After``
        while it waits or runs)."""
        found = dryruns.find(session(), token)
        if found is None:
            raise NotFound("No such dry run (its verdict may have expired).")
        waiting = found.status in dryruns.PENDING
        headers = {"Retry-After": str(QUEUED_RETRY_AFTER)} if waiting else {}
        return _queued(found, token), 200, headers


def _prefers_async() -> bool:
    """RFC 7240: ``Prefer: respond-async`` among the header's preferences."""
    return any(p.split(";")[0].strip().lower() == "respond-async"
               for value in request.headers.getlist("Prefer") for p in value.split(","))


def _queued(dry_run: DryRunRow, token: str) -> dict[str, Any]:
    return {"url": url_for("certifier.QueuedDryRun", token=token), "status": dry_run.status.value,
            "file_name": dry_run.file_name, "size_bytes": dry_run.size_bytes,
            "received_at": dry_run.received_at, "started_at": dry_run.started_at,
            "finished_at": dry_run.finished_at, "expires_at": dry_run.expires_at,
            "verdict": dry_run.verdict}


def _queue_dry_run(settings: Settings, client: str) -> Response:
    db = session()
    if dryruns.pending(db, client) >= settings.dry_runs_pending_per_client:
        raise TooManyPending(
            f"{settings.dry_runs_pending_per_client} of your dry runs are waiting or running, "
            "as many as one address may have queued; fetch their verdicts, then send the "
            "next.", retry_after=30)
    if dryruns.pending(db) >= settings.dry_runs_pending_max:
        raise Busy("As many dry runs are queued as the service keeps; try again shortly, or "
                   "file the deposit: filing checks the same and queues the work.")
    db.rollback()  # SQLite: a transaction that read could not write after a job's commit
    received = upload.receive(request, settings.storage_dir / DRY_RUNS,
                              settings.max_upload_bytes, content_addressed=False)
    try:
        dry_run, token = dryruns.receive(db, settings, file_name=received.file_name,
                                         size=received.size, path=received.path,
                                         client_key=client)
        db.commit()
    except BaseException:
        received.path.unlink(missing_ok=True)
        raise
    jobs().submit_dry_run(dry_run.id)
    body = schemas.QueuedDryRunSchema().dump(_queued(dry_run, token))
    response = jsonify(body)
    response.status_code = 202
    response.headers.update({"Location": body["url"], "Preference-Applied": "respond-async",
                             "Retry-After": str(QUEUED_RETRY_AFTER)})
    return response


def _dry_run(settings: Settings) -> dict[str, Any]:
    with storing():
        scratch = Path(tempfile.mkdtemp(prefix="validate-", dir=_scratch_root(settings)))
    try:
        received = upload.receive(request, scratch, settings.max_upload_bytes)
        return dryruns.check(settings, received.file_name, received.path)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def _scratch_root(settings: Settings) -> Path:
    root = settings.storage_dir / "scratch"
    root.mkdir(parents=True, exist_ok=True)
    return root
