"""The reading side of ingestion, optionally in a separate process.

Reading a flux (gate, streaming parse, XSD validation, extraction, business rules) needs no
database; loading it (NIRisation, duplicates, writes) needs no parser.  `read_checked`
yields batches of checked passages, produced either in this process or in a child process
that reads the file while the parent writes the previous batch.  On a 2-core machine that
overlaps the two halves; and a native crash of the XML parser then kills the child only:
the parent reports the file as rejected (``parser_crash``) and carries on.
"""

from __future__ import annotations

import atexit
import contextlib
import gc
import os
import pickle
import select
import signal
import subprocess
import sys
import threading
import traceback
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any, BinaryIO, cast

from ingestion.errors import FileProblem, FileRejected
from ingestion.parser import (
    CertificationContext,
    FluxHeader,
    FluxReader,
    NeedsPrescan,
    Prescan,
    open_gated,
)
from ingestion.rules import Checked, check

Item = tuple[CertificationContext, Checked]
#: A batch as it crosses the pipe from the reader process.
_WireBatch = tuple[FluxHeader, list[tuple[CertificationContext, tuple[Any, ...]]], int]


@dataclass
class Batch:
    """Checked passages in document order, with the header and the bytes read so far."""

    header: FluxHeader
    items: list[Item]
    bytes_read: int


@dataclass(frozen=True)
class Source:
    """Where a flux comes from: a file path (may be read in a child process) or an opener."""

    path: Path | None = None
    opener: Callable[[], BinaryIO] | None = None

    def open(self) -> BinaryIO:
        """A fresh binary stream from the start of the file."""
        if self.path is not None:
            return self.path.open("rb")
        assert self.opener is not None
        return self.opener()


#: Allocations between two young collections during a load (Python's default: 700).  With
#: 10,000 the loader's peak on SQLite went from 97 to 109 MB for 200,000 passages.
YOUNG_COLLECTION = 3_000


