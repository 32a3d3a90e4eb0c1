"""The certifier API with the embedded in-process job pool: filing (raw, multipart, gzip),
acknowledgment, processing, reports in XML and JSON, limits, statistics, holders' error
reports, and the public dry-run validator."""

from __future__ import annotations

import dataclasses
import datetime as dt
import gzip
import io
import os
import time
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient
from lxml import etree
from sqlalchemy.orm import Session, sessionmaker

from passport.auth.clients import add_certifier_client
from passport.config import Settings
from passport.db import unit_of_work, utcnow
from passport.deposits.models import Deposit
from passport.nir import NirVault
from tests.api.builders import at_once
from tests.api.fixtures import CERTIFIER
from tests.conftest import DATA
from tests.flux import NIL, certification, document, passage, titulaire
from tests.helpers import assert_lease_renewed, hold, waiting_deposit
from tests.oauth import bearer, mint

DEPOSITS = "/api/v1/certifier/deposits"
XML = {"Content-Type": "application/xml"}


@pytest.fixture
def certifier(app: Flask, committed: sessionmaker[Session]) -> dict[str, str]:
    """Tokens: CERT0001 (the certifier), its mandated depositor DEPO0001, a stranger."""
    with unit_of_work(committed) as db:
        add_certifier_client(db, "DEPO0001", "Mandated depositor")
        add_certifier_client(db, "AUTR0001", "Another certifier")
    with unit_of_work(committed) as db:
        return {name: mint(app, db, None, client_id=bcr) for name, bcr in (
            ("own", CERTIFIER), ("depositor", "DEPO0001"), ("stranger", "AUTR0001"))}


def file(client: FlaskClient, token: str, data: bytes, name: str = "flux.xml",
         **headers: str) -> Any:
    return client.post(DEPOSITS, data=data, headers={**XML, **bearer(token),
                                                     "X-File-Name": name, **headers})


def wait_final(client: FlaskClient, token: str, deposit_id: int, timeout: float = 60
               ) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        response = client.get(f"{DEPOSITS}/{deposit_id}", headers=bearer(token))
        assert response.status_code == 200, response.get_data(as_text=True)
        if response.json["status"] in ("TRAITE", "TRAITE_AVEC_ERREURS", "REJETE"):
            return response.json  # type: ignore[no-any-return]
        assert time.monotonic() < deadline, response.json
        time.sleep(0.05)


MIXED = document([
    passage("OK-1"),
    passage("NOBODY", identificationTitulaire=titulaire(nomNaissance="Inconnu")),
    passage("RULE", presenceNiveauLangueEuro="true"),
    passage("OK-1"),
], id_flux="mixed-1")


def test_file_then_report(client: FlaskClient, certifier: dict[str, str]) -> None:
    response = file(client, certifier["own"], MIXED, "Flux Novembre.xml")
    assert response.status_code == 202, response.get_data(as_text=True)
    receipt = response.json
    assert receipt["status"] == "RECU" and receipt["file_name"] == "Flux_Novembre.xml"
    assert receipt["size_bytes"] == len(MIXED) and len(receipt["sha256"]) == 64
    assert response.headers["Location"] == f"{DEPOSITS}/{receipt['id']}"
    done = wait_final(client, certifier["own"], receipt["id"])
    assert done["status"] == "TRAITE_AVEC_ERREURS"
    assert (done["passages_total"], done["passages_ok"], done["passages_ko"]) == (4, 1, 3)
    assert done["emitter_bcr"] == CERTIFIER and done["id_flux"] == "mixed-1"
    assert done["report_url"] == f"{DEPOSITS}/{receipt['id']}/report"
    xml = client.get(done["report_url"], headers={**bearer(certifier["own"]),
                                                  "Accept": "application/xml"})
    assert xml.status_code == 200 and xml.mimetype == "application/xml"
    day = done["received_at"][:10].replace("-", "")
    assert xml.headers["Content-Disposition"] == (
        f'attachment; filename="Accuse_de_traitement_Flux_Novembre.xml_{day}.xml"')
    root = etree.fromstring(xml.data)
    assert root.tag == "rapport" and root.findtext("nomFichier") == "Flux_Novembre.xml"
    as_json = client.get(done["report_url"], headers=bearer(certifier["own"])).json
    assert as_json["status"] == "TRAITE_AVEC_ERREURS" and as_json["id_traitement"] == receipt["id"]
    codes = {p["id_technique"]: [e["code"] for e in p["errors"]] for p in as_json["passages"]}
    assert codes["NOBODY"] == ["nirisation_aucun"] and codes["RULE"] == ["regle_langue"]
    assert codes["OK-1"] == ["doublon"]
    # The outcomes are read as the response streams, after the request's session is gone,
    # each part on a connection given back before it is sent: mid-stream and after it, no
    # connection is out of the pool (an open transaction would block the table, and a slow
    # client would hold a connection for the whole download).
    engine = client.application.extensions["passport.sessions"].kw["bind"]
    assert engine.pool.checkedout() == 0
    streamed = client.get(done["report_url"], headers={**bearer(certifier["own"]),
                                                       "Accept": "application/xml"},
                          buffered=False)
    pieces = iter(streamed.response)
    head = b"".join(next(pieces) for _ in range(7))
    assert b"<PassagesKO>" in head and b"<passage>" in head  # inside the outcomes
    assert engine.pool.checkedout() == 0
    rest = b"".join(pieces)
    streamed.close()
    assert etree.fromstring(head + rest).findtext("idFlux") == "mixed-1"
    assert engine.pool.checkedout() == 0


