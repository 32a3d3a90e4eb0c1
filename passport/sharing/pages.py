"""The recipient's pages: ``/s/{token}`` (a share) and ``/verifier/{code}`` (a check).

No login: the link is the capability. French by default, English with ``?lang=en`` or an
``Accept-Language`` preferring it. The pages keep the token out of referrers, out of caches
and out of search engines, and load nothing from elsewhere.
"""

from __future__ import annotations

import datetime as dt
from typing import Any
from zoneinfo import ZoneInfo

from babel.dates import format_date, format_datetime
from flask import Blueprint, Response, current_app, render_template, request
from itsdangerous import BadSignature, URLSafeTimedSerializer

from passport.errors import NotFound, RateLimited
from passport.sharing import service
from passport.sharing.api import context
from passport.web.db import lock_for_writing, session

bp = Blueprint("share_pages", __name__)
PARIS = ZoneInfo("Europe/Paris")
LANGUAGES = ("fr", "en")
VISIT_COOKIE, VISIT_SECONDS = "share_visit", 15 * 60
HEADERS = {
    "Cache-Control": "no-store",
    "Referrer-Policy": "no-referrer",
    "X-Robots-Tag": "noindex, nofollow",
    "X-Content-Type-Options": "nosniff",
    "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; "
                               "form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
    "Vary": "Accept-Language",
}

