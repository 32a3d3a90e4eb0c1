"""OAuth endpoints: authorize (through FranceConnect or ProConnect), token, revoke, metadata.

The browser flow: the client sends the user to ``/oauth/authorize``; we validate the
request (client, exact redirect URI, PKCE S256, scope), remember it server-side, bind it to
this browser with a cookie, and send the user upstream with our own ``state``, ``nonce`` and
PKCE.  The provider sends them back to ``/oauth/callback/<provider>``; we validate the ID
token, resolve the account (and link a holder to their passport), and resume the client's
request with a single-use login ticket, which issues our authorization code.

Logging out (``/oauth/logout``, OpenID Connect RP-Initiated Logout towards our front ends):
the login this browser made is ended here — its refresh tokens revoked — and at the
provider, which FranceConnect and ProConnect require of the services that use them; then
the browser goes back to the front end.  What that takes (the provider, its ID token, our
code's hash) is kept in this browser, in a signed HttpOnly cookie set when it logged in.
"""

from __future__ import annotations

import datetime as dt
import logging
import secrets
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit

import sqlalchemy as sa
from authlib.oauth2 import OAuth2Error
from flask import Blueprint, current_app, jsonify, redirect, request, url_for
from itsdangerous import BadSignature, URLSafeTimedSerializer
from werkzeug.wrappers import Response

from passport import ratelimit
from passport.auth.accounts import LoginUser, login_account
from passport.auth.models import (
    ALL_SCOPES,
    Account,
    AuthorizationRequest,
    OAuthClient,
    RefreshToken,
)
from passport.auth.server import digest, granted_scope
from passport.auth.service import revoke_logins
from passport.auth.upstream import Provider, UpstreamError, acr_satisfies
from passport.config import Settings
from passport.db import utcnow
from passport.nir import NirVault
from passport.web.db import committing, lock_for_writing, session
from passport.web.errors import problem

log = logging.getLogger(__name__)
bp = Blueprint("oauth", __name__)

COOKIE = "passport_login"
REQUEST_TTL = dt.timedelta(minutes=10)
TICKET_TTL = dt.timedelta(minutes=2)
#: Wrong client secrets before token requests are refused for ``LOCK_FOR``: for one client
#: from one address, and from one address whatever the client.  Never for a client from
#: everywhere: whoever knows a certifier's BCR could keep it from filing.
LOCK_AFTER = 5
ADDRESS_LOCK_AFTER = 20
LOCK_FOR = dt.timedelta(minutes=15)
PROVIDERS = ("franceconnect", "proconnect")
#: This browser's login, for /oauth/logout: the provider, its ID token, our code's hash.
UPSTREAM_COOKIE = "passport_upstream"
#: How long a logout may stay at the provider before coming back.
LOGOUT_TTL = dt.timedelta(minutes=10)
LOGGED_OUT = ('<!doctype html><html lang="fr"><meta charset="utf-8">'
              "<title>Déconnexion — Passeport de compétences</title>"
              "<p>Vous êtes déconnecté·e du passeport et de votre fournisseur d'identité.</p>"
              '<p lang="en">You are logged out of the passport and of your identity provider.'
              "</p></html>")


def _settings() -> Settings:
    return current_app.config["PASSPORT_SETTINGS"]


def _server() -> Any:
    return current_app.extensions["passport.oauth"]


def providers() -> dict[str, Provider]:
    """The upstream providers, created once per app."""
    found: dict[str, Provider] | None = current_app.extensions.get("passport.upstream")
    if found is None:
        settings = _settings()
        found = {
            name: Provider(getattr(settings, name),
                           f"{settings.issuer}/oauth/callback/{name}")
            for name in PROVIDERS
        }
        current_app.extensions["passport.upstream"] = found
    return found


def _error_response(error: OAuth2Error) -> Response:
    return _server().handle_error_response(request, error)


def _to_client(params: dict[str, Any], error: str, description: str) -> Response:
    """Send the browser back to the client with an error (its redirect URI was validated)."""
    query = {"error": error, "error_description": description}
    if params.get("state"):
        query["state"] = params["state"]
    separator = "&" if "?" in params["redirect_uri"] else "?"
    return redirect(params["redirect_uri"] + separator + urlencode(query))


