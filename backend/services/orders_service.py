"""send_orders: a user's own accounts, one dispatch, results within wait_s or a dispatch id."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from errors import AppError, NotFound
from extensions import DbSession
from ledger import intake, preview, status
from ledger.requests import SendOrdersRequest
from ledger.sending import Gateway
from ledger.types import Sizing
from models import Dispatch, MT5Account, User
from utils.database import serialised_writes
from utils.security import SecretBox
from workers import Executor

DEFAULT_WAIT_S = 10


def own_accounts(session: DbSession, user: User, account_ids: tuple[int, ...]) -> list[MT5Account]:
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
    executor: Executor,
    user: User,
    request: SendOrdersRequest,
    idempotency_key: str | None,
    ip: str | None,
) -> tuple[dict[str, Any], bool]:
    """Create (or find, by Idempotency-Key) the dispatch, wake the executor, wait for results."""
    # How long this caller waits is not part of the order: a retry may wait longer.
    body_hash = intake.request_hash(
        "orders", {k: v for k, v in vars(request).items() if k != "dry_run"} | {"wait_s": None}
    )
    dispatch = intake.find_existing(
        session, creator=user, idempotency_key=idempotency_key, body_hash=body_hash
    )
    if dispatch is None:
        with serialised_writes(session):
            dispatch = _create(session, user, request, idempotency_key, body_hash, ip)
        executor.submit_dispatch(dispatch.id)
    wait_s = float(request.wait_s if request.wait_s is not None else DEFAULT_WAIT_S)
    final = status.wait_until_final(session, dispatch.id, wait_s, executor.wait_dispatch)
    return status.dispatch_view(session, dispatch), final


def preview_orders(
    *,
    session: DbSession,
    gateway: Gateway,
    box: SecretBox,
    user: User,
    request: SendOrdersRequest,
    day_start_hour: int,
) -> dict[str, Any]:
    """A dry run on the caller's own accounts: nothing is created or sent."""
    order = request.order
    order.check()
    if request.automation is not None:
        request.automation.check(order)
    sizing = Sizing.for_order(order)
    sizing.check(order)
    accounts = own_accounts(session, user, request.account_ids)
    intake.check_order_grid(order, accounts)
    jobs = preview.preview_jobs(
        session, order=order, sizing=sizing, account_ids=[a.id for a in accounts],
        broadcast=False, box=box, day_start_hour=day_start_hour,
    )  # fmt: skip
    return preview.preview_all(jobs, gateway, {a.id: a.user_id for a in accounts})


def _create(
    session: DbSession,
    user: User,
    request: SendOrdersRequest,
    idempotency_key: str | None,
    body_hash: str,
    ip: str | None,
) -> Dispatch:
    order = request.order
    order.check()
    if request.automation is not None:
        request.automation.check(order)
    sizing = Sizing.for_order(order)
    sizing.check(order)
    return intake.create_dispatch(
        session=session,
        creator=user,
        kind="orders",
        order=order,
        sizing=sizing,
        targets=own_accounts(session, user, request.account_ids),
        idempotency_key=idempotency_key,
        body_hash=body_hash,
        expires_in_s=request.expires_in_s,
        ip=ip,
        automation=request.automation,
    )


def get_dispatch(
    session: DbSession,
    *,
    user: User,
    dispatch_id: int,
    page: int = 1,
    per_page: int = 1000,
    after: int | None = None,
) -> dict[str, Any]:
    """One of the caller's dispatches with every target's status."""
    head = status.visible_head(session, user=user, dispatch_id=dispatch_id)
    return status.dispatch_view(session, head, page=page, per_page=per_page, after=after)
