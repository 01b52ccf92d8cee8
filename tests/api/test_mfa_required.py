"""docs/security.md 6.3.3: roles in MFA_REQUIRED_ROLES must turn MFA on before anything else.

Such a user without MFA still logs in, but the token reaches only GET /api/me, MFA setup and
confirm, password change, refresh and logout; everything else (and every API key of the user)
is 403 ``mfa_enrollment_required``. The tokens MFA confirm returns reach everything at once.
The whole route table is checked by test_security_matrix.py::test_mfa_required_role_matrix.
"""

from __future__ import annotations

import shutil
from typing import Any

import pytest
from factories import (
    PASSWORD,
    assert_error,
    auth_headers,
    enrol_mfa,
    login,
    make_config,
    make_user,
)
from factories import totp_code as code

REQUIRED = "admin,super_admin"


@pytest.fixture
def app_config(tmp_path, migrated_sqlite) -> dict[str, Any]:
    """conftest's app and client, with admins and super admins held to MFA."""
    shutil.copy(migrated_sqlite, tmp_path / "db.sqlite")
    return make_config(tmp_path, MFA_REQUIRED_ROLES=REQUIRED)


def _bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def _set_role(user_id: int, role: str) -> None:
    from extensions import db
    from models import User

    db.session.get(User, user_id).role = role
    db.session.commit()


def _events(event: str) -> list[Any]:
    from extensions import db
    from models import AuditLog

    db.session.expire_all()
    return list(db.session.query(AuditLog).filter(AuditLog.event == event))


def _assert_enrolment_required(response: Any, role: str = "admin") -> dict[str, Any]:
    error = assert_error(response, 403, "mfa_enrollment_required")
    assert "/api/me/mfa/setup" in error["message"] or "API key" in error["message"]
    assert error["details"]["role"] == role
    return error


def test_app_holds_the_configured_roles(app):
    assert app.config["MFA_REQUIRED_ROLES"] == ("admin", "super_admin")


# --- without MFA: logs in, reaches only enrolment -----------------------------------------------


@pytest.mark.parametrize("role", ["admin", "super_admin"])
def test_required_role_without_mfa_logs_in_and_is_told_to_enrol(client, app, role):
    user = make_user(app, role=role)

    tokens = login(client, user.username)
    me = client.get("/api/me", headers=_bearer(tokens["access_token"]))

    assert tokens["user"]["mfa_enrollment_required"] is True
    assert me.status_code == 200
    assert me.get_json()["mfa_enrollment_required"] is True
    assert me.get_json()["mfa_enabled"] is False


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("GET", "/api/accounts", None),
        ("GET", "/api/users", None),
        ("GET", "/api/audit", None),
        ("POST", "/api/calculate", {}),
        ("POST", "/api/me/api_key", None),
        ("DELETE", "/api/me/api_key", None),
        ("POST", "/api/me/mfa/disable", {"otp": "123456"}),
        ("POST", "/api/me/mfa/recovery_codes", {"otp": "123456"}),
        ("PATCH", "/api/users/1", {"is_active": True}),
    ],
)
def test_required_role_without_mfa_elsewhere_is_mfa_enrollment_required(
    client, app, method, path, body
):
    user = make_user(app, role="admin")

    response = client.open(path, method=method, json=body, headers=auth_headers(client, user))

    error = _assert_enrolment_required(response)
    assert "/api/me/mfa/confirm" in error["message"]


def test_required_role_without_mfa_refusal_writes_nothing(client, app):
    from extensions import db
    from models import User

    user = make_user(app, role="admin")

    _assert_enrolment_required(client.post("/api/me/api_key", headers=auth_headers(client, user)))

    db.session.expire_all()
    assert db.session.get(User, user.id).api_key is None
    assert not _events("api_key_created")


def test_required_role_without_mfa_may_change_password_refresh_and_log_out(client, app):
    user = make_user(app, role="admin")
    tokens = login(client, user.username)

    refreshed = client.post("/api/token/refresh", headers=_bearer(tokens["refresh_token"]))
    changed = client.post(
        "/api/me/password",
        json={"current_password": PASSWORD, "new_password": "a brand new passphrase"},
        headers=_bearer(tokens["access_token"]),
    )
    new = changed.get_json()
    logout = client.post("/api/logout", headers=_bearer(new["access_token"]))

    assert refreshed.status_code == 200, refreshed.get_json()
    assert changed.status_code == 200, new
    assert logout.status_code == 204
    assert_error(client.get("/api/me", headers=_bearer(new["access_token"])), 401, "token_revoked")


def test_required_role_enrolment_routes_still_need_a_fresh_login(client, app):
    user = make_user(app, role="admin")
    tokens = login(client, user.username)
    stale = client.post("/api/token/refresh", headers=_bearer(tokens["refresh_token"])).get_json()

    response = client.post("/api/me/mfa/setup", headers=_bearer(stale["access_token"]))

    assert_error(response, 401, "fresh_login_required")


def test_required_role_role_check_comes_first(client, app):
    admin = make_user(app, role="admin")

    response = client.get("/api/broadcast_status", headers=auth_headers(client, admin))

    assert_error(response, 403, "forbidden")


def test_required_role_pending_setup_is_not_enough(client, app):
    headers = auth_headers(client, make_user(app, role="admin"))
    assert client.post("/api/me/mfa/setup", headers=headers).status_code == 200

    _assert_enrolment_required(client.get("/api/accounts", headers=headers))


