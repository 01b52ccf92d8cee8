"""Followers over HTTP: opt-in subscriptions, each follower's own sizing and symbol filters,
dry runs, and the dispatches a follower sees; on the simulated broker."""

from __future__ import annotations

import time
from decimal import Decimal
from typing import Any

import pytest
from factories import (
    SimTrader,
    account_body,
    assert_error,
    auth_headers,
    frozen_quotes,
    make_user,
)
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

MT5_PASSWORD = account_body()["password"]
STOP = "2340.00"  # 10.00 under the frozen Ask of 2350.00: 1,000 USD per lot at the stop


@pytest.fixture
def broker(sim_broker):
    return frozen_quotes(sim_broker())


@pytest.fixture
def admin(app):
    return make_user(app, role="super_admin")


@pytest.fixture
def admin_headers(client, admin):
    return auth_headers(client, admin)


@pytest.fixture
def follower(client, app, broker):
    return lambda: SimTrader(client, app, broker)


def order(**fields: Any) -> dict[str, Any]:
    return {"symbol": "XAUUSD", "side": "buy", "deviation": 50, **fields}


def broadcast(client, headers, body: dict[str, Any]):
    return client.post("/api/broadcast_orders", json=body, headers=headers)


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


def run(client, headers, body: dict[str, Any]) -> dict[str, Any]:
    response = broadcast(client, headers, body)
    assert response.status_code == 202, response.get_json()
    return wait_final(client, headers, response.get_json()["broadcast_id"])


def by_account(view: dict[str, Any]) -> dict[int, dict[str, Any]]:
    return {t["account_id"]: t for t in view["targets"]}


FOLLOWER_BODY = {
    "targets": {"all": True},
    "order": order(stop_loss=STOP, volume="0.10"),
    "sizing": {"mode": "follower"},
}


# --- opting in ------------------------------------------------------------------------------


def test_new_account_is_not_subscribed_and_receives_no_broadcast(client, follower, admin_headers):
    someone = follower()
    account = someone.account()

    shown = someone.subscription(account)
    response = broadcast(client, admin_headers, {**FOLLOWER_BODY})

    assert shown["subscribed"] is False and shown["state"] is None
    assert shown["receives_opens"] is False
    assert_error(response, 422, "no_targets")


@pytest.mark.parametrize(
    "body",
    [{}, {"accept_terms": False}, {"accept_terms": "yes"}, {"sizing": {"mode": "fixed_volume"}}],
)
def test_put_subscription_without_accepting_terms_is_refused(client, follower, body):
    someone = follower()
    account = someone.account()

    response = client.put(
        f"/api/accounts/{account['id']}/subscription", json=body, headers=someone.headers
    )

    assert_error(response, 422, "validation_error")
    assert someone.subscription(account)["subscribed"] is False


@pytest.mark.parametrize(
    ("terms", "field"),
    [
        ({"sizing": {"mode": "risk_percent"}}, "percent"),
        ({"sizing": {"mode": "fixed_volume", "volume": "0.1", "percent": "1"}}, "percent"),
        ({"sizing": {"mode": "multiplier", "factor": "0"}}, "factor"),
        ({"sizing": {"mode": "balance_ratio"}}, "base_balance"),
        ({"sizing": {"mode": "fixed_volume", "volume": "1", "max_risk_percent": "2"}}, "max_risk"),
        ({"symbols": {"include": ["XAUUSD"], "exclude": ["EURUSD"]}}, "_schema"),
        ({"symbols": {"include": []}}, "include"),
        ({"protection": {"daily_loss_limit": {"percent": "5", "amount": "100"}}}, "_schema"),
        ({"protection": {"max_drawdown_percent": "150"}}, "max_drawdown_percent"),
        ({"protection": {"on_breach": "panic"}}, "on_breach"),
        ({"protection": {"max_open_positions": 0}}, "max_open_positions"),
    ],
)
def test_put_subscription_with_invalid_settings_is_422(client, follower, terms, field):
    someone = follower()
    account = someone.account()

    response = client.put(
        f"/api/accounts/{account['id']}/subscription",
        json={"accept_terms": True, **terms},
        headers=someone.headers,
    )

    error = assert_error(response, 422, "validation_error")
    assert field in str(error["details"])


