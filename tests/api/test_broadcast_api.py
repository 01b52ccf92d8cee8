"""Broadcast over HTTP: broadcast_orders, broadcast_status, events and cancel, on the simulator."""

from __future__ import annotations

import time
from typing import Any

import pytest
from factories import (
    SimTrader,
    account_body,
    assert_error,
    auth_headers,
    frozen_quotes,
    make_account,
    make_user,
)

MT5_PASSWORD = account_body()["password"]
STOP = "2340.00"  # 10.00 under the frozen Ask of 2350.00


@pytest.fixture
def latency_ms() -> int:
    return 0


@pytest.fixture
def app_config(app_config: dict[str, Any], latency_ms: int) -> dict[str, Any]:
    """The shared config with the simulated terminals' round trip (parametrise latency_ms)."""
    return {**app_config, "MT5_SIM_LATENCY_MS": latency_ms}


@pytest.fixture
def broker(sim_broker):
    return frozen_quotes(sim_broker())


@pytest.fixture
def admin(app):
    return make_user(app, role="super_admin")


@pytest.fixture
def admin_headers(client, admin):
    return auth_headers(client, admin)


def patch_user(client, headers, user, **fields: Any) -> None:
    response = client.patch(f"/api/users/{user.id}", json=fields, headers=headers)
    assert response.status_code == 200, response.get_json()


@pytest.fixture
def new_trader(client, app, broker):
    return lambda: SimTrader(client, app, broker, subscribed=True)


def order(**fields: Any) -> dict[str, Any]:
    return {"symbol": "XAUUSD", "side": "buy", "deviation": 50, **fields}


def broadcast(client, headers, body: dict[str, Any], **extra_headers: str):
    return client.post("/api/broadcast_orders", json=body, headers={**headers, **extra_headers})


def fixed_body(targets: dict[str, Any] | None = None, volume: str = "0.10") -> dict[str, Any]:
    return {
        "targets": targets or {"all": True},
        "order": order(),
        "sizing": {"mode": "fixed_volume", "volume": volume},
    }


def status(client, headers, broadcast_id: int, **query: Any):
    return client.get(
        "/api/broadcast_status",
        query_string={"broadcast_id": broadcast_id, **query},
        headers=headers,
    )


def wait_final(client, headers, broadcast_id: int, timeout: float = 10.0) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        response = status(client, headers, broadcast_id)
        assert response.status_code == 200, response.get_json()
        view = response.get_json()
        if view["counts"]["pending"] + view["counts"]["in_flight"] == 0:
            return dict(view)
        assert time.monotonic() < deadline, view
        time.sleep(0.05)


def wait_started(client, headers, broadcast_id: int, timeout: float = 10.0) -> None:
    """Poll until the first row has been executed (the rest of its account's legs wait)."""
    deadline = time.monotonic() + timeout
    while status(client, headers, broadcast_id).get_json()["counts"]["executed"] == 0:
        assert time.monotonic() < deadline
        time.sleep(0.01)


def run(client, headers, body: dict[str, Any]) -> dict[str, Any]:
    """Broadcast, wait until every target is final, and return the status view."""
    response = broadcast(client, headers, body)
    assert response.status_code == 202, response.get_json()
    return wait_final(client, headers, response.get_json()["broadcast_id"])


def volumes(view: dict[str, Any]) -> dict[int, str]:
    return {t["account_id"]: t["volume"] for t in view["targets"]}


def calculated_lots(client, trader: SimTrader, account: dict[str, Any], percent: str) -> str:
    response = client.post(
        "/api/calculate",
        json={
            "account_id": account["id"],
            "symbol": "XAUUSD",
            "risk": {"percent": percent},
            "trade": {"stop_loss": STOP},
        },
        headers=trader.headers,
    )
    assert response.status_code == 200, response.get_json()
    return str(response.get_json()["lots"])


# --- the flow ------------------------------------------------------------------------


@pytest.fixture
def five_accounts(new_trader):
    """3 users, 5 accounts: USD 10,000 and USD 50,000; a cent account; THB and EUR."""
    first, second, third = new_trader(), new_trader(), new_trader()
    accounts = [
        (first, first.account(balance="10000")),
        (first, first.account(balance="50000")),
        (second, second.account(balance="1000000", currency="USC", server="Sim-Cent")),
        (third, third.account(balance="1000000", currency="THB")),
        (third, third.account(balance="20000", currency="EUR")),
    ]
    return accounts


