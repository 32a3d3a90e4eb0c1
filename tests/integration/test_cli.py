"""The passport command line: exit statuses, JSON output, reports, clear errors."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
import sqlalchemy as sa
from click.testing import CliRunner, Result
from sqlalchemy.orm import Session, sessionmaker

from passport.cli import main
from passport.db import unit_of_work
from passport.holders.models import IdentityRecord
from passport.holders.service import IDENTITY_COLUMNS
from passport.records.models import Passage
from passport.sharing.models import Share
from tests.conftest import OFFICIAL_EXAMPLE
from tests.flux import document, passage, person_row, titulaire
from tests.helpers import count, write_csv
from tests.workers import free_port

Factory = sessionmaker[Session]


def run(runner: CliRunner, *args: str) -> Result:
    return runner.invoke(main, list(args), catch_exceptions=False)


def test_validate_valid_file_exits_0(cli: CliRunner) -> None:
    result = run(cli, "flux", "validate", str(OFFICIAL_EXAMPLE))
    assert result.exit_code == 0
    assert "schema valid, 3 passages, 0 breaking business rules" in result.stdout


def test_validate_json_one_object_per_file(cli: CliRunner, tmp_path: Path) -> None:
    bad = tmp_path / "bad.xml"
    bad.write_bytes(document([passage("X", obtentionCertification="NOPE")]))
    rules = tmp_path / "rules.xml"
    rules.write_bytes(document([passage("R", presenceNiveauLangueEuro="true")]))
    result = run(cli, "flux", "validate", "--json", str(OFFICIAL_EXAMPLE), str(bad), str(rules))
    assert result.exit_code == 1
    first, second, third = (json.loads(line) for line in result.stdout.splitlines())
    assert first["file"] == str(OFFICIAL_EXAMPLE) and first["schema_valid"] is True
    assert [p["ok"] for p in first["passages"]] == [True, True, True]
    assert second["schema_valid"] is False
    [error] = second["errors"]
    assert error["code"] == "schema" and error["line"] == 2 and error["column"] > 1
    assert set(error) >= {"code", "message", "line", "column"}
    assert third["schema_valid"] is True
    [p] = third["passages"]
    assert p == {**p, "id_technique": "R", "ok": False}
    assert p["messages"][0].startswith("Règle 1")


def test_validate_strict_112_refuses_the_115_additions(cli: CliRunner, tmp_path: Path) -> None:
    path = tmp_path / "s.xml"
    path.write_bytes(document(action="SUPPRESSION"))
    assert run(cli, "flux", "validate", str(path)).exit_code == 0
    assert run(cli, "flux", "validate", "--schema", "1.1.2", str(path)).exit_code == 1


def test_validate_missing_file_is_a_usage_error(cli: CliRunner) -> None:
    result = cli.invoke(main, ["flux", "validate", "nope.xml"])
    assert result.exit_code == 2
    assert "does not exist" in result.output


def test_validate_touches_no_database(cli: CliRunner, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PASSPORT_DATABASE_URL", "postgresql+psycopg://nobody@127.0.0.1:1/none")
    assert run(cli, "flux", "validate", str(OFFICIAL_EXAMPLE)).exit_code == 0


def load_person(cli: CliRunner, tmp_path: Path) -> None:
    path = write_csv(tmp_path / "ids.csv", IDENTITY_COLUMNS, [person_row()])
    result = run(cli, "identities", "import", str(path))
    assert result.exit_code == 0, result.output


def test_ingest_writes_reports_and_exits_0_with_ko_passages(
    cli: CliRunner, tmp_path: Path, committed: Factory
) -> None:
    load_person(cli, tmp_path)
    path = tmp_path / "flux-a.xml"
    path.write_bytes(document([passage("A"), passage("B", identificationTitulaire=titulaire(
        nomNaissance="Inconnu"))]))
    result = run(cli, "flux", "ingest", str(path), "--report-dir", str(tmp_path / "reports"))
    assert result.exit_code == 0, result.output
    assert "1 passages OK, 1 KO, 0 file(s) rejected" in result.stdout
    [report] = (tmp_path / "reports").iterdir()
    assert report.name.startswith("Accuse_de_traitement_flux-a.xml_")
    assert report.name.endswith(".xml") and len(report.name) == len(
        "Accuse_de_traitement_flux-a.xml_20261126.xml")
    assert b"<PassagesKO>" in report.read_bytes()
    assert count(committed, Passage) == 1


def test_ingest_that_fails_for_another_reason_releases_the_deposit(
    cli: CliRunner, tmp_path: Path, committed: Factory, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Not the file's fault (here no reader process can start): a clear message, exit 1,
    nothing stored, the deposit back to waiting — and the next run processes it."""
    from passport.deposits.models import Deposit, DepositStatus

    load_person(cli, tmp_path)
    path = tmp_path / "flux-a.xml"
    path.write_bytes(document([passage("A")]))
    monkeypatch.setenv("PASSPORT_INGEST_SUBPROCESS_MIN_BYTES", "0")
    with monkeypatch.context() as broken:
        broken.setattr(sys, "executable", "/bin/false")
        result = cli.invoke(main, ["flux", "ingest", str(path)])
    assert result.exit_code == 1
    assert "processing stopped (RuntimeError, details in the log)" in result.output
    assert "was released: run the command again" in result.output
    with unit_of_work(committed) as db:
        [deposit] = db.scalars(sa.select(Deposit)).all()
        assert deposit.status is DepositStatus.RECU
    assert count(committed, Passage) == 0
    again = run(cli, "flux", "ingest", str(path))
    assert again.exit_code == 0, again.output
    assert count(committed, Passage) == 1


