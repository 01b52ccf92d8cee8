"""POST /api/send_orders and GET /api/dispatches/<id> over HTTP, on the simulated broker."""

from __future__ import annotations

import time
from decimal import Decimal
from typing import Any

import pytest
from factories import assert_error, auth_headers, make_account, make_user, sim_broker_of

TARGET_KEYS = {
    "account_id",
    "leg",
    "symbol",
    "volume",
    "status",
    "retcode",
    "order",
    "deal",
    "position",
    "price",
    "error",
}


@pytest.fixture
def latency_ms() -> int:
    return 0


@pytest.fixture
def app_config(app_config: dict[str, Any], latency_ms: int) -> dict[str, Any]:
    """The shared config with the simulated terminals' round trip (parametrise latency_ms)."""
    return {**app_config, "MT5_SIM_LATENCY_MS": latency_ms}


@pytest.fixture
def user(app):
    return make_user(app)


@pytest.fixture
def headers(client, user):
    return auth_headers(client, user)


@pytest.fixture
def account(client, headers):
    return make_account(client, headers)


def order_body(account_ids: list[int], **fields: Any) -> dict[str, Any]:
    """A market buy of 0.10 lots; a field given as None is left out."""
    body = {"account_ids": account_ids, "symbol": "XAUUSD", "side": "buy", "volume": "0.10"}
    body["wait_s"] = 10
    body.update(fields)
    return {k: v for k, v in body.items() if v is not None}


def send(client, headers, body: dict[str, Any], **extra_headers: str):
    return client.post("/api/send_orders", json=body, headers={**headers, **extra_headers})


def freeze_gold(app, bid: str = "2349.80", ask: str = "2350.00") -> None:
    sim_broker_of(app.extensions["mt5_gateway"]).set_quote(
        "XAUUSD", Decimal(bid), Decimal(ask), freeze=True
    )


def positions(client, headers, account_id: int) -> list[dict[str, Any]]:
    response = client.get(f"/api/accounts/{account_id}/positions", headers=headers)
    assert response.status_code == 200, response.get_json()
    return list(response.get_json()["positions"])


def ledger_rows() -> int:
    from sqlalchemy import func, select

    from extensions import db
    from models import BroadcastQueue

    db.session.rollback()
    return int(db.session.scalar(select(func.count(BroadcastQueue.id))) or 0)


def poll_dispatch(client, headers, dispatch_id: int, timeout: float = 10.0) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        response = client.get(f"/api/dispatches/{dispatch_id}", headers=headers)
        assert response.status_code == 200, response.get_json()
        view = response.get_json()
        if view["counts"]["pending"] + view["counts"]["in_flight"] == 0:
            return dict(view)
        assert time.monotonic() < deadline, view
        time.sleep(0.05)


# --- success -----------------------------------------------------------------------------------


def test_send_orders_market_buy_returns_200_with_every_target(client, headers):
    first = make_account(client, headers)
    second = make_account(client, headers)

    response = send(client, headers, order_body([first["id"], second["id"]]))

    assert response.status_code == 200, response.get_json()
    view = response.get_json()
    assert {"dispatch_id", "status", "counts", "targets"} <= set(view)
    assert view["status"] == "completed"
    assert view["counts"]["executed"] == 2
    assert [t["account_id"] for t in view["targets"]] == [first["id"], second["id"]]
    for target in view["targets"]:
        assert set(target) >= TARGET_KEYS
        assert (target["leg"], target["symbol"], target["volume"]) == (0, "XAUUSD", "0.10")
        assert (target["status"], target["retcode"], target["error"]) == ("executed", 10009, None)
        assert target["order"] and target["deal"] and target["price"]
    held = positions(client, headers, first["id"]) + positions(client, headers, second["id"])
    assert sorted(p["ticket"] for p in held) == sorted(t["order"] for t in view["targets"])


