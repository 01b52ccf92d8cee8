"""Scale-out executor: Celery workers run ledger rows; a task carries row ids only.

Celery's own retries are off (the ledger's retcode policy decides), ``acks_late`` is on and
the prefetch is 1, so a lost worker costs at most the rows it held, which the sweeper recovers
from the ledger. Start a worker with ``make worker`` (or ``celery -A wsgi:celery worker`` from
``backend/``: ``wsgi.py`` builds the worker's app and binds it here). With
``WORKER_METRICS_PORT`` set, the worker serves the orders it recorded and their fan-out latency
for Prometheus (``services.metrics.serve_worker_metrics``); run it with ``--pool threads`` (as
``make worker`` does), so the tasks run in the process that serves them.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from celery import Celery, signals
from flask import Flask
from sqlalchemy.exc import DBAPIError

from config import load_config
from extensions import db
from ledger import leases, recovery, rows, store
from ledger.execution import execute_job
from ledger.jobs import load_jobs_or_fail
from ledger.types import RowOutcome
from services.metrics import observe_outcomes, serve_worker_metrics
from utils.runtime import settle_heap

logger = logging.getLogger("workers.celery")

celery = Celery("mt5_ledger")
celery.conf.update(
    broker_url=load_config()["CELERY_BROKER_URL"],
    task_acks_late=True,
    task_reject_on_worker_lost=True,
    worker_prefetch_multiplier=1,
    task_ignore_result=True,
    task_serializer="json",
    accept_content=["json"],
    task_default_queue="ledger",
    broker_connection_retry_on_startup=True,
    worker_hijack_root_logger=False,
    worker_redirect_stdouts=False,
)

_worker_app: Flask | None = None
_pool: ThreadPoolExecutor | None = None
TASK_BATCH = 25
JOB_THREADS = int(os.environ.get("WORKER_JOB_THREADS", "256"))
_worker_lock = threading.Lock()
OWNER = leases.new_owner_id()
SWEEP_INTERVAL_S = 5.0
REDRIVE_AFTER_S = 30
RECORD_PATIENCE_S = 60.0


def bind_worker_app(app: Flask) -> None:
    """The Flask app this worker process runs tasks in (wsgi.py binds it)."""
    global _worker_app
    with _worker_lock:
        _worker_app = app


def worker_app() -> Flask:
    """The Flask app of this worker process (database, gateway, secret box)."""
    if _worker_app is None:
        raise RuntimeError("no app bound: start workers with `celery -A wsgi:celery worker`")
    return _worker_app


@celery.task(name="ledger.execute_rows", acks_late=True, max_retries=0)
def execute_rows(row_ids: Sequence[int]) -> int:
    """Claim what can be claimed of these rows, execute, record, chain each account's next row."""
    app = worker_app()
    with app.app_context():
        try:
            claimed = store.claim_rows(db.session, owner=OWNER, row_ids=list(row_ids))
            jobs, broken = load_jobs_or_fail(
                db.session,
                claimed,
                app.extensions["secret_box"],
                app.config["TRADING_DAY_START_UTC"],
            )
            gateway = app.extensions["mt5_gateway"]
            hooks = app.config.get("EXECUTOR_HOOKS")
            # The rows of one task belong to different accounts (different terminals): send them
            # side by side, then record them in one transaction.
            outcomes = broken + list(
                _job_pool().map(lambda job: execute_job(job, gateway, hooks=hooks), jobs)
            )
            _record_while_the_database_is_away(outcomes)
            observe_outcomes(app, outcomes)
            accounts = [job.account_id for job in jobs]
            following = recovery.next_heads_for_accounts(db.session, accounts)
        finally:
            db.session.remove()
    enqueue_rows(following)
    return len(claimed)


def _record_while_the_database_is_away(outcomes: list[RowOutcome]) -> None:
    """The orders went out: their outcomes must be recorded. A database restart or failover
    (seconds) is waited out with backoff rather than leaving the rows in flight for a lease
    (minutes) and then reconciling each with its broker; past RECORD_PATIENCE_S it gives up,
    and the sweeper does exactly that."""
    deadline = time.monotonic() + RECORD_PATIENCE_S
    failures = 0
    while True:
        try:
            store.record_outcomes(db.session, outcomes, owner=OWNER)
            return
        except DBAPIError:
            failures += 1
            db.session.rollback()
            db.session.remove()
            if time.monotonic() >= deadline:
                raise
            logger.warning("recording %s outcome(s) failed (%s in a row); retrying",
                           len(outcomes), failures)  # fmt: skip
            time.sleep(min(5.0, 0.1 * 2 ** (failures - 1)))


