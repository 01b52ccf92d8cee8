"""The ledger's SQL: claim rows with a lease, record outcomes with fencing, sweep, finalise.

Every function here is one short transaction on the ``broadcast_queue`` table, the only durable
queue. A claim is a single UPDATE that takes a row only when it is ``pending`` and the head of
its account's queue (no row of that account in flight, no older pending row), so at most one
order per MT5 account is in flight, in creation order. On PostgreSQL the account rows are locked
first (``FOR UPDATE``), so two claims for one account cannot both see it idle.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import and_, bindparam, exists, func, insert, or_, select, update
from sqlalchemy.orm import aliased

from extensions import DbSession
from ledger.actions import ActionTarget
from ledger.leases import LEASE_SECONDS, owner_is_dead
from ledger.types import (
    FINAL_ROW_STATUSES,
    OPEN_ROW_STATUSES,
    ROW_STATUSES,
    RowOutcome,
    TargetAccount,
    magic_for,
    summary_status,
    tag_for,
)
from models import BroadcastQueue, Dispatch, MT5Account
from models.columns import utcnow


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
    session.execute(insert(BroadcastQueue), rows)
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
        session.execute(insert(BroadcastQueue), rows)
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


def _is_postgres(session: DbSession) -> bool:
    return session.get_bind().dialect.name == "postgresql"


def _head_of_account() -> Any:
    """The row is its account's next order: nothing of that account in flight, nothing older."""
    other = aliased(BroadcastQueue)
    busy = exists().where(
        other.account_id == BroadcastQueue.account_id, other.status == "in_flight"
    )
    older = exists().where(
        other.account_id == BroadcastQueue.account_id,
        other.status == "pending",
        other.id < BroadcastQueue.id,
    )
    return and_(~busy, ~older)


def _lock_accounts(session: DbSession, account_ids: Iterable[int]) -> None:
    ids = sorted(set(account_ids))
    if ids and _is_postgres(session):
        session.execute(
            select(MT5Account.id)
            .where(MT5Account.id.in_(ids))
            .order_by(MT5Account.id)
            .with_for_update()
        )


def claim_rows(
    session: DbSession,
    *,
    owner: str,
    row_ids: Sequence[int] | None = None,
    dispatch_id: int | None = None,
    dispatch_ids: Sequence[int] | None = None,
    account_ids: Sequence[int] | None = None,
    lease_seconds: int = LEASE_SECONDS,
) -> list[int]:
    """Atomically take the claimable rows named by any of the scopes; returns the ids taken.

    One call for everything the executor has to start (new dispatches, re-driven rows, each
    account's next row) keeps it to one transaction per batch.
    """
    alternatives: list[Any] = []
    if row_ids:
        alternatives.append(BroadcastQueue.id.in_(list(row_ids)))
    if dispatch_id is not None:
        alternatives.append(BroadcastQueue.dispatch_id == dispatch_id)
    if dispatch_ids:
        alternatives.append(BroadcastQueue.dispatch_id.in_(list(dispatch_ids)))
    if account_ids:
        alternatives.append(BroadcastQueue.account_id.in_(list(account_ids)))
    if not alternatives:
        return []
    scope = [or_(*alternatives)]
    if _is_postgres(session):
        _lock_accounts(session, _accounts_in_scope(session, scope))
    now = utcnow()
    statement = (
        update(BroadcastQueue)
        .where(*scope, BroadcastQueue.status == "pending", _head_of_account())
        .values(
            status="in_flight",
            lease_owner=owner,
            lease_expires_at=now + timedelta(seconds=lease_seconds),
            attempts=BroadcastQueue.attempts + 1,
            updated_at=now,
        )
        .returning(BroadcastQueue.id)
    )
    claimed = [
        row[0]
        for row in session.execute(statement, execution_options={"synchronize_session": False})
    ]
    session.commit()
    return sorted(claimed)


def _accounts_in_scope(session: DbSession, scope: list[Any]) -> list[int]:
    query = (
        select(BroadcastQueue.account_id)
        .where(*scope, BroadcastQueue.status == "pending")
        .distinct()
    )
    return list(session.scalars(query))


