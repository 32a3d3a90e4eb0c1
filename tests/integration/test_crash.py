"""A process killed with SIGKILL mid-file leaves nothing of that file; the next run completes.

The ingestion runs in a real ``passport flux ingest`` process against the test database.
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy.orm import Session, sessionmaker

from passport.db import unit_of_work
from passport.demo.generate import generate
from passport.deposits.models import Deposit, DepositStatus, FluxReceipt
from passport.records.models import Passage, PassageKey
from tests.helpers import count

PASSPORT = str(Path(sys.executable).with_name("passport"))
pytestmark = pytest.mark.slow


def cli_env(database_url: str, tmp_path: Path, **extra: str) -> dict[str, str]:
    return {**os.environ, "PASSPORT_DATABASE_URL": database_url, "PASSPORT_ENV": "test",
            "PASSPORT_INSTANCE_DIR": str(tmp_path / "instance"), **extra}


def deposit_status(factory: sessionmaker[Session]) -> DepositStatus | None:
    with unit_of_work(factory) as session:
        deposit = session.scalars(sa.select(Deposit).order_by(Deposit.id.desc())).first()
        return deposit.status if deposit else None


@pytest.mark.parametrize("reader", ["in-process", "child-process"])
def test_kill_9_mid_file_leaves_nothing_and_the_rerun_completes(
    committed: sessionmaker[Session], database_url: str, tmp_path: Path, reader: str
) -> None:
    manifest = generate(tmp_path / "demo", holders=3000, passages=30_000, per_file=30_000,
                        seed=random.randrange(10**6))
    expected = manifest["files"][-1]  # the big file (the first ones are the showcase)
    threshold = "-1" if reader == "in-process" else "0"
    env = cli_env(database_url, tmp_path, PASSPORT_INGEST_SUBPROCESS_MIN_BYTES=threshold,
                  PASSPORT_INGEST_BATCH_SIZE="500")
    for what in ("identities", "training-files"):
        csv = "identities.csv" if what == "identities" else "training_files.csv"
        subprocess.run([PASSPORT, what, "import", str(tmp_path / "demo" / csv)], env=env,
                       check=True, capture_output=True)
    flux = str(tmp_path / "demo" / expected["file"])
    process = subprocess.Popen([PASSPORT, "flux", "ingest", flux, "--report-dir",
                                str(tmp_path / "r")], env=env, stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 60
    while deposit_status(committed) is not DepositStatus.EN_COURS:
        assert time.monotonic() < deadline and process.poll() is None
        time.sleep(0.02)
    time.sleep(random.uniform(0.3, 1.2))  # somewhere in the middle of the file
    assert process.poll() is None, "the run finished before it could be killed"
    process.send_signal(signal.SIGKILL)
    process.wait()

    assert deposit_status(committed) is DepositStatus.EN_COURS
    assert count(committed, Passage) == 0
    assert count(committed, PassageKey) == 0
    assert count(committed, FluxReceipt) == 0

    rerun = subprocess.run([PASSPORT, "flux", "ingest", flux, "--report-dir", str(tmp_path / "r")],
                           env=env, capture_output=True, text=True, timeout=300)
    assert rerun.returncode == 0, rerun.stdout + rerun.stderr
    with unit_of_work(committed) as session:
        [deposit] = session.scalars(sa.select(Deposit)).all()  # the killed one, resumed
        assert deposit.status is DepositStatus.TRAITE_AVEC_ERREURS
        assert deposit.attempts == 2
        assert (deposit.passages_ok, deposit.passages_ko) == (expected["ok"], expected["ko"])
    assert count(committed, Passage) == expected["ok"]
