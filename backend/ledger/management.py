"""Execute one claimed action row: find the position or order it names, decide, send, record.

A close is never resent blind: an unknown outcome is first looked for among the deals carrying
the action's tag, and the close is then worked out again from the position as it stands. Stop
moves and order changes are idempotent at the broker (10025 NO_CHANGES is a success), so an
unknown one is checked against the position's or order's current values.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import timedelta
from decimal import ROUND_CEILING, ROUND_FLOOR, Decimal

from ledger.actions import KEEP, ActionJob, ActionKind, PriceChange
from ledger.sending import (
    Gateway,
    SendRules,
    Sleep,
    failed,
    order_comment,
    send_with_policy,
    skipped,
    with_fields,
)
from ledger.types import RowOutcome
from models.columns import utcnow
from services.calculation.price_grid import check_price_grid
from services.calculation.volume import floor_to_step
from services.mt5 import constants as c
from services.mt5.dto import (
    OrderRequest,
    OrderResult,
    PendingChange,
    PendingOrder,
    PendingRemoval,
    Position,
    StopsChange,
    SymbolSpec,
    Tick,
    TradeRequest,
)

logger = logging.getLogger("ledger.management")

CLOSE_DEVIATION_POINTS = 50  # a close should go through even when the price just moved
SPEC_MAX_AGE_S = 60.0
Hook = Callable[[str], None]


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


def _send(
    job: ActionJob,
    gateway: Gateway,
    request: TradeRequest,
    rules: SendRules,
    sleep: Sleep,
    hook: Hook,
) -> RowOutcome:
    assert job.account is not None
    hook("before_send")
    return send_with_policy(
        row_id=job.row_id,
        expires_at=job.expires_at,
        account=job.account,
        gateway=gateway,
        request=request,
        rules=rules,
        sleep=sleep,
        after_send=lambda: hook("after_send"),
    )


# --- positions: close, modify, breakeven -------------------------------------------------------


def _on_position(job: ActionJob, gateway: Gateway, sleep: Sleep, hook: Hook) -> RowOutcome:
    assert job.account is not None
    ticket = _position_ticket(job, gateway)
    if isinstance(ticket, RowOutcome):
        return ticket
    if job.outcome_unknown and job.action.kind is ActionKind.CLOSE:
        adopted = _close_found(job, gateway, ticket)
        if adopted is not None:
            return adopted
    elif _may_close_unread(job, gateway):
        as_opened = _as_opened(job, ticket)
        spec = gateway.symbol_spec(job.account, as_opened.symbol, max_age_s=SPEC_MAX_AGE_S)
        outcome = _close(job, gateway, as_opened, spec, sleep, hook)
        if outcome.status != "pending":
            return with_fields(outcome, symbol=as_opened.symbol, position_ticket=ticket)
    position = gateway.position(job.account, ticket)
    if position is None:
        return _position_gone(job, ticket)
    # Lot rules do not move, but brokers widen stops and freeze levels around news: a stop
    # move reads the spec as it is now.
    closing = job.action.kind is ActionKind.CLOSE
    max_age = SPEC_MAX_AGE_S if closing else None
    spec = gateway.symbol_spec(job.account, position.symbol, max_age_s=max_age)
    if closing:
        outcome = _close(job, gateway, position, spec, sleep, hook)
    else:
        outcome = _move_stops(job, gateway, position, spec, sleep, hook)
    return with_fields(outcome, symbol=position.symbol, position_ticket=ticket)


def _may_close_unread(job: ActionJob, gateway: Gateway) -> bool:
    """A close may skip reading the position first (one round trip less) on a hedging account
    whose leg is known: there the position is exactly what the leg opened less what its closes
    took, and a close larger than what it holds now (closed in part by hand) is refused with
    10038, never filled; on a netting account a larger opposite deal would reverse it."""
    assert job.account is not None
    return (
        job.action.kind is ActionKind.CLOSE
        and not job.from_pending_order
        and job.leg_open_volume is not None
        and job.open_symbol is not None
        and job.open_side in ("buy", "sell")
        and gateway.known_margin_mode(job.account) == "hedging"
    )


def _as_opened(job: ActionJob, ticket: int) -> Position:
    """The position as its open row and earlier closes left it."""
    assert job.open_symbol is not None and job.leg_open_volume is not None
    zero = Decimal(0)
    return Position(
        ticket=ticket, symbol=job.open_symbol, type=job.open_side or "buy",
        volume=job.leg_open_volume, price_open=zero, sl=zero, tp=zero, price_current=zero,
        profit=zero, swap=zero, magic=0, comment="", time=job.created_at,
    )  # fmt: skip


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


def _position_gone(job: ActionJob, ticket: int) -> RowOutcome:
    return skipped(
        job.row_id,
        "position_closed",
        "the position is already closed (stop loss, take profit or by hand)",
        position_ticket=ticket,
    )


def _close(
    job: ActionJob,
    gateway: Gateway,
    position: Position,
    spec: SymbolSpec,
    sleep: Sleep,
    hook: Hook,
) -> RowOutcome:
    volume = close_volume(job, position, spec)
    if isinstance(volume, RowOutcome):
        return volume
    request = OrderRequest(
        symbol=position.symbol,
        side="sell" if position.type == "buy" else "buy",
        volume=volume,
        deviation=CLOSE_DEVIATION_POINTS,
        magic=job.magic,
        comment=order_comment(job.tag, None),
        position=position.ticket,
    )
    rules = SendRules(
        reconcile=lambda: _close_found(job, gateway, position.ticket),
        succeeded=lambda result: _closed(job, result, position, volume),
        special=lambda result: _close_refused(job, result, position.ticket),
    )
    return with_fields(_send(job, gateway, request, rules, sleep, hook), volume=volume)


def close_volume(job: ActionJob, position: Position, spec: SymbolSpec) -> Decimal | RowOutcome:
    """Lots to close of this position for this row, floored to the step.

    Never more than the leg put on and has not closed yet: on a netting account several legs
    share one position, and a larger opposite deal would reverse it. What would stay below the
    minimum lot could never be closed on its own, so it is closed too.
    """
    cap = position.volume
    if job.leg_open_volume is not None:
        cap = min(cap, job.leg_open_volume)
    if cap <= 0:
        return skipped(job.row_id, "leg_already_closed", "this leg's volume is already closed")
    action = job.action
    if action.volume is not None:
        wanted = min(action.volume, cap)
    elif action.percent is not None:
        wanted = cap * action.percent / 100
    else:
        wanted = cap
    volume = floor_to_step(wanted, spec.volume_step)
    if volume < spec.volume_min:
        return skipped(
            job.row_id,
            "below_min_volume",
            f"closing {wanted} lots is below the symbol's minimum of {spec.volume_min}",
            error_details={"volume": str(wanted), "volume_min": str(spec.volume_min)},
        )
    if 0 < cap - volume < spec.volume_min:
        volume = cap
    return volume


def _closed(job: ActionJob, result: OrderResult, position: Position, volume: Decimal) -> RowOutcome:
    closed = result.volume or volume
    return RowOutcome(
        row_id=job.row_id,
        status="executed",
        retcode=result.retcode,
        order_ticket=result.order or None,
        deal_ticket=result.deal or None,
        fill_price=result.price or None,
        closed_volume=closed,
        remaining_volume=max(position.volume - closed, Decimal(0)),
        parent_row_id=job.parent_row_id,
    )


def _close_refused(job: ActionJob, result: OrderResult, ticket: int) -> RowOutcome | None:
    if result.retcode == c.TRADE_RETCODE_POSITION_CLOSED:
        return _position_gone(job, ticket)
    if result.retcode == c.TRADE_RETCODE_INVALID_CLOSE_VOLUME:
        # The position holds less than assumed (closed in part by hand): nothing was dealt;
        # read it and work the close out again (an outcome still pending says so).
        return RowOutcome(job.row_id, "pending", retcode=result.retcode)
    return None


def _close_found(job: ActionJob, gateway: Gateway, ticket: int) -> RowOutcome | None:
    """Did an earlier attempt close? The deal carries the action's magic and tag."""
    assert job.account is not None
    since = job.created_at - timedelta(minutes=1)
    tagged = gateway.find_tagged(job.account, magic=job.magic, comment=job.tag, since=since)
    if tagged is None or not tagged.deal:
        return None
    logger.info("row %s: adopted close deal %s found by tag %s", job.row_id, tagged.deal, job.tag)
    position = gateway.position(job.account, ticket)
    return RowOutcome(
        row_id=job.row_id,
        status="executed",
        retcode=c.TRADE_RETCODE_DONE,
        order_ticket=tagged.order or None,
        deal_ticket=tagged.deal,
        position_ticket=ticket,
        fill_price=tagged.price,
        closed_volume=tagged.volume,
        remaining_volume=position.volume if position is not None else Decimal(0),
        parent_row_id=job.parent_row_id,
    )


