"""The ledger's front half: create a dispatch and its rows atomically, idempotently; report it."""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any, NamedTuple

from sqlalchemy import func, insert, select, update
from sqlalchemy.exc import IntegrityError

from errors import AppError, Conflict, NotFound
from extensions import DbSession
from models import BroadcastQueue, Dispatch, MT5Account, User
from models.broadcast import ROW_STATUSES
from services.audit_service import record_event
from services.calculation_service import check_price_grid, named_prices
from services.mt5.catalog import CATALOG
from workers.store import finalise_dispatches, summary_status

MAGIC_BASE = 770_000_000  # magic = MAGIC_BASE + dispatch id: the dispatch, visible in MT5


class TargetAccount(NamedTuple):
    """What a dispatch needs of a target account (an MT5Account row fits too)."""

    id: int
    user_id: int
    terminal: str


def magic_for(dispatch_id: int) -> int:
    return MAGIC_BASE + dispatch_id


def tag_for(dispatch_id: int, account_id: int, leg: int) -> str:
    """The row's tag, unique by the (dispatch, account, leg) constraint; it leads the comment."""
    return f"t{dispatch_id}.{account_id}.{leg}"


def _canonical(value: Any) -> Any:
    if isinstance(value, Decimal):
        return format(value.normalize(), "f")
    if isinstance(value, dict):
        return {k: _canonical(v) for k, v in sorted(value.items())}
    if isinstance(value, list | tuple):
        return [_canonical(v) for v in value]
    return value


def request_hash(kind: str, body: dict[str, Any]) -> str:
    """The same request gives the same hash whatever its key order or number spelling."""
    text = json.dumps(
        {"kind": kind, "body": _canonical(body)}, sort_keys=True, separators=(",", ":")
    )
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def check_order(order: dict[str, Any]) -> None:
    """Rules a schema cannot state: prices per order type, stop sides, take-profit shares."""
    order_type = order.get("order_type", "market")
    if order_type != "market" and order.get("price") is None:
        raise _invalid("price_required", "Limit and stop orders need a price.", "price")
    tps = order.get("take_profits") or []
    if tps and sum(Decimal(tp["share_percent"]) for tp in tps) != 100:
        raise _invalid(
            "shares_do_not_sum_to_100", "Take-profit shares must add up to 100.", "take_profits"
        )
    reference = order.get("price")
    if reference is None:
        return
    buy = order["side"] == "buy"
    stop = order.get("stop_loss")
    if stop is not None and (stop >= reference if buy else stop <= reference):
        raise _invalid(
            "sl_wrong_side", "The stop loss is on the wrong side of the price.", "stop_loss"
        )
    for tp in tps:
        if tp["price"] <= reference if buy else tp["price"] >= reference:
            raise _invalid(
                "take_profit_wrong_side",
                "A take profit is on the wrong side of the price.",
                "take_profits",
            )


def order_prices(order: dict[str, Any]) -> dict[str, Decimal | None]:
    """The order's price, stop loss and take-profit prices by field name."""
    return named_prices(order, ("price", "stop_loss"))


def check_order_grid(order: dict[str, Any], targets: Sequence[TargetAccount | MT5Account]) -> None:
    """``price_off_tick_grid`` (422) when a price is off the catalog symbol's tick grid.

    Checked at request time only when every target is on a simulated terminal, whose symbols
    are the catalog's: a real broker may quote the same name on a finer grid (gold to 0.001),
    so real terminals are checked by the executor against their live spec before sending.
    """
    if not all(account.terminal.startswith("sim://") for account in targets):
        return
    contract = CATALOG.get(order.get("symbol") or "")
    if contract is not None:
        check_price_grid(contract, order_prices(order))


def _invalid(code: str, message: str, field: str) -> AppError:
    return AppError(message, code=code, status_code=422, details={"json": {field: [message]}})


