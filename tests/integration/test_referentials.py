"""Imports of the real sample referentials: France compétences RNCP/RS (XML, zipped or not,
and the CSV zip) and ROME 4.0; the spec's traps; idempotence; refusals; the worked example;
the checks ingestion makes against them."""

from __future__ import annotations

import dataclasses
import zipfile
from pathlib import Path

import pytest
import sqlalchemy as sa
from click.testing import CliRunner
from sqlalchemy.orm import Session, sessionmaker

from passport.cli import main
from passport.config import Settings
from passport.db import unit_of_work
from passport.referentials import service
from passport.referentials.models import (
    ReferentialImport,
    RomeItem,
    RomeJob,
    RomeLink,
    Sheet,
    SheetBlock,
    SheetCertifier,
)
from passport.referentials.rome import import_rome
from passport.referentials.sheets import ReferentialError, import_sheets
from tests.flux import certification, document, passage, person_row
from tests.helpers import ingest, load_identities, report_of
from tests.referentials import CSV_ZIP, RNCP_XML, RS_XML, SAMPLES, load_samples, rome_copy

Factory = sessionmaker[Session]


def sheet(factory: Factory, numero: str) -> Sheet:
    with unit_of_work(factory) as db:
        found = db.get(Sheet, numero)
        assert found is not None, numero
        return found


def test_rncp_and_rs_sheets(committed: Factory) -> None:
    load_samples(committed, rome=False)
    old, new = sheet(committed, "RNCP34762"), sheet(committed, "RNCP39568")
    # ACTIF at two levels: the sheet's own (Non) wins over its access routes' (Oui).
    assert old.active is False and new.active is True
    assert (old.successors, new.predecessors) == (["RNCP39568"], ["RNCP34762"])
    assert str(old.registration_end) == "2024-08-31"  # DD/MM/YYYY
    assert str(new.delivery_deadline) == "2034-08-31"
    assert (old.eqf_level, old.type_code, old.repertoire) == (7, "DipViGrM", "RNCP")
    cyber = sheet(committed, "RNCP37488")
    assert cyber.title == "Cybersécurité" and cyber.rome_codes == ["M1810", "M1802", "M1801"]
    veto = sheet(committed, "RNCP40344")
    assert {"bloc": "RNCP40344BC01", "sheet": "RNCP37507",
            "equivalent_bloc": "RNCP37507BC01"} in veto.bloc_equivalences
    rs = sheet(committed, "RS5000")
    assert rs.repertoire == "RS" and rs.eqf_level is None and rs.attested_skills_text
    with unit_of_work(committed) as db:
        snvel = db.scalars(sa.select(SheetCertifier).where(
            SheetCertifier.numero == "RNCP40344", SheetCertifier.name == "SNVEL")).one()
        assert snvel.siret is None  # a certifier without SIRET
        inactive = db.scalars(sa.select(SheetCertifier).where(
            SheetCertifier.numero == "RS6232", SheetCertifier.active.is_(False))).all()
        assert len(inactive) == 2
        blocks = db.scalars(sa.select(SheetBlock).where(SheetBlock.numero == "RNCP37488")
                            .order_by(SheetBlock.position)).all()
        assert [b.code for b in blocks] == ["RNCP37488BC01", "RNCP37488BC02"]
        assert blocks[0].competences is not None and "Coder" in blocks[0].competences
        assert db.scalar(sa.select(sa.func.count()).select_from(SheetBlock).where(
            SheetBlock.numero.like("RS%"))) == 0


def test_training_partners_are_never_stored(committed: Factory, engine: sa.Engine) -> None:
    load_samples(committed, rome=False)
    assert "AGRICAMPUS LAVAL" in RNCP_XML.read_text()  # a partner in the export…
    with engine.connect() as conn:
        for table in ("referential_sheets", "referential_sheet_certifiers",
                      "referential_sheet_blocks"):
            for row in conn.execute(sa.text(f"SELECT * FROM {table}")):
                assert "AGRICAMPUS LAVAL" not in str(row)  # …never in the store


def test_reimport_is_idempotent_and_keeps_provenance(committed: Factory) -> None:
    load_samples(committed, rome=False)
    with unit_of_work(committed) as db:
        again = import_sheets(db, RNCP_XML, "rncp")
    assert (again.sheets, again.changed) == (4, 0)
    with unit_of_work(committed) as db:
        assert db.scalar(sa.select(sa.func.count()).select_from(Sheet)) == 8
        imports = db.scalars(sa.select(ReferentialImport).order_by(ReferentialImport.id)).all()
        assert [(i.kind, i.version) for i in imports] == [("rncp", "4.1"), ("rs", "4.1"),
                                                          ("rncp", "4.1")]
        assert imports[-1].counts == {"sheets": 4, "changed": 0, "certifications_named": 0}
        assert len(imports[0].source) > 0 and imports[0].finished_at is not None