MESSAGES: dict[str, dict[str, str]] = {
    "title": {"fr": "Passeport de compétences — partage", "en": "Skills passport — shared items"},
    "shared_by": {"fr": "Éléments partagés par {name}", "en": "Items shared by {name}"},
    "shared_anonymous": {"fr": "Éléments partagés", "en": "Shared items"},
    "about_link": {"fr": "À propos de ce lien", "en": "About this link"},
    "link_until": {"fr": "Ce lien de partage fonctionne jusqu'au {when} (heure de Paris).",
                   "en": "This sharing link works until {when} (Paris time)."},
    "link_not_validity": {
        "fr": "Cette date concerne le lien seulement, pas la validité des certifications.",
        "en": "This date is about the link only, not about the certifications' validity."},
    "views_left": {"fr": "Consultations restantes : {n}.", "en": "Views left: {n}."},
    "journal_notice": {
        "fr": "Le titulaire est informé de chaque consultation de ce partage.",
        "en": "The holder is told about every view of this share."},
    "attested": {"fr": "Certifié par {who}", "en": "Certified by {who}"},
    "attested_explained": {
        "fr": "Données transmises par l'organisme certificateur au système d'information du "
              "CPF.", "en": "Data sent by the certifying body to the CPF information system."},
    "declared": {"fr": "Déclaré par le titulaire", "en": "Declared by the holder"},
    "declared_explained": {"fr": "Saisi par le titulaire ; non vérifié.",
                           "en": "Entered by the holder; not verified."},
    "certification_validity": {"fr": "Validité de la certification",
                               "en": "Validity of the certification"},
    "valid_from_to": {"fr": "du {start} au {end}", "en": "from {start} to {end}"},
    "valid_from": {"fr": "depuis le {start}, sans limite de durée",
                   "en": "since {start}, with no end date"},
    "status.valide": {"fr": "Valide", "en": "Valid"},
    "status.expiree": {"fr": "Expirée", "en": "Expired"},
    "status.provisoire": {"fr": "Résultat provisoire", "en": "Provisional result"},
    "status.retiree": {"fr": "Retirée par le certificateur", "en": "Withdrawn by the certifier"},
    "status": {"fr": "État", "en": "Status"},
    "level": {"fr": "Niveau", "en": "Level"},
    "exam_end": {"fr": "Fin de l'examen", "en": "Examination ended"},
    "mention": {"fr": "Mention", "en": "Honours"},
    "scoring": {"fr": "Score", "en": "Score"},
    "option": {"fr": "Option", "en": "Option"},
    "language_level": {"fr": "Niveau de langue (CECRL)", "en": "Language level (CEFR)"},
    "digital_score": {"fr": "Score numérique", "en": "Digital score"},
    "verification": {"fr": "Code de vérification", "en": "Verification code"},
    "verify_link": {"fr": "Vérifier cet élément", "en": "Verify this item"},
    "organisation": {"fr": "Organisation", "en": "Organisation"},
    "period": {"fr": "Période", "en": "Period"},
    "skills": {"fr": "Compétences", "en": "Skills"},
    "masked": {"fr": "Champs masqués par le titulaire : {fields}",
               "en": "Fields hidden by the holder: {fields}"},
    "kind.experience": {"fr": "Expérience", "en": "Experience"},
    "kind.formation": {"fr": "Formation", "en": "Training"},
    "kind.diplome": {"fr": "Diplôme", "en": "Diploma"},
    "kind.competence": {"fr": "Compétence", "en": "Skill"},
    "kind.langue": {"fr": "Langue", "en": "Language"},
    "kind.engagement": {"fr": "Engagement", "en": "Volunteering"},
    "kind.autre": {"fr": "Autre", "en": "Other"},
    "gone_title": {"fr": "Ce lien de partage n'est plus valable",
                   "en": "This sharing link no longer works"},
    "gone.expired": {"fr": "Il a expiré le {when}.", "en": "It expired on {when}."},
    "gone.revoked": {"fr": "Son titulaire l'a révoqué le {when}.",
                     "en": "Its holder revoked it on {when}."},
    "gone.exhausted": {"fr": "Il a atteint son nombre maximal de consultations.",
                       "en": "It reached its maximum number of views."},
    "gone_next": {"fr": "Demandez un nouveau lien à la personne qui vous l'a envoyé.",
                  "en": "Ask the person who sent it to you for a new link."},
    "not_found_title": {"fr": "Lien inconnu", "en": "Unknown link"},
    "not_found": {"fr": "Ce lien ne correspond à aucun partage. Vérifiez qu'il est complet.",
                  "en": "This link matches no share. Check that it is complete."},
    "code_title": {"fr": "Code d'accès", "en": "Access code"},
    "code_needed": {
        "fr": "Ce partage est protégé : saisissez le code d'accès que son titulaire vous a "
              "communiqué.",
        "en": "This share is protected: type the access code its holder gave you."},
    "code_label": {"fr": "Code d'accès", "en": "Access code"},
    "code_submit": {"fr": "Afficher les éléments", "en": "Show the items"},
    "code_wrong": {"fr": "Code incorrect.", "en": "Wrong code."},
    "code_locked": {
        "fr": "Trop de codes incorrects : réessayez dans {minutes} minutes.",
        "en": "Too many wrong codes: try again in {minutes} minutes."},
    "verify_title": {"fr": "Vérifier une certification", "en": "Verify a certification"},
    "verify_label": {"fr": "Code de vérification (10 caractères)",
                     "en": "Verification code (10 characters)"},
    "verify_submit": {"fr": "Vérifier", "en": "Verify"},
    "verify_unknown": {"fr": "Aucun élément ne porte ce code.",
                       "en": "No item carries this code."},
    "verify_authentic": {"fr": "Authentique : cet élément a été transmis par {who}.",
                         "en": "Authentic: this item was sent by {who}."},
    "verify_valid": {"fr": "Valide à ce jour.", "en": "Valid today."},
    "verify_not_valid": {"fr": "N'est pas valide à ce jour : {status}.",
                         "en": "Not valid today: {status}."},
    "verify_holder": {"fr": "Titulaire", "en": "Holder"},
    "verify_checked": {"fr": "Vérifié le {when} (heure de Paris).",
                       "en": "Checked on {when} (Paris time)."},
    "rate_limited": {"fr": "Trop de vérifications : réessayez dans {seconds} secondes.",
                     "en": "Too many checks: try again in {seconds} seconds."},
    "switch": {"fr": "English", "en": "Français"},
    "mention.SANS_MENTION": {"fr": "Sans mention", "en": "Pass"},
    "mention.MENTION_ASSEZ_BIEN": {"fr": "Assez bien", "en": "Fairly good"},
    "mention.MENTION_BIEN": {"fr": "Bien", "en": "Good"},
    "mention.MENTION_TRES_BIEN": {"fr": "Très bien", "en": "Very good"},
    "mention.MENTION_TRES_BIEN_AVEC_FELICITATIONS_DU_JURY": {
        "fr": "Très bien avec les félicitations du jury",
        "en": "Very good, with the jury's congratulations"},
}


class Texts:
    """The messages of one language, for templates: ``t("key", name=…)``."""

    def __init__(self, language: str) -> None:
        self.language = language

    def __call__(self, key: str, **values: Any) -> str:
        return MESSAGES[key][self.language].format(**values)

    def mention(self, code: str) -> str:
        """A mention in words (a code we do not know is shown as sent)."""
        key = f"mention.{code}"
        return self(key) if key in MESSAGES else code

    def date(self, value: dt.date | str | None) -> str:
        if isinstance(value, str):
            value = dt.date.fromisoformat(value)
        return format_date(value, "long", locale=self.language) if value else ""

    def datetime(self, value: dt.datetime | None) -> str:
        if value is None:
            return ""
        return format_datetime(value, "d MMMM y, HH:mm", tzinfo=PARIS, locale=self.language)


