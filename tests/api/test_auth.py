"""Registration, login, lockout, rate limits, tokens, logout, profile and password change."""

from __future__ import annotations

import shutil
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from factories import PASSWORD, assert_error, auth_headers, login, make_config, make_user

THAI_40 = "รหัสผ่านภาษาไทยยาวมากกกกกกกกกกกกกกกกกกกกกกกกก"[:40]


def _register(client: Any, **overrides: Any) -> Any:
    body = {"username": "alice", "email": "alice@example.com", "password": PASSWORD}
    body.update(overrides)
    return client.post("/api/register", json=body)


def _reload(user: Any) -> Any:
    from extensions import db
    from models import User

    db.session.expire_all()
    return db.session.get(User, user.id)


# --- register ----------------------------------------------------------------------------------


def test_register_valid_body_creates_plain_user(client):
    response = _register(client)

    assert response.status_code == 201
    body = response.get_json()
    assert body["username"] == "alice"
    assert body["role"] == "user"
    assert "password" not in body and "password_hash" not in body


def test_register_with_role_field_is_rejected(client):
    response = _register(client, role="super_admin")

    error = assert_error(response, 422, "validation_error")
    assert "role" in str(error["details"])


def test_register_duplicate_username_conflicts(client):
    _register(client)

    response = _register(client, email="other@example.com")

    assert_error(response, 409, "user_exists")


def test_register_duplicate_email_conflicts(client):
    _register(client)

    response = _register(client, username="bob", email="ALICE@example.com")

    assert_error(response, 409, "user_exists")


@pytest.mark.parametrize("length", [7, 129])
def test_register_password_length_out_of_range_is_rejected(client, length):
    response = _register(client, password="x" * (length - 1) + "Q")

    error = assert_error(response, 422, "validation_error")
    assert "password" in str(error["details"])


def test_register_128_char_password_can_log_in(client):
    password = "Ab1-" * 32

    assert _register(client, password=password).status_code == 201

    assert login(client, "alice", password)["token_type"] == "Bearer"


def test_register_long_utf8_password_can_log_in(client):
    assert len(THAI_40.encode()) > 72

    assert _register(client, password=THAI_40).status_code == 201

    assert login(client, "alice", THAI_40)["user"]["username"] == "alice"


def test_login_password_differing_after_byte_72_is_refused(client):
    _register(client, password=THAI_40)
    almost = THAI_40[:-1] + "ก" if THAI_40[-1] != "ก" else THAI_40[:-1] + "ข"

    response = client.post("/api/login", json={"username": "alice", "password": almost})

    assert_error(response, 401, "invalid_credentials")


def test_register_common_password_is_refused(client):
    response = _register(client, password="iloveyou")

    assert_error(response, 422, "password_too_common")


def test_register_invalid_email_is_rejected(client):
    response = _register(client, email="not-an-email")

    error = assert_error(response, 422, "validation_error")
    assert "email" in str(error["details"])


# --- login -------------------------------------------------------------------------------------


def test_login_by_username_returns_token_pair(client, app):
    user = make_user(app)

    response = client.post("/api/login", json={"username": user.username, "password": PASSWORD})

    assert response.status_code == 200
    body = response.get_json()
    assert set(body) == {"access_token", "refresh_token", "token_type", "expires_in", "user"}
    assert body["token_type"] == "Bearer"
    assert body["expires_in"] == 15 * 60
    assert body["user"]["id"] == user.id


def test_login_by_email_returns_token_pair(client, app):
    user = make_user(app)

    response = client.post("/api/login", json={"username": user.email, "password": PASSWORD})

    assert response.status_code == 200
    assert response.get_json()["user"]["username"] == user.username


def test_login_unknown_user_and_wrong_password_answer_identically(client, app):
    user = make_user(app)

    unknown = client.post("/api/login", json={"username": "nobody", "password": PASSWORD})
    wrong = client.post("/api/login", json={"username": user.username, "password": "wrong pass!"})

    assert_error(unknown, 401, "invalid_credentials")
    assert (unknown.status_code, unknown.get_json()) == (wrong.status_code, wrong.get_json())


def _fail_login(client: Any, username: str, times: int) -> Any:
    response = None
    for _ in range(times):
        response = client.post("/api/login", json={"username": username, "password": "wrong pass"})
    return response