class _Freezer:
    """The process's frozen spell (see `heap_frozen`)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._loads = 0
        self._thresholds = gc.get_threshold()
        self._froze = False

    @contextlib.contextmanager
    def frozen(self) -> Iterator[None]:
        with self._lock:
            if not self._loads:
                self._thresholds = gc.get_threshold()
                # A heap frozen already (a gunicorn worker: `passport.gunicorn.serve`) stays
                # as it is: unfreezing it at the end would hand the whole application back
                # to the collector, and write to every page the workers share with the
                # master.
                self._froze = gc.get_freeze_count() == 0
                if self._froze:
                    gc.freeze()
                gc.set_threshold(YOUNG_COLLECTION, *self._thresholds[1:])
            self._loads += 1
        try:
            yield
        finally:
            with self._lock:
                self._loads -= 1
                if not self._loads:
                    gc.set_threshold(*self._thresholds)
                    if self._froze:
                        gc.unfreeze()


_freezer = _Freezer()


def heap_frozen() -> contextlib.AbstractContextManager[None]:
    """Keep the objects alive before a load out of the cyclic collector's passes while it
    runs.

    A load allocates millions of short-lived objects (the passages' tuples, dicts and
    lists); whenever enough of them outlive a young collection, Python runs a full one,
    which walks every object of the process — SQLAlchemy's, lxml's, the application's: 25
    full passes for 200,000 passages took 2.3 s of the loading process's 10.9 s of CPU.
    `gc.freeze` moves the objects alive now to a generation no pass walks, `gc.unfreeze`
    gives them back at the end; and the young generation is collected every
    `YOUNG_COLLECTION` allocations instead of 700 (the passages make next to no cycles:
    5,341 objects in cycles for 100,000 passages).  Measured on 200,000 passages on
    PostgreSQL: the collector's time in the loading process 2.3 s → 0.5 s, its CPU time
    9.2–9.5 → 7.8 s, the peak memory unchanged (91 MB).  Reference counting frees objects
    as always; only cycles among the frozen ones wait for the end of the load.  Loads side
    by side (the threads of the in-process worker pool) share one spell: the first in
    freezes, the last out gives back.
    """
    return _freezer.frozen()


def _batches(
    source: Source,
    max_bytes: int,
    schema_version: str,
    prescanned: Prescan | None,
    batch_size: int,
) -> Iterator[Batch]:
    reader = FluxReader(
        open_gated(source.open, max_bytes), schema_version=schema_version, prescanned=prescanned
    )
    items: list[Item] = []
    try:
        for cert, passage in reader:
            items.append((cert, check(passage)))
            if len(items) >= batch_size:
                yield Batch(reader.header, items, reader.bytes_read)
                items = []
    except FileRejected as exc:
        if exc.header is None and reader.header.complete:
            exc.header = reader.header
        raise
    yield Batch(reader.header, items, reader.bytes_read)


def _send(out: IO[bytes], frame: tuple[str, object]) -> None:
    data = pickle.dumps(frame, protocol=pickle.HIGHEST_PROTOCOL)
    out.write(len(data).to_bytes(8, "big"))
    out.write(data)
    out.flush()


def _receive(pipe: IO[bytes]) -> tuple[str, object]:
    """Read one length-prefixed frame.  (``pickle.load`` on the pipe would peek past the end
    of a frame and wait for the next one, making the two processes take turns.)"""
    head = _read_exactly(pipe, 8)
    # Frames come from our own processes, started with our own code: trusted.
    data = _read_exactly(pipe, int.from_bytes(head, "big"))
    frame: tuple[str, object] = pickle.loads(data)  # noqa: S301
    return frame


def _read_exactly(pipe: IO[bytes], size: int) -> bytes:
    data = pipe.read(size)
    if len(data) != size:
        raise EOFError
    return data


#: A reader process reads this many files, then is retired (what a long-lived process
#: keeps of the memory it once used — libxml2's and Python's — is bounded by it).
READER_FILES = 100
#: An idle reader process exits after this many seconds without a file.
READER_IDLE_SECONDS = 120.0
#: Idle reader processes kept per loading process (one per load running at the same time).
READER_IDLE_MAX = 4


def child_main() -> None:
    """Entry of a reader process: ``python -m ingestion.reader_process VERSION IDLE``.

    It imports the reader, compiles the schema ``VERSION``, says ``("ready", None)``, then
    reads one file per request until its stdin closes or ``IDLE`` seconds pass without one.
    A request is ``("read", params)`` (pickled, on stdin); the answer, on stdout, is
    ``("reading", None)``, then ``("batch", (header, [(certification, checked as a tuple)
    ...], bytes read))`` … and one last frame: ``("end", None)``, ``("rejected", (problems,
    header))``, ``("prescan", None)`` or ``("error", traceback)``.
    """
    from ingestion.schema import compiled

    version, idle = sys.argv[1], float(sys.argv[2])
    compiled(version)
    requests, out = sys.stdin.buffer, sys.stdout.buffer
    _send(out, ("ready", None))
    # Nothing is buffered between two requests (the parent sends one, then reads until the
    # last frame of its answer), so the file descriptor is what to wait on.
    while select.select([requests], [], [], idle)[0]:
        try:
            _, params = _receive(requests)
        except EOFError:  # the parent is done with this reader (or gone)
            return
        _send(out, ("reading", None))
        _send(out, _read_one(cast(dict[str, Any], params), out))


def _read_one(params: dict[str, Any], out: IO[bytes]) -> tuple[str, object]:
    """Send the batches of one file; return the frame that ends the answer."""
    if params.get("self_test_crash"):
        # Test hook: die as a native crash of libxml2 would, to prove the parent copes.
        os.kill(os.getpid(), signal.SIGSEGV)
    try:
        with heap_frozen():
            for batch in _batches(Source(Path(params["path"])), params["max_bytes"],
                                  params["schema_version"], params["prescanned"],
                                  params["batch_size"]):
                # Plain tuples cross the pipe: pickling a named tuple runs Python code (its
                # __getnewargs__) per passage, half of the pickling time.
                plain = [(cert, tuple(checked)) for cert, checked in batch.items]
                _send(out, ("batch", (batch.header, plain, batch.bytes_read)))
    except FileRejected as exc:
        return ("rejected", (exc.problems, exc.header))
    except NeedsPrescan:
        return ("prescan", None)
    except Exception:  # reported to the parent, which raises it there
        return ("error", traceback.format_exc())
    return ("end", None)


class _ReaderProcess:
    """One reader process (see `child_main`), seen from the loading process."""

    def __init__(self, schema_version: str) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-m", "ingestion.reader_process", schema_version,
             str(READER_IDLE_SECONDS)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)},
        )
        self.files = 0
        self._ready = False

    @property
    def stdout(self) -> IO[bytes]:
        assert self.process.stdout is not None
        return self.process.stdout

    def alive(self) -> bool:
        return self.process.poll() is None

    def wait_ready(self) -> None:
        """Block until the process has imported the reader and compiled its schema."""
        if not self._ready:
            kind, _ = _receive(self.stdout)
            if kind != "ready":
                raise RuntimeError(f"flux reader process: {kind!r} before ready")
            self._ready = True

    def start(self, params: dict[str, Any]) -> None:
        """Ask for a file; return once the process has taken the request (EOFError if it
        died first: idle too long, or crashed)."""
        assert self.process.stdin is not None
        try:
            _send(self.process.stdin, ("read", params))
        except BrokenPipeError:
            raise EOFError from None
        self.wait_ready()
        kind, _ = _receive(self.stdout)
        if kind != "reading":
            raise RuntimeError(f"flux reader process: {kind!r} before reading")

    def exit_detail(self) -> str:
        """How the process ended: ``signal N`` or ``code N``."""
        code = self.process.wait(10)
        return f"signal {-code}" if code < 0 else f"code {code}"

    def close(self) -> None:
        """End the process: it exits when its requests end (a stuck one is killed)."""
        assert self.process.stdin is not None
        with contextlib.suppress(OSError):
            self.process.stdin.close()
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.process.wait(5)
        self.kill()

    def kill(self) -> None:
        """End the process now (in the middle of an answer: its frames cannot be resumed)."""
        if self.process.poll() is None:
            self.process.kill()
        self.process.wait()
        assert self.process.stdin is not None
        with contextlib.suppress(OSError):
            self.process.stdin.close()
        self.stdout.close()


class _Readers:
    """The idle reader processes of this process, reused from one file to the next.

    Starting one costs an interpreter, the reader's imports and the schema's compilation
    (~0.1 s of CPU); a worker pays it once, not once per file.  A process that forks (a
    gunicorn master) leaves its idle readers to itself: the child forgets them.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._idle: list[_ReaderProcess] = []
        #: This process keeps a reader (`start_reader`: a worker), even after its reader
        #: crashed on a file or exited after its idle time.
        self._kept = False
        #: Readers of the parent of a fork: never used, never collected (their `Popen`
        #: objects would warn that the process is still running).
        self._inherited: list[_ReaderProcess] = []

    def take(self, schema_version: str) -> tuple[_ReaderProcess, bool]:
        """An idle reader (True: reused) or a new one (False)."""
        with self._lock:
            while self._idle:
                reader = self._idle.pop()
                if reader.alive():
                    return reader, True
                reader.kill()  # exited after its idle time: reap it
        return _ReaderProcess(schema_version), False

    def in_use(self) -> bool:
        """Whether this process keeps a reader, or one is waiting for a file."""
        return self._kept or bool(self._idle)

    def give_back(self, reader: _ReaderProcess) -> None:
        """A reader whose answer ended cleanly: kept for the next file, or retired."""
        reader.files += 1
        with self._lock:
            if reader.files < READER_FILES and len(self._idle) < READER_IDLE_MAX:
                self._idle.append(reader)
                return
        reader.close()

    def start(self, schema_version: str, *, wait: bool) -> None:
        """Have an idle reader: start one unless there is one already; ``wait``: the one
        started now is ready before it is offered (a reader's frames have one reader at a
        time: a load taking it while this waited would read them too)."""
        with self._lock:
            self._kept = True
            if any(r.alive() for r in self._idle):
                return
            reader = _ReaderProcess(schema_version)
            if not wait:
                self._idle.append(reader)
                return
        reader.wait_ready()
        with self._lock:
            self._idle.append(reader)

    def close(self) -> None:
        """End every idle reader (at exit); none is kept any more."""
        with self._lock:
            idle, self._idle, self._kept = self._idle, [], False
        for reader in idle:
            reader.close()

    def forget(self) -> None:
        """In the child of a fork: the idle readers are the parent's."""
        self._lock = threading.Lock()
        self._inherited.extend(self._idle)
        self._idle, self._kept = [], False
        for reader in self._inherited:
            for pipe in (reader.process.stdin, reader.process.stdout):
                if pipe is not None:
                    with contextlib.suppress(OSError):
                        pipe.close()


