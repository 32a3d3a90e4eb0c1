"""CVs: a sealed PDF any reader shows intact, an accessible HTML page, a valid JSON Resume,
in French and English and two designs; golden files per format and design; hidden and
withdrawn items never appear; advisors only with the ``cv`` section."""

from __future__ import annotations

import io
import json
import os
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient
from pypdf import PdfReader
from sqlalchemy.orm import Session, sessionmaker

from passport.auth.models import Account
from passport.cvs.models import KEPT_PER_HOLDER
from passport.db import unit_of_work
from passport.journal.models import JournalEntry
from tests.api import builders
from tests.oauth import bearer, mint

CVS = "/api/v1/me/cvs"
DATA = Path(__file__).resolve().parents[1] / "data"
GOLDEN = DATA / "golden"
ARTIFACTS = Path(__file__).resolve().parents[2] / "artifacts"
CODE = re.compile(r"\b[0-9A-Z]{5}-[0-9A-Z]{5}\b")
DECLARATIONS = [
    {"kind": "experience", "title": "Administrateur systèmes", "organisation": "Atelier Numérique",
     "location": "Toulouse", "start_date": "2021-09-01", "end_date": "2024-06-30",
     "description": "Exploitation et sécurité d'un parc Linux", "skills": ["Linux", "Ansible"]},
    {"kind": "formation", "title": "MOOC SecNumacadémie", "organisation": "ANSSI",
     "start_date": "2023-01-10", "end_date": "2023-03-01"},
    {"kind": "competence", "title": "Supervision", "level": "avance"},
    {"kind": "langue", "title": "Espagnol", "level": "C1"},
]


@pytest.fixture
def passport_with_declarations(client: FlaskClient, holder: dict[str, Any]) -> dict[str, Any]:
    ids = []
    for body in DECLARATIONS:
        response = client.post("/api/v1/me/declarations", json=body,
                               headers=bearer(holder["token"]))
        assert response.status_code == 201
        ids.append(response.json["id"])
    items = client.get("/api/v1/me/passport/certifications?page_size=50",
                       headers=bearer(holder["token"])).json["items"]
    return {**holder, "declarations": ids,
            "by_option": {i["verbatim"] or i["code"]: i for i in items},
            "certifications": items}


def make(client: FlaskClient, token: str, **body: Any) -> tuple[dict[str, Any], Any]:
    created = client.post(CVS, json=body, headers=bearer(token))
    assert created.status_code == 201, created.get_data(as_text=True)
    document = client.get(created.headers["Location"], headers=bearer(token))
    assert document.status_code == 200
    return created.json, document


def pdf_text(data: bytes) -> str:
    """The PDF's text, whitespace folded (columns wrap lines anywhere)."""
    return " ".join(" ".join(page.extract_text() for page in
                             PdfReader(io.BytesIO(data)).pages).split())


