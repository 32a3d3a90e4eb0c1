"""Attacks on the login flow and on tokens: none gets in, each gets a clear error."""

from __future__ import annotations

import base64
import json
import logging
import time
from collections.abc import Callable
from typing import Any

import pytest
import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient
from flask.views import MethodView
from flask_smorest import Blueprint
from joserfc import jwt
from joserfc.jwk import ECKey, OctKey
from sqlalchemy.orm import Session, sessionmaker

from passport.auth.access import protect
from passport.auth.models import AuthorizationRequest
from passport.db import unit_of_work
from tests.api.builders import at_once
from tests.api.fixtures import CERTIFIER
from tests.oauth import Flow, bearer, path_of, pivot, query_of, set_user


def b64(data: dict[str, Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()


@pytest.fixture
def holder_token(client: FlaskClient, providers: dict[str, str]) -> str:
    set_user(providers["franceconnect"], "fc-victim", pivot())
    return str(Flow(client, providers["franceconnect"]).tokens("fc-victim")["access_token"])


def claims_of(token: str) -> dict[str, Any]:
    payload = token.split(".")[1]
    return json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))


def header_of(token: str) -> dict[str, Any]:
    head = token.split(".")[0]
    return json.loads(base64.urlsafe_b64decode(head + "=" * (-len(head) % 4)))


def resign(app: Flask, claims: dict[str, Any], header: dict[str, Any] | None = None,
           key: Any = None) -> str:
    """A token with these claims, signed with our key (or ``key``)."""
    current = app.extensions["passport.keys"].current
    head = {"alg": "ES256", "typ": "at+jwt", "kid": current.kid, **(header or {})}
    return jwt.encode(head, claims, key or current, algorithms=[head["alg"]])


def forgeries() -> list[tuple[str, Callable[[Flask, str], str]]]:
    def with_claims(**changes: Any) -> Callable[[Flask, str], str]:
        def make(app: Flask, token: str) -> str:
            claims = {**claims_of(token), **changes}
            return resign(app, {k: v for k, v in claims.items() if v is not None})
        return make

    def alg_none(app: Flask, token: str) -> str:
        return f"{b64({'alg': 'none', 'typ': 'at+jwt'})}.{token.split('.')[1]}."

    def other_key(app: Flask, token: str) -> str:
        return resign(app, claims_of(token), key=ECKey.generate_key("P-256", private=True))

    def hs256_with_public_key(app: Flask, token: str) -> str:
        public = json.dumps(app.extensions["passport.keys"].public_jwks()["keys"][0])
        return resign(app, claims_of(token), {"alg": "HS256"}, OctKey.import_key(public))

    def tampered_payload(app: Flask, token: str) -> str:
        head, _payload, signature = token.split(".")
        return ".".join([head, b64({**claims_of(token), "roles": ["analyst"]}), signature])

    def plain_jwt_typ(app: Flask, token: str) -> str:
        return resign(app, claims_of(token), {"typ": "JWT"})

    now = int(time.time())
    return [
        ("alg none", alg_none),
        ("signed by another key", other_key),
        ("HS256 with our public key as secret", hs256_with_public_key),
        ("payload changed after signing", tampered_payload),
        ("typ JWT instead of at+jwt", plain_jwt_typ),
        ("wrong issuer", with_claims(iss="https://evil.example")),
        ("wrong audience", with_claims(aud="https://other-api.example")),
        ("expired", with_claims(iat=now - 4000, exp=now - 3000)),
        ("not yet valid", with_claims(nbf=now + 3600)),
        ("issued in the future", with_claims(iat=now + 3600, exp=now + 7200)),
        ("no jti", with_claims(jti=None)),
        ("unknown account", with_claims(sub="00000000-0000-0000-0000-000000000000")),
        ("unknown role", with_claims(roles=["admin"])),
    ]


