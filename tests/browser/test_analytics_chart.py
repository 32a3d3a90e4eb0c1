"""The success-rate chart renders in a real headless Chromium: bars with their whiskers,
suppressed cells drawn and labelled as such, French title and axis labels."""

from __future__ import annotations

import base64
from typing import Any

import pytest
from flask.testing import FlaskClient
from selenium.webdriver.common.by import By

from tests.api.test_analytics import URL, analytics_app, client, tokens  # noqa: F401
from tests.browser.conftest import screenshot
from tests.oauth import bearer

pytestmark = pytest.mark.browser


def test_chart_renders_in_chromium(client: FlaskClient, tokens: dict[str, str],  # noqa: F811
                                   browser: Any) -> None:
    response = client.get(URL + "/chart", query_string={"group_by": "year"},
                          headers=bearer(tokens["analyst"]))
    assert response.status_code == 200 and response.mimetype == "image/svg+xml"
    # Both years are hidden at this grouping (see tests/integration/test_analytics.py).
    by_year = client.get(URL + "/chart", query_string={"group_by": "organisation",
                                                       "from": "2024", "to": "2024"},
                         headers=bearer(tokens["analyst"]))
    for name, svg in (("analytics-chart-suppressed", response.data),
                      ("analytics-chart-bars", by_year.data)):
        browser.get("data:image/svg+xml;base64," + base64.b64encode(svg).decode())
        root = browser.find_element(By.TAG_NAME, "svg")
        width, height = root.size["width"], root.size["height"]
        assert width > 300 and height > 200  # Chromium parsed and laid it out
        texts = " ".join(t.text for t in browser.find_elements(By.TAG_NAME, "text"))
        assert "Taux de réussite" in texts
        screenshot(browser, name)
        if name.endswith("suppressed"):
            assert texts.count("secret statistique") >= 2
            assert "Année de sortie de formation" in texts
        else:
            assert "Organisme de formation (SIRET)" in texts
            bars = browser.find_elements(By.CSS_SELECTOR, "g[id^='bar-'] path")
            assert len(bars) == 2
            # Both bars drawn with a height (ORG_A 40 %, ORG_B 50 %).
            heights = sorted(b.rect["height"] for b in bars)
            assert heights[0] > 10 and heights[1] > heights[0]
