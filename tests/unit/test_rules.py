"""Business rules of spec §5, per passage, with French messages and stable codes."""

from __future__ import annotations

import io
import json

import pytest

from ingestion.pipeline import Source
from ingestion.validate import validate
from tests.conftest import OFFICIAL_EXAMPLE
from tests.flux import NIL, OMIT, Raw, document, passage, titulaire


def outcome(**changes: object) -> dict:
    doc = document([passage(**changes)])
    result = validate("r.xml", Source(opener=lambda: io.BytesIO(doc)), max_bytes=10**7)
    assert result.schema_valid, result.errors
    [p] = result.passages
    return p


def error_codes(**changes: object) -> list[str]:
    return [e["code"] for e in outcome(**changes)["errors"]]


def warning_codes(**changes: object) -> list[str]:
    return [w["code"] for w in outcome(**changes)["warnings"]]


DIGCOMP = (
    "<cpf:niveauNumeriqueEuropeen>{score}<cpf:resultats>{results}</cpf:resultats>"
    "</cpf:niveauNumeriqueEuropeen>"
)


def digcomp(score: str | None = "800", results: list[tuple[str | None, str | None, str | None]]
            = (("5", "1", "1"),)) -> Raw:  # type: ignore[assignment]
    def field(name: str, value: str | None) -> str:
        return "" if value is None else f"<cpf:{name}>{value}</cpf:{name}>"

    body = "".join(
        "<cpf:resultat>" + field("niveau", n) + field("domaineCompetenceId", d)
        + field("competenceId", c) + "</cpf:resultat>"
        for n, d, c in results
    )
    score_xml = field("scoreGeneral", score)
    return Raw(DIGCOMP.format(score=score_xml, results=body))


def test_valid_passage_has_no_problem() -> None:
    p = outcome()
    assert p["ok"] is True
    assert p["errors"] == [] and p["warnings"] == []


def test_official_example_passes_rules_with_the_vae_warning() -> None:
    data = OFFICIAL_EXAMPLE.read_bytes()
    result = validate("o.xml", Source(opener=lambda: io.BytesIO(data)), max_bytes=10**7)
    assert [p["ok"] for p in result.passages] == [True, True, True]
    assert all([w["code"] for w in p["warnings"]] == ["regle_vae"] for p in result.passages)


# Rule 1
def test_language_announced_but_missing() -> None:
    p = outcome(presenceNiveauLangueEuro="true")
    assert [e["code"] for e in p["errors"]] == ["regle_langue"]
    assert p["errors"][0]["message"].startswith("Règle 1 : presenceNiveauLangueEuro vaut true")


def test_language_given_but_not_announced() -> None:
    assert error_codes(presenceNiveauLangueEuro="0", niveauLangueEuropeen="B2") == ["regle_langue"]


def test_language_announced_and_given() -> None:
    assert error_codes(presenceNiveauLangueEuro="1", niveauLangueEuropeen="B2") == []


# Rule 2
def test_digital_announced_but_missing() -> None:
    assert error_codes(presenceNiveauNumeriqueEuro="true") == ["regle_numerique"]


def test_digital_given_but_not_announced() -> None:
    assert error_codes(niveauNumeriqueEuropeen=digcomp()) == ["regle_numerique"]


@pytest.mark.parametrize(
    ("score", "results", "ok"),
    [
        ("800", [("5", "1", "1"), ("3", "2", "6"), ("8", "5", "4")], True),
        ("800", [], True),
        (None, [("5", "1", "1")], False),                   # no general score
        ("800", [("5", "1", None)], False),                 # incomplete result
        ("800", [("5", "6", "1")], False),                  # domain 6 does not exist
        ("800", [("5", "1", "4")], False),                  # D1 has 3 competences
        ("800", [("5", "2", "7")], False),                  # D2 has 6
        ("800", [("5", "3", "5")], False),                  # D3 has 4
        ("800", [("5", "1", "1"), ("6", "1", "1")], False),  # twice the same competence
        ("800", [("5", "A", "1")], False),                  # not a number
    ],
)
def test_digcomp_contents(score: str | None, results: list, ok: bool) -> None:
    codes = error_codes(presenceNiveauNumeriqueEuro="true",
                        niveauNumeriqueEuropeen=digcomp(score, results))
    assert codes == ([] if ok else ["regle_numerique"])


# Rule 3
def test_vae_route_without_vae_access_is_a_warning() -> None:
    p = outcome(modalitesInscription={"modaliteAcces": "CANDIDAT_LIBRE",
                                      "voieAccessVAE": "CONGES_VAE"})
    assert p["ok"] is True
    assert [w["code"] for w in p["warnings"]] == ["regle_vae"]


def test_vae_route_with_vae_access() -> None:
    assert warning_codes(modalitesInscription={"modaliteAcces": "VAE",
                                               "voieAccessVAE": "CONGES_VAE"}) == []