def record_outcomes(session: DbSession, outcomes: Sequence[RowOutcome], *, owner: str) -> None:
    """Write the outcomes of rows this owner still holds, all in one transaction.

    Fencing: a row whose lease was taken over (``lease_owner`` changed) is not overwritten. One
    executemany for the batch keeps a 1000-target fan-out to a few statements.
    """
    if not outcomes:
        return
    now = utcnow()
    table = BroadcastQueue.__table__
    statement = (
        update(table)
        .where(
            table.c.id == bindparam("b_id"),
            table.c.status == "in_flight",
            table.c.lease_owner == bindparam("b_owner"),
        )
        .values(
            status=bindparam("b_status"),
            retcode=bindparam("b_retcode"),
            error_message=bindparam("b_error"),
            order_ticket=bindparam("b_order"),
            deal_ticket=bindparam("b_deal"),
            position_ticket=bindparam("b_position"),
            fill_price=bindparam("b_price"),
            fill_volume=bindparam("b_filled"),
            latency_ms=bindparam("b_latency"),
            outcome_unknown=bindparam("b_unknown"),
            symbol=func.coalesce(bindparam("b_symbol", type_=table.c.symbol.type), table.c.symbol),
            volume=func.coalesce(bindparam("b_volume", type_=table.c.volume.type), table.c.volume),
            executed_at=bindparam("b_executed_at"),
            error_details=bindparam("b_details", type_=table.c.error_details.type),
            closed_volume=bindparam("b_closed", type_=table.c.closed_volume.type),
            remaining_volume=bindparam("b_remaining", type_=table.c.remaining_volume.type),
            lease_owner=None,
            lease_expires_at=None,
            updated_at=now,
        )
    )
    session.connection().execute(
        statement,
        [
            {
                "b_id": o.row_id,
                "b_owner": owner,
                "b_status": o.status,
                "b_retcode": o.retcode,
                "b_error": o.error,
                "b_order": o.order_ticket,
                "b_deal": o.deal_ticket,
                "b_position": o.position_ticket,
                "b_price": o.fill_price,
                "b_filled": o.fill_volume,
                "b_latency": o.latency_ms,
                "b_unknown": o.outcome_unknown,
                "b_symbol": o.symbol,
                "b_volume": o.volume,
                "b_executed_at": now if o.status in FINAL_ROW_STATUSES else None,
                "b_details": o.error_details,
                "b_closed": o.closed_volume,
                "b_remaining": o.remaining_volume,
            }
            for o in outcomes
        ],
    )
    for outcome in outcomes:
        if outcome.sibling_volumes and len(outcome.sibling_volumes) > 1:
            _store_sibling_volumes(session, outcome.row_id, outcome.sibling_volumes)
    _sum_closes_into_opens(session, {o.parent_row_id for o in outcomes if o.closed_volume})
    _finalise_dispatches(session, [o.row_id for o in outcomes], now)
    session.commit()


def _sum_closes_into_opens(session: DbSession, open_row_ids: set[int | None]) -> None:
    """An open row's closed_volume is the sum of its executed closes, recomputed from them
    (so a fenced or repeated record cannot count a close twice); summed as Decimals."""
    ids = sorted(i for i in open_row_ids if i is not None)
    if not ids:
        return
    closes = session.execute(
        select(BroadcastQueue.parent_row_id, BroadcastQueue.closed_volume).where(
            BroadcastQueue.parent_row_id.in_(ids),
            BroadcastQueue.status == "executed",
            BroadcastQueue.closed_volume.is_not(None),
        )
    ).all()
    totals = dict.fromkeys(ids, Decimal(0))
    for parent, volume in closes:  # both non-null by the query
        totals[parent] += volume  # type: ignore[index,operator]
    table = BroadcastQueue.__table__
    session.connection().execute(
        update(table)
        .where(table.c.id == bindparam("b_id"))
        .values(closed_volume=bindparam("b_total", type_=table.c.closed_volume.type)),
        [{"b_id": row_id, "b_total": total} for row_id, total in totals.items()],
    )


def _store_sibling_volumes(session: DbSession, row_id: int, volumes: dict[int, Decimal]) -> None:
    """The first leg sizes the whole account's position; the other legs keep that split."""
    row = session.execute(
        select(BroadcastQueue.dispatch_id, BroadcastQueue.account_id).where(
            BroadcastQueue.id == row_id
        )
    ).one()
    table = BroadcastQueue.__table__
    session.connection().execute(
        update(table)
        .where(
            table.c.dispatch_id == row.dispatch_id,
            table.c.account_id == row.account_id,
            table.c.leg == bindparam("b_leg"),
            table.c.volume.is_(None),
        )
        .values(volume=bindparam("b_volume")),
        [{"b_leg": leg, "b_volume": volume} for leg, volume in volumes.items()],
    )


def _finalise_dispatches(session: DbSession, row_ids: Sequence[int], now: datetime) -> None:
    if not row_ids:
        return
    dispatch_ids = set(
        session.scalars(
            select(BroadcastQueue.dispatch_id).where(BroadcastQueue.id.in_(row_ids)).distinct()
        )
    )
    finalise_dispatches(session, dispatch_ids, now)


def has_open_rows(session: DbSession, dispatch_id: int) -> bool:
    """A row of the dispatch is pending or in flight.

    An index seek on (dispatch_id, status): a dispatch still under way costs O(log n) rather
    than counting every row of a thousand-target broadcast.
    """
    open_row = session.scalar(
        select(BroadcastQueue.id)
        .where(
            BroadcastQueue.dispatch_id == dispatch_id,
            BroadcastQueue.status.in_(OPEN_ROW_STATUSES),
        )
        .limit(1)
    )
    return open_row is not None