@pytest.mark.parametrize(("name", "forge"), forgeries(), ids=[f[0] for f in forgeries()])
def test_forged_or_stale_tokens_are_refused(
    client: FlaskClient, app: Flask, holder_token: str, name: str,
    forge: Callable[[Flask, str], str], caplog: pytest.LogCaptureFixture
) -> None:
    assert client.get("/api/v1/me", headers=bearer(holder_token)).status_code == 200
    forged = forge(app, holder_token)
    with caplog.at_level(logging.WARNING, logger="passport.auth.access"):
        response = client.get("/api/v1/me", headers=bearer(forged))
    assert response.status_code == 401, name
    assert response.content_type == "application/problem+json"
    assert response.json["code"] == "invalid_token"
    assert response.headers["WWW-Authenticate"].startswith('Bearer realm="passport", error="invalid_token"')
    assert "access denied: invalid_token" in caplog.text
    assert forged not in caplog.text and forged.split(".")[1] not in caplog.text


@pytest.mark.parametrize(
    ("header", "code"),
    [(None, "missing_token"), ("Basic dXNlcjpwYXNz", "invalid_request"),
     ("Bearer ", "invalid_request"), ("Bearer not.a.jwt", "invalid_token")],
)
def test_missing_or_malformed_authorization(client: FlaskClient, header: str | None,
                                            code: str) -> None:
    headers = {"Authorization": header} if header else {}
    response = client.get("/api/v1/me", headers=headers)
    assert response.status_code == 401
    assert response.json["code"] == code
    assert response.headers["WWW-Authenticate"].startswith('Bearer realm="passport"')


def test_missing_scope_is_403_with_the_scope_needed(
    make_app: Any, auth_settings: Any, holder_token: str
) -> None:
    probe = Blueprint("scope_probe", __name__)

    @probe.route("/api/v1/_probe")
    class Probe(MethodView):
        @protect(scopes=["analytics:read"])
        def get(self) -> dict[str, str]:
            return {"ok": "yes"}

    fresh = make_app(auth_settings)
    fresh.register_blueprint(probe)
    response = fresh.test_client().get("/api/v1/_probe", headers=bearer(holder_token))
    assert response.status_code == 403
    assert response.json["code"] == "insufficient_scope"
    assert 'scope="analytics:read"' in response.headers["WWW-Authenticate"]


def test_replayed_code_is_refused_and_revokes_what_it_gave(
    client: FlaskClient, providers: dict[str, str]
) -> None:
    set_user(providers["franceconnect"], "fc-replay", pivot())
    flow = Flow(client, providers["franceconnect"])
    code = flow.run("fc-replay")["code"]
    first = flow.exchange(code)
    assert first.status_code == 200
    again = flow.exchange(code)
    assert again.status_code == 400 and again.json["error"] == "invalid_grant"
    refreshed = client.post("/oauth/token", data={
        "grant_type": "refresh_token", "refresh_token": first.json["refresh_token"],
        "client_id": "test-app"})
    assert refreshed.json["error"] == "invalid_grant"
    mine = client.get("/api/v1/me", headers=bearer(first.json["access_token"]))
    assert mine.status_code == 401  # what the code gave, access token included


def test_a_code_raced_by_its_replay_gives_tokens_once(
    app: Flask, client: FlaskClient, providers: dict[str, str]
) -> None:
    """The same code exchanged four times at once (a stolen copy racing the client): one
    exchange wins, the others are replays, which revoke what the winner got."""
    set_user(providers["franceconnect"], "fc-race", pivot())
    flow = Flow(client, providers["franceconnect"])
    code = flow.run("fc-race")["code"]
    form = {"grant_type": "authorization_code", "code": code, "client_id": flow.client_id,
            "redirect_uri": flow.redirect_uri, "code_verifier": flow.verifier}
    answers = at_once(app, lambda c: c.post("/oauth/token", data=form))
    assert sorted(a.status_code for a in answers) == [200, 400, 400, 400]
    [won] = [a.json for a in answers if a.status_code == 200]
    refreshed = client.post("/oauth/token", data={
        "grant_type": "refresh_token", "refresh_token": won["refresh_token"],
        "client_id": flow.client_id})
    assert refreshed.json["error"] == "invalid_grant"


