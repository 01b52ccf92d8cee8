"""What a follower sees of the dispatches that reached their accounts (only their targets)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select

from errors import NotFound
from extensions import DbSession
from ledger import status
from ledger.types import ROW_STATUSES, summary_status
from models import BroadcastQueue, Dispatch, User


def my_dispatches(
    session: DbSession, *, user: User, page: int = 1, per_page: int = 50
) -> dict[str, Any]:
    """Every dispatch with a row on the caller's accounts, newest first, a page at a time,
    each with the counts of the caller's own rows."""
    q = BroadcastQueue
    mine = select(q.dispatch_id).where(q.target_user_id == user.id).distinct().subquery()
    total = session.scalar(select(func.count()).select_from(mine)) or 0
    ids = list(
        session.scalars(
            select(mine.c.dispatch_id)
            .order_by(mine.c.dispatch_id.desc())
            .offset((page - 1) * per_page)
            .limit(per_page)
        )
    )
    counts: dict[int, dict[str, int]] = {i: dict.fromkeys(ROW_STATUSES, 0) for i in ids}
    accounts: dict[int, set[int]] = {i: set() for i in ids}
    for dispatch_id, account_id, row_status, n in session.execute(
        select(q.dispatch_id, q.account_id, q.status, func.count())
        .where(q.dispatch_id.in_(ids), q.target_user_id == user.id)
        .group_by(q.dispatch_id, q.account_id, q.status)
    ):
        counts[dispatch_id][row_status] += n
        accounts[dispatch_id].add(account_id)
    dispatches = {d.id: d for d in session.scalars(select(Dispatch).where(Dispatch.id.in_(ids)))}
    items = [_summary(dispatches[i], counts[i], accounts[i]) for i in ids]
    return {"dispatches": items, "total": total, "page": page, "per_page": per_page}


def _summary(dispatch: Dispatch, counts: dict[str, int], accounts: set[int]) -> dict[str, Any]:
    data = dispatch.order_data
    return {
        "dispatch_id": dispatch.id,
        "kind": dispatch.kind,
        "parent_id": dispatch.parent_id,
        "symbol": data.get("symbol"),
        "side": data.get("side"),
        "action": data.get("action") if dispatch.kind == "action" else None,
        "status": summary_status(counts),
        "counts": counts,
        "account_ids": sorted(accounts),
        "created_at": dispatch.created_at,
        "finished_at": dispatch.finished_at,
    }


def my_dispatch(
    session: DbSession,
    *,
    user: User,
    dispatch_id: int,
    page: int = 1,
    per_page: int = 100,
    after: int | None = None,
) -> dict[str, Any]:
    """One dispatch with only the caller's targets; a dispatch that never reached the caller's
    accounts is a 404, whoever sent it. ``after``: a keyset page, as ``broadcast_status``."""
    reached = session.scalar(
        select(BroadcastQueue.id)
        .where(BroadcastQueue.dispatch_id == dispatch_id, BroadcastQueue.target_user_id == user.id)
        .limit(1)
    )
    dispatch = session.get(Dispatch, dispatch_id) if reached is not None else None
    if dispatch is None:
        raise NotFound("No such dispatch.", code="dispatch_not_found")
    return status.dispatch_view(
        session, dispatch, page=page, per_page=per_page, after=after, user_id=user.id
    )
