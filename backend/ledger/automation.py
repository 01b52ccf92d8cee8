"""Rules attached to an open, and what they decide on a quote: pure, no I/O.

``breakeven_after_tp``: once the price reaches take profit N, the stop loss of the legs still
open moves to each position's open price plus ``breakeven_offset_points`` (once, then stays).
``trailing``: once a position is ``start_points`` in profit, its stop follows the best price at
``distance_points``, in moves of at least ``step_points``, never backwards. Virtual take profits
(netting accounts, which hold one position per symbol): leg i's take profit is watched here and
closes that leg's volume when the price reaches it; the last leg's take profit is at the broker.

Prices are compared on the side a position closes at: the Bid for a buy, the Ask for a sell.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from decimal import ROUND_CEILING, ROUND_FLOOR, Decimal
from typing import Any

from ledger.types import TradeOrder, invalid


@dataclass(frozen=True)
class Trailing:
    start_points: int
    distance_points: int
    step_points: int = 1


@dataclass(frozen=True)
class Automation:
    """The rules of one open dispatch (each part optional)."""

    breakeven_after_tp: int | None = None  # 1-based take-profit leg
    breakeven_offset_points: int = 0
    trailing: Trailing | None = None

    @property
    def empty(self) -> bool:
        return self.breakeven_after_tp is None and self.trailing is None

    def check(self, order: TradeOrder) -> None:
        """Rules a schema cannot state: the leg must exist, and leave a leg to protect."""
        leg = self.breakeven_after_tp
        if leg is None:
            return
        if leg > len(order.take_profits):
            raise invalid(
                "invalid_automation",
                f"breakeven_after_tp names take profit {leg}; the order has "
                f"{len(order.take_profits)}.",
                "automation",
                "breakeven_after_tp",
            )

    def to_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {}
        if self.breakeven_after_tp is not None:
            data["breakeven_after_tp"] = self.breakeven_after_tp
            data["breakeven_offset_points"] = self.breakeven_offset_points
        if self.trailing is not None:
            data["trailing"] = {
                "start_points": self.trailing.start_points,
                "distance_points": self.trailing.distance_points,
                "step_points": self.trailing.step_points,
            }
        return data

    @classmethod
    def from_json(cls, data: Mapping[str, Any] | None) -> Automation:
        data = data or {}
        trailing = data.get("trailing")
        return cls(
            breakeven_after_tp=data.get("breakeven_after_tp"),
            breakeven_offset_points=int(data.get("breakeven_offset_points") or 0),
            trailing=Trailing(
                int(trailing["start_points"]),
                int(trailing["distance_points"]),
                int(trailing.get("step_points") or 1),
            )
            if trailing
            else None,
        )


def closing_price(side: str, bid: Decimal, ask: Decimal) -> Decimal:
    """What a position of ``side`` would close at now."""
    return bid if side == "buy" else ask


def reached(side: str, price: Decimal, level: Decimal) -> bool:
    """The closing price is at or beyond ``level`` in the trade's favour."""
    return price >= level if side == "buy" else price <= level


def trail_started(
    side: str, open_price: Decimal, best: Decimal, rule: Trailing, point: Decimal
) -> bool:
    """The position has been ``start_points`` in profit (at the best price seen)."""
    direction = 1 if side == "buy" else -1
    return (best - open_price) * direction >= rule.start_points * point


def trailing_stop(side: str, best: Decimal, rule: Trailing, point: Decimal) -> Decimal:
    """The stop the trail asks for at the best price seen: ``distance_points`` behind it, on
    a grid of ``step_points`` (rounded away from the price). The same level for every position
    on one trade server, so each level is asked for once and the stop never jitters."""
    step = rule.step_points * point
    if side == "buy":
        raw = best - rule.distance_points * point
        return (raw / step).to_integral_value(rounding=ROUND_FLOOR) * step
    raw = best + rule.distance_points * point
    return (raw / step).to_integral_value(rounding=ROUND_CEILING) * step


def tighter(side: str, new: Decimal, current: Decimal) -> bool:
    """``new`` locks in more than ``current`` (0 = no stop at all)."""
    if not current:
        return True
    return new > current if side == "buy" else new < current
