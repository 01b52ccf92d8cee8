"""The verified-token cache (utils/jwt_cache.py) speeds requests up without weakening a check."""

from __future__ import annotations

import time
from datetime import timedelta

from factories import assert_error, login, make_user

from utils.jwt_cache import VerifiedTokenCache


def _bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def _cache(app):
    from extensions import jwt

    with app.app_context():
        return jwt.verified_tokens()


def test_a_token_is_verified_once_and_then_served_from_the_cache(client, app):
    token = login(client, make_user(app).username)["access_token"]
    cache = _cache(app)

    assert cache.get(token) is None
    assert client.get("/api/me", headers=_bearer(token)).status_code == 200
    cached = cache.get(token)
    assert cached is not None and cached["type"] == "access"
    assert client.get("/api/me", headers=_bearer(token)).status_code == 200


def test_a_cached_token_is_refused_once_it_expires(client, app):
    from flask_jwt_extended import create_access_token

    user = make_user(app)
    with app.app_context():
        token = create_access_token(
            identity=str(user.id),
            additional_claims={"sid": "s-expiring", "role": user.role},
            expires_delta=timedelta(seconds=1),
        )
    assert client.get("/api/me", headers=_bearer(token)).status_code == 200
    assert _cache(app).get(token) is not None

    expires = _cache(app).get(token)["exp"]
    time.sleep(max(0.0, expires - time.time()) + 0.05)

    assert_error(client.get("/api/me", headers=_bearer(token)), 401, "token_expired")
    assert _cache(app).get(token) is None


def test_revocation_is_not_cached(client, app):
    tokens = login(client, make_user(app).username)
    headers = _bearer(tokens["access_token"])
    assert client.get("/api/me", headers=headers).status_code == 200

    assert client.post("/api/logout", headers=headers).status_code == 204

    assert_error(client.get("/api/me", headers=headers), 401, "token_revoked")


def test_a_tampered_copy_of_a_cached_token_is_still_refused(client, app):
    token = login(client, make_user(app).username)["access_token"]
    assert client.get("/api/me", headers=_bearer(token)).status_code == 200
    head, body, signature = token.split(".")
    flipped = ("A" if signature[3] != "A" else "B").join((signature[:3], signature[4:]))

    assert_error(
        client.get("/api/me", headers=_bearer(f"{head}.{body}.{flipped}")), 401, "invalid_token"
    )


def test_each_app_has_its_own_cache_so_another_key_never_reuses_a_verification(
    client, app, app_config
):
    from app import create_app

    token = login(client, make_user(app).username)["access_token"]
    assert client.get("/api/me", headers=_bearer(token)).status_code == 200

    other = create_app({**app_config, "JWT_SECRET_KEY": "another-key-" + "x" * 40})
    response = other.test_client().get("/api/me", headers=_bearer(token))

    assert_error(response, 401, "invalid_token")


def test_the_cache_is_bounded_and_drops_the_least_recently_used():
    cache = VerifiedTokenCache(size=2)
    cache.put("a", {"n": 1})
    cache.put("b", {"n": 2})
    assert cache.get("a") == {"n": 1}  # a is now the most recently used

    cache.put("c", {"n": 3})

    assert len(cache) == 2
    assert cache.get("b") is None
    assert cache.get("a") == {"n": 1} and cache.get("c") == {"n": 3}