def test_broadcast_risk_percent_sizes_each_account_from_its_own_balance(
    client, admin_headers, five_accounts
):
    body = {
        "targets": {"all": True},
        "order": order(stop_loss=STOP),
        "sizing": {"mode": "risk_percent", "percent": "1"},
    }

    view = run(client, admin_headers, body)

    assert view["counts"]["executed"] == 5, view
    got = volumes(view)
    expected = {a["id"]: calculated_lots(client, t, a, "1") for t, a in five_accounts}
    assert got == expected
    usd_small, usd_big = five_accounts[0][1]["id"], five_accounts[1][1]["id"]
    assert (got[usd_small], got[usd_big]) == ("0.10", "0.50")
    assert len(set(got.values())) >= 4  # 10,000 USD and 1,000,000 USC risk the same money


def test_broadcast_account_risk_uses_each_accounts_risk_percent(client, admin_headers, new_trader):
    trader = new_trader()
    cautious, bold = trader.account(), trader.account()
    trader.patch(cautious, risk_percent="1")
    trader.patch(bold, risk_percent="2.5")
    body = {
        "targets": {"user_ids": [trader.user.id]},
        "order": order(stop_loss=STOP),
        "sizing": {"mode": "account_risk"},
    }

    view = run(client, admin_headers, body)

    assert volumes(view) == {cautious["id"]: "0.10", bold["id"]: "0.25"}


def test_broadcast_orders_returns_202_with_broadcast_id_and_target_count(
    client, admin_headers, five_accounts
):
    response = broadcast(client, admin_headers, fixed_body())

    assert response.status_code == 202, response.get_json()
    created = response.get_json()
    assert created["broadcast_id"] >= 1
    assert (created["targets"], created["accounts"]) == (5, 5)
    wait_final(client, admin_headers, created["broadcast_id"])


def test_broadcast_status_with_id_shows_every_target_and_counts(
    client, admin_headers, five_accounts
):
    broadcast_id = broadcast(client, admin_headers, fixed_body()).get_json()["broadcast_id"]

    view = wait_final(client, admin_headers, broadcast_id)

    assert view["dispatch_id"] == broadcast_id
    assert (view["kind"], view["status"], view["total"]) == ("broadcast", "completed", 5)
    assert view["counts"] == {
        "pending": 0,
        "in_flight": 0,
        "executed": 5,
        "placed": 0,
        "skipped": 0,
        "failed": 0,
        "expired": 0,
        "cancelled": 0,
    }
    assert {t["account_id"] for t in view["targets"]} == {a["id"] for _, a in five_accounts}
    assert {t["user_id"] for t in view["targets"]} == {t.user.id for t, _ in five_accounts}
    assert all(t["retcode"] == 10009 and t["order"] for t in view["targets"])


def test_broadcast_status_without_id_lists_recent_broadcasts(client, admin_headers, five_accounts):
    first = run(client, admin_headers, fixed_body())
    second = run(client, admin_headers, fixed_body(volume="0.20"))

    response = client.get("/api/broadcast_status", headers=admin_headers)

    assert response.status_code == 200, response.get_json()
    listed = response.get_json()["broadcasts"]
    assert [b["broadcast_id"] for b in listed] == [second["dispatch_id"], first["dispatch_id"]]
    assert listed[0]["counts"]["executed"] == 5
    assert (listed[0]["symbol"], listed[0]["side"]) == ("XAUUSD", "buy")


def test_broadcast_status_per_page_two_returns_two_of_five(client, admin_headers, five_accounts):
    broadcast_id = run(client, admin_headers, fixed_body())["dispatch_id"]

    first_page = status(client, admin_headers, broadcast_id, per_page=2).get_json()
    last_page = status(client, admin_headers, broadcast_id, per_page=2, page=3).get_json()

    assert (len(first_page["targets"]), first_page["total"], first_page["per_page"]) == (2, 5, 2)
    assert len(last_page["targets"]) == 1
    assert first_page["targets"][0]["row_id"] < last_page["targets"][0]["row_id"]


def test_broadcast_status_after_walks_every_target_by_key(client, admin_headers, five_accounts):
    broadcast_id = run(client, admin_headers, fixed_body())["dispatch_id"]

    seen, after, pages = [], None, 0
    while True:
        query = {"per_page": 2} if after is None else {"per_page": 2, "after": after}
        view = status(client, admin_headers, broadcast_id, **query).get_json()
        seen += [t["row_id"] for t in view["targets"]]
        pages += 1
        after = view["next_after"]
        if after is None:
            break

    everything = status(client, admin_headers, broadcast_id).get_json()
    assert pages == 3
    assert seen == [t["row_id"] for t in everything["targets"]]  # each once, in row order
    assert everything["next_after"] is None
    assert view["counts"]["executed"] == 5 and view["total"] == 5


