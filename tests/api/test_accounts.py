"""MT5 accounts over HTTP: CRUD, validation, IDOR on every route, the write-only password."""

from __future__ import annotations

import json
from typing import Any

import pytest
from factories import account_body, assert_error, auth_headers, make_account, make_user

MT5_PASSWORD = "Mt5-S3cret!pass"
# Every route that names one account; later issues add theirs here.
ACCOUNT_ROUTES = [
    ("GET", "/api/accounts/{id}", None),
    ("PATCH", "/api/accounts/{id}", {"account_name": "mine now"}),
    ("DELETE", "/api/accounts/{id}", None),
]


def _api_key(client: Any, headers: dict[str, str]) -> dict[str, str]:
    key = client.post("/api/me/api_key", headers=headers).get_json()["api_key"]
    return {"X-API-Key": key}


@pytest.fixture
def owner_headers(client, app):
    return auth_headers(client, make_user(app))


# --- create, read, update, delete --------------------------------------------------------------


def test_create_account_returns_account_without_password(client, owner_headers):
    response = client.post("/api/accounts", json=account_body(), headers=owner_headers)

    assert response.status_code == 201
    body = response.get_json()
    assert body["account_name"] == "Gold main"
    assert body["account_type"] == "demo"
    assert body["terminal"] == "sim://default"
    assert body["connection_status"] == "never"
    assert "password" not in body and "password_encrypted" not in body


def test_list_accounts_returns_only_callers_accounts(client, app, owner_headers):
    mine = make_account(client, owner_headers)
    make_account(client, auth_headers(client, make_user(app)))

    response = client.get("/api/accounts", headers=owner_headers)

    assert response.status_code == 200
    assert [a["id"] for a in response.get_json()["accounts"]] == [mine["id"]]


def test_get_account_returns_it(client, owner_headers):
    account = make_account(client, owner_headers)

    response = client.get(f"/api/accounts/{account['id']}", headers=owner_headers)

    assert response.status_code == 200
    assert response.get_json()["login"] == account["login"]


def test_update_account_changes_fields(client, owner_headers):
    account = make_account(client, owner_headers)

    response = client.patch(
        f"/api/accounts/{account['id']}",
        json={"account_name": "Renamed", "account_type": "live", "risk_percent": "1.5"},
        headers=owner_headers,
    )

    assert response.status_code == 200
    body = response.get_json()
    assert (body["account_name"], body["account_type"], body["risk_percent"]) == (
        "Renamed",
        "live",
        "1.5",
    )


def test_update_account_empty_body_is_rejected(client, owner_headers):
    account = make_account(client, owner_headers)

    response = client.patch(f"/api/accounts/{account['id']}", json={}, headers=owner_headers)

    assert_error(response, 422, "validation_error")


def test_delete_account_then_get_is_not_found(client, owner_headers):
    account = make_account(client, owner_headers)

    assert client.delete(f"/api/accounts/{account['id']}", headers=owner_headers).status_code == 204

    response = client.get(f"/api/accounts/{account['id']}", headers=owner_headers)
    assert_error(response, 404, "account_not_found")


def test_delete_account_keeps_row_without_credentials(client, app, owner_headers):
    from extensions import db
    from models import MT5Account

    account = make_account(client, owner_headers)
    client.delete(f"/api/accounts/{account['id']}", headers=owner_headers)

    db.session.expire_all()
    row = db.session.get(MT5Account, account["id"])
    assert row is not None and row.deleted_at is not None
    assert row.password_encrypted == ""
    listed = client.get("/api/accounts", headers=owner_headers).get_json()["accounts"]
    assert listed == []


def test_delete_account_twice_is_not_found(client, owner_headers):
    account = make_account(client, owner_headers)
    client.delete(f"/api/accounts/{account['id']}", headers=owner_headers)

    response = client.delete(f"/api/accounts/{account['id']}", headers=owner_headers)

    assert_error(response, 404, "account_not_found")


def test_accounts_without_credentials_is_unauthorized(client):
    assert_error(client.get("/api/accounts"), 401, "unauthorized")


# --- validation --------------------------------------------------------------------------------