def test_put_subscription_records_terms_time_and_ip_and_audits(client, app, follower, admin):
    someone = follower()
    account = someone.account()

    shown = someone.subscribe(account, sizing={"mode": "fixed_volume", "volume": "0.02"})

    assert shown["state"] == "active" and shown["consent"] == "confirmed"
    assert shown["subscribed"] is True and shown["receives_opens"] is True
    assert shown["terms_version"] == shown["current_terms_version"] == "2026-12"
    assert shown["accepted_at"] is not None
    assert shown["sizing"] == {"mode": "fixed_volume", "volume": "0.02", "below_min": "skip"}
    from extensions import db
    from models import AuditLog, Subscription

    stored = db.session.query(Subscription).filter_by(account_id=account["id"]).one()
    assert stored.accepted_ip == "127.0.0.1"
    entry = db.session.query(AuditLog).filter_by(event="subscription_accepted").one()
    assert (entry.target_id, entry.ip) == (account["id"], "127.0.0.1")
    assert entry.details["terms_version"] == "2026-12"


def test_subscription_of_another_users_account_is_404(client, follower):
    owner, other = follower(), follower()
    account = owner.account()

    for method in ("get", "put", "delete"):
        response = getattr(client, method)(
            f"/api/accounts/{account['id']}/subscription",
            json={"accept_terms": True} if method == "put" else None,
            headers=other.headers,
        )
        assert_error(response, 404, "account_not_found")
    assert owner.subscription(account)["subscribed"] is False


def test_delete_subscription_when_not_subscribed_is_404(client, follower):
    someone = follower()
    account = someone.account()

    response = client.delete(f"/api/accounts/{account['id']}/subscription", headers=someone.headers)

    assert_error(response, 404, "not_subscribed")


def test_unsubscribed_account_gets_no_new_opens_but_its_close_still_reaches(
    client, follower, admin_headers
):
    someone = follower()
    account = someone.account()
    someone.subscribe(account)
    opened = run(client, admin_headers, FOLLOWER_BODY)
    assert by_account(opened)[account["id"]]["status"] == "executed"

    paused = client.delete(
        f"/api/accounts/{account['id']}/subscription", headers=someone.headers
    ).get_json()
    again = broadcast(client, admin_headers, FOLLOWER_BODY)
    close = client.post(
        f"/api/broadcasts/{opened['dispatch_id']}/actions",
        json={"action": "close"},
        headers=admin_headers,
    )

    assert paused["state"] == "paused" and paused["subscribed"] is False
    assert_error(again, 422, "no_targets")
    assert close.status_code == 202, close.get_json()
    closed = wait_final(client, admin_headers, close.get_json()["action_id"])
    assert [t["status"] for t in closed["targets"]] == ["executed"]
    assert someone.subscription(account)["sizing"] is None  # kept as it was for a return


def test_resubscribing_a_paused_account_makes_it_active(client, follower, admin_headers):
    someone = follower()
    account = someone.account()
    someone.subscribe(account)
    client.delete(f"/api/accounts/{account['id']}/subscription", headers=someone.headers)

    shown = someone.subscribe(account, symbols={"include": ["XAUUSD"]})

    assert shown["state"] == "active"
    assert by_account(run(client, admin_headers, FOLLOWER_BODY))[account["id"]]["status"] == (
        "executed"
    )


def test_admin_suspension_stops_opens_whatever_the_subscription(client, follower, admin_headers):
    suspended, fine = follower(), follower()
    held, open_one = suspended.account(), fine.account()
    suspended.subscribe(held)
    fine.subscribe(open_one)
    response = client.patch(
        f"/api/users/{suspended.user.id}", json={"allow_broadcast": False}, headers=admin_headers
    )
    assert response.status_code == 200, response.get_json()

    view = run(client, admin_headers, FOLLOWER_BODY)

    assert set(by_account(view)) == {open_one["id"]}


