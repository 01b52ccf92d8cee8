"""Execute one claimed action row: find the position or order it names, then close it, move
its stops (ledger/closing.py, ledger/stops.py) or change or cancel the pending order.

A close is never resent blind: an unknown outcome is first looked for among the deals carrying
the action's tag, and the close is then worked out again from the position as it stands. Stop
moves and order changes are idempotent at the broker (10025 NO_CHANGES is a success), so an
unknown one is checked against the position's or order's current values.
"""

from __future__ import annotations

import logging

from ledger.actions import KEEP, ActionJob, ActionKind
from ledger.closing import (
    SPEC_MAX_AGE_S,
    Hook,
    as_opened,
    close_found,
    close_position,
    may_close_unread,
    position_gone,
    send_action,
)
from ledger.sending import (
    Gateway,
    SendRules,
    Sleep,
    failed,
    order_comment,
    skipped,
    with_fields,
)
from ledger.stops import changed, move_stops
from ledger.types import RowOutcome
from models.columns import utcnow
from services.calculation.price_grid import check_price_grid
from services.mt5 import constants as c
from services.mt5.dto import (
    OrderResult,
    PendingChange,
    PendingOrder,
    PendingRemoval,
    TradeRequest,
)

logger = logging.getLogger("ledger.management")
STOPS_SPEC_MAX_AGE_S = 2.0  # stops and freeze levels move around news: seconds old at most


def execute_action(job: ActionJob, gateway: Gateway, sleep: Sleep, hook: Hook) -> RowOutcome:
    """Take one action row to a final state."""
    if job.account is None:
        return failed(
            job.row_id, "account_unavailable", job.account_problem or "the account cannot trade"
        )
    if not job.outcome_unknown:  # an unknown outcome may have acted: find out before stopping
        if job.cancelled:
            return RowOutcome(job.row_id, "cancelled", error="dispatch cancelled before sending")
        if utcnow() >= job.expires_at:
            return RowOutcome(job.row_id, "expired", error="expired before it could be sent")
    if job.action.kind.on_orders:
        return _on_order(job, gateway, sleep, hook)
    return _on_position(job, gateway, sleep, hook)


# --- positions: close, modify, breakeven -------------------------------------------------------


def _on_position(job: ActionJob, gateway: Gateway, sleep: Sleep, hook: Hook) -> RowOutcome:
    assert job.account is not None
    ticket = _position_ticket(job, gateway)
    if isinstance(ticket, RowOutcome):
        return ticket
    if job.outcome_unknown and job.action.kind is ActionKind.CLOSE:
        adopted = close_found(job, gateway, ticket)
        if adopted is not None:
            return adopted
    elif may_close_unread(job, gateway):
        opened = as_opened(job, ticket)
        spec = gateway.symbol_spec(job.account, opened.symbol, max_age_s=SPEC_MAX_AGE_S)
        outcome = close_position(job, gateway, opened, spec, sleep, hook)
        if outcome.status != "pending":
            return with_fields(outcome, symbol=opened.symbol, position_ticket=ticket)
    position = gateway.position(job.account, ticket)
    if position is None:
        return position_gone(job, ticket)
    # Lot rules do not move, but brokers widen stops and freeze levels around news: a stop
    # move reads the spec as it is now.
    closing = job.action.kind is ActionKind.CLOSE
    max_age = SPEC_MAX_AGE_S if closing else STOPS_SPEC_MAX_AGE_S
    spec = gateway.symbol_spec(job.account, position.symbol, max_age_s=max_age)
    if closing:
        outcome = close_position(job, gateway, position, spec, sleep, hook)
    else:
        outcome = move_stops(job, gateway, position, spec, sleep, hook)
    return with_fields(outcome, symbol=position.symbol, position_ticket=ticket)


def _position_ticket(job: ActionJob, gateway: Gateway) -> int | RowOutcome:
    """The position to act on; a follow-up of a pending order finds the position it filled."""
    assert job.account is not None
    if not job.from_pending_order:
        return job.ticket
    if gateway.pending_order(job.account, job.ticket) is not None:
        return skipped(job.row_id, "order_not_filled", "the pending order has not filled yet")
    fate = gateway.order_fate(job.account, job.ticket)
    if fate is None or fate.state != "filled" or not fate.position_id:
        state = fate.state if fate is not None else "unknown"
        return skipped(job.row_id, "order_not_filled", f"the pending order was {state}")
    return int(fate.position_id)


