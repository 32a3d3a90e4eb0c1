"""Consents: the holder's side (``/api/v1/me/consents…``, codes, requests, receipts) and
the advisor's side (``/api/v1/advisor/…``, ProConnect login, scope ``advisor:read``)."""

from __future__ import annotations

from typing import Any

from flask.views import MethodView

from passport.auth.access import current_actor, protect
from passport.auth.models import Role
from passport.consents import schemas, service
from passport.consents.models import ConsentReceipt
from passport.errors import NotFound, RateLimited
from passport.records.schemas import PageQuerySchema
from passport.web.blueprint import Blueprint
from passport.web.db import committing, session, transactional

blp = Blueprint("consents", __name__, url_prefix="/api/v1",
                description="Consents to CEP advisors, their receipts, and the advisor API")
READ: dict[str, Any] = {"scopes": ["passport:read"], "roles": [Role.HOLDER]}
WRITE: dict[str, Any] = {"scopes": ["consents:write"], "roles": [Role.HOLDER]}
ADVISOR: dict[str, Any] = {"scopes": ["advisor:read"], "roles": [Role.ADVISOR]}


def _attachment(receipt: ConsentReceipt) -> dict[str, str]:
    return {"Content-Disposition": f'attachment; filename="recu-consentement-{receipt.id}.json"'}


@blp.route("/me/consents")
class Consents(MethodView):
    """My consents."""

    @protect(**READ)
    @blp.response(200, schemas.ConsentSchema(many=True))
    def get(self) -> list[dict[str, Any]]:
        """My consents, newest first, with their status."""
        return service.listing(session(), current_actor())

    @protect(**WRITE)
    @blp.arguments(schemas.ConsentInSchema)
    @blp.response(201, schemas.ConsentSchema)
    @transactional
    def post(self, data: dict[str, Any]) -> dict[str, Any]:
        """Let an advisor organisation (or one named advisor) read chosen sections of my
        passport, for a purpose, from 1 day to 1 year. A receipt is issued."""
        return service.grant(session(), current_actor(), data)


@blp.route("/me/consents/<int:consent_id>")
class ConsentResource(MethodView):
    """One of my consents."""

    @protect(**READ, objects="own consent")
    @blp.response(200, schemas.ConsentSchema)
    def get(self, consent_id: int) -> dict[str, Any]:
        """One of my consents."""
        return service.one(session(), current_actor(), consent_id)

    @protect(**WRITE, objects="own consent")
    @blp.arguments(schemas.ConsentPatchSchema)
    @blp.response(200, schemas.ConsentSchema)
    @transactional
    def patch(self, data: dict[str, Any], consent_id: int) -> dict[str, Any]:
        """Renew a consent for ``duration_days`` from now (a receipt is issued)."""
        return service.renew(session(), current_actor(), consent_id, data["duration_days"])

    @protect(**WRITE, objects="own consent")
    @blp.response(204)
    @transactional
    def delete(self, consent_id: int) -> None:
        """Withdraw a consent: the advisor's very next request answers 404 (a receipt is
        issued)."""
        service.revoke(session(), current_actor(), consent_id)


@blp.route("/me/consents/<int:consent_id>/receipts")
class ConsentReceipts(MethodView):
    """The receipts of one consent."""

    @protect(**READ, objects="own consent")
    @blp.response(200, schemas.ReceiptSchema(many=True))
    def get(self, consent_id: int) -> list[ConsentReceipt]:
        """Every receipt issued for this consent (grant, renewals, withdrawal)."""
        return service.consent_receipts(session(), current_actor(), consent_id)


@blp.route("/me/consent-receipts")
class Receipts(MethodView):
    """All my consent receipts."""

    @protect(**READ)
    @blp.response(200, schemas.ReceiptSchema(many=True))
    def get(self) -> list[ConsentReceipt]:
        """Every receipt issued to me, newest first (refusals included)."""
        return service.receipts(session(), current_actor())


@blp.route("/me/consent-receipts/<string:receipt_id>")
class ReceiptDownload(MethodView):
    """One receipt, as the JSON document to keep."""

    @protect(**READ, objects="own receipt")
    @blp.response(200, description="The receipt document (docs/consents.md lists its fields)")
    def get(self, receipt_id: str) -> tuple[dict[str, Any], int, dict[str, str]]:
        """Download a receipt (the Kantara/ISO 27560 document itself)."""
        receipt = service.receipt(session(), current_actor(), receipt_id)
        return receipt.document, 200, _attachment(receipt)