def test_the_same_bytes_again_are_the_same_deposit(client: FlaskClient,
                                                   certifier: dict[str, str]) -> None:
    first = file(client, certifier["own"], MIXED)
    wait_final(client, certifier["own"], first.json["id"])
    again = file(client, certifier["own"], MIXED, "renamed.xml")
    assert again.status_code == 200 and again.json["id"] == first.json["id"]
    listed = client.get(DEPOSITS, headers=bearer(certifier["own"])).json
    assert listed["total"] == 1


def test_a_file_rejected_can_be_sent_again(client: FlaskClient, certifier: dict[str, str],
                                           committed: sessionmaker[Session]) -> None:
    """A rejection can come from outside the bytes (here a mandate the operator had not
    recorded yet): the same bytes sent again are a new deposit, processed again; the
    rejected one keeps its report. Sent again once processed, they are that deposit."""
    from passport.certifiers.service import add_certifier, add_mandate

    with unit_of_work(committed) as db:
        add_certifier(db, "CERT0001", ["CTR-0001"], "Institut", None)
    depositor = certifier["depositor"]
    data = document([passage("R-1")], id_flux="r-1", emitter="DEPO0001")
    first = wait_final(client, depositor, file(client, depositor, data).json["id"])
    assert (first["status"], first["error_code"]) == ("REJETE", "mandat_absent")
    with unit_of_work(committed) as db:
        add_mandate(db, "DEPO0001", "CERT0001")
    again = file(client, depositor, data)
    assert again.status_code == 202 and again.json["id"] != first["id"]
    assert wait_final(client, depositor, again.json["id"])["status"] == "TRAITE"
    old = client.get(f"{DEPOSITS}/{first['id']}/report", headers=bearer(depositor)).json
    assert old["status"] == "REJETE" and old["errors"][0]["code"] == "mandat_absent"
    third = file(client, depositor, data)
    assert third.status_code == 200 and third.json["id"] == again.json["id"]


def test_received_files_are_deleted_after_their_retention(
        client: FlaskClient, certifier: dict[str, str], committed: sessionmaker[Session]) -> None:
    """`passport cleanup` deletes a received file once its processing ended more than
    PASSPORT_FLUX_FILE_RETENTION_DAYS ago; the deposit and its report stay. A copy that a
    deposit processed since still needs (the same bytes, another uploader) stays."""
    from passport import cleanup

    settings = client.application.config["PASSPORT_SETTINGS"]
    own, stranger = certifier["own"], certifier["stranger"]
    old = wait_final(client, own, file(client, own, MIXED).json["id"])
    shared = document([passage("S-1")], id_flux="s-1")
    first = wait_final(client, own, file(client, own, shared).json["id"])
    late = wait_final(client, stranger, file(client, stranger, shared).json["id"])
    assert (first["status"], late["status"]) == ("TRAITE", "REJETE")  # not its emitter

    def stored(deposit_id: int) -> Path | None:
        with unit_of_work(committed) as db:
            deposit = db.get(Deposit, deposit_id)
            assert deposit is not None
            return Path(deposit.storage_path) if deposit.storage_path else None

    paths = {d["id"]: stored(d["id"]) for d in (old, first, late)}
    assert paths[first["id"]] == paths[late["id"]] and all(p and p.exists() for p in paths.values())
    # The first two were processed 40 days ago (and their copies written then).
    forty_days_ago = utcnow() - dt.timedelta(days=40)
    with unit_of_work(committed) as db:
        db.execute(sa.update(Deposit).where(Deposit.id.in_([old["id"], first["id"]]))
                   .values(received_at=forty_days_ago, finished_at=forty_days_ago))
    for path in paths.values():
        assert path is not None
        os.utime(path, (forty_days_ago.timestamp(),) * 2)

    def run(**options: Any) -> int:
        swept = {k.label: k.count for k in cleanup.run(committed, settings, **options)}
        return next(count for label, count in swept.items() if label.startswith("received"))

    assert run(dry_run=True) == 1 and paths[old["id"]].exists()  # type: ignore[union-attr]
    assert run() == 1
    assert not paths[old["id"]].exists()  # type: ignore[union-attr]
    assert paths[first["id"]].exists()  # type: ignore[union-attr]
    assert stored(old["id"]) is None and stored(first["id"]) is None
    assert stored(late["id"]) == paths[late["id"]]
    report = client.get(f"{DEPOSITS}/{old['id']}/report", headers={
        **bearer(own), "Accept": "application/xml"})
    assert report.status_code == 200 and etree.fromstring(report.data).findtext("idFlux") == "mixed-1"
    assert client.get(f"{DEPOSITS}/{old['id']}", headers=bearer(own)).json["status"] == (
        "TRAITE_AVEC_ERREURS")
    # Once the deposit that still needed it is old enough too, the shared copy goes.
    with unit_of_work(committed) as db:
        db.execute(sa.update(Deposit).where(Deposit.id == late["id"])
                   .values(finished_at=forty_days_ago))
    assert run(now=utcnow()) == 1 and not paths[first["id"]].exists()  # type: ignore[union-attr]
    assert run() == 0
    # Sent again afterwards, the same bytes are stored anew: a deposit, processed.
    again = file(client, stranger, shared)
    assert again.status_code == 202
    assert wait_final(client, stranger, again.json["id"])["error_code"] == "emetteur_different"


