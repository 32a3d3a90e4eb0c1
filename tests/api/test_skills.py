"""Certifications shown with their France compétences sheet, and ``GET /api/v1/me/skills``:
every skill with the chain that produced it, on the real sample referentials."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from flask.testing import FlaskClient
from sqlalchemy.orm import Session, sessionmaker

from passport.config import Settings
from passport.db import unit_of_work
from passport.referentials.sheets import import_sheets
from tests.flux import certification, document, passage
from tests.helpers import ingest
from tests.oauth import bearer
from tests.referentials import RNCP_XML, load_samples


@pytest.fixture
def skilled(holder: dict[str, Any], committed: sessionmaker[Session], auth_settings: Settings,
            tmp_path: Path, client: FlaskClient) -> dict[str, Any]:
    """The holder's passport with the referentials loaded, plus RNCP37488 and RS5000."""
    load_samples(committed)
    ingest(committed, auth_settings, tmp_path, document(certifications=[
        certification([passage("CYBER")], code="RNCP37488"),
        certification([passage("CHAIN")], type_="RS", code="RS5000"),
    ], id_flux="skills-1"), "skills.xml")
    response = client.post("/api/v1/me/declarations", headers=bearer(holder["token"]), json={
        "kind": "competence", "title": "Soudure TIG", "level": "avance",
        "skills": ["Lecture de plans"]})
    assert response.status_code == 201
    return holder


def skills(client: FlaskClient, token: str, **query: Any) -> dict[str, Any]:
    response = client.get("/api/v1/me/skills", headers=bearer(token), query_string=query)
    assert response.status_code == 200, response.get_data(as_text=True)
    return response.json  # type: ignore[no-any-return]


def test_certifications_show_their_sheet(client: FlaskClient, skilled: dict[str, Any]) -> None:
    items = client.get("/api/v1/me/passport", headers=bearer(skilled["token"])).json[
        "certifications"]["items"]
    by_code = {i["code"]: i for i in items}
    old = by_code["RNCP34762"]
    assert old["title"] == "Programme Grande Ecole – Diplôme d’études supérieures en management"
    ref = old["referential"]
    assert ref["status"] == "replaced" and ref["replaced_by"] == ["RNCP39568"]
    assert ref["eqf_level"] == 7 and ref["type"] == {"code": "DipViGrM",
                                                     "label": "Diplôme visé grade de master"}
    assert [c["siret"] for c in ref["certifiers"]] == ["81738914100018", "11004401300040"]
    assert [b["code"] for b in ref["blocks"]][:2] == ["RNCP34762BC01", "RNCP34762BC02"]
    assert old["known_in_referential"] is True
    cyber = by_code["RNCP37488"]["referential"]
    assert cyber["status"] == "active"
    assert next(r["label"] for r in cyber["rome"]).startswith("Technicien / Technicienne")
    unknown = by_code["RS5875"]  # Pix: not in the sample referential
    assert unknown["referential"] is None and unknown["known_in_referential"] is False


def test_shares_show_the_sheet_too(client: FlaskClient, skilled: dict[str, Any]) -> None:
    items = client.get("/api/v1/me/passport", headers=bearer(skilled["token"])).json[
        "certifications"]["items"]
    cyber = next(i for i in items if i["code"] == "RNCP37488")
    created = client.post("/api/v1/me/shares", headers=bearer(skilled["token"]), json={
        "items": [{"kind": "certification", "id": cyber["id"]}]}).json
    shared = client.get(f"/api/v1/shares/{created['token']}").json["items"][0]
    assert shared["referential"]["title"] == "Cybersécurité"


