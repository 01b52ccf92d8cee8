"""Staying power against real components: a database that goes away under the embedded ledger
thread, PostgreSQL restarted and Redis stopped under Celery, a terminal node SIGKILLed."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from factories import TEST_CONFIG, log_text
from ledger_helpers import broker_fills, new_dispatch, seed_accounts, wait_final
from private_services import PrivatePostgres, free_port, wait_port

from extensions import db


@pytest.fixture
def private_pg() -> Iterator[PrivatePostgres]:
    server = PrivatePostgres().init()
    yield server
    server.close()


def assert_each_target_executed_once(rows: list[Any], sim_db: str, logins: list[int]) -> None:
    assert {r.status for r in rows} == {"executed"}, [(r.id, r.status, r.error_message)
                                                      for r in rows]  # fmt: skip
    fills = broker_fills(sim_db, logins)
    assert fills == {r.comment_tag: 1 for r in rows}


def test_embedded_ledger_thread_outlives_a_database_outage_and_loses_no_outcome(
    tmp_path, private_pg
):
    """The sends finish while PostgreSQL is down: their outcomes wait, the thread backs off and
    records them once the database is back; nothing is sent again."""
    from app import create_app, init_database

    gate, sending = threading.Event(), threading.Semaphore(0)

    def hold_before_send(point: str, _job: object) -> None:
        if point == "before_send":
            sending.release()
            gate.wait(30)

    config = {
        **TEST_CONFIG, "SQLALCHEMY_DATABASE_URI": private_pg.url, "LOG_DIR": tmp_path / "logs",
        "MT5_SIM_DB": str(tmp_path / "sim.sqlite"), "EXECUTOR_AUTOSTART": False,
    }  # fmt: skip
    init_database(config)
    app = create_app({**config, "EXECUTOR_HOOKS": hold_before_send})
    executor = app.extensions["executor"]
    with app.app_context():
        try:
            _admin, accounts = seed_accounts(app, 6)
            dispatch_id = new_dispatch(app, _admin, accounts)
            logins = [int(a.login) for a in accounts]
            db.session.remove()
            executor.submit_dispatch(dispatch_id)
            for _ in accounts:
                assert sending.acquire(timeout=30)  # every row claimed, its send about to go

            private_pg.stop()
            gate.set()  # the orders fill; recording them fails while the database is away
            time.sleep(2.5)
            assert executor.running
            private_pg.start()

            rows = wait_final(dispatch_id, timeout=60)
            assert executor.running
        finally:
            gate.set()
            app.extensions["executor_stop"]()
            db.session.remove()
            db.engine.dispose()
    app.extensions["mt5_gateway"].close()
    assert_each_target_executed_once(rows, str(tmp_path / "sim.sqlite"), logins)
    assert "ledger thread: batch failed (2 in a row)" in log_text(app)


# --- a terminal node SIGKILLed mid-broadcast, then back ------------------------------------------

BACKEND = Path(__file__).resolve().parents[2] / "backend"


class Node:
    """`flask mt5 serve-simulator` as an rpyc:// terminal node, on one port and one broker file."""

    def __init__(self, tmp: Path, *, latency_ms: int) -> None:
        self.tmp, self.port, self.latency_ms = tmp, free_port(), latency_ms
        self.db = str(tmp / "node-sim.sqlite")
        self.url = f"rpyc://127.0.0.1:{self.port}"
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> Node:
        env = {
            **os.environ, "FLASK_ENV": "development", "DATABASE_PATH": str(self.tmp / "n.sqlite"),
            "LOG_DIR": str(self.tmp / "node-logs"), "DATABASE_URL": "",
            "MT5_SIM_LATENCY_MS": str(self.latency_ms),
        }  # fmt: skip
        command = [sys.executable, "-m", "flask", "--app", "app:create_app", "mt5",
                   "serve-simulator", "--host", "127.0.0.1", "--port", str(self.port),
                   "--db", self.db]  # fmt: skip
        self.process = subprocess.Popen(command, cwd=BACKEND, env=env, stdout=subprocess.DEVNULL,
                                        stderr=subprocess.DEVNULL)  # fmt: skip
        wait_port(self.port, up=True)
        return self

    def kill(self) -> None:
        assert self.process is not None
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(10)

    def close(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(10)


@pytest.fixture
def node(tmp_path) -> Iterator[Node]:
    server = Node(tmp_path, latency_ms=60).start()
    yield server
    server.close()


def on_terminal(accounts: list[Any], url: str) -> None:
    from models import MT5Account

    for account in accounts:
        db.session.get(MT5Account, account.id).terminal = url
    db.session.commit()


def test_node_sigkilled_mid_broadcast_then_back_each_target_once_or_unavailable(
    tmp_path, migrated_sqlite, node
):
    from ledger_helpers import running_ledger, wait_one_executed

    with running_ledger(tmp_path, migrated_sqlite, MT5_ALLOWED_TERMINALS=node.url) as app:
        admin, accounts = seed_accounts(app, 8)
        on_terminal(accounts, node.url)
        logins = [int(a.login) for a in accounts]
        dispatch_id = new_dispatch(app, admin, accounts, expires_in_s=600)
        app.extensions["executor"].submit_dispatch(dispatch_id)
        # One terminal serves them all (one session, calls in turn): kill it part way.
        wait_one_executed(dispatch_id)
        node.kill()
        time.sleep(1.0)
        node.start()
        rows = wait_final(dispatch_id, timeout=120)
    node.close()

    statuses = {r.status for r in rows}
    assert statuses <= {"executed", "failed"}, [(r.id, r.status) for r in rows]
    assert "executed" in statuses
    failed = [r for r in rows if r.status == "failed"]
    assert all((r.error_message or "").startswith("mt5_unavailable:") for r in failed), [
        (r.id, r.error_message) for r in failed
    ]
    fills = broker_fills(node.db, logins)
    assert fills == {r.comment_tag: 1 for r in rows if r.status == "executed"}


def test_keeper_sees_a_killed_node_unreachable_and_reconnects_when_it_is_back(
    tmp_path, migrated_sqlite, node
):
    from datetime import UTC, datetime

    from ledger_helpers import ledger_app

    from models import AccountSession, MT5Account
    from services.session_keeper.keeper import KeeperSettings, SessionKeeper

    app = ledger_app(tmp_path, migrated_sqlite, MT5_ALLOWED_TERMINALS=node.url)
    keeper = SessionKeeper(app, KeeperSettings(heartbeat_s=15, threads=2, warm_symbols=(),
                                               equity_days=30))  # fmt: skip

    def look_again() -> list[str]:
        db.session.execute(
            AccountSession.__table__.update().values(next_check_at=datetime.now(UTC))
        )
        db.session.commit()
        return [look.status for look in keeper.run_once()]

    with app.app_context():
        try:
            _admin, accounts = seed_accounts(app, 2)
            on_terminal(accounts, node.url)
            assert [look.status for look in keeper.run_once()] == ["connected"] * 2
            node.kill()
            assert look_again() == ["unreachable"] * 2
            db.session.expire_all()
            assert {a.connection_status for a in db.session.query(MT5Account)} == {"unreachable"}
            node.start()
            assert look_again() == ["connected"] * 2
            rows = db.session.query(AccountSession).all()
            assert {(r.connection_status, r.failures) for r in rows} == {("connected", 0)}
        finally:
            db.session.remove()
            db.engine.dispose()
        app.extensions["mt5_gateway"].close()


# --- under Celery: PostgreSQL restarted, Redis stopped and started -------------------------------

WORKER = Path(__file__).with_name("celery_worker.py")


def forget_broker_connections() -> None:
    """The Celery app is module-wide and keeps its broker connections (and producers) for the
    URL it first used: drop them, so this test's broker is the one used, and the next test's
    is not this one, gone.

    Celery's pool is kombu's process-wide pool for that URL: closing it alone left the closed
    pool registered, and the next test on the same URL got "Acquire on closed pool". kombu's
    reset closes every pool and empties the registries."""
    from kombu import pools

    from workers.celery_app import celery

    pools.reset()
    celery._pool = None
    celery.amqp._producer_pool = None


@pytest.fixture
def private_scale_out(tmp_path, private_pg) -> Iterator[tuple[Any, dict[str, str], Any]]:
    from app import create_app, init_database
    from private_services import PrivateRedis

    redis_server = PrivateRedis(tmp_path / "redis").start()
    config = {
        **TEST_CONFIG, "SQLALCHEMY_DATABASE_URI": private_pg.url, "LOG_DIR": tmp_path / "logs",
        "MT5_SIM_DB": str(tmp_path / "web-sim.sqlite"), "EXECUTOR": "celery",
        "CELERY_BROKER_URL": redis_server.url, "EXECUTOR_AUTOSTART": False,
    }  # fmt: skip
    init_database(config)
    app = create_app(config)
    forget_broker_connections()
    env = {
        **os.environ, "DATABASE_URL": private_pg.url, "CELERY_BROKER_URL": redis_server.url,
        "MT5_SIM_DB": str(tmp_path / "sim.sqlite"), "LOG_DIR": str(tmp_path / "worker-logs"),
        "BCRYPT_ROUNDS": "4", "FLASK_ENV": "development", "MT5_SIM_LATENCY_MS": "150",
        "NOTIFY_ENABLED": "false", "AUTOMATION_ENABLED": "false",
        "SESSION_KEEPER_ENABLED": "false",
    }  # fmt: skip
    with app.app_context():
        yield app, env, redis_server
        db.session.remove()
        db.engine.dispose()
    app.extensions["mt5_gateway"].close()
    redis_server.close()
    forget_broker_connections()


def start_worker(env: dict[str, str]) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, str(WORKER)], env={**env, "CRASH_AT": ""}, cwd=BACKEND,
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip


def stop_worker(worker: subprocess.Popen[bytes]) -> None:
    if worker.poll() is None:
        worker.terminate()
        try:
            worker.wait(20)
        except subprocess.TimeoutExpired:
            worker.kill()
            worker.wait(5)


class Supervised:
    """A worker kept running the way deploy/trading-worker.service keeps it (Restart=always,
    RestartSec=2): when it exits, it is started again.

    kombu 5.x can end a worker whose broker went away ("Unrecoverable error: AttributeError
    ... 'hostname'" while the consumer closes its channel, celery/kombu#970-like); in production
    systemd restarts it. What the test holds the product to is what happens to the orders
    across that: every target executed exactly once."""

    def __init__(self, env: dict[str, str]) -> None:
        self.env = env
        self.restarts = 0
        self.process = start_worker(env)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._watch, daemon=True)
        self._thread.start()

    def _watch(self) -> None:
        while not self._stop.wait(0.2):
            if self.process.poll() is not None:
                time.sleep(2.0)
                if not self._stop.is_set():
                    self.restarts += 1
                    self.process = start_worker(self.env)

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()
        stop_worker(self.process)


def first_outcome(dispatch_id: int, timeout: float = 60.0) -> None:
    from ledger_helpers import rows_of

    deadline = time.monotonic() + timeout
    while not any(r.is_final for r in rows_of(dispatch_id)):
        assert time.monotonic() < deadline, "no outcome recorded"
        time.sleep(0.01)


