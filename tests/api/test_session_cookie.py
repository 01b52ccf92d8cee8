"""The dashboard's session: the refresh token in an HttpOnly cookie, CSRF-checked on refresh."""

from __future__ import annotations

from typing import Any

from factories import PASSWORD, assert_error, login, make_user

REFRESH_COOKIE, CSRF_COOKIE = "mt5_refresh", "mt5_csrf"


def cookie_login(client: Any, user: Any) -> Any:
    body = {"username": user.username, "password": PASSWORD, "refresh_cookie": True}
    response = client.post("/api/login", json=body)
    assert response.status_code == 200, response.get_json()
    return response


def set_cookies(response: Any) -> dict[str, str]:
    """Each Set-Cookie header of the response, by cookie name."""
    return {header.split("=", 1)[0]: header for header in response.headers.getlist("Set-Cookie")}


def csrf_header(client: Any) -> dict[str, str]:
    return {"X-CSRF-Token": client.get_cookie(CSRF_COOKIE).value}


def cookie_refresh(client: Any, headers: dict[str, str] | None = None) -> Any:
    sent = csrf_header(client) if headers is None else headers
    return client.post("/api/token/refresh", headers=sent)


def test_login_with_refresh_cookie_sets_httponly_strict_cookie_and_no_refresh_token_in_body(
    client, app
):
    response = cookie_login(client, make_user(app))

    body = response.get_json()
    assert "refresh_token" not in body and body["access_token"]
    cookies = set_cookies(response)
    refresh = cookies[REFRESH_COOKIE]
    assert "HttpOnly" in refresh and "SameSite=Strict" in refresh and "Path=/api/" in refresh
    assert "Secure" not in refresh  # plain HTTP here
    csrf = cookies[CSRF_COOKIE]
    assert "HttpOnly" not in csrf and "SameSite=Strict" in csrf and "Path=/;" in csrf


def test_login_with_refresh_cookie_over_https_marks_cookies_secure(client, app):
    user = make_user(app)
    response = client.post(
        "/api/login",
        json={"username": user.username, "password": PASSWORD, "refresh_cookie": True},
        base_url="https://localhost",
    )

    assert response.status_code == 200
    for header in set_cookies(response).values():
        assert "Secure" in header


def test_login_without_refresh_cookie_sets_no_cookie_and_returns_the_refresh_token(client, app):
    user = make_user(app)
    response = client.post("/api/login", json={"username": user.username, "password": PASSWORD})

    assert response.status_code == 200
    assert response.get_json()["refresh_token"]
    assert response.headers.getlist("Set-Cookie") == []


def test_refresh_by_cookie_with_csrf_header_rotates_the_cookie(client, app):
    cookie_login(client, make_user(app))
    first = client.get_cookie(REFRESH_COOKIE, path="/api/").value

    response = cookie_refresh(client)

    assert response.status_code == 200, response.get_json()
    body = response.get_json()
    assert "refresh_token" not in body
    me = client.get("/api/me", headers={"Authorization": f"Bearer {body['access_token']}"})
    assert me.status_code == 200
    second = client.get_cookie(REFRESH_COOKIE, path="/api/").value
    assert second != first


def test_refresh_by_cookie_keeps_the_csrf_token_of_the_session(client, app):
    cookie_login(client, make_user(app))
    before = client.get_cookie(CSRF_COOKIE).value

    assert cookie_refresh(client).status_code == 200
    assert cookie_refresh(client).status_code == 200

    assert client.get_cookie(CSRF_COOKIE).value == before


def test_refresh_by_cookie_without_csrf_header_is_refused_and_rotates_nothing(client, app):
    cookie_login(client, make_user(app))
    token = client.get_cookie(REFRESH_COOKIE, path="/api/").value

    assert_error(cookie_refresh(client, headers={}), 403, "csrf_failed")

    assert client.get_cookie(REFRESH_COOKIE, path="/api/").value == token
    assert cookie_refresh(client).status_code == 200  # the token was not spent


def test_refresh_by_cookie_with_wrong_csrf_header_is_refused(client, app):
    cookie_login(client, make_user(app))

    response = cookie_refresh(client, headers={"X-CSRF-Token": "not-the-token"})

    assert_error(response, 403, "csrf_failed")


