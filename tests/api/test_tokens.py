"""JWT checks (forged, expired, wrong type), live re-reading of the user, and API keys."""

from __future__ import annotations

import base64
import json
import sqlite3
from datetime import timedelta
from typing import Any

import jwt as pyjwt
import pytest
from conftest import assert_error, auth_headers, login, make_account, make_user


def _bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def _b64(part: dict[str, Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(part).encode()).rstrip(b"=").decode()


def _claims(token: str) -> dict[str, Any]:
    return dict(pyjwt.decode(token, options={"verify_signature": False}))


# --- forged and broken tokens ------------------------------------------------------------------


def test_token_with_alg_none_is_unauthorized(client, app):
    claims = _claims(login(client, make_user(app).username)["access_token"])
    token = f"{_b64({'alg': 'none', 'typ': 'JWT'})}.{_b64(claims)}."

    assert_error(client.get("/api/me", headers=_bearer(token)), 401, "invalid_token")


def test_token_signed_with_other_key_is_unauthorized(client, app):
    claims = _claims(login(client, make_user(app).username)["access_token"])
    token = pyjwt.encode(claims, "another-key-another-key-another-key!", algorithm="HS256")

    assert_error(client.get("/api/me", headers=_bearer(token)), 401, "invalid_token")


def test_token_with_flipped_signature_byte_is_unauthorized(client, app):
    token = login(client, make_user(app).username)["access_token"]
    head, body, signature = token.split(".")
    flipped = ("A" if signature[5] != "A" else "B").join((signature[:5], signature[6:]))

    response = client.get("/api/me", headers=_bearer(f"{head}.{body}.{flipped}"))

    assert_error(response, 401, "invalid_token")


def test_token_with_tampered_claims_is_unauthorized(client, app):
    token = login(client, make_user(app).username)["access_token"]
    head, _body, signature = token.split(".")
    claims = {**_claims(token), "role": "super_admin", "sub": "1"}

    response = client.get("/api/me", headers=_bearer(f"{head}.{_b64(claims)}.{signature}"))

    assert_error(response, 401, "invalid_token")


def test_token_expired_is_unauthorized(client, app):
    from flask_jwt_extended import create_access_token

    user = make_user(app)
    token = create_access_token(identity=str(user.id), expires_delta=timedelta(seconds=-1))

    assert_error(client.get("/api/me", headers=_bearer(token)), 401, "token_expired")


def test_token_garbage_is_unauthorized(client):
    assert_error(client.get("/api/me", headers=_bearer("not.a.jwt")), 401, "invalid_token")


def test_token_for_deleted_user_is_unauthorized(client, app):
    from flask_jwt_extended import create_access_token

    token = create_access_token(identity="999999")

    assert_error(client.get("/api/me", headers=_bearer(token)), 401, "invalid_token")


def test_token_in_query_string_is_not_accepted(client, app):
    token = login(client, make_user(app).username)["access_token"]

    assert_error(client.get(f"/api/me?jwt={token}"), 401, "unauthorized")


# --- the user is re-read on every request ------------------------------------------------------


def test_deactivated_user_existing_token_is_refused_at_once(client, app):
    from extensions import db

    user = make_user(app)
    headers = auth_headers(client, user)
    user.is_active = False
    db.session.commit()

    assert_error(client.get("/api/me", headers=headers), 401, "invalid_token")


def test_deactivated_user_refresh_token_is_refused(client, app):
    from extensions import db

    user = make_user(app)
    tokens = login(client, user.username)
    user.is_active = False
    db.session.commit()

    response = client.post("/api/token/refresh", headers=_bearer(tokens["refresh_token"]))

    assert_error(response, 401, "invalid_token")


def test_demoted_admin_existing_token_is_forbidden_at_once(client, app):
    from extensions import db

    admin = make_user(app, role="admin")
    headers = auth_headers(client, admin)
    assert client.get("/api/users", headers=headers).status_code == 200
    admin.role = "user"
    db.session.commit()

    assert_error(client.get("/api/users", headers=headers), 403, "forbidden")


# --- API keys ----------------------------------------------------------------------------------


def _create_key(client: Any, headers: dict[str, str]) -> str:
    response = client.post("/api/me/api_key", headers=headers)
    assert response.status_code == 201, response.get_json()
    return str(response.get_json()["api_key"])


def test_create_api_key_returns_prefixed_key_once(client, app):
    user = make_user(app)
    headers = auth_headers(client, user)

    response = client.post("/api/me/api_key", headers=headers)

    assert response.status_code == 201
    body = response.get_json()
    assert body["api_key"].startswith("mt5k_")
    assert len(body["api_key"]) >= len("mt5k_") + 32
    assert body["api_key"].startswith(body["prefix"])
    me = client.get("/api/me", headers=headers).get_json()
    assert me["api_key_prefix"] == body["prefix"]
    assert body["api_key"] not in json.dumps(me)


def test_create_api_key_stores_only_keyed_hash(client, app, app_config):
    user = make_user(app)
    key = _create_key(client, auth_headers(client, user))
    db_path = app_config["SQLALCHEMY_DATABASE_URI"].removeprefix("sqlite:///")

    with sqlite3.connect(db_path) as conn:
        stored = conn.execute("SELECT api_key FROM users WHERE id = ?", (user.id,)).fetchone()[0]
        dump = "\n".join(conn.iterdump())

    assert stored and stored != key
    assert key not in stored and key[len("mt5k_") :] not in dump
    from utils.security import api_key_digest

    assert stored == api_key_digest(key, app.config["API_KEY_PEPPER"])


def test_api_key_authenticates_me(client, app):
    user = make_user(app)
    key = _create_key(client, auth_headers(client, user))

    response = client.get("/api/me", headers={"X-API-Key": key})

    assert response.status_code == 200
    assert response.get_json()["id"] == user.id


def test_api_key_authenticates_accounts(client, app):
    user = make_user(app)
    headers = auth_headers(client, user)
    account = make_account(client, headers)
    key = _create_key(client, headers)

    response = client.get("/api/accounts", headers={"X-API-Key": key})

    assert response.status_code == 200
    assert [a["id"] for a in response.get_json()["accounts"]] == [account["id"]]


@pytest.mark.parametrize("key", ["mt5k_" + "x" * 43, "", "y" * 500])
def test_api_key_invalid_is_unauthorized(client, key):
    assert_error(client.get("/api/me", headers={"X-API-Key": key}), 401, "invalid_api_key")


def test_api_key_of_deactivated_user_is_unauthorized(client, app):
    from extensions import db

    user = make_user(app)
    key = _create_key(client, auth_headers(client, user))
    user.is_active = False
    db.session.commit()

    assert_error(client.get("/api/me", headers={"X-API-Key": key}), 401, "invalid_api_key")


def test_api_key_of_user_cannot_reach_admin_routes(client, app):
    key = _create_key(client, auth_headers(client, make_user(app)))

    assert_error(client.get("/api/users", headers={"X-API-Key": key}), 403, "forbidden")


def test_create_api_key_again_replaces_old_key(client, app):
    headers = auth_headers(client, make_user(app))
    old = _create_key(client, headers)

    new = _create_key(client, headers)

    assert_error(client.get("/api/me", headers={"X-API-Key": old}), 401, "invalid_api_key")
    assert client.get("/api/me", headers={"X-API-Key": new}).status_code == 200


def test_revoke_api_key_stops_it_working(client, app):
    headers = auth_headers(client, make_user(app))
    key = _create_key(client, headers)

    assert client.delete("/api/me/api_key", headers=headers).status_code == 204

    assert_error(client.get("/api/me", headers={"X-API-Key": key}), 401, "invalid_api_key")


def test_revoke_api_key_twice_is_not_found(client, app):
    headers = auth_headers(client, make_user(app))
    _create_key(client, headers)
    client.delete("/api/me/api_key", headers=headers)

    assert_error(client.delete("/api/me/api_key", headers=headers), 404, "not_found")


def test_create_api_key_without_credentials_is_unauthorized(client):
    assert_error(client.post("/api/me/api_key"), 401, "unauthorized")