def test_ingest_exits_1_when_a_file_is_rejected(cli: CliRunner, tmp_path: Path) -> None:
    load_person(cli, tmp_path)
    good = tmp_path / "good.xml"
    good.write_bytes(document([passage("A")]))
    bad = tmp_path / "bad.xml"
    bad.write_bytes(b"\x1f\x8b\x08\x00compressed")
    result = run(cli, "flux", "ingest", str(good), str(bad))
    assert result.exit_code == 1
    assert "[compressed_input]" in result.stdout
    assert "1 file(s) rejected" in result.stdout


def test_two_runs_ingesting_one_emitters_files_at_once(
    tmp_path: Path, database_url: str, committed: Factory
) -> None:
    """Two operators (or two cron jobs) ingest files of one emitter at the same moment: on
    SQLite the second run's receipt failed at once ("database is locked") while the first
    loaded, on PostgreSQL its load failed on the unique keys; both gave a traceback.  Now
    the second waits, and reports the passages the first stored as duplicates."""
    write_csv(tmp_path / "ids.csv", IDENTITY_COLUMNS, [person_row()])
    env = {**os.environ, "PASSPORT_ENV": "test", "PASSPORT_DATABASE_URL": database_url,
           "PASSPORT_INSTANCE_DIR": str(tmp_path / "instance")}
    script = os.path.join(os.path.dirname(sys.executable), "passport")
    subprocess.run([script, "identities", "import", "ids.csv"], env=env, cwd=tmp_path,
                   check=True, capture_output=True)
    same = [passage(f"P{i}") for i in range(1500)]
    for name in ("a", "b"):
        (tmp_path / f"{name}.xml").write_bytes(document(same, id_flux=f"flux-{name}"))
    runs = [subprocess.Popen([script, "flux", "ingest", f"{name}.xml"], env=env, cwd=tmp_path,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
            for name in ("a", "b")]
    outputs = [run.communicate(timeout=120) for run in runs]
    assert [run.returncode for run in runs] == [0, 0], outputs
    summaries = sorted(out.strip().splitlines()[-1] for out, _ in outputs)
    assert summaries[0].startswith("1 file(s): 0 passages OK, 1500 KO"), summaries
    assert summaries[1].startswith("1 file(s): 1500 passages OK, 0 KO"), summaries
    assert count(committed, Passage) == 1500


@pytest.mark.parametrize(("url", "message"), [
    ("sqlite:///{tmp}/empty.db", "no such table: certifiers — is the database migrated? "
                                 "passport db upgrade"),
    ("postgresql+psycopg://postgres@127.0.0.1:1/passport",
     'connection failed: connection to server at "127.0.0.1", port 1 failed: Connection '
     "refused"),
], ids=["not migrated", "unreachable"])
def test_a_database_failure_is_one_line(cli: CliRunner, tmp_path: Path,
                                        monkeypatch: pytest.MonkeyPatch, url: str,
                                        message: str) -> None:
    monkeypatch.setenv("PASSPORT_DATABASE_URL", url.format(tmp=tmp_path))
    result = cli.invoke(main, ["certifiers", "list"])
    assert result.exit_code == 1
    assert result.output.strip() == f"Error: database: {message}"


def test_import_error_names_the_line(cli: CliRunner, tmp_path: Path, committed: Factory) -> None:
    path = write_csv(tmp_path / "ids.csv", IDENTITY_COLUMNS,
                     [person_row(), person_row(nir="189057511800194", sexe="H")])
    result = cli.invoke(main, ["identities", "import", str(path)])
    assert result.exit_code == 1
    assert "line 3: sexe must be M or F" in result.output
    assert "nothing was imported" in result.output
    assert count(committed, IdentityRecord) == 0


def test_certifiers_registry_commands(cli: CliRunner) -> None:
    assert run(cli, "certifiers", "add", "--bcr", "CERT0001", "--contrat", "CTR-1",
               "--name", "Certif").exit_code == 0
    assert run(cli, "certifiers", "mandate", "--depositor", "DEPOS001",
               "--certifier", "CERT0001").exit_code == 0
    listing = run(cli, "certifiers", "list")
    assert "CERT0001" in listing.stdout and "DEPOS001" in listing.stdout
    bad = cli.invoke(main, ["certifiers", "add", "--bcr", "short", "--contrat", "X"])
    assert bad.exit_code == 1 and "8-character BCR" in bad.output
    unknown = cli.invoke(main, ["certifiers", "mandate", "--depositor", "DEPOS001",
                                "--certifier", "CERT0009"])
    assert unknown.exit_code == 1 and "not registered" in unknown.output


def test_demo_generate_warns_of_files_ingestion_would_refuse(
        cli: CliRunner, tmp_path: Path) -> None:
    args = ["demo", "generate", "--holders", "20", "--passages", "60", "--out"]
    quiet = cli.invoke(main, [*args, str(tmp_path / "a")], catch_exceptions=False)
    assert quiet.exit_code == 0 and "warning" not in quiet.stderr
    small_limit = cli.invoke(main, [*args, str(tmp_path / "b")], catch_exceptions=False,
                             env={"PASSPORT_MAX_UPLOAD_BYTES": "40000"})
    assert small_limit.exit_code == 0
    assert ("warning: flux-0001.xml exceed(s) the flux size limit (40,000 bytes, "
            "PASSPORT_MAX_UPLOAD_BYTES)") in small_limit.stderr


def test_demo_generate_and_load(cli: CliRunner, tmp_path: Path, committed: Factory) -> None:
    result = run(cli, "demo", "generate", "--holders", "150", "--passages", "400",
                 "--per-file", "250", "--out", str(tmp_path / "demo"))
    assert result.exit_code == 0
    manifest = json.loads((tmp_path / "demo" / "manifest.json").read_text())
    assert [f["passages"] for f in manifest["files"]][5:] == [250, 150]
    # The showcase: a file per certifier (a flux names one), then the withdrawal.
    assert [f["file"] for f in manifest["files"]][:5] == [
        "flux-vitrine-CERT0001.xml", "flux-vitrine-E564ACB0.xml", "flux-vitrine-CERT0002.xml",
        "flux-vitrine-CERT0004.xml", "flux-vitrine-retrait.xml"]
    stored = sum(f["ok"] for f in manifest["files"] if f.get("action") != "SUPPRESSION")
    result = run(cli, "demo", "load", str(tmp_path / "demo"))
    assert result.exit_code == 0, result.output
    assert count(committed, Passage) == stored
    assert "declarations of every kind added for 3 showcase holder(s)" in result.stderr
    # Each certifier files what the referential says it certifies: the reports carry the
    # warnings the generator planned, and only the made-up certifier's codes are unknown.
    from passport.deposits.models import Deposit
    from passport.deposits.service import load_report

    with unit_of_work(committed) as db:
        for expected in manifest["files"]:
            deposit = db.scalar(sa.select(Deposit).where(Deposit.file_name == expected["file"]))
            assert deposit is not None and deposit.passages_ok == expected["ok"]
            report = load_report(db, deposit.id)
            assert report is not None
            codes = {w["code"] for p in report.passages() for w in p.get("warnings", [])}
            if expected["certifier"] == "CERT0004":
                assert codes == {"referentiel_code_inconnu"}, expected["file"]
            else:
                assert deposit.warnings_count == expected["warnings"], (expected["file"], codes)
    # The showcase holders' passports hold their curated items only, no bulk result.
    curated = Passage.id_technique.like("VITRINE-%")
    with unit_of_work(committed) as db:
        showcase = set(db.scalars(sa.select(Passage.holder_id).where(curated)))
        mixed = db.scalar(sa.select(sa.func.count()).where(
            Passage.holder_id.in_(showcase), ~curated))
    assert len(showcase) == 3 and mixed == 0
    # The analytics are computed: an analyst of the demo sees success rates at once.
    from passport.analytics.service import Query, success_rates

    assert "analytics: " in result.stderr
    with unit_of_work(committed) as db:
        by_year = success_rates(db, Query(group_by="year"), 1)
    assert any(row["cohort"] for row in by_year["rows"] if not row["suppressed"])
    url = (tmp_path / "demo" / "share-url.txt").read_text().strip()
    assert f"a shared passport, no login needed: {url}" in result.stderr
    again = run(cli, "demo", "load", str(tmp_path / "demo"))
    assert again.exit_code == 0
    assert "flux-0001.xml: already loaded" in again.stderr
    assert count(committed, Passage) == stored
    # The same share, not a new one each time; and it opens.
    assert (tmp_path / "demo" / "share-url.txt").read_text().strip() == url
    assert count(committed, Share) == 1
    from passport.app import create_app
    from passport.config import Settings

    app = create_app(Settings.from_env())
    try:
        page = app.test_client().get(url.removeprefix("http://127.0.0.1:5000"))
        assert page.status_code == 200 and "Certifié par" in page.get_data(as_text=True)
    finally:
        app.extensions["passport.engine"].dispose()


def test_bad_configuration_is_reported(cli: CliRunner, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PASSPORT_ENV", "production")
    result = cli.invoke(main, ["flux", "validate", str(OFFICIAL_EXAMPLE)])
    assert result.exit_code == 1
    assert "refusing to start in production" in result.output


def test_dev_token_only_in_development(cli: CliRunner) -> None:
    result = cli.invoke(main, ["dev", "token", "--certifier", "CERT0001"])
    assert result.exit_code == 1
    assert "PASSPORT_ENV=development" in result.output


def test_dev_providers_only_in_development(cli: CliRunner, tmp_path: Path) -> None:
    result = cli.invoke(main, ["dev", "providers", str(tmp_path)])
    assert result.exit_code == 1
    assert "PASSPORT_ENV=development" in result.output


def test_dev_providers_serve_the_demo_users_quietly(tmp_path: Path, database_url: str) -> None:
    """`make run` starts the two stand-ins beside the service: both answer discovery, the
    holders of the directory's identities are offered and one logs in, and nothing else is
    printed (the stand-in's import of deprecated Authlib modules warned twice)."""
    write_csv(tmp_path / "identities.csv", IDENTITY_COLUMNS,
              [person_row(), person_row(nir="196113155500150", prenom1="CLAIRE")])
    fc, pc = free_port(), free_port()
    env = {**os.environ, "PASSPORT_ENV": "development", "PASSPORT_DATABASE_URL": database_url,
           "PASSPORT_INSTANCE_DIR": str(tmp_path / "instance"), "PYTHONWARNINGS": ""}
    process = subprocess.Popen(
        [os.path.join(os.path.dirname(sys.executable), "passport"), "dev", "providers",
         str(tmp_path), "--franceconnect-port", str(fc), "--proconnect-port", str(pc)],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        issuers = {}
        deadline = time.monotonic() + 30
        while len(issuers) < 2 and time.monotonic() < deadline and process.poll() is None:
            for port in (fc, pc):
                try:
                    issuers[port] = requests.get(
                        f"http://127.0.0.1:{port}/.well-known/openid-configuration",
                        timeout=1).json()["issuer"]
                except requests.RequestException:
                    time.sleep(0.2)
        assert issuers == {fc: f"http://127.0.0.1:{fc}", pc: f"http://127.0.0.1:{pc}"}
        # A holder logs in at the FranceConnect stand-in: offered, picked, given an ID token.
        query = {"client_id": "passport", "redirect_uri": "http://127.0.0.1/cb",
                 "response_type": "code", "scope": "openid", "nonce": "n", "state": "s"}
        authorize = f"{issuers[fc]}/oauth2/authorize"
        assert "demo-titulaire-2" in requests.get(authorize, params=query, timeout=5).text
        picked = requests.post(authorize, params=query, data={"sub": "demo-titulaire-1"},
                               allow_redirects=False, timeout=5)
        code = parse_qs(urlsplit(picked.headers["Location"]).query)["code"][0]
        token = requests.post(f"{issuers[fc]}/oauth2/token", timeout=5, data={
            "grant_type": "authorization_code", "code": code, "client_id": "passport",
            "client_secret": "x", "redirect_uri": query["redirect_uri"]})
        assert token.status_code == 200 and token.json()["id_token"]
    finally:
        process.terminate()
        _, stderr = process.communicate(timeout=10)
    said = " ".join(stderr.split())
    assert f"FranceConnect stand-in on http://127.0.0.1:{fc} (3 demo holders)" in said
    assert "Warning" not in stderr, stderr


@pytest.mark.parametrize(
    ("args", "role"),
    [(["--holder-nir", "196113155500150"], "holder"),
     (["--advisor", "13002526500013:claire@cep.example"], "advisor"),
     (["--certifier", "CERT0001"], "certifier"),
     (["--analyst", "ana@drees.example", "--scope", "analytics:read"], "analyst")],
)
def test_dev_token_gives_a_working_token(cli: CliRunner, monkeypatch: pytest.MonkeyPatch,
                                         tmp_path: Path, args: list[str], role: str) -> None:
    from passport.app import create_app
    from passport.config import Settings

    monkeypatch.setenv("PASSPORT_ENV", "development")
    first = cli.invoke(main, ["dev", "token", *args])
    assert first.exit_code == 0, first.output
    # Asked again (the README's recipe is run many times): the same account, a new token.
    result = cli.invoke(main, ["dev", "token", *args])
    assert result.exit_code == 0, result.output
    token = result.stdout.strip()
    app = create_app(Settings.from_env(), {"TESTING": True})
    try:
        response = app.test_client().get("/api/v1/me",
                                         headers={"Authorization": f"Bearer {token}"})
    finally:
        app.extensions["passport.engine"].dispose()
    assert response.status_code == 200, response.json
    assert response.json["role"] == role
    if role == "holder":
        assert response.json["linked"] is True


def test_dev_token_refuses_bad_input(cli: CliRunner, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PASSPORT_ENV", "development")
    both = cli.invoke(main, ["dev", "token", "--certifier", "CERT0001", "--analyst", "a@b.c"])
    assert both.exit_code == 2
    bad_nir = cli.invoke(main, ["dev", "token", "--holder-nir", "196113155500151"])
    assert bad_nir.exit_code == 1 and "invalid NIR" in bad_nir.output
    assert "196113155500151" not in bad_nir.output
    scope = cli.invoke(main, ["dev", "token", "--certifier", "CERT0001", "--scope",
                              "passport:read"])
    assert scope.exit_code == 1 and "cannot have passport:read" in scope.output


def test_clients_add_prints_the_secret_once(cli: CliRunner) -> None:
    first = run(cli, "clients", "add", "--bcr", "CERT0009", "--name", "Certif Neuf")
    secret = first.stdout.strip()
    assert len(secret) >= 40
    again = cli.invoke(main, ["clients", "add", "--bcr", "CERT0009"])
    assert again.exit_code == 1 and "--rotate-secret" in again.output
    rotated = run(cli, "clients", "add", "--bcr", "CERT0009", "--rotate-secret")
    assert rotated.stdout.strip() != secret
    listing = run(cli, "clients", "list")
    assert "CERT0009" in listing.stdout and secret not in listing.stdout
    app = run(cli, "clients", "add-app", "--client-id", "mobile-app", "--name", "Mobile",
              "--redirect-uri", "https://app.example/cb")
    assert app.stdout.strip() == ""  # public: no secret
    bad = cli.invoke(main, ["clients", "add-app", "--client-id", "x1x", "--name", "X",
                            "--redirect-uri", "http://evil.example/cb"])
    assert bad.exit_code == 1 and "https" in bad.output
