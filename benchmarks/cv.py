"""Time to produce a holder's sealed PDF CV, end to end (the database reads, the HTML, the
WeasyPrint layout, the PAdES seal), for holders with 10, 50 and 200 items (half attested,
half declared), on a fresh SQLite database.

    python -m benchmarks.cv [--sizes 10,50,200] [--runs 15]
"""

from __future__ import annotations

import argparse
import datetime as dt
import io
import json
import statistics
import tempfile
import time
import uuid
from pathlib import Path

from pypdf import PdfReader

from passport.config import Settings
from passport.cvs import service
from passport.cvs.content import CvRequest
from passport.cvs.signing import Sealer
from passport.db import make_engine, make_session_factory, unit_of_work
from passport.deposits.models import Deposit, DepositStatus
from passport.holders.models import Holder
from passport.migrate import upgrade
from passport.records.models import Declaration, DeclarationKind, Passage
from passport.referentials.models import Certification

ROOT = Path(__file__).resolve().parent.parent


def holder_with(db: object, items: int, first_code: int) -> int:
    from sqlalchemy.orm import Session

    assert isinstance(db, Session)
    holder = Holder(nir_hmac=uuid.uuid4().hex * 2, nir_enc=b"\0", nir_key_id="bench")
    deposit = Deposit(file_name="bench.xml", sha256="0" * 64, size_bytes=0,
                      status=DepositStatus.TRAITE)
    db.add_all([holder, deposit])
    db.flush()
    for n in range(items // 2):
        certification = Certification(type="RNCP", code=f"RNCP{first_code + n}",
                                      title=f"Titre professionnel de test numéro {n}")
        db.add(certification)
        db.flush()
        db.add(Passage(
            holder_id=holder.id, deposit_id=deposit.id, certification_id=certification.id,
            emitter_bcr="BENCH001", certifier_bcr="BENCH001", contract_id="C",
            id_technique=f"P-{n}", obtention_certification="PAR_ADMISSION",
            donnee_certifiee=True, date_debut_validite=dt.date(2020, 1, 1) + dt.timedelta(n),
            presence_niveau_langue_euro=False, presence_niveau_numerique_euro=False,
            mention_validee="MENTION_BIEN", identification="titulaire", titulaire={}))
    kinds = list(DeclarationKind)
    for n in range(items - items // 2):
        db.add(Declaration(
            holder_id=holder.id, kind=kinds[n % len(kinds)], title=f"Élément déclaré {n}",
            organisation="Atelier Numérique", start_date=dt.date(2015, 1, 1),
            end_date=dt.date(2016, 1, 1), description="Une ligne de description. " * 3,
            skills=["Python", "SQL"]))
    db.flush()
    return holder.id


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="10,50,200")
    parser.add_argument("--runs", type=int, default=15)
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "out")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="cv-bench-") as tmp:
        work = Path(tmp)
        url = f"sqlite:///{work / 'cv.sqlite3'}"
        upgrade(url)
        settings = Settings.from_env({"PASSPORT_ENV": "development", "PASSPORT_DATABASE_URL": url,
                                      "PASSPORT_INSTANCE_DIR": str(work)})
        ctx = service.CvContext(settings, Sealer(settings))
        factory = make_session_factory(make_engine(url))
        rows = []
        print("| items | pages | PDF KB | p50 ms | p90 ms | max ms |\n|---:|---:|---:|---:|---:|---:|")
        for size in (int(s) for s in args.sizes.split(",")):
            with unit_of_work(factory) as db:
                holder_id = holder_with(db, size, 40000 + 1000 * len(rows))
            with unit_of_work(factory) as db:  # first build creates the verification codes
                service.build(db, ctx, holder_id, CvRequest(format="pdf"))
            timings, pdf = [], b""
            for _ in range(args.runs):
                started = time.perf_counter()
                with unit_of_work(factory) as db:
                    _cv, pdf = service.build(db, ctx, holder_id, CvRequest(format="pdf"))
                timings.append((time.perf_counter() - started) * 1000)
            pages = len(PdfReader(io.BytesIO(pdf)).pages)
            timings.sort()
            row = {"items": size, "pages": pages, "kb": round(len(pdf) / 1024),
                   "p50_ms": round(statistics.median(timings)),
                   "p90_ms": round(timings[int(0.9 * (len(timings) - 1))]),
                   "max_ms": round(timings[-1])}
            rows.append(row)
            print(f"| {size} | {pages} | {row['kb']} | {row['p50_ms']} | {row['p90_ms']} | "
                  f"{row['max_ms']} |", flush=True)
        ten = next((r for r in rows if r["items"] == 10), None)
        if ten:
            print(f"\n10 items: p50 {ten['p50_ms']} ms (target ≤ 400 ms): "
                  f"{'met' if ten['p50_ms'] <= 400 else 'NOT met'}")
        args.out.mkdir(parents=True, exist_ok=True)
        (args.out / "cv-results.json").write_text(json.dumps(rows, indent=2))


if __name__ == "__main__":
    main()
