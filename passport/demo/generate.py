"""Synthetic, realistic demo data: identity directory, CPF training files and flux files.

Everything is derived from a seed, so a data set can be regenerated exactly.  A share of
passages fails on purpose (unknown holder, homonyms without birth day, business rules), and
``manifest.json`` records what each file should give, so tests and benchmarks can check the
pipeline against the generator's own expectations.
"""

from __future__ import annotations

import csv
import datetime as dt
import json
import random
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO
from xml.sax.saxutils import escape

from stdnum.fr import nir as stdnum_nir

from ingestion.normalize import normalise

FAMILY_NAMES = [
    "Martin", "Bernard", "Thomas", "Petit", "Robert", "Richard", "Durand", "Dubois", "Moreau",
    "Laurent", "Simon", "Michel", "Lefèvre", "Leroy", "Roux", "David", "Bertrand", "Morel",
    "Fournier", "Girard", "Bonnet", "Dupont", "Lambert", "Fontaine", "Rousseau", "Vincent",
    "Muller", "Lefebvre", "Faure", "André", "Mercier", "Blanc", "Guérin", "Boyer", "Garnier",
    "Chevalier", "François", "Legrand", "Gauthier", "Garcia", "Perrin", "Robin", "Clément",
    "Morin", "Nicolas", "Henry", "Roussel", "Mathieu", "Gautier", "Masson", "Marchand", "Duval",
    "Denis", "Dumont", "Marie", "Lemaire", "Noël", "Meyer", "Dufour", "Meunier", "Brun",
    "Blanchard", "Giraud", "Joly", "Rivière", "Lucas", "Brunet", "Gaillard", "Barbier", "Arnaud",
    "Martinez", "Gérard", "Roche", "Renard", "Schmitt", "Roy", "Leroux", "Colin", "Vidal",
    "Caron", "Picard", "Roger", "Fabre", "Aubert", "Lemoine", "Renaud", "Dumas", "Lacroix",
    "Olivier", "Philippe", "Bourgeois", "Pierre", "Benoît", "Rey", "Leclerc", "Payet", "Rolland",
    "Le Gall", "N'Diaye", "Dupont-Moreau", "Saint-Martin", "D'Angelo", "Nguyen", "Benali",
    "Haddad", "Da Silva", "Ferreira", "Kowalski", "Le Goff", "Lopez", "Sanchez", "Diallo",
    "Traoré", "Ben Ahmed", "Rossi", "Santoni", "Casanova", "Paoli", "Grimaldi", "Ollivier",
]
GIVEN_NAMES = {
    "M": [
        "Antoine", "Julien", "Philippe", "Nicolas", "Thomas", "Lucas", "Hugo", "Louis", "Gabriel",
        "Arthur", "Jules", "Léo", "Raphaël", "Maël", "Noé", "Adam", "Sacha", "Mohamed", "Karim",
        "Jean-Luc", "Jean-Pierre", "François", "Stéphane", "Cédric", "Jérôme", "Mathéo", "Yanis",
        "Rémi", "Benoît", "Loïc", "Hervé", "Grégoire", "Théo", "Nathan", "Enzo", "Ibrahim",
    ],
    "F": [
        "Élise", "Camille", "Léa", "Manon", "Chloé", "Inès", "Jade", "Louise", "Emma", "Alice",
        "Zoé", "Anaïs", "Clémence", "Océane", "Maëlle", "Héloïse", "Aïcha", "Fatou", "Sophie",
        "Marie-Claire", "Anne-Sophie", "Céline", "Hélène", "Noémie", "Juliette", "Margaux",
        "Agathe", "Salomé", "Yasmine", "Amélie", "Bérénice", "Gaëlle", "Lina", "Nour", "Sarah",
    ],
}
#: (INSEE code, commune, postal code) — Corsica uses 2A/2B; overseas departments included.
PLACES = [
    ("31555", "Toulouse", "31000"), ("69123", "Lyon", "69001"), ("13055", "Marseille", "13001"),
    ("75115", "Paris 15e Arrondissement", "75015"), ("75118", "Paris 18e Arrondissement", "75018"),
    ("33063", "Bordeaux", "33000"), ("59350", "Lille", "59000"), ("44109", "Nantes", "44000"),
    ("67482", "Strasbourg", "67000"), ("35238", "Rennes", "35000"), ("34172", "Montpellier", "34000"),
    ("06088", "Nice", "06000"), ("21231", "Dijon", "21000"), ("29019", "Brest", "29200"),
    ("2A004", "Ajaccio", "20000"), ("2B033", "Bastia", "20200"), ("97411", "Saint-Denis", "97400"),
    ("97209", "Fort-de-France", "97200"), ("63113", "Clermont-Ferrand", "63000"),
]
#: (INSEE country code, country) for people born abroad.
COUNTRIES = [
    ("99350", "Maroc"), ("99352", "Algérie"), ("99351", "Tunisie"), ("99134", "Espagne"),
    ("99139", "Portugal"), ("99127", "Italie"), ("99109", "Allemagne"), ("99341", "Sénégal"),
]
#: Demo certification bodies: (BCR, contract, name, SIRET). The first four are the
#: certifiers the sample referential's sheets list (with their SIRET there), so that what
#: they file is theirs on France compétences; the first has the official example's BCR
#: and contract. The last is made up: it files a digital and a language result for the
#: showcase, under codes the sample referential leaves out.
CERTIFIERS = [
    ("E564ACB0", "2560080000127J", "Ministère de l'Éducation nationale et de la Jeunesse",
     "11004301500012"),
    ("CERT0001", "CTR-0001", "Grenoble École de Management", "81738914100018"),
    ("CERT0002", "CTR-0002", "Simplon.co", "79279132900016"),
    ("CERT0003", "CTR-0003", "ADXF2", "93905426800023"),
    ("CERT0004", "CTR-0004", "Centre d'Évaluation Numérique et Langues", "88123456700011"),
]
#: What each certifier certifies: its sheets in the sample referential.
CERTIFIED: dict[str, list[tuple[str, str]]] = {
    "E564ACB0": [("RNCP", "RNCP37488")],
    "CERT0001": [("RNCP", "RNCP34762"), ("RNCP", "RNCP39568")],
    "CERT0002": [("RS", "RS5000"), ("RS", "RS6604")],
    "CERT0003": [("RS", "RS6232"), ("RS", "RS7485")],
    "CERT0004": [("RS", "RS5875"), ("RS", "RS6343")],
}
#: The certifiers of the generated files, and the certifications of the training files.
BULK_CERTIFIERS = CERTIFIERS[:4]
CERTIFICATIONS = [c for bcr, *_ in BULK_CERTIFIERS for c in CERTIFIED[bcr]]
#: A mandated third party ("tiers de confiance") filing for the first certifier.
DEPOSITOR = "AB123CDE"
TRAINING_ORGS = ["81234567800019", "44306184100047", "52012345600033", "33987654300012"]
ACCESS_ROUTES = [
    "FORMATION_INITIALE_HORS_APPRENTISSAGE",
    "FORMATION_INITIALE_APPRENTISSAGE",
    "FORMATION_CONTINUE_HORS_CONTRAT_DE_PROFESSIONNALISATION",
    "FORMATION_CONTINUE_CONTRAT_DE_PROFESSIONNALISATION",
    "VAE",
    "CANDIDAT_LIBRE",
]
MENTIONS = [
    "SANS_MENTION", "MENTION_ASSEZ_BIEN", "MENTION_BIEN", "MENTION_TRES_BIEN",
    "MENTION_TRES_BIEN_AVEC_FELICITATIONS_DU_JURY",
]
DIGCOMP = {1: 3, 2: 6, 3: 4, 4: 4, 5: 4}
#: The first people have curated passports (the demo logins), and no bulk passage.
SHOWCASE_PEOPLE = 3


