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
    from ledger_helpers import ledger_app, rows_of

    app = ledger_app(tmp_path, migrated_sqlite, MT5_ALLOWED_TERMINALS=node.url)
    with app.app_context():
        try:
            admin, accounts = seed_accounts(app, 8)
            on_terminal(accounts, node.url)
            logins = [int(a.login) for a in accounts]
            dispatch_id = new_dispatch(app, admin, accounts, expires_in_s=600)
            app.extensions["executor"].submit_dispatch(dispatch_id)
            # One terminal serves them all (one session, calls in turn): kill it part way.
            deadline = time.monotonic() + 60
            while not any(r.status == "executed" for r in rows_of(dispatch_id)):
                assert time.monotonic() < deadline, "nothing executed before the kill"
                time.sleep(0.01)
            node.kill()
            time.sleep(1.0)
            node.start()
            rows = wait_final(dispatch_id, timeout=120)
        finally:
            app.extensions["executor_stop"]()
            db.session.remove()
            db.engine.dispose()
        app.extensions["mt5_gateway"].close()
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
