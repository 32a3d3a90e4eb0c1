"""Ingestion into the holder-centric store: NIRisation, duplicates, idFlux, SUPPRESSION,
registry, all-or-nothing, reports — on SQLite and PostgreSQL."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import sqlalchemy as sa
from lxml import etree
from sqlalchemy.orm import Session, sessionmaker

from ingestion import loader
from ingestion.bulk import BulkWriter
from ingestion.pipeline import Source
from passport.certifiers.service import add_certifier, add_mandate
from passport.config import Settings
from passport.db import unit_of_work
from passport.deposits import service
from passport.deposits.models import Deposit, DepositReportPart, DepositStatus, FluxReceipt
from passport.holders.models import Holder
from passport.nir import NirVault, is_shaped
from passport.records.models import Passage, PassageKey
from tests.conftest import DATA
from tests.flux import (
    NIL,
    OMIT,
    PERSON_NIR,
    Raw,
    certification,
    document,
    dossier,
    national,
    passage,
    person_row,
    titulaire,
)
from tests.helpers import (
    count,
    ingest,
    load_identities,
    load_training_files,
    passages,
    report_of,
)

Factory = sessionmaker[Session]


@pytest.fixture
def directory(committed: Factory, vault: NirVault, tmp_path: Path) -> Factory:
    """A directory: Antoine Dupont, two homonym Lefèvre twins, and a born-abroad Élise."""
    load_identities(committed, vault, tmp_path, [
        person_row(),
        person_row(nir="189057511800194", nom_naissance="Lefèvre", prenom1="Jean-Luc",
                   prenom2="", annee_naissance="1989", mois_naissance="5", jour_naissance="3",
                   code_insee_naissance="75118"),
        person_row(nir="189057511800293", nom_naissance="LEFEVRE", prenom1="Jean Luc",
                   prenom2="", annee_naissance="1989", mois_naissance="5", jour_naissance="4",
                   code_insee_naissance="75118"),
        person_row(nir="290109935000133", nom_naissance="N'Diaye", prenom1="Élise", sexe="F",
                   prenom2="", annee_naissance="1990", mois_naissance="10", jour_naissance="20",
                   code_insee_naissance="", code_pays_naissance="350"),
    ])
    return committed


def lefevre(**changes: object) -> Raw:
    fields: dict[str, object] = {
        "nomNaissance": "Le-Fèvre", "prenom1": "JEAN-LUC", "anneeNaissance": "1989",
        "moisNaissance": "05", "jourNaissance": "03",
        "codeCommuneNaissance": Raw(
            "<cpf:codeCommuneNaissance><cpf:codeInseeNaissance><cpf:codeInsee>75118"
            "</cpf:codeInsee></cpf:codeInseeNaissance></cpf:codeCommuneNaissance>"),
    }
    return titulaire(**{**fields, **changes})


def test_accepted_passage_lands_in_the_holders_store(
    directory: Factory, settings: Settings, tmp_path: Path, vault: NirVault
) -> None:
    deposit = ingest(directory, settings, tmp_path, document([passage(
        "P-1", urlPreuve="https://verif.example/1", libelleOption="Option A",
        presenceNiveauLangueEuro="true", niveauLangueEuropeen="B2", verbatim="TOSA",
        mentionValidee="MENTION_TRES_BIEN_AVEC_FELICITATIONS_DU_JURY")]))
    assert deposit.status is DepositStatus.TRAITE
    assert (deposit.passages_total, deposit.passages_ok, deposit.passages_ko) == (1, 1, 0)
    assert (deposit.emitter_bcr, deposit.certifier_bcr, deposit.id_flux) == (
        "CERT0001", "CERT0001", "flux-test-1")
    [stored] = passages(directory)
    assert stored.id_technique == "P-1"
    assert stored.url_preuve == "https://verif.example/1"
    assert stored.niveau_langue_europeen == "B2"
    assert stored.mention_validee == "MENTION_TRES_BIEN_AVEC_FELICITATIONS_DU_JURY"
    assert str(stored.date_debut_validite) == "2024-07-01"
    assert stored.date_fin_validite is None
    assert stored.donnee_certifiee is True
    assert stored.titulaire["nomNaissance"] == "Dupont"
    assert stored.created_at.tzinfo is not None
    with unit_of_work(directory) as session:
        holder = session.get(Holder, stored.holder_id)
        assert holder is not None
        assert holder.nir_hmac == vault.pseudonym(PERSON_NIR)
        assert vault.decrypt(holder.nir_key_id, holder.nir_enc) == PERSON_NIR
        key = session.get(PassageKey, ("CERT0001", "P-1"))
        assert key is not None and key.holder_id == holder.id


def test_digcomp_results_are_stored(directory: Factory, settings: Settings, tmp_path: Path) -> None:
    digital = Raw(
        "<cpf:niveauNumeriqueEuropeen><cpf:scoreGeneral>890</cpf:scoreGeneral><cpf:resultats>"
        "<cpf:resultat><cpf:niveau>5</cpf:niveau><cpf:domaineCompetenceId>3"
        "</cpf:domaineCompetenceId><cpf:competenceId>4</cpf:competenceId></cpf:resultat>"
        "</cpf:resultats></cpf:niveauNumeriqueEuropeen>")
    ingest(directory, settings, tmp_path, document([passage(
        presenceNiveauNumeriqueEuro="true", niveauNumeriqueEuropeen=digital)]))
    [stored] = passages(directory)
    assert stored.score_general == 890
    assert stored.digcomp_resultats == [{"niveau": 5, "domaine": 3, "competence": 4}]


@pytest.mark.parametrize(
    ("holder", "message"),
    [
        (titulaire(nomNaissance="Durand"), "Aucun titulaire ne correspond aux critères obligatoires"),
        (titulaire(anneeNaissance="1997"), "Aucun titulaire ne correspond aux critères obligatoires"),
        (titulaire(sexe="F"), "Aucun titulaire ne correspond aux critères obligatoires"),
        (titulaire(codeCommuneNaissance=Raw(
            "<cpf:codeCommuneNaissance><cpf:codeInseeNaissance><cpf:codeInsee>31556"
            "</cpf:codeInsee></cpf:codeInseeNaissance></cpf:codeCommuneNaissance>")),
         "Aucun titulaire ne correspond aux critères obligatoires"),
        (lefevre(moisNaissance=NIL, jourNaissance=NIL), "Plusieurs titulaires ont été identifiés"),
        (lefevre(jourNaissance="9"),
         "Aucun titulaire ne correspond aux critères obligatoires enrichis du jour et du mois de "
         "naissance"),
    ],
)
def test_nirisation_failures_carry_the_cdc_messages(
    directory: Factory, settings: Settings, tmp_path: Path, holder: Raw, message: str
) -> None:
    deposit = ingest(directory, settings, tmp_path, document([passage(
        identificationTitulaire=holder)]))
    assert deposit.status is DepositStatus.TRAITE_AVEC_ERREURS
    [outcome] = report_of(directory, deposit).passages()
    assert outcome["ok"] is False
    assert outcome["errors"][0]["message"] == message
    assert count(directory, Passage) == 0


def test_homonyms_are_told_apart_by_birth_day_and_names_are_normalised(
    directory: Factory, settings: Settings, tmp_path: Path, vault: NirVault
) -> None:
    ingest(directory, settings, tmp_path, document([
        passage("A", identificationTitulaire=lefevre()),
        passage("B", identificationTitulaire=lefevre(nomNaissance="LEFEVRE", prenom1="jean luc",
                                                      jourNaissance="4")),
    ]))
    stored = {p.id_technique: p.holder_id for p in passages(directory)}
    with unit_of_work(directory) as session:
        hmacs = {k: session.get(Holder, v).nir_hmac for k, v in stored.items()}  # type: ignore[union-attr]
    assert hmacs == {"A": vault.pseudonym("189057511800194"),
                     "B": vault.pseudonym("189057511800293")}


def test_postal_code_only_does_not_use_the_place(
    directory: Factory, settings: Settings, tmp_path: Path
) -> None:
    deposit = ingest(directory, settings, tmp_path, document([passage(
        identificationTitulaire=titulaire(codeCommuneNaissance=Raw(
            "<cpf:codeCommuneNaissance><cpf:codePostalNaissance><cpf:codePostal>99999"
            "</cpf:codePostal></cpf:codePostalNaissance></cpf:codeCommuneNaissance>")))]))
    assert deposit.passages_ok == 1


def test_born_abroad_holder_is_found(directory: Factory, settings: Settings, tmp_path: Path) -> None:
    holder = titulaire(nomNaissance="Ndiaye", prenom1="ELISE", sexe="F", anneeNaissance="1990",
                       moisNaissance="10", jourNaissance="20", codePaysNaissance="350",
                       codeCommuneNaissance=Raw(
                           "<cpf:codeCommuneNaissance><cpf:codeInseeNaissance><cpf:codeInsee>"
                           "99350</cpf:codeInsee></cpf:codeInseeNaissance>"
                           "</cpf:codeCommuneNaissance>"))
    deposit = ingest(directory, settings, tmp_path, document([passage(
        identificationTitulaire=holder)]))
    assert deposit.passages_ok == 1


def test_training_file_identification(
    directory: Factory, settings: Settings, tmp_path: Path, vault: NirVault
) -> None:
    load_training_files(directory, vault, tmp_path, [{
        "id_dossier": "1234567891011", "nir": PERSON_NIR, "nom": "Dupont", "prenom": "Antoine",
        "certification_type": "RNCP", "certification_code": "RNCP34762",
        "siret_organisme": "81234567800019", "date_entree": "2024-01-08",
        "date_sortie": "2024-06-28", "statut": "TERMINE"}])
    deposit = ingest(directory, settings, tmp_path, document([
        passage("OK", identificationTitulaire=dossier("1234567891011", "DUPONT", "antoine")),
        passage("UNKNOWN", identificationTitulaire=dossier("999", "Dupont", "Antoine")),
        passage("NAME", identificationTitulaire=dossier("1234567891011", "Martin", "Antoine")),
    ]))
    outcomes = {o["id"]: o for o in report_of(directory, deposit).passages()}
    assert outcomes["OK"]["ok"] is True
    assert outcomes["UNKNOWN"]["errors"][0]["code"] == "dossier_inconnu"
    assert outcomes["NAME"]["errors"][0]["code"] == "dossier_nom_different"
    [stored] = passages(directory)
    assert stored.identification == "dossierFormation"
    assert stored.id_dossier == "1234567891011"


def test_national_identifier_identification(
    directory: Factory, settings: Settings, tmp_path: Path
) -> None:
    deposit = ingest(directory, settings, tmp_path, document([
        passage("OK", identificationTitulaire=national(PERSON_NIR[:13], "DUPONT")),
        passage("UNKNOWN", identificationTitulaire=national("1961131555002", "Dupont")),
        passage("NAME", identificationTitulaire=national(PERSON_NIR[:13], "Martin")),
    ]))
    outcomes = {o["id"]: o for o in report_of(directory, deposit).passages()}
    assert outcomes["OK"]["ok"] is True
    assert outcomes["UNKNOWN"]["errors"][0]["code"] == "nir_inconnu"
    assert outcomes["NAME"]["errors"][0]["code"] == "nir_nom_different"
    [stored] = passages(directory)
    assert "nir" not in stored.titulaire  # the NIR is never stored in clear


def test_resend_is_idempotent_with_the_cdc_duplicate_message(
    directory: Factory, settings: Settings, tmp_path: Path
) -> None:
    first = ingest(directory, settings, tmp_path, document([passage("A"), passage("B")]))
    assert first.passages_ok == 2
    again = ingest(directory, settings, tmp_path,
                   document([passage("A"), passage("C")], id_flux="flux-test-2"), "again.xml")
    outcomes = {o["id"]: o for o in report_of(directory, again).passages()}
    assert outcomes["A"]["errors"][0]["message"] == (
        "Le passage certification avec le bcr émetteur CERT0001 et l'id technique partenaire A "
        "existe déjà en base")
    assert outcomes["C"]["ok"] is True
    assert count(directory, Passage) == 3


def test_duplicate_inside_one_file(directory: Factory, settings: Settings, tmp_path: Path) -> None:
    deposit = ingest(directory, settings, tmp_path, document([passage("A"), passage("A")]))
    assert (deposit.passages_ok, deposit.passages_ko) == (1, 1)


def test_duplicate_across_batches_of_one_file(
    directory: Factory, settings: Settings, tmp_path: Path
) -> None:
    docs = [passage(f"P{i}") for i in range(5)] + [passage("P1")]
    deposit = ingest(directory, settings, tmp_path, document(docs), batch_size=2)
    assert (deposit.passages_ok, deposit.passages_ko) == (5, 1)


def test_same_id_from_another_emitter_is_not_a_duplicate(
    directory: Factory, settings: Settings, tmp_path: Path
) -> None:
    ingest(directory, settings, tmp_path, document([passage("A")]))
    other = ingest(directory, settings, tmp_path,
                   document([passage("A")], emitter="CERT0002", certifier="CERT0002",
                            id_flux="other"), "other.xml")
    assert other.passages_ok == 1


def test_resent_id_flux_rejects_the_whole_file(
    directory: Factory, settings: Settings, tmp_path: Path
) -> None:
    first = ingest(directory, settings, tmp_path, document([passage("A")]))
    again = ingest(directory, settings, tmp_path, document([passage("Z")]), "resent.xml")
    assert again.status is DepositStatus.REJETE
    assert again.error_code == "flux_deja_recu"
    assert f"traitement {first.id}" in (again.error_message or "")
    assert [p.id_technique for p in passages(directory)] == ["A"]


def _at_once(factory: Factory, settings: Settings, tmp_path: Path,
             files: dict[str, bytes]) -> list[Deposit]:
    """Receive the files, then process them from one thread each, released together."""
    ids = []
    for name, data in files.items():
        path = tmp_path / name
        path.write_bytes(data)
        sha256, size = service.file_digest(path)
        with unit_of_work(factory) as session:
            ids.append((service.receive(session, file_name=name, sha256=sha256,
                                        size=size).id, path))
    barrier = threading.Barrier(len(ids))

    def run(deposit: tuple[int, Path]) -> Deposit:
        barrier.wait()
        done = service.process(factory, deposit[0], Source(deposit[1]),
                               vault=NirVault(settings), options=settings.ingest_options())
        assert done is not None
        return done

    with ThreadPoolExecutor(len(ids)) as pool:
        return list(pool.map(run, ids))


def test_one_emitters_files_loaded_at_once_see_each_other(
    directory: Factory, settings: Settings, tmp_path: Path
) -> None:
    """Two files of one emitter with the same passages, processed side by side (two
    workers): one stores them, the other reports them as duplicates — it used to fail
    on the unique keys at the end of its run."""
    same = [passage(f"P{i}") for i in range(300)]
    deposits = _at_once(directory, settings, tmp_path, {
        "first.xml": document(same, id_flux="flux-a"),
        "second.xml": document(same, id_flux="flux-b")})
    assert sorted((d.passages_ok, d.passages_ko) for d in deposits) == [(0, 300), (300, 0)]
    [later] = [d for d in deposits if d.passages_ko]
    assert {e["code"] for o in report_of(directory, later).passages()
            for e in o["errors"]} == {"doublon"}
    assert count(directory, Passage) == count(directory, PassageKey) == 300


def test_one_id_flux_sent_twice_at_once_is_received_once(
    directory: Factory, settings: Settings, tmp_path: Path
) -> None:
    deposits = _at_once(directory, settings, tmp_path, {
        "first.xml": document([passage(f"A{i}") for i in range(300)], id_flux="flux-a"),
        "second.xml": document([passage(f"B{i}") for i in range(300)], id_flux="flux-a")})
    assert sorted(d.status.value for d in deposits) == ["REJETE", "TRAITE"]
    [rejected] = [d for d in deposits if d.status is DepositStatus.REJETE]
    assert rejected.error_code == "flux_deja_recu"
    assert count(directory, Passage) == 300 and count(directory, FluxReceipt) == 1


def test_suppression_withdraws_then_allows_a_new_creation(
    directory: Factory, settings: Settings, tmp_path: Path
) -> None:
    ingest(directory, settings, tmp_path, document([passage("A"), passage("B")]))
    withdrawal = ingest(directory, settings, tmp_path, document(
        [passage("A"), passage("NOPE")], action="SUPPRESSION", id_flux="del-1"), "del.xml")
    assert withdrawal.status is DepositStatus.TRAITE_AVEC_ERREURS
    assert withdrawal.action == "SUPPRESSION"
    outcomes = {o["id"]: o for o in report_of(directory, withdrawal).passages()}
    assert outcomes["A"]["ok"] is True
    assert outcomes["NOPE"]["errors"][0]["code"] == "suppression_inconnu"
    stored = {p.id_technique: p for p in passages(directory)}
    assert stored["A"].withdrawn_at is not None
    assert stored["A"].withdrawn_by_deposit_id == withdrawal.id
    assert stored["B"].withdrawn_at is None
    # The corrected passage comes back under the same idTechnique.
    again = ingest(directory, settings, tmp_path, document([passage("A", verbatim="corrigé")],
                                                          id_flux="new-1"), "new.xml")
    assert again.passages_ok == 1
    live = [p for p in passages(directory) if p.id_technique == "A" and p.withdrawn_at is None]
    assert [p.verbatim for p in live] == ["corrigé"]


@pytest.mark.parametrize(
    ("emitter", "certifier", "contract", "code"),
    [
        ("CERT9999", "CERT9999", "CTR-0001", "certificateur_inconnu"),
        ("CERT0001", "CERT0001", "CTR-9999", "contrat_inconnu"),
        ("THIRD001", "CERT0001", "CTR-0001", "mandat_absent"),
        ("DEPOS001", "CERT0001", "CTR-0001", None),
        ("CERT0001", "CERT0001", "CTR-0001", None),
    ],
)
def test_registry_and_mandates(
    directory: Factory, settings: Settings, tmp_path: Path, emitter: str, certifier: str,
    contract: str, code: str | None
) -> None:
    with unit_of_work(directory) as session:
        add_certifier(session, "CERT0001", ["CTR-0001"], "Certif", None)
        add_mandate(session, "DEPOS001", "CERT0001")
    deposit = ingest(directory, settings, tmp_path, document(
        [passage()], emitter=emitter, certifier=certifier, contract=contract))
    if code is None:
        assert deposit.status is DepositStatus.TRAITE
    else:
        assert deposit.status is DepositStatus.REJETE
        assert deposit.error_code == code
        assert count(directory, Passage) == 0


def test_without_a_registry_any_certifier_may_file(
    directory: Factory, settings: Settings, tmp_path: Path
) -> None:
    deposit = ingest(directory, settings, tmp_path, document(
        [passage()], emitter="THIRD001", certifier="CERT0001"))
    assert deposit.status is DepositStatus.TRAITE


def test_schema_error_late_in_the_file_writes_nothing(
    directory: Factory, settings: Settings, tmp_path: Path
) -> None:
    docs = [passage(f"P{i}") for i in range(30)] + [passage("BAD", sexe_not_an_element="x")]
    deposit = ingest(directory, settings, tmp_path, document(docs), batch_size=5)
    assert deposit.status is DepositStatus.REJETE
    assert deposit.error_code == "schema"
    report = report_of(directory, deposit)
    [error] = report.errors
    assert error.line == 2 and error.column is not None
    assert "sexe_not_an_element" in error.message
    assert count(directory, Passage) == 0
    assert count(directory, PassageKey) == 0
    assert count(directory, Holder) == 0
    assert count(directory, FluxReceipt) == 0


def test_a_failure_while_writing_leaves_nothing_of_the_file(
    directory: Factory, settings: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls = {"n": 0}
    original = BulkWriter.write

    def failing(self: BulkWriter, rows: list) -> None:  # type: ignore[type-arg]
        calls["n"] += 1
        if calls["n"] == 5:
            raise RuntimeError("disk full")
        original(self, rows)

    monkeypatch.setattr(BulkWriter, "write", failing)
    with pytest.raises(RuntimeError, match="disk full"):
        ingest(directory, settings, tmp_path, document([passage(f"P{i}") for i in range(10)]),
               batch_size=2)
    assert count(directory, Passage) == 0
    assert count(directory, FluxReceipt) == 0
    with unit_of_work(directory) as session:
        [deposit] = session.scalars(sa.select(Deposit)).all()
        assert deposit.status is DepositStatus.EN_COURS  # bookkeeping survived; retried later
    monkeypatch.setattr(BulkWriter, "write", original)
    again = ingest(directory, settings, tmp_path,
                   document([passage(f"P{i}") for i in range(10)]), batch_size=2)
    assert again.passages_ok == 10


def test_header_after_the_passages(directory: Factory, settings: Settings, tmp_path: Path) -> None:
    deposit = ingest(directory, settings, tmp_path,
                     document([passage("A"), passage("B")], header_last=True))
    assert deposit.status is DepositStatus.TRAITE
    assert deposit.emitter_bcr == "CERT0001"
    assert len(passages(directory)) == 2


def test_late_suppression_action_restarts_cleanly(
    directory: Factory, settings: Settings, tmp_path: Path
) -> None:
    ingest(directory, settings, tmp_path, document([passage("A")]))
    late = document([passage("A")], id_flux="late").replace(
        b"</cpf:emetteur>", b"</cpf:emetteur><cpf:action>SUPPRESSION</cpf:action>")
    deposit = ingest(directory, settings, tmp_path, late, "late.xml")
    assert deposit.action == "SUPPRESSION"
    assert deposit.passages_ok == 1
    [stored] = passages(directory)
    assert stored.withdrawn_at is not None


def test_child_process_reader_gives_the_same_result(
    directory: Factory, settings: Settings, tmp_path: Path
) -> None:
    deposit = ingest(directory, settings, tmp_path,
                     document([passage("A"), passage("B", identificationTitulaire=titulaire(
                         nomNaissance="Inconnu"))]), subprocess_min_bytes=0)
    assert (deposit.passages_ok, deposit.passages_ko) == (1, 1)


def test_report_in_the_cdc_dialect(directory: Factory, settings: Settings, tmp_path: Path) -> None:
    deposit = ingest(directory, settings, tmp_path, document([
        passage("OK-1"),
        passage("KO-1", identificationTitulaire=titulaire(nomNaissance="Inconnu")),
        passage("W-1", modalitesInscription={"modaliteAcces": "CANDIDAT_LIBRE",
                                             "voieAccessVAE": "CONGES_VAE"}),
    ]), "flux-2026-11.xml")
    report = report_of(directory, deposit)
    xml = report.to_xml()
    assert xml.startswith(b'<?xml version="1.0" encoding="UTF-8" standalone="yes"?>')
    root = etree.fromstring(xml)
    assert root.tag == "rapport"
    assert root.nsmap == {"ns2": "urn:cdc:cpf:pc5:rapport:schema"}
    assert [c.tag for c in root][:5] == ["nomFichier", "idFlux", "idTraitement", "PassagesKO",
                                         "PassagesOK"]
    assert root.findtext("nomFichier") == "flux-2026-11.xml"
    assert root.findtext("idFlux") == "flux-test-1"
    assert root.findtext("idTraitement") == str(deposit.id)
    [ko] = root.find("PassagesKO")
    assert ko.findtext("idTechnique") == "KO-1"
    assert ko.findtext("messageErreur") == "Aucun titulaire ne correspond aux critères obligatoires"
    assert [e.text for e in root.find("PassagesOK")] == ["OK-1", "W-1"]
    data = report.to_json()
    assert data["status"] == "TRAITE_AVEC_ERREURS"
    assert data["counts"]["ko_by_code"] == {"nirisation_aucun": 1}
    assert [p["id_technique"] for p in data["passages"]] == ["OK-1", "KO-1", "W-1"]
    assert data["passages"][2]["warnings"][0]["code"] == "regle_vae"


def test_report_is_stored_in_parts_as_the_load_goes(
    directory: Factory, settings: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The report leaves the loader in parts while the file is read (the memory of a
    200,000-passage load does not hold it), and reads back whole, in document order."""
    monkeypatch.setattr("ingestion.report.PART_SIZE", 1024)
    ids = [f"ID-{hashlib.sha256(b'%d' % i).hexdigest()[:24]}" for i in range(1_500)]
    deposit = ingest(directory, settings, tmp_path,
                     document([passage(i) for i in ids] + [passage(ids[7])]), batch_size=500)
    assert (deposit.passages_ok, deposit.passages_ko) == (1_500, 1)
    with unit_of_work(directory) as session:
        sizes = session.scalars(sa.select(sa.func.length(DepositReportPart.data))
                                .order_by(DepositReportPart.seq)).all()
    assert len(sizes) >= 5 and set(sizes[:-1]) == {1024}
    report = report_of(directory, deposit)
    outcomes = list(report.passages())
    assert [o["id"] for o in outcomes] == [*ids, ids[7]]
    assert [o["ok"] for o in outcomes].count(False) == 1 and outcomes[-1]["ok"] is False
    assert etree.fromstring(report.to_xml()).findtext("PassagesKO/passage/idTechnique") == ids[7]

    # A file rejected late: the parts written before its error go with the rest of it.
    # (zlib holds ~64 KB of input before it emits anything: long ids, so that parts do
    # leave before the error.)
    late = [f"LATE-{i:05d}-{hashlib.sha256(b'L%d' % i).hexdigest()}" for i in range(1_500)]
    written: list[int] = []
    store = loader._store_report_part
    monkeypatch.setattr(loader, "_store_report_part", lambda session, deposit_id, *part: (
        written.append(deposit_id), store(session, deposit_id, *part)))
    rejected = ingest(directory, settings, tmp_path, document(
        [passage(i) for i in late] + [passage("BAD", sexe_not_an_element="x")],
        id_flux="late-error"), "late.xml", batch_size=500)
    assert rejected.error_code == "schema"
    assert written.count(rejected.id) >= 3  # parts were written, then rolled back
    assert count(directory, DepositReportPart) == len(sizes)