def test_user_cannot_lift_their_own_suspension(client, follower):
    someone = follower()

    response = client.patch(
        f"/api/users/{someone.user.id}", json={"allow_broadcast": True}, headers=someone.headers
    )

    assert_error(response, 403, "forbidden")


# --- each follower's own sizing -------------------------------------------------------------


@pytest.mark.parametrize(
    ("sizing", "balance", "currency", "server", "lots"),
    [
        # 1% of 10,000 USD = 100 USD at 1,000 USD a lot
        ({"mode": "risk_percent", "percent": "1"}, "10000", "USD", "Sim-Demo", "0.10"),
        # 1% of 1,000,000 USC = 10,000 USC = 100 USD
        ({"mode": "risk_percent", "percent": "1"}, "1000000", "USC", "Sim-Cent", "0.10"),
        # 1% of 1,000,000 THB = 10,000 THB = 277.62 USD at 36.02
        ({"mode": "risk_percent", "percent": "1"}, "1000000", "THB", "Sim-Demo", "0.27"),
        ({"mode": "fixed_volume", "volume": "0.02"}, "10000", "USD", "Sim-Demo", "0.02"),
        ({"mode": "fixed_volume", "volume": "0.02"}, "1000000", "USC", "Sim-Cent", "0.02"),
        ({"mode": "fixed_volume", "volume": "0.02"}, "1000000", "THB", "Sim-Demo", "0.02"),
        ({"mode": "multiplier", "factor": "2"}, "10000", "USD", "Sim-Demo", "0.20"),
        ({"mode": "multiplier", "factor": "0.5"}, "1000000", "USC", "Sim-Cent", "0.05"),
        ({"mode": "multiplier", "factor": "3"}, "1000000", "THB", "Sim-Demo", "0.30"),
        # 0.10 x 25,000 / 10,000
        ({"mode": "balance_ratio", "base_balance": "10000"}, "25000", "USD", "Sim-Demo", "0.25"),
        # balances in the account's own currency: 1,000,000 USC / 10,000 base
        (
            {"mode": "balance_ratio", "base_balance": "1000000"},
            "1000000",
            "USC",
            "Sim-Cent",
            "0.10",
        ),
        ({"mode": "balance_ratio", "base_balance": "360000"}, "180000", "THB", "Sim-Demo", "0.05"),
        # max_volume caps any mode
        (
            {"mode": "multiplier", "factor": "10", "max_volume": "0.30"},
            "10000",
            "USD",
            "Sim-Demo",
            "0.30",
        ),
    ],
)
def test_follower_sizing_mode_sizes_each_target_by_its_own_rule(
    client, follower, admin_headers, sizing, balance, currency, server, lots
):
    someone = follower()
    account = someone.account(balance=balance, currency=currency, server=server)
    someone.subscribe(account, sizing=sizing)

    target = by_account(run(client, admin_headers, FOLLOWER_BODY))[account["id"]]

    assert (target["status"], target["volume"]) == ("executed", lots), target


def test_follower_mode_sizes_several_followers_differently_in_one_broadcast(
    client, follower, admin_headers
):
    a, b, c = follower(), follower(), follower()
    fixed, doubled, risky = a.account(), b.account(), c.account(balance="50000")
    a.subscribe(fixed, sizing={"mode": "fixed_volume", "volume": "0.02"})
    b.subscribe(doubled, sizing={"mode": "multiplier", "factor": "2"})
    c.subscribe(risky, sizing={"mode": "risk_percent", "percent": "1"})

    view = by_account(run(client, admin_headers, FOLLOWER_BODY))

    assert {k: v["volume"] for k, v in view.items()} == {
        fixed["id"]: "0.02",
        doubled["id"]: "0.20",
        risky["id"]: "0.50",
    }