_readers = _Readers()
os.register_at_fork(after_in_child=_readers.forget)


def stop_readers() -> None:
    """End the idle reader processes and wait for them (they also end with this process:
    their requests' pipe closes).  Run at exit, and where what they leave when they exit
    must be there at once (a test session's end: their coverage data)."""
    _readers.close()


atexit.register(stop_readers)


def start_reader(schema_version: str = "1.1.5", *, wait: bool = False) -> None:
    """Start a reader process ahead of the first file (a worker does at its start), so
    that no file waits for an interpreter, the reader's imports and the schema; ``wait``:
    return once the reader started is ready (none is started when one is idle already)."""
    _readers.start(schema_version, wait=wait)


def _started(reader: _ReaderProcess, reused: bool, params: dict[str, Any],
             schema_version: str) -> _ReaderProcess:
    """A reader that took the request: ``reader``, or a new one when an idle reader exited
    as the request went (its idle time ran out).  A reader that dies before taking the file
    says nothing about the file (it could not start: an interpreter or import problem):
    RuntimeError — the job is tried again later — not a rejection of the file."""
    try:
        reader.start(params)
        return reader
    except EOFError:
        reader.kill()
    if reused:
        reader = _ReaderProcess(schema_version)
        try:
            reader.start(params)
            return reader
        except EOFError:
            reader.kill()
    raise RuntimeError(
        f"the flux reader process ended before taking the file ({reader.exit_detail()})")


