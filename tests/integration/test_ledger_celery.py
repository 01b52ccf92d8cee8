"""The ledger's guarantees on the scale-out stack: PostgreSQL, Redis and real Celery workers."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from pathlib import Path

import pytest
from factories import TEST_CONFIG, require_service
from ledger_helpers import broker_fills, new_dispatch, seed_accounts, wait_final

from extensions import db

WORKER = Path(__file__).with_name("celery_worker.py")


@pytest.fixture
def redis_url():
    require_service("Redis", "127.0.0.1", 6379)
    import redis

    # TEST_REDIS_DB: checkouts testing side by side on one Redis each take their own database.
    url = f"redis://127.0.0.1:6379/{os.environ.get('TEST_REDIS_DB', '7')}"
    client = redis.Redis.from_url(url)
    client.flushdb()
    yield url
    client.flushdb()
    client.close()


@pytest.fixture
def scale_out(tmp_path, pg_url, redis_url):
    from app import create_app, init_database

    config = {
        **TEST_CONFIG,
        "SQLALCHEMY_DATABASE_URI": pg_url,
        "LOG_DIR": tmp_path / "logs",
        "MT5_SIM_DB": str(tmp_path / "web-sim.sqlite"),
        "EXECUTOR": "celery",
        "CELERY_BROKER_URL": redis_url,
        "EXECUTOR_AUTOSTART": False,
    }
    init_database(config)
    app = create_app(config)
    env = {
        **os.environ,
        "DATABASE_URL": pg_url,
        "CELERY_BROKER_URL": redis_url,
        "MT5_SIM_DB": str(tmp_path / "sim.sqlite"),
        "LOG_DIR": str(tmp_path / "logs"),
        "BCRYPT_ROUNDS": "4",
        "FLASK_ENV": "development",
    }
    with app.app_context():
        yield app, env
        db.session.remove()
    app.extensions["mt5_gateway"].close()


def start_worker(env: dict[str, str], crash_at: str = "") -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, str(WORKER)],
        env={**env, "CRASH_AT": crash_at},
        cwd=Path(__file__).resolve().parents[2] / "backend",
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )


def stop(worker: subprocess.Popen[bytes]) -> None:
    if worker.poll() is None:
        worker.terminate()
        try:
            worker.wait(20)
        except subprocess.TimeoutExpired:
            worker.kill()
            worker.wait(5)


def test_celery_fan_out_executes_each_target_once(scale_out, tmp_path):
    app, env = scale_out
    admin, accounts = seed_accounts(app, 10)
    logins = [int(a.login) for a in accounts]
    worker = start_worker(env)
    try:
        dispatch_id = new_dispatch(app, admin, accounts)
        app.extensions["executor"].submit_dispatch(dispatch_id)
        rows = wait_final(dispatch_id, timeout=60)
    finally:
        stop(worker)
    assert {r.status for r in rows} == {"executed"}, [
        (r.id, r.status, r.error_message) for r in rows
    ]
    assert broker_fills(str(tmp_path / "sim.sqlite"), logins) == {r.comment_tag: 1 for r in rows}


@pytest.mark.parametrize("crash_at", ["before_send", "after_send"])
def test_celery_worker_killed_then_restarted_executes_each_target_once(
    scale_out, tmp_path, crash_at
):
    app, env = scale_out
    admin, accounts = seed_accounts(app, 4)
    logins = [int(a.login) for a in accounts]
    dispatch_id = new_dispatch(app, admin, accounts)
    crashing = start_worker(env, crash_at)
    app.extensions["executor"].submit_dispatch(dispatch_id)
    assert crashing.wait(60) == -9
    worker = start_worker(env)
    try:
        rows = wait_final(dispatch_id, timeout=60)
    finally:
        stop(worker)
    assert {r.status for r in rows} == {"executed"}, [
        (r.id, r.status, r.error_message) for r in rows
    ]
    assert broker_fills(str(tmp_path / "sim.sqlite"), logins) == {r.comment_tag: 1 for r in rows}


def test_postgres_claims_under_concurrency_take_each_row_once(scale_out):
    import threading

    from ledger import store

    app, _env = scale_out
    admin, accounts = seed_accounts(app, 30)
    dispatch_id = new_dispatch(app, admin, accounts)
    from ledger_helpers import rows_of

    row_ids = [r.id for r in rows_of(dispatch_id)]
    claimed: list[list[int]] = []
    barrier = threading.Barrier(6)

    def claimer() -> None:
        with app.app_context():
            barrier.wait()
            claimed.append(
                store.claim_rows(db.session, owner=f"t:{uuid.uuid4().hex}", row_ids=row_ids)
            )
            db.session.remove()

    threads = [threading.Thread(target=claimer) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    every = sorted(r for batch in claimed for r in batch)
    assert every == sorted(row_ids)
