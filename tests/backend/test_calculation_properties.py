"""Properties of sizing over random specs and trades: budget, step grid, limits, legs."""

from __future__ import annotations

from decimal import Decimal as D
from itertools import pairwise

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from errors import CalculationError
from services.calculation.volume import BUDGET_TOLERANCE
from services.calculation_service import (
    AccountTerms,
    Costs,
    Policy,
    RiskSpec,
    TradePlan,
    calculate_position,
    floor_to_step,
    split_across_take_profits,
)
from services.mt5.dto import CALC_MODE_CFDLEVERAGE, SymbolSpec

SETTINGS = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])

STEPS = st.sampled_from([D("0.01"), D("0.1"), D("1"), D("0.05"), D("0.03")])
TICKS = st.sampled_from([D("0.01"), D("0.25"), D("0.001"), D("0.00001"), D("5")])


def cents(low: int, high: int) -> st.SearchStrategy[D]:
    return st.integers(low, high).map(lambda n: D(n).scaleb(-2))


@st.composite
def specs(draw: st.DrawFn) -> SymbolSpec:
    step = draw(STEPS)
    tick = draw(TICKS)
    volume_min = step * draw(st.integers(1, 10))
    return SymbolSpec(
        name="SYM",
        calc_mode=CALC_MODE_CFDLEVERAGE,
        digits=5,
        point=tick / draw(st.sampled_from([1, 5, 25])),
        tick_size=tick,
        tick_value=draw(st.sampled_from([D(0), D("1"), D("0.6688963"), D("12.5")])),
        contract_size=draw(st.sampled_from([D(1), D(100), D(100000)])),
        base_currency=draw(st.sampled_from(["XAU", "USD"])),
        profit_currency=draw(st.sampled_from(["USD", "JPY", "GBP"])),
        margin_currency="USD",
        volume_min=volume_min,
        volume_step=step,
        volume_max=volume_min * draw(st.integers(1, 100000)),
    )


@st.composite
def trades(draw: st.DrawFn, tick: D) -> TradePlan:
    entry = tick * draw(st.integers(10_000, 10_000_000))
    distance = tick * draw(st.integers(1, 5_000))
    side = draw(st.sampled_from(["buy", "sell"]))
    stop = entry - distance if side == "buy" else entry + distance
    return TradePlan(entry=entry, stop_loss=stop, side=draw(st.sampled_from([side, None])))


RATES = {"USDJPY": D("151.237"), "GBPUSD": D("1.2671")}


@st.composite
def sizings(draw: st.DrawFn) -> dict:
    spec = draw(specs())
    return dict(
        account=AccountTerms("USD", draw(cents(100_00, 10_000_000_00))),
        spec=spec,
        plan=draw(trades(spec.tick_size)),
        risk=RiskSpec(percent=draw(cents(1, 1000))),
        costs=Costs(draw(cents(0, 1000))),
        policy=Policy(below_min=draw(st.sampled_from(["reject", "raise"]))),
        rates=RATES,
    )


def _size_or_none(kwargs: dict):
    try:
        return calculate_position(**kwargs)
    except CalculationError as exc:
        assert exc.code == "below_min_volume"
        assert kwargs["policy"].below_min == "reject"
        return None


@SETTINGS
@given(sizings())
def test_calculate_position_random_trade_never_risks_more_than_budget(kwargs):
    result = _size_or_none(kwargs)
    if result is None or "raised_to_volume_min" in result.flags:
        return

    assert result.lots * result.loss_per_lot <= result.risk_money * (1 + BUDGET_TOLERANCE)
    assert result.actual_risk_money <= result.risk_money


@SETTINGS
@given(sizings())
def test_calculate_position_random_trade_takes_the_most_lots_the_budget_allows(kwargs):
    result = _size_or_none(kwargs)
    if result is None or result.flags:
        return

    one_more = result.lots + kwargs["spec"].volume_step
    assert one_more * result.loss_per_lot > result.risk_money


@SETTINGS
@given(sizings())
def test_calculate_position_random_trade_lots_on_step_within_limits(kwargs):
    spec = kwargs["spec"]
    result = _size_or_none(kwargs)
    if result is None:
        return

    assert spec.volume_min <= result.lots <= spec.volume_max
    assert result.lots % spec.volume_step == 0


@st.composite
def shares(draw: st.DrawFn) -> list[D]:
    cuts = sorted(draw(st.lists(st.integers(1, 99), max_size=4, unique=True)))
    bounds = [0, *cuts, 100]
    return [D(b - a) for a, b in pairwise(bounds)]


@SETTINGS
@given(spec=specs(), shares=shares(), multiple=st.integers(1, 5000))
def test_split_across_take_profits_random_shares_legs_sum_to_lots(spec, shares, multiple):
    lots = max(spec.volume_min, floor_to_step(spec.volume_step * multiple, spec.volume_step))

    legs = split_across_take_profits(lots, shares, spec)

    assert sum(legs) == lots
    assert all(leg == 0 or leg >= spec.volume_min for leg in legs)
    assert all(leg % spec.volume_step == 0 for leg in legs)


@SETTINGS
@given(sizings(), shares())
def test_calculate_position_random_take_profits_sent_legs_sum_to_lots(kwargs, shares):
    plan = kwargs["plan"]
    direction = 1 if plan.stop_loss < plan.entry else -1
    targets = [
        (plan.entry + direction * kwargs["spec"].tick_size * (i + 1), share)
        for i, share in enumerate(shares)
    ]
    kwargs["plan"] = TradePlan(entry=plan.entry, stop_loss=plan.stop_loss, take_profits=targets)
    result = _size_or_none(kwargs)
    if result is None:
        return

    assert sum(leg.lots for leg in result.orders if leg.sent) == result.lots
