"""Per-passage business rules (spec §5) and typing of the raw values.

`check` turns a passage dict from `ingestion.parser` into typed values for the store and the
list of problems: an error makes the passage KO, a warning is only reported.  Every problem
has a stable code, a French message (the certifiers' language) and an English one.
"""

from __future__ import annotations

import calendar
import re
from typing import Any, NamedTuple

import orjson

from ingestion.normalize import match_key
from ingestion.parser import Passage

DIGCOMP_COMPETENCES = {1: 3, 2: 6, 3: 4, 4: 4, 5: 4}
_INSEE_FRANCE = re.compile(r"(?:0[1-9]|[1-9][0-9]|2[AB])[0-9]{3}")
_INSEE_ABROAD = re.compile(r"99[0-9]{3}")


#: The passage columns that `check` fills, in the order of `Checked.row`.
VALUE_COLUMNS = (
    "id_technique", "url_preuve", "libelle_option", "obtention_certification",
    "donnee_certifiee", "date_debut_examen", "date_fin_examen", "modalite_passage_examen",
    "code_postal_centre_examen", "date_debut_validite", "date_fin_validite",
    "presence_niveau_langue_euro", "niveau_langue_europeen", "presence_niveau_numerique_euro",
    "score_general", "digcomp_resultats", "scoring", "mention_validee", "modalite_acces",
    "voie_acces_vae", "initiative_inscription", "date_inscription", "identification",
    "id_dossier", "titulaire", "verbatim", "warnings",
)


class Problem(NamedTuple):
    """A rule result for one passage."""

    code: str
    message: str
    message_en: str

    def as_dict(self) -> dict[str, str]:
        """JSON shape of the report."""
        return {"code": self.code, "message": self.message, "message_en": self.message_en}


class Checked(NamedTuple):
    """A checked passage, ready for the store: cheap to pickle across the reader pipe.

    ``row`` holds the `VALUE_COLUMNS` in store encoding (dates as ISO text, JSON as text).
    ``identity`` is what NIRisation needs: ``("titulaire", match key, INSEE code, month,
    day)``, ``("dossierFormation", id, name, first name)`` or ``("identifiantNational",
    NIR without key, birth name)``.
    """

    id_technique: str
    row: tuple[Any, ...]
    identity: tuple[Any, ...]
    errors: list[Problem]
    warnings: list[Problem]

    @property
    def ok(self) -> bool:
        """True when no rule rejects the passage."""
        return not self.errors


def _date(text: str | None) -> str | None:
    # The schema pattern guarantees YYYY-MM-DD once whitespace is collapsed, which is the
    # store's text form too, and compares in date order.
    return None if text is None else text.strip()


def _bool(text: str | None) -> bool:
    return text is not None and text.strip() in ("true", "1")


def _int(text: str | None) -> int | None:
    return None if text is None else int(text.strip())


def _is_nil_text(value: str | None) -> bool:
    return value is not None and len(value) < 8 and value.strip().lower() == "nil"


def _dumps(value: Any) -> str:
    # The same text as json.dumps(ensure_ascii=False, separators=(",", ":")), 20× faster:
    # one per passage, it was a fifth of the rules' time.
    return orjson.dumps(value).decode()


#: Holder fields kept with a passage: the civil status as sent, never a NIR.
HOLDER_FIELDS = (
    "nomNaissance", "nomUsage", "prenom1", "prenom2", "prenom3", "anneeNaissance",
    "moisNaissance", "jourNaissance", "sexe", "codeInsee", "codePostal",
    "libelleCommuneNaissance", "codePaysNaissance", "libellePaysNaissance", "commentairesMEN",
    "idDossier", "nomTitulaire", "prenom1Titulaire",
)