def _move_stops(
    job: ActionJob,
    gateway: Gateway,
    position: Position,
    spec: SymbolSpec,
    sleep: Sleep,
    hook: Hook,
) -> RowOutcome:
    assert job.account is not None
    check_price_grid(spec, job.action.prices())  # this broker's tick may be finer than ours
    stops = _new_stops(job, position, spec)
    if isinstance(stops, RowOutcome):
        return stops
    sl, tp = stops
    if (sl, tp) == (position.sl, position.tp):
        return _stops_set(job, c.TRADE_RETCODE_NO_CHANGES)
    tick = gateway.tick(job.account, position.symbol)
    problem = stops_problem(position, spec, tick, sl, tp)
    if problem is not None:
        code, message, details = problem
        return failed(job.row_id, code, message, error_details=details)
    request = StopsChange(
        position=position.ticket,
        symbol=position.symbol,
        sl=sl,
        tp=tp,
        magic=job.magic,
        comment=order_comment(job.tag, None),
    )
    rules = SendRules(
        reconcile=lambda: _stops_found(job, gateway, position.ticket, sl, tp),
        succeeded=lambda result: _stops_set(job, result.retcode),
        special=lambda result: _stops_refused(job, result, position, spec, sl, tp),
    )
    return _send(job, gateway, request, rules, sleep, hook)