def jsonable(value: Any) -> Any:
    if isinstance(value, Decimal):
        return format(value, "f")
    if isinstance(value, dict):
        return {k: jsonable(v) for k, v in value.items()}
    if isinstance(value, list):
        return [jsonable(v) for v in value]
    return value


def find_existing(
    session: DbSession, *, creator: User, idempotency_key: str | None, body_hash: str
) -> Dispatch | None:
    """Idempotency: the same key and body is the same dispatch; another body under it is a 422."""
    if idempotency_key is None:
        return None
    existing = session.scalars(
        select(Dispatch).where(
            Dispatch.creator_id == creator.id, Dispatch.idempotency_key == idempotency_key
        )
    ).first()
    if existing is not None and existing.request_hash != body_hash:
        raise AppError(
            "This Idempotency-Key was already used with a different request.",
            code="idempotency_key_reused",
            status_code=422,
        )
    return existing


def create_dispatch(
    *,
    session: DbSession,
    creator: User,
    kind: str,
    order: dict[str, Any],
    sizing: dict[str, Any],
    targets: Sequence[TargetAccount | MT5Account],
    idempotency_key: str | None,
    body_hash: str,
    expires_in_s: int,
    ip: str | None,
) -> Dispatch:
    """The dispatch and one row per (target account, leg), in one transaction or not at all."""
    check_order_grid(order, targets)
    now = datetime.now(UTC)
    expires_at = now + timedelta(seconds=expires_in_s)
    legs = max(1, len(order.get("take_profits") or []))
    dispatch = Dispatch(
        kind=kind,
        creator_id=creator.id,
        order_data=jsonable(order),
        sizing=jsonable(sizing),
        idempotency_key=idempotency_key,
        request_hash=body_hash,
        status="pending",
        target_count=len(targets) * legs,
        created_at=now,
        expires_at=expires_at,
    )
    session.add(dispatch)
    try:
        session.flush()
    except IntegrityError as exc:
        session.rollback()
        raise Conflict(
            "A request with this Idempotency-Key is being processed.", code="idempotency_conflict"
        ) from exc
    order_text = json.dumps(dispatch.order_data, sort_keys=True)
    rows = [
        {
            "dispatch_id": dispatch.id,
            "account_id": account.id,
            "leg": leg,
            "admin_user_id": creator.id,
            "target_user_id": account.user_id,
            "order_data": order_text,
            "status": "pending",
            "created_at": now,
            "expires_at": expires_at,
            "magic": magic_for(dispatch.id),
            "comment_tag": tag_for(dispatch.id, account.id, leg),
            "attempts": 0,
        }
        for account in targets
        for leg in range(legs)
    ]
    session.execute(insert(BroadcastQueue), rows)
    record_event(
        session=session,
        event=f"{kind}_created",
        actor_id=creator.id,
        target_type="dispatch",
        target_id=dispatch.id,
        ip=ip,
        details={
            "accounts": len(targets),
            "rows": len(rows),
            "symbol": order.get("symbol"),
            "side": order.get("side"),
        },
    )
    session.commit()
    return dispatch


def counts_for(session: DbSession, dispatch_id: int) -> dict[str, int]:
    found = dict(
        session.execute(
            select(BroadcastQueue.status, func.count())
            .where(BroadcastQueue.dispatch_id == dispatch_id)
            .group_by(BroadcastQueue.status)
        ).all()
    )
    return {status: int(found.get(status, 0)) for status in ROW_STATUSES}


def dispatch_view(
    session: DbSession, dispatch: Dispatch, *, page: int = 1, per_page: int = 1000
) -> dict[str, Any]:
    counts = counts_for(session, dispatch.id)
    rows = session.scalars(
        select(BroadcastQueue)
        .where(BroadcastQueue.dispatch_id == dispatch.id)
        .order_by(BroadcastQueue.id)
        .offset((page - 1) * per_page)
        .limit(per_page)
    ).all()
    return {
        "dispatch_id": dispatch.id,
        "kind": dispatch.kind,
        "status": summary_status(counts),
        "created_at": dispatch.created_at,
        "expires_at": dispatch.expires_at,
        "finished_at": dispatch.finished_at,
        "counts": counts,
        "total": sum(counts.values()),
        "page": page,
        "per_page": per_page,
        "targets": [target_view(row) for row in rows],
    }