def test_a_file_received_again_while_its_copy_is_removed_stays(tmp_path: Path) -> None:
    """An upload of the same bytes replaces the stored copy before its deposit is
    recorded: the removal sees a copy newer than its deadline and puts it back."""
    from passport.deposits.storage import remove_stored

    path = tmp_path / "ab" / "ab12.xml"
    path.parent.mkdir()
    path.write_bytes(b"<flux/>")
    deadline = utcnow() - dt.timedelta(days=30)
    assert remove_stored(path, deadline) is False and path.read_bytes() == b"<flux/>"
    os.utime(path, ((deadline - dt.timedelta(days=1)).timestamp(),) * 2)
    assert remove_stored(path, deadline) is True and not path.exists()
    assert remove_stored(path, deadline) is False
    assert list(path.parent.iterdir()) == []


def test_temporaries_of_killed_processes_are_removed(
        app: Flask, committed: sessionmaker[Session]) -> None:
    """A partial upload, a copy moved aside for removal, a dry run's scratch directory:
    a day untouched, they are a killed process's and go; younger ones may be in use."""
    from passport import cleanup

    settings = app.config["PASSPORT_SETTINGS"]
    flux, scratch = settings.storage_dir / "flux", settings.storage_dir / "scratch"
    (flux / "ab").mkdir(parents=True)
    (scratch / "validate-x1").mkdir(parents=True)
    (scratch / "validate-x1" / "f.xml").write_bytes(b"<x/>")
    old = [flux / ".upload-1.part", flux / "ab" / ".removing-1", scratch / "validate-x1"]
    young = [flux / ".upload-2.part", scratch / "validate-x2"]
    kept = flux / "ab" / "ab12.xml"  # a stored copy: only its deposit's retention counts
    for path in [*old[:2], young[0], kept]:
        path.write_bytes(b"<x/>")
    young[1].mkdir()
    two_days_ago = (utcnow() - dt.timedelta(days=2)).timestamp()
    for path in [*old, kept]:
        os.utime(path, (two_days_ago, two_days_ago))
    label = "temporary files of interrupted uploads and validations"
    counted = {k.label: k.count for k in cleanup.run(committed, settings, dry_run=True)}
    assert counted[label] == 3 and all(p.exists() for p in old)
    assert {k.label: k.count for k in cleanup.run(committed, settings)}[label] == 3
    assert not any(p.exists() for p in old) and all(p.exists() for p in [*young, kept])


def test_storage_failing_is_a_503_and_leaves_nothing(
        client: FlaskClient, certifier: dict[str, str], committed: sessionmaker[Session]) -> None:
    """A storage volume that fails (here: paths that cannot be made) answers 503
    `storage_unavailable` with `Retry-After`, records no deposit and leaves no partial file
    — whether it fails before the body is read or once it is."""
    import hashlib
    import shutil

    storage = client.application.config["PASSPORT_SETTINGS"].storage_dir
    flux = storage / "flux"
    flux.mkdir(parents=True, exist_ok=True)
    # The body is read, then its place cannot be made: the shard is a file.
    (flux / hashlib.sha256(MIXED).hexdigest()[:2]).write_bytes(b"")
    late = file(client, certifier["own"], MIXED)
    assert late.status_code == 503, late.get_data(as_text=True)
    assert late.json["code"] == "storage_unavailable" and late.headers["Retry-After"] == "60"
    assert not list(flux.glob(".upload-*"))
    # Nothing can be made in storage at all.
    shutil.rmtree(storage)
    storage.write_bytes(b"")
    early = file(client, certifier["own"], MIXED)
    assert (early.status_code, early.json["code"]) == (503, "storage_unavailable")
    dry = client.post("/api/v1/flux/validate", data=MIXED, headers=XML)
    assert (dry.status_code, dry.json["code"]) == (503, "storage_unavailable")
    with unit_of_work(committed) as db:
        assert db.scalar(sa.select(sa.func.count()).select_from(Deposit)) == 0


