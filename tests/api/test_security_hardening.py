"""docs/security.md: mass assignment, lockout and rate limits that end, no secret in any response
or log of a full flow, CORS limited to CORS_ORIGINS, security headers, no tokens in URLs.

The token, API key, lockout and encryption checks that already exist are in test_tokens.py,
test_auth.py, test_account_secrets.py and tests/backend/test_security.py; this file fills the gaps.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from factories import (
    PASSWORD,
    account_body,
    assert_error,
    auth_headers,
    login,
    make_account,
    make_user,
)


def _reload_user(user_id: int) -> Any:
    from extensions import db
    from models import User

    db.session.expire_all()
    return db.session.get(User, user_id)


# --- mass assignment ---------------------------------------------------------------------------

PRIVILEGED = {
    "role": "super_admin",
    "user_id": 1,
    "is_active": False,
    "id": 424242,
    "password_hash": "$2b$04$" + "x" * 53,
    "api_key": "mt5k_chosen_by_the_caller",
    "api_key_prefix": "mt5k_chosen",
    "failed_login_count": 0,
    "locked_until": None,
}


@pytest.mark.parametrize("field", sorted(PRIVILEGED))
def test_mass_assignment_register_privileged_field_is_rejected(client, field):
    from extensions import db
    from models import User

    body = {"username": "massive", "email": "m@example.com", "password": PASSWORD}

    response = client.post("/api/register", json={**body, field: PRIVILEGED[field]})

    assert_error(response, 422, "validation_error")
    assert db.session.query(User).filter_by(username="massive").count() == 0


@pytest.mark.parametrize(
    "field", ["user_id", "id", "password_encrypted", "role", "api_key", "deleted_at"]
)
def test_mass_assignment_create_account_privileged_field_is_rejected(client, app, field):
    from extensions import db
    from models import MT5Account

    victim = make_user(app)
    headers = auth_headers(client, make_user(app))
    value = {"user_id": victim.id, "id": 424242}.get(field, "v1:deadbeef:AAAA")

    response = client.post("/api/accounts", json=account_body(**{field: value}), headers=headers)

    assert_error(response, 422, "validation_error")
    assert db.session.query(MT5Account).count() == 0


@pytest.mark.parametrize("field", ["user_id", "id", "password_encrypted", "deleted_at"])
def test_mass_assignment_update_account_privileged_field_is_rejected(client, app, field):
    from extensions import db
    from models import MT5Account

    victim = make_user(app)
    owner = make_user(app)
    account = make_account(client, auth_headers(client, owner))
    value = {"user_id": victim.id, "id": 424242}.get(field, "v1:deadbeef:AAAA")

    response = client.patch(
        f"/api/accounts/{account['id']}",
        json={"account_name": "renamed", field: value},
        headers=auth_headers(client, owner),
    )

    assert_error(response, 422, "validation_error")
    db.session.expire_all()
    row = db.session.get(MT5Account, account["id"])
    assert (row.user_id, row.account_name, row.deleted_at) == (owner.id, "Gold main", None)


@pytest.mark.parametrize(
    "field", ["password_hash", "api_key", "id", "username", "email", "locked_until"]
)
def test_mass_assignment_update_user_privileged_field_is_rejected(client, app, field):
    target = make_user(app)
    before = (target.password_hash, target.api_key, target.username, target.email)
    headers = auth_headers(client, make_user(app, role="super_admin"))
    value = {"id": 424242, "locked_until": "2999-01-01T00:00:00Z"}.get(field, "chosen")

    response = client.patch(f"/api/users/{target.id}", json={field: value}, headers=headers)

    assert_error(response, 422, "validation_error")
    after = _reload_user(target.id)
    assert (after.password_hash, after.api_key, after.username, after.email) == before


@pytest.mark.parametrize("field", ["role", "is_active", "user_id"])
def test_mass_assignment_password_change_privileged_field_is_rejected(client, app, field):
    user = make_user(app)
    body = {"current_password": PASSWORD, "new_password": "a-new-passphrase", field: "admin"}

    response = client.post("/api/me/password", json=body, headers=auth_headers(client, user))

    assert_error(response, 422, "validation_error")
    assert _reload_user(user.id).role == "user"


@pytest.mark.parametrize(
    "field",
    ["api_key", "api_key_prefix", "api_key_scopes", "api_key_expires_at", "user_id", "role"],
)
def test_mass_assignment_api_key_privileged_field_is_rejected(client, app, field):
    user = make_user(app)
    headers = auth_headers(client, user)
    old = client.post("/api/me/api_key", headers=headers).get_json()["api_key"]
    value = {"user_id": 1, "api_key_expires_at": "2999-01-01T00:00:00Z"}.get(field, "chosen")

    response = client.post("/api/me/api_key", json={field: value}, headers=headers)

    assert_error(response, 422, "validation_error")
    assert client.get("/api/me", headers={"X-API-Key": old}).status_code == 200
    assert _reload_user(user.id).role == "user"


@pytest.mark.parametrize(
    "field", ["mfa_enabled", "mfa_secret_encrypted", "mfa_last_step", "secret", "user_id"]
)
def test_mass_assignment_mfa_confirm_privileged_field_is_rejected(client, app, field):
    user = make_user(app)
    headers = auth_headers(client, user)
    client.post("/api/me/mfa/setup", headers=headers)

    response = client.post(
        "/api/me/mfa/confirm", json={"otp": "123456", field: True}, headers=headers
    )

    assert_error(response, 422, "validation_error")
    assert _reload_user(user.id).mfa_enabled is False


def test_mfa_setup_never_takes_a_secret_from_the_caller(client, app):
    headers = auth_headers(client, make_user(app))
    chosen = "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP"

    response = client.post("/api/me/mfa/setup", json={"secret": chosen}, headers=headers)

    assert response.status_code == 200
    assert response.get_json()["secret"] != chosen


# --- lockout and rate limits end ----------------------------------------------------------------


def test_lockout_failures_while_locked_do_not_extend_the_lock(client, app):
    from extensions import db

    user = make_user(app)
    for _ in range(5):
        client.post("/api/login", json={"username": user.username, "password": "wrong-pass"})
    locked_until = _reload_user(user.id).locked_until
    assert locked_until is not None

    for _ in range(20):  # an attacker keeps hammering during the lock
        response = client.post(
            "/api/login", json={"username": user.username, "password": "wrong-pass"}
        )
        assert_error(response, 423, "account_locked")
        assert 0 < int(response.headers["Retry-After"]) <= 15 * 60

    assert _reload_user(user.id).locked_until == locked_until
    row = _reload_user(user.id)
    row.locked_until = datetime.now(UTC) - timedelta(seconds=1)  # the 15 minutes pass
    db.session.commit()

    assert (
        client.post(
            "/api/login", json={"username": user.username, "password": PASSWORD}
        ).status_code
        == 200
    )


def test_rate_limit_window_resets_and_is_per_ip(make_app):
    app = make_app(RATELIMIT_ENABLED=True, LOGIN_RATE_LIMIT="2 per 1 second")
    with app.app_context():
        user = make_user(app)
        attacker = app.test_client()
        attacker.environ_base["REMOTE_ADDR"] = "203.0.113.9"
        victim = app.test_client()
        victim.environ_base["REMOTE_ADDR"] = "198.51.100.7"
        wrong = {"username": user.username, "password": "wrong-pass"}
        right = {"username": user.username, "password": PASSWORD}

        # Start just after a window opens: three requests in one fixed one-second window.
        time.sleep(1.02 - time.time() % 1)
        for _ in range(2):
            attacker.post("/api/login", json=wrong)
        limited = attacker.post("/api/login", json=right)
        assert_error(limited, 429, "rate_limited")
        assert int(limited.headers["Retry-After"]) == 1  # under a second left: 1, never 0

        assert victim.post("/api/login", json=right).status_code == 200  # another IP: unaffected
        time.sleep(1.1)  # the window passes
        assert attacker.post("/api/login", json=right).status_code == 200


@pytest.mark.parametrize(("given", "sent"), [("0", "1"), ("-1", "1"), ("1", "1"), ("42", "42")])
def test_retry_after_of_a_429_is_never_below_one_second(given, sent):
    from flask import Response

    from extensions import _retry_after_at_least_one

    response = Response(status=429, headers={"Retry-After": given})

    assert _retry_after_at_least_one(response).headers["Retry-After"] == sent


# --- CORS limited to CORS_ORIGINS ---------------------------------------------------------------

ALLOWED, OTHER, FOREIGN = "https://app.example.com", "https://ops.example.com", "https://evil.test"


@pytest.mark.parametrize("origins", [ALLOWED, f"{ALLOWED},{OTHER}"])
def test_cors_allowed_origin_gets_allow_origin_foreign_does_not(make_app, origins):
    client = make_app(CORS_ORIGINS=origins).test_client()

    for origin in origins.split(","):
        response = client.get("/api/status", headers={"Origin": origin})
        assert response.headers["Access-Control-Allow-Origin"] == origin
        assert "Access-Control-Allow-Credentials" not in response.headers
    for path in ("/api/status", "/api/me"):
        response = client.get(path, headers={"Origin": FOREIGN})
        assert "Access-Control-Allow-Origin" not in response.headers
    preflight = client.options(
        "/api/accounts",
        headers={
            "Origin": FOREIGN,
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "Authorization",
        },
    )
    assert "Access-Control-Allow-Origin" not in preflight.headers
    assert "Access-Control-Allow-Methods" not in preflight.headers


def test_cors_allowed_origin_preflight_is_answered(make_app):
    client = make_app(CORS_ORIGINS=ALLOWED).test_client()

    preflight = client.options(
        "/api/accounts",
        headers={
            "Origin": ALLOWED,
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "Authorization, Content-Type",
        },
    )

    assert preflight.headers["Access-Control-Allow-Origin"] == ALLOWED
    assert "POST" in preflight.headers["Access-Control-Allow-Methods"]


def test_cors_without_configured_origins_allows_no_origin(make_app):
    client = make_app(CORS_ORIGINS="").test_client()

    for origin in (ALLOWED, FOREIGN, "null"):
        response = client.get("/api/status", headers={"Origin": origin})
        assert "Access-Control-Allow-Origin" not in response.headers


def test_cors_never_applies_outside_the_api_and_never_wildcards(make_app):
    client = make_app(CORS_ORIGINS=ALLOWED).test_client()

    for path in ("/openapi.json", "/docs"):
        response = client.get(path, headers={"Origin": ALLOWED})
        assert "Access-Control-Allow-Origin" not in response.headers
    for origin in (ALLOWED, FOREIGN, None):
        response = client.get("/api/status", headers={"Origin": origin} if origin else {})
        assert response.headers.get("Access-Control-Allow-Origin") in {None, ALLOWED}


# --- security headers ---------------------------------------------------------------------------

COMMON_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
}


@pytest.mark.parametrize(
    ("method", "path", "status"),
    [
        ("GET", "/api/status", 200),
        ("GET", "/api/me", 401),
        ("GET", "/api/no-such-route", 404),
        ("DELETE", "/api/status", 405),
        ("GET", "/openapi.json", 200),
        ("GET", "/nowhere", 404),
    ],
)
def test_security_headers_on_json_responses(client, method, path, status):
    response = client.open(path, method=method)

    assert response.status_code == status
    assert response.mimetype == "application/json"
    for name, value in COMMON_HEADERS.items():
        assert response.headers[name] == value, name
    assert (
        response.headers["Content-Security-Policy"] == "default-src 'none'; frame-ancestors 'none'"
    )


def test_security_headers_on_authenticated_json_response(client, app):
    response = client.get("/api/me", headers=auth_headers(client, make_user(app)))

    assert response.status_code == 200
    for name, value in COMMON_HEADERS.items():
        assert response.headers[name] == value, name
    assert "default-src 'none'" in response.headers["Content-Security-Policy"]


def test_security_headers_on_docs_page(client):
    response = client.get("/docs")

    assert response.status_code == 200
    for name, value in COMMON_HEADERS.items():
        assert response.headers[name] == value, name
    assert "frame-ancestors 'none'" in response.headers["Content-Security-Policy"]


def test_hsts_only_over_https(client):
    assert "Strict-Transport-Security" not in client.get("/api/status").headers
    secure = client.get("/api/status", base_url="https://localhost")
    assert secure.headers["Strict-Transport-Security"].startswith("max-age=")


# --- tokens in the URL are ignored --------------------------------------------------------------


@pytest.mark.parametrize(
    "name", ["jwt", "access_token", "token", "api_key", "X-API-Key", "Authorization"]
)
def test_credentials_in_query_string_are_ignored(client, app, name):
    user = make_user(app)
    headers = auth_headers(client, user)
    token = login(client, user.username)["access_token"]
    key = client.post("/api/me/api_key", headers=headers).get_json()["api_key"]

    for value in (token, f"Bearer {token}", key):
        response = client.get("/api/me", query_string={name: value})
        assert_error(response, 401, "unauthorized")
