"""Reader processes: one file after another in the same process, retired, replaced, and
never resumed in the middle of an answer."""

from __future__ import annotations

import os
import signal
from collections.abc import Iterator
from pathlib import Path

import pytest

from ingestion import pipeline
from ingestion.errors import FileRejected
from ingestion.pipeline import Source, read_checked, start_reader
from tests.flux import document, passage

OPTIONS = {"max_bytes": 10**7, "schema_version": "1.1.5", "batch_size": 10}


@pytest.fixture(autouse=True)
def no_idle_reader() -> Iterator[None]:
    pipeline.stop_readers()
    yield
    pipeline.stop_readers()


def flux(tmp_path: Path, name: str, count: int) -> Path:
    path = tmp_path / f"{name}.xml"
    path.write_bytes(document([passage(f"{name}-{i}") for i in range(count)], id_flux=name))
    return path


def read(path: Path, **options: object) -> list[str]:
    """The file's passages as read by a reader process."""
    return [checked.id_technique
            for batch in read_checked(Source(path), subprocess_min_bytes=0,
                                      **{**OPTIONS, **options})
            for _, checked in batch.items]


def idle_pids() -> list[int]:
    return [reader.process.pid for reader in pipeline._readers._idle]


def test_one_reader_process_reads_file_after_file(tmp_path) -> None:
    first, second = flux(tmp_path, "A", 25), flux(tmp_path, "B", 3)
    assert read(first) == [f"A-{i}" for i in range(25)]
    [pid] = idle_pids()
    assert read(second) == ["B-0", "B-1", "B-2"]
    assert idle_pids() == [pid]
    assert pipeline._readers._idle[0].files == 2
    # The same answers as reading in this process.
    inside = [c for b in read_checked(Source(second), **OPTIONS) for _, c in b.items]
    child = [c for b in read_checked(Source(second), subprocess_min_bytes=0, **OPTIONS)
             for _, c in b.items]
    assert child == inside


def test_a_worker_starts_its_reader_before_the_first_file(tmp_path) -> None:
    start_reader("1.1.5", wait=True)
    [pid] = idle_pids()
    assert pipeline._readers._idle[0]._ready
    start_reader("1.1.5", wait=True)  # one is ready already: no second one
    assert idle_pids() == [pid]
    assert read(flux(tmp_path, "A", 3)) == ["A-0", "A-1", "A-2"]
    assert idle_pids() == [pid]


def test_a_reader_is_retired_after_its_files(tmp_path, monkeypatch) -> None:
    monkeypatch.setattr(pipeline, "READER_FILES", 2)
    path = flux(tmp_path, "A", 2)
    read(path)
    [reader] = pipeline._readers._idle
    read(path)
    assert idle_pids() == []
    assert reader.process.returncode == 0  # ended on its own once its requests ended
    read(path)
    assert idle_pids() != [reader.process.pid] and len(idle_pids()) == 1


def test_an_idle_reader_exits_and_the_next_file_gets_a_new_one(tmp_path, monkeypatch) -> None:
    monkeypatch.setattr(pipeline, "READER_IDLE_SECONDS", 0.2)
    start_reader("1.1.5", wait=True)
    [reader] = pipeline._readers._idle
    assert reader.process.wait(10) == 0
    assert read(flux(tmp_path, "A", 3)) == ["A-0", "A-1", "A-2"]
    assert reader.process.pid not in idle_pids() and len(idle_pids()) == 1


def test_a_reader_gone_as_the_request_leaves_is_replaced(tmp_path, monkeypatch) -> None:
    """The idle time can run out between the check and the request: the file is not
    reported as a parser crash, a new reader reads it."""
    start_reader("1.1.5", wait=True)
    [reader] = pipeline._readers._idle
    reader.process.kill()
    reader.process.wait()
    monkeypatch.setattr(pipeline._ReaderProcess, "alive", lambda self: True)
    assert read(flux(tmp_path, "A", 3)) == ["A-0", "A-1", "A-2"]
    assert reader.process.pid not in idle_pids() and len(idle_pids()) == 1


def test_a_file_left_half_read_ends_its_reader(tmp_path) -> None:
    """Its remaining frames cannot be skipped reliably: the reader is killed, not reused."""
    batches = read_checked(Source(flux(tmp_path, "A", 25)), subprocess_min_bytes=0, **OPTIONS)
    next(batches)
    batches.close()
    assert idle_pids() == []
    assert read(flux(tmp_path, "B", 3)) == ["B-0", "B-1", "B-2"]


