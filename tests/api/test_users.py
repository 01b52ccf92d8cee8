"""User administration: the role matrix, activation, role changes and their guards."""

from __future__ import annotations

from factories import PASSWORD, assert_error, auth_headers, make_user


def test_list_users_as_user_is_forbidden(client, app):
    headers = auth_headers(client, make_user(app))

    assert_error(client.get("/api/users", headers=headers), 403, "forbidden")


def test_list_users_without_credentials_is_unauthorized(client):
    assert_error(client.get("/api/users"), 401, "unauthorized")


def test_list_users_as_admin_is_paginated(client, app):
    admin = make_user(app, role="admin")
    for _ in range(4):
        make_user(app)
    headers = auth_headers(client, admin)

    response = client.get("/api/users?page=2&per_page=2", headers=headers)

    assert response.status_code == 200
    body = response.get_json()
    assert (body["page"], body["per_page"], body["total"]) == (2, 2, 5)
    assert len(body["users"]) == 2
    assert all("password_hash" not in u and "api_key" not in u for u in body["users"])


def test_list_users_bad_page_is_rejected(client, app):
    headers = auth_headers(client, make_user(app, role="admin"))

    assert_error(client.get("/api/users?page=0", headers=headers), 422, "validation_error")


def test_update_user_admin_deactivates_user(client, app):
    target = make_user(app)
    headers = auth_headers(client, make_user(app, role="admin"))

    response = client.patch(f"/api/users/{target.id}", json={"is_active": False}, headers=headers)

    assert response.status_code == 200
    assert response.get_json()["is_active"] is False
    login_attempt = client.post(
        "/api/login", json={"username": target.username, "password": PASSWORD}
    )
    assert_error(login_attempt, 401, "invalid_credentials")


def test_update_user_admin_reactivates_user(client, app):
    target = make_user(app, is_active=False)
    headers = auth_headers(client, make_user(app, role="admin"))

    response = client.patch(f"/api/users/{target.id}", json={"is_active": True}, headers=headers)

    assert response.status_code == 200
    assert response.get_json()["is_active"] is True


def test_update_user_by_plain_user_is_forbidden(client, app):
    target = make_user(app)
    headers = auth_headers(client, make_user(app))

    response = client.patch(f"/api/users/{target.id}", json={"is_active": False}, headers=headers)

    assert_error(response, 403, "forbidden")


def test_update_user_role_by_admin_is_forbidden(client, app):
    target = make_user(app)
    headers = auth_headers(client, make_user(app, role="admin"))

    response = client.patch(f"/api/users/{target.id}", json={"role": "admin"}, headers=headers)

    assert_error(response, 403, "forbidden")


def test_update_user_role_by_super_admin_succeeds(client, app):
    target = make_user(app)
    headers = auth_headers(client, make_user(app, role="super_admin"))

    response = client.patch(f"/api/users/{target.id}", json={"role": "admin"}, headers=headers)

    assert response.status_code == 200
    assert response.get_json()["role"] == "admin"


def test_update_user_super_admin_demoting_self_conflicts(client, app):
    boss = make_user(app, role="super_admin")
    headers = auth_headers(client, boss)

    response = client.patch(f"/api/users/{boss.id}", json={"role": "user"}, headers=headers)

    assert_error(response, 409, "cannot_modify_self")


def test_update_user_admin_deactivating_self_conflicts(client, app):
    admin = make_user(app, role="admin")
    headers = auth_headers(client, admin)

    response = client.patch(f"/api/users/{admin.id}", json={"is_active": False}, headers=headers)

    assert_error(response, 409, "cannot_modify_self")


def test_update_user_admin_touching_super_admin_is_forbidden(client, app):
    boss = make_user(app, role="super_admin")
    headers = auth_headers(client, make_user(app, role="admin"))

    response = client.patch(f"/api/users/{boss.id}", json={"is_active": False}, headers=headers)

    assert_error(response, 403, "forbidden")


def test_update_user_admin_touching_other_admin_is_forbidden(client, app):
    other = make_user(app, role="admin")
    headers = auth_headers(client, make_user(app, role="admin"))

    response = client.patch(f"/api/users/{other.id}", json={"is_active": False}, headers=headers)

    assert_error(response, 403, "forbidden")


def test_update_user_unknown_id_is_not_found(client, app):
    headers = auth_headers(client, make_user(app, role="admin"))

    response = client.patch("/api/users/999999", json={"is_active": False}, headers=headers)

    assert_error(response, 404, "not_found")


def test_update_user_empty_body_is_rejected(client, app):
    target = make_user(app)
    headers = auth_headers(client, make_user(app, role="admin"))

    response = client.patch(f"/api/users/{target.id}", json={}, headers=headers)

    assert_error(response, 422, "validation_error")


def test_update_user_unknown_role_is_rejected(client, app):
    target = make_user(app)
    headers = auth_headers(client, make_user(app, role="super_admin"))

    response = client.patch(f"/api/users/{target.id}", json={"role": "god"}, headers=headers)

    assert_error(response, 422, "validation_error")


def test_update_user_unknown_field_is_rejected(client, app):
    target = make_user(app)
    headers = auth_headers(client, make_user(app, role="admin"))

    response = client.patch(f"/api/users/{target.id}", json={"password_hash": "x"}, headers=headers)

    assert_error(response, 422, "validation_error")
