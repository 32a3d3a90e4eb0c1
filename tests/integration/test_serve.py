"""`passport serve` runs the service: Flask's server in development, gunicorn otherwise."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from tests.conftest import production_environment
from tests.workers import free_port

PASSPORT = str(Path(sys.executable).with_name("passport"))
pytestmark = pytest.mark.slow


def wait_for_health(port: int, process: subprocess.Popen[bytes]) -> dict[str, str]:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        assert process.poll() is None, "the server exited"
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=2) as r:
                assert r.status == 200
                return json.loads(r.read())  # type: ignore[no-any-return]
        except OSError:
            time.sleep(0.2)
    raise AssertionError("the server never answered")


@pytest.mark.parametrize("env", ["development", "production"])
def test_serve_answers_health(env: str, database_url: str, engine: object, tmp_path: Path) -> None:
    port = free_port()
    environ = {**os.environ, "PASSPORT_ENV": env, "PASSPORT_DATABASE_URL": database_url,
               "PASSPORT_INSTANCE_DIR": str(tmp_path)}
    if env == "production":
        environ |= production_environment()
    process = subprocess.Popen([PASSPORT, "serve", "--port", str(port), "--workers", "2"],
                               env=environ, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        assert wait_for_health(port, process) == {"status": "ok", "database": "ok"}
        traced = urllib.request.Request(f"http://127.0.0.1:{port}/health",
                                        headers={"X-Request-ID": "lb-trace-0042"})
        with urllib.request.urlopen(traced, timeout=5) as answer:  # noqa: S310 -- loopback
            assert answer.headers["X-Request-ID"] == "lb-trace-0042"
    finally:
        process.terminate()
        output = process.communicate(timeout=30)[0].decode()
    if env == "production":
        assert "gunicorn" in output.lower() or "Booting worker" in output
        # gunicorn's access log names each request's id.
        assert re.search(r'"GET /health HTTP/1\.1" 200 .* lb-trace-0042$', output, re.MULTILINE)
