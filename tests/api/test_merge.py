"""A person with two passports — one under a former number (a provisional NIA, or a NIR
since corrected), one under the NIR that replaced it — gets one when the identity
directory links the numbers (``nir_precedent``; passport.holders.merge)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from click.testing import CliRunner
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy.orm import Session, sessionmaker

from passport.analytics.models import FileOutcome
from passport.analytics.refresh import full_refresh
from passport.auth.models import Account, Role
from passport.cli import main
from passport.config import Settings
from passport.db import unit_of_work
from passport.holders.merge import owned_tables
from passport.holders.models import Holder, HolderMerge
from passport.holders.service import IDENTITY_COLUMNS, Renumbered, import_identities
from passport.journal.service import verify
from passport.nir import NirVault, is_shaped, with_key
from passport.records.models import Declaration, DeclarationKind, Passage
from passport.training.models import TrainingFile
from tests.api.test_consents import grant
from tests.api.test_sharing import declare, journal, share
from tests.flux import PERSON_NIR, document, national, passage, person_row
from tests.helpers import ingest, load_training_files, write_csv
from tests.integration.test_imports import training_row
from tests.oauth import bearer, mint

#: Antoine's former NIR (a birth registration corrected since: another order number).
FORMER = with_key(PERSON_NIR[:10] + "999")
FORMER_FILE = "9000000000001"


@pytest.fixture
def former(app: Flask, client: FlaskClient, committed: sessionmaker[Session],
           auth_settings: Settings, tmp_path: Path, holder: dict[str, Any]) -> dict[str, Any]:
    """A passport under Antoine's former number, beside his (``holder``): a training
    file, a login, a declaration, a share of it and a consent."""
    vault = NirVault(auth_settings)
    load_training_files(committed, vault, tmp_path, [training_row(id_dossier=FORMER_FILE, nir=FORMER)])
    with unit_of_work(committed) as db:
        former_id = db.scalar(sa.select(Holder.id).where(Holder.nir_hmac == vault.pseudonym(FORMER)))
        assert former_id is not None and former_id != holder["holder_id"]
        account = Account(public_id="acct-former", role=Role.HOLDER, issuer="t", subject="former",
                          holder_id=former_id)
        db.add(account)
        db.flush()
        token = mint(app, db, account)
    declaration = declare(client, token, title="Stage d'été")
    shared = share(client, token, label="Stage",
                   items=[{"kind": "declaration", "id": declaration}])
    grant(client, token)
    return {"id": former_id, "token": token, "share": shared, "declaration": declaration}


def renumber(committed: sessionmaker[Session], settings: Settings, tmp_path: Path) -> Renumbered:
    """The directory's extract now says Antoine's NIR replaced his former one."""
    path = write_csv(tmp_path / "ids-renumbered.csv", [*IDENTITY_COLUMNS, "nir_precedent"],
                     [{**person_row(), "nir_precedent": FORMER}])
    renumbered = Renumbered()
    with unit_of_work(committed) as db:
        assert import_identities(db, path, NirVault(settings), renumbered=renumbered) == 1
    return renumbered


def get(client: FlaskClient, token: str, path: str) -> Any:
    response = client.get(path, headers=bearer(token))
    assert response.status_code == 200, response.get_data(as_text=True)
    return response.json


def test_both_passports_become_one_and_the_import_goes_on(
        client: FlaskClient, committed: sessionmaker[Session], auth_settings: Settings,
        tmp_path: Path, holder: dict[str, Any], former: dict[str, Any]) -> None:
    mine = get(client, holder["token"], "/api/v1/me/passport")
    assert mine["declarations"]["total"] == 0
    certifications = mine["certifications"]["total"]

    done = renumber(committed, auth_settings, tmp_path)
    assert (done.merged, done.renamed) == (1, 0)

    merged = get(client, holder["token"], "/api/v1/me/passport")
    assert [d["title"] for d in merged["declarations"]["items"]] == ["Stage d'été"]
    assert merged["certifications"]["total"] == certifications
    assert [s["label"] for s in get(client, holder["token"], "/api/v1/me/shares")] == ["Stage"]
    assert len(get(client, holder["token"], "/api/v1/me/consents")) == 1
    # The former number's login now opens the one passport.
    assert get(client, former["token"], "/api/v1/me/passport") == merged
    # The share link given out before keeps working.
    assert client.get(f"/api/v1/shares/{former['share']['token']}").status_code == 200

    with unit_of_work(committed) as db:
        for table in owned_tables():
            left = db.scalar(sa.select(sa.func.count()).select_from(table)
                             .where(table.c.holder_id == former["id"]))
            assert left == 0, table.name
        tombstone = db.get(Holder, former["id"])
        assert tombstone is not None and tombstone.nir_hmac == f"merged:{former['id']}"
        [record] = db.scalars(sa.select(HolderMerge)).all()
        assert (record.former_holder_id, record.holder_id) == (former["id"], holder["holder_id"])
        assert record.moved["declarations"] == 1 and record.moved["accounts"] == 1
        assert verify(db)[1] == []  # both chains intact

    entries = journal(client, holder["token"])
    # Newest first: the share's view after the merge, in the current chain, then the merge.
    assert [(e["kind"], e["former_number"]) for e in entries[:2]] == [
        ("share.viewed", False), ("passport.merged", False)]
    assert entries[1]["details"] == {"passages": 0, "declarations": 1, "training_files": 1}
    earlier = {e["kind"] for e in entries if e["former_number"]}
    assert {"declaration.created", "share.created", "consent.granted"} <= earlier
    export = get(client, holder["token"], "/api/v1/me/export")
    assert {e["kind"] for e in export["journal"] if e["former_number"]} == earlier

    again = renumber(committed, auth_settings, tmp_path)  # the next month's extract
    assert (again.merged, again.renamed) == (0, 0)
    with unit_of_work(committed) as db:
        assert db.scalar(sa.select(sa.func.count()).select_from(HolderMerge)) == 1


def test_a_file_under_the_former_number_reaches_the_merged_passport(
        committed: sessionmaker[Session], auth_settings: Settings, tmp_path: Path,
        holder: dict[str, Any], former: dict[str, Any]) -> None:
    renumber(committed, auth_settings, tmp_path)
    deposit = ingest(committed, auth_settings, tmp_path, document(
        [passage("UNDER-FORMER", identificationTitulaire=national(FORMER[:13], "DUPONT"))],
        id_flux="former-1"), "former.xml")
    assert deposit.passages_ok == 1, (deposit.error_code, deposit.error_message)
    with unit_of_work(committed) as db:
        owner = db.scalar(sa.select(Passage.holder_id).where(Passage.id_technique == "UNDER-FORMER"))
    assert owner == holder["holder_id"]


def test_the_success_rates_count_the_merged_training_files_awards(
        committed: sessionmaker[Session], auth_settings: Settings, tmp_path: Path,
        holder: dict[str, Any], former: dict[str, Any]) -> None:
    """The former number's training file meets the award filed under the NIR."""
    with unit_of_work(committed) as db:
        full_refresh(db)

    def delay() -> Any:
        with unit_of_work(committed) as db:
            return db.scalar(sa.select(FileOutcome.delay_months).join(
                TrainingFile, TrainingFile.id == FileOutcome.training_file_id)
                .where(TrainingFile.id_dossier == FORMER_FILE))

    assert delay() is None  # not obtained: nothing under the former number
    renumber(committed, auth_settings, tmp_path)
    assert delay() is not None  # refreshed with the merge, no full refresh needed


