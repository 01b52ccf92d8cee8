"""``make_module``: a ``MetaTrader5`` module object bound to one simulated terminal."""

from __future__ import annotations

import types

from mt5sim import records
from mt5sim.broker import Broker
from mt5sim.sim_terminal import SimTerminal
from services.mt5.constants import module_constants

API_FUNCTIONS = (
    "initialize", "login", "shutdown", "version", "last_error", "terminal_info", "account_info",
    "symbols_total", "symbols_get", "symbol_info", "symbol_info_tick", "symbol_select",
    "orders_total", "orders_get", "order_calc_margin", "order_calc_profit", "order_check",
    "order_send", "positions_total", "positions_get", "history_orders_total",
    "history_orders_get", "history_deals_total", "history_deals_get",
)  # fmt: skip
RECORD_TYPES = (
    "TradeRequest", "OrderSendResult", "OrderCheckResult", "Tick", "TradePosition",
    "TradeOrder", "TradeDeal", "AccountInfo", "TerminalInfo", "SymbolInfo",
)  # fmt: skip
__version__ = "5.0.4000-sim"


def make_module(
    broker: Broker,
    *,
    terminal: SimTerminal | None = None,
    latency_ms: int | None = None,
    sleeps: bool = True,
) -> types.ModuleType:
    """A module named ``MetaTrader5`` whose functions act on one ``SimTerminal`` of ``broker``.

    Code written for ``import MetaTrader5 as mt5`` runs unchanged against it; the terminal is
    reachable as ``module.terminal`` for tests. ``sleeps=False``: the caller simulates the round
    trip (see ``SimTerminal``).
    """
    session = terminal or SimTerminal(broker, latency_ms=latency_ms, sleeps=sleeps)
    module = types.ModuleType("MetaTrader5", "Simulated MetaTrader5 package (mt5sim).")
    for name, value in module_constants().items():
        setattr(module, name, value)
    for name in API_FUNCTIONS:
        setattr(module, name, getattr(session, name))
    for name in RECORD_TYPES:
        setattr(module, name, getattr(records, name))
    module.__version__ = __version__  # type: ignore[attr-defined]
    module.__author__ = "MetaQuotes Ltd. (simulated)"  # type: ignore[attr-defined]
    module.terminal = session  # type: ignore[attr-defined]
    module.broker = broker  # type: ignore[attr-defined]
    return module
