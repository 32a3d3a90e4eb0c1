"""The flux XSD gives the official 1.1.2 verdict, field by field (spec §1–4).

Each case is checked by tree validation and by the streaming reader (they must agree), on
the strict 1.1.2 schema and on the default 1.1.5 one (same verdict for every 1.1.2
document); the 1.1.5 additions are checked at the end.
"""

from __future__ import annotations

import io

import pytest
from lxml import etree

from ingestion.pipeline import Source
from ingestion.schema import compiled
from ingestion.validate import validate
from tests.conftest import OFFICIAL_EXAMPLE
from tests.flux import (
    NIL,
    OMIT,
    Raw,
    certification,
    document,
    dossier,
    national,
    passage,
    titulaire,
)

OFFICIAL = OFFICIAL_EXAMPLE.read_bytes()


def tree_verdict(doc: bytes, version: str) -> bool:
    parser = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False)
    return bool(compiled(version).validate(etree.fromstring(doc, parser)))


def stream_verdict(doc: bytes, version: str) -> bool:
    result = validate("case.xml", Source(opener=lambda: io.BytesIO(doc)), max_bytes=10**8,
                      schema_version=version)
    return result.schema_valid


def replace_in_official(old: str, new: str, count: int = 1) -> bytes:
    assert old.encode() in OFFICIAL, old
    return OFFICIAL.replace(old.encode(), new.encode(), count)


def P(**changes: object) -> bytes:
    """A one-passage document with changes to the passage."""
    return document([passage(**changes)])


def H(**changes: object) -> bytes:
    """A one-passage document with changes to the holder's civil status."""
    return document([passage(identificationTitulaire=titulaire(**changes))])


def text(n: int, char: str = "x") -> str:
    return char * n


def reversed_passage() -> str:
    """The default passage with its fields in reverse order."""
    inner = passage()[len("<cpf:passageCertification>"):-len("</cpf:passageCertification>")]
    wrapper = etree.fromstring(
        f'<r xmlns:cpf="urn:cdc:cpf:pc5:schema:1.0.0" '
        f'xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">{inner}</r>'
    )
    fields = "".join(etree.tostring(c).decode() for c in reversed(list(wrapper)))
    for decl in (' xmlns:cpf="urn:cdc:cpf:pc5:schema:1.0.0"',
                 ' xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"'):
        fields = fields.replace(decl, "")
    return f"<cpf:passageCertification>{fields}</cpf:passageCertification>"


