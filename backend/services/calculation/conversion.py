"""Currency conversion for sizing: quotes, crosses via USD, the US cent, a symbol's own price."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from decimal import ROUND_HALF_UP, Decimal
from typing import Literal

from errors import CalculationError
from services.mt5.constants import SYMBOL_CALC_MODE_FUTURES
from services.mt5.dto import SymbolSpec

# Cent accounts report money in hundredths of a real currency; converting here means callers
# never multiply or divide by 100 themselves (a classic source of 100x lot errors).
CENT_CURRENCIES: dict[str, tuple[str, Decimal]] = {"USC": ("USD", Decimal(100))}

TickValueSource = Literal["given", "rates", "symbol_price"]


def _real_currency(currency: str) -> tuple[str, Decimal]:
    """The real currency behind ``currency`` and how many ``currency`` units make one of it."""
    code = currency.upper()
    return CENT_CURRENCIES.get(code, (code, Decimal(1)))


def conversion_factor(profit_ccy: str, account_ccy: str, rates: Mapping[str, Decimal]) -> Decimal:
    """How much account currency one unit of ``profit_ccy`` is worth, from ``rates``.

    A rate of pair XXXYYY is how many YYY one XXX buys. Tried in order: same currency (1), the
    direct pair, the inverse pair (1 / rate), then a cross through USD. No quote at all raises
    ``missing_conversion_rate`` listing every pair looked for; a rate of 1 is never assumed.
    """
    quotes = {pair.upper(): rate for pair, rate in rates.items()}
    return _factor_and_pairs(profit_ccy, account_ccy, quotes)[0]


def _factor_and_pairs(
    from_ccy: str, to_ccy: str, quotes: Mapping[str, Decimal]
) -> tuple[Decimal, list[str]]:
    """The factor and the pairs whose quotes it used."""
    source, source_units = _real_currency(from_ccy)
    target, target_units = _real_currency(to_ccy)
    if source == target:
        return target_units / source_units, []
    looked_for: list[str] = []
    legs = [(source, target)]
    factor = _quote(source, target, quotes, looked_for)
    if factor is None and "USD" not in (source, target):
        legs = [(source, "USD"), ("USD", target)]
        to_usd = _quote(source, "USD", quotes, looked_for)
        from_usd = _quote("USD", target, quotes, looked_for)
        if to_usd is not None and from_usd is not None:
            factor = to_usd * from_usd
    if factor is None:
        raise CalculationError(
            f"No quote converts {source} into {target}.",
            code="missing_conversion_rate",
            details={"from": source, "to": target, "looked_for": looked_for},
        )
    return target_units / source_units * factor, [a + b for a, b in legs]


def _quote(
    source: str, target: str, quotes: Mapping[str, Decimal], looked_for: list[str]
) -> Decimal | None:
    """Units of ``target`` per ``source``: the pair's rate, or one over the reverse pair's."""
    direct, inverse = source + target, target + source
    looked_for += [direct, inverse]
    rate = quotes.get(direct)
    if rate is not None and rate > 0:
        return rate
    rate = quotes.get(inverse)
    if rate is not None and rate > 0:
        return Decimal(1) / rate
    return None


def symbol_conversion(
    from_ccy: str,
    to_ccy: str,
    rates: Mapping[str, Decimal],
    *,
    spec: SymbolSpec,
    price: Decimal | None,
) -> tuple[Decimal, bool]:
    """Like ``conversion_factor``, with the symbol's own pair quoted at ``price``.

    USDJPY on a USD account turns its JPY loss into USD at the USDJPY price when the stop fills,
    so that price (not today's quote) is the exact rate, also inside a cross (JPY -> USD -> THB);
    EURUSD margin in EUR converts at the entry price. MT5 and the simulator do the same.
    Returns the factor and whether the symbol's own price took part.
    """
    quotes = {pair.upper(): rate for pair, rate in rates.items()}
    base = _real_currency(spec.base_currency)[0]
    quote = _real_currency(spec.profit_currency)[0]
    if price is None or price <= 0 or base == quote:
        return _factor_and_pairs(from_ccy, to_ccy, quotes)[0], False
    quotes.pop(quote + base, None)
    quotes[base + quote] = price
    factor, pairs = _factor_and_pairs(from_ccy, to_ccy, quotes)
    return factor, bool({base + quote, quote + base} & set(pairs))


def tick_value_with_source(
    spec: SymbolSpec,
    account_ccy: str,
    rates: Mapping[str, Decimal],
    *,
    close_price: Decimal | None = None,
    for_profit: bool = False,
) -> tuple[Decimal, TickValueSource]:
    """``tick_value_in_account`` plus where the value came from (for the warnings)."""
    given = _given_tick_value(spec, for_profit=for_profit)
    if given is not None:
        return given, "given"
    if spec.calc_mode == SYMBOL_CALC_MODE_FUTURES:
        # Futures ticks are priced by the exchange, not by tick_size * contract_size.
        raise CalculationError(
            f"{spec.name} is a futures symbol and its spec gives no tick value.",
            code="invalid_symbol_spec",
            details={"symbol": spec.name, "problems": ["futures need tick_value"]},
        )
    factor, used_price = symbol_conversion(
        spec.profit_currency, account_ccy, rates, spec=spec, price=close_price
    )
    return spec.tick_size * spec.contract_size * factor, "symbol_price" if used_price else "rates"


def tick_value_in_account(
    spec: SymbolSpec,
    account_ccy: str,
    rates: Mapping[str, Decimal],
    *,
    close_price: Decimal | None = None,
    for_profit: bool = False,
) -> Decimal:
    """Money value of one tick for one lot, in the account currency.

    The spec's ``tick_value_loss`` (``tick_value_profit`` when ``for_profit``), else its
    ``tick_value``, when positive: MT5 already gives those in the account currency. Otherwise
    ``tick_size * contract_size * X`` with X from ``symbol_conversion`` at ``close_price`` (the
    price at which the loss or profit is realised). Futures must give their tick value.
    """
    value, _ = tick_value_with_source(
        spec, account_ccy, rates, close_price=close_price, for_profit=for_profit
    )
    return value


def _given_tick_value(spec: SymbolSpec, *, for_profit: bool) -> Decimal | None:
    specific = spec.tick_value_profit if for_profit else spec.tick_value_loss
    for value in (specific, spec.tick_value):
        if value is not None and value > 0:
            return value
    return None


def usd_amount(
    amount: Decimal, currency: str, quote: Callable[[str], Decimal | None]
) -> Decimal | None:
    """``amount`` of ``currency`` in US dollars, half-up to cents; None when no quote converts
    it. ``quote(pair)`` is asked only for what is needed: nothing for USD and USC (a cent is a
    hundredth of a dollar by definition), then ``USD<ccy>``, then ``<ccy>USD``."""
    real, _ = _real_currency(currency)
    rates: dict[str, Decimal] = {}
    if real != "USD":
        for pair in ("USD" + real, real + "USD"):
            rate = quote(pair)
            if rate is not None:
                rates[pair] = rate
                break
    try:
        factor = conversion_factor(currency, "USD", rates)
    except CalculationError:
        return None
    return (amount * factor).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)


def with_usd(
    message: str, amount: Decimal, currency: str, quote: Callable[[str], Decimal | None]
) -> str:
    """The message with ``amount`` also written in US dollars ("1504.00 USC, 15.04 USD")."""
    if currency.upper() == "USD":
        return message
    usd = usd_amount(amount, currency, quote)
    if usd is None:
        return message
    written = f"{format(amount, 'f')} {currency}"
    return message.replace(written, f"{written}, {format(usd, 'f')} USD", 1)
