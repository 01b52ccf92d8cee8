"""Each sizing step on its own: risk money, side, conversion, tick value, volume, margin."""

from __future__ import annotations

from decimal import Decimal as D
from typing import Any

import pytest
from spec_factories import make_gold

from errors import CalculationError
from services.calculation.deviations import beyond_rounding
from services.calculation_service import (
    AccountTerms,
    Policy,
    RiskSpec,
    TradePlan,
    apply_below_min_policy,
    clamp_to_volume_max,
    complete_shares,
    conversion_factor,
    floor_to_step,
    loss_per_lot,
    margin_required,
    resolve_side_and_entry,
    risk_money,
    split_across_take_profits,
    tick_value_in_account,
)
from services.mt5.dto import (
    CALC_MODE_CFD,
    CALC_MODE_CFDINDEX,
    CALC_MODE_FOREX,
    CALC_MODE_FOREX_NO_LEVERAGE,
    CALC_MODE_FUTURES,
    SymbolSpec,
    calc_mode_name,
    calc_mode_number,
)


def make_spec(**overrides: Any) -> SymbolSpec:
    """XAUUSD, 100 oz, tick 0.01, steps of 0.01 from 0.01 to 100; tick value from quotes."""
    return make_gold(**{"tick_value": D("0"), **overrides})


def make_fx_spec(name: str, **overrides: Any) -> SymbolSpec:
    fields: dict[str, Any] = dict(
        name=name,
        calc_mode=CALC_MODE_FOREX,
        contract_size=D("100000"),
        base_currency=name[:3],
        profit_currency=name[3:],
        margin_currency=name[:3],
    )
    fields.update(overrides)
    return make_spec(**fields)


# --- risk money ---------------------------------------------------------------------------


# fmt: off
RISK_MONEY_CASES = [
    (D("10000"), RiskSpec(percent=D("1")), 2, "100.00"),
    (D("1234.56"), RiskSpec(percent=D("1")), 2, "12.34"),     # 12.3456 floored, not 12.35
    (D("999.99"), RiskSpec(percent=D("0.5")), 2, "4.99"),     # 4.99995 floored
    (D("1000000"), RiskSpec(percent=D("1")), 0, "10000"),     # JPY-style 0-digit currency
    (D("10000"), RiskSpec(amount=D("75.129")), 2, "75.12"),   # fixed amount floored too
]
# fmt: on


@pytest.mark.parametrize(("base", "risk", "digits", "expected"), RISK_MONEY_CASES)
def test_risk_money_percent_or_amount_floors_to_account_digits(base, risk, digits, expected):
    assert str(risk_money(base, risk, digits, currency="USD")) == expected


def test_risk_money_below_one_cent_raises_invalid_risk():
    with pytest.raises(CalculationError) as caught:
        risk_money(D("0.50"), RiskSpec(percent=D("1")), 2, currency="USC")  # 0.005 floors to 0.00

    assert caught.value.code == "invalid_risk"
    assert "0.00 USC" in caught.value.message


# --- side and entry -----------------------------------------------------------------------

# fmt: off
SIDE_AND_ENTRY_CASES = [
    (TradePlan(entry=D("2350"), stop_loss=D("2340")), "buy", "2350"),
    (TradePlan(entry=D("2350"), stop_loss=D("2360")), "sell", "2350"),
    (TradePlan(side="buy", entry=D("2350"), stop_loss=D("2340")), "buy", "2350"),
    (TradePlan(order_type="market", bid=D("2349.8"), ask=D("2350.2"), stop_loss=D("2340")),
     "buy", "2350.2"),
    (TradePlan(order_type="market", bid=D("2349.8"), ask=D("2350.2"), stop_loss=D("2360")),
     "sell", "2349.8"),
    (TradePlan(order_type="market", side="sell", bid=D("2349.8"), ask=D("2350.2"),
               stop_loss=D("2360")), "sell", "2349.8"),
]
# fmt: on


@pytest.mark.parametrize(("plan", "side", "entry"), SIDE_AND_ENTRY_CASES)
def test_resolve_side_and_entry_plan_gives_side_and_executable_price(plan, side, entry):
    resolved = resolve_side_and_entry(plan)

    assert (resolved.side, str(resolved.entry)) == (side, entry)


