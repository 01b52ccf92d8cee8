"""broadcast_orders: a super admin's trade to many users' accounts, each sized for itself."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

from sqlalchemy import func, select

from errors import AppError
from extensions import DbSession
from ledger import intake, status
from ledger.follower import OPEN_STATES
from ledger.requests import BroadcastRequest
from ledger.types import Sizing, TargetAccount, Targets
from models import BroadcastQueue, Dispatch, MT5Account, Subscription, User
from workers import Executor


def eligible_accounts(session: DbSession, targets: Targets) -> list[TargetAccount]:
    """Active accounts whose owner subscribed them (a subscription in state ``active``), that
    take copies, whose owners are active and not suspended by an admin (allow_broadcast).

    Plain rows (id, owner, terminal), not ORM objects: a thousand-target broadcast reads them
    in milliseconds. The executor checks the subscription again before sending.
    """
    query = (
        select(MT5Account.id, MT5Account.user_id, MT5Account.terminal)
        .join(User, User.id == MT5Account.user_id)
        .join(Subscription, Subscription.account_id == MT5Account.id)
        .where(
            MT5Account.is_active.is_(True),
            MT5Account.deleted_at.is_(None),
            MT5Account.copy_enabled.is_(True),
            User.is_active.is_(True),
            User.allow_broadcast.is_(True),
            Subscription.state.in_(OPEN_STATES),
        )
        .order_by(MT5Account.id)
    )
    if targets.user_ids:
        query = query.where(MT5Account.user_id.in_(targets.user_ids))
    if targets.account_ids:
        query = query.where(MT5Account.id.in_(targets.account_ids))
    return [TargetAccount(*row) for row in session.execute(query)]


def broadcast_orders(
    *,
    session: DbSession,
    executor: Executor,
    admin: User,
    request: BroadcastRequest,
    idempotency_key: str | None,
    ip: str | None,
) -> dict[str, Any]:
    body_hash = intake.request_hash("broadcast", request)
    dispatch = intake.find_existing(
        session, creator=admin, idempotency_key=idempotency_key, body_hash=body_hash
    )
    if dispatch is None:
        dispatch = _create(session, admin, request, idempotency_key, body_hash, ip)
        executor.submit_dispatch(dispatch.id)
    accounts_count = session.scalar(
        select(func.count(func.distinct(BroadcastQueue.account_id))).where(
            BroadcastQueue.dispatch_id == dispatch.id
        )
    )
    return {
        "broadcast_id": dispatch.id,
        "targets": dispatch.target_count,
        "accounts": accounts_count or 0,
        "status": dispatch.status,
    }


def _create(
    session: DbSession,
    admin: User,
    request: BroadcastRequest,
    idempotency_key: str | None,
    body_hash: str,
    ip: str | None,
) -> Dispatch:
    order = request.order
    order.check()
    if request.automation is not None:
        request.automation.check(order)
    sizing = request.sizing or Sizing.for_order(order)
    sizing.check(order, "order")
    accounts = eligible_accounts(session, request.targets)
    if not accounts:
        raise AppError("No account matches these targets.", code="no_targets", status_code=422)
    return intake.create_dispatch(
        session=session,
        creator=admin,
        kind="broadcast",
        order=order,
        sizing=sizing,
        targets=accounts,
        idempotency_key=idempotency_key,
        body_hash=body_hash,
        expires_in_s=request.expires_in_s,
        ip=ip,
        automation=request.automation,
    )


def list_broadcasts(session: DbSession, *, limit: int = 50) -> list[dict[str, Any]]:
    dispatches = session.scalars(
        select(Dispatch)
        .where(Dispatch.kind == "broadcast")
        .order_by(Dispatch.id.desc())
        .limit(limit)
    ).all()
    return [status.summary_view(session, dispatch) for dispatch in dispatches]


def _broadcast(session: DbSession, admin: User, broadcast_id: int) -> Dispatch:
    return status.get_dispatch(session, user=admin, dispatch_id=broadcast_id, broadcasts_only=True)


def broadcast_view(
    session: DbSession, *, admin: User, broadcast_id: int, page: int = 1, per_page: int = 1000
) -> dict[str, Any]:
    """One broadcast's targets and counts."""
    dispatch = _broadcast(session, admin, broadcast_id)
    return status.dispatch_view(session, dispatch, page=page, per_page=per_page)


def broadcast_events(
    session: DbSession, *, admin: User, broadcast_id: int, wait_changed: Callable[[float], None]
) -> Iterator[str]:
    """The broadcast's Server-Sent Events (a 404 is raised before the stream starts)."""
    dispatch = _broadcast(session, admin, broadcast_id)
    return status.event_stream(session, dispatch.id, wait_changed)


def cancel_broadcast(
    session: DbSession, *, admin: User, broadcast_id: int, ip: str | None
) -> dict[str, Any]:
    """Cancel what has not started; what is in flight finishes and is recorded."""
    dispatch = _broadcast(session, admin, broadcast_id)
    intake.cancel_dispatch(session, dispatch=dispatch, actor=admin, ip=ip)
    return status.dispatch_view(session, dispatch)
