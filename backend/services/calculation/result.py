"""What a sizing returns: the position, its take-profit legs, and their wire form."""

from __future__ import annotations

from dataclasses import dataclass, fields
from decimal import ROUND_HALF_UP, Decimal
from functools import lru_cache
from typing import Any

# Per-lot figures (tick value, loss per lot) keep this many places on the wire beyond the
# account's digits: a JPY tick on a USD account is worth 0.668896 USD, and 0.67 would hide why.
PER_LOT_EXTRA_PLACES = 4


@dataclass(frozen=True)
class OrderLeg:
    """One take-profit order of the position; ``sent`` is False for a leg below volume_min."""

    take_profit: Decimal | None
    share_percent: Decimal
    lots: Decimal
    risk_money: Decimal
    reward_money: Decimal | None
    reward_to_risk: Decimal | None
    sent: bool

    def to_dict(self) -> dict[str, Any]:
        return {
            "take_profit": plain(self.take_profit),
            "share_percent": plain(self.share_percent),
            "lots": plain(self.lots),
            "risk_money": plain(self.risk_money),
            "reward_money": plain(self.reward_money),
            "reward_to_risk": plain(self.reward_to_risk),
            "sent": self.sent,
        }


@dataclass(frozen=True)
class SizingResult:
    """A sized position, already rounded for reporting except the per-lot figures.

    Rounding: ``risk_money`` floored to the account digits; every other money amount
    (actual risk, margin, leg risk and reward, total reward) half-up to the account digits;
    lots and ``max_lots_by_margin`` exact multiples of the volume step written to the step's
    places; ``actual_risk_percent`` and the reward:risk ratios half-up to 2 places. Prices and
    the stop distance are exact. ``tick_value`` and ``loss_per_lot`` are exact here and
    half-up to the account digits + 4 places (trailing zeros trimmed) in ``to_dict``; the tick
    and point counts are half-up to 2 places there.
    """

    lots: Decimal
    risk_money: Decimal
    actual_risk_money: Decimal
    actual_risk_percent: Decimal | None
    effective_entry: Decimal
    side: str
    sl_distance_price: Decimal
    sl_distance_points: Decimal
    sl_distance_ticks: Decimal
    tick_value: Decimal
    loss_per_lot: Decimal
    margin_required: Decimal | None
    max_lots_by_margin: Decimal | None
    orders: list[OrderLeg]
    total_reward_money: Decimal | None
    reward_to_risk: Decimal | None
    flags: list[str]
    warnings: list[str]

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe: Decimals as plain decimal strings (never exponents), rounded as above."""
        out: dict[str, Any] = {f.name: plain(getattr(self, f.name)) for f in fields(self)}
        digits = money_places(self.risk_money)
        out["tick_value"] = per_lot_figure(self.tick_value, digits)
        out["loss_per_lot"] = per_lot_figure(self.loss_per_lot, digits)
        out["sl_distance_points"] = trimmed(self.sl_distance_points, 2, keep=0)
        out["sl_distance_ticks"] = trimmed(self.sl_distance_ticks, 2, keep=0)
        out["orders"] = [leg.to_dict() for leg in self.orders]
        out["flags"] = list(self.flags)
        out["warnings"] = list(self.warnings)
        return out


@lru_cache(maxsize=64)
def quantum(places: int) -> Decimal:
    """``10 ** -places`` as a Decimal (2 -> 0.01), the argument ``quantize`` rounds to; cached,
    as every figure of every leg is rounded to one of a handful of places."""
    return Decimal(1).scaleb(-places)


def plain(value: Any) -> Any:
    """A Decimal as a plain string (``1E+3`` becomes ``1000``); anything else unchanged."""
    return format(value, "f") if isinstance(value, Decimal) else value


def money_figure(amount: Decimal, currency: str) -> str:
    """Money as messages write it: never without its currency ("1504.00 USC")."""
    return f"{plain(amount)} {currency}"


def money_places(amount: Decimal) -> int:
    """The account digits an amount was quantized to, read from its exponent."""
    exponent = amount.as_tuple().exponent
    return max(0, -exponent) if isinstance(exponent, int) else 0


def trimmed(value: Decimal, places: int, *, keep: int) -> str:
    """Half-up to ``places``, then trailing zeros dropped down to ``keep`` places."""
    text = format(value.quantize(quantum(places), rounding=ROUND_HALF_UP), "f")
    if "." not in text:
        return text
    whole, fraction = text.split(".")
    fraction = fraction.rstrip("0").ljust(keep, "0")
    return f"{whole}.{fraction}" if fraction else whole


def per_lot_figure(value: Decimal, digits: int) -> str:
    return trimmed(value, digits + PER_LOT_EXTRA_PLACES, keep=digits)


def money_half_up(amount: Decimal, digits: int) -> Decimal:
    """Money rounded half-up to the account currency's digits."""
    return amount.quantize(quantum(digits), rounding=ROUND_HALF_UP)


def ratio_half_up(value: Decimal) -> Decimal:
    """A reward:risk ratio half-up to 2 places."""
    return value.quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)
