"""Protection over HTTP and the simulator: each limit's trigger (the simulator's quotes make the
loss), its action (close_only, or stopped_out with everything closed), the notification and
audit, the pre-trade check, the open-positions cap, and the reset."""

from __future__ import annotations

import time
from decimal import Decimal
from typing import Any

import pytest
from factories import account_body, assert_error, auth_headers, make_account, make_user, subscribe

MT5_PASSWORD = account_body()["password"]
ASK = Decimal("2350.00")


@pytest.fixture
def broker(sim_broker):
    broker = sim_broker()
    quote(broker, "2349.80")
    return broker


def quote(broker, bid: str) -> None:
    """Gold at this bid (ask 0.20 above), frozen: 1 lot moves 100 USD per 1.00."""
    price = Decimal(bid)
    broker.set_quote("XAUUSD", price, price + Decimal("0.20"), freeze=True)


@pytest.fixture
def admin_headers(client, app):
    return auth_headers(client, make_user(app, role="super_admin"))


@pytest.fixture
def owner(client, app):
    user = make_user(app)
    return {"user": user, "headers": auth_headers(client, user)}


@pytest.fixture
def account(client, broker, owner) -> dict[str, Any]:
    body = account_body()
    broker.create_account(int(body["login"]), MT5_PASSWORD, "Sim-Demo", balance=Decimal(10000))
    return make_account(client, owner["headers"], **body)


def protect(client, owner, account, **protection: Any) -> dict[str, Any]:
    return dict(subscribe(client, owner["headers"], account["id"], protection=protection))


def check(app) -> Any:
    """One pass of the periodic equity check, as the background thread runs it."""
    return app.extensions["protection_watcher"].run_once()


def subscription(client, owner, account) -> dict[str, Any]:
    from extensions import db

    # The test client's requests share this test's app context, and with it one session: a
    # Subscription an earlier request or pass loaded would come back from its identity map as
    # it was then, not as the ledger thread changed it since (a server request has its own).
    db.session.rollback()
    url = f"/api/accounts/{account['id']}/subscription"
    return dict(client.get(url, headers=owner["headers"]).get_json())


def wait_final(client, headers, dispatch_id: int, url: str = "/api/dispatches/{}") -> dict:
    deadline = time.monotonic() + 10
    while True:
        view = client.get(url.format(dispatch_id), headers=headers).get_json()
        if view["counts"]["pending"] + view["counts"]["in_flight"] == 0:
            return dict(view)
        assert time.monotonic() < deadline, view
        time.sleep(0.05)


def broadcast_lot(client, admin_headers, volume: str = "1.00") -> Any:
    return client.post(
        "/api/broadcast_orders",
        json={
            "targets": {"all": True},
            "order": {"symbol": "XAUUSD", "side": "buy", "volume": volume, "deviation": 50},
        },
        headers=admin_headers,
    )


def opened(client, admin_headers, volume: str = "1.00") -> dict[str, Any]:
    response = broadcast_lot(client, admin_headers, volume)
    assert response.status_code == 202, response.get_json()
    view = wait_final(
        client,
        admin_headers,
        response.get_json()["broadcast_id"],
        "/api/broadcast_status?broadcast_id={}",
    )
    return view


def positions(client, owner, account) -> list[dict[str, Any]]:
    url = f"/api/accounts/{account['id']}/positions"
    return list(client.get(url, headers=owner["headers"]).get_json()["positions"])


def events(event: str) -> list[Any]:
    from extensions import db
    from models import AuditLog, OutboxEvent

    db.session.rollback()
    return [
        *db.session.query(OutboxEvent).filter_by(event=event).all(),
        *db.session.query(AuditLog).filter_by(event=event).all(),
    ]


def test_daily_loss_percent_breach_moves_to_close_only_notifies_and_blocks_opens(
    app, client, broker, owner, account, admin_headers
):
    protect(client, owner, account, daily_loss_limit={"percent": "5"})
    check(app)  # the day starts at 10,000 USD
    first = opened(client, admin_headers)
    assert [t["status"] for t in first["targets"]] == ["executed"]

    quote(broker, "2343.80")  # 1 lot bought at 2350.00: -620 USD, over 5% (500)
    result = check(app)

    shown = subscription(client, owner, account)
    assert result.breached == [account["id"]]
    assert shown["state"] == "close_only" and shown["receives_opens"] is False
    assert shown["breach"]["rule"] == "daily_loss_limit"
    assert "620.00 USD" in shown["breach"]["reason"] and "500.00 USD" in shown["breach"]["reason"]
    assert shown["equity"]["day_start"] == "10000" and shown["equity"]["currency"] == "USD"
    outbox, audit = events("protection_triggered")
    assert outbox.user_id == owner["user"].id and outbox.payload["state"] == "close_only"
    assert audit.target_id == account["id"]
    assert_error(broadcast_lot(client, admin_headers), 422, "no_targets")
    assert len(positions(client, owner, account)) == 1  # close_only closes nothing by itself


