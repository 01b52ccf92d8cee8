"""The broker's books: accounts, orders, positions, deals and market state, and their figures."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from datetime import time as day_time
from decimal import Decimal

from mt5sim import calc
from mt5sim.flavours import Flavour, all_symbols, flavour_for_server
from mt5sim.persistence import DurableLock, Store
from mt5sim.price_feed import PriceFeed
from mt5sim.replay import load_ticks
from mt5sim.state import ZERO, Account, Deal, Order, Position, aggregate_positions
from services.mt5 import constants as c
from services.mt5.catalog import ACCOUNT_CURRENCIES, CATALOG, CatalogSymbol

FIRST_ORDER_TICKET = 100_000_000
FIRST_DEAL_TICKET = 200_000_000


@dataclass(frozen=True)
class Metrics:
    balance: Decimal
    profit: Decimal
    equity: Decimal
    margin: Decimal
    margin_free: Decimal
    margin_level: Decimal


def password_hash(login: int, password: str) -> str:
    return hashlib.sha256(f"{login}:{password}".encode()).hexdigest()


class Books:
    """What a trade server keeps: records in memory, written through to SQLite, behind ``lock``.

    The base of ``broker.Broker``, which adds what moves the books on its own (quotes firing
    orders and stops, faults, the file's ownership). Here is everything the fill engine
    (``fills``) and the MetaTrader5 records (``rendering``) read and write, so they depend on
    this module and not on the broker that calls them.
    """

    def __init__(
        self,
        *,
        name: str,
        seed: int | None,
        step_ms: int,
        clock: Callable[[], float],
        default_balance: Decimal,
        default_leverage: int,
        default_margin_mode: int,
        default_commission_per_lot: Decimal = ZERO,
        ticks_path: str | None = None,
    ) -> None:
        self.name = name
        self.default_commission_per_lot = default_commission_per_lot
        self.clock = clock
        self.default_balance = default_balance
        self.default_leverage = default_leverage
        self.default_margin_mode = default_margin_mode
        self.lock = DurableLock()
        self.symbols: dict[str, CatalogSymbol] = all_symbols()
        instruments = [s for s in CATALOG.values() if not s.underlying]
        replay = load_ticks(ticks_path, {s.name for s in instruments}) if ticks_path else None
        self.prices = PriceFeed(instruments, seed=seed, step_ms=step_ms, clock=clock, replay=replay)
        self.market_closed: set[str] = set()
        self.sessions: dict[str, tuple[day_time, day_time]] = {}
        self.trade_modes: dict[str, int] = {}
        self._request_id = 0

    def _load(self, store: Store) -> None:
        """Read every record and the saved quotes; from now on the books write through to it."""
        self.store = store
        self.lock.store = store
        self.accounts = {a.login: a for a in store.load(Account)}
        self.positions: dict[int, dict[int, Position]] = {login: {} for login in self.accounts}
        for p in store.load(Position):
            self.positions.setdefault(p.login, {})[p.ticket] = p
        self.orders: dict[int, dict[int, Order]] = {login: {} for login in self.accounts}
        self.pending: dict[int, Order] = {}
        for o in store.load(Order):
            self.orders.setdefault(o.login, {})[o.ticket] = o
            if o.state == c.ORDER_STATE_PLACED:
                self.pending[o.ticket] = o
        self.deals: dict[int, list[Deal]] = {login: [] for login in self.accounts}
        for d in sorted(store.load(Deal), key=lambda d: d.ticket):
            self.deals.setdefault(d.login, []).append(d)
        self._next_order = max(store.max_ticket("orders"), FIRST_ORDER_TICKET)
        self._next_deal = max(store.max_ticket("deals"), FIRST_DEAL_TICKET)
        for source, (bid, ask) in store.load_quotes().items():
            if source in self.prices.names():
                self.prices.set_quote(source, bid, ask)

    # -- accounts -------------------------------------------------------------------------

    def create_account(
        self,
        login: int,
        password: str,
        server: str,
        *,
        balance: Decimal | None = None,
        currency: str | None = None,
        leverage: int | None = None,
        margin_mode: int | None = None,
        name: str | None = None,
        commission_per_lot: Decimal | None = None,
    ) -> Account:
        """Open an account (the first deposit is a BALANCE deal); an existing login is an error.

        ``commission_per_lot``: money charged per lot on every deal (the broker's default when
        None)."""
        flavour = flavour_for_server(server)
        currency = currency or flavour.currency
        if currency not in ACCOUNT_CURRENCIES:
            raise ValueError(f"unsupported account currency {currency}")
        with self.lock:
            if login in self.accounts:
                raise ValueError(f"account {login} already exists")
            account = Account(
                login=login,
                password_hash=password_hash(login, password),
                server=server,
                name=name or f"Simulated trader {login}",
                currency=currency,
                leverage=leverage or self.default_leverage,
                margin_mode=self.default_margin_mode if margin_mode is None else margin_mode,
                balance=ZERO,
                created_msc=self.now_msc(),
                commission_per_lot=(
                    self.default_commission_per_lot
                    if commission_per_lot is None
                    else Decimal(commission_per_lot)
                ),
            )
            self.accounts[login] = account
            self.positions[login], self.orders[login], self.deals[login] = {}, {}, []
            self._deposit(account, self.default_balance if balance is None else balance)
            return account

    def remove_account(self, login: int) -> None:
        """Forget an account with its orders, positions and deals (to open it afresh)."""
        with self.lock:
            for book in (self.accounts, self.positions, self.orders, self.deals):
                book.pop(login, None)
            for ticket in [t for t, order in self.pending.items() if order.login == login]:
                del self.pending[ticket]
            self.store.delete_login(login)

    def fund(self, login: int, amount: Decimal, comment: str = "Deposit") -> Deal:
        """Add (or, negative, withdraw) money as a BALANCE deal."""
        with self.lock:
            return self._deposit(self.accounts[login], Decimal(amount), comment)

    def _deposit(self, account: Account, amount: Decimal, comment: str = "Deposit") -> Deal:
        account.balance += amount
        deal = Deal(
            ticket=self.next_deal_ticket(), login=account.login, order=0, symbol="",
            type=c.DEAL_TYPE_BALANCE, entry=c.DEAL_ENTRY_IN, volume=ZERO, price=ZERO,
            profit=amount, magic=0, comment=comment[:31], position_id=0,
            time_msc=self.now_msc(), reason=c.DEAL_REASON_CLIENT,
        )  # fmt: skip
        self.deals[account.login].append(deal)
        self.store.write(account, deal)
        return deal

    def set_trade_allowed(self, login: int, allowed: bool) -> None:
        """Switch the account's terminal AutoTrading (off: order_send returns None, -8)."""
        with self.lock:
            account = self.accounts[login]
            account.trade_allowed = allowed
            self.store.write(account)

    def set_commission(self, login: int, per_lot: Decimal) -> None:
        """Charge ``per_lot`` (account money per lot) on the account's deals from now on."""
        with self.lock:
            account = self.accounts[login]
            account.commission_per_lot = Decimal(per_lot)
            self.store.write(account)

    def flavour_of(self, login: int) -> Flavour:
        return flavour_for_server(self.accounts[login].server)

    # -- market state ---------------------------------------------------------------------

    def rates(self) -> dict[str, Decimal]:
        return self.prices.bids()

    def set_market_open(self, symbol: str, is_open: bool = True) -> None:
        """Close or reopen trading in a symbol (a price source closes all its variants)."""
        with self.lock:
            if is_open:
                self.market_closed.discard(symbol)
            else:
                self.market_closed.add(symbol)

    def set_session(self, symbol: str, opens: day_time, closes: day_time) -> None:
        """Trade ``symbol`` only between ``opens`` and ``closes`` (UTC, server clock)."""
        with self.lock:
            self.sessions[symbol] = (opens, closes)

    def set_trade_mode(self, symbol: str, mode: int) -> None:
        with self.lock:
            self.trade_modes[symbol] = mode

    def set_levels(
        self, symbol: str, *, stops_level: int | None = None, freeze_level: int | None = None
    ) -> None:
        """The symbol's trade_stops_level / trade_freeze_level in points, as a broker sets them
        (some widen them around news): stops must keep that distance from the price, and
        nothing within the freeze level of the price may be modified."""
        with self.lock:
            current = self.symbols[symbol]
            self.symbols[symbol] = replace(
                current,
                trade_stops_level=current.trade_stops_level if stops_level is None else stops_level,
                trade_freeze_level=(
                    current.trade_freeze_level if freeze_level is None else freeze_level
                ),
            )

    def trade_mode(self, symbol: str) -> int:
        return self.trade_modes.get(symbol, self.symbols[symbol].trade_mode)

    def is_market_open(self, symbol: str) -> bool:
        source = self.symbols[symbol].price_source
        if symbol in self.market_closed or source in self.market_closed:
            return False
        session = self.sessions.get(symbol) or self.sessions.get(source)
        if session is None:
            return True
        now = datetime.fromtimestamp(self.clock(), tz=UTC).time()
        opens, closes = session
        return opens <= now < closes if opens <= closes else not closes <= now < opens

    # -- figures --------------------------------------------------------------------------

    def position_profit(self, account: Account, position: Position) -> Decimal:
        symbol = self.symbols[position.symbol]
        bid, ask = self.prices.quote(symbol.price_source)
        is_buy = position.type == c.POSITION_TYPE_BUY
        return calc.profit(
            symbol, is_buy, position.volume, position.price_open, bid if is_buy else ask,
            account_currency=account.currency, rates=self.rates(),
        )  # fmt: skip

    def position_margin(self, account: Account, position: Position) -> Decimal:
        symbol = self.symbols[position.symbol]
        return calc.margin(
            symbol, position.volume, position.price_open, leverage=account.leverage,
            account_currency=account.currency, rates=self.rates(),
        )  # fmt: skip

    def metrics(self, login: int) -> Metrics:
        with self.lock:
            account = self.accounts[login]
            profit, margin = ZERO, ZERO
            for aggregate in aggregate_positions(self.positions[login].values()):
                profit += self.position_profit(account, aggregate)
                margin += self.position_margin(account, aggregate)
            equity = account.balance + profit
            level = calc.money(equity / margin * 100) if margin else ZERO
            return Metrics(account.balance, profit, equity, margin, equity - margin, level)

    # -- tickets and time -----------------------------------------------------------------

    def next_order_ticket(self) -> int:
        self._next_order += 1
        return self._next_order

    def next_deal_ticket(self) -> int:
        self._next_deal += 1
        return self._next_deal

    def next_request_id(self) -> int:
        self._request_id += 1
        return self._request_id

    def now_msc(self) -> int:
        return int(self.clock() * 1000)
