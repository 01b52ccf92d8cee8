"""The sweeper's SQL: rows a dead worker left in flight, signals past their deadline, and the
pending rows to re-drive after a crash or a lost message."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import timedelta

from sqlalchemy import func, select, update

from extensions import DbSession
from ledger import store
from ledger.leases import owner_is_dead
from models import BroadcastQueue
from models.columns import utcnow


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
    store.finalise_rows_dispatches(session, overdue, now)
    session.commit()
    return len(overdue)


def pending_heads(session: DbSession, limit: int = 1000, older_than_s: int = 0) -> list[int]:
    """Ids of pending rows that are their account's next order (to re-drive).

    ``older_than_s`` skips rows created or touched recently, whose own task is probably still
    queued (Celery), so a sweep does not flood the broker with duplicates.
    """
    query = select(BroadcastQueue.id).where(
        BroadcastQueue.status == "pending", store.head_of_account()
    )
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
        BroadcastQueue.account_id.in_(ids),
        BroadcastQueue.status == "pending",
        store.head_of_account(),
    )
    return list(session.scalars(query))
