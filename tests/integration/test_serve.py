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


def _dry_run(port: int, data: bytes) -> int:
    request = urllib.request.Request(f"http://127.0.0.1:{port}/api/v1/flux/validate",
                                     data=data, headers={"Content-Type": "application/xml"})
    try:
        with urllib.request.urlopen(request, timeout=120) as answer:  # noqa: S310 -- loopback
            assert json.loads(answer.read())["schema_valid"] is False
            return int(answer.status)
    except urllib.error.HTTPError as exc:
        return exc.code
    except OSError:  # the worker died before answering
        return 0


def test_a_request_may_run_for_the_configured_time(database_url: str, engine: object,
                                                   tmp_path: Path) -> None:
    # gunicorn's default (30 s) killed the dry run of a 200,000-passage file with an error
    # near its end (70 s); PASSPORT_REQUEST_TIMEOUT reaches gunicorn, 300 s by default.
    from tests.flux import document, passage

    data = document([passage(f"P-{i}") for i in range(20000)] + [passage("Z", sexe="X")])
    outcomes = {}
    for timeout in ("1", None):
        port = free_port()
        environ = {**os.environ, **production_environment(),
                   "PASSPORT_DATABASE_URL": database_url, "PASSPORT_INSTANCE_DIR": str(tmp_path)}
        if timeout:
            environ["PASSPORT_REQUEST_TIMEOUT"] = timeout
        process = subprocess.Popen([PASSPORT, "serve", "--port", str(port), "--workers", "1"],
                                   env=environ, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        try:
            wait_for_health(port, process)
            started = time.monotonic()
            status = _dry_run(port, data)
            outcomes[timeout] = (status, time.monotonic() - started)
        finally:
            process.terminate()
            output = process.communicate(timeout=30)[0].decode()
        assert ("WORKER TIMEOUT" in output) is (timeout == "1"), output[-2000:]
    (killed, _), (answered, took) = outcomes["1"], outcomes[None]
    assert killed in (0, 500)
    assert answered == 200 and took > 2, took  # longer than the worker was given above