def test_rejected_report_has_errors_and_no_passages(
    directory: Factory, settings: Settings, tmp_path: Path
) -> None:
    deposit = ingest(directory, settings, tmp_path, b"<!DOCTYPE x><x/>")
    root = etree.fromstring(report_of(directory, deposit).to_xml())
    assert root.find("idFlux") is None and root.find("PassagesOK") is None
    [error] = root.find("erreurs")
    assert error.findtext("type") == "FORMAT"
    assert "DOCTYPE" in (error.findtext("message") or "")
    assert (error.findtext("ligne"), error.findtext("colonne")) == ("1", "1")
    assert count(directory, DepositReportPart) == 0


def test_a_refusal_met_while_positioning_errors_rejects_the_file(
    directory: Factory, settings: Settings, tmp_path: Path
) -> None:
    """The diagnostic pass reads on past the first pass's error; the byte gate's refusal
    it meets there is the file's problem, not a failed job retried until it gives up."""
    data = (DATA / "fuzz-regressions" / "gate-refusal-met-by-the-diagnosis.xml").read_bytes()
    deposit = ingest(directory, settings, tmp_path, data)
    assert deposit.status == DepositStatus.REJETE
    assert deposit.error_code == "resource_limit"
    assert deposit.attempts == 1


def test_store_holds_no_clear_nir(
    directory: Factory, settings: Settings, tmp_path: Path, engine: sa.Engine
) -> None:
    ingest(directory, settings, tmp_path, document([
        passage("A"), passage("B", identificationTitulaire=national(PERSON_NIR[:13], "Dupont"))],
    ))
    with engine.connect() as conn:
        meta = sa.MetaData()
        meta.reflect(conn)
        for table in meta.sorted_tables:
            for row in conn.execute(sa.select(table)):
                for value in row:
                    if isinstance(value, (str, dict, list)):
                        text = value if isinstance(value, str) else json.dumps(value)
                        assert not is_shaped(text), f"NIR-shaped value in {table.name}"
                        assert PERSON_NIR[:13] not in text, f"NIR in {table.name}"


