"""A recipient opens a share in a real headless Chromium: the page renders, shows each item
with its attestation level, keeps the link's expiry apart from the certifications' validity,
asks for the access code when there is one, and says clearly when the link has ended."""

from __future__ import annotations

from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait
from sqlalchemy.orm import Session, sessionmaker

from passport.app import create_app
from tests.browser.conftest import LiveServer, screenshot
from tests.oauth import bearer
from tests.workers import free_port

pytestmark = pytest.mark.browser


@pytest.fixture
def served(app: Flask) -> Any:
    """The test app over real HTTP."""
    settings = app.config["PASSPORT_SETTINGS"]
    live = create_app(settings)
    port = free_port()
    with LiveServer(live, port) as server:
        yield server
    live.extensions["passport.engine"].dispose()


def _share(client: FlaskClient, token: str, **body: Any) -> dict[str, Any]:
    passport = client.get("/api/v1/me/passport", headers=bearer(token)).json
    valid = next(i for i in passport["certifications"]["items"] if i["option"] == "Option web")
    declared = client.post("/api/v1/me/declarations", headers=bearer(token), json={
        "kind": "experience", "title": "Développeuse web", "organisation": "Dupont SA",
        "start_date": "2020-01-01", "end_date": "2023-06-30", "skills": ["Python", "SQL"]})
    response = client.post("/api/v1/me/shares", headers=bearer(token), json={
        "label": "Candidature Dupont SA", "shown_name": "Antoine Dupont",
        "items": [{"kind": "certification", "id": valid["id"]},
                  {"kind": "declaration", "id": declared.json["id"]}], **body})
    assert response.status_code == 201, response.get_data(as_text=True)
    return response.json  # type: ignore[no-any-return]


def test_recipient_reads_a_share_in_chromium(browser: Any, client: FlaskClient,
                                             holder: dict[str, Any], served: LiveServer,
                                             committed: sessionmaker[Session]) -> None:
    created = _share(client, holder["token"])
    browser.get(f"{served.url}/s/{created['token']}")
    assert browser.find_element(By.TAG_NAME, "html").get_attribute("lang") == "fr"
    assert browser.find_element(By.TAG_NAME, "h1").text == "Éléments partagés par Antoine Dupont"
    items = browser.find_elements(By.CSS_SELECTOR, "ol.items > li")
    assert [i.get_attribute("class") for i in items] == ["item attested", "item declared"]
    attested, declared = items
    assert attested.find_element(By.CSS_SELECTOR, ".badge").text == (
        "Certifié par Institut Européen du Numérique")
    assert "Validité de la certification" in attested.text
    assert "Mention\nBien" in attested.text  # in words, not the flux code MENTION_BIEN
    assert attested.find_element(By.CSS_SELECTOR, ".code").text.count("-") == 1
    assert "Déclaré par le titulaire" in declared.text and "Dupont SA" in declared.text
    link_info = browser.find_element(By.CSS_SELECTOR, ".link-info").text
    assert "Ce lien de partage fonctionne jusqu" in link_info
    assert "pas la validité des certifications" in link_info
    # The two badges differ by text, not only by colour.
    colours = {i.find_element(By.CSS_SELECTOR, ".badge").value_of_css_property("background-color")
               for i in items}
    assert len(colours) == 2
    path = screenshot(browser, "share-page-fr")
    assert path.stat().st_size > 10_000
    # English, same visit: not a new view.
    browser.find_element(By.LINK_TEXT, "English").click()
    assert browser.find_element(By.TAG_NAME, "html").get_attribute("lang") == "en"
    assert "Certified by Institut Européen du Numérique" in browser.page_source
    screenshot(browser, "share-page-en")
    views = client.get("/api/v1/me/journal", headers=bearer(holder["token"]),
                       query_string={"kind": "share.viewed"}).json["items"]
    assert len(views) == 1 and views[0]["details"]["client"] == "Chrome / Linux"
    # The verification link works from the page.
    attested = browser.find_element(By.CSS_SELECTOR, "li.attested")
    attested.find_element(By.PARTIAL_LINK_TEXT, "Verify").click()
    assert "Authentic" in browser.page_source and "Valid today" in browser.page_source
    screenshot(browser, "verify-page-en")


def test_access_code_and_ended_share_in_chromium(browser: Any, client: FlaskClient,
                                                 holder: dict[str, Any],
                                                 served: LiveServer) -> None:
    created = _share(client, holder["token"], access_code="tournesol-42")
    browser.get(f"{served.url}/s/{created['token']}")
    field = browser.find_element(By.ID, "code")
    assert browser.find_element(By.CSS_SELECTOR, "label[for=code]").text == "Code d'accès"
    field.send_keys("tournesol-41")
    browser.find_element(By.CSS_SELECTOR, "button[type=submit]").click()
    WebDriverWait(browser, 10).until(lambda d: "Code incorrect" in d.page_source)
    assert browser.find_element(By.ID, "code").get_attribute("aria-invalid") == "true"
    browser.find_element(By.ID, "code").send_keys("tournesol-42")
    browser.find_element(By.CSS_SELECTOR, "button[type=submit]").click()
    WebDriverWait(browser, 10).until(lambda d: d.find_elements(By.CSS_SELECTOR, "ol.items"))
    assert "Certifié par" in browser.page_source
    client.delete(f"/api/v1/me/shares/{created['id']}", headers=bearer(holder["token"]))
    browser.refresh()  # the visit cookie does not outlive a revocation
    assert "Ce lien de partage n'est plus valable" in browser.page_source
    assert "révoqué" in browser.page_source
    screenshot(browser, "share-page-revoked")