def test_refresh_by_cookie_with_another_sessions_csrf_token_is_refused(client, app):
    """A signed double submit: the CSRF value of the attacker's own session does not fit."""
    attacker = app.test_client()
    cookie_login(attacker, make_user(app))
    planted = attacker.get_cookie(CSRF_COOKIE).value
    cookie_login(client, make_user(app))

    response = cookie_refresh(client, headers={"X-CSRF-Token": planted})

    assert_error(response, 403, "csrf_failed")


def test_refresh_by_an_old_cookie_is_token_reused_and_ends_the_session(client, app):
    cookie_login(client, make_user(app))
    old = client.get_cookie(REFRESH_COOKIE, path="/api/").value
    headers = csrf_header(client)
    assert cookie_refresh(client).status_code == 200
    fresh_access = cookie_refresh(client).get_json()["access_token"]

    client.set_cookie(REFRESH_COOKIE, old, path="/api/")
    assert_error(cookie_refresh(client, headers=headers), 401, "token_reused")

    me = client.get("/api/me", headers={"Authorization": f"Bearer {fresh_access}"})
    assert me.status_code == 401


def test_refresh_cookie_holding_an_access_token_is_unauthorized(client, app):
    response = cookie_login(client, make_user(app))
    client.set_cookie(REFRESH_COOKIE, response.get_json()["access_token"], path="/api/")

    assert cookie_refresh(client).status_code == 401


def test_refresh_by_bearer_header_answers_as_before_without_cookies(client, app):
    tokens = login(client, make_user(app).username)

    response = client.post(
        "/api/token/refresh", headers={"Authorization": f"Bearer {tokens['refresh_token']}"}
    )

    assert response.status_code == 200
    assert response.get_json()["refresh_token"]
    assert response.headers.getlist("Set-Cookie") == []


def test_refresh_cookie_authenticates_no_other_route(client, app):
    cookie_login(client, make_user(app))

    response = client.get("/api/me", headers=csrf_header(client))

    assert_error(response, 401, "unauthorized")


def test_logout_clears_both_cookies_and_the_cookie_no_longer_refreshes(client, app):
    response = cookie_login(client, make_user(app))
    headers = csrf_header(client)
    old = client.get_cookie(REFRESH_COOKIE, path="/api/").value
    access = {"Authorization": f"Bearer {response.get_json()['access_token']}"}

    logout = client.post("/api/logout", headers=access)

    assert logout.status_code == 204
    cleared = set_cookies(logout)
    assert set(cleared) == {REFRESH_COOKIE, CSRF_COOKIE}
    assert all("Expires=Thu, 01 Jan 1970" in header for header in cleared.values())
    assert client.get_cookie(REFRESH_COOKIE, path="/api/") is None
    client.set_cookie(REFRESH_COOKIE, old, path="/api/")
    assert_error(cookie_refresh(client, headers=headers), 401, "token_revoked")


def test_logout_without_cookies_sets_none(client, app):
    tokens = login(client, make_user(app).username)

    response = client.post(
        "/api/logout", headers={"Authorization": f"Bearer {tokens['access_token']}"}
    )

    assert response.status_code == 204
    assert response.headers.getlist("Set-Cookie") == []


def test_refresh_cookie_expires_with_the_session(client, app):
    from datetime import UTC, datetime, timedelta

    from flask_jwt_extended import decode_token

    response = cookie_login(client, make_user(app))
    header = set_cookies(response)[REFRESH_COOKIE]
    expires = header.split("Expires=", 1)[1].split(";", 1)[0]
    moment = datetime.strptime(expires, "%a, %d %b %Y %H:%M:%S GMT").replace(tzinfo=UTC)
    token = client.get_cookie(REFRESH_COOKIE, path="/api/").value

    assert abs(moment - datetime.fromtimestamp(decode_token(token)["exp"], UTC)) < timedelta(
        seconds=2
    )


def test_openapi_documents_the_cookie_login_and_refresh(client):
    spec = client.get("/openapi.json").get_json()

    scheme = spec["components"]["securitySchemes"]["RefreshCookie"]
    assert (scheme["type"], scheme["in"], scheme["name"]) == ("apiKey", "cookie", REFRESH_COOKIE)
    refresh = spec["paths"]["/api/token/refresh"]["post"]
    assert {"RefreshCookie": []} in refresh["security"]
    assert "csrf_failed" in refresh["responses"]["403"]["description"]
    login_body = spec["components"]["schemas"]["LoginIn"]["properties"]
    assert login_body["refresh_cookie"]["type"] == "boolean"