def test_a_refresh_token_raced_by_its_replay_is_rotated_once(
    app: Flask, client: FlaskClient, providers: dict[str, str]
) -> None:
    """One refresh token sent four times at once: one new token, and the reuse revokes the
    family — rotation detects a stolen copy however close the two uses are."""
    set_user(providers["franceconnect"], "fc-race-refresh", pivot())
    tokens = Flow(client, providers["franceconnect"]).tokens("fc-race-refresh")
    form = {"grant_type": "refresh_token", "refresh_token": tokens["refresh_token"],
            "client_id": "test-app"}
    answers = at_once(app, lambda c: c.post("/oauth/token", data=form))
    assert sorted(a.status_code for a in answers) == [200, 400, 400, 400]
    [won] = [a.json for a in answers if a.status_code == 200]
    again = client.post("/oauth/token", data={**form, "refresh_token": won["refresh_token"]})
    assert again.json["error"] == "invalid_grant"


@pytest.mark.parametrize(
    ("verifier", "error"),
    [(None, "invalid_request"), ("x" * 50, "invalid_grant")],
    ids=["no verifier", "wrong verifier"],
)
def test_code_needs_its_pkce_verifier(client: FlaskClient, providers: dict[str, str],
                                      verifier: str | None, error: str) -> None:
    set_user(providers["franceconnect"], "fc-pkce", pivot())
    flow = Flow(client, providers["franceconnect"])
    code = flow.run("fc-pkce")["code"]
    response = flow.exchange(code, code_verifier=verifier)
    assert response.status_code in (400, 401)
    assert response.json["error"] == error


@pytest.mark.parametrize(
    "changes",
    [{"code_challenge": None, "code_challenge_method": None},
     {"code_challenge_method": "plain"},
     {"code_challenge_method": None}],
    ids=["no challenge", "plain method", "no method"],
)
def test_pkce_s256_is_required(client: FlaskClient, providers: dict[str, str],
                               changes: dict[str, Any]) -> None:
    response = Flow(client, providers["franceconnect"]).start(**changes)
    assert response.status_code == 302
    result = query_of(response.headers["Location"])
    assert response.headers["Location"].startswith("http://127.0.0.1:8080/callback")
    assert result["error"] == "invalid_request"


@pytest.mark.parametrize(
    "redirect_uri",
    ["http://127.0.0.1:8080/callback/evil", "https://evil.example/callback",
     "http://127.0.0.1:8080/callback?x=1"],
)
def test_unregistered_redirect_uri_is_never_followed(
    client: FlaskClient, providers: dict[str, str], redirect_uri: str
) -> None:
    response = Flow(client, providers["franceconnect"], redirect_uri=redirect_uri).start()
    assert response.status_code == 400
    assert "Location" not in response.headers
    assert response.json["error"] in ("invalid_request", "invalid_client")


def test_unknown_client(client: FlaskClient, providers: dict[str, str]) -> None:
    response = Flow(client, providers["franceconnect"], client_id="nobody").start()
    assert response.status_code in (400, 401) and "Location" not in response.headers


def test_wrong_state_at_the_callback(client: FlaskClient, providers: dict[str, str]) -> None:
    set_user(providers["franceconnect"], "fc-state", pivot())
    flow = Flow(client, providers["franceconnect"])
    started = flow.start()
    callback = flow.login_upstream(started.headers["Location"], "fc-state")
    tampered = callback.replace("state=", "state=x")
    response = client.get(path_of(tampered))
    assert response.status_code == 400 and response.json["code"] == "invalid_state"


def test_callback_in_another_browser_is_refused(
    app: Flask, client: FlaskClient, providers: dict[str, str]
) -> None:
    set_user(providers["franceconnect"], "fc-csrf", pivot())
    flow = Flow(client, providers["franceconnect"])
    started = flow.start()
    callback = flow.login_upstream(started.headers["Location"], "fc-csrf")
    victim = app.test_client()  # has no login cookie: login CSRF
    response = victim.get(path_of(callback))
    assert response.status_code == 400 and response.json["code"] == "invalid_state"


