"""Trade geometry: side and entry price, stop-loss distance limits, take-profit checks."""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal
from typing import NamedTuple

from errors import CalculationError
from services.calculation.terms import Side, TradePlan
from services.mt5.dto import SymbolSpec, to_decimal


class SideAndEntry(NamedTuple):
    """The trade's side, the price it is sized at, and any note about how that was chosen."""

    side: Side
    entry: Decimal
    warnings: list[str]


def resolve_side_and_entry(plan: TradePlan) -> SideAndEntry:
    """Side and entry: pending orders at ``entry``; market orders at Ask (buy) or Bid (sell).

    The side follows from the stop (buy when SL < entry); a stated side that disagrees raises
    ``sl_wrong_side``, a stop at the entry ``sl_equals_entry``, no usable price ``missing_price``.
    A market order with no quote on the needed side falls back to ``entry``, with a warning.
    """
    if plan.order_type == "market":
        return _resolve_market(plan)
    if plan.entry is None:
        raise _missing_price("A pending order needs an entry price.")
    return SideAndEntry(_side_from_stop(plan.entry, plan.stop_loss, plan.side), plan.entry, [])


def _side_from_stop(entry: Decimal, stop: Decimal, stated: Side | None) -> Side:
    if stop == entry:
        raise CalculationError(
            "The stop loss equals the entry price.",
            code="sl_equals_entry",
            details={"entry": str(entry), "stop_loss": str(stop)},
        )
    implied: Side = "buy" if stop < entry else "sell"
    if stated is not None and stated != implied:
        raise _wrong_side(stated, entry, stop)
    return implied


def _wrong_side(side: str, entry: Decimal, stop: Decimal) -> CalculationError:
    where = "below" if side == "buy" else "above"
    return CalculationError(
        f"A {side} needs its stop loss {where} the price.",
        code="sl_wrong_side",
        details={"side": side, "entry": str(entry), "stop_loss": str(stop)},
    )


def _missing_price(message: str) -> CalculationError:
    return CalculationError(message, code="missing_price", details={})


def _resolve_market(plan: TradePlan) -> SideAndEntry:
    side = plan.side or _infer_market_side(plan)
    quote = plan.ask if side == "buy" else plan.bid
    warnings: list[str] = []
    if quote is None:
        if plan.entry is None:
            raise _missing_price(f"A market {side} needs the {'ask' if side == 'buy' else 'bid'}.")
        quote = plan.entry
        warnings.append(f"No {'ask' if side == 'buy' else 'bid'} given; sized at entry {quote}.")
    _side_from_stop(quote, plan.stop_loss, side)
    # A buy closes at the Bid, so a stop at or above the Bid would fill at once (and vice versa).
    closing = plan.bid if side == "buy" else plan.ask
    if closing is not None and (plan.stop_loss - closing) * (1 if side == "buy" else -1) >= 0:
        raise _wrong_side(side, closing, plan.stop_loss)
    return SideAndEntry(side, quote, warnings)


def _infer_market_side(plan: TradePlan) -> Side:
    prices = [p for p in (plan.bid, plan.ask, plan.entry) if p is not None]
    if not prices:
        raise _missing_price("A market order needs a bid/ask quote or an entry price.")
    low, high, stop = min(prices), max(prices), plan.stop_loss
    if stop < low:
        return "buy"
    if stop > high:
        return "sell"
    if low == high:
        _side_from_stop(low, stop, None)
    raise CalculationError(
        "The stop loss lies inside the spread; state the side.",
        code="sl_wrong_side",
        details={"bid": str(plan.bid), "ask": str(plan.ask), "stop_loss": str(stop)},
    )


def check_stops_level(distance_points: Decimal, spec: SymbolSpec) -> None:
    """Refuse a stop closer than the broker's ``trade_stops_level`` points (``stop_too_close``)."""
    if spec.trade_stops_level > 0 and distance_points < spec.trade_stops_level:
        raise CalculationError(
            f"The stop loss is {distance_points} points away; {spec.name} needs at least "
            f"{spec.trade_stops_level}.",
            code="stop_too_close",
            details={
                "sl_distance_points": str(distance_points),
                "trade_stops_level": spec.trade_stops_level,
            },
        )


def check_take_profits(
    take_profits: Sequence[tuple[Decimal, Decimal]], side: Side, entry: Decimal
) -> list[tuple[Decimal, Decimal]]:
    """The take profits as Decimals, each beyond the entry in the trade's favour.

    Raises ``take_profit_wrong_side`` for a target at or behind the entry and
    ``shares_do_not_sum_to_100`` when the shares (each positive) do not add up to exactly 100.
    """
    checked = [(to_decimal(price), to_decimal(share)) for price, share in take_profits]
    for index, (price, _) in enumerate(checked):
        if (price - entry) * (1 if side == "buy" else -1) <= 0:
            raise CalculationError(
                f"Take profit {index + 1} ({price}) is not beyond the entry for a {side}.",
                code="take_profit_wrong_side",
                details={"index": index, "take_profit": str(price), "entry": str(entry)},
            )
    total = sum((share for _, share in checked), Decimal(0))
    if checked and (total != 100 or any(share <= 0 for _, share in checked)):
        raise CalculationError(
            f"The take-profit shares add up to {total}, not 100.",
            code="shares_do_not_sum_to_100",
            details={"shares": [str(share) for _, share in checked], "total": str(total)},
        )
    return checked