def test_multipart_and_gzip(client: FlaskClient, certifier: dict[str, str]) -> None:
    data = document([passage("MP-1")], id_flux="multipart-1")
    response = client.post(DEPOSITS, headers=bearer(certifier["own"]),
                           data={"file": (io.BytesIO(data), "depot.xml")},
                           content_type="multipart/form-data")
    assert response.status_code == 202, response.get_data(as_text=True)
    assert response.json["file_name"] == "depot.xml"
    assert wait_final(client, certifier["own"], response.json["id"])["status"] == "TRAITE"
    zipped = document([passage("GZ-1")], id_flux="gzip-1")
    response = file(client, certifier["own"], gzip.compress(zipped), "gz.xml",
                    **{"Content-Encoding": "gzip"})
    assert response.status_code == 202
    assert response.json["size_bytes"] == len(zipped)  # the inflated file
    assert wait_final(client, certifier["own"], response.json["id"])["status"] == "TRAITE"


def test_limits_and_media_types(make_app: Any, auth_settings: Any, certifier: dict[str, str],
                                committed: sessionmaker[Session]) -> None:
    small = make_app(dataclasses.replace(auth_settings, max_upload_bytes=2000)).test_client()
    token = certifier["own"]
    big = document([passage(f"P-{n}") for n in range(10)])
    assert len(big) > 2000
    too_big = small.post(DEPOSITS, data=big, headers={**XML, **bearer(token)})
    assert too_big.status_code == 413 and too_big.json["code"] == "payload_too_large"
    bomb = gzip.compress(b"<a>" + b" " * 1_500_000 + b"</a>")
    assert len(bomb) < 2000
    inflated = small.post(DEPOSITS, data=bomb, headers={
        **XML, **bearer(token), "Content-Encoding": "gzip"})
    assert inflated.status_code == 413 and "inflated" in inflated.json["detail"]
    not_gzip = small.post(DEPOSITS, data=b"<a/>", headers={
        **XML, **bearer(token), "Content-Encoding": "gzip"})
    assert not_gzip.status_code == 422
    wrong = small.post(DEPOSITS, data=b"{}", headers={"Content-Type": "application/json",
                                                      **bearer(token)})
    assert wrong.status_code == 415 and wrong.json["code"] == "unsupported_media_type"
    empty = small.post(DEPOSITS, data=b"", headers={**XML, **bearer(token)})
    assert empty.status_code == 422
    with unit_of_work(committed) as db:
        assert db.scalar(sa.select(sa.func.count()).select_from(Deposit)) == 0


def test_a_file_declaring_another_emitter_is_rejected(client: FlaskClient,
                                                      certifier: dict[str, str]) -> None:
    response = file(client, certifier["stranger"], document([passage("X")], id_flux="x-1"))
    done = wait_final(client, certifier["stranger"], response.json["id"])
    assert done["status"] == "REJETE" and done["error_code"] == "emetteur_different"
    assert "AUTR0001" in done["error_message"]


def test_a_schema_invalid_file_is_rejected_with_its_line(client: FlaskClient,
                                                         certifier: dict[str, str]) -> None:
    bad = document([passage("B", obtentionCertification="NOPE")], id_flux="bad-1")
    response = file(client, certifier["own"], bad)
    done = wait_final(client, certifier["own"], response.json["id"])
    assert done["status"] == "REJETE" and done["error_code"] == "schema"
    report = client.get(done["report_url"], headers=bearer(certifier["own"])).json
    assert report["errors"][0]["line"] == 2 and report["errors"][0]["column"] > 1


def test_report_before_processing_is_409(client: FlaskClient, certifier: dict[str, str],
                                         committed: sessionmaker[Session]) -> None:
    with unit_of_work(committed) as db:
        deposit = Deposit(file_name="f.xml", sha256="1" * 64, size_bytes=1, source="api",
                          submitted_by=CERTIFIER)
        db.add(deposit)
        db.flush()
        deposit_id = deposit.id
    response = client.get(f"{DEPOSITS}/{deposit_id}/report", headers=bearer(certifier["own"]))
    assert response.status_code == 409 and response.json["code"] == "report_not_ready"