def test_wrong_nonce_in_the_id_token(client: FlaskClient, providers: dict[str, str],
                                     committed: sessionmaker[Session]) -> None:
    set_user(providers["franceconnect"], "fc-nonce", pivot())
    flow = Flow(client, providers["franceconnect"])
    started = flow.start()
    with unit_of_work(committed) as db:  # as if our side expected another login
        db.execute(sa.update(AuthorizationRequest).values(nonce="something-else"))
    callback = flow.back(flow.login_upstream(started.headers["Location"], "fc-nonce"))
    result = query_of(callback.headers["Location"])
    assert result["error"] == "access_denied" and "nonce" in result["error_description"]


def test_acr_below_the_minimum(client: FlaskClient, providers: dict[str, str]) -> None:
    set_user(providers["franceconnect"], "fc-acr", pivot(acr="eidas1"))
    result = Flow(client, providers["franceconnect"]).run("fc-acr")
    assert result["error"] == "access_denied"
    assert "eidas1 is below eidas2" in result["error_description"]


def test_missing_acr_is_below_any_minimum(client: FlaskClient, providers: dict[str, str]) -> None:
    claims = pivot()
    del claims["acr"]
    set_user(providers["franceconnect"], "fc-noacr", claims)
    assert Flow(client, providers["franceconnect"]).run("fc-noacr")["error"] == "access_denied"


def resume_path(client: FlaskClient, providers: dict[str, str], sub: str) -> str:
    """A login up to its ticket: the path that resumes the client's request."""
    set_user(providers["franceconnect"], sub, pivot())
    flow = Flow(client, providers["franceconnect"])
    started = flow.start()
    callback = flow.back(flow.login_upstream(started.headers["Location"], sub))
    return path_of(callback.headers["Location"])


def test_login_ticket_cannot_be_reused_or_moved(
    app: Flask, client: FlaskClient, providers: dict[str, str]
) -> None:
    resume = resume_path(client, providers, "fc-ticket")
    other_browser = app.test_client().get(resume)
    assert other_browser.status_code == 400
    assert other_browser.json["code"] == "invalid_login_ticket"
    changed_scope = client.get(resume.replace("scope=", "scope=analytics%3Aread+"))
    assert changed_scope.status_code in (302, 400)
    if changed_scope.status_code == 302:  # Authlib refused the scope first: error to client
        assert "error=" in changed_scope.headers["Location"]
    assert client.get(resume).status_code == 302
    assert client.get(resume).json["code"] == "invalid_login_ticket"


def test_a_login_ticket_sent_twice_at_once_gives_one_code(
    app: Flask, client: FlaskClient, providers: dict[str, str]
) -> None:
    from passport.auth.oauth_views import COOKIE

    resume = resume_path(client, providers, "fc-ticket-race")
    cookie = client.get_cookie(COOKIE, path="/oauth")
    assert cookie is not None

    def same_browser(c: FlaskClient) -> Any:
        c.set_cookie(COOKIE, cookie.value, path="/oauth")
        return c.get(resume)

    answers = at_once(app, same_browser)
    assert sorted(a.status_code for a in answers) == [302, 400, 400, 400]
    assert {a.json["code"] for a in answers if a.status_code == 400} == {"invalid_login_ticket"}


def client_credentials(client: FlaskClient, client_id: str, secret: str,
                       address: str = "127.0.0.1") -> Any:
    return client.post("/oauth/token", data={"grant_type": "client_credentials"},
                       auth=(client_id, secret), environ_base={"REMOTE_ADDR": address})


def test_client_secret_brute_force_is_rate_limited(client: FlaskClient, app: Flask) -> None:
    secret = app.config["TEST_CERTIFIER_SECRET"]
    for _ in range(5):
        wrong = client_credentials(client, CERTIFIER, "guess")
        assert wrong.status_code == 401 and wrong.json["error"] == "invalid_client"
    locked = client_credentials(client, CERTIFIER, secret)
    assert locked.status_code == 429
    assert int(locked.headers["Retry-After"]) > 60


