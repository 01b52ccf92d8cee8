"""The built-in symbol catalog: contracts the simulator (mt5sim) trades and the calculator lists.

Tick values are not stored: they depend on the account currency and current quotes, so
``catalog_spec`` derives them (``tick_size * contract_size * X``, where X converts one unit of the
profit currency into the account currency: 1 when equal, the pair PROFIT/ACC multiplied, the pair
ACC/PROFIT divided, otherwise a cross through USD). ``USC`` is the US cent: 1 USD = 100 USC.
Gold variants share the XAUUSD price (``underlying``) but differ in name, contract, filling mask
or profit currency, as real brokers' do.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from decimal import Decimal

from services.mt5.dto import (
    CALC_MODE_CFDINDEX,
    CALC_MODE_CFDLEVERAGE,
    CALC_MODE_FOREX,
    SymbolSpec,
)

ACCOUNT_CURRENCIES = ("USD", "USC", "THB", "EUR")
CENTS_PER_DOLLAR = Decimal(100)
TRADE_MODE_FULL = 4


@dataclass(frozen=True)
class CatalogSymbol:
    """A symbol's contract as the broker defines it (prices in the profit currency)."""

    name: str
    description: str
    calc_mode: int
    digits: int
    point: Decimal
    tick_size: Decimal
    contract_size: Decimal
    base_currency: str
    profit_currency: str
    margin_currency: str
    volume_min: Decimal
    volume_step: Decimal
    volume_max: Decimal
    margin_rate: Decimal
    margin_initial: Decimal
    trade_stops_level: int
    trade_freeze_level: int
    filling_mode: int  # bit mask: 1 = FOK, 2 = IOC
    trade_mode: int
    spread_points: int
    start_bid: Decimal
    volatility: Decimal  # relative standard deviation of one random-walk step
    underlying: str = ""  # the instrument whose price this symbol shows; "" means itself

    @property
    def price_source(self) -> str:
        return self.underlying or self.name


def _forex(name: str, digits: int, start_bid: str, spread: int, description: str) -> CatalogSymbol:
    point = Decimal(1).scaleb(-digits)
    return CatalogSymbol(
        name=name,
        description=description,
        calc_mode=CALC_MODE_FOREX,
        digits=digits,
        point=point,
        tick_size=point,
        contract_size=Decimal(100000),
        base_currency=name[:3],
        profit_currency=name[3:6],
        margin_currency=name[:3],
        volume_min=Decimal("0.01"),
        volume_step=Decimal("0.01"),
        volume_max=Decimal(100),
        margin_rate=Decimal(1),
        margin_initial=Decimal(0),
        trade_stops_level=0,
        trade_freeze_level=0,
        filling_mode=3,
        trade_mode=TRADE_MODE_FULL,
        spread_points=spread,
        start_bid=Decimal(start_bid),
        volatility=Decimal("0.0001"),
    )


_XAUUSD = CatalogSymbol(
    name="XAUUSD",
    description="Gold vs US Dollar",
    calc_mode=CALC_MODE_CFDLEVERAGE,
    digits=2,
    point=Decimal("0.01"),
    tick_size=Decimal("0.01"),
    contract_size=Decimal(100),
    base_currency="XAU",
    profit_currency="USD",
    margin_currency="USD",
    volume_min=Decimal("0.01"),
    volume_step=Decimal("0.01"),
    volume_max=Decimal(100),
    margin_rate=Decimal(1),
    margin_initial=Decimal(0),
    trade_stops_level=10,
    trade_freeze_level=0,
    filling_mode=3,
    trade_mode=TRADE_MODE_FULL,
    spread_points=20,
    start_bid=Decimal("2350.00"),
    volatility=Decimal("0.0003"),
)

_GOLD_VARIANTS = (
    _XAUUSD,
    # Broker-suffix variants: same contract, a narrower filling mask (the 10030 trap).
    replace(_XAUUSD, name="XAUUSD.m", filling_mode=2, underlying="XAUUSD"),
    replace(_XAUUSD, name="XAUUSDm", filling_mode=1, underlying="XAUUSD"),
    replace(_XAUUSD, name="GOLD", description="Gold Spot", underlying="XAUUSD"),
    # Cent gold: profit and margin in US cents, so 1 lot moving $1 is 100 USC = $1.
    replace(
        _XAUUSD,
        name="XAUUSDc",
        description="Gold vs US Dollar (cent)",
        profit_currency="USC",
        margin_currency="USC",
        underlying="XAUUSD",
    ),
    # A 1-ounce contract traded in whole lots.
    replace(
        _XAUUSD,
        name="XAUUSD.1oz",
        description="Gold 1 oz contract",
        contract_size=Decimal(1),
        volume_min=Decimal(1),
        volume_step=Decimal(1),
        volume_max=Decimal(10000),
        underlying="XAUUSD",
    ),
)

