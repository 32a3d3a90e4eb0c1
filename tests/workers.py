"""Real servers and workers for the job tests: a throwaway Redis (Debian's redis-server)
and ``passport worker`` processes (Celery, prefork) against the test database."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from tests import privacy

PASSPORT = str(Path(sys.executable).with_name("passport"))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def redis_server(tmp: Path) -> Iterator[str]:
    """A Redis on a loopback port, no persistence; its URL."""
    binary = shutil.which("redis-server") or "/usr/bin/redis-server"
    if not Path(binary).exists():
        pytest.fail("redis-server is missing: apt-get install redis-server (make test does)")
    port = free_port()
    process = subprocess.Popen(
        [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
         "--dir", str(tmp), "--protected-mode", "yes"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 10
    while True:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2) as conn:
                conn.sendall(b"PING\r\n")
                if conn.recv(16).startswith(b"+PONG"):
                    break
        except OSError:
            pass
        assert process.poll() is None and time.monotonic() < deadline, "redis did not start"
        time.sleep(0.05)
    try:
        yield f"redis://127.0.0.1:{port}/0"
    finally:
        process.terminate()
        process.wait(10)


class Worker:
    """One ``passport worker`` (a Celery worker and its pool) in its own process group."""

    def __init__(self, env: dict[str, str], log: Path, concurrency: int = 1,
                 queues: str | None = None) -> None:
        self.log = log
        self.handle = log.open("wb")
        self.process = subprocess.Popen(
            [PASSPORT, "worker", "--concurrency", str(concurrency), "--loglevel", "INFO",
             *(["--queues", queues] if queues else [])],
            env=env, stdout=self.handle, stderr=subprocess.STDOUT, start_new_session=True)

    def wait_ready(self, timeout: float = 60) -> Worker:
        deadline = time.monotonic() + timeout
        while b" ready." not in self.log.read_bytes():
            assert self.process.poll() is None, self.output()
            assert time.monotonic() < deadline, self.output()
            time.sleep(0.1)
        return self

    def readers(self) -> set[int]:
        """The flux reader processes its pool processes keep (`ingestion.pipeline`)."""
        import psutil

        found = set()
        for process in psutil.Process(self.process.pid).children(recursive=True):
            try:
                if "ingestion.reader_process" in process.cmdline():
                    found.add(process.pid)
            except psutil.Error:
                continue
        return found

    def output(self) -> str:
        return self.log.read_text(errors="replace")[-4000:]

    def kill(self) -> None:
        """SIGKILL to the whole group: the worker and its pool processes, mid-job."""
        os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(10)
        privacy.SESSION.scan_file("child process logs", self.log)

    def stop(self) -> None:
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(30)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(10)
        privacy.SESSION.scan_file("child process logs", self.log)
        self.handle.close()
