"""The rules' arithmetic and what one quote decides, on tables worked out by hand."""

from __future__ import annotations

from decimal import Decimal

import pytest

from ledger.actions import ActionKind
from ledger.automation import Automation, Trailing, reached, trail_started, trailing_stop
from services.automation.decide import decide
from services.automation.targets import Group, OpenLeg, Watched

POINT = Decimal("0.01")
TRAIL = Trailing(start_points=200, distance_points=300, step_points=50)


@pytest.mark.parametrize(
    ("side", "best", "stop"),
    [("buy", "2352.30", "2349.00"), ("buy", "2352.60", "2349.50"), ("buy", "2352.99", "2349.50"),
     ("buy", "2353.00", "2350.00"), ("sell", "2347.70", "2351.00"), ("sell", "2347.40", "2350.50")],
)  # fmt: skip
def test_trailing_stop_follows_the_best_price_on_its_step_grid(side, best, stop):
    assert trailing_stop(side, Decimal(best), TRAIL, POINT) == Decimal(stop)


@pytest.mark.parametrize(
    ("side", "open_price", "best", "started"),
    [("buy", "2350.00", "2351.99", False), ("buy", "2350.00", "2352.00", True),
     ("sell", "2350.00", "2348.01", False), ("sell", "2350.00", "2348.00", True)],
)  # fmt: skip
def test_trail_starts_after_start_points_of_profit(side, open_price, best, started):
    assert trail_started(side, Decimal(open_price), Decimal(best), TRAIL, POINT) is started


def test_reached_reads_the_closing_side():
    assert reached("buy", Decimal("2355.00"), Decimal("2355.00"))
    assert not reached("buy", Decimal("2354.99"), Decimal("2355.00"))
    assert reached("sell", Decimal("2344.90"), Decimal("2345.00"))


def _leg(leg: int, open_price: str = "2350.00", virtual: bool = False) -> OpenLeg:
    return OpenLeg(
        row_id=10 + leg, dispatch_id=7, account_id=3, user_id=2, terminal="sim://default",
        leg=leg, ticket=100 + leg, open_price=Decimal(open_price), virtual_tp=virtual,
    )  # fmt: skip


def _group(automation: Automation, legs: list[OpenLeg], side: str = "buy") -> Group:
    watched = Watched(
        dispatch_id=7, creator_id=1, side=side,
        take_profits=(Decimal("2355.00"), Decimal("2365.00")), automation=automation,
        legs=tuple(legs),
    )  # fmt: skip
    return Group(server="Sim-Demo", symbol="XAUUSD", quote_account_id=3, watched=(watched,))


def test_breakeven_after_tp1_fires_for_the_legs_after_it():
    group = _group(Automation(breakeven_after_tp=1, breakeven_offset_points=10), [_leg(1)])
    assert decide(group, Decimal("2354.90"), Decimal("2355.10"), POINT, {}, set()) == []
    (fire,) = decide(group, Decimal("2355.00"), Decimal("2355.20"), POINT, {}, set())
    assert (fire.rule, fire.action.kind, fire.action.offset_points) == (
        "breakeven", ActionKind.BREAKEVEN, 10,
    )  # fmt: skip
    assert [leg.leg for leg in fire.legs] == [1]


def test_a_rule_that_fired_does_not_fire_again():
    group = _group(Automation(breakeven_after_tp=1), [_leg(1)])
    (fire,) = decide(group, Decimal("2356"), Decimal("2356.2"), POINT, {}, set())
    assert decide(group, Decimal("2357"), Decimal("2357.2"), POINT, {}, {fire.key}) == []


def test_a_virtual_take_profit_closes_its_leg():
    group = _group(Automation(), [_leg(0, virtual=True), _leg(1)])
    (fire,) = decide(group, Decimal("2355.00"), Decimal("2355.20"), POINT, {}, set())
    assert (fire.rule, fire.level, fire.action.kind, fire.action.legs) == (
        "virtual_tp", "1", ActionKind.CLOSE, (1,),
    )  # fmt: skip
    assert [leg.leg for leg in fire.legs] == [0]


def test_trailing_remembers_the_best_price_and_never_asks_backwards():
    group = _group(Automation(trailing=TRAIL), [_leg(0), _leg(1, open_price="2351.00")])
    best: dict = {}
    assert decide(group, Decimal("2351.50"), Decimal("2351.70"), POINT, best, set()) == []
    (first,) = decide(group, Decimal("2352.30"), Decimal("2352.50"), POINT, best, set())
    assert first.action.stop_loss == Decimal("2349.00") and first.action.only_tighter
    assert [leg.leg for leg in first.legs] == [0]  # the later open is not 2.00 in profit yet
    (again,) = decide(group, Decimal("2351.00"), Decimal("2351.20"), POINT, best, set())
    assert again.key == first.key  # the price fell back: the best is kept, the same level
    (higher,) = decide(group, Decimal("2353.10"), Decimal("2353.30"), POINT, best, {first.key})
    assert higher.action.stop_loss == Decimal("2350.00") and len(higher.legs) == 2


def test_automation_check_refuses_a_take_profit_the_order_lacks():
    from errors import AppError
    from ledger.types import TakeProfit, TradeOrder

    order = TradeOrder("XAUUSD", "buy", take_profits=(TakeProfit(Decimal("2360"), Decimal(100)),))
    with pytest.raises(AppError) as caught:
        Automation(breakeven_after_tp=2).check(order)
    assert caught.value.code == "invalid_automation"
