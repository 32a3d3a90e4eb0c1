"""Identity directory and CPF training files imports: strict, idempotent, all or nothing."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.orm import Session, sessionmaker

from passport.csvimport import ImportFailed
from passport.db import unit_of_work
from passport.holders.models import Holder, IdentityRecord, NirAlias
from passport.holders.service import IDENTITY_COLUMNS, import_identities
from passport.nir import NirVault, with_key
from passport.training.models import TrainingFile, TrainingStatus
from passport.training.service import TRAINING_COLUMNS, import_training_files
from tests.flux import PERSON_NIR, person_row
from tests.helpers import count, load_identities, load_training_files, write_csv

Factory = sessionmaker[Session]
OTHER_NIR = "189057511800194"


def run_identities(factory: Factory, vault: NirVault, path: Path) -> int:
    with unit_of_work(factory) as session:
        return import_identities(session, path, vault)


def training_row(**changes: str) -> dict[str, str]:
    row = {"id_dossier": "1234567891011", "nir": PERSON_NIR, "nom": "Dupont", "prenom": "Antoine",
           "certification_type": "RNCP", "certification_code": "RNCP34762",
           "siret_organisme": "81234567800019", "date_entree": "2024-01-08",
           "date_sortie": "2024-06-28", "statut": "TERMINE"}
    row.update(changes)
    return row


def test_identities_import_stores_pseudonym_and_ciphertext_only(
    committed: Factory, vault: NirVault, tmp_path: Path
) -> None:
    load_identities(committed, vault, tmp_path, [person_row(), person_row(
        nir=OTHER_NIR, nom_naissance="Lefèvre", prenom1="Jean-Luc", code_insee_naissance="75118")])
    with unit_of_work(committed) as session:
        record = session.scalar(sa.select(IdentityRecord).where(
            IdentityRecord.nir_hmac == vault.pseudonym(PERSON_NIR)))
        assert record is not None
        assert vault.decrypt(record.nir_key_id, record.nir_enc) == PERSON_NIR
        assert record.match_key == "DUPONT|ANTOINE|1996|M"
        assert record.prenom2 == "Julien" and record.prenom3 is None
        other = session.scalar(sa.select(IdentityRecord).where(
            IdentityRecord.nir_hmac == vault.pseudonym(OTHER_NIR)))
        assert other is not None and other.match_key == "LEFEVRE|JEANLUC|1996|M"


def test_identities_reimport_is_idempotent_and_updates(
    committed: Factory, vault: NirVault, tmp_path: Path
) -> None:
    load_identities(committed, vault, tmp_path, [person_row()])
    load_identities(committed, vault, tmp_path, [person_row(nom_usage="Martin")])
    assert count(committed, IdentityRecord) == 1
    with unit_of_work(committed) as session:
        assert session.scalar(sa.select(IdentityRecord.nom_usage)) == "Martin"


def test_born_abroad_country_becomes_the_birth_place(
    committed: Factory, vault: NirVault, tmp_path: Path
) -> None:
    load_identities(committed, vault, tmp_path, [person_row(
        nir="290109935000133", sexe="F", code_insee_naissance="", code_pays_naissance="350")])
    with unit_of_work(committed) as session:
        record = session.scalar(sa.select(IdentityRecord))
        assert record is not None
        assert (record.code_insee_naissance, record.code_pays_naissance) == ("99350", "350")


@pytest.mark.parametrize(
    ("row", "message"),
    [
        (person_row(nir="196113155500151"), "nir: invalid NIR"),
        (person_row(nir="19611315550015"), "nir: a NIR has 15 characters"),
        (person_row(nir=""), "nir is required"),
        (person_row(sexe="X"), "sexe must be M or F"),
        (person_row(annee_naissance="19x6"), "annee_naissance:"),
        (person_row(mois_naissance="13"), "mois_naissance: 13 is not between 1 and 12"),
        (person_row(code_insee_naissance="315"), "code_insee_naissance must be"),
        (person_row(nom_naissance=""), "nom_naissance is required"),
        # Stored, it broke the holder's CVs later (the name goes into the PDF's metadata).
        (person_row(nom_usage="Dupont\x02"), "nom_usage contains the character U+0002"),
    ],
)
def test_bad_identity_row_names_its_line_and_writes_nothing(
    committed: Factory, vault: NirVault, tmp_path: Path, row: dict[str, str], message: str
) -> None:
    path = write_csv(tmp_path / "ids.csv", IDENTITY_COLUMNS,
                     [person_row(nir=OTHER_NIR, nom_naissance="X"), row])
    with pytest.raises(ImportFailed) as exc:
        run_identities(committed, vault, path)
    assert exc.value.line == 3
    assert message in exc.value.message
    assert "1961131555" not in exc.value.message  # a bad NIR is never echoed
    assert count(committed, IdentityRecord) == 0


def test_identity_header_is_checked(committed: Factory, vault: NirVault, tmp_path: Path) -> None:
    path = tmp_path / "ids.csv"
    path.write_text("nir,nom\n196113155500150,Dupont\n", encoding="utf-8")
    with pytest.raises(ImportFailed) as exc:
        run_identities(committed, vault, path)
    assert exc.value.line == 1
    assert "missing column(s): nom_naissance" in exc.value.message
    assert "unknown column(s): nom" in exc.value.message


def test_identity_file_not_utf8(committed: Factory, vault: NirVault, tmp_path: Path) -> None:
    path = tmp_path / "ids.csv"
    path.write_bytes(",".join(IDENTITY_COLUMNS).encode() + b"\n196113155500150,Lef\xe8vre\n")
    with pytest.raises(ImportFailed, match="not UTF-8"):
        run_identities(committed, vault, path)


def test_duplicate_nir_in_one_file(committed: Factory, vault: NirVault, tmp_path: Path) -> None:
    path = write_csv(tmp_path / "ids.csv", IDENTITY_COLUMNS, [person_row(), person_row()])
    with pytest.raises(ImportFailed, match="already on line 2"):
        run_identities(committed, vault, path)


def test_keys_given_twice_far_apart_are_found_and_nothing_is_kept(
    committed: Factory, vault: NirVault, tmp_path: Path
) -> None:
    """The check runs in the database over the whole file (no dictionary of every key in
    memory): lines in different batches and blocks, the first repeat reported."""
    people = [person_row(nir=with_key(f"18507751{i:05d}"), prenom1=f"P{i}")
              for i in range(1, 1201)]
    people.insert(1150, {**people[3], "prenom1": "Again"})  # line 1152 repeats line 5
    people.append({**people[10], "prenom1": "Later"})
    path = write_csv(tmp_path / "ids.csv", IDENTITY_COLUMNS, people)
    with pytest.raises(ImportFailed) as failed:
        run_identities(committed, vault, path)
    assert (failed.value.line, failed.value.message) == (1152, "the same NIR is already on line 5")
    assert count(committed, IdentityRecord) == 0
    # The next import on the same connections works (the staging table went with the
    # failed transaction).
    del people[1150], people[-1]
    assert run_identities(committed, vault, write_csv(tmp_path / "ok.csv", IDENTITY_COLUMNS,
                                                      people)) == 1200
    assert count(committed, IdentityRecord) == 1200

    files = [training_row(id_dossier=f"{i:013d}", nir=people[i % 1200]["nir"])
             for i in range(1500)] + [training_row(id_dossier=f"{7:013d}")]
    with pytest.raises(ImportFailed, match="id_dossier 0000000000007 is already on line 9"):
        load_training_files(committed, vault, tmp_path, files)
    assert count(committed, TrainingFile) == 0


def test_former_number_keeps_the_holder(
    committed: Factory, vault: NirVault, tmp_path: Path
) -> None:
    provisional = "796113155500141"
    load_identities(committed, vault, tmp_path, [person_row(nir=provisional)])
    with unit_of_work(committed) as session:
        session.add(Holder(nir_hmac=vault.pseudonym(provisional), nir_enc=vault.encrypt(provisional),
                           nir_key_id=vault.key_id))
    path = write_csv(tmp_path / "ids2.csv", [*IDENTITY_COLUMNS, "nir_precedent"],
                     [{**person_row(), "nir_precedent": provisional}])
    run_identities(committed, vault, path)
    with unit_of_work(committed) as session:
        [holder] = session.scalars(sa.select(Holder)).all()
        assert holder.nir_hmac == vault.pseudonym(PERSON_NIR)
        assert vault.decrypt(holder.nir_key_id, holder.nir_enc) == PERSON_NIR
        alias = session.get(NirAlias, vault.pseudonym(provisional))
        assert alias is not None and alias.holder_id == holder.id


def test_training_files_import_creates_holders_and_is_idempotent(
    committed: Factory, vault: NirVault, tmp_path: Path
) -> None:
    path = write_csv(tmp_path / "tf.csv", TRAINING_COLUMNS, [
        training_row(), training_row(id_dossier="22", date_sortie="", statut="EN_COURS")])
    for _ in range(2):
        with unit_of_work(committed) as session:
            assert import_training_files(session, path, vault) == 2
    assert count(committed, TrainingFile) == 2
    assert count(committed, Holder) == 1
    with unit_of_work(committed) as session:
        files = {f.id_dossier: f for f in session.scalars(sa.select(TrainingFile))}
        assert files["22"].statut is TrainingStatus.EN_COURS
        assert files["22"].date_sortie is None
        assert str(files["1234567891011"].date_entree) == "2024-01-08"


@pytest.mark.parametrize(
    ("row", "message"),
    [
        (training_row(statut="FINI"), "statut must be one of EN_COURS, TERMINE, ABANDON"),
        (training_row(date_entree="08/01/2024"), "date_entree: expected YYYY-MM-DD"),
        (training_row(date_sortie="2023-01-01"), "date_sortie (2023-01-01) is before"),
        (training_row(siret_organisme="123"), "siret_organisme must be 14 digits"),
        (training_row(id_dossier="12345678901234"), "id_dossier has at most 13 characters"),
        (training_row(nir="123"), "nir: a NIR has 15 characters"),
    ],
)
def test_bad_training_row(
    committed: Factory, vault: NirVault, tmp_path: Path, row: dict[str, str], message: str
) -> None:
    path = write_csv(tmp_path / "tf.csv", TRAINING_COLUMNS, [training_row(id_dossier="1"), row])
    with pytest.raises(ImportFailed) as exc, unit_of_work(committed) as session:
        import_training_files(session, path, vault)
    assert exc.value.line == 3
    assert message in exc.value.message
    assert count(committed, TrainingFile) == 0
    assert count(committed, Holder) == 0


def test_importing_an_extract_again_rewrites_only_the_rows_that_changed(
    committed: Factory, vault: NirVault, tmp_path: Path
) -> None:
    """A monthly extract is mostly last month's: unchanged people are not written again
    (their ciphertext, new at each encryption, stays), changed ones are."""
    rows = [person_row(), person_row(nir=OTHER_NIR, nom_naissance="Lefèvre", prenom1="Jean-Luc")]

    def stored() -> dict[str, tuple[bytes, str | None, Any]]:
        with unit_of_work(committed) as session:
            return {r.nir_hmac: (r.nir_enc, r.nom_usage, r.updated_at)
                    for r in session.scalars(sa.select(IdentityRecord))}

    load_identities(committed, vault, tmp_path, rows)
    first = stored()
    load_identities(committed, vault, tmp_path, rows)
    assert stored() == first
    load_identities(committed, vault, tmp_path, [rows[0], {**rows[1], "nom_usage": "Martin"}])
    third = stored()
    same, changed = vault.pseudonym(PERSON_NIR), vault.pseudonym(OTHER_NIR)
    assert third[same] == first[same]
    assert third[changed][1] == "Martin" and third[changed][2] > first[changed][2]


def test_importing_training_files_again_rewrites_only_the_changed_ones(
    committed: Factory, vault: NirVault, tmp_path: Path
) -> None:
    rows = [training_row(), training_row(id_dossier="22", statut="EN_COURS", date_sortie="")]

    def stored() -> dict[str, tuple[str, Any]]:
        with unit_of_work(committed) as session:
            return {f.id_dossier: (f.statut.value, f.updated_at)
                    for f in session.scalars(sa.select(TrainingFile))}

    load_training_files(committed, vault, tmp_path, rows)
    first = stored()
    load_training_files(committed, vault, tmp_path, rows)
    assert stored() == first
    load_training_files(committed, vault, tmp_path,
                        [rows[0], {**rows[1], "statut": "TERMINE", "date_sortie": "2024-09-30"}])
    third = stored()
    assert third["1234567891011"] == first["1234567891011"]
    assert third["22"][0] == "TERMINE" and third["22"][1] > first["22"][1]


def test_importing_training_files_again_refreshes_the_success_rates_of_the_changed_ones_only(
    committed: Factory, vault: NirVault, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from passport.analytics import refresh

    rows = [training_row(), training_row(id_dossier="22", statut="EN_COURS", date_sortie="")]
    load_training_files(committed, vault, tmp_path, rows)
    with unit_of_work(committed) as session:
        refresh.full_refresh(session)
        ids = dict(session.execute(sa.select(TrainingFile.id_dossier, TrainingFile.id)).all())
    refreshed: list[list[int]] = []
    original = refresh.refresh_files
    monkeypatch.setattr(refresh, "refresh_files",
                        lambda db, file_ids, **kw: refreshed.append(list(file_ids))
                        or original(db, file_ids, **kw))
    load_training_files(committed, vault, tmp_path, rows)
    assert refreshed == []
    load_training_files(committed, vault, tmp_path,
                        [rows[0], {**rows[1], "statut": "TERMINE", "date_sortie": "2024-09-30"}])
    assert refreshed == [[ids["22"]]]
