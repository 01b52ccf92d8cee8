"""The terminal endpoints: connect, positions, deals, symbols; errors and other users' accounts."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest
from factories import assert_error, auth_headers, make_account, make_user

from errors import MT5Timeout, MT5Unavailable
from services.mt5.dto import AccountRef, OrderRequest


@pytest.fixture
def owner(app: Any, client: Any) -> dict[str, Any]:
    return auth_headers(client, make_user(app))


def gateway(app: Any) -> Any:
    return app.extensions["mt5_gateway"]


def ref(account: dict[str, Any], password: str = "Mt5-S3cret!pass") -> AccountRef:
    return AccountRef(
        account_id=account["id"],
        terminal="sim://default",
        login=int(account["login"]),
        password=password,
        server=account["server"],
    )


def connected(client: Any, headers: dict[str, str], **fields: Any) -> dict[str, Any]:
    account = make_account(client, headers, **fields)
    assert client.post(f"/api/accounts/{account['id']}/connect", headers=headers).status_code == 200
    return account


def test_connect_simulated_account_returns_account_info_and_records_status(
    client: Any, owner: Any
) -> None:
    account = make_account(client, owner)

    response = client.post(f"/api/accounts/{account['id']}/connect", headers=owner)

    assert response.status_code == 200, response.get_json()
    body = response.get_json()
    assert body["connected"] is True
    assert body["account_info"]["login"] == int(account["login"])
    assert Decimal(body["account_info"]["balance"]) == 10000
    assert body["account_info"]["margin_mode"] == "hedging"
    assert body["terminal"]["simulated"] is True
    assert body["latency_ms"] >= 0
    row = client.get(f"/api/accounts/{account['id']}", headers=owner).get_json()
    assert row["connection_status"] == "connected"
    assert row["last_connected_at"] is not None


def test_connect_wrong_password_is_422_mt5_auth_failed_and_recorded(
    client: Any, owner: Any
) -> None:
    account = connected(client, owner)
    client.patch(f"/api/accounts/{account['id']}", json={"password": "wrong-one"}, headers=owner)

    response = client.post(f"/api/accounts/{account['id']}/connect", headers=owner)

    assert_error(response, 422, "mt5_auth_failed")
    row = client.get(f"/api/accounts/{account['id']}", headers=owner).get_json()
    assert row["connection_status"] == "failed"
    assert "mt5_auth_failed" in row["last_error"]


def test_connect_unreachable_terminal_is_502_mt5_unavailable(
    app: Any, client: Any, owner: Any
) -> None:
    app.config["MT5_ALLOWED_TERMINALS"] = ["rpyc://127.0.0.1:1"]
    account = make_account(client, owner, terminal="rpyc://127.0.0.1:1")

    response = client.post(f"/api/accounts/{account['id']}/connect", headers=owner)

    assert_error(response, 502, "mt5_unavailable")
    row = client.get(f"/api/accounts/{account['id']}", headers=owner).get_json()
    assert row["connection_status"] == "failed"


def test_connect_terminal_timeout_is_504_mt5_timeout(
    app: Any, client: Any, owner: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    account = make_account(client, owner)

    def hang(_account: Any) -> Any:
        raise MT5Timeout(details={"call": "login"})

    monkeypatch.setattr(gateway(app), "connect", hang)
    response = client.post(f"/api/accounts/{account['id']}/connect", headers=owner)

    assert_error(response, 504, "mt5_timeout")
    row = client.get(f"/api/accounts/{account['id']}", headers=owner).get_json()
    assert row["connection_status"] == "failed"
    assert "mt5_timeout" in row["last_error"]


def test_connect_another_users_account_is_404(app: Any, client: Any, owner: Any) -> None:
    account = make_account(client, owner)
    stranger = auth_headers(client, make_user(app))

    assert_error(
        client.post(f"/api/accounts/{account['id']}/connect", headers=stranger),
        404,
        "account_not_found",
    )


def test_positions_after_an_order_lists_it_with_magic_and_comment(
    app: Any, client: Any, owner: Any
) -> None:
    account = connected(client, owner)
    gateway(app).send_order(
        ref(account),
        OrderRequest(
            symbol="XAUUSD", side="buy", volume=Decimal("0.10"), magic=42, comment="row-7"
        ),
    )

    response = client.get(f"/api/accounts/{account['id']}/positions", headers=owner)

    assert response.status_code == 200, response.get_json()
    [position] = response.get_json()["positions"]
    assert (position["symbol"], position["type"]) == ("XAUUSD", "buy")
    assert Decimal(position["volume"]) == Decimal("0.1")
    assert (position["magic"], position["comment"]) == (42, "row-7")
    assert set(position) >= {"ticket", "price_open", "sl", "tp", "profit", "time"}


def test_positions_unreachable_terminal_is_502(
    app: Any, client: Any, owner: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    account = make_account(client, owner)

    def down(*_args: Any) -> Any:
        raise MT5Unavailable()

    monkeypatch.setattr(gateway(app), "positions", down)
    assert_error(
        client.get(f"/api/accounts/{account['id']}/positions", headers=owner),
        502,
        "mt5_unavailable",
    )


def test_positions_another_users_account_is_404(app: Any, client: Any, owner: Any) -> None:
    account = make_account(client, owner)
    stranger = auth_headers(client, make_user(app))

    assert_error(
        client.get(f"/api/accounts/{account['id']}/positions", headers=stranger),
        404,
        "account_not_found",
    )


def test_deals_default_window_includes_the_opening_deposit(client: Any, owner: Any) -> None:
    account = connected(client, owner)

    response = client.get(f"/api/accounts/{account['id']}/deals", headers=owner)

    assert response.status_code == 200, response.get_json()
    body = response.get_json()
    assert [d["type"] for d in body["deals"]] == ["balance"]
    assert Decimal(body["deals"][0]["profit"]) == 10000
    assert body["from"] < body["to"]


def test_deals_to_before_from_is_422(client: Any, owner: Any) -> None:
    account = make_account(client, owner)

    response = client.get(
        f"/api/accounts/{account['id']}/deals?from=2025-01-02T00:00:00Z&to=2025-01-01T00:00:00Z",
        headers=owner,
    )

    assert_error(response, 422, "validation_error")


@pytest.mark.parametrize(
    "query",
    [
        {"from": "0001-01-01T00:00:00+01:00"},  # before year 1 in UTC
        {"to": "9999-12-31T23:59:59-01:00"},  # after 9999 in UTC
        {"to": "0001-01-03T00:00:00Z"},  # the default 7 days before it are before year 1
    ],
)
@pytest.mark.parametrize("route", ["deals", "equity"])
def test_time_window_out_of_the_calendar_is_422_not_500(
    client: Any, owner: Any, route: str, query: dict[str, str]
) -> None:
    account = make_account(client, owner)

    response = client.get(f"/api/accounts/{account['id']}/{route}", query_string=query,
                          headers=owner)  # fmt: skip

    assert_error(response, 422, "validation_error")


def test_deals_not_a_datetime_is_422(client: Any, owner: Any) -> None:
    account = make_account(client, owner)

    response = client.get(f"/api/accounts/{account['id']}/deals?from=yesterday", headers=owner)

    assert_error(response, 422, "validation_error")


def test_deals_another_users_account_is_404(app: Any, client: Any, owner: Any) -> None:
    account = make_account(client, owner)
    stranger = auth_headers(client, make_user(app))

    assert_error(
        client.get(f"/api/accounts/{account['id']}/deals", headers=stranger),
        404,
        "account_not_found",
    )


def test_symbol_gold_alias_resolves_to_xauusd_with_decimal_spec(client: Any, owner: Any) -> None:
    account = make_account(client, owner)

    response = client.get(f"/api/accounts/{account['id']}/symbols/GOLD", headers=owner)

    assert response.status_code == 200, response.get_json()
    body = response.get_json()
    assert (body["requested"], body["resolved"]) == ("GOLD", "XAUUSD")
    assert Decimal(body["spec"]["contract_size"]) == 100
    assert body["spec"]["tick_size"] == "0.01"


def test_symbol_spec_spells_calc_mode_as_the_calculator_does(client: Any, owner: Any) -> None:
    account = make_account(client, owner)

    body = client.get(f"/api/accounts/{account['id']}/symbols/XAUUSD", headers=owner).get_json()

    assert body["spec"]["calc_mode"] == "cfdleverage"


def test_symbol_suffix_broker_resolves_to_its_variant(client: Any, owner: Any) -> None:
    account = make_account(client, owner, server="Sim-Trial")

    body = client.get(f"/api/accounts/{account['id']}/symbols/XAUUSD", headers=owner).get_json()

    assert body["resolved"] == "XAUUSDm"


@pytest.mark.parametrize("route", ["symbols", "quote"])
def test_symbol_unknown_is_422_with_candidates(client: Any, owner: Any, route: str) -> None:
    account = make_account(client, owner)

    response = client.get(f"/api/accounts/{account['id']}/{route}/EURUSX", headers=owner)

    error = assert_error(response, 422, "unknown_symbol")
    assert "EURUSD" in error["details"]["candidates"]


def test_symbol_another_users_account_is_404(app: Any, client: Any, owner: Any) -> None:
    account = make_account(client, owner)
    stranger = auth_headers(client, make_user(app))

    assert_error(
        client.get(f"/api/accounts/{account['id']}/symbols/XAUUSD", headers=stranger),
        404,
        "account_not_found",
    )


def test_status_reports_the_simulated_default_terminal(client: Any) -> None:
    body = client.get("/api/status").get_json()

    assert body["gateway"]["ok"] is True
    assert body["gateway"]["simulated"] is True
    assert body["gateway"]["terminal"] == "sim://default"


# --- quotes ------------------------------------------------------------------------------------


def set_gold(app: Any, bid: str, ask: str) -> None:
    from factories import sim_broker_of

    sim_broker_of(gateway(app)).set_quote("XAUUSD", Decimal(bid), Decimal(ask), freeze=True)


def test_quote_returns_bid_ask_spread_points_and_time(app: Any, client: Any, owner: Any) -> None:
    account = make_account(client, owner)
    set_gold(app, "2349.80", "2350.00")

    response = client.get(f"/api/accounts/{account['id']}/quote/XAUUSD", headers=owner)

    assert response.status_code == 200, response.get_json()
    body = response.get_json()
    assert {k: body[k] for k in ("requested", "symbol", "bid", "ask", "spread_points")} == {
        "requested": "XAUUSD", "symbol": "XAUUSD", "bid": "2349.80", "ask": "2350.00",
        "spread_points": 20,
    }  # fmt: skip
    assert body["time"] is not None


def test_quote_resolves_the_brokers_name(app: Any, client: Any, owner: Any) -> None:
    account = make_account(client, owner, server="Sim-Trial")
    set_gold(app, "2349.80", "2350.10")

    body = client.get(f"/api/accounts/{account['id']}/quote/XAUUSD", headers=owner).get_json()

    assert (body["symbol"], body["bid"], body["spread_points"]) == ("XAUUSDm", "2349.80", 30)


def test_quote_unreachable_terminal_is_502(app: Any, client: Any, owner: Any) -> None:
    app.config["MT5_ALLOWED_TERMINALS"] = ["rpyc://127.0.0.1:1"]
    account = make_account(client, owner, terminal="rpyc://127.0.0.1:1")

    response = client.get(f"/api/accounts/{account['id']}/quote/XAUUSD", headers=owner)

    assert_error(response, 502, "mt5_unavailable")
