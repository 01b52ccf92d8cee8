"""Results over HTTP on the simulator: a broadcast's P&L per follower, worked out by hand.

Gold is frozen at 2349.80/2350.00 while the broadcast buys 0.10 lots everywhere (fills at the
Ask, 2350.00); a follow-up closes half at 2359.80 (the Bid after the move), the rest closes at
2339.80. One lot of XAUUSD is 100 oz, so 0.05 lots make 5.00 USD per 1.00 of price.
"""

from __future__ import annotations

import time
from decimal import Decimal as D
from typing import Any

import pytest
from factories import account_body, assert_error, auth_headers, make_account, make_user

from services.mt5 import constants as c

MT5_PASSWORD = account_body()["password"]


@pytest.fixture
def broker(sim_broker):
    broker = sim_broker()
    broker.set_quote("XAUUSD", D("2349.80"), D("2350.00"), freeze=True)
    broker.set_quote("USDTHB", D("36.450"), D("36.550"), freeze=True)  # mid 36.500
    return broker


@pytest.fixture
def admin_headers(client, app):
    return auth_headers(client, make_user(app, role="super_admin"))


def follower(client, app, broker, *, server: str = "Sim-Demo", **at_broker: Any) -> dict[str, Any]:
    user = make_user(app)
    headers = auth_headers(client, user)
    body = account_body(server=server)
    broker.create_account(int(body["login"]), MT5_PASSWORD, server, **at_broker)
    account = make_account(client, headers, subscribed=True, **body)
    return {"user": user, "headers": headers, "account": account["id"]}


def wait_final(client, headers, dispatch_id: int) -> None:
    deadline = time.monotonic() + 10
    while True:
        view = client.get(f"/api/dispatches/{dispatch_id}", headers=headers).get_json()
        if view["counts"]["pending"] + view["counts"]["in_flight"] == 0:
            return
        assert time.monotonic() < deadline, view
        time.sleep(0.02)


def broadcast(client, headers, account_ids: list[int]) -> int:
    response = client.post(
        "/api/broadcast_orders",
        json={
            "targets": {"account_ids": account_ids},
            "order": {"symbol": "XAUUSD", "side": "buy", "deviation": 50},
            "sizing": {"mode": "fixed_volume", "volume": "0.10"},
        },
        headers=headers,
    )
    assert response.status_code == 202, response.get_json()
    broadcast_id = int(response.get_json()["broadcast_id"])
    wait_final(client, headers, broadcast_id)
    return broadcast_id


def follow_up(client, headers, broadcast_id: int, body: dict[str, Any]) -> int:
    response = client.post(f"/api/broadcasts/{broadcast_id}/actions", json=body, headers=headers)
    assert response.status_code == 202, response.get_json()
    action_id = int(response.get_json()["action_id"])
    wait_final(client, headers, action_id)
    return action_id


def results(client, headers, url: str) -> dict[str, Any]:
    response = client.get(url, headers=headers)
    assert response.status_code == 200, response.get_json()
    return dict(response.get_json())


def by_account(view: dict[str, Any]) -> dict[int, dict[str, Any]]:
    return {t["account_id"]: t for t in view["targets"]}


@pytest.fixture
def four(client, app, broker, admin_headers):
    """Hedging USD at $7 a lot, netting USD, a cent (USC) and a THB account, half closed."""
    accounts = {
        "hedging": follower(client, app, broker, commission_per_lot=D(7)),
        "netting": follower(client, app, broker, margin_mode=c.ACCOUNT_MARGIN_MODE_RETAIL_NETTING),
        "cent": follower(client, app, broker, server="Cent-Demo", balance=D(1_000_000)),
        "thb": follower(client, app, broker, currency="THB", balance=D(100_000)),
    }
    broadcast_id = broadcast(client, admin_headers, [a["account"] for a in accounts.values()])
    broker.set_quote("XAUUSD", D("2359.80"), D("2360.00"), freeze=True)
    action_id = follow_up(client, admin_headers, broadcast_id, {"action": "close", "percent": "50"})
    return {"broadcast": broadcast_id, "action": action_id, **accounts}


def test_broadcast_results_half_closed_per_account_and_currency(client, admin_headers, four):
    view = results(client, admin_headers, f"/api/broadcasts/{four['broadcast']}/results")
    targets = by_account(view)
    hedging, netting = targets[four["hedging"]["account"]], targets[four["netting"]["account"]]
    cent, thb = targets[four["cent"]["account"]], targets[four["thb"]["account"]]

    # Every account: 0.10 opened at 2350.00, 0.05 closed at 2359.80 (+9.80 x 5 = 49.00 USD),
    # 0.05 still open at the Bid 2359.80 (floating 49.00 USD).
    for target in (hedging, netting, cent, thb):
        assert target["status"] == "open"
        assert (target["opened_volume"], target["open_price"]) == ("0.1", "2350")
        assert (target["closed_volume"], target["close_price"]) == ("0.05", "2359.8")
        assert [a["action"] for a in target["actions"]] == ["close"]
        assert target["actions"][0]["closed_volume"] == "0.05"
    # $7 a lot on 0.10 in and 0.05 out: -0.70 - 0.35.
    assert (hedging["realised"], hedging["commission"], hedging["floating"]) == (
        "47.95", "-1.05", "49.00",
    )  # fmt: skip
    assert (netting["realised"], netting["floating"], netting["net"]) == ("49.00", "49.00", "98.00")
    # The cent account trades XAUUSDc: 49 USD is 4900 USC.
    assert (cent["currency"], cent["realised"], cent["floating"]) == ("USC", "4900.00", "4900.00")
    # The THB account's profit converts at the USDTHB Bid, 36.450: 49 x 36.45 = 1786.05.
    assert (thb["currency"], thb["realised"]) == ("THB", "1786.05")

    totals = {t["currency"]: t for t in view["totals"]["by_currency"]}
    assert totals["USD"]["realised"] == "96.95" and totals["USD"]["usd"]["quote"] is None
    assert totals["USC"]["usd"]["rate"] == "0.01" and totals["USC"]["usd"]["realised"] == "49.00"
    # THB -> USD at the quote's mid, 36.500: 1786.05 / 36.5 = 48.9329 -> 48.93.
    thb_usd = totals["THB"]["usd"]
    assert (thb_usd["quote"]["pair"], thb_usd["quote"]["bid"], thb_usd["quote"]["ask"]) == (
        "USDTHB", "36.45", "36.55",
    )  # fmt: skip
    assert thb_usd["realised"] == "48.93"
    assert view["totals"]["usd"] == {
        "realised": "194.88",  # 96.95 + 49.00 + 48.93
        "floating": "195.93",  # 98.00 + 49.00 + 48.93
        "net": "390.81",
        "complete": True,
    }
    assert (view["totals"]["winners"], view["totals"]["losers"]) == (4, 0)
    assert view["totals"]["by_status"] == {"open": 4}