# -- PDF -------------------------------------------------------------------------------------
def test_pdf_is_tagged_titled_with_real_text_and_sealed(
        app: Flask, client: FlaskClient, passport_with_declarations: dict[str, Any]) -> None:
    token = passport_with_declarations["token"]
    meta, document = make(client, token, format="pdf", template="moderne",
                          headline="Administrateur systèmes et réseaux",
                          contact={"email": "antoine@example.fr", "city": "Toulouse"})
    assert document.content_type == "application/pdf"
    assert meta["attested_items"] == 5 and meta["declared_items"] == 4  # withdrawn left out
    assert re.fullmatch(r"CV-Antoine-Dupont-\d{4}-\d{2}-\d{2}\.pdf", meta["file_name"])
    reader = PdfReader(io.BytesIO(document.data))
    text = pdf_text(document.data)
    # Real, searchable text: the name, the marks, a verification code, declared lines.
    for words in ("Antoine Dupont", "Certifié par Institut Européen du Numérique",
                  "Code de vérification", "Déclaré", "Administrateur systèmes",
                  "Expérience professionnelle", "antoine@example.fr"):
        assert words.lower() in text.lower(), words  # this design capitalises headings
    assert CODE.search(text)
    assert reader.metadata is not None and reader.metadata.title == \
        "Curriculum vitæ — Antoine Dupont"
    root = reader.trailer["/Root"]
    assert root["/Lang"] == "fr"
    assert root["/MarkInfo"]["/Marked"] and "/StructTreeRoot" in root  # tagged
    fonts = [f.get_object() for page in reader.pages
             for f in page["/Resources"]["/Font"].values()]
    assert fonts and all("/FontFile2" in f["/DescendantFonts"][0].get_object()["/FontDescriptor"]
                         or "/FontFile3" in f["/DescendantFonts"][0].get_object()["/FontDescriptor"]
                         for f in fonts)  # embedded
    # The seal: PAdES, intact, valid and trusted against our seal certificate.
    from pyhanko.keys import load_certs_from_pemder_data
    from pyhanko.pdf_utils.reader import PdfFileReader
    from pyhanko.sign.validation import validate_pdf_signature
    from pyhanko_certvalidator import ValidationContext

    sealer = app.extensions["passport.sealer"]
    trust = list(load_certs_from_pemder_data(sealer.certificate_pem))
    [signature] = PdfFileReader(io.BytesIO(document.data)).embedded_signatures
    assert signature.sig_object["/SubFilter"] == "/ETSI.CAdES.detached"
    status = validate_pdf_signature(signature, ValidationContext(trust_roots=trust))
    assert status.intact and status.valid and status.trusted and status.bottom_line
    assert status.coverage.name == "ENTIRE_FILE"
    # Tampering breaks it.
    tampered = document.data.replace(b"Antoine", b"Antonin", 1)
    if tampered != document.data:
        [broken] = PdfFileReader(io.BytesIO(tampered), strict=False).embedded_signatures
        assert not validate_pdf_signature(broken, ValidationContext(trust_roots=trust)).intact
    # Page 1 as an image, kept as an artefact (the visual check).
    ARTIFACTS.mkdir(exist_ok=True)
    (ARTIFACTS / "cv-moderne-fr.pdf").write_bytes(document.data)
    pdftoppm = shutil.which("pdftoppm")
    assert pdftoppm, "pdftoppm is missing: apt-get install poppler-utils (make test does)"
    subprocess.run([pdftoppm, "-png", "-r", "80", "-f", "1", "-l", "1", "-singlefile",
                    str(ARTIFACTS / "cv-moderne-fr.pdf"), str(ARTIFACTS / "cv-moderne-fr")],
                   check=True)
    png = (ARTIFACTS / "cv-moderne-fr.png").read_bytes()
    assert png.startswith(b"\x89PNG") and len(png) > 10_000


def test_english_labels_and_dates(client: FlaskClient,
                                  passport_with_declarations: dict[str, Any]) -> None:
    _, document = make(client, passport_with_declarations["token"], format="pdf",
                       language="en")
    text = pdf_text(document.data)
    assert "Certified by Institut Européen du Numérique" in text
    assert "Obtained on July 1, 2024" in text and "Work experience" in text
    assert "Certifié" not in text and "Déclaré" not in text
    assert PdfReader(io.BytesIO(document.data)).trailer["/Root"]["/Lang"] == "en"