def test_resolve_side_and_entry_market_without_ask_falls_back_to_entry_with_warning():
    plan = TradePlan(order_type="market", entry=D("2350"), stop_loss=D("2340"))

    resolved = resolve_side_and_entry(plan)

    assert (resolved.side, resolved.entry) == ("buy", D("2350"))
    assert resolved.warnings


# fmt: off
BAD_STOP_CASES = [
    (TradePlan(entry=D("2350"), stop_loss=D("2350")), "sl_equals_entry"),
    (TradePlan(side="buy", entry=D("2350"), stop_loss=D("2360")), "sl_wrong_side"),
    (TradePlan(side="sell", entry=D("2350"), stop_loss=D("2340")), "sl_wrong_side"),
    (TradePlan(order_type="market", side="buy", bid=D("2349.8"), ask=D("2350.2"),
               stop_loss=D("2350.2")), "sl_equals_entry"),
    (TradePlan(order_type="market", bid=D("2349.8"), ask=D("2350.2"), stop_loss=D("2350")),
     "sl_wrong_side"),  # inside the spread, side not stated
    (TradePlan(order_type="market", bid=D("2350"), ask=D("2350"), stop_loss=D("2350")),
     "sl_equals_entry"),
]
# fmt: on


@pytest.mark.parametrize(("plan", "code"), BAD_STOP_CASES)
def test_resolve_side_and_entry_bad_stop_raises_code(plan, code):
    with pytest.raises(CalculationError) as caught:
        resolve_side_and_entry(plan)

    assert caught.value.code == code


# --- conversion ---------------------------------------------------------------------------

RATES = {"USDTHB": D("36.50"), "USDJPY": D("150"), "GBPUSD": D("1.25"), "EURUSD": D("1.0850")}


# fmt: off
CONVERSION_CASES = [
    ("USD", "USD", D("1")),
    ("USD", "THB", D("36.50")),               # direct USDTHB
    ("THB", "USD", D(1) / D("36.50")),        # inverse of USDTHB
    ("JPY", "USD", D(1) / D("150")),          # inverse of USDJPY
    ("GBP", "THB", D("1.25") * D("36.50")),   # cross: GBPUSD x USDTHB = 45.625
    ("JPY", "THB", D("36.50") / D("150")),    # cross: (1/USDJPY) x USDTHB
    ("USD", "USC", D("100")),                 # 1 USD = 100 US cents
    ("USC", "USD", D("0.01")),
    ("JPY", "USC", D("100") / D("150")),      # 1/150 USD = 0.667 cents
    ("USC", "THB", D("0.3650")),              # a cent is 0.365 THB
    ("usd", "thb", D("36.50")),               # case does not matter
]
# fmt: on


@pytest.mark.parametrize(("profit", "account", "expected"), CONVERSION_CASES)
def test_conversion_factor_pair_gives_units_of_account_currency(profit, account, expected):
    assert conversion_factor(profit, account, RATES) == expected


def test_conversion_factor_reads_lowercase_rate_keys():
    assert conversion_factor("USD", "THB", {"usdthb": D("36.5")}) == D("36.5")


def test_conversion_factor_no_quote_raises_missing_rate_never_one():
    with pytest.raises(CalculationError) as caught:
        conversion_factor("JPY", "USD", {"EURUSD": D("1.08")})

    assert caught.value.code == "missing_conversion_rate"
    assert caught.value.details["looked_for"] == ["JPYUSD", "USDJPY"]


# --- tick value and loss per lot ----------------------------------------------------------

# fmt: off
TICK_VALUE_CASES = [
    # given values are already in account currency: tick_value_loss first, then tick_value
    (make_spec(tick_value=D("1"), tick_value_loss=D("1.02")), "USD", None, D("1.02")),
    (make_spec(tick_value=D("1")), "THB", None, D("1")),
    # derived: 0.01 x 100 x 36.50 = 36.50 THB
    (make_spec(), "THB", None, D("36.50")),
    # JPY pair: 0.001 x 100000 = 100 JPY per tick per lot = 100/150 USD via USDJPY
    (make_fx_spec("GBPJPY", tick_size=D("0.001"), point=D("0.001")), "USD", None,
     D("0.001") * D("100000") / D("150")),
    # USDJPY is its own conversion pair: converts at the close price, 100 / 149.5
    (make_fx_spec("USDJPY", tick_size=D("0.001"), point=D("0.001")), "USD", D("149.5"),
     D("0.001") * D("100000") / D("149.5")),
    # USDJPY on THB: JPY -> USD at the close price (own pair), then USD -> THB at USDTHB
    (make_fx_spec("USDJPY", tick_size=D("0.001"), point=D("0.001")), "THB", D("149.5"),
     D("0.001") * D("100000") / D("149.5") * D("36.50")),
    # futures: the given tick value, whatever tick_size x contract_size would say
    (make_spec(calc_mode=CALC_MODE_FUTURES, tick_value=D("12.50")), "USD", None, D("12.50")),
]
# fmt: on


