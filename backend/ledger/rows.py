"""The ledger's SQL for intake: a dispatch's rows created, read back and cancelled."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import insert, select, update

from extensions import DbSession
from ledger.actions import ActionTarget
from ledger.types import TargetAccount, magic_for, tag_for
from models import BroadcastQueue, Dispatch, MT5Account


def insert_rows(
    session: DbSession,
    dispatch: Dispatch,
    targets: Sequence[TargetAccount | MT5Account],
    *,
    legs: int,
) -> int:
    """One pending row per (target account, leg) of a flushed dispatch; one executemany."""
    order_text = json.dumps(dispatch.order_data, sort_keys=True)
    rows = [
        {
            "dispatch_id": dispatch.id,
            "account_id": account.id,
            "leg": leg,
            "admin_user_id": dispatch.creator_id,
            "target_user_id": account.user_id,
            "order_data": order_text,
            "status": "pending",
            "created_at": dispatch.created_at,
            "expires_at": dispatch.expires_at,
            "magic": magic_for(dispatch.id),
            "comment_tag": tag_for(dispatch.id, account.id, leg),
            "attempts": 0,
        }
        for account in targets
        for leg in range(legs)
    ]
    session.connection().execute(insert(BroadcastQueue.__table__), rows)  # core: no ORM bulk
    return len(rows)


def insert_action_rows(
    session: DbSession, dispatch: Dispatch, action: str, targets: Sequence[ActionTarget]
) -> int:
    """One pending row per (account, position or order) an action dispatch acts on."""
    order_text = json.dumps(dispatch.order_data, sort_keys=True)
    rows = [
        {
            "dispatch_id": dispatch.id,
            "account_id": target.account_id,
            "leg": target.leg,
            "admin_user_id": dispatch.creator_id,
            "target_user_id": target.user_id,
            "order_data": order_text,
            "status": "pending",
            "created_at": dispatch.created_at,
            "expires_at": dispatch.expires_at,
            "magic": magic_for(dispatch.id),
            "comment_tag": tag_for(dispatch.id, target.account_id, target.leg),
            "attempts": 0,
            "action": action,
            "ticket": target.ticket,
            "parent_row_id": target.parent_row_id,
        }
        for target in targets
    ]
    if rows:
        session.connection().execute(insert(BroadcastQueue.__table__), rows)  # core: no ORM bulk
    return len(rows)


def open_rows_of(session: DbSession, dispatch_id: int, *, on_orders: bool) -> list[Any]:
    """The rows of an open dispatch that hold something now: filled positions (and placed
    orders, which may have filled since), or only the placed orders for order actions."""
    q, a = BroadcastQueue, MT5Account
    statuses = ("placed",) if on_orders else ("executed", "placed")
    query = (
        select(
            q.id, q.account_id, q.target_user_id, q.leg, q.status, q.position_ticket,
            q.order_ticket, a.terminal,
        )
        .join(a, a.id == q.account_id)
        .where(q.dispatch_id == dispatch_id, q.status.in_(statuses))
        .order_by(q.id)
    )  # fmt: skip
    return list(session.execute(query))


def cancel_pending_rows(session: DbSession, dispatch_id: int, now: datetime) -> int:
    """Pending rows of the dispatch become cancelled, except those whose outcome is unknown
    (they may have reached the broker: the executor reconciles them first)."""
    result = session.execute(
        update(BroadcastQueue)
        .where(
            BroadcastQueue.dispatch_id == dispatch_id,
            BroadcastQueue.status == "pending",
            BroadcastQueue.outcome_unknown.is_(False),
        )
        .values(status="cancelled", error_message="cancelled", executed_at=now, updated_at=now),
        execution_options={"synchronize_session": False},
    )
    return int(result.rowcount or 0)  # type: ignore[attr-defined]


def pending_rows_of(session: DbSession, dispatch_id: int) -> list[int]:
    """The dispatch's pending row ids, oldest first (what a new dispatch hands the workers)."""
    query = select(BroadcastQueue.id).where(
        BroadcastQueue.dispatch_id == dispatch_id, BroadcastQueue.status == "pending"
    )
    return list(session.scalars(query.order_by(BroadcastQueue.id)))