def test_demo_data_set_matches_the_generators_expectations(
    committed: Factory, settings: Settings, tmp_path: Path, vault: NirVault
) -> None:
    from passport.demo.generate import generate
    from passport.holders.service import import_identities
    from passport.training.service import import_training_files

    manifest = generate(tmp_path / "demo", holders=400, passages=1500, per_file=600)
    with unit_of_work(committed) as session:
        import_identities(session, tmp_path / "demo" / "identities.csv", vault)
        import_training_files(session, tmp_path / "demo" / "training_files.csv", vault)
    for expected in manifest["files"]:
        deposit = ingest(committed, settings, tmp_path,
                         (tmp_path / "demo" / expected["file"]).read_bytes(), expected["file"])
        assert (deposit.passages_ok, deposit.passages_ko) == (expected["ok"], expected["ko"])
        assert deposit.warnings_count == expected["warnings"]
        counts = report_of(committed, deposit).counts["ko_by_code"]
        assert counts.get("nirisation_plusieurs", 0) == expected["ko_reasons"].get(
            "nirisation_plusieurs", 0)


def test_omitted_nillable_is_rejected_as_schema(
    directory: Factory, settings: Settings, tmp_path: Path
) -> None:
    deposit = ingest(directory, settings, tmp_path, document([passage(dateFinValidite=OMIT)]))
    assert deposit.error_code == "schema"


