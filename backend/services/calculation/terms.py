"""What a sizing request is made of (account, trade plan, risk, costs, policy) and its checks."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Literal

from errors import CalculationError
from services.mt5.dto import CALC_MODE_NAMES, SymbolSpec

Side = Literal["buy", "sell"]
OrderType = Literal["market", "pending"]
RiskBase = Literal["balance", "equity", "free_margin"]
BelowMinPolicy = Literal["reject", "raise"]


@dataclass(frozen=True)
class AccountTerms:
    """The account the trade is sized for; every amount is in ``currency`` (USC = US cents)."""

    currency: str
    balance: Decimal
    equity: Decimal | None = None
    free_margin: Decimal | None = None
    leverage: Decimal = Decimal(100)
    currency_digits: int = 2


@dataclass(frozen=True, kw_only=True)
class TradePlan:
    """Where the trader wants in and out; ``take_profits`` holds ``(price, share_percent)`` pairs.

    A market order is sized at the executable price (Ask for a buy, Bid for a sell); a pending
    order at ``entry``.
    """

    stop_loss: Decimal
    side: Side | None = None
    order_type: OrderType = "pending"
    entry: Decimal | None = None
    bid: Decimal | None = None
    ask: Decimal | None = None
    take_profits: Sequence[tuple[Decimal, Decimal]] = ()


@dataclass(frozen=True)
class RiskSpec:
    """Either a percent of the risk base or a fixed amount of account currency, not both."""

    percent: Decimal | None = None
    amount: Decimal | None = None


@dataclass(frozen=True)
class Costs:
    """Commission in account currency, charged on opening and again on closing."""

    commission_per_lot_per_side: Decimal = Decimal(0)


@dataclass(frozen=True)
class Policy:
    """``below_min="raise"`` trades the minimum lot (flagged) instead of refusing."""

    below_min: BelowMinPolicy = "reject"
    cap_by_margin: bool = False


def check_symbol_spec(spec: SymbolSpec) -> None:
    """Refuse a spec whose numbers cannot describe a tradable contract (``invalid_symbol_spec``)."""
    problems = [text for broken, text in _spec_rules(spec) if broken]
    if problems:
        raise CalculationError(
            f"The symbol spec for {spec.name} is inconsistent: {'; '.join(problems)}.",
            code="invalid_symbol_spec",
            details={"symbol": spec.name, "problems": problems},
        )


def _spec_rules(spec: SymbolSpec) -> list[tuple[bool, str]]:
    return [
        (spec.calc_mode not in CALC_MODE_NAMES, f"unknown calc_mode {spec.calc_mode}"),
        (spec.tick_size <= 0, "tick_size must be positive"),
        (spec.point <= 0, "point must be positive"),
        (spec.contract_size <= 0, "contract_size must be positive"),
        (spec.volume_step <= 0, "volume_step must be positive"),
        (spec.volume_min <= 0, "volume_min must be positive"),
        (spec.volume_min > spec.volume_max, "volume_min is above volume_max"),
        (spec.tick_value < 0, "tick_value must not be negative"),
        (_negative(spec.tick_value_loss), "tick_value_loss must not be negative"),
        (_negative(spec.tick_value_profit), "tick_value_profit must not be negative"),
        (spec.margin_rate < 0, "margin_rate must not be negative"),
        (spec.margin_initial < 0, "margin_initial must not be negative"),
        (spec.trade_stops_level < 0, "trade_stops_level must not be negative"),
    ]


def _negative(value: Decimal | None) -> bool:
    return value is not None and value < 0


def check_account_terms(account: AccountTerms, costs: Costs) -> None:
    """Refuse account terms or costs no sizing can use (``invalid_account_terms``)."""
    problems = []
    if not account.currency:
        problems.append("currency is missing")
    if account.leverage <= 0:
        problems.append("leverage must be positive")
    if account.currency_digits < 0:
        problems.append("currency_digits must not be negative")
    if costs.commission_per_lot_per_side < 0:
        problems.append("commission_per_lot_per_side must not be negative")
    if problems:
        raise CalculationError(
            f"The account terms are not usable: {'; '.join(problems)}.",
            code="invalid_account_terms",
            details={"problems": problems},
        )


def risk_base_value(account: AccountTerms, risk_base: RiskBase) -> Decimal:
    """The balance, equity or free margin the risk percent applies to; never a silent fallback."""
    value = {
        "balance": account.balance,
        "equity": account.equity,
        "free_margin": account.free_margin,
    }.get(risk_base)
    if value is None:
        raise CalculationError(
            f"The account has no {risk_base} to size from.",
            code="missing_account_value",
            details={"field": risk_base},
        )
    return value