def test_a_rejection_keeps_the_reader_a_crash_does_not(tmp_path, monkeypatch) -> None:
    bad = tmp_path / "bad.xml"
    bad.write_bytes(document()[:200])
    with pytest.raises(FileRejected):
        read(bad)
    [pid] = idle_pids()  # a refused file is an answer like another
    monkeypatch.setenv("PASSPORT_READER_SELF_TEST_CRASH", "1")
    with pytest.raises(FileRejected) as exc:
        read(flux(tmp_path, "A", 3))
    assert exc.value.code == "parser_crash"
    assert f"signal {int(signal.SIGSEGV)}" in exc.value.problems[0].message
    assert idle_pids() == []  # the idle reader took the file and died with it
    monkeypatch.delenv("PASSPORT_READER_SELF_TEST_CRASH")
    assert read(flux(tmp_path, "B", 1)) == ["B-0"]
    assert idle_pids() != [pid]


def test_a_forked_process_leaves_the_idle_readers_to_its_parent(tmp_path) -> None:
    start_reader("1.1.5", wait=True)
    [pid] = idle_pids()
    child = os.fork()
    if child == 0:  # pragma: no cover - the child process; its exit status is the check
        os._exit(0 if not pipeline._readers._idle and pipeline._readers._inherited else 3)
    _, status = os.waitpid(child, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    assert read(flux(tmp_path, "A", 2)) == ["A-0", "A-1"]
    assert idle_pids() == [pid]


def test_closing_ends_the_idle_readers(tmp_path) -> None:
    read(flux(tmp_path, "A", 2))
    [reader] = pipeline._readers._idle
    pipeline.stop_readers()
    assert reader.process.returncode == 0
    assert idle_pids() == []


def test_a_worker_reads_small_files_in_its_reader_too(tmp_path, monkeypatch) -> None:
    """Under the size threshold a file is read in this process, unless a reader is idle:
    then it costs under a millisecond, and a native crash costs the reader only (here
    simulated by the reader's crash hook, which reading in this process ignores)."""
    small = flux(tmp_path, "S", 2)
    threshold = {"subprocess_min_bytes": 2**20}
    monkeypatch.setenv("PASSPORT_READER_SELF_TEST_CRASH", "1")
    batches = read_checked(Source(small), **OPTIONS, **threshold)
    assert [c.id_technique for b in batches for _, c in b.items] == ["S-0", "S-1"]
    start_reader("1.1.5", wait=True)
    with pytest.raises(FileRejected) as exc:
        list(read_checked(Source(small), **OPTIONS, **threshold))
    assert exc.value.code == "parser_crash"
    start_reader("1.1.5", wait=True)  # never when told so
    batches = read_checked(Source(small), **OPTIONS, subprocess_min_bytes=None)
    assert [c.id_technique for b in batches for _, c in b.items] == ["S-0", "S-1"]


def test_a_reader_that_cannot_start_is_not_the_file_s_fault(tmp_path, monkeypatch) -> None:
    """Dying before it took the file (here: no interpreter to start) says nothing about the
    file: an error for the job to be tried again, not a rejection (`parser_crash` is kept
    for a reader that died reading)."""
    monkeypatch.setattr(pipeline.sys, "executable", "/bin/false")
    with pytest.raises(RuntimeError, match=r"ended before taking the file \(code 1\)"):
        read(flux(tmp_path, "A", 2))
    assert idle_pids() == []


def test_a_worker_keeps_its_small_files_isolated_after_a_crash(tmp_path, monkeypatch) -> None:
    """The reader a file crashed is gone, none is idle: the next small file of a worker is
    still read by a (new) reader, not in the worker's own process."""
    small = flux(tmp_path, "S", 2)
    start_reader("1.1.5", wait=True)
    monkeypatch.setenv("PASSPORT_READER_SELF_TEST_CRASH", "1")
    for _ in range(2):
        with pytest.raises(FileRejected) as exc:
            list(read_checked(Source(small), **OPTIONS, subprocess_min_bytes=2**20))
        assert exc.value.code == "parser_crash"
        assert idle_pids() == []