def test_send_orders_risk_percent_sizes_like_calculate(client, app, headers, account):
    freeze_gold(app)
    calculation = client.post(
        "/api/calculate",
        json={
            "account_id": account["id"],
            "symbol": "XAUUSD",
            "risk": {"percent": "1"},
            "trade": {"stop_loss": "2340.00"},
        },
        headers=headers,
    )
    assert calculation.status_code == 200, calculation.get_json()

    response = send(
        client,
        headers,
        order_body([account["id"]], volume=None, risk={"percent": "1"}, stop_loss="2340.00"),
    )

    assert response.status_code == 200, response.get_json()
    target = response.get_json()["targets"][0]
    assert target["status"] == "executed"
    # 1 % of the default 10,000 USD over a 10.00 stop at Ask 2350.00: 100 / (1000 * 10) lots.
    assert target["volume"] == calculation.get_json()["lots"] == "0.10"


def test_send_orders_two_take_profits_creates_one_row_per_leg(client, app, headers, account):
    freeze_gold(app)
    take_profits = [
        {"price": "2360.00", "share_percent": 50},
        {"price": "2370.00", "share_percent": 50},
    ]

    response = send(
        client, headers, order_body([account["id"]], volume="0.30", take_profits=take_profits)
    )

    assert response.status_code == 200, response.get_json()
    targets = response.get_json()["targets"]
    assert [t["leg"] for t in targets] == [0, 1]
    assert all(t["status"] == "executed" for t in targets)
    assert sum(Decimal(t["volume"]) for t in targets) == Decimal("0.30")
    assert len(positions(client, headers, account["id"])) == 2


def test_send_orders_one_take_profit_needs_no_share(client, app, headers, account):
    freeze_gold(app)

    response = send(
        client, headers, order_body([account["id"]], take_profits=[{"price": "2360.00"}])
    )

    assert response.status_code == 200, response.get_json()
    [target] = response.get_json()["targets"]
    assert (target["status"], target["volume"]) == ("executed", "0.10")
    assert Decimal(positions(client, headers, account["id"])[0]["tp"]) == Decimal("2360.00")


def test_send_orders_take_profits_without_shares_split_equally_last_takes_the_rest(
    client, app, headers, account
):
    freeze_gold(app)
    take_profits = [{"price": "2360.00"}, {"price": "2370.00"}, {"price": "2380.00"}]

    response = send(
        client, headers, order_body([account["id"]], volume="0.30", take_profits=take_profits)
    )

    assert response.status_code == 200, response.get_json()
    targets = response.get_json()["targets"]
    assert [(t["leg"], t["status"], t["volume"]) for t in targets] == [
        (0, "executed", "0.10"), (1, "executed", "0.10"), (2, "executed", "0.10"),
    ]  # fmt: skip


# --- warnings: what sizing changed of what was asked ---------------------------------------------


def target_of(response, leg: int = 0) -> dict[str, Any]:
    assert response.status_code == 200, response.get_json()
    return next(t for t in response.get_json()["targets"] if t["leg"] == leg)


def test_send_orders_volume_off_the_step_warns_with_both_figures(client, app, headers, account):
    freeze_gold(app)

    target = target_of(send(client, headers, order_body([account["id"]], volume="0.015")))

    assert (target["status"], target["volume"]) == ("executed", "0.01")
    assert target["warnings"] == [
        "0.01 lots are traded instead of the 0.015 asked (volume step 0.01)."
    ]


def test_send_orders_volume_within_rounding_does_not_warn(client, app, headers, account):
    freeze_gold(app)

    target = target_of(send(client, headers, order_body([account["id"]], volume="0.012")))

    assert (target["status"], target["volume"], target["warnings"]) == ("executed", "0.01", [])


def test_send_orders_risk_the_step_cannot_buy_warns_with_both_figures(client, app, headers):
    from factories import account_body

    freeze_gold(app)
    body = account_body()
    sim_broker_of(app.extensions["mt5_gateway"]).create_account(
        int(body["login"]), body["password"], body["server"], balance=Decimal(1500)
    )
    account = make_account(client, headers, **body)

    response = send(
        client,
        headers,
        order_body([account["id"]], volume=None, risk={"percent": "1"}, stop_loss="2340.00"),
    )

    target = target_of(response)
    assert (target["status"], target["volume"]) == ("executed", "0.01")
    assert target["warnings"] == [
        "The trade risks 10.00 USD (0.67 %) instead of the 15.00 USD (1.00 %) asked: the risk "
        "buys 0.015 lots, 0.01 are traded (volume step 0.01)."
    ]


