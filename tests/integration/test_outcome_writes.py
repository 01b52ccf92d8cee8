"""On SQLite a batch of outcomes is written in one statement per 500 rows (UPDATE ... FROM
VALUES); it must write exactly what the executemany of ``_outcome_statement`` writes: the same
values through the same column types, the same fences, the same kept-unless-given columns."""

from __future__ import annotations

from decimal import Decimal

import pytest
from ledger_helpers import ledger_app, new_dispatch, seed_accounts
from sqlalchemy import select, update

from extensions import db
from ledger import store
from ledger.types import RowOutcome
from models import BroadcastQueue, DispatchCounts
from models.columns import utcnow

SKIPPED = {"id", "dispatch_id", "created_at", "updated_at", "executed_at", "lease_expires_at",
           "expires_at", "comment_tag", "magic", "account_id", "target_user_id",
           "admin_user_id"}  # fmt: skip


@pytest.fixture
def two_dispatches(tmp_path, migrated_sqlite):
    app = ledger_app(tmp_path, migrated_sqlite)
    with app.app_context():
        admin, accounts = seed_accounts(app, 10)  # apart: an account's rows run one at a time
        yield [new_dispatch(app, admin, accounts[:5]), new_dispatch(app, admin, accounts[5:])]
        db.session.remove()
        db.engine.dispose()
    app.extensions["mt5_gateway"].close()


def outcomes_for(row_ids: list[int]) -> list[RowOutcome]:
    a, b, c, d, e = row_ids
    return [
        RowOutcome(row_id=a, status="executed", retcode=10009, order_ticket=11, deal_ticket=12,
                   position_ticket=11, fill_price=Decimal("2350.10"), fill_volume=Decimal("0.01"),
                   latency_ms=51, symbol="XAUUSD", volume=Decimal("0.0100"), warnings=["capped"]),
        RowOutcome(row_id=b, status="failed", retcode=10019, error="mt5_no_money: no money",
                   error_details={"free_margin": "1.5", "needed": ["2", None]},
                   outcome_unknown=True),
        RowOutcome(row_id=c, status="skipped", error="leg_dropped_below_min", virtual_tp=True),
        RowOutcome(row_id=d, status="pending", outcome_unknown=True),  # handed back
        RowOutcome(row_id=e, status="executed", closed_volume=Decimal("0.02"),
                   remaining_volume=Decimal("0")),
    ]  # fmt: skip


def rows(dispatch_id: int) -> list[dict]:
    db.session.rollback()
    found = db.session.scalars(
        select(BroadcastQueue).where(BroadcastQueue.dispatch_id == dispatch_id)
        .order_by(BroadcastQueue.id)
    ).all()  # fmt: skip
    return [
        {k: v for k, v in vars(r).items() if not k.startswith("_") and k not in SKIPPED}
        for r in found
    ]


def test_one_statement_writes_what_the_executemany_writes(two_dispatches) -> None:
    reference, batched = two_dispatches
    claimed = {d: store.claim_rows(db.session, owner="me", dispatch_id=d) for d in two_dispatches}
    for dispatch_id in two_dispatches:  # sized on an earlier attempt: kept unless given
        db.session.execute(update(BroadcastQueue).where(BroadcastQueue.dispatch_id == dispatch_id)
                           .values(symbol="GOLD", volume=Decimal("0.05")))  # fmt: skip
    fenced = claimed[reference][3], claimed[batched][3]  # taken over by another owner
    db.session.execute(update(BroadcastQueue).where(BroadcastQueue.id.in_(fenced))
                       .values(lease_owner="someone else"))  # fmt: skip
    db.session.commit()
    now = utcnow()

    params = [store._outcome_params(o, "me", now) for o in outcomes_for(claimed[reference])]
    db.session.connection().execute(store._outcome_statement(), params)
    db.session.commit()
    store._write_outcomes(db.session, outcomes_for(claimed[batched]), "me", now)
    db.session.commit()

    for got, want in zip(rows(batched), rows(reference), strict=True):
        assert {k: v for k, v in got.items() if v != want[k]} == {}
    written = rows(batched)
    assert [r["status"] for r in written] == [
        "executed",
        "failed",
        "skipped",
        "in_flight",
        "executed",
    ]
    assert written[0]["symbol"] == "XAUUSD" and written[1]["symbol"] == "GOLD"
    assert written[1]["error_details"] == {"free_margin": "1.5", "needed": ["2", None]}
    assert written[0]["fill_price"] == Decimal("2350.10") and written[2]["virtual_tp"] is True
    assert all(r["row_version"] == 3 for i, r in enumerate(written) if i != 3)
    counts = db.session.get(DispatchCounts, batched)
    assert (counts.executed, counts.failed, counts.skipped, counts.in_flight) == (2, 1, 1, 1)


def test_a_batch_larger_than_one_statement_writes_every_row(two_dispatches, monkeypatch) -> None:
    dispatch_id = two_dispatches[0]
    monkeypatch.setattr(store, "ROWS_PER_STATEMENT", 2)
    claimed = store.claim_rows(db.session, owner="me", dispatch_id=dispatch_id)
    outcomes = [RowOutcome(row_id=r, status="executed", order_ticket=r) for r in claimed]
    outcomes.append(RowOutcome(row_id=claimed[0], status="failed", error="x"))  # twice: last
    store.record_outcomes(db.session, outcomes, owner="me")

    written = rows(dispatch_id)
    assert [r["status"] for r in written] == ["failed"] + ["executed"] * 4
    assert [r["order_ticket"] for r in written[1:]] == claimed[1:]


def test_an_sqlite_without_update_from_records_by_executemany(two_dispatches, monkeypatch) -> None:
    import sqlite3

    dispatch_id = two_dispatches[0]
    monkeypatch.setattr(sqlite3, "sqlite_version_info", (3, 31, 1))  # Ubuntu 20.04's
    monkeypatch.setattr(store, "_sqlite_outcomes_sql", lambda rows: pytest.fail("UPDATE FROM"))
    claimed = store.claim_rows(db.session, owner="me", dispatch_id=dispatch_id)
    store.record_outcomes(
        db.session, [RowOutcome(row_id=r, status="executed") for r in claimed], owner="me"
    )
    assert [r["status"] for r in rows(dispatch_id)] == ["executed"] * 5
