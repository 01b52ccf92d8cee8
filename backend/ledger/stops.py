"""Moving a position's stop loss and take profit, and breakeven: the new stops, the broker's
stops and freeze levels checked before sending, and what an unknown outcome left."""

from __future__ import annotations

from decimal import ROUND_CEILING, ROUND_FLOOR, Decimal

from ledger.actions import KEEP, ActionJob, ActionKind, PriceChange
from ledger.automation import tighter
from ledger.closing import Hook, position_gone, send_action
from ledger.sending import (
    Gateway,
    SendRules,
    Sleep,
    failed,
    order_comment,
    skipped,
)
from ledger.types import RowOutcome
from services.calculation.price_grid import check_price_grid
from services.mt5 import constants as c
from services.mt5.dto import (
    OrderResult,
    Position,
    StopsChange,
    SymbolSpec,
)


def move_stops(
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
    # The position's own price_current is the price it would close at (Bid for a buy): the
    # stops level is measured from it, no quote to read.
    problem = stops_problem(position, spec, position.price_current, sl, tp)
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
        special=lambda result: _stops_refused(job, gateway, result, position, sl, tp),
    )
    return send_action(job, gateway, request, rules, sleep, hook)


def _new_stops(
    job: ActionJob, position: Position, spec: SymbolSpec
) -> tuple[Decimal, Decimal] | RowOutcome:
    """(sl, tp) to send: MT5 reads 0 as *remove*, so the side left alone is resent as it is."""
    action = job.action
    if action.kind is ActionKind.MODIFY:
        sl = changed(action.stop_loss, position.sl)
        if action.only_tighter and sl and not tighter(position.type, sl, position.sl):
            return skipped(
                job.row_id,
                "stop_already_tighter",
                f"the stop loss {position.sl} is already at or beyond {sl}",
            )
        return sl, changed(action.take_profit, position.tp)
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


def changed(change: PriceChange, current: Decimal) -> Decimal:
    if change is KEEP:
        return current
    return Decimal(0) if change is None else change


def stops_problem(
    position: Position, spec: SymbolSpec, price: Decimal, sl: Decimal, tp: Decimal
) -> tuple[str, str, dict[str, str]] | None:
    """Why the broker would refuse these stops: frozen (the price is within the freeze level of
    the current stops) or invalid_stops (inside the stops level, or on the wrong side).

    ``price`` is what the position would close at now: the Bid for a buy, the Ask for a sell.
    """
    buy = position.type == "buy"
    direction = 1 if buy else -1
    details = {
        "bid" if buy else "ask": str(price),
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
    gateway: Gateway,
    result: OrderResult,
    position: Position,
    sl: Decimal,
    tp: Decimal,
) -> RowOutcome | None:
    if result.retcode == c.TRADE_RETCODE_NO_CHANGES:
        return _stops_set(job, result.retcode)
    if result.retcode == c.TRADE_RETCODE_POSITION_CLOSED:
        return position_gone(job, position.ticket)
    if result.retcode in (c.TRADE_RETCODE_INVALID_STOPS, c.TRADE_RETCODE_FROZEN):
        code = "frozen" if result.retcode == c.TRADE_RETCODE_FROZEN else "invalid_stops"
        assert job.account is not None  # the broker's numbers as they are now, for the details
        spec = gateway.symbol_spec(job.account, position.symbol, max_age_s=None)
        price = result.bid if position.type == "buy" else result.ask
        problem = stops_problem(position, spec, price or position.price_current, sl, tp)
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
        return position_gone(job, ticket)
    if (position.sl, position.tp) == (sl, tp):
        return _stops_set(job, c.TRADE_RETCODE_DONE)
    return None
