"""One content, three formats: HTML (Jinja), PDF (the same HTML through WeasyPrint, then
sealed), JSON Resume."""

from __future__ import annotations

import datetime as dt
import functools
import re
from typing import Any

import segno
from jinja2 import Environment, PackageLoader, select_autoescape

from passport.cvs.texts import CvTexts

JSON_RESUME_SCHEMA = "https://raw.githubusercontent.com/jsonresume/resume-schema/v1.0.0/schema.json"


@functools.cache
def _environment() -> Environment:
    return Environment(loader=PackageLoader("passport", "templates"),
                       autoescape=select_autoescape(["html"]), trim_blocks=True,
                       lstrip_blocks=True)


@functools.lru_cache(maxsize=4096)
def qr_data_uri(url: str) -> str:
    """The verification URL as a QR code: a PNG data URI (the page loads nothing else;
    measured 10 % faster to lay out than SVG in WeasyPrint), 4 pixels a module, drawn
    without smoothing (about 180 dpi at the printed size)."""
    return str(segno.make(url, error="m").png_data_uri(scale=4, border=1))


def html(cv: dict[str, Any], *, signed: bool = False) -> str:
    """The CV as a standalone, accessible HTML page (also the PDF's source)."""
    for item in cv["attested"]:
        item["qr"] = qr_data_uri(item["verification"]["url"])
    template = _environment().get_template(f"cv/{cv['template']}.html")
    return template.render(cv=cv, t=CvTexts(cv["language"]), signed=signed)


def pdf(cv: dict[str, Any]) -> bytes:
    """The CV as a tagged A4 PDF (real text, embedded fonts, title, author and language
    from the HTML); sealing is a separate step (`passport.cvs.signing`)."""
    from weasyprint import HTML

    document = HTML(string=html(cv, signed=True)).render(font_config=_fonts())
    return bytes(document.write_pdf(pdf_tags=True, pdf_variant="pdf/ua-1",
                                    custom_metadata=True))


@functools.cache
def _fonts() -> Any:
    """One font configuration per process: fontconfig is asked once, not per CV."""
    from weasyprint.text.fonts import FontConfiguration

    return FontConfiguration()


def _iso(value: dt.date | None) -> str | None:
    return value.isoformat() if value else None


def _clean(data: dict[str, Any]) -> dict[str, Any]:
    """JSON Resume wants absent values left out, not null."""
    return {k: v for k, v in data.items() if v not in (None, "", [], {})}


def json_resume(cv: dict[str, Any]) -> dict[str, Any]:
    """The CV as a JSON Resume document: attested certifications in ``certificates`` with
    their verification URL, declared items in their sections, provenance in ``meta``."""
    declared = cv["declared"]
    contact = cv["contact"]
    location = _clean({"city": contact.get("city")})
    basics = _clean({"name": cv["name"], "label": cv["headline"], "summary": cv["summary"],
                     "email": contact.get("email"), "phone": contact.get("phone"),
                     "url": contact.get("url"), "location": location})
    certificates = [_clean({
        "name": item["title"], "date": _iso(item["obtained_on"]), "issuer": item["certifier"],
        "url": item["verification"]["url"],
        # Extensions (JSON Resume allows them): what makes the line checkable.
        "code": item["code"], "verificationCode": item["verification"]["code"],
        "validUntil": _iso(item["valid_until"]), "eqfLevel": item["eqf_level"],
        "attestation": "certified",
    }) for item in cv["attested"]]

    def dated(item: dict[str, Any], **fields: Any) -> dict[str, Any]:
        return _clean({**fields, "startDate": _iso(item["start_date"]),
                       "endDate": _iso(item["end_date"]), "attestation": "declared"})

    document = {
        "$schema": JSON_RESUME_SCHEMA,
        "basics": basics,
        "work": [dated(i, name=i["organisation"], position=i["title"], location=i["location"],
                       summary=i["description"], url=i["url"], highlights=i["skills"])
                 for i in declared.get("experience", [])],
        "volunteer": [dated(i, organization=i["organisation"], position=i["title"],
                            summary=i["description"], url=i["url"])
                      for i in declared.get("engagement", [])],
        "education": [dated(i, institution=i["organisation"], area=i["title"],
                            studyType=i["level"], url=i["url"])
                      for i in declared.get("formation", []) + declared.get("diplome", [])],
        "certificates": certificates,
        "skills": [_clean({"name": i["title"], "level": i["level"], "keywords": i["skills"],
                           "attestation": "declared"})
                   for i in declared.get("competence", [])],
        "languages": [_clean({"language": i["title"], "fluency": i["level"],
                              "attestation": "declared"})
                      for i in declared.get("langue", [])]
        + [{"language": item["title"], "fluency": item["language_level"],
            "attestation": "certified", "verificationCode": item["verification"]["code"]}
           for item in cv["attested"] if item["language_level"]],
        "projects": [dated(i, name=i["title"], description=i["description"], url=i["url"])
                     for i in declared.get("autre", [])],
        "meta": {
            "version": "v1.0.0",
            "lastModified": cv["generated_at"].strftime("%Y-%m-%dT%H:%M:%S"),
            "language": cv["language"],
            "generator": "Passeport de compétences",
            "provenance": {
                "issuer": cv["issuer"],
                "certified": "items with attestation=certified were sent by their certifying "
                             "body to the CPF information system; check each with its url",
                "declared": "items with attestation=declared were entered by the holder",
                "certifiedItems": len(cv["attested"]), "declaredItems": cv["declared_count"],
            },
        },
    }
    return {k: v for k, v in document.items() if v not in ([], {})}


def file_name(cv: dict[str, Any], extension: str) -> str:
    """``CV-Antoine-Dupont-2026-11-26.pdf``: ASCII letters, digits and dashes only."""
    import unicodedata

    name = unicodedata.normalize("NFKD", cv["name"]).encode("ascii", "ignore").decode()
    name = re.sub(r"[^A-Za-z0-9]+", "-", name).strip("-") or "passeport"
    return f"CV-{name}-{cv['generated_at']:%Y-%m-%d}.{extension}"
