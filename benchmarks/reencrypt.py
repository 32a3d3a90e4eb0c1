"""`passport keys reencrypt` benchmark: N holders and N identity records encrypted under a
former key; the time to move every value to the current one, values per second, and a
check that every NIR still opens with the new key alone.

    python -m benchmarks.reencrypt [--sizes 10000,100000] [--postgres-url URL]

Without ``--postgres-url`` each size gets a fresh SQLite file; with it, a fresh database in
that cluster (a superuser URL).
"""

from __future__ import annotations

import base64
import time
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from benchmarks.common import per_size, sized_arguments

CHUNK = 5000
OLD, NEW = (base64.b64encode(bytes([n]) * 32).decode() for n in (7, 9))


def settings_for(url: str, out: Path, key_id: str, key: str, old: str = "") -> Any:
    from passport.config import Settings

    return Settings.from_env({
        "PASSPORT_DATABASE_URL": url, "PASSPORT_ENV": "test",
        "PASSPORT_INSTANCE_DIR": str(out / "reencrypt-instance"),
        "PASSPORT_NIR_ENCRYPTION_KEY_ID": key_id, "PASSPORT_NIR_ENCRYPTION_KEY": key,
        "PASSPORT_NIR_ENCRYPTION_OLD_KEYS": old})


def nir(n: int) -> str:
    from passport.nir import with_key

    # 1 (sex) 85 (year) 07 (month) 75 (Paris) + commune and order from n.
    return with_key(f"1850775{n // 1000:03d}{n % 1000:03d}")


def fill(url: str, people: int, vault: Any) -> None:
    from passport.db import make_engine, utcnow
    from passport.holders.models import Holder, IdentityRecord

    now = utcnow()
    engine = make_engine(url)
    for start in range(0, people, CHUNK):
        holders, records = [], []
        for n in range(start, min(start + CHUNK, people)):
            number = nir(n)
            sealed = {"nir_hmac": vault.pseudonym(number), "nir_enc": vault.encrypt(number),
                      "nir_key_id": vault.key_id}
            holders.append({**sealed, "created_at": now})
            records.append({**sealed, "nom_naissance": f"NOM{n}", "prenom1": "PRENOM",
                            "annee_naissance": 1985, "sexe": "M", "match_key": f"k{n}",
                            "imported_at": now, "updated_at": now})
        with engine.begin() as conn:
            conn.execute(sa.insert(Holder.__table__), holders)
            conn.execute(sa.insert(IdentityRecord.__table__), records)
    if engine.dialect.name == "postgresql":
        with engine.connect() as conn:
            conn.exec_driver_sql("ANALYZE")
    engine.dispose()


def measure(url: str, people: int, out: Path) -> dict[str, Any]:
    from passport import rekey
    from passport.db import make_engine, make_session_factory
    from passport.holders.models import Holder
    from passport.migrate import upgrade
    from passport.nir import NirVault

    upgrade(url)
    fill(url, people, NirVault(settings_for(url, out, "old", OLD)))
    vault = NirVault(settings_for(url, out, "new", NEW, f"old:{OLD}"))
    engine = make_engine(url)
    sessions = make_session_factory(engine)
    started = time.perf_counter()
    done = rekey.reencrypt(sessions, vault)
    seconds = time.perf_counter() - started
    new_only = NirVault(settings_for(url, out, "new", NEW))
    with engine.connect() as conn:
        opened = sorted(new_only.decrypt(kid, blob) for blob, kid in conn.execute(
            sa.select(Holder.nir_enc, Holder.nir_key_id)))
    engine.dispose()
    assert opened == sorted(nir(n) for n in range(people)), "a NIR changed"
    values = sum(done.values())
    return {"people": people, "database": engine.dialect.name, "values": values,
            "reencrypt_s": round(seconds, 2), "values_per_s": round(values / seconds)}


def main() -> None:
    args = sized_arguments(__doc__, "10000,100000", "holders (as many identities)")
    rows = per_size(args, "reencrypt", measure)
    print("\n| holders | database | values | re-encrypt s | values/s |\n|---:|---|---:|---:|---:|")
    for r in rows:
        print(f"| {r['people']:,} | {r['database']} | {r['values']:,} | {r['reencrypt_s']} "
              f"| {r['values_per_s']:,} |")


if __name__ == "__main__":
    main()
