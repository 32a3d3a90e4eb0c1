"""Login flows end to end: authorization code + PKCE through a real local OpenID provider,
pivot-identity linking, advisors and analysts, client credentials, refresh, revocation."""

from __future__ import annotations

import base64
import json
import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests
import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy.orm import Session, sessionmaker

from passport.auth.models import Account, Role
from passport.db import unit_of_work
from passport.nir import NirVault
from tests.api.builders import at_once
from tests.api.fixtures import CERTIFIER
from tests.flux import PERSON_NIR
from tests.oauth import Flow, bearer, pivot, query_of, set_user


def me(client: FlaskClient, token: str) -> dict:
    response = client.get("/api/v1/me", headers=bearer(token))
    assert response.status_code == 200, response.get_data(as_text=True)
    return response.json  # type: ignore[return-value]


def claims_of(token: str) -> dict:
    payload = token.split(".")[1]
    return json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))


def test_holder_logs_in_through_franceconnect_and_is_linked(
    client: FlaskClient, providers: dict[str, str], committed: sessionmaker[Session], app: Flask
) -> None:
    set_user(providers["franceconnect"], "fc-antoine", pivot())
    tokens = Flow(client, providers["franceconnect"]).tokens("fc-antoine")
    assert tokens["token_type"] == "Bearer"
    assert tokens["expires_in"] == 600
    assert set(tokens["scope"].split()) == {"passport:read", "passport:write", "shares:write",
                                            "consents:write"}
    who = me(client, tokens["access_token"])
    assert who["role"] == "holder" and who["linked"] is True and who["link_status"] is None
    assert who["display_name"] == "Antoine Dupont"
    claims = claims_of(tokens["access_token"])
    assert claims["iss"] == "http://localhost" and claims["aud"] == "http://localhost/api"
    assert claims["client_id"] == "test-app" and claims["roles"] == ["holder"]
    assert set(claims) >= {"sub", "exp", "iat", "jti", "scope"}
    assert PERSON_NIR not in json.dumps(claims)
    vault = NirVault(app.config["PASSPORT_SETTINGS"])
    with unit_of_work(committed) as db:
        account = db.scalar(sa.select(Account).where(Account.subject == "fc-antoine"))
        assert account is not None and account.public_id == claims["sub"]
        from passport.holders.models import Holder

        holder = db.get(Holder, account.holder_id)
        assert holder is not None and holder.nir_hmac == vault.pseudonym(PERSON_NIR)


@pytest.mark.parametrize(
    ("claims", "status"),
    [
        (pivot(family_name="Martin"), "no_match"),
        (pivot(given_name="Jean-Luc", family_name="LEFEVRE", birthdate="1989-05-00",
               birthplace="75118"), "several_matches"),
        (pivot(birthdate="1996-00-00", birthplace="31555", gender="female"), "no_match"),
        (pivot(birthplace="31556"), "no_match"),
    ],
)
def test_unmatched_holder_is_logged_in_but_not_linked(
    client: FlaskClient, providers: dict[str, str], claims: dict, status: str
) -> None:
    sub = f"fc-{status}-{claims['family_name']}-{claims['birthplace']}"
    set_user(providers["franceconnect"], sub, claims)
    tokens = Flow(client, providers["franceconnect"]).tokens(sub)
    who = me(client, tokens["access_token"])
    assert who["role"] == "holder" and who["linked"] is False and who["link_status"] == status


def test_homonyms_are_told_apart_by_birthdate(
    client: FlaskClient, providers: dict[str, str]
) -> None:
    set_user(providers["franceconnect"], "fc-jl", pivot(
        given_name="Jean-Luc", family_name="LEFÈVRE", birthdate="1989-05-04", birthplace="75118"))
    tokens = Flow(client, providers["franceconnect"]).tokens("fc-jl")
    assert me(client, tokens["access_token"])["linked"] is True


def test_relogin_reuses_the_account(client: FlaskClient, providers: dict[str, str],
                                    committed: sessionmaker[Session]) -> None:
    set_user(providers["franceconnect"], "fc-again", pivot())
    first = me(client, Flow(client, providers["franceconnect"]).tokens("fc-again")["access_token"])
    second = me(client, Flow(client, providers["franceconnect"]).tokens("fc-again")["access_token"])
    assert first["subject"] == second["subject"]
    with unit_of_work(committed) as db:
        assert db.scalar(sa.select(sa.func.count()).select_from(Account)) == 1


def test_logins_started_at_once_all_go_to_the_provider(app: Flask,
                                                      providers: dict[str, str]) -> None:
    """Six people opening the login page at the same moment (on SQLite the start read
    the client, then wrote after another start's commit: 'database is locked', a 500)."""
    answers = at_once(app, lambda c: Flow(c, providers["franceconnect"]).start(), times=6)
    assert [a.status_code for a in answers] == [302] * 6
    assert all(a.headers["Location"].startswith(providers["franceconnect"]) for a in answers)


