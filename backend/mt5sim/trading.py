"""``order_send`` / ``order_check`` dispatch by trade action, and the pending-order actions."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from mt5sim import calc
from mt5sim.books import Books, Metrics
from mt5sim.broker import Broker
from mt5sim.checks import (
    Rejected,
    TradeRequestData,
    check_filling,
    check_freeze,
    check_pending_price,
    check_stops,
    check_trade_mode,
    check_volume,
    is_pending_type,
)
from mt5sim.fills import (
    Outcome,
    market_checks,
    market_order,
    new_order,
    resolve_symbol,
)
from mt5sim.state import Account, Order
from services.mt5 import constants as c
from services.mt5.catalog import CatalogSymbol

DONE = c.TRADE_RETCODE_DONE


@dataclass(frozen=True)
class CheckOutcome:
    retcode: int
    comment: str
    metrics: Metrics
    margin: Decimal  # margin after the trade


def _pending_checks(broker: Books, account: Account, req: TradeRequestData) -> Decimal:
    """Checks of a pending order; returns the margin it would take when triggered."""
    symbol = resolve_symbol(broker, account, req.symbol)
    if not is_pending_type(req.type):
        raise Rejected(c.TRADE_RETCODE_INVALID, "Unsupported order type")
    check_volume(symbol, req.volume)
    check_filling(symbol, req.type_filling, pending=True)
    check_trade_mode(broker.trade_mode(symbol.name), is_buy=req.is_buy, opening=True)
    if not broker.is_market_open(symbol.name):
        raise Rejected(c.TRADE_RETCODE_MARKET_CLOSED)
    bid, ask = broker.prices.quote(symbol.price_source)
    check_pending_price(symbol, req.type, req.price, bid, ask)
    check_stops(symbol, is_buy=req.is_buy, reference=req.price, sl=req.sl, tp=req.tp)
    return calc.margin(
        symbol, req.volume, req.price, leverage=account.leverage,
        account_currency=account.currency, rates=broker.rates(),
    )  # fmt: skip


def place_pending(broker: Books, account: Account, req: TradeRequestData) -> Outcome:
    _pending_checks(broker, account, req)
    order = new_order(broker, account, req, c.ORDER_STATE_PLACED, req.price)
    broker.orders[account.login][order.ticket] = order
    broker.pending[order.ticket] = order
    broker.store.write(order)
    return Outcome(
        c.TRADE_RETCODE_PLACED, c.RETCODE_COMMENTS[c.TRADE_RETCODE_PLACED],
        order=order.ticket, volume=req.volume, price=req.price,
    )  # fmt: skip


def modify_position(broker: Books, account: Account, req: TradeRequestData) -> Outcome:
    position = broker.positions[account.login].get(req.position)
    if position is None:
        raise Rejected(c.TRADE_RETCODE_POSITION_CLOSED)
    symbol = broker.symbols[position.symbol]
    bid, ask = broker.prices.quote(symbol.price_source)
    is_buy = position.type == c.POSITION_TYPE_BUY
    close_price = bid if is_buy else ask
    check_freeze(symbol, close_price, position.sl, position.tp)
    check_stops(symbol, is_buy=is_buy, reference=close_price, sl=req.sl, tp=req.tp)
    if (position.sl, position.tp) == (req.sl, req.tp):
        raise Rejected(c.TRADE_RETCODE_NO_CHANGES, "No changes")
    position.sl, position.tp, position.time_update_msc = req.sl, req.tp, broker.now_msc()
    broker.store.write(position)
    return Outcome(DONE, c.RETCODE_COMMENTS[DONE])


def _own_pending(
    broker: Books, account: Account, req: TradeRequestData
) -> tuple[Order, CatalogSymbol, Decimal, Decimal]:
    """The account's pending order the request names, its symbol and quote; FROZEN when the
    price is within the freeze level of the order's price (the broker is about to fill it)."""
    order = broker.pending.get(req.order)
    if order is None or order.login != account.login:
        raise Rejected(c.TRADE_RETCODE_INVALID_ORDER)
    symbol = broker.symbols[order.symbol]
    bid, ask = broker.prices.quote(symbol.price_source)
    check_freeze(symbol, ask if order.type % 2 == 0 else bid, order.price_open)
    return order, symbol, bid, ask


def modify_order(broker: Books, account: Account, req: TradeRequestData) -> Outcome:
    order, symbol, bid, ask = _own_pending(broker, account, req)
    check_pending_price(symbol, order.type, req.price, bid, ask)
    check_stops(symbol, is_buy=order.type % 2 == 0, reference=req.price, sl=req.sl, tp=req.tp)
    expiration = req.expiration if req.type_time == c.ORDER_TIME_SPECIFIED else 0
    wanted = (req.price, req.sl, req.tp, expiration)
    if (order.price_open, order.sl, order.tp, order.time_expiration) == wanted:
        raise Rejected(c.TRADE_RETCODE_NO_CHANGES, "No changes")
    order.price_open, order.sl, order.tp, order.time_expiration = wanted
    order.type_time = req.type_time
    broker.store.write(order)
    return Outcome(DONE, c.RETCODE_COMMENTS[DONE], order=order.ticket)


def remove_order(broker: Books, account: Account, req: TradeRequestData) -> Outcome:
    order = _own_pending(broker, account, req)[0]
    order.state, order.time_done_msc = c.ORDER_STATE_CANCELED, broker.now_msc()
    del broker.pending[order.ticket]
    broker.store.write(order)
    return Outcome(DONE, c.RETCODE_COMMENTS[DONE], order=order.ticket)


_ACTIONS = {
    c.TRADE_ACTION_DEAL: market_order,
    c.TRADE_ACTION_PENDING: place_pending,
    c.TRADE_ACTION_SLTP: modify_position,
    c.TRADE_ACTION_MODIFY: modify_order,
    c.TRADE_ACTION_REMOVE: remove_order,
}


def send(broker: Broker, login: int, req: TradeRequestData) -> Outcome:
    """Execute a request for ``login``; refusals come back as an ``Outcome`` with the retcode."""
    with broker.lock:
        broker.catch_up()
        action = _ACTIONS.get(req.action)
        try:
            if action is None:  # CLOSE_BY is not simulated
                raise Rejected(c.TRADE_RETCODE_INVALID, "Unsupported trade action")
            return action(broker, broker.accounts[login], req)
        except Rejected as refusal:
            return Outcome(refusal.retcode, refusal.comment, bid=refusal.bid, ask=refusal.ask)


def check(broker: Broker, login: int, req: TradeRequestData) -> CheckOutcome:
    """``order_check``: run the checks without trading; retcode 0 when it would pass."""
    with broker.lock:
        broker.catch_up()
        account = broker.accounts[login]
        metrics = broker.metrics(login)
        try:
            if req.action == c.TRADE_ACTION_DEAL:
                margin = market_checks(broker, account, req, check_price=False)[3]
            elif req.action == c.TRADE_ACTION_PENDING:
                margin = _pending_checks(broker, account, req)
            else:
                raise Rejected(c.TRADE_RETCODE_INVALID, "Unsupported trade action")
        except Rejected as refusal:
            return CheckOutcome(refusal.retcode, refusal.comment, metrics, metrics.margin)
        return CheckOutcome(0, "Done", metrics, metrics.margin + margin)
