"""Object-level authorisation (BOLA), route by route, generated from the URL map.

Every API view must declare its access rule (`passport.auth.access.protect`, or `public`);
every route with an object id in its path must declare an object rule *and* have a case:
in `OBJECT_CASES` (an object owned by holder A: no token, expired token, wrong role,
unlinked login, another holder, the owner), in `ADVISOR_CASES` (a holder's data behind a
consent: no consent, expired, revoked, another organisation, not the named advisor), or,
for the public capability routes (the path *is* the secret), in `CAPABILITY_ROUTES` with
the test file that covers them. Adding a route without a rule or a case fails this file.
"""

from __future__ import annotations

import datetime as dt
import re
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest
import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy.orm import Session, sessionmaker

from passport.auth.models import Account, RefreshToken, Role
from passport.auth.server import digest
from passport.db import unit_of_work, utcnow
from passport.holders.models import Holder
from tests.api import builders
from tests.api.fixtures import CERTIFIER
from tests.oauth import CLIENT_ID, bearer, mint

API_PREFIX = "/api/v1"
METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE")


@dataclass
class People:
    """Two holders (A owns the objects, B must not reach them) and their tokens."""

    owner: str
    other: str
    expired: str
    certifier: str
    unlinked: str
    owner_account: int
    other_account: int
    owner_holder: int
    app: Flask


@pytest.fixture
def people(app: Flask, committed: sessionmaker[Session]) -> People:
    with unit_of_work(committed) as db:
        accounts = []
        for n in range(2):
            holder = Holder(nir_hmac=uuid.uuid4().hex, nir_enc=b"x", nir_key_id="dev")
            db.add(holder)
            db.flush()
            account = Account(public_id=str(uuid.uuid4()), role=Role.HOLDER, issuer="test",
                              subject=f"holder-{n}", holder_id=holder.id)
            db.add(account)
            db.flush()
            accounts.append(account)
        owner, other = accounts
        unlinked = Account(public_id=str(uuid.uuid4()), role=Role.HOLDER, issuer="test",
                           subject="holder-unlinked", link_status="no_match")
        db.add(unlinked)
        db.flush()
        return People(
            owner=mint(app, db, owner), other=mint(app, db, other),
            expired=mint(app, db, owner, ttl=60),
            certifier=mint(app, db, None, client_id=CERTIFIER),
            unlinked=mint(app, db, unlinked),
            owner_account=owner.id, other_account=other.id, owner_holder=owner.holder_id,
            app=app,
        )


# -- object builders: each returns the concrete path of an object owned by holder A --------
def a_login_session(committed: sessionmaker[Session], people: People) -> dict[str, str]:
    family = str(uuid.uuid4())
    with unit_of_work(committed) as db:
        db.add(RefreshToken(token_hash=digest(uuid.uuid4().hex), family=family,
                            client_id=CLIENT_ID, account_id=people.owner_account, scope="",
                            expires_at=utcnow() + dt.timedelta(days=1)))
    return {"session_id": family}


def a_certification(committed: sessionmaker[Session], people: People) -> dict[str, str]:
    from passport.deposits.models import Deposit, DepositStatus
    from passport.records.models import Passage
    from passport.referentials.models import Certification

    with unit_of_work(committed) as db:
        deposit = Deposit(file_name="f.xml", sha256="0" * 64, size_bytes=1,
                          status=DepositStatus.TRAITE)
        cert = Certification(type="RNCP", code=f"RNCP{uuid.uuid4().int % 10**5}")
        db.add_all([deposit, cert])
        db.flush()
        passage = Passage(
            holder_id=people.owner_holder, deposit_id=deposit.id, certification_id=cert.id,
            emitter_bcr="CERT0001", certifier_bcr="CERT0001", contract_id="C",
            id_technique=uuid.uuid4().hex, obtention_certification="PAR_ADMISSION",
            donnee_certifiee=True, date_debut_validite=dt.date(2024, 1, 1),
            presence_niveau_langue_euro=False, presence_niveau_numerique_euro=False,
            identification="titulaire", titulaire={})
        db.add(passage)
        db.flush()
        return {"certification_id": str(passage.id)}


def a_declaration(committed: sessionmaker[Session], people: People) -> dict[str, str]:
    from passport.records.models import Declaration, DeclarationKind

    with unit_of_work(committed) as db:
        item = Declaration(holder_id=people.owner_holder, kind=DeclarationKind.SKILL,
                           title="Soudure TIG", skills=[])
        db.add(item)
        db.flush()
        return {"declaration_id": str(item.id)}


