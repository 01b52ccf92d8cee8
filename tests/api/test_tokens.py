"""JWT checks (forged, expired, wrong type), live re-reading of the user, and API keys."""

from __future__ import annotations

import base64
import json
import sqlite3
from datetime import timedelta
from typing import Any

import jwt as pyjwt
import pytest
from factories import assert_error, auth_headers, login, make_account, make_user


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


# --- refresh-token rotation with reuse detection (docs/security.md 7.2.4) -----------------------


def _refresh(client: Any, refresh_token: str) -> Any:
    return client.post("/api/token/refresh", headers=_bearer(refresh_token))


def _audit(event: str) -> list[Any]:
    from extensions import db
    from models import AuditLog

    db.session.expire_all()
    return list(db.session.query(AuditLog).filter(AuditLog.event == event).all())


def test_refresh_returns_a_new_pair_in_the_same_session(client, app):
    tokens = login(client, make_user(app).username)

    response = _refresh(client, tokens["refresh_token"])

    assert response.status_code == 200
    body = response.get_json()
    assert set(body) == {"access_token", "refresh_token", "token_type", "expires_in"}
    assert body["refresh_token"] != tokens["refresh_token"]
    old, new = _claims(tokens["refresh_token"]), _claims(body["refresh_token"])
    assert new["sid"] == old["sid"] and new["jti"] != old["jti"]
    assert client.get("/api/me", headers=_bearer(body["access_token"])).status_code == 200
    assert _refresh(client, body["refresh_token"]).status_code == 200  # the chain goes on


def test_refresh_keeps_the_absolute_session_end(client, app):
    tokens = login(client, make_user(app).username)
    first = _claims(tokens["refresh_token"])

    second = _refresh(client, tokens["refresh_token"]).get_json()
    third = _refresh(client, second["refresh_token"]).get_json()

    for pair in (second, third):
        claims = _claims(pair["refresh_token"])
        assert first["exp"] - 1 <= claims["exp"] <= first["exp"]
        assert _claims(pair["access_token"])["exp"] <= first["exp"]


def test_refresh_near_the_session_end_never_outlives_it(client, app):
    from flask_jwt_extended import create_refresh_token

    user = make_user(app)
    token = create_refresh_token(
        identity=str(user.id),
        additional_claims={"sid": "s-ending", "role": user.role},
        expires_delta=timedelta(seconds=60),
    )

    body = _refresh(client, token).get_json()

    assert 0 < body["expires_in"] <= 60
    assert _claims(body["access_token"])["exp"] <= _claims(token)["exp"]
    assert _claims(body["refresh_token"])["exp"] <= _claims(token)["exp"]


def test_refreshed_access_token_is_not_fresh_login_token_is(client, app):
    tokens = login(client, make_user(app).username)

    refreshed = _refresh(client, tokens["refresh_token"]).get_json()

    assert isinstance(_claims(tokens["access_token"])["fresh"], float | int)
    assert _claims(refreshed["access_token"])["fresh"] is False


def test_refresh_token_reused_revokes_the_whole_session(client, app):
    user = make_user(app)
    tokens = login(client, user.username)
    rotated = _refresh(client, tokens["refresh_token"]).get_json()

    reused = _refresh(client, tokens["refresh_token"])

    assert_error(reused, 401, "token_reused")
    for token in (tokens["access_token"], rotated["access_token"]):
        assert_error(client.get("/api/me", headers=_bearer(token)), 401, "token_revoked")
    assert_error(_refresh(client, rotated["refresh_token"]), 401, "token_revoked")
    assert_error(_refresh(client, tokens["refresh_token"]), 401, "token_revoked")
    (event,) = _audit("refresh_token_reused")
    assert (event.subject_user_id, event.ip) == (user.id, "127.0.0.1")


def test_refresh_token_reused_leaves_other_sessions_working(client, app):
    user = make_user(app)
    stolen = login(client, user.username)
    other = login(client, user.username)
    _refresh(client, stolen["refresh_token"])

    assert_error(_refresh(client, stolen["refresh_token"]), 401, "token_reused")

    assert client.get("/api/me", headers=_bearer(other["access_token"])).status_code == 200
    assert _refresh(client, other["refresh_token"]).status_code == 200


def test_refresh_thief_first_then_owner_ends_the_session_for_both(client, app):
    tokens = login(client, make_user(app).username)
    thief = _refresh(client, tokens["refresh_token"]).get_json()

    owner = _refresh(client, tokens["refresh_token"])

    assert_error(owner, 401, "token_reused")
    assert_error(
        client.get("/api/me", headers=_bearer(thief["access_token"])), 401, "token_revoked"
    )


