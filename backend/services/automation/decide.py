"""What one quote decides for the dispatches watched on one trade server: pure, no I/O."""

from __future__ import annotations

from collections.abc import MutableMapping
from dataclasses import dataclass
from decimal import Decimal

from ledger.actions import ActionKind, TradeAction
from ledger.automation import closing_price, reached, trail_started, trailing_stop
from services.automation.targets import Group, OpenLeg, Watched

FiredKey = tuple[int, str, str, str]  # (dispatch, rule, scope, level)


@dataclass(frozen=True)
class Fire:
    """A rule whose condition holds: the action to create, on these legs, once."""

    dispatch_id: int
    creator_id: int
    rule: str  # virtual_tp | breakeven | trailing
    scope: str  # the trade server whose quote decided it
    level: str  # the leg (virtual_tp), or the stop level (trailing)
    action: TradeAction
    legs: tuple[OpenLeg, ...]

    @property
    def key(self) -> FiredKey:
        return (self.dispatch_id, self.rule, self.scope, self.level)


def decide(
    group: Group,
    bid: Decimal,
    ask: Decimal,
    point: Decimal,
    best: MutableMapping[tuple[int, str], Decimal],
    fired: set[FiredKey],
) -> list[Fire]:
    """Every rule of the group's dispatches that this quote fires and that has not fired yet.

    ``best`` holds the best closing price seen per (dispatch, server) for trailing stops; it is
    updated here.
    """
    fires: list[Fire] = []
    for watched in group.watched:
        price = closing_price(watched.side, bid, ask)
        fires += _virtual_tps(group, watched, price)
        fires += _breakeven(group, watched, price)
        fires += _trailing(group, watched, price, point, best)
    return [f for f in fires if f.key not in fired and f.legs]


def _fire(group: Group, watched: Watched, rule: str, level: str, action: TradeAction,
          legs: list[OpenLeg]) -> Fire:  # fmt: skip
    return Fire(
        dispatch_id=watched.dispatch_id,
        creator_id=watched.creator_id,
        rule=rule,
        scope=group.server,
        level=level,
        action=action,
        legs=tuple(legs),
    )


def _virtual_tps(group: Group, watched: Watched, price: Decimal) -> list[Fire]:
    """A netting leg's own take profit, held here (the last leg's is at the broker)."""
    fires = []
    for leg, tp in enumerate(watched.take_profits[:-1]):
        legs = [g for g in watched.legs if g.virtual_tp and g.leg == leg]
        if legs and reached(watched.side, price, tp):
            action = TradeAction(kind=ActionKind.CLOSE, legs=(leg + 1,))
            fires.append(_fire(group, watched, "virtual_tp", str(leg + 1), action, legs))
    return fires


def _breakeven(group: Group, watched: Watched, price: Decimal) -> list[Fire]:
    """Take profit N reached: the legs after it get their stop at entry (plus the offset)."""
    rules = watched.automation
    n = rules.breakeven_after_tp
    if n is None or n > len(watched.take_profits):
        return []
    if not reached(watched.side, price, watched.take_profits[n - 1]):
        return []
    legs = [g for g in watched.legs if g.leg >= n]
    action = TradeAction(kind=ActionKind.BREAKEVEN, offset_points=rules.breakeven_offset_points)
    return [_fire(group, watched, "breakeven", "", action, legs)]


def _trailing(
    group: Group,
    watched: Watched,
    price: Decimal,
    point: Decimal,
    best: MutableMapping[tuple[int, str], Decimal],
) -> list[Fire]:
    """The stop follows the best price seen, for the legs whose trail has started."""
    rule = watched.automation.trailing
    if rule is None:
        return []
    key = (watched.dispatch_id, group.server)
    seen = best.get(key, price)
    seen = max(seen, price) if watched.side == "buy" else min(seen, price)
    best[key] = seen
    legs = [g for g in watched.legs if trail_started(watched.side, g.open_price, seen, rule, point)]
    if not legs:
        return []
    stop = trailing_stop(watched.side, seen, rule, point)
    action = TradeAction(kind=ActionKind.MODIFY, stop_loss=stop, only_tighter=True)
    return [_fire(group, watched, "trailing", str(stop), action, legs)]