@pytest.mark.parametrize("missing", ["account_name", "login", "password", "server"])
def test_create_account_missing_field_is_rejected(client, owner_headers, missing):
    body = account_body()
    del body[missing]

    response = client.post("/api/accounts", json=body, headers=owner_headers)

    error = assert_error(response, 422, "validation_error")
    assert missing in json.dumps(error["details"])


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("account_type", "paper"),
        ("login", "12ab34"),
        ("login", ""),
        ("account_name", "x" * 101),
        ("account_name", True),
        ("server", 12345),
        ("risk_percent", "NaN"),
        ("risk_percent", True),
        ("risk_percent", "-1"),
        ("user_id", 1),
        ("is_active", False),
        ("terminal", "http://evil.example.com"),
    ],
)
def test_create_account_invalid_field_is_rejected(client, owner_headers, field, value):
    response = client.post(
        "/api/accounts", json=account_body(**{field: value}), headers=owner_headers
    )

    error = assert_error(response, 422, "validation_error")
    assert field in json.dumps(error["details"])


def test_create_account_terminal_not_allowed_is_refused(client, owner_headers):
    body = account_body(terminal="rpyc://10.0.0.5:18812")

    response = client.post("/api/accounts", json=body, headers=owner_headers)

    assert_error(response, 422, "terminal_not_allowed")


def test_update_account_terminal_not_allowed_is_refused(client, owner_headers):
    account = make_account(client, owner_headers)

    response = client.patch(
        f"/api/accounts/{account['id']}",
        json={"terminal": "rpyc://10.0.0.5:18812"},
        headers=owner_headers,
    )

    assert_error(response, 422, "terminal_not_allowed")


def test_create_account_allowed_terminal_is_accepted(client, app, owner_headers):
    app.config["MT5_ALLOWED_TERMINALS"] = ["rpyc://10.0.0.5:18812"]

    response = client.post(
        "/api/accounts", json=account_body(terminal="rpyc://10.0.0.5:18812"), headers=owner_headers
    )

    assert response.status_code == 201
    assert response.get_json()["terminal"] == "rpyc://10.0.0.5:18812"


# --- IDOR: another user's account is 404 on every route ----------------------------------------


@pytest.mark.parametrize(("method", "path", "body"), ACCOUNT_ROUTES)
def test_account_route_other_users_account_is_not_found_with_jwt(client, app, method, path, body):
    victim = make_account(client, auth_headers(client, make_user(app)))
    attacker = auth_headers(client, make_user(app))

    response = client.open(path.format(id=victim["id"]), method=method, json=body, headers=attacker)

    assert_error(response, 404, "account_not_found")


@pytest.mark.parametrize(("method", "path", "body"), ACCOUNT_ROUTES)
def test_account_route_other_users_account_is_not_found_with_api_key(
    client, app, method, path, body
):
    victim = make_account(client, auth_headers(client, make_user(app)))
    attacker = _api_key(client, auth_headers(client, make_user(app)))

    response = client.open(path.format(id=victim["id"]), method=method, json=body, headers=attacker)

    assert_error(response, 404, "account_not_found")


@pytest.mark.parametrize(("method", "path", "body"), ACCOUNT_ROUTES)
def test_account_route_unknown_id_is_not_found(client, owner_headers, method, path, body):
    response = client.open(path.format(id=987654), method=method, json=body, headers=owner_headers)

    assert_error(response, 404, "account_not_found")


def test_account_route_other_users_account_is_left_unchanged(client, app):
    from extensions import db
    from models import MT5Account

    victim = make_account(client, auth_headers(client, make_user(app)))
    attacker = auth_headers(client, make_user(app))

    client.patch(f"/api/accounts/{victim['id']}", json={"account_name": "pwned"}, headers=attacker)
    client.delete(f"/api/accounts/{victim['id']}", headers=attacker)

    db.session.expire_all()
    row = db.session.get(MT5Account, victim["id"])
    assert (row.account_name, row.deleted_at) == ("Gold main", None)


# --- the MT5 password is write-only -------------------------------------------------------------


def test_account_flow_never_returns_password(client, owner_headers):
    responses = []
    created = client.post("/api/accounts", json=account_body(), headers=owner_headers)
    account_id = created.get_json()["id"]
    responses.append(created)
    responses.append(client.get("/api/accounts", headers=owner_headers))
    responses.append(client.get(f"/api/accounts/{account_id}", headers=owner_headers))
    responses.append(
        client.patch(
            f"/api/accounts/{account_id}",
            json={"password": "Other-Mt5-pass", "account_name": "x"},
            headers=owner_headers,
        )
    )
    responses.append(client.get(f"/api/accounts/{account_id}", headers=owner_headers))
    responses.append(client.delete(f"/api/accounts/{account_id}", headers=owner_headers))

    for response in responses:
        text = response.get_data(as_text=True)
        assert response.status_code < 300
        assert MT5_PASSWORD not in text and "Other-Mt5-pass" not in text
        assert "password_encrypted" not in text and "v1:" not in text