@bp.get("/oauth/authorize")
def authorize() -> Response:
    """Start (or, with a login ticket, finish) an authorization code request."""
    server = _server()
    try:
        grant = server.get_consent_grant(end_user=None)
    except OAuth2Error as error:
        return _error_response(error)
    params = {k: v for k, v in request.args.items() if k != "login_ticket"}
    params["redirect_uri"] = grant.redirect_uri
    provider = request.args.get("provider", "franceconnect")
    if provider not in PROVIDERS:
        return _to_client(params, "invalid_request",
                          f"provider must be one of {', '.join(PROVIDERS)}")

    ticket = request.args.get("login_ticket")
    if ticket:
        return _resume(server, grant, params, ticket)

    state, browser = secrets.token_urlsafe(32), secrets.token_urlsafe(32)
    lock_for_writing(session())  # SQLite: the client was read; take the write lock now
    pending = AuthorizationRequest(
        id=state, provider=provider, params=params, nonce=secrets.token_urlsafe(24),
        code_verifier=secrets.token_urlsafe(48), browser_hash=digest(browser),
        expires_at=utcnow() + REQUEST_TTL)
    session().add(pending)
    try:
        target = providers()[provider].authorization_url(state, pending.nonce,
                                                         pending.code_verifier)
    except UpstreamError as exc:
        session().rollback()
        return problem(502, exc.code, "Identity provider unavailable", exc.detail)
    session().commit()
    response = redirect(target)
    response.set_cookie(COOKIE, browser, max_age=int(REQUEST_TTL.total_seconds()),
                        httponly=True, secure=_settings().issuer.startswith("https://"),
                        samesite="Lax", path="/oauth")
    return response


def _resume(server: Any, grant: Any, params: dict[str, Any], ticket: str) -> Response:
    lock_for_writing(session())  # SQLite: the write lock before the ticket is read
    pending = session().scalar(  # locked: a ticket sent twice at once gives one code
        sa.select(AuthorizationRequest).where(AuthorizationRequest.ticket_hash == digest(ticket))
        .with_for_update())
    browser = request.cookies.get(COOKIE, "")
    if (pending is None or pending.account_id is None or pending.authenticated_at is None
            or pending.browser_hash != digest(browser) or pending.params != params
            or pending.authenticated_at + TICKET_TTL < utcnow()):
        return problem(400, "invalid_login_ticket", "Login expired or not from this browser",
                       "Start the login again from the application.")
    session().delete(pending)
    account = session().get(Account, pending.account_id)
    assert account is not None
    if not granted_scope(params.get("scope", ""), account.role):
        session().commit()
        return _to_client(params, "access_denied",
                          f"none of the requested scopes is allowed to a {account.role.value}")
    user = LoginUser(account, pending.authenticated_at, pending.acr)
    response = server.create_authorization_response(grant_user=user, grant=grant)
    session().commit()
    response.delete_cookie(COOKIE, path="/oauth")
    login = _login_of_browser()
    code = _query(response.headers.get("Location", "")).get("code")
    if login is not None and code:
        _remember_login(response, {**login, "code_hash": digest(code)})
    return response


def _query(url: str) -> dict[str, str]:
    return dict(parse_qsl(urlsplit(url).query))


def _signer(purpose: str) -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(_settings().derived_key(purpose), salt=purpose)


def _remember_login(response: Response, login: dict[str, str]) -> None:
    settings = _settings()
    response.set_cookie(UPSTREAM_COOKIE, _signer("upstream-login").dumps(login),
                        max_age=settings.refresh_token_ttl, httponly=True,
                        secure=settings.issuer.startswith("https://"), samesite="Lax",
                        path="/oauth")


def _login_of_browser() -> dict[str, str] | None:
    """The login this browser made, if its cookie is ours and not too old."""
    cookie = request.cookies.get(UPSTREAM_COOKIE)
    if not cookie:
        return None
    try:
        login = _signer("upstream-login").loads(cookie, max_age=_settings().refresh_token_ttl)
    except BadSignature:
        return None
    return login if isinstance(login, dict) and login.get("provider") in PROVIDERS else None