def test_login_fifth_failure_locks_account(client, app):
    user = make_user(app)

    response = _fail_login(client, user.username, 5)

    assert_error(response, 423, "account_locked")
    assert 0 < int(response.headers["Retry-After"]) <= 15 * 60


def test_login_four_failures_do_not_lock(client, app):
    user = make_user(app)
    _fail_login(client, user.username, 4)

    response = client.post("/api/login", json={"username": user.username, "password": PASSWORD})

    assert response.status_code == 200


def test_login_correct_password_while_locked_is_refused(client, app):
    user = make_user(app)
    _fail_login(client, user.username, 5)

    response = client.post("/api/login", json={"username": user.username, "password": PASSWORD})

    assert_error(response, 423, "account_locked")
    assert "Retry-After" in response.headers


def test_login_after_lock_expires_succeeds_and_resets_counter(client, app):
    from extensions import db

    user = make_user(app)
    _fail_login(client, user.username, 5)
    locked = _reload(user)
    locked.locked_until = datetime.now(UTC) - timedelta(seconds=1)
    locked.failed_login_count = 3
    db.session.commit()

    response = client.post("/api/login", json={"username": user.username, "password": PASSWORD})

    assert response.status_code == 200
    fresh = _reload(user)
    assert fresh.failed_login_count == 0
    assert fresh.locked_until is None
    assert fresh.last_login is not None
    assert datetime.now(UTC) - fresh.last_login < timedelta(minutes=1)


def test_login_inactive_user_is_refused_like_wrong_password(client, app):
    user = make_user(app, is_active=False)

    response = client.post("/api/login", json={"username": user.username, "password": PASSWORD})

    assert_error(response, 401, "invalid_credentials")


@pytest.fixture
def limited_client(tmp_path, migrated_sqlite):
    from app import create_app

    shutil.copy(migrated_sqlite, tmp_path / "db.sqlite")
    config = make_config(
        tmp_path,
        RATELIMIT_ENABLED=True,
        EXECUTOR_AUTOSTART=False,
        LOGIN_RATE_LIMIT="3 per minute",
        REGISTER_RATE_LIMIT="2 per minute",
    )
    application = create_app(config)
    with application.app_context():
        yield application.test_client()
        from extensions import db

        db.session.remove()
        db.engine.dispose()


def test_login_over_rate_limit_is_refused(limited_client):
    body = {"username": "nobody", "password": PASSWORD}
    for _ in range(3):
        assert limited_client.post("/api/login", json=body).status_code == 401

    response = limited_client.post("/api/login", json=body)

    assert_error(response, 429, "rate_limited")
    assert int(response.headers["Retry-After"]) > 0


def test_register_over_rate_limit_is_refused(limited_client):
    for n in range(2):
        _register(limited_client, username=f"user{n}", email=f"u{n}@example.com")

    response = _register(limited_client, username="user9", email="u9@example.com")

    assert_error(response, 429, "rate_limited")


# --- refresh and logout ------------------------------------------------------------------------


def test_refresh_with_refresh_token_returns_new_access_token(client, app):
    tokens = login(client, make_user(app).username)

    response = client.post(
        "/api/token/refresh", headers={"Authorization": f"Bearer {tokens['refresh_token']}"}
    )

    assert response.status_code == 200
    body = response.get_json()
    assert body["token_type"] == "Bearer" and body["expires_in"] <= 15 * 60
    assert body["refresh_token"] and body["refresh_token"] != tokens["refresh_token"]
    access = body["access_token"]
    assert client.get("/api/me", headers={"Authorization": f"Bearer {access}"}).status_code == 200


def test_refresh_with_the_same_refresh_token_twice_is_token_reused(client, app):
    tokens = login(client, make_user(app).username)
    headers = {"Authorization": f"Bearer {tokens['refresh_token']}"}
    assert client.post("/api/token/refresh", headers=headers).status_code == 200

    assert_error(client.post("/api/token/refresh", headers=headers), 401, "token_reused")


def test_refresh_with_access_token_is_unauthorized(client, app):
    tokens = login(client, make_user(app).username)

    response = client.post(
        "/api/token/refresh", headers={"Authorization": f"Bearer {tokens['access_token']}"}
    )

    assert_error(response, 401, "invalid_token")


