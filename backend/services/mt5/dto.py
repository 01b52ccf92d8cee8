"""Our own MT5 types (data transfer objects): what the gateway returns, Decimal for money."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any

from services.mt5.constants import (
    SYMBOL_CALC_MODE_CFD as CALC_MODE_CFD,
)
from services.mt5.constants import (
    SYMBOL_CALC_MODE_CFDINDEX as CALC_MODE_CFDINDEX,
)
from services.mt5.constants import (
    SYMBOL_CALC_MODE_CFDLEVERAGE as CALC_MODE_CFDLEVERAGE,
)
from services.mt5.constants import (
    SYMBOL_CALC_MODE_FOREX as CALC_MODE_FOREX,
)
from services.mt5.constants import (
    SYMBOL_CALC_MODE_FOREX_NO_LEVERAGE as CALC_MODE_FOREX_NO_LEVERAGE,
)
from services.mt5.constants import (
    SYMBOL_CALC_MODE_FUTURES as CALC_MODE_FUTURES,
)

# The calculation modes we size for, by our spelling on the wire.
CALC_MODE_NAMES = {
    CALC_MODE_FOREX: "forex",
    CALC_MODE_FUTURES: "futures",
    CALC_MODE_CFD: "cfd",
    CALC_MODE_CFDINDEX: "cfdindex",
    CALC_MODE_CFDLEVERAGE: "cfdleverage",
    CALC_MODE_FOREX_NO_LEVERAGE: "forex_no_leverage",
}


def to_decimal(value: Any) -> Decimal:
    """Turn an MT5 float (or int/str) into the Decimal it was meant to be.

    MT5 hands prices and volumes over as binary floats; ``repr`` gives the shortest decimal that
    round-trips, which is the number the terminal displays (2350.12, not 2350.1199999...).
    """
    if isinstance(value, Decimal):
        return value
    if isinstance(value, float):
        return Decimal(repr(value))
    return Decimal(value)


@dataclass(frozen=True)
class SymbolSpec:
    """A tradable symbol's contract, as ``symbol_info`` describes it."""

    name: str
    calc_mode: int
    digits: int
    point: Decimal
    tick_size: Decimal
    tick_value: Decimal  # money value of one tick for one lot, in the account currency
    contract_size: Decimal
    base_currency: str
    profit_currency: str
    margin_currency: str
    volume_min: Decimal
    volume_step: Decimal
    volume_max: Decimal
    margin_rate: Decimal = Decimal("1")
    margin_initial: Decimal = Decimal("0")
    tick_value_profit: Decimal | None = None
    tick_value_loss: Decimal | None = None
    trade_stops_level: int = 0  # in points
    trade_freeze_level: int = 0
    filling_mode: int = 3  # bit mask: 1 = FOK, 2 = IOC
    trade_mode: int = 4  # SYMBOL_TRADE_MODE_FULL
    trade_exemode: int = 1  # SYMBOL_TRADE_EXECUTION_*: 0 request, 1 instant, 2 market, 3 exchange
    description: str = ""

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class Tick:
    symbol: str
    bid: Decimal
    ask: Decimal
    last: Decimal = Decimal("0")
    time_msc: int = 0


@dataclass(frozen=True)
class AccountSnapshot:
    login: int
    server: str
    company: str
    name: str
    currency: str
    currency_digits: int
    balance: Decimal
    equity: Decimal
    margin: Decimal
    margin_free: Decimal
    leverage: int
    trade_allowed: bool
    margin_mode: str  # "hedging" | "netting" | "exchange"
    trade_mode: str = "demo"  # "demo" | "contest" | "real"

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class OrderResult:
    """The outcome of ``order_send``: ``retcode`` from the trade server and the tickets it made."""

    retcode: int
    order: int = 0
    deal: int = 0
    volume: Decimal = Decimal("0")
    price: Decimal = Decimal("0")
    bid: Decimal = Decimal("0")
    ask: Decimal = Decimal("0")
    comment: str = ""
    request_id: int = 0
    retcode_external: int = 0
    position: int = 0


