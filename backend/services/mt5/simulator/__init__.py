"""A simulated MT5 broker that stands in for the ``MetaTrader5`` Python package.

Public API:

- ``Broker(db_path, *, name, seed, step_ms, latency_ms, clock, default_balance,
  default_leverage, default_margin_mode)``: one trade server, state in SQLite.
  ``create_account``, ``fund``, ``set_quote``, ``advance``, ``set_market_open``,
  ``set_session``, ``set_trade_mode``, ``set_trade_allowed``, ``inject_fault``, ``close``.
- ``SimTerminal(broker, latency_ms=None)``: one terminal session with the MetaTrader5
  functions as methods (``initialize``, ``login``, ``order_send``, ...).
- ``make_module(broker)``: a ``MetaTrader5`` module object bound to a new ``SimTerminal``.
- ``services.mt5.simulator.node.serve``: an RPyC classic terminal node.

Servers and flavours. Any server name is accepted; the first login to it opens the account
with that password. The name picks a flavour (first rule that matches, case-insensitive):

=================  ==========================  ======================================
server name has    account currency (default)  symbols
=================  ==========================  ======================================
"cent"             USC (US cent)               XAUUSD, XAUUSDc (cent gold) + forex, US30
"gold"             USD                         GOLD (not XAUUSD), XAUUSD.1oz + forex, US30
".m" (a word)      USD                         XAUUSD.m, EURUSD.m, ... (".m" suffix)
"trial"            USD                         XAUUSDm, EURUSDm, ... ("m" suffix)
anything else      USD                         XAUUSD, XAUUSD.1oz, EURUSD, GBPUSD, USDJPY,
                                               GBPJPY, EURGBP, EURJPY, USDTHB, US30
=================  ==========================  ======================================

Simplifications: no swaps, commissions or stop-out; hedged positions' margins simply add up;
stop-limit orders and TRADE_ACTION_CLOSE_BY answer 10013; triggered orders and stops fill at
the quote that crossed them (no slippage beyond it).
"""

from services.mt5.simulator.broker import FAULT_KINDS, Broker
from services.mt5.simulator.facade import make_module
from services.mt5.simulator.terminal import SimTerminal

__all__ = ["FAULT_KINDS", "Broker", "SimTerminal", "make_module"]
