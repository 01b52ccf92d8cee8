"""Claimed rows become jobs with what each account, owner and subscription say right now.

``load_jobs`` makes a job's account reference (the decrypted password), sizing settings and
follower terms once per content of those columns (JSON as stored text) and reuses them for the
next claims: every change of an account, its owner or its subscription is in the next job, and
what it makes from stored text is what the ORM makes from the same rows.
"""

from __future__ import annotations

from decimal import Decimal

import pytest
from ledger_helpers import ledger_app, new_dispatch, seed_accounts
from sqlalchemy import select

from extensions import db, secret_box
from ledger import jobs as job_loading
from ledger.jobs import account_reference, follower_terms, load_jobs
from models import BroadcastQueue, MT5Account, Subscription, User
from services.mt5_service import password_aad


@pytest.fixture
def ledger(tmp_path, migrated_sqlite):
    app = ledger_app(tmp_path, migrated_sqlite)
    with app.app_context():
        admin, accounts = seed_accounts(app, 2)
        yield app, admin, accounts
        db.session.remove()
        db.engine.dispose()
    app.extensions["mt5_gateway"].close()


def jobs_of(app, admin, accounts) -> list:
    dispatch_id = new_dispatch(app, admin, accounts)
    ids = list(db.session.scalars(select(BroadcastQueue.id).where(
        BroadcastQueue.dispatch_id == dispatch_id).order_by(BroadcastQueue.id)))  # fmt: skip
    return load_jobs(db.session, ids, secret_box())


def test_a_job_carries_what_the_orm_reads_of_its_account_and_subscription(ledger) -> None:
    app, admin, accounts = ledger
    sub = db.session.scalars(select(Subscription).where(
        Subscription.account_id == accounts[0].id)).one()  # fmt: skip
    sub.sizing = {"mode": "risk_percent", "percent": "0.5", "below_min": "skip"}
    sub.symbols = {"allow": ["XAUUSD"]}
    sub.protection = {"max_daily_loss_percent": "3"}
    sub.day_key, sub.day_start_equity = "2026-12-03", Decimal("1000.50")
    account = db.session.get(MT5Account, accounts[0].id)
    account.symbol_map = {"XAUUSD": "GOLD.r"}
    account.volume_multiplier = Decimal("1.5")
    db.session.commit()

    job = next(j for j in jobs_of(app, admin, accounts) if j.account_id == accounts[0].id)

    db.session.refresh(sub)
    db.session.refresh(account)
    owner = db.session.get(User, account.user_id)
    orm_row = type("Row", (), {
        "account_id": account.id, "terminal": account.terminal, "login": account.login,
        "server": account.server, "symbol_map": account.symbol_map,
        "password_encrypted": account.password_encrypted, "is_active": account.is_active,
        "deleted_at": account.deleted_at, "owner_active": owner.is_active,
        "allow_broadcast": owner.allow_broadcast,
        **{f"sub_{name}": getattr(sub, name) for name in job_loading.SUBSCRIPTION},
    })()  # fmt: skip
    assert job.account == account_reference(orm_row, secret_box())[0]
    assert job.account.symbol_map == {"XAUUSD": "GOLD.r"}
    assert job.follower == follower_terms(orm_row, app.config["TRADING_DAY_START_UTC"])
    assert job.follower.sizing.percent == Decimal("0.5")
    assert job.account_settings.volume_multiplier == Decimal("1.5")


def test_every_change_of_account_owner_or_subscription_is_in_the_next_job(ledger) -> None:
    app, admin, accounts = ledger
    target = accounts[0].id

    def job() -> object:
        return next(j for j in jobs_of(app, admin, accounts) if j.account_id == target)

    first = job()
    assert all(j.account.account_id == j.account_id for j in jobs_of(app, admin, accounts))
    again = job()
    assert again.account is first.account and again.follower is first.follower  # made once

    account = db.session.get(MT5Account, target)
    account.password_encrypted = secret_box().encrypt("a new password", password_aad(account.id))
    db.session.commit()
    assert job().account.password == "a new password"

    account.risk_percent = Decimal("2")
    db.session.commit()
    assert job().account_settings.risk_percent == Decimal("2")

    sub = db.session.scalars(select(Subscription).where(Subscription.account_id == target)).one()
    sub.state = "paused"
    db.session.commit()
    assert job().follower.state == "paused"

    owner = db.session.get(User, account.user_id)
    owner.allow_broadcast = False
    db.session.commit()
    assert job().follower.state == "suspended"  # an admin suspended the owner

    account.is_active = False
    db.session.commit()
    gone = job()
    assert gone.account is None and "no longer active" in gone.account_problem
