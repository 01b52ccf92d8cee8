"""Trade request parsing and the trade server's checks, each raising ``Rejected`` with a retcode."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from mt5sim.state import ZERO
from services.mt5 import constants as c
from services.mt5.catalog import CatalogSymbol

COMMENT_LENGTH = 31
_PENDING_TYPES = (
    c.ORDER_TYPE_BUY_LIMIT,
    c.ORDER_TYPE_SELL_LIMIT,
    c.ORDER_TYPE_BUY_STOP,
    c.ORDER_TYPE_SELL_STOP,
)


class Rejected(Exception):
    """The trade server refused the request with ``retcode``."""

    def __init__(
        self, retcode: int, comment: str = "", *, bid: Decimal = ZERO, ask: Decimal = ZERO
    ) -> None:
        self.retcode = retcode
        self.comment = comment or c.RETCODE_COMMENTS.get(retcode, "Rejected")
        self.bid, self.ask = bid, ask
        super().__init__(f"{retcode} {self.comment}")


@dataclass(frozen=True)
class TradeRequestData:
    """A trade request with Decimal prices and volume (the fields ``order_send`` reads)."""

    action: int
    symbol: str
    volume: Decimal
    type: int
    price: Decimal
    sl: Decimal
    tp: Decimal
    deviation: int
    type_filling: int
    type_time: int
    magic: int
    comment: str
    position: int
    order: int
    stoplimit: Decimal
    expiration: int
    position_by: int

    @property
    def is_buy(self) -> bool:
        return self.type % 2 == 0  # BUY, BUY_LIMIT, BUY_STOP, BUY_STOP_LIMIT are even

    def echo(self) -> dict[str, Any]:
        """The request as MT5 echoes it back in results (floats, like the real module)."""
        values: dict[str, Any] = {}
        for name in self.__dataclass_fields__:
            value = getattr(self, name)
            values[name] = float(value) if isinstance(value, Decimal) else value
        return values


def as_decimal(value: Any) -> Decimal:
    """A number of a request as the trade server reads it: a float is its shortest repr (2350.12).

    The adapter reads terminal results by the same rule (``services.mt5.dto.to_decimal``); the
    simulator keeps its own copy so that it needs nothing of the app but constants and catalog.
    """
    if isinstance(value, float):
        return Decimal(repr(value))
    return Decimal(value)


def _int(raw: dict[str, Any], name: str) -> int:
    value = raw.get(name, 0)
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if not isinstance(value, int):
        raise TypeError(f'Invalid "{name}" argument')
    return value


def _decimal(raw: dict[str, Any], name: str) -> Decimal:
    value = raw.get(name, 0)
    if not isinstance(value, int | float | Decimal) or isinstance(value, bool):
        raise TypeError(f'Invalid "{name}" argument')
    return as_decimal(value)


def parse_request(raw: dict[str, Any]) -> TradeRequestData:
    """Read a request dict; a field of the wrong type raises ``TypeError`` (MT5: -2)."""
    symbol, comment = raw.get("symbol", ""), raw.get("comment", "")
    if not isinstance(symbol, str) or not isinstance(comment, str):
        raise TypeError('Invalid "symbol" or "comment" argument')
    expiration = raw.get("expiration", 0)
    return TradeRequestData(
        action=_int(raw, "action"),
        symbol=symbol,
        volume=_decimal(raw, "volume"),
        type=_int(raw, "type"),
        price=_decimal(raw, "price"),
        sl=_decimal(raw, "sl"),
        tp=_decimal(raw, "tp"),
        deviation=_int(raw, "deviation"),
        type_filling=_int(raw, "type_filling"),
        type_time=_int(raw, "type_time"),
        magic=_int(raw, "magic"),
        comment=comment[:COMMENT_LENGTH],
        position=_int(raw, "position"),
        order=_int(raw, "order"),
        stoplimit=_decimal(raw, "stoplimit"),
        expiration=expiration if isinstance(expiration, int) else 0,
        position_by=_int(raw, "position_by"),
    )


def is_pending_type(order_type: int) -> bool:
    return order_type in _PENDING_TYPES


def check_volume(symbol: CatalogSymbol, volume: Decimal) -> None:
    if volume < symbol.volume_min or volume > symbol.volume_max:
        raise Rejected(c.TRADE_RETCODE_INVALID_VOLUME)
    if volume % symbol.volume_step != 0:
        raise Rejected(c.TRADE_RETCODE_INVALID_VOLUME)


def check_filling(symbol: CatalogSymbol, type_filling: int, *, pending: bool) -> None:
    """FOK and IOC need their bit in the symbol's mask; RETURN is for pending orders only.

    Every catalog symbol uses market execution, where brokers answer RETURN on a market order
    with 10030, as they do a filling missing from the mask (the most reported order error).
    """
    allowed = {
        c.ORDER_FILLING_FOK: bool(symbol.filling_mode & c.SYMBOL_FILLING_FOK),
        c.ORDER_FILLING_IOC: bool(symbol.filling_mode & c.SYMBOL_FILLING_IOC),
        c.ORDER_FILLING_RETURN: pending,
        c.ORDER_FILLING_BOC: pending and bool(symbol.filling_mode & c.SYMBOL_FILLING_BOC),
    }
    if not allowed.get(type_filling, False):
        raise Rejected(c.TRADE_RETCODE_INVALID_FILL)


def check_trade_mode(mode: int, *, is_buy: bool, opening: bool) -> None:
    if mode == c.SYMBOL_TRADE_MODE_DISABLED:
        raise Rejected(c.TRADE_RETCODE_TRADE_DISABLED)
    if not opening:
        return
    if mode == c.SYMBOL_TRADE_MODE_CLOSEONLY:
        raise Rejected(c.TRADE_RETCODE_CLOSE_ONLY)
    if mode == c.SYMBOL_TRADE_MODE_LONGONLY and not is_buy:
        raise Rejected(c.TRADE_RETCODE_LONG_ONLY)
    if mode == c.SYMBOL_TRADE_MODE_SHORTONLY and is_buy:
        raise Rejected(c.TRADE_RETCODE_SHORT_ONLY)


def _on_tick_grid(symbol: CatalogSymbol, price: Decimal) -> bool:
    return price % symbol.tick_size == 0


def check_stops(
    symbol: CatalogSymbol, *, is_buy: bool, reference: Decimal, sl: Decimal, tp: Decimal
) -> None:
    """SL/TP on the losing/winning side of ``reference`` and at least the stops level away.

    For a market buy the reference is the Bid (the price it will close at), for a sell the Ask,
    for a pending order its own price.
    """
    level = symbol.trade_stops_level * symbol.point
    direction = 1 if is_buy else -1
    for stop, sign in ((sl, -1), (tp, 1)):
        if stop == 0:
            continue
        distance = (stop - reference) * sign * direction
        if distance <= 0 or distance < level or not _on_tick_grid(symbol, stop):
            raise Rejected(c.TRADE_RETCODE_INVALID_STOPS)


def check_freeze(symbol: CatalogSymbol, price: Decimal, *levels: Decimal) -> None:
    """FROZEN when the price is within the freeze level of any of these (SL, TP, order price):
    the broker is about to fill them and refuses to move them."""
    freeze = symbol.trade_freeze_level * symbol.point
    if freeze and any(level and abs(price - level) <= freeze for level in levels):
        raise Rejected(c.TRADE_RETCODE_FROZEN)


def check_pending_price(
    symbol: CatalogSymbol, order_type: int, price: Decimal, bid: Decimal, ask: Decimal
) -> None:
    """Limits below (buy) / above (sell) the market, stops beyond it, by the stops level."""
    level = symbol.trade_stops_level * symbol.point
    distance = {
        c.ORDER_TYPE_BUY_LIMIT: ask - price,
        c.ORDER_TYPE_SELL_LIMIT: price - bid,
        c.ORDER_TYPE_BUY_STOP: price - ask,
        c.ORDER_TYPE_SELL_STOP: bid - price,
    }[order_type]
    if price <= 0 or distance <= 0 or distance < level or not _on_tick_grid(symbol, price):
        raise Rejected(c.TRADE_RETCODE_INVALID_PRICE)


def pending_triggered(order_type: int, price: Decimal, bid: Decimal, ask: Decimal) -> bool:
    return {
        c.ORDER_TYPE_BUY_LIMIT: ask <= price,
        c.ORDER_TYPE_SELL_LIMIT: bid >= price,
        c.ORDER_TYPE_BUY_STOP: ask >= price,
        c.ORDER_TYPE_SELL_STOP: bid <= price,
    }[order_type]


def stop_hit(is_buy: bool, sl: Decimal, tp: Decimal, bid: Decimal, ask: Decimal) -> int | None:
    """DEAL_REASON_SL or _TP when the closing price crossed a stop, else None."""
    close_price = bid if is_buy else ask
    direction = 1 if is_buy else -1
    if sl and (close_price - sl) * direction <= 0:
        return c.DEAL_REASON_SL
    if tp and (close_price - tp) * direction >= 0:
        return c.DEAL_REASON_TP
    return None