@pytest.mark.parametrize(
    ("settings", "lots"),
    [
        ({"risk_percent": "2"}, "0.20"),
        ({"fixed_volume": "0.03"}, "0.03"),
        ({"volume_multiplier": "2"}, "0.20"),
        ({}, "0.10"),  # the signal's own volume
    ],
)
def test_follower_mode_without_subscription_sizing_uses_the_accounts_settings(
    client, follower, admin_headers, settings, lots
):
    someone = follower()
    account = someone.account(**settings)
    someone.subscribe(account)

    target = by_account(run(client, admin_headers, FOLLOWER_BODY))[account["id"]]

    assert (target["status"], target["volume"]) == ("executed", lots), target


def test_multiplier_follower_on_a_signal_without_volume_fails_no_signal_volume(
    client, follower, admin_headers
):
    someone = follower()
    account = someone.account()
    someone.subscribe(account, sizing={"mode": "multiplier", "factor": "2"})
    body = {**FOLLOWER_BODY, "order": order(stop_loss=STOP, risk={"percent": "1"})}

    target = by_account(run(client, admin_headers, body))[account["id"]]

    assert (target["status"], target["reason"]) == ("failed", "no_signal_volume")


def test_small_cent_account_below_min_lot_is_skipped_with_money_in_usc_and_usd(
    client, follower, admin_headers
):
    someone = follower()
    # 10,000 USC = 100 USD: 1% = 1 USD buys 0.001 lots; the 0.01 minimum risks 10 USD
    account = someone.account(balance="10000", currency="USC", server="Sim-Cent")
    someone.subscribe(account, sizing={"mode": "risk_percent", "percent": "1"})

    target = by_account(run(client, admin_headers, FOLLOWER_BODY))[account["id"]]

    assert (target["status"], target["reason"]) == ("skipped", "below_min_volume"), target
    assert "1000.00 USC, 10.00 USD" in target["error"]


def test_thb_account_below_min_lot_message_carries_thb_and_usd(client, follower, admin_headers):
    someone = follower()
    account = someone.account(balance="3000", currency="THB")  # 83.29 USD
    someone.subscribe(account, sizing={"mode": "risk_percent", "percent": "1"})

    target = by_account(run(client, admin_headers, FOLLOWER_BODY))[account["id"]]

    assert target["reason"] == "below_min_volume"
    assert " THB, 10.00 USD" in target["error"], target["error"]


@pytest.mark.parametrize(
    ("max_risk", "status", "volume"),
    [
        (None, "executed", "0.01"),  # min_lot without a bound: the minimum
        ("15", "executed", "0.01"),  # the minimum risks 10 USD = 10% of 100 USD: within 15%
        ("5", "skipped", None),  # ... but not within 5%
    ],
)
def test_min_lot_trades_the_minimum_only_within_max_risk_percent(
    client, follower, admin_headers, max_risk, status, volume
):
    someone = follower()
    account = someone.account(balance="10000", currency="USC", server="Sim-Cent")
    sizing: dict[str, Any] = {"mode": "risk_percent", "percent": "1", "below_min": "min_lot"}
    if max_risk:
        sizing["max_risk_percent"] = max_risk
    someone.subscribe(account, sizing=sizing)

    target = by_account(run(client, admin_headers, FOLLOWER_BODY))[account["id"]]

    assert (target["status"], target["volume"]) == (status, volume), target
    if status == "skipped":
        assert target["reason"] == "below_min_volume"


def test_explicit_provider_sizing_still_overrides_the_followers_own(
    client, follower, admin_headers
):
    someone = follower()
    account = someone.account()
    someone.subscribe(account, sizing={"mode": "fixed_volume", "volume": "0.02"})
    body = {**FOLLOWER_BODY, "sizing": {"mode": "fixed_volume", "volume": "0.05"}}

    target = by_account(run(client, admin_headers, body))[account["id"]]

    assert target["volume"] == "0.05"


