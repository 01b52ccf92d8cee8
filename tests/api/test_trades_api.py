"""Trade management over HTTP on the simulated broker: read what is open, then modify, breakeven,
close, partial close and cancel, on one account and across every target of a dispatch."""

from __future__ import annotations

import time
from decimal import Decimal
from typing import Any

import pytest
from factories import account_body, assert_error, auth_headers, make_account, make_user

MT5_PASSWORD = "Mt5-S3cret!pass"
NETTING, HEDGING = 0, 2
BID, ASK = Decimal("2349.80"), Decimal("2350.00")


@pytest.fixture
def broker(sim_broker):
    broker = sim_broker()
    broker.set_quote("XAUUSD", BID, ASK, freeze=True)
    return broker


@pytest.fixture
def user(app):
    return make_user(app)


@pytest.fixture
def headers(client, user):
    return auth_headers(client, user)


def sim_account(client, headers, broker, margin_mode: int = HEDGING) -> dict[str, Any]:
    body = account_body()
    broker.create_account(int(body["login"]), MT5_PASSWORD, "Sim-Demo", margin_mode=margin_mode)
    return make_account(client, headers, subscribed=True, **body)


def open_trade(client, headers, account_ids: list[int], **fields: Any) -> dict[str, Any]:
    body = {"account_ids": account_ids, "symbol": "XAUUSD", "side": "buy", "volume": "0.10",
            "wait_s": 10, **fields}  # fmt: skip
    response = client.post("/api/send_orders", json=body, headers=headers)
    assert response.status_code == 200, response.get_json()
    return dict(response.get_json())


def positions(client, headers, account_id: int, **query: str) -> list[dict[str, Any]]:
    response = client.get(
        f"/api/accounts/{account_id}/positions", query_string=query, headers=headers
    )
    assert response.status_code == 200, response.get_json()
    return list(response.get_json()["positions"])


def orders(client, headers, account_id: int, **query: str) -> list[dict[str, Any]]:
    response = client.get(f"/api/accounts/{account_id}/orders", query_string=query, headers=headers)
    assert response.status_code == 200, response.get_json()
    return list(response.get_json()["orders"])


def final_view(client, headers, dispatch_id: int, timeout: float = 10.0) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        view = client.get(f"/api/dispatches/{dispatch_id}", headers=headers).get_json()
        if view["status"] not in ("pending", "in_progress") or time.monotonic() > deadline:
            return dict(view)
        time.sleep(0.02)


def act(client, headers, dispatch_id: int, body: dict[str, Any], **extra: str) -> dict[str, Any]:
    """A follow-up on a dispatch, waited for; the action's final view."""
    response = client.post(
        f"/api/dispatches/{dispatch_id}/actions", json=body, headers={**headers, **extra}
    )
    assert response.status_code == 202, response.get_json()
    created = response.get_json()
    assert created["parent_id"] == dispatch_id
    return final_view(client, headers, created["action_id"])


def one_target(view: dict[str, Any]) -> dict[str, Any]:
    (target,) = view["targets"]
    return dict(target)


# --- reading what is open ---------------------------------------------------------------------


def test_positions_carry_time_identifier_and_comment(client, headers, broker):
    account = sim_account(client, headers, broker)
    view = open_trade(client, headers, [account["id"]])
    opened = one_target(view)

    (position,) = positions(client, headers, account["id"])

    assert position["identifier"] == position["ticket"] == opened["position"]
    assert position["comment"] == f"t{view['dispatch_id']}.{account['id']}.0"
    assert position["time"].startswith(opened["executed_at"][:10])


def test_orders_lists_pending_orders_with_their_fields(client, headers, broker):
    account = sim_account(client, headers, broker)
    open_trade(
        client, headers, [account["id"]], order_type="limit", price="2340.00",
        stop_loss="2330.00", take_profits=[{"price": "2360.00", "share_percent": "100"}],
    )  # fmt: skip

    (order,) = orders(client, headers, account["id"])

    assert order["type"] == "buy_limit"
    assert (Decimal(order["price_open"]), Decimal(order["sl"]), Decimal(order["tp"])) == (
        Decimal("2340"), Decimal("2330"), Decimal("2360"),
    )  # fmt: skip
    assert Decimal(order["volume"]) == Decimal("0.10") and order["expiration"] is None
    assert set(order) >= {"ticket", "symbol", "price_stoplimit", "time_setup", "magic", "comment"}
    assert orders(client, headers, account["id"], symbol="EURUSD") == []


def test_orders_of_another_users_account_is_404(client, app, headers, broker):
    account = sim_account(client, headers, broker)
    stranger = auth_headers(client, make_user(app))
    response = client.get(f"/api/accounts/{account['id']}/orders", headers=stranger)
    assert_error(response, 404, "account_not_found")