# Rule 4
def test_exam_end_before_start() -> None:
    p = outcome(dateDebutExamen="2024-06-12", dateFinExamen="2024-06-10")
    assert [e["code"] for e in p["errors"]] == ["regle_dates_examen"]
    assert "2024-06-10" in p["errors"][0]["message"]


def test_exam_same_day_is_fine() -> None:
    assert error_codes(dateDebutExamen="2024-06-12", dateFinExamen="2024-06-12") == []


def test_validity_end_before_start() -> None:
    assert error_codes(dateDebutValidite="2024-07-01", dateFinValidite="2024-06-30") == [
        "regle_dates_validite"
    ]


def test_validity_nil_end_is_fine() -> None:
    assert error_codes(dateFinValidite=NIL) == []


def test_padded_dates_compare_as_dates() -> None:
    assert error_codes(dateDebutExamen=" 2024-06-09 ", dateFinExamen="2024-06-10") == []


# Rule 5
def insee(code: str) -> Raw:
    return Raw(
        "<cpf:codeCommuneNaissance><cpf:codeInseeNaissance><cpf:codeInsee>"
        f"{code}</cpf:codeInsee></cpf:codeInseeNaissance></cpf:codeCommuneNaissance>"
    )


@pytest.mark.parametrize(
    ("code", "pays", "ok"),
    [
        ("31555", None, True),
        ("2A004", None, True),
        ("2B033", None, True),
        ("97411", None, True),
        ("99134", "134", True),
        ("99134", None, False),     # born abroad without the country
        ("99134", "135", False),    # country differs from the INSEE code
        ("31555", "134", False),    # born in France with a country
        ("20004", None, False),     # Corsica is 2A/2B
        ("2C004", None, False),
        ("9913A", "13A", False),
        ("00123", None, False),
    ],
)
def test_birth_place(code: str, pays: str | None, ok: bool) -> None:
    holder = titulaire(codeCommuneNaissance=insee(code), codePaysNaissance=pays or OMIT)
    assert error_codes(identificationTitulaire=holder) == ([] if ok else ["regle_lieu_naissance"])


def test_birth_place_rule_does_not_apply_to_postal_codes() -> None:
    holder = titulaire(codeCommuneNaissance=Raw(
        "<cpf:codeCommuneNaissance><cpf:codePostalNaissance><cpf:codePostal>99999</cpf:codePostal>"
        "</cpf:codePostalNaissance></cpf:codeCommuneNaissance>"), codePaysNaissance="134")
    assert error_codes(identificationTitulaire=holder) == []


# Rule 6
@pytest.mark.parametrize(
    ("year", "month", "day", "ok"),
    [("2000", "02", "29", True), ("1900", "02", "29", False), ("2001", "02", "29", False),
     ("2001", "04", "31", False), ("2001", "12", "31", True)],
)
def test_birth_day_exists(year: str, month: str, day: str, ok: bool) -> None:
    holder = titulaire(anneeNaissance=year, moisNaissance=month, jourNaissance=day)
    assert error_codes(identificationTitulaire=holder) == ([] if ok else ["regle_date_naissance"])


def test_birth_day_unchecked_without_month() -> None:
    holder = titulaire(moisNaissance=NIL, jourNaissance="31")
    assert error_codes(identificationTitulaire=holder) == []


# Rule 7
@pytest.mark.parametrize("value", ["nil", "NIL", " nil "])
def test_text_nil_in_scoring_warns(value: str) -> None:
    assert warning_codes(scoring=value) == ["valeur_nil_texte"]


def test_text_nil_in_holder_fields_warns() -> None:
    holder = titulaire(nomUsage="nil")
    assert warning_codes(identificationTitulaire=holder) == ["valeur_nil_texte"]


def test_several_problems_are_all_reported() -> None:
    codes = error_codes(presenceNiveauLangueEuro="true", dateDebutExamen="2024-06-12",
                        dateFinExamen="2024-06-01")
    assert codes == ["regle_langue", "regle_dates_examen"]


def test_checked_row_is_store_ready() -> None:
    from lxml import etree

    from ingestion.parser import extract_passage
    from ingestion.rules import VALUE_COLUMNS, check

    element = etree.fromstring(document([passage(scoring="nil", verbatim="V")]))
    [p] = element.iter("{urn:cdc:cpf:pc5:schema:1.0.0}passageCertification")
    checked = check(extract_passage(p))
    row = dict(zip(VALUE_COLUMNS, checked.row, strict=True))
    assert row["scoring"] is None
    assert row["date_debut_validite"] == "2024-07-01"
    assert row["donnee_certifiee"] is True
    assert json.loads(row["titulaire"])["nomNaissance"] == "Dupont"
    assert json.loads(row["warnings"]) == ["valeur_nil_texte"]
    assert checked.identity == ("titulaire", "DUPONT|ANTOINE|1996|M", "31555", 11, 15)
