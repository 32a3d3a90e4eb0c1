"""Request bodies: JSON and forms are bounded (PASSPORT_MAX_BODY_BYTES) before anything
reads them — they are parsed whole, into many times their size, and the character guard
parses them before the token is looked at; flux files keep their own, larger limit; JSON
nested deeper than the parser goes is a bad request, not a 500."""

from __future__ import annotations

import dataclasses
import io
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy.orm import Session, sessionmaker

from passport.db import unit_of_work
from tests.api.fixtures import CERTIFIER
from tests.flux import document, passage
from tests.oauth import bearer, mint

LIMIT = 10_000
JSON = {"Content-Type": "application/json"}
HUGE = b"[" + b"[]," * 20_000 + b"[]]"  # 60 KB, ~20,000 lists once parsed


@pytest.fixture
def bounded(make_app: Any, auth_settings: Any) -> FlaskClient:
    return make_app(dataclasses.replace(auth_settings, max_body_bytes=LIMIT)).test_client()


@pytest.mark.parametrize("token", [False, True])
def test_a_json_body_over_the_limit_is_refused_unread(bounded: FlaskClient,
                                                      holder: dict[str, Any],
                                                      token: bool) -> None:
    headers = {**JSON, **(bearer(holder["token"]) if token else {})}
    response = bounded.post("/api/v1/me/declarations", data=HUGE, headers=headers)
    assert response.status_code == 413 and response.json["code"] == "payload_too_large"
    assert f"exceeds {LIMIT} bytes (PASSPORT_MAX_BODY_BYTES)" in response.json["detail"]
    # Sent in chunks, without a length: refused once the limit is read.
    chunked = bounded.post("/api/v1/me/declarations", input_stream=io.BytesIO(HUGE),
                           headers={**headers, "Transfer-Encoding": "chunked"},
                           environ_overrides={"wsgi.input_terminated": True})  # as gunicorn
    assert chunked.status_code == 413
    # Forms too (the token endpoint).
    form = bounded.post("/oauth/token", data={"grant_type": "x" * (2 * LIMIT)})
    assert form.status_code == 413


def test_flux_files_keep_their_own_limit(bounded: FlaskClient, app: Flask,
                                         committed: sessionmaker[Session]) -> None:
    flux = document([passage(f"BIG-{n}") for n in range(20)], id_flux="over-json-limit")
    assert len(flux) > LIMIT
    with unit_of_work(committed) as db:
        token = bearer(mint(app, db, None, client_id=CERTIFIER))
    sent = bounded.post("/api/v1/certifier/deposits", data=flux,
                        headers={"Content-Type": "application/xml", **token})
    assert sent.status_code == 202, sent.get_data(as_text=True)
    part = bounded.post("/api/v1/certifier/deposits", headers=token, data={
        "file": (io.BytesIO(flux.replace(b"over-json-limit", b"over-json-limit-2")), "f.xml")})
    assert part.status_code == 202, part.get_data(as_text=True)
    checked = bounded.post("/api/v1/flux/validate", data=flux,
                           headers={"Content-Type": "application/xml"})
    assert checked.status_code == 200 and checked.json["passages_total"] == 20


def test_json_nested_too_deep_is_a_bad_request(client: FlaskClient,
                                               holder: dict[str, Any]) -> None:
    deep = b"[" * 50_000 + b"]" * 50_000
    response = client.post("/api/v1/me/declarations", data=deep,
                           headers={**JSON, **bearer(holder["token"])})
    assert response.status_code == 400 and response.json["code"] == "bad_request"
    anonymous = client.post("/api/v1/me/declarations", data=deep, headers=JSON)
    assert anonymous.status_code == 401
