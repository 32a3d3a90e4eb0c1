"""Reading France compétences' free text, on the real sample sheets: the competence list
formats, option names in bloc titles, dates and levels."""

from __future__ import annotations

from pathlib import Path

import pytest
from lxml import etree

from passport.referentials.competences import (
    option_matches,
    option_of,
    parse_competences,
    same_title,
)
from passport.referentials.sheets import ReferentialError, eqf_level_of, parse_date, yes_no

SAMPLES = Path(__file__).resolve().parents[2] / "passport" / "demo" / "referentials"


def sheet_text(numero: str, path: str) -> str:
    for file in SAMPLES.glob("*EXCERPT*.xml"):
        for fiche in etree.parse(str(file)).getroot().iterfind("FICHE"):
            if fiche.findtext("NUMERO_FICHE") == numero:
                return fiche.findtext(path) or ""
    raise AssertionError(numero)


def test_bullets_rncp37488() -> None:
    text = sheet_text("RNCP37488", "BLOCS_COMPETENCES/BLOC_COMPETENCES/LISTE_COMPETENCES")
    assert parse_competences(text) == [
        "Valider le fonctionnement d’un réseau", "Coder", "Installer une infrastructure réseau",
        "Exploiter une installation réseau", "Maintenir un réseau"]


def test_dashes_rncp39568() -> None:
    items = parse_competences(
        sheet_text("RNCP39568", "BLOCS_COMPETENCES/BLOC_COMPETENCES/LISTE_COMPETENCES"))
    assert items is not None and len(items) >= 2
    assert items[0].startswith("Evaluer les contextes économiques et géopolitiques")
    assert not any(i.startswith("-") for i in items)


def test_coded_items_rncp34762() -> None:
    items = parse_competences(
        sheet_text("RNCP34762", "BLOCS_COMPETENCES/BLOC_COMPETENCES/LISTE_COMPETENCES"))
    assert items is not None
    assert [i.split()[0] for i in items] == [f"A1C{n}" for n in range(1, len(items) + 1)]
    assert items[1].startswith("A1C2 Apprécier")  # "A1C2.Apprécier": no space after the dot


def test_coded_items_after_an_introduction_rs5000() -> None:
    items = parse_competences(sheet_text("RS5000", "CAPACITES_ATTESTEES"))
    assert items is not None and items[0].startswith("C1. Concevoir un projet")
    assert "blockchain* privée" in items[0]  # an asterisk inside the text is no bullet
    assert not any(i.startswith("Les compétences attestées") for i in items)


def test_paragraphs_rncp40344() -> None:
    items = parse_competences(
        sheet_text("RNCP40344", "BLOCS_COMPETENCES/BLOC_COMPETENCES/LISTE_COMPETENCES"))
    assert items is not None and items[0].startswith("Accueillir un propriétaire d'animal")
    assert all(i.endswith((".", ";")) or len(i) > 40 for i in items)


@pytest.mark.parametrize("text", [
    "Coder    Installer un réseau    Maintenir un réseau",  # format 5: runs of spaces only
    "Une seule compétence, sans structure",
    "", None,
])
def test_unknown_formats_are_kept_raw(text: str | None) -> None:
    assert parse_competences(text) is None


def test_options() -> None:
    assert option_of("Option A : Solutions d'infrastructure, systèmes et réseaux (SISR)") == (
        "A : Solutions d'infrastructure, systèmes et réseaux (SISR)")
    assert option_of("Administration des systèmes") is None
    assert option_matches("A : Solutions d'infrastructure", "Option A")
    assert option_matches("SISR", "Option SISR - Solutions d'infrastructure")
    assert not option_matches("A : Solutions d'infrastructure", "Option B")
    assert same_title("Cybersécurité", "CYBERSECURITE ")


def test_dates_levels_and_booleans() -> None:
    assert str(parse_date("31/08/2028")) == "2028-08-31"
    assert parse_date("") is None
    with pytest.raises(ReferentialError, match="DD/MM/YYYY"):
        parse_date("2028-08-31")
    with pytest.raises(ReferentialError):
        parse_date("31/02/2028")
    assert [eqf_level_of(v) for v in ("NIV5", "niv8", "AUCUN", "REPRISE", None)] == [
        5, 8, None, None, None]
    assert [yes_no(v) for v in ("Oui", "Non", "ACTIVE", "INACTIVE", None)] == [
        True, False, True, False, None]
