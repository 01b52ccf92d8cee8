"""Margin per MT5 calculation mode, converted to the account currency, and the lots it allows."""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal

from errors import CalculationError
from services.calculation.conversion import symbol_conversion
from services.calculation.terms import AccountTerms, Policy
from services.calculation.volume import (
    FLAG_CAPPED_BY_FREE_MARGIN,
    lots_within_budget,
    written_on_step,
)
from services.mt5.constants import (
    SYMBOL_CALC_MODE_CFD,
    SYMBOL_CALC_MODE_CFDINDEX,
    SYMBOL_CALC_MODE_CFDLEVERAGE,
    SYMBOL_CALC_MODE_FOREX,
    SYMBOL_CALC_MODE_FOREX_NO_LEVERAGE,
    SYMBOL_CALC_MODE_FUTURES,
)
from services.mt5.dto import SymbolSpec


def margin_in_own_currency(
    spec: SymbolSpec, lots: Decimal, price: Decimal, leverage: Decimal
) -> tuple[Decimal, str]:
    """MT5's margin formula for the symbol's calc mode, and the currency the result is in.

    FOREX modes are in the margin (base) currency. The CFD modes multiply by the price, so their
    result is in the profit currency whatever ``margin_currency`` says (some brokers label gold's
    margin currency XAU). Futures use ``margin_initial`` in the margin currency.
    """
    size, rate = lots * spec.contract_size, spec.margin_rate
    margin_ccy = spec.margin_currency or spec.base_currency
    if spec.calc_mode == SYMBOL_CALC_MODE_FOREX:
        return size / leverage * rate, margin_ccy
    if spec.calc_mode == SYMBOL_CALC_MODE_FOREX_NO_LEVERAGE:
        return size * rate, margin_ccy
    if spec.calc_mode == SYMBOL_CALC_MODE_CFD:
        return size * price * rate, spec.profit_currency
    if spec.calc_mode == SYMBOL_CALC_MODE_CFDINDEX:
        # MT5's TickPrice here is one tick of one lot in the profit currency (tick_size x
        # contract_size), not the account-currency tick_value, which would convert twice.
        tick_price = spec.tick_size * spec.contract_size
        return size * price * tick_price / spec.tick_size * rate, spec.profit_currency
    if spec.calc_mode == SYMBOL_CALC_MODE_CFDLEVERAGE:
        return size * price / leverage * rate, spec.profit_currency
    if spec.calc_mode == SYMBOL_CALC_MODE_FUTURES:
        return lots * spec.margin_initial * rate, spec.margin_currency or spec.profit_currency
    raise ValueError(f"unknown calc mode {spec.calc_mode}")


def margin_required(
    spec: SymbolSpec,
    lots: Decimal,
    price: Decimal,
    account: AccountTerms,
    rates: Mapping[str, Decimal],
) -> Decimal:
    """Margin for ``lots`` at ``price``, in the account currency, unrounded.

    Converted at the symbol's own price when the symbol is the conversion pair (EURUSD margin in
    EUR on a USD account), else through ``rates`` (``missing_conversion_rate`` when absent).
    """
    amount, currency = margin_in_own_currency(spec, lots, price, account.leverage)
    factor, _ = symbol_conversion(currency, account.currency, rates, spec=spec, price=price)
    return amount * factor


def max_lots_by_margin(
    free_margin: Decimal, margin_per_lot: Decimal, step: Decimal
) -> Decimal | None:
    """Most lots on the step grid whose margin fits in ``free_margin``; None when margin is 0."""
    if margin_per_lot <= 0:
        return None
    return lots_within_budget(free_margin, margin_per_lot, step)


def margin_per_lot_or_none(
    spec: SymbolSpec,
    entry: Decimal,
    account: AccountTerms,
    rates: Mapping[str, Decimal],
    policy: Policy,
    warnings: list[str],
) -> Decimal | None:
    """Margin of one lot, or None (with a warning) when no quote converts it.

    Margin is only reported unless ``cap_by_margin`` depends on it, so a missing quote does not
    block the sizing then; with the cap it raises ``missing_conversion_rate`` like the loss does.
    """
    try:
        per_lot = margin_required(spec, Decimal(1), entry, account, rates)
    except CalculationError as exc:
        if policy.cap_by_margin:
            raise
        warnings.append(f"Margin not computed: {exc.message}")
        return None
    if per_lot == 0:
        warnings.append(f"The spec of {spec.name} gives no margin (margin rate or initial is 0).")
    return per_lot


def account_max_lots(
    account: AccountTerms, margin_per_lot: Decimal | None, spec: SymbolSpec
) -> Decimal | None:
    """``max_lots_by_margin`` for the account's free margin; None when either is unknown."""
    if account.free_margin is None or margin_per_lot is None:
        return None
    return max_lots_by_margin(account.free_margin, margin_per_lot, spec.volume_step)


def cap_by_free_margin(
    lots: Decimal,
    max_by_margin: Decimal | None,
    spec: SymbolSpec,
    policy: Policy,
    account: AccountTerms,
) -> tuple[Decimal, list[str]]:
    """With ``cap_by_margin``, no more lots than the free margin carries (flagged).

    Raises ``missing_account_value`` without a free margin and ``insufficient_margin`` when the
    free margin does not carry even volume_min.
    """
    if not policy.cap_by_margin:
        return lots, []
    if account.free_margin is None:
        raise CalculationError(
            "Capping by margin needs the account's free margin.",
            code="missing_account_value",
            details={"field": "free_margin"},
        )
    if max_by_margin is None or lots <= max_by_margin:
        return lots, []
    if max_by_margin < spec.volume_min:
        raise CalculationError(
            f"The free margin {account.free_margin} does not carry the minimum lot.",
            code="insufficient_margin",
            details={"free_margin": str(account.free_margin), "max_lots": str(max_by_margin)},
        )
    return written_on_step(max_by_margin, spec.volume_step), [FLAG_CAPPED_BY_FREE_MARGIN]
