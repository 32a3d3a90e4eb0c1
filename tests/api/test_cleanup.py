"""`passport cleanup`: what stopped serving goes, what still serves stays and still works
(a live login's reuse detection, a code's replay detection, a pending consent request)."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from click.testing import CliRunner
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy.orm import Session, sessionmaker

from passport import cleanup
from passport.auth.models import (
    Account,
    AuthorizationCode,
    AuthorizationRequest,
    RefreshToken,
    RevokedAccessToken,
)
from passport.cli import main
from passport.consents import service as consents
from passport.consents.models import ConsentRequest
from passport.db import unit_of_work, utcnow
from tests.api.builders import a_pending_request, actor, advisor
from tests.helpers import undeletable_received_file
from tests.oauth import Flow, bearer, pivot, set_user

LOGINS = ("login requests never finished", "refresh tokens of ended logins",
          "authorization codes", "revoked access tokens since expired")


def refresh(client: FlaskClient, token: str) -> Any:
    return client.post("/oauth/token", data={"grant_type": "refresh_token",
                                             "refresh_token": token, "client_id": "test-app"})


def rows(committed: sessionmaker[Session], model: Any) -> int:
    with unit_of_work(committed) as db:
        return db.scalar(sa.select(sa.func.count()).select_from(model)) or 0


def swept(app: Flask, committed: sessionmaker[Session], *, days: int, dry_run: bool = False
          ) -> dict[str, int]:
    done = cleanup.run(committed, app.config["PASSPORT_SETTINGS"], dry_run=dry_run,
                       now=utcnow() + dt.timedelta(days=days))
    return {kind.label: kind.count for kind in done}


def logins_swept(app: Flask, committed: sessionmaker[Session], *, days: int,
                 dry_run: bool = False) -> list[int]:
    counts = swept(app, committed, days=days, dry_run=dry_run)
    return [counts[label] for label in LOGINS]


def test_ended_logins_go_and_live_ones_keep_what_detects_theft(
        app: Flask, client: FlaskClient, committed: sessionmaker[Session],
        providers: dict[str, str]) -> None:
    fc = providers["franceconnect"]
    set_user(fc, "fc-clean", pivot())
    live_flow = Flow(client, fc)
    code = live_flow.run("fc-clean")["code"]
    live = live_flow.exchange(code).json
    rotated = refresh(client, live["refresh_token"]).json  # the first token is now rotated
    ended = Flow(client, fc).tokens("fc-clean")
    assert client.post("/oauth/revoke", data={"token": ended["refresh_token"],
                                              "client_id": "test-app"}).status_code == 200
    client.post("/oauth/revoke", data={"token": ended["access_token"],
                                       "token_type_hint": "access_token", "client_id": "test-app"})
    Flow(client, fc).run("fc-clean")  # a code never exchanged
    assert Flow(client, fc).start().status_code == 302  # a login never finished upstream
    assert (rows(committed, RefreshToken), rows(committed, AuthorizationCode),
            rows(committed, AuthorizationRequest), rows(committed, RevokedAccessToken)) == (
        3, 3, 1, 1)

    # Within the grace period nothing goes; a week after they stopped serving, they do.
    assert logins_swept(app, committed, days=6) == [0, 0, 0, 0]
    expected = [1, 1, 2, 1]  # the revoked login's token; its code and the unused one
    assert logins_swept(app, committed, days=8, dry_run=True) == expected
    assert rows(committed, RefreshToken) == 3
    assert logins_swept(app, committed, days=8) == expected
    assert (rows(committed, RefreshToken), rows(committed, AuthorizationCode),
            rows(committed, AuthorizationRequest), rows(committed, RevokedAccessToken)) == (
        2, 1, 0, 0)
    assert logins_swept(app, committed, days=8) == [0, 0, 0, 0]

    # The live login still works and still gives a stolen copy away: its session still
    # started when it did, and its code replayed revokes it.
    listed = client.get("/api/v1/me/sessions", headers=bearer(rotated["access_token"])).json
    assert len(listed) == 1
    assert live_flow.exchange(code).status_code == 400
    assert refresh(client, rotated["refresh_token"]).json["error"] == "invalid_grant"
    # Ended for good (revoked), the login goes a week later with its code, and the
    # revocations of the two access tokens it gave once they would have expired.
    assert logins_swept(app, committed, days=8) == [0, 2, 1, 2]
    assert rows(committed, RefreshToken) == rows(committed, AuthorizationCode) == 0


def test_expired_logins_go_a_week_after_their_last_token_expired(
        app: Flask, client: FlaskClient, committed: sessionmaker[Session],
        providers: dict[str, str]) -> None:
    set_user(providers["franceconnect"], "fc-expiring", pivot())
    Flow(client, providers["franceconnect"]).tokens("fc-expiring")
    ttl = app.config["PASSPORT_SETTINGS"].refresh_token_ttl // 86400
    assert swept(app, committed, days=ttl + 6)["refresh tokens of ended logins"] == 0
    assert swept(app, committed, days=ttl + 8)["refresh tokens of ended logins"] == 1


def test_consent_codes_never_typed_go_and_requests_stay(
        app: Flask, committed: sessionmaker[Session], holder: dict[str, Any]) -> None:
    the_advisor = advisor(committed, "conseil@cep.example")
    with unit_of_work(committed) as db:
        account = db.scalar(sa.select(Account.id).where(
            Account.holder_id == holder["holder_id"]))
        unused = consents.new_code(db, actor(db, account))["request_id"]
    pending = a_pending_request(committed, account, the_advisor)
    label = "consent codes never used"
    assert swept(app, committed, days=1)[label] == 0  # 15 minutes, then a week
    assert swept(app, committed, days=8)[label] == 1
    with unit_of_work(committed) as db:
        assert db.get(ConsentRequest, unused) is None
        kept = db.get(ConsentRequest, pending)
        assert kept is not None and kept.status == "pending"


def test_cli(cli: CliRunner, monkeypatch: Any, committed: sessionmaker[Session],
             tmp_path: Path) -> None:
    dry = cli.invoke(main, ["cleanup", "--dry-run"])
    assert dry.exit_code == 0, dry.output
    assert "0 refresh tokens of ended logins would be removed" in dry.stderr
    done = cli.invoke(main, ["cleanup"])
    assert done.exit_code == 0 and "0 consent codes never used removed" in done.stderr
    assert "received files processed before" in done.stderr
    monkeypatch.setenv("PASSPORT_FLUX_FILE_RETENTION_DAYS", "0")
    kept = cli.invoke(main, ["cleanup"])
    assert kept.exit_code == 0 and "received files" not in kept.stderr
    monkeypatch.setenv("PASSPORT_FLUX_FILE_RETENTION_DAYS", "-1")
    bad = cli.invoke(main, ["cleanup"])
    assert bad.exit_code == 1
    assert "PASSPORT_FLUX_FILE_RETENTION_DAYS must be 0 to 3650" in bad.stderr
    # The storage failing mid-way: one line, non-zero (here a stored copy that cannot be
    # deleted as a file).
    monkeypatch.delenv("PASSPORT_FLUX_FILE_RETENTION_DAYS")
    undeletable_received_file(committed, tmp_path)
    failed = cli.invoke(main, ["cleanup"])
    assert failed.exit_code == 1 and failed.stderr.startswith("Error: storage: ")
    assert "Traceback" not in failed.output