def test_two_certifications_keep_their_codes(
    directory: Factory, settings: Settings, tmp_path: Path
) -> None:
    ingest(directory, settings, tmp_path, document(certifications=[
        certification([passage("A")]), certification([passage("B")], type_="RS", code="RS5875")]))
    with unit_of_work(directory) as session:
        from passport.referentials.models import Certification

        rows = session.execute(sa.select(Passage.id_technique, Certification.code).join(
            Certification, Certification.id == Passage.certification_id).order_by(
            Passage.id_technique)).all()
    assert [tuple(r) for r in rows] == [("A", "RNCP34762"), ("B", "RS5875")]


def test_a_deposit_that_grows_the_store_refreshes_the_planner_statistics(
    directory: Factory, settings: Settings, tmp_path: Path, is_postgres: bool,
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture,
) -> None:
    """A load adding more than a tenth of the passages refreshes PostgreSQL's statistics
    before its follow-up runs: the analytics' query, planned on a passages table the
    planner still believed empty, scanned every passage for each 5,000 training files.
    A table another task holds is waited for a while, then left to autovacuum: the
    deposit stands.  SQLite plans without statistics and gets none."""
    tables = ("passages", "passage_keys")

    def counted() -> list[float]:
        with unit_of_work(directory) as db:
            return [db.scalar(sa.text("SELECT reltuples FROM pg_class WHERE relname = :t"),
                              {"t": table}) for table in tables]

    if is_postgres:
        with unit_of_work(directory) as db:
            for table in tables:  # no autovacuum meanwhile: the test sees ours only
                db.execute(sa.text(f"ALTER TABLE {table} SET (autovacuum_enabled = false)"))
                db.execute(sa.text(f"ANALYZE {table}"))
        assert counted() == [0, 0]
    try:
        ingest(directory, settings, tmp_path, document([passage(f"P-{i}") for i in range(60)]))
        if is_postgres:
            assert counted() == [60, 60]
        ingest(directory, settings, tmp_path, document(
            [passage(f"Q-{i}") for i in range(5)], id_flux="flux-test-2"), name="second.xml")
        assert count(directory, Passage) == 65
        if is_postgres:
            assert counted() == [60, 60]  # 5 more than 60: not worth a new sample
            monkeypatch.setattr(service, "STATISTICS_LOCK_WAIT", dt.timedelta(seconds=0.2))
            with directory.kw["bind"].connect() as other, other.begin():
                other.execute(sa.text("LOCK TABLE passages IN SHARE UPDATE EXCLUSIVE MODE"))
                third = ingest(directory, settings, tmp_path, document(
                    [passage(f"R-{i}") for i in range(100)], id_flux="flux-test-3"),
                    name="third.xml")
            assert third.status is DepositStatus.TRAITE and count(directory, Passage) == 165
            assert counted() == [60, 60]
            assert "statistics refresh after deposit" in caplog.text
        else:
            with unit_of_work(directory) as db:
                assert db.scalar(sa.text(
                    "SELECT count(*) FROM sqlite_master WHERE name = 'sqlite_stat1'")) == 0
    finally:
        if is_postgres:
            with unit_of_work(directory) as db:
                for table in tables:
                    db.execute(sa.text(f"ALTER TABLE {table} RESET (autovacuum_enabled)"))


