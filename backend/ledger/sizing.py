"""Size one target account for a dispatch: plain values in (the order, the sizing, the account's
own settings and what its terminal says), volumes per leg out. No I/O.

Modes (``SizingMode``): ``fixed_volume`` (the given volume, or the account's own
``fixed_volume``), ``multiplier`` (the given volume times the account's ``volume_multiplier``),
``risk_percent`` (one percent for every target), ``risk_amount`` (one money amount), and
``account_risk`` (each account's own ``risk_percent``). Risk modes use the calculator's
``size_for_account``; every mode then honours the account's ``max_volume`` and the symbol's
step, minimum and maximum, and splits the lots across the take profits.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from errors import CalculationError
from ledger.types import AccountSizing, Sizing, SizingMode, TradeOrder
from services.calculation.position import size_for_account
from services.calculation.price_grid import check_price_grid
from services.calculation.terms import Policy, RiskSpec, TradePlan
from services.calculation.volume import floor_to_step, split_across_take_profits
from services.mt5.dto import AccountSnapshot, SymbolSpec, Tick

SPEC_MAX_AGE_S = 60.0  # volume rules do not move: a spec read in the last minute will do


@dataclass(frozen=True)
class MarketFacts:
    """What the target's terminal said: the symbol's spec, and for risk sizing the account
    (balance, currency) and, for a market order, the current quote."""

    spec: SymbolSpec
    snapshot: AccountSnapshot | None = None
    tick: Tick | None = None


def spec_max_age(sizing: Sizing) -> float | None:
    """Risk sizing needs the tick value as of now (it follows the conversion quotes)."""
    return None if sizing.mode.is_risk else SPEC_MAX_AGE_S


def needs_account(sizing: Sizing) -> bool:
    return sizing.mode.is_risk


def needs_tick(sizing: Sizing, order: TradeOrder) -> bool:
    return sizing.mode.is_risk and order.is_market


def leg_volumes(
    order: TradeOrder, sizing: Sizing, settings: AccountSizing, facts: MarketFacts
) -> dict[int, Decimal]:
    """Volume per leg (0 = leg not sent) for one account; raises CalculationError."""
    spec = facts.spec
    # This broker's tick may differ from the catalog's: an off-grid price fails the row here
    # (price_off_tick_grid) rather than at the broker.
    check_price_grid(spec, order.prices())
    if sizing.mode.is_risk:
        lots = _risk_lots(order, sizing, settings, facts)
    else:
        lots = _volume_lots(sizing, settings)
    lots = _apply_account_cap(lots, settings.max_volume, spec)
    if lots < spec.volume_min:
        raise CalculationError(
            f"The volume for this account ({lots}) is below the symbol's minimum "
            f"{spec.volume_min}.",
            code="below_min_volume",
            details={"volume": str(lots), "volume_min": str(spec.volume_min)},
        )
    if len(order.take_profits) <= 1:
        return {0: lots}
    return dict(enumerate(split_across_take_profits(lots, order.shares, spec)))


def _volume_lots(sizing: Sizing, settings: AccountSizing) -> Decimal:
    if sizing.mode is SizingMode.MULTIPLIER:
        if sizing.volume is None:
            raise CalculationError("multiplier sizing needs a volume", code="invalid_sizing")
        return sizing.volume * (settings.volume_multiplier or Decimal(1))
    volume = sizing.volume if sizing.volume is not None else settings.fixed_volume
    if volume is None:
        raise CalculationError(
            "No volume given and this account has no fixed_volume.", code="no_volume_for_account"
        )
    return volume


def _risk_lots(
    order: TradeOrder, sizing: Sizing, settings: AccountSizing, facts: MarketFacts
) -> Decimal:
    if order.stop_loss is None:
        raise CalculationError("Risk sizing needs a stop loss.", code="stop_loss_required")
    assert facts.snapshot is not None
    result = size_for_account(
        snapshot=facts.snapshot,
        spec=facts.spec,
        plan=_plan(order, order.stop_loss, facts.tick),
        risk=_risk_spec(sizing, settings),
        policy=Policy(below_min="reject"),
    )
    return result.lots


def _risk_spec(sizing: Sizing, settings: AccountSizing) -> RiskSpec:
    if sizing.mode is SizingMode.RISK_AMOUNT:
        return RiskSpec(amount=sizing.amount)
    if sizing.mode is SizingMode.RISK_PERCENT:
        return RiskSpec(percent=sizing.percent)
    own = settings.risk_percent or sizing.default_percent
    if own is None:
        raise CalculationError(
            "This account has no risk_percent setting for account_risk sizing.",
            code="no_risk_percent_for_account",
        )
    return RiskSpec(percent=own)


def _plan(order: TradeOrder, stop: Decimal, tick: Tick | None) -> TradePlan:
    if order.is_market:
        assert tick is not None
        return TradePlan(
            side=order.side, order_type="market", bid=tick.bid, ask=tick.ask, stop_loss=stop
        )
    return TradePlan(side=order.side, order_type="pending", entry=order.price, stop_loss=stop)


def _apply_account_cap(lots: Decimal, max_volume: Decimal | None, spec: SymbolSpec) -> Decimal:
    if max_volume is not None:
        lots = min(lots, max_volume)
    lots = min(lots, spec.volume_max)
    return floor_to_step(lots, spec.volume_step)
