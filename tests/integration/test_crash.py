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


def import_directory(env: dict[str, str], demo: Path) -> None:
    """The demo's identity directory and training files, through the CLI."""
    for what, csv in (("identities", "identities.csv"), ("training-files", "training_files.csv")):
        subprocess.run([PASSPORT, what, "import", str(demo / csv)], env=env, check=True,
                       capture_output=True)


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
    import_directory(env, tmp_path / "demo")
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


#: What one ingestion writes; the identity directory and the holders stay between rounds.
KEPT = frozenset({"identity_records", "training_files", "holders", "nir_aliases", "certifications",
                  "certifiers", "certifier_contracts", "mandates"})
ROUNDS = 20


def test_kill_9_at_20_random_points_leaves_none_or_all(
    committed: sessionmaker[Session], engine: sa.Engine, database_url: str, tmp_path: Path
) -> None:
    """Twenty runs of one file, each killed at a random moment of a whole run's length
    (reading, NIRisation, writing, committing, or already done), alternating the two
    readers: each leaves either nothing of the file or all of it."""
    from tests.helpers import empty_tables

    rng = random.Random()
    manifest = generate(tmp_path / "demo", holders=2000, passages=15_000, per_file=15_000,
                        seed=rng.randrange(10**6))
    expected = manifest["files"][-1]
    envs = [cli_env(database_url, tmp_path, PASSPORT_INGEST_SUBPROCESS_MIN_BYTES=threshold,
                    PASSPORT_INGEST_BATCH_SIZE="500") for threshold in ("-1", "0")]
    import_directory(envs[0], tmp_path / "demo")
    flux = str(tmp_path / "demo" / expected["file"])
    command = [PASSPORT, "flux", "ingest", flux, "--report-dir", str(tmp_path / "r")]

    def stored() -> tuple[int, int, int]:
        return (count(committed, Passage), count(committed, PassageKey),
                count(committed, FluxReceipt))

    # A whole run, to spread the kills over its length: the shorter of one with each
    # reader (a run slowed by a busy machine spread them too late: most came after the
    # commit).
    runs = []
    for env in envs:
        empty_tables(engine, keep=KEPT)
        started = time.monotonic()
        subprocess.run(command, env=env, check=True, capture_output=True, timeout=300)
        runs.append(time.monotonic() - started)
    whole = min(runs)
    complete = stored()
    assert complete[0] == expected["ok"]

    outcomes = []
    for round_ in range(ROUNDS):
        empty_tables(engine, keep=KEPT)
        assert stored() == (0, 0, 0)
        at = rng.uniform(0.0, whole * 1.1)
        process = subprocess.Popen(command, env=envs[round_ % 2], stdout=subprocess.DEVNULL,
                                   stderr=subprocess.DEVNULL)
        time.sleep(at)
        process.send_signal(signal.SIGKILL)
        process.wait()
        left = stored()
        assert left in ((0, 0, 0), complete), f"kill at {at:.2f} s of {whole:.2f} s left {left}"
        outcomes.append("all" if left == complete else "none")
    print(f"\nwhole run {whole:.2f} s; {ROUNDS} kills: {outcomes.count('none')} left nothing, "
          f"{outcomes.count('all')} came after the commit")
    assert outcomes.count("none") >= ROUNDS // 2  # most kills did land mid-file

    # A kill in the middle, then the next run completes the file.
    empty_tables(engine, keep=KEPT)
    process = subprocess.Popen(command, env=envs[1], stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL)
    time.sleep(whole / 2)
    process.send_signal(signal.SIGKILL)
    process.wait()
    assert stored() == (0, 0, 0)
    rerun = subprocess.run(command, env=envs[1], capture_output=True, text=True, timeout=300)
    assert rerun.returncode == 0, rerun.stdout + rerun.stderr
    assert stored() == complete
    assert deposit_status(committed) is DepositStatus.TRAITE_AVEC_ERREURS
