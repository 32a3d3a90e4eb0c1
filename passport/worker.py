"""Celery workers for deposit jobs (``passport worker`` with ``PASSPORT_CELERY_BROKER_URL``).

Delivery is at least once: messages are acknowledged after the job (``acks_late``) and
given back when a worker process dies (``reject_on_worker_lost``); each worker takes one
message at a time. A second delivery of a job is harmless (see `passport.jobs`), and each
worker also sweeps for deposits left behind, so a message lost with its broker is not a
deposit lost.
"""

from __future__ import annotations

import logging
import os
from typing import Any

from celery import Celery, signals

from passport.config import Settings

log = logging.getLogger(__name__)
QUEUE = "passport"
#: Queued dry runs have their own queue: anyone may queue one, and they must not hold up
#: the certifiers' deposits (`passport worker --queues`).
DRY_RUN_QUEUE = "passport-dry-runs"
#: ``passport worker --queues`` names.
QUEUES = {"deposits": QUEUE, "dry-runs": DRY_RUN_QUEUE}


def make_celery(settings: Settings) -> Celery:
    """A Celery app for these settings (producer side and worker side alike)."""
    app = Celery("passport", broker=settings.celery_broker_url, set_as_current=False)
    app.conf.update(
        task_default_queue=QUEUE,
        task_routes={"passport.validate_upload": {"queue": DRY_RUN_QUEUE}},
        task_acks_late=True,
        task_reject_on_worker_lost=True,
        task_ignore_result=True,
        worker_prefetch_multiplier=1,
        worker_hijack_root_logger=False,
        broker_connection_retry_on_startup=True,
        # A message not acknowledged within this time is delivered again (a job that long
        # is still safe: its claim is renewed, the second delivery does nothing).
        broker_transport_options={"visibility_timeout": max(3600, 4 * settings.job_lease_seconds)},
    )
    app.task(name="passport.process_deposit", bind=False)(process_deposit)
    app.task(name="passport.validate_upload", bind=False)(validate_upload)
    return app


_context: Any = None


def context() -> Any:
    """This process's job context (created after the fork, never inherited from it)."""
    global _context
    if _context is None or _context[0] != os.getpid():
        from passport.db import make_engine, make_session_factory
        from passport.jobs import JobContext
        from passport.nir import NirVault

        settings = Settings.from_env()
        ctx = JobContext(settings, make_session_factory(make_engine(settings.database_url)),
                         NirVault(settings))
        _context = (os.getpid(), ctx)
    return _context[1]


def process_deposit(deposit_id: int) -> str | None:
    """The Celery task: one deposit (the same function the in-process pool runs)."""
    from passport.jobs import run_deposit

    return run_deposit(context(), deposit_id)


def validate_upload(dry_run_id: int) -> str | None:
    """The Celery task of a queued dry run (the in-process pool runs the same function)."""
    from passport.deposits import dryruns

    status = dryruns.run(context(), dry_run_id)
    return status.value if status is not None else None


@signals.worker_process_init.connect
def _start_reader(**_: Any) -> None:
    """Each worker process has its flux reader process ready before its first deposit (and
    keeps it from one deposit to the next: `ingestion.pipeline`)."""
    from ingestion.pipeline import start_reader

    start_reader(context().settings.flux_schema)


@signals.worker_ready.connect
def _start_sweeper(sender: Any = None, **_: Any) -> None:
    """Every worker sweeps for deposits left behind and queues them again."""
    from passport.jobs import CeleryQueue, Sweeper

    ctx = context()
    queue = CeleryQueue(ctx.settings, sender.app if sender is not None else None)
    Sweeper(ctx.sessions, queue, ctx.settings.recover_every_seconds).start()


#: For ``celery -A passport.worker worker`` (``passport worker`` does the same).
celery = make_celery(Settings.from_env()) if os.environ.get("PASSPORT_CELERY_BROKER_URL") \
    else None
