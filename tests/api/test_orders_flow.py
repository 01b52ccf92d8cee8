"""send_orders end to end on the embedded executor and the simulated broker."""

from factories import assert_error, auth_headers, make_account, make_user


def _send(client, headers, account_ids, **fields):
    body = {
        "account_ids": account_ids,
        "symbol": "XAUUSD",
        "side": "buy",
        "volume": "0.10",
        "wait_s": 10,
        **fields,
    }
    return client.post("/api/send_orders", json=body, headers=headers)


def test_send_orders_market_buy_fills_every_account(client, app):
    user = make_user(app)
    headers = auth_headers(client, user)
    first = make_account(client, headers)
    second = make_account(client, headers)
    response = _send(client, headers, [first["id"], second["id"]])
    assert response.status_code == 200, response.get_json()
    body = response.get_json()
    assert body["status"] == "completed"
    assert body["counts"]["executed"] == 2
    assert {t["account_id"] for t in body["targets"]} == {first["id"], second["id"]}
    assert all(t["retcode"] == 10009 and t["volume"] == "0.10" for t in body["targets"])


def test_send_orders_other_users_account_is_404(client, app):
    owner = make_user(app)
    other = make_user(app)
    account = make_account(client, auth_headers(client, owner))
    response = _send(client, auth_headers(client, other), [account["id"]])
    assert_error(response, 404, "account_not_found")
