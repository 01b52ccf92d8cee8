"""Signals: a provider's webhook post becomes a broadcast (an open) or trade-management actions
(a follow-up), through the same use cases as POST /api/broadcast_orders and
POST /api/broadcasts/{id}/actions, with the token's owner as their creator.

The same body within the resend window is the same signal: TradingView resends an alert it
thinks failed. Two copies racing each other meet at the unique (token, resend_key) of the
signals table, so only one becomes a dispatch, on SQLite and PostgreSQL alike.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import replace
from datetime import timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import event, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import scoped_session

from errors import AppError, Conflict, Forbidden, NotFound
from extensions import DbSession
from ledger import rows
from models import AuditLog, Dispatch, Signal, SignalToken, User
from models.columns import utcnow
from services import broadcast_service, trades_service
from services.audit_service import record_event
from services.signals.commands import FollowUp, FollowUpScope, OpenSignal, SignalCommand
from utils.database import serialised_writes
from workers import Executor

LATEST_SEARCHED = 50  # a follow-up without #id looks this far back for an open signal
ALL_SEARCHED = 200  # CLOSE ALL / CANCEL ALL reach at most this many recent signals
TOUCH_EVERY_S = 60  # a token's last_used_at is this precise


def body_hash(content_type: str, body: bytes) -> str:
    """What makes two posts the same signal: the same type and the same bytes."""
    return hashlib.sha256(content_type.encode() + b"\0" + body).hexdigest()


def receive_signal(
    *,
    session: DbSession,
    executor: Executor,
    token: SignalToken,
    owner: User,
    body_hash: str,
    read_command: Callable[[], SignalCommand],
    resend_window_s: int,
    default_risk_percent: Decimal,
    ip: str | None,
) -> dict[str, Any]:
    """The signal's id, its dispatches and what it was read as; a resend gets the first answer
    (before the body is even read again)."""
    cutoff = utcnow() - timedelta(seconds=resend_window_s)
    earlier = _resent(session, token, body_hash, cutoff)
    if earlier is not None:
        return signal_view(session, earlier, resent=True)
    try:
        command = read_command()
    except AppError as exc:
        _audit_rejected(session, token, owner, None, exc, ip)
        raise
    if isinstance(command, OpenSignal):
        command = replace(command, default_percent=default_risk_percent)
    try:
        _check(token, command)
    except AppError as exc:
        _audit_rejected(session, token, owner, command, exc, ip)
        raise
    with serialised_writes(session):
        try:
            signal = _claim(session, token, owner, command, body_hash, cutoff)
            if signal is None:  # a twin won the race
                twin = _resent(session, token, body_hash, cutoff)
                if twin is None:
                    raise Conflict("The same signal is being processed.", code="signal_conflict")
                return signal_view(session, twin, resent=True)
            with _linked(session, signal, _received(session, token, owner, signal, ip)):
                _execute(session, executor, owner, signal, command, ip)
        except AppError as exc:
            _audit_rejected(session, token, owner, command, exc, ip)
            raise
        _touch(session, token)
    return signal_view(session, signal, resent=False)


def _touch(session: DbSession, token: SignalToken) -> None:
    """The token's ``last_used_at``, to the minute, in its own short transaction: written in
    the signal's, every post of one token would queue on the token's row (PostgreSQL row lock)
    for as long as its broadcast takes to create."""
    now = utcnow()
    fresh_after = now - timedelta(seconds=TOUCH_EVERY_S)
    if token.last_used_at is not None and token.last_used_at >= fresh_after:
        return
    session.execute(
        update(SignalToken)
        .where(
            SignalToken.id == token.id,
            or_(
                SignalToken.last_used_at.is_(None),
                SignalToken.last_used_at < fresh_after,
            ),
        )
        .values(last_used_at=now),
        execution_options={"synchronize_session": False},
    )
    session.commit()


def _received(
    session: DbSession, token: SignalToken, owner: User, signal: Signal, ip: str | None
) -> AuditLog:
    return record_event(
        session=session,
        event="signal_received",
        actor_id=owner.id,
        target_type="signal",
        target_id=signal.id,
        ip=ip,
        details={"token": token.prefix, "kind": signal.kind},
    )


def _signal_key(signal: Signal) -> str:
    """The Idempotency-Key of the signal's dispatch (an action's adds ``:<parent>:<n>``)."""
    return f"signal:{signal.id}"


@contextmanager
def _linked(session: DbSession, signal: Signal, audit: AuditLog) -> Iterator[None]:
    """Every commit inside records on the signal (and its audit entry) the dispatches made so
    far, in the same transaction: the use cases commit their own, and a signal must never be
    committed without the dispatch it became, or the other way round."""
    instance = session() if isinstance(session, scoped_session) else session
    key = _signal_key(signal)

    def link(_session: Any) -> None:
        ids = list(
            session.scalars(
                select(Dispatch.id)
                .where(
                    Dispatch.creator_id == signal.user_id,
                    or_(Dispatch.idempotency_key == key, Dispatch.idempotency_key.like(key + ":%")),
                )
                .order_by(Dispatch.id)
            )
        )
        if ids and ids != signal.dispatch_ids:
            signal.dispatch_id, signal.dispatch_ids = ids[0], ids
            audit.details = {**(audit.details or {}), "dispatch_ids": ids}

    event.listen(instance, "before_commit", link)
    try:
        yield
    finally:
        event.remove(instance, "before_commit", link)


def _check(token: SignalToken, command: SignalCommand) -> None:
    symbol = command.order.symbol if isinstance(command, OpenSignal) else command.symbol
    if not token.allows(symbol):
        raise Forbidden(
            f"This token may not trade {symbol}.",
            code="symbol_not_allowed",
            details={"symbol": symbol, "allowed": token.symbols},
        )
    command.check()


def _resent(session: DbSession, token: SignalToken, body_hash: str, cutoff: Any) -> Signal | None:
    return session.scalars(
        select(Signal).where(
            Signal.token_id == token.id,
            Signal.resend_key == body_hash,
            Signal.created_at >= cutoff,
        )
    ).first()


def _claim(
    session: DbSession,
    token: SignalToken,
    owner: User,
    command: SignalCommand,
    body_hash: str,
    cutoff: Any,
) -> Signal | None:
    """Insert the signal holding the body's resend key (None: a concurrent twin holds it).

    An older signal's key, outside the window, is released first in the same transaction.
    """
    session.execute(
        update(Signal)
        .where(
            Signal.token_id == token.id,
            Signal.resend_key == body_hash,
            Signal.created_at < cutoff,
        )
        .values(resend_key=None),
        execution_options={"synchronize_session": False},
    )
    is_open = isinstance(command, OpenSignal)
    signal = Signal(
        token_id=token.id,
        user_id=owner.id,
        body_hash=body_hash,
        resend_key=body_hash,
        kind="open" if is_open else "follow_up",
        symbol=command.order.symbol if isinstance(command, OpenSignal) else command.symbol,
        parsed=command.to_json(),
        created_at=utcnow(),
    )
    session.add(signal)
    try:
        session.flush()
    except IntegrityError:
        session.rollback()
        return None
    return signal


def _execute(
    session: DbSession,
    executor: Executor,
    owner: User,
    signal: Signal,
    command: SignalCommand,
    ip: str | None,
) -> list[int]:
    """The dispatches the signal becomes: one broadcast, or one action per (signal addressed,
    command), in the order given (the ledger runs each account's rows in creation order).

    Each carries the Idempotency-Key ``signal:<id>`` (``:<parent>:<n>`` for actions), which is
    how ``_linked`` finds them.
    """
    if isinstance(command, OpenSignal):
        created = broadcast_service.broadcast_orders(
            session=session,
            executor=executor,
            admin=owner,
            request=command.broadcast(),
            idempotency_key=_signal_key(signal),
            ip=ip,
        )
        return [int(created["broadcast_id"])]
    actions = []
    for parent in _addressed(session, owner, signal, command):
        for number, action in enumerate(command.actions):
            try:
                created = trades_service.act_on_dispatch(
                    session=session,
                    executor=executor,
                    user=owner,
                    dispatch_id=parent,
                    action=action,
                    expires_in_s=None,
                    broadcasts_only=True,
                    idempotency_key=f"{_signal_key(signal)}:{parent}:{number}",
                    ip=ip,
                )
            except AppError as exc:
                if command.scope is FollowUpScope.ALL and exc.code == "no_open_trades":
                    break  # closed since: CLOSE ALL reaches what is still open
                raise
            actions.append(int(created["action_id"]))
    if not actions:
        raise AppError(
            "None of your signals has anything open for this.",
            code="no_open_trades",
            status_code=422,
        )
    return actions


def _addressed(session: DbSession, owner: User, signal: Signal, command: FollowUp) -> list[int]:
    """The dispatches of the opens a follow-up addresses: #id, the latest open one, or all."""
    token = session.get(SignalToken, signal.token_id)
    assert token is not None
    if command.scope is FollowUpScope.SIGNAL:
        named = session.get(Signal, command.signal_id)
        if (
            named is None
            or named.user_id != owner.id
            or named.kind != "open"
            or named.dispatch_id is None
            or not token.allows(named.symbol)
        ):
            raise NotFound("No such signal of yours.", code="signal_not_found")
        return [named.dispatch_id]
    query = select(Signal.dispatch_id, Signal.symbol).where(
        Signal.user_id == owner.id, Signal.kind == "open", Signal.dispatch_id.is_not(None)
    )
    if command.symbol is not None:
        query = query.where(Signal.symbol == command.symbol)
    limit = ALL_SEARCHED if command.scope is FollowUpScope.ALL else LATEST_SEARCHED
    on_orders = command.on_orders_only
    found = []
    for dispatch_id, symbol in session.execute(query.order_by(Signal.id.desc()).limit(limit)):
        if dispatch_id is None or not token.allows(symbol):
            continue
        if rows.open_rows_of(session, dispatch_id, on_orders=on_orders):
            found.append(dispatch_id)
            if command.scope is FollowUpScope.LATEST:
                break
    return found


def signal_view(session: DbSession, signal: Signal, *, resent: bool) -> dict[str, Any]:
    dispatch_ids = list(signal.dispatch_ids or [])
    return {
        "signal_id": signal.id,
        "dispatch_id": dispatch_ids[0] if dispatch_ids else None,
        "dispatch_ids": dispatch_ids,
        "parsed": signal.parsed,
        "resent": resent,
    }


def _audit_rejected(
    session: DbSession,
    token: SignalToken,
    owner: User,
    command: SignalCommand | None,
    exc: AppError,
    ip: str | None,
) -> None:
    """A refused signal is audited too: what it was read as, or where reading it stopped."""
    session.rollback()
    details: dict[str, Any] = {"token": token.prefix, "code": exc.code}
    if command is not None:
        details["parsed"] = command.to_json()
    elif "word" in exc.details:
        details["stopped_at"] = {k: exc.details[k] for k in ("word", "position")}
    record_event(
        session=session,
        event="signal_rejected",
        actor_id=owner.id,
        target_type="signal_token",
        target_id=token.id,
        ip=ip,
        details=details,
    )
    session.commit()


def preview(command: SignalCommand, *, default_risk_percent: Decimal) -> dict[str, Any]:
    """What a signal would do, without doing it (POST /api/signals/parse)."""
    if isinstance(command, OpenSignal):
        command = replace(command, default_percent=default_risk_percent)
    command.check()
    return {"parsed": command.to_json(), "summary": summary(command)}


def summary(command: SignalCommand) -> str:
    """One line a human can check before trusting the grammar with money."""
    if isinstance(command, OpenSignal):
        order = command.order
        entry = (
            f"{order.order_type.value} at {order.price}"
            if order.price is not None
            else "at market"
            + (f" (quoted {command.entry_reference})" if command.entry_reference else "")
        )
        stop = f", stop loss {order.stop_loss}" if order.stop_loss is not None else ", no stop loss"
        tps = ", ".join(str(tp.price) for tp in order.take_profits)
        sizing = command.sizing
        size = {
            "fixed_volume": f"{sizing.volume} lots",
            "risk_percent": f"risking {sizing.percent}% of each balance",
            "account_risk": "risking each account's own risk_percent "
            f"(or {sizing.default_percent}%)",
        }.get(sizing.mode.value, sizing.mode.value)
        return (
            f"Broadcast: {order.side} {order.symbol} {entry}{stop}"
            + (f", take profits {tps}" if tps else "")
            + f"; {size}."
        )
    target = {
        FollowUpScope.LATEST: "your latest open signal",
        FollowUpScope.SIGNAL: f"signal #{command.signal_id}",
        FollowUpScope.ALL: "every open signal"
        + (f" of {command.symbol}" if command.symbol else ""),
    }[command.scope]
    actions = ", then ".join(str(action.to_json()) for action in command.actions)
    return f"Follow-up on {target}: {actions}."