def test_send_orders_leg_too_small_is_skipped_with_a_warning_and_the_dispatch_completes(
    client, app, headers, account
):
    freeze_gold(app)
    take_profits = [{"price": p} for p in ("2360.00", "2370.00", "2380.00")]

    response = send(
        client, headers, order_body([account["id"]], volume="0.02", take_profits=take_profits)
    )

    view = response.get_json()
    assert view["status"] == "completed", view
    assert [(t["leg"], t["status"], t["volume"]) for t in view["targets"]] == [
        (0, "executed", "0.01"), (1, "executed", "0.01"), (2, "skipped", "0"),
    ]  # fmt: skip
    first, dropped = view["targets"][0], view["targets"][2]
    assert first["warnings"] == [
        "The take-profit shares 33.33/33.33/33.34 % became 50.00/50.00/0.00 % (0.01/0.01/0.00 of "
        "0.02 lots): the volume step 0.01 and the minimum lot do not split the position as asked."
    ]
    assert dropped["reason"] == "leg_dropped_below_min"
    assert dropped["warnings"] == [
        "Take profit(s) 3 fall below the minimum lot; not sent (their volume went to the other "
        "take profits)."
    ]
    assert len(positions(client, headers, account["id"])) == 2


def test_send_orders_netting_leg_too_small_is_skipped_with_a_warning(client, app, headers):
    from factories import account_body

    freeze_gold(app)
    body = account_body()
    sim_broker_of(app.extensions["mt5_gateway"]).create_account(
        int(body["login"]),
        body["password"],
        body["server"],
        margin_mode=0,  # netting
    )
    account = make_account(client, headers, **body)
    take_profits = [{"price": p} for p in ("2360.00", "2370.00", "2380.00")]

    response = send(
        client, headers, order_body([account["id"]], volume="0.02", take_profits=take_profits)
    )

    view = response.get_json()
    assert view["status"] == "completed", view
    dropped = view["targets"][2]
    assert (dropped["status"], dropped["reason"]) == ("skipped", "leg_dropped_below_min")
    assert dropped["warnings"] == [
        "Take profit(s) 3 fall below the minimum lot; not sent (their volume went to the other "
        "take profits)."
    ]
    assert view["targets"][0]["warnings"][0].startswith("The take-profit shares 33.33/33.33/33.34")


def test_send_orders_buy_limit_is_placed_not_executed(client, app, headers, account):
    freeze_gold(app)

    response = send(
        client,
        headers,
        order_body([account["id"]], order_type="limit", price="2300.00", stop_loss="2290.00"),
    )

    assert response.status_code == 200, response.get_json()
    target = response.get_json()["targets"][0]
    assert (target["status"], target["retcode"]) == ("placed", 10008)
    assert target["order"] and target["filled_volume"] is None and target["position"] is None
    assert positions(client, headers, account["id"]) == []


@pytest.mark.parametrize("latency_ms", [100])
def test_send_orders_wait_zero_returns_202_then_dispatch_turns_final(client, headers, account):
    response = send(client, headers, order_body([account["id"]], wait_s=0))

    assert response.status_code == 202, response.get_json()
    dispatch_id = response.get_json()["dispatch_id"]
    view = poll_dispatch(client, headers, dispatch_id)
    assert view["dispatch_id"] == dispatch_id
    assert view["status"] == "completed"
    assert view["targets"][0]["status"] == "executed"


# --- who may send --------------------------------------------------------------------------


def test_send_orders_other_users_account_returns_404(client, app, account):
    stranger = auth_headers(client, make_user(app))

    response = send(client, stranger, order_body([account["id"]]))

    assert_error(response, 404, "account_not_found")
    assert ledger_rows() == 0


def test_send_orders_without_token_returns_401(client):
    response = client.post("/api/send_orders", json=order_body([1]))

    assert_error(response, 401, "unauthorized")