def _new_stops(
    job: ActionJob, position: Position, spec: SymbolSpec
) -> tuple[Decimal, Decimal] | RowOutcome:
    """(sl, tp) to send: MT5 reads 0 as *remove*, so the side left alone is resent as it is."""
    action = job.action
    if action.kind is ActionKind.MODIFY:
        return _changed(action.stop_loss, position.sl), _changed(action.take_profit, position.tp)
    target = breakeven_price(position, spec, action.offset_points)
    buy = position.type == "buy"
    if position.sl and (position.sl >= target if buy else position.sl <= target):
        return skipped(
            job.row_id,
            "stop_already_past_breakeven",
            f"the stop loss {position.sl} already locks in at least {target}",
        )
    return target, position.tp


def breakeven_price(position: Position, spec: SymbolSpec, offset_points: int) -> Decimal:
    """The open price plus the offset in the trade's favour, on the tick grid (rounded in the
    trade's favour: a netting position's averaged open price may fall between ticks)."""
    offset = spec.point * offset_points
    target = (
        position.price_open + offset if position.type == "buy" else position.price_open - offset
    )
    rounding = ROUND_CEILING if position.type == "buy" else ROUND_FLOOR
    ticks = (target / spec.tick_size).to_integral_value(rounding=rounding)
    return (ticks * spec.tick_size).quantize(spec.tick_size)


