"""broadcast_orders: a super admin's trade to many users' accounts, each sized for itself."""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select

from errors import AppError
from extensions import DbSession
from models import BroadcastQueue, Dispatch, MT5Account, User
from services import dispatch_service
from services.dispatch_service import TargetAccount
from services.orders_service import sizing_from_order


def eligible_accounts(session: DbSession, targets: dict[str, Any]) -> list[TargetAccount]:
    """Active accounts that take copies, whose owners are active and allow broadcasts.

    Plain rows (id, owner, terminal), not ORM objects: a thousand-target broadcast reads them
    in milliseconds.
    """
    query = (
        select(MT5Account.id, MT5Account.user_id, MT5Account.terminal)
        .join(User, User.id == MT5Account.user_id)
        .where(
            MT5Account.is_active.is_(True),
            MT5Account.deleted_at.is_(None),
            MT5Account.copy_enabled.is_(True),
            User.is_active.is_(True),
            User.allow_broadcast.is_(True),
        )
        .order_by(MT5Account.id)
    )
    if targets.get("user_ids"):
        query = query.where(MT5Account.user_id.in_(targets["user_ids"]))
    if targets.get("account_ids"):
        query = query.where(MT5Account.id.in_(targets["account_ids"]))
    return [TargetAccount(*row) for row in session.execute(query)]


def _sizing(body: dict[str, Any]) -> dict[str, Any]:
    sizing = body.get("sizing")
    if sizing:
        return dict(sizing)
    return sizing_from_order(body["order"])


def broadcast_orders(
    *,
    session: DbSession,
    executor: Any,
    admin: User,
    body: dict[str, Any],
    idempotency_key: str | None,
    ip: str | None,
) -> dict[str, Any]:
    body_hash = dispatch_service.request_hash("broadcast", body)
    dispatch = dispatch_service.find_existing(
        session, creator=admin, idempotency_key=idempotency_key, body_hash=body_hash
    )
    if dispatch is None:
        order = dict(body["order"])
        dispatch_service.check_order(order)
        sizing = _sizing(body)
        if sizing["mode"] in {"account_risk", "risk_percent"} and order.get("stop_loss") is None:
            raise AppError(
                "Risk sizing needs a stop loss.",
                code="stop_loss_required",
                status_code=422,
                details={"json": {"order": {"stop_loss": ["Required for risk sizing."]}}},
            )
        accounts = eligible_accounts(session, body["targets"])
        if not accounts:
            raise AppError("No account matches these targets.", code="no_targets", status_code=422)
        dispatch = dispatch_service.create_dispatch(
            session=session,
            creator=admin,
            kind="broadcast",
            order=order,
            sizing=sizing,
            targets=accounts,
            idempotency_key=idempotency_key,
            body_hash=body_hash,
            expires_in_s=body["expires_in_s"],
            ip=ip,
        )
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


def list_broadcasts(session: DbSession, *, limit: int = 50) -> list[dict[str, Any]]:
    dispatches = session.scalars(
        select(Dispatch)
        .where(Dispatch.kind == "broadcast")
        .order_by(Dispatch.id.desc())
        .limit(limit)
    ).all()
    result = []
    for dispatch in dispatches:
        counts = dispatch_service.counts_for(session, dispatch.id)
        result.append(
            {
                "broadcast_id": dispatch.id,
                "status": dispatch_service.summary_status(counts),
                "created_at": dispatch.created_at,
                "finished_at": dispatch.finished_at,
                "counts": counts,
                "creator_id": dispatch.creator_id,
                "symbol": dispatch.order_data.get("symbol"),
                "side": dispatch.order_data.get("side"),
            }
        )
    return result
