"""``GET /metrics``: what the operations team scrapes, in process, under gunicorn, and by a
real Prometheus (Debian's) scraping ``passport serve``."""

from __future__ import annotations

import datetime as dt
import json
import os
import shutil
import subprocess
import time
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any

import pytest
import redis
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy.orm import Session, sessionmaker

from passport.config import ConfigurationError, Settings
from passport.db import unit_of_work, utcnow
from passport.deposits.models import Deposit, DepositStatus, DryRun, DryRunStatus
from tests.integration.test_serve import wait_for_health
from tests.privacy import SESSION
from tests.workers import PASSPORT, free_port, redis_server

TOKEN = "scrape-token-for-tests-0123456789"
SCRAPE = {"Authorization": f"Bearer {TOKEN}"}


def environment(database_url: str, tmp_path: Path, **extra: str) -> dict[str, str]:
    return {"PASSPORT_ENV": "test", "PASSPORT_DATABASE_URL": database_url,
            "PASSPORT_INSTANCE_DIR": str(tmp_path / "instance"),
            "PASSPORT_METRICS_TOKEN": TOKEN, **extra}


@pytest.fixture
def build(make_app: Any) -> Any:
    """Apps from environment variables (built by `make_app`, disposed after the test)."""
    return lambda env: make_app(Settings.from_env(env))


def samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Every sample of a scrape, by name and labels (parsed as Prometheus does)."""
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for family in text_string_to_metric_families(text) for s in family.samples}


def value(text: str, name: str, **labels: str) -> float | None:
    return samples(text).get((name, tuple(sorted(labels.items()))))


def test_metrics_are_off_without_a_token(build: Any, database_url: str, tmp_path: Path) -> None:
    env = environment(database_url, tmp_path)
    del env["PASSPORT_METRICS_TOKEN"]
    response = build(env).test_client().get("/metrics")
    assert response.status_code == 404
    assert response.json["code"] == "not_found"


def test_the_scrape_needs_the_token(build: Any, database_url: str, tmp_path: Path) -> None:
    client = build(environment(database_url, tmp_path)).test_client()
    for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": TOKEN}):
        refused = client.get("/metrics", headers=headers)
        assert refused.status_code == 401, headers
        assert refused.json["code"] == "invalid_token"
        assert refused.headers["WWW-Authenticate"] == 'Bearer realm="metrics"'
    assert client.get("/metrics", headers=SCRAPE).status_code == 200


@pytest.mark.parametrize("token", ["short", "with a space in it, long enough", "tab\there-long-enough"])
def test_a_weak_token_is_refused_at_start(database_url: str, tmp_path: Path, token: str) -> None:
    env = environment(database_url, tmp_path, PASSPORT_METRICS_TOKEN=token)
    with pytest.raises(ConfigurationError, match="PASSPORT_METRICS_TOKEN"):
        Settings.from_env(env)


def test_requests_are_counted_by_route_template(build: Any, database_url: str,
                                               tmp_path: Path) -> None:
    client = build(environment(database_url, tmp_path)).test_client()
    for _ in range(3):
        assert client.get("/health").status_code == 200
    share_token = "AbCdEfGhIjKlMnOpQrStUvWxYz012345"
    assert client.get(f"/s/{share_token}").status_code == 404
    assert client.get("/no/such/page").status_code == 404
    assert client.open("/health", method="BREW").status_code == 405
    text = client.get("/metrics", headers=SCRAPE).get_data(as_text=True)
    assert value(text, "passport_http_requests_total", method="GET", route="/health",
                 status="200") == 3
    assert value(text, "passport_http_request_duration_seconds_count", method="GET",
                 route="/health") == 3
    assert value(text, "passport_http_requests_total", method="GET",
                 route="/s/<string:token>", status="404") == 1
    assert value(text, "passport_http_requests_total", method="GET", route="(unmatched)",
                 status="404") == 1
    # An unknown method is "other": a client cannot add label values at will.
    assert value(text, "passport_http_requests_total", method="other", route="(unmatched)",
                 status="405") == 1
    # The path itself (a capability, here) is never a label.
    assert share_token not in text and "/no/such/page" not in text
    SESSION.scan("metrics", "GET /metrics", text)


def test_deposit_figures_come_from_the_database(build: Any, database_url: str, tmp_path: Path,
                                                committed: sessionmaker[Session]) -> None:
    now = utcnow()

    def deposit(n: int, status: DepositStatus, **fields: Any) -> Deposit:
        return Deposit(file_name=f"f{n}.xml", sha256=f"{n:064x}", size_bytes=100,
                       status=status, **fields)

    with unit_of_work(committed) as db:
        db.add_all([
            deposit(1, DepositStatus.RECU, received_at=now - dt.timedelta(seconds=300)),
            deposit(2, DepositStatus.RECU, received_at=now - dt.timedelta(seconds=30)),
            deposit(3, DepositStatus.EN_COURS, started_at=now - dt.timedelta(seconds=90)),
            deposit(4, DepositStatus.TRAITE, passages_ok=40),
            deposit(5, DepositStatus.TRAITE_AVEC_ERREURS, passages_ok=7, passages_ko=3),
            deposit(6, DepositStatus.REJETE, error_code="schema"),
            deposit(7, DepositStatus.REJETE, error_code="schema"),
            deposit(8, DepositStatus.REJETE, error_code="flux_deja_recu"),
        ])
    client = build(environment(database_url, tmp_path)).test_client()
    text = client.get("/metrics", headers=SCRAPE).get_data(as_text=True)
    assert value(text, "passport_database_up") == 1
    assert {status.value: value(text, "passport_deposits", status=status.value)
            for status in DepositStatus} == {"RECU": 2, "EN_COURS": 1, "TRAITE": 1,
                                             "TRAITE_AVEC_ERREURS": 1, "REJETE": 3}
    waiting = value(text, "passport_deposit_oldest_waiting_seconds")
    running = value(text, "passport_deposit_oldest_running_seconds")
    assert waiting is not None and 300 <= waiting < 360
    assert running is not None and 90 <= running < 150
    assert value(text, "passport_deposits_rejected_total", error_code="schema") == 2
    assert value(text, "passport_deposits_rejected_total", error_code="flux_deja_recu") == 1
    assert value(text, "passport_passages_received_total", outcome="ok") == 47
    assert value(text, "passport_passages_received_total", outcome="ko") == 3
    SESSION.scan("metrics", "GET /metrics", text)


def test_queued_dry_runs_are_counted(build: Any, database_url: str, tmp_path: Path,
                                     committed: sessionmaker[Session]) -> None:
    now = utcnow()

    def dry_run(n: int, status: DryRunStatus, received_ago: int) -> DryRun:
        return DryRun(token_sha256=f"{n:064x}", file_name="f.xml", size_bytes=1, status=status,
                      received_at=now - dt.timedelta(seconds=received_ago),
                      expires_at=now + dt.timedelta(hours=1))

    client = build(environment(database_url, tmp_path)).test_client()
    text = client.get("/metrics", headers=SCRAPE).get_data(as_text=True)
    assert value(text, "passport_dry_run_oldest_pending_seconds") == 0
    with unit_of_work(committed) as db:
        db.add_all([dry_run(1, DryRunStatus.EN_ATTENTE, 40), dry_run(2, DryRunStatus.EN_COURS, 200),
                    dry_run(3, DryRunStatus.TERMINE, 900), dry_run(4, DryRunStatus.TERMINE, 5)])
    text = client.get("/metrics", headers=SCRAPE).get_data(as_text=True)
    assert {s.value: value(text, "passport_dry_runs", status=s.value) for s in DryRunStatus} == {
        "EN_ATTENTE": 1, "EN_COURS": 1, "TERMINE": 2, "ECHEC": 0}
    pending = value(text, "passport_dry_run_oldest_pending_seconds")
    assert pending is not None and 200 <= pending < 260


def test_a_database_down_is_a_figure_not_a_failed_scrape(build: Any, tmp_path: Path) -> None:
    # A database without our tables: every deposit query fails.
    url = f"sqlite:///{tmp_path / 'empty.sqlite3'}"
    text = build(environment(url, tmp_path)).test_client().get(
        "/metrics", headers=SCRAPE).get_data(as_text=True)
    assert value(text, "passport_database_up") == 0
    assert value(text, "passport_deposits", status="RECU") is None


def test_the_queue_length_is_read_from_the_broker(build: Any, database_url: str,
                                                  tmp_path: Path) -> None:
    with redis_server(tmp_path) as url:
        with redis.Redis.from_url(url) as r:
            r.rpush("passport", "job-1", "job-2", "job-3")
            r.rpush("passport-dry-runs", "dry-run-1")
        client = build(environment(database_url, tmp_path,
                                   PASSPORT_CELERY_BROKER_URL=url)).test_client()
        text = client.get("/metrics", headers=SCRAPE).get_data(as_text=True)
        assert value(text, "passport_broker_up") == 1
        assert value(text, "passport_queue_messages", queue="deposits") == 3
        assert value(text, "passport_queue_messages", queue="dry-runs") == 1
    # The broker gone: said, and the scrape still answers.
    text = client.get("/metrics", headers=SCRAPE).get_data(as_text=True)
    assert value(text, "passport_broker_up") == 0
    assert value(text, "passport_queue_messages", queue="deposits") is None


def _get(url: str, headers: dict[str, str] | None = None) -> bytes:
    request = urllib.request.Request(url, headers=headers or {})  # noqa: S310 -- loopback http
    with urllib.request.urlopen(request, timeout=5) as response:  # noqa: S310 -- loopback
        return response.read()  # type: ignore[no-any-return]


@pytest.mark.slow
def test_gunicorn_workers_add_up_and_prometheus_scrapes_them(
        database_url: str, engine: object, tmp_path: Path) -> None:
    prometheus = shutil.which("prometheus")
    if prometheus is None:
        pytest.fail("prometheus is missing: apt-get install prometheus (make test does)")
    port, prom_port = free_port(), free_port()
    shm = Path("/dev/shm")  # noqa: S108 -- where passport serve keeps the workers' figures
    before = set(shm.glob("passport-metrics-*"))
    base = f"http://127.0.0.1:{port}"
    env = {**os.environ, **environment(database_url, tmp_path)}
    server = subprocess.Popen([PASSPORT, "serve", "--port", str(port), "--workers", "3"],
                              env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    scraper = None
    try:
        wait_for_health(port, server)
        for _ in range(29):  # 30 with the one above, spread over the three workers
            _get(base + "/health")
        # Each scrape is answered by one worker, yet counts every worker's requests.
        for _ in range(4):
            text = _get(base + "/metrics", SCRAPE).decode()
            assert value(text, "passport_http_requests_total", method="GET", route="/health",
                         status="200") == 30
        # A real Prometheus, scraping with the token.
        config = tmp_path / "prometheus.yml"
        config.write_text(json.dumps({  # YAML is a superset of JSON
            "global": {"scrape_interval": "1s"},
            "scrape_configs": [{"job_name": "passport",
                                "authorization": {"credentials": TOKEN},
                                "static_configs": [{"targets": [f"127.0.0.1:{port}"]}]}]}))
        scraper = subprocess.Popen(
            [prometheus, f"--config.file={config}", f"--storage.tsdb.path={tmp_path / 'tsdb'}",
             f"--web.listen-address=127.0.0.1:{prom_port}"],
            stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
        query = urllib.parse.quote('sum(passport_http_requests_total{route="/health"}) '
                                   '* on() group_left() up{job="passport"}')
        deadline, result = time.monotonic() + 60, None
        while time.monotonic() < deadline:
            assert scraper.poll() is None, "prometheus exited"
            try:
                answer = json.loads(_get(f"http://127.0.0.1:{prom_port}/api/v1/query?query={query}"))
                result = answer["data"]["result"]
            except OSError:
                result = None
            if result:
                break
            time.sleep(0.5)
        assert result, "Prometheus never scraped the service"
        assert float(result[0]["value"][1]) == 30
    finally:
        if scraper is not None:
            scraper.terminate()
            scraper.wait(30)
        server.terminate()
        output = server.communicate(timeout=30)[0].decode()
    assert "Booting worker" in output
    # The workers' figures went with the server.
    assert set(shm.glob("passport-metrics-*")) == before
