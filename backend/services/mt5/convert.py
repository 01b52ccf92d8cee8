"""MT5 plain records to our types, and our OrderRequest to an MT5 request dict (pure functions)."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from errors import ValidationFailed
from services.mt5 import constants as c
from services.mt5.dto import (
    AccountSnapshot,
    Deal,
    OrderFate,
    OrderRequest,
    OrderResult,
    PendingChange,
    PendingOrder,
    PendingRemoval,
    Position,
    StopsChange,
    SymbolSpec,
    TaggedOrder,
    TerminalStatus,
    Tick,
    to_decimal,
)

ORDER_TYPES = {
    ("market", "buy"): c.ORDER_TYPE_BUY, ("market", "sell"): c.ORDER_TYPE_SELL,
    ("limit", "buy"): c.ORDER_TYPE_BUY_LIMIT, ("limit", "sell"): c.ORDER_TYPE_SELL_LIMIT,
    ("stop", "buy"): c.ORDER_TYPE_BUY_STOP, ("stop", "sell"): c.ORDER_TYPE_SELL_STOP,
}  # fmt: skip
PENDING_TYPE_NAMES = {
    c.ORDER_TYPE_BUY_LIMIT: "buy_limit", c.ORDER_TYPE_SELL_LIMIT: "sell_limit",
    c.ORDER_TYPE_BUY_STOP: "buy_stop", c.ORDER_TYPE_SELL_STOP: "sell_stop",
    c.ORDER_TYPE_BUY_STOP_LIMIT: "buy_stop_limit", c.ORDER_TYPE_SELL_STOP_LIMIT: "sell_stop_limit",
}  # fmt: skip
ORDER_STATE_NAMES = {
    0: "placed", 1: "placed", 2: "canceled", 3: "placed", 4: "filled", 5: "rejected",
    6: "canceled", 7: "placed", 8: "placed", 9: "placed",
}  # fmt: skip
MARGIN_MODES = {0: "netting", 1: "exchange", 2: "hedging"}
ACCOUNT_TRADE_MODES = {0: "demo", 1: "contest", 2: "real"}
DEAL_TYPES = (
    "buy", "sell", "balance", "credit", "charge", "correction", "bonus", "commission",
    "commission_daily", "commission_monthly", "commission_agent_daily",
    "commission_agent_monthly", "interest", "buy_canceled", "sell_canceled", "dividend",
    "dividend_franked", "tax",
)  # fmt: skip
DEAL_ENTRIES = ("in", "out", "inout", "out_by")
MAX_COMMENT = 31


def wire_number(value: Decimal) -> float:
    """Floats only at the MT5 boundary, via the decimal string (no binary surprises)."""
    return float(str(value))


def filling_for(mask: int, order_type: str) -> int:
    """FOK if the symbol allows it, else IOC, else RETURN; pending orders always RETURN."""
    if order_type != "market":
        return c.ORDER_FILLING_RETURN
    if mask & c.SYMBOL_FILLING_FOK:
        return c.ORDER_FILLING_FOK
    if mask & c.SYMBOL_FILLING_IOC:
        return c.ORDER_FILLING_IOC
    return c.ORDER_FILLING_RETURN


def build_request(order: OrderRequest, *, price: Decimal, filling: int) -> dict[str, Any]:
    """The MT5 trade request dict for ``order`` at ``price`` (market: the current Ask/Bid)."""
    kind = ORDER_TYPES.get((order.order_type, order.side))
    if kind is None:
        raise ValidationFailed(
            "Unsupported order type or side.",
            details={"order_type": order.order_type, "side": order.side},
        )
    request: dict[str, Any] = {
        "action": c.TRADE_ACTION_DEAL if order.order_type == "market" else c.TRADE_ACTION_PENDING,
        "symbol": order.symbol,
        "volume": wire_number(order.volume),
        "type": kind,
        "price": wire_number(price),
        "sl": wire_number(order.sl) if order.sl is not None else 0.0,
        "tp": wire_number(order.tp) if order.tp is not None else 0.0,
        "deviation": int(order.deviation),
        "magic": int(order.magic),
        "comment": order.comment[:MAX_COMMENT],
        "type_time": c.ORDER_TIME_GTC,
        "type_filling": filling,
    }
    if order.position:
        request["position"] = int(order.position)
    return request


def build_stops_change(change: StopsChange) -> dict[str, Any]:
    """TRADE_ACTION_SLTP: MT5 reads sl/tp 0 as *remove*, so both are always sent."""
    return {
        "action": c.TRADE_ACTION_SLTP,
        "position": int(change.position),
        "symbol": change.symbol,
        "sl": wire_number(change.sl),
        "tp": wire_number(change.tp),
        "magic": int(change.magic),
        "comment": change.comment[:MAX_COMMENT],
    }


def build_pending_change(change: PendingChange) -> dict[str, Any]:
    """TRADE_ACTION_MODIFY: price, stops and expiration of a pending order, all resent."""
    request: dict[str, Any] = {
        "action": c.TRADE_ACTION_MODIFY,
        "order": int(change.order),
        "symbol": change.symbol,
        "price": wire_number(change.price),
        "sl": wire_number(change.sl),
        "tp": wire_number(change.tp),
        "type_time": c.ORDER_TIME_GTC,
        "magic": int(change.magic),
        "comment": change.comment[:MAX_COMMENT],
    }
    if change.expiration is not None:
        request.update(
            type_time=c.ORDER_TIME_SPECIFIED, expiration=int(change.expiration.timestamp())
        )
    return request


def build_pending_removal(removal: PendingRemoval) -> dict[str, Any]:
    return {
        "action": c.TRADE_ACTION_REMOVE,
        "order": int(removal.order),
        "symbol": removal.symbol,
        "magic": int(removal.magic),
        "comment": removal.comment[:MAX_COMMENT],
    }


def order_result(raw: dict[str, Any], *, position: int = 0) -> OrderResult:
    return OrderResult(
        retcode=int(raw["retcode"]), order=int(raw.get("order", 0)), deal=int(raw.get("deal", 0)),
        volume=to_decimal(raw.get("volume", 0.0)), price=to_decimal(raw.get("price", 0.0)),
        bid=to_decimal(raw.get("bid", 0.0)), ask=to_decimal(raw.get("ask", 0.0)),
        comment=str(raw.get("comment", "")), request_id=int(raw.get("request_id", 0)),
        retcode_external=int(raw.get("retcode_external", 0)), position=position,
    )  # fmt: skip


def account_snapshot(raw: dict[str, Any]) -> AccountSnapshot:
    digits = int(raw.get("currency_digits", 2))

    def money(name: str) -> Decimal:
        """An amount as the terminal shows it: to the account currency's digits."""
        return to_decimal(raw[name]).quantize(Decimal(1).scaleb(-digits))

    return AccountSnapshot(
        login=int(raw["login"]), server=raw["server"], company=raw["company"], name=raw["name"],
        currency=raw["currency"], currency_digits=digits,
        balance=money("balance"), equity=money("equity"),
        margin=money("margin"), margin_free=money("margin_free"),
        leverage=int(raw["leverage"]),
        trade_allowed=bool(raw["trade_allowed"]) and bool(raw.get("trade_expert", True)),
        margin_mode=MARGIN_MODES.get(int(raw["margin_mode"]), str(raw["margin_mode"])),
        trade_mode=ACCOUNT_TRADE_MODES.get(int(raw["trade_mode"]), str(raw["trade_mode"])),
    )  # fmt: skip