def nir_key(nir13: str) -> str:
    """The 2-digit key of a 13-character NIR (2A/2B handled by python-stdnum)."""
    return str(stdnum_nir.calc_check_digits(nir13))


@dataclass
class Person:
    """A person of the synthetic identity directory."""

    nir: str
    nom_naissance: str
    nom_usage: str | None
    prenoms: list[str]
    sexe: str
    year: int
    month: int | None
    day: int | None
    code_insee: str
    commune: str | None
    postal: str | None
    country_code: str | None  # 3 digits when born abroad
    country: str | None
    training_files: list[dict[str, Any]] = field(default_factory=list)


@dataclass
class Outcome:
    """What the generator expects for one passage."""

    ok: bool
    reason: str | None = None
    warning: str | None = None


class Generator:
    """Builds a coherent data set from a seed."""

    def __init__(self, seed: int = 20210701) -> None:
        self.rng = random.Random(seed)
        self.people: list[Person] = []
        self._orders: dict[str, int] = {}
        self._dossier_seq = 10_000_000_000
        self._identities: set[tuple[Any, ...]] = set()
        #: Homonym groups: people sharing name, first name, year, sex and place.
        self.homonyms: list[tuple[Person, Person]] = []

    # -- identities ------------------------------------------------------------------
    def _nir(self, sexe: str, year: int, month: int | None, place: str) -> str:
        prefix = f"{1 if sexe == 'M' else 2}{year % 100:02d}{(month or 99):02d}{place}"
        order = self._orders.get(prefix, 0) + 1
        self._orders[prefix] = order
        nir13 = f"{prefix}{order:03d}"
        return nir13 + nir_key(nir13)

    def person(self, **overrides: Any) -> Person:
        """A new person; fields may be forced (used for homonyms and tests).

        Two people never share every matching criterion (names, birth date, sex, place),
        so the generator knows exactly which passages NIRisation must resolve.
        """
        while True:
            candidate = self._candidate(overrides)
            key = (
                normalise(candidate.nom_naissance), normalise(candidate.prenoms[0]),
                candidate.year, candidate.month, candidate.day, candidate.sexe,
                candidate.code_insee,
            )
            if key not in self._identities:
                break
        self._identities.add(key)
        candidate.nir = self._nir(candidate.sexe, candidate.year, candidate.month,
                                  candidate.code_insee)
        self.people.append(candidate)
        return candidate

    def _candidate(self, overrides: dict[str, Any]) -> Person:
        rng = self.rng
        sexe = overrides.get("sexe") or rng.choice("MF")
        year = overrides.get("year") or rng.randint(1960, 2004)
        month = overrides.get("month", rng.randint(1, 12))
        day = overrides.get("day", rng.randint(1, 28))
        abroad = overrides.get("abroad", rng.random() < 0.12)
        if abroad:
            code, country = overrides.get("country") or rng.choice(COUNTRIES)
            commune, postal, country_code = None, None, code[2:]
        else:
            code, commune, postal = overrides.get("place") or rng.choice(PLACES)
            country, country_code = None, None
        nom = overrides.get("nom") or rng.choice(FAMILY_NAMES)
        prenoms = overrides.get("prenoms") or [
            rng.choice(GIVEN_NAMES[sexe]) for _ in range(rng.choice((1, 1, 2, 3)))
        ]
        return Person(
            nir="",
            nom_naissance=nom,
            nom_usage=(rng.choice(FAMILY_NAMES) if sexe == "F" and rng.random() < 0.3 else None),
            prenoms=prenoms,
            sexe=sexe,
            year=year,
            month=month,
            day=day,
            code_insee=code,
            commune=commune,
            postal=postal,
            country_code=country_code,
            country=country,
        )

    def population(self, holders: int) -> None:
        """Create ``holders`` people, about 2% of them in homonym pairs."""
        pairs = max(1, holders // 100) if holders >= 10 else 0
        for _ in range(pairs):
            first = self.person(abroad=False)
            twin = self.person(
                sexe=first.sexe,
                year=first.year,
                month=first.month,
                day=(first.day or 1) % 28 + 1,
                abroad=False,
                place=next(p for p in PLACES if p[0] == first.code_insee),
                nom=first.nom_naissance,
                prenoms=[first.prenoms[0]],
            )
            self.homonyms.append((first, twin))
        while len(self.people) < holders:
            self.person()

    def training_files(self, share: float = 0.35) -> None:
        """Give a share of people one or two CPF training files."""
        rng = self.rng
        for person in self.people:
            if rng.random() >= share:
                continue
            for _ in range(rng.choice((1, 1, 2))):
                self._dossier_seq += rng.randint(1, 97)
                cert_type, cert_code = rng.choice(CERTIFICATIONS)
                start = dt.date(rng.randint(2019, 2024), rng.randint(1, 12), rng.randint(1, 28))
                end = start + dt.timedelta(days=rng.randint(30, 400))
                statut = rng.choices(("TERMINE", "EN_COURS", "ABANDON"), (7, 2, 1))[0]
                person.training_files.append(
                    {
                        "id_dossier": str(self._dossier_seq),
                        "nir": person.nir,
                        "nom": person.nom_naissance,
                        "prenom": person.prenoms[0],
                        "certification_type": cert_type,
                        "certification_code": cert_code,
                        "siret_organisme": rng.choice(TRAINING_ORGS),
                        "date_entree": start.isoformat(),
                        "date_sortie": "" if statut == "EN_COURS" else end.isoformat(),
                        "statut": statut,
                    }
                )

    def write_identities(self, out: TextIO) -> None:
        """Write the identity directory extract (CSV, the import format)."""
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(
            [
                "nir", "nom_naissance", "nom_usage", "prenom1", "prenom2", "prenom3",
                "annee_naissance", "mois_naissance", "jour_naissance", "sexe",
                "code_insee_naissance", "code_pays_naissance",
            ]
        )
        for p in self.people:
            prenoms = [*p.prenoms, "", ""][:3]
            writer.writerow(
                [
                    p.nir, p.nom_naissance, p.nom_usage or "", *prenoms, p.year,
                    p.month or "", p.day or "", p.sexe, p.code_insee, p.country_code or "",
                ]
            )

    def write_training_files(self, out: TextIO) -> None:
        """Write the CPF training files (CSV, the import format)."""
        fields = [
            "id_dossier", "nir", "nom", "prenom", "certification_type", "certification_code",
            "siret_organisme", "date_entree", "date_sortie", "statut",
        ]
        writer = csv.DictWriter(out, fieldnames=fields, lineterminator="\n")
        writer.writeheader()
        for p in self.people:
            writer.writerows(p.training_files)

    # -- flux ------------------------------------------------------------------------
    def passages(self, count: int) -> Iterator[tuple[str, Outcome]]:
        """``count`` passage elements (XML text) with the outcome each should get."""
        rng = self.rng
        # The showcase people's passports hold their curated items only (what a newcomer
        # opens first), not random bulk results beside them.
        showcase = {id(p) for p in self.people[:SHOWCASE_PEOPLE]}
        people = [p for p in self.people if id(p) not in showcase] or self.people
        with_files = [p for p in people if p.training_files]
        homonyms = [pair for pair in self.homonyms
                    if not showcase & {id(pair[0]), id(pair[1])}] or self.homonyms
        for _ in range(count):
            roll = rng.random()
            if roll < 0.03:
                stranger = Person(
                    nir="", nom_naissance="Inconnu" + rng.choice(FAMILY_NAMES),
                    nom_usage=None, prenoms=[rng.choice(GIVEN_NAMES["F"])], sexe="F",
                    year=rng.randint(1960, 2004), month=rng.randint(1, 12), day=rng.randint(1, 28),
                    code_insee="31555", commune="Toulouse", postal=None, country_code=None,
                    country=None,
                )
                yield self._passage(stranger, "titulaire"), Outcome(False, "nirisation_aucun")
            elif roll < 0.04 and homonyms:
                first, _twin = rng.choice(homonyms)
                xml = self._passage(first, "titulaire", birth_day_known=False)
                yield xml, Outcome(False, "nirisation_plusieurs")
            elif roll < 0.06:
                person = rng.choice(people)
                yield self._passage(person, "titulaire", break_rule=True), Outcome(False, "regle")
            elif roll < 0.25 and with_files:
                person = rng.choice(with_files)
                yield self._passage(person, "dossierFormation"), Outcome(True)
            else:
                person = rng.choice(people)
                warn = rng.random() < 0.02
                xml = self._passage(person, "titulaire", vae_warning=warn)
                yield xml, Outcome(True, warning="regle_3" if warn else None)

    def _passage(
        self,
        p: Person,
        identification: str,
        *,
        birth_day_known: bool = True,
        break_rule: bool = False,
        vae_warning: bool = False,
    ) -> str:
        rng = self.rng
        exam_start = dt.date(rng.randint(2019, 2025), rng.randint(1, 12), rng.randint(1, 20))
        exam_end = exam_start + dt.timedelta(days=rng.randint(0, 5))
        valid_from = exam_end + dt.timedelta(days=rng.randint(0, 30))
        expires = rng.random() < 0.3
        valid_to = valid_from + dt.timedelta(days=365 * rng.randint(1, 5)) if expires else None
        route = rng.choice(ACCESS_ROUTES[:4] if vae_warning else ACCESS_ROUTES)
        lang = rng.random() < 0.15
        digital = rng.random() < 0.12
        provisional = rng.random() < 0.05
        parts = [
            f"<cpf:idTechnique>{uuid.UUID(int=rng.getrandbits(128), version=4)}</cpf:idTechnique>",
        ]
        if rng.random() < 0.3:
            parts.append("<cpf:urlPreuve>https://verif.example.fr/p/"
                         f"{rng.getrandbits(40):x}</cpf:urlPreuve>")
        if rng.random() < 0.1:
            parts.append("<cpf:libelleOption>Option développement web</cpf:libelleOption>")
        parts.append(
            "<cpf:obtentionCertification>"
            f"{'PAR_SCORING' if digital or lang else 'PAR_ADMISSION'}"
            "</cpf:obtentionCertification>"
        )
        parts.append(f"<cpf:donneeCertifiee>{'false' if provisional else 'true'}</cpf:donneeCertifiee>")
        if break_rule and rng.random() < 0.5:
            exam_start, exam_end = exam_end + dt.timedelta(days=3), exam_start
        if break_rule or rng.random() < 0.6:
            parts.append(f"<cpf:dateDebutExamen>{exam_start}</cpf:dateDebutExamen>")
            parts.append(f"<cpf:dateFinExamen>{exam_end}</cpf:dateFinExamen>")
            parts.append("<cpf:modalitePassageExamen>"
                         f"{rng.choice(('A_DISTANCE', 'EN_PRESENTIEL', 'MIXTE'))}"
                         "</cpf:modalitePassageExamen>")
        parts.append(f"<cpf:dateDebutValidite>{valid_from}</cpf:dateDebutValidite>")
        if valid_to:
            parts.append(f"<cpf:dateFinValidite>{valid_to}</cpf:dateFinValidite>")
        else:
            parts.append('<cpf:dateFinValidite xsi:nil="true"/>')
        parts.append(f"<cpf:presenceNiveauLangueEuro>{'true' if lang else 'false'}"
                     "</cpf:presenceNiveauLangueEuro>")
        if lang:
            parts.append(f"<cpf:niveauLangueEuropeen>{rng.choice(('A2', 'B1', 'B2', 'C1'))}"
                         "</cpf:niveauLangueEuropeen>")
        broken_digital = break_rule and not (exam_start > exam_end)
        parts.append(f"<cpf:presenceNiveauNumeriqueEuro>{'true' if digital or broken_digital else 'false'}"
                     "</cpf:presenceNiveauNumeriqueEuro>")
        if digital and not broken_digital:
            results = "".join(
                f"<cpf:resultat><cpf:niveau>{rng.randint(1, 8)}</cpf:niveau>"
                f"<cpf:domaineCompetenceId>{d}</cpf:domaineCompetenceId>"
                f"<cpf:competenceId>{c}</cpf:competenceId></cpf:resultat>"
                for d, c in rng.sample([(d, c) for d, n in DIGCOMP.items() for c in range(1, n + 1)], 4)
            )
            parts.append(f"<cpf:niveauNumeriqueEuropeen><cpf:scoreGeneral>{rng.randint(200, 1000)}"
                         f"</cpf:scoreGeneral><cpf:resultats>{results}</cpf:resultats>"
                         "</cpf:niveauNumeriqueEuropeen>")
        if digital or lang:
            parts.append(f"<cpf:scoring>{rng.randint(300, 990)}</cpf:scoring>")
        else:
            parts.append('<cpf:scoring xsi:nil="true"/>')
        if rng.random() < 0.6:
            parts.append(f"<cpf:mentionValidee>{rng.choice(MENTIONS)}</cpf:mentionValidee>")
        else:
            parts.append('<cpf:mentionValidee xsi:nil="true"/>')
        vae = initiative = ""
        if rng.random() < 0.5:
            initiative = ("<cpf:initiativeInscription>"
                          f"{rng.choice(('CERTIFIE', 'OF', 'EMPLOYEUR', 'AUTRE'))}"
                          "</cpf:initiativeInscription>")
        if route == "VAE":
            vae = f"<cpf:voieAccessVAE>{rng.choice(('CONGES_VAE', 'VAE_CLASSIQUE'))}</cpf:voieAccessVAE>"
        elif vae_warning:
            vae = "<cpf:voieAccessVAE>VAE_CLASSIQUE</cpf:voieAccessVAE>"
        parts.append(
            f"<cpf:modalitesInscription><cpf:modaliteAcces>{route}</cpf:modaliteAcces>{vae}"
            f"{initiative}</cpf:modalitesInscription>"
        )
        parts.append(self._identification(p, identification, birth_day_known))
        return "<cpf:passageCertification>" + "".join(parts) + "</cpf:passageCertification>"

    def _identification(self, p: Person, kind: str, birth_day_known: bool) -> str:
        if kind == "dossierFormation":
            tf = self.rng.choice(p.training_files)
            return (
                "<cpf:identificationTitulaire><cpf:dossierFormation>"
                f"<cpf:idDossier>{tf['id_dossier']}</cpf:idDossier>"
                f"<cpf:nomTitulaire>{escape(p.nom_naissance.upper()[:30])}</cpf:nomTitulaire>"
                f"<cpf:prenom1Titulaire>{escape(p.prenoms[0][:20])}</cpf:prenom1Titulaire>"
                "</cpf:dossierFormation></cpf:identificationTitulaire>"
            )
        # Certifiers type names their own way: case and accents vary, which NIRisation absorbs.
        nom = p.nom_naissance if self.rng.random() < 0.7 else p.nom_naissance.upper()
        prenoms = "".join(
            f"<cpf:prenom{i}>{escape(name)}</cpf:prenom{i}>" for i, name in enumerate(p.prenoms, 1)
        )
        usage = (
            f"<cpf:nomUsage>{escape(p.nom_usage)}</cpf:nomUsage>"
            if p.nom_usage
            else '<cpf:nomUsage xsi:nil="true"/>'
        )
        month = (
            f"<cpf:moisNaissance>{p.month:02d}</cpf:moisNaissance>"
            if birth_day_known and p.month
            else '<cpf:moisNaissance xsi:nil="true"/>'
        )
        day = (
            f"<cpf:jourNaissance>{p.day}</cpf:jourNaissance>"
            if birth_day_known and p.day
            else '<cpf:jourNaissance xsi:nil="true"/>'
        )
        place = (
            (f"<cpf:libelleCommuneNaissance>{escape(p.commune)}</cpf:libelleCommuneNaissance>"
             if self.rng.random() < 0.5 else "")
            if p.commune
            else f"<cpf:codePaysNaissance>{p.country_code}</cpf:codePaysNaissance>"
            f"<cpf:libellePaysNaissance>{escape(p.country or '')}</cpf:libellePaysNaissance>"
        )
        return (
            "<cpf:identificationTitulaire><cpf:titulaire>"
            f"<cpf:nomNaissance>{escape(nom)}</cpf:nomNaissance>{usage}{prenoms}"
            f"<cpf:anneeNaissance>{p.year}</cpf:anneeNaissance>{month}{day}"
            f"<cpf:sexe>{p.sexe}</cpf:sexe><cpf:codeCommuneNaissance><cpf:codeInseeNaissance>"
            f"<cpf:codeInsee>{p.code_insee}</cpf:codeInsee></cpf:codeInseeNaissance>"
            f"</cpf:codeCommuneNaissance>{place}</cpf:titulaire></cpf:identificationTitulaire>"
        )

    def write_flux(
        self,
        out: TextIO,
        passages: int,
        *,
        certifier: tuple[str, str, str, str] = CERTIFIERS[0],
        emitter: str | None = None,
        id_flux: str | None = None,
        certifications: int = 3,
        compact: bool = False,
    ) -> dict[str, Any]:
        """Write one flux file; return its expected outcome counts.

        ``compact`` writes the default-namespace form (no ``cpf:`` prefix): the same
        document for the schema, about 20% smaller, so that a 200,000-passage file stays
        under the 250 MB upload limit as the CDC portal's "about 200 MB" suggests.
        """
        rng = self.rng
        write = out.write
        if compact:
            def write(text: str) -> int:
                return out.write(text.replace("<cpf:", "<").replace("</cpf:", "</"))
        bcr, contract, _name, _siret = certifier
        id_flux = id_flux or str(uuid.UUID(int=rng.getrandbits(128), version=4))
        out.write('<?xml version="1.0" encoding="UTF-8"?>\n')
        namespace = 'xmlns="urn:cdc:cpf:pc5:schema:1.0.0"' if compact else (
            'xmlns:cpf="urn:cdc:cpf:pc5:schema:1.0.0"'
        )
        write(
            f'<cpf:flux {namespace} '
            'xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">\n'
            f"<cpf:idFlux>{id_flux}</cpf:idFlux>\n"
            "<cpf:horodatage>2026-11-02T09:30:00+01:00</cpf:horodatage>\n"
            f"<cpf:emetteur><cpf:idClient>{emitter or bcr}</cpf:idClient>\n"
            f"<cpf:certificateurs><cpf:certificateur><cpf:idClient>{bcr}</cpf:idClient>\n"
            f"<cpf:idContrat>{contract}</cpf:idContrat>\n<cpf:certifications>\n"
        )
        counts: dict[str, Any] = {"passages": passages, "ok": 0, "ko": 0, "warnings": 0,
                                  "ko_reasons": {}}
        own = CERTIFIED[bcr]
        codes = rng.sample(own, min(certifications, len(own)))
        per_cert = [passages // len(codes)] * len(codes)
        per_cert[0] += passages - sum(per_cert)
        stream = self.passages(passages)
        for (cert_type, cert_code), n in zip(codes, per_cert, strict=True):
            if n == 0:
                continue
            write(
                f"<cpf:certification><cpf:type>{cert_type}</cpf:type><cpf:code>{cert_code}</cpf:code>"
                "<cpf:natureDeposant>"
                f"{'CERTIFICATEUR' if (emitter or bcr) == bcr else 'TIERS_CONFIANCE'}"
                "</cpf:natureDeposant>\n<cpf:passageCertifications>\n"
            )
            for _ in range(n):
                xml, outcome = next(stream)
                write(xml)
                write("\n")
                if outcome.ok:
                    counts["ok"] += 1
                else:
                    counts["ko"] += 1
                    reasons = counts["ko_reasons"]
                    reasons[outcome.reason] = reasons.get(outcome.reason, 0) + 1
                if outcome.warning:
                    counts["warnings"] += 1
            write("</cpf:passageCertifications></cpf:certification>\n")
        write("</cpf:certifications></cpf:certificateur></cpf:certificateurs></cpf:emetteur>\n")
        write("</cpf:flux>\n")
        counts["id_flux"] = id_flux
        return counts


def _showcase_passages(gen: Generator, p: Person, n: int) -> list[tuple[str, str, str, str]]:
    """(certifier, type, code, passage XML) of a rich passport for person ``n``: valid, expired,
    provisional, DigComp and CECRL results, and one to be withdrawn."""
    ident = gen._identification(p, "titulaire", True).replace("\n", "")

    def one(suffix: str, *, start: str, end: str | None = None, definitive: bool = True,
            mention: str | None = "MENTION_BIEN", extra: str = "", lang: str | None = None,
            digital: str | None = None, scoring: str | None = None) -> str:
        parts = [
            f"<cpf:idTechnique>VITRINE-{n}-{suffix}</cpf:idTechnique>",
            "<cpf:urlPreuve>https://verif.example.fr/vitrine</cpf:urlPreuve>" if definitive else "",
            f"<cpf:obtentionCertification>{'PAR_SCORING' if scoring else 'PAR_ADMISSION'}"
            "</cpf:obtentionCertification>",
            f"<cpf:donneeCertifiee>{'true' if definitive else 'false'}</cpf:donneeCertifiee>",
            f"<cpf:dateDebutExamen>{start}</cpf:dateDebutExamen>"
            f"<cpf:dateFinExamen>{start}</cpf:dateFinExamen>",
            "<cpf:modalitePassageExamen>EN_PRESENTIEL</cpf:modalitePassageExamen>",
            f"<cpf:dateDebutValidite>{start}</cpf:dateDebutValidite>",
            f"<cpf:dateFinValidite>{end}</cpf:dateFinValidite>" if end
            else '<cpf:dateFinValidite xsi:nil="true"/>',
            f"<cpf:presenceNiveauLangueEuro>{'true' if lang else 'false'}"
            "</cpf:presenceNiveauLangueEuro>",
            f"<cpf:niveauLangueEuropeen>{lang}</cpf:niveauLangueEuropeen>" if lang else "",
            f"<cpf:presenceNiveauNumeriqueEuro>{'true' if digital else 'false'}"
            "</cpf:presenceNiveauNumeriqueEuro>",
            digital or "",
            f"<cpf:scoring>{scoring}</cpf:scoring>" if scoring else '<cpf:scoring xsi:nil="true"/>',
            f"<cpf:mentionValidee>{mention}</cpf:mentionValidee>" if mention
            else '<cpf:mentionValidee xsi:nil="true"/>',
            "<cpf:modalitesInscription><cpf:modaliteAcces>"
            "FORMATION_CONTINUE_HORS_CONTRAT_DE_PROFESSIONNALISATION</cpf:modaliteAcces>"
            "</cpf:modalitesInscription>",
            ident, extra,
        ]
        return "<cpf:passageCertification>" + "".join(parts) + "</cpf:passageCertification>"

    digital = (
        "<cpf:niveauNumeriqueEuropeen><cpf:scoreGeneral>712</cpf:scoreGeneral><cpf:resultats>"
        + "".join(f"<cpf:resultat><cpf:niveau>{lvl}</cpf:niveau><cpf:domaineCompetenceId>{d}"
                  f"</cpf:domaineCompetenceId><cpf:competenceId>{c}</cpf:competenceId>"
                  "</cpf:resultat>" for d, c, lvl in ((1, 1, 5), (2, 4, 4), (3, 4, 6), (4, 2, 3)))
        + "</cpf:resultats></cpf:niveauNumeriqueEuropeen>")
    return [
        ("CERT0001", "RNCP", "RNCP34762", one("RNCP-VALIDE", start="2023-06-30")),
        ("E564ACB0", "RNCP", "RNCP37488", one("RNCP-EXPIREE", start="2018-06-30",
                                              end="2023-06-30", mention="MENTION_ASSEZ_BIEN")),
        ("CERT0001", "RNCP", "RNCP39568", one("RNCP-RETIREE", start="2022-02-15")),
        ("CERT0002", "RS", "RS6604", one("RS-PROVISOIRE", start="2026-10-01", definitive=False,
                                         mention=None)),
        ("CERT0004", "RS", "RS5875", one("RS-NUMERIQUE", start="2025-03-12", mention=None,
                                         digital=digital, scoring="712")),
        ("CERT0004", "RS", "RS6343", one("RS-LANGUE", start="2024-11-20", mention=None,
                                         lang="B2", scoring="785")),
    ]


#: The showcase passage a SUPPRESSION flux withdraws afterwards: (certifier, type, code).
WITHDRAWN = ("CERT0001", "RNCP", "RNCP39568")


def write_showcase(gen: Generator, out_dir: Path) -> list[dict[str, Any]]:
    """Rich passports for the first people (the demo logins): one file per certifier
    (a file names one), and a withdrawal."""
    contracts = {bcr: contract for bcr, contract, *_ in CERTIFIERS}
    by_certifier: dict[str, dict[tuple[str, str], list[str]]] = {}
    for n, person in enumerate(gen.people[:SHOWCASE_PEOPLE], 1):
        for bcr, cert_type, code, xml in _showcase_passages(gen, person, n):
            by_certifier.setdefault(bcr, {}).setdefault((cert_type, code), []).append(xml)
    header = (
        '<?xml version="1.0" encoding="UTF-8"?>\n<cpf:flux '
        'xmlns:cpf="urn:cdc:cpf:pc5:schema:1.0.0" '
        'xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">'
        "<cpf:idFlux>{id}</cpf:idFlux><cpf:horodatage>2026-11-02T09:30:00+01:00</cpf:horodatage>"
        "{action}<cpf:emetteur><cpf:idClient>{bcr}</cpf:idClient><cpf:certificateurs>"
        "<cpf:certificateur><cpf:idClient>{bcr}</cpf:idClient><cpf:idContrat>{contract}"
        "</cpf:idContrat><cpf:certifications>"
    )
    footer = ("</cpf:certifications></cpf:certificateur></cpf:certificateurs></cpf:emetteur>"
              "</cpf:flux>\n")

    def certification(cert_type: str, code: str, passages: list[str]) -> str:
        return (f"<cpf:certification><cpf:type>{cert_type}</cpf:type><cpf:code>{code}</cpf:code>"
                "<cpf:passageCertifications>" + "\n".join(passages)
                + "</cpf:passageCertifications></cpf:certification>\n")

    def written(name: str, bcr: str, id_flux: str, codes: dict[tuple[str, str], list[str]],
                action: str | None = None) -> dict[str, Any]:
        (out_dir / name).write_text(
            header.format(id=id_flux, bcr=bcr, contract=contracts[bcr],
                          action=f"<cpf:action>{action}</cpf:action>" if action else "")
            + "".join(certification(t, c, ps) for (t, c), ps in codes.items()) + footer,
            encoding="utf-8")
        total = sum(len(ps) for ps in codes.values())
        return {"file": name, "emitter": bcr, "certifier": bcr, "passages": total, "ok": total,
                "ko": 0, "warnings": 0, "ko_reasons": {}, "id_flux": id_flux,
                **({"action": action} if action else {})}

    files = [written(f"flux-vitrine-{bcr}.xml", bcr, f"vitrine-2026-11-{bcr}", codes)
             for bcr, codes in by_certifier.items()]
    owner, cert_type, code = WITHDRAWN
    withdrawn = {(cert_type, code): by_certifier[owner][(cert_type, code)]}
    files.append(written("flux-vitrine-retrait.xml", owner, "vitrine-2026-11-retrait",
                         withdrawn, action="SUPPRESSION"))
    return files


def generate(
    out_dir: Path,
    *,
    holders: int,
    passages: int,
    per_file: int = 100_000,  # ~145 MB a file: under the 250 MiB limit (200,000: --compact)
    seed: int = 20210701,
    compact: bool = False,
) -> dict[str, Any]:
    """Write a complete data set into ``out_dir`` and return its manifest."""
    if holders < 1:
        raise ValueError("at least one holder is needed")
    if passages < 0 or per_file < 1:
        raise ValueError("passages must be >= 0 and per_file >= 1")
    out_dir.mkdir(parents=True, exist_ok=True)
    gen = Generator(seed)
    gen.population(holders)
    gen.training_files()
    with (out_dir / "identities.csv").open("w", encoding="utf-8", newline="") as fh:
        gen.write_identities(fh)
    with (out_dir / "training_files.csv").open("w", encoding="utf-8", newline="") as fh:
        gen.write_training_files(fh)
    files = write_showcase(gen, out_dir) if holders >= SHOWCASE_PEOPLE else []
    remaining, index = passages, 0
    while remaining > 0:
        n = min(per_file, remaining)
        index += 1
        certifier = BULK_CERTIFIERS[(index - 1) % len(BULK_CERTIFIERS)]
        # Every third file is filed by the mandated third party for the first certifier.
        emitter = DEPOSITOR if certifier is BULK_CERTIFIERS[0] and index % 3 == 1 else None
        name = f"flux-{index:04d}.xml"
        with (out_dir / name).open("w", encoding="utf-8") as fh:
            counts = gen.write_flux(fh, n, certifier=certifier, emitter=emitter, compact=compact)
        files.append({"file": name, "emitter": emitter or certifier[0],
                      "certifier": certifier[0], **counts})
        remaining -= n
    manifest = {
        "seed": seed,
        "holders": len(gen.people),
        "training_files": sum(len(p.training_files) for p in gen.people),
        "certifiers": [
            {"bcr": b, "contract": c, "name": n, "siret": s} for b, c, n, s in CERTIFIERS
        ],
        "mandates": [{"depositor": DEPOSITOR, "certifier": CERTIFIERS[0][0]}],
        "showcase": [p.nir for p in gen.people[:SHOWCASE_PEOPLE]],
        "files": files,
    }
    (out_dir / "manifest.json").write_text(json.dumps(manifest, indent=2, ensure_ascii=False))
    return manifest