def test_zipped_export_and_its_date(committed: Factory, tmp_path: Path) -> None:
    archive = tmp_path / "export-fiches-rncp-v4-1-2026-08-16.zip"
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as z:
        z.write(RNCP_XML, "export_fiches_RNCP_V4_1_2026-08-16.xml")
    with unit_of_work(committed) as db:
        result = import_sheets(db, archive, "rncp")
    assert result.sheets == 4 and str(result.export_date) == "2026-08-16"
    assert str(sheet(committed, "RNCP37488").export_date) == "2026-08-16"


@pytest.mark.parametrize(("change", "message"), [
    (("<VERSION_FLUX>4.1</VERSION_FLUX>", "<VERSION_FLUX>3.0</VERSION_FLUX>"),
     "VERSION_FLUX '3.0' is not supported"),
    (("<VERSION_FLUX>4.1</VERSION_FLUX>", ""), "no VERSION_FLUX"),
    (("<DATE_FIN_ENREGISTREMENT>31/08/2028", "<DATE_FIN_ENREGISTREMENT>2028-08-31"),
     "is not DD/MM/YYYY"),
    (("</FICHES>", ""), "not well-formed"),
])
def test_refused_exports_change_nothing(committed: Factory, tmp_path: Path,
                                        change: tuple[str, str], message: str) -> None:
    bad = tmp_path / "bad.xml"
    bad.write_text(RNCP_XML.read_text().replace(*change, 1))
    with pytest.raises(ReferentialError, match=message), unit_of_work(committed) as db:
        import_sheets(db, bad, "rncp")
    with unit_of_work(committed) as db:
        assert db.scalar(sa.select(sa.func.count()).select_from(Sheet)) == 0
        assert db.scalar(sa.select(sa.func.count()).select_from(ReferentialImport)) == 0


def test_an_rs_file_given_as_rncp_is_refused(committed: Factory) -> None:
    with pytest.raises(ReferentialError, match="wrong file"), unit_of_work(committed) as db:
        import_sheets(db, RS_XML, "rncp")


def test_renumbered_blocs_replace_the_old_ones(committed: Factory, tmp_path: Path) -> None:
    load_samples(committed, rome=False)
    renumbered = tmp_path / "renumbered.xml"
    renumbered.write_text(RNCP_XML.read_text().replace("RNCP37488BC01", "RNCP37488BC07")
                          .replace("RNCP37488BC02", "RNCP37488BC01"))
    with unit_of_work(committed) as db:
        result = import_sheets(db, renumbered, "rncp")
    assert result.changed == 1  # only the sheet whose content changed
    with unit_of_work(committed) as db:
        blocks = db.scalars(sa.select(SheetBlock).where(SheetBlock.numero == "RNCP37488")
                            .order_by(SheetBlock.position)).all()
    assert [(b.code, b.title) for b in blocks] == [
        ("RNCP37488BC07", "Mise en œuvre de réseaux informatiques"),
        ("RNCP37488BC01", "Cybersécurité")]


def test_csv_export(committed: Factory) -> None:
    load_samples(committed, rome=False)
    with unit_of_work(committed) as db:
        from passport.referentials.csvzip import import_csv_zip

        result = import_csv_zip(db, CSV_ZIP)
    assert result.sheets == 9 and result.changed == 8  # RS5000 came from the XML already
    agent = sheet(committed, "RNCP509")
    assert agent.title == "Agent vérificateur d'appareils extincteurs" and agent.from_csv
    assert (agent.eqf_level, agent.active, agent.successors) == (3, False, ["RNCP38228"])
    assert sheet(committed, "RS5000").from_csv is False  # the richer XML sheet stays
    with unit_of_work(committed) as db:
        sirets = set(db.scalars(sa.select(SheetCertifier.siret).where(
            SheetCertifier.numero == "RNCP509")))
        assert sirets == {"11004301500012"}  # the TAB before each SIRET is gone
        blocs = db.scalars(sa.select(SheetBlock.title).where(
            SheetBlock.numero == "RNCP509")).all()
        assert "UG3 : Éducation physique et sportive" in blocs


