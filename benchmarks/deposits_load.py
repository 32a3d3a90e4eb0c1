"""Deposit load test: 20 flux of 10,000 passages uploaded concurrently by 5 clients over
HTTP, processed by 1, then 2, Celery workers (Redis broker, PostgreSQL), loopback only.

    python -m benchmarks.deposits_load [--files 20] [--passages 10000] [--clients 5]
                                       [--workers 1,2] [--postgres-url URL]

For each worker count: a fresh database (migrated, identity directory and training files
imported, certifiers and their clients registered), the service under gunicorn, a throwaway
Redis, N ``passport worker`` processes (one job at a time each). The clock runs from the
first upload to the last deposit in a final state. Then it checks that every deposit ended
in the state its manifest expects, and that no passage was lost or stored twice. ``make
load`` runs it with a throwaway PostgreSQL.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import requests
import sqlalchemy as sa

from benchmarks.common import new_postgres_database, wait_http

ROOT = Path(__file__).resolve().parent.parent
PASSPORT = str(Path(sys.executable).with_name("passport"))


def _prepare(env: dict[str, str], data: Path, manifest: dict[str, Any]) -> dict[str, str]:
    """Migrate, import, register the certifiers and one API client per emitter; return
    each emitter's client secret."""
    def run(*args: str) -> str:
        return subprocess.run([PASSPORT, *args], env=env, check=True, capture_output=True,
                              text=True).stdout

    run("db", "upgrade")
    run("identities", "import", str(data / "identities.csv"))
    run("training-files", "import", str(data / "training_files.csv"))
    for c in manifest["certifiers"]:
        run("certifiers", "add", "--bcr", c["bcr"], "--contrat", c["contract"],
            "--name", c["name"])
    for m in manifest["mandates"]:
        run("certifiers", "mandate", "--depositor", m["depositor"], "--certifier",
            m["certifier"])
    secrets = {}
    for emitter in sorted({f["emitter"] for f in manifest["files"]}):
        secrets[emitter] = run("clients", "add", "--bcr", emitter).strip().splitlines()[-1]
    return secrets


def _token(base: str, client_id: str, secret: str) -> str:
    response = requests.post(f"{base}/oauth/token", data={
        "grant_type": "client_credentials", "scope": "deposits:write"},
        auth=(client_id, secret), timeout=30)
    response.raise_for_status()
    return str(response.json()["access_token"])


def _upload(base: str, token: str, path: Path) -> int:
    with path.open("rb") as body:
        response = requests.post(f"{base}/api/v1/certifier/deposits", data=body, headers={
            "Authorization": f"Bearer {token}", "Content-Type": "application/xml",
            "X-File-Name": path.name}, timeout=300)
    if response.status_code != 202:
        raise SystemExit(f"{path.name}: {response.status_code} {response.text[:300]}")
    return int(response.json()["id"])


