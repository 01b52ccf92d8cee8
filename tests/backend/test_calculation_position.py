"""calculate_position end to end: hand-worked tables per symbol family, flags and every error."""

from __future__ import annotations

from decimal import Decimal as D
from typing import Any

import pytest
from spec_factories import make_gold

from errors import CalculationError
from services.calculation_service import (
    AccountTerms,
    Costs,
    Policy,
    RiskSpec,
    TradePlan,
    calculate_position,
    size_for_account,
)
from services.mt5.dto import (
    CALC_MODE_CFD,
    CALC_MODE_FOREX,
    AccountSnapshot,
    SymbolSpec,
)


def make_fx(name: str, digits: int = 5, **overrides: Any) -> SymbolSpec:
    """A 100,000-unit FX pair whose tick value is derived from quotes (tick_value 0)."""
    tick = D(1).scaleb(-digits)
    fields: dict[str, Any] = dict(
        name=name,
        calc_mode=CALC_MODE_FOREX,
        digits=digits,
        point=tick,
        tick_size=tick,
        tick_value=D("0"),
        contract_size=D("100000"),
        base_currency=name[:3],
        profit_currency=name[3:],
        margin_currency=name[:3],
        volume_min=D("0.01"),
        volume_step=D("0.01"),
        volume_max=D("100"),
    )
    fields.update(overrides)
    return SymbolSpec(**fields)


def make_index(**overrides: Any) -> SymbolSpec:
    """An index CFD whose tick (0.25) is 25 points (0.01): ticks and points differ."""
    fields: dict[str, Any] = dict(
        name="US500",
        calc_mode=CALC_MODE_CFD,
        digits=2,
        point=D("0.01"),
        tick_size=D("0.25"),
        tick_value=D("0"),
        contract_size=D("10"),
        base_currency="USD",
        profit_currency="USD",
        margin_currency="USD",
        volume_min=D("0.1"),
        volume_step=D("0.1"),
        volume_max=D("50"),
        margin_rate=D("0.05"),
    )
    fields.update(overrides)
    return SymbolSpec(**fields)


def usd(balance: str = "10000", **overrides: Any) -> AccountTerms:
    return AccountTerms(currency="USD", balance=D(balance), **overrides)


def pending(entry: str, stop: str, **overrides: Any) -> TradePlan:
    return TradePlan(entry=D(entry), stop_loss=D(stop), **overrides)


def percent(value: str) -> RiskSpec:
    return RiskSpec(percent=D(value))


RATES = {"USDTHB": D("36.50"), "USDJPY": D("150.00"), "GBPUSD": D("1.2500"), "EURUSD": D("1.0850")}