def _logout_target(client_id: str | None, uri: str | None) -> str | None:
    """The front end's page to come back to: one of its redirect URIs' origins."""
    client = session().get(OAuthClient, client_id) if client_id else None
    if client is None or client.disabled_at is not None or not client.redirect_uris:
        raise _LogoutRefused("unknown or disabled client_id")
    if uri is None:
        return None
    origins = {_origin(registered) for registered in client.redirect_uris}
    if _origin(uri) not in origins:
        raise _LogoutRefused("post_logout_redirect_uri is not on a site of this client's "
                             "redirect URIs")
    return uri


def _origin(url: str) -> tuple[str, str]:
    parts = urlsplit(url)
    return parts.scheme, parts.netloc


class _LogoutRefused(Exception):
    pass


def _back_to_client(uri: str | None, state: str | None) -> Response:
    if uri is None:  # no front end to go back to: say it
        return Response(LOGGED_OUT, mimetype="text/html", headers={
            "Content-Security-Policy": "default-src 'none'; frame-ancestors 'none'"})
    query = urlencode({"state": state}) if state else ""
    return redirect(f"{uri}{'&' if '?' in uri else '?'}{query}" if query else uri)


@bp.get("/oauth/logout")
def logout() -> Response:
    """End this browser's login: its refresh tokens here, its session at the provider
    (FranceConnect, ProConnect), then back to the front end's ``post_logout_redirect_uri``
    (a page on one of the sites of its redirect URIs) with its ``state``."""
    state = request.args.get("state")
    try:
        target = _logout_target(request.args.get("client_id"),
                                request.args.get("post_logout_redirect_uri"))
    except _LogoutRefused as exc:
        return problem(400, "invalid_request", "Logout refused", str(exc))
    login = _login_of_browser()
    upstream_url = None
    if login is not None:
        if login.get("code_hash"):
            lock_for_writing(session())
            ended = revoke_logins(session(), sa.select(RefreshToken.family).where(
                RefreshToken.code_hash == login["code_hash"]), _settings().access_token_ttl)
            session().commit()
            log.info("logout: %d refresh token(s) revoked, with their access tokens", ended)
        back = _signer("logout").dumps({"uri": target, "state": state})
        try:
            upstream_url = providers()[login["provider"]].end_session_url(
                login["id_token"], back, f"{_settings().issuer}/oauth/logout/callback")
        except UpstreamError as exc:  # ended here; the provider's session outlives it
            log.warning("logout: %s unavailable (%s)", login["provider"], exc.code)
    response = redirect(upstream_url) if upstream_url else _back_to_client(target, state)
    response.delete_cookie(UPSTREAM_COOKIE, path="/oauth")
    return response


@bp.get("/oauth/logout/callback")
def logout_callback() -> Response:
    """The provider sends the browser back here once its session has ended."""
    try:
        back = _signer("logout").loads(request.args.get("state", ""),
                                       max_age=int(LOGOUT_TTL.total_seconds()))
    except BadSignature:
        return problem(400, "invalid_state", "Unknown or expired logout",
                       "The logout state is unknown or expired; you are logged out anyway.")
    return _back_to_client(back.get("uri"), back.get("state"))


@bp.get("/oauth/callback/<provider>")
def callback(provider: str) -> Response:
    """The upstream provider sends the browser back here."""
    if provider not in PROVIDERS:
        return problem(404, "not_found", "Not found")
    state = request.args.get("state", "")
    pending = session().get(AuthorizationRequest, state) if state else None
    browser = request.cookies.get(COOKIE, "")
    if (pending is None or pending.provider != provider or pending.account_id is not None
            or pending.expires_at < utcnow()):
        return problem(400, "invalid_state", "Unknown or expired login",
                       "The login state is unknown, used or expired; start again.")
    if pending.browser_hash != digest(browser):
        log.warning("login callback from another browser than the one that started it")
        return problem(400, "invalid_state", "Login started in another browser",
                       "Start the login again from the application.")
    params = pending.params
    if "error" in request.args:
        lock_for_writing(session())
        session().delete(pending)
        session().commit()
        return _to_client(params, "access_denied", f"{provider}: {request.args['error']}")
    code = request.args.get("code")
    if not code:
        return problem(400, "invalid_request", "Missing code")
    upstream = providers()[provider]
    try:
        claims, id_token = upstream.login(code, pending.code_verifier, pending.nonce)
        if not acr_satisfies(claims.get("acr"), upstream.settings.min_acr):
            raise UpstreamError(
                "acr_too_low",
                f"authentication level {claims.get('acr') or 'unknown'} is below "
                f"{upstream.settings.min_acr}")
        lock_for_writing(session())  # SQLite: the write lock (not during the exchange)
        account = login_account(session(), _settings(),
                                NirVault(_settings()), provider, claims)
    except UpstreamError as exc:
        log.warning("upstream login refused: %s (%s)", exc.code, provider)
        session().rollback()
        lock_for_writing(session())
        session().delete(pending)
        session().commit()
        return _to_client(params, "access_denied", exc.detail)
    ticket = secrets.token_urlsafe(32)
    pending.account_id = account.id
    pending.acr = claims.get("acr")
    pending.authenticated_at = utcnow()
    pending.ticket_hash = digest(ticket)
    session().commit()
    response = redirect(url_for("oauth.authorize", **params, login_ticket=ticket))
    _remember_login(response, {"provider": provider, "id_token": id_token})
    return response


