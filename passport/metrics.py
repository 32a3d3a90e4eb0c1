"""Prometheus metrics: ``GET /metrics`` for the operations team.

Two kinds of figures:

* **HTTP**, counted by each process as it answers: requests by method, route *template*
  (``/s/<string:token>``, never the path itself: a path can carry a share token, and
  labels must stay few) and status, and their duration.  Under gunicorn (``passport
  serve``) the workers write them to memory-mapped files in one directory
  (prometheus_client's multiprocess mode) and any worker's scrape adds them all up.
* **Deposits and queue**, read from the database (and the broker) at scrape time, so that
  they are right whichever machine or worker did the work: deposits by status, the age of
  the oldest waiting and of the oldest running one, rejections by error code, passages
  received OK / KO, messages waiting in the Celery queue.

The endpoint is off unless ``PASSPORT_METRICS_TOKEN`` is set; the scraper then sends it
as a bearer token.  Nothing personal is in any label or value.
"""

from __future__ import annotations

import atexit
import datetime as dt
import hmac
import logging
import os
import shutil
import tempfile
import time
from collections.abc import Iterator

import sqlalchemy as sa
from flask import Flask, Response, g, request
from prometheus_client import (
    CollectorRegistry,
    Counter,
    Histogram,
    disable_created_metrics,
    generate_latest,
    values,
)
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.registry import Collector
from sqlalchemy.orm import Session, sessionmaker

from passport.config import Settings
from passport.db import utcnow
from passport.deposits.models import Deposit, DepositStatus, DryRun, DryRunStatus
from passport.maintenance import TASKS, MaintenanceRun, last_runs
from passport.referentials.models import ReferentialImport
from passport.web.errors import problem

log = logging.getLogger(__name__)

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
#: Methods counted under their own name; any other (a client may send anything) is "other".
METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
#: Request durations: a passport read takes a few milliseconds, an upload seconds.
BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)
_MULTIPROCESS = "PROMETHEUS_MULTIPROC_DIR"


def enable_multiprocess() -> str:
    """Make the metrics created from now on shared by forked processes (call it before the
    app is built and gunicorn forks its workers): a fresh directory for their files,
    removed when this process exits; returned."""
    base = "/dev/shm" if os.path.isdir("/dev/shm") else None  # noqa: S108 -- memory, as advised
    directory = tempfile.mkdtemp(prefix="passport-metrics-", dir=base)
    os.environ[_MULTIPROCESS] = directory
    # prometheus_client picks its value class from the environment when first imported.
    values.ValueClass = values.get_value_class()
    master = os.getpid()

    def remove() -> None:
        if os.getpid() == master:  # not the forked workers, which exit first
            shutil.rmtree(directory, ignore_errors=True)

    atexit.register(remove)
    return directory