# Each row: id, account, spec, plan, risk, costs, rates -> lots, actual risk, actual percent.
# fmt: off
SIZING_TABLE = [
    # 1% of 10000 = 100; 2350.00-2340.00 = 10.00 = 1000 ticks x 1.00 = 1000/lot; 100/1000 = 0.10
    ("xauusd_usd_buy", usd(), make_gold(), pending("2350.00", "2340.00"), percent("1"),
     Costs(), {}, "0.10", "100.00", "1.00"),
    # tick value derived: 0.01 x 100 x 1 (USD->USD) = 1.00 -> same 0.10
    ("xauusd_usd_derived_tick_value", usd(), make_gold(tick_value=D(0)),
     pending("2350.00", "2340.00"), percent("1"), Costs(), {}, "0.10", "100.00", "1.00"),
    # sell: 2357.50-2350.00 = 750 ticks = 750/lot; 100/750 = 0.1333 -> 0.13; 0.13x750 = 97.50
    ("xauusd_usd_sell", usd(), make_gold(), pending("2350.00", "2357.50"), percent("1"),
     Costs(), {}, "0.13", "97.50", "0.98"),
    # cent: 1% of 1,000,000 USC = 10000 USC; TV 0.01 x 100 x 100 (USD->USC) = 100 USC;
    # 1000 ticks -> 100,000 USC/lot; 10000/100000 = 0.10 (no hand-made /100 anywhere)
    ("xauusdc_cent_account", AccountTerms("USC", D("1000000")),
     make_gold(name="XAUUSDc", tick_value=D(0)), pending("2350.00", "2340.00"), percent("1"),
     Costs(), {}, "0.10", "10000.00", "1.00"),
    # cent, terminal-given tick value already in USC (100 per tick per lot): same answer
    ("xauusdc_cent_given_tick_value", AccountTerms("USC", D("1000000")),
     make_gold(name="XAUUSDc", tick_value=D(100)), pending("2350.00", "2340.00"),
     percent("1"), Costs(), {}, "0.10", "10000.00", "1.00"),
    # THB: 1% of 350000 = 3500; TV 0.01 x 100 x 36.50 = 36.50 THB; 1000 ticks -> 36500/lot;
    # 3500/36500 = 0.0958 -> 0.09; 0.09 x 36500 = 3285.00 = 0.9386% -> 0.94
    ("xauusd_thb_account", AccountTerms("THB", D("350000")), make_gold(tick_value=D(0)),
     pending("2350.00", "2340.00"), percent("1"), Costs(), RATES, "0.09", "3285.00", "0.94"),
    # commission 3.50/side: 500 ticks x 1 + 2 x 3.50 = 507/lot; 100/507 = 0.197 -> 0.19
    # (0.20 without commission); 0.19 x 507 = 96.33
    ("xauusd_with_commission", usd(), make_gold(), pending("2350.00", "2345.00"), percent("1"),
     Costs(D("3.50")), {}, "0.19", "96.33", "0.96"),
    # market buy at the ask 2350.20: 10.20 = 1020 ticks; 100/1020 = 0.098 -> 0.09 (the bid
    # 2349.80 would give 980 ticks and 0.10: the spread is risk too); 0.09 x 1020 = 91.80
    ("xauusd_market_buy_at_ask", usd(), make_gold(),
     TradePlan(order_type="market", bid=D("2349.80"), ask=D("2350.20"), stop_loss=D("2340.00")),
     percent("1"), Costs(), {}, "0.09", "91.80", "0.92"),
    # market sell at the bid 2349.80, SL 2360.00: 1020 ticks -> 0.09
    ("xauusd_market_sell_at_bid", usd(), make_gold(),
     TradePlan(order_type="market", bid=D("2349.80"), ask=D("2350.20"), stop_loss=D("2360.00")),
     percent("1"), Costs(), {}, "0.09", "91.80", "0.92"),
    # EURUSD: TV 0.00001 x 100000 = 1 USD; 1.08500-1.08300 = 200 ticks -> 200/lot; 0.50 lots
    ("eurusd_usd_account", usd(), make_fx("EURUSD"), pending("1.08500", "1.08300"),
     percent("1"), Costs(), {}, "0.50", "100.00", "1.00"),
    # USDJPY on USD: the JPY loss converts at the SL price: TV 0.001 x 100000 / 149.5 =
    # 0.668896; 500 ticks -> 334.448/lot; 100/334.448 = 0.299 -> 0.29 (at the entry rate 150 it
    # would be 333.33/lot and 0.30 lots, which really loses 100.33 at the stop)
    ("usdjpy_usd_converts_at_stop", usd(), make_fx("USDJPY", 3),
     pending("150.000", "149.500"), percent("1"), Costs(), {}, "0.29", "96.99", "0.97"),
    # GBPJPY on USD via 1/USDJPY: TV 0.001 x 100000 / 150 = 0.6667; 1000 ticks -> 666.667/lot;
    # 100 / 666.667 = 0.15 exactly (34-digit rounding of 1/150 must not make it 0.14)
    ("gbpjpy_usd_inverse_rate", usd(), make_fx("GBPJPY", 3), pending("190.000", "189.000"),
     percent("1"), Costs(), RATES, "0.15", "100.00", "1.00"),
    # EURGBP on THB, GBP->THB crossed via USD: 1.25 x 36.50 = 45.625 THB per GBP; TV = 1 GBP =
    # 45.625 THB; 200 ticks -> 9125/lot; 3500/9125 = 0.3836 -> 0.38; 0.38 x 9125 = 3467.50
    ("eurgbp_thb_cross_via_usd", AccountTerms("THB", D("350000")), make_fx("EURGBP"),
     pending("0.85000", "0.84800"), percent("1"), Costs(), RATES, "0.38", "3467.50", "0.99"),
    # index: tick 0.25 != point 0.01; TV 0.25 x 10 = 2.50; 10.00 = 40 ticks (1000 points) ->
    # 100/lot; 100/100 = 1.0 (counting points would give 2500/lot and 0.0 lots)
    ("index_tick_not_point", usd(), make_index(), pending("5000.00", "4990.00"), percent("1"),
     Costs(), {}, "1.0", "100.00", "1.00"),
    # step boundary: 29 / (100 ticks x 1) = 0.29 exactly; float gives 0.29/0.01 = 28.999 -> 0.28
    ("step_boundary_029", usd(), make_gold(), pending("2350.00", "2349.00"),
     RiskSpec(amount=D("29")), Costs(), {}, "0.29", "29.00", "0.29"),
    # 57/100 = 0.57; float 0.57/0.01 = 56.99999 -> 0.56
    ("step_boundary_057", usd(), make_gold(), pending("2350.00", "2349.00"),
     RiskSpec(amount=D("57")), Costs(), {}, "0.57", "57.00", "0.57"),
    # odd step 0.05: 115/100 = 1.15; float 1.15/0.05 = 22.99999 -> 1.10
    ("odd_step_005", usd(), make_gold(volume_min=D("0.05"), volume_step=D("0.05")),
     pending("2350.00", "2349.00"), RiskSpec(amount=D("115")), Costs(), {}, "1.15", "115.00",
     "1.15"),
]
# fmt: on