def test_pending_open_is_placed_not_executed(client, headers, broker):
    account = sim_account(client, headers, broker)
    view = open_trade(client, headers, [account["id"]], order_type="limit", price="2340.00")
    target = one_target(view)
    assert (target["status"], target["retcode"]) == ("placed", 10008)
    assert target["order"] and target["filled_volume"] is None and target["position"] is None
    assert view["status"] == "completed" and view["counts"]["placed"] == 1


# --- one account's position -------------------------------------------------------------------


def test_modify_stop_loss_only_keeps_take_profit(client, headers, broker):
    account = sim_account(client, headers, broker)
    open_trade(client, headers, [account["id"]], stop_loss="2340.00",
               take_profits=[{"price": "2360.00", "share_percent": "100"}])  # fmt: skip
    (position,) = positions(client, headers, account["id"])

    response = client.patch(
        f"/api/accounts/{account['id']}/positions/{position['ticket']}",
        json={"stop_loss": "2345.00"},
        headers=headers,
    )

    assert response.status_code == 200, response.get_json()
    view = response.get_json()
    assert (view["kind"], view["status"], view["parent_id"]) == ("action", "completed", None)
    target = one_target(view)
    assert (target["action"], target["ticket"], target["status"]) == (
        "modify", position["ticket"], "executed",
    )  # fmt: skip
    (after,) = positions(client, headers, account["id"])
    assert (Decimal(after["sl"]), Decimal(after["tp"])) == (Decimal("2345"), Decimal("2360"))


def test_modify_take_profit_null_removes_it(client, headers, broker):
    account = sim_account(client, headers, broker)
    open_trade(client, headers, [account["id"]], stop_loss="2340.00",
               take_profits=[{"price": "2360.00", "share_percent": "100"}])  # fmt: skip
    (position,) = positions(client, headers, account["id"])

    response = client.patch(
        f"/api/accounts/{account['id']}/positions/{position['ticket']}",
        json={"take_profit": None},
        headers=headers,
    )

    assert response.status_code == 200, response.get_json()
    (after,) = positions(client, headers, account["id"])
    assert (Decimal(after["sl"]), Decimal(after["tp"])) == (Decimal("2340"), Decimal(0))


def test_modify_to_the_same_stops_is_executed_without_change(client, headers, broker):
    account = sim_account(client, headers, broker)
    open_trade(client, headers, [account["id"]], stop_loss="2340.00")
    (position,) = positions(client, headers, account["id"])

    response = client.patch(
        f"/api/accounts/{account['id']}/positions/{position['ticket']}",
        json={"stop_loss": "2340.00"},
        headers=headers,
    )

    target = one_target(response.get_json())
    assert (target["status"], target["retcode"]) == ("executed", 10025)


def test_modify_inside_the_stops_level_fails_with_the_brokers_numbers(client, headers, broker):
    account = sim_account(client, headers, broker)
    open_trade(client, headers, [account["id"]])
    (position,) = positions(client, headers, account["id"])

    response = client.patch(  # XAUUSD's stops level is 10 points (0.10) below the Bid 2349.80
        f"/api/accounts/{account['id']}/positions/{position['ticket']}",
        json={"stop_loss": "2349.75"},
        headers=headers,
    )

    view = response.get_json()
    target = one_target(view)
    assert (view["status"], target["status"], target["reason"]) == (
        "failed", "failed", "invalid_stops",
    )  # fmt: skip
    assert target["details"]["stops_level_points"] == "10"
    assert Decimal(target["details"]["bid"]) == BID
    assert Decimal(positions(client, headers, account["id"])[0]["sl"]) == 0


def test_modify_within_the_freeze_level_is_frozen(client, headers, broker):
    account = sim_account(client, headers, broker)
    open_trade(client, headers, [account["id"]], stop_loss="2349.00")
    (position,) = positions(client, headers, account["id"])
    broker.set_levels("XAUUSD", freeze_level=100)  # 1.00: the stop at 2349.00 is 0.80 away

    response = client.patch(
        f"/api/accounts/{account['id']}/positions/{position['ticket']}",
        json={"stop_loss": "2340.00"},
        headers=headers,
    )

    target = one_target(response.get_json())
    assert (target["status"], target["reason"]) == ("failed", "frozen")
    assert target["details"]["freeze_level_points"] == "100"
    assert Decimal(positions(client, headers, account["id"])[0]["sl"]) == Decimal("2349")


