"""POST /api/calculate over HTTP: fields, the worked gold example, every error code, live sizing."""

from __future__ import annotations

import copy
from decimal import Decimal
from typing import Any

import pytest
from factories import assert_error, auth_headers, make_account, make_user, sim_broker_of

RESPONSE_FIELDS = {
    "lots", "risk_money", "actual_risk_money", "actual_risk_percent", "effective_entry", "side",
    "sl_distance_price", "sl_distance_points", "sl_distance_ticks", "tick_value", "loss_per_lot",
    "margin_required", "max_lots_by_margin", "orders", "total_reward_money", "reward_to_risk",
    "flags", "warnings",
}  # fmt: skip
LEG_FIELDS = {"take_profit", "share_percent", "lots", "risk_money", "reward_money",
              "reward_to_risk", "sent"}  # fmt: skip
GOLD_SPEC = {
    "name": "XAUGOLD", "calc_mode": "cfdleverage", "digits": 2, "point": "0.01",
    "tick_size": "0.01", "tick_value": "1", "contract_size": "100", "base_currency": "XAU",
    "profit_currency": "USD", "margin_currency": "USD", "volume_min": "0.01",
    "volume_step": "0.01", "volume_max": "100", "margin_rate": "1",
}  # fmt: skip


@pytest.fixture
def headers(client, app):
    return auth_headers(client, make_user(app))


def gold_request(**overrides: Any) -> dict[str, Any]:
    """The worked example: 10,000 USD, 1 %, buy XAUUSD at 2350.00 with the stop at 2340.00."""
    body: dict[str, Any] = {
        "account": {"currency": "USD", "balance": "10000", "leverage": "100"},
        "symbol": "XAUUSD",
        "risk": {"percent": "1"},
        "trade": {"order_type": "pending", "entry": "2350.00", "stop_loss": "2340.00"},
    }
    body.update(overrides)
    return body


def with_trade(**trade: Any) -> dict[str, Any]:
    body = gold_request()
    body["trade"] = {**body["trade"], **trade}
    return body


def calculate(client, headers, body):
    return client.post("/api/calculate", json=body, headers=headers)


# --- the answer -------------------------------------------------------------------------------


def test_calculate_gold_worked_example_returns_ten_hundredths_lot(client, headers):
    response = calculate(client, headers, gold_request())

    assert response.status_code == 200, response.get_json()
    body = response.get_json()
    assert body["lots"] == "0.10"
    assert body["risk_money"] == "100.00"
    assert body["actual_risk_money"] == "100.00"
    assert body["actual_risk_percent"] == "1.00"
    assert body["side"] == "buy"
    assert body["sl_distance_points"] == "1000"
    assert body["tick_value"] == "1.00"
    assert body["loss_per_lot"] == "1000.00"
    assert body["margin_required"] == "235.00"


def test_calculate_with_take_profits_returns_every_field(client, headers):
    body = with_trade(take_profits=[{"price": "2360.00", "share_percent": 50},
                                    {"price": "2370.00", "share_percent": 50}])  # fmt: skip
    body["account"]["free_margin"] = "10000"

    response = calculate(client, headers, body)

    assert response.status_code == 200, response.get_json()
    result = response.get_json()
    assert set(result) == RESPONSE_FIELDS
    assert [set(leg) for leg in result["orders"]] == [LEG_FIELDS, LEG_FIELDS]
    assert [leg["lots"] for leg in result["orders"]] == ["0.05", "0.05"]
    assert result["total_reward_money"] == "150.00"
    assert result["reward_to_risk"] == "1.50"
    assert result["max_lots_by_margin"] == "4.25"
    assert all(isinstance(value, str) for key, value in result.items()
               if key not in {"orders", "flags", "warnings"})  # fmt: skip


def test_calculate_json_numbers_and_strings_give_same_answer(client, headers):
    as_numbers = gold_request(
        account={"currency": "USD", "balance": 10000, "leverage": 100},
        risk={"percent": 1},
        trade={"order_type": "pending", "entry": Decimal("2350.00"), "stop_loss": 2340.0},
    )

    by_numbers = calculate(client, headers, as_numbers)
    by_strings = calculate(client, headers, gold_request())

    assert by_numbers.status_code == 200, by_numbers.get_json()
    assert by_numbers.get_json() == by_strings.get_json()