@pytest.mark.parametrize(("spec", "account", "close", "expected"), TICK_VALUE_CASES)
def test_tick_value_in_account_spec_gives_money_per_tick_per_lot(spec, account, close, expected):
    assert tick_value_in_account(spec, account, RATES, close_price=close) == expected


def test_tick_value_in_account_profit_side_prefers_tick_value_profit():
    spec = make_spec(tick_value=D("1"), tick_value_profit=D("0.98"), tick_value_loss=D("1.02"))

    assert tick_value_in_account(spec, "USD", {}, for_profit=True) == D("0.98")


def test_loss_per_lot_adds_round_turn_commission():
    # 1000 ticks x 1.00 + 2 x 3.50
    assert loss_per_lot(D("1000"), D("1.00"), D("3.50")) == D("1007.00")


# --- volume -------------------------------------------------------------------------------

# fmt: off
FLOOR_TO_STEP_CASES = [
    (D("0.29"), D("0.01"), "0.29"),       # float: 0.29 / 0.01 = 28.999999999999996 -> 0.28
    (D("0.57"), D("0.01"), "0.57"),       # float: 56.99999999999999 -> 0.56
    (D("0.2999"), D("0.01"), "0.29"),
    (D("1.15"), D("0.05"), "1.15"),       # float: 22.999999999999996 -> 1.10
    (D("1.19"), D("0.05"), "1.15"),
    (D("0.10"), D("0.03"), "0.09"),       # steps count from 0: 3 x 0.03, not 0.05 + k x 0.03
    (D("0.7"), D("0.1"), "0.7"),          # float: 0.7 / 0.1 = 6.999999999999999 -> 0.6
    (D("2.999"), D("1"), "2"),
    (D("0.009"), D("0.01"), "0.00"),
    (D("1234.5678"), D("0.001"), "1234.567"),
]
# fmt: on


@pytest.mark.parametrize(("volume", "step", "expected"), FLOOR_TO_STEP_CASES)
def test_floor_to_step_volume_gives_exact_multiple(volume, step, expected):
    assert str(floor_to_step(volume, step)) == expected


def test_clamp_to_volume_max_above_max_returns_max_and_flag():
    assert clamp_to_volume_max(D("12.34"), make_spec(volume_max=D("10"))) == (
        D("10"),
        ["clamped_to_volume_max"],
    )


def test_clamp_to_volume_max_within_max_is_unchanged():
    assert clamp_to_volume_max(D("9.99"), make_spec(volume_max=D("10"))) == (D("9.99"), [])


def test_apply_below_min_policy_reject_reports_min_lot_risk():
    # minimum 0.10 lot x 1007 per lot = 100.70 = 2.01% of 5000 (2.014)
    with pytest.raises(CalculationError) as caught:
        apply_below_min_policy(
            D("0.04"),
            make_spec(volume_min=D("0.10")),
            Policy(),
            loss_per_lot=D("1007"),
            risk_base=D("5000"),
            money_digits=2,
            currency="USC",
        )

    assert caught.value.code == "below_min_volume"
    assert caught.value.message.endswith("the minimum would risk 100.70 USC.")
    assert caught.value.details["currency"] == "USC"
    assert caught.value.details["min_lot_risk_money"] == "100.70"
    assert caught.value.details["min_lot_risk_percent"] == "2.01"


def test_apply_below_min_policy_raise_returns_min_and_flag():
    lots, flags = apply_below_min_policy(
        D("0.04"),
        make_spec(volume_min=D("0.10")),
        Policy(below_min="raise"),
        loss_per_lot=D("1007"),
        risk_base=D("5000"),
        money_digits=2,
        currency="USD",
    )

    assert (lots, flags) == (D("0.10"), ["raised_to_volume_min"])