def _from_child(
    source: Source, max_bytes: int, schema_version: str, prescanned: Prescan | None,
    batch_size: int,
) -> Iterator[Batch]:
    assert source.path is not None
    params = {"path": str(source.path), "max_bytes": max_bytes,
              "schema_version": schema_version, "prescanned": prescanned,
              "batch_size": batch_size,
              "self_test_crash": os.environ.get("PASSPORT_READER_SELF_TEST_CRASH") == "1"}
    reader = _started(*_readers.take(schema_version), params, schema_version)
    reusable = False
    try:
        while True:
            kind, payload = _receive(reader.stdout)
            if kind == "batch":
                header, plain, bytes_read = cast(_WireBatch, payload)
                yield Batch(header, [(cert, Checked._make(fields)) for cert, fields in plain],
                            bytes_read)
                continue
            reusable = kind != "error"
            if kind == "end":
                return
            if kind == "rejected":
                problems, read = cast(tuple[list[FileProblem], FluxHeader | None], payload)
                raise FileRejected(problems, read)
            if kind == "prescan":
                raise NeedsPrescan
            raise RuntimeError(f"flux reader process failed:\n{payload}")
    except EOFError:
        raise FileRejected(
            [FileProblem("parser_crash",
                         f"La lecture du fichier a échoué ({reader.exit_detail()}).")]
        ) from None
    finally:
        if reusable:
            _readers.give_back(reader)
        else:
            reader.kill()


def read_checked(
    source: Source,
    *,
    max_bytes: int,
    schema_version: str,
    batch_size: int,
    prescanned: Prescan | None = None,
    subprocess_min_bytes: int | None = None,
) -> Iterator[Batch]:
    """Batches of checked passages; the last batch may be empty.

    Read by a reader process (None: never) for files of at least ``subprocess_min_bytes``,
    and for smaller ones too in a process that keeps a reader (a worker: `start_reader`)
    or while one is idle:
    it then costs under a millisecond a file, and a native crash of libxml2 on any file
    costs the reader, not this process.  Otherwise read here: starting a reader (~0.1 s)
    would cost a small file more than reading it.
    """
    use_child = (
        source.path is not None
        and subprocess_min_bytes is not None
        and (os.path.getsize(source.path) >= subprocess_min_bytes or _readers.in_use())
    )
    batches = (_from_child(source, max_bytes, schema_version, prescanned, batch_size)
               if use_child else _batches(source, max_bytes, schema_version, prescanned,
                                          batch_size))
    handed_out = 0
    try:
        for batch in batches:
            handed_out += len(batch.items)
            yield batch
    except FileRejected as exc:
        exc.valid_passages = handed_out
        raise