def test_refresh_token_without_session_id_still_rotates_and_detects_reuse(client, app):
    from flask_jwt_extended import create_refresh_token

    user = make_user(app)
    legacy = create_refresh_token(identity=str(user.id))

    assert _refresh(client, legacy).status_code == 200
    assert_error(_refresh(client, legacy), 401, "token_reused")


def test_logout_after_rotation_revokes_the_rotated_tokens(client, app):
    tokens = login(client, make_user(app).username)
    rotated = _refresh(client, tokens["refresh_token"]).get_json()

    client.post("/api/logout", headers=_bearer(rotated["access_token"]))

    assert_error(_refresh(client, rotated["refresh_token"]), 401, "token_revoked")


def test_used_refresh_tokens_are_stored_by_id_only(client, app):
    from extensions import db
    from models import UsedRefreshToken

    tokens = login(client, make_user(app).username)
    _refresh(client, tokens["refresh_token"])

    (row,) = db.session.query(UsedRefreshToken).all()
    assert row.jti == _claims(tokens["refresh_token"])["jti"]
    assert row.expires_at.timestamp() == _claims(tokens["refresh_token"])["exp"]


def test_refresh_forgets_the_users_used_tokens_that_have_expired(client, app):
    from datetime import UTC, datetime

    from extensions import db
    from models import UsedRefreshToken

    user = make_user(app)
    other = make_user(app)
    past = datetime.now(UTC) - timedelta(seconds=1)
    for owner, jti in ((user, "gone"), (other, "someone-elses")):
        db.session.add(UsedRefreshToken(jti=jti, sid="s", user_id=owner.id, expires_at=past))
    db.session.commit()

    _refresh(client, login(client, user.username)["refresh_token"])

    db.session.expire_all()
    left = {row.jti for row in db.session.query(UsedRefreshToken).all()}
    assert "gone" not in left and "someone-elses" in left and len(left) == 2


# --- API key scopes and expiry -----------------------------------------------------------------

CALC = {
    "account": {"currency": "USD", "balance": "10000", "leverage": "100"},
    "symbol": "XAUUSD",
    "risk": {"percent": "1"},
    "trade": {"order_type": "pending", "entry": "2350.00", "stop_loss": "2340.00"},
}


def _scoped_key(client: Any, headers: dict[str, str], **body: Any) -> dict[str, Any]:
    response = client.post("/api/me/api_key", json=body, headers=headers)
    assert response.status_code == 201, response.get_json()
    return dict(response.get_json())


def test_create_api_key_default_has_every_scope_and_no_expiry(client, app):
    headers = auth_headers(client, make_user(app))

    body = _scoped_key(client, headers)

    assert body["scopes"] == ["read", "calculate", "trade", "manage"]
    assert body["expires_at"] is None
    me = client.get("/api/me", headers=headers).get_json()
    assert me["api_key_scopes"] == body["scopes"] and me["api_key_expires_at"] is None


def test_api_key_read_scope_reads_but_cannot_calculate_trade_or_manage(client, app):
    headers = auth_headers(client, make_user(app))
    account = make_account(client, headers)
    key = {"X-API-Key": _scoped_key(client, headers, scopes=["read"])["api_key"]}

    assert client.get("/api/accounts", headers=key).status_code == 200
    assert client.get(f"/api/accounts/{account['id']}", headers=key).status_code == 200
    refused = {
        "calculate": client.post("/api/calculate", json=CALC, headers=key),
        "trade": client.post(f"/api/accounts/{account['id']}/connect", headers=key),
        "manage": client.patch(
            f"/api/accounts/{account['id']}", json={"account_name": "x"}, headers=key
        ),
    }
    for scope, response in refused.items():
        error = assert_error(response, 403, "insufficient_scope")
        assert error["details"] == {"required_scope": scope}


def test_api_key_calculate_scope_calculates_but_cannot_read(client, app):
    headers = auth_headers(client, make_user(app))
    key = {"X-API-Key": _scoped_key(client, headers, scopes=["calculate"])["api_key"]}

    assert client.post("/api/calculate", json=CALC, headers=key).status_code == 200
    assert_error(client.get("/api/me", headers=key), 403, "insufficient_scope")


def test_api_key_scopes_are_stored_once_in_a_fixed_order(client, app):
    headers = auth_headers(client, make_user(app))

    body = _scoped_key(client, headers, scopes=["trade", "read", "trade"])

    assert body["scopes"] == ["read", "trade"]


