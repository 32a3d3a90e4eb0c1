"""Receive an uploaded flux: streamed to storage in chunks, hashed on the way, inflated
when sent gzipped (with a hard cap on the inflated size), never held in memory whole.

Accepted bodies: ``application/xml`` (or ``text/xml``) as the raw body, or
``multipart/form-data`` with one file part (``file``). Too big: 413 before the body is read
when ``Content-Length`` says so, or as soon as the stream passes the limit.
"""

from __future__ import annotations

import hashlib
import os
import re
import secrets
import tempfile
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from flask import Request
from werkzeug.exceptions import RequestEntityTooLarge, UnsupportedMediaType

from passport.deposits.storage import storing
from passport.errors import InvalidInput

CHUNK = 1024 * 1024
XML_TYPES = ("application/xml", "text/xml")
_SAFE_NAME = re.compile(r"[^A-Za-z0-9._-]+")


@dataclass(frozen=True)
class Upload:
    """A received file in storage."""

    path: Path
    file_name: str
    sha256: str
    size: int


def _too_large(limit: int, inflated: bool = False) -> RequestEntityTooLarge:
    what = "inflated file" if inflated else "upload"
    return RequestEntityTooLarge(f"The {what} exceeds {limit} bytes (PASSPORT_MAX_UPLOAD_BYTES).")


def safe_name(name: str | None, default: str = "flux.xml") -> str:
    """A file name fit for reports and storage (no path, no odd characters)."""
    base = os.path.basename((name or "").replace("\\", "/")).strip()
    cleaned = _SAFE_NAME.sub("_", base)[:200].strip("._")
    return cleaned or default


def _chunks(stream: IO[bytes]) -> Iterator[bytes]:
    while chunk := stream.read(CHUNK):
        yield chunk


def _inflate(chunks: Iterator[bytes], limit: int) -> Iterator[bytes]:
    """gunzip a stream, refusing to produce more than ``limit`` bytes (gzip bombs)."""
    inflater = zlib.decompressobj(wbits=31)
    produced = 0
    try:
        for chunk in chunks:
            data = inflater.decompress(chunk, CHUNK)
            while True:
                produced += len(data)
                if produced > limit:
                    raise _too_large(limit, inflated=True)
                if data:
                    yield data
                if not inflater.unconsumed_tail:
                    break
                data = inflater.decompress(inflater.unconsumed_tail, CHUNK)
        tail = inflater.flush()
        if produced + len(tail) > limit:
            raise _too_large(limit, inflated=True)
        if tail:
            yield tail
    except zlib.error:
        raise InvalidInput("The body is declared gzip-encoded but is not valid gzip data.",
                           errors=[{"field": "Content-Encoding", "source": "headers",
                                    "messages": ["not valid gzip"]}]) from None
    if not inflater.eof:
        raise InvalidInput("The gzip data is truncated.")


def _body(request: Request, limit: int) -> tuple[Iterator[bytes], str | None]:
    """The raw bytes of the flux and the name the client gave it."""
    if request.content_length is not None and request.content_length > limit:
        raise _too_large(limit)
    # The app's limit is that of the JSON bodies, which are parsed whole; a flux is
    # streamed to disk and has its own (and what it inflates to, below).
    request.max_content_length = limit
    mimetype = request.mimetype
    if mimetype in XML_TYPES:
        name = request.headers.get("X-File-Name") or request.args.get("file_name")
        return _limited(_chunks(request.stream), limit), name
    if mimetype == "multipart/form-data":
        part = request.files.get("file")
        if part is None:
            raise InvalidInput("Send the flux in a file part named 'file'.", errors=[
                {"field": "file", "source": "files", "messages": ["missing"]}])
        return _limited(_chunks(part.stream), limit), part.filename
    raise UnsupportedMediaType(
        "Send the flux as application/xml, or as multipart/form-data with a 'file' part.")


def _limited(chunks: Iterator[bytes], limit: int) -> Iterator[bytes]:
    seen = 0
    for chunk in chunks:
        seen += len(chunk)
        if seen > limit:
            raise _too_large(limit)
        yield chunk


def receive(request: Request, directory: Path, limit: int, *,
            content_addressed: bool = True) -> Upload:
    """Stream the request's flux into ``directory``: content-addressed (``<sha256>.xml``),
    or a file of its own (``<random>.xml``) for an upload that must not share its copy.
    Storage failing (disk full, volume gone) is `StorageUnavailable`, nothing left behind."""
    chunks, name = _body(request, limit)
    encoding = (request.headers.get("Content-Encoding") or "identity").lower()
    if encoding == "gzip":
        chunks = _inflate(chunks, limit)
    elif encoding != "identity":
        raise UnsupportedMediaType(f"Content-Encoding {encoding} is not supported (gzip is).")
    with storing():
        directory.mkdir(parents=True, exist_ok=True)
        fd, temp = tempfile.mkstemp(dir=directory, prefix=".upload-", suffix=".part")
    digest, size = hashlib.sha256(), 0
    try:
        out = os.fdopen(fd, "wb")
        try:
            for chunk in chunks:  # errors reading the request are the request's
                digest.update(chunk)
                size += len(chunk)
                with storing():
                    out.write(chunk)
        finally:
            with storing():
                out.close()
        if size == 0:
            raise InvalidInput("The file is empty.")
        sha256 = digest.hexdigest()
        target = (directory / sha256[:2] / f"{sha256}.xml" if content_addressed
                  else directory / f"{secrets.token_hex(16)}.xml")
        with storing():
            target.parent.mkdir(exist_ok=True)
            os.replace(temp, target)
    except BaseException:
        Path(temp).unlink(missing_ok=True)
        raise
    return Upload(target, safe_name(name), sha256, size)