def language() -> str:
    """``?lang=`` first, then ``Accept-Language``; French by default."""
    asked = request.args.get("lang")
    if asked in LANGUAGES:
        return asked
    return request.accept_languages.best_match(LANGUAGES, default="fr") or "fr"


def _page(template: str, status: int = 200, headers: dict[str, str] | None = None,
          **values: Any) -> Response:
    texts = Texts(language())
    other = "en" if texts.language == "fr" else "fr"
    html = render_template(template, t=texts, lang=texts.language, other_lang=other, **values)
    response = Response(html, status=status, mimetype="text/html")
    response.headers.update(HEADERS)
    response.headers.update(headers or {})
    return response


def _visits() -> URLSafeTimedSerializer:
    settings = current_app.config["PASSPORT_SETTINGS"]
    return URLSafeTimedSerializer(settings.derived_key("share-visit"), salt="share-visit")


def _visit(token: str) -> int | None:
    """The share id of this browser's current visit, if it was let in recently."""
    cookie = request.cookies.get(VISIT_COOKIE)
    if not cookie:
        return None
    try:
        share_id, token_hash = _visits().loads(cookie, max_age=VISIT_SECONDS)
    except BadSignature:
        return None
    return int(share_id) if token_hash == service.token_hash(token) else None


def _remember_visit(response: Response, token: str, share_id: int) -> Response:
    response.set_cookie(VISIT_COOKIE, _visits().dumps([share_id, service.token_hash(token)]),
                        max_age=VISIT_SECONDS, path=f"/s/{token}", httponly=True,
                        secure=request.is_secure, samesite="Strict")
    return response


@bp.route("/s/<string:token>", methods=["GET", "POST"])
def share_page(token: str) -> Response:
    """The share, as a page. A POST carries the access code typed in the form. A reload or
    a language switch within a few minutes is the same visit: not a new view."""
    db = session()
    if request.method == "HEAD":  # link checkers: the status, nothing counted
        status = service.share_status(db, token)
        return Response(status={"missing": 404, "active": 200}.get(status, 410),
                        headers=HEADERS)
    code = request.form.get("code") if request.method == "POST" else None
    lock_for_writing(db)  # SQLite: a view counts, so the write lock before the share is read
    try:
        visit = _visit(token)
        data = service.revisit(db, context(), token, visit) if visit else None
        if data is None:
            data = service.open_share(db, context(), token, code,
                                      user_agent=request.user_agent.string, channel="page")
    except NotFound:
        db.rollback()
        return _page("share/share_missing.html", 404)
    except service.ShareGone as gone:
        db.rollback()
        return _page("share/share_gone.html", 410, reason=gone.reason, when=gone.when)
    except service.ShareCodeInvalid:
        db.commit()  # the failed attempt counts
        return _page("share/share_code.html", 401, wrong=True)
    except service.ShareCodeRequired:
        db.rollback()
        return _page("share/share_code.html", 401, wrong=False)
    except RateLimited as locked:
        db.commit()
        return _page("share/share_code.html", 429, {"Retry-After": str(locked.retry_after)},
                     wrong=False, locked_minutes=max(1, round(locked.retry_after / 60)))
    except BaseException:
        db.rollback()
        raise
    db.commit()
    return _remember_visit(_page("share/share.html", share=data), token, data["id"])


@bp.route("/verifier")
@bp.route("/verifier/<string:code>")
def verify_page(code: str | None = None) -> Response:
    """Type (or follow) a verification code; see what it attests and whether it holds."""
    code = code or request.args.get("code")
    if not code:
        return _page("share/verify.html", typed="")
    db = session()
    lock_for_writing(db)  # SQLite: the attempt is counted and journaled
    try:
        result = service.verify(db, context(), code, user_agent=request.user_agent.string,
                                client_address=request.remote_addr)
    except NotFound:
        db.commit()  # the attempt counts against the rate limit
        return _page("share/verify.html", 404, typed=code, unknown=True)
    except RateLimited as limited:
        db.commit()
        return _page("share/verify.html", 429, {"Retry-After": str(limited.retry_after)}, typed=code,
                     retry_after=limited.retry_after)
    except BaseException:
        db.rollback()
        raise
    db.commit()
    return _page("share/verify.html", typed=code, result=result)
