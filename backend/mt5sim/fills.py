"""The execution engine: market and pending orders, closes, netting, SL/TP and triggers.

Every function here runs with the broker lock held (``send``/``check`` take it themselves).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from mt5sim import calc
from mt5sim.books import Books
from mt5sim.checks import (
    Rejected,
    TradeRequestData,
    check_filling,
    check_stops,
    check_trade_mode,
    check_volume,
    pending_triggered,
    stop_hit,
)
from mt5sim.state import ZERO, Account, Deal, Order, Position
from services.mt5 import constants as c
from services.mt5.catalog import CatalogSymbol

AVERAGE_PRICE_PLACES = Decimal("1e-10")


@dataclass
class Outcome:
    """What the trade server answered, before the terminal turns it into a named tuple."""

    retcode: int
    comment: str = ""
    order: int = 0
    deal: int = 0
    volume: Decimal = ZERO
    price: Decimal = ZERO
    bid: Decimal = ZERO
    ask: Decimal = ZERO
    margin: Decimal = ZERO  # margin the request would take (order_check)


@dataclass
class Plan:
    """How a fill splits into closing an existing position and opening (or adding) volume."""

    target: Position | None = None
    close_volume: Decimal = ZERO
    open_volume: Decimal = ZERO
    records: list[Any] = field(default_factory=list)
    closed: list[int] = field(default_factory=list)


def resolve_symbol(broker: Books, account: Account, name: str) -> CatalogSymbol:
    if name not in broker.flavour_of(account.login).symbol_names:
        raise Rejected(c.TRADE_RETCODE_INVALID, "Unknown symbol")
    return broker.symbols[name]


def _netting(account: Account) -> bool:
    return account.margin_mode != c.ACCOUNT_MARGIN_MODE_RETAIL_HEDGING


def plan_fill(
    broker: Books, account: Account, symbol: str, is_buy: bool, volume: Decimal, position: int
) -> Plan:
    """Which position the fill reduces (``position``, or the netting one) and by how much."""
    positions = broker.positions[account.login]
    target = positions.get(position) if position else None
    if position and target is None:
        raise Rejected(c.TRADE_RETCODE_POSITION_CLOSED)
    if target is None and _netting(account):
        target = next((p for p in positions.values() if p.symbol == symbol), None)
    if target is None:
        return Plan(open_volume=volume)
    if target.symbol != symbol:
        raise Rejected(c.TRADE_RETCODE_INVALID, "Position of another symbol")
    if (target.type == c.POSITION_TYPE_BUY) == is_buy:
        if position:
            raise Rejected(c.TRADE_RETCODE_INVALID, "Close needs the opposite order type")
        return Plan(target=target, open_volume=volume)
    if volume > target.volume and not _netting(account):
        raise Rejected(c.TRADE_RETCODE_INVALID_CLOSE_VOLUME)
    close_volume = min(volume, target.volume)
    return Plan(target=target, close_volume=close_volume, open_volume=volume - close_volume)


def market_checks(
    broker: Books, account: Account, req: TradeRequestData, *, check_price: bool
) -> tuple[CatalogSymbol, Plan, Decimal, Decimal]:
    """Run a market order's checks; return the symbol, the plan, the fill price and margin."""
    symbol = resolve_symbol(broker, account, req.symbol)
    if req.type not in (c.ORDER_TYPE_BUY, c.ORDER_TYPE_SELL):
        raise Rejected(c.TRADE_RETCODE_INVALID, "Invalid order type")
    check_volume(symbol, req.volume)
    check_filling(symbol, req.type_filling, pending=False)
    plan = plan_fill(broker, account, symbol.name, req.is_buy, req.volume, req.position)
    check_trade_mode(
        broker.trade_mode(symbol.name), is_buy=req.is_buy, opening=bool(plan.open_volume)
    )
    if not broker.is_market_open(symbol.name):
        raise Rejected(c.TRADE_RETCODE_MARKET_CLOSED)
    bid, ask = broker.prices.quote(symbol.price_source)
    fill = ask if req.is_buy else bid
    # A request price of 0 means "at market" (market execution ignores it).
    if check_price and req.price and abs(req.price - fill) > req.deviation * symbol.point:
        raise Rejected(c.TRADE_RETCODE_REQUOTE, bid=bid, ask=ask)
    if plan.open_volume and (req.sl or req.tp):
        check_stops(
            symbol, is_buy=req.is_buy, reference=bid if req.is_buy else ask, sl=req.sl, tp=req.tp
        )
    margin = opening_margin(broker, account, symbol, plan.open_volume, fill)
    return symbol, plan, fill, margin


