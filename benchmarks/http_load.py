"""HTTP load test of the two hot reads: a holder reading their passport and a CEP advisor
reading a consenting holder's passport, beside ``/health`` served by the same server in
the same run.  Loopback only, bounded in time.

    python -m benchmarks.http_load [--holders 100000] [--passages 200000] [--duration 60]
                                   [--connections 16] [--sample 1000] [--postgres-url URL]

A fresh PostgreSQL database is filled the way production fills it: demo identities,
training files and flux files through ``passport identities import``, ``passport
training-files import`` and ``passport flux ingest``.  Tokens are
minted for ``--sample`` holders (each read goes to another holder, in turn), each of whom
grants the advisor a consent through the API.  The service runs under gunicorn with
2 × cores + 1 sync workers (``passport serve``); wrk (Debian package) drives it with
``--connections`` connections for ``--duration`` seconds per scenario.  ``make bench-http``
runs it with a throwaway PostgreSQL.  Figures go to ``--out``/http_load.json
(benchmarks/out/ by default).

``--keep DIR`` keeps the fill (database, data, signing key) in DIR and reuses it on the
next run with the same DIR: no new fill, fresh tokens.  To compare two commits on one fill
(this VM drifts by ±30 % within the hour), run it from each checkout in turn, with the
same ``--keep`` and ``--postgres-url``.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from benchmarks.common import new_postgres_database, wait_http

ROOT = Path(__file__).resolve().parent.parent
PASSPORT = str(Path(sys.executable).with_name("passport"))
ADVISOR = "73282932000074:conseil@cep.example"
SCENARIOS = ("health", "holder passport", "advisor read")


def _run(env: dict[str, str], *args: str, check: bool = True) -> float:
    started = time.perf_counter()
    done = subprocess.run([PASSPORT, *args], env=env, capture_output=True, text=True)
    if check and done.returncode != 0:
        raise SystemExit(f"passport {' '.join(args[:2])} failed:\n{done.stdout}{done.stderr}")
    return time.perf_counter() - started


def _fill(env: dict[str, str], data: Path, holders: int, passages: int) -> dict[str, float]:
    from passport.demo.generate import generate

    timings = {"migrate_s": _run(env, "db", "upgrade")}
    started = time.perf_counter()
    # 100,000 passages a file: the demo writes ~1.4 KB a passage, and a file must stay
    # under the service's size limit (PASSPORT_MAX_UPLOAD_BYTES, 250 MiB).
    manifest = generate(data, holders=holders, passages=passages, per_file=100_000, seed=7)
    timings["generate_s"] = time.perf_counter() - started
    timings["identities_s"] = _run(env, "identities", "import", str(data / "identities.csv"))
    # Passages naming a CPF training file are matched through it (spec §8).
    timings["training_files_s"] = _run(env, "training-files", "import",
                                       str(data / "training_files.csv"))
    files = [str(data / f["file"]) for f in manifest["files"]]
    # Exit status 1 when a file has KO passages, as the demo's do on purpose.
    timings["ingest_s"] = _run(env, "flux", "ingest", *files, "--report-dir", str(data / "r"),
                               check=False)
    engine = sa.create_engine(env["PASSPORT_DATABASE_URL"])
    with engine.connect() as conn:
        stored = conn.execute(sa.text("SELECT count(*) FROM passages")).scalar_one()
    engine.dispose()
    expected = sum(f["ok"] for f in manifest["files"] if f.get("action") != "SUPPRESSION")
    if stored != expected:  # the demo's KO passages are planned: its manifest counts them
        raise SystemExit(f"{stored:,} passages stored, {expected:,} expected (the manifest)")
    timings["passages_stored"] = stored
    return timings


def _targets(env: dict[str, str], data: Path, sample: int, *, grant: bool = True
             ) -> dict[str, list[str]]:
    """Tokens for ``sample`` holders, each granting the advisor a consent (unless a kept
    fill's holders already have); the lines of the wrk targets file of each scenario."""
    from passport.app import create_app
    from passport.auth.clients import dev_token
    from passport.auth.models import Role
    from passport.config import Settings
    from passport.db import make_session_factory, unit_of_work

    settings = Settings.from_env({**env, "PASSPORT_ENV": "development"})
    app = create_app(settings)
    client = app.test_client()
    nirs = [line.split(",")[0] for line in
            (data / "identities.csv").read_text().splitlines()[1:sample + 1]]
    with unit_of_work(make_session_factory(app.extensions["passport.engine"])) as session:
        keys = app.extensions["passport.keys"]
        tokens = [dev_token(session, settings, keys, role=Role.HOLDER, value=n) for n in nirs]
        advisor = dev_token(session, settings, keys, role=Role.ADVISOR, value=ADVISOR)
    siret, _, email = ADVISOR.partition(":")
    for token in tokens if grant else ():
        granted = client.post("/api/v1/me/consents", headers={"Authorization": f"Bearer {token}"},
                              json={"organisation_siret": siret, "advisor_email": email,
                                    "purpose": "accompagnement_cep", "duration_days": 30,
                                    "sections": ["certifications", "declarations"]})
        assert granted.status_code == 201, granted.get_data(as_text=True)
    listed = client.get("/api/v1/advisor/holders", headers={"Authorization": f"Bearer {advisor}"})
    assert listed.status_code == 200, listed.get_data(as_text=True)
    references = [h["reference"] for h in listed.get_json()]
    assert len(references) == len(tokens), (len(references), len(tokens))
    app.extensions["passport.engine"].dispose()
    return {
        "health": ["/health"],
        "holder passport": [f"/api/v1/me/passport {t}" for t in tokens],
        "advisor read": [f"/api/v1/advisor/holders/{r}/passport {advisor}" for r in references],
    }


def _wrk(base: str, targets: Path, duration: int, connections: int) -> dict[str, Any]:
    done = subprocess.run(
        ["wrk", "-t2", f"-c{connections}", f"-d{duration}s", "--timeout", "5s",
         "-s", str(ROOT / "benchmarks" / "http_load.lua"), base, "--", str(targets)],
        check=True, capture_output=True, text=True)
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    result["rps"] = result["requests"] / result["seconds"]
    result["errors"] = result["non_2xx"] + result["socket_errors"] + result["timeouts"]
    return result


def _kept_fill(work: Path, sizes: dict[str, int]) -> dict[str, Any] | None:
    """The fill kept in ``work`` by an earlier run (None if there is none)."""
    kept = work / "fill.json"
    if not kept.exists():
        return None
    fill: dict[str, Any] = json.loads(kept.read_text())
    if fill["sizes"] != sizes:
        raise SystemExit(f"{work} keeps a fill of {fill['sizes']}, not {sizes}: "
                         "give another --keep directory")
    engine = sa.create_engine(fill["url"])
    try:
        with engine.connect() as conn:
            conn.execute(sa.text("SELECT count(*) FROM passages"))
    except sa.exc.SQLAlchemyError as exc:
        raise SystemExit(f"the database kept in {work} cannot be read (a throwaway cluster "
                         f"gone with its run?): {type(exc).__name__}") from None
    finally:
        engine.dispose()
    return fill


def run(postgres_url: str, holders: int, passages: int, duration: int, connections: int,
        sample: int, keep: Path | None = None) -> dict[str, Any]:
    from tests.workers import free_port

    if shutil.which("wrk") is None:
        raise SystemExit("wrk is missing: apt-get install wrk (make bench-http does it)")
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    workers = 2 * (os.cpu_count() or 1) + 1
    sizes = {"holders": holders, "passages": passages, "tokens": sample}
    with contextlib.ExitStack() as stack:
        work = keep.resolve() if keep else Path(stack.enter_context(
            tempfile.TemporaryDirectory(prefix="passport-http-")))
        fill = _kept_fill(work, sizes)
        url = fill["url"] if fill else new_postgres_database(postgres_url, "bench_http")
        env = {**os.environ, "PASSPORT_ENV": "test", "PASSPORT_DATABASE_URL": url,
               "PASSPORT_INSTANCE_DIR": str(work / "instance"), "PASSPORT_ISSUER": base}
        if fill:
            print(f"reusing the fill kept in {work}…", flush=True)
            timings = fill["setup"]
        else:
            print(f"filling {holders:,} holders, {passages:,} passages on PostgreSQL…",
                  flush=True)
            timings = _fill(env, work / "data", holders, passages)
        targets = _targets(env, work / "data", sample, grant=fill is None)
        if keep and fill is None:
            (work / "fill.json").write_text(json.dumps({"url": url, "sizes": sizes,
                                                        "setup": timings}))
        files = {}
        for name, lines in targets.items():
            files[name] = work / f"{name.replace(' ', '-')}.txt"
            files[name].write_text("\n".join(lines) + "\n")
        log = (work / "serve.log").open("wb")
        server = subprocess.Popen([PASSPORT, "serve", "--host", "127.0.0.1", "--port", str(port),
                                   "--workers", str(workers)], env=env, stdout=log,
                                  stderr=subprocess.STDOUT)
        try:
            wait_http(base + "/health", server)
            for name in SCENARIOS[1:]:  # warm every worker's caches and connections
                _wrk(base, files[name], 3, connections)
            results = {}
            for name in SCENARIOS:
                print(f"{name}: {connections} connections for {duration} s…", flush=True)
                results[name] = _wrk(base, files[name], duration, connections)
        finally:
            server.terminate()
            server.wait(30)
            log.close()
    health = results["health"]
    for name in SCENARIOS[1:]:
        results[name]["rps_ratio_to_health"] = results[name]["rps"] / health["rps"]
        results[name]["p99_ratio_to_health"] = results[name]["p99_ms"] / health["p99_ms"]
    return {"holders": holders, "passages": passages, "duration_s": duration,
            "connections": connections, "gunicorn_workers": workers, "cpus": os.cpu_count(),
            "tokens": sample, "setup": timings, "reused_fill": fill is not None,
            "results": results}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--holders", type=int, default=100_000)
    parser.add_argument("--passages", type=int, default=200_000)
    parser.add_argument("--duration", type=int, default=60)
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--sample", type=int, default=1000, help="holders with a token")
    parser.add_argument("--postgres-url", default=os.environ.get("PASSPORT_TEST_DATABASE_URL"))
    parser.add_argument("--keep", type=Path, metavar="DIR",
                        help="keep the fill in DIR, and reuse the one kept there")
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "out")
    args = parser.parse_args()
    if not args.postgres_url:
        raise SystemExit("give --postgres-url or run under scripts/with-postgres.sh")
    report = run(args.postgres_url, args.holders, args.passages, args.duration,
                 args.connections, min(args.sample, args.holders), args.keep)
    print(f"\n{report['holders']:,} holders, {report['passages']:,} passages; gunicorn "
          f"{report['gunicorn_workers']} workers on {report['cpus']} CPUs; wrk 2 threads, "
          f"{report['connections']} connections, {report['duration_s']} s per scenario")
    print(f"{'scenario':<16} {'req/s':>8} {'p50 ms':>8} {'p90 ms':>8} {'p99 ms':>8} "
          f"{'errors':>7} {'rps vs /health':>15}")
    for name, r in report["results"].items():
        ratio = f"{r['rps_ratio_to_health']:.2f}" if "rps_ratio_to_health" in r else "1"
        print(f"{name:<16} {r['rps']:>8.0f} {r['p50_ms']:>8.1f} {r['p90_ms']:>8.1f} "
              f"{r['p99_ms']:>8.1f} {r['errors']:>7} {ratio:>15}")
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "http_load.json").write_text(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
