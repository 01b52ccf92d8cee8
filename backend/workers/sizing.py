"""Size one target account for a dispatch: its own balance, symbol spec and copy settings.

Modes (the dispatch's ``sizing``): ``fixed_volume`` (the given volume, or the account's own
``fixed_volume``), ``multiplier`` (the given volume times the account's ``volume_multiplier``),
``risk_percent`` (one percent for every target), ``risk_amount`` (one money amount), and
``account_risk`` (each account's own ``risk_percent``). Risk modes use the calculator's
``size_for_account`` on live data; every mode then honours the account's ``max_volume`` and the
symbol's step, minimum and maximum, and splits the lots across the take profits.
"""

from __future__ import annotations

from decimal import Decimal
from typing import TYPE_CHECKING, Any

from errors import CalculationError
from services.calculation_service import (
    Policy,
    RiskSpec,
    TradePlan,
    check_price_grid,
    floor_to_step,
    named_prices,
    size_for_account,
    split_across_take_profits,
)
from services.mt5.dto import SymbolSpec

if TYPE_CHECKING:
    from workers.execution import Gateway, RowJob

RISK_MODES = {"risk_percent", "risk_amount", "account_risk"}
SPEC_MAX_AGE_S = 60.0


def leg_volumes(job: RowJob, gateway: Gateway, symbol: str) -> dict[int, Decimal]:
    """Volume per leg (0 = leg not sent) for this job's account; raises CalculationError."""
    assert job.account is not None
    mode = job.sizing.get("mode", "fixed_volume")
    # Volume rules do not move: a spec read in the last minute will do. Risk sizing needs the
    # tick value as of now (it follows the conversion quotes), so it reads a fresh one.
    max_age = None if mode in RISK_MODES else SPEC_MAX_AGE_S
    spec: SymbolSpec = gateway.symbol_spec(job.account, symbol, max_age_s=max_age)
    # This broker's tick may differ from the catalog's: an off-grid price fails the row here
    # (price_off_tick_grid) rather than at the broker.
    check_price_grid(spec, named_prices(job.order, ("price", "stop_loss")))
    shares = _shares(job.order)
    if mode in RISK_MODES:
        lots = _risk_lots(job, gateway, symbol, spec, mode)
    else:
        lots = _volume_lots(job, mode)
    lots = _apply_account_cap(lots, job.account_settings.get("max_volume"), spec)
    if lots < spec.volume_min:
        raise CalculationError(
            f"The volume for this account ({lots}) is below the symbol's minimum "
            f"{spec.volume_min}.",
            code="below_min_volume",
            details={"volume": str(lots), "volume_min": str(spec.volume_min)},
        )
    if len(shares) <= 1:
        return {0: lots}
    return dict(enumerate(split_across_take_profits(lots, shares, spec)))


def _shares(order: dict[str, Any]) -> list[Decimal]:
    return [Decimal(str(tp["share_percent"])) for tp in order.get("take_profits") or []]


def _volume_lots(job: RowJob, mode: str) -> Decimal:
    given = job.sizing.get("volume")
    settings = job.account_settings
    if mode == "multiplier":
        if given is None:
            raise CalculationError("multiplier sizing needs a volume", code="invalid_sizing")
        multiplier = settings.get("volume_multiplier") or Decimal(1)
        return Decimal(given) * Decimal(multiplier)
    volume = given if given is not None else settings.get("fixed_volume")
    if volume is None:
        raise CalculationError(
            "No volume given and this account has no fixed_volume.", code="no_volume_for_account"
        )
    return Decimal(volume)


def _risk_lots(job: RowJob, gateway: Gateway, symbol: str, spec: SymbolSpec, mode: str) -> Decimal:
    assert job.account is not None
    order = job.order
    if order.get("stop_loss") is None:
        raise CalculationError("Risk sizing needs a stop loss.", code="stop_loss_required")
    risk = _risk_spec(job, mode)
    snapshot = gateway.account_snapshot(job.account)
    plan = _plan(job, gateway, symbol)
    result = size_for_account(
        snapshot=snapshot, spec=spec, plan=plan, risk=risk, policy=Policy(below_min="reject")
    )
    return result.lots


def _risk_spec(job: RowJob, mode: str) -> RiskSpec:
    if mode == "risk_amount":
        return RiskSpec(amount=Decimal(job.sizing["amount"]))
    if mode == "risk_percent":
        return RiskSpec(percent=Decimal(job.sizing["percent"]))
    own = job.account_settings.get("risk_percent") or job.sizing.get("default_percent")
    if own is None:
        raise CalculationError(
            "This account has no risk_percent setting for account_risk sizing.",
            code="no_risk_percent_for_account",
        )
    return RiskSpec(percent=Decimal(own))


def _plan(job: RowJob, gateway: Gateway, symbol: str) -> TradePlan:
    assert job.account is not None
    order = job.order
    side = order["side"]
    stop = Decimal(order["stop_loss"])
    if order.get("order_type", "market") == "market":
        tick = gateway.tick(job.account, symbol)
        return TradePlan(side=side, order_type="market", bid=tick.bid, ask=tick.ask, stop_loss=stop)
    return TradePlan(side=side, order_type="pending", entry=Decimal(order["price"]), stop_loss=stop)


def _apply_account_cap(lots: Decimal, max_volume: Any, spec: SymbolSpec) -> Decimal:
    if max_volume is not None:
        lots = min(lots, Decimal(max_volume))
    lots = min(lots, spec.volume_max)
    return floor_to_step(lots, spec.volume_step)