# -- what never appears ------------------------------------------------------------------
def test_hidden_and_withdrawn_items_never_appear(
        client: FlaskClient, passport_with_declarations: dict[str, Any],
        committed: sessionmaker[Session]) -> None:
    token = passport_with_declarations["token"]
    items = passport_with_declarations["certifications"]
    language = next(i for i in items if i["language_level"] == "B2")
    path = f"/api/v1/me/passport/certifications/{language['id']}"
    etag = client.get(path, headers=bearer(token)).headers["ETag"]
    hidden = client.patch(path, json={"hidden": True}, headers={**bearer(token), "If-Match": etag})
    assert hidden.status_code == 200
    secret_declaration = passport_with_declarations["declarations"][3]  # Espagnol
    response = client.get(f"/api/v1/me/declarations/{secret_declaration}", headers=bearer(token))
    hidden = client.patch(f"/api/v1/me/declarations/{secret_declaration}",
                          json={"hidden": True},
                          headers={**bearer(token), "If-Match": response.headers["ETag"]})
    assert hidden.status_code == 200
    for fmt in ("pdf", "html", "json-resume"):
        _, document = make(client, token, format=fmt)
        text = pdf_text(document.data) if fmt == "pdf" else document.get_data(as_text=True)
        text = re.sub(r"data:image/[^\"']+", "", text)  # QR images are base64: any letters
        # The hidden item is the only one with a language level (B2); random verification
        # codes may contain "B2", so look for the line itself.
        hidden_line = '"fluency": "B2"' if fmt == "json-resume" else "Niveau de langue : B2"
        assert hidden_line not in text and "Espagnol" not in text, fmt
        assert "Institut Européen du Numérique" in text  # the visible ones are there
    # Asking for a hidden item (or someone else's: the same answer) is refused.
    refused = client.post(CVS, json={"certifications": [language["id"]]}, headers=bearer(token))
    assert refused.status_code == 422 and refused.json["code"] == "cv_item_unavailable"
    assert client.post(CVS, json={"certifications": [999_999]},
                       headers=bearer(token)).json["code"] == "cv_item_unavailable"


def test_only_my_cvs_and_only_the_last_ones(
        app: Flask, client: FlaskClient, holder: dict[str, Any],
        committed: sessionmaker[Session]) -> None:
    created, _ = make(client, holder["token"], format="json-resume")
    other = client.get(f"{CVS}/{created['id']}", headers=bearer(holder["other"]))
    assert other.status_code == 404
    for _ in range(KEPT_PER_HOLDER):
        client.post(CVS, json={"format": "json-resume"}, headers=bearer(holder["token"]))
    listed = client.get(CVS, headers=bearer(holder["token"])).json
    assert len(listed) == KEPT_PER_HOLDER and created["id"] not in {c["id"] for c in listed}
    with unit_of_work(committed) as db:
        kinds = db.scalars(sa.select(JournalEntry.kind).where(
            JournalEntry.holder_id == holder["holder_id"])).all()
    assert kinds.count("cv.generated") == KEPT_PER_HOLDER + 1


# -- JSON Resume -----------------------------------------------------------------------------
def test_json_resume_is_valid_and_says_what_is_attested(
        client: FlaskClient, passport_with_declarations: dict[str, Any]) -> None:
    _, document = make(client, passport_with_declarations["token"], format="json-resume",
                       summary="Dix ans d'exploitation", contact={"email": "a@example.fr"})
    resume = json.loads(document.data)
    schema = json.loads((DATA / "jsonresume-schema.json").read_text())
    jsonschema.Draft4Validator(schema, format_checker=jsonschema.FormatChecker()).validate(resume)
    certificates = resume["certificates"]
    assert len(certificates) == 5
    for certificate in certificates:
        assert certificate["attestation"] == "certified"
        assert "/verifier/" in certificate["url"] and CODE.fullmatch(certificate["verificationCode"])
        assert certificate["issuer"] == "Institut Européen du Numérique"
    assert resume["work"][0]["attestation"] == "declared"
    certified = [lang for lang in resume["languages"] if lang["attestation"] == "certified"]
    assert [lang["fluency"] for lang in certified] == ["B2"]  # the CECRL level of the flux
    assert resume["meta"]["provenance"]["certifiedItems"] == 5
    assert resume["basics"]["email"] == "a@example.fr"