def test_who_sees_which_deposit(client: FlaskClient, certifier: dict[str, str]) -> None:
    mandated = document([passage("M-1")], id_flux="m-1", emitter="DEPO0001")
    by_depositor = file(client, certifier["depositor"], mandated).json
    own = file(client, certifier["own"], document([passage("O-1")], id_flux="o-1")).json
    wait_final(client, certifier["depositor"], by_depositor["id"])
    wait_final(client, certifier["own"], own["id"])
    def ids(token: str) -> set[int]:
        return {d["id"] for d in client.get(DEPOSITS, headers=bearer(token)).json["items"]}
    assert ids(certifier["own"]) == {own["id"], by_depositor["id"]}  # filed for it, too
    assert ids(certifier["depositor"]) == {by_depositor["id"]}
    assert ids(certifier["stranger"]) == set()
    hidden = client.get(f"{DEPOSITS}/{own['id']}", headers=bearer(certifier["depositor"]))
    assert hidden.status_code == 404


def test_a_certifier_sees_the_rejected_files_filed_for_it(
        client: FlaskClient, certifier: dict[str, str], committed: sessionmaker[Session]) -> None:
    """A file its mandated depositor filed and that was rejected — an idFlux already
    received, a schema error past the first passage — is the certifier's to see (listing,
    detail, monthly statistics), with the flux named; a file from an emitter it did not
    mandate is not, though it names the certifier."""
    from passport.certifiers.service import add_certifier, add_mandate

    with unit_of_work(committed) as db:
        add_certifier(db, "CERT0001", ["CTR-0001"], "Institut", None)
        add_mandate(db, "DEPO0001", "CERT0001")
    depositor, own = certifier["depositor"], certifier["own"]

    def filed(token: str, data: bytes) -> dict[str, Any]:
        return wait_final(client, token, file(client, token, data).json["id"])

    first = filed(depositor, document([passage("M-1")], id_flux="m-1", emitter="DEPO0001"))
    assert first["status"] == "TRAITE"
    again = filed(depositor, document([passage("M-2")], id_flux="m-1", emitter="DEPO0001"))
    late = filed(depositor, document([passage("M-3"), passage("M-4", sexe="X")],
                                     id_flux="m-3", emitter="DEPO0001"))
    unmandated = filed(certifier["stranger"], document([passage("S-1")], id_flux="s-1",
                                                       emitter="AUTR0001"))
    # A header that breaks the schema is not trusted: its idFlux is longer than a column.
    broken = filed(depositor, document([passage("M-5")], id_flux="x" * 60, emitter="DEPO0001"))
    assert (broken["status"], broken["error_code"]) == ("REJETE", "schema")
    assert client.get(f"{DEPOSITS}/{broken['id']}", headers=bearer(own)).status_code == 404
    assert (again["status"], again["error_code"]) == ("REJETE", "flux_deja_recu")
    assert (late["status"], late["error_code"]) == ("REJETE", "schema")
    assert (unmandated["status"], unmandated["error_code"]) == ("REJETE", "mandat_absent")
    for rejected, id_flux in ((again, "m-1"), (late, "m-3")):
        seen = client.get(f"{DEPOSITS}/{rejected['id']}", headers=bearer(own))
        assert seen.status_code == 200
        assert (seen.json["id_flux"], seen.json["emitter_bcr"], seen.json["certifier_bcr"]) == (
            id_flux, "DEPO0001", "CERT0001")
    listed = {d["id"] for d in client.get(DEPOSITS, headers=bearer(own),
                                          query_string={"status": "REJETE"}).json["items"]}
    assert listed == {again["id"], late["id"]}
    assert unmandated["certifier_bcr"] is None
    assert client.get(f"{DEPOSITS}/{unmandated['id']}", headers=bearer(own)).status_code == 404
    [month] = client.get("/api/v1/certifier/stats", headers=bearer(own)).json["files"]
    assert (month["deposits"], month["rejected"]) == (3, 2)
    assert month["rejected_by_code"] == {"flux_deja_recu": 1, "schema": 1}
    mine = {d["id"] for d in client.get(DEPOSITS, headers=bearer(depositor)).json["items"]}
    assert mine == {first["id"], again["id"], late["id"], broken["id"]}