@pytest.mark.parametrize(
    ("account", "spec", "plan", "risk", "costs", "rates", "lots", "actual", "actual_percent"),
    [pytest.param(*row[1:], id=row[0]) for row in SIZING_TABLE],
)
def test_calculate_position_hand_worked_case_matches_table(
    account, spec, plan, risk, costs, rates, lots, actual, actual_percent
):
    result = calculate_position(
        account=account, spec=spec, plan=plan, risk=risk, costs=costs, rates=rates
    )

    assert (str(result.lots), str(result.actual_risk_money), str(result.actual_risk_percent)) == (
        lots,
        actual,
        actual_percent,
    )


def test_calculate_position_gold_usd_reports_every_field():
    account = usd(free_margin=D("10000"))
    plan = pending("2350.00", "2340.00", take_profits=[(D("2370.00"), D("100"))])

    out = calculate_position(
        account=account, spec=make_gold(), plan=plan, risk=percent("1")
    ).to_dict()

    # margin (CFDLEVERAGE) 0.10 x 100 x 2350 / 100 = 235.00; 10000 / 2350 per lot -> 4.25;
    # reward 2000 ticks x 1 x 0.10 = 200.00, 2.00 R
    assert out == {
        "lots": "0.10",
        "risk_money": "100.00",
        "actual_risk_money": "100.00",
        "actual_risk_percent": "1.00",
        "effective_entry": "2350.00",
        "side": "buy",
        "sl_distance_price": "10.00",
        "sl_distance_points": "1000",
        "sl_distance_ticks": "1000",
        "tick_value": "1.00",
        "loss_per_lot": "1000.00",
        "margin_required": "235.00",
        "max_lots_by_margin": "4.25",
        "orders": [
            {
                "take_profit": "2370.00",
                "share_percent": "100",
                "lots": "0.10",
                "risk_money": "100.00",
                "reward_money": "200.00",
                "reward_to_risk": "2.00",
                "sent": True,
            }
        ],
        "total_reward_money": "200.00",
        "reward_to_risk": "2.00",
        "flags": [],
        "warnings": [],
    }


def test_calculate_position_usdjpy_without_quote_warns_about_stop_price():
    result = calculate_position(
        account=usd(),
        spec=make_fx("USDJPY", 3),
        plan=pending("150.000", "149.500"),
        risk=percent("1"),
    )

    # 100 / 149.5 = 0.6688963 per tick per lot; at the entry 100 / 150 = 0.6666667
    assert result.to_dict()["tick_value"] == "0.668896"
    assert any("149.500" in w and "0.666667" in w for w in result.warnings)
    assert any(
        "0.668896 USD per tick per lot" in w and "0.666667 USD)" in w for w in result.warnings
    )


def test_calculate_position_no_take_profit_returns_one_unlimited_order():
    result = calculate_position(
        account=usd(), spec=make_gold(), plan=pending("2350.00", "2340.00"), risk=percent("1")
    )

    assert [(leg.take_profit, leg.lots, leg.sent) for leg in result.orders] == [
        (None, D("0.10"), True)
    ]
    assert (result.total_reward_money, result.reward_to_risk) == (None, None)


