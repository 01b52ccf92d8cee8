"""The audit trail: security events with actor, IP and UTC time; admin-only listing."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from factories import PASSWORD, assert_error, auth_headers, login, make_account, make_user


def _events(event: str | None = None) -> list[Any]:
    from extensions import db
    from models import AuditLog

    query = db.session.query(AuditLog).order_by(AuditLog.id)
    if event:
        query = query.filter(AuditLog.event == event)
    return list(query.all())


def _last(event: str) -> Any:
    rows = _events(event)
    assert rows, f"no {event} event"
    return rows[-1]


def _is_recent_utc(moment: datetime) -> bool:
    return moment.tzinfo is not None and datetime.now(UTC) - moment < timedelta(minutes=1)


def test_login_success_is_audited_with_actor_ip_and_time(client, app):
    user = make_user(app)

    login(client, user.username)

    row = _last("login_succeeded")
    assert (row.actor_id, row.subject_user_id, row.ip) == (user.id, user.id, "127.0.0.1")
    assert _is_recent_utc(row.created_at)


def test_login_failure_is_audited(client, app):
    user = make_user(app)

    client.post("/api/login", json={"username": user.username, "password": "wrong pass"})

    row = _last("login_failed")
    assert (row.subject_user_id, row.ip, row.details) == (
        user.id,
        "127.0.0.1",
        {"reason": "bad_password"},
    )


def test_login_unknown_user_failure_is_audited_without_identifier(client):
    client.post("/api/login", json={"username": "ghost-user", "password": "wrong pass"})

    row = _last("login_failed")
    assert row.subject_user_id is None
    assert "ghost-user" not in json.dumps(row.details)


def test_lockout_is_audited(client, app):
    user = make_user(app)

    for _ in range(5):
        client.post("/api/login", json={"username": user.username, "password": "wrong pass"})

    row = _last("account_locked")
    assert row.subject_user_id == user.id and row.ip == "127.0.0.1"


def test_login_while_locked_is_audited(client, app):
    user = make_user(app)
    for _ in range(5):
        client.post("/api/login", json={"username": user.username, "password": "wrong pass"})

    client.post("/api/login", json={"username": user.username, "password": PASSWORD})

    assert _last("login_locked_out").subject_user_id == user.id


def test_logout_is_audited(client, app):
    user = make_user(app)

    client.post("/api/logout", headers=auth_headers(client, user))

    assert _last("logout").actor_id == user.id


def test_api_key_create_and_revoke_are_audited(client, app):
    user = make_user(app)
    headers = auth_headers(client, user)
    key = client.post("/api/me/api_key", headers=headers).get_json()

    client.delete("/api/me/api_key", headers=headers)

    created, revoked = _last("api_key_created"), _last("api_key_revoked")
    assert created.actor_id == revoked.actor_id == user.id
    assert created.details["prefix"] == key["prefix"]
    assert set(created.details) == {"prefix", "scopes", "expires_at"}
    assert key["api_key"] not in json.dumps(created.details)


def test_account_create_update_delete_are_audited(client, app):
    user = make_user(app)
    headers = auth_headers(client, user)
    account = make_account(client, headers)
    client.patch(f"/api/accounts/{account['id']}", json={"password": "New-pass-1"}, headers=headers)
    client.delete(f"/api/accounts/{account['id']}", headers=headers)

    rows = [_last(e) for e in ("account_created", "account_updated", "account_deleted")]

    assert all(r.actor_id == user.id and r.target_id == account["id"] for r in rows)
    assert all(r.target_type == "mt5_account" and r.ip == "127.0.0.1" for r in rows)
    assert rows[1].details == {"fields": ["password"]}


def test_role_change_is_audited(client, app):
    boss = make_user(app, role="super_admin")
    target = make_user(app)

    client.patch(
        f"/api/users/{target.id}", json={"role": "admin"}, headers=auth_headers(client, boss)
    )

    row = _last("user_role_changed")
    assert (row.actor_id, row.subject_user_id) == (boss.id, target.id)
    assert row.details == {"from": "user", "to": "admin"}


def test_activation_change_is_audited(client, app):
    admin = make_user(app, role="admin")
    target = make_user(app)

    client.patch(
        f"/api/users/{target.id}", json={"is_active": False}, headers=auth_headers(client, admin)
    )

    row = _last("user_is_active_changed")
    assert (row.actor_id, row.subject_user_id, row.details) == (
        admin.id,
        target.id,
        {"from": True, "to": False},
    )


def test_audit_rows_hold_no_secrets(client, app):
    user = make_user(app)
    tokens = login(client, user.username)
    headers = {"Authorization": f"Bearer {tokens['access_token']}"}
    key = client.post("/api/me/api_key", headers=headers).get_json()["api_key"]
    make_account(client, headers, password="Mt5-audit-secret")
    client.post("/api/login", json={"username": user.username, "password": "typo-password"})
    client.post(
        "/api/me/password",
        json={"current_password": PASSWORD, "new_password": "a brand new passphrase"},
        headers=headers,
    )

    dump = json.dumps([(r.event, r.details) for r in _events()])
    for secret in (PASSWORD, "typo-password", "Mt5-audit-secret", "a brand new passphrase", key):
        assert secret not in dump
    assert tokens["access_token"] not in dump and tokens["refresh_token"] not in dump


# --- GET /api/audit ----------------------------------------------------------------------------


def test_list_audit_as_user_is_forbidden(client, app):
    assert_error(
        client.get("/api/audit", headers=auth_headers(client, make_user(app))), 403, "forbidden"
    )


def test_list_audit_without_credentials_is_unauthorized(client):
    assert_error(client.get("/api/audit"), 401, "unauthorized")


def test_list_audit_as_admin_returns_newest_first(client, app):
    headers = auth_headers(client, make_user(app, role="admin"))

    response = client.get("/api/audit", headers=headers)

    assert response.status_code == 200
    body = response.get_json()
    ids = [e["id"] for e in body["events"]]
    assert ids == sorted(ids, reverse=True) and body["total"] >= 1
    assert body["events"][0]["created_at"].endswith("+00:00")


def test_list_audit_filtered_by_user(client, app):
    admin = make_user(app, role="admin")
    target = make_user(app)
    login(client, target.username)
    headers = auth_headers(client, admin)

    body = client.get(f"/api/audit?user_id={target.id}", headers=headers).get_json()

    assert body["total"] == 1
    assert {(e["event"], e["subject_user_id"]) for e in body["events"]} == {
        ("login_succeeded", target.id)
    }


def test_list_audit_filtered_by_event(client, app):
    headers = auth_headers(client, make_user(app, role="admin"))
    client.post("/api/login", json={"username": "ghost", "password": "wrong pass"})

    body = client.get("/api/audit?event=login_failed", headers=headers).get_json()

    assert body["total"] == 1 and body["events"][0]["event"] == "login_failed"


def test_list_audit_is_paginated(client, app):
    admin = make_user(app, role="admin")
    for _ in range(4):
        login(client, admin.username)
    headers = auth_headers(client, admin)

    body = client.get("/api/audit?per_page=2&page=2", headers=headers).get_json()

    assert (body["page"], body["per_page"], body["total"]) == (2, 2, 5)
    assert len(body["events"]) == 2


@pytest.mark.parametrize("query", ["per_page=0", "page=-1", "user_id=abc", "per_page=100000"])
def test_list_audit_bad_query_is_rejected(client, app, query):
    headers = auth_headers(client, make_user(app, role="admin"))

    assert_error(client.get(f"/api/audit?{query}", headers=headers), 422, "validation_error")
