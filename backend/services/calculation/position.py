"""Position sizing by risk for any MT5 symbol: the steps, run in order, pure Decimal, no I/O.

The rules are ``shared/reference/position-sizing.md`` (EarnForex Position Sizer and MT5's
``order_calc_profit`` / ``order_calc_margin`` arithmetic, minus their float rounding, silent raise
to the minimum lot and silent conversion rate of 1). ``calculate_position`` runs the steps; each
step is a small function of its own in this package.
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import ROUND_FLOOR, Context, Decimal, localcontext
from types import MappingProxyType
from typing import NamedTuple

from errors import CalculationError
from services.calculation.conversion import tick_value_in_account, tick_value_with_source
from services.calculation.deviations import risk_warning, share_warning
from services.calculation.legs import build_legs, note_dropped_legs
from services.calculation.margin import (
    account_max_lots,
    cap_by_free_margin,
    margin_per_lot_or_none,
)
from services.calculation.result import (
    OrderLeg,
    SizingResult,
    money_figure,
    money_half_up,
    per_lot_figure,
    quantum,
    ratio_half_up,
)
from services.calculation.terms import (
    AccountTerms,
    Costs,
    Policy,
    RiskBase,
    RiskSpec,
    TradePlan,
    check_account_terms,
    check_symbol_spec,
    risk_base_value,
)
from services.calculation.trade_geometry import (
    check_stops_level,
    check_take_profits,
    resolve_side_and_entry,
)
from services.calculation.volume import (
    FLAG_RAISED_TO_VOLUME_MIN,
    apply_below_min_policy,
    clamp_to_volume_max,
    lots_within_budget,
    percent_of,
    written_on_step,
)
from services.mt5.dto import AccountSnapshot, SymbolSpec

NO_RATES: Mapping[str, Decimal] = MappingProxyType({})
# Enough precision that no realistic balance, price or rate loses a digit; set locally so a
# caller's global Decimal context cannot change a lot size.
_SIZING_CONTEXT = Context(prec=34)


def risk_money(base: Decimal, risk: RiskSpec, digits: int, *, currency: str) -> Decimal:
    """Money at risk: ``base * percent / 100`` or the fixed amount, floored to ``digits`` of
    ``currency``.

    Flooring means the budget is never a fraction of a cent above what was asked. Raises
    ``invalid_risk`` unless exactly one of percent (0 < p <= 100) or amount (> 0) is given and
    the result is at least one unit of the last digit.
    """
    if (risk.percent is None) == (risk.amount is None):
        raise _invalid_risk("Give a risk percent or a risk amount, not both or neither.")
    if risk.percent is not None and not 0 < risk.percent <= 100:
        raise _invalid_risk(f"A risk percent must be above 0 and at most 100, not {risk.percent}.")
    exact = risk.amount if risk.percent is None else base * risk.percent / 100
    assert exact is not None  # one of the two is set, checked above
    money = exact.quantize(quantum(digits), rounding=ROUND_FLOOR)
    if money <= 0:
        raise _invalid_risk(
            f"The risk comes to {money_figure(money, currency)}; there is nothing to size."
        )
    return money


def _invalid_risk(message: str) -> CalculationError:
    return CalculationError(message, code="invalid_risk", details={})


def loss_per_lot(ticks: Decimal, tick_value: Decimal, commission: Decimal) -> Decimal:
    """What one lot loses at the stop: ``ticks * tick_value + 2 * commission`` (open and close)."""
    return ticks * tick_value + 2 * commission


def account_terms_from_snapshot(snapshot: AccountSnapshot) -> AccountTerms:
    """The sizing view of a live account (what ``account_info`` returned)."""
    return AccountTerms(
        currency=snapshot.currency,
        balance=snapshot.balance,
        equity=snapshot.equity,
        free_margin=snapshot.margin_free,
        leverage=Decimal(snapshot.leverage),
        currency_digits=snapshot.currency_digits,
    )


def size_for_account(
    *,
    snapshot: AccountSnapshot,
    spec: SymbolSpec,
    plan: TradePlan,
    risk: RiskSpec,
    risk_base: RiskBase = "balance",
    costs: Costs = Costs(),
    policy: Policy = Policy(),
    rates: Mapping[str, Decimal] = NO_RATES,
) -> SizingResult:
    """``calculate_position`` for one broadcast target, from that account's own snapshot."""
    return calculate_position(
        account=account_terms_from_snapshot(snapshot),
        spec=spec,
        plan=plan,
        risk=risk,
        risk_base=risk_base,
        costs=costs,
        policy=policy,
        rates=rates,
    )


def calculate_position(
    *,
    account: AccountTerms,
    spec: SymbolSpec,
    plan: TradePlan,
    risk: RiskSpec,
    risk_base: RiskBase = "balance",
    costs: Costs = Costs(),
    policy: Policy = Policy(),
    rates: Mapping[str, Decimal] = NO_RATES,
) -> SizingResult:
    """Size a position so that hitting the stop loses at most the risk money.

    Steps (position-sizing.md): check the spec and terms; side and entry; stop distance and the
    stops level; take-profit sides and shares; risk money; tick value in account currency; loss
    per lot; lots floored to the step, clamped to volume_max, below-minimum policy; margin and
    the optional free-margin cap; take-profit legs with reward and reward:risk. Every refusal is
    a ``CalculationError`` with a stable ``code``. Rounding is described on ``SizingResult``.
    """
    check_symbol_spec(spec)
    check_account_terms(account, costs)
    with localcontext(_SIZING_CONTEXT):
        return _calculate(account, spec, plan, risk, risk_base, costs, policy, rates)


