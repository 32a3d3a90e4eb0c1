"""The analytics API: analysts only, JSON and CSV, every query logged, no person-level data
anywhere in what comes out."""

from __future__ import annotations

import csv
import dataclasses
import io
import logging
import re
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy.orm import Session, sessionmaker

from passport.analytics.models import AnalyticsQuery
from passport.auth.clients import add_app
from passport.auth.models import Account, Role
from passport.config import Settings
from passport.db import unit_of_work
from tests.analytics import IDENTIFIERS, build
from tests.oauth import CLIENT_ID, REDIRECT_URI, bearer, mint

URL = "/api/v1/analytics/success-rates"


@pytest.fixture
def analytics_app(make_app: Any, auth_settings: Settings, committed: sessionmaker[Session],
                  tmp_path: Path) -> Flask:
    build(committed, auth_settings, tmp_path)
    with unit_of_work(committed) as db:
        add_app(db, CLIENT_ID, "Test app", [REDIRECT_URI])
    return make_app(dataclasses.replace(auth_settings, analytics_min_cell=1))  # type: ignore[no-any-return]


@pytest.fixture
def tokens(analytics_app: Flask, committed: sessionmaker[Session]) -> dict[str, str]:
    with unit_of_work(committed) as db:
        people = {role: Account(public_id=f"acct-{role.value}", role=role, issuer="t",
                                subject=f"sub-{role.value}", email=f"{role.value}@x.example")
                  for role in (Role.ANALYST, Role.HOLDER, Role.ADVISOR)}
        db.add_all(people.values())
        db.flush()
        return {role.value: mint(analytics_app, db, account) for role, account in people.items()}


@pytest.fixture
def client(analytics_app: Flask) -> FlaskClient:
    return analytics_app.test_client()


def test_only_analysts(client: FlaskClient, tokens: dict[str, str]) -> None:
    assert client.get(URL).status_code == 401
    for role in ("holder", "advisor"):
        response = client.get(URL, headers=bearer(tokens[role]))
        assert response.status_code == 403, role
        assert response.content_type == "application/problem+json"
    assert client.get(URL, headers=bearer(tokens["analyst"])).status_code == 200


def test_json_rows(client: FlaskClient, tokens: dict[str, str]) -> None:
    body = client.get(URL, query_string={"from": "2024", "to": "2024-12-31"},
                      headers=bearer(tokens["analyst"])).get_json()
    rows = {r["group"]["certification"]: r for r in body["rows"]}
    assert (rows["RNCP37488"]["cohort"], rows["RNCP37488"]["successes"]) == (5, 2)
    assert rows["RNCP37488"]["interval"]["method"] == "wilson"
    assert body["parameters"]["window_months"] == 12 and body["min_cell"] == 1


def test_csv(client: FlaskClient, tokens: dict[str, str]) -> None:
    response = client.get(URL, query_string={"from": "2024", "to": "2024",
                                             "group_by": "organisation"},
                          headers={**bearer(tokens["analyst"]), "Accept": "text/csv"})
    assert response.status_code == 200 and response.mimetype == "text/csv"
    table = list(csv.reader(io.StringIO(response.get_data(as_text=True))))
    assert table[0][:4] == ["organisation", "cohort", "successes", "rate"]
    assert table[-1][0] == "TOTAL" and table[-1][1] == "7"
    assert {tuple(r[:3]) for r in table[1:-1]} == {("73282932000074", "5", "2"),
                                                   ("55208131766522", "2", "1")}


@pytest.mark.parametrize(("params", "code", "field"), [
    ({"from": "2024-03-01"}, "validation_failed", "from"),
    ({"to": "2024-06-30"}, "validation_failed", "to"),
    ({"window_months": "7"}, "validation_failed", "window_months"),
    ({"group_by": "holder"}, "validation_failed", "group_by"),
    ({"certification": "37488"}, "validation_failed", "certification"),
    ({"from": "2025", "to": "2024"}, "periode_invalide", None),
])
def test_bad_parameters(client: FlaskClient, tokens: dict[str, str], params: dict[str, str],
                        code: str, field: str | None) -> None:
    response = client.get(URL, query_string=params, headers=bearer(tokens["analyst"]))
    assert response.status_code == 422
    problem = response.get_json()
    assert problem["code"] == code
    if field:
        assert field in str(problem)


def test_every_query_is_logged_without_person_data(
        client: FlaskClient, tokens: dict[str, str], committed: sessionmaker[Session],
        caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="passport.analytics")
    client.get(URL, query_string={"certification": "RNCP37488", "group_by": "year"},
               headers=bearer(tokens["analyst"]))
    client.get(URL + "/chart", headers=bearer(tokens["analyst"]))
    with unit_of_work(committed) as db:
        logged = db.scalars(sa.select(AnalyticsQuery).order_by(AnalyticsQuery.id)).all()
    assert [(q.subject, q.endpoint) for q in logged] == [
        ("acct-analyst", "success-rates"), ("acct-analyst", "success-rates/chart")]
    assert logged[0].parameters["certification"] == "RNCP37488"
    assert logged[0].parameters["group_by"] == "year" and logged[0].rows == 2
    assert "acct-analyst" in caplog.text
    for identifier in IDENTIFIERS:
        assert identifier not in caplog.text


def test_no_person_level_data_in_any_answer(client: FlaskClient, tokens: dict[str, str]
                                            ) -> None:
    """Every grouping, format and the chart: no NIR, training-file id, birth date, holder
    or file identifier."""
    answers = []
    for group_by in ("certification", "organisation", "access_route", "year"):
        for accept in ("application/json", "text/csv"):
            response = client.get(URL, query_string={"group_by": group_by},
                                  headers={**bearer(tokens["analyst"]), "Accept": accept})
            assert response.status_code == 200
            answers.append(response.get_data(as_text=True))
        chart = client.get(URL + "/chart", query_string={"group_by": group_by},
                           headers=bearer(tokens["analyst"]))
        assert chart.mimetype == "image/svg+xml"
        answers.append(chart.get_data(as_text=True))
    for text in answers:
        for identifier in IDENTIFIERS:
            assert identifier not in text
        assert not re.search(r"[12]\d{12}(\d{2})?\b", text)  # nothing NIR-shaped
        assert not re.search(r"holder|dossier|training_file|birth|naissance", text, re.I)
