"""A holder logs in with a real browser: our demo client (PKCE), our authorization server,
the local FranceConnect stand-in, back with a code, a token, and GET /api/v1/me; then logs
out, here and at the stand-in's end-session page, and is back on the demo page."""

from __future__ import annotations

import json
from pathlib import Path

import oidc_provider_mock
import pytest
import sqlalchemy as sa
from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions
from selenium.webdriver.support.ui import WebDriverWait
from sqlalchemy.orm import Session, sessionmaker

from passport.app import create_app
from passport.auth.clients import ensure_demo_client
from passport.auth.demo import demo_users
from passport.auth.models import RefreshToken
from passport.config import Settings
from passport.db import unit_of_work
from tests.browser.conftest import LiveServer, screenshot
from tests.flux import person_row
from tests.helpers import load_identities, write_csv
from tests.workers import free_port

pytestmark = pytest.mark.browser


def test_holder_logs_in_in_a_browser(browser, database_url: str, committed: sessionmaker[Session],
                                     tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    from passport.holders.service import IDENTITY_COLUMNS

    identities = write_csv(tmp_path / "identities.csv", IDENTITY_COLUMNS, [person_row()])
    app_port, fc_port, pc_port = free_port(), free_port(), free_port()
    settings = Settings.from_env({
        "PASSPORT_ENV": "development",
        "PASSPORT_DATABASE_URL": database_url,
        "PASSPORT_INSTANCE_DIR": str(tmp_path / "instance"),
        "PASSPORT_ISSUER": f"http://127.0.0.1:{app_port}",
        "PASSPORT_FRANCECONNECT_ISSUER": f"http://localhost:{fc_port}",
        "PASSPORT_PROCONNECT_ISSUER": f"http://localhost:{pc_port}",
    })
    from passport.nir import NirVault

    load_identities(committed, NirVault(settings), tmp_path, [person_row()])
    with unit_of_work(committed) as db:
        ensure_demo_client(db, settings)
    holders, staff = demo_users(identities, settings)
    app = create_app(settings)
    try:
        with (
            oidc_provider_mock.run_server_in_thread(port=fc_port, require_nonce=True,
                                                    user_claims=holders),
            oidc_provider_mock.run_server_in_thread(port=pc_port, require_nonce=True,
                                                    user_claims=staff),
            LiveServer(app, app_port) as server,
        ):
            browser.get(f"{server.url}/demo")
            assert "Passeport de compétences" in browser.title + browser.page_source
            browser.find_element(By.ID, "holder").click()
            button = WebDriverWait(browser, 20).until(expected_conditions.element_to_be_clickable(
                (By.CSS_SELECTOR, "button[value='demo-titulaire-1']")))
            screenshot(browser, "login-provider-page")
            button.click()
            result = WebDriverWait(browser, 20).until(lambda d: (
                d.find_element(By.ID, "result")
                if d.find_element(By.ID, "result").get_attribute("data-status") else False))
            screenshot(browser, "login-demo-me")
            assert result.get_attribute("data-status") == "200"
            me = json.loads(result.text)
            assert me["role"] == "holder" and me["linked"] is True
            assert browser.current_url == f"{server.url}/demo"  # code removed from the URL
            browser.find_element(By.ID, "logout").click()
            end = WebDriverWait(browser, 20).until(expected_conditions.element_to_be_clickable(
                (By.XPATH, "//button[text()='End session']")))
            assert browser.current_url.startswith(f"http://localhost:{fc_port}/")
            end.click()
            WebDriverWait(browser, 20).until(lambda d: d.find_element(
                By.ID, "result").get_attribute("data-status") == "logged-out")
            assert browser.current_url == f"{server.url}/demo"
            with unit_of_work(committed) as db:
                live = db.scalar(sa.select(sa.func.count()).select_from(RefreshToken).where(
                    RefreshToken.revoked_at.is_(None)))
            assert live == 0
    finally:
        app.extensions["passport.engine"].dispose()
