"""The received files in storage (``PASSPORT_STORAGE_DIR``), apart from HTTP: the loader
and the clean-up import it without Flask (a web framework in every loader process is
6 MB of its memory)."""

from __future__ import annotations

import contextlib
import datetime as dt
import logging
import os
import shutil
import uuid
from collections.abc import Iterable, Iterator
from pathlib import Path

from passport.errors import Unavailable

log = logging.getLogger(__name__)

#: Where queued dry runs' uploads wait for their job (under ``PASSPORT_STORAGE_DIR``).
DRY_RUNS = "dry-runs"


class StorageUnavailable(Unavailable):
    """The storage volume failed (full, gone): 503, the client sends the file again later."""

    code = "storage_unavailable"
    retry_after = 60


@contextlib.contextmanager
def storing() -> Iterator[None]:
    """Turn a failure of the storage volume into a 503 the client can act on."""
    try:
        yield
    except OSError as exc:
        log.error("storage failed: %s (%s)", exc.strerror or exc, type(exc).__name__)
        raise StorageUnavailable("The service cannot store the file now; send it again "
                                 "later.") from None


def remove_stored(path: Path, received_before: dt.datetime) -> bool:
    """Delete a stored flux received before ``received_before``. False when it is gone
    already, or when the same bytes were received since: an upload replaces the file
    before its deposit is recorded, so the file is moved aside first and put back when it
    turns out to be the new copy."""
    aside = path.with_name(f".removing-{uuid.uuid4().hex}")
    try:
        os.replace(path, aside)
    except FileNotFoundError:
        return False
    if aside.stat().st_mtime >= received_before.timestamp():
        os.replace(aside, path)
        return False
    aside.unlink()
    return True


def leftover_temporaries(storage_dir: Path, before: dt.datetime) -> list[Path]:
    """What processes killed mid-way left in storage, untouched since ``before``: partial
    uploads, files moved aside for removal, the dry-run validator's scratch directories."""
    found = [*(storage_dir / "flux").glob(".upload-*.part"),
             *(storage_dir / "flux").glob("*/.removing-*"),
             *(storage_dir / "scratch").glob("validate-*")]
    return _untouched_since(found, before)


def leftover_dry_runs(storage_dir: Path, before: dt.datetime) -> list[Path]:
    """Queued dry runs' uploads untouched since ``before`` (their verdicts' keep time: a
    file outlives its job only when the job never ran before the row expired)."""
    return _untouched_since((storage_dir / DRY_RUNS).glob("*.xml"), before)


def _untouched_since(paths: Iterable[Path], before: dt.datetime) -> list[Path]:
    return [p for p in paths if p.lstat().st_mtime < before.timestamp()]


def remove_temporary(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    else:
        path.unlink(missing_ok=True)
