"""Fixed-window rate limits kept in the database (shared by every worker process), and
slots bounding how many long requests of one kind run at once on a host (`slot`).

Keys name what is limited: a client (``verify:<hashed address>``), an object
(``share-code:<id>``). Client addresses are only ever stored as keyed hashes.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import fcntl
import hashlib
import hmac
import os
from collections.abc import Iterator
from pathlib import Path

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
        _forget_expired(db, now)
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


def blocked(db: Session, key: str, limit: int) -> int | None:
    """The seconds to wait when ``key`` already reached ``limit`` in its window, else None;
    counts nothing (for limits on failures, counted with `hit` once they happen)."""
    bucket = db.get(RateBucket, key)
    now = utcnow()
    if bucket is None or bucket.window_ends_at <= now or bucket.count < limit:
        return None
    return int((bucket.window_ends_at - now).total_seconds()) + 1


#: Expired buckets removed each time a bucket is created: the table holds the live ones
#: (an expired bucket counts as none), not every address ever seen.
FORGET_PER_NEW_BUCKET = 100


def _forget_expired(db: Session, now: dt.datetime) -> None:
    # The outer condition is checked again on a bucket another request just renewed.
    expired = RateBucket.window_ends_at <= now
    db.execute(sa.delete(RateBucket).where(expired, RateBucket.key.in_(
        sa.select(RateBucket.key).where(expired).limit(FORGET_PER_NEW_BUCKET))))


@contextlib.contextmanager
def slot(directory: Path, name: str, count: int) -> Iterator[bool]:
    """Hold one of ``count`` slots named ``name`` on this host, if one is free: yields
    True while holding it, False when all are taken.

    A slot is an exclusive ``flock`` on ``directory/name-N.lock``: every process and
    thread of the host sees it, and the kernel releases it when its holder ends, however
    it ends (a worker killed mid-request frees its slot).
    """
    directory.mkdir(parents=True, exist_ok=True)
    for number in range(count):
        fd = os.open(directory / f"{name}-{number}.lock", os.O_CREAT | os.O_RDWR, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            continue
        try:
            yield True
        finally:
            os.close(fd)  # releases the lock
        return
    yield False
