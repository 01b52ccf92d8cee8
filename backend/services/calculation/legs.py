"""Take-profit legs of a sized position: lots per leg, reward and reward:risk."""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal

from services.calculation.conversion import tick_value_in_account
from services.calculation.result import OrderLeg, money_half_up, ratio_half_up
from services.calculation.terms import AccountTerms, Costs
from services.calculation.volume import (
    FLAG_LEG_DROPPED_BELOW_MIN,
    split_across_take_profits,
    written_on_step,
)
from services.mt5.dto import SymbolSpec


def reward_per_lot(
    spec: SymbolSpec,
    account: AccountTerms,
    rates: Mapping[str, Decimal],
    costs: Costs,
    entry: Decimal,
    target: Decimal,
) -> Decimal:
    """What one lot earns at ``target``, net of the round-turn commission.

    Converted at ``target`` when the symbol is its own conversion pair, like the loss at the stop.
    """
    value = tick_value_in_account(
        spec, account.currency, rates, close_price=target, for_profit=True
    )
    return abs(target - entry) / spec.tick_size * value - 2 * costs.commission_per_lot_per_side


def build_legs(
    lots: Decimal,
    take_profits: list[tuple[Decimal, Decimal]],
    spec: SymbolSpec,
    account: AccountTerms,
    rates: Mapping[str, Decimal],
    costs: Costs,
    entry: Decimal,
    loss_per_lot: Decimal,
) -> tuple[list[OrderLeg], Decimal | None]:
    """One order per take profit (a single target-less order when there is none), and the
    unrounded reward of the legs that are sent (None without take profits)."""
    digits = account.currency_digits
    if not take_profits:
        risk = money_half_up(lots * loss_per_lot, digits)
        return [OrderLeg(None, Decimal(100), lots, risk, None, None, True)], None
    shares = [share for _, share in take_profits]
    split = split_across_take_profits(lots, shares, spec)
    legs, total_reward = [], Decimal(0)
    for (target, share), leg_lots in zip(take_profits, split, strict=True):
        reward = reward_per_lot(spec, account, rates, costs, entry, target)
        leg_lots = written_on_step(leg_lots, spec.volume_step)
        legs.append(
            OrderLeg(
                take_profit=target,
                share_percent=share,
                lots=leg_lots,
                risk_money=money_half_up(leg_lots * loss_per_lot, digits),
                reward_money=money_half_up(leg_lots * reward, digits),
                reward_to_risk=ratio_half_up(reward / loss_per_lot),
                sent=leg_lots > 0,
            )
        )
        total_reward += leg_lots * reward
    return legs, total_reward


def note_dropped_legs(
    legs: list[OrderLeg], flags: list[str], warnings: list[str]
) -> tuple[list[str], list[str]]:
    """Flag ``leg_dropped_below_min`` and name the take profits that are not sent."""
    dropped = [i + 1 for i, leg in enumerate(legs) if not leg.sent]
    if not dropped:
        return flags, warnings
    note = f"Take profit(s) {', '.join(map(str, dropped))} fall below the minimum lot; not sent."
    return [*flags, FLAG_LEG_DROPPED_BELOW_MIN], [*warnings, note]