# Legs: id, lots-producing risk amount (100 ticks x 1 = 100 per lot), spec, shares -> legs.
# fmt: off
LEG_TABLE = [
    # 0.10 x 34% = 0.034 -> 0.03, 0.033 -> 0.03, 0.03; remainder 0.01 -> TP1: 0.04/0.03/0.03
    ("three_tps_remainder_to_tp1", "10", make_gold(), ["34", "33", "33"],
     ["0.04", "0.03", "0.03"]),
    # 0.58 x 50% = 0.29 each exactly (float 0.29/0.01 floors to 0.28)
    ("half_of_058_is_029", "58", make_gold(), ["50", "50"], ["0.29", "0.29"]),
    # 0.29 x 50% = 0.145 -> 0.14 each; remainder 0.01 -> TP1: 0.15/0.14
    ("odd_total_split_in_two", "29", make_gold(), ["50", "50"], ["0.15", "0.14"]),
    # 0.07 over 4 x 25% = 0.0175 -> 0.01 each; remainder 0.03 -> TP1, TP2, TP3
    ("remainder_round_robin", "7", make_gold(), ["25", "25", "25", "25"],
     ["0.02", "0.02", "0.02", "0.01"]),
]
# fmt: on


@pytest.mark.parametrize(
    ("amount", "spec", "shares", "legs"), [pytest.param(*r[1:], id=r[0]) for r in LEG_TABLE]
)
def test_calculate_position_several_take_profits_split_by_remainder_rule(
    amount, spec, shares, legs
):
    targets = [(D(2351 + i), D(share)) for i, share in enumerate(shares)]
    plan = pending("2350.00", "2349.00", take_profits=targets)

    result = calculate_position(
        account=usd(), spec=spec, plan=plan, risk=RiskSpec(amount=D(amount))
    )

    assert [str(leg.lots) for leg in result.orders] == legs
    assert sum(leg.lots for leg in result.orders) == result.lots


def test_calculate_position_leg_below_min_is_dropped_and_flagged():
    spec = make_gold(volume_min=D("0.10"))
    plan = pending("2350.00", "2349.00", take_profits=[(D("2352"), D("90")), (D("2360"), D("10"))])

    # 0.50 lots: 0.45 and 0.05 (< 0.10, dropped); remainder 0.05 goes to TP1 -> 0.50 / 0
    result = calculate_position(account=usd(), spec=spec, plan=plan, risk=RiskSpec(amount=D("50")))

    assert [(str(leg.lots), leg.sent) for leg in result.orders] == [("0.50", True), ("0.00", False)]
    assert "leg_dropped_below_min" in result.flags


def test_calculate_position_rewards_per_leg_and_total():
    plan = pending(
        "2350.00",
        "2340.00",
        take_profits=[(D("2360.00"), D("34")), (D("2370.00"), D("33")), (D("2380.00"), D("33"))],
    )

    result = calculate_position(
        account=usd(), spec=make_gold(), plan=plan, risk=percent("1"), costs=Costs(D("1"))
    )

    # L = 1000 + 2 = 1002 -> 100/1002 = 0.0998 -> 0.09 lots;
    # 0.09 x 34% = 0.0306 -> 0.03; 0.0297 -> 0.02; 0.0297 -> 0.02; remainder 0.02 -> TP1, TP2
    # rewards per lot net of 2.00 commission: 998, 1998, 2998
    # legs: 0.04 x 998 = 39.92; 0.03 x 1998 = 59.94; 0.02 x 2998 = 59.96; total 159.82
    # total R = 159.82 / (0.09 x 1002 = 90.18) = 1.772 -> 1.77
    assert [str(leg.lots) for leg in result.orders] == ["0.04", "0.03", "0.02"]
    assert [str(leg.reward_money) for leg in result.orders] == ["39.92", "59.94", "59.96"]
    assert [str(leg.reward_to_risk) for leg in result.orders] == ["1.00", "1.99", "2.99"]
    assert (str(result.total_reward_money), str(result.reward_to_risk)) == ("159.82", "1.77")


def test_calculate_position_above_volume_max_is_clamped_and_flagged():
    # 1% of 1,000,000 = 10000 / 1000 per lot = 10 lots > volume_max 1
    result = calculate_position(
        account=usd("1000000"),
        spec=make_gold(volume_max=D("1")),
        plan=pending("2350.00", "2340.00"),
        risk=percent("1"),
    )

    assert (str(result.lots), result.flags) == ("1.00", ["clamped_to_volume_max"])