def test_a_row_naming_its_own_number_as_former_is_refused(
        committed: sessionmaker[Session], auth_settings: Settings, tmp_path: Path) -> None:
    from passport.csvimport import ImportFailed

    path = write_csv(tmp_path / "ids.csv", [*IDENTITY_COLUMNS, "nir_precedent"],
                     [{**person_row(), "nir_precedent": PERSON_NIR}])
    with pytest.raises(ImportFailed, match="own NIR") as failed, unit_of_work(committed) as db:
        import_identities(db, path, NirVault(auth_settings))
    assert failed.value.line == 2



def test_the_import_command_says_what_it_merged(
        cli: CliRunner, committed: sessionmaker[Session], tmp_path: Path,
        holder: dict[str, Any], former: dict[str, Any]) -> None:
    path = write_csv(tmp_path / "extract.csv", [*IDENTITY_COLUMNS, "nir_precedent"],
                     [{**person_row(), "nir_precedent": FORMER}])
    done = cli.invoke(main, ["identities", "import", str(path)])
    assert done.exit_code == 0, done.output
    assert "former numbers: 0 passport(s) now under the new number, 1 merged" in done.output
    assert not is_shaped(done.output)


def test_rows_a_deposit_wrote_under_the_merged_passport_are_brought_over_by_the_clean_up(
        cli: CliRunner, committed: sessionmaker[Session], auth_settings: Settings,
        tmp_path: Path, holder: dict[str, Any], former: dict[str, Any]) -> None:
    """A deposit that found the former holder before the merge committed writes after it."""
    renumber(committed, auth_settings, tmp_path)
    with unit_of_work(committed) as db:
        full_refresh(db)
        late = db.scalars(sa.select(Passage).where(Passage.holder_id == holder["holder_id"])
                          .order_by(Passage.id)).first()
        assert late is not None
        late.holder_id = former["id"]  # as the late deposit would have written it
        db.add(Declaration(holder_id=former["id"], kind=DeclarationKind.TRAINING,
                           title="Écrit après la fusion"))
    dry = cli.invoke(main, ["cleanup", "--dry-run"])
    assert dry.exit_code == 0, dry.output
    assert "2 rows written under a merged passport, moved to its current one would be" in (
        " ".join(dry.output.split()))
    done = cli.invoke(main, ["cleanup"])
    assert done.exit_code == 0, done.output
    with unit_of_work(committed) as db:
        for table in owned_tables():
            assert db.scalar(sa.select(sa.func.count()).select_from(table)
                             .where(table.c.holder_id == former["id"])) == 0, table.name
        assert db.scalar(sa.select(sa.func.count()).select_from(Declaration)
                         .where(Declaration.holder_id == holder["holder_id"])) == 2
    again = cli.invoke(main, ["cleanup", "--dry-run"])
    assert "0 rows written under a merged passport" in " ".join(again.output.split())