def opening_margin(
    broker: Books, account: Account, symbol: CatalogSymbol, volume: Decimal, price: Decimal
) -> Decimal:
    """Margin the new volume needs; NO_MONEY when free margin does not cover it."""
    if not volume:
        return ZERO
    needed = calc.margin(
        symbol, volume, price, leverage=account.leverage,
        account_currency=account.currency, rates=broker.rates(),
    )  # fmt: skip
    if needed > broker.metrics(account.login).margin_free:
        raise Rejected(c.TRADE_RETCODE_NO_MONEY)
    return needed


def _close_part(
    broker: Books, account: Account, symbol: CatalogSymbol, plan: Plan, fill: Decimal
) -> Decimal:
    target = plan.target
    assert target is not None
    profit = calc.profit(
        symbol, target.type == c.POSITION_TYPE_BUY, plan.close_volume, target.price_open, fill,
        account_currency=account.currency, rates=broker.rates(),
    )  # fmt: skip
    account.balance += profit
    target.volume -= plan.close_volume
    if target.volume == 0 and not plan.open_volume:
        del broker.positions[account.login][target.ticket]
        plan.closed.append(target.ticket)
    return profit


def _open_part(
    plan: Plan, order: Order, fill: Decimal, now: int, positions: dict[int, Position]
) -> Position:
    target = plan.target
    if target is None:
        target = Position(
            ticket=order.ticket, login=order.login, symbol=order.symbol, type=order.type % 2,
            volume=ZERO, price_open=fill, sl=order.sl, tp=order.tp, magic=order.magic,
            comment=order.comment, time_msc=now, time_update_msc=now,
        )  # fmt: skip
        positions[target.ticket] = target
    elif target.volume == 0:  # netting reversal: the position turns around at the fill price
        target.type, target.price_open = order.type % 2, fill
        target.sl, target.tp = order.sl, order.tp
    else:  # netting addition: volume-weighted average price
        total = target.volume + plan.open_volume
        average = (target.price_open * target.volume + fill * plan.open_volume) / total
        target.price_open = average.quantize(AVERAGE_PRICE_PLACES).normalize()
        target.sl, target.tp = order.sl or target.sl, order.tp or target.tp
    target.volume += plan.open_volume
    target.time_update_msc = now
    return target


def execute_fill(
    broker: Books, account: Account, symbol: CatalogSymbol, order: Order, plan: Plan, fill: Decimal
) -> Deal:
    """Fill ``order`` at ``fill``: realise the closed part, open the rest, write one transaction."""
    now = broker.now_msc()
    profit = _close_part(broker, account, symbol, plan, fill) if plan.close_volume else ZERO
    charge = calc.money(account.commission_per_lot * (plan.close_volume + plan.open_volume))
    commission = -charge if charge else ZERO
    account.balance += commission
    position = plan.target
    if plan.open_volume:
        position = _open_part(plan, order, fill, now, broker.positions[account.login])
    assert position is not None
    entry = c.DEAL_ENTRY_IN
    if plan.close_volume:
        entry = c.DEAL_ENTRY_INOUT if plan.open_volume else c.DEAL_ENTRY_OUT
    order.state, order.volume_current, order.time_done_msc = c.ORDER_STATE_FILLED, ZERO, now
    order.position_id = position.ticket
    deal = Deal(
        ticket=broker.next_deal_ticket(), login=account.login, order=order.ticket,
        symbol=symbol.name, type=order.type % 2, entry=entry,
        volume=plan.close_volume + plan.open_volume, price=fill, profit=profit,
        magic=order.magic, comment=order.comment, position_id=position.ticket, time_msc=now,
        reason=order.reason, commission=commission,
    )  # fmt: skip
    broker.orders[account.login][order.ticket] = order
    broker.deals[account.login].append(deal)
    broker.pending.pop(order.ticket, None)
    live = [] if position.ticket in plan.closed else [position]
    broker.store.write(account, order, deal, *live, delete_positions=tuple(plan.closed))
    return deal