@pytest.mark.parametrize(
    ("body", "field"),
    [({}, "_schema"), ({"stop_loss": "-1"}, "stop_loss"), ({"stop_loss": True}, "stop_loss"),
     ({"take_profit": "NaN"}, "take_profit")],
)  # fmt: skip
def test_modify_bad_body_is_422(client, headers, broker, body, field):
    account = sim_account(client, headers, broker)
    response = client.patch(
        f"/api/accounts/{account['id']}/positions/1", json=body, headers=headers
    )
    error = assert_error(response, 422, "validation_error")
    assert field in error["details"]["json"]


def test_modify_unknown_ticket_is_404_position_not_found(client, headers, broker):
    account = sim_account(client, headers, broker)
    response = client.patch(
        f"/api/accounts/{account['id']}/positions/999", json={"stop_loss": "2340"}, headers=headers
    )
    assert_error(response, 404, "position_not_found")


def test_actions_on_another_users_account_are_404(client, app, headers, broker):
    account = sim_account(client, headers, broker)
    open_trade(client, headers, [account["id"]])
    (position,) = positions(client, headers, account["id"])
    stranger = auth_headers(client, make_user(app))
    base = f"/api/accounts/{account['id']}"
    calls = [
        ("patch", f"{base}/positions/{position['ticket']}", {"stop_loss": "2340"}),
        ("post", f"{base}/positions/{position['ticket']}/close", {}),
        ("post", f"{base}/positions/{position['ticket']}/breakeven", {}),
        ("post", f"{base}/positions/close_all", {}),
        ("patch", f"{base}/orders/1", {"price": "2340"}),
        ("delete", f"{base}/orders/1", None),
    ]
    for method, url, body in calls:
        response = getattr(client, method)(url, json=body, headers=stranger)
        assert_error(response, 404, "account_not_found")
    assert len(positions(client, headers, account["id"])) == 1


def test_close_all_of_a_position(client, headers, broker):
    account = sim_account(client, headers, broker)
    open_trade(client, headers, [account["id"]])
    (position,) = positions(client, headers, account["id"])

    response = client.post(
        f"/api/accounts/{account['id']}/positions/{position['ticket']}/close",
        json={},
        headers=headers,
    )

    assert response.status_code == 200, response.get_json()
    target = one_target(response.get_json())
    assert (target["status"], target["action"]) == ("executed", "close")
    assert (Decimal(target["closed_volume"]), Decimal(target["remaining_volume"])) == (
        Decimal("0.10"), Decimal(0),
    )  # fmt: skip
    assert Decimal(target["price"]) == BID  # a buy closes at the Bid
    assert positions(client, headers, account["id"]) == []


@pytest.mark.parametrize(
    ("body", "closed", "left"),
    [({"volume": "0.04"}, "0.04", "0.06"), ({"percent": "50"}, "0.05", "0.05"),
     ({"percent": "33"}, "0.03", "0.07"), ({"volume": "5"}, "0.10", "0")],
)  # fmt: skip
def test_close_part_floors_to_the_step(client, headers, broker, body, closed, left):
    account = sim_account(client, headers, broker)
    open_trade(client, headers, [account["id"]])
    (position,) = positions(client, headers, account["id"])

    response = client.post(
        f"/api/accounts/{account['id']}/positions/{position['ticket']}/close",
        json=body,
        headers=headers,
    )

    target = one_target(response.get_json())
    assert Decimal(target["closed_volume"]) == Decimal(closed)
    assert Decimal(target["remaining_volume"]) == Decimal(left)
    held = sum(Decimal(p["volume"]) for p in positions(client, headers, account["id"]))
    assert held == Decimal(left)


def test_close_below_the_minimum_lot_is_skipped(client, headers, broker):
    account = sim_account(client, headers, broker)
    open_trade(client, headers, [account["id"]], volume="0.01")
    (position,) = positions(client, headers, account["id"])

    response = client.post(
        f"/api/accounts/{account['id']}/positions/{position['ticket']}/close",
        json={"percent": "50"},
        headers=headers,
    )

    view = response.get_json()
    target = one_target(view)
    assert (target["status"], target["reason"]) == ("skipped", "below_min_volume")
    assert target["details"] == {"volume": "0.005", "volume_min": "0.01"}
    assert view["status"] == "completed"  # nothing failed: there was nothing it could close
    assert Decimal(positions(client, headers, account["id"])[0]["volume"]) == Decimal("0.01")


@pytest.mark.parametrize("body", [{"volume": "0.01", "percent": "10"}, {"percent": "101"},
                                  {"volume": "0"}, {"percent": "x"}])  # fmt: skip
