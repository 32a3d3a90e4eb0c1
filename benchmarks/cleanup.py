"""`passport cleanup` benchmark: N logins (refresh-token families of three tokens, two of
them rotated, each with its authorization code), half of them ended a month ago; the time
to count what would go (dry run) and to remove it, and what stayed.

    python -m benchmarks.cleanup [--sizes 10000,100000] [--postgres-url URL]

Without ``--postgres-url`` each size gets a fresh SQLite file; with it, a fresh database in
that cluster (a superuser URL).
"""

from __future__ import annotations

import datetime as dt
import time
import uuid
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from benchmarks.common import per_size, sized_arguments

CHUNK = 5000


def fill(url: str, logins: int) -> None:
    from passport.auth.models import Account, AuthorizationCode, OAuthClient, RefreshToken, Role
    from passport.db import make_engine, utcnow

    now = utcnow()
    engine = make_engine(url)
    with engine.begin() as conn:
        conn.execute(sa.insert(OAuthClient.__table__).values(
            client_id="bench", name="bench", redirect_uris=[], scope="passport:read",
            grant_types=["authorization_code"], created_at=now))
        account = conn.execute(sa.insert(Account.__table__).values(
            public_id=str(uuid.uuid4()), role=Role.HOLDER, issuer="bench", subject="bench",
            created_at=now).returning(Account.__table__.c.id)).scalar_one()
    for start in range(0, logins, CHUNK):
        codes: list[dict[str, Any]] = []
        tokens: list[dict[str, Any]] = []
        for n in range(start, min(start + CHUNK, logins)):
            ended = n % 2 == 0  # half of the logins ended a month ago
            issued = now - dt.timedelta(days=60 if ended else 1)
            expires = issued + dt.timedelta(days=30)
            family, code = uuid.uuid4().hex, uuid.uuid4().hex
            codes.append({"code_hash": code, "client_id": "bench", "account_id": account,
                          "redirect_uri": "https://app.example/cb", "scope": "passport:read",
                          "code_challenge": "x", "code_challenge_method": "S256",
                          "auth_time": issued, "expires_at": issued + dt.timedelta(minutes=1),
                          "used_at": issued, "created_at": issued})
            for step in range(3):
                tokens.append({"token_hash": uuid.uuid4().hex, "family": family,
                               "client_id": "bench", "account_id": account,
                               "scope": "passport:read", "code_hash": code,
                               "issued_at": issued, "expires_at": expires,
                               "rotated_at": issued if step < 2 else None, "revoked_at": None})
        with engine.begin() as conn:
            conn.execute(sa.insert(AuthorizationCode.__table__), codes)
            conn.execute(sa.insert(RefreshToken.__table__), tokens)
    if engine.dialect.name == "postgresql":
        with engine.connect() as conn:
            conn.exec_driver_sql("ANALYZE")
    engine.dispose()


def measure(url: str, logins: int, out: Path) -> dict[str, Any]:
    from passport import cleanup
    from passport.auth.models import AuthorizationCode, RefreshToken
    from passport.config import Settings
    from passport.db import make_engine, make_session_factory
    from passport.deposits import service  # noqa: F401  (imported before the clock runs)
    from passport.migrate import upgrade

    upgrade(url)
    fill(url, logins)
    settings = Settings.from_env({"PASSPORT_DATABASE_URL": url, "PASSPORT_ENV": "test",
                                  "PASSPORT_INSTANCE_DIR": str(out / "cleanup-instance")})
    engine = make_engine(url)
    sessions = make_session_factory(engine)
    started = time.perf_counter()
    counted = {k.label: k.count for k in cleanup.run(sessions, settings, dry_run=True)}
    dry = time.perf_counter() - started
    started = time.perf_counter()
    removed = {k.label: k.count for k in cleanup.run(sessions, settings)}
    seconds = time.perf_counter() - started
    with engine.connect() as conn:
        left = {"tokens": conn.scalar(sa.select(sa.func.count()).select_from(RefreshToken)),
                "codes": conn.scalar(sa.select(sa.func.count()).select_from(AuthorizationCode))}
    engine.dispose()
    assert counted == removed, (counted, removed)
    return {"logins": logins, "database": engine.dialect.name, "tokens": logins * 3,
            "dry_run_s": round(dry, 2), "cleanup_s": round(seconds, 2),
            "tokens_removed": removed["refresh tokens of ended logins"],
            "codes_removed": removed["authorization codes"],
            "tokens_left": left["tokens"], "codes_left": left["codes"]}


def main() -> None:
    args = sized_arguments(__doc__, "10000,100000", "logins")
    rows = per_size(args, "cleanup", measure)
    print("\n| logins | database | tokens | dry run s | clean-up s | tokens removed | codes removed "
          "| tokens left | codes left |\n|---:|---|---:|---:|---:|---:|---:|---:|---:|")
    for r in rows:
        print(f"| {r['logins']:,} | {r['database']} | {r['tokens']:,} | {r['dry_run_s']} "
              f"| {r['cleanup_s']} | {r['tokens_removed']:,} | {r['codes_removed']:,} "
              f"| {r['tokens_left']:,} | {r['codes_left']:,} |")


if __name__ == "__main__":
    main()