def test_a_file_an_operator_ingested_is_its_emitter_s_to_see(
        client: FlaskClient, certifier: dict[str, str], committed: sessionmaker[Session],
        auth_settings: Any, tmp_path: Any) -> None:
    """``passport flux ingest`` records no uploader: the file's emitter (here a mandated
    depositor) sees the deposit, as its statistics count its passages; so does the
    certifier; nobody else."""
    from tests.helpers import ingest

    deposit = ingest(committed, auth_settings, tmp_path, document(
        [passage("C-1")], id_flux="cli-1", emitter="DEPO0001"))
    assert deposit.submitted_by is None and deposit.status.value == "TRAITE"
    for who, sees in (("depositor", True), ("own", True), ("stranger", False)):
        listed = client.get(DEPOSITS, headers=bearer(certifier[who])).json["items"]
        assert ([d["id"] for d in listed] == [deposit.id]) is sees
        stats = client.get("/api/v1/certifier/stats", headers=bearer(certifier[who])).json
        assert sum(m["deposits"] for m in stats["files"]) == (1 if sees else 0)
        assert sum(r["received"] for r in stats["passages"]) == (1 if sees else 0)


def test_listing_filters(client: FlaskClient, certifier: dict[str, str]) -> None:
    ok = file(client, certifier["own"], document([passage("F-1")], id_flux="f-1")).json
    bad = file(client, certifier["own"], b"<not-a-flux/>").json
    wait_final(client, certifier["own"], ok["id"])
    wait_final(client, certifier["own"], bad["id"])
    rejected = client.get(DEPOSITS, headers=bearer(certifier["own"]),
                          query_string={"status": "REJETE"}).json
    assert [d["id"] for d in rejected["items"]] == [bad["id"]]
    day = ok["received_at"][:10]
    same_day = client.get(DEPOSITS, headers=bearer(certifier["own"]),
                          query_string={"received_from": day, "received_to": day}).json
    assert same_day["total"] == 2
    older = client.get(DEPOSITS, headers=bearer(certifier["own"]),
                       query_string={"page": 2, "page_size": 1}).json
    assert ([d["id"] for d in older["items"]], older["total"]) == ([ok["id"]], 2)
    past = client.get(DEPOSITS, headers=bearer(certifier["own"]),
                      query_string={"page": 3, "page_size": 1}).json
    assert (past["items"], past["total"]) == ([], 2)
    before = client.get(DEPOSITS, headers=bearer(certifier["own"]),
                        query_string={"received_to": "2020-01-01"}).json
    assert before["total"] == 0
    bad_query = client.get(DEPOSITS, headers=bearer(certifier["own"]),
                           query_string={"status": "FINI"})
    assert bad_query.status_code == 422


def test_stats(client: FlaskClient, certifier: dict[str, str]) -> None:
    wait_final(client, certifier["own"], file(client, certifier["own"], MIXED).json["id"])
    other = document(certifications=[certification([passage("RS-1")], type_="RS",
                                                   code="RS5875")], id_flux="rs-1")
    wait_final(client, certifier["own"], file(client, certifier["own"], other).json["id"])
    wait_final(client, certifier["own"], file(client, certifier["own"], b"<x/>").json["id"])
    stats = client.get("/api/v1/certifier/stats", headers=bearer(certifier["own"])).json
    rows = {r["certification_code"]: r for r in stats["passages"]}
    rncp = rows["RNCP34762"]
    assert (rncp["received"], rncp["ok"]) == (4, 1)
    assert rncp["ko"] == {"nirisation": 1, "duplicate": 1, "rules": 1, "other": 0}
    assert rncp["ko_by_code"] == {"nirisation_aucun": 1, "doublon": 1, "regle_langue": 1}
    assert (rows["RS5875"]["received"], rows["RS5875"]["ok"]) == (1, 1)
    [month] = stats["files"]
    assert (month["deposits"], month["rejected"]) == (3, 1)
    assert sum(month["rejected_by_code"].values()) == 1
    assert client.get("/api/v1/certifier/stats", headers=bearer(certifier["stranger"])).json == {
        "passages": [], "files": []}
    filtered = client.get("/api/v1/certifier/stats", headers=bearer(certifier["own"]),
                          query_string={"certification": "RS5875", "from": "2000-01"}).json
    assert [r["certification_code"] for r in filtered["passages"]] == ["RS5875"]
    bad = client.get("/api/v1/certifier/stats", headers=bearer(certifier["own"]),
                     query_string={"from": "2026-13"})
    assert bad.status_code == 422


