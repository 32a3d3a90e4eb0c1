"""The HTML CV in a real headless Chromium: language, headings, marks that do not rely on
colour, contrast of the marks; a screenshot is kept as an artefact."""

from __future__ import annotations

import base64
from typing import Any

import pytest
from flask.testing import FlaskClient
from selenium.webdriver.common.by import By

from tests.api.test_cvs import make, passport_with_declarations  # noqa: F401
from tests.browser.conftest import screenshot

pytestmark = pytest.mark.browser

CONTRAST = """
function luminance(rgb) {
  const c = rgb.match(/\\d+(\\.\\d+)?/g).slice(0, 3).map(Number).map(v => {
    v /= 255; return v <= 0.03928 ? v / 12.92 : Math.pow((v + 0.055) / 1.055, 2.4); });
  return 0.2126 * c[0] + 0.7152 * c[1] + 0.0722 * c[2];
}
let node = arguments[0], background = "rgb(255, 255, 255)";
for (; node && node.nodeType === 1; node = node.parentElement) {
  const bg = getComputedStyle(node).backgroundColor;
  if (bg !== "rgba(0, 0, 0, 0)" && bg !== "transparent") { background = bg; break; }
}
const a = luminance(getComputedStyle(arguments[0]).color), b = luminance(background);
return (Math.max(a, b) + 0.05) / (Math.min(a, b) + 0.05);
"""


@pytest.mark.parametrize("template", ["classique", "moderne"])
def test_html_cv_in_chromium(client: FlaskClient,
                             passport_with_declarations: dict[str, Any],  # noqa: F811
                             browser: Any, template: str) -> None:
    _, document = make(client, passport_with_declarations["token"], format="html",
                       template=template, headline="Administrateur systèmes",
                       contact={"email": "antoine@example.fr"})
    browser.get("data:text/html;base64," + base64.b64encode(document.data).decode())
    html = browser.find_element(By.TAG_NAME, "html")
    assert html.get_attribute("lang") == "fr"
    assert browser.title == "Curriculum vitæ — Antoine Dupont"
    assert [h.text for h in browser.find_elements(By.TAG_NAME, "h1")] == ["Antoine Dupont"]
    sections = [h.text.lower() for h in browser.find_elements(By.TAG_NAME, "h2")]
    assert "certifications attestées" in sections and "expérience professionnelle" in sections
    # Every item says in words whether it is certified or declared (not by colour only)…
    attested = browser.find_elements(By.CSS_SELECTOR, "article.attested")
    declared = browser.find_elements(By.CSS_SELECTOR, "article.declared")
    assert len(attested) == 5 and len(declared) == 4
    assert all("Certifié" in a.text and "Code de vérification" in a.text for a in attested)
    assert all("Déclaré" in d.text for d in declared)
    # …with enough contrast (WCAG AA, 4.5:1) for the marks and the body text.
    for selector in (".badge-attested", ".badge-declared", ".verification", "h1", "h2", "p",
                     "a", "dd"):
        element = browser.find_element(By.CSS_SELECTOR, selector)
        ratio = browser.execute_script(CONTRAST, element)
        assert ratio >= 4.5, (selector, ratio)
    # The QR codes have a text alternative.
    for image in browser.find_elements(By.CSS_SELECTOR, "img.qr"):
        assert image.get_attribute("alt").startswith("QR code de vérification")
        assert image.size["width"] > 40  # the data URI decoded and laid out
    screenshot(browser, f"cv-{template}-html")