def test_the_heap_before_a_load_stays_out_of_the_collector_s_passes(
    directory: Factory, settings: Settings, tmp_path: Path, vault: NirVault
) -> None:
    """While a file loads, the objects alive before it are frozen (Python's full
    collections walked them all, 25 times for 200,000 passages) and the young generation
    is collected less often; both are given back afterwards, even when the load fails."""
    import gc

    from ingestion.pipeline import YOUNG_COLLECTION

    seen: list[tuple[int, int]] = []
    before = gc.get_threshold()
    path = tmp_path / "flux.xml"
    for data in (document([passage(f"P-{i}") for i in range(3)]), b"<not-a-flux/>"):
        path.write_bytes(data)
        sha256, size = service.file_digest(path)
        with unit_of_work(directory) as session:
            deposit_id = service.receive(session, file_name=path.name, sha256=sha256,
                                         size=size).id
        service.process(directory, deposit_id, Source(path), vault=vault,
                        options=settings.ingest_options(),
                        progress=lambda _: seen.append((gc.get_freeze_count(),
                                                        gc.get_threshold()[0])))
        assert gc.get_freeze_count() == 0 and gc.get_threshold() == before
    assert seen and all(frozen > 10_000 and young == YOUNG_COLLECTION
                        for frozen, young in seen), seen
    assert count(directory, Passage) == 3