# -- advisors ----------------------------------------------------------------------------
def test_advisor_needs_the_cv_section(app: Flask, client: FlaskClient, holder: dict[str, Any],
                                      committed: sessionmaker[Session]) -> None:
    account_id = builders.advisor(committed, "camille@cep.example")
    with unit_of_work(committed) as db:
        holder_account = db.scalar(sa.select(Account.id).where(
            Account.holder_id == holder["holder_id"]))
        token = mint(app, db, db.get(Account, account_id))

    def reference() -> str:
        [listed] = client.get("/api/v1/advisor/holders", headers=bearer(token)).json
        return str(listed["reference"])

    without = builders.a_consent(committed, holder_account, sections=["certifications"])
    path = f"/api/v1/advisor/holders/{reference()}/cv"
    assert client.get(path, headers=bearer(token)).status_code == 404
    client.delete(f"/api/v1/me/consents/{without['id']}", headers=bearer(holder["token"]))
    builders.a_consent(committed, holder_account, sections=["certifications", "cv"])
    response = client.get(f"/api/v1/advisor/holders/{reference()}/cv",
                          query_string={"format": "html", "language": "en"},
                          headers=bearer(token))
    assert response.status_code == 200 and response.mimetype == "text/html"
    assert "Certified by" in response.get_data(as_text=True)
    with unit_of_work(committed) as db:
        entry = db.scalars(sa.select(JournalEntry).where(
            JournalEntry.holder_id == holder["holder_id"],
            JournalEntry.kind == "advisor.read").order_by(JournalEntry.seq.desc())).first()
    assert entry is not None and entry.details["sections"] == ["cv"]


# -- golden files ----------------------------------------------------------------------------
def normalise(text: str) -> str:
    text = CODE.sub("XXXXX-XXXXX", text)
    text = re.sub(r"data:image/png;base64,[^\"']+", "data:qr", text)
    text = re.sub(r"(cert|decl)-\d+", r"\1-N", text)
    text = re.sub(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(\+00:00)?", "<timestamp>", text)
    for pattern in (r"\d{1,2} \w+ 20\d\d", r"\w+ \d{1,2}, 20\d\d"):
        text = re.sub(rf"(généré le|generated on) {pattern}", r"\1 <today>", text)
    return text


def reflowed(text: str) -> str:
    return normalise(" ".join(text.split()))


def structure(data: bytes) -> str:
    """What the PDF golden compares: its pages' text and its structure, not its bytes."""
    reader = PdfReader(io.BytesIO(data))
    root = reader.trailer["/Root"]
    lines = [f"pages: {len(reader.pages)}", f"title: {reader.metadata.title}",  # type: ignore[union-attr]
             f"lang: {root['/Lang']}", f"tagged: {bool(root['/MarkInfo']['/Marked'])}",
             f"signatures: {len(root['/AcroForm']['/Fields'])}"]
    for number, page in enumerate(reader.pages, 1):
        lines.append(f"--- page {number}")
        lines.extend(line.rstrip() for line in page.extract_text().splitlines())
    return normalise("\n".join(lines)) + "\n"


@pytest.mark.parametrize("template", ["classique", "moderne"])
@pytest.mark.parametrize("fmt", ["pdf", "html", "json-resume"])
def test_golden_files(client: FlaskClient, passport_with_declarations: dict[str, Any],
                      template: str, fmt: str) -> None:
    _, document = make(client, passport_with_declarations["token"], format=fmt,
                       template=template, headline="Administrateur systèmes",
                       summary="Dix ans d'exploitation de systèmes Linux.",
                       contact={"email": "antoine@example.fr", "city": "Toulouse"})
    if fmt == "pdf":
        got, suffix = structure(document.data), "pdf.txt"
    elif fmt == "html":
        got, suffix = normalise(document.get_data(as_text=True)), "html"
    else:
        resume = json.loads(document.data)
        got, suffix = normalise(json.dumps(resume, ensure_ascii=False, indent=2)) + "\n", "json"
    golden = GOLDEN / f"cv-{template}.{suffix}"
    if os.environ.get("PASSPORT_UPDATE_GOLDEN") == "1":
        golden.parent.mkdir(exist_ok=True)
        golden.write_text(got)
    assert golden.exists(), f"{golden} missing: run with PASSPORT_UPDATE_GOLDEN=1 once"
    if fmt == "pdf":
        # The text, not where the renderer wraps its lines (WeasyPrint 70 wraps the footer
        # at other words than 68).
        assert reflowed(got) == reflowed(golden.read_text())
    else:
        assert got == golden.read_text()
