"""The session keeper's leases on PostgreSQL: keepers racing for the same accounts."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta

import pytest
from factories import TEST_CONFIG
from ledger_helpers import seed_accounts

from extensions import db


@pytest.fixture
def pg_app(tmp_path, pg_url):
    from app import create_app, init_database

    config = {
        **TEST_CONFIG, "SQLALCHEMY_DATABASE_URI": pg_url, "LOG_DIR": tmp_path / "logs",
        "MT5_SIM_DB": str(tmp_path / "sim.sqlite"), "EXECUTOR_AUTOSTART": False,
    }  # fmt: skip
    init_database(config)
    app = create_app(config)
    with app.app_context():
        yield app
        db.session.remove()
        db.engine.dispose()
    app.extensions["mt5_gateway"].close()


def race(app, owners: list[str], now: datetime) -> dict[str, list[int]]:
    from services.session_keeper import store

    claimed: dict[str, list[int]] = {}
    barrier = threading.Barrier(len(owners))

    def claimer(owner: str) -> None:
        with app.app_context():
            barrier.wait()
            found = store.claim_due(db.session, owner=owner, now=now, lease_s=60, limit=100)
            claimed[owner] = [c.account_id for c in found]
            db.session.remove()

    threads = [threading.Thread(target=claimer, args=(owner,)) for owner in owners]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return claimed


def test_keepers_racing_for_new_accounts_each_take_a_share_and_never_the_same(pg_app):
    _admin, accounts = seed_accounts(pg_app, 30)
    owners = [f"elsewhere-{n}:1:x" for n in range(6)]

    claimed = race(pg_app, owners, datetime.now(UTC))

    every = sorted(a for ids in claimed.values() for a in ids)
    assert every == sorted(a.id for a in accounts)  # each once, none twice


def test_keepers_racing_for_expired_leases_take_each_account_once(pg_app):
    from models import AccountSession

    seed_accounts(pg_app, 20)
    now = datetime.now(UTC)
    race(pg_app, ["gone:1:x"], now)  # one keeper took them all, then went away
    later = now + timedelta(seconds=61)
    db.session.execute(AccountSession.__table__.update().values(next_check_at=now))
    db.session.commit()

    claimed = race(pg_app, [f"elsewhere-{n}:1:x" for n in range(5)], later)

    every = sorted(a for ids in claimed.values() for a in ids)
    assert len(every) == 20 and len(set(every)) == 20
    db.session.rollback()
    owners = {r.lease_owner for r in db.session.query(AccountSession)}
    assert "gone:1:x" not in owners