def new_order(
    broker: Books, account: Account, req: TradeRequestData, state: int, price: Decimal
) -> Order:
    return Order(
        ticket=broker.next_order_ticket(), login=account.login, symbol=req.symbol, type=req.type,
        state=state, volume_initial=req.volume, volume_current=req.volume, price_open=price,
        sl=req.sl, tp=req.tp, magic=req.magic, comment=req.comment,
        type_filling=req.type_filling, type_time=req.type_time, position_id=req.position,
        time_setup_msc=broker.now_msc(), time_expiration=req.expiration,
    )  # fmt: skip


def market_order(broker: Books, account: Account, req: TradeRequestData) -> Outcome:
    symbol, plan, fill, _margin = market_checks(broker, account, req, check_price=True)
    order = new_order(broker, account, req, c.ORDER_STATE_STARTED, fill)
    deal = execute_fill(broker, account, symbol, order, plan, fill)
    bid, ask = broker.prices.quote(symbol.price_source)
    return Outcome(
        c.TRADE_RETCODE_DONE, c.RETCODE_COMMENTS[c.TRADE_RETCODE_DONE], order=order.ticket,
        deal=deal.ticket, volume=req.volume, price=fill, bid=bid, ask=ask,
    )  # fmt: skip


def close_on_stop(broker: Books, position: Position, reason: int) -> None:
    """Close a whole position whose SL or TP the price crossed, as the server does."""
    account = broker.accounts[position.login]
    symbol = broker.symbols[position.symbol]
    bid, ask = broker.prices.quote(symbol.price_source)
    is_buy_position = position.type == c.POSITION_TYPE_BUY
    fill = bid if is_buy_position else ask
    label = "sl" if reason == c.DEAL_REASON_SL else "tp"
    stop = position.sl if reason == c.DEAL_REASON_SL else position.tp
    order = Order(
        ticket=broker.next_order_ticket(), login=account.login, symbol=symbol.name,
        type=c.ORDER_TYPE_SELL if is_buy_position else c.ORDER_TYPE_BUY,
        state=c.ORDER_STATE_STARTED, volume_initial=position.volume,
        volume_current=position.volume, price_open=fill, sl=ZERO, tp=ZERO, magic=position.magic,
        comment=f"[{label} {stop}]", type_filling=c.ORDER_FILLING_FOK,
        type_time=c.ORDER_TIME_GTC, position_id=position.ticket,
        time_setup_msc=broker.now_msc(), reason=reason,
    )  # fmt: skip
    plan = Plan(target=position, close_volume=position.volume)
    execute_fill(broker, account, symbol, order, plan, fill)


def trigger_pending(broker: Books, order: Order) -> None:
    """Turn a triggered pending order into a market fill (rejected if margin is short)."""
    account = broker.accounts[order.login]
    symbol = broker.symbols[order.symbol]
    if not broker.is_market_open(symbol.name):
        return
    bid, ask = broker.prices.quote(symbol.price_source)
    is_buy = order.type % 2 == 0
    fill = ask if is_buy else bid
    try:
        plan = plan_fill(broker, account, symbol.name, is_buy, order.volume_current, 0)
        opening_margin(broker, account, symbol, plan.open_volume, fill)
    except Rejected:
        order.state, order.time_done_msc = c.ORDER_STATE_REJECTED, broker.now_msc()
        broker.pending.pop(order.ticket, None)
        broker.store.write(order)
        return
    execute_fill(broker, account, symbol, order, plan, fill)


def on_quotes(broker: Books, sources: list[str]) -> None:
    """After quotes changed: fire triggered pending orders, then SL/TP of open positions."""
    if not sources:
        return
    changed = set(sources)
    for order in list(broker.pending.values()):
        symbol = broker.symbols[order.symbol]
        if symbol.price_source in changed:
            bid, ask = broker.prices.quote(symbol.price_source)
            if pending_triggered(order.type, order.price_open, bid, ask):
                trigger_pending(broker, order)
    for positions in broker.positions.values():
        for position in list(positions.values()):
            if not (position.sl or position.tp):
                continue
            symbol = broker.symbols[position.symbol]
            if symbol.price_source not in changed:
                continue
            bid, ask = broker.prices.quote(symbol.price_source)
            reason = stop_hit(
                position.type == c.POSITION_TYPE_BUY, position.sl, position.tp, bid, ask
            )
            if reason is not None:
                close_on_stop(broker, position, reason)
