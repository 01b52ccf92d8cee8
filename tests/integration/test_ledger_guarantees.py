"""Order-safety guarantees of the ledger on SQLite + the embedded pool, against the simulator.

No fakes: the simulated broker with injected faults, real worker processes killed with SIGKILL.
"""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest
from factories import sim_broker_of
from ledger_helpers import (
    broker_fills,
    ledger_app,
    new_dispatch,
    rows_of,
    run_worker,
    seed_accounts,
    wait_final,
)
from sqlalchemy import func, insert, select, update
from sqlalchemy.exc import IntegrityError

from extensions import db
from models import BroadcastQueue, Dispatch


@pytest.fixture
def ledger(tmp_path: Path, migrated_sqlite: Path):
    app = ledger_app(tmp_path, migrated_sqlite)
    with app.app_context():
        yield app
        app.extensions["executor"].stop()
        db.session.remove()
    app.extensions["mt5_gateway"].close()


def _run(app, dispatch_id: int):
    app.extensions["executor"].submit_dispatch(dispatch_id)
    return wait_final(dispatch_id)


def test_create_dispatch_failure_midway_leaves_nothing(ledger, monkeypatch):
    admin, accounts = seed_accounts(ledger, 3)
    from ledger import intake

    def fail_after_rows_inserted(**_kwargs):
        # The dispatch row and its queue rows are written (flushed) by now: fail before commit.
        assert db.session.scalar(select(func.count(BroadcastQueue.id))) == 3
        raise RuntimeError("crash between the inserts and the commit")

    monkeypatch.setattr(intake, "record_event", fail_after_rows_inserted)
    with pytest.raises(RuntimeError):
        new_dispatch(ledger, admin, accounts)
    db.session.rollback()
    assert db.session.scalar(select(func.count(Dispatch.id))) == 0
    assert db.session.scalar(select(func.count(BroadcastQueue.id))) == 0


def test_insert_duplicate_dispatch_account_leg_is_refused(ledger):
    admin, accounts = seed_accounts(ledger, 1)
    dispatch_id = new_dispatch(ledger, admin, accounts)
    row = rows_of(dispatch_id)[0]
    with pytest.raises(IntegrityError):
        db.session.execute(
            insert(BroadcastQueue),
            [
                {
                    "dispatch_id": dispatch_id,
                    "account_id": row.account_id,
                    "leg": 0,
                    "admin_user_id": admin.id,
                    "target_user_id": row.target_user_id,
                    "order_data": "{}",
                    "status": "pending",
                    "created_at": datetime.now(UTC),
                    "magic": 1,
                    "comment_tag": "dup",
                    "attempts": 0,
                }
            ],
        )
        db.session.commit()
    db.session.rollback()