def test_close_bad_body_is_422(client, headers, broker, body):
    account = sim_account(client, headers, broker)
    response = client.post(
        f"/api/accounts/{account['id']}/positions/1/close", json=body, headers=headers
    )
    assert_error(response, 422, "validation_error")


def test_close_an_opposite_order_on_hedging_would_hedge_but_close_closes(client, headers, broker):
    account = sim_account(client, headers, broker)
    open_trade(client, headers, [account["id"]])
    open_trade(client, headers, [account["id"]], side="sell")
    assert len(positions(client, headers, account["id"])) == 2  # the hedge the issue saw

    response = client.post(
        f"/api/accounts/{account['id']}/positions/close_all", json={}, headers=headers
    )

    assert response.status_code == 200, response.get_json()
    assert {t["status"] for t in response.get_json()["targets"]} == {"executed"}
    assert positions(client, headers, account["id"]) == []


def test_close_all_filters_by_symbol_and_side(client, headers, broker):
    broker.set_quote("EURUSD", Decimal("1.08000"), Decimal("1.08010"), freeze=True)
    account = sim_account(client, headers, broker)
    open_trade(client, headers, [account["id"]])
    open_trade(client, headers, [account["id"]], side="sell")
    open_trade(client, headers, [account["id"]], symbol="EURUSD")

    response = client.post(
        f"/api/accounts/{account['id']}/positions/close_all",
        json={"symbol": "XAUUSD", "side": "buy"},
        headers=headers,
    )

    assert len(response.get_json()["targets"]) == 1
    left = {(p["symbol"], p["type"]) for p in positions(client, headers, account["id"])}
    assert left == {("XAUUSD", "sell"), ("EURUSD", "buy")}


def test_close_all_with_nothing_open_is_422(client, headers, broker):
    account = sim_account(client, headers, broker)
    response = client.post(
        f"/api/accounts/{account['id']}/positions/close_all", json={}, headers=headers
    )
    assert_error(response, 422, "no_open_trades")


def test_breakeven_moves_stop_loss_to_open_plus_offset(client, headers, broker):
    account = sim_account(client, headers, broker)
    open_trade(client, headers, [account["id"]], stop_loss="2340.00")
    (position,) = positions(client, headers, account["id"])
    broker.set_quote("XAUUSD", Decimal("2355.00"), Decimal("2355.20"), freeze=True)

    response = client.post(
        f"/api/accounts/{account['id']}/positions/{position['ticket']}/breakeven",
        json={"offset_points": 10},
        headers=headers,
    )

    assert one_target(response.get_json())["status"] == "executed"
    (after,) = positions(client, headers, account["id"])
    assert Decimal(after["sl"]) == Decimal(after["price_open"]) + Decimal("0.10")


def test_breakeven_of_a_sell_goes_below_the_open(client, headers, broker):
    account = sim_account(client, headers, broker)
    open_trade(client, headers, [account["id"]], side="sell")
    (position,) = positions(client, headers, account["id"])
    broker.set_quote("XAUUSD", Decimal("2340.00"), Decimal("2340.20"), freeze=True)

    client.post(
        f"/api/accounts/{account['id']}/positions/{position['ticket']}/breakeven",
        json={"offset_points": 20},
        headers=headers,
    )

    (after,) = positions(client, headers, account["id"])
    assert Decimal(after["sl"]) == Decimal(position["price_open"]) - Decimal("0.20")


def test_breakeven_before_the_price_moved_fails_invalid_stops(client, headers, broker):
    account = sim_account(client, headers, broker)
    open_trade(client, headers, [account["id"]])
    (position,) = positions(client, headers, account["id"])

    response = client.post(
        f"/api/accounts/{account['id']}/positions/{position['ticket']}/breakeven",
        json={},
        headers=headers,
    )

    target = one_target(response.get_json())
    assert (target["status"], target["reason"]) == ("failed", "invalid_stops")


def test_breakeven_when_the_stop_already_locks_profit_is_skipped(client, headers, broker):
    account = sim_account(client, headers, broker)
    open_trade(client, headers, [account["id"]])
    (position,) = positions(client, headers, account["id"])
    broker.set_quote("XAUUSD", Decimal("2360.00"), Decimal("2360.20"), freeze=True)
    ticket_url = f"/api/accounts/{account['id']}/positions/{position['ticket']}"
    client.patch(ticket_url, json={"stop_loss": "2355.00"}, headers=headers)

    response = client.post(f"{ticket_url}/breakeven", json={}, headers=headers)

    target = one_target(response.get_json())
    assert (target["status"], target["reason"]) == ("skipped", "stop_already_past_breakeven")
    assert Decimal(positions(client, headers, account["id"])[0]["sl"]) == Decimal("2355")