def _changed(change: PriceChange, current: Decimal) -> Decimal:
    if change is KEEP:
        return current
    return Decimal(0) if change is None else change


def stops_problem(
    position: Position, spec: SymbolSpec, tick: Tick, sl: Decimal, tp: Decimal
) -> tuple[str, str, dict[str, str]] | None:
    """Why the broker would refuse these stops: frozen (the price is within the freeze level of
    the current stops) or invalid_stops (inside the stops level, or on the wrong side)."""
    buy = position.type == "buy"
    price = tick.bid if buy else tick.ask  # the price the position would close at
    direction = 1 if buy else -1
    details = {
        "bid": str(tick.bid),
        "ask": str(tick.ask),
        "stop_loss": str(sl),
        "take_profit": str(tp),
        "stops_level_points": str(spec.trade_stops_level),
        "freeze_level_points": str(spec.trade_freeze_level),
        "point": str(spec.point),
    }
    freeze = spec.point * spec.trade_freeze_level
    if spec.trade_freeze_level and any(
        stop and abs(price - stop) <= freeze for stop in (position.sl, position.tp)
    ):
        return "frozen", "the price is within the freeze level of the position's stops", details
    level = spec.point * spec.trade_stops_level
    if sl and (price - sl) * direction <= level:
        return "invalid_stops", "the stop loss is inside the stops level or past the price", details
    if tp and (tp - price) * direction <= level:
        return (
            "invalid_stops",
            "the take profit is inside the stops level or past the price",
            details,
        )
    return None


def _stops_set(job: ActionJob, retcode: int) -> RowOutcome:
    return RowOutcome(row_id=job.row_id, status="executed", retcode=retcode)


def _stops_refused(
    job: ActionJob,
    result: OrderResult,
    position: Position,
    spec: SymbolSpec,
    sl: Decimal,
    tp: Decimal,
) -> RowOutcome | None:
    if result.retcode == c.TRADE_RETCODE_NO_CHANGES:
        return _stops_set(job, result.retcode)
    if result.retcode == c.TRADE_RETCODE_POSITION_CLOSED:
        return _position_gone(job, position.ticket)
    if result.retcode in (c.TRADE_RETCODE_INVALID_STOPS, c.TRADE_RETCODE_FROZEN):
        code = "frozen" if result.retcode == c.TRADE_RETCODE_FROZEN else "invalid_stops"
        tick = Tick(position.symbol, result.bid, result.ask)
        problem = stops_problem(position, spec, tick, sl, tp)
        details = problem[2] if problem else {"stop_loss": str(sl), "take_profit": str(tp)}
        return failed(
            job.row_id, code, result.comment or code, result.retcode, error_details=details
        )
    return None


def _stops_found(
    job: ActionJob, gateway: Gateway, ticket: int, sl: Decimal, tp: Decimal
) -> RowOutcome | None:
    assert job.account is not None
    position = gateway.position(job.account, ticket)
    if position is None:
        return _position_gone(job, ticket)
    if (position.sl, position.tp) == (sl, tp):
        return _stops_set(job, c.TRADE_RETCODE_DONE)
    return None


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
    outcome = _send(job, gateway, request, rules, sleep, hook)
    return with_fields(outcome, symbol=order.symbol, order_ticket=order.ticket)


def _order_change(job: ActionJob, order: PendingOrder, *, current: bool = False) -> PendingChange:
    """The order's new price, stops and expiration (``current``: what it has now)."""
    action = job.action
    expiration = order.expiration if current or action.expiration is KEEP else action.expiration
    return PendingChange(
        order=order.ticket,
        symbol=order.symbol,
        price=order.price_open if current else _changed(action.price, order.price_open),
        sl=order.sl if current else _changed(action.stop_loss, order.sl),
        tp=order.tp if current else _changed(action.take_profit, order.tp),
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