def test_user_promoted_into_a_required_role_is_held_at_once(client, app):
    user = make_user(app)
    headers = auth_headers(client, user)
    assert client.get("/api/accounts", headers=headers).status_code == 200

    _set_role(user.id, "admin")

    _assert_enrolment_required(client.get("/api/accounts", headers=headers))
    _set_role(user.id, "user")
    assert client.get("/api/accounts", headers=headers).status_code == 200


def test_role_not_listed_is_not_held(client, app):
    user = make_user(app)
    headers = auth_headers(client, user)
    key = client.post("/api/me/api_key", headers=headers)

    assert key.status_code == 201
    assert client.get("/api/accounts", headers=headers).status_code == 200
    assert client.get("/api/me", headers=headers).get_json()["mfa_enrollment_required"] is False
    assert client.get("/api/me", headers={"X-API-Key": key.get_json()["api_key"]}).status_code == (
        200
    )


# --- API keys ---------------------------------------------------------------------------------


def test_required_role_api_key_is_refused_everywhere_until_mfa_is_on(client, app, clock):
    user = make_user(app)  # made the key as a plain user, then promoted
    key = {
        "X-API-Key": client.post("/api/me/api_key", headers=auth_headers(client, user)).get_json()[
            "api_key"
        ]
    }
    _set_role(user.id, "admin")

    for method, path in [("GET", "/api/me"), ("GET", "/api/accounts"), ("GET", "/api/users")]:
        error = _assert_enrolment_required(client.open(path, method=method, headers=key))
        assert "API key" in error["message"]
    _assert_enrolment_required(client.post("/api/calculate", json={}, headers=key))
    _assert_enrolment_required(client.post("/api/me/mfa/setup", headers=key))

    enrol_mfa(client, user, clock)

    assert client.get("/api/me", headers=key).status_code == 200
    assert client.get("/api/users", headers=key).status_code == 200


# --- with MFA: everything, at once --------------------------------------------------------------


def test_required_role_enrols_and_the_returned_tokens_reach_everything(client, app, clock):
    user = make_user(app, role="super_admin")
    world = enrol_mfa(client, user, clock)

    me = client.get("/api/me", headers=world["headers"])
    users = client.get("/api/users", headers=world["headers"])
    key = client.post("/api/me/api_key", headers=world["headers"])

    assert me.get_json()["mfa_enabled"] is True
    assert me.get_json()["mfa_enrollment_required"] is False
    assert users.status_code == 200
    assert key.status_code == 201  # still fresh: no new login needed
    # the token that enrolled (password only) has ended, as has every other earlier one
    assert_error(client.get("/api/me", headers=world["old_headers"]), 401, "token_revoked")


def test_required_role_with_mfa_logs_in_with_a_code_and_reaches_everything(client, app, clock):
    user = make_user(app, role="admin")
    world = enrol_mfa(client, user, clock)

    response = client.post(
        "/api/login",
        json={
            "username": user.username,
            "password": PASSWORD,
            "otp": code(world["secret"], clock.now),
        },
    )

    assert response.status_code == 200, response.get_json()
    assert response.get_json()["user"]["mfa_enrollment_required"] is False
    headers = _bearer(response.get_json()["access_token"])
    assert client.get("/api/audit", headers=headers).status_code == 200


def test_required_role_turning_mfa_off_is_held_again(client, app, clock):
    user = make_user(app, role="admin")
    world = enrol_mfa(client, user, clock)

    off = client.post(
        "/api/me/mfa/disable",
        json={"otp": code(world["secret"], clock.now)},
        headers=world["headers"],
    )

    assert off.status_code == 200, off.get_json()
    headers = _bearer(off.get_json()["access_token"])
    assert off.get_json()["user"]["mfa_enrollment_required"] is True
    _assert_enrolment_required(client.get("/api/users", headers=headers))
    assert client.post("/api/me/mfa/setup", headers=headers).status_code == 200


# --- which roles --------------------------------------------------------------------------------


def test_only_the_listed_roles_are_held(make_app):
    application = make_app(MFA_REQUIRED_ROLES="super_admin")
    with application.app_context():
        client = application.test_client()
        admin = auth_headers(client, make_user(application, role="admin"))
        boss = auth_headers(client, make_user(application, role="super_admin"))

        assert client.get("/api/users", headers=admin).status_code == 200
        _assert_enrolment_required(client.get("/api/users", headers=boss), "super_admin")


def test_user_role_may_be_held_too(make_app):
    application = make_app(MFA_REQUIRED_ROLES="user")
    with application.app_context():
        client = application.test_client()
        headers = auth_headers(client, make_user(application))

        _assert_enrolment_required(client.get("/api/accounts", headers=headers), "user")


def test_by_default_no_role_is_held(make_app):
    """The README quick start: a fresh super admin works without MFA."""
    application = make_app(MFA_REQUIRED_ROLES="")
    with application.app_context():
        client = application.test_client()
        tokens = login(client, make_user(application, role="super_admin").username)
        headers = _bearer(tokens["access_token"])

        assert tokens["user"]["mfa_enrollment_required"] is False
        assert client.get("/api/users", headers=headers).status_code == 200
        assert client.post("/api/me/api_key", headers=headers).status_code == 201
