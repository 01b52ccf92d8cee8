"""Broker state rendered as the MetaTrader5 named tuples (floats, seconds, like the real module)."""

from __future__ import annotations

import fnmatch
from datetime import datetime
from decimal import Decimal
from typing import Any

from mt5sim import records as r
from mt5sim.books import Books
from mt5sim.state import Account, Deal, Order, Position
from services.mt5 import constants as c
from services.mt5.catalog import CatalogSymbol, tick_value

BUILD = 4000
TICK_FLAGS_BID_ASK = 6


def matches_group(name: str, group: str | None) -> bool:
    """MT5 group filter: comma-separated wildcards, ``!`` excludes (``"*USD*,!EUR*"``)."""
    if not group:
        return True
    patterns = [p.strip() for p in group.split(",") if p.strip()]
    included = [p for p in patterns if not p.startswith("!")]
    excluded = [p[1:] for p in patterns if p.startswith("!")]
    if any(fnmatch.fnmatchcase(name, p) for p in excluded):
        return False
    return not included or any(fnmatch.fnmatchcase(name, p) for p in included)


def to_msc(value: Any) -> int:
    """A ``date_from``/``date_to`` argument (datetime or epoch seconds) in milliseconds."""
    if isinstance(value, datetime):
        return int(value.timestamp() * 1000)
    return int(value) * 1000


def symbol_info(broker: Books, symbol: CatalogSymbol, currency: str) -> Any:
    bid, ask = broker.prices.quote(symbol.price_source)
    value = float(tick_value(symbol, currency, broker.rates()))
    return r.build(
        r.SymbolInfo, select=True, visible=True, digits=symbol.digits,
        spread=int((ask - bid) / symbol.point), spread_float=True,
        trade_calc_mode=symbol.calc_mode, trade_mode=broker.trade_mode(symbol.name),
        trade_stops_level=symbol.trade_stops_level, trade_freeze_level=symbol.trade_freeze_level,
        trade_exemode=c.SYMBOL_TRADE_EXECUTION_MARKET, filling_mode=symbol.filling_mode,
        order_mode=127, expiration_mode=15, time=broker.now_msc() // 1000,
        bid=float(bid), bidhigh=float(bid), bidlow=float(bid),
        ask=float(ask), askhigh=float(ask), asklow=float(ask), point=float(symbol.point),
        trade_tick_value=value, trade_tick_value_profit=value, trade_tick_value_loss=value,
        trade_tick_size=float(symbol.tick_size), trade_contract_size=float(symbol.contract_size),
        volume_min=float(symbol.volume_min), volume_max=float(symbol.volume_max),
        volume_step=float(symbol.volume_step), margin_initial=float(symbol.margin_initial),
        currency_base=symbol.base_currency, currency_profit=symbol.profit_currency,
        currency_margin=symbol.margin_currency, description=symbol.description,
        name=symbol.name, path=f"Simulated\\{symbol.name}",
    )  # fmt: skip


def tick(broker: Books, symbol: CatalogSymbol) -> Any:
    bid, ask = broker.prices.quote(symbol.price_source)
    now = broker.now_msc()
    return r.build(
        r.Tick, time=now // 1000, bid=float(bid), ask=float(ask), time_msc=now,
        flags=TICK_FLAGS_BID_ASK,
    )  # fmt: skip


def account_info(broker: Books, account: Account) -> Any:
    figures = broker.metrics(account.login)
    return r.build(
        r.AccountInfo, login=account.login, trade_mode=c.ACCOUNT_TRADE_MODE_DEMO,
        leverage=account.leverage, limit_orders=200,
        margin_so_mode=c.ACCOUNT_STOPOUT_MODE_PERCENT, trade_allowed=True, trade_expert=True,
        margin_mode=account.margin_mode, currency_digits=2, fifo_close=False,
        balance=float(account.balance), credit=0.0, profit=float(figures.profit),
        equity=float(figures.equity), margin=float(figures.margin),
        margin_free=float(figures.margin_free), margin_level=float(figures.margin_level),
        margin_so_call=50.0, margin_so_so=30.0, name=account.name, server=account.server,
        currency=account.currency, company=broker.flavour_of(account.login).company,
    )  # fmt: skip


def terminal_info(broker: Books, account: Account | None, connected: bool, ping_us: int) -> Any:
    company = broker.flavour_of(account.login).company if account else "Simulated Broker Ltd"
    return r.build(
        r.TerminalInfo, connected=connected, dlls_allowed=False,
        trade_allowed=account.trade_allowed if account else True, tradeapi_disabled=False,
        build=BUILD, maxbars=100000, ping_last=ping_us, company=company,
        name="MetaTrader 5 (simulated)", language="English",
        path=f"C:\\Simulated\\{broker.name}", data_path=f"C:\\Simulated\\{broker.name}\\Data",
        commondata_path="C:\\Simulated\\Common",
    )  # fmt: skip


def _price_now(broker: Books, symbol_name: str, is_buy: bool) -> Decimal:
    bid, ask = broker.prices.quote(broker.symbols[symbol_name].price_source)
    return bid if is_buy else ask


def position(broker: Books, account: Account, p: Position) -> Any:
    return r.build(
        r.TradePosition, ticket=p.ticket, time=p.time_msc // 1000, time_msc=p.time_msc,
        time_update=p.time_update_msc // 1000, time_update_msc=p.time_update_msc, type=p.type,
        magic=p.magic, identifier=p.ticket, reason=c.POSITION_REASON_EXPERT,
        volume=float(p.volume), price_open=float(p.price_open), sl=float(p.sl), tp=float(p.tp),
        price_current=float(_price_now(broker, p.symbol, p.type == c.POSITION_TYPE_BUY)),
        swap=0.0, profit=float(broker.position_profit(account, p)), symbol=p.symbol,
        comment=p.comment,
    )  # fmt: skip


def order(broker: Books, o: Order) -> Any:
    return r.build(
        r.TradeOrder, ticket=o.ticket, time_setup=o.time_setup_msc // 1000,
        time_setup_msc=o.time_setup_msc, time_done=o.time_done_msc // 1000,
        time_done_msc=o.time_done_msc, time_expiration=o.time_expiration, type=o.type,
        type_time=o.type_time,
        type_filling=o.type_filling, state=o.state, magic=o.magic, position_id=o.position_id,
        reason=o.reason, volume_initial=float(o.volume_initial),
        volume_current=float(o.volume_current), price_open=float(o.price_open), sl=float(o.sl),
        tp=float(o.tp), price_current=float(_price_now(broker, o.symbol, o.type % 2 == 1)),
        symbol=o.symbol, comment=o.comment,
    )  # fmt: skip


def deal(d: Deal) -> Any:
    return r.build(
        r.TradeDeal, ticket=d.ticket, order=d.order, time=d.time_msc // 1000,
        time_msc=d.time_msc, type=d.type, entry=d.entry, magic=d.magic,
        position_id=d.position_id, reason=d.reason, volume=float(d.volume),
        price=float(d.price), commission=float(d.commission), swap=0.0, profit=float(d.profit),
        fee=0.0, symbol=d.symbol, comment=d.comment,
    )  # fmt: skip