def a_share(committed: sessionmaker[Session], people: People) -> dict[str, str]:
    values = a_declaration(committed, people)
    share = builders.a_share(people.app, committed, people.owner_account,
                             [{"kind": "declaration", "id": int(values["declaration_id"])}])
    return {"share_id": str(share["id"])}


def a_consent(committed: sessionmaker[Session], people: People) -> dict[str, str]:
    return {"consent_id": str(builders.a_consent(committed, people.owner_account)["id"])}


def a_receipt(committed: sessionmaker[Session], people: People) -> dict[str, str]:
    from passport.consents.models import ConsentReceipt

    consent = builders.a_consent(committed, people.owner_account)
    with unit_of_work(committed) as db:
        receipt = db.scalar(sa.select(ConsentReceipt.id).where(
            ConsentReceipt.consent_id == consent["id"]))
    return {"receipt_id": str(receipt)}


def a_consent_request(committed: sessionmaker[Session], people: People) -> dict[str, str]:
    advisor = builders.advisor(committed, f"{uuid.uuid4().hex[:8]}@cep.example")
    return {"request_id": str(builders.a_pending_request(committed, people.owner_account,
                                                         advisor))}


def a_cv(committed: sessionmaker[Session], people: People) -> dict[str, str]:
    from passport.cvs import service as cvs
    from passport.cvs.api import context
    from passport.cvs.content import CvRequest

    a_declaration(committed, people)
    with people.app.app_context(), unit_of_work(committed) as db:
        created = cvs.create(db, context(), builders.actor(db, people.owner_account),
                             CvRequest(format="json-resume"))
    return {"cv_id": str(created["id"])}


@dataclass(frozen=True)
class Case:
    """How to exercise one object route."""

    build: Callable[[sessionmaker[Session], People], dict[str, str]]
    ok: int
    body: dict[str, Any] | None = None
    #: The route needs If-Match (taken from a GET of the same path by the owner).
    etag: bool = False
    #: Where the owner reads the object back afterwards.
    read_back: str | None = None
    #: Passport data (an unlinked holder login has none: 403) or the login's own (404).
    holder_data: bool = True


CERTIFICATION = "/api/v1/me/passport/certifications/<int:certification_id>"
DECLARATION = "/api/v1/me/declarations/<int:declaration_id>"
SHARE = "/api/v1/me/shares/<int:share_id>"
CONSENT = "/api/v1/me/consents/<int:consent_id>"
#: Every object route: (rule, method) → its case. A route missing here fails the suite.
OBJECT_CASES: dict[tuple[str, str], Case] = {
    ("/api/v1/me/sessions/<session_id>", "GET"): Case(a_login_session, 200, holder_data=False),
    ("/api/v1/me/sessions/<session_id>", "DELETE"): Case(a_login_session, 204,
                                                         holder_data=False),
    (CERTIFICATION, "GET"): Case(a_certification, 200),
    (CERTIFICATION, "PATCH"): Case(a_certification, 200, {"hidden": True}, etag=True),
    (CERTIFICATION + "/reports", "GET"): Case(a_certification, 200),
    (CERTIFICATION + "/reports", "POST"): Case(
        a_certification, 201, {"reason": "wrong_date"}, read_back=CERTIFICATION),
    (DECLARATION, "GET"): Case(a_declaration, 200),
    (DECLARATION, "PATCH"): Case(a_declaration, 200, {"title": "Soudure MIG"}, etag=True),
    (DECLARATION, "DELETE"): Case(a_declaration, 204, etag=True),
    (SHARE, "GET"): Case(a_share, 200),
    (SHARE, "PATCH"): Case(a_share, 200, {"label": "Pour un recruteur"}),
    (SHARE, "DELETE"): Case(a_share, 204),
    (CONSENT, "GET"): Case(a_consent, 200),
    (CONSENT, "PATCH"): Case(a_consent, 200, {"duration_days": 30}),
    (CONSENT, "DELETE"): Case(a_consent, 204),
    (CONSENT + "/receipts", "GET"): Case(a_consent, 200),
    ("/api/v1/me/consent-receipts/<string:receipt_id>", "GET"): Case(a_receipt, 200),
    ("/api/v1/me/consent-requests/<int:request_id>/approve", "POST"): Case(
        a_consent_request, 200, read_back="/api/v1/me/consent-requests"),
    ("/api/v1/me/consent-requests/<int:request_id>/refuse", "POST"): Case(
        a_consent_request, 200, read_back="/api/v1/me/consent-requests"),
    ("/api/v1/me/cvs/<int:cv_id>", "GET"): Case(a_cv, 200),
    ("/api/v1/me/credentials/<int:certification_id>", "GET"): Case(a_certification, 200),
}
#: Routes whose path holds a capability (an unguessable token, a verification code): public
#: by design; the tests named here cover expiry, revocation, limits and brute force.
CAPABILITY_ROUTES = {
    ("/api/v1/shares/<string:token>", "GET"): "tests/api/test_sharing.py",
    ("/api/v1/verify/<string:code>", "GET"): "tests/api/test_sharing.py",
    ("/api/v1/flux/validate/<string:token>", "GET"): "tests/api/test_dry_runs.py",
}
#: Advisor routes: the object is a holder's data behind a consent reference.
ADVISOR_CASES = {("/api/v1/advisor/holders/<string:reference>/passport", "GET"),
                 ("/api/v1/advisor/holders/<string:reference>/cv", "GET")}
