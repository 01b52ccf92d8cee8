"""Server-side automation end to end: quotes driven on the simulated broker, the price watcher
polled, its actions executed through the ledger — breakeven after TP1, trailing stops, virtual
take profits on netting accounts, a rule removed in time, and a restart between trigger and
action."""

from __future__ import annotations

import time
from decimal import Decimal
from typing import Any

import pytest
from factories import account_body, assert_error, auth_headers, make_account, make_user

MT5_PASSWORD = "Mt5-S3cret!pass"
NETTING, HEDGING = 0, 2
TPS = [{"price": "2355.00", "share_percent": "50"}, {"price": "2365.00", "share_percent": "50"}]


@pytest.fixture
def app_config(app_config: dict[str, Any]) -> dict[str, Any]:
    return {**app_config, "AUTOMATION_ENABLED": True, "EXECUTOR_AUTOSTART": True}


@pytest.fixture
def broker(sim_broker):
    broker = sim_broker()
    broker.set_quote("XAUUSD", Decimal("2349.80"), Decimal("2350.00"), freeze=True)
    return broker


@pytest.fixture
def headers(client, app):
    return auth_headers(client, make_user(app))


@pytest.fixture
def watcher(app, client, headers):
    from services.automation import build_watcher

    client.get("/api/me", headers=headers)  # the first request starts the executor
    return build_watcher(app)  # polled by hand: no thread


def quote(broker, bid: str) -> None:
    bid_price = Decimal(bid)
    broker.set_quote("XAUUSD", bid_price, bid_price + Decimal("0.20"), freeze=True)


def sim_account(client, headers, broker, mode: int = HEDGING) -> dict[str, Any]:
    body = account_body()
    broker.create_account(int(body["login"]), MT5_PASSWORD, "Sim-Demo", margin_mode=mode)
    return make_account(client, headers, subscribed=True, **body)


def open_trade(client, headers, account_ids: list[int], **fields: Any) -> dict[str, Any]:
    body = {"account_ids": account_ids, "symbol": "XAUUSD", "side": "buy", "volume": "0.10",
            "stop_loss": "2340.00", "take_profits": TPS, "wait_s": 10, **fields}  # fmt: skip
    response = client.post("/api/send_orders", json=body, headers=headers)
    assert response.status_code == 200, response.get_json()
    return dict(response.get_json())


def positions(client, headers, account_id: int) -> list[dict[str, Any]]:
    return list(client.get(f"/api/accounts/{account_id}/positions", headers=headers).get_json()[
        "positions"
    ])  # fmt: skip


def settle(client, headers, dispatch_id: int) -> dict[str, Any]:
    """The dispatch's view once its follow-ups are final."""
    deadline = time.monotonic() + 10
    while True:
        view = client.get(f"/api/dispatches/{dispatch_id}", headers=headers).get_json()
        statuses = [a["status"] for a in view["actions"]]
        if all(s not in ("pending", "in_progress") for s in statuses):
            return dict(view)
        assert time.monotonic() < deadline, view
        time.sleep(0.02)


BE = {"breakeven_after_tp": 1, "breakeven_offset_points": 10}


def test_breakeven_after_tp1_moves_every_followers_stop_once(client, headers, broker, watcher):
    accounts = [sim_account(client, headers, broker) for _ in range(2)]
    opened = open_trade(client, headers, [a["id"] for a in accounts], automation=BE)
    assert opened["automation"] == BE

    quote(broker, "2354.90")
    assert watcher.poll_once() == 0
    quote(broker, "2355.10")  # TP1: the broker closes each first leg
    assert watcher.poll_once() == 1
    view = settle(client, headers, opened["dispatch_id"])

    ((action),) = view["actions"]
    assert (action["action"], action["status"]) == ("breakeven", "completed")
    for account in accounts:
        (left,) = positions(client, headers, account["id"])
        assert Decimal(left["tp"]) == Decimal("2365")
        assert Decimal(left["sl"]) == Decimal(left["price_open"]) + Decimal("0.10")
    quote(broker, "2356.00")
    assert watcher.poll_once() == 0  # fires once
    assert len(settle(client, headers, opened["dispatch_id"])["actions"]) == 1