@pytest.mark.parametrize("body", [{"offset_points": -1}, {"offset_points": 1.5},
                                  {"offset_points": "x"}])  # fmt: skip
def test_breakeven_bad_offset_is_422(client, headers, broker, body):
    account = sim_account(client, headers, broker)
    response = client.post(
        f"/api/accounts/{account['id']}/positions/1/breakeven", json=body, headers=headers
    )
    assert_error(response, 422, "validation_error")


# --- one account's pending orders -------------------------------------------------------------


def _limit(client, headers, account) -> dict[str, Any]:
    open_trade(client, headers, [account["id"]], order_type="limit", price="2340.00")
    (order,) = orders(client, headers, account["id"])
    return order


def test_modify_order_price_and_stops_keeps_what_is_omitted(client, headers, broker):
    account = sim_account(client, headers, broker)
    order = _limit(client, headers, account)

    response = client.patch(
        f"/api/accounts/{account['id']}/orders/{order['ticket']}",
        json={"price": "2338.00", "stop_loss": "2330.00"},
        headers=headers,
    )

    assert one_target(response.get_json())["status"] == "executed"
    (after,) = orders(client, headers, account["id"])
    assert (Decimal(after["price_open"]), Decimal(after["sl"]), Decimal(after["tp"])) == (
        Decimal("2338"), Decimal("2330"), Decimal(0),
    )  # fmt: skip


def test_modify_order_expiration_is_recorded(client, headers, broker):
    account = sim_account(client, headers, broker)
    order = _limit(client, headers, account)

    client.patch(
        f"/api/accounts/{account['id']}/orders/{order['ticket']}",
        json={"expiration": "2030-01-02T03:04:05Z"},
        headers=headers,
    )

    (after,) = orders(client, headers, account["id"])
    assert after["expiration"].startswith("2030-01-02T03:04:05")


def test_cancel_order_removes_it(client, headers, broker):
    account = sim_account(client, headers, broker)
    order = _limit(client, headers, account)

    response = client.delete(
        f"/api/accounts/{account['id']}/orders/{order['ticket']}", headers=headers
    )

    assert response.status_code == 200, response.get_json()
    target = one_target(response.get_json())
    assert (target["action"], target["status"], target["ticket"]) == (
        "cancel", "executed", order["ticket"],
    )  # fmt: skip
    assert orders(client, headers, account["id"]) == []


def test_unknown_order_is_404_order_not_found(client, headers, broker):
    account = sim_account(client, headers, broker)
    for method, body in (("delete", None), ("patch", {"price": "2340"})):
        response = getattr(client, method)(
            f"/api/accounts/{account['id']}/orders/4242", json=body, headers=headers
        )
        assert_error(response, 404, "order_not_found")


def test_modify_order_with_nothing_to_change_is_422(client, headers, broker):
    account = sim_account(client, headers, broker)
    response = client.patch(f"/api/accounts/{account['id']}/orders/1", json={}, headers=headers)
    assert_error(response, 422, "validation_error")


# --- follow-ups to a dispatch -----------------------------------------------------------------

TWO_TPS = [{"price": "2360.00", "share_percent": "50"}, {"price": "2370.00", "share_percent": "50"}]


def test_dispatch_close_reaches_every_position_it_opened(client, headers, broker):
    accounts = [sim_account(client, headers, broker) for _ in range(3)]
    opened = open_trade(client, headers, [a["id"] for a in accounts], take_profits=TWO_TPS)

    view = act(client, headers, opened["dispatch_id"], {"action": "close"})

    assert view["status"] == "completed" and view["total"] == 6
    assert {t["status"] for t in view["targets"]} == {"executed"}
    assert all(positions(client, headers, a["id"]) == [] for a in accounts)
    parent = client.get(f"/api/dispatches/{opened['dispatch_id']}", headers=headers).get_json()
    assert [(a["action_id"], a["action"]) for a in parent["actions"]] == [
        (view["dispatch_id"], "close")
    ]


def test_dispatch_close_of_one_leg_leaves_the_others(client, headers, broker):
    account = sim_account(client, headers, broker)
    opened = open_trade(client, headers, [account["id"]], take_profits=TWO_TPS)

    view = act(client, headers, opened["dispatch_id"], {"action": "close", "legs": [1]})

    assert view["total"] == 1 and view["targets"][0]["leg"] == 0
    (left,) = positions(client, headers, account["id"])
    assert Decimal(left["tp"]) == Decimal("2370")


