"""Fixed-window rate limits in the database: counting, peeking, and forgetting the expired."""

from __future__ import annotations

import datetime as dt

import sqlalchemy as sa
from sqlalchemy.orm import Session

from passport import ratelimit
from passport.db import utcnow
from passport.sharing.models import RateBucket

WINDOW = dt.timedelta(minutes=15)


def test_hits_count_up_to_the_limit_and_blocked_only_looks(db: Session) -> None:
    for _ in range(3):
        assert ratelimit.blocked(db, "k", 3) is None
        assert ratelimit.hit(db, "k", 3, WINDOW) is None
    assert db.get(RateBucket, "k").count == 3
    wait = ratelimit.blocked(db, "k", 3)
    assert wait is not None and 14 * 60 < wait <= 15 * 60 + 1
    refused = ratelimit.hit(db, "k", 3, WINDOW)
    assert refused is not None and abs(refused - wait) <= 1
    assert db.get(RateBucket, "k").count == 3  # refused attempts are not counted
    assert ratelimit.blocked(db, "k", 4) is None  # the limit is the caller's


def test_an_expired_window_starts_again(db: Session) -> None:
    db.add(RateBucket(key="k", count=9, window_ends_at=utcnow() - dt.timedelta(seconds=1)))
    db.flush()
    assert ratelimit.blocked(db, "k", 3) is None
    assert ratelimit.hit(db, "k", 3, WINDOW) is None
    bucket = db.get(RateBucket, "k")
    assert bucket.count == 1 and bucket.window_ends_at > utcnow() + dt.timedelta(minutes=14)


def test_a_new_bucket_forgets_expired_ones(db: Session) -> None:
    """Buckets would otherwise pile up, one per address ever seen."""
    now = utcnow()
    db.add_all(RateBucket(key=f"old-{n}", count=1, window_ends_at=now - dt.timedelta(hours=1))
               for n in range(ratelimit.FORGET_PER_NEW_BUCKET + 5))
    db.add(RateBucket(key="live", count=2, window_ends_at=now + WINDOW))
    db.flush()
    ratelimit.hit(db, "new", 3, WINDOW)
    left = set(db.scalars(sa.select(RateBucket.key)))
    assert {"live", "new"} <= left
    assert len(left) == 2 + 5  # a bounded number forgotten per new bucket
    ratelimit.hit(db, "newer", 3, WINDOW)
    assert set(db.scalars(sa.select(RateBucket.key))) == {"live", "new", "newer"}
