"""The CV's fixed labels in French and English, and its dates in the locale's format."""

from __future__ import annotations

from typing import Any

from passport.sharing.pages import MESSAGES, Texts

CV_MESSAGES: dict[str, dict[str, str]] = {
    "cv": {"fr": "Curriculum vitæ", "en": "Curriculum vitae"},
    "contact": {"fr": "Coordonnées", "en": "Contact"},
    "email": {"fr": "Courriel", "en": "Email"},
    "phone": {"fr": "Téléphone", "en": "Phone"},
    "city": {"fr": "Ville", "en": "City"},
    "url": {"fr": "Site", "en": "Website"},
    "summary": {"fr": "Profil", "en": "Profile"},
    "attested_section": {"fr": "Certifications attestées", "en": "Attested certifications"},
    "attested_badge": {"fr": "Certifié", "en": "Certified"},
    "attested_by": {"fr": "Certifié par {who}", "en": "Certified by {who}"},
    "verification": {"fr": "Code de vérification {code}", "en": "Verification code {code}"},
    "verify_at": {"fr": "Vérifiable sur {url}", "en": "Check it at {url}"},
    "qr_alt": {"fr": "QR code de vérification de {title}",
               "en": "Verification QR code for {title}"},
    "obtained_on": {"fr": "Obtenu le {date}", "en": "Obtained on {date}"},
    "valid_until": {"fr": "valable jusqu'au {date}", "en": "valid until {date}"},
    "expired": {"fr": "expirée", "en": "expired"},
    "provisional": {"fr": "résultat provisoire", "en": "provisional result"},
    "eqf": {"fr": "Niveau {n} (cadre européen)", "en": "EQF level {n}"},
    "option": {"fr": "Option : {option}", "en": "Option: {option}"},
    "mention": {"fr": "Mention : {mention}", "en": "Grade: {mention}"},
    "cefr": {"fr": "Niveau de langue : {level}", "en": "Language level: {level}"},
    "blocks": {"fr": "Blocs de compétences", "en": "Skill blocks"},
    "declared_badge": {"fr": "Déclaré", "en": "Declared"},
    "declared_note": {"fr": "Déclaré par le titulaire, non vérifié",
                      "en": "Declared by the holder, not verified"},
    "section.experience": {"fr": "Expérience professionnelle", "en": "Work experience"},
    "section.formation": {"fr": "Formations", "en": "Training"},
    "section.diplome": {"fr": "Diplômes déclarés", "en": "Declared diplomas"},
    "section.competence": {"fr": "Compétences", "en": "Skills"},
    "section.langue": {"fr": "Langues", "en": "Languages"},
    "section.engagement": {"fr": "Engagements", "en": "Volunteering"},
    "section.autre": {"fr": "Autres", "en": "Other"},
    "since": {"fr": "depuis {date}", "en": "since {date}"},
    "period": {"fr": "{start} – {end}", "en": "{start} – {end}"},
    "footer": {
        "fr": "CV généré le {date} depuis le passeport de compétences. Les éléments « Certifié » "
              "ont été transmis par les organismes certificateurs et se vérifient avec leur code ; "
              "les éléments « Déclaré » ont été saisis par le titulaire.",
        "en": "CV generated on {date} from the skills passport. “Certified” items were sent by "
              "the certifying bodies and can be checked with their code; “Declared” items were "
              "entered by the holder."},
    "signed": {"fr": "Document signé électroniquement par {issuer}.",
               "en": "Electronically signed by {issuer}."},
    "nothing": {"fr": "Aucun élément choisi.", "en": "No item chosen."},
}


class CvTexts(Texts):
    """Share-page texts (mentions, dates) plus the CV's own labels."""

    def __call__(self, key: str, **values: Any) -> str:
        table = CV_MESSAGES if key in CV_MESSAGES else MESSAGES
        return table[key][self.language].format(**values)

    def month(self, value: Any) -> str:
        """A declared period's bound: month and year (« mars 2021 »)."""
        from babel.dates import format_date

        return format_date(value, "MMMM y", locale=self.language) if value else ""