@pytest.mark.parametrize(
    "body",
    [
        {"scopes": []},
        {"scopes": ["admin"]},
        {"scopes": "read"},
        {"scopes": ["read", "x", "y", "z", "w"]},
        {"expires_in_days": 0},
        {"expires_in_days": 3651},
        {"expires_in_days": "soon"},
        {"api_key_scopes": "read"},
    ],
)
def test_create_api_key_invalid_body_is_rejected_and_keeps_old_key(client, app, body):
    headers = auth_headers(client, make_user(app))
    old = _create_key(client, headers)

    response = client.post("/api/me/api_key", json=body, headers=headers)

    assert_error(response, 422, "validation_error")
    assert client.get("/api/me", headers={"X-API-Key": old}).status_code == 200


def test_api_key_with_expiry_works_until_it_expires(client, app):
    from datetime import UTC, datetime

    from extensions import db
    from models import User

    user = make_user(app)
    headers = auth_headers(client, user)
    body = _scoped_key(client, headers, expires_in_days=7)
    expires = datetime.fromisoformat(body["expires_at"])
    assert (
        timedelta(days=7) - timedelta(minutes=1) < expires - datetime.now(UTC) <= timedelta(days=7)
    )
    key = {"X-API-Key": body["api_key"]}
    assert client.get("/api/me", headers=key).status_code == 200

    db.session.get(User, user.id).api_key_expires_at = datetime.now(UTC) - timedelta(seconds=1)
    db.session.commit()

    assert_error(client.get("/api/me", headers=key), 401, "api_key_expired")
    assert_error(client.post("/api/calculate", json=CALC, headers=key), 401, "api_key_expired")


def test_api_key_replaced_after_expiry_works_again_without_expiry(client, app):
    from datetime import UTC, datetime

    from extensions import db
    from models import User

    user = make_user(app)
    headers = auth_headers(client, user)
    _scoped_key(client, headers, expires_in_days=1)
    db.session.get(User, user.id).api_key_expires_at = datetime.now(UTC) - timedelta(days=1)
    db.session.commit()

    fresh = _scoped_key(client, headers)

    assert fresh["expires_at"] is None
    assert client.get("/api/me", headers={"X-API-Key": fresh["api_key"]}).status_code == 200


def test_api_key_made_before_scopes_existed_keeps_every_scope(client, app):
    from extensions import db
    from models import User

    user = make_user(app)
    headers = auth_headers(client, user)
    key = {"X-API-Key": _scoped_key(client, headers, scopes=["read"])["api_key"]}
    db.session.get(User, user.id).api_key_scopes = None  # as the migration leaves old keys
    db.session.commit()

    assert client.post("/api/calculate", json=CALC, headers=key).status_code == 200
    me = client.get("/api/me", headers=key).get_json()
    assert me["api_key_scopes"] == ["read", "calculate", "trade", "manage"]


def test_api_key_cannot_create_replace_or_revoke_keys(client, app):
    headers = auth_headers(client, make_user(app))
    key = {"X-API-Key": _create_key(client, headers)}

    create = client.post("/api/me/api_key", json={"scopes": ["read"]}, headers=key)
    revoke = client.delete("/api/me/api_key", headers=key)

    assert_error(create, 403, "api_key_not_allowed")
    assert_error(revoke, 403, "api_key_not_allowed")
    assert client.get("/api/me", headers=key).status_code == 200


def test_revoke_api_key_clears_scopes_and_expiry(client, app):
    headers = auth_headers(client, make_user(app))
    _scoped_key(client, headers, scopes=["read"], expires_in_days=3)

    client.delete("/api/me/api_key", headers=headers)

    me = client.get("/api/me", headers=headers).get_json()
    assert (me["api_key_prefix"], me["api_key_scopes"], me["api_key_expires_at"]) == (
        None,
        None,
        None,
    )


def test_api_key_creation_audits_scopes_and_expiry(client, app):
    headers = auth_headers(client, make_user(app))

    body = _scoped_key(client, headers, scopes=["read", "trade"], expires_in_days=30)

    (event,) = _audit("api_key_created")
    assert event.details["scopes"] == ["read", "trade"]
    assert event.details["expires_at"].startswith(body["expires_at"][:16])
    assert body["api_key"] not in json.dumps(event.details)


def test_create_api_key_service_refuses_an_empty_scope_list(app):
    from errors import AppError
    from extensions import db
    from services.auth import create_api_key

    user = make_user(app)

    with pytest.raises(AppError) as refused:
        create_api_key(session=db.session, user=user, pepper="p", ip=None, scopes=[])

    assert (refused.value.status_code, refused.value.code) == (422, "validation_error")
    assert user.api_key is None
