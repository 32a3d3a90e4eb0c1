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
