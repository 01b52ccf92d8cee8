"""mt5sim: a simulated MT5 broker that stands in for the ``MetaTrader5`` Python package.

It imports nothing of the app but ``services.mt5.constants`` (the MetaTrader5 constants) and
``services.mt5.catalog`` (the symbol contracts), so it can run as a terminal node on its own.
This package module imports nothing: import what you use from its modules, which import each
other in one direction only (listed here from the bottom up; none imports one listed after it).

Public API, by module:

- ``mt5sim.broker.Broker(db_path, *, name, seed, step_ms, latency_ms, clock, default_balance,
  default_leverage, default_margin_mode, default_commission_per_lot, owner_lock)``: one trade
  server, state in SQLite. ``create_account``, ``fund``, ``remove_account``, ``set_commission``,
  ``set_quote``, ``advance``, ``set_market_open``, ``set_session``, ``set_trade_mode``,
  ``set_trade_allowed``, ``inject_fault``, ``sync``, ``close``; ``mt5sim.broker.FAULT_KINDS``.
- ``mt5sim.admin_commands.submit(db_path, kind, payload)``: an admin change for whichever process
  owns the file.
- ``mt5sim.sim_terminal.SimTerminal(broker, latency_ms=None)``: one terminal session with the
  MetaTrader5 functions as methods (``initialize``, ``login``, ``order_send``, ...).
- ``mt5sim.facade.make_module(broker)``: a ``MetaTrader5`` module object bound to a new
  ``SimTerminal``.
- ``mt5sim.node.serve``: an RPyC classic terminal node (``python -m mt5sim.node --db FILE``).

Modules:

- ``state``: the broker's records (Account, Order, Position, Deal), Decimal for every amount.
- ``records``: the MetaTrader5 result named tuples (TradePosition, SymbolInfo, ...).
- ``calc``: margin and profit per calculation mode, in account money.
- ``flavours``: the symbols and account currency a server name selects.
- ``price_feed``: quotes, a seeded random walk per instrument (PriceFeed).
- ``persistence``: the SQLite file records are written through to (Store).
- ``ownership``: which process owns a file (OwnerLock on ``<db>.owner``).
- ``checks``: trade request parsing and the trade server's checks (Rejected with a retcode).
- ``books``: Books, the records, market state and account figures in memory.
- ``fills``: the fill engine: market orders, closes, netting, SL/TP and triggered orders.
- ``rendering``: the books rendered as the MetaTrader5 named tuples.
- ``admin_requests``: admin request payloads and how the owner of a file applies them.
- ``broker``: Broker(Books): quotes that fire fills, faults, file ownership, admin requests.
- ``trading``: ``order_send`` / ``order_check`` by trade action.
- ``ipc``: ``api_call``, the simulated IPC round trip (latency, injected faults).
- ``queries``: the orders, positions and history read functions of a terminal.
- ``sim_terminal``: SimTerminal, one terminal session on a broker.
- ``facade``: ``make_module``, a ``MetaTrader5`` module object over one SimTerminal.
- ``node``: the RPyC classic terminal node.
- ``admin_commands``: the CLI's side of admin requests (``submit`` and wait for the owner).

Servers and flavours. Any server name is accepted; the first login to it opens the account
with that password. The name picks a flavour (the account's default currency and the symbol
names its terminal shows): ``flavours.SERVER_RULES``, first match wins, printed by
``flavours.describe_flavours`` into ``flask mt5 sim-account --help`` and listed in
docs/operations.md ("Simulated servers").

A login is unique per broker: logging in to an existing login with another server name or
password fails with RES_E_AUTH_FAILED (-6).

Latency and faults: every terminal call sleeps ``latency_ms`` (the broker's, or the terminal's
override) before it takes the broker lock, so different accounts overlap. ``inject_fault(login,
kind, count=1, call="order_send", delay_s=0)``: "timeout" sleeps ``delay_s`` then raises
``TimeoutError`` without reaching the broker; "none" returns None with last_error
(-10001, "IPC send failed"); "drop_after_fill" executes the call, then raises ``ConnectionError``.
``set_trade_allowed(login, False)`` turns AutoTrading off: ``terminal_info().trade_allowed`` is
False and ``order_send`` returns None with last_error -8.

Persistence: accounts, orders, positions and deals are written through to SQLite (WAL,
synchronous=NORMAL) before each call returns; quotes are saved as they move (the walk,
``set_quote``) and by ``close``, so a restart continues the walk where it was.
A Broker keeps its state in memory, so one SQLite file belongs to one process at a time, its
*owner* (``ownership``; give a terminal node its own file): a second process's broker on the
same file works on its own copy. Admin commands reach the owner through the file
(``admin_commands``): ``flask mt5 sim-account`` and ``set-quote`` queue a request, the running
owner applies it within ``SYNC_INTERVAL_S`` (or the command does, when nothing runs).
Expiration of pending orders is not simulated.

Commission: each account pays ``commission_per_lot`` (account money, the broker's
``default_commission_per_lot`` unless ``create_account`` or ``set_commission`` says otherwise)
on every deal, in and out, rounded to the cent; the deal's ``commission`` is that amount,
negative, and the balance pays it at once, as MT5 brokers charge commission per side.

Simplifications: no swaps or stop-out; hedged positions' margins simply add up;
stop-limit orders and TRADE_ACTION_CLOSE_BY answer 10013; triggered orders and stops fill at
the quote that crossed them (no slippage beyond it).
"""
