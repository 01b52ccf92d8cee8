"""Lot arithmetic: exact flooring to the volume step, limits, the minimum-lot policy, TP legs."""

from __future__ import annotations

from collections.abc import Sequence
from decimal import ROUND_FLOOR, ROUND_HALF_UP, Decimal
from functools import lru_cache

from errors import CalculationError
from services.calculation.result import money_figure, quantum
from services.calculation.terms import Policy
from services.mt5.dto import SymbolSpec

FLAG_CLAMPED_TO_VOLUME_MAX = "clamped_to_volume_max"
FLAG_RAISED_TO_VOLUME_MIN = "raised_to_volume_min"
FLAG_CAPPED_BY_FREE_MARGIN = "capped_by_free_margin"
FLAG_LEG_DROPPED_BELOW_MIN = "leg_dropped_below_min"

BUDGET_TOLERANCE = Decimal("1E-24")


@lru_cache(maxsize=64)
def step_places(step: Decimal) -> int:
    """Decimal places a volume on this step is written with (0.01 -> 2, 0.5 -> 1, 1 or 10 -> 0)."""
    exponent = step.normalize().as_tuple().exponent
    return max(0, -exponent) if isinstance(exponent, int) else 0


def floor_to_step(volume: Decimal, step: Decimal) -> Decimal:
    """The largest multiple of ``step`` not above ``volume``, exact, written to the step's places.

    Steps count from 0, as MT5 does in practice (0.29 on step 0.01 stays 0.29, where float
    arithmetic gives 28.999... steps and floors to 0.28); an odd step such as 0.03 gives 0.09 for
    0.10 whatever volume_min is. volume_min and volume_max themselves are always tradable.
    """
    if step <= 0:
        raise ValueError("step must be positive")
    steps = (volume / step).to_integral_value(rounding=ROUND_FLOOR)
    return (steps * step).quantize(quantum(step_places(step)))


def lots_within_budget(budget: Decimal, cost_per_lot: Decimal, step: Decimal) -> Decimal:
    """Most lots on the step grid whose ``lots * cost_per_lot`` stays within ``budget``.

    Exact except for one documented tolerance, ``BUDGET_TOLERANCE`` (relative 1e-24, a
    trillionth of a cent on a trillion): a cost that went through ``1 / rate`` carries the
    34-digit context's last-digit rounding, which would turn an exact 0.15 lots (GBPJPY at
    USDJPY 150) into 0.14. Anything that overshoots the budget by more is stepped back down.
    """
    if budget <= 0:
        return floor_to_step(Decimal(0), step)
    limit = budget * (1 + BUDGET_TOLERANCE)
    lots = floor_to_step(limit / cost_per_lot, step)
    while lots > 0 and lots * cost_per_lot > limit:
        lots -= step
    return lots


def clamp_to_volume_max(lots: Decimal, spec: SymbolSpec) -> tuple[Decimal, list[str]]:
    """``volume_max`` (flagged ``clamped_to_volume_max``) when ``lots`` is above it."""
    if lots > spec.volume_max:
        return spec.volume_max, [FLAG_CLAMPED_TO_VOLUME_MAX]
    return lots, []


def apply_below_min_policy(
    lots: Decimal,
    spec: SymbolSpec,
    policy: Policy,
    *,
    loss_per_lot: Decimal,
    risk_base: Decimal,
    money_digits: int,
    currency: str,
) -> tuple[Decimal, list[str]]:
    """Keep ``lots`` at or above ``volume_min``; below it, refuse or (``raise`` policy) trade it.

    The refusal (``below_min_volume``) says what the minimum lot would risk, so the trader can
    decide; the raise is flagged ``raised_to_volume_min`` because it risks more than asked.
    """
    if lots >= spec.volume_min:
        return lots, []
    if policy.below_min == "raise":
        return spec.volume_min, [FLAG_RAISED_TO_VOLUME_MIN]
    min_lot_risk = spec.volume_min * loss_per_lot
    money = min_lot_risk.quantize(quantum(money_digits), rounding=ROUND_HALF_UP)
    details = {
        "volume_min": str(spec.volume_min),
        "lots_for_risk": str(lots),
        "min_lot_risk_money": str(money),
        "currency": currency,
        "min_lot_risk_percent": (
            str(percent_of(min_lot_risk, risk_base)) if risk_base > 0 else None
        ),
    }
    raise CalculationError(
        f"The risk allows {lots} lots, below the minimum of {spec.volume_min}; "
        f"the minimum would risk {money_figure(money, currency)}.",
        code="below_min_volume",
        details=details,
    )


def percent_of(part: Decimal, whole: Decimal) -> Decimal:
    """``part`` as a percent of ``whole``, half-up to 2 places."""
    return (part * 100 / whole).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)


def split_across_take_profits(
    lots: Decimal, shares: Sequence[Decimal], spec: SymbolSpec
) -> list[Decimal]:
    """Lots per take profit (0 = not sent); the legs that are sent always sum to ``lots``.

    Each leg first gets ``floor_step(lots * share / 100)``, or 0 when that is below volume_min.
    The remainder is then handed out from TP1 onward, one pass at a time: a live leg takes one
    step, a dropped leg comes back only when the remainder can bring it to volume_min (so no
    volume is handed to a leg that could not be sent). With volume_min == volume_step, the usual
    case, this is exactly "one step at a time from TP1 onward".
    """
    step, minimum = spec.volume_step, spec.volume_min
    legs = [floor_to_step(lots * share / 100, step) for share in shares]
    legs = [leg if leg >= minimum else leg * 0 for leg in legs]
    remainder = lots - sum(legs, Decimal(0))
    while remainder >= step or (remainder > 0 and not any(legs)):
        remainder = _hand_out_one_pass(legs, remainder, step, minimum)
    if remainder > 0:  # only when volume_min or lots is off the step grid
        first_live = next(i for i, leg in enumerate(legs) if leg > 0)
        legs[first_live] += remainder
    return legs


def _hand_out_one_pass(
    legs: list[Decimal], remainder: Decimal, step: Decimal, minimum: Decimal
) -> Decimal:
    dropped = [i for i, leg in enumerate(legs) if leg == 0]
    if not dropped or remainder < minimum:
        return _hand_out_evenly(legs, remainder, step)
    for i, leg in enumerate(legs):
        if leg > 0 and remainder >= step:
            legs[i], remainder = leg + step, remainder - step
        elif leg == 0 and remainder >= minimum:
            legs[i], remainder = minimum, remainder - minimum
    return remainder


def _hand_out_evenly(legs: list[Decimal], remainder: Decimal, step: Decimal) -> Decimal:
    """Whole rounds of one step per live leg, then one step each from TP1 onward."""
    live = [i for i, leg in enumerate(legs) if leg > 0]
    if not live:  # lots below volume_min: nothing can be sent, keep the volume on TP1
        legs[0] += remainder
        return Decimal(0)
    steps = int((remainder / step).to_integral_value(rounding=ROUND_FLOOR))
    rounds, extra = divmod(steps, len(live))
    for position, i in enumerate(live):
        legs[i] += step * (rounds + (1 if position < extra else 0))
    return remainder - step * steps


def written_on_step(lots: Decimal, step: Decimal) -> Decimal:
    """``lots`` with at least the step's decimal places (0.1 on step 0.01 reads 0.10); exact."""
    own = lots.normalize().as_tuple().exponent
    places = max(step_places(step), -own if isinstance(own, int) else 0)
    return lots.quantize(quantum(places))
