"""The simulated trade server: accounts, quotes, orders, positions and deals behind one lock."""

from __future__ import annotations

import hashlib
import logging
import os
import threading
import time
import weakref
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from datetime import time as day_time
from decimal import Decimal
from pathlib import Path

from mt5sim import calc, fills
from mt5sim.flavours import Flavour, all_symbols, flavour_for_server
from mt5sim.ownership import OwnerLock
from mt5sim.persistence import Store
from mt5sim.price_feed import PriceFeed
from mt5sim.state import (
    ZERO,
    Account,
    Deal,
    Order,
    Position,
    aggregate_positions,
)
from services.mt5 import constants as c
from services.mt5.catalog import ACCOUNT_CURRENCIES, CATALOG, CatalogSymbol

logger = logging.getLogger("mt5.simulator")

FAULT_KINDS = ("timeout", "none", "drop_after_fill")
FIRST_ORDER_TICKET = 100_000_000
FIRST_DEAL_TICKET = 200_000_000
# How long a new broker waits for a file another process owns (an admin command holds it for
# the time it takes to load the broker and apply a request).
OWNER_WAIT_S = 5.0
SYNC_INTERVAL_S = 0.1  # how often an owning broker looks for queued admin requests


@dataclass
class Fault:
    kind: str
    count: int
    call: str
    delay_s: float


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


