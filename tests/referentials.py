"""The sample referentials (real files) and helpers to load and alter them in tests."""

from __future__ import annotations

import shutil
from pathlib import Path

from sqlalchemy.orm import Session, sessionmaker

from passport.db import unit_of_work

SAMPLES = Path(__file__).resolve().parents[1] / "passport" / "demo" / "referentials"
RNCP_XML = next(SAMPLES.glob("*RNCP_fixture*.xml"))
RS_XML = next(SAMPLES.glob("*RS_fixture*.xml"))
CSV_ZIP = next(SAMPLES.glob("*export-fiches-csv-*.zip"))


def load_samples(factory: sessionmaker[Session], *, rome: bool = True) -> None:
    """Import the sample RNCP and RS sheets (and ROME v460 subset)."""
    from passport.referentials.rome import import_rome
    from passport.referentials.sheets import import_sheets

    with unit_of_work(factory) as db:
        import_sheets(db, RNCP_XML, "rncp")
        import_sheets(db, RS_XML, "rs")
        if rome:
            import_rome(db, SAMPLES)


def rome_copy(tmp: Path) -> Path:
    """A copy of the ROME sample files, to alter."""
    target = tmp / "rome"
    target.mkdir()
    for path in SAMPLES.glob("PSID*"):
        shutil.copy(path, target / path.name)
    return target