def test_send_orders_inactive_account_returns_422(client, headers, account):
    patched = client.patch(
        f"/api/accounts/{account['id']}", json={"is_active": False}, headers=headers
    )
    assert patched.status_code == 200, patched.get_json()

    response = send(client, headers, order_body([account["id"]]))

    assert_error(response, 422, "account_inactive")


def test_get_dispatch_of_another_user_returns_404(client, app, headers, account):
    dispatch_id = send(client, headers, order_body([account["id"]])).get_json()["dispatch_id"]
    stranger = auth_headers(client, make_user(app))

    response = client.get(f"/api/dispatches/{dispatch_id}", headers=stranger)

    assert_error(response, 404, "dispatch_not_found")


def test_get_dispatch_unknown_id_returns_404(client, headers):
    response = client.get("/api/dispatches/999999", headers=headers)

    assert_error(response, 404, "dispatch_not_found")


# --- order rules (422) ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("fields", "code"),
    [
        ({"volume": None}, "volume_or_risk_required"),
        ({"risk": {"percent": "1"}, "stop_loss": "2000.00"}, "volume_or_risk_required"),
        ({"volume": None, "risk": {"percent": "1"}}, "stop_loss_required"),
        ({"order_type": "limit"}, "price_required"),
        (
            {"take_profits": [{"price": "2500", "share_percent": 50}]},
            "shares_do_not_sum_to_100",
        ),
        (
            {"take_profits": [{"price": "2500", "share_percent": 100}, {"price": "2510"}]},
            "shares_do_not_sum_to_100",
        ),
        (
            {"order_type": "limit", "price": "2300.00", "stop_loss": "2310.00"},
            "sl_wrong_side",
        ),
        (
            {
                "order_type": "limit",
                "price": "2300.00",
                "take_profits": [{"price": "2290.00", "share_percent": 100}],
            },
            "take_profit_wrong_side",
        ),
    ],
    ids=[
        "neither_volume_nor_risk",
        "both_volume_and_risk",
        "risk_without_stop_loss",
        "limit_without_price",
        "shares_not_100",
        "shares_leave_nothing_for_the_omitted",
        "limit_buy_stop_above_price",
        "limit_buy_take_profit_below_price",
    ],
)
def test_send_orders_breaking_an_order_rule_returns_422(client, headers, account, fields, code):
    response = send(client, headers, order_body([account["id"]], **fields))

    assert_error(response, 422, code)
    assert ledger_rows() == 0


@pytest.mark.parametrize(
    ("fields", "field", "nearest"),
    [
        ({"order_type": "limit", "price": "2300.005"}, "price", ["2300.00", "2300.01"]),
        ({"price": "2350.0001"}, "price", ["2350.00", "2350.01"]),
        ({"stop_loss": "2290.005"}, "stop_loss", ["2290.00", "2290.01"]),
        (
            {"take_profits": [{"price": "2400.00", "share_percent": 50},
                              {"price": "2410.999", "share_percent": 50}]},
            "take_profits[1].price",
            ["2410.99", "2411.00"],
        ),
    ],
    ids=["limit_price", "market_reference_price", "stop_loss", "second_take_profit"],
)  # fmt: skip
def test_send_orders_price_off_tick_grid_returns_422_and_creates_nothing(
    client, headers, account, fields, field, nearest
):
    response = send(client, headers, order_body([account["id"]], **fields))

    error = assert_error(response, 422, "price_off_tick_grid")
    details = error["details"]
    assert (details["field"], details["tick_size"], details["nearest"]) == (field, "0.01", nearest)
    assert ledger_rows() == 0


def test_send_orders_symbol_outside_catalog_is_checked_by_the_executor(client, app, headers):
    """No catalog spec at request time: the row fails on the terminal's spec, nothing is sent."""
    account = make_account(client, headers, symbol_map={"GOLDSPOT": "XAUUSD"})

    response = send(client, headers, order_body([account["id"]], symbol="GOLDSPOT",
                                                 order_type="limit", price="2300.005"))  # fmt: skip

    assert response.status_code == 200, response.get_json()
    (target,) = response.get_json()["targets"]
    assert target["status"] == "failed" and target["order"] is None
    assert target["error"].startswith("price_off_tick_grid: ")