# fmt: off
SPLIT_CASES = [
    (D("0.10"), ["34", "33", "33"], make_spec(), ["0.04", "0.03", "0.03"]),
    (D("0.58"), ["50", "50"], make_spec(), ["0.29", "0.29"]),
    (D("0.01"), ["34", "33", "33"], make_spec(), ["0.01", "0", "0"]),   # all floor to 0: TP1
    (D("0.02"), ["34", "33", "33"], make_spec(), ["0.01", "0.01", "0"]),
    # volume_min 0.10 > step: 0.45 / 0.05 -> TP2 dropped; 0.05 cannot revive it -> TP1
    (D("0.50"), ["90", "10"], make_spec(volume_min=D("0.10")), ["0.50", "0"]),
    # 0.25 x 3: 0.08 each < 0.10 -> all dropped; passes: TP1 0.10, TP2 0.10, then TP1 +0.01 ...
    (D("0.25"), ["34", "33", "33"], make_spec(volume_min=D("0.10")), ["0.13", "0.12", "0"]),
    (D("3"), ["50", "25", "25"], make_spec(volume_min=D("1"), volume_step=D("1")),
     ["2", "1", "0"]),  # 1.5 -> 1, 0.75 -> 0, 0.75 -> 0; remainder 2: TP1 +1, TP2 revived at 1
]
# fmt: on


@pytest.mark.parametrize(("lots", "shares", "spec", "expected"), SPLIT_CASES)
def test_split_across_take_profits_shares_follow_remainder_rule(lots, shares, spec, expected):
    legs = split_across_take_profits(lots, [D(s) for s in shares], spec)

    assert [D(x) for x in expected] == legs
    assert sum(legs) == lots


# --- margin per calc mode -----------------------------------------------------------------

USD_100 = AccountTerms("USD", D("10000"), leverage=D("100"))
THB_100 = AccountTerms("THB", D("350000"), leverage=D("100"))

# fmt: off
MARGIN_TABLE = [
    # FOREX: 1 x 100000 / 100 = 1000 EUR, x EURUSD entry 1.085 = 1085.00 USD
    ("forex_eurusd_usd", make_fx_spec("EURUSD"), D("1"), D("1.085"), USD_100, {}, "1085.000"),
    # FOREX, base is the account currency: 0.29 x 100000 / 100 = 290 USD
    ("forex_usdjpy_usd", make_fx_spec("USDJPY"), D("0.29"), D("150"), USD_100, {}, "290"),
    # FOREX, margin in GBP via GBPUSD: 0.15 x 1000 x 1.25 = 187.50
    ("forex_gbpjpy_usd", make_fx_spec("GBPJPY"), D("0.15"), D("190"), USD_100, RATES, "187.5"),
    # FOREX_NO_LEVERAGE: 0.1 x 100000 = 10000 EUR x 1.085 = 10850 USD
    ("forex_no_leverage", make_fx_spec("EURUSD", calc_mode=CALC_MODE_FOREX_NO_LEVERAGE),
     D("0.1"), D("1.085"), USD_100, {}, "10850"),
    # CFD: 10 x 1 x 190 x 0.2 = 380 USD
    ("cfd_stock", make_spec(calc_mode=CALC_MODE_CFD, contract_size=D(1), margin_rate=D("0.2")),
     D("10"), D("190"), USD_100, {}, "380"),
    # CFDINDEX: 1 x 2 x 5000 x (0.25 x 2 / 0.25) x 0.01 = 200 USD (tick price in profit ccy)
    ("cfdindex", make_spec(calc_mode=CALC_MODE_CFDINDEX, contract_size=D(2), tick_size=D("0.25"),
                           tick_value=D("9.99"), margin_rate=D("0.01")),
     D("1"), D("5000"), USD_100, {}, "200"),
    # CFDLEVERAGE gold: 0.10 x 100 x 2350 / 100 = 235 USD
    ("cfdleverage_gold", make_spec(), D("0.10"), D("2350"), USD_100, {}, "235"),
    # CFDLEVERAGE gold on THB: 235 USD x 36.50 = 8577.50 THB
    ("cfdleverage_gold_thb", make_spec(), D("0.10"), D("2350"), THB_100, RATES, "8577.5"),
    # gold labelled with margin currency XAU by the broker: CFD result is still in USD
    ("cfdleverage_gold_xau_label", make_spec(margin_currency="XAU"), D("0.10"), D("2350"),
     USD_100, {}, "235"),
    # FUTURES: 2 x 5000 initial x 1 = 10000 USD
    ("futures", make_spec(calc_mode=CALC_MODE_FUTURES, margin_initial=D("5000")),
     D("2"), D("2350"), USD_100, {}, "10000"),
    # FOREX EURGBP on THB: 0.38 x 1000 EUR x (EURUSD 1.085 x USDTHB 36.50) = 15048.95 THB
    ("forex_eurgbp_thb", make_fx_spec("EURGBP"), D("0.38"), D("0.85"), THB_100, RATES,
     "15048.95"),
]
# fmt: on