def terminal_status(raw: dict[str, Any], *, url: str, simulated: bool) -> TerminalStatus:
    return TerminalStatus(
        connected=bool(raw.get("connected")), trade_allowed=bool(raw.get("trade_allowed")),
        name=str(raw.get("name", "")), company=str(raw.get("company", "")),
        build=int(raw.get("build", 0)), simulated=simulated,
        extra={"terminal": url, "ping_last_us": int(raw.get("ping_last", 0)),
               "tradeapi_disabled": bool(raw.get("tradeapi_disabled", False))},
    )  # fmt: skip


def symbol_spec(raw: dict[str, Any]) -> SymbolSpec:
    def optional(name: str) -> Decimal | None:
        value = raw.get(name)
        return None if value in (None, 0, 0.0) else to_decimal(value)

    return SymbolSpec(
        name=raw["name"], calc_mode=int(raw["trade_calc_mode"]), digits=int(raw["digits"]),
        point=to_decimal(raw["point"]), tick_size=to_decimal(raw["trade_tick_size"]),
        tick_value=to_decimal(raw["trade_tick_value"]),
        contract_size=to_decimal(raw["trade_contract_size"]),
        base_currency=raw["currency_base"], profit_currency=raw["currency_profit"],
        margin_currency=raw["currency_margin"], volume_min=to_decimal(raw["volume_min"]),
        volume_step=to_decimal(raw["volume_step"]), volume_max=to_decimal(raw["volume_max"]),
        margin_initial=to_decimal(raw.get("margin_initial", 0.0)),
        tick_value_profit=optional("trade_tick_value_profit"),
        tick_value_loss=optional("trade_tick_value_loss"),
        trade_stops_level=int(raw.get("trade_stops_level", 0)),
        trade_freeze_level=int(raw.get("trade_freeze_level", 0)),
        filling_mode=int(raw.get("filling_mode", 0)), trade_mode=int(raw.get("trade_mode", 4)),
        trade_exemode=int(raw.get("trade_exemode", 1)),
        description=str(raw.get("description", "")),
    )  # fmt: skip