CASES: list[tuple[str, bytes, bool]] = [
    # document level
    ("official example", OFFICIAL, True),
    ("builder default", document(), True),
    ("default namespace instead of prefix", document().replace(b"<cpf:", b"<").replace(
        b"</cpf:", b"</").replace(b"xmlns:cpf=", b"xmlns="), True),
    ("other prefix", document().replace(b"<cpf:", b"<x:").replace(b"</cpf:", b"</x:").replace(
        b"xmlns:cpf=", b"xmlns:x="), True),
    ("wrong namespace", document().replace(b"urn:cdc:cpf:pc5:schema:1.0.0", b"urn:cdc:other"), False),
    ("no namespace", document().replace(b"<cpf:", b"<").replace(b"</cpf:", b"</").replace(
        b' xmlns:cpf="urn:cdc:cpf:pc5:schema:1.0.0"', b""), False),
    ("xsi:schemaLocation on the root", replace_in_official(
        '<cpf:flux ', '<cpf:flux xsi:schemaLocation="urn:cdc:cpf:pc5:schema:1.0.0 flux.xsd" '), True),
    ("foreign attribute", replace_in_official("<cpf:idFlux>", '<cpf:idFlux id="1">'), False),
    ("unknown element", P(foo=Raw("<cpf:foo>1</cpf:foo>")), False),
    ("dictionary's titre element", P(titre="Titre"), False),
    ("element of another namespace", P(foo=Raw('<o:foo xmlns:o="urn:o">1</o:foo>')), False),
    ("passage fields in reverse order (xsd:all)", document([reversed_passage()]), True),
    ("header after the body (xsd:all)", document(header_last=True), True),
    ("element twice in an all group", P(verbatim=Raw(
        "<cpf:verbatim>a</cpf:verbatim><cpf:verbatim>b</cpf:verbatim>")), False),
    ("second certificateur", replace_in_official(
        "</cpf:certificateur>",
        "</cpf:certificateur><cpf:certificateur><cpf:idClient>E564ACB1</cpf:idClient>"
        "<cpf:idContrat>X</cpf:idContrat><cpf:certifications/></cpf:certificateur>"), False),
    ("two certifications", document(certifications=[
        certification([passage("A")]), certification([passage("B")], code="RS5875", type_="RS")]),
     True),
    ("no certification", document(certifications=[]), False),
    ("no passage", document(certifications=[certification([])]), False),
    ("natureDeposant absent", document(certifications=[certification([passage()], nature=None)]),
     True),
    ("natureDeposant TIERS_CONFIANCE", document(certifications=[
        certification([passage()], nature="TIERS_CONFIANCE")]), True),
    ("natureDeposant lowercase", document(certifications=[
        certification([passage()], nature="certificateur")]), False),
    ("no identification", P(identificationTitulaire=OMIT), False),
    ("two identifications", P(identificationTitulaire=Raw(
        titulaire().xml.replace("</cpf:identificationTitulaire>", "")
        + dossier("1", "A", "B").xml.replace("<cpf:identificationTitulaire>", ""))), False),
    ("dossierFormation", P(identificationTitulaire=dossier("1234567891011", "Dupont", "Antoine")),
     True),
    ("idDossier 14 chars", P(identificationTitulaire=dossier(text(14, "1"), "A", "B")), False),
    ("nomTitulaire 30 chars", P(identificationTitulaire=dossier("1", text(30), "B")), True),
    ("nomTitulaire 31 chars", P(identificationTitulaire=dossier("1", text(31), "B")), False),
    ("prenom1Titulaire 21 chars", P(identificationTitulaire=dossier("1", "A", text(21))), False),
    ("postal code instead of INSEE", H(codeCommuneNaissance=Raw(
        "<cpf:codeCommuneNaissance><cpf:codePostalNaissance><cpf:codePostal>31000</cpf:codePostal>"
        "</cpf:codePostalNaissance></cpf:codeCommuneNaissance>")), True),
    ("postal code nil", H(codeCommuneNaissance=Raw(
        '<cpf:codeCommuneNaissance><cpf:codePostalNaissance><cpf:codePostal xsi:nil="true"/>'
        "</cpf:codePostalNaissance></cpf:codeCommuneNaissance>")), True),
    ("both INSEE and postal code", H(codeCommuneNaissance=Raw(
        "<cpf:codeCommuneNaissance><cpf:codeInseeNaissance><cpf:codeInsee>31555</cpf:codeInsee>"
        "</cpf:codeInseeNaissance><cpf:codePostalNaissance><cpf:codePostal>31000</cpf:codePostal>"
        "</cpf:codePostalNaissance></cpf:codeCommuneNaissance>")), False),
    ("empty codeCommuneNaissance", H(codeCommuneNaissance=Raw(
        "<cpf:codeCommuneNaissance/>")), False),
    ("codeInsee without wrapper", H(codeCommuneNaissance=Raw(
        "<cpf:codeCommuneNaissance><cpf:codeInsee>31555</cpf:codeInsee>"
        "</cpf:codeCommuneNaissance>")), False),
    ("codeInsee 4 chars", H(codeCommuneNaissance=Raw(
        "<cpf:codeCommuneNaissance><cpf:codeInseeNaissance><cpf:codeInsee>3155</cpf:codeInsee>"
        "</cpf:codeInseeNaissance></cpf:codeCommuneNaissance>")), False),
    ("codeInsee 2A004", H(codeCommuneNaissance=Raw(
        "<cpf:codeCommuneNaissance><cpf:codeInseeNaissance><cpf:codeInsee>2A004</cpf:codeInsee>"
        "</cpf:codeInseeNaissance></cpf:codeCommuneNaissance>")), True),
    # whitespace
    ("sexe padded", H(sexe=" M "), False),
    ("idClient wrapped in newlines", document(emitter="\nCERT0001\n"), False),
    ("year padded (int collapses)", H(anneeNaissance=" 1996 "), True),
    ("date padded (date collapses)", P(dateDebutValidite="\n 2024-07-01 \n"), True),
    ("boolean padded", P(donneeCertifiee=" true "), True),
    ("enumeration padded", P(obtentionCertification=" PAR_ADMISSION"), False),
    ("string with inner spaces kept", P(verbatim="  spaced  "), True),
    # dates
    ("date 2020-02-29", P(dateDebutValidite="2020-02-29"), True),
    ("date 2021-02-29", P(dateDebutValidite="2021-02-29"), False),
    ("date 2020-02-30", P(dateDebutValidite="2020-02-30"), False),
    ("date 1899", P(dateDebutValidite="1899-12-31"), False),
    ("date 2100", P(dateDebutValidite="2100-01-01"), False),
    ("date 1900-01-01", P(dateDebutValidite="1900-01-01"), True),
    ("date 2099-12-31", P(dateDebutValidite="2099-12-31"), True),
    ("date without leading zeros", P(dateDebutValidite="2020-1-5"), False),
    ("date with Z", P(dateDebutValidite="2020-12-12Z"), False),
    ("date with offset", P(dateDebutValidite="2020-12-12+01:00"), False),
    ("date in French order", P(dateDebutValidite="12/12/2020"), False),
    ("empty optional date", P(dateInscription=Raw("<cpf:dateInscription/>")), False),
    # horodatage
    ("horodatage +00:00", document(horodatage="2020-12-18T14:24:12+00:00"), True),
    ("horodatage negative offset", document(horodatage="2020-12-18T14:24:12-05:00"), True),
    ("horodatage Z", document(horodatage="2020-12-18T14:24:12Z"), False),
    ("horodatage without offset", document(horodatage="2020-12-18T14:24:12"), False),
    ("horodatage with fraction", document(horodatage="2020-12-18T14:24:12.123+01:00"), False),
    ("horodatage without seconds", document(horodatage="2020-12-18T14:24+01:00"), False),
    ("horodatage date only", document(horodatage="2020-12-18"), False),
    ("horodatage impossible hour", document(horodatage="2020-12-18T25:24:12+01:00"), False),
    ("horodatage padded", document(horodatage=" 2020-12-18T14:24:12+01:00 "), True),
    # booleans
    ("boolean 1", P(donneeCertifiee="1"), True),
    ("boolean 0", P(donneeCertifiee="0"), True),
    ("boolean false", P(donneeCertifiee="false"), True),
    ("boolean TRUE", P(donneeCertifiee="TRUE"), False),
    ("boolean yes", P(donneeCertifiee="yes"), False),
    # string lengths (characters, not bytes)
    ("idFlux 50", document(id_flux=text(50)), True),
    ("idFlux 51", document(id_flux=text(51)), False),
    ("idFlux empty", document(id_flux=""), False),
    ("idClient 7", document(emitter="CERT001", certifier="CERT001"), False),
    ("idClient 9", document(emitter="CERT00001"), False),
    ("idContrat 20", document(contract=text(20)), True),
    ("idContrat 21", document(contract=text(21)), False),
    ("type 255", document(certifications=[certification([passage()], type_=text(255))]), True),
    ("type 256", document(certifications=[certification([passage()], type_=text(256))]), False),
    ("code 100", document(certifications=[certification([passage()], code=text(100))]), True),
    ("code 101", document(certifications=[certification([passage()], code=text(101))]), False),
    ("idTechnique 255", P(idTechnique=text(255)), True),
    ("idTechnique 256", P(idTechnique=text(256)), False),
    ("idTechnique empty", P(idTechnique=""), False),
    ("urlPreuve 256", P(urlPreuve=text(256)), False),
    ("libelleOption 255 accented", P(libelleOption=text(255, "é")), True),
    ("codePostalCentreExamen 9", P(codePostalCentreExamen=text(9, "7")), True),
    ("codePostalCentreExamen 10", P(codePostalCentreExamen=text(10, "7")), False),
    ("scoring 256", P(scoring=text(256)), False),
    ("verbatim 255", P(verbatim=text(255)), True),
    ("nomNaissance 60 accented", H(nomNaissance=text(60, "é")), True),
    ("nomNaissance 61", H(nomNaissance=text(61)), False),
    ("prenom3 61", H(prenom3=text(61)), False),
    ("libelleCommuneNaissance 60", H(libelleCommuneNaissance=text(60)), True),
    ("codePaysNaissance 2", H(codePaysNaissance="13"), False),
    ("codePaysNaissance 4", H(codePaysNaissance="1340"), False),
    ("libellePaysNaissance 61", H(libellePaysNaissance=text(61)), False),
    ("commentairesMEN 250", H(commentairesMEN=text(250)), True),
    ("commentairesMEN 251", H(commentairesMEN=text(251)), False),
    # numbers
    ("year 1899", H(anneeNaissance="1899"), False),
    ("year 2100", H(anneeNaissance="2100"), False),
    ("year 1900", H(anneeNaissance="1900"), True),
    ("month 0", H(moisNaissance="0"), False),
    ("month 13", H(moisNaissance="13"), False),
    ("month 01", H(moisNaissance="01"), True),
    ("day 31", H(jourNaissance="31"), True),
    ("day 32", H(jourNaissance="32"), False),
    ("day 30 in February is XSD-valid", H(moisNaissance="2", jourNaissance="30"), True),
    ("year decimal", H(anneeNaissance="1996.0"), False),
    ("year with plus sign", H(anneeNaissance="+1996"), True),
    # DigComp block
    ("digcomp full", P(presenceNiveauNumeriqueEuro="true", niveauNumeriqueEuropeen=Raw(
        "<cpf:niveauNumeriqueEuropeen><cpf:scoreGeneral>890</cpf:scoreGeneral><cpf:resultats>"
        "<cpf:resultat><cpf:niveau>5</cpf:niveau><cpf:domaineCompetenceId>3"
        "</cpf:domaineCompetenceId><cpf:competenceId>4</cpf:competenceId></cpf:resultat>"
        "</cpf:resultats></cpf:niveauNumeriqueEuropeen>")), True),
    ("digcomp empty resultats", P(niveauNumeriqueEuropeen=Raw(
        "<cpf:niveauNumeriqueEuropeen><cpf:resultats/></cpf:niveauNumeriqueEuropeen>")), True),
    ("digcomp empty resultat", P(niveauNumeriqueEuropeen=Raw(
        "<cpf:niveauNumeriqueEuropeen><cpf:resultats><cpf:resultat/></cpf:resultats>"
        "</cpf:niveauNumeriqueEuropeen>")), True),
    ("digcomp empty block", P(niveauNumeriqueEuropeen=Raw("<cpf:niveauNumeriqueEuropeen/>")), True),
    ("scoreGeneral 0", P(niveauNumeriqueEuropeen=Raw(
        "<cpf:niveauNumeriqueEuropeen><cpf:scoreGeneral>0</cpf:scoreGeneral>"
        "</cpf:niveauNumeriqueEuropeen>")), False),
    ("scoreGeneral 1001", P(niveauNumeriqueEuropeen=Raw(
        "<cpf:niveauNumeriqueEuropeen><cpf:scoreGeneral>1001</cpf:scoreGeneral>"
        "</cpf:niveauNumeriqueEuropeen>")), False),
    ("niveau 9", P(niveauNumeriqueEuropeen=Raw(
        "<cpf:niveauNumeriqueEuropeen><cpf:resultats><cpf:resultat><cpf:niveau>9</cpf:niveau>"
        "</cpf:resultat></cpf:resultats></cpf:niveauNumeriqueEuropeen>")), False),
    ("domaineCompetenceId 2 chars", P(niveauNumeriqueEuropeen=Raw(
        "<cpf:niveauNumeriqueEuropeen><cpf:resultats><cpf:resultat><cpf:domaineCompetenceId>12"
        "</cpf:domaineCompetenceId></cpf:resultat></cpf:resultats></cpf:niveauNumeriqueEuropeen>")),
     False),
    ("resultat directly in block", P(niveauNumeriqueEuropeen=Raw(
        "<cpf:niveauNumeriqueEuropeen><cpf:resultat/></cpf:niveauNumeriqueEuropeen>")), False),
    # enumerations
    *[(f"obtention {v}", P(obtentionCertification=v), ok) for v, ok in (
        ("PAR_ADMISSION", True), ("PAR_SCORING", True), ("par_admission", False), ("", False))],
    *[(f"modalite {v}", P(modalitePassageExamen=v), ok) for v, ok in (
        ("A_DISTANCE", True), ("EN_PRESENTIEL", True), ("MIXTE", True), ("DISTANCE", False))],
    *[(f"CECRL {v}", P(presenceNiveauLangueEuro="true", niveauLangueEuropeen=v), ok) for v, ok in (
        ("A1", True), ("A2", True), ("B1", True), ("B2", True), ("C1", True), ("C2", True),
        ("INSUFFISANT", True), ("a1", False), ("C3", False))],
    *[(f"mention {v}", P(mentionValidee=v), ok) for v, ok in (
        ("SANS_MENTION", True), ("MENTION_ASSEZ_BIEN", True), ("MENTION_BIEN", True),
        ("MENTION_TRES_BIEN", True), ("MENTION_TRES_BIEN_AVEC_FELICITATIONS_DU_JURY", True),
        ("MENTION_PASSABLE", False))],
    *[(f"access {v}", P(modalitesInscription={"modaliteAcces": v}), ok) for v, ok in (
        ("FORMATION_INITIALE_HORS_APPRENTISSAGE", True), ("FORMATION_INITIALE_APPRENTISSAGE", True),
        ("FORMATION_CONTINUE_HORS_CONTRAT_DE_PROFESSIONNALISATION", True),
        ("FORMATION_CONTINUE_CONTRAT_DE_PROFESSIONNALISATION", True), ("VAE", True),
        ("EQUIVALENCE_DIPLOME_ETRANGER", True), ("CANDIDAT_LIBRE", True),
        ("EQUIVALENCE_(DIPLOME_ETRANGER)", False), ("APPRENTISSAGE", False))],
    *[(f"voieAccessVAE {v}", P(modalitesInscription={"modaliteAcces": "VAE", "voieAccessVAE": v}), ok)
      for v, ok in (("CONGES_VAE", True), ("VAE_CLASSIQUE", True), ("CONGE_VAE", False))],
    ("voieAccesVAE single s", P(modalitesInscription={"modaliteAcces": "VAE",
                                                      "voieAccesVAE": "CONGES_VAE"}), False),
    *[(f"initiative {v}", P(modalitesInscription={"modaliteAcces": "VAE",
                                                  "initiativeInscription": v}), ok)
      for v, ok in (("CERTIFIE", True), ("OF", True), ("POLE_EMPLOI", True), ("EMPLOYEUR", True),
                    ("AUTRE", True), ("FRANCE_TRAVAIL", False))],
    *[(f"sexe {v}", H(sexe=v), ok) for v, ok in (("M", True), ("F", True), ("m", False),
                                                   ("X", False), ("", False))],
    # nillable rules
    ("dateFinValidite nil", P(dateFinValidite=NIL), True),
    ("dateFinValidite absent", P(dateFinValidite=OMIT), False),
    ("dateFinValidite empty without nil", P(dateFinValidite=Raw("<cpf:dateFinValidite/>")), False),
    ("nil with content", P(dateFinValidite=Raw(
        '<cpf:dateFinValidite xsi:nil="true">2030-01-01</cpf:dateFinValidite>')), False),
    ("nil false with content", P(dateFinValidite=Raw(
        '<cpf:dateFinValidite xsi:nil="false">2030-01-01</cpf:dateFinValidite>')), True),
    ("nil on a non-nillable element", P(dateDebutValidite=NIL), False),
    ("nil false on a non-nillable element", P(verbatim=Raw(
        '<cpf:verbatim xsi:nil="false">x</cpf:verbatim>')), False),
    ("scoring nil", P(scoring=NIL), True),
    ("scoring absent", P(scoring=OMIT), False),
    ("scoring text nil (valid, rule 7 warns)", P(scoring="nil"), True),
    ("mentionValidee nil", P(mentionValidee=NIL), True),
    ("mentionValidee empty", P(mentionValidee=Raw("<cpf:mentionValidee/>")), False),
    ("modaliteAcces nil", P(modalitesInscription={"modaliteAcces": NIL}), True),
    ("modaliteAcces absent", P(modalitesInscription={"initiativeInscription": "OF"}), False),
    ("nomUsage nil", H(nomUsage=NIL), True),
    ("nomUsage absent", H(nomUsage=OMIT), False),
    ("moisNaissance nil", H(moisNaissance=NIL), True),
    ("jourNaissance nil", H(jourNaissance=NIL), True),
    ("jourNaissance absent", H(jourNaissance=OMIT), False),
    ("nil as 1", P(dateFinValidite=Raw('<cpf:dateFinValidite xsi:nil="1"/>')), True),
    # optional elements may go
    *[(f"optional {name} absent", P(**{name: OMIT}), True) for name in (
        "dateDebutExamen", "dateFinExamen")],
    ("optional prenom2 absent", H(prenom2=OMIT), True),
    # required elements may not
    *[(f"required {name} absent", P(**{name: OMIT}), False) for name in (
        "idTechnique", "obtentionCertification", "donneeCertifiee", "dateDebutValidite",
        "presenceNiveauLangueEuro", "presenceNiveauNumeriqueEuro", "modalitesInscription")],
    *[(f"required holder {name} absent", H(**{name: OMIT}), False) for name in (
        "nomNaissance", "prenom1", "anneeNaissance", "sexe", "codeCommuneNaissance")],
    ("required idContrat absent", document(contract="X").replace(
        b"<cpf:idContrat>X</cpf:idContrat>", b""), False),
    ("required horodatage absent", document().replace(
        b"<cpf:horodatage>2026-11-02T09:30:00+01:00</cpf:horodatage>", b""), False),
    ("required idFlux absent", document().replace(b"<cpf:idFlux>flux-test-1</cpf:idFlux>", b""),
     False),
]