def test_claim_rows_concurrently_each_row_claimed_once(ledger):
    from ledger import store

    admin, accounts = seed_accounts(ledger, 40)
    dispatch_id = new_dispatch(ledger, admin, accounts)
    row_ids = [r.id for r in rows_of(dispatch_id)]
    claimed: list[list[int]] = []
    barrier = threading.Barrier(8)

    def claimer(index: int) -> None:
        with ledger.app_context():
            barrier.wait()
            claimed.append(store.claim_rows(db.session, owner=f"test:{index}", row_ids=row_ids))
            db.session.remove()

    threads = [threading.Thread(target=claimer, args=(i,)) for i in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    every = [row_id for batch in claimed for row_id in batch]
    assert sorted(every) == sorted(row_ids)  # all claimed, none twice


def test_broadcast_fan_out_executes_each_target_once(ledger, tmp_path):
    admin, accounts = seed_accounts(ledger, 12)
    dispatch_id = new_dispatch(ledger, admin, accounts)
    rows = _run(ledger, dispatch_id)
    assert {r.status for r in rows} == {"executed"}
    assert all(r.retcode == 10009 and r.deal_ticket and r.volume == r.fill_volume for r in rows)
    ledger.extensions["mt5_gateway"].close()
    fills = broker_fills(str(tmp_path / "sim.sqlite"), accounts)
    assert fills == {r.comment_tag: 1 for r in rows}


@pytest.mark.parametrize("crash_at", ["before_send", "after_send", "after_record"])
def test_worker_killed_then_restarted_executes_each_target_exactly_once(
    tmp_path, migrated_sqlite, crash_at
):
    app = ledger_app(tmp_path, migrated_sqlite)
    with app.app_context():
        admin, accounts = seed_accounts(app, 5)
        dispatch_id = new_dispatch(app, admin, accounts)
        logins = [int(a.login) for a in accounts]
        db.session.remove()
    app.extensions["mt5_gateway"].close()

    assert run_worker(tmp_path, crash_at=crash_at) == -9  # SIGKILL at the chosen point
    assert run_worker(tmp_path) == 0  # a clean restart recovers and finishes

    with app.app_context():
        rows = rows_of(dispatch_id)
        assert {r.status for r in rows} == {"executed"}, [
            (r.id, r.status, r.error_message) for r in rows
        ]
        db.session.remove()
    fills = broker_fills(str(tmp_path / "sim.sqlite"), logins)
    assert fills == {r.comment_tag: 1 for r in rows}


def test_fill_then_connection_drop_is_adopted_without_second_order(ledger, tmp_path):
    admin, accounts = seed_accounts(ledger, 1)
    broker = sim_broker_of(ledger.extensions["mt5_gateway"])
    login = int(accounts[0].login)
    broker.create_account(login, "Mt5-S3cret!pass", "Sim-Demo")
    broker.inject_fault(login, "drop_after_fill")
    dispatch_id = new_dispatch(ledger, admin, accounts)
    (row,) = _run(ledger, dispatch_id)
    assert row.status == "executed"
    assert row.deal_ticket and row.order_ticket
    ledger.extensions["mt5_gateway"].close()
    assert broker_fills(str(tmp_path / "sim.sqlite"), accounts) == {row.comment_tag: 1}


def test_order_send_none_is_reconciled_then_sent_once(ledger, tmp_path):
    admin, accounts = seed_accounts(ledger, 1)
    broker = sim_broker_of(ledger.extensions["mt5_gateway"])
    login = int(accounts[0].login)
    broker.create_account(login, "Mt5-S3cret!pass", "Sim-Demo")
    broker.inject_fault(login, "none")
    dispatch_id = new_dispatch(ledger, admin, accounts)
    (row,) = _run(ledger, dispatch_id)
    assert row.status == "executed"
    assert row.attempts == 1
    ledger.extensions["mt5_gateway"].close()
    assert broker_fills(str(tmp_path / "sim.sqlite"), accounts) == {row.comment_tag: 1}


def test_final_retcode_fails_at_once_with_reason(ledger):
    admin, accounts = seed_accounts(ledger, 1)
    dispatch_id = new_dispatch(
        ledger, admin, accounts, sizing={"mode": "fixed_volume", "volume": "90"}
    )
    (row,) = _run(ledger, dispatch_id)
    assert row.status == "failed"
    assert row.retcode == 10019  # NO_MONEY: 90 lots of gold on 10,000 USD
    assert "no_money" in row.error_message


def test_requote_is_retried_with_fresh_price(ledger):
    admin, accounts = seed_accounts(ledger, 1)
    order = {
        "symbol": "XAUUSD",
        "side": "buy",
        "order_type": "market",
        "price": "100.00",
        "deviation": 5,
    }
    dispatch_id = new_dispatch(ledger, admin, accounts, order=order)
    (row,) = _run(ledger, dispatch_id)
    assert row.status == "executed", row.error_message
    assert row.fill_price > 1000  # filled at the market, not at the stale 100.00


def test_expired_signal_is_never_sent_late(ledger, tmp_path):
    admin, accounts = seed_accounts(ledger, 2)
    dispatch_id = new_dispatch(ledger, admin, accounts)
    db.session.execute(
        update(BroadcastQueue)
        .where(BroadcastQueue.dispatch_id == dispatch_id)
        .values(expires_at=datetime.now(UTC) - timedelta(seconds=1))
    )
    db.session.commit()
    ledger.extensions["executor"].start()
    rows = wait_final(dispatch_id)
    assert {r.status for r in rows} == {"expired"}
    ledger.extensions["mt5_gateway"].close()
    assert broker_fills(str(tmp_path / "sim.sqlite"), accounts) == {}


def test_cancel_before_start_cancels_every_pending_row(ledger, tmp_path):
    from ledger import intake

    admin, accounts = seed_accounts(ledger, 3)
    dispatch_id = new_dispatch(ledger, admin, accounts)
    dispatch = db.session.get(Dispatch, dispatch_id)
    assert intake.cancel_dispatch(db.session, dispatch=dispatch, actor=admin, ip=None) == 3
    rows = _run(ledger, dispatch_id)
    assert {r.status for r in rows} == {"cancelled"}
    assert db.session.get(Dispatch, dispatch_id).status == "cancelled"
    ledger.extensions["mt5_gateway"].close()
    assert broker_fills(str(tmp_path / "sim.sqlite"), accounts) == {}


def test_orders_for_one_account_run_one_at_a_time_in_creation_order(tmp_path, migrated_sqlite):
    in_flight: dict[int, int] = {}
    peak: dict[int, int] = {}
    lock = threading.Lock()

    def hook(point, job):
        if job is None:
            return
        with lock:
            if point == "before_send":
                in_flight[job.account_id] = in_flight.get(job.account_id, 0) + 1
                peak[job.account_id] = max(peak.get(job.account_id, 0), in_flight[job.account_id])
            elif point == "after_send":
                in_flight[job.account_id] -= 1

    app = ledger_app(tmp_path, migrated_sqlite, EXECUTOR_HOOKS=hook, MT5_SIM_LATENCY_MS=5)
    with app.app_context():
        admin, accounts = seed_accounts(app, 2)
        take_profits = [
            {"price": "9000.00", "share_percent": 50},
            {"price": "9500.00", "share_percent": 50},
        ]
        order = {
            "symbol": "XAUUSD",
            "side": "buy",
            "order_type": "market",
            "take_profits": take_profits,
        }
        dispatches = [
            new_dispatch(
                app, admin, accounts, order=order, sizing={"mode": "fixed_volume", "volume": "0.02"}
            )
            for _ in range(3)
        ]
        for dispatch_id in dispatches:
            app.extensions["executor"].submit_dispatch(dispatch_id)
        rows = [
            (r.id, r.account_id, r.status, r.order_ticket)
            for dispatch_id in dispatches
            for r in wait_final(dispatch_id)
        ]
        account_ids = [a.id for a in accounts]
        app.extensions["executor"].stop()
        db.session.remove()
    app.extensions["mt5_gateway"].close()
    assert {status for _, _, status, _ in rows} == {"executed"}
    assert max(peak.values()) == 1
    for account_id in account_ids:
        tickets = [ticket for _, owner, _, ticket in sorted(rows) if owner == account_id]
        assert len(tickets) == 6
        assert tickets == sorted(tickets)  # sent in creation order


def test_recovery_leaves_no_row_in_flight(ledger):
    from ledger import recovery, store

    admin, accounts = seed_accounts(ledger, 3)
    dispatch_id = new_dispatch(ledger, admin, accounts)
    store.claim_rows(db.session, owner="ghost-host:1:x", dispatch_id=dispatch_id, lease_seconds=-1)
    assert recovery.recover_abandoned(db.session) == 3
    rows = rows_of(dispatch_id)
    assert {r.status for r in rows} == {"pending"}
    assert all(r.outcome_unknown for r in rows)
    rows = _run(ledger, dispatch_id)
    assert {r.status for r in rows} == {"executed"}


def test_slow_terminal_delays_only_its_own_account(ledger):
    import time

    admin, accounts = seed_accounts(ledger, 6)
    broker = sim_broker_of(ledger.extensions["mt5_gateway"])
    slow = accounts[0]
    broker.create_account(int(slow.login), "Mt5-S3cret!pass", "Sim-Demo")
    broker.inject_fault(int(slow.login), "timeout", delay_s=2.0)  # hangs, then the link drops
    dispatch_id = new_dispatch(ledger, admin, accounts)
    started = time.monotonic()
    ledger.extensions["executor"].submit_dispatch(dispatch_id)
    deadline = started + 1.5
    while time.monotonic() < deadline:
        rows = rows_of(dispatch_id)
        if all(r.is_final for r in rows if r.account_id != slow.id):
            break
        time.sleep(0.02)
    others_done = time.monotonic() - started
    rows = wait_final(dispatch_id)
    assert others_done < 1.5  # the healthy accounts did not wait for the hung terminal
    assert {r.status for r in rows} == {"executed"}  # the slow one is reconciled and sent once


def test_concurrent_duplicate_idempotency_key_is_409_and_creates_nothing(ledger):
    from errors import Conflict
    from ledger import intake
    from ledger.types import Sizing, SizingMode, TradeOrder

    admin, accounts = seed_accounts(ledger, 2)

    def create() -> int:
        return intake.create_dispatch(
            session=db.session, creator=admin, kind="broadcast",
            order=TradeOrder("XAUUSD", "buy"),
            sizing=Sizing(SizingMode.FIXED_VOLUME, volume=Decimal("0.01")),
            targets=accounts, idempotency_key="same-key", body_hash="h", expires_in_s=60, ip=None,
        ).id  # fmt: skip

    # The second request passed its look-up before the first committed: the unique
    # (creator, key) constraint is what stops it.
    first = create()
    with pytest.raises(Conflict) as caught:
        create()
    assert caught.value.status_code == 409 and caught.value.code == "idempotency_conflict"
    assert db.session.scalar(select(func.count(Dispatch.id))) == 1
    assert len(rows_of(first)) == 2


def test_a_row_that_cannot_be_read_fails_instead_of_coming_back_forever(ledger):
    admin, accounts = seed_accounts(ledger, 2)
    broken = new_dispatch(ledger, admin, accounts[:1])
    healthy = new_dispatch(ledger, admin, accounts[1:])
    # An order this version cannot read (as if written by a future one): no side.
    db.session.execute(update(Dispatch).where(Dispatch.id == broken).values(order_data={"x": 1}))
    db.session.commit()

    (bad,) = _run(ledger, broken)
    (good,) = _run(ledger, healthy)

    assert (bad.status, bad.error_message.split(":")[0]) == ("failed", "internal_error")
    assert good.status == "executed"