def _client_id_of_request() -> str | None:
    auth = request.authorization
    if auth is not None and auth.type == "basic":
        return auth.username
    return request.form.get("client_id")


def _failure_limits(client_id: str | None) -> list[tuple[str, int]]:
    """Rate buckets of failed client authentications: this client from this address, and
    this address (keyed hashes: neither the address nor a client id sent is stored)."""
    address, secret = request.remote_addr, _settings().nir_hmac_key
    return [(ratelimit.client_key("token-client", f"{client_id}\n{address}", secret), LOCK_AFTER),
            (ratelimit.client_key("token-address", address, secret), ADDRESS_LOCK_AFTER)]


@bp.post("/oauth/token")
@committing()
def token() -> Response:
    """Token endpoint (authorization_code + PKCE, refresh_token, client_credentials).
    Committed whatever the outcome: a counted failure, or a replayed code or refresh token
    that revoked its family."""
    db = session()
    client_id = _client_id_of_request()
    limits = _failure_limits(client_id)
    wait = max((w for key, limit in limits if (w := ratelimit.blocked(db, key, limit))),
               default=None)
    if wait is not None:
        # Refused before the secret is checked: a wrong guess costs an scrypt hash.  The
        # client is named when it exists (an id sent is anyone's text).
        known = client_id if client_id and db.get(OAuthClient, client_id) else "unknown"
        log.warning("token request for client %s refused: too many failed client "
                    "authentications from its address", known)
        response = jsonify(error="invalid_client",
                           error_description="Too many failed authentications; try later")
        response.status_code = 429
        response.headers["Retry-After"] = str(wait)
        return response
    response = _server().create_token_response()
    if response.status_code == 401:
        for key, limit in limits:
            ratelimit.hit(db, key, limit, LOCK_FOR)
    return response


@bp.post("/oauth/revoke")
def revoke() -> Response:
    """RFC 7009 revocation of refresh and access tokens."""
    response = _server().create_endpoint_response("revocation")
    session().commit()
    return response


@bp.get("/.well-known/oauth-authorization-server")
def metadata() -> Response:
    """RFC 8414 authorization server metadata."""
    issuer = _settings().issuer
    response = jsonify(
        issuer=issuer,
        authorization_endpoint=f"{issuer}/oauth/authorize",
        token_endpoint=f"{issuer}/oauth/token",
        revocation_endpoint=f"{issuer}/oauth/revoke",
        end_session_endpoint=f"{issuer}/oauth/logout",
        jwks_uri=f"{issuer}/.well-known/jwks.json",
        response_types_supported=["code"],
        grant_types_supported=["authorization_code", "refresh_token", "client_credentials"],
        code_challenge_methods_supported=["S256"],
        token_endpoint_auth_methods_supported=["none", "client_secret_basic",
                                               "client_secret_post"],
        revocation_endpoint_auth_methods_supported=["none", "client_secret_basic",
                                                    "client_secret_post"],
        scopes_supported=sorted(ALL_SCOPES),
        access_token_signing_alg_values_supported=["ES256"],
        upstream_providers_supported=list(PROVIDERS),
    )
    response.headers["Cache-Control"] = "public, max-age=3600"
    return response


@bp.get("/.well-known/jwks.json")
def jwks() -> Response:
    """Our public signing keys (current and retired)."""
    response = jsonify(current_app.extensions["passport.keys"].public_jwks())
    response.headers["Cache-Control"] = "public, max-age=300"
    return response