def enqueue_rows(row_ids: Sequence[int]) -> None:
    """One task per TASK_BATCH rows: a claim, a load and a record per batch, not per row."""
    ids = list(row_ids)
    for start in range(0, len(ids), TASK_BATCH):
        execute_rows.delay(ids[start : start + TASK_BATCH])


def _job_pool() -> ThreadPoolExecutor:
    global _pool
    with _worker_lock:
        if _pool is None:
            _pool = ThreadPoolExecutor(JOB_THREADS, thread_name_prefix="ledger-send")
        return _pool


def sweep_once(app: Flask) -> int:
    with app.app_context():
        try:
            recovery.recover_abandoned(db.session)
            recovery.expire_overdue(db.session)
            heads = recovery.pending_heads(db.session, older_than_s=REDRIVE_AFTER_S)
        finally:
            db.session.remove()
    enqueue_rows(heads)
    return len(heads)


def _sweeper_loop() -> None:
    app = worker_app()
    while True:
        try:
            sweep_once(app)
        except Exception:
            logger.exception("sweeper pass failed")
        time.sleep(SWEEP_INTERVAL_S)


@signals.worker_ready.connect
def _start_sweeper(**_: Any) -> None:
    """Recover at start-up (a restarted worker finds its predecessor's rows), then periodically."""
    app = worker_app()
    with app.app_context():
        recovery.recover_abandoned(db.session)
        heads = recovery.pending_heads(db.session)
        db.session.remove()
    enqueue_rows(heads)
    threading.Thread(target=_sweeper_loop, name="ledger-sweeper", daemon=True).start()


def start_metrics_endpoint(app: Flask) -> Any:
    """The worker's Prometheus endpoint when WORKER_METRICS_PORT is set (None when off or when
    it cannot listen: the worker runs on without it, and its scrape target shows down)."""
    port = int(app.config.get("WORKER_METRICS_PORT") or 0)
    if not port:
        return None
    host = str(app.config.get("WORKER_METRICS_HOST") or "127.0.0.1")
    try:
        server = serve_worker_metrics(app, host, port, token=app.config.get("METRICS_TOKEN", ""))
    except (OSError, OverflowError) as exc:
        logger.error(
            "worker metrics: cannot listen on %s:%s (%s); running without the endpoint",
            host,
            port,
            exc,
        )
        return None
    logger.info("worker metrics on http://%s:%s/metrics", host, port)
    return server


@signals.worker_ready.connect
def _start_notifier(**_: Any) -> None:
    """Each worker delivers notifications too; deliveries are claimed by one at a time."""
    app = worker_app()
    if app.config["NOTIFY_ENABLED"]:
        app.extensions["notifier"].start()


@signals.worker_ready.connect
def _start_metrics(**_: Any) -> None:
    start_metrics_endpoint(worker_app())


@signals.worker_ready.connect
def _settle_heap(**_: Any) -> None:
    """A worker's start-up heap is frozen as ``python app.py``'s is (utils/runtime.py): its
    order threads meet no full collection of what start-up made."""
    settle_heap()


class CeleryExecutor:
    """The web side in scale-out: after commit, one task per row of the dispatch."""

    kind = "celery"

    def __init__(self, app: Flask) -> None:
        self.app = app
        celery.conf.broker_url = app.config["CELERY_BROKER_URL"]

    def start(self) -> None:
        return None

    def stop(self, timeout: float = 10.0) -> None:
        return None

    def submit_dispatch(self, dispatch_id: int) -> None:
        with self.app.app_context():
            row_ids = rows.pending_rows_of(db.session, dispatch_id)
            db.session.remove()
        enqueue_rows(row_ids)

    def wait_dispatch(self, dispatch_id: int, timeout: float) -> None:
        time.sleep(min(timeout, 0.05))  # outcomes are recorded by other processes: poll

    def wait_changed(self, timeout: float) -> None:
        time.sleep(min(timeout, 0.05))

    def health(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "running": True,
            "broker": _redacted(self.app.config["CELERY_BROKER_URL"]),
        }


def _redacted(url: str) -> str:
    scheme, sep, rest = url.partition("://")
    return f"{scheme}{sep}{rest.rsplit('@', 1)[-1]}"