def test_rome_release(committed: Factory) -> None:
    with unit_of_work(committed) as db:
        result = import_rome(db, SAMPLES)
    assert result.version == "v460" and result.counts["jobs"] == 1584
    with unit_of_work(committed) as db:
        m1805 = db.get(RomeJob, "M1805")
        assert m1805 is not None and m1805.label == "Développeur / Développeuse informatique"
        assert db.get(RomeJob, "M1855").parent == "M1805"  # type: ignore[union-attr]
        competence = db.get(RomeItem, 109846)
        assert competence is not None and competence.label == "Concevoir une application web"
        macro = db.get(RomeItem, competence.macro_ogr)
        assert macro is not None and macro.macro_code == "2D105"
        principal = db.scalars(sa.select(RomeLink).where(
            RomeLink.code_rome == "M1810", RomeLink.coeur_metier == "Principale")).all()
        assert len(principal) == 8


def test_rome_files_are_checked(committed: Factory, tmp_path: Path) -> None:
    copy = rome_copy(tmp_path)
    # A file named utf8 that is Latin-1 (secteur_naf is, in v460): read as Windows-1252.
    savoir = next(copy.glob("*referentiel_savoir*"))
    savoir.write_bytes(savoir.read_text(encoding="utf-8").encode("cp1252", errors="replace"))
    with unit_of_work(committed) as db:
        result = import_rome(db, copy)
        assert result.recoded == [savoir.name]
        assert db.get(RomeItem, 102732).label == "Langages de programmation informatique"  # type: ignore[union-attr]
    next(copy.glob("*coherence_item*")).rename(copy / "unix_coherence_item_v461_utf8.csv")
    with pytest.raises(ReferentialError, match="several ROME versions"), \
            unit_of_work(committed) as db:
        import_rome(db, copy)
    next(copy.glob("*coherence_item*")).unlink()
    with pytest.raises(ReferentialError, match="missing ROME files: unix_coherence_item"), \
            unit_of_work(committed) as db:
        import_rome(db, copy)


def test_sheet_views_use_rome_4_labels_not_the_sheets(committed: Factory) -> None:
    load_samples(committed)
    with unit_of_work(committed) as db:
        views = service.views(db, [("RNCP40344", None), ("RNCP34762", None), ("RNCP1", None)])
    veto = views[("RNCP40344", None)]
    # The sheet's A1500 is a domain, not a ROME 4.0 job: shown as its domain only.
    assert veto["rome"][0] == {"code": "A1500", "label": None, "domain_only": True,
                               "domain": "Soins aux animaux"}
    assert ("RNCP1", None) not in views
    old = views[("RNCP34762", None)]
    assert old["status"] == "replaced" and old["replaced_by"] == ["RNCP39568"]


def test_sheet_views_are_read_once_per_referential_state(committed: Factory,
                                                         tmp_path: Path) -> None:
    load_samples(committed, rome=False)
    wanted = [("RNCP37488", None), ("RNCP1", None)]
    with unit_of_work(committed) as db:
        first = service.views(db, wanted)
    statements: list[str] = []
    with unit_of_work(committed) as db:
        sa.event.listen(db.connection(), "before_cursor_execute",
                        lambda *args: statements.append(args[2]))
        again = service.views(db, wanted)
    # Asked again, known and unknown codes alike: only the state query, the same views.
    assert len(statements) == 1 and "referential_imports" in statements[0]
    assert again == first and again[("RNCP37488", None)] is first[("RNCP37488", None)]
    # An import commits: the views are read again, with its changes.
    renamed = tmp_path / "renamed.xml"
    renamed.write_text(RNCP_XML.read_text().replace("<INTITULE>Cybersécurité</INTITULE>",
                                                    "<INTITULE>Cyberdéfense</INTITULE>", 1))
    with unit_of_work(committed) as db:
        assert import_sheets(db, renamed, "rncp").changed == 1
    with unit_of_work(committed) as db:
        assert service.views(db, wanted)[("RNCP37488", None)]["title"] == "Cyberdéfense"


def test_worked_example_rncp37488_to_m1810(committed: Factory) -> None:
    """The spec's chain: RNCP37488 → ROME M1810 → its principal compétences, 109971."""
    load_samples(committed)
    with unit_of_work(committed) as db:
        cyber = db.get(Sheet, "RNCP37488")
        assert cyber is not None and "M1810" in cyber.rome_codes
        job = db.get(RomeJob, "M1810")
        assert job is not None and job.label.startswith("Technicien / Technicienne d'exploitation")
        links = db.execute(sa.select(RomeLink, RomeItem).join(
            RomeItem, RomeItem.code_ogr == RomeLink.code_ogr).where(
            RomeLink.code_rome == "M1810")).all()
    kinds = {1: 0, 2: 0, 3: 0}
    for link, _item in links:
        kinds[link.rubrique] += 1
    assert kinds == {1: 22, 2: 3, 3: 25}
    principal = {item.code_ogr: item.label for link, item in links
                 if link.coeur_metier == "Principale"}
    assert len(principal) == 8
    assert principal[109971].startswith("Diagnostiquer la nature et l'origine des incidents")