@dataclass(frozen=True)
class Position:
    ticket: int
    symbol: str
    type: str  # "buy" | "sell"
    volume: Decimal
    price_open: Decimal
    sl: Decimal
    tp: Decimal
    price_current: Decimal
    profit: Decimal
    swap: Decimal
    magic: int
    comment: str
    time: datetime
    identifier: int = 0

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class PendingOrder:
    """An order on the book, not filled yet (``orders_get``)."""

    ticket: int
    symbol: str
    type: str  # "buy_limit" | "sell_limit" | "buy_stop" | "sell_stop" | "buy_stop_limit" | ...
    volume: Decimal  # volume_current: what is still to fill
    price_open: Decimal
    price_stoplimit: Decimal
    sl: Decimal
    tp: Decimal
    time_setup: datetime
    expiration: datetime | None
    magic: int
    comment: str

    @property
    def is_buy(self) -> bool:
        return self.type.startswith("buy")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class OrderFate:
    """What became of an order that left the book (``history_orders_get``)."""

    ticket: int
    state: str  # "filled" | "canceled" | "rejected" | "expired" | "placed" | ...
    position_id: int  # the position a fill opened or changed (0: none)


@dataclass(frozen=True)
class Deal:
    ticket: int
    order: int
    position_id: int
    symbol: str
    type: str  # "buy" | "sell" | "balance" | ...
    entry: str  # "in" | "out" | "inout" | "out_by"
    volume: Decimal
    price: Decimal
    profit: Decimal
    commission: Decimal
    swap: Decimal
    magic: int
    comment: str
    time: datetime

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class TerminalStatus:
    connected: bool
    trade_allowed: bool
    name: str = ""
    company: str = ""
    build: int = 0
    simulated: bool = False
    extra: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class AccountRef:
    """What the gateway needs to reach one MT5 account (the password already decrypted)."""

    account_id: int
    terminal: str  # sim://NAME | rpyc://HOST:PORT | rpycs://HOST:PORT | native://PATH
    login: int
    password: str = field(repr=False)
    server: str
    symbol_map: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class OrderRequest:
    """One order as our code thinks of it; the gateway turns it into an MT5 request dict."""

    symbol: str  # already resolved to the broker's name
    side: str  # "buy" | "sell"
    volume: Decimal
    order_type: str = "market"  # "market" | "limit" | "stop"
    price: Decimal | None = None  # pending orders; market orders use the current Ask/Bid
    sl: Decimal | None = None
    tp: Decimal | None = None
    deviation: int = 20  # points
    magic: int = 0
    comment: str = ""
    position: int | None = None  # close this position (a market order of the opposite side)


@dataclass(frozen=True)
class StopsChange:
    """TRADE_ACTION_SLTP: a position's new stop loss and take profit (0 removes one)."""

    position: int
    symbol: str  # the broker's name
    sl: Decimal
    tp: Decimal
    magic: int = 0
    comment: str = ""


@dataclass(frozen=True)
class PendingChange:
    """TRADE_ACTION_MODIFY: a pending order's new price, stops and expiration."""

    order: int
    symbol: str
    price: Decimal
    sl: Decimal
    tp: Decimal
    expiration: datetime | None = None  # None: good till cancelled
    magic: int = 0
    comment: str = ""


@dataclass(frozen=True)
class PendingRemoval:
    """TRADE_ACTION_REMOVE: cancel a pending order."""

    order: int
    symbol: str
    magic: int = 0
    comment: str = ""


TradeRequest = OrderRequest | StopsChange | PendingChange | PendingRemoval


@dataclass(frozen=True)
class TaggedOrder:
    """An order found at the broker by its tag (magic + comment): proof an earlier send landed."""

    order: int
    deal: int
    position: int
    volume: Decimal
    price: Decimal
    state: str  # "filled" | "placed"