_US30 = CatalogSymbol(
    name="US30",
    description="Dow Jones Industrial Average index CFD",
    calc_mode=CALC_MODE_CFDINDEX,
    digits=1,
    point=Decimal("0.1"),
    tick_size=Decimal("0.5"),  # tick != point: prices move in steps of 5 points
    contract_size=Decimal(1),
    base_currency="USD",
    profit_currency="USD",
    margin_currency="USD",
    volume_min=Decimal("0.1"),
    volume_step=Decimal("0.1"),
    volume_max=Decimal(500),
    margin_rate=Decimal("0.01"),
    margin_initial=Decimal(0),
    trade_stops_level=0,
    trade_freeze_level=0,
    filling_mode=3,
    trade_mode=TRADE_MODE_FULL,
    spread_points=20,
    start_bid=Decimal("39000.0"),
    volatility=Decimal("0.0003"),
)

CATALOG: dict[str, CatalogSymbol] = {
    symbol.name: symbol
    for symbol in (
        *_GOLD_VARIANTS,
        _forex("EURUSD", 5, "1.08500", 10, "Euro vs US Dollar"),
        _forex("GBPUSD", 5, "1.27000", 12, "Great Britain Pound vs US Dollar"),
        _forex("USDJPY", 3, "155.000", 12, "US Dollar vs Japanese Yen"),
        _forex("GBPJPY", 3, "196.850", 25, "Great Britain Pound vs Japanese Yen"),
        _forex("EURGBP", 5, "0.85430", 15, "Euro vs Great Britain Pound"),
        _forex("EURJPY", 3, "168.175", 20, "Euro vs Japanese Yen"),
        _forex("USDTHB", 3, "36.500", 150, "US Dollar vs Thai Baht"),
        _US30,
    )
}


def default_rates() -> dict[str, Decimal]:
    """Quotes for conversions when the caller has none: each instrument's starting bid."""
    return {name: s.start_bid for name, s in CATALOG.items() if not s.underlying}


def _pair_rate(source: str, target: str, rates: Mapping[str, Decimal]) -> Decimal | None:
    if source == target:
        return Decimal(1)
    if source + target in rates:
        return rates[source + target]
    if target + source in rates:
        return 1 / rates[target + source]
    return None


def conversion_rate(source: str, target: str, rates: Mapping[str, Decimal]) -> Decimal | None:
    """How many units of ``target`` one unit of ``source`` is worth, or None without a quote."""
    scale = Decimal(1)
    if source == "USC":
        source, scale = "USD", scale / CENTS_PER_DOLLAR
    if target == "USC":
        target, scale = "USD", scale * CENTS_PER_DOLLAR
    direct = _pair_rate(source, target, rates)
    if direct is not None:
        return direct * scale
    to_usd = _pair_rate(source, "USD", rates)
    from_usd = _pair_rate("USD", target, rates)
    if to_usd is None or from_usd is None:
        return None
    return to_usd * from_usd * scale


def tick_value(
    symbol: CatalogSymbol, account_currency: str, rates: Mapping[str, Decimal]
) -> Decimal:
    """Money value of one tick for one lot, in the account currency."""
    rate = conversion_rate(symbol.profit_currency, account_currency, rates)
    if rate is None:
        raise LookupError(
            f"missing_conversion_rate: no quote converts {symbol.profit_currency} "
            f"to {account_currency}"
        )
    return symbol.tick_size * symbol.contract_size * rate


def spec_of(
    symbol: CatalogSymbol, account_currency: str, rates: Mapping[str, Decimal]
) -> SymbolSpec:
    """The ``SymbolSpec`` of a catalog symbol for one account currency and set of quotes."""
    value = tick_value(symbol, account_currency, rates)
    return SymbolSpec(
        name=symbol.name,
        calc_mode=symbol.calc_mode,
        digits=symbol.digits,
        point=symbol.point,
        tick_size=symbol.tick_size,
        tick_value=value,
        contract_size=symbol.contract_size,
        base_currency=symbol.base_currency,
        profit_currency=symbol.profit_currency,
        margin_currency=symbol.margin_currency,
        volume_min=symbol.volume_min,
        volume_step=symbol.volume_step,
        volume_max=symbol.volume_max,
        margin_rate=symbol.margin_rate,
        margin_initial=symbol.margin_initial,
        tick_value_profit=value,
        tick_value_loss=value,
        trade_stops_level=symbol.trade_stops_level,
        trade_freeze_level=symbol.trade_freeze_level,
        filling_mode=symbol.filling_mode,
        trade_mode=symbol.trade_mode,
        description=symbol.description,
    )


def catalog_spec(
    name: str, account_currency: str = "USD", rates: Mapping[str, Decimal] | None = None
) -> SymbolSpec | None:
    """The catalog symbol ``name`` as a ``SymbolSpec`` in ``account_currency``; None if unknown.

    ``rates`` maps pair names to a price (``{"EURUSD": Decimal("1.085")}``); it defaults to the
    catalog's starting prices. A currency no quote can convert raises ``LookupError``.
    """
    symbol = CATALOG.get(name)
    if symbol is None:
        return None
    return spec_of(symbol, account_currency, default_rates() if rates is None else rates)
