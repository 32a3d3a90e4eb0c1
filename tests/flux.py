"""Build flux documents for tests, field by field.

`passage(**changes)` returns the XML of one ``passageCertification``: every keyword replaces
the element of that name (a string is its text, ``NIL`` makes it ``xsi:nil``, ``OMIT``
removes it, `Raw` is inserted as is).  `document(...)` wraps passages into a whole flux.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from xml.sax.saxutils import escape

NS = "urn:cdc:cpf:pc5:schema:1.0.0"
XSI = "http://www.w3.org/2001/XMLSchema-instance"


class _Marker:
    def __init__(self, name: str) -> None:
        self.name = name

    def __repr__(self) -> str:
        return self.name


NIL = _Marker("NIL")
OMIT = _Marker("OMIT")


@dataclass(frozen=True)
class Raw:
    """XML inserted verbatim in place of an element."""

    xml: str


# A person of the demo directory used by the integration tests (see `person_row`).
HOLDER = {
    "nomNaissance": "Dupont",
    "nomUsage": NIL,
    "prenom1": "Antoine",
    "anneeNaissance": "1996",
    "moisNaissance": "11",
    "jourNaissance": "15",
    "sexe": "M",
    "codeCommuneNaissance": Raw(
        "<cpf:codeCommuneNaissance><cpf:codeInseeNaissance><cpf:codeInsee>31555</cpf:codeInsee>"
        "</cpf:codeInseeNaissance></cpf:codeCommuneNaissance>"
    ),
}


def _element(name: str, value: Any) -> str:
    if value is OMIT:
        return ""
    if value is NIL:
        return f'<cpf:{name} xsi:nil="true"/>'
    if isinstance(value, Raw):
        return value.xml
    if isinstance(value, dict):
        return f"<cpf:{name}>" + "".join(_element(k, v) for k, v in value.items()) + f"</cpf:{name}>"
    return f"<cpf:{name}>{escape(str(value))}</cpf:{name}>"


def titulaire(**changes: Any) -> Raw:
    """An ``identificationTitulaire`` with a ``titulaire`` block."""
    fields = {**HOLDER, **changes}
    return Raw(
        "<cpf:identificationTitulaire>" + _element("titulaire", fields)
        + "</cpf:identificationTitulaire>"
    )


def dossier(id_dossier: str, nom: str, prenom: str) -> Raw:
    """An ``identificationTitulaire`` naming a CPF training file."""
    return Raw(
        "<cpf:identificationTitulaire>"
        + _element("dossierFormation",
                   {"idDossier": id_dossier, "nomTitulaire": nom, "prenom1Titulaire": prenom})
        + "</cpf:identificationTitulaire>"
    )


def national(nir13: str, nom: str) -> Raw:
    """A 1.1.5 ``identifiantNational`` identification."""
    return Raw(
        "<cpf:identificationTitulaire>"
        + _element("identifiantNational", {"nir": nir13, "nomNaissance": nom})
        + "</cpf:identificationTitulaire>"
    )


def passage(id_technique: str = "P-1", **changes: Any) -> str:
    """A valid passage (rules included) unless ``changes`` say otherwise."""
    fields: dict[str, Any] = {
        "idTechnique": id_technique,
        "obtentionCertification": "PAR_ADMISSION",
        "donneeCertifiee": "true",
        "dateDebutExamen": "2024-06-10",
        "dateFinExamen": "2024-06-12",
        "dateDebutValidite": "2024-07-01",
        "dateFinValidite": NIL,
        "presenceNiveauLangueEuro": "false",
        "presenceNiveauNumeriqueEuro": "false",
        "scoring": NIL,
        "mentionValidee": "MENTION_BIEN",
        "modalitesInscription": {"modaliteAcces": "FORMATION_CONTINUE_HORS_CONTRAT_DE_PROFESSIONNALISATION"},
        "identificationTitulaire": titulaire(),
    }
    for key, value in changes.items():
        fields[key] = value
    return "<cpf:passageCertification>" + "".join(
        _element(k, v) for k, v in fields.items()
    ) + "</cpf:passageCertification>"


def certification(passages: list[str], *, type_: str = "RNCP", code: str = "RNCP34762",
                  nature: str | None = "CERTIFICATEUR", before: str = "") -> str:
    """A ``certification`` block; ``before`` is raw XML placed before its passages."""
    nature_xml = f"<cpf:natureDeposant>{nature}</cpf:natureDeposant>" if nature else ""
    return (
        f"<cpf:certification><cpf:type>{type_}</cpf:type><cpf:code>{code}</cpf:code>"
        f"{nature_xml}{before}<cpf:passageCertifications>{''.join(passages)}"
        "</cpf:passageCertifications></cpf:certification>"
    )


def document(
    passages: list[str] | None = None,
    *,
    certifications: list[str] | None = None,
    id_flux: str = "flux-test-1",
    horodatage: str = "2026-11-02T09:30:00+01:00",
    emitter: str = "CERT0001",
    certifier: str = "CERT0001",
    contract: str = "CTR-0001",
    action: str | None = None,
    header_last: bool = False,
    extra_header: str = "",
) -> bytes:
    """A whole flux document, UTF-8 encoded."""
    certs = certifications if certifications is not None else [certification(passages or [passage()])]
    action_xml = f"<cpf:action>{action}</cpf:action>" if action else ""
    body = (
        f"<cpf:certificateurs><cpf:certificateur><cpf:idClient>{certifier}</cpf:idClient>"
        f"<cpf:idContrat>{contract}</cpf:idContrat><cpf:certifications>{''.join(certs)}"
        "</cpf:certifications></cpf:certificateur></cpf:certificateurs>"
    )
    emetteur = f"<cpf:emetteur><cpf:idClient>{emitter}</cpf:idClient>{body}</cpf:emetteur>"
    header = (
        f"<cpf:idFlux>{id_flux}</cpf:idFlux><cpf:horodatage>{horodatage}</cpf:horodatage>"
        f"{action_xml}{extra_header}"
    )
    if header_last:
        # xsd:all allows it: the emitter id after its certifiers, the header after everything.
        emetteur = f"<cpf:emetteur>{body}<cpf:idClient>{emitter}</cpf:idClient></cpf:emetteur>"
        inner = emetteur + header
    else:
        inner = header + emetteur
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        f'<cpf:flux xmlns:cpf="{NS}" xmlns:xsi="{XSI}">{inner}</cpf:flux>\n'
    ).encode()


#: A directory row (identity CSV) for the person of `HOLDER`; NIR with a valid key.
PERSON_NIR = "196113155500150"


def person_row(**changes: str) -> dict[str, str]:
    """One identity CSV row."""
    row = {
        "nir": PERSON_NIR,
        "nom_naissance": "Dupont",
        "nom_usage": "",
        "prenom1": "Antoine",
        "prenom2": "Julien",
        "prenom3": "",
        "annee_naissance": "1996",
        "mois_naissance": "11",
        "jour_naissance": "15",
        "sexe": "M",
        "code_insee_naissance": "31555",
        "code_pays_naissance": "",
    }
    row.update(changes)
    return row