def run_once(workers: int, data: Path, manifest: dict[str, Any], files: list[dict[str, Any]],
             clients: int, postgres_url: str, work: Path) -> dict[str, Any]:
    from tests.workers import Worker, free_port, redis_server

    work.mkdir(parents=True, exist_ok=True)
    url = new_postgres_database(postgres_url, f"load_w{workers}")
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    with redis_server(work) as broker:
        env = {**os.environ, "PASSPORT_ENV": "test", "PASSPORT_DATABASE_URL": url,
               "PASSPORT_INSTANCE_DIR": str(work / f"instance-{workers}"),
               "PASSPORT_STORAGE_DIR": str(work / f"storage-{workers}"),
               "PASSPORT_ISSUER": base, "PASSPORT_CELERY_BROKER_URL": broker,
               "PASSPORT_LOG_LEVEL": "WARNING"}
        secrets = _prepare(env, data, manifest)
        web = subprocess.Popen([PASSPORT, "serve", "--host", "127.0.0.1", "--port", str(port),
                                "--workers", "4"], env=env, stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL)
        pool = [Worker(env, work / f"worker-{workers}-{n}.log") for n in range(workers)]
        try:
            wait_http(f"{base}/health", web)
            for w in pool:
                w.wait_ready()
            tokens = {e: _token(base, e, s) for e, s in secrets.items()}
            engine = sa.create_engine(url)
            import psutil

            psutil.cpu_percent()  # start the machine-wide CPU measure
            started = time.perf_counter()
            with ThreadPoolExecutor(clients) as uploaders:
                ids = list(uploaders.map(
                    lambda f: _upload(base, tokens[f["emitter"]], data / f["file"]), files))
            uploaded = time.perf_counter() - started
            while True:
                with engine.connect() as conn:
                    pending = conn.scalar(sa.text(
                        "SELECT count(*) FROM deposits WHERE status NOT IN "
                        "('TRAITE', 'TRAITE_AVEC_ERREURS', 'REJETE')"))
                if pending == 0:
                    break
                time.sleep(0.1)
            seconds = time.perf_counter() - started
            cpu = psutil.cpu_percent()
            with engine.connect() as conn:
                rows = {r.id: r for r in conn.execute(sa.text(
                    "SELECT id, status, passages_ok, passages_ko, attempts FROM deposits"))}
                passages = conn.scalar(sa.text("SELECT count(*) FROM passages"))
                keys = conn.scalar(sa.text("SELECT count(*) FROM passage_keys"))
                distinct = conn.scalar(sa.text(
                    "SELECT count(*) FROM (SELECT DISTINCT emitter_bcr, id_technique "
                    "FROM passages) d"))
            engine.dispose()
        finally:
            for w in pool:
                w.stop()
            web.terminate()
            web.wait(30)
    problems = []
    for f, deposit_id in zip(files, ids, strict=True):
        row = rows[deposit_id]
        expected = "TRAITE_AVEC_ERREURS" if f["ko"] else "TRAITE"
        if (row.status, row.passages_ok, row.passages_ko) != (expected, f["ok"], f["ko"]):
            problems.append(f"{f['file']}: {row.status} {row.passages_ok}/{row.passages_ko}, "
                            f"expected {expected} {f['ok']}/{f['ko']}")
        if row.attempts != 1:
            problems.append(f"{f['file']}: {row.attempts} attempts")
    ok = sum(f["ok"] for f in files)
    if not passages == keys == distinct == ok:
        problems.append(f"passages {passages}, keys {keys}, distinct {distinct}, expected {ok}")
    return {"workers": workers, "deposits": len(files), "passages": sum(
        f["passages"] for f in files), "upload_s": round(uploaded, 1),
        "seconds": round(seconds, 1), "passages_per_s": round(sum(
            f["passages"] for f in files) / seconds), "cpu_busy_percent": cpu,
        "cores": os.cpu_count(), "problems": problems}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--files", type=int, default=20)
    parser.add_argument("--passages", type=int, default=10_000, help="per file")
    parser.add_argument("--clients", type=int, default=5)
    parser.add_argument("--workers", default="1,2")
    parser.add_argument("--postgres-url", default=os.environ.get("PASSPORT_TEST_DATABASE_URL"))
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "out")
    args = parser.parse_args()
    if not args.postgres_url:
        raise SystemExit("--postgres-url (or PASSPORT_TEST_DATABASE_URL) is needed: "
                         "scripts/with-postgres.sh python -m benchmarks.deposits_load")
    from passport.demo.generate import generate

    data = args.out / f"load-{args.files}x{args.passages}"
    if not (data / "manifest.json").exists():
        generate(data, holders=max(2000, args.files * args.passages // 10),
                 passages=args.files * args.passages, per_file=args.passages, seed=7,
                 compact=True)
    manifest = json.loads((data / "manifest.json").read_text())
    files = [f for f in manifest["files"] if f["passages"] == args.passages][:args.files]
    results = []
    with tempfile.TemporaryDirectory(prefix="passport-load-") as tmp:
        for n in (int(w) for w in args.workers.split(",")):
            result = run_once(n, data, manifest, files, args.clients, args.postgres_url,
                              Path(tmp) / f"run-{n}")
            results.append(result)
            print(json.dumps(result), flush=True)
    (args.out / "deposits-load-results.json").write_text(json.dumps(results, indent=2))
    print()
    print("| workers | deposits | passages | uploads done s | all processed s | passages/s | "
          "CPU busy (all cores) |")
    print("|---:|---:|---:|---:|---:|---:|---:|")
    for r in results:
        print(f"| {r['workers']} | {r['deposits']} | {r['passages']:,} | {r['upload_s']} | "
              f"{r['seconds']} | {r['passages_per_s']:,} | {r['cpu_busy_percent']}% of "
              f"{r['cores']} |")
    if len(results) >= 2:
        print(f"\nratio {results[-1]['workers']} workers / {results[0]['workers']} worker: "
              f"{results[-1]['seconds'] / results[0]['seconds']:.2f} (target ≤ 0.75)")
    failed = [p for r in results for p in r["problems"]]
    for problem in failed:
        print("PROBLEM:", problem)
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