def test_skills_with_their_chains(client: FlaskClient, skilled: dict[str, Any]) -> None:
    data = skills(client, skilled["token"])
    assert set(data["referentials"]) == {"rncp", "rs", "rome"}
    assert data["referentials"]["rome"]["version"] == "v460"
    assert "RS5875" in data["certifications_unknown"]
    by_label = {s["label"]: s for s in data["skills"] if s["source"] != "rome"}
    coder = by_label["Coder"]  # a competence of the RNCP37488 BC01 bloc
    assert (coder["source"], coder["attestation"]) == ("rncp_bloc", "garanti")
    assert coder["chains"][0]["text"] == "RNCP37488 → RNCP37488BC01 → Coder"
    # The spec's worked example, through ROME 4.0 (inferred).
    incidents = next(s for s in data["skills"] if s.get("code_ogr") == 109971)
    assert incidents["source"] == "rome" and incidents["attestation"] == "infere"
    assert incidents["principal"] is True and incidents["kind"] == "savoir_faire"
    assert "RNCP37488 → ROME M1810 (principale) → compétence 109971" in [
        c["text"] for c in incidents["chains"]]
    # Its place in the tree: macro-compétence 3E202, domain 3, enjeu 3E, objectif 3E2.
    assert incidents["macro"] == {"code": "3E202", "label": "Réaliser un diagnostic technique"}
    assert incidents["domain"] == {"code": "3", "label":
                                   "Production, Construction, Qualité, Logistique"}
    assert incidents["enjeu"]["code"] == "3E" and incidents["objectif"]["code"] == "3E2"
    # RS attested capacities, DigComp and CECRL from the flux, declared skills apart.
    assert any(s["source"] == "rs_capacity" and s["label"].startswith("C1. Concevoir")
               for s in data["skills"])
    digcomp = by_label["3.4 Programmer"]
    assert digcomp["source"] == "digcomp" and digcomp["level"] == "niveau 6 / 8"
    assert by_label["Langue — niveau B2 (CECRL)"]["source"] == "cecrl"
    declared = by_label["Soudure TIG"]
    assert (declared["source"], declared["attestation"], declared["level"]) == (
        "declared", "declare", "avance")
    assert by_label["Lecture de plans"]["attestation"] == "declare"
    # Principal before emerging within the same macro-compétence; sources in order.
    sources = [s["source"] for s in data["skills"]]
    assert sources == sorted(sources, key=["rncp_bloc", "rs_capacity", "digcomp", "cecrl",
                                           "rome", "declared"].index)


def test_a_skill_reached_twice_is_listed_once(client: FlaskClient, skilled: dict[str, Any]
                                              ) -> None:
    rome = skills(client, skilled["token"], source="rome")["skills"]
    codes = [s["code_ogr"] for s in rome]
    assert len(codes) == len(set(codes))
    shared = [s for s in rome if len(s["chains"]) > 1]  # M1801/M1802/M1810 share items
    assert shared and all(s["source"] == "rome" for s in rome)


def test_withdrawn_and_hidden_items_bring_no_skills(client: FlaskClient,
                                                    skilled: dict[str, Any]) -> None:
    items = client.get("/api/v1/me/passport", headers=bearer(skilled["token"])).json[
        "certifications"]["items"]
    cyber = next(i for i in items if i["code"] == "RNCP37488")
    path = f"/api/v1/me/passport/certifications/{cyber['id']}"
    etag = client.get(path, headers=bearer(skilled["token"])).headers["ETag"]
    client.patch(path, json={"hidden": True},
                 headers={**bearer(skilled["token"]), "If-Match": etag})
    labels = {s["label"] for s in skills(client, skilled["token"])["skills"]}
    assert "Coder" not in labels
    assert "Coder" in {s["label"] for s in skills(client, skilled["token"],
                                                  include_hidden="true")["skills"]}


def test_option_filters_the_blocs(client: FlaskClient, holder: dict[str, Any],
                                  committed: sessionmaker[Session], auth_settings: Settings,
                                  tmp_path: Path) -> None:
    with_options = tmp_path / "options.xml"
    with_options.write_text(RNCP_XML.read_text()
                            .replace("<LIBELLE>Mise en œuvre de réseaux informatiques</LIBELLE>",
                                     "<LIBELLE>Option A : Réseaux informatiques</LIBELLE>")
                            .replace("<LIBELLE>Cybersécurité</LIBELLE>",
                                     "<LIBELLE>Option B : Cybersécurité</LIBELLE>"))
    with unit_of_work(committed) as db:
        import_sheets(db, with_options, "rncp")
    ingest(committed, auth_settings, tmp_path, document(certifications=[certification(
        [passage("OPT", libelleOption="Option A")], code="RNCP37488")], id_flux="opt-1"),
        "opt.xml")
    data = skills(client, holder["token"], source="rncp_bloc")
    labels = {s["label"] for s in data["skills"]}
    assert "Coder" in labels and "Gérer un projet" not in labels  # option B's bloc
    coder = next(s for s in data["skills"] if s["label"] == "Coder")
    assert coder["chains"][0]["text"] == "RNCP37488 → option Option A → RNCP37488BC01 → Coder"


def test_skills_need_a_holder(client: FlaskClient, holder: dict[str, Any]) -> None:
    assert client.get("/api/v1/me/skills").status_code == 401
    data = skills(client, holder["other"])
    assert data["skills"] == [] and data["referentials"] == {}