# --- pending orders: modify, cancel --------------------------------------------------------------


def _on_order(job: ActionJob, gateway: Gateway, sleep: Sleep, hook: Hook) -> RowOutcome:
    assert job.account is not None
    order = gateway.pending_order(job.account, job.ticket)
    if order is None:
        return _order_gone(job, gateway)
    if job.action.kind is ActionKind.CANCEL:
        request: TradeRequest = PendingRemoval(
            order.ticket, order.symbol, job.magic, order_comment(job.tag, None)
        )
    else:
        spec = gateway.symbol_spec(job.account, order.symbol, max_age_s=SPEC_MAX_AGE_S)
        check_price_grid(spec, job.action.prices())
        request = _order_change(job, order)
        if request == _order_change(job, order, current=True):
            return _order_done(job, c.TRADE_RETCODE_NO_CHANGES)
    rules = SendRules(
        reconcile=lambda: _order_found(job, gateway, request),
        succeeded=lambda result: _order_done(job, result.retcode),
        special=lambda result: _order_refused(job, gateway, result),
    )
    outcome = send_action(job, gateway, request, rules, sleep, hook)
    return with_fields(outcome, symbol=order.symbol, order_ticket=order.ticket)


def _order_change(job: ActionJob, order: PendingOrder, *, current: bool = False) -> PendingChange:
    """The order's new price, stops and expiration (``current``: what it has now)."""
    action = job.action
    expiration = order.expiration if current or action.expiration is KEEP else action.expiration
    return PendingChange(
        order=order.ticket,
        symbol=order.symbol,
        price=order.price_open if current else changed(action.price, order.price_open),
        sl=order.sl if current else changed(action.stop_loss, order.sl),
        tp=order.tp if current else changed(action.take_profit, order.tp),
        expiration=expiration,  # type: ignore[arg-type]
        magic=job.magic,
        comment=order_comment(job.tag, None),
    )


def _order_done(job: ActionJob, retcode: int) -> RowOutcome:
    return RowOutcome(row_id=job.row_id, status="executed", retcode=retcode)


def _order_gone(job: ActionJob, gateway: Gateway, *, after_unknown: bool = False) -> RowOutcome:
    """The order left the book: filled (its position can now be closed) or cancelled (by us,
    when an earlier attempt whose outcome is unknown was a cancel)."""
    assert job.account is not None
    fate = gateway.order_fate(job.account, job.ticket)
    if fate is not None and fate.state == "filled":
        return skipped(
            job.row_id,
            "order_filled",
            "the pending order filled meanwhile; its position can be closed",
            position_ticket=fate.position_id or None,
        )
    state = fate.state if fate is not None else "unknown"
    ours = after_unknown or job.outcome_unknown
    if ours and job.action.kind is ActionKind.CANCEL and state == "canceled":
        return _order_done(job, c.TRADE_RETCODE_DONE)  # our earlier attempt removed it
    return skipped(job.row_id, "order_gone", f"the order is no longer pending ({state})")


def _order_refused(job: ActionJob, gateway: Gateway, result: OrderResult) -> RowOutcome | None:
    if result.retcode == c.TRADE_RETCODE_NO_CHANGES:
        return _order_done(job, result.retcode)
    if result.retcode in (c.TRADE_RETCODE_INVALID_ORDER, c.TRADE_RETCODE_POSITION_CLOSED):
        return _order_gone(job, gateway)
    return None


def _order_found(job: ActionJob, gateway: Gateway, request: TradeRequest) -> RowOutcome | None:
    assert job.account is not None
    order = gateway.pending_order(job.account, job.ticket)
    if order is None:
        return _order_gone(job, gateway, after_unknown=True)
    if isinstance(request, PendingChange) and request == _order_change(job, order, current=True):
        return _order_done(job, c.TRADE_RETCODE_DONE)
    return None