@pytest.mark.parametrize("version", ["1.1.2", "1.1.5"])
@pytest.mark.parametrize(("name", "doc", "expected"), CASES, ids=[c[0] for c in CASES])
def test_verdict(name: str, doc: bytes, expected: bool, version: str) -> None:
    assert tree_verdict(doc, version) is expected
    assert stream_verdict(doc, version) is expected


EXTENSIONS = [
    ("action CREATION", document(action="CREATION"), True),
    ("action SUPPRESSION", document(action="SUPPRESSION"), True),
    ("action unknown", document(action="DELETE"), False),
    ("action after the body (xsd:all)", document(header_last=True, action="CREATION"), True),
    ("identifiantNational", P(identificationTitulaire=national("1961131555001", "Dupont")), True),
    ("identifiantNational Corsica", P(identificationTitulaire=national("285032A004001", "Paoli")),
     True),
    ("identifiantNational with key", P(identificationTitulaire=national("196113155500150",
                                                                        "Dupont")), False),
    ("identifiantNational sex 3", P(identificationTitulaire=national("3961131555001", "Dupont")),
     False),
]


@pytest.mark.parametrize(("name", "doc", "valid_115"), EXTENSIONS, ids=[c[0] for c in EXTENSIONS])
def test_115_additions_are_refused_by_112(name: str, doc: bytes, valid_115: bool) -> None:
    assert tree_verdict(doc, "1.1.5") is valid_115
    assert stream_verdict(doc, "1.1.5") is valid_115
    assert tree_verdict(doc, "1.1.2") is False
    assert stream_verdict(doc, "1.1.2") is False