# --- symbol filters ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("symbols", "traded"),
    [
        ({"include": ["XAUUSD"]}, {"XAUUSD"}),
        ({"include": ["eurusd"]}, {"EURUSD"}),
        ({"exclude": ["XAUUSD"]}, {"EURUSD"}),
        (None, {"XAUUSD", "EURUSD"}),
    ],
)
def test_symbol_filter_skips_filtered_symbols_with_symbol_filtered(
    client, follower, admin_headers, symbols, traded
):
    someone = follower()
    account = someone.account()
    someone.subscribe(account, **({"symbols": symbols} if symbols else {}))
    seen = set()

    for symbol in ("XAUUSD", "EURUSD"):
        body = {
            "targets": {"all": True},
            "order": {"symbol": symbol, "side": "buy", "volume": "0.01", "deviation": 50},
        }
        target = by_account(run(client, admin_headers, body))[account["id"]]
        if target["status"] == "executed":
            seen.add(symbol)
        else:
            assert (target["status"], target["reason"]) == ("skipped", "symbol_filtered")

    assert seen == traded


def test_symbol_filter_matches_the_brokers_suffixed_name(client, follower, admin_headers):
    someone = follower()
    account = someone.account(server="Sim-Trial")  # its gold is XAUUSDm
    someone.subscribe(account, symbols={"exclude": ["XAUUSDm"]})

    target = by_account(
        run(client, admin_headers, {"targets": {"all": True}, "order": order(volume="0.01")})
    )[account["id"]]

    assert (target["status"], target["reason"]) == ("skipped", "symbol_filtered")


# --- dry run ----------------------------------------------------------------------------------


def _dispatch_count() -> int:
    from extensions import db
    from models import BroadcastQueue, Dispatch

    db.session.rollback()
    return db.session.query(Dispatch).count() + db.session.query(BroadcastQueue).count()


def test_broadcast_dry_run_previews_each_target_and_creates_nothing(
    client, follower, admin_headers
):
    a, b, c = follower(), follower(), follower()
    usd = a.account()
    cent = b.account(balance="10000", currency="USC", server="Sim-Cent")
    thb = c.account(balance="1000000", currency="THB")
    a.subscribe(usd, sizing={"mode": "risk_percent", "percent": "1"})
    b.subscribe(cent, sizing={"mode": "risk_percent", "percent": "1"})
    c.subscribe(
        thb, sizing={"mode": "fixed_volume", "volume": "0.02"}, symbols={"include": ["EURUSD"]}
    )
    before = _dispatch_count()

    response = broadcast(client, admin_headers, {**FOLLOWER_BODY, "dry_run": True})

    assert response.status_code == 200, response.get_json()
    preview = response.get_json()
    assert _dispatch_count() == before
    assert preview["dry_run"] is True and preview["accounts"] == 3
    assert preview["counts"] == {"would_send": 1, "would_skip": 2, "would_fail": 0}
    targets = {t["account_id"]: t for t in preview["targets"]}
    assert targets[usd["id"]]["verdict"] == "would_send"
    assert targets[usd["id"]]["volume"] == "0.10"
    assert targets[usd["id"]]["risk"] == {"amount": "100.00", "currency": "USD", "usd": "100.00"}
    assert (targets[cent["id"]]["verdict"], targets[cent["id"]]["reason"]) == (
        "would_skip",
        "below_min_volume",
    )
    assert "USC, 10.00 USD" in targets[cent["id"]]["message"]
    assert targets[thb["id"]]["reason"] == "symbol_filtered"
    assert targets[usd["id"]]["user_id"] == a.user.id


def test_broadcast_dry_run_gives_risk_in_the_accounts_currency_and_usd(
    client, follower, admin_headers
):
    someone = follower()
    thb = someone.account(balance="1000000", currency="THB")
    someone.subscribe(thb, sizing={"mode": "fixed_volume", "volume": "0.10"})

    preview = broadcast(client, admin_headers, {**FOLLOWER_BODY, "dry_run": True}).get_json()

    [target] = preview["targets"]
    assert target["risk"]["currency"] == "THB"
    # 0.10 lots lose 100 USD at the stop: about 3,600 THB at USDTHB 36.00-36.02
    assert Decimal("3590") < Decimal(target["risk"]["amount"]) < Decimal("3610")
    assert Decimal("99") < Decimal(target["risk"]["usd"]) < Decimal("101")