@pytest.mark.parametrize(
    ("spec", "lots", "price", "account", "rates", "expected"),
    [pytest.param(*row[1:], id=row[0]) for row in MARGIN_TABLE],
)
def test_margin_required_calc_mode_gives_account_currency_margin(
    spec, lots, price, account, rates, expected
):
    assert margin_required(spec, lots, price, account, rates) == D(expected)


def test_margin_required_without_quote_raises_missing_rate():
    with pytest.raises(CalculationError) as caught:
        margin_required(make_spec(), D("0.10"), D("2350"), THB_100, {})

    assert caught.value.code == "missing_conversion_rate"


# --- calc mode spellings --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("spelling", "number"),
    [
        ("forex", CALC_MODE_FOREX),
        ("FOREX_NO_LEVERAGE", CALC_MODE_FOREX_NO_LEVERAGE),
        ("SYMBOL_CALC_MODE_CFDINDEX", CALC_MODE_CFDINDEX),
        (" symbol_calc_mode_cfd ", CALC_MODE_CFD),
        ("Futures", CALC_MODE_FUTURES),
        (4, 4),
        ("4", 4),
    ],
)
def test_calc_mode_number_reads_every_spelling(spelling, number):
    assert calc_mode_number(spelling) == number


@pytest.mark.parametrize("spelling", ["", "cfd leverage", "EXCH_STOCKS", 32, 6, -1, False])
def test_calc_mode_number_refuses_modes_we_do_not_size(spelling):
    with pytest.raises(ValueError, match="calc mode"):
        calc_mode_number(spelling)


# --- take-profit shares ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("shares", "filled"),
    [
        ([], []),
        ([None], ["100"]),
        ([None, None], ["50", "50"]),
        ([None, None, None], ["33.33", "33.33", "33.34"]),
        ([D("50"), None, None], ["50", "25", "25"]),
        ([None, D("30")], ["70", "30"]),
        ([D("50"), D("30"), D("20")], ["50", "30", "20"]),
        ([D("99.99"), None], ["99.99", "0.01"]),
    ],
)
def test_complete_shares_fills_omitted_ones_equally_last_takes_the_rest(shares, filled):
    completed = complete_shares(shares)

    assert completed == [D(f) for f in filled]
    assert not shares or sum(completed) == 100


@pytest.mark.parametrize(
    "shares",
    [
        [D("50"), D("30")],
        [D("60"), D("50")],
        [D("100"), None],
        [D("50"), D("50"), None],
        [D("99.995"), None],
        [D("0"), None],
    ],
)
def test_complete_shares_refuses_shares_that_cannot_add_up_to_100(shares):
    with pytest.raises(CalculationError) as caught:
        complete_shares(shares)

    assert caught.value.code == "shares_do_not_sum_to_100"
    assert caught.value.details["shares"] == [None if s is None else str(s) for s in shares]


# --- what counts as a change beyond rounding to the step ---------------------------------------


@pytest.mark.parametrize(
    ("asked", "traded", "step", "beyond"),
    [
        ("0.015", "0.01", "0.01", True),  # half-up would give 0.02
        ("0.0149", "0.01", "0.01", False),
        ("0.012", "0.01", "0.01", False),
        ("0.02", "0.02", "0.01", False),
        ("0.30", "0.02", "0.01", True),  # capped
        ("0.03", "0.04", "0.01", True),  # a split handed a leg one step more
        ("2.4", "2", "1", False),
        ("2.5", "2", "1", True),
    ],
)
def test_beyond_rounding_is_anything_half_up_rounding_to_the_step_would_not_give(
    asked, traded, step, beyond
):
    assert beyond_rounding(D(asked), D(traded), D(step)) is beyond


@pytest.mark.parametrize(
    ("number", "name"),
    [(4, "cfdleverage"), (5, "forex_no_leverage"), (32, "exch_stocks"), (99, "99")],
)
def test_calc_mode_name_spells_every_mt5_mode_our_way(number, name):
    assert calc_mode_name(number) == name