def test_close_only_account_still_takes_the_close(
    app, client, broker, owner, account, admin_headers
):
    protect(client, owner, account, daily_loss_limit={"amount": "300"})
    check(app)
    first = opened(client, admin_headers)
    quote(broker, "2346.00")  # -400 USD
    check(app)
    assert subscription(client, owner, account)["state"] == "close_only"

    close = client.post(
        f"/api/broadcasts/{first['dispatch_id']}/actions", json={"action": "close"},
        headers=admin_headers,
    )  # fmt: skip

    assert close.status_code == 202, close.get_json()
    view = wait_final(
        client,
        admin_headers,
        close.get_json()["action_id"],
        "/api/broadcast_status?broadcast_id={}",
    )
    assert [t["status"] for t in view["targets"]] == ["executed"]
    assert positions(client, owner, account) == []


def test_close_all_breach_stops_out_and_closes_every_position(
    app, client, broker, owner, account, admin_headers
):
    protect(client, owner, account, max_drawdown_percent="3", on_breach="close_all")
    check(app)
    opened(client, admin_headers)
    quote(broker, "2353.00")  # +300 USD (bought at 2350.00): the high-water mark 10,300
    check(app)
    quote(broker, "2350.00")  # 10,000: 2.91% down, within 3%
    assert check(app).breached == []

    quote(broker, "2349.90")  # 9,990: 3.01% down
    result = check(app)

    shown = subscription(client, owner, account)
    assert result.breached == [account["id"]] and len(result.closing) == 1
    assert shown["state"] == "stopped_out"
    assert shown["breach"]["rule"] == "max_drawdown_percent"
    assert shown["breach"]["figures"]["equity_high"] == "10300.00"
    view = wait_final(client, owner["headers"], result.closing[0])
    assert (view["kind"], [t["status"] for t in view["targets"]]) == ("action", ["executed"])
    assert positions(client, owner, account) == []
    assert check(app).closing == []  # once per breach


def test_pre_trade_check_skips_the_open_and_records_the_breach(
    app, client, broker, owner, account, admin_headers
):
    protect(client, owner, account, daily_loss_limit={"percent": "5"})
    check(app)
    opened(client, admin_headers)
    quote(broker, "2343.80")  # -620 USD, not yet seen by a periodic pass

    view = opened(client, admin_headers, "0.10")

    [target] = view["targets"]
    assert (target["status"], target["reason"]) == ("skipped", "protection_breached")
    assert target["details"]["breach"]["rule"] == "daily_loss_limit"
    assert subscription(client, owner, account)["state"] == "close_only"
    assert len(events("protection_triggered")) == 2  # the notice and the audit entry
    assert len(positions(client, owner, account)) == 1


def test_max_open_positions_skips_opens_over_the_cap_without_a_breach(
    app, client, owner, account, admin_headers
):
    protect(client, owner, account, max_open_positions=1)
    opened(client, admin_headers, "0.10")

    view = opened(client, admin_headers, "0.10")

    [target] = view["targets"]
    assert (target["status"], target["reason"]) == ("skipped", "max_open_positions")
    assert subscription(client, owner, account)["state"] == "active"


def test_reset_after_breach_receives_opens_again(
    app, client, broker, owner, account, admin_headers
):
    protect(client, owner, account, daily_loss_limit={"percent": "5"})
    check(app)
    opened(client, admin_headers)
    quote(broker, "2343.80")
    check(app)

    response = client.post(
        f"/api/accounts/{account['id']}/subscription/reset", headers=owner["headers"]
    )

    assert response.status_code == 200, response.get_json()
    shown = response.get_json()
    assert (shown["state"], shown["breach"], shown["equity"]["day_start"]) == ("active", None, None)
    check(app)  # measured afresh from here: the day starts at today's equity
    assert subscription(client, owner, account)["state"] == "active"
    view = opened(client, admin_headers, "0.10")
    assert [t["status"] for t in view["targets"]] == ["executed"]


def test_super_admin_may_reset_any_account_another_user_may_not(
    app, client, broker, owner, account, admin_headers
):
    protect(client, owner, account, daily_loss_limit={"percent": "5"})
    check(app)
    opened(client, admin_headers)
    quote(broker, "2343.80")
    check(app)
    stranger = auth_headers(client, make_user(app))
    url = f"/api/accounts/{account['id']}/subscription/reset"

    assert_error(client.post(url, headers=stranger), 404, "account_not_found")
    assert subscription(client, owner, account)["state"] == "close_only"
    response = client.post(url, headers=admin_headers)

    assert response.status_code == 200 and response.get_json()["state"] == "active"


def test_reset_of_an_unsubscribed_account_is_404(client, owner, account):
    response = client.post(
        f"/api/accounts/{account['id']}/subscription/reset", headers=owner["headers"]
    )

    assert_error(response, 404, "not_subscribed")


def test_equity_pass_skips_an_unreachable_terminal_and_goes_on(app, client, broker, owner, account):
    app.config["MT5_ALLOWED_TERMINALS"] = ["rpyc://127.0.0.1:1"]  # nothing listens there
    away = make_account(client, owner["headers"], terminal="rpyc://127.0.0.1:1")
    protect(client, owner, away, daily_loss_limit={"percent": "5"})
    protect(client, owner, account, daily_loss_limit={"percent": "5"})

    result = check(app)

    assert (result.read, result.unreachable) == (1, [away["id"]])
    assert subscription(client, owner, away)["state"] == "active"
    assert subscription(client, owner, account)["equity"]["day_start"] == "10000"