class Broker:
    """One simulated broker (``sim://NAME``), shared by any number of ``SimTerminal`` sessions.

    Every public method takes ``self.lock`` for a short, in-memory step plus one SQLite commit;
    latency is simulated by terminals outside it. ``step_ms`` drives the price walk (see
    ``price_feed``); ``clock`` gives server time in epoch seconds.

    A broker on a file *owns* it (``ownership.OwnerLock``) unless another broker does: the owner
    applies the admin requests other processes queue in the file (``admin_commands``), on a watcher
    thread every ``SYNC_INTERVAL_S``. ``owner_lock`` hands over a lock the caller already holds.
    """

    def __init__(
        self,
        db_path: str | Path = ":memory:",
        *,
        name: str = "default",
        seed: int | None = None,
        step_ms: int = 500,
        latency_ms: int = 0,
        clock: Callable[[], float] = time.time,
        default_balance: Decimal = Decimal(10000),
        default_leverage: int = 100,
        default_margin_mode: int = c.ACCOUNT_MARGIN_MODE_RETAIL_HEDGING,
        owner_lock: OwnerLock | None = None,
    ) -> None:
        self.name = name
        self.latency_ms = latency_ms
        self.clock = clock
        self.default_balance = default_balance
        self.default_leverage = default_leverage
        self.default_margin_mode = default_margin_mode
        self.lock = threading.RLock()
        self.symbols: dict[str, CatalogSymbol] = all_symbols()
        self.prices = PriceFeed(
            [s for s in CATALOG.values() if not s.underlying], seed=seed, step_ms=step_ms
        )
        self._owner = owner_lock or OwnerLock.acquire(db_path, wait_s=OWNER_WAIT_S)
        if self._owner is None and str(db_path) != ":memory:":
            logger.warning(
                "simulator %s: %s is owned by another broker (or its lock cannot be taken); "
                "this one works on its own copy in memory and applies no admin requests",
                name,
                db_path,
            )
        self._closed = False
        try:
            self.store = Store(db_path)
            self._load()
        except BaseException:
            if self._owner is not None:
                self._owner.release()
            raise
        self.market_closed: set[str] = set()
        self.sessions: dict[str, tuple[day_time, day_time]] = {}
        self.trade_modes: dict[str, int] = {}
        self.faults: dict[int, list[Fault]] = {}
        self._request_id = 0
        self._data_version = 0
        self._stop_watching = threading.Event()
        if self._owner is not None:
            weakref.finalize(self, self._owner.release)  # an unclosed broker still lets go
            weakref.finalize(self, self._stop_watching.set)
            self._data_version = self.store.data_version()
            self._apply_admin_requests()  # queued while nothing served the file
            threading.Thread(
                target=_watch,
                args=(weakref.ref(self), self._stop_watching, SYNC_INTERVAL_S),
                name=f"sim-{name}-admin",
                daemon=True,
            ).start()

    def _load(self) -> None:
        self.accounts = {a.login: a for a in self.store.load(Account)}
        self.positions: dict[int, dict[int, Position]] = {login: {} for login in self.accounts}
        for p in self.store.load(Position):
            self.positions.setdefault(p.login, {})[p.ticket] = p
        self.orders: dict[int, dict[int, Order]] = {login: {} for login in self.accounts}
        self.pending: dict[int, Order] = {}
        for o in self.store.load(Order):
            self.orders.setdefault(o.login, {})[o.ticket] = o
            if o.state == c.ORDER_STATE_PLACED:
                self.pending[o.ticket] = o
        self.deals: dict[int, list[Deal]] = {login: [] for login in self.accounts}
        for d in sorted(self.store.load(Deal), key=lambda d: d.ticket):
            self.deals.setdefault(d.login, []).append(d)
        self._next_order = max(self.store.max_ticket("orders"), FIRST_ORDER_TICKET)
        self._next_deal = max(self.store.max_ticket("deals"), FIRST_DEAL_TICKET)
        for source, (bid, ask) in self.store.load_quotes().items():
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
    ) -> Account:
        """Open an account (the first deposit is a BALANCE deal); an existing login is an error."""
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
            )
            self.accounts[login] = account
            self.positions[login], self.orders[login], self.deals[login] = {}, {}, []
            self._deposit(account, self.default_balance if balance is None else balance)
            return account

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

    def authenticate(self, login: int, password: str, server: str) -> bool:
        """Check a login; the first login to a server opens the account with that password."""
        with self.lock:
            account = self.accounts.get(login)
            if account is None:
                self.sync()  # an admin may have just queued this account with its settings
                account = self.accounts.get(login)
            if account is None:
                self.create_account(login, password, server)
                return True
            return (
                account.password_hash == password_hash(login, password) and account.server == server
            )

    def set_trade_allowed(self, login: int, allowed: bool) -> None:
        """Switch the account's terminal AutoTrading (off: order_send returns None, -8)."""
        with self.lock:
            account = self.accounts[login]
            account.trade_allowed = allowed
            self.store.write(account)

    def flavour_of(self, login: int) -> Flavour:
        return flavour_for_server(self.accounts[login].server)

    # -- quotes and market state ----------------------------------------------------------

    def quote(self, symbol: str) -> tuple[Decimal, Decimal]:
        with self.lock:
            self.catch_up()
            return self.prices.quote(self.symbols[symbol].price_source)

    def rates(self) -> dict[str, Decimal]:
        return self.prices.bids()

    def set_quote(self, symbol: str, bid: Decimal, ask: Decimal, *, freeze: bool = False) -> None:
        """Set a quote (for every symbol sharing its price) and fire triggered orders and stops."""
        with self.lock:
            source = self.symbols[symbol].price_source
            self.prices.set_quote(source, Decimal(bid), Decimal(ask), freeze=freeze)
            self.store.save_quotes({source: self.prices.quote(source)})
            fills.on_quotes(self, [source])

    def advance(self, steps: int = 1) -> None:
        """Move the random walk ``steps`` steps, firing triggered orders and stops."""
        with self.lock:
            fills.on_quotes(self, self.prices.advance(steps))

    def catch_up(self) -> None:
        with self.lock:
            changed = self.prices.catch_up()
            if changed:
                fills.on_quotes(self, changed)

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

    # -- faults ---------------------------------------------------------------------------

    def inject_fault(
        self, login: int, kind: str, count: int = 1, *, call: str = "order_send", delay_s: float = 0
    ) -> None:
        """Make the next ``count`` ``call``s of ``login``'s terminals fail with ``kind``."""
        if kind not in FAULT_KINDS:
            raise ValueError(f"unknown fault kind {kind!r}; expected one of {FAULT_KINDS}")
        with self.lock:
            self.faults.setdefault(login, []).append(Fault(kind, count, call, delay_s))

    def take_fault(self, login: int | None, call: str) -> Fault | None:
        if login is None or not self.faults.get(login):
            return None
        with self.lock:
            for fault in self.faults.get(login, []):
                if fault.call == call and fault.count > 0:
                    fault.count -= 1
                    return fault
            return None

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

    # -- admin requests from other processes -----------------------------------------------

    @property
    def owns_file(self) -> bool:
        return self._owner is not None and self._owner.held

    def sync(self) -> int:
        """Apply the admin requests queued in the file since the last look; how many.

        Cheap when nothing changed: one ``PRAGMA data_version``, which moves only when another
        connection (an admin command) committed to the file.
        """
        if self._owner is None:
            return 0
        with self.lock:
            if self._closed:
                return 0
            version = self.store.data_version()
            if version == self._data_version:
                return 0
            self._data_version = version
            return self._apply_admin_requests()

    def _apply_admin_requests(self) -> int:
        from mt5sim.admin_commands import apply_request

        with self.lock:
            queued = self.store.queued_requests()
            for request_id, kind, payload in queued:
                result: str | None = None
                error: str | None = None
                try:
                    result = apply_request(self, kind, payload)
                except (ValueError, ArithmeticError, KeyError, TypeError) as exc:
                    error = str(exc) or type(exc).__name__
                except Exception as exc:  # a bug must not stop the broker; the admin hears of it
                    logger.exception("simulator %s: admin request %s failed", self.name, request_id)
                    error = f"internal error: {type(exc).__name__}"
                self.store.finish_request(
                    request_id, result=result, error=error, applied_by=os.getpid()
                )
                logger.info(
                    "simulator %s: admin request %s (%s): %s",
                    self.name,
                    request_id,
                    kind,
                    error or result,
                )
            return len(queued)

    def close(self) -> None:
        """Save the quotes, close the SQLite file and give up the file's ownership."""
        self._stop_watching.set()
        with self.lock:
            if self._closed:
                return
            self._closed = True
            self.store.save_quotes({n: self.prices.quote(n) for n in self.prices.names()})
            self.store.close()
        if self._owner is not None:
            self._owner.release()


def _watch(ref: weakref.ref[Broker], stop: threading.Event, interval_s: float) -> None:
    """The owner's watcher: apply admin requests while the broker lives and is open."""
    while not stop.wait(interval_s):
        broker = ref()
        if broker is None:
            return
        try:
            broker.sync()
        except Exception:
            logger.exception("simulator %s: looking for admin requests failed", broker.name)
        del broker