@pytest.mark.parametrize(
    "fields",
    [
        {"side": "long"},
        {"volume": "-0.10"},
        {"volume": True},
        {"account_ids": []},
        {"leverage": 100},
    ],
    ids=["bad_side", "negative_volume", "true_as_volume", "empty_account_ids", "unknown_field"],
)
def test_send_orders_invalid_body_returns_422_validation_error(client, headers, account, fields):
    response = send(client, headers, {**order_body([account["id"]]), **fields})

    assert_error(response, 422, "validation_error")
    assert ledger_rows() == 0


# --- Idempotency-Key -----------------------------------------------------------------------


def test_send_orders_same_key_and_body_returns_same_dispatch(client, headers, account):
    body = order_body([account["id"]])
    first = send(client, headers, body, **{"Idempotency-Key": "order-1"})
    rows_after_first = ledger_rows()

    second = send(client, headers, body, **{"Idempotency-Key": "order-1"})

    assert first.status_code == second.status_code == 200, second.get_json()
    assert second.get_json()["dispatch_id"] == first.get_json()["dispatch_id"]
    assert ledger_rows() == rows_after_first == 1
    assert len(positions(client, headers, account["id"])) == 1


def test_send_orders_same_key_other_body_returns_422(client, headers, account):
    send(client, headers, order_body([account["id"]]), **{"Idempotency-Key": "order-2"})

    response = send(
        client,
        headers,
        order_body([account["id"]], volume="0.20"),
        **{"Idempotency-Key": "order-2"},
    )

    assert_error(response, 422, "idempotency_key_reused")
    assert ledger_rows() == 1


def test_send_orders_overlong_idempotency_key_returns_400(client, headers, account):
    response = send(client, headers, order_body([account["id"]]), **{"Idempotency-Key": "k" * 300})

    assert_error(response, 400, "invalid_idempotency_key")
    assert ledger_rows() == 0


def test_send_orders_same_key_by_two_users_creates_two_dispatches(client, app, headers, account):
    other = auth_headers(client, make_user(app))
    other_account = make_account(client, other)

    mine = send(client, headers, order_body([account["id"]]), **{"Idempotency-Key": "shared"})
    theirs = send(client, other, order_body([other_account["id"]]), **{"Idempotency-Key": "shared"})

    assert mine.status_code == theirs.status_code == 200, theirs.get_json()
    assert mine.get_json()["dispatch_id"] != theirs.get_json()["dispatch_id"]
    assert ledger_rows() == 2


def test_send_orders_same_key_with_other_wait_returns_same_dispatch(client, app):
    headers = auth_headers(client, make_user(app))
    account = make_account(client, headers)
    body = {"account_ids": [account["id"]], "symbol": "XAUUSD", "side": "buy", "volume": "0.01"}
    keyed = {**headers, "Idempotency-Key": "retry-with-longer-wait"}
    first = client.post("/api/send_orders", json={**body, "wait_s": 5}, headers=keyed)
    second = client.post("/api/send_orders", json={**body, "wait_s": 10}, headers=keyed)
    assert first.status_code == second.status_code == 200
    assert first.get_json()["dispatch_id"] == second.get_json()["dispatch_id"]


def test_send_orders_off_catalog_grid_to_real_terminal_is_left_to_the_broker(client, app):
    # A real broker may quote gold to 0.001: only its live spec (checked by the executor before
    # sending) can refuse 2350.005, so the request itself is accepted.
    app.config["MT5_ALLOWED_TERMINALS"] = ["rpyc://127.0.0.1:1"]
    headers = auth_headers(client, make_user(app))
    account = make_account(client, headers, terminal="rpyc://127.0.0.1:1")
    body = {
        "account_ids": [account["id"]],
        "symbol": "XAUUSD",
        "side": "buy",
        "order_type": "limit",
        "price": "2300.005",
        "volume": "0.01",
        "wait_s": 0,
    }
    response = client.post("/api/send_orders", json=body, headers=headers)
    assert response.status_code == 202, response.get_json()