def test_dispatch_after_a_row_returns_the_rows_after_it(client, admin_headers, five_accounts):
    broadcast_id = run(client, admin_headers, fixed_body())["dispatch_id"]
    row_ids = [
        t["row_id"] for t in status(client, admin_headers, broadcast_id).get_json()["targets"]
    ]

    response = client.get(
        f"/api/dispatches/{broadcast_id}",
        query_string={"after": row_ids[2], "per_page": 1},
        headers=admin_headers,
    )

    assert response.status_code == 200, response.get_json()
    view = response.get_json()
    assert [t["row_id"] for t in view["targets"]] == [row_ids[3]]
    assert view["next_after"] == row_ids[3]


@pytest.mark.parametrize("after", ["-1", "x", str(2**40)])
def test_broadcast_status_with_a_bad_after_is_422(client, admin_headers, after):
    response = client.get(
        "/api/broadcast_status", query_string={"broadcast_id": 1, "after": after},
        headers=admin_headers,
    )  # fmt: skip
    assert_error(response, 422, "validation_error")


# --- who may broadcast ---------------------------------------------------------------------


@pytest.mark.parametrize("role", ["user", "admin"])
@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("post", "/api/broadcast_orders"),
        ("get", "/api/broadcast_status"),
        ("get", "/api/broadcasts/1/events"),
        ("post", "/api/broadcasts/1/cancel"),
    ],
)
def test_broadcast_route_without_super_admin_returns_403(client, app, role, method, path):
    headers = auth_headers(client, make_user(app, role=role))

    response = getattr(client, method)(path, json=fixed_body(), headers=headers)

    assert_error(response, 403, "forbidden")


def test_broadcast_orders_without_token_returns_401(client):
    response = client.post("/api/broadcast_orders", json=fixed_body())

    assert_error(response, 401, "unauthorized")


# --- targets -------------------------------------------------------------------------------


def test_broadcast_to_user_ids_reaches_only_their_accounts(client, admin_headers, five_accounts):
    third = five_accounts[3][0]

    view = run(client, admin_headers, fixed_body({"user_ids": [third.user.id]}))

    assert set(volumes(view)) == {five_accounts[3][1]["id"], five_accounts[4][1]["id"]}


def test_broadcast_to_account_ids_reaches_only_those(client, admin_headers, five_accounts):
    chosen = [five_accounts[0][1]["id"], five_accounts[2][1]["id"]]

    view = run(client, admin_headers, fixed_body({"account_ids": chosen}))

    assert sorted(volumes(view)) == sorted(chosen)


def test_broadcast_to_all_skips_ineligible_accounts(client, admin_headers, new_trader):
    eligible, copy_off, inactive_owner, no_broadcast = (new_trader() for _ in range(4))
    kept = eligible.account()
    copy_off.patch(copy_off.account(), copy_enabled=False)
    inactive_owner.account()
    no_broadcast.account()
    patch_user(client, admin_headers, inactive_owner.user, is_active=False)
    patch_user(client, admin_headers, no_broadcast.user, allow_broadcast=False)

    view = run(client, admin_headers, fixed_body())

    assert set(volumes(view)) == {kept["id"]}


def test_broadcast_with_no_eligible_target_returns_422(client, admin_headers, new_trader):
    trader = new_trader()
    trader.patch(trader.account(), copy_enabled=False)

    response = broadcast(client, admin_headers, fixed_body({"user_ids": [trader.user.id]}))

    assert_error(response, 422, "no_targets")


def test_broadcast_targets_with_two_keys_returns_422(client, admin_headers, new_trader):
    trader = new_trader()
    account = trader.account()
    targets = {"user_ids": [trader.user.id], "account_ids": [account["id"]]}

    response = broadcast(client, admin_headers, fixed_body(targets))

    assert_error(response, 422, "validation_error")


def test_broadcast_risk_sizing_without_stop_loss_returns_422(client, admin_headers, new_trader):
    new_trader().account()
    body = {**fixed_body(), "sizing": {"mode": "risk_percent", "percent": "1"}}

    response = broadcast(client, admin_headers, body)

    assert_error(response, 422, "stop_loss_required")


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"order_type": "limit", "price": "2300.005"}, "price"),
        ({"stop_loss": "2340.0001"}, "stop_loss"),
        ({"take_profits": [{"price": "2360.005", "share_percent": 100}]}, "take_profits[0].price"),
    ],
    ids=["price", "stop_loss", "take_profit"],
)
def test_broadcast_price_off_tick_grid_returns_422_and_creates_nothing(
    client, admin_headers, new_trader, fields, field
):
    from sqlalchemy import func, select

    from extensions import db
    from models import BroadcastQueue, Dispatch

    new_trader().account()
    body = {**fixed_body(), "order": order(**fields)}

    response = broadcast(client, admin_headers, body)

    error = assert_error(response, 422, "price_off_tick_grid")
    assert error["details"]["field"] == field and error["details"]["tick_size"] == "0.01"
    db.session.rollback()
    assert db.session.scalar(select(func.count(Dispatch.id))) == 0
    assert db.session.scalar(select(func.count(BroadcastQueue.id))) == 0


