from factories import assert_error, auth_headers, make_account, make_user


def test_status_ok(client):
    r = client.get("/api/status")
    assert r.status_code == 200
    assert r.get_json()["database"]["ok"] is True


def test_register_login_account_flow(client, app):
    r = client.post(
        "/api/register",
        json={"username": "alice", "email": "a@example.com", "password": "a long enough pass"},
    )
    assert r.status_code == 201, r.get_json()
    user = make_user(app)
    h = auth_headers(client, user)
    acc = make_account(client, h)
    assert "password" not in acc
    assert_error(client.get("/api/accounts/999", headers=h), 404, "account_not_found")