def test_first_logins_at_once_make_one_account(app: Flask, providers: dict[str, str],
                                              committed: sessionmaker[Session]) -> None:
    """The same person's first login finishing in two tabs at once: one account (the
    second creation failed on the unique issuer and subject, a 500)."""
    set_user(providers["franceconnect"], "fc-twice", pivot())
    flows = [Flow(app.test_client(), providers["franceconnect"]) for _ in range(2)]
    callbacks = [flow.login_upstream(flow.start().headers["Location"], "fc-twice")
                 for flow in flows]
    barrier = threading.Barrier(len(flows))

    def back(index: int) -> int:
        barrier.wait()
        return flows[index].back(callbacks[index]).status_code

    with ThreadPoolExecutor(len(flows)) as pool:
        assert list(pool.map(back, range(len(flows)))) == [302, 302]
    with unit_of_work(committed) as db:
        assert db.scalar(sa.select(sa.func.count()).select_from(Account)) == 1


def test_advisor_through_proconnect(client: FlaskClient, providers: dict[str, str]) -> None:
    set_user(providers["proconnect"], "pc-claire", {
        "email": "Claire.Martin@cep.example", "given_name": "Claire", "usual_name": "Martin",
        "siret": "13002526500013", "uid": "claire"})
    flow = Flow(client, providers["proconnect"], provider="proconnect", scope="advisor:read")
    token = flow.tokens("pc-claire")["access_token"]
    who = me(client, token)
    assert (who["role"], who["siret"], who["email"]) == (
        "advisor", "13002526500013", "claire.martin@cep.example")
    assert who["scopes"] == ["advisor:read"]
    assert claims_of(token)["siret"] == "13002526500013"


def test_analyst_on_the_allow_list(client: FlaskClient, providers: dict[str, str]) -> None:
    set_user(providers["proconnect"], "pc-ana", {
        "email": "analyste@drees.example", "given_name": "Ana", "usual_name": "Lyse",
        "siret": "13001727000013", "uid": "ana"})
    flow = Flow(client, providers["proconnect"], provider="proconnect",
                scope="advisor:read analytics:read")
    tokens = flow.tokens("pc-ana")
    assert tokens["scope"] == "analytics:read"
    assert me(client, tokens["access_token"])["role"] == "analyst"


def test_advisor_without_siret_is_refused(client: FlaskClient, providers: dict[str, str]) -> None:
    set_user(providers["proconnect"], "pc-nosiret", {"email": "x@y.example", "uid": "x"})
    result = Flow(client, providers["proconnect"], provider="proconnect",
                  scope="advisor:read").run("pc-nosiret")
    assert result["error"] == "access_denied"
    assert "SIRET" in result["error_description"]


def test_role_without_any_requested_scope_is_denied(
    client: FlaskClient, providers: dict[str, str]
) -> None:
    set_user(providers["franceconnect"], "fc-scope", pivot())
    result = Flow(client, providers["franceconnect"], scope="advisor:read").run("fc-scope")
    assert result["error"] == "access_denied"


def test_client_credentials_for_a_certifier(client: FlaskClient, app: Flask) -> None:
    secret = app.config["TEST_CERTIFIER_SECRET"]
    response = client.post("/oauth/token", data={"grant_type": "client_credentials"},
                           auth=(CERTIFIER, secret))
    assert response.status_code == 200, response.json
    token = response.json["access_token"]
    assert "refresh_token" not in response.json
    who = me(client, token)
    assert (who["role"], who["certifier_bcr"], who["scopes"]) == (
        "certifier", CERTIFIER, ["deposits:write"])
    claims = claims_of(token)
    assert claims["sub"] == CERTIFIER and claims["client_id"] == CERTIFIER


def test_certifier_client_cannot_use_the_code_flow(
    client: FlaskClient, providers: dict[str, str]
) -> None:
    response = Flow(client, providers["franceconnect"], client_id=CERTIFIER).start()
    assert response.status_code in (302, 400)
    if response.status_code == 302:
        assert "error=" in response.headers["Location"]