def test_dispatch_modify_of_one_leg_moves_only_that_leg(client, headers, broker):
    account = sim_account(client, headers, broker)
    opened = open_trade(client, headers, [account["id"]], take_profits=TWO_TPS)

    act(client, headers, opened["dispatch_id"],
        {"action": "modify", "take_profit": "2380.00", "legs": [2]})  # fmt: skip

    tps = sorted(Decimal(p["tp"]) for p in positions(client, headers, account["id"]))
    assert tps == [Decimal("2360"), Decimal("2380")]


def test_dispatch_breakeven_reaches_every_follower(client, headers, broker):
    accounts = [sim_account(client, headers, broker) for _ in range(2)]
    opened = open_trade(client, headers, [a["id"] for a in accounts], stop_loss="2340.00")
    broker.set_quote("XAUUSD", Decimal("2356.00"), Decimal("2356.20"), freeze=True)

    view = act(client, headers, opened["dispatch_id"], {"action": "breakeven", "offset_points": 5})

    assert {t["status"] for t in view["targets"]} == {"executed"}
    for account in accounts:
        (position,) = positions(client, headers, account["id"])
        assert Decimal(position["sl"]) == Decimal(position["price_open"]) + Decimal("0.05")


def test_dispatch_close_half_closes_half_of_each(client, headers, broker):
    accounts = [sim_account(client, headers, broker) for _ in range(2)]
    opened = open_trade(client, headers, [a["id"] for a in accounts], volume="0.20")

    act(client, headers, opened["dispatch_id"], {"action": "close", "percent": "50"})

    for account in accounts:
        (position,) = positions(client, headers, account["id"])
        assert Decimal(position["volume"]) == Decimal("0.10")


def test_dispatch_close_of_a_position_closed_meanwhile_is_skipped(client, headers, broker):
    account = sim_account(client, headers, broker)
    opened = open_trade(client, headers, [account["id"]], stop_loss="2340.00")
    broker.set_quote("XAUUSD", Decimal("2339.00"), Decimal("2339.20"), freeze=True)  # SL hit
    assert positions(client, headers, account["id"]) == []

    view = act(client, headers, opened["dispatch_id"], {"action": "close"})

    target = one_target(view)
    assert (target["status"], target["reason"]) == ("skipped", "position_closed")
    assert view["status"] == "completed"


def test_cancel_pending_removes_the_dispatchs_orders(client, headers, broker):
    accounts = [sim_account(client, headers, broker) for _ in range(2)]
    opened = open_trade(
        client, headers, [a["id"] for a in accounts], order_type="limit", price="2340.00"
    )

    view = act(client, headers, opened["dispatch_id"], {"action": "cancel_pending"})

    assert {t["status"] for t in view["targets"]} == {"executed"}
    assert all(orders(client, headers, a["id"]) == [] for a in accounts)


def test_cancel_pending_of_an_order_that_filled_is_skipped_and_then_closable(
    client, headers, broker
):
    account = sim_account(client, headers, broker)
    opened = open_trade(client, headers, [account["id"]], order_type="limit", price="2340.00")
    broker.set_quote("XAUUSD", Decimal("2339.80"), Decimal("2340.00"), freeze=True)  # fills
    (position,) = positions(client, headers, account["id"])

    cancelled = one_target(
        act(client, headers, opened["dispatch_id"], {"action": "cancel_pending"})
    )
    closed = one_target(act(client, headers, opened["dispatch_id"], {"action": "close"}))

    assert (cancelled["status"], cancelled["reason"]) == ("skipped", "order_filled")
    assert cancelled["position"] == position["ticket"]
    assert (closed["status"], closed["position"]) == ("executed", position["ticket"])
    assert positions(client, headers, account["id"]) == []


def test_dispatch_close_of_an_unfilled_pending_order_is_skipped(client, headers, broker):
    account = sim_account(client, headers, broker)
    opened = open_trade(client, headers, [account["id"]], order_type="limit", price="2340.00")

    target = one_target(act(client, headers, opened["dispatch_id"], {"action": "close"}))

    assert (target["status"], target["reason"]) == ("skipped", "order_not_filled")
    assert len(orders(client, headers, account["id"])) == 1


def test_follow_ups_reach_accounts_that_stopped_copying(client, app, headers, broker):
    from extensions import db
    from models import MT5Account

    account = sim_account(client, headers, broker)
    opened = open_trade(client, headers, [account["id"]])
    row = db.session.get(MT5Account, account["id"])
    row.copy_enabled = False
    row.owner.allow_broadcast = False
    db.session.commit()

    view = act(client, headers, opened["dispatch_id"], {"action": "close"})

    assert one_target(view)["status"] == "executed"
    assert positions(client, headers, account["id"]) == []