def counts_by_status(session: DbSession, dispatch_id: int) -> dict[str, int]:
    """How many of the dispatch's rows stand in each status (every status, zeros included)."""
    found = dict(
        session.execute(
            select(BroadcastQueue.status, func.count())
            .where(BroadcastQueue.dispatch_id == dispatch_id)
            .group_by(BroadcastQueue.status)
        ).all()
    )
    return {status: int(found.get(status, 0)) for status in ROW_STATUSES}


def finalise_dispatches(
    session: DbSession, dispatch_ids: Iterable[int], now: datetime | None = None
) -> None:
    """A dispatch whose rows are all final gets its summary status and finished_at."""
    now = now or utcnow()
    for dispatch_id in dispatch_ids:
        if has_open_rows(session, dispatch_id):
            continue
        session.execute(
            update(Dispatch)
            .where(Dispatch.id == dispatch_id, Dispatch.finished_at.is_(None))
            .values(status=summary_status(counts_by_status(session, dispatch_id)), finished_at=now)
        )


def release_rows(session: DbSession, row_ids: Sequence[int], *, owner: str) -> None:
    """Give claimed rows back untouched (shutdown before they were started)."""
    if not row_ids:
        return
    session.execute(
        update(BroadcastQueue)
        .where(
            BroadcastQueue.id.in_(list(row_ids)),
            BroadcastQueue.lease_owner == owner,
            BroadcastQueue.status == "in_flight",
        )
        .values(
            status="pending",
            lease_owner=None,
            lease_expires_at=None,
            attempts=BroadcastQueue.attempts - 1,
        ),
        execution_options={"synchronize_session": False},
    )
    session.commit()


def recover_abandoned(session: DbSession) -> int:
    """Rows in flight whose lease ran out or whose worker died go back to pending, outcome unknown.

    Unknown, because the worker may have sent the order before it died: the next claim looks for
    the tagged order at the broker before sending anything.
    """
    now = utcnow()
    candidates = session.execute(
        select(
            BroadcastQueue.id, BroadcastQueue.lease_owner, BroadcastQueue.lease_expires_at
        ).where(BroadcastQueue.status == "in_flight")
    ).all()
    stale = [
        row.id
        for row in candidates
        if row.lease_expires_at is None
        or row.lease_expires_at <= now
        or owner_is_dead(row.lease_owner)
    ]
    if not stale:
        return 0
    session.execute(
        update(BroadcastQueue)
        .where(BroadcastQueue.id.in_(stale), BroadcastQueue.status == "in_flight")
        .values(
            status="pending",
            outcome_unknown=True,
            lease_owner=None,
            lease_expires_at=None,
            updated_at=now,
        ),
        execution_options={"synchronize_session": False},
    )
    session.commit()
    return len(stale)


def expire_overdue(session: DbSession) -> int:
    """Pending rows past their deadline become expired, never sent late.

    A row whose earlier attempt has an unknown outcome is left for the executor, which
    reconciles it with the broker first (it may have been filled before the deadline).
    """
    now = utcnow()
    overdue = list(
        session.scalars(
            select(BroadcastQueue.id).where(
                BroadcastQueue.status == "pending",
                BroadcastQueue.expires_at < now,
                BroadcastQueue.outcome_unknown.is_(False),
            )
        )
    )
    if not overdue:
        return 0
    session.execute(
        update(BroadcastQueue)
        .where(BroadcastQueue.id.in_(overdue), BroadcastQueue.status == "pending")
        .values(
            status="expired",
            error_message="expired before it could be sent",
            executed_at=now,
            updated_at=now,
        ),
        execution_options={"synchronize_session": False},
    )
    _finalise_dispatches(session, overdue, now)
    session.commit()
    return len(overdue)


def pending_heads(session: DbSession, limit: int = 1000, older_than_s: int = 0) -> list[int]:
    """Ids of pending rows that are their account's next order (to re-drive).

    ``older_than_s`` skips rows created or touched recently, whose own task is probably still
    queued (Celery), so a sweep does not flood the broker with duplicates.
    """
    query = select(BroadcastQueue.id).where(BroadcastQueue.status == "pending", _head_of_account())
    if older_than_s:
        cutoff = utcnow() - timedelta(seconds=older_than_s)
        query = query.where(
            func.coalesce(BroadcastQueue.updated_at, BroadcastQueue.created_at) < cutoff
        )
    return list(session.scalars(query.order_by(BroadcastQueue.id).limit(limit)))


def next_heads_for_accounts(session: DbSession, account_ids: Iterable[int]) -> list[int]:
    ids = sorted(set(account_ids))
    if not ids:
        return []
    query = select(BroadcastQueue.id).where(
        BroadcastQueue.account_id.in_(ids), BroadcastQueue.status == "pending", _head_of_account()
    )
    return list(session.scalars(query))


def pending_rows_of(session: DbSession, dispatch_id: int) -> list[int]:
    """The dispatch's pending row ids, oldest first (what a new dispatch hands the workers)."""
    query = select(BroadcastQueue.id).where(
        BroadcastQueue.dispatch_id == dispatch_id, BroadcastQueue.status == "pending"
    )
    return list(session.scalars(query.order_by(BroadcastQueue.id)))
