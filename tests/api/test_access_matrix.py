"""Object-level authorisation (BOLA), route by route, generated from the URL map.

Every API view must declare its access rule (`passport.auth.access.protect`, or `public`);
every route with an object id in its path must declare an object rule *and* have a case in
`OBJECT_CASES` below, which builds an object owned by holder A. Each case then runs the
matrix: no token, expired token, wrong role, another holder, the owner. Adding a route
without a rule or a case fails this file.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy.orm import Session, sessionmaker

from passport.auth.models import Account, OAuthClient, RefreshToken, Role
from passport.auth.server import AccessTokens, Client, digest
from passport.db import unit_of_work, utcnow
from passport.holders.models import Holder
from tests.api.conftest import CERTIFIER
from tests.oauth import CLIENT_ID, bearer

API_PREFIX = "/api/v1"
METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE")


@dataclass
class People:
    """Two holders (A owns the objects, B must not reach them) and their tokens."""

    owner: str
    other: str
    expired: str
    certifier: str
    owner_account: int
    other_account: int


def mint(app: Flask, db: Session, account: Account | None, *, client_id: str = CLIENT_ID,
         scope: str | None = None, ttl: int | None = None) -> str:
    tokens: AccessTokens = app.extensions["passport.tokens"]
    client = Client(db.get(OAuthClient, client_id))  # type: ignore[arg-type]
    role = account.role if account else Role.CERTIFIER
    from passport.auth.models import ROLE_SCOPES

    token = tokens.encode(client, "authorization_code" if account else "client_credentials",
                          account, scope or " ".join(sorted(ROLE_SCOPES[role])))
    if ttl is None:
        return str(token)
    claims = tokens.decode(token)
    assert claims is not None
    claims["iat"], claims["exp"] = claims["iat"] - 7200, claims["iat"] + ttl - 7200
    return str(tokens.sign(claims))


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
        return People(
            owner=mint(app, db, owner), other=mint(app, db, other),
            expired=mint(app, db, owner, ttl=60),
            certifier=mint(app, db, None, client_id=CERTIFIER),
            owner_account=owner.id, other_account=other.id,
        )


# -- object builders: each returns the concrete path of an object owned by holder A --------
def a_login_session(committed: sessionmaker[Session], people: People) -> dict[str, str]:
    family = str(uuid.uuid4())
    with unit_of_work(committed) as db:
        db.add(RefreshToken(token_hash=digest(uuid.uuid4().hex), family=family,
                            client_id=CLIENT_ID, account_id=people.owner_account, scope="",
                            expires_at=utcnow() + dt.timedelta(days=1)))
    return {"session_id": family}


ObjectBuilder = Callable[[sessionmaker[Session], People], dict[str, str]]
#: (rule, method) → builder of an object owned by holder A, and the owner's success status.
OBJECT_CASES: dict[tuple[str, str], tuple[ObjectBuilder, int]] = {
    ("/api/v1/me/sessions/<session_id>", "GET"): (a_login_session, 200),
    ("/api/v1/me/sessions/<session_id>", "DELETE"): (a_login_session, 204),
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


def test_every_object_route_has_an_object_rule_and_a_matrix_case(app: Flask) -> None:
    missing_rule, missing_case = [], []
    for rule, method, handler in api_routes(app):
        if "<" not in rule:
            continue
        access = handler.__passport_access__
        if access is not None and not access.objects:
            missing_rule.append(f"{method} {rule}")
        if (rule, method) not in OBJECT_CASES:
            missing_case.append(f"{method} {rule}")
    assert not missing_rule, f"object routes without objects=...: {missing_rule}"
    assert not missing_case, f"object routes without a BOLA case in this file: {missing_case}"
    known = {(r, m) for r, m, _ in api_routes(app)}
    assert set(OBJECT_CASES) <= known, "cases for routes that no longer exist"


MATRIX = [
    ("no token", None, 401),
    ("expired token", "expired", 401),
    ("wrong role", "certifier", 403),
    ("another holder", "other", 404),
]


@pytest.mark.parametrize("case", sorted(OBJECT_CASES), ids=lambda c: f"{c[1]} {c[0]}")
@pytest.mark.parametrize(("who", "token_of", "expected"), MATRIX, ids=[m[0] for m in MATRIX])
def test_bola_matrix(client: FlaskClient, committed: sessionmaker[Session], people: People,
                     case: tuple[str, str], who: str, token_of: str | None,
                     expected: int) -> None:
    rule, method = case
    build, _ok = OBJECT_CASES[case]
    path = rule
    for name, value in build(committed, people).items():
        path = path.replace(f"<{name}>", value)
    headers = bearer(getattr(people, token_of)) if token_of else {}
    response = client.open(path, method=method, headers=headers)
    assert response.status_code == expected, (who, response.get_data(as_text=True))
    assert response.content_type == "application/problem+json"
    # The object must still be there for its owner afterwards (a denied DELETE did nothing).
    check = client.open(path, method="GET", headers=bearer(people.owner))
    assert check.status_code == 200


@pytest.mark.parametrize("case", sorted(OBJECT_CASES), ids=lambda c: f"{c[1]} {c[0]}")
def test_owner_reaches_the_object(client: FlaskClient, committed: sessionmaker[Session],
                                  people: People, case: tuple[str, str]) -> None:
    rule, method = case
    build, ok = OBJECT_CASES[case]
    path = rule
    for name, value in build(committed, people).items():
        path = path.replace(f"<{name}>", value)
    response = client.open(path, method=method, headers=bearer(people.owner))
    assert response.status_code == ok, response.get_data(as_text=True)


def test_unknown_object_is_404_like_someone_elses(client: FlaskClient, people: People) -> None:
    response = client.get(f"/api/v1/me/sessions/{uuid.uuid4()}", headers=bearer(people.owner))
    assert response.status_code == 404 and response.json["code"] == "not_found"
