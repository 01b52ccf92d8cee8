"""What sizing changed of what was asked beyond rounding to the volume step: the warnings.

Rounding a volume to its step moves it by less than half a step (0.012 lots on a 0.01 step is
0.01). Sizing floors instead (it never risks more than asked), and caps, clamps and splits move
volumes further; whenever the traded volume is not what rounding the asked one half-up to the
step gives (0.015 lots would be 0.02; 0.01 is traded), the change is reported with both figures.
The calculator and the ledger's per-account sizing both take their warnings from here.
"""

from __future__ import annotations

from collections.abc import Sequence
from decimal import ROUND_HALF_UP, Decimal

from services.calculation.result import money_figure, trimmed
from services.calculation.volume import percent_of, step_places


def beyond_rounding(asked: Decimal, traded: Decimal, step: Decimal) -> bool:
    """``traded`` is not ``asked`` rounded half-up to the step (steps counted from 0)."""
    steps = (asked / step).to_integral_value(rounding=ROUND_HALF_UP)
    return steps * step != traded


def volume_warning(asked: Decimal, traded: Decimal, step: Decimal, why: str) -> list[str]:
    """The traded volume against a volume the request gave (fixed, or times a multiplier)."""
    if not beyond_rounding(asked, traded, step):
        return []
    return [f"{traded} lots are traded instead of the {_lots(asked, step)} asked ({why})."]


def risk_warning(
    *,
    budget: Decimal,
    actual_risk: Decimal,
    lots: Decimal,
    loss_per_lot: Decimal,
    step: Decimal,
    base: Decimal,
    currency: str,
) -> list[str]:
    """The money a position risks against the risk asked, when fewer lots than the risk buys
    are traded (a position raised to the minimum lot has its own warning)."""
    bought = budget / loss_per_lot
    if lots > bought or not beyond_rounding(bought, lots, step):
        return []
    return [
        f"The trade risks {_money(actual_risk, base, currency)} instead of the "
        f"{_money(budget, base, currency)} asked: the risk buys {_lots(bought, step)} lots, "
        f"{lots} are traded (volume step {step})."
    ]


def share_warning(
    lots: Decimal, shares: Sequence[Decimal], legs: Sequence[Decimal], step: Decimal
) -> list[str]:
    """Each take profit's lots against its share of the position, when a split moved one."""
    asked = [lots * share / 100 for share in shares]
    if len(legs) < 2 or not any(
        beyond_rounding(a, t, step) for a, t in zip(asked, legs, strict=True)
    ):
        return []
    traded = [percent_of(leg, lots) for leg in legs]
    return [
        f"The take-profit shares {_slashed(shares)} % became {_slashed(traded)} % "
        f"({_slashed(legs)} of {lots} lots): the volume step {step} and the minimum lot do not "
        "split the position as asked."
    ]


def dropped_legs_note(numbers: Sequence[int]) -> str:
    """Take profits (numbered from 1) whose volume is below the minimum lot."""
    return (
        f"Take profit(s) {', '.join(map(str, numbers))} fall below the minimum lot; not sent "
        "(their volume went to the other take profits)."
    )


def _money(amount: Decimal, base: Decimal, currency: str) -> str:
    """Money already rounded to the account digits, and its percent of the risk base."""
    figure = money_figure(amount, currency)
    return f"{figure} ({percent_of(amount, base)} %)" if base > 0 else figure


def _lots(volume: Decimal, step: Decimal) -> str:
    """A raw volume to two places past the step's (0.015384 lots on a 0.01 step: 0.0154)."""
    places = step_places(step)
    return trimmed(volume, places + 2, keep=places)


def _slashed(figures: Sequence[Decimal]) -> str:
    return "/".join(format(figure, "f") for figure in figures)
