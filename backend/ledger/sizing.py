"""Size one target account for a dispatch: plain values in (the order, the sizing, the account's
own settings and what its terminal says), volumes per leg out. No I/O.

Modes (``SizingMode``): ``fixed_volume`` (the given volume, or the account's own
``fixed_volume``), ``multiplier`` (the given volume times the account's ``volume_multiplier``),
``risk_percent`` (one percent for every target), ``risk_amount`` (one money amount), and
``account_risk`` (each account's own ``risk_percent``), and ``follower`` (each follower's own
subscription sizing, ledger/follower.py; without one, the account's own settings). Risk modes
use the calculator's ``size_for_account``; every mode then honours the account's (or the
follower's) ``max_volume`` and the symbol's step, minimum and maximum, and splits the lots
across the take profits.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal

from errors import CalculationError
from ledger.follower import FollowerMode, FollowerSizing
from ledger.types import AccountSizing, Sizing, SizingMode, TradeOrder
from services.calculation.deviations import share_warning, volume_warning
from services.calculation.position import size_for_account
from services.calculation.price_grid import check_price_grid
from services.calculation.result import SizingResult
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


def _risks(sizing: Sizing, order: TradeOrder) -> bool:
    """Whether sizing this target reads a tick value: risk modes, and a follower's (whose own
    rule may be risk, or whose minimum lot is bounded by risk) when there is a stop loss."""
    if sizing.mode is SizingMode.FOLLOWER:
        return order.stop_loss is not None
    return sizing.mode.is_risk


def spec_max_age(sizing: Sizing, order: TradeOrder | None = None) -> float | None:
    """Risk sizing needs the tick value as of now (it follows the conversion quotes)."""
    risks = sizing.mode.is_risk if order is None else _risks(sizing, order)
    return None if risks else SPEC_MAX_AGE_S


def needs_account(sizing: Sizing) -> bool:
    return sizing.mode.is_risk or sizing.mode is SizingMode.FOLLOWER


def needs_tick(sizing: Sizing, order: TradeOrder) -> bool:
    return _risks(sizing, order) and order.is_market


@dataclass(frozen=True)
class SizedLegs:
    """Volume per leg (0 = leg not sent) and what the sizing changed of what was asked."""

    volumes: dict[int, Decimal]
    warnings: list[str]


def leg_volumes(
    order: TradeOrder,
    sizing: Sizing,
    settings: AccountSizing,
    facts: MarketFacts,
    follower: FollowerSizing | None = None,
) -> SizedLegs:
    """The account's volume per leg, with its warnings; raises CalculationError.

    ``follower``: the account's subscription sizing, read in ``follower`` mode only.
    """
    spec = facts.spec
    # This broker's tick may differ from the catalog's: an off-grid price fails the row here
    # (price_off_tick_grid) rather than at the broker.
    check_price_grid(spec, order.prices())
    if sizing.mode is SizingMode.FOLLOWER:
        settings = _follower_caps(settings, follower)
        asked, warnings = _follower_lots(order, follower, settings, facts)
    elif sizing.mode.is_risk:
        result = _risk_sizing(order, sizing, settings, facts)
        asked, warnings = result.lots, list(result.warnings)
    else:
        asked, warnings = _volume_lots(sizing, settings), []
    lots = _apply_account_cap(asked, settings.max_volume, spec)
    if lots < spec.volume_min:
        if sizing.mode is not SizingMode.FOLLOWER:
            raise _below_min(lots, spec)
        lots, raised = _follower_below_min(order, follower, lots, facts)
        warnings += raised
    warnings += volume_warning(asked, lots, spec.volume_step, _limits(asked, settings, spec))
    if len(order.take_profits) <= 1:
        return SizedLegs({0: lots}, warnings)
    split = split_across_take_profits(lots, order.shares, spec)
    warnings += share_warning(lots, order.shares, split, spec.volume_step)
    return SizedLegs(dict(enumerate(split)), warnings)


def _limits(asked: Decimal, settings: AccountSizing, spec: SymbolSpec) -> str:
    """What held the asked volume back, for the warning that says it changed."""
    if settings.max_volume is not None and asked > min(settings.max_volume, spec.volume_max):
        return f"this account's max_volume {settings.max_volume}"
    if asked > spec.volume_max:
        return f"{spec.name}'s volume_max {spec.volume_max}"
    return f"volume step {spec.volume_step}"


def _below_min(lots: Decimal, spec: SymbolSpec) -> CalculationError:
    return CalculationError(
        f"The volume for this account ({lots}) is below the symbol's minimum {spec.volume_min}.",
        code="below_min_volume",
        details={"volume": str(lots), "volume_min": str(spec.volume_min)},
    )


def _follower_caps(settings: AccountSizing, follower: FollowerSizing | None) -> AccountSizing:
    """The follower's own max_volume, when set, replaces the account's."""
    if follower is None or follower.max_volume is None:
        return settings
    return AccountSizing(
        settings.risk_percent,
        settings.fixed_volume,
        settings.volume_multiplier,
        follower.max_volume,
    )


def _follower_lots(
    order: TradeOrder, follower: FollowerSizing | None, settings: AccountSizing, facts: MarketFacts
) -> tuple[Decimal, list[str]]:
    """The follower's own rule; without a subscription sizing, the account's own settings."""
    if follower is None:
        return _legacy_lots(order, settings, facts)
    if follower.mode is FollowerMode.RISK_PERCENT:
        try:
            result = _risk_result(order, RiskSpec(percent=follower.percent), facts)
        except CalculationError as exc:
            if exc.code != "below_min_volume" or follower.below_min != "min_lot":
                raise
            return Decimal(0), []  # the minimum-lot rule decides (_follower_below_min)
        return result.lots, list(result.warnings)
    if follower.mode is FollowerMode.FIXED_VOLUME:
        assert follower.volume is not None
        return follower.volume, []
    signal = _signal_volume(order)
    if follower.mode is FollowerMode.MULTIPLIER:
        assert follower.factor is not None
        return signal * follower.factor, []
    assert facts.snapshot is not None and follower.base_balance
    return signal * facts.snapshot.balance / follower.base_balance, []


def _legacy_lots(
    order: TradeOrder, settings: AccountSizing, facts: MarketFacts
) -> tuple[Decimal, list[str]]:
    """An account without subscription sizing follows its own settings, in this order:
    risk_percent, fixed_volume, volume_multiplier x the signal's volume; else the signal's own
    volume or risk."""
    risk = RiskSpec(percent=settings.risk_percent) if settings.risk_percent else None
    if risk is None and settings.fixed_volume is not None:
        return settings.fixed_volume, []
    if risk is None and order.volume is not None:
        return order.volume * (settings.volume_multiplier or Decimal(1)), []
    if risk is None and order.risk is not None:
        risk = RiskSpec(percent=order.risk.percent, amount=order.risk.amount)
    if risk is None:
        raise CalculationError(
            "The signal has no volume or risk and this account has no sizing of its own.",
            code="no_volume_for_account",
        )
    result = _risk_result(order, risk, facts)
    return result.lots, list(result.warnings)


def _signal_volume(order: TradeOrder) -> Decimal:
    if order.volume is None:
        raise CalculationError(
            "This follower sizes by the signal's volume, and the signal gives none.",
            code="no_signal_volume",
        )
    return order.volume


def _follower_below_min(
    order: TradeOrder, follower: FollowerSizing | None, lots: Decimal, facts: MarketFacts
) -> tuple[Decimal, list[str]]:
    """Below the minimum lot: skipped (``below_min_volume``), or with ``min_lot`` the minimum
    when it risks at most ``max_risk_percent`` of the balance (any risk when unset)."""
    spec = facts.spec
    if follower is None or follower.below_min != "min_lot":
        raise _below_min(lots, spec)
    note = [f"Raised to the minimum lot {spec.volume_min} (below_min: min_lot)."]
    if follower.max_risk_percent is None:
        return spec.volume_min, note
    if order.stop_loss is None:
        raise CalculationError(
            f"The volume for this account ({lots}) is below the minimum {spec.volume_min}, and "
            "without a stop loss the minimum's risk cannot be held to max_risk_percent.",
            code="below_min_volume",
            details={"volume": str(lots), "volume_min": str(spec.volume_min)},
        )
    # Sized for max_risk_percent: refused (below_min_volume, with what the minimum would
    # risk) exactly when the minimum lot risks more than that.
    _risk_result(order, RiskSpec(percent=follower.max_risk_percent), facts)
    return spec.volume_min, note


def risk_of(order: TradeOrder, facts: MarketFacts, lots: Decimal) -> Decimal | None:
    """What ``lots`` lose at the order's stop, in the account's currency (None without a stop
    loss or an account reading): for previews."""
    if order.stop_loss is None or facts.snapshot is None or lots <= 0:
        return None
    if order.is_market and facts.tick is None:
        return None
    result = size_for_account(
        snapshot=facts.snapshot,
        spec=facts.spec,
        plan=_plan(order, order.stop_loss, facts.tick),
        risk=RiskSpec(percent=Decimal(100)),
        policy=Policy(below_min="raise"),
    )
    digits = Decimal(1).scaleb(-facts.snapshot.currency_digits)
    return (lots * result.loss_per_lot).quantize(digits, rounding=ROUND_HALF_UP)


def _risk_result(order: TradeOrder, risk: RiskSpec, facts: MarketFacts) -> SizingResult:
    if order.stop_loss is None:
        raise CalculationError("Risk sizing needs a stop loss.", code="stop_loss_required")
    assert facts.snapshot is not None
    return size_for_account(
        snapshot=facts.snapshot,
        spec=facts.spec,
        plan=_plan(order, order.stop_loss, facts.tick),
        risk=risk,
        policy=Policy(below_min="reject"),
    )


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


def _risk_sizing(
    order: TradeOrder, sizing: Sizing, settings: AccountSizing, facts: MarketFacts
) -> SizingResult:
    return _risk_result(order, _risk_spec(sizing, settings), facts)


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