def test_postgres_restarted_mid_broadcast_under_celery_completes_exactly_once(
    tmp_path, private_pg, private_scale_out
):
    app, env, _redis = private_scale_out
    admin, accounts = seed_accounts(app, 60)
    logins = [int(a.login) for a in accounts]
    worker = start_worker(env)
    try:
        dispatch_id = new_dispatch(app, admin, accounts, expires_in_s=600)
        app.extensions["executor"].submit_dispatch(dispatch_id)
        first_outcome(dispatch_id)
        db.session.remove()
        private_pg.stop()
        time.sleep(1.0)
        private_pg.start()
        db.engine.dispose()  # the test's own connections were to the server that stopped
        rows = wait_final(dispatch_id, timeout=150)
    finally:
        stop_worker(worker)
    assert_each_target_executed_once(rows, str(tmp_path / "sim.sqlite"), logins)


def test_redis_stopped_and_started_under_celery_completes_exactly_once(tmp_path, private_scale_out):
    """Two broadcasts to the same accounts: each account's second row is queued only when its
    first is recorded, which is while the broker is away; the sweeper re-drives what was lost."""
    app, env, redis_server = private_scale_out
    admin, accounts = seed_accounts(app, 40)
    logins = [int(a.login) for a in accounts]
    worker = Supervised(env)
    try:
        first = new_dispatch(app, admin, accounts, expires_in_s=600)
        second = new_dispatch(app, admin, accounts, expires_in_s=600)
        for dispatch_id in (first, second):
            app.extensions["executor"].submit_dispatch(dispatch_id)
        first_outcome(first)
        redis_server.stop()
        time.sleep(2.0)
        redis_server.start_again()
        rows = wait_final(first, timeout=100) + wait_final(second, timeout=100)
    finally:
        worker.stop()
    assert_each_target_executed_once(rows, str(tmp_path / "sim.sqlite"), logins)


def test_keepers_run_in_the_celery_workers_one_owner_per_account(tmp_path, private_scale_out):
    """Two workers keep the sessions (worker_ready), each account held by one of them; the
    web process keeps none."""
    from models import AccountSession
    from services.session_keeper import KEEPER

    app, env, _redis = private_scale_out
    seed_accounts(app, 12)
    keeping = {**env, "SESSION_KEEPER_ENABLED": "true", "MT5_HEARTBEAT_S": "1",
               "MT5_SIM_LATENCY_MS": "20"}  # fmt: skip
    workers = [start_worker(keeping), start_worker(keeping)]
    try:
        deadline = time.monotonic() + 90
        while True:
            db.session.rollback()
            rows = db.session.query(AccountSession).all()
            if len(rows) == 12 and {r.connection_status for r in rows} == {"connected"}:
                break
            assert time.monotonic() < deadline, [(r.account_id, r.connection_status) for r in rows]
            time.sleep(0.2)
        owners = {r.lease_owner for r in rows}
        assert None not in owners and 1 <= len(owners) <= 2
        first_seen = {r.account_id: r.last_seen_at for r in rows}
        time.sleep(2.5)  # heartbeats every second, by whichever worker holds the account
        db.session.rollback()
        again = db.session.query(AccountSession).all()
        assert all(r.last_seen_at > first_seen[r.account_id] for r in again)
        assert {r.lease_owner for r in again} == owners  # nobody took another's account
    finally:
        for worker in workers:
            stop_worker(worker)
    from app import create_app

    web = create_app({
        **TEST_CONFIG, "SESSION_KEEPER_ENABLED": True, "EXECUTOR": "celery",
        **{k: app.config[k] for k in ("SQLALCHEMY_DATABASE_URI", "LOG_DIR", "MT5_SIM_DB",
                                      "CELERY_BROKER_URL")},
    })  # fmt: skip
    assert web.test_client().get("/api/status").status_code == 200
    assert web.extensions[KEEPER] is None  # a web process of the scale-out keeps no sessions
    web.extensions["mt5_gateway"].close()
