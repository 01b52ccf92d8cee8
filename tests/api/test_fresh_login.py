"""docs/security.md 7.5.1: sensitive actions need a fresh login (a JWT from a password login within
JWT_FRESH_MINUTES); refreshed tokens are not fresh and API keys can never do them."""

from __future__ import annotations

import shutil
from datetime import timedelta
from typing import Any

import jwt as pyjwt
import pytest
from factories import (
    PASSWORD,
    assert_error,
    auth_headers,
    login,
    make_account,
    make_config,
    make_user,
)

NEW_PASSWORD = "a brand new passphrase"


def _bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def stale_headers(client: Any, user: Any) -> dict[str, str]:
    """A valid access token that is not fresh: the one a refresh gives."""
    tokens = login(client, user.username)
    refreshed = client.post("/api/token/refresh", headers=_bearer(tokens["refresh_token"]))
    assert refreshed.status_code == 200, refreshed.get_json()
    return _bearer(refreshed.get_json()["access_token"])


def key_headers(client: Any, user: Any) -> dict[str, str]:
    response = client.post("/api/me/api_key", headers=auth_headers(client, user))
    assert response.status_code == 201, response.get_json()
    return {"X-API-Key": response.get_json()["api_key"]}


def _user_row(user_id: int) -> Any:
    from extensions import db
    from models import User

    db.session.expire_all()
    return db.session.get(User, user_id)


def _account_row(account_id: int) -> Any:
    from extensions import db
    from models import MT5Account

    db.session.expire_all()
    return db.session.get(MT5Account, account_id)


# --- always-fresh routes -----------------------------------------------------------------------

SENSITIVE = [
    ("POST", "/api/me/password", {"current_password": PASSWORD, "new_password": NEW_PASSWORD}),
    ("POST", "/api/me/api_key", None),
    ("DELETE", "/api/me/api_key", None),
    ("POST", "/api/me/mfa/setup", None),
    ("POST", "/api/me/mfa/confirm", {"otp": "123456"}),
    ("POST", "/api/me/mfa/disable", {"otp": "123456"}),
    ("POST", "/api/me/mfa/recovery_codes", {"otp": "123456"}),
]


@pytest.mark.parametrize(("method", "path", "body"), SENSITIVE)
def test_sensitive_route_with_refreshed_token_needs_a_fresh_login(client, app, method, path, body):
    user = make_user(app)
    before = _user_row(user.id).password_hash

    response = client.open(path, method=method, json=body, headers=stale_headers(client, user))

    assert_error(response, 401, "fresh_login_required")
    assert _user_row(user.id).password_hash == before


@pytest.mark.parametrize(("method", "path", "body"), SENSITIVE)
def test_sensitive_route_with_api_key_is_not_allowed(client, app, method, path, body):
    user = make_user(app)
    key = key_headers(client, user)

    response = client.open(path, method=method, json=body, headers=key)

    assert_error(response, 403, "api_key_not_allowed")
    assert client.get("/api/me", headers=key).status_code == 200  # the key itself still works


def test_fresh_window_over_needs_a_new_login(client, app):
    from flask_jwt_extended import create_access_token

    user = make_user(app)
    token = create_access_token(
        identity=str(user.id),
        additional_claims={"sid": "s-old", "role": user.role},
        fresh=timedelta(seconds=-1),
    )

    response = client.post("/api/me/api_key", headers=_bearer(token))

    assert_error(response, 401, "fresh_login_required")
    assert client.get("/api/me", headers=_bearer(token)).status_code == 200


def test_revoked_token_on_sensitive_route_is_revoked_not_stale(client, app):
    tokens = login(client, make_user(app).username)
    client.post("/api/logout", headers=_bearer(tokens["access_token"]))

    response = client.post("/api/me/api_key", headers=_bearer(tokens["access_token"]))

    assert_error(response, 401, "token_revoked")


def test_change_password_returns_fresh_tokens(client, app):
    user = make_user(app)

    changed = client.post(
        "/api/me/password",
        json={"current_password": PASSWORD, "new_password": NEW_PASSWORD},
        headers=auth_headers(client, user),
    ).get_json()

    assert (
        client.post("/api/me/api_key", headers=_bearer(changed["access_token"])).status_code == 201
    )


@pytest.fixture
def fresh_minutes_app(tmp_path, migrated_sqlite):
    from app import create_app

    from extensions import db

    shutil.copy(migrated_sqlite, tmp_path / "db.sqlite")
    application = create_app(make_config(tmp_path, EXECUTOR_AUTOSTART=False, JWT_FRESH_MINUTES=5))
    with application.app_context():
        yield application
        db.session.remove()
        db.engine.dispose()


def test_fresh_window_follows_jwt_fresh_minutes(fresh_minutes_app):
    user = make_user(fresh_minutes_app)
    client = fresh_minutes_app.test_client()

    claims = pyjwt.decode(
        login(client, user.username)["access_token"], options={"verify_signature": False}
    )

    assert fresh_minutes_app.config["JWT_FRESH_EXPIRES"] == timedelta(minutes=5)
    assert claims["fresh"] == pytest.approx(claims["iat"] + 300, abs=2)


