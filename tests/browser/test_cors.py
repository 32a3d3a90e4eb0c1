"""A holder's web app served from another site calls the API from a real headless
Chromium (PASSPORT_CORS_ORIGINS): listed, it reads the passport and declares an item —
preflights and all — and reads the headers the API exposes; from a site not listed, the
browser keeps every answer from it."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterator
from typing import Any

import pytest
from flask import Flask
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait

from passport.app import create_app
from tests.browser.conftest import LiveServer
from tests.workers import free_port

pytestmark = pytest.mark.browser

#: The front end: read the passport, declare an item, try without a token; show the lot.
SCRIPT = """
const api = %(api)s, token = %(token)s;
async function run() {
  const out = {};
  try {
    const passport = await fetch(api + "/api/v1/me/passport",
                                 {headers: {Authorization: "Bearer " + token}});
    out.passport = passport.status;
    out.certifications = (await passport.json()).certifications.total;
    out.request_id = passport.headers.get("X-Request-ID");
    const declared = await fetch(api + "/api/v1/me/declarations", {
      method: "POST",
      headers: {Authorization: "Bearer " + token, "Content-Type": "application/json"},
      body: JSON.stringify({kind: "experience", title: "Développeuse web",
                            organisation: "Dupont SA", start_date: "2020-01-01"})});
    out.declared = declared.status;
    const item = await fetch(api + "/api/v1/me/declarations/" + (await declared.json()).id,
                             {headers: {Authorization: "Bearer " + token}});
    out.etag = item.headers.get("ETag");
    const anonymous = await fetch(api + "/api/v1/me/passport");
    out.anonymous = anonymous.status;
    out.challenge = anonymous.headers.get("WWW-Authenticate");
  } catch (error) {
    out.error = error.name;
  }
  document.getElementById("out").textContent = JSON.stringify(out);
}
run();
"""


def front_end(api: str, token: str) -> Flask:
    page = Flask("front_end")

    @page.get("/")
    def index() -> str:
        script = SCRIPT % {"api": json.dumps(api), "token": json.dumps(token)}
        return f"<!doctype html><title>app</title><pre id='out'></pre><script>{script}</script>"

    return page


@pytest.fixture
def sites(app: Flask, holder: dict[str, Any]) -> Iterator[tuple[str, str]]:
    """The API, with one front end listed; the listed front end; one that is not."""
    listed, unlisted = free_port(), free_port()
    settings = dataclasses.replace(app.config["PASSPORT_SETTINGS"],
                                   cors_origins=(f"http://127.0.0.1:{listed}",))
    api = create_app(settings)
    with LiveServer(api, free_port()) as served:
        page = front_end(served.url, holder["token"])
        with LiveServer(page, listed) as good, LiveServer(page, unlisted) as bad:
            yield good.url, bad.url
    api.extensions["passport.engine"].dispose()


def outcome(browser: Any, url: str) -> dict[str, Any]:
    browser.get(url)
    shown = WebDriverWait(browser, 20).until(
        lambda b: b.find_element(By.ID, "out").text or None)
    return json.loads(shown)  # type: ignore[no-any-return]


def test_a_listed_front_end_uses_the_api(browser: Any, sites: tuple[str, str]) -> None:
    good, bad = sites
    seen = outcome(browser, good)
    assert seen["passport"] == 200 and seen["certifications"] >= 1
    assert seen["declared"] == 201 and seen["etag"]
    assert seen["request_id"]
    assert seen["anonymous"] == 401 and seen["challenge"].startswith("Bearer")
    assert "error" not in seen
    # The same page from a site not listed: the browser refuses it the first answer.
    assert outcome(browser, bad) == {"error": "TypeError"}