def test_a_rule_removed_before_it_fires_does_nothing(client, headers, broker, watcher):
    account = sim_account(client, headers, broker)
    opened = open_trade(client, headers, [account["id"]], automation=BE)
    url = f"/api/dispatches/{opened['dispatch_id']}/automation"
    removed = client.patch(url, json={}, headers=headers)
    assert removed.status_code == 200 and removed.get_json()["automation"] is None

    quote(broker, "2355.10")
    assert watcher.poll_once() == 0
    (left,) = positions(client, headers, account["id"])
    assert Decimal(left["sl"]) == Decimal("2340")


def test_trailing_moves_in_steps_and_never_backwards(client, headers, broker, watcher):
    account = sim_account(client, headers, broker)
    trailing = {"trailing": {"start_points": 200, "distance_points": 300, "step_points": 50}}
    opened = open_trade(client, headers, [account["id"]], take_profits=[], automation=trailing)

    def stop_after(bid: str) -> Decimal:
        quote(broker, bid)
        watcher.poll_once()
        settle(client, headers, opened["dispatch_id"])
        (position,) = positions(client, headers, account["id"])
        return Decimal(position["sl"])

    assert stop_after("2351.50") == Decimal("2340")  # 1.50 in profit: not started
    assert stop_after("2352.30") == Decimal("2349.00")
    assert stop_after("2352.60") == Decimal("2349.50")
    assert stop_after("2351.00") == Decimal("2349.50")  # the price fell back: the stop stays
    assert stop_after("2353.40") == Decimal("2350.00")
    actions = settle(client, headers, opened["dispatch_id"])["actions"]
    assert [a["action"] for a in actions] == ["modify", "modify", "modify"]


def test_netting_legs_ride_one_order_and_tp1_is_virtual(client, headers, broker, watcher):
    account = sim_account(client, headers, broker, NETTING)
    opened = open_trade(client, headers, [account["id"]])

    legs = {t["leg"]: t for t in opened["targets"]}
    assert {t["status"] for t in legs.values()} == {"executed"}
    assert legs[0]["position"] == legs[1]["position"] and legs[0]["order"] == legs[1]["order"]
    assert (Decimal(legs[0]["filled_volume"]), Decimal(legs[1]["filled_volume"])) == (
        Decimal("0.05"), Decimal("0.05"),
    )  # fmt: skip
    (merged,) = positions(client, headers, account["id"])
    assert (Decimal(merged["volume"]), Decimal(merged["tp"])) == (Decimal("0.10"), Decimal("2365"))

    quote(broker, "2355.10")  # TP1, held by the server
    assert watcher.poll_once() == 1
    view = settle(client, headers, opened["dispatch_id"])

    assert [a["action"] for a in view["actions"]] == ["close"]
    (left,) = positions(client, headers, account["id"])
    assert (Decimal(left["volume"]), Decimal(left["tp"])) == (Decimal("0.05"), Decimal("2365"))
    quote(broker, "2356.00")
    assert watcher.poll_once() == 0
    quote(broker, "2365.10")  # TP2 is the broker's: it closes the rest
    assert positions(client, headers, account["id"]) == []


def test_netting_breakeven_after_tp1_with_its_virtual_take_profit(client, headers, broker, watcher):
    account = sim_account(client, headers, broker, NETTING)
    opened = open_trade(client, headers, [account["id"]], automation=BE)

    quote(broker, "2355.10")
    assert watcher.poll_once() == 2  # the virtual TP1 and the breakeven
    view = settle(client, headers, opened["dispatch_id"])

    assert sorted(a["action"] for a in view["actions"]) == ["breakeven", "close"]
    (left,) = positions(client, headers, account["id"])
    assert Decimal(left["volume"]) == Decimal("0.05")
    assert Decimal(left["sl"]) == Decimal(left["price_open"]) + Decimal("0.10")