def test_calculate_position_below_min_with_raise_policy_trades_min_and_flags():
    # 1% of 500 = 5.00 / 1000 per lot = 0.005 -> 0.00 < 0.01; raised: risks 10.00 = 2.00%
    result = calculate_position(
        account=usd("500"),
        spec=make_gold(),
        plan=pending("2350.00", "2340.00"),
        risk=percent("1"),
        policy=Policy(below_min="raise"),
    )

    assert (str(result.lots), str(result.actual_risk_money), str(result.actual_risk_percent)) == (
        "0.01",
        "10.00",
        "2.00",
    )
    assert result.flags == ["raised_to_volume_min"]
    assert result.warnings


def test_calculate_position_cap_by_margin_floors_to_free_margin():
    # 2% of 10000 = 200 / (100 ticks x 1) = 2.00 lots; one lot needs 100 x 2350 / 100 = 2350;
    # free margin 3000 / 2350 = 1.2766 -> 1.27 lots, margin 2984.50, risk 127.00
    result = calculate_position(
        account=usd(free_margin=D("3000")),
        spec=make_gold(),
        plan=pending("2350.00", "2349.00"),
        risk=percent("2"),
        policy=Policy(cap_by_margin=True),
    )

    assert (str(result.lots), str(result.margin_required), str(result.actual_risk_money)) == (
        "1.27",
        "2984.50",
        "127.00",
    )
    assert result.flags == ["capped_by_free_margin"]


def test_calculate_position_without_cap_reports_max_lots_only():
    result = calculate_position(
        account=usd(free_margin=D("3000")),
        spec=make_gold(),
        plan=pending("2350.00", "2349.00"),
        risk=percent("2"),
    )

    assert (str(result.lots), str(result.max_lots_by_margin), result.flags) == ("2.00", "1.27", [])


def test_calculate_position_risk_base_equity_uses_equity():
    # 1% of equity 8000 = 80 / 1000 per lot = 0.08
    result = calculate_position(
        account=usd(equity=D("8000")),
        spec=make_gold(),
        plan=pending("2350.00", "2340.00"),
        risk=percent("1"),
        risk_base="equity",
    )

    assert (str(result.lots), str(result.risk_money)) == ("0.08", "80.00")


def test_calculate_position_missing_margin_rate_warns_instead_of_failing():
    # THB account with a given tick value (no quote needed for the loss) but no USDTHB for margin
    result = calculate_position(
        account=AccountTerms("THB", D("350000")),
        spec=make_gold(tick_value=D("36.50")),
        plan=pending("2350.00", "2340.00"),
        risk=percent("1"),
    )

    assert (str(result.lots), result.margin_required) == ("0.09", None)
    assert any("Margin not computed" in w for w in result.warnings)


def test_size_for_account_snapshot_sizes_from_its_own_balance():
    snapshot = AccountSnapshot(
        login=1,
        server="s",
        company="c",
        name="n",
        currency="USD",
        currency_digits=2,
        balance=D("20000"),
        equity=D("20000"),
        margin=D("0"),
        margin_free=D("20000"),
        leverage=100,
        trade_allowed=True,
        margin_mode="hedging",
    )

    result = size_for_account(
        snapshot=snapshot,
        spec=make_gold(),
        plan=pending("2350.00", "2340.00"),
        risk=percent("1"),
    )

    assert str(result.lots) == "0.20"


