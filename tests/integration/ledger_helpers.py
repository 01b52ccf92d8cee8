"""Helpers for ledger tests: seed users, accounts and dispatches; read back the simulated broker."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from factories import make_config

ROOT = Path(__file__).resolve().parents[2]
MT5_PASSWORD = "Mt5-S3cret!pass"
WORKER = Path(__file__).with_name("ledger_worker.py")


def ledger_app(tmp_path: Path, migrated_sqlite: Path, **overrides: Any) -> Any:
    from app import create_app

    shutil.copy(migrated_sqlite, tmp_path / "db.sqlite")
    return create_app(make_config(tmp_path, EXECUTOR_AUTOSTART=False, **overrides))


@contextmanager
def running_ledger(tmp_path: Path, migrated_sqlite: Path, **overrides: Any) -> Iterator[Any]:
    """``ledger_app`` inside its app context; afterwards its executor stopped, its database
    connections closed and its gateway (and any simulator process) closed, whatever failed."""
    from extensions import db

    app = ledger_app(tmp_path, migrated_sqlite, **overrides)
    try:
        with app.app_context():
            try:
                yield app
            finally:
                app.extensions["executor_stop"]()
                db.session.remove()
                db.engine.dispose()
    finally:
        app.extensions["mt5_gateway"].close()


def seed_accounts(
    app: Any, count: int, *, server: str = "Sim-Demo", **settings: Any
) -> tuple[Any, list[Any]]:
    """One user per account (broadcast targets are many users), plus a super admin."""
    from extensions import db, secret_box
    from models import User
    from services.accounts_service import create_account
    from services.subscriptions_service import subscribe
    from utils.security import hash_password

    digest = hash_password("ledger test password", 4)
    stamp = int(time.time() * 1000) % 1_000_000
    admin = User(
        username=f"admin{stamp}",
        email=f"admin{stamp}@example.com",
        password_hash=digest,
        role="super_admin",
    )
    db.session.add(admin)
    db.session.commit()
    accounts = []
    for i in range(count):
        owner = User(
            username=f"trader{stamp}_{i}", email=f"t{stamp}_{i}@example.com", password_hash=digest
        )
        db.session.add(owner)
        db.session.flush()
        fields = {
            "account_name": f"acc{i}",
            "login": str(60_000_000 + stamp * 100 + i),
            "password": MT5_PASSWORD,
            "server": server,
            "account_type": "demo",
            **settings,
        }
        accounts.append(
            create_account(
                session=db.session,
                user=owner,
                fields=fields,
                box=secret_box(),
                default_terminal="sim://default",
                allowed_terminals=[],
                ip=None,
            )
        )
        # Broadcast opens reach subscribed accounts only (checked again by the executor).
        subscribe(
            session=db.session, user=owner, account_id=accounts[-1].id, sizing=None,
            symbols=None, protection=None, terms_version="test", ip=None,
        )  # fmt: skip
    return admin, accounts


def new_dispatch(
    app: Any,
    creator: Any,
    accounts: list[Any],
    *,
    order: dict[str, Any] | None = None,
    sizing: dict[str, Any] | None = None,
    expires_in_s: int = 60,
    kind: str = "broadcast",
) -> int:
    """A committed dispatch with its rows, not handed to any executor."""
    from extensions import db
    from ledger import intake
    from ledger.types import Sizing, TradeOrder

    order = order or {"symbol": "XAUUSD", "side": "buy", "order_type": "market", "deviation": 50}
    sizing = sizing or {"mode": "fixed_volume", "volume": "0.01"}
    dispatch = intake.create_dispatch(
        session=db.session,
        creator=creator,
        kind=kind,
        order=TradeOrder.from_json(order),
        sizing=Sizing.from_json(sizing),
        targets=accounts,
        idempotency_key=None,
        body_hash="test",
        expires_in_s=expires_in_s,
        ip=None,
    )
    return int(dispatch.id)


def rows_of(dispatch_id: int) -> list[Any]:
    from sqlalchemy import select

    from extensions import db
    from models import BroadcastQueue

    db.session.rollback()
    return list(
        db.session.scalars(
            select(BroadcastQueue)
            .where(BroadcastQueue.dispatch_id == dispatch_id)
            .order_by(BroadcastQueue.id)
        )
    )


def wait_one_executed(dispatch_id: int, timeout: float = 60.0) -> None:
    """Until one row of the dispatch has executed (a test about to break something mid-way)."""
    deadline = time.monotonic() + timeout
    while not any(r.status == "executed" for r in rows_of(dispatch_id)):
        assert time.monotonic() < deadline, "nothing executed within the timeout"
        time.sleep(0.005)


def wait_final(dispatch_id: int, timeout: float = 20.0) -> list[Any]:
    deadline = time.monotonic() + timeout
    while True:
        rows = rows_of(dispatch_id)
        if all(r.is_final for r in rows):
            return rows
        if time.monotonic() > deadline:
            raise AssertionError(f"rows not final: {[(r.id, r.status) for r in rows]}")
        time.sleep(0.02)


def broker_fills(sim_db: str, accounts: list[Any], server: str = "Sim-Demo") -> Counter[str]:
    """Opening deals at the simulated broker, counted by the ledger tag leading their comment."""
    return broker_book(sim_db, accounts, server).opens


class BrokerBook:
    """What the simulated broker holds for some accounts: deals by tag and open positions."""

    def __init__(self) -> None:
        self.opens: Counter[str] = Counter()  # DEAL_ENTRY_IN deals by tag
        self.closes: Counter[str] = Counter()  # DEAL_ENTRY_OUT deals by tag
        self.positions: dict[int, list[Any]] = {}  # login -> open positions


def broker_book(sim_db: str, accounts: list[Any], server: str = "Sim-Demo") -> BrokerBook:
    from mt5sim.broker import Broker
    from mt5sim.sim_terminal import SimTerminal

    broker = Broker(sim_db, name="default", step_ms=0)
    book = BrokerBook()
    try:
        for account in accounts:
            login = account if isinstance(account, int) else int(account.login)
            terminal = SimTerminal(broker)
            if not terminal.initialize(login=login, password=MT5_PASSWORD, server=server):
                continue  # never logged in: nothing was ever sent for it
            deals = (
                terminal.history_deals_get(
                    datetime(2000, 1, 1, tzinfo=UTC), datetime(2100, 1, 1, tzinfo=UTC)
                )
                or ()
            )
            for deal in deals:
                tag = deal.comment.split(" ", 1)[0]
                if deal.type in (0, 1) and deal.entry == 0:
                    book.opens[tag] += 1
                elif deal.type in (0, 1) and deal.entry == 1:
                    book.closes[tag] += 1
            book.positions[login] = list(terminal.positions_get() or ())
    finally:
        broker.close()
    return book


def run_worker(
    tmp_path: Path, *, crash_at: str = "", ledger_db: str | None = None, timeout: float = 90
) -> int:
    """Run the worker process to completion (or to its self-inflicted SIGKILL); its exit code."""
    env = {
        **os.environ,
        "LEDGER_DB": ledger_db or str(tmp_path / "db.sqlite"),
        "SIM_DB": str(tmp_path / "sim.sqlite"),
        "LOG_DIR": str(tmp_path / "logs"),
        "CRASH_AT": crash_at,
    }
    result = subprocess.run(
        [sys.executable, str(WORKER)],
        env=env,
        cwd=ROOT,
        timeout=timeout,
        capture_output=True,
        text=True,
    )
    if result.returncode not in (0, -9):
        raise AssertionError(f"worker failed ({result.returncode}): {result.stderr[-3000:]}")
    return result.returncode