def target_view(row: BroadcastQueue) -> dict[str, Any]:
    return {
        "row_id": row.id,
        "account_id": row.account_id,
        "user_id": row.target_user_id,
        "leg": row.leg,
        "symbol": row.symbol,
        "volume": row.volume,
        "status": row.status,
        "retcode": row.retcode,
        "order": row.order_ticket,
        "deal": row.deal_ticket,
        "position": row.position_ticket,
        "price": row.fill_price,
        "filled_volume": row.fill_volume,
        "attempts": row.attempts,
        "latency_ms": row.latency_ms,
        "error": row.error_message,
        "executed_at": row.executed_at,
    }


def is_final(session: DbSession, dispatch_id: int) -> bool:
    """No row of the dispatch is pending or in flight (an index seek on dispatch and status)."""
    open_row = session.scalar(
        select(BroadcastQueue.id)
        .where(
            BroadcastQueue.dispatch_id == dispatch_id,
            BroadcastQueue.status.in_(("pending", "in_flight")),
        )
        .limit(1)
    )
    return open_row is None


def wait_until_final(
    session: DbSession, dispatch_id: int, wait_s: float, wait_dispatch: Any
) -> bool:
    """Wait (up to wait_s) for every row of the dispatch to reach a final state.

    ``wait_dispatch(dispatch_id, timeout)`` returns when the executor recorded an outcome of
    this dispatch; the database is re-read then, and at least every half second regardless.
    """
    deadline = time.monotonic() + wait_s
    while True:
        final = is_final(session, dispatch_id)
        # End the read and hand the connection back before waiting: fifty waiting requests
        # must not hold the pool the executor needs to record their outcomes.
        session.rollback()
        if final:
            return True
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            return False
        wait_dispatch(dispatch_id, min(remaining, 0.5))


def get_dispatch(
    session: DbSession, *, user: User, dispatch_id: int, kind: str | None = None
) -> Dispatch:
    """The caller's own dispatch (super admins see every broadcast); others are 404."""
    dispatch = session.get(Dispatch, dispatch_id)
    visible = dispatch is not None and (
        dispatch.creator_id == user.id
        or (dispatch.kind == "broadcast" and user.has_role("super_admin"))
    )
    if dispatch is None or not visible or (kind is not None and dispatch.kind != kind):
        raise NotFound("No such dispatch.", code="dispatch_not_found")
    return dispatch


def cancel_dispatch(session: DbSession, *, dispatch: Dispatch, actor: User, ip: str | None) -> int:
    """Stop what has not started: pending rows become cancelled; rows in flight finish."""
    now = datetime.now(UTC)
    if dispatch.cancelled_at is None:
        dispatch.cancelled_at = now
    result = session.execute(
        update(BroadcastQueue)
        .where(
            BroadcastQueue.dispatch_id == dispatch.id,
            BroadcastQueue.status == "pending",
            BroadcastQueue.outcome_unknown.is_(False),
        )
        .values(status="cancelled", error_message="cancelled", executed_at=now, updated_at=now),
        execution_options={"synchronize_session": False},
    )
    cancelled = int(result.rowcount or 0)  # type: ignore[attr-defined]
    finalise_dispatches(session, [dispatch.id], now)
    record_event(
        session=session,
        event=f"{dispatch.kind}_cancelled",
        actor_id=actor.id,
        target_type="dispatch",
        target_id=dispatch.id,
        ip=ip,
        details={"rows": cancelled},
    )
    session.commit()
    return cancelled
