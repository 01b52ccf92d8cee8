"""Staying power against real components: a database that goes away under the embedded ledger
thread, PostgreSQL restarted and Redis stopped under Celery, a terminal node SIGKILLed."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
from factories import TEST_CONFIG, log_text
from ledger_helpers import broker_fills, new_dispatch, seed_accounts, wait_final
from private_services import PrivatePostgres

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
