"""Open Badges 3.0 credentials (W3C Verifiable Credentials, JWT proof) for attested items,
and the Bitstring Status List that revokes them when the certifier withdraws the item.

* The credential is a JWT (header ``alg=ES256``, ``kid`` of our JWKS) whose ``vc`` claim is
  an ``OpenBadgeCredential`` (Open Badges 3.0 §8.2, JSON Web Token proof format).
* Each attested item gets, once, a random index in a status list of 131,072 bits (the
  minimum the W3C Bitstring Status List recommends so that a list says nothing about
  whom a verifier checks). The list is itself a signed credential that anyone downloads
  whole from ``/credentials/status/{list}``: verifiers never tell us what they check.
"""

from __future__ import annotations

import base64
import gzip
import hashlib
import secrets
import time
import uuid
from typing import Any, cast

import sqlalchemy as sa
from joserfc import jwt
from sqlalchemy.orm import Session

from passport.auth.keys import ALGORITHM, KeyRing
from passport.config import Settings
from passport.credentials.models import StatusEntry
from passport.db import insert_missing, read_or_insert, table_of, utcnow
from passport.errors import Conflict, NotFound
from passport.records import service as records
from passport.records.models import Passage
from passport.referentials import service as referentials

#: Bits per status list (16 KB): the W3C recommendation for group privacy.
LIST_SIZE = 131_072
#: A list takes new entries until it is this full, then the next list starts.
LIST_FILL = LIST_SIZE // 2
CONTEXTS = ["https://www.w3.org/ns/credentials/v2",
            "https://purl.imsglobal.org/spec/ob/v3p0/context-3.0.3.json"]
ISSUER_NAME = "Passeport de compétences"


def issuer_profile(settings: Settings) -> dict[str, Any]:
    """Our Open Badges issuer profile (also served at ``/credentials/issuer``)."""
    return {"@context": CONTEXTS, "id": f"{settings.issuer}/credentials/issuer",
            "type": ["Profile"], "name": ISSUER_NAME, "url": settings.issuer,
            "description": "Attestations des certifications transmises par les organismes "
                           "certificateurs au système d'information du CPF."}


def status_list_url(settings: Settings, list_id: int) -> str:
    return f"{settings.issuer}/credentials/status/{list_id}"


def status_entry(db: Session, passage_id: int) -> StatusEntry:
    """The item's status list entry, allocated at random on first issue.

    Two first issues at once (a double click) would both allocate: the insert leaves a
    row another transaction made alone (for this item, or by chance at the same index),
    and the entry is read back.
    """

    def allocate() -> Any:
        list_id = db.scalar(sa.select(sa.func.max(StatusEntry.list_id))) or 1
        used = db.scalar(sa.select(sa.func.count()).where(StatusEntry.list_id == list_id)) or 0
        if used >= LIST_FILL:
            list_id += 1
        taken = set(db.scalars(sa.select(StatusEntry.index)
                               .where(StatusEntry.list_id == list_id)))
        while (index := secrets.randbelow(LIST_SIZE)) in taken:
            pass
        return insert_missing(db, table_of(StatusEntry)).values(
            passage_id=passage_id, list_id=list_id, index=index, created_at=utcnow())

    return cast(StatusEntry, read_or_insert(
        db, sa.select(StatusEntry).where(StatusEntry.passage_id == passage_id), allocate,
        what=f"status list entry of passage {passage_id}"))


def _sign(settings: Settings, keys: KeyRing, subject: str, credential: dict[str, Any],
          valid_from: int) -> str:
    key = keys.current
    claims = {"iss": credential["issuer"]["id"] if isinstance(credential["issuer"], dict)
              else credential["issuer"], "sub": subject, "jti": credential["id"],
              "nbf": valid_from, "iat": int(time.time()), "vc": credential}
    header = {"alg": ALGORITHM, "kid": key.kid, "typ": "JWT"}
    return jwt.encode(header, claims, key, algorithms=[ALGORITHM])


def _identity(name: str | None) -> list[dict[str, Any]]:
    """The holder's name, salted and hashed (Open Badges IdentityObject): a verifier who
    is told the name can check it; the credential alone does not reveal it."""
    if not name:
        return []
    salt = secrets.token_hex(8)
    digest = hashlib.sha256((name.strip().lower() + salt).encode()).hexdigest()
    return [{"type": "IdentityObject", "identityType": "name", "hashed": True,
             "identityHash": f"sha256${digest}", "salt": salt}]


class ProvisionalResult(Conflict):
    """The item is a provisional result: no portable credential until it is definitive."""

    code = "provisional_result"
    title = "Provisional result"


