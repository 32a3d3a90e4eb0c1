"""Reading the free text of France compétences: competence lists and option names.

``LISTE_COMPETENCES`` (blocs) and ``CAPACITES_ATTESTEES`` are never structured; the export
turns line breaks into runs of spaces. Five formats are seen in real sheets; we split the
ones we recognise without doubt and keep the raw text otherwise (never guess):

1. ``* item      o sub-item      * item`` bullets (RNCP37488, BTS SIO);
2. ``- item  - item`` dashes (RNCP39568);
3. coded items ``A1C1. item        A1C2.item`` or ``C1.1 item`` (RNCP34762, RS6604);
4. paragraphs: sentences ending with ``.`` then a run of spaces and a capital (RNCP40344);
5. items separated only by runs of spaces, without punctuation: kept raw.
"""

from __future__ import annotations

import re
import unicodedata

_GAP = r"(?:^|\s{2,})"
_BULLET = re.compile(_GAP + r"[*•]\s*")
_SUB_BULLET = re.compile(r"\s{2,}o\s+")
_DASH = re.compile(_GAP + r"[-–]\s+")
_CODE = re.compile(r"(?:^|\s{2,}|:\s*)((?:[A-Z]{1,3}\d+)(?:[.\-]?[A-Z]?\d+)*\.?)(?=\s|[A-ZÀ-Ý])")
_PARAGRAPH = re.compile(r"(?<=[.;!?])\s{3,}(?=[A-ZÀ-Ý«\"(])")
_OPTION = re.compile(r"\boption\s*:?\s*([^:,–—(]+)", re.IGNORECASE)
MIN_ITEMS = 2


def _clean(item: str) -> str:
    return re.sub(r"\s+", " ", item).strip(" ;,")


def _split(text: str, separator: re.Pattern[str]) -> list[str]:
    parts = separator.split(text)
    # Text before the first separator is an introduction ("Les compétences attestées :").
    items = [_clean(p) for p in parts[1:]] if separator.search(text) else []
    return [i for i in items if i]


def parse_competences(text: str | None) -> list[str] | None:
    """The competences of a free-text list, or None when its format is not one we read
    without guessing (the raw text is then shown as it is)."""
    if not text or not text.strip():
        return None
    body = text.strip()
    if _BULLET.search(body):
        items: list[str] = []
        for item in _split(body, _BULLET):
            items.extend(_clean(part) for part in _SUB_BULLET.split(item) if _clean(part))
        return items if len(items) >= MIN_ITEMS else None
    if len(_DASH.findall(body)) >= MIN_ITEMS:
        items = _split(body, _DASH)
        return items if len(items) >= MIN_ITEMS else None
    codes = _CODE.findall(body)
    intro = body[:body.find(codes[0])].strip() if codes else ""
    if len(codes) >= MIN_ITEMS and (not intro or intro.endswith(":")):
        pieces = _CODE.split(body)
        # split() with one group: [before, code1, text1, code2, text2, …]
        items = [_clean(f"{code.rstrip('.')} {rest.strip()}")
                 for code, rest in zip(pieces[1::2], pieces[2::2], strict=True)]
        return items if len(items) >= MIN_ITEMS else None
    paragraphs = [_clean(p) for p in _PARAGRAPH.split(body) if _clean(p)]
    if len(paragraphs) >= MIN_ITEMS:
        return paragraphs
    return None


def _key(text: str) -> str:
    decomposed = unicodedata.normalize("NFKD", text)
    letters = "".join(c for c in decomposed if not unicodedata.combining(c))
    return re.sub(r"[^A-Z0-9]+", " ", letters.upper()).strip()


def option_of(title: str | None) -> str | None:
    """The option a bloc title names (``Option A : Solutions …`` → ``A : Solutions …``)."""
    if not title:
        return None
    found = _OPTION.search(title)
    return _clean(title[found.start(1):]) if found else None


def option_matches(bloc_option: str, passage_option: str) -> bool:
    """Whether a bloc's option is the passage's (``libelleOption``): the same option letter
    or name, however either is written."""
    bloc, holder = _key(bloc_option), _key(passage_option)
    if not bloc or not holder:
        return False
    holder = holder.removeprefix("OPTION ").strip()
    first_bloc, first_holder = bloc.split()[0], holder.split()[0]
    if len(first_bloc) <= 2 and first_bloc == first_holder:  # "A" and "A : …"
        return True
    return bloc in holder or holder in bloc


def same_title(a: str, b: str) -> bool:
    """Whether two bloc titles name the same bloc (codes change between versions)."""
    return _key(a) == _key(b)