#: Certifier routes: the object belongs to a certifier (deposits, reports on its passages).
CERTIFIER_CASES = {
    ("/api/v1/certifier/deposits/<id32:deposit_id>", "GET"),
    ("/api/v1/certifier/deposits/<id32:deposit_id>/report", "GET"),
    ("/api/v1/certifier/reports/<int:report_id>", "PATCH"),
}


def api_routes(app: Flask) -> list[tuple[str, str, Any]]:
    found = []
    for rule in app.url_map.iter_rules():
        if not rule.rule.startswith(API_PREFIX):
            continue
        view = app.view_functions[rule.endpoint]
        view_class = getattr(view, "view_class", None)
        for method in sorted(rule.methods & set(METHODS)):  # type: ignore[operator]
            handler = getattr(view_class, method.lower()) if view_class else view
            found.append((rule.rule, method, handler))
    return found


def test_every_api_route_declares_its_access_rule(app: Flask) -> None:
    routes = api_routes(app)
    assert routes, "no API routes found"
    undeclared = [f"{m} {r}" for r, m, h in routes if not hasattr(h, "__passport_access__")]
    assert not undeclared, f"routes without protect() or public(): {undeclared}"


def fill(rule: str, values: dict[str, str]) -> str:
    """A route rule with its variables replaced, whatever their converter."""
    return re.sub(r"<(?:\w+:)?(\w+)>", lambda m: values.get(m.group(1), m.group(0)), rule)


def test_every_object_route_has_an_object_rule_and_a_matrix_case(app: Flask) -> None:
    missing_rule, missing_case = [], []
    for rule, method, handler in api_routes(app):
        if "<" not in rule:
            continue
        access = handler.__passport_access__
        if access is None:  # public: only capability routes may be
            if (rule, method) not in CAPABILITY_ROUTES:
                missing_case.append(f"{method} {rule} (public)")
            continue
        if not access.objects:
            missing_rule.append(f"{method} {rule}")
        if (rule, method) not in OBJECT_CASES | {c: None for c in ADVISOR_CASES | CERTIFIER_CASES}:
            missing_case.append(f"{method} {rule}")
    assert not missing_rule, f"object routes without objects=...: {missing_rule}"
    assert not missing_case, f"object routes without a BOLA case in this file: {missing_case}"
    known = {(r, m) for r, m, _ in api_routes(app)}
    assert set(OBJECT_CASES) | set(CAPABILITY_ROUTES) | ADVISOR_CASES | CERTIFIER_CASES <= known, \
        "cases for routes that no longer exist"


MATRIX = [
    ("no token", None, 401, None),
    ("expired token", "expired", 401, "invalid_token"),
    ("wrong role", "certifier", 403, None),
    ("unlinked holder", "unlinked", 403, "holder_not_linked"),
    ("another holder", "other", 404, "not_found"),
]


def concrete(client: FlaskClient, committed: sessionmaker[Session], people: People,
             case_key: tuple[str, str]) -> tuple[str, dict[str, Any], str]:
    """The path of a fresh object for a case, the request body, and the owner's read path."""
    rule, _method = case_key
    case = OBJECT_CASES[case_key]
    values = case.build(committed, people)
    path, back = fill(rule, values), fill(case.read_back or rule, values)
    headers = {}
    if case.etag:
        headers["If-Match"] = client.get(path, headers=bearer(people.owner)).headers["ETag"]
    return path, {"json": case.body, "headers": headers}, back


@pytest.mark.parametrize("case_key", sorted(OBJECT_CASES), ids=lambda c: f"{c[1]} {c[0]}")
@pytest.mark.parametrize(("who", "token_of", "expected", "code"), MATRIX,
                         ids=[m[0] for m in MATRIX])