@pytest.mark.parametrize(
    "body",
    [{"action": "flatten"}, {"action": "modify"},
     {"action": "close", "volume": "1", "percent": "5"},
     {"action": "cancel_pending", "stop_loss": "2340"}, {"action": "breakeven", "percent": "5"},
     {"action": "close", "legs": []}, {"action": "close", "legs": [0]}, {}],
)  # fmt: skip
def test_dispatch_action_bad_body_is_422(client, headers, broker, body):
    account = sim_account(client, headers, broker)
    opened = open_trade(client, headers, [account["id"]])
    response = client.post(
        f"/api/dispatches/{opened['dispatch_id']}/actions", json=body, headers=headers
    )
    assert_error(response, 422, "validation_error")


def test_dispatch_action_on_legs_it_does_not_have_is_422(client, headers, broker):
    account = sim_account(client, headers, broker)
    opened = open_trade(client, headers, [account["id"]], take_profits=TWO_TPS)
    response = client.post(
        f"/api/dispatches/{opened['dispatch_id']}/actions",
        json={"action": "close", "legs": [3]},
        headers=headers,
    )
    assert_error(response, 422, "invalid_legs")


def test_dispatch_action_on_an_action_is_422(client, headers, broker):
    account = sim_account(client, headers, broker)
    opened = open_trade(client, headers, [account["id"]])
    close = act(client, headers, opened["dispatch_id"], {"action": "close", "percent": "50"})
    response = client.post(
        f"/api/dispatches/{close['dispatch_id']}/actions", json={"action": "close"}, headers=headers
    )
    assert_error(response, 422, "not_an_open")


def test_dispatch_action_with_nothing_open_is_422(client, headers, broker):
    account = sim_account(client, headers, broker)
    broker.set_market_open("XAUUSD", False)
    body = {"account_ids": [account["id"]], "symbol": "XAUUSD", "side": "buy", "volume": "0.1",
            "wait_s": 10}  # fmt: skip
    failed = client.post("/api/send_orders", json=body, headers=headers).get_json()
    assert failed["status"] == "failed"
    response = client.post(
        f"/api/dispatches/{failed['dispatch_id']}/actions",
        json={"action": "close"},
        headers=headers,
    )
    assert_error(response, 422, "no_open_trades")


def test_dispatch_action_of_another_users_dispatch_is_404(client, app, headers, broker):
    account = sim_account(client, headers, broker)
    opened = open_trade(client, headers, [account["id"]])
    stranger = auth_headers(client, make_user(app))
    response = client.post(
        f"/api/dispatches/{opened['dispatch_id']}/actions", json={"action": "close"},
        headers=stranger,
    )  # fmt: skip
    assert_error(response, 404, "dispatch_not_found")


def test_dispatch_action_idempotency_key(client, headers, broker):
    account = sim_account(client, headers, broker)
    opened = open_trade(client, headers, [account["id"]], volume="0.20")
    url = f"/api/dispatches/{opened['dispatch_id']}/actions"
    key = {"Idempotency-Key": "close-half-1"}

    first = client.post(url, json={"action": "close", "percent": "50"}, headers={**headers, **key})
    again = client.post(url, json={"action": "close", "percent": "50"}, headers={**headers, **key})
    other = client.post(url, json={"action": "close", "percent": "25"}, headers={**headers, **key})

    assert first.get_json()["action_id"] == again.get_json()["action_id"]
    assert_error(other, 422, "idempotency_key_reused")
    final_view(client, headers, first.get_json()["action_id"])
    assert Decimal(positions(client, headers, account["id"])[0]["volume"]) == Decimal("0.10")


def test_account_action_idempotency_key_closes_once(client, headers, broker):
    account = sim_account(client, headers, broker)
    open_trade(client, headers, [account["id"]], volume="0.20")
    (position,) = positions(client, headers, account["id"])
    url = f"/api/accounts/{account['id']}/positions/{position['ticket']}/close"
    key = {**headers, "Idempotency-Key": "close-0.05"}

    first = client.post(url, json={"volume": "0.05"}, headers=key).get_json()
    again = client.post(url, json={"volume": "0.05"}, headers=key).get_json()

    assert first["dispatch_id"] == again["dispatch_id"]
    assert Decimal(positions(client, headers, account["id"])[0]["volume"]) == Decimal("0.15")


# --- netting accounts -------------------------------------------------------------------------


def test_netting_legs_merge_and_close_by_leg_volume(client, headers, broker):
    account = sim_account(client, headers, broker, NETTING)
    opened = open_trade(client, headers, [account["id"]], take_profits=TWO_TPS)
    (merged,) = positions(client, headers, account["id"])
    assert Decimal(merged["volume"]) == Decimal("0.10")

    first = act(client, headers, opened["dispatch_id"], {"action": "close", "legs": [1]})

    assert Decimal(one_target(first)["closed_volume"]) == Decimal("0.05")
    (left,) = positions(client, headers, account["id"])
    assert (Decimal(left["volume"]), left["type"]) == (Decimal("0.05"), "buy")