def credential(db: Session, settings: Settings, keys: KeyRing, holder_id: int,
               passage_id: int, *, holder_name: str | None) -> dict[str, Any]:
    """A signed OpenBadgeCredential for one of the holder's visible, attested, definitive
    items."""
    row = db.execute(records.certification_query(holder_id).where(
        Passage.id == passage_id, Passage.withdrawn_at.is_(None),
        Passage.hidden.is_(False))).first()
    if row is None:
        raise NotFound(f"No visible attested item {passage_id} in your passport.")
    if not row[0].donnee_certifiee:
        # A credential outlives what it says, and nothing in Open Badges marks a result
        # the certifier may still change.
        raise ProvisionalResult(
            f"Item {passage_id} is a provisional result: its certifier has not confirmed it "
            "yet. A credential can be made once a definitive result is received.")
    item = referentials.enrich(db, [records.certification_item(*row)])[0]
    sheet = item["referential"] or {}
    entry = status_entry(db, passage_id)
    list_url = status_list_url(settings, entry.list_id)
    title = sheet.get("title") or item["title"] or item["code"]
    certifier = item["certifier"]["name"] or item["certifier"]["bcr"]
    repertoire = "rs" if item["type"] == "RS" else "rncp"
    number = item["code"].removeprefix("RNCP").removeprefix("RS")
    alignment = [{"type": ["Alignment"], "targetType": "ceterms:Credential",
                  "targetName": title, "targetCode": item["code"],
                  "targetFramework": f"Répertoire {item['type']}",
                  "targetUrl": f"https://www.francecompetences.fr/recherche/{repertoire}/"
                               f"{number}/"}]
    if sheet.get("eqf_level"):
        alignment.append({"type": ["Alignment"], "targetType": "ext:EQFLevel",
                          "targetName": f"EQF {sheet['eqf_level']}",
                          "targetCode": str(sheet["eqf_level"]),
                          "targetFramework": "European Qualifications Framework",
                          "targetUrl": "https://europass.europa.eu/en/description-eight-eqf-levels"})
    achievement = {
        "id": f"{settings.issuer}/credentials/achievements/{item['code']}",
        "type": ["Achievement"],
        "achievementType": "Certificate" if item["type"] == "RS" else "Diploma",
        "name": title, "humanCode": item["code"],
        "description": f"{item['type']} {item['code']}"
                       + (f" — {sheet['type']['label']}" if sheet.get("type") else ""),
        "criteria": {"narrative": f"Certification délivrée par {certifier} et transmise "
                                  "au système d'information du CPF."},
        "alignment": alignment,
        "tag": [b["title"] for b in sheet.get("blocks", [])],
    }
    valid_from = item["validity"]["start"]
    document = {
        "@context": CONTEXTS,
        "id": f"urn:uuid:{uuid.uuid4()}",
        "type": ["VerifiableCredential", "OpenBadgeCredential"],
        "issuer": {"id": issuer_profile(settings)["id"], "type": ["Profile"],
                   "name": ISSUER_NAME, "url": settings.issuer},
        "name": title,
        "validFrom": f"{valid_from.isoformat()}T00:00:00Z",
        "credentialSubject": {"type": ["AchievementSubject"], "achievement": achievement,
                              "identifier": _identity(holder_name)},
        "credentialStatus": {"id": f"{list_url}#{entry.index}",
                             "type": "BitstringStatusListEntry", "statusPurpose": "revocation",
                             "statusListIndex": str(entry.index),
                             "statusListCredential": list_url},
    }
    if item["validity"]["end"]:
        document["validUntil"] = f"{item['validity']['end'].isoformat()}T23:59:59Z"
    subject = document["id"]
    nbf = int(time.mktime(valid_from.timetuple()))
    return {"jwt": _sign(settings, keys, subject, document, nbf), "credential": document}


def encode_bits(indexes: list[int], size: int = LIST_SIZE) -> str:
    """Multibase base64url (no padding) of the GZIP-compressed bitstring; index 0 is the
    most significant bit of the first byte."""
    bits = bytearray(size // 8)
    for index in indexes:
        bits[index // 8] |= 0x80 >> (index % 8)
    packed = base64.urlsafe_b64encode(gzip.compress(bytes(bits), mtime=0)).rstrip(b"=")
    return "u" + packed.decode()


def status_list(db: Session, settings: Settings, keys: KeyRing, list_id: int) -> str:
    """The status list credential (a JWT): bits set for withdrawn items."""
    exists = db.scalar(sa.select(sa.func.count()).where(StatusEntry.list_id == list_id))
    if not exists:
        raise NotFound(f"No status list {list_id}.")
    revoked = list(db.scalars(
        sa.select(StatusEntry.index).join(Passage, Passage.id == StatusEntry.passage_id)
        .where(StatusEntry.list_id == list_id, Passage.withdrawn_at.is_not(None))))
    url = status_list_url(settings, list_id)
    document = {
        "@context": CONTEXTS[:1],
        "id": url,
        "type": ["VerifiableCredential", "BitstringStatusListCredential"],
        "issuer": {"id": issuer_profile(settings)["id"], "type": ["Profile"],
                   "name": ISSUER_NAME},
        "validFrom": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "credentialSubject": {"id": f"{url}#list", "type": "BitstringStatusList",
                              "statusPurpose": "revocation",
                              "encodedList": encode_bits(revoked)},
    }
    return _sign(settings, keys, f"{url}#list", document, int(time.time()))