def test_calculate_symbol_object_is_used_as_given(client, headers):
    response = calculate(client, headers, gold_request(symbol=GOLD_SPEC))

    assert response.status_code == 200, response.get_json()
    assert response.get_json()["lots"] == "0.10"


def test_calculate_catalog_spec_round_trips_as_symbol_object(client, headers):
    spec = client.get("/api/symbols/XAUUSD", headers=headers).get_json()

    response = calculate(client, headers, gold_request(symbol=spec))

    assert response.status_code == 200, response.get_json()
    assert response.get_json()["lots"] == "0.10"


def test_calculate_thb_account_with_rate_converts_tick_value(client, headers):
    body = gold_request(account={"currency": "THB", "balance": "365000"}, rates={"USDTHB": "36.50"})

    result = calculate(client, headers, body).get_json()

    assert result["tick_value"] == "36.50"
    assert result["lots"] == "0.10"
    assert result["warnings"] == []


def test_calculate_thb_account_without_rates_warns_of_reference_quotes(client, headers):
    body = gold_request(account={"currency": "THB", "balance": "365000"})

    result = calculate(client, headers, body).get_json()

    assert result["lots"] == "0.10"
    assert any("reference quotes" in warning for warning in result["warnings"])


def test_calculate_market_order_sizes_at_ask(client, headers):
    body = with_trade(order_type="market", entry=None, bid="2349.80", ask="2350.00")
    del body["trade"]["entry"]

    result = calculate(client, headers, body).get_json()

    assert result["effective_entry"] == "2350.00"
    assert result["lots"] == "0.10"


def test_calculate_below_min_with_raise_policy_flags_raise(client, headers):
    body = gold_request(risk={"amount": "5"}, policy={"below_min": "raise"})

    result = calculate(client, headers, body).get_json()

    assert result["lots"] == "0.01"
    assert result["flags"] == ["raised_to_volume_min"]


# --- calculation errors (422 with a specific code) --------------------------------------------

CALCULATION_ERRORS = [
    ("sl_equals_entry", with_trade(stop_loss="2350.00")),
    ("sl_wrong_side", with_trade(side="sell")),
    ("missing_conversion_rate", gold_request(account={"currency": "THB", "balance": "365000"},
                                             rates={"EURUSD": "1.08"})),
    ("unknown_symbol", gold_request(symbol="NOSUCH")),
    ("invalid_symbol_spec", gold_request(symbol={**GOLD_SPEC, "volume_min": "1000"})),
    ("stop_too_close", with_trade(stop_loss="2349.95")),
    ("price_off_tick_grid", with_trade(entry="2350.005")),
    ("take_profit_wrong_side", with_trade(take_profits=[{"price": "2345", "share_percent": 100}])),
    ("shares_do_not_sum_to_100", with_trade(take_profits=[{"price": "2360", "share_percent": 50},
                                                          {"price": "2370", "share_percent": 30}])),
    ("invalid_risk", gold_request(risk={"percent": "150"})),
    ("missing_account_value", gold_request(risk_base="equity")),
    ("missing_price", with_trade(order_type="pending", entry=None)),
    ("insufficient_margin", gold_request(account={"currency": "USD", "balance": "10000",
                                                  "free_margin": "1"},
                                         policy={"cap_by_margin": True})),
    ("invalid_account_terms", gold_request(account={"currency": "USD", "balance": "10000",
                                                    "leverage": "0"})),
]  # fmt: skip


def _strip_none(body: dict[str, Any]) -> dict[str, Any]:
    trade = {k: v for k, v in body["trade"].items() if v is not None}
    return {**body, "trade": trade}


@pytest.mark.parametrize(
    ("code", "body"), CALCULATION_ERRORS, ids=[c for c, _ in CALCULATION_ERRORS]
)
def test_calculate_unanswerable_request_returns_422_code(client, headers, code, body):
    response = calculate(client, headers, _strip_none(copy.deepcopy(body)))

    assert_error(response, 422, code)