def test_holder_reports_reach_the_certifier(client: FlaskClient, certifier: dict[str, str],
                                            app: Flask, committed: sessionmaker[Session]
                                            ) -> None:
    from passport.auth.models import Account, Role
    from passport.holders.models import Holder

    wait_final(client, certifier["own"], file(client, certifier["own"], MIXED).json["id"])
    with unit_of_work(committed) as db:
        holder_id = db.scalar(sa.select(Holder.id))
        account = Account(public_id="acct-x", role=Role.HOLDER, issuer="t", subject="x",
                          holder_id=holder_id)
        db.add(account)
        db.flush()
        holder = mint(app, db, account)
    item = client.get("/api/v1/me/passport", headers=bearer(holder)).json[
        "certifications"]["items"][0]
    filed = client.post(f"/api/v1/me/passport/certifications/{item['id']}/reports",
                        json={"reason": "wrong_date", "comment": "Examen le 13 juin"},
                        headers=bearer(holder))
    assert filed.status_code == 201
    listed = client.get("/api/v1/certifier/reports", headers=bearer(certifier["own"])).json
    [report] = listed["items"]
    assert report["reason"] == "wrong_date" and report["status"] == "ouvert"
    assert report["passage"]["id_technique"] == "OK-1"
    assert report["passage"]["holder_as_sent"]["nomNaissance"] == "Dupont"
    assert "nir" not in str(report).lower()
    past = client.get("/api/v1/certifier/reports", headers=bearer(certifier["own"]),
                      query_string={"page": 2}).json
    assert (past["items"], past["total"]) == ([], 1)
    assert client.get("/api/v1/certifier/reports",
                      headers=bearer(certifier["stranger"])).json["total"] == 0
    stranger = client.patch(f"/api/v1/certifier/reports/{report['id']}",
                            json={"status": "traite"}, headers=bearer(certifier["stranger"]))
    assert stranger.status_code == 404
    answered = client.patch(f"/api/v1/certifier/reports/{report['id']}", json={
        "status": "traite", "response": "Corrigé dans le flux du 30/11."},
        headers=bearer(certifier["own"]))
    assert answered.status_code == 200 and answered.json["status"] == "traite"
    mine = client.get(f"/api/v1/me/passport/certifications/{item['id']}/reports",
                      headers=bearer(holder)).json
    assert mine[0]["status"] == "traite"
    assert mine[0]["certifier_response"] == "Corrigé dans le flux du 30/11."
    kinds = [e["kind"] for e in client.get("/api/v1/me/journal", headers=bearer(holder))
             .json["items"]]
    assert kinds[0] == "report.answered"


# -- the public dry-run validator ---------------------------------------------------------
VALIDATE = "/api/v1/flux/validate"


def test_dry_run_gives_the_verdict_and_stores_nothing(client: FlaskClient,
                                                      committed: sessionmaker[Session]) -> None:
    response = client.post(VALIDATE, data=MIXED, headers=XML)
    assert response.status_code == 200, response.get_data(as_text=True)
    verdict = response.json
    assert verdict["schema_valid"] is True
    assert (verdict["passages_total"], verdict["passages_ko"]) == (4, 1)  # the rule only
    assert [p["id_technique"] for p in verdict["passages"]] == ["RULE"]
    assert "nirisation" in verdict["not_checked"]
    bad = client.post(VALIDATE, data=document([passage("B", dateFinValidite="demain")]),
                      headers=XML).json
    assert bad["schema_valid"] is False
    [error] = bad["errors"]
    assert error["code"] == "schema" and error["line"] == 2 and error["column"] > 1
    broken = client.post(VALIDATE, data=MIXED[:-40], headers=XML).json
    assert broken["schema_valid"] is False and broken["errors"][0]["code"] == "truncated"
    with unit_of_work(committed) as db:
        assert db.scalar(sa.select(sa.func.count()).select_from(Deposit)) == 0


def test_dry_run_lists_the_first_flagged_passages_and_counts_them_all(
        client: FlaskClient, monkeypatch: pytest.MonkeyPatch) -> None:
    # Counted as they go by: a 200,000-passage file held every verdict (125 MB), now 30 MB.
    from passport.deposits import dryruns

    monkeypatch.setattr(dryruns, "LISTED", 2)
    data = document([passage(f"P-{i}", dateFinExamen="2020-01-01") if i % 2 else
                     passage(f"P-{i}") for i in range(7)])
    verdict = client.post(VALIDATE, data=data, headers=XML).json
    assert (verdict["passages_total"], verdict["passages_ok"], verdict["passages_ko"]) == (7, 4, 3)
    assert [p["id_technique"] for p in verdict["passages"]] == ["P-1", "P-3"]
    assert verdict["truncated"] is True
    monkeypatch.setattr(dryruns, "LISTED", 3)
    verdict = client.post(VALIDATE, data=data, headers=XML).json
    assert [p["id_technique"] for p in verdict["passages"]] == ["P-1", "P-3", "P-5"]
    assert verdict["truncated"] is False


