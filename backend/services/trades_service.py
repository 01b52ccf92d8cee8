"""Trade management: act on one account's positions and orders, or on every target a dispatch
opened. Each action becomes a dispatch of kind ``action`` in the ledger, one row per position
or order, executed exactly once like an open."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from errors import AppError, NotFound
from extensions import DbSession
from ledger import intake, rows, status
from ledger.actions import ActionKind, ActionTarget, TradeAction, legs_wanted
from ledger.automation import Automation
from ledger.types import TradeOrder
from models import Dispatch, User
from services.accounts_service import get_account
from services.audit_service import record_event
from services.calculation.price_grid import check_price_grid
from services.mt5.dto import AccountRef
from services.mt5.gateway import MT5Gateway
from services.mt5_service import account_ref
from utils.security import SecretBox
from workers import Executor

DEFAULT_WAIT_S = 10
SPEC_MAX_AGE_S = 60.0  # the tick grid does not move
CANCEL = TradeAction(kind=ActionKind.CANCEL)


@dataclass(frozen=True)
class AccountAction:
    """An action on one account: a position or order by ticket, or every matching position."""

    account_id: int
    action: TradeAction
    ticket: int | None = None  # None: close_all (every position matching symbol and side)


def act_on_account(
    *,
    session: DbSession,
    gateway: MT5Gateway,
    executor: Executor,
    box: SecretBox,
    user: User,
    request: AccountAction,
    wait_s: Decimal | None,
    idempotency_key: str | None,
    ip: str | None,
) -> tuple[dict[str, Any], bool]:
    """The action's dispatch view, once final or when ``wait_s`` (default 10 s) runs out."""
    request.action.check()
    account = get_account(session=session, user=user, account_id=request.account_id)
    body_hash = intake.request_hash("action", request)
    dispatch = intake.find_existing(
        session, creator=user, idempotency_key=idempotency_key, body_hash=body_hash
    )
    if dispatch is None:
        ref = account_ref(account, box)
        owner = (account.id, account.user_id, account.terminal)
        session.commit()  # never hold a database transaction open across a terminal call
        targets = _account_targets(gateway, ref, owner, request)
        dispatch = intake.create_action(
            session=session,
            creator=user,
            action=request.action,
            targets=targets,
            parent=None,
            idempotency_key=idempotency_key,
            body_hash=body_hash,
            expires_in_s=None,
            ip=ip,
        )
        executor.submit_dispatch(dispatch.id)
    wait = float(wait_s if wait_s is not None else DEFAULT_WAIT_S)
    final = status.wait_until_final(session, dispatch.id, wait, executor.wait_dispatch)
    return status.dispatch_view(session, dispatch), final


def _account_targets(
    gateway: MT5Gateway, ref: AccountRef, owner: tuple[int, int, str], request: AccountAction
) -> list[ActionTarget]:
    """What the action acts on, read from the terminal now: a named ticket must exist (404)."""
    action, ticket = request.action, request.ticket
    if ticket is not None and action.kind.on_orders:
        order = gateway.pending_order(ref, ticket)
        if order is None:
            raise NotFound("No such pending order on this account.", code="order_not_found")
        spec = gateway.symbol_spec(ref, order.symbol, max_age_s=SPEC_MAX_AGE_S)
        check_price_grid(spec, action.prices())
        return [ActionTarget(*owner, 0, ticket)]
    if ticket is not None:
        position = gateway.position(ref, ticket)
        if position is None:
            raise NotFound("No such open position on this account.", code="position_not_found")
        spec = gateway.symbol_spec(ref, position.symbol, max_age_s=SPEC_MAX_AGE_S)
        check_price_grid(spec, action.prices())
        return [ActionTarget(*owner, 0, ticket)]
    positions = [
        p
        for p in gateway.positions(ref, action.symbol)
        if action.side is None or p.type == action.side
    ]
    return [ActionTarget(*owner, leg, p.ticket) for leg, p in enumerate(positions)]