def test_netting_close_all_never_reverses_the_position(client, headers, broker):
    account = sim_account(client, headers, broker, NETTING)
    opened = open_trade(client, headers, [account["id"]], take_profits=TWO_TPS)
    act(client, headers, opened["dispatch_id"], {"action": "close", "legs": [1]})

    view = act(client, headers, opened["dispatch_id"], {"action": "close"})

    by_leg = {t["leg"]: t for t in view["targets"]}
    assert (by_leg[0]["status"], by_leg[0]["reason"]) == ("skipped", "leg_already_closed")
    assert Decimal(by_leg[1]["closed_volume"]) == Decimal("0.05")
    assert positions(client, headers, account["id"]) == []  # closed, not turned into a sell


def test_netting_close_after_a_manual_partial_close_takes_no_more_than_is_held(
    client, headers, broker
):
    account = sim_account(client, headers, broker, NETTING)
    opened = open_trade(client, headers, [account["id"]], take_profits=TWO_TPS)
    (merged,) = positions(client, headers, account["id"])
    client.post(
        f"/api/accounts/{account['id']}/positions/{merged['ticket']}/close",
        json={"volume": "0.08"},
        headers=headers,
    )

    view = act(client, headers, opened["dispatch_id"], {"action": "close"})

    closed = sum(Decimal(t["closed_volume"] or 0) for t in view["targets"])
    assert closed == Decimal("0.02")
    assert positions(client, headers, account["id"]) == []


# --- broadcasts -------------------------------------------------------------------------------


@pytest.fixture
def admin_headers(client, app):
    return auth_headers(client, make_user(app, role="super_admin"))


def _broadcast(client, admin_headers, account_ids: list[int]) -> int:
    response = client.post(
        "/api/broadcast_orders",
        json={"targets": {"account_ids": account_ids},
              "order": {"symbol": "XAUUSD", "side": "buy", "volume": "0.10"}},
        headers=admin_headers,
    )  # fmt: skip
    assert response.status_code == 202, response.get_json()
    broadcast_id = int(response.get_json()["broadcast_id"])
    _broadcast_final(client, admin_headers, broadcast_id)
    return broadcast_id


def _broadcast_final(client, admin_headers, broadcast_id: int) -> dict[str, Any]:
    deadline = time.monotonic() + 10
    while True:
        view = client.get(
            f"/api/broadcast_status?broadcast_id={broadcast_id}", headers=admin_headers
        ).get_json()
        if view["status"] not in ("pending", "in_progress") or time.monotonic() > deadline:
            return dict(view)
        time.sleep(0.02)


def test_broadcast_close_reaches_every_follower_and_is_a_broadcast_to_read(
    client, app, headers, admin_headers, broker
):
    accounts = [sim_account(client, headers, broker) for _ in range(3)]
    broadcast_id = _broadcast(client, admin_headers, [a["id"] for a in accounts])

    response = client.post(
        f"/api/broadcasts/{broadcast_id}/actions", json={"action": "close"}, headers=admin_headers
    )

    assert response.status_code == 202, response.get_json()
    created = response.get_json()
    assert (created["parent_id"], created["targets"]) == (broadcast_id, 3)
    view = _broadcast_final(client, admin_headers, created["action_id"])
    assert (view["kind"], view["status"], view["parent_id"]) == (
        "action",
        "completed",
        broadcast_id,
    )
    assert all(positions(client, headers, a["id"]) == [] for a in accounts)
    events = client.get(f"/api/broadcasts/{created['action_id']}/events", headers=admin_headers)
    assert b"event: done" in events.data


def test_broadcast_actions_are_for_super_admins(client, headers, admin_headers, broker):
    account = sim_account(client, headers, broker)
    broadcast_id = _broadcast(client, admin_headers, [account["id"]])
    response = client.post(
        f"/api/broadcasts/{broadcast_id}/actions", json={"action": "close"}, headers=headers
    )
    assert_error(response, 403, "forbidden")


def test_broadcast_actions_of_a_send_orders_dispatch_is_404(client, headers, admin_headers, broker):
    account = sim_account(client, headers, broker)
    opened = open_trade(client, headers, [account["id"]])
    response = client.post(
        f"/api/broadcasts/{opened['dispatch_id']}/actions", json={"action": "close"},
        headers=admin_headers,
    )  # fmt: skip
    assert_error(response, 404, "dispatch_not_found")