# --- sizing modes --------------------------------------------------------------------------


def test_broadcast_multiplier_scales_by_each_accounts_multiplier(client, admin_headers, new_trader):
    trader = new_trader()
    plain, doubled = trader.account(), trader.account()
    trader.patch(doubled, volume_multiplier="2")
    body = {
        "targets": {"user_ids": [trader.user.id]},
        "order": order(),
        "sizing": {"mode": "multiplier", "volume": "0.10"},
    }

    view = run(client, admin_headers, body)

    assert volumes(view) == {plain["id"]: "0.10", doubled["id"]: "0.20"}


def test_broadcast_fixed_volume_without_volume_uses_accounts_own(client, admin_headers, new_trader):
    trader = new_trader()
    account = trader.account()
    trader.patch(account, fixed_volume="0.03")
    body = {
        "targets": {"account_ids": [account["id"]]},
        "order": order(),
        "sizing": {"mode": "fixed_volume"},
    }

    view = run(client, admin_headers, body)

    assert volumes(view) == {account["id"]: "0.03"}


def test_broadcast_fixed_volume_is_capped_by_account_max_volume(client, admin_headers, new_trader):
    trader = new_trader()
    free, capped = trader.account(), trader.account()
    trader.patch(capped, max_volume="0.05")

    view = run(client, admin_headers, fixed_body({"user_ids": [trader.user.id]}, volume="0.30"))

    assert volumes(view) == {free["id"]: "0.30", capped["id"]: "0.05"}
    assert view["counts"]["executed"] == 2


# --- events and cancel ---------------------------------------------------------------------


def test_broadcast_events_streams_targets_then_done(client, admin_headers, five_accounts):
    broadcast_id = broadcast(client, admin_headers, fixed_body()).get_json()["broadcast_id"]

    response = client.get(f"/api/broadcasts/{broadcast_id}/events", headers=admin_headers)

    assert response.status_code == 200
    assert response.mimetype == "text/event-stream"
    text = response.get_data(as_text=True)
    assert text.count("event: target") >= 5
    last = text.strip().split("\n\n")[-1]
    assert last.startswith("event: done")
    assert '"executed": 5' in last


def test_cancel_finished_broadcast_leaves_executed_rows_executed(
    client, admin_headers, five_accounts
):
    broadcast_id = run(client, admin_headers, fixed_body())["dispatch_id"]

    response = client.post(f"/api/broadcasts/{broadcast_id}/cancel", headers=admin_headers)

    assert response.status_code == 200, response.get_json()
    view = response.get_json()
    assert (view["counts"]["executed"], view["counts"]["cancelled"]) == (5, 0)
    assert view["status"] == "completed"


@pytest.mark.parametrize("latency_ms", [100])
def test_cancel_fresh_broadcast_cancels_pending_rows_only(client, admin_headers, new_trader):
    traders = [new_trader() for _ in range(2)]
    accounts = [(t, t.account()) for t in traders]
    take_profits = [
        {"price": "2360.00", "share_percent": 40},
        {"price": "2370.00", "share_percent": 30},
        {"price": "2380.00", "share_percent": 30},
    ]
    body = {
        "targets": {"all": True},
        "order": order(take_profits=take_profits),
        "sizing": {"mode": "fixed_volume", "volume": "0.10"},
        "expires_in_s": 600,
    }
    broadcast_id = broadcast(client, admin_headers, body).get_json()["broadcast_id"]
    wait_started(client, admin_headers, broadcast_id)

    response = client.post(f"/api/broadcasts/{broadcast_id}/cancel", headers=admin_headers)

    assert response.status_code == 200, response.get_json()
    view = wait_final(client, admin_headers, broadcast_id)
    counts = view["counts"]
    assert counts["executed"] >= 1 and counts["cancelled"] >= 1, counts
    assert counts["executed"] + counts["cancelled"] == 6, counts
    held = [p for trader, account in accounts for p in trader.positions(account)]
    executed = [t for t in view["targets"] if t["status"] == "executed"]
    assert all(t["order"] is None for t in view["targets"] if t["status"] == "cancelled")
    assert sorted(p["ticket"] for p in held) == sorted(t["order"] for t in executed)