# Errors: id, calculate_position overrides -> code.
# fmt: off
ERROR_TABLE = [
    ("sl_equals_entry", dict(plan=pending("2350.00", "2350.00")), "sl_equals_entry"),
    ("buy_with_stop_above", dict(plan=pending("2350.00", "2360.00", side="buy")),
     "sl_wrong_side"),
    ("sell_with_stop_below", dict(plan=pending("2350.00", "2340.00", side="sell")),
     "sl_wrong_side"),
    ("market_buy_stop_inside_spread",
     dict(plan=TradePlan(order_type="market", side="buy", bid=D("2349.80"), ask=D("2350.20"),
                         stop_loss=D("2350.00"))), "sl_wrong_side"),
    ("thb_without_usdthb",
     dict(account=AccountTerms("THB", D("350000")), spec=make_gold(tick_value=D(0))),
     "missing_conversion_rate"),
    ("tick_size_zero", dict(spec=make_gold(tick_size=D(0))), "invalid_symbol_spec"),
    ("volume_step_zero", dict(spec=make_gold(volume_step=D(0))), "invalid_symbol_spec"),
    ("min_above_max", dict(spec=make_gold(volume_min=D(2), volume_max=D(1))),
     "invalid_symbol_spec"),
    ("contract_size_zero", dict(spec=make_gold(contract_size=D(0))), "invalid_symbol_spec"),
    ("unknown_calc_mode", dict(spec=make_gold(calc_mode=99)), "invalid_symbol_spec"),
    ("futures_without_tick_value", dict(spec=make_gold(calc_mode=1, tick_value=D(0))),
     "invalid_symbol_spec"),
    # 0.30 away = 30 points < stops level 50
    ("stop_inside_stops_level",
     dict(spec=make_gold(trade_stops_level=50), plan=pending("2350.00", "2349.70")),
     "stop_too_close"),
    ("buy_take_profit_below_entry",
     dict(plan=pending("2350.00", "2340.00", take_profits=[(D("2345"), D(100))])),
     "take_profit_wrong_side"),
    ("sell_take_profit_above_entry",
     dict(plan=pending("2350.00", "2360.00", take_profits=[(D("2355"), D(100))])),
     "take_profit_wrong_side"),
    ("shares_sum_to_90",
     dict(plan=pending("2350.00", "2340.00",
                       take_profits=[(D("2360"), D(50)), (D("2370"), D(40))])),
     "shares_do_not_sum_to_100"),
    ("risk_percent_and_amount", dict(risk=RiskSpec(percent=D(1), amount=D(10))), "invalid_risk"),
    ("risk_percent_zero", dict(risk=percent("0")), "invalid_risk"),
    ("risk_base_equity_unknown", dict(risk_base="equity"), "missing_account_value"),
    ("cap_without_free_margin", dict(policy=Policy(cap_by_margin=True)),
     "missing_account_value"),
    ("cap_free_margin_below_min_lot",
     dict(account=usd(free_margin=D("10")), policy=Policy(cap_by_margin=True)),
     "insufficient_margin"),
    ("pending_without_entry", dict(plan=TradePlan(stop_loss=D("2340"))), "missing_price"),
    ("market_without_quotes", dict(plan=TradePlan(order_type="market", stop_loss=D("2340"))),
     "missing_price"),
    ("leverage_zero", dict(account=usd(leverage=D(0))), "invalid_account_terms"),
    ("negative_commission", dict(costs=Costs(D("-1"))), "invalid_account_terms"),
]
# fmt: on


@pytest.mark.parametrize(
    ("overrides", "code"), [pytest.param(*r[1:], id=r[0]) for r in ERROR_TABLE]
)
def test_calculate_position_bad_input_raises_its_code(overrides, code):
    kwargs: dict[str, Any] = dict(
        account=usd(), spec=make_gold(), plan=pending("2350.00", "2340.00"), risk=percent("1")
    )
    kwargs.update(overrides)

    with pytest.raises(CalculationError) as caught:
        calculate_position(**kwargs)

    assert caught.value.code == code
    assert caught.value.status_code == 422


def test_calculate_position_below_min_reports_min_lot_risk():
    # 1% of 500 = 5.00; the minimum 0.01 lot x 1000 = 10.00 = 2.00% of 500
    with pytest.raises(CalculationError) as caught:
        calculate_position(
            account=usd("500"),
            spec=make_gold(),
            plan=pending("2350.00", "2340.00"),
            risk=percent("1"),
        )

    assert caught.value.code == "below_min_volume"
    assert (
        caught.value.details["min_lot_risk_money"],
        caught.value.details["min_lot_risk_percent"],
    ) == ("10.00", "2.00")


def test_calculate_position_missing_rate_lists_pairs_looked_for():
    spec = make_fx("EURGBP")

    with pytest.raises(CalculationError) as caught:
        calculate_position(
            account=AccountTerms("THB", D("350000")),
            spec=spec,
            plan=pending("0.85000", "0.84800"),
            risk=percent("1"),
            rates={"EURUSD": D("1.08")},
        )

    assert caught.value.code == "missing_conversion_rate"
    assert caught.value.details["looked_for"] == [
        "GBPTHB",
        "THBGBP",
        "GBPUSD",
        "USDGBP",
        "USDTHB",
        "THBUSD",
    ]