def test_dry_run_reports_a_refusal_met_while_positioning_errors(client: FlaskClient) -> None:
    data = (DATA / "fuzz-regressions" / "gate-refusal-met-by-the-diagnosis.xml").read_bytes()
    response = client.post(VALIDATE, data=data, headers=XML)
    assert response.status_code == 200, response.get_data(as_text=True)
    assert response.json["schema_valid"] is False
    assert [e["code"] for e in response.json["errors"]] == ["resource_limit"]


def test_dry_run_is_rate_limited(make_app: Any, auth_settings: Any,
                                 committed: sessionmaker[Session]) -> None:
    limited = make_app(dataclasses.replace(auth_settings, validate_rate_per_minute=2)
                       ).test_client()
    answers = [limited.post(VALIDATE, data=MIXED, headers=XML).status_code for _ in range(3)]
    assert answers == [200, 200, 429]


def test_dry_runs_at_once_are_each_counted(make_app: Any, auth_settings: Any,
                                           committed: sessionmaker[Session]) -> None:
    """Six validations from one address at once, with room for four: four verdicts and
    two refusals, whichever finish first (each reads the count, then writes it)."""
    app = make_app(dataclasses.replace(auth_settings, validate_rate_per_minute=4,
                                       validate_concurrency=6))
    answers = at_once(app, lambda c: c.post(VALIDATE, data=MIXED, headers=XML), times=6)
    assert sorted(a.status_code for a in answers) == [200] * 4 + [429] * 2


def test_dry_runs_at_once_are_bounded_per_host(make_app: Any, auth_settings: Any,
                                               committed: sessionmaker[Session]) -> None:
    """Each dry run holds a web worker for up to a minute: past PASSPORT_VALIDATE_CONCURRENCY
    at once, the others answer 503 `busy` at once, and the rest of the API stays served."""
    from passport.ratelimit import slot

    settings = dataclasses.replace(auth_settings, validate_concurrency=2)
    client = make_app(settings).test_client()
    slots = settings.instance_dir / "slots"
    with slot(slots, "validate", 2) as first:
        assert first
        assert client.post(VALIDATE, data=MIXED, headers=XML).status_code == 200
        with slot(slots, "validate", 2) as second:
            assert second
            busy = client.post(VALIDATE, data=MIXED, headers=XML)
            assert busy.status_code == 503
            assert busy.json["code"] == "busy" and busy.headers["Retry-After"] == "30"
            assert busy.content_type == "application/problem+json"
            assert client.get("/health").status_code == 200
    assert client.post(VALIDATE, data=MIXED, headers=XML).status_code == 200


def test_a_slot_is_freed_when_its_holder_dies(tmp_path: Path) -> None:
    import subprocess
    import sys

    from passport.ratelimit import slot

    holder = subprocess.Popen(
        [sys.executable, "-c", "import sys, time; from pathlib import Path; "
         "from passport.ratelimit import slot\n"
         f"with slot(Path({str(tmp_path)!r}), 'validate', 1) as held:\n"
         "    print(held, flush=True); time.sleep(60)"],
        stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "True"
        with slot(tmp_path, "validate", 1) as held:
            assert held is False
    finally:
        holder.kill()
        holder.communicate()
    with slot(tmp_path, "validate", 1) as held:
        assert held is True


def test_dry_run_size_limit(make_app: Any, auth_settings: Any,
                            committed: sessionmaker[Session]) -> None:
    small = make_app(dataclasses.replace(auth_settings, max_upload_bytes=500)).test_client()
    response = small.post(VALIDATE, data=MIXED, headers=XML)
    assert response.status_code == 413


def test_nil_mention_is_fine(client: FlaskClient) -> None:
    verdict = client.post(VALIDATE, data=document([passage("N", mentionValidee=NIL)]),
                          headers=XML).json
    assert verdict["schema_valid"] is True and verdict["passages_ko"] == 0


def test_a_long_load_keeps_its_claim(settings: Settings, vault: NirVault, tmp_path: Path,
                                     committed: sessionmaker[Session],
                                     monkeypatch: pytest.MonkeyPatch) -> None:
    """A load outlasting its lease renews it, so that a worker on another host does not
    take the deposit over (on SQLite, one host: the claimant's process decides)."""
    from ingestion.pipeline import Source
    from passport.deposits import service

    gate = hold(monkeypatch, service, "ingest")
    flux = tmp_path / "long.xml"
    flux.write_bytes(document([passage("L-1")], id_flux="long-load"))
    deposit_id = waiting_deposit(committed, flux)
    assert_lease_renewed(
        committed, Deposit, deposit_id,
        lambda: service.process(committed, deposit_id, Source(flux), vault=vault,
                                options=settings.ingest_options(),
                                lease=dt.timedelta(seconds=1)), gate, 1)
    with unit_of_work(committed) as db:
        assert db.get(Deposit, deposit_id).status.is_final  # type: ignore[union-attr]