# --- MT5 credentials: fresh only when the body changes them ------------------------------------


@pytest.mark.parametrize(
    "change",
    [
        {"password": "Other-Mt5-pass"},
        {"login": "55501234"},
        {"server": "Other-Server"},
        {"terminal": "sim://other"},
        {"account_name": "renamed", "password": "Other-Mt5-pass"},
    ],
)
def test_update_account_credentials_need_a_fresh_login(client, app, change):
    user = make_user(app)
    account = make_account(client, auth_headers(client, user))
    before = _account_row(account["id"])
    stored = (before.password_encrypted, before.login, before.server, before.terminal)

    stale = client.patch(
        f"/api/accounts/{account['id']}", json=change, headers=stale_headers(client, user)
    )
    by_key = client.patch(
        f"/api/accounts/{account['id']}", json=change, headers=key_headers(client, user)
    )
    fresh = client.patch(
        f"/api/accounts/{account['id']}", json=change, headers=auth_headers(client, user)
    )

    assert_error(stale, 401, "fresh_login_required")
    assert_error(by_key, 403, "api_key_not_allowed")
    assert fresh.status_code == 200, fresh.get_json()
    after = _account_row(account["id"])
    assert (after.password_encrypted, after.login, after.server, after.terminal) != stored


def test_update_account_other_fields_need_no_fresh_login(client, app):
    user = make_user(app)
    account = make_account(client, auth_headers(client, user))
    change = {"account_name": "renamed", "copy_enabled": False, "risk_percent": "1.5"}

    stale = client.patch(
        f"/api/accounts/{account['id']}", json=change, headers=stale_headers(client, user)
    )
    by_key = client.patch(
        f"/api/accounts/{account['id']}",
        json={"account_name": "by key"},
        headers=key_headers(client, user),
    )

    assert stale.status_code == 200
    assert by_key.status_code == 200
    assert _account_row(account["id"]).account_name == "by key"


@pytest.mark.parametrize("whose", ["own", "other", "missing"])
def test_update_account_credentials_refusal_is_the_same_for_any_id(client, app, whose):
    """The fresh-login check runs before the lookup: it tells nothing about the id."""
    user = make_user(app)
    own = make_account(client, auth_headers(client, user))["id"]
    other = make_account(client, auth_headers(client, make_user(app)))["id"]
    account_id = {"own": own, "other": other, "missing": 987_654}[whose]

    stale = client.patch(
        f"/api/accounts/{account_id}", json={"password": "x1"}, headers=stale_headers(client, user)
    )
    by_key = client.patch(
        f"/api/accounts/{account_id}", json={"password": "x1"}, headers=key_headers(client, user)
    )

    assert_error(stale, 401, "fresh_login_required")
    assert_error(by_key, 403, "api_key_not_allowed")


# --- role changes ------------------------------------------------------------------------------


def test_role_change_needs_a_fresh_login(client, app):
    boss = make_user(app, role="super_admin")
    target = make_user(app)

    stale = client.patch(
        f"/api/users/{target.id}", json={"role": "admin"}, headers=stale_headers(client, boss)
    )
    by_key = client.patch(
        f"/api/users/{target.id}", json={"role": "admin"}, headers=key_headers(client, boss)
    )

    assert_error(stale, 401, "fresh_login_required")
    assert_error(by_key, 403, "api_key_not_allowed")
    assert _user_row(target.id).role == "user"
    fresh = client.patch(
        f"/api/users/{target.id}", json={"role": "admin"}, headers=auth_headers(client, boss)
    )
    assert fresh.status_code == 200
    assert _user_row(target.id).role == "admin"


def test_activation_change_needs_no_fresh_login(client, app):
    admin = make_user(app, role="admin")
    target = make_user(app)

    stale = client.patch(
        f"/api/users/{target.id}", json={"is_active": False}, headers=stale_headers(client, admin)
    )
    by_key = client.patch(
        f"/api/users/{target.id}", json={"is_active": True}, headers=key_headers(client, admin)
    )

    assert stale.status_code == 200 and by_key.status_code == 200
    assert _user_row(target.id).is_active is True


def test_role_change_by_plain_user_is_forbidden_before_freshness(client, app):
    user = make_user(app)

    response = client.patch(
        f"/api/users/{user.id}", json={"role": "admin"}, headers=stale_headers(client, user)
    )

    assert_error(response, 403, "forbidden")


# --- documented ----------------------------------------------------------------------------------


def test_openapi_sensitive_routes_accept_only_bearer_tokens(client):
    paths = client.get("/openapi.json").get_json()["paths"]

    for method, path, _body in SENSITIVE:
        operation = paths[path][method.lower()]
        assert operation["security"] == [{"BearerAuth": []}], (method, path)
        assert "fresh_login_required" in operation["responses"]["401"]["description"]
        assert "api_key_not_allowed" in operation["responses"]["403"]["description"]
    for path in ("/api/accounts/{account_id}", "/api/users/{user_id}"):
        assert "api_key_not_allowed" in paths[path]["patch"]["responses"]["403"]["description"]