def test_me_with_refresh_token_is_unauthorized(client, app):
    tokens = login(client, make_user(app).username)

    response = client.get("/api/me", headers={"Authorization": f"Bearer {tokens['refresh_token']}"})

    assert_error(response, 401, "invalid_token")


def test_logout_revokes_access_token(client, app):
    tokens = login(client, make_user(app).username)
    headers = {"Authorization": f"Bearer {tokens['access_token']}"}

    assert client.post("/api/logout", headers=headers).status_code == 204

    assert_error(client.get("/api/me", headers=headers), 401, "token_revoked")


def test_logout_revokes_refresh_token(client, app):
    tokens = login(client, make_user(app).username)
    client.post("/api/logout", headers={"Authorization": f"Bearer {tokens['access_token']}"})

    response = client.post(
        "/api/token/refresh", headers={"Authorization": f"Bearer {tokens['refresh_token']}"}
    )

    assert_error(response, 401, "token_revoked")


def test_logout_leaves_other_sessions_working(client, app):
    user = make_user(app)
    first = login(client, user.username)
    second = auth_headers(client, user)

    client.post("/api/logout", headers={"Authorization": f"Bearer {first['access_token']}"})

    assert client.get("/api/me", headers=second).status_code == 200


def test_logout_without_token_is_unauthorized(client):
    assert_error(client.post("/api/logout"), 401, "unauthorized")


# --- profile and password ----------------------------------------------------------------------


def test_me_returns_caller_profile(client, app):
    user = make_user(app)

    response = client.get("/api/me", headers=auth_headers(client, user))

    assert response.status_code == 200
    body = response.get_json()
    assert (body["id"], body["username"], body["role"]) == (user.id, user.username, "user")
    assert "password_hash" not in body and "api_key" not in body


def test_me_without_credentials_is_unauthorized(client):
    assert_error(client.get("/api/me"), 401, "unauthorized")


def test_change_password_wrong_current_is_refused(client, app):
    headers = auth_headers(client, make_user(app))

    response = client.post(
        "/api/me/password",
        json={"current_password": "not my password", "new_password": "a brand new passphrase"},
        headers=headers,
    )

    assert_error(response, 422, "invalid_credentials")


def test_change_password_common_new_password_is_refused(client, app):
    headers = auth_headers(client, make_user(app))

    response = client.post(
        "/api/me/password",
        json={"current_password": PASSWORD, "new_password": "iloveyou"},
        headers=headers,
    )

    assert_error(response, 422, "password_too_common")


def test_change_password_success_returns_working_tokens(client, app):
    user = make_user(app)
    headers = auth_headers(client, user)

    response = client.post(
        "/api/me/password",
        json={"current_password": PASSWORD, "new_password": "a brand new passphrase"},
        headers=headers,
    )

    assert response.status_code == 200
    new_access = response.get_json()["access_token"]
    assert (
        client.get("/api/me", headers={"Authorization": f"Bearer {new_access}"}).status_code == 200
    )
    assert login(client, user.username, "a brand new passphrase")["user"]["id"] == user.id


def test_change_password_old_access_token_stops_working(client, app):
    headers = auth_headers(client, make_user(app))

    client.post(
        "/api/me/password",
        json={"current_password": PASSWORD, "new_password": "a brand new passphrase"},
        headers=headers,
    )

    assert_error(client.get("/api/me", headers=headers), 401, "token_revoked")


def test_change_password_old_refresh_token_stops_working(client, app):
    tokens = login(client, make_user(app).username)

    client.post(
        "/api/me/password",
        json={"current_password": PASSWORD, "new_password": "a brand new passphrase"},
        headers={"Authorization": f"Bearer {tokens['access_token']}"},
    )

    response = client.post(
        "/api/token/refresh", headers={"Authorization": f"Bearer {tokens['refresh_token']}"}
    )
    assert_error(response, 401, "token_revoked")


def test_change_password_old_password_no_longer_logs_in(client, app):
    user = make_user(app)
    client.post(
        "/api/me/password",
        json={"current_password": PASSWORD, "new_password": "a brand new passphrase"},
        headers=auth_headers(client, user),
    )

    response = client.post("/api/login", json={"username": user.username, "password": PASSWORD})

    assert_error(response, 401, "invalid_credentials")
