"""The reading side of ingestion, optionally in a separate process.

Reading a flux (gate, streaming parse, XSD validation, extraction, business rules) needs no
database; loading it (NIRisation, duplicates, writes) needs no parser.  `read_checked`
yields batches of checked passages, produced either in this process or in a child process
that reads the file while the parent writes the previous batch.  On a 2-core machine that
overlaps the two halves; and a native crash of the XML parser then kills the child only:
the parent reports the file as rejected (``parser_crash``) and carries on.
"""

from __future__ import annotations

import contextlib
import gc
import os
import pickle
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


def _send(out: BinaryIO, frame: tuple[str, object]) -> None:
    data = pickle.dumps(frame, protocol=pickle.HIGHEST_PROTOCOL)
    out.write(len(data).to_bytes(8, "big"))
    out.write(data)
    out.flush()


def _receive(pipe: IO[bytes]) -> tuple[str, object]:
    """Read one length-prefixed frame.  (``pickle.load`` on the pipe would peek past the end
    of a frame and wait for the next one, making the two processes take turns.)"""
    head = _read_exactly(pipe, 8)
    # Frames come from our own child process, started with our own code: trusted.
    data = _read_exactly(pipe, int.from_bytes(head, "big"))
    frame: tuple[str, object] = pickle.loads(data)  # noqa: S301
    return frame


def _read_exactly(pipe: IO[bytes], size: int) -> bytes:
    data = pipe.read(size)
    if len(data) != size:
        raise EOFError
    return data


def child_main() -> None:
    """Entry of the reader process (``python -m ingestion.reader_process``): parameters come
    pickled on stdin, frames
    ``("batch", (header, [(certification, checked as a tuple)...], bytes read))`` …
    ``("end", None)`` (or ``("rejected", (problems, header))``…) go pickled to stdout."""
    params = pickle.load(sys.stdin.buffer)  # noqa: S301 -- written by our parent process
    out = sys.stdout.buffer
    if os.environ.get("PASSPORT_READER_SELF_TEST_CRASH") == "1":
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
        frame: tuple[str, object] = ("end", None)
    except FileRejected as exc:
        frame = ("rejected", (exc.problems, exc.header))
    except NeedsPrescan:
        frame = ("prescan", None)
    except Exception:  # reported to the parent, which raises it there
        frame = ("error", traceback.format_exc())
    _send(out, frame)


def _from_child(
    source: Source, max_bytes: int, schema_version: str, prescanned: Prescan | None,
    batch_size: int,
) -> Iterator[Batch]:
    assert source.path is not None
    process = subprocess.Popen(
        [sys.executable, "-m", "ingestion.reader_process"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)},
    )
    assert process.stdin is not None and process.stdout is not None
    try:
        pickle.dump(
            {"path": str(source.path), "max_bytes": max_bytes, "schema_version": schema_version,
             "prescanned": prescanned, "batch_size": batch_size},
            process.stdin,
        )
        process.stdin.close()
        while True:
            try:
                kind, payload = _receive(process.stdout)
            except EOFError:
                code = process.wait(10)
                detail = f"signal {-code}" if code < 0 else f"code {code}"
                raise FileRejected(
                    [FileProblem("parser_crash", f"La lecture du fichier a échoué ({detail}).")]
                ) from None
            if kind == "batch":
                header, plain, bytes_read = cast(_WireBatch, payload)
                yield Batch(header, [(cert, Checked._make(fields)) for cert, fields in plain],
                            bytes_read)
            elif kind == "end":
                return
            elif kind == "rejected":
                problems, read = cast(tuple[list[FileProblem], FluxHeader | None], payload)
                raise FileRejected(problems, read)
            elif kind == "prescan":
                raise NeedsPrescan
            else:
                raise RuntimeError(f"flux reader process failed:\n{payload}")
    finally:
        if process.poll() is None:
            process.kill()
        process.wait()
        process.stdout.close()


def read_checked(
    source: Source,
    *,
    max_bytes: int,
    schema_version: str,
    batch_size: int,
    prescanned: Prescan | None = None,
    subprocess_min_bytes: int | None = None,
) -> Iterator[Batch]:
    """Batches of checked passages; in a child process for files of at least
    ``subprocess_min_bytes`` (None: never).  The last batch may be empty."""
    use_child = (
        source.path is not None
        and subprocess_min_bytes is not None
        and os.path.getsize(source.path) >= subprocess_min_bytes
    )
    if use_child:
        yield from _from_child(source, max_bytes, schema_version, prescanned, batch_size)
    else:
        yield from _batches(source, max_bytes, schema_version, prescanned, batch_size)

