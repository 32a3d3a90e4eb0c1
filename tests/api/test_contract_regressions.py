"""Failures schemathesis found against the running app, kept as regression tests."""

from __future__ import annotations

from typing import Any

import pytest
from flask.testing import FlaskClient

from tests.oauth import bearer

HUGE = "232344593552612953948160"  # more than a 64-bit column holds


@pytest.mark.parametrize("path", [
    f"/api/v1/me/passport/certifications/{HUGE}",
    f"/api/v1/me/passport/certifications/{HUGE}/reports",
    f"/api/v1/me/declarations/{HUGE}",
    f"/api/v1/me/cvs/{HUGE}",
    f"/api/v1/me/credentials/{HUGE}",
])
def test_ids_beyond_64_bits_are_unknown_objects(client: FlaskClient, holder: dict[str, Any],
                                                path: str) -> None:
    response = client.get(path, headers=bearer(holder["token"]))
    assert response.status_code == 404  # was 500: "Python int too large to convert"


def test_a_huge_approval_id_is_not_found(client: FlaskClient, holder: dict[str, Any]) -> None:
    response = client.post(f"/api/v1/me/consent-requests/{HUGE}/approve",
                           headers=bearer(holder["token"]))
    assert response.status_code == 404


def test_huge_page_numbers_are_refused(client: FlaskClient, holder: dict[str, Any]) -> None:
    response = client.get("/api/v1/me/passport/certifications",
                          query_string={"page": "3060860353013500928"},
                          headers=bearer(holder["token"]))
    assert response.status_code == 422
    assert response.json["code"] == "validation_failed"
    assert "page" in str(response.json["errors"])


@pytest.mark.parametrize(("path", "body"), [
    ("/api/v1/me/shares", {"items": [{"kind": "declaration", "id": 18446744073709551617}]}),
    ("/api/v1/me/cvs", {"certifications": [18446744073709551617]}),
])
def test_huge_ids_in_bodies_are_refused(client: FlaskClient, holder: dict[str, Any],
                                        path: str, body: dict[str, Any]) -> None:
    response = client.post(path, json=body, headers=bearer(holder["token"]))
    assert response.status_code == 422, response.get_data(as_text=True)  # was 500
    assert response.json["code"] == "validation_failed"


@pytest.fixture
def certifier_token(app: Any, committed: Any) -> str:
    from passport.db import unit_of_work
    from tests.api.fixtures import CERTIFIER
    from tests.oauth import mint

    with unit_of_work(committed) as db:
        return mint(app, db, None, client_id=CERTIFIER)


@pytest.mark.parametrize("suffix", ["", "/report"])
def test_deposit_ids_beyond_32_bits_are_unknown(client: FlaskClient, certifier_token: str,
                                                suffix: str) -> None:
    # deposits.id is an INTEGER: on PostgreSQL 2**31 was "integer out of range", a 500
    # (found by tests/api/test_contract.py on PostgreSQL).
    token = certifier_token
    for deposit_id in (2**31, 2**40):
        response = client.get(f"/api/v1/certifier/deposits/{deposit_id}{suffix}",
                              headers=bearer(token))
        assert response.status_code == 404, response.get_data(as_text=True)


@pytest.mark.parametrize(("method", "path", "body", "code"), [
    # PostgreSQL text cannot hold U+0000: it was a 500 (found by the contract test on
    # PostgreSQL, in the certifier statistics' certification filter).
    ("get", "/api/v1/me/passport/certifications?status=a%00b", None, "nul_character"),
    ("get", "/api/v1/me/declarations?kind=%00", None, "nul_character"),
    ("post", "/api/v1/me/declarations", {"kind": "skill", "title": "Soudure\u0000"},
     "nul_character"),
    # A name with U+0002 went into the CV's PDF metadata (XML) and broke the seal: a 500
    # (found by `make fuzz-api`).
    ("post", "/api/v1/me/cvs", {"contact": {"name": "\u008d\u0002\U000199ec"}},
     "invalid_character"),
    ("post", "/api/v1/me/declarations", {"kind": "competence", "title": "Soudure\u001b[31m"},
     "invalid_character"),
    ("post", "/api/v1/me/declarations", {"kind": "competence", "title": "Soudure\ud800"},
     "invalid_character"),
    ("post", "/api/v1/me/declarations", {"kind": "competence", "title": "x", "\uffff": 1},
     "invalid_character"),
    ("get", "/api/v1/me/declarations?kind=%01", None, "invalid_character"),
    ("get", "/api/v1/me/declarations/%02", None, "invalid_character"),
])
def test_characters_no_field_accepts_are_refused_before_the_database(
    client: FlaskClient, holder: dict[str, Any], method: str, path: str, body: Any, code: str
) -> None:
    response = getattr(client, method)(path, json=body, headers=bearer(holder["token"]))
    assert response.status_code == 422, response.get_data(as_text=True)
    assert response.json["code"] == code


def test_tabs_and_line_breaks_are_text(client: FlaskClient, holder: dict[str, Any]) -> None:
    created = client.post("/api/v1/me/declarations", headers=bearer(holder["token"]), json={
        "kind": "competence", "title": "Soudure\tTIG", "description": "Acier\r\nInox\n\u0085"})
    assert created.status_code == 201, created.get_data(as_text=True)
    # The six characters of a JSON escape, written as text (the guard once read the raw
    # body and took them for a NUL).
    escaped = client.post("/api/v1/me/declarations", headers=bearer(holder["token"]), json={
        "kind": "competence", "title": "printf(\"\\u0000\")"})
    assert escaped.status_code == 201, escaped.get_data(as_text=True)
    assert escaped.json["title"] == 'printf("\\u0000")'
    cv = client.post("/api/v1/me/cvs", headers=bearer(holder["token"]),
                     json={"contact": {"name": "Antoine\tDupont"}})
    assert cv.status_code == 201, cv.get_data(as_text=True)


def test_nul_in_a_certifier_filter(client: FlaskClient, certifier_token: str) -> None:
    token = certifier_token
    response = client.get("/api/v1/certifier/stats?certification=RNCP%0034762",
                          headers=bearer(token))
    assert response.status_code == 422 and response.json["code"] == "nul_character"
    fine = client.get("/api/v1/certifier/stats?certification=RNCP34762", headers=bearer(token))
    assert fine.status_code == 200