@blp.route("/me/consent-codes")
class ConsentCodes(MethodView):
    """One-time codes for advisor-initiated requests."""

    @protect(**WRITE)
    @blp.response(201, schemas.ConsentCodeSchema)
    @transactional
    def post(self) -> dict[str, Any]:
        """Make a one-time code (valid 15 minutes) to read to my advisor, who redeems it to
        ask for access; I then approve or refuse the request."""
        return service.new_code(session(), current_actor())


@blp.route("/me/consent-requests")
class ConsentRequests(MethodView):
    """Advisors' requests."""

    @protect(**READ)
    @blp.response(200, schemas.ConsentRequestSchema(many=True))
    def get(self) -> list[dict[str, Any]]:
        """Requests made with my codes: pending first is up to the client; newest first."""
        return service.pending(session(), current_actor())


@blp.route("/me/consent-requests/<int:request_id>/approve")
class ApproveRequest(MethodView):
    @protect(**WRITE, objects="own consent request")
    @blp.response(200, schemas.ConsentRequestSchema)
    @blp.alt_response(410, description="Not decided within 30 days: lapsed "
                      "(`consent_request_expired`)")
    @transactional
    def post(self, request_id: int) -> dict[str, Any]:
        """Approve a pending request: the consent is created and a receipt issued."""
        return service.decide(session(), current_actor(), request_id, approve=True)


@blp.route("/me/consent-requests/<int:request_id>/refuse")
class RefuseRequest(MethodView):
    @protect(**WRITE, objects="own consent request")
    @blp.response(200, schemas.ConsentRequestSchema)
    @blp.alt_response(410, description="Not decided within 30 days: lapsed "
                      "(`consent_request_expired`)")
    @transactional
    def post(self, request_id: int) -> dict[str, Any]:
        """Refuse a pending request (a receipt of the refusal is issued)."""
        return service.decide(session(), current_actor(), request_id, approve=False)


# -- advisors --------------------------------------------------------------------------------
@blp.route("/advisor/consent-requests")
class AdvisorRequests(MethodView):
    """Ask a holder for access with the code they read to me; follow what I asked."""

    @protect(**ADVISOR)
    @blp.response(200, schemas.AdvisorRequestSchema(many=True))
    @transactional
    def get(self) -> list[dict[str, Any]]:
        """The requests I made, newest first: pending (until when), approved (with the
        consent's reference), refused or expired. Nothing of the holder is shown."""
        return service.advisor_requests(session(), current_actor())

    @protect(**ADVISOR)
    @blp.arguments(schemas.RedeemSchema)
    @blp.response(201, schemas.RedeemedSchema)
    @blp.alt_response(429, description="Too many codes tried; see Retry-After")
    @committing(NotFound, RateLimited)
    def post(self, data: dict[str, Any]) -> dict[str, Any]:
        """Redeem a holder's one-time code: a request the holder approves or refuses in
        their passport. Attempts are rate-limited per advisor."""
        return service.redeem(session(), current_actor(), data)


@blp.route("/advisor/holders")
class AdvisorHolders(MethodView):
    """The holders who consented to me."""

    @protect(**ADVISOR)
    @blp.response(200, schemas.AdvisorHolderSchema(many=True))
    @transactional
    def get(self) -> list[dict[str, Any]]:
        """Holders whose active consent covers me (my organisation, and me when the consent
        names an advisor), each under the consent's opaque reference. Being listed is
        written to each holder's journal (at most once an hour)."""
        return service.advisor_holders(session(), current_actor())


@blp.route("/advisor/holders/<string:reference>/passport")
class AdvisorPassport(MethodView):
    """A holder's passport, as consented."""

    @protect(**ADVISOR, objects="holder under a consent covering the advisor")
    @blp.arguments(PageQuerySchema, location="query")
    @blp.response(200, schemas.AdvisorPassportSchema)
    @transactional
    def get(self, query: dict[str, Any], reference: str) -> dict[str, Any]:
        """Only the consented sections (hidden items left out). Every read is written to
        the holder's journal with the consent; a withdrawn or expired consent answers 404."""
        return service.advisor_passport(session(), current_actor(), reference, **query)