def test_broadcast_take_profits_without_shares_split_each_account_equally(
    client, admin_headers, new_trader
):
    trader = new_trader()
    accounts = [trader.account(), trader.account()]
    body = {
        "targets": {"all": True},
        "order": order(take_profits=[{"price": "2360.00"}, {"price": "2370.00"}]),
        "sizing": {"mode": "fixed_volume", "volume": "0.20"},
    }

    view = run(client, admin_headers, body)

    assert view["counts"]["executed"] == 4, view
    for account in accounts:
        legs = [t for t in view["targets"] if t["account_id"] == account["id"]]
        assert [(t["leg"], t["volume"]) for t in legs] == [(0, "0.10"), (1, "0.10")]


def test_broadcast_leg_too_small_for_one_account_is_skipped_not_partial(
    client, admin_headers, new_trader
):
    trader = new_trader()
    small, big = trader.account(), trader.account()
    trader.patch(small, max_volume="0.02")
    body = {
        "targets": {"all": True},
        "order": order(take_profits=[{"price": p} for p in ("2360.00", "2370.00", "2380.00")]),
        "sizing": {"mode": "fixed_volume", "volume": "0.30"},
    }

    view = run(client, admin_headers, body)

    assert view["status"] == "completed", view
    assert (view["counts"]["executed"], view["counts"]["skipped"]) == (5, 1), view["counts"]
    legs = {t["leg"]: t for t in view["targets"] if t["account_id"] == small["id"]}
    assert (legs[2]["status"], legs[2]["reason"]) == ("skipped", "leg_dropped_below_min")
    assert legs[0]["warnings"][0] == (
        "0.02 lots are traded instead of the 0.30 asked (this account's max_volume 0.02)."
    )
    assert all(t["warnings"] == [] for t in view["targets"] if t["account_id"] == big["id"])


# --- unknown ids and idempotency -----------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("get", "/api/broadcast_status?broadcast_id=999999"),
        ("get", "/api/broadcasts/999999/events"),
        ("post", "/api/broadcasts/999999/cancel"),
    ],
)
def test_broadcast_route_unknown_id_returns_404(client, admin_headers, method, path):
    response = getattr(client, method)(path, headers=admin_headers)

    assert_error(response, 404, "dispatch_not_found")


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("get", "/api/broadcast_status?broadcast_id={id}"),
        ("get", "/api/broadcasts/{id}/events"),
        ("post", "/api/broadcasts/{id}/cancel"),
    ],
)
def test_broadcast_route_with_send_orders_dispatch_returns_404(
    client, app, broker, admin, admin_headers, method, path
):
    own = make_account(client, admin_headers)
    sent = client.post(
        "/api/send_orders",
        json={"account_ids": [own["id"]], "symbol": "XAUUSD", "side": "buy", "volume": "0.01"},
        headers=admin_headers,
    )
    assert sent.status_code == 200, sent.get_json()

    response = getattr(client, method)(
        path.format(id=sent.get_json()["dispatch_id"]), headers=admin_headers
    )

    assert_error(response, 404, "dispatch_not_found")


def test_broadcast_same_idempotency_key_returns_same_broadcast(
    client, admin_headers, five_accounts
):
    first = broadcast(client, admin_headers, fixed_body(), **{"Idempotency-Key": "gold-1"})
    second = broadcast(client, admin_headers, fixed_body(), **{"Idempotency-Key": "gold-1"})

    assert first.status_code == second.status_code == 202, second.get_json()
    broadcast_id = first.get_json()["broadcast_id"]
    assert second.get_json()["broadcast_id"] == broadcast_id
    # The replay counts its accounts from the broadcast's rows, the first from its targets.
    assert first.get_json()["accounts"] == second.get_json()["accounts"] == 5
    assert wait_final(client, admin_headers, broadcast_id)["total"] == 5
    listed = client.get("/api/broadcast_status", headers=admin_headers).get_json()["broadcasts"]
    assert [b["broadcast_id"] for b in listed] == [broadcast_id]


def test_broadcast_same_idempotency_key_other_body_returns_422(
    client, admin_headers, five_accounts
):
    broadcast(client, admin_headers, fixed_body(), **{"Idempotency-Key": "gold-2"})

    response = broadcast(
        client, admin_headers, fixed_body(volume="0.20"), **{"Idempotency-Key": "gold-2"}
    )

    assert_error(response, 422, "idempotency_key_reused")
