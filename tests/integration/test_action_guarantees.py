"""Follow-ups keep the open's guarantees: a close to many accounts, its worker SIGKILLed before
send, after send or after record, then restarted, closes every position exactly once and never
turns a netting position around; the same on PostgreSQL with Celery workers."""

from __future__ import annotations

from typing import Any

import pytest
from ledger_helpers import (
    MT5_PASSWORD,
    broker_book,
    ledger_app,
    new_dispatch,
    rows_of,
    run_worker,
    seed_accounts,
    wait_final,
)
from test_ledger_celery import redis_url, scale_out, start_worker, stop  # noqa: F401

from extensions import db

NETTING, HEDGING = 0, 2
SIZING = {"mode": "fixed_volume", "volume": "0.10"}
TWO_LEGS = {
    "symbol": "XAUUSD",
    "side": "buy",
    "order_type": "market",
    "deviation": 500,
    "take_profits": [
        {"price": "9000.00", "share_percent": "50"},
        {"price": "9500.00", "share_percent": "50"},
    ],
}


class NoExecutor:
    """The action is created here and run by a worker process."""

    def submit_dispatch(self, dispatch_id: int) -> None:
        return None


def open_accounts(app: Any, sim_db: str, count: int) -> tuple[Any, list[Any]]:
    """Half hedging, half netting accounts, opened at the broker before any login."""
    from mt5sim.broker import Broker

    admin, accounts = seed_accounts(app, count)
    broker = Broker(sim_db, name="default", step_ms=0)
    try:
        for index, account in enumerate(accounts):
            mode = NETTING if index % 2 else HEDGING
            broker.create_account(int(account.login), MT5_PASSWORD, "Sim-Demo", margin_mode=mode)
    finally:
        broker.close()
    return admin, accounts


def close_everything(app: Any, admin_id: int, dispatch_id: int) -> int:
    from ledger.actions import ActionKind, TradeAction
    from models import User
    from services import trades_service

    admin = db.session.get(User, admin_id)
    created = trades_service.act_on_dispatch(
        session=db.session,
        executor=NoExecutor(),  # type: ignore[arg-type]
        user=admin,
        dispatch_id=dispatch_id,
        action=TradeAction(kind=ActionKind.CLOSE),
        expires_in_s=None,
        broadcasts_only=False,
        idempotency_key=None,
        ip=None,
    )
    return int(created["action_id"])


def assert_closed_exactly_once(sim_db: str, accounts: list[Any], close_rows: list[Any]) -> None:
    assert {r.status for r in close_rows} == {"executed"}, [
        (r.id, r.status, r.error_message) for r in close_rows
    ]
    book = broker_book(sim_db, accounts)
    assert book.closes == {r.comment_tag: 1 for r in close_rows}  # one close deal per row
    assert all(positions == [] for positions in book.positions.values())  # none reversed


@pytest.mark.parametrize("crash_at", ["before_send", "after_send", "after_record"])
def test_close_worker_killed_then_restarted_closes_each_position_exactly_once(
    tmp_path, migrated_sqlite, crash_at
):
    sim_db = str(tmp_path / "sim.sqlite")
    app = ledger_app(tmp_path, migrated_sqlite)
    with app.app_context():
        admin, accounts = open_accounts(app, sim_db, 60)
        admin_id, logins = admin.id, [int(a.login) for a in accounts]
        opened = new_dispatch(app, admin, accounts, order=TWO_LEGS, sizing=SIZING)
        db.session.remove()
        assert run_worker(tmp_path) == 0
        assert {r.status for r in rows_of(opened)} == {"executed"}, {
            r.error_message for r in rows_of(opened)
        }
        action_id = close_everything(app, admin_id, opened)
        db.session.remove()
    app.extensions["mt5_gateway"].close()

    assert run_worker(tmp_path, crash_at=crash_at) == -9
    assert run_worker(tmp_path) == 0

    with app.app_context():
        close_rows = rows_of(action_id)
        assert len(close_rows) == 120
        assert_closed_exactly_once(sim_db, logins, close_rows)
        db.session.remove()


@pytest.mark.services
@pytest.mark.parametrize("crash_at", ["before_send", "after_send"])
def test_celery_close_worker_killed_closes_each_position_once(
    scale_out,  # noqa: F811
    tmp_path,
    crash_at,
):
    app, env = scale_out
    sim_db = str(tmp_path / "sim.sqlite")
    admin, accounts = open_accounts(app, sim_db, 8)
    logins = [int(a.login) for a in accounts]
    opened = new_dispatch(app, admin, accounts, order=TWO_LEGS, sizing=SIZING)
    worker = start_worker(env)
    try:
        app.extensions["executor"].submit_dispatch(opened)
        assert {r.status for r in wait_final(opened, timeout=60)} == {"executed"}
    finally:
        stop(worker)
    action_id = close_everything(app, admin.id, opened)
    crashing = start_worker(env, crash_at)
    app.extensions["executor"].submit_dispatch(action_id)
    assert crashing.wait(60) == -9
    worker = start_worker(env)
    try:
        close_rows = wait_final(action_id, timeout=60)
    finally:
        stop(worker)
    assert_closed_exactly_once(sim_db, logins, close_rows)