def test_bola_matrix(client: FlaskClient, committed: sessionmaker[Session], people: People,
                     case_key: tuple[str, str], who: str, token_of: str | None,
                     expected: int, code: str | None) -> None:
    path, request, back = concrete(client, committed, people, case_key)
    if who == "unlinked holder" and not OBJECT_CASES[case_key].holder_data:
        expected, code = 404, "not_found"
    headers = dict(request["headers"])
    if token_of:
        headers.update(bearer(getattr(people, token_of)))
    response = client.open(path, method=case_key[1], json=request["json"], headers=headers)
    assert response.status_code == expected, (who, response.get_data(as_text=True))
    assert response.content_type == "application/problem+json"
    if code:
        assert response.json["code"] == code
    # The object is untouched for its owner afterwards (a denied DELETE deleted nothing).
    check = client.get(back, headers=bearer(people.owner))
    assert check.status_code == 200


@pytest.mark.parametrize("case_key", sorted(OBJECT_CASES), ids=lambda c: f"{c[1]} {c[0]}")
def test_owner_reaches_the_object(client: FlaskClient, committed: sessionmaker[Session],
                                  people: People, case_key: tuple[str, str]) -> None:
    path, request, _back = concrete(client, committed, people, case_key)
    response = client.open(path, method=case_key[1], json=request["json"],
                           headers={**request["headers"], **bearer(people.owner)})
    assert response.status_code == OBJECT_CASES[case_key].ok, response.get_data(as_text=True)


def test_unknown_object_is_404_like_someone_elses(client: FlaskClient, people: People) -> None:
    response = client.get(f"/api/v1/me/sessions/{uuid.uuid4()}", headers=bearer(people.owner))
    assert response.status_code == 404 and response.json["code"] == "not_found"


# -- advisors: a holder's data behind a consent ----------------------------------------------
ADVISOR_PASSPORT = "/api/v1/advisor/holders/{}/passport"


@dataclass
class Advisors:
    named: str
    colleague: str
    elsewhere: str
    no_siret: str
    holder: str


@pytest.fixture
def advisors(app: Flask, committed: sessionmaker[Session], people: People) -> Advisors:
    ids = [builders.advisor(committed, "camille@cep.example"),
           builders.advisor(committed, "dominique@cep.example"),
           builders.advisor(committed, "camille@autre.example", siret=builders.OTHER_ORG),
           builders.advisor(committed, "sans.siret@cep.example", siret=None)]
    with unit_of_work(committed) as db:
        tokens = [mint(app, db, db.get(Account, i)) for i in ids]
    return Advisors(*tokens, holder=people.owner)


def _consented(committed: sessionmaker[Session], people: People, **data: Any) -> str:
    a_certification(committed, people)
    consent = builders.a_consent(committed, people.owner_account, **data)
    with unit_of_work(committed) as db:
        from passport.consents.models import Consent

        found = db.get(Consent, consent["id"])
        assert found is not None
        return found.reference


ADVISOR_MATRIX = [
    # (who, consent, token, status)
    ("no token", {}, None, 401),
    ("a holder", {}, "holder", 403),
    ("advisor of the organisation", {}, "named", 200),
    ("colleague, consent to the organisation", {}, "colleague", 200),
    ("named advisor", {"advisor_email": "camille@cep.example"}, "named", 200),
    ("colleague, not the named advisor", {"advisor_email": "camille@cep.example"},
     "colleague", 404),
    ("advisor of another organisation", {}, "elsewhere", 404),
    ("advisor with no organisation", {}, "no_siret", 404),
]


@pytest.mark.parametrize(("who", "consent", "token_of", "expected"), ADVISOR_MATRIX,
                         ids=[m[0] for m in ADVISOR_MATRIX])
def test_advisor_matrix(client: FlaskClient, committed: sessionmaker[Session], people: People,
                        advisors: Advisors, who: str, consent: dict[str, Any],
                        token_of: str | None, expected: int) -> None:
    reference = _consented(committed, people, **consent)
    headers = bearer(getattr(advisors, token_of)) if token_of else {}
    response = client.get(ADVISOR_PASSPORT.format(reference), headers=headers)
    assert response.status_code == expected, (who, response.get_data(as_text=True))
    listed = client.get("/api/v1/advisor/holders", headers=headers)
    if expected == 200:
        assert response.json["certifications"]["total"] == 1
        assert reference in [h["reference"] for h in listed.json]
    else:
        assert response.content_type == "application/problem+json"
        if listed.status_code == 200:  # an advisor: the holder is not listed either
            assert reference not in [h["reference"] for h in listed.json]