def test_loads_side_by_side_share_one_frozen_spell() -> None:
    """The in-process worker pool runs loads in threads: the collector's settings come back
    when the last one ends, not when the first does (which left the young threshold of a
    load behind for good, restored by the second load from what the first had set)."""
    import gc

    from ingestion.pipeline import YOUNG_COLLECTION, heap_frozen

    before = gc.get_threshold()
    first, second = heap_frozen(), heap_frozen()
    first.__enter__()
    second.__enter__()
    first.__exit__(None, None, None)
    assert gc.get_freeze_count() > 0 and gc.get_threshold()[0] == YOUNG_COLLECTION
    second.__exit__(None, None, None)
    assert gc.get_freeze_count() == 0 and gc.get_threshold() == before


def test_a_heap_frozen_before_the_load_stays_frozen() -> None:
    """In a gunicorn worker the application was frozen before the fork: a load run there
    (the in-process pool) must not give it back to the collector when it ends."""
    import gc

    from ingestion.pipeline import YOUNG_COLLECTION, heap_frozen

    gc.freeze()
    try:
        frozen = gc.get_freeze_count()  # objects in it may still die: counts move a little
        with heap_frozen():
            assert gc.get_threshold()[0] == YOUNG_COLLECTION
            assert frozen - 1000 < gc.get_freeze_count() <= frozen
        assert frozen - 1000 < gc.get_freeze_count() <= frozen
    finally:
        gc.unfreeze()