def check(p: Passage) -> Checked:
    """Apply rules 1–7 to a passage and encode its values for the store."""
    errors: list[Problem] = []
    warnings: list[Problem] = []
    get = p.get

    # Rule 1: the CECRL level is given exactly when announced.
    presence_langue = _bool(get("presenceNiveauLangueEuro"))
    niveau_langue = get("niveauLangueEuropeen")
    if presence_langue != (niveau_langue is not None):
        errors.append(_presence_problem(1, "Langue", presence_langue))

    # Rule 2: DigComp results are given exactly when announced, and are complete.
    presence_num = _bool(get("presenceNiveauNumeriqueEuro"))
    digital = get("niveauNumeriqueEuropeen")
    score_general: int | None = None
    resultats: str | None = None
    if presence_num != (digital is not None):
        errors.append(_presence_problem(2, "Numerique", presence_num))
    elif digital is not None:
        score_general, results = _check_digcomp(digital, errors)
        resultats = _dumps(results)

    # Rule 3 (warning): a VAE route only with the VAE access mode.
    modalite_acces = get("modaliteAcces")
    voie_vae = get("voieAccessVAE")
    if voie_vae is not None and modalite_acces != "VAE":
        warnings.append(
            Problem(
                "regle_vae",
                "Règle 3 : voieAccessVAE est renseigné alors que modaliteAcces "
                f"vaut {modalite_acces or 'nil'} (et non VAE)",
                f"Rule 3: voieAccessVAE is given while modaliteAcces is {modalite_acces or 'nil'}, "
                "not VAE",
            )
        )

    # Rule 4: dates in order.
    debut_examen = _date(get("dateDebutExamen"))
    fin_examen = _date(get("dateFinExamen"))
    if debut_examen and fin_examen and fin_examen < debut_examen:
        errors.append(_order_problem("dateFinExamen", fin_examen, "dateDebutExamen", debut_examen))
    debut_validite = _date(get("dateDebutValidite"))
    fin_validite = _date(get("dateFinValidite"))
    if debut_validite and fin_validite and fin_validite < debut_validite:
        errors.append(
            _order_problem("dateFinValidite", fin_validite, "dateDebutValidite", debut_validite)
        )

    # Rule 7 (warning): a text "nil" in a nillable string field means unknown.
    scoring = get("scoring")
    if _is_nil_text(scoring):
        scoring = None
        warnings.append(_nil_warning("scoring"))

    holder = p["titulaire"]
    kind = p["identification"]
    identity: tuple[Any, ...]
    if kind == "titulaire":
        _check_birth(holder, errors)
        for name in ("nomUsage", "codePostal"):
            if _is_nil_text(holder.get(name)):
                holder[name] = None
                warnings.append(_nil_warning(name))
        identity = (
            kind,
            match_key(holder["nomNaissance"], holder["prenom1"], holder["anneeNaissance"],
                      holder["sexe"]),
            holder.get("codeInsee"),
            _int(holder.get("moisNaissance")),
            _int(holder.get("jourNaissance")),
        )
    elif kind == "dossierFormation":
        identity = (kind, holder["idDossier"], holder["nomTitulaire"], holder["prenom1Titulaire"])
    else:
        identity = (kind, holder["nir"], holder["nomNaissance"])

    id_technique = p["idTechnique"]
    row = (
        id_technique,
        get("urlPreuve"),
        get("libelleOption"),
        get("obtentionCertification"),
        _bool(get("donneeCertifiee")),
        debut_examen,
        fin_examen,
        get("modalitePassageExamen"),
        get("codePostalCentreExamen"),
        debut_validite,
        fin_validite,
        presence_langue,
        niveau_langue,
        presence_num,
        score_general,
        resultats,
        scoring,
        get("mentionValidee"),
        modalite_acces,
        voie_vae,
        get("initiativeInscription"),
        _date(get("dateInscription")),
        kind,
        holder.get("idDossier"),
        _dumps({k: v for k in HOLDER_FIELDS if (v := holder.get(k)) is not None}),
        get("verbatim"),
        _dumps([w.code for w in warnings]) if warnings else None,
    )
    return Checked(id_technique, row, identity, errors, warnings)


def _presence_problem(rule: int, what: str, presence: bool) -> Problem:
    flag, level = (
        ("presenceNiveauLangueEuro", "niveauLangueEuropeen")
        if what == "Langue"
        else ("presenceNiveauNumeriqueEuro", "niveauNumeriqueEuropeen")
    )
    value = "true" if presence else "false"
    return Problem(
        "regle_langue" if what == "Langue" else "regle_numerique",
        f"Règle {rule} : {flag} vaut {value} mais {level} est "
        f"{'absent' if presence else 'renseigné'}",
        f"Rule {rule}: {flag} is {value} but {level} is {'missing' if presence else 'present'}",
    )


def _order_problem(end_name: str, end: str, start_name: str, start: str) -> Problem:
    return Problem(
        "regle_dates_examen" if "Examen" in end_name else "regle_dates_validite",
        f"Règle 4 : {end_name} ({end}) est antérieure à {start_name} ({start})",
        f"Rule 4: {end_name} ({end}) is before {start_name} ({start})",
    )


def _nil_warning(name: str) -> Problem:
    return Problem(
        "valeur_nil_texte",
        f"Règle 7 : {name} contient le texte « nil » ; utilisez xsi:nil=\"true\". "
        "La valeur est considérée comme inconnue",
        f"Rule 7: {name} holds the text 'nil'; use xsi:nil=\"true\". The value is treated "
        "as unknown",
    )


