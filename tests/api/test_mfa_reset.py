"""docs/security.md 6.3.3 / 6.4: clearing a user's MFA when the device is lost.

A super admin: ``DELETE /api/users/<id>/mfa`` (fresh login, audited, the user's sessions end).
The operator, when no super admin can (the only one lost the device): ``flask reset-mfa``.
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


def _bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def _reload(user_id: int) -> Any:
    from extensions import db
    from models import User

    db.session.expire_all()
    return db.session.get(User, user_id)


def _recovery_rows(user_id: int) -> int:
    from extensions import db
    from models import MfaRecoveryCode

    return db.session.query(MfaRecoveryCode).filter_by(user_id=user_id).count()


def _events(event: str) -> list[Any]:
    from extensions import db
    from models import AuditLog

    db.session.expire_all()
    return list(db.session.query(AuditLog).filter(AuditLog.event == event).order_by(AuditLog.id))


def _password_login(client: Any, user: Any) -> Any:
    return client.post("/api/login", json={"username": user.username, "password": PASSWORD})


def _assert_mfa_cleared(user_id: int) -> None:
    row = _reload(user_id)
    assert (row.mfa_enabled_at, row.mfa_secret_encrypted, row.mfa_last_step) == (None, None, None)
    assert _recovery_rows(user_id) == 0


def _assert_mfa_kept(user_id: int) -> None:
    row = _reload(user_id)
    assert row.mfa_enabled and row.mfa_secret_encrypted is not None
    assert _recovery_rows(user_id) == 10


def _mfa_session(client: Any, world: dict[str, Any], clock: Any) -> dict[str, Any]:
    """Another login of the enrolled user (with the next code)."""
    clock.advance(30)
    response = client.post(
        "/api/login",
        json={
            "username": world["user"].username,
            "password": PASSWORD,
            "otp": code(world["secret"], clock.now),
        },
    )
    assert response.status_code == 200, response.get_json()
    return dict(response.get_json())


# --- DELETE /api/users/<id>/mfa -----------------------------------------------------------------


def test_super_admin_resets_a_users_mfa_ending_their_sessions(client, app, clock):
    world = enrol_mfa(client, make_user(app), clock)
    other = _mfa_session(client, world, clock)
    boss = make_user(app, role="super_admin")

    response = client.delete(
        f"/api/users/{world['user'].id}/mfa", headers=auth_headers(client, boss)
    )

    assert response.status_code == 204
    assert response.get_data() == b""
    _assert_mfa_cleared(world["user"].id)
    for headers in (world["headers"], _bearer(other["access_token"])):
        assert_error(client.get("/api/me", headers=headers), 401, "token_revoked")
    assert_error(
        client.post("/api/token/refresh", headers=_bearer(other["refresh_token"])),
        401,
        "token_revoked",
    )
    again = _password_login(client, world["user"])  # no code asked any more
    assert again.status_code == 200
    assert again.get_json()["user"]["mfa_enabled"] is False
    event = _events("mfa_reset")[-1]
    assert (event.actor_id, event.subject_user_id, event.details) == (
        boss.id,
        world["user"].id,
        {"via": "api"},
    )
    assert event.ip == "127.0.0.1"


def test_reset_user_can_enrol_again_with_a_new_secret(client, app, clock):
    world = enrol_mfa(client, make_user(app), clock)
    boss = auth_headers(client, make_user(app, role="super_admin"))
    assert client.delete(f"/api/users/{world['user'].id}/mfa", headers=boss).status_code == 204

    again = enrol_mfa(client, world["user"], clock)

    assert again["secret"] != world["secret"]
    assert not set(again["recovery_codes"]) & set(world["recovery_codes"])


def test_reset_another_super_admins_mfa_is_allowed(client, app, clock):
    world = enrol_mfa(client, make_user(app, role="super_admin"), clock)
    boss = auth_headers(client, make_user(app, role="super_admin"))

    response = client.delete(f"/api/users/{world['user'].id}/mfa", headers=boss)

    assert response.status_code == 204
    _assert_mfa_cleared(world["user"].id)


def test_reset_unknown_user_is_not_found(client, app):
    boss = auth_headers(client, make_user(app, role="super_admin"))

    response = client.delete("/api/users/987654/mfa", headers=boss)

    assert_error(response, 404, "not_found")
    assert not _events("mfa_reset")


@pytest.mark.parametrize("role", ["user", "admin"])
def test_reset_by_non_super_admin_is_forbidden_and_changes_nothing(client, app, clock, role):
    world = enrol_mfa(client, make_user(app), clock)
    caller = auth_headers(client, make_user(app, role=role))

    response = client.delete(f"/api/users/{world['user'].id}/mfa", headers=caller)

    assert_error(response, 403, "forbidden")
    _assert_mfa_kept(world["user"].id)
    assert client.get("/api/me", headers=world["headers"]).status_code == 200


def test_reset_own_mfa_here_is_refused_with_the_route_to_use(client, app, clock):
    world = enrol_mfa(client, make_user(app, role="super_admin"), clock)

    response = client.delete(f"/api/users/{world['user'].id}/mfa", headers=world["headers"])

    error = assert_error(response, 409, "cannot_modify_self")
    assert "/api/me/mfa/disable" in error["message"]
    _assert_mfa_kept(world["user"].id)
    assert client.get("/api/me", headers=world["headers"]).status_code == 200
    assert not _events("mfa_reset")


def test_reset_user_without_mfa_conflicts_and_ends_no_session(client, app):
    target = make_user(app)
    target_headers = auth_headers(client, target)
    boss = auth_headers(client, make_user(app, role="super_admin"))
    off = client.delete(f"/api/users/{target.id}/mfa", headers=boss)
    client.post("/api/me/mfa/setup", headers=target_headers)  # pending is not on

    pending = client.delete(f"/api/users/{target.id}/mfa", headers=boss)

    assert_error(off, 409, "mfa_not_enabled")
    assert_error(pending, 409, "mfa_not_enabled")
    assert _reload(target.id).tokens_valid_after is None
    assert client.get("/api/me", headers=target_headers).status_code == 200
    assert not _events("mfa_reset")


def test_reset_needs_a_fresh_login_and_no_api_key(client, app, clock):
    world = enrol_mfa(client, make_user(app), clock)
    boss = make_user(app, role="super_admin")
    tokens = login(client, boss.username)
    stale = client.post("/api/token/refresh", headers=_bearer(tokens["refresh_token"])).get_json()
    key = client.post("/api/me/api_key", headers=_bearer(tokens["access_token"])).get_json()
    url = f"/api/users/{world['user'].id}/mfa"

    assert_error(
        client.delete(url, headers=_bearer(stale["access_token"])), 401, "fresh_login_required"
    )
    assert_error(
        client.delete(url, headers={"X-API-Key": key["api_key"]}), 403, "api_key_not_allowed"
    )
    assert_error(client.delete(url), 401, "unauthorized")
    _assert_mfa_kept(world["user"].id)


def test_reset_is_documented(client):
    operation = client.get("/openapi.json").get_json()["paths"]["/api/users/{user_id}/mfa"][
        "delete"
    ]

    assert operation["security"] == [{"BearerAuth": []}]
    assert {"204", "401", "403", "404", "409"} <= set(operation["responses"])
    assert "cannot_modify_self" in operation["responses"]["409"]["description"]


# --- flask reset-mfa ----------------------------------------------------------------------------


def test_reset_mfa_command_clears_mfa_ends_sessions_and_audits_the_cli(client, app, clock):
    world = enrol_mfa(client, make_user(app), clock)

    result = app.test_cli_runner().invoke(args=["reset-mfa", world["user"].username, "--yes"])

    assert result.exit_code == 0, result.output
    assert world["user"].username in result.output
    _assert_mfa_cleared(world["user"].id)
    assert_error(client.get("/api/me", headers=world["headers"]), 401, "token_revoked")
    assert _password_login(client, world["user"]).status_code == 200
    event = _events("mfa_reset")[-1]
    assert (event.actor_id, event.subject_user_id, event.ip, event.details) == (
        None,
        world["user"].id,
        None,
        {"via": "cli"},
    )


def test_reset_mfa_command_asks_first(client, app, clock):
    world = enrol_mfa(client, make_user(app), clock)
    runner = app.test_cli_runner()

    declined = runner.invoke(args=["reset-mfa", world["user"].username], input="n\n")
    _assert_mfa_kept(world["user"].id)
    accepted = runner.invoke(args=["reset-mfa", world["user"].username], input="y\n")

    assert declined.exit_code != 0
    assert accepted.exit_code == 0, accepted.output
    _assert_mfa_cleared(world["user"].id)


def test_reset_mfa_command_unknown_user_fails(app):
    result = app.test_cli_runner().invoke(args=["reset-mfa", "nobody-here", "--yes"])

    assert result.exit_code != 0
    assert "no user named 'nobody-here'" in result.output
    assert not _events("mfa_reset")


def test_reset_mfa_command_user_without_mfa_fails(app):
    user = make_user(app)

    result = app.test_cli_runner().invoke(args=["reset-mfa", user.username, "--yes"])

    assert result.exit_code != 0
    assert "not on" in result.output
    assert not _events("mfa_reset")


# --- the only super admin lost the device (MFA required for the role) ---------------------------


@pytest.fixture
def held_app(tmp_path, migrated_sqlite):
    from app import create_app

    from extensions import db

    shutil.copy(migrated_sqlite, tmp_path / "db.sqlite")
    application = create_app(
        make_config(tmp_path, EXECUTOR_AUTOSTART=False, MFA_REQUIRED_ROLES="admin,super_admin")
    )
    with application.app_context():
        yield application
        db.session.remove()
        db.engine.dispose()
    application.extensions["mt5_gateway"].close()


def test_only_super_admin_lost_device_operator_resets_then_they_enrol_again(held_app, clock):
    client = held_app.test_client()
    world = enrol_mfa(client, make_user(held_app, role="super_admin"), clock)
    assert_error(_password_login(client, world["user"]), 401, "mfa_required")  # device lost

    result = held_app.test_cli_runner().invoke(args=["reset-mfa", world["user"].username, "--yes"])

    assert result.exit_code == 0, result.output
    tokens = _password_login(client, world["user"]).get_json()
    headers = _bearer(tokens["access_token"])
    assert tokens["user"]["mfa_enrollment_required"] is True
    assert_error(client.get("/api/users", headers=headers), 403, "mfa_enrollment_required")
    clock.advance(60)
    again = enrol_mfa(client, world["user"], clock)
    assert client.get("/api/users", headers=again["headers"]).status_code == 200


def test_admin_reset_by_super_admin_holds_the_admin_to_enrol_again(held_app, clock):
    client = held_app.test_client()
    admin = enrol_mfa(client, make_user(held_app, role="admin"), clock)
    boss = enrol_mfa(client, make_user(held_app, role="super_admin"), clock)

    response = client.delete(f"/api/users/{admin['user'].id}/mfa", headers=boss["headers"])

    assert response.status_code == 204
    headers = _bearer(_password_login(client, admin["user"]).get_json()["access_token"])
    assert_error(client.get("/api/audit", headers=headers), 403, "mfa_enrollment_required")