@pytest.mark.parametrize(("who", "consent", "token_of", "expected"), ADVISOR_MATRIX,
                         ids=[m[0] for m in ADVISOR_MATRIX])
def test_advisor_cv_matrix(client: FlaskClient, committed: sessionmaker[Session],
                           people: People, advisors: Advisors, who: str,
                           consent: dict[str, Any], token_of: str | None,
                           expected: int) -> None:
    """The same rules for the holder's CV (the consent includes the ``cv`` section)."""
    reference = _consented(committed, people, sections=["certifications", "cv"], **consent)
    headers = bearer(getattr(advisors, token_of)) if token_of else {}
    response = client.get(f"/api/v1/advisor/holders/{reference}/cv",
                          query_string={"format": "json-resume"}, headers=headers)
    assert response.status_code == expected, (who, response.get_data(as_text=True))
    if expected == 200:
        assert len(response.json["certificates"]) == 1


@pytest.mark.parametrize("ending", ["revoked", "expired"])
def test_an_ended_consent_blocks_the_very_next_request(
        client: FlaskClient, committed: sessionmaker[Session], people: People,
        advisors: Advisors, ending: str) -> None:
    reference = _consented(committed, people)
    path = ADVISOR_PASSPORT.format(reference)
    assert client.get(path, headers=bearer(advisors.named)).status_code == 200
    consent_id = client.get("/api/v1/me/consents", headers=bearer(people.owner)).json[0]["id"]
    if ending == "revoked":
        response = client.delete(f"/api/v1/me/consents/{consent_id}",
                                 headers=bearer(people.owner))
        assert response.status_code == 204
    else:
        builders.expire_consent(committed, consent_id)
    # Same token, very next request.
    response = client.get(path, headers=bearer(advisors.named))
    assert response.status_code == 404 and response.json["code"] == "not_found"
    assert client.get("/api/v1/advisor/holders", headers=bearer(advisors.named)).json == []


def test_unknown_reference_is_404(client: FlaskClient, advisors: Advisors) -> None:
    response = client.get(ADVISOR_PASSPORT.format("nope"), headers=bearer(advisors.named))
    assert response.status_code == 404 and response.json["code"] == "not_found"


# -- certifiers: deposits and the reports on their passages ----------------------------------
def _certifier_objects(app: Flask, committed: sessionmaker[Session], people: People
                       ) -> dict[str, str]:
    """A processed deposit filed by CERT0001, and a holder's report on one of its passages."""

    from passport.deposits.models import Deposit, DepositReport, DepositStatus
    from passport.records.models import ErrorReport, Passage, ReportReason

    values = a_certification(committed, people)
    with unit_of_work(committed) as db:
        deposit = Deposit(file_name="f.xml", sha256="2" * 64, size_bytes=1, source="api",
                          submitted_by=CERTIFIER, certifier_bcr=CERTIFIER,
                          status=DepositStatus.TRAITE)
        db.add(deposit)
        db.flush()
        db.add(DepositReport(deposit_id=deposit.id, summary={
            "version": 1, "file_name": "f.xml", "id_traitement": deposit.id,
            "status": "TRAITE", "id_flux": "x", "errors": [], "counts": {}}))
        passage = db.get(Passage, int(values["certification_id"]))
        assert passage is not None
        report = ErrorReport(holder_id=people.owner_holder, passage_id=passage.id,
                             certifier_bcr=CERTIFIER, reason=ReportReason.WRONG_DATE)
        db.add(report)
        db.flush()
        return {"deposit_id": str(deposit.id), "report_id": str(report.id)}


@pytest.mark.parametrize("case_key", sorted(CERTIFIER_CASES), ids=lambda c: f"{c[1]} {c[0]}")
def test_certifier_matrix(app: Flask, client: FlaskClient, committed: sessionmaker[Session],
                          people: People, case_key: tuple[str, str]) -> None:
    from passport.auth.clients import add_certifier_client

    with unit_of_work(committed) as db:
        add_certifier_client(db, "AUTR0001", "Another certifier")
    with unit_of_work(committed) as db:
        stranger = mint(app, db, None, client_id="AUTR0001")
    rule, method = case_key
    path = fill(rule, _certifier_objects(app, committed, people))
    body = {"status": "traite"} if method == "PATCH" else None
    expected = [(None, 401), (people.owner, 403), (stranger, 404), (people.certifier, 200)]
    for token, status in expected:
        headers = bearer(token) if token else {}
        response = client.open(path, method=method, json=body, headers=headers)
        assert response.status_code == status, (token == people.certifier, response.data[:300])
