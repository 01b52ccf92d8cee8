"""Margin and profit per calculation mode (see reference/position-sizing.md), in account money."""

from __future__ import annotations

from collections.abc import Mapping
from decimal import ROUND_HALF_UP, Decimal

from services.mt5 import constants as c
from services.mt5.catalog import CatalogSymbol, conversion_rate

CENT = Decimal("0.01")


def money(amount: Decimal) -> Decimal:
    """Round to the account currency's 2 digits, half up, as the trade server reports it."""
    return amount.quantize(CENT, rounding=ROUND_HALF_UP)


def _with_own_price(
    symbol: CatalogSymbol, price: Decimal, rates: Mapping[str, Decimal]
) -> dict[str, Decimal]:
    # MT5 converts a pair's own currencies at the price being priced (USDJPY profit on a USD
    # account converts at the close price), so the symbol's quote is replaced by that price.
    merged = dict(rates)
    merged[symbol.price_source] = price
    return merged


def _convert(amount: Decimal, source: str, target: str, rates: Mapping[str, Decimal]) -> Decimal:
    rate = conversion_rate(source, target, rates)
    if rate is None:
        raise LookupError(f"missing_conversion_rate: {source} to {target}")
    return amount * rate


def margin_in_margin_currency(
    symbol: CatalogSymbol, volume: Decimal, price: Decimal, leverage: int
) -> Decimal:
    """Initial margin in the symbol's margin currency, by its calculation mode."""
    lots_cs = volume * symbol.contract_size
    mode = symbol.calc_mode
    if mode == c.SYMBOL_CALC_MODE_FOREX:
        return lots_cs / leverage * symbol.margin_rate
    if mode == c.SYMBOL_CALC_MODE_FOREX_NO_LEVERAGE:
        return lots_cs * symbol.margin_rate
    if mode == c.SYMBOL_CALC_MODE_CFD:
        return lots_cs * price * symbol.margin_rate
    if mode == c.SYMBOL_CALC_MODE_CFDINDEX:
        tick_price = symbol.tick_size * symbol.contract_size  # tick value in profit currency
        return lots_cs * price * tick_price / symbol.tick_size * symbol.margin_rate
    if mode == c.SYMBOL_CALC_MODE_CFDLEVERAGE:
        return lots_cs * price / leverage * symbol.margin_rate
    if mode == c.SYMBOL_CALC_MODE_FUTURES:
        return volume * symbol.margin_initial * symbol.margin_rate
    raise ValueError(f"unsupported calc mode {mode}")


def margin(
    symbol: CatalogSymbol,
    volume: Decimal,
    price: Decimal,
    *,
    leverage: int,
    account_currency: str,
    rates: Mapping[str, Decimal],
) -> Decimal:
    """Initial margin for ``volume`` lots at ``price``, in the account currency (rounded)."""
    amount = margin_in_margin_currency(symbol, volume, price, leverage)
    converted = _convert(
        amount, symbol.margin_currency, account_currency, _with_own_price(symbol, price, rates)
    )
    return money(converted)


def raw_profit(
    symbol: CatalogSymbol, is_buy: bool, volume: Decimal, price_open: Decimal, price_close: Decimal
) -> Decimal:
    """Profit in the symbol's profit currency, unrounded."""
    move = (price_close - price_open) if is_buy else (price_open - price_close)
    if symbol.calc_mode == c.SYMBOL_CALC_MODE_FUTURES:
        tick_price = symbol.tick_size * symbol.contract_size
        return move * tick_price / symbol.tick_size * volume
    return move * symbol.contract_size * volume


def profit(
    symbol: CatalogSymbol,
    is_buy: bool,
    volume: Decimal,
    price_open: Decimal,
    price_close: Decimal,
    *,
    account_currency: str,
    rates: Mapping[str, Decimal],
) -> Decimal:
    """Profit of a trade in the account currency, converted at ``price_close`` (rounded)."""
    amount = raw_profit(symbol, is_buy, volume, price_open, price_close)
    converted = _convert(
        amount,
        symbol.profit_currency,
        account_currency,
        _with_own_price(symbol, price_close, rates),
    )
    return money(converted)
