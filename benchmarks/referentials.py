"""Referential import benchmark: a synthetic RNCP export of N sheets (the real sample sheets
repeated under new numbers), imported by ``passport referentials import``-equivalent code in
a fresh process; time and peak memory for each size, to show memory stays flat.

    python -m benchmarks.referentials [--sizes 10000,100000] [--database-url URL]
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import time
import uuid
from pathlib import Path

from lxml import etree

from benchmarks.memory import peak_rss_mb

TEXT_CAP = 300
ROOT = Path(__file__).resolve().parent.parent
SAMPLE = next((ROOT / "passport" / "demo" / "referentials").glob("*RNCP_fixture*.xml"))


def synthesise(path: Path, sheets: int) -> float:
    """Write an export of ``sheets`` FICHE elements; return its size in MB."""
    fiches = []
    for fiche in etree.parse(str(SAMPLE)).getroot().iterfind("FICHE"):
        for el in fiche.iter():  # long prose cut: ~16 KB a sheet (real: 570 MB / 30,484 = 19 KB)
            if el.text and len(el.text) > TEXT_CAP:
                el.text = el.text[:TEXT_CAP]
        fiches.append(etree.tostring(fiche, encoding="unicode"))
    with path.open("w", encoding="utf-8") as out:
        out.write('<?xml version="1.0" encoding="UTF-8" standalone="no"?>\n<FICHES>\n'
                  "  <VERSION_FLUX>4.1</VERSION_FLUX>\n")
        for n in range(sheets):
            fiche = fiches[n % len(fiches)]
            numero = re.search(r"<NUMERO_FICHE>(RNCP\d+)</NUMERO_FICHE>", fiche).group(1)  # type: ignore[union-attr]
            out.write(fiche.replace(numero, f"RNCP{900000 + n}"))
            out.write("\n")
        out.write("</FICHES>\n")
    return path.stat().st_size / 1e6


def child(path: str, url: str) -> dict[str, float]:
    from passport.db import make_engine, make_session_factory, unit_of_work
    from passport.migrate import upgrade
    from passport.referentials.sheets import import_sheets

    upgrade(url)
    factory = make_session_factory(make_engine(url))
    started = time.perf_counter()
    with unit_of_work(factory) as db:
        result = import_sheets(db, Path(path), "rncp")
    seconds = time.perf_counter() - started
    return {"sheets": result.sheets, "seconds": seconds, "peak_rss_mb": peak_rss_mb()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="10000,100000")
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "out")
    parser.add_argument("--database-url", help="default: a fresh SQLite file per size")
    parser.add_argument("--child", nargs=2, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(child(*args.child)))
        return
    args.out.mkdir(parents=True, exist_ok=True)
    rows = []
    for size in (int(s) for s in args.sizes.split(",")):
        xml = args.out / f"rncp-{size}.xml"
        megabytes = synthesise(xml, size) if not xml.exists() else xml.stat().st_size / 1e6
        url = args.database_url or f"sqlite:///{args.out / f'ref-{size}-{uuid.uuid4().hex[:6]}.sqlite3'}"
        result = subprocess.run([sys.executable, "-m", "benchmarks.referentials", "--child",
                                 str(xml), url], check=True, capture_output=True, text=True,
                                cwd=ROOT, env=os.environ)
        row = {"sheets": size, "file_mb": round(megabytes), **json.loads(
            result.stdout.splitlines()[-1])}
        row["sheets_per_s"] = round(size / row["seconds"])
        rows.append(row)
        print(json.dumps(row), flush=True)
        if not args.database_url:
            for suffix in ("", "-wal", "-shm"):
                Path(url.removeprefix("sqlite:///") + suffix).unlink(missing_ok=True)
    print("\n| sheets | file MB | seconds | sheets/s | peak RSS MB |\n|---:|---:|---:|---:|---:|")
    for r in rows:
        print(f"| {r['sheets']:,} | {r['file_mb']} | {r['seconds']:.1f} | {r['sheets_per_s']:,} "
              f"| {r['peak_rss_mb']:.0f} |")


if __name__ == "__main__":
    main()