def test_calculate_below_min_returns_422_with_min_lot_risk(client, headers):
    response = calculate(client, headers, gold_request(risk={"amount": "5"}))

    error = assert_error(response, 422, "below_min_volume")
    assert error["details"]["min_lot_risk_money"] == "10.00"
    assert error["details"]["min_lot_risk_percent"] == "0.10"


def test_calculate_unknown_symbol_lists_candidates(client, headers):
    response = calculate(client, headers, gold_request(symbol="XAUEUR"))

    error = assert_error(response, 422, "unknown_symbol")
    assert "XAUUSD" in error["details"]["candidates"]


# --- prices off the symbol's tick grid (422 price_off_tick_grid) -------------------------------

OFF_GRID = [
    ("entry", with_trade(entry="2350.005"), ["2350.00", "2350.01"]),
    ("stop_loss", with_trade(stop_loss="2340.0001"), ["2340.00", "2340.01"]),
    ("take_profits[1].price", with_trade(take_profits=[{"price": "2360.00", "share_percent": 50},
                                                       {"price": "2370.005",
                                                        "share_percent": 50}]),
     ["2370.00", "2370.01"]),
    ("bid", with_trade(order_type="market", entry=None, bid="2349.805", ask="2350.00"),
     ["2349.80", "2349.81"]),
    ("ask", with_trade(order_type="market", entry=None, bid="2349.80", ask="2350.001"),
     ["2350.00", "2350.01"]),
    ("entry", {**with_trade(entry="2350.02"), "symbol": {**GOLD_SPEC, "tick_size": "0.05"}},
     ["2350.00", "2350.05"]),
]  # fmt: skip


@pytest.mark.parametrize(
    ("field", "body", "nearest"),
    OFF_GRID,
    ids=["entry", "stop_loss", "take_profit", "bid", "ask", "given_spec_tick_0.05"],
)
def test_calculate_price_off_tick_grid_returns_422_with_nearest(
    client, headers, field, body, nearest
):
    response = calculate(client, headers, _strip_none(copy.deepcopy(body)))

    error = assert_error(response, 422, "price_off_tick_grid")
    assert error["details"]["field"] == field
    assert error["details"]["nearest"] == nearest


def test_calculate_with_account_id_price_off_terminal_tick_grid_returns_422(client, headers):
    account = make_account(client, headers)

    response = calculate(client, headers, _live_request(account["id"], entry="2400.005",
                                                        stop_loss="2390.00"))  # fmt: skip

    error = assert_error(response, 422, "price_off_tick_grid")
    assert error["details"] == {
        "field": "entry",
        "price": "2400.005",
        "tick_size": "0.01",
        "nearest": ["2400.00", "2400.01"],
    }


# --- schema validation (422 validation_error) and JSON strictness ------------------------------

INVALID_BODIES = [
    ("no_account", {k: v for k, v in gold_request().items() if k != "account"}),
    ("account_and_account_id", gold_request(account_id=1)),
    ("percent_and_amount", gold_request(risk={"percent": "1", "amount": "100"})),
    ("no_risk", gold_request(risk={})),
    ("bad_side", with_trade(side="long")),
    ("bad_order_type", with_trade(order_type="limit")),
    ("bad_risk_base", gold_request(risk_base="margin")),
    ("bad_below_min", gold_request(policy={"below_min": "round"})),
    ("bad_calc_mode", gold_request(symbol={**GOLD_SPEC, "calc_mode": "crypto"})),
    ("boolean_balance", gold_request(account={"currency": "USD", "balance": True})),
    ("boolean_percent", gold_request(risk={"percent": True})),
    ("nan_string", with_trade(stop_loss="NaN")),
    ("infinity_string", with_trade(entry="Infinity")),
    ("huge_string", with_trade(entry="1e400")),
    ("negative_stop", with_trade(stop_loss="-1")),
    ("string_cap_flag", gold_request(policy={"cap_by_margin": "yes"})),
    ("bad_rate_pair", gold_request(rates={"usdthb": "36.5"})),
    ("unknown_field", gold_request(leverage="100")),
]


@pytest.mark.parametrize(("case", "body"), INVALID_BODIES, ids=[c for c, _ in INVALID_BODIES])
def test_calculate_invalid_body_returns_422_validation_error(client, headers, case, body):
    response = calculate(client, headers, body)

    assert_error(response, 422, "validation_error")