def test_a_restart_between_trigger_and_action_acts_exactly_once(
    client, headers, broker, watcher, app
):
    from datetime import timedelta

    from services.automation.watcher import AutomationWatcher

    account = sim_account(client, headers, broker)
    opened = open_trade(client, headers, [account["id"]], automation=BE)
    # The process dies right after the trigger is recorded: the action is never handed over.
    dying = AutomationWatcher(app, tick_s=0.25, max_age=timedelta(days=7), submit=lambda _: None)
    quote(broker, "2355.10")
    assert dying.poll_once() == 1

    from extensions import db
    from models import AutomationFiring

    assert db.session.query(AutomationFiring).count() == 1
    view = client.get(f"/api/dispatches/{opened['dispatch_id']}", headers=headers).get_json()
    assert [a["status"] for a in view["actions"]] == ["pending"]

    app.extensions["executor"].submit_dispatch(view["actions"][0]["action_id"])  # the restart
    view = settle(client, headers, opened["dispatch_id"])
    assert watcher.poll_once() == 0
    from services.automation import build_watcher

    assert build_watcher(app).poll_once() == 0  # a new watcher reads the firing back
    assert [a["status"] for a in view["actions"]] == ["completed"]
    (left,) = positions(client, headers, account["id"])
    assert Decimal(left["sl"]) == Decimal(left["price_open"]) + Decimal("0.10")


def test_automation_on_a_broadcast_reaches_every_follower(client, app, broker, watcher):
    admin = auth_headers(client, make_user(app, role="super_admin"))
    followers = []
    for _ in range(3):
        follower = auth_headers(client, make_user(app))
        followers.append((follower, sim_account(client, follower, broker)))
    body = {
        "targets": {"account_ids": [a["id"] for _, a in followers]},
        "order": {"symbol": "XAUUSD", "side": "buy", "volume": "0.10", "stop_loss": "2340.00",
                  "take_profits": TPS},
        "automation": BE,
    }  # fmt: skip
    created = client.post("/api/broadcast_orders", json=body, headers=admin).get_json()
    time.sleep(0.5)
    quote(broker, "2355.10")
    assert watcher.poll_once() == 1
    deadline = time.monotonic() + 10
    for follower, account in followers:
        while True:
            left = positions(client, follower, account["id"])
            if left and Decimal(left[0]["sl"]) != Decimal("2340"):
                break
            assert time.monotonic() < deadline
            time.sleep(0.05)
        assert Decimal(left[0]["sl"]) == Decimal(left[0]["price_open"]) + Decimal("0.10")
    status = client.get(
        f"/api/broadcast_status?broadcast_id={created['broadcast_id']}", headers=admin
    ).get_json()
    assert status["automation"] == BE and [a["action"] for a in status["actions"]] == ["breakeven"]


def test_automation_that_names_a_missing_take_profit_is_422(client, headers, broker):
    account = sim_account(client, headers, broker)
    body = {
        "account_ids": [account["id"]],
        "symbol": "XAUUSD",
        "side": "buy",
        "volume": "0.10",
        "stop_loss": "2340.00",
        "take_profits": TPS,
        "automation": {"breakeven_after_tp": 3},
    }
    assert_error(client.post("/api/send_orders", json=body, headers=headers), 422,
                 "invalid_automation")  # fmt: skip
    opened = open_trade(client, headers, [account["id"]])
    url = f"/api/dispatches/{opened['dispatch_id']}/automation"
    assert_error(client.patch(url, json={"breakeven_after_tp": 3}, headers=headers), 422,
                 "invalid_automation")  # fmt: skip


def test_automation_of_another_users_dispatch_is_404(client, app, headers, broker):
    account = sim_account(client, headers, broker)
    opened = open_trade(client, headers, [account["id"]])
    stranger = auth_headers(client, make_user(app))
    url = f"/api/dispatches/{opened['dispatch_id']}/automation"
    assert_error(client.patch(url, json=BE, headers=stranger), 404, "dispatch_not_found")


def test_automation_of_an_action_is_422(client, headers, broker):
    account = sim_account(client, headers, broker)
    opened = open_trade(client, headers, [account["id"]])
    action = client.post(
        f"/api/dispatches/{opened['dispatch_id']}/actions", json={"action": "close"},
        headers=headers,
    ).get_json()  # fmt: skip
    url = f"/api/dispatches/{action['action_id']}/automation"
    assert_error(client.patch(url, json=BE, headers=headers), 422, "not_an_open")


def test_automation_empty_body_is_400_not_a_removal(client, headers, broker):
    account = sim_account(client, headers, broker)
    opened = open_trade(client, headers, [account["id"]], automation=BE)
    url = f"/api/dispatches/{opened['dispatch_id']}/automation"
    response = client.patch(url, data=b"", headers={**headers, "Content-Type": "application/json"})
    assert_error(response, 400, "invalid_json")
    view = client.get(f"/api/dispatches/{opened['dispatch_id']}", headers=headers).get_json()
    assert view["automation"] == BE