def test_refresh_tokens_rotate_and_reuse_revokes_the_family(
    client: FlaskClient, providers: dict[str, str]
) -> None:
    set_user(providers["franceconnect"], "fc-refresh", pivot())
    first = Flow(client, providers["franceconnect"]).tokens("fc-refresh")

    def refresh(token: str) -> requests.Response:
        return client.post("/oauth/token", data={"grant_type": "refresh_token",
                                                 "refresh_token": token, "client_id": "test-app"})

    second = refresh(first["refresh_token"])
    assert second.status_code == 200
    assert second.json["refresh_token"] != first["refresh_token"]
    assert me(client, second.json["access_token"])["role"] == "holder"
    reused = refresh(first["refresh_token"])  # a stolen copy of the rotated token
    assert reused.status_code == 400 and reused.json["error"] == "invalid_grant"
    assert refresh(second.json["refresh_token"]).json["error"] == "invalid_grant"
    # Whoever holds the login's access tokens (the thief, maybe) loses them too.
    for token in (first["access_token"], second.json["access_token"]):
        assert client.get("/api/v1/me", headers=bearer(token)).status_code == 401


def test_revocation(client: FlaskClient, providers: dict[str, str]) -> None:
    set_user(providers["franceconnect"], "fc-revoke", pivot())
    tokens = Flow(client, providers["franceconnect"]).tokens("fc-revoke")
    response = client.post("/oauth/revoke", data={"token": tokens["refresh_token"],
                                                  "client_id": "test-app"})
    assert response.status_code == 200
    again = client.post("/oauth/token", data={"grant_type": "refresh_token",
                                              "refresh_token": tokens["refresh_token"],
                                              "client_id": "test-app"})
    assert again.json["error"] == "invalid_grant"
    # RFC 7009 §2.1: the access tokens of the same grant go with it.
    response = client.get("/api/v1/me", headers=bearer(tokens["access_token"]))
    assert response.status_code == 401 and response.json["code"] == "invalid_token"
    # An access token alone: the login goes on.
    other = Flow(client, providers["franceconnect"]).tokens("fc-revoke")
    client.post("/oauth/revoke", data={"token": other["access_token"],
                                       "token_type_hint": "access_token", "client_id": "test-app"})
    response = client.get("/api/v1/me", headers=bearer(other["access_token"]))
    assert response.status_code == 401 and response.json["code"] == "invalid_token"
    assert client.post("/oauth/token", data={"grant_type": "refresh_token",
                                             "refresh_token": other["refresh_token"],
                                             "client_id": "test-app"}).status_code == 200


def test_sessions_list_and_end(client: FlaskClient, providers: dict[str, str]) -> None:
    set_user(providers["franceconnect"], "fc-sessions", pivot())
    flow = Flow(client, providers["franceconnect"])
    first = flow.tokens("fc-sessions")
    second = Flow(client, providers["franceconnect"]).tokens("fc-sessions")
    listed = client.get("/api/v1/me/sessions", headers=bearer(second["access_token"])).json
    assert len(listed) == 2 and {s["client_id"] for s in listed} == {"test-app"}
    target = next(s["id"] for s in listed)
    assert client.delete(f"/api/v1/me/sessions/{target}",
                         headers=bearer(second["access_token"])).status_code == 204
    # The ended login's access token ends with it; the other login goes on.
    answers = {name: client.get("/api/v1/me/sessions", headers=bearer(tokens["access_token"]))
               for name, tokens in (("first", first), ("second", second))}
    assert sorted(a.status_code for a in answers.values()) == [200, 401]
    [remaining] = [a.json for a in answers.values() if a.status_code == 200]
    assert [s["id"] for s in remaining] != [target] and len(remaining) == 1


def test_metadata_and_jwks(client: FlaskClient) -> None:
    meta = client.get("/.well-known/oauth-authorization-server").json
    assert meta["issuer"] == "http://localhost"
    assert meta["code_challenge_methods_supported"] == ["S256"]
    assert set(meta["grant_types_supported"]) == {"authorization_code", "refresh_token",
                                                  "client_credentials"}
    keys = client.get("/.well-known/jwks.json").json["keys"]
    assert [k["alg"] for k in keys] == ["ES256"] and "d" not in keys[0]


def test_callback_error_from_the_provider_goes_back_to_the_client(
    client: FlaskClient, providers: dict[str, str]
) -> None:
    flow = Flow(client, providers["franceconnect"])
    started = flow.start()
    state = query_of(started.headers["Location"])["state"]
    back = client.get(f"/oauth/callback/franceconnect?state={state}&error=access_denied")
    assert back.status_code == 302
    result = query_of(back.headers["Location"])
    assert result["error"] == "access_denied" and result["state"] == flow.state


def test_dev_token_refused_outside_development(
    app: Flask, committed: sessionmaker[Session]
) -> None:
    from passport.auth.clients import ClientError, dev_token

    with pytest.raises(ClientError, match="PASSPORT_ENV=development"), unit_of_work(committed) as db:
        dev_token(db, app.config["PASSPORT_SETTINGS"], app.extensions["passport.keys"],
                  role=Role.HOLDER, value=PERSON_NIR)