def test_calculate_nan_literal_returns_400_invalid_json(client, headers):
    raw = '{"account": {"currency": "USD", "balance": NaN}}'

    response = client.post("/api/calculate", data=raw, headers=headers,
                           content_type="application/json")  # fmt: skip

    assert_error(response, 400, "invalid_json")


def test_calculate_huge_json_number_returns_422(client, headers):
    raw = (
        '{"account": {"currency": "USD", "balance": 1e400}, "symbol": "XAUUSD", '
        '"risk": {"percent": 1}, "trade": {"entry": 2350, "stop_loss": 2340}}'
    )

    response = client.post("/api/calculate", data=raw, headers=headers,
                           content_type="application/json")  # fmt: skip

    assert_error(response, 422, "validation_error")


# --- access -----------------------------------------------------------------------------------


def test_calculate_without_credentials_returns_401(client):
    response = client.post("/api/calculate", json=gold_request())

    assert_error(response, 401, "unauthorized")


def test_calculate_other_users_account_returns_404(client, app, headers):
    stranger = auth_headers(client, make_user(app))
    theirs = make_account(client, stranger)

    response = calculate(client, headers, _live_request(theirs["id"]))

    assert_error(response, 404, "account_not_found")


def test_calculate_missing_account_returns_404(client, headers):
    response = calculate(client, headers, _live_request(999_999))

    assert_error(response, 404, "account_not_found")


# --- live sizing through the account's (simulated) terminal -----------------------------------


def _live_request(account_id: int, **trade: Any) -> dict[str, Any]:
    return {
        "account_id": account_id,
        "symbol": "XAUUSD",
        "risk": {"percent": "1"},
        "trade": {"stop_loss": "2340.00", **trade},
    }


def _set_gold_quote(app, bid: str, ask: str) -> None:
    from extensions import mt5_gateway

    sim_broker_of(mt5_gateway()).set_quote("XAUUSD", Decimal(bid), Decimal(ask), freeze=True)


def test_calculate_with_account_id_sizes_from_live_balance_and_tick(client, app, headers):
    account = make_account(client, headers)
    assert calculate(client, headers, _live_request(account["id"])).status_code == 200  # login
    _set_gold_quote(app, "2349.80", "2350.00")

    response = calculate(client, headers, _live_request(account["id"]))

    assert response.status_code == 200, response.get_json()
    result = response.get_json()
    assert result["risk_money"] == "100.00"  # 1 % of the simulator's default 10,000 USD
    assert result["effective_entry"] == "2350.00"  # the terminal's Ask
    assert result["side"] == "buy"
    assert result["tick_value"] == "1.00"
    assert result["lots"] == "0.10"
    assert result["max_lots_by_margin"] is not None  # the live free margin was used


def test_calculate_with_account_id_and_sell_uses_bid(client, app, headers):
    account = make_account(client, headers)
    calculate(client, headers, _live_request(account["id"]))
    _set_gold_quote(app, "2350.00", "2350.20")

    response = calculate(client, headers, _live_request(account["id"], stop_loss="2360.00"))

    result = response.get_json()
    assert result["side"] == "sell"
    assert result["effective_entry"] == "2350.00"
    assert result["lots"] == "0.10"


def test_calculate_with_account_id_unknown_symbol_returns_422(client, headers):
    account = make_account(client, headers)
    body = {**_live_request(account["id"]), "symbol": "NOSUCH"}

    response = calculate(client, headers, body)

    assert_error(response, 422, "unknown_symbol")


def test_calculate_with_account_id_pending_uses_given_entry(client, headers):
    account = make_account(client, headers)

    response = calculate(client, headers, _live_request(account["id"], entry="2400.00",
                                                        stop_loss="2390.00"))  # fmt: skip

    assert response.status_code == 200, response.get_json()
    assert response.get_json()["effective_entry"] == "2400.00"
    assert response.get_json()["lots"] == "0.10"


def test_openapi_calculate_lists_every_error_code(client):
    spec = client.get("/openapi.json").get_json()

    description = spec["paths"]["/api/calculate"]["post"]["description"]

    for code, _ in CALCULATION_ERRORS:
        assert f"`{code}`" in description
    assert "`below_min_volume`" in description and "`validation_error`" in description