def test_wrong_secrets_from_elsewhere_do_not_lock_the_client_out(
        client: FlaskClient, app: Flask, committed: sessionmaker[Session],
        caplog: pytest.LogCaptureFixture) -> None:
    """Whoever knows a certifier's BCR could keep it from filing, if failures locked the
    client everywhere: they lock it out from the guessing address only."""
    from passport.sharing.models import RateBucket

    secret = app.config["TEST_CERTIFIER_SECRET"]
    for _ in range(12):
        client_credentials(client, CERTIFIER, "guess", "203.0.113.7")
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="passport.auth.oauth_views"):
        assert client_credentials(client, CERTIFIER, secret, "203.0.113.7").status_code == 429
    assert [r.getMessage() for r in caplog.records] == [
        f"token request for client {CERTIFIER} refused: too many failed client "
        "authentications from its address"]
    assert client_credentials(client, CERTIFIER, secret, "198.51.100.2").status_code == 200
    with unit_of_work(committed) as db:
        keys = db.scalars(sa.select(RateBucket.key)).all()
    assert keys and not any("203.0.113" in key or CERTIFIER in key for key in keys)


def test_an_address_guessing_across_clients_is_throttled(
        client: FlaskClient, app: Flask, caplog: pytest.LogCaptureFixture) -> None:
    """A few guesses at each of many clients (known or not) from one address: after 20,
    that address gets no token at all for a while; the others still do."""
    secret = app.config["TEST_CERTIFIER_SECRET"]
    for n in range(20):
        wrong = client_credentials(client, CERTIFIER if n % 5 == 0 else f"X{n:07d}", "guess",
                                   "203.0.113.8")
        assert wrong.status_code == 401
    refused = client_credentials(client, CERTIFIER, secret, "203.0.113.8")
    assert refused.status_code == 429 and int(refused.headers["Retry-After"]) > 60
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="passport.auth.oauth_views"):
        assert client_credentials(client, "<b>x", "guess", "203.0.113.8").status_code == 429
    assert [r.getMessage() for r in caplog.records] == [
        "token request for client unknown refused: too many failed client authentications "
        "from its address"]  # an id sent is not logged unless it is a client's
    assert client_credentials(client, CERTIFIER, secret, "203.0.113.9").status_code == 200


def test_refresh_with_another_clients_token(client: FlaskClient, providers: dict[str, str],
                                            app: Flask) -> None:
    set_user(providers["franceconnect"], "fc-cross", pivot())
    tokens = Flow(client, providers["franceconnect"]).tokens("fc-cross")
    response = client.post("/oauth/token", data={
        "grant_type": "refresh_token", "refresh_token": tokens["refresh_token"]},
        auth=(CERTIFIER, app.config["TEST_CERTIFIER_SECRET"]))
    assert response.status_code in (400, 401)


def test_key_rotation_keeps_old_tokens_valid_until_the_key_is_dropped(
    make_app: Any, auth_settings: Any, holder_token: str, app: Flask
) -> None:
    import dataclasses

    old_pem = app.extensions["passport.keys"].current.as_pem(private=True).decode()
    new_key = ECKey.generate_key("P-256", private=True)
    rotated = make_app(dataclasses.replace(
        auth_settings, signing_key_pem=new_key.as_pem(private=True).decode(),
        signing_old_keys_pem=(old_pem,)))
    client = rotated.test_client()
    keys = client.get("/.well-known/jwks.json").json["keys"]
    assert len(keys) == 2 and all("d" not in k for k in keys)
    assert header_of(holder_token)["kid"] in {k["kid"] for k in keys}
    assert client.get("/api/v1/me", headers=bearer(holder_token)).status_code == 200
    dropped = make_app(dataclasses.replace(
        auth_settings, signing_key_pem=new_key.as_pem(private=True).decode()))
    response = dropped.test_client().get("/api/v1/me", headers=bearer(holder_token))
    assert response.status_code == 401
