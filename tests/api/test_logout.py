"""Logging out (/oauth/logout): the browser's login ends here (its refresh tokens) and at
the provider — a real local FranceConnect or ProConnect stand-in, its end-session page and
all — then the browser is back on the front end's page with its state; what is not the
front end's page, or not our cookie, changes nothing."""

from __future__ import annotations

import base64
import json
import re
from typing import Any
from urllib.parse import urlencode

import pytest
import requests
from flask import Flask
from flask.testing import FlaskClient

from passport.auth.oauth_views import UPSTREAM_COOKIE
from tests.oauth import CLIENT_ID, Flow, bearer, path_of, pivot, query_of, set_user

BYE = "http://127.0.0.1:8080/bye"
ADVISOR = {"email": "Claire.Martin@cep.example", "given_name": "Claire",
           "usual_name": "Martin", "siret": "13002526500013", "uid": "claire"}


def logout(client: FlaskClient, **params: str) -> Any:
    return client.get("/oauth/logout?" + urlencode(params))


def subject_of(id_token: str) -> str:
    payload = id_token.split(".")[1]
    return json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))["sub"]


def refresh(client: FlaskClient, refresh_token: str) -> Any:
    return client.post("/oauth/token", data={"grant_type": "refresh_token",
                                             "refresh_token": refresh_token,
                                             "client_id": CLIENT_ID})


@pytest.mark.parametrize(("provider", "sub", "claims", "scope"), [
    ("franceconnect", "fc-bye", pivot(), None),
    ("proconnect", "pc-bye", ADVISOR, "advisor:read"),
])
def test_logout_ends_the_login_here_and_at_the_provider(
        client: FlaskClient, app: Flask, providers: dict[str, str], provider: str, sub: str,
        claims: dict[str, Any], scope: str | None) -> None:
    set_user(providers[provider], sub, claims)
    options = {"provider": provider, **({"scope": scope} if scope else {})}
    tokens = Flow(client, providers[provider], **options).tokens(sub)
    # The same person logged in from another browser too.
    elsewhere = Flow(app.test_client(), providers[provider], **options).tokens(sub)
    rotated = refresh(client, tokens["refresh_token"])  # the same login, its next token
    assert rotated.status_code == 200
    out = logout(client, client_id=CLIENT_ID, post_logout_redirect_uri=BYE, state="s-1")
    assert out.status_code == 302
    location = out.headers["Location"]
    assert location.startswith(f"{providers[provider]}/oauth2/end_session?")
    asked = query_of(location)
    assert subject_of(asked["id_token_hint"]) == sub  # the provider's own ID token
    assert asked["post_logout_redirect_uri"] == "http://localhost/oauth/logout/callback"
    assert f"{UPSTREAM_COOKIE}=;" in out.headers["Set-Cookie"]  # forgotten
    # Here: the login's current refresh token no longer works, nor its access tokens.
    assert refresh(client, rotated.json["refresh_token"]).json["error"] == "invalid_grant"
    for token in (tokens["access_token"], rotated.json["access_token"]):
        gone = client.get("/api/v1/me", headers=bearer(token))
        assert gone.status_code == 401 and "revoked" in gone.json["detail"]
    assert client.get("/api/v1/me", headers=bearer(elsewhere["access_token"])).status_code == 200
    # At the provider: its end-session page, confirmed, sends the browser back to us...
    page = requests.get(location, timeout=10)
    back = re.search(r'name="redirect_uri" value="([^"]+)"', page.text)
    assert back is not None, page.text[:500]
    confirmed = requests.post(f"{providers[provider]}/oauth2/end_session/confirm",
                              data={"redirect_uri": back.group(1).replace("&amp;", "&")},
                              allow_redirects=False, timeout=10)
    assert confirmed.status_code == 302
    # ... and we send it on to the front end's page, with its state.
    final = client.get(path_of(confirmed.headers["Location"]))
    assert final.status_code == 302 and final.headers["Location"] == f"{BYE}?state=s-1"
    # The other browser's login is not touched.
    assert refresh(client, elsewhere["refresh_token"]).status_code == 200


def test_logout_goes_back_only_to_the_front_ends_own_site(client: FlaskClient) -> None:
    refused = logout(client, client_id=CLIENT_ID,
                     post_logout_redirect_uri="https://evil.example/bye")
    assert refused.status_code == 400 and refused.json["code"] == "invalid_request"
    assert "site" in refused.json["detail"]
    unknown = logout(client, client_id="nobody", post_logout_redirect_uri=BYE)
    assert unknown.status_code == 400 and "client_id" in unknown.json["detail"]
    assert logout(client).status_code == 400


def test_without_a_login_of_ours_the_browser_goes_straight_back(client: FlaskClient) -> None:
    assert logout(client, client_id=CLIENT_ID, post_logout_redirect_uri=BYE,
                  state="s-2").headers["Location"] == f"{BYE}?state=s-2"
    client.set_cookie(UPSTREAM_COOKIE, "forged.cookie.value", path="/oauth")
    forged = logout(client, client_id=CLIENT_ID, post_logout_redirect_uri=BYE)
    assert forged.status_code == 302 and forged.headers["Location"] == BYE
    page = logout(client, client_id=CLIENT_ID)  # no page to go back to: one of ours
    assert page.status_code == 200 and "déconnecté" in page.get_data(as_text=True)
    assert "default-src 'none'" in page.headers["Content-Security-Policy"]


def test_a_logout_coming_back_with_a_bad_state_is_refused(client: FlaskClient) -> None:
    response = client.get("/oauth/logout/callback?state=made-up")
    assert response.status_code == 400 and response.json["code"] == "invalid_state"