# -- ingestion against the referentials ------------------------------------------------------
@pytest.fixture
def with_referentials(committed: Factory, vault: object, tmp_path: Path) -> Factory:
    load_samples(committed, rome=False)
    load_identities(committed, vault, tmp_path, [person_row()])  # type: ignore[arg-type]
    return committed


def codes_of(report: object) -> dict[str, list[str]]:
    return {p["id"]: [e["code"] for e in p.get("errors", []) + p.get("warnings", [])]
            for p in report.passages()}  # type: ignore[attr-defined]


def test_ingestion_warns_about_unknown_codes_and_late_awards(
        with_referentials: Factory, settings: Settings, tmp_path: Path) -> None:
    flux = document(certifications=[
        certification([passage("KNOWN")], code="RNCP37488"),
        certification([passage("UNKNOWN")], code="RNCP99999"),
        certification([passage("LATE", dateDebutValidite="2030-01-01")], type_="RS",
                      code="RS6232"),
    ])
    deposit = ingest(with_referentials, settings, tmp_path, flux)
    assert deposit.passages_ok == 3  # warnings only
    codes = codes_of(report_of(with_referentials, deposit))
    assert codes["KNOWN"] == []
    assert codes["UNKNOWN"] == ["referentiel_code_inconnu"]
    assert codes["LATE"] == ["referentiel_delivrance_tardive"]
    from passport.referentials.models import Certification

    with unit_of_work(with_referentials) as db:  # named from the sheet at ingestion
        named = db.scalars(sa.select(Certification).where(
            Certification.code == "RNCP37488")).one()
        assert (named.title, named.level) == ("Cybersécurité", "4")


def test_ingestion_checks_the_certifier_against_the_sheet(
        with_referentials: Factory, settings: Settings, tmp_path: Path) -> None:
    from passport.certifiers.service import add_certifier

    with unit_of_work(with_referentials) as db:  # the registry's BCR → SIRET
        add_certifier(db, "CERT0001", ["CTR-0001"], "Lycée", "11004301500012")
    flux = document(certifications=[
        certification([passage("LISTED")], code="RNCP37488"),
        certification([passage("NOT-LISTED")], code="RNCP40344"),
    ])
    codes = codes_of(report_of(with_referentials, ingest(with_referentials, settings, tmp_path,
                                                         flux)))
    assert codes == {"LISTED": [], "NOT-LISTED": ["referentiel_certificateur_absent"]}


def test_strict_mode_makes_them_ko(with_referentials: Factory, settings: Settings,
                                   tmp_path: Path) -> None:
    strict = dataclasses.replace(settings, referential_strict=True)
    flux = document(certifications=[certification([passage("UNKNOWN")], code="RNCP99999"),
                                    certification([passage("KNOWN")], code="RNCP37488")])
    deposit = ingest(with_referentials, strict, tmp_path, flux)
    assert (deposit.passages_ok, deposit.passages_ko) == (1, 1)
    assert codes_of(report_of(with_referentials, deposit))["UNKNOWN"] == [
        "referentiel_code_inconnu"]


def test_without_referentials_nothing_is_checked(committed: Factory, settings: Settings,
                                                 vault: object, tmp_path: Path) -> None:
    load_identities(committed, vault, tmp_path, [person_row()])  # type: ignore[arg-type]
    flux = document(certifications=[certification([passage("ANY")], code="RNCP99999")])
    assert codes_of(report_of(committed, ingest(committed, settings, tmp_path, flux))) == {
        "ANY": []}


# -- the command line ------------------------------------------------------------------------
def test_cli_imports_and_status(cli: CliRunner, tmp_path: Path) -> None:
    for args in (["rncp", str(RNCP_XML)], ["rs", str(RS_XML)], ["csv", str(CSV_ZIP)],
                 ["rome", str(SAMPLES)]):
        result = cli.invoke(main, ["referentials", "import", *args])
        assert result.exit_code == 0, result.output
    assert "rome v460 imported" in result.stderr and "1584 jobs" in result.stderr
    status = cli.invoke(main, ["referentials", "status"])
    assert status.exit_code == 0
    for kind in ("rncp", "rs", "rncp-csv", "rome"):
        assert kind in status.stdout
    bad = tmp_path / "v3.xml"
    bad.write_text(RNCP_XML.read_text().replace("<VERSION_FLUX>4.1", "<VERSION_FLUX>3.0"))
    refused = cli.invoke(main, ["referentials", "import", "rncp", str(bad)])
    assert refused.exit_code == 1
    assert "VERSION_FLUX '3.0' is not supported" in refused.output
    assert "nothing imported" in refused.output