def test_results_after_everything_closed_are_final_and_not_read_again(
    client, admin_headers, broker, four, monkeypatch
):
    broker.set_quote("XAUUSD", D("2339.80"), D("2340.00"), freeze=True)
    follow_up(client, admin_headers, four["broadcast"], {"action": "close"})
    url = f"/api/broadcasts/{four['broadcast']}/results"
    first = by_account(results(client, admin_headers, url))
    hedging = first[four["hedging"]["account"]]

    # The second half closes at 2339.80: (2339.80 - 2350.00) x 5 = -51.00, and -0.35.
    assert hedging["status"] == "closed"
    assert (hedging["closed_volume"], hedging["close_price"]) == ("0.1", "2349.8")
    assert (hedging["realised"], hedging["floating"]) == ("-3.40", "0.00")  # 49 - 51 - 1.40
    assert first[four["netting"]["account"]]["realised"] == "-2.00"

    from services.results import reading

    monkeypatch.setattr(reading, "read_target", lambda *_: pytest.fail("read a final target"))
    again = results(client, admin_headers, url)
    assert again["refresh"]["read_now"] == 0
    assert by_account(again)[four["hedging"]["account"]]["realised"] == "-3.40"
    # A whole amount read back from the cache keeps the currency's places.
    assert by_account(again)[four["netting"]["account"]]["realised"] == "-2.00"
    assert again["totals"]["losers"] == 4


def test_follower_sees_only_their_own_target(client, app, four):
    mine = four["thb"]
    view = results(client, mine["headers"], f"/api/me/dispatches/{four['broadcast']}/results")

    assert [t["account_id"] for t in view["targets"]] == [mine["account"]]
    assert view["total"] == 1
    assert [t["currency"] for t in view["totals"]["by_currency"]] == ["THB"]


def test_follower_of_another_broadcast_gets_404(client, app, broker, four):
    stranger = follower(client, app, broker)
    response = client.get(
        f"/api/me/dispatches/{four['broadcast']}/results", headers=stranger["headers"]
    )

    assert_error(response, 404, "dispatch_not_found")


def test_a_follower_cannot_read_the_broadcast_as_its_creator(client, four):
    response = client.get(
        f"/api/dispatches/{four['broadcast']}/results", headers=four["cent"]["headers"]
    )

    assert_error(response, 404, "dispatch_not_found")


def test_results_of_a_follow_up_are_422_not_an_open(client, admin_headers, four):
    response = client.get(f"/api/dispatches/{four['action']}/results", headers=admin_headers)

    error = assert_error(response, 422, "not_an_open")
    assert error["details"] == {"parent_id": four["broadcast"]}


def test_unknown_broadcast_is_404(client, admin_headers):
    assert_error(
        client.get("/api/broadcasts/987654/results", headers=admin_headers),
        404,
        "dispatch_not_found",
    )


@pytest.mark.parametrize("query", ["page=0", "per_page=1001", "per_page=x"])
def test_results_bad_paging_is_422(client, admin_headers, query):
    response = client.get(f"/api/broadcasts/1/results?{query}", headers=admin_headers)

    assert_error(response, 422, "validation_error")


def test_own_send_orders_results_and_failed_target(client, app, broker):
    trader = follower(client, app, broker)
    body = account_body()
    broker.create_account(int(body["login"]), MT5_PASSWORD, "Sim-Demo", balance=D(1))
    poor = make_account(client, trader["headers"], **body)  # 0.10 lots: no money
    accounts = [trader["account"], poor["id"]]
    sent = client.post(
        "/api/send_orders",
        json={"account_ids": accounts, "symbol": "XAUUSD", "side": "buy", "volume": "0.10"},
        headers=trader["headers"],
    )
    dispatch_id = sent.get_json()["dispatch_id"]
    wait_final(client, trader["headers"], dispatch_id)

    view = results(client, trader["headers"], f"/api/dispatches/{dispatch_id}/results")
    statuses = {t["account_id"]: t["status"] for t in view["targets"]}

    assert sorted(statuses.values()) == ["failed", "open"]
    assert view["totals"]["by_status"] == {"failed": 1, "open": 1}
    failed = next(t for t in view["targets"] if t["status"] == "failed")
    assert failed["reason"] and failed["opened_volume"] is None
