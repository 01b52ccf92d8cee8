"""dispatch_counts: the database keeps each dispatch's counts in step with its rows, on SQLite and
PostgreSQL, through every transition, under concurrent recorders, and backfilled on upgrade."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest
import sqlalchemy as sa
from factories import TEST_CONFIG
from ledger_helpers import ledger_app, new_dispatch, rows_of, seed_accounts
from sqlalchemy import delete, func, select, update

from extensions import db
from ledger import rows, store
from ledger.types import RowOutcome
from models import ROW_STATUSES, BroadcastQueue, Dispatch, DispatchCounts, MT5Account, User
from models.columns import utcnow


@pytest.fixture(params=["sqlite", "postgresql"])
def ledger(request, tmp_path: Path, migrated_sqlite: Path):
    if request.param == "sqlite":
        app = ledger_app(tmp_path, migrated_sqlite)
    else:
        from app import create_app, init_database

        config = {
            **TEST_CONFIG,
            "SQLALCHEMY_DATABASE_URI": request.getfixturevalue("pg_url"),
            "LOG_DIR": tmp_path / "logs",
            "MT5_SIM_DB": str(tmp_path / "sim.sqlite"),
            "EXECUTOR_AUTOSTART": False,
        }
        init_database(config)
        app = create_app(config)
    with app.app_context():
        yield app
        db.session.remove()
        db.engine.dispose()
    app.extensions["mt5_gateway"].close()


def truth(dispatch_id: int) -> dict[str, int]:
    """The counts the slow way: every row of the dispatch, grouped."""
    db.session.rollback()
    found = dict(
        db.session.execute(
            select(BroadcastQueue.status, func.count())
            .where(BroadcastQueue.dispatch_id == dispatch_id)
            .group_by(BroadcastQueue.status)
        ).all()
    )
    return {status: int(found.get(status, 0)) for status in ROW_STATUSES}


def counts(dispatch_id: int) -> dict[str, int]:
    db.session.rollback()
    return store.counts_by_status(db.session, dispatch_id)


def outcome(row_id: int, status: str) -> RowOutcome:
    return RowOutcome(row_id=row_id, status=status, error=None if status == "executed" else "x")


def test_counts_follow_insert_claim_outcome_release_cancel_and_delete(ledger):
    admin, accounts = seed_accounts(ledger, 8)
    dispatch_id = new_dispatch(ledger, admin, accounts)
    assert counts(dispatch_id) == truth(dispatch_id)
    assert counts(dispatch_id)["pending"] == 8

    ids = [r.id for r in rows_of(dispatch_id)]
    claimed = store.claim_rows(db.session, owner="test", row_ids=ids[:5])
    assert counts(dispatch_id) == truth(dispatch_id)
    assert (counts(dispatch_id)["in_flight"], counts(dispatch_id)["pending"]) == (5, 3)

    store.record_outcomes(
        db.session,
        [outcome(claimed[0], "executed"), outcome(claimed[1], "failed")],
        owner="test",
    )
    # A fenced record (another owner) moves nothing, so it counts nothing.
    store.record_outcomes(db.session, [outcome(claimed[2], "executed")], owner="someone else")
    store.release_rows(db.session, [claimed[3]], owner="test")
    assert counts(dispatch_id) == truth(dispatch_id)
    assert {k: v for k, v in counts(dispatch_id).items() if v} == {
        "executed": 1,
        "failed": 1,
        "in_flight": 2,
        "pending": 4,
    }

    rows.cancel_pending_rows(db.session, dispatch_id, utcnow())
    db.session.commit()
    db.session.execute(delete(BroadcastQueue).where(BroadcastQueue.id == claimed[0]))
    db.session.commit()
    assert counts(dispatch_id) == truth(dispatch_id)
    assert {k: v for k, v in counts(dispatch_id).items() if v} == {
        "failed": 1,
        "in_flight": 2,
        "cancelled": 4,
    }


def test_a_rolled_back_outcome_leaves_the_counts_as_they_were(ledger):
    admin, accounts = seed_accounts(ledger, 3)
    dispatch_id = new_dispatch(ledger, admin, accounts)
    ids = store.claim_rows(db.session, owner="test", dispatch_id=dispatch_id)
    before = counts(dispatch_id)

    db.session.execute(
        update(BroadcastQueue).where(BroadcastQueue.id.in_(ids)).values(status="executed")
    )
    db.session.rollback()

    assert counts(dispatch_id) == before == truth(dispatch_id)


def test_concurrent_recorders_of_one_dispatch_keep_exact_counts(ledger):
    admin, accounts = seed_accounts(ledger, 40)
    dispatch_id = new_dispatch(ledger, admin, accounts)
    ids = [r.id for r in rows_of(dispatch_id)]
    barrier = threading.Barrier(8)
    errors: list[BaseException] = []

    def recorder(index: int) -> None:
        mine = ids[index::8]
        try:
            with ledger.app_context():
                barrier.wait()
                for row_id in mine:  # one transaction per claim and per outcome, interleaved
                    taken = store.claim_rows(db.session, owner=f"w{index}", row_ids=[row_id])
                    status = "executed" if row_id % 3 else "failed"
                    store.record_outcomes(
                        db.session, [outcome(r, status) for r in taken], owner=f"w{index}"
                    )
                db.session.remove()
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=recorder, args=(i,)) for i in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert not errors
    assert counts(dispatch_id) == truth(dispatch_id)
    assert counts(dispatch_id)["pending"] + counts(dispatch_id)["in_flight"] == 0
    assert sum(counts(dispatch_id).values()) == 40
    finished = db.session.get(Dispatch, dispatch_id)
    assert finished is not None and finished.finished_at is not None


def test_deleting_a_dispatch_deletes_its_counts(ledger):
    admin, accounts = seed_accounts(ledger, 2)
    dispatch_id = new_dispatch(ledger, admin, accounts)

    db.session.execute(delete(BroadcastQueue).where(BroadcastQueue.dispatch_id == dispatch_id))
    db.session.execute(delete(Dispatch).where(Dispatch.id == dispatch_id))
    db.session.commit()

    assert db.session.get(DispatchCounts, dispatch_id) is None
    assert counts(dispatch_id) == dict.fromkeys(ROW_STATUSES, 0)


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_upgrade_backfills_counts_of_existing_dispatches(backend, request, tmp_path):
    from app import create_app
    from flask_migrate import upgrade

    from utils.database import MIGRATIONS_DIR

    uri = (
        f"sqlite:///{tmp_path / 'old.sqlite'}"
        if backend == "sqlite"
        else request.getfixturevalue("pg_url")
    )
    config = {
        **TEST_CONFIG,
        "SQLALCHEMY_DATABASE_URI": uri,
        "LOG_DIR": tmp_path / "logs",
        "EXECUTOR_AUTOSTART": False,
    }
    app = create_app(config, mt5_gateway=None)
    with app.app_context():
        upgrade(directory=str(MIGRATIONS_DIR), revision="5698e92a46fe")
        db.engine.dispose()
    engine = sa.create_engine(uri)
    now = utcnow()
    # The tables as they stood at the previous revision (the same columns; Python-side
    # defaults fill what is not given).
    with engine.begin() as conn:
        conn.execute(
            sa.insert(User.__table__).values(
                id=1, username="old", email="old@example.com", password_hash="x"
            )
        )
        conn.execute(
            sa.insert(MT5Account.__table__).values(
                id=1, user_id=1, account_name="a", login="1", server="Sim-Demo"
            )
        )
        for dispatch_id in (1, 2):
            conn.execute(
                sa.insert(Dispatch.__table__).values(
                    id=dispatch_id, kind="broadcast", creator_id=1, order_data={},
                    request_hash="x", expires_at=now,
                )
            )  # fmt: skip
        for leg, status in enumerate(["executed", "executed", "failed"]):
            conn.execute(
                sa.insert(BroadcastQueue.__table__).values(
                    admin_user_id=1, target_user_id=1, order_data="{}", status=status,
                    dispatch_id=1, account_id=1, leg=leg,
                )
            )  # fmt: skip
    engine.dispose()

    with app.app_context():
        upgrade(directory=str(MIGRATIONS_DIR))
        first = store.counts_by_status(db.session, 1)
        empty = db.session.get(DispatchCounts, 2)
        db.session.remove()
        db.engine.dispose()

    assert {k: v for k, v in first.items() if v} == {"executed": 2, "failed": 1}
    assert empty is not None and empty.executed == 0  # a row for every dispatch, even empty


@pytest.mark.parametrize(
    "states",
    [
        # Claimed between two reads: first read pending, every later one in flight.
        [("pending", 1), ("in_flight", 1)],
        # Given back between two reads (a stopped executor's release): the other way round.
        [("in_flight", 1), ("pending", 1)],
    ],
    ids=["claimed-meanwhile", "released-meanwhile"],
)
def test_an_open_row_moving_while_it_is_read_is_still_open(monkeypatch, states):
    """has_open_rows decides on one read of the counts. Reading once per open status let a row
    that moved between the reads (pending -> in flight) look final to both, and send_orders
    answered 200 with the target still in flight."""
    reads = iter(states + [states[-1]] * 5)

    def moving_counts(_session, _dispatch_id, **_kw):
        status, n = next(reads)
        return {s: n if s == status else 0 for s in ROW_STATUSES}

    monkeypatch.setattr(store, "counts_by_status", moving_counts)
    assert store.has_open_rows(None, 1)  # type: ignore[arg-type]
