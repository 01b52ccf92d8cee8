"""broadcast_orders: a super admin's trade to many users' accounts, each sized for itself."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

from sqlalchemy import func, select

from errors import AppError
from extensions import DbSession
from ledger import intake, preview, status
from ledger.follower import OPEN_STATES
from ledger.requests import BroadcastRequest
from ledger.sending import Gateway
from ledger.types import Sizing, TargetAccount, Targets
from models import BroadcastQueue, Dispatch, MT5Account, Subscription, User
from utils.database import serialised_writes
from utils.security import SecretBox
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
    """Create (or find, by Idempotency-Key) the broadcast and wake the executor."""
    body_hash = intake.request_hash("broadcast", _without_dry_run(request))
    dispatch = intake.find_existing(
        session, creator=admin, idempotency_key=idempotency_key, body_hash=body_hash
    )
    if dispatch is None:
        with serialised_writes(session):
            dispatch, accounts_count = _create(
                session, admin, request, idempotency_key, body_hash, ip
            )
        executor.submit_dispatch(dispatch.id)
    else:  # a replay: counted from its rows (the accounts may have changed since)
        accounts_count = (
            session.scalar(
                select(func.count(func.distinct(BroadcastQueue.account_id))).where(
                    BroadcastQueue.dispatch_id == dispatch.id
                )
            )
            or 0
        )
    return {
        "broadcast_id": dispatch.id,
        "targets": dispatch.target_count,
        "accounts": accounts_count,
        "status": dispatch.status,
    }


def _without_dry_run(request: BroadcastRequest) -> dict[str, Any]:
    """What identifies the broadcast (the hash is the same as before dry runs existed)."""
    return {k: v for k, v in vars(request).items() if k != "dry_run"}


def _checked_sizing(request: BroadcastRequest) -> Sizing:
    order = request.order
    order.check()
    if request.automation is not None:
        request.automation.check(order)
    sizing = request.sizing or Sizing.for_order(order)
    sizing.check(order, "order")
    return sizing


def _accounts(session: DbSession, request: BroadcastRequest) -> list[TargetAccount]:
    accounts = eligible_accounts(session, request.targets)
    if not accounts:
        raise AppError("No account matches these targets.", code="no_targets", status_code=422)
    return accounts


def preview_broadcast(
    *,
    session: DbSession,
    gateway: Gateway,
    box: SecretBox,
    request: BroadcastRequest,
    day_start_hour: int,
) -> dict[str, Any]:
    """A dry run: what the broadcast would do on every account it would reach (nothing is
    created or sent); each target read at its terminal, as the executor would."""
    sizing = _checked_sizing(request)
    accounts = _accounts(session, request)
    intake.check_order_grid(request.order, accounts)
    jobs = preview.preview_jobs(
        session, order=request.order, sizing=sizing, account_ids=[a.id for a in accounts],
        broadcast=True, box=box, day_start_hour=day_start_hour,
    )  # fmt: skip
    return preview.preview_all(jobs, gateway, {a.id: a.user_id for a in accounts})


def _create(
    session: DbSession,
    admin: User,
    request: BroadcastRequest,
    idempotency_key: str | None,
    body_hash: str,
    ip: str | None,
) -> tuple[Dispatch, int]:
    """The new broadcast and how many accounts it reaches (counted before the executor runs:
    a query after the hand-over competed with the first sends)."""
    sizing = _checked_sizing(request)
    accounts = _accounts(session, request)
    dispatch = intake.create_dispatch(
        session=session,
        creator=admin,
        kind="broadcast",
        order=request.order,
        sizing=sizing,
        targets=accounts,
        idempotency_key=idempotency_key,
        body_hash=body_hash,
        expires_in_s=request.expires_in_s,
        ip=ip,
        automation=request.automation,
    )
    return dispatch, len({account.id for account in accounts})


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
    session: DbSession,
    *,
    admin: User,
    broadcast_id: int,
    page: int = 1,
    per_page: int = 1000,
    after: int | None = None,
) -> dict[str, Any]:
    """One broadcast's counts and a page of its targets."""
    head = status.visible_head(session, user=admin, dispatch_id=broadcast_id, broadcasts_only=True)
    return status.dispatch_view(session, head, page=page, per_page=per_page, after=after)


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
