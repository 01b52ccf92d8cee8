"""Protection outside the pre-trade check: each equity reading of a protected account (the
heartbeat's, or this module's periodic pass until the session keeper gives one), the close of
everything a ``close_all`` breach asks for, and the background thread that runs the pass.

``record_equity`` is the small function a heartbeat calls with an equity it read; the pass
``check_protection`` reads the equity itself, for every subscription that watches it.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from celery import signals
from flask import Flask
from sqlalchemy import or_, select

from errors import AppError
from extensions import EXECUTOR, GATEWAY, SECRET_BOX, DbSession, db
from ledger import intake
from ledger.actions import ActionKind, ActionTarget, TradeAction
from ledger.follower import EquityMarks, Protection, equity_breach, trading_day
from ledger.protection import apply_breach
from models import MT5Account, Subscription, User
from models.columns import utcnow
from services.mt5.gateway import MT5Gateway
from services.mt5_service import account_ref
from utils.background import BackgroundLoop
from utils.security import DecryptionFailed, SecretBox
from workers import Executor

logger = logging.getLogger("services.protection")
WATCHER = "protection_watcher"
CLOSE_ALL = TradeAction(kind=ActionKind.CLOSE)
CANCEL = TradeAction(kind=ActionKind.CANCEL)


def record_equity(
    session: DbSession,
    *,
    account_id: int,
    equity: Any,
    currency: str,
    day_start_hour: int,
    now: datetime | None = None,
) -> str | None:
    """One equity reading of an account: the day's start and the high-water mark move, and a
    limit it crosses is a breach (ledger/protection.apply_breach). Commits; returns the state
    a breach moved the subscription to, else None. An account without a subscription: nothing.
    """
    now = now or utcnow()
    sub = session.scalars(select(Subscription).where(Subscription.account_id == account_id)).first()
    if sub is None:
        return None
    marks = EquityMarks(sub.day_key, sub.day_start_equity, sub.equity_high).seen(
        equity, trading_day(now, day_start_hour)
    )
    sub.day_key, sub.day_start_equity, sub.equity_high = (
        marks.day_key, marks.day_start_equity, marks.equity_high,
    )  # fmt: skip
    sub.last_equity, sub.currency, sub.checked_at = equity, currency, now
    breach = None
    if sub.state == "active":
        breach = equity_breach(Protection.from_json(sub.protection), marks, equity, currency)
    state = apply_breach(session, account_id=account_id, breach=breach, now=now) if breach else None
    session.commit()
    return state


@dataclass(frozen=True)
class PassResult:
    read: int  # equity readings taken
    breached: list[int]  # accounts a breach moved out of active
    closing: list[int]  # close-everything actions created (dispatch ids)
    unreachable: list[int]  # accounts whose terminal did not answer


def check_protection(
    *,
    session: DbSession,
    gateway: MT5Gateway,
    box: SecretBox,
    executor: Executor,
    day_start_hour: int,
    now: datetime | None = None,
) -> PassResult:
    """One pass: read the equity of every active subscription whose protection watches it,
    then close everything of each stopped_out one still waiting for it."""
    watched = session.execute(
        select(MT5Account, Subscription.protection, Subscription.state)
        .join(Subscription, Subscription.account_id == MT5Account.id)
        .join(User, User.id == MT5Account.user_id)
        .where(
            MT5Account.deleted_at.is_(None),
            MT5Account.is_active.is_(True),
            User.is_active.is_(True),
            or_(Subscription.state == "active", Subscription.close_pending.is_(True)),
        )
        .order_by(MT5Account.id)
    ).all()
    refs = {}
    for account, protection, state in watched:
        if state == "active" and not Protection.from_json(protection).watches_equity:
            continue
        try:
            refs[account.id] = (account_ref(account, box), account.user_id, account.terminal)
        except (DecryptionFailed, ValueError):
            logger.error("account %s: cannot reach its terminal (credentials)", account.id)
    session.commit()  # no transaction stays open across terminal calls
    read, breached, unreachable = 0, [], []
    for account_id, (ref, _, _) in refs.items():
        try:
            snapshot = gateway.account_snapshot(ref)
        except AppError as exc:
            logger.warning("account %s: equity not read (%s)", account_id, exc.code)
            unreachable.append(account_id)
            continue
        read += 1
        state = record_equity(
            session, account_id=account_id, equity=snapshot.equity, currency=snapshot.currency,
            day_start_hour=day_start_hour, now=now,
        )  # fmt: skip
        if state is not None:
            breached.append(account_id)
    closing = _close_pending(session, gateway, executor, refs)
    return PassResult(read, breached, closing, unreachable)


def _close_pending(
    session: DbSession,
    gateway: MT5Gateway,
    executor: Executor,
    refs: dict[int, tuple[Any, int, str]],
) -> list[int]:
    """Close every position and cancel every pending order of stopped_out subscriptions,
    as actions (executed, reconciled and recorded like any), once per breach."""
    pending = session.execute(
        select(Subscription.account_id, Subscription.breached_at).where(
            Subscription.close_pending.is_(True)
        )
    ).all()
    session.commit()
    created = []
    for account_id, breached_at in pending:
        if account_id not in refs:
            continue
        ref, user_id, terminal = refs[account_id]
        try:
            positions = gateway.positions(ref)
            orders = gateway.orders(ref)
        except AppError as exc:
            logger.warning("account %s: close-all waits (%s)", account_id, exc.code)
            continue
        owner = session.get(User, user_id)
        assert owner is not None
        stamp = breached_at.isoformat() if breached_at else "?"
        for action, tickets in ((CLOSE_ALL, [p.ticket for p in positions]),
                                (CANCEL, [o.ticket for o in orders])):  # fmt: skip
            dispatch_id = _act(
                session, executor, owner, account_id, terminal, action, tickets, stamp
            )
            if dispatch_id is not None:
                created.append(dispatch_id)
        session.execute(
            Subscription.__table__.update()
            .where(Subscription.account_id == account_id)
            .values(close_pending=False, updated_at=utcnow())
        )
        session.commit()
    return created


def _act(
    session: DbSession,
    executor: Executor,
    owner: User,
    account_id: int,
    terminal: str,
    action: TradeAction,
    tickets: list[int],
    stamp: str,
) -> int | None:
    if not tickets:
        return None
    key = f"protection:{action.kind.value}:{account_id}:{stamp}"
    body_hash = intake.request_hash("action", {"protection": key})
    dispatch = intake.find_existing(
        session, creator=owner, idempotency_key=key, body_hash=body_hash
    )
    if dispatch is None:
        targets = [
            ActionTarget(account_id, owner.id, terminal, leg, ticket)
            for leg, ticket in enumerate(tickets)
        ]
        dispatch = intake.create_action(
            session=session, creator=owner, action=action, targets=targets, parent=None,
            idempotency_key=key, body_hash=body_hash, expires_in_s=None, ip=None,
        )  # fmt: skip
        executor.submit_dispatch(dispatch.id)
        logger.warning("account %s: protection %s of %d", account_id, action.kind, len(tickets))
    return int(dispatch.id)


class ProtectionWatcher(BackgroundLoop):
    """The periodic pass in a thread: every PROTECTION_CHECK_S, with the app's context."""

    thread_name = "protection-watcher"

    def __init__(self, app: Flask, interval_s: float) -> None:
        super().__init__()
        self.app, self.interval_s = app, interval_s

    def run_once(self) -> PassResult:
        with self.app.app_context():
            try:
                return check_protection(
                    session=db.session,
                    gateway=self.app.extensions[GATEWAY],
                    box=self.app.extensions[SECRET_BOX],
                    executor=self.app.extensions[EXECUTOR],
                    day_start_hour=self.app.config["TRADING_DAY_START_UTC"],
                )
            finally:
                db.session.remove()

    def _run(self) -> None:
        while not self._stopping.wait(self.interval_s):
            try:
                self.run_once()
            except Exception:  # a bad pass must not end the watching
                logger.exception("protection pass failed")


def init_app(app: Flask) -> None:
    """The embedded executor runs the pass in the server (Celery: in each worker process)."""
    interval = app.config["PROTECTION_CHECK_S"]
    watcher = app.extensions[WATCHER] = ProtectionWatcher(app, float(interval or 0))
    if not interval or not app.config.get("EXECUTOR_AUTOSTART", True):
        return
    if app.config["EXECUTOR"] == "celery":
        signals.worker_ready.connect(lambda **_: watcher.start(), weak=False)
        return

    @app.before_request
    def _start_protection() -> None:
        watcher.start()