def test_a_worker_s_small_file_that_crashes_the_reader_is_rejected_at_once(
    directory: Factory, settings: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """In a worker (its reader process started), a small file is read by the reader too: a
    native crash of libxml2 on it (simulated by the reader's crash hook) rejects the
    deposit with `parser_crash` and leaves the worker process, and the next file, alone."""
    from ingestion.pipeline import start_reader, stop_readers

    small = document([passage("C-1")], id_flux="crash-1")
    assert len(small) < 2**20
    start_reader("1.1.5", wait=True)
    try:
        monkeypatch.setenv("PASSPORT_READER_SELF_TEST_CRASH", "1")
        crashed = ingest(directory, settings, tmp_path, small,
                         subprocess_min_bytes=2**20)
        assert crashed.status is DepositStatus.REJETE
        assert crashed.error_code == "parser_crash"
        assert "signal" in (crashed.error_message or "")
        monkeypatch.delenv("PASSPORT_READER_SELF_TEST_CRASH")
        assert count(directory, Passage) == 0
        after = ingest(directory, settings, tmp_path,
                       document([passage("C-2")], id_flux="crash-2"), "next.xml",
                       subprocess_min_bytes=2**20)
        assert after.status is DepositStatus.TRAITE
    finally:
        stop_readers()