def tick(symbol: str, raw: dict[str, Any]) -> Tick:
    return Tick(
        symbol=symbol, bid=to_decimal(raw["bid"]), ask=to_decimal(raw["ask"]),
        last=to_decimal(raw.get("last", 0.0)), time_msc=int(raw.get("time_msc", 0)),
    )  # fmt: skip


def server_time(seconds: Any) -> datetime:
    return datetime.fromtimestamp(int(seconds), tz=UTC)


def position(raw: dict[str, Any]) -> Position:
    return Position(
        ticket=int(raw["ticket"]), symbol=raw["symbol"],
        type="buy" if int(raw["type"]) == 0 else "sell", volume=to_decimal(raw["volume"]),
        price_open=to_decimal(raw["price_open"]), sl=to_decimal(raw["sl"]),
        tp=to_decimal(raw["tp"]), price_current=to_decimal(raw["price_current"]),
        profit=to_decimal(raw["profit"]), swap=to_decimal(raw.get("swap", 0.0)),
        magic=int(raw["magic"]), comment=str(raw["comment"]), time=server_time(raw["time"]),
        identifier=int(raw.get("identifier", 0)),
    )  # fmt: skip


def pending_order(raw: dict[str, Any]) -> PendingOrder:
    kind = int(raw["type"])
    expiration = int(raw.get("time_expiration", 0) or 0)
    return PendingOrder(
        ticket=int(raw["ticket"]), symbol=str(raw["symbol"]),
        type=PENDING_TYPE_NAMES.get(kind, str(kind)),
        volume=to_decimal(raw.get("volume_current", raw.get("volume_initial", 0.0))),
        price_open=to_decimal(raw.get("price_open", 0.0)),
        price_stoplimit=to_decimal(raw.get("price_stoplimit", 0.0)),
        sl=to_decimal(raw.get("sl", 0.0)), tp=to_decimal(raw.get("tp", 0.0)),
        time_setup=server_time(raw.get("time_setup", 0)),
        expiration=server_time(expiration) if expiration else None,
        magic=int(raw.get("magic", 0)), comment=str(raw.get("comment", "")),
    )  # fmt: skip


def order_fate(raw: dict[str, Any]) -> OrderFate:
    return OrderFate(
        ticket=int(raw["ticket"]),
        state=ORDER_STATE_NAMES.get(int(raw.get("state", 1)), "placed"),
        position_id=int(raw.get("position_id", 0)),
    )


def deal(raw: dict[str, Any]) -> Deal:
    kind, entry = int(raw["type"]), int(raw["entry"])
    return Deal(
        ticket=int(raw["ticket"]), order=int(raw["order"]), position_id=int(raw["position_id"]),
        symbol=str(raw["symbol"]),
        type=DEAL_TYPES[kind] if 0 <= kind < len(DEAL_TYPES) else str(kind),
        entry=DEAL_ENTRIES[entry] if 0 <= entry < len(DEAL_ENTRIES) else str(entry),
        volume=to_decimal(raw["volume"]), price=to_decimal(raw["price"]),
        profit=to_decimal(raw["profit"]), commission=to_decimal(raw.get("commission", 0.0)),
        swap=to_decimal(raw.get("swap", 0.0)), magic=int(raw["magic"]),
        comment=str(raw["comment"]), time=server_time(raw["time"]),
    )  # fmt: skip


def same_tag(found: str, comment: str) -> bool:
    """Brokers may cut or rewrite a comment's tail: a long shared head still identifies it."""
    found, comment = found.strip(), comment[:MAX_COMMENT].strip()
    if found == comment:
        return True
    shorter = min(len(found), len(comment))
    return shorter >= 8 and (found.startswith(comment) or comment.startswith(found))


def tagged_from_deal(raw: dict[str, Any]) -> TaggedOrder:
    return TaggedOrder(
        order=int(raw["order"]), deal=int(raw["ticket"]), position=int(raw["position_id"]),
        volume=to_decimal(raw["volume"]), price=to_decimal(raw["price"]), state="filled",
    )  # fmt: skip


def tagged_from_position(raw: dict[str, Any]) -> TaggedOrder:
    return TaggedOrder(
        order=int(raw.get("identifier") or raw["ticket"]), deal=0, position=int(raw["ticket"]),
        volume=to_decimal(raw["volume"]), price=to_decimal(raw["price_open"]), state="filled",
    )  # fmt: skip


def tagged_from_order(raw: dict[str, Any]) -> TaggedOrder:
    return TaggedOrder(
        order=int(raw["ticket"]), deal=0, position=int(raw.get("position_id", 0)),
        volume=to_decimal(raw.get("volume_initial", 0.0)),
        price=to_decimal(raw.get("price_open", 0.0)),
        state=ORDER_STATE_NAMES.get(int(raw.get("state", 1)), "placed"),
    )  # fmt: skip
