"""Each target's `position`: the position its fill opened or changed, in every per-target view."""

from __future__ import annotations

import time
from decimal import Decimal
from typing import Any

import pytest
from factories import account_body, auth_headers, make_account, make_user

MT5_PASSWORD = "Mt5-S3cret!pass"
NETTING, HEDGING = 0, 2


@pytest.fixture
def broker(sim_broker):
    broker = sim_broker()
    broker.set_quote("XAUUSD", Decimal("2349.80"), Decimal("2350.00"), freeze=True)
    return broker


@pytest.fixture
def user(app):
    return make_user(app)


@pytest.fixture
def headers(client, user):
    return auth_headers(client, user)


def sim_account(client, headers, broker, margin_mode: int) -> dict[str, Any]:
    """An account the simulated broker opened with that margin mode before its first login."""
    body = account_body()
    broker.create_account(int(body["login"]), MT5_PASSWORD, "Sim-Demo", margin_mode=margin_mode)
    return make_account(client, headers, subscribed=True, **body)


def send(client, headers, account_id: int, side: str = "buy", volume: str = "0.10") -> Any:
    body = {"account_ids": [account_id], "symbol": "XAUUSD", "side": side, "volume": volume,
            "wait_s": 10}  # fmt: skip
    response = client.post("/api/send_orders", json=body, headers=headers)
    assert response.status_code == 200, response.get_json()
    view = response.get_json()
    (target,) = view["targets"]
    assert target["status"] == "executed", target
    return view


def broker_positions(client, headers, account_id: int) -> list[dict[str, Any]]:
    response = client.get(f"/api/accounts/{account_id}/positions", headers=headers)
    assert response.status_code == 200, response.get_json()
    return list(response.get_json()["positions"])


def test_hedging_fill_position_is_the_broker_position_it_opened(client, headers, broker):
    account = sim_account(client, headers, broker, HEDGING)

    view = send(client, headers, account["id"])

    (target,) = view["targets"]
    (position,) = broker_positions(client, headers, account["id"])
    assert target["position"] == target["order"] == position["ticket"]
    again = client.get(f"/api/dispatches/{view['dispatch_id']}", headers=headers).get_json()
    assert again["targets"][0]["position"] == position["ticket"]


def test_netting_fill_adding_to_a_position_names_the_older_position(client, headers, broker):
    account = sim_account(client, headers, broker, NETTING)
    first = send(client, headers, account["id"])["targets"][0]

    added = send(client, headers, account["id"], volume="0.20")["targets"][0]
    closed = send(client, headers, account["id"], side="sell", volume="0.30")["targets"][0]

    assert first["position"] == first["order"]
    assert added["order"] != first["order"]
    assert added["position"] == closed["position"] == first["order"]
    assert broker_positions(client, headers, account["id"]) == []


def test_netting_fill_whose_lookups_fail_is_executed_without_a_position(client, headers, broker):
    account = sim_account(client, headers, broker, NETTING)
    for call in ("history_deals_get", "positions_get"):
        broker.inject_fault(int(account["login"]), "none", call=call)

    (target,) = send(client, headers, account["id"])["targets"]

    assert target["status"] == "executed" and target["retcode"] == 10009
    assert target["order"] and target["deal"] and target["position"] is None
    assert target["attempts"] == 1  # not resent
    assert len(broker_positions(client, headers, account["id"])) == 1


def test_broadcast_status_shows_each_targets_position(app, client, broker):
    admin_headers = auth_headers(client, make_user(app, role="super_admin"))
    trader_headers = auth_headers(client, make_user(app))
    hedging = sim_account(client, trader_headers, broker, HEDGING)
    netting = sim_account(client, trader_headers, broker, NETTING)
    earlier = send(client, trader_headers, netting["id"])["targets"][0]
    body = {
        "targets": {"account_ids": [hedging["id"], netting["id"]]},
        "order": {"symbol": "XAUUSD", "side": "buy", "deviation": 50},
        "sizing": {"mode": "fixed_volume", "volume": "0.10"},
    }

    response = client.post("/api/broadcast_orders", json=body, headers=admin_headers)

    assert response.status_code == 202, response.get_json()
    view = wait_final(client, admin_headers, response.get_json()["broadcast_id"])
    by_account = {t["account_id"]: t for t in view["targets"]}
    assert by_account[hedging["id"]]["position"] == by_account[hedging["id"]]["order"]
    assert by_account[netting["id"]]["position"] == earlier["position"]


def wait_final(client, headers, broadcast_id: int, timeout: float = 10.0) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        response = client.get(
            "/api/broadcast_status", query_string={"broadcast_id": broadcast_id}, headers=headers
        )
        view = response.get_json()
        if view["counts"]["pending"] + view["counts"]["in_flight"] == 0:
            return dict(view)
        assert time.monotonic() < deadline, view
        time.sleep(0.05)