def test_112_schema_has_no_extension_left() -> None:
    from ingestion.schema import xsd_source

    tree = xsd_source("1.1.2")
    names = {el.get("name") for el in tree.iter()}
    assert "action" not in names
    assert "identifiantNational" not in names
    assert not tree.xpath("//*[@ext:since]", namespaces={"ext": "urn:passport:schema-extensions"})


# The repeating containers: ours repeat the element, the official kit repeats a one-element
# choice (flux.xsd says why).  Both forms must give the same verdict, at the same places.
_XSD = "http://www.w3.org/2001/XMLSchema"
_DIGCOMP = ("<cpf:niveauNumeriqueEuropeen><cpf:scoreGeneral>890</cpf:scoreGeneral>"
            "<cpf:resultats>{}</cpf:resultats></cpf:niveauNumeriqueEuropeen>")
_RESULT = ("<cpf:resultat><cpf:niveau>3</cpf:niveau><cpf:domaineCompetenceId>1"
           "</cpf:domaineCompetenceId><cpf:competenceId>{}</cpf:competenceId></cpf:resultat>")


def _official_form(version: str) -> etree.XMLSchema:
    from ingestion.schema import xsd_source

    tree = xsd_source(version)
    for name in ("Certifications", "PassageCertifications", "Resultats"):
        [element] = tree.xpath(f"//x:complexType[@name='{name}']/x:sequence/x:element",
                               namespaces={"x": _XSD})
        choice = etree.Element(f"{{{_XSD}}}choice", maxOccurs="unbounded")
        if element.attrib.pop("minOccurs", None) is not None:
            choice.set("minOccurs", "0")
        del element.attrib["maxOccurs"]
        element.addprevious(choice)
        choice.append(element)
    return etree.XMLSchema(tree)