def test_broadcast_dry_run_with_no_targets_is_422(client, admin_headers, follower):
    follower().account()

    response = broadcast(client, admin_headers, {**FOLLOWER_BODY, "dry_run": True})

    assert_error(response, 422, "no_targets")


def test_send_orders_dry_run_previews_own_accounts_and_sends_nothing(client, follower):
    someone = follower()
    account = someone.account()
    small = someone.account(balance="100")
    before = _dispatch_count()

    response = client.post(
        "/api/send_orders",
        json={
            "account_ids": [account["id"], small["id"]],
            **order(stop_loss=STOP, risk={"percent": "1"}),
            "dry_run": True,
        },
        headers=someone.headers,
    )

    assert response.status_code == 200, response.get_json()
    preview = response.get_json()
    assert _dispatch_count() == before
    targets = {t["account_id"]: t for t in preview["targets"]}
    assert (targets[account["id"]]["verdict"], targets[account["id"]]["volume"]) == (
        "would_send",
        "0.10",
    )
    assert (targets[small["id"]]["verdict"], targets[small["id"]]["reason"]) == (
        "would_fail",
        "below_min_volume",
    )


def test_send_orders_dry_run_on_another_users_account_is_404(client, follower):
    owner, other = follower(), follower()
    account = owner.account()

    response = client.post(
        "/api/send_orders",
        json={"account_ids": [account["id"]], **order(volume="0.01"), "dry_run": True},
        headers=other.headers,
    )

    assert_error(response, 404, "account_not_found")


# --- what a follower sees -------------------------------------------------------------------


def test_me_dispatches_lists_what_reached_my_accounts_with_only_my_targets(
    client, follower, admin_headers
):
    me, other = follower(), follower()
    mine, theirs = me.account(), other.account()
    me.subscribe(mine)
    other.subscribe(theirs)
    first = run(client, admin_headers, FOLLOWER_BODY)
    second = run(
        client, admin_headers, {**FOLLOWER_BODY, "targets": {"account_ids": [theirs["id"]]}}
    )
    third = run(client, admin_headers, FOLLOWER_BODY)

    listed = client.get("/api/me/dispatches", headers=me.headers).get_json()
    one = client.get(f"/api/me/dispatches/{first['dispatch_id']}", headers=me.headers)
    hidden = client.get(f"/api/me/dispatches/{second['dispatch_id']}", headers=me.headers)

    assert [d["dispatch_id"] for d in listed["dispatches"]] == [
        third["dispatch_id"],
        first["dispatch_id"],
    ]
    assert listed["total"] == 2
    assert listed["dispatches"][0]["account_ids"] == [mine["id"]]
    assert listed["dispatches"][0]["counts"]["executed"] == 1
    assert listed["dispatches"][0]["status"] == "completed"
    assert one.status_code == 200
    assert [t["account_id"] for t in one.get_json()["targets"]] == [mine["id"]]
    assert one.get_json()["total"] == 1
    assert_error(hidden, 404, "dispatch_not_found")


def test_me_dispatch_pages_my_targets_by_key(client, follower, admin_headers):
    me, other = follower(), follower()
    mine = [me.account() for _ in range(3)]
    for account in mine:
        me.subscribe(account)
    other.subscribe(other.account())
    sent = run(client, admin_headers, FOLLOWER_BODY)
    url = f"/api/me/dispatches/{sent['dispatch_id']}"

    seen, after, pages = [], None, 0
    while True:
        query = {"per_page": 2, **({"after": after} if after is not None else {})}
        response = client.get(url, query_string=query, headers=me.headers)
        assert response.status_code == 200, response.get_json()
        body = response.get_json()
        seen += [t["account_id"] for t in body["targets"]]
        pages += 1
        after = body["next_after"]
        if after is None:
            break

    assert seen == [a["id"] for a in mine] and pages == 2  # only mine, in order, by key
    assert body["total"] == 3
    past_the_end = client.get(url, query_string={"after": 2**31}, headers=me.headers)
    assert past_the_end.status_code == 200 and past_the_end.get_json()["targets"] == []