def act_on_dispatch(
    *,
    session: DbSession,
    executor: Executor,
    user: User,
    dispatch_id: int,
    action: TradeAction,
    expires_in_s: int | None,
    broadcasts_only: bool,
    idempotency_key: str | None,
    ip: str | None,
) -> dict[str, Any]:
    """A follow-up reaching every target the dispatch opened, whoever owns it now and whatever
    its copy settings: switching a follower off stops opens, never strands an open trade."""
    action.check()
    parent = status.get_dispatch(
        session, user=user, dispatch_id=dispatch_id, broadcasts_only=broadcasts_only
    )
    if parent.kind == "action":
        raise AppError(
            "Follow-ups act on an open dispatch, not on another action.",
            code="not_an_open",
            status_code=422,
        )
    _check_legs(parent, action)
    targets = _dispatch_targets(session, parent, action)
    intake.check_catalog_grid(
        parent.order_data["symbol"], action.prices(), (t.terminal for t in targets)
    )
    body_hash = intake.request_hash("action", {"parent": parent.id, "action": action})
    dispatch = intake.find_existing(
        session, creator=user, idempotency_key=idempotency_key, body_hash=body_hash
    )
    if dispatch is None:
        dispatch = intake.create_action(
            session=session,
            creator=user,
            action=action,
            targets=targets,
            parent=parent,
            idempotency_key=idempotency_key,
            body_hash=body_hash,
            expires_in_s=expires_in_s,
            ip=ip,
        )
        executor.submit_dispatch(dispatch.id)
    return {
        "action_id": dispatch.id,
        "parent_id": parent.id,
        "targets": dispatch.target_count,
        "status": dispatch.status,
    }


def _check_legs(parent: Dispatch, action: TradeAction) -> None:
    legs = max(1, len(parent.order_data.get("take_profits") or []))
    beyond = [leg for leg in action.legs if leg > legs]
    if beyond:
        raise AppError(
            f"This dispatch has {legs} take-profit leg(s).",
            code="invalid_legs",
            status_code=422,
            details={"json": {"legs": [f"No leg {leg}." for leg in beyond]}},
        )


def _dispatch_targets(
    session: DbSession, parent: Dispatch, action: TradeAction
) -> list[ActionTarget]:
    """One target per open row holding something: its position, or its order (placed rows:
    the order may have filled since; the executor finds the position it became)."""
    on_orders = action.kind.on_orders
    targets = []
    for row in rows.open_rows_of(session, parent.id, on_orders=on_orders):
        if not legs_wanted(action, row.leg):
            continue
        ticket = row.order_ticket if on_orders or row.status == "placed" else row.position_ticket
        ticket = ticket or row.order_ticket  # a fill whose position could not be looked up
        if ticket:
            targets.append(
                ActionTarget(
                    row.account_id, row.target_user_id, row.terminal, row.leg, ticket, row.id
                )
            )
    return targets


def set_automation(
    *,
    session: DbSession,
    user: User,
    dispatch_id: int,
    automation: Automation,
    broadcasts_only: bool,
    ip: str | None,
) -> dict[str, Any]:
    """Replace an open dispatch's rules (``{}`` removes them); rules already fired stay fired."""
    dispatch = status.get_dispatch(
        session, user=user, dispatch_id=dispatch_id, broadcasts_only=broadcasts_only
    )
    if dispatch.kind == "action":
        raise AppError(
            "Rules belong to an open dispatch, not to an action.",
            code="not_an_open",
            status_code=422,
        )
    automation.check(TradeOrder.from_json(dispatch.order_data))
    dispatch.automation = None if automation.empty else automation.to_json()
    record_event(
        session=session,
        event="automation_changed",
        actor_id=user.id,
        target_type="dispatch",
        target_id=dispatch.id,
        ip=ip,
        details={"automation": dispatch.automation},
    )
    session.commit()
    return status.dispatch_view(session, dispatch)