class HttpMetrics:
    """The HTTP figures of one app."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self.requests = Counter(
            "passport_http_requests", "HTTP requests answered.",
            ("method", "route", "status"), registry=self.registry)
        self.duration = Histogram(
            "passport_http_request_duration_seconds", "Time to answer an HTTP request.",
            ("method", "route"), buckets=BUCKETS, registry=self.registry)

    def observe(self, method: str, route: str, status: int, seconds: float) -> None:
        """Count one answered request."""
        method = method if method in METHODS else "other"
        self.requests.labels(method, route, str(status)).inc()
        self.duration.labels(method, route).observe(seconds)


class StoreCollector(Collector):
    """The figures read from the database (deposits, scheduled jobs, referentials) and the
    broker (queue), at each scrape."""

    def __init__(self, sessions: sessionmaker[Session], settings: Settings) -> None:
        self.sessions = sessions
        self.settings = settings

    def collect(self) -> Iterator[Metric]:
        up = GaugeMetricFamily("passport_database_up",
                               "1 when the database answered the scrape's queries.")
        try:
            figures = list(self._figures())
        except sa.exc.SQLAlchemyError:
            log.warning("metrics: the database does not answer")
            up.add_metric([], 0)
            yield up
        else:
            up.add_metric([], 1)
            yield up
            yield from figures
        if self.settings.celery_broker_url:
            yield from self._queue(self.settings.celery_broker_url)

    def _figures(self) -> Iterator[Metric]:
        d = Deposit.__table__
        now = utcnow()
        with self.sessions() as db:
            runs = {run.task: run for run in last_runs(db)}
            imported = db.execute(
                sa.select(ReferentialImport.kind, sa.func.max(ReferentialImport.finished_at))
                .group_by(ReferentialImport.kind)).all()
            by_status: dict[DepositStatus, int] = dict(db.execute(
                sa.select(d.c.status, sa.func.count()).group_by(d.c.status)).all())
            oldest_waiting, oldest_running = db.execute(sa.select(
                sa.func.min(d.c.received_at).filter(d.c.status == DepositStatus.RECU),
                sa.func.min(d.c.started_at).filter(d.c.status == DepositStatus.EN_COURS),
            )).one()
            rejected = db.execute(
                sa.select(d.c.error_code, sa.func.count())
                .where(d.c.status == DepositStatus.REJETE).group_by(d.c.error_code)).all()
            ok, ko = db.execute(sa.select(sa.func.coalesce(sa.func.sum(d.c.passages_ok), 0),
                                          sa.func.coalesce(sa.func.sum(d.c.passages_ko), 0))
                                ).one()
            r = DryRun.__table__
            dry_runs: dict[DryRunStatus, int] = dict(db.execute(
                sa.select(r.c.status, sa.func.count()).group_by(r.c.status)).all())
            dry_run_waiting = db.scalar(sa.select(sa.func.min(r.c.received_at)).where(
                r.c.status.in_([DryRunStatus.EN_ATTENTE, DryRunStatus.EN_COURS])))
        deposits = GaugeMetricFamily("passport_deposits", "Deposits by status.",
                                     labels=["status"])
        for status in DepositStatus:
            deposits.add_metric([status.value], by_status.get(status, 0))
        yield deposits
        for name, help_text, since in (
            ("passport_deposit_oldest_waiting_seconds",
             "Age of the oldest deposit waiting for a worker (RECU); 0 when none waits.",
             oldest_waiting),
            ("passport_deposit_oldest_running_seconds",
             "Time the oldest deposit in processing (EN_COURS) has been running; 0 if none.",
             oldest_running),
        ):
            gauge = GaugeMetricFamily(name, help_text)
            gauge.add_metric([], _age(now, since))
            yield gauge
        refused = CounterMetricFamily("passport_deposits_rejected",
                                      "Deposits rejected as a whole, by error code.",
                                      labels=["error_code"])
        for code, count in rejected:
            refused.add_metric([code or "unknown"], count)
        yield refused
        passages = CounterMetricFamily("passport_passages_received",
                                       "Passages of processed deposits, by outcome.",
                                       labels=["outcome"])
        passages.add_metric(["ok"], ok)
        passages.add_metric(["ko"], ko)
        yield passages
        queued = GaugeMetricFamily(
            "passport_dry_runs", "Queued dry runs by status (those not yet expired, and "
            "expired ones until the clean-up).", labels=["status"])
        for dry_status in DryRunStatus:
            queued.add_metric([dry_status.value], dry_runs.get(dry_status, 0))
        yield queued
        oldest = GaugeMetricFamily(
            "passport_dry_run_oldest_pending_seconds",
            "Age of the oldest queued dry run waiting or running; 0 when none.")
        oldest.add_metric([], _age(now, dry_run_waiting))
        yield oldest
        yield from _maintenance(runs)
        referentials = GaugeMetricFamily(
            "passport_referential_imported_timestamp_seconds",
            "When each referential (rncp, rs, rncp-csv, rome) was last imported.",
            labels=["referential"])
        for kind, finished in imported:
            if finished is not None:
                referentials.add_metric([kind], _timestamp(finished))
        yield referentials

    def _queue(self, url: str) -> Iterator[Metric]:
        from passport.worker import QUEUES

        if not url.startswith(("redis://", "rediss://")):
            return  # another broker: its own exporter tells its queues
        import redis

        up = GaugeMetricFamily("passport_broker_up", "1 when the Celery broker answered.")
        waiting = GaugeMetricFamily(
            "passport_queue_messages", "Jobs waiting in each Celery queue (`passport worker "
            "--queues` names them: deposits, dry-runs).", labels=["queue"])

        try:
            with redis.Redis.from_url(url, socket_timeout=2, socket_connect_timeout=2) as r:
                lengths = [r.llen(queue) for queue in QUEUES.values()]
        except redis.RedisError:
            log.warning("metrics: the broker does not answer")
            up.add_metric([], 0)
            yield up
            return
        up.add_metric([], 1)
        for name, length in zip(QUEUES, lengths, strict=True):
            waiting.add_metric([name], length)
        yield up
        yield waiting


def _maintenance(runs: dict[str, MaintenanceRun]) -> Iterator[Metric]:
    """When each scheduled job last succeeded and failed (0: never), and whether its last
    run succeeded (absent until it ran once)."""
    success = GaugeMetricFamily(
        "passport_maintenance_last_success_timestamp_seconds",
        "When each scheduled job last succeeded (0: never).", labels=["task"])
    failure = GaugeMetricFamily(
        "passport_maintenance_last_failure_timestamp_seconds",
        "When each scheduled job last failed (0: never).", labels=["task"])
    last_ok = GaugeMetricFamily(
        "passport_maintenance_last_run_ok",
        "1 when the scheduled job's last run succeeded, 0 when it failed.", labels=["task"])
    for task in TASKS:
        run = runs.get(task)
        success.add_metric([task], _timestamp(run.last_success_at if run else None))
        failure.add_metric([task], _timestamp(run.last_failure_at if run else None))
        if run is not None and run.last_ok is not None:
            last_ok.add_metric([task], 1 if run.last_ok else 0)
    yield success
    yield failure
    yield last_ok


def _timestamp(when: dt.datetime | None) -> float:
    if when is None:
        return 0.0
    if when.tzinfo is None:  # SQLite hands back naive UTC from an aggregate
        when = when.replace(tzinfo=dt.UTC)
    return when.timestamp()


def _age(now: dt.datetime, since: dt.datetime | None) -> float:
    return 0.0 if since is None else max(0.0, now.timestamp() - _timestamp(since))


def init_app(app: Flask, settings: Settings, sessions: sessionmaker[Session]) -> None:
    """Count every request; serve ``/metrics`` when a scrape token is configured."""
    disable_created_metrics()  # one series less per label set; Prometheus does without
    http = HttpMetrics()
    store = StoreCollector(sessions, settings)
    app.extensions["passport.metrics"] = http

    @app.before_request
    def _start() -> None:
        g.metrics_started = time.perf_counter()

    @app.after_request
    def _count(response: Response) -> Response:
        started = g.pop("metrics_started", None)
        if started is not None:
            route = request.url_rule.rule if request.url_rule else "(unmatched)"
            http.observe(request.method, route, response.status_code,
                         time.perf_counter() - started)
        return response

    @app.get("/metrics")
    def metrics() -> Response:
        token = settings.metrics_token
        if token is None:
            return problem(404, "not_found", "Not Found",
                           "Metrics are off (PASSPORT_METRICS_TOKEN is not set).")
        given = request.headers.get("Authorization", "")
        if not hmac.compare_digest(given.encode(), f"Bearer {token}".encode()):
            return problem(401, "invalid_token", "Unauthorized",
                           "The metrics scrape token is missing or wrong.",
                           headers={"WWW-Authenticate": 'Bearer realm="metrics"'})
        shared = CollectorRegistry()
        if _MULTIPROCESS in os.environ:  # every worker's figures, from their files
            MultiProcessCollector(shared)
        else:
            shared = http.registry
        scrape = CollectorRegistry()
        scrape.register(store)
        return Response(generate_latest(shared) + generate_latest(scrape),
                        content_type=CONTENT_TYPE)