def _calculate(
    account: AccountTerms,
    spec: SymbolSpec,
    plan: TradePlan,
    risk: RiskSpec,
    risk_base: RiskBase,
    costs: Costs,
    policy: Policy,
    rates: Mapping[str, Decimal],
) -> SizingResult:
    side, entry, warnings = resolve_side_and_entry(plan)
    warnings = list(warnings)
    distance = abs(entry - plan.stop_loss)
    check_stops_level(distance / spec.point, spec)
    take_profits = check_take_profits(plan.take_profits, side, entry)
    base = risk_base_value(account, risk_base)
    budget = risk_money(base, risk, account.currency_digits, currency=account.currency)
    ticks = distance / spec.tick_size
    if ticks != ticks.to_integral_value():
        warnings.append(f"The stop distance {distance} is not a whole number of ticks.")
    tick_value = _loss_tick_value(spec, account, rates, plan.stop_loss, entry, warnings)
    per_lot = loss_per_lot(ticks, tick_value, costs.commission_per_lot_per_side)
    lots, flags = _lots_for_budget(budget, per_lot, spec, policy, base, account)
    margin_per_lot = margin_per_lot_or_none(spec, entry, account, rates, policy, warnings)
    max_by_margin = account_max_lots(account, margin_per_lot, spec)
    lots, capped = cap_by_free_margin(lots, max_by_margin, spec, policy, account)
    legs, total_reward = build_legs(lots, take_profits, spec, account, rates, costs, entry, per_lot)
    flags, warnings = note_dropped_legs(legs, flags + capped, warnings)
    digits = account.currency_digits
    actual_risk = lots * per_lot
    margin = None if margin_per_lot is None else money_half_up(margin_per_lot * lots, digits)
    asked = _Asked(budget, base, [share for _, share in take_profits])
    warnings += _changes(asked, lots, per_lot, legs, flags, account, spec)
    return SizingResult(
        lots=lots,
        risk_money=budget,
        actual_risk_money=money_half_up(actual_risk, digits),
        actual_risk_percent=percent_of(actual_risk, base) if base > 0 else None,
        effective_entry=entry,
        side=side,
        sl_distance_price=distance,
        sl_distance_points=distance / spec.point,
        sl_distance_ticks=ticks,
        tick_value=tick_value,
        loss_per_lot=per_lot,
        margin_required=margin,
        max_lots_by_margin=max_by_margin,
        orders=legs,
        total_reward_money=None if total_reward is None else money_half_up(total_reward, digits),
        reward_to_risk=None if total_reward is None else ratio_half_up(total_reward / actual_risk),
        flags=flags,
        warnings=warnings,
    )


class _Asked(NamedTuple):
    budget: Decimal
    base: Decimal
    shares: list[Decimal]


def _changes(
    asked: _Asked,
    lots: Decimal,
    per_lot: Decimal,
    legs: list[OrderLeg],
    flags: list[str],
    account: AccountTerms,
    spec: SymbolSpec,
) -> list[str]:
    """Warnings for a risk, a volume or shares that moved beyond rounding to the step."""
    actual_risk = money_half_up(lots * per_lot, account.currency_digits)
    if FLAG_RAISED_TO_VOLUME_MIN in flags:
        return [
            f"Raised to the minimum lot {lots}: it risks "
            f"{money_figure(actual_risk, account.currency)}, more than the "
            f"{money_figure(asked.budget, account.currency)} asked."
        ]
    risk = risk_warning(
        budget=asked.budget, actual_risk=actual_risk, lots=lots, loss_per_lot=per_lot,
        step=spec.volume_step, base=asked.base, currency=account.currency,
    )  # fmt: skip
    return risk + share_warning(lots, asked.shares, [leg.lots for leg in legs], spec.volume_step)


def _loss_tick_value(
    spec: SymbolSpec,
    account: AccountTerms,
    rates: Mapping[str, Decimal],
    stop: Decimal,
    entry: Decimal,
    warnings: list[str],
) -> Decimal:
    """Tick value for the loss; a symbol that is its own conversion pair converts at the stop."""
    value, source = tick_value_with_source(spec, account.currency, rates, close_price=stop)
    if source == "symbol_price":
        at_entry = tick_value_in_account(spec, account.currency, rates, close_price=entry)
        digits = account.currency_digits
        warnings.append(
            f"{spec.name} converts its loss into {account.currency} at the stop-loss price "
            f"{stop}: {per_lot_figure(value, digits)} {account.currency} per tick per lot (at "
            f"the entry price {entry} it would be {per_lot_figure(at_entry, digits)} "
            f"{account.currency})."
        )
    return value


def _lots_for_budget(
    budget: Decimal,
    per_lot: Decimal,
    spec: SymbolSpec,
    policy: Policy,
    base: Decimal,
    account: AccountTerms,
) -> tuple[Decimal, list[str]]:
    lots = lots_within_budget(budget, per_lot, spec.volume_step)
    lots, flags = clamp_to_volume_max(lots, spec)
    lots, raised = apply_below_min_policy(
        lots, spec, policy, loss_per_lot=per_lot, risk_base=base,
        money_digits=account.currency_digits, currency=account.currency,
    )  # fmt: skip
    return written_on_step(lots, spec.volume_step), flags + raised