def test_me_dispatches_pages_newest_first(client, follower, admin_headers):
    me = follower()
    me.subscribe(me.account())
    ids = [run(client, admin_headers, FOLLOWER_BODY)["dispatch_id"] for _ in range(3)]

    page = client.get(
        "/api/me/dispatches", query_string={"page": 2, "per_page": 2}, headers=me.headers
    ).get_json()

    assert [d["dispatch_id"] for d in page["dispatches"]] == [ids[0]]
    assert (page["total"], page["page"], page["per_page"]) == (3, 2, 2)


@pytest.mark.parametrize("query", [{"page": 0}, {"per_page": 501}, {"page": "x"}])
def test_me_dispatches_bad_page_is_422(client, follower, query):
    response = client.get("/api/me/dispatches", query_string=query, headers=follower().headers)

    assert_error(response, 422, "validation_error")


# --- the property: opens reach subscribed accounts only, closes reach every holder ------------

STATES = st.sampled_from([None, "active", "paused", "close_only", "stopped_out"])
ACCOUNT_CASE = st.tuples(STATES, st.booleans(), st.booleans())  # state, allow_broadcast, copy


def _set_case(app, account: dict[str, Any], user: Any, case: tuple[Any, bool, bool]) -> None:
    from extensions import db
    from models import MT5Account, Subscription, User

    state, allow, copy = case
    if state is not None:
        db.session.add(
            Subscription(
                account_id=account["id"], user_id=user.id, state=state, consent="confirmed"
            )
        )
    db.session.get(User, user.id).allow_broadcast = allow
    db.session.get(MT5Account, account["id"]).copy_enabled = copy
    db.session.commit()


@settings(
    max_examples=12,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(cases=st.lists(ACCOUNT_CASE, min_size=1, max_size=4), later=STATES)
def test_opens_reach_only_active_subscriptions_and_closes_reach_every_holder(
    app, client, follower, admin_headers, cases, later
):
    from extensions import db
    from models import Subscription

    accounts = []
    for case in cases:
        someone = follower()
        account = someone.account()
        _set_case(app, account, someone.user, case)
        accounts.append((someone, account, case))
    wanted = {
        a["id"] for _, a, (state, allow, copy) in accounts if state == "active" and allow and copy
    }
    body = {
        "targets": {"account_ids": [a["id"] for _, a, _ in accounts]},
        "order": order(volume="0.01"),
    }

    response = broadcast(client, admin_headers, body)

    if not wanted:
        assert_error(response, 422, "no_targets")
        return
    assert response.status_code == 202, response.get_json()
    view = wait_final(client, admin_headers, response.get_json()["broadcast_id"])
    assert {t["account_id"] for t in view["targets"]} == wanted
    assert all(t["status"] == "executed" for t in view["targets"])
    for someone, account, _ in accounts:
        held = client.get(f"/api/accounts/{account['id']}/positions", headers=someone.headers)
        assert len(held.get_json()["positions"]) == (1 if account["id"] in wanted else 0)

    # whatever the subscriptions turn into, the close reaches every account holding the trade
    db.session.query(Subscription).filter(Subscription.account_id.in_(wanted)).delete()
    if later is not None:
        owners = {a["id"]: someone.user.id for someone, a, _ in accounts}
        db.session.add_all(
            Subscription(account_id=i, user_id=owners[i], state=later, consent="confirmed")
            for i in wanted
        )
    db.session.commit()
    close = client.post(
        f"/api/broadcasts/{view['dispatch_id']}/actions",
        json={"action": "close"},
        headers=admin_headers,
    )
    assert close.status_code == 202, close.get_json()
    closed = wait_final(client, admin_headers, close.get_json()["action_id"])
    assert {t["account_id"] for t in closed["targets"]} == wanted
    assert all(t["status"] == "executed" for t in closed["targets"])
