"""Fixed-window rate limits kept in the database (shared by every worker process).

Keys name what is limited: a client (``verify:<hashed address>``), an object
(``share-code:<id>``). Client addresses are only ever stored as keyed hashes.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac

import sqlalchemy as sa
from sqlalchemy.orm import Session

from passport.db import utcnow
from passport.sharing.models import RateBucket


def client_key(prefix: str, address: str | None, secret: bytes) -> str:
    """A bucket key for a client address, without storing the address."""
    digest = hmac.new(secret, (address or "unknown").encode(), hashlib.sha256).hexdigest()[:32]
    return f"{prefix}:{digest}"


def hit(db: Session, key: str, limit: int, window: dt.timedelta) -> int | None:
    """Count one attempt; return the seconds to wait when over ``limit``, else None."""
    now = utcnow()
    bucket = db.get(RateBucket, key, with_for_update=True)
    if bucket is None:
        try:
            with db.begin_nested():
                bucket = RateBucket(key=key, count=0, window_ends_at=now + window)
                db.add(bucket)
                db.flush()
        except sa.exc.IntegrityError:  # another request created it meanwhile
            bucket = db.get(RateBucket, key, with_for_update=True)
            assert bucket is not None
    if bucket.window_ends_at <= now:
        bucket.count, bucket.window_ends_at = 0, now + window
    if bucket.count >= limit:
        return int((bucket.window_ends_at - now).total_seconds()) + 1
    bucket.count += 1
    return None
