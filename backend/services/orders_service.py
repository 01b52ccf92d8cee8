"""send_orders: a user's own accounts, one dispatch, results within wait_s or a dispatch id."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from errors import AppError, NotFound
from extensions import DbSession
from models import MT5Account, User
from services import dispatch_service

DEFAULT_WAIT_S = 10


def sizing_from_order(order: dict[str, Any]) -> dict[str, Any]:
    """A volume or a risk in the order becomes the dispatch's sizing."""
    has_volume = order.get("volume") is not None
    risk: dict[str, Any] = order.get("risk") or {}
    if has_volume == bool(risk):
        raise AppError(
            "Give exactly one of volume or risk.",
            code="volume_or_risk_required",
            status_code=422,
            details={"json": {"volume": ["Give volume or risk."]}},
        )
    if has_volume:
        return {"mode": "fixed_volume", "volume": order["volume"]}
    if order.get("stop_loss") is None:
        raise AppError(
            "Sizing by risk needs a stop loss.",
            code="stop_loss_required",
            status_code=422,
            details={"json": {"stop_loss": ["Required when sizing by risk."]}},
        )
    if "percent" in risk:
        return {"mode": "risk_percent", "percent": risk["percent"]}
    return {"mode": "risk_amount", "amount": risk["amount"]}


def own_accounts(session: DbSession, user: User, account_ids: list[int]) -> list[MT5Account]:
    """The caller's own, live accounts in request order; any other id is a 404."""
    wanted = list(dict.fromkeys(account_ids))
    found = {
        a.id: a
        for a in session.scalars(
            select(MT5Account).where(
                MT5Account.id.in_(wanted),
                MT5Account.user_id == user.id,
                MT5Account.deleted_at.is_(None),
            )
        )
    }
    missing = [i for i in wanted if i not in found]
    if missing:
        raise NotFound(
            "No such account.", code="account_not_found", details={"account_ids": missing}
        )
    inactive = [i for i in wanted if not found[i].is_active]
    if inactive:
        raise AppError(
            "These accounts are deactivated.",
            code="account_inactive",
            status_code=422,
            details={"account_ids": inactive},
        )
    return [found[i] for i in wanted]


def send_orders(
    *,
    session: DbSession,
    executor: Any,
    user: User,
    body: dict[str, Any],
    idempotency_key: str | None,
    ip: str | None,
) -> tuple[dict[str, Any], bool]:
    """Create (or find, by Idempotency-Key) the dispatch, wake the executor, wait for results."""
    # How long this caller waits is not part of the order: a retry may wait longer.
    body_hash = dispatch_service.request_hash(
        "orders", {k: v for k, v in body.items() if k != "wait_s"}
    )
    given_wait = body.get("wait_s")
    wait_s = float(given_wait) if given_wait is not None else float(DEFAULT_WAIT_S)
    dispatch = dispatch_service.find_existing(
        session, creator=user, idempotency_key=idempotency_key, body_hash=body_hash
    )
    if dispatch is None:
        order = {
            k: v for k, v in body.items() if k not in {"account_ids", "expires_in_s", "wait_s"}
        }
        dispatch_service.check_order(order)
        sizing = sizing_from_order(order)
        targets = own_accounts(session, user, body["account_ids"])
        dispatch = dispatch_service.create_dispatch(
            session=session,
            creator=user,
            kind="orders",
            order=order,
            sizing=sizing,
            targets=targets,
            idempotency_key=idempotency_key,
            body_hash=body_hash,
            expires_in_s=body["expires_in_s"],
            ip=ip,
        )
        executor.submit_dispatch(dispatch.id)
    final = dispatch_service.wait_until_final(session, dispatch.id, wait_s, executor.wait_dispatch)
    return dispatch_service.dispatch_view(session, dispatch), final