def _among_passages(between: str) -> bytes:
    return document([passage("A"), between + passage("B"), passage("C")])


def _results(*pieces: str) -> bytes:
    return P(presenceNiveauNumeriqueEuro="true",
             niveauNumeriqueEuropeen=Raw(_DIGCOMP.format("".join(pieces))))


CONTAINER_CASES: list[tuple[str, bytes]] = [
    ("three passages", _among_passages("")),
    ("comment and blanks between passages", _among_passages("\n  <!-- b -->\n  ")),
    ("text between passages", _among_passages("x")),
    ("unknown element between passages", _among_passages("<cpf:autre/>")),
    ("known element between passages", _among_passages("<cpf:idTechnique>Z</cpf:idTechnique>")),
    ("passage of another namespace", _among_passages('<passageCertification xmlns="urn:x"/>')),
    ("certification among passages", _among_passages(certification([passage("D")]))),
    ("unknown element before the passages", document(["<cpf:autre/>" + passage("A")])),
    ("unknown element after the passages", document([passage("A") + "<cpf:autre/>"])),
    ("no passage", document(certifications=[certification([])])),
    ("nil passage list", document(certifications=[certification([])]).replace(
        b"<cpf:passageCertifications>", b'<cpf:passageCertifications xsi:nil="true">')),
    ("two certifications", document(certifications=[
        certification([passage("A")]), certification([passage("B")], code="RS5875", type_="RS")])),
    ("unknown element between certifications", document(certifications=[
        certification([passage("A")]), "<cpf:autre/>" + certification([passage("B")])])),
    ("passage among certifications", document(certifications=[
        certification([passage("A")]), passage("B")])),
    ("no certification", document(certifications=[])),
    ("no result", _results()),
    ("three results", _results(*(_RESULT.format(i) for i in (1, 2, 3)))),
    ("empty results", _results("<cpf:resultat/>", "<cpf:resultat/>")),
    ("unknown element among results", _results(_RESULT.format(1), "<cpf:autre/>")),
    ("text among results", _results(_RESULT.format(1), "x", _RESULT.format(2))),
]


@pytest.mark.parametrize("version", ["1.1.2", "1.1.5"])
@pytest.mark.parametrize(("name", "doc"), CONTAINER_CASES, ids=[c[0] for c in CONTAINER_CASES])
def test_repeating_containers_give_the_official_forms_verdict(
    name: str, doc: bytes, version: str
) -> None:
    official, ours = _official_form(version), compiled(version)
    tree = etree.fromstring(doc, etree.XMLParser(resolve_entities=False, no_network=True))
    verdict = official.validate(tree)
    assert ours.validate(tree) is verdict
    assert [(e.line, e.column) for e in ours.error_log] == [
        (e.line, e.column) for e in official.error_log]
    assert stream_verdict(doc, version) is verdict


def test_a_stray_child_of_a_container_is_told_what_was_expected() -> None:
    schema = compiled("1.1.5")
    assert not schema.validate(etree.fromstring(_among_passages("<cpf:autre/>")))
    [error] = schema.error_log
    assert "autre': This element is not expected. Expected is ( " in error.message
    assert "passageCertification )" in error.message