#: Rule 2's problems named in its message, the others counted: DigComp has 21
#: competences, a hostile passage tens of thousands of results (one line of the report).
LISTED_PROBLEMS = 5


def _check_digcomp(
    digital: dict[str, Any], errors: list[Problem]
) -> tuple[int | None, list[dict[str, int]]]:
    """Rule 2 details: a general score, and one complete result per existing competence."""
    problems: list[str] = []
    score = _int(digital.get("scoreGeneral"))
    if score is None:
        problems.append("scoreGeneral est absent")
    results: list[dict[str, int]] = []
    seen: set[tuple[int, int]] = set()
    for index, raw in enumerate(digital.get("resultats") or [], 1):
        niveau = _int(raw.get("niveau"))
        domaine_text = raw.get("domaineCompetenceId")
        competence_text = raw.get("competenceId")
        if niveau is None or domaine_text is None or competence_text is None:
            problems.append(f"le résultat {index} est incomplet (niveau, domaine et compétence)")
            continue
        if not (domaine_text.isdigit() and competence_text.isdigit()):
            problems.append(f"le résultat {index} a un domaine ou une compétence non numérique")
            continue
        domaine, competence = int(domaine_text), int(competence_text)
        if domaine not in DIGCOMP_COMPETENCES:
            problems.append(f"le domaine {domaine} n'existe pas (1 à 5)")
            continue
        if not 1 <= competence <= DIGCOMP_COMPETENCES[domaine]:
            problems.append(
                f"la compétence {domaine}.{competence} n'existe pas "
                f"(1 à {DIGCOMP_COMPETENCES[domaine]} pour le domaine {domaine})"
            )
            continue
        if (domaine, competence) in seen:
            problems.append(f"la compétence {domaine}.{competence} a plusieurs résultats")
            continue
        seen.add((domaine, competence))
        results.append({"niveau": niveau, "domaine": domaine, "competence": competence})
    if problems:
        listed = problems[:LISTED_PROBLEMS]
        if len(problems) > LISTED_PROBLEMS:
            listed.append(f"et {len(problems) - LISTED_PROBLEMS} autre(s) problème(s)")
        errors.append(
            Problem(
                "regle_numerique",
                "Règle 2 : niveauNumeriqueEuropeen invalide : " + " ; ".join(listed),
                "Rule 2: invalid niveauNumeriqueEuropeen (DigComp score and one result per "
                "existing competence required)",
            )
        )
    return score, results


def _check_birth(holder: dict[str, Any], errors: list[Problem]) -> None:
    # Rule 5: born abroad ⇔ 99xxx INSEE code with the matching country code.
    insee = holder.get("codeInsee")
    pays = holder.get("codePaysNaissance")
    if insee is not None:
        if insee.startswith("99"):
            if not _INSEE_ABROAD.fullmatch(insee):
                errors.append(_birthplace(f"le code INSEE {insee} n'est pas un code pays 99xxx"))
            elif pays != insee[2:]:
                errors.append(
                    _birthplace(
                        f"né à l'étranger (code INSEE {insee}) : codePaysNaissance doit valoir "
                        f"{insee[2:]} (reçu : {pays or 'absent'})"
                    )
                )
        elif not _INSEE_FRANCE.fullmatch(insee) or insee.startswith("20"):
            errors.append(
                _birthplace(
                    f"le code INSEE {insee} n'est pas un code de commune "
                    "(5 chiffres, ou 2A/2B pour la Corse)"
                )
            )
        elif pays is not None:
            errors.append(
                _birthplace(f"né en France (code INSEE {insee}) : codePaysNaissance doit être absent")
            )

    # Rule 6: the birth day exists in that month of that year.
    year = _int(holder.get("anneeNaissance"))
    month = _int(holder.get("moisNaissance"))
    day = _int(holder.get("jourNaissance"))
    if year and month and day and day > 28 and day > calendar.monthrange(year, month)[1]:
        errors.append(
            Problem(
                "regle_date_naissance",
                f"Règle 6 : le {day}/{month:02d}/{year} n'existe pas",
                f"Rule 6: {year}-{month:02d}-{day:02d} is not a date",
            )
        )


def _birthplace(detail: str) -> Problem:
    return Problem(
        "regle_lieu_naissance",
        f"Règle 5 : lieu de naissance incohérent : {detail}",
        "Rule 5: inconsistent birth place (abroad: codeInsee 99xxx and codePaysNaissance = xxx; "
        "France: no codePaysNaissance)",
    )
