"""The outbox: events written in the caller's transaction, once per dedupe key; the ledger's
target_failed and dispatch_finished written where outcomes are recorded, one INSERT a batch."""

from __future__ import annotations

from typing import Any

import pytest
from factories import make_user, statements_run
from sqlalchemy import func, select

from extensions import db
from ledger import intake, store
from ledger.types import RowOutcome, Sizing, TradeOrder
from models import MT5Account, OutboxEvent
from services.outbox import Notice, enqueue, enqueue_many

OWNER = "test-owner"


def accounts(app: Any, count: int) -> list[MT5Account]:
    made = []
    for i in range(count):
        owner = make_user(app)
        account = MT5Account(
            user_id=owner.id, account_name=f"acc{i}", login=str(50_000_000 + i), server="Sim-Demo"
        )
        db.session.add(account)
        made.append(account)
    db.session.commit()
    return made


def claimed_dispatch(app: Any, targets: list[MT5Account]) -> tuple[Any, list[int]]:
    creator = make_user(app, role="super_admin")
    dispatch = intake.create_dispatch(
        session=db.session, creator=creator, kind="broadcast",
        order=TradeOrder.from_json({"symbol": "XAUUSD", "side": "buy"}),
        sizing=Sizing.from_json({"mode": "fixed_volume", "volume": "0.01"}), targets=targets,
        idempotency_key=None, body_hash="test", expires_in_s=60, ip=None,
    )  # fmt: skip
    rows = store.claim_rows(db.session, owner=OWNER, dispatch_id=dispatch.id)
    return dispatch, rows


def events(kind: str | None = None) -> list[OutboxEvent]:
    db.session.rollback()
    query = select(OutboxEvent).order_by(OutboxEvent.id)
    if kind is not None:
        query = query.where(OutboxEvent.event == kind)
    return list(db.session.scalars(query))


def test_enqueue_is_part_of_the_callers_transaction(app):
    user = make_user(app)
    enqueue(db.session, user.id, "protection_triggered", {"account_id": 1})
    db.session.rollback()

    assert events() == []


def test_enqueue_same_dedupe_key_twice_is_one_event(app):
    user = make_user(app)
    for _ in range(2):
        enqueue(db.session, user.id, "protection_triggered", {"n": 1}, dedupe_key="p:1:dd")
        db.session.commit()

    assert [e.dedupe_key for e in events()] == ["p:1:dd"]


def test_enqueue_without_a_key_is_a_new_event_each_time(app):
    user = make_user(app)
    enqueue(db.session, user.id, "protection_triggered", {"n": 1})
    enqueue(db.session, user.id, "protection_triggered", {"n": 1})
    db.session.commit()

    assert len(events()) == 2


def test_unknown_event_is_refused():
    with pytest.raises(ValueError, match="unknown notification event"):
        Notice(1, "coffee_ready", {})


def test_failed_outcomes_notify_each_owner_and_the_creator_once(app):
    targets = accounts(app, 3)
    dispatch, rows = claimed_dispatch(app, targets)
    outcomes = [RowOutcome(rows[0], "executed", retcode=10009)] + [
        RowOutcome(row, "failed", retcode=10019, error="mt5_no_money: not enough money")
        for row in rows[1:]
    ]

    store.record_outcomes(db.session, outcomes, owner=OWNER)

    failed = events("target_failed")
    assert sorted(e.user_id for e in failed) == sorted(t.user_id for t in targets[1:])
    assert failed[0].payload["reason"] == "mt5_no_money"
    assert failed[0].payload["dispatch_id"] == dispatch.id
    [finished] = events("dispatch_finished")
    assert finished.user_id == dispatch.creator_id
    assert finished.payload["status"] == "partial"
    assert finished.payload["counts"]["failed"] == 2 and finished.payload["total"] == 3


def test_outcome_of_a_row_taken_over_notifies_nothing(app):
    _, rows = claimed_dispatch(app, accounts(app, 1))

    store.record_outcomes(db.session, [RowOutcome(rows[0], "failed", error="x")], owner="other")

    assert events() == []


def test_dispatch_finished_is_written_once_whoever_finalises_again(app):
    dispatch, rows = claimed_dispatch(app, accounts(app, 1))
    store.record_outcomes(db.session, [RowOutcome(rows[0], "executed")], owner=OWNER)
    store.finalise_dispatches(db.session, [dispatch.id])
    db.session.commit()

    assert len(events("dispatch_finished")) == 1


def test_a_thousand_failures_are_one_insert(app):
    _, rows = claimed_dispatch(app, accounts(app, 1000))

    with statements_run(db.engine) as statements:
        store.record_outcomes(
            db.session, [RowOutcome(r, "failed", error="mt5_market_closed") for r in rows],
            owner=OWNER,
        )  # fmt: skip
    inserts = [
        s for s in statements if s.lstrip().upper().startswith("INSERT INTO NOTIFICATION_OUTBOX")
    ]

    assert len(inserts) == 2  # 1000 target_failed in one, the dispatch_finished in the other
    assert db.session.scalar(select(func.count()).select_from(OutboxEvent)) == 1001


def test_enqueue_many_of_nothing_writes_nothing(app):
    enqueue_many(db.session, [])
    db.session.commit()

    assert events() == []
