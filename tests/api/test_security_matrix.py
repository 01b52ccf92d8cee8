"""docs/security.md: the role matrix over every route and IDOR over every object route.

Every table is checked against ``app.url_map``: a new route without a line here fails the suite.
Besides roles, the matrix holds each route's API-key scope (or FRESH: a fresh password login
only, never an API key) and the routes where some body fields need a fresh login.
"""

from __future__ import annotations

import re
import time
from decimal import Decimal
from typing import Any

import pytest
from factories import account_body, assert_error, auth_headers, make_account, make_user

# --- the role matrix ---------------------------------------------------------------------------

PUBLIC, REFRESH, JWT_ONLY, USER, ADMIN, SUPER = (
    "public",
    "refresh",
    "jwt",
    "user",
    "admin",
    "super_admin",
)
# (rule, method) -> who may call it. PUBLIC: anyone; REFRESH: a refresh token only; JWT_ONLY: any
# logged-in JWT (not an API key); USER/ADMIN/SUPER: that role or higher, by JWT or X-API-Key.
POLICY: dict[tuple[str, str], str] = {
    ("/api/status", "GET"): PUBLIC,
    ("/api/register", "POST"): PUBLIC,
    ("/api/login", "POST"): PUBLIC,
    ("/openapi.json", "GET"): PUBLIC,
    ("/docs", "GET"): PUBLIC,
    ("/docs/swagger-ui/<path:filename>", "GET"): PUBLIC,
    ("/docs/static/<path:filename>", "GET"): PUBLIC,
    ("/", "GET"): PUBLIC,  # the dashboard's page (it logs in through /api/login)
    ("/app/assets/<path:filename>", "GET"): PUBLIC,
    ("/static/<path:filename>", "GET"): PUBLIC,
    ("/metrics", "GET"): PUBLIC,  # open unless METRICS_TOKEN is set (see docs/security.md)
    ("/api/token/refresh", "POST"): REFRESH,
    ("/api/logout", "POST"): JWT_ONLY,
    ("/api/me", "GET"): USER,
    ("/api/me/password", "POST"): USER,
    ("/api/me/api_key", "POST"): USER,
    ("/api/me/api_key", "DELETE"): USER,
    ("/api/me/mfa/setup", "POST"): USER,
    ("/api/me/mfa/confirm", "POST"): USER,
    ("/api/me/mfa/disable", "POST"): USER,
    ("/api/me/mfa/recovery_codes", "POST"): USER,
    ("/api/me/notifications", "GET"): USER,
    ("/api/me/notifications", "PUT"): USER,
    ("/api/accounts", "GET"): USER,
    ("/api/accounts", "POST"): USER,
    ("/api/accounts/<int:account_id>", "GET"): USER,
    ("/api/accounts/<int:account_id>", "PATCH"): USER,
    ("/api/accounts/<int:account_id>", "DELETE"): USER,
    ("/api/accounts/<int:account_id>/connect", "POST"): USER,
    ("/api/accounts/<int:account_id>/positions", "GET"): USER,
    ("/api/accounts/<int:account_id>/deals", "GET"): USER,
    ("/api/accounts/<int:account_id>/orders", "GET"): USER,
    ("/api/accounts/<int:account_id>/positions/<int:ticket>", "PATCH"): USER,
    ("/api/accounts/<int:account_id>/positions/<int:ticket>/close", "POST"): USER,
    ("/api/accounts/<int:account_id>/positions/<int:ticket>/breakeven", "POST"): USER,
    ("/api/accounts/<int:account_id>/positions/close_all", "POST"): USER,
    ("/api/accounts/<int:account_id>/orders/<int:ticket>", "PATCH"): USER,
    ("/api/accounts/<int:account_id>/orders/<int:ticket>", "DELETE"): USER,
    ("/api/accounts/<int:account_id>/symbols/<symbol>", "GET"): USER,
    ("/api/accounts/<int:account_id>/quote/<symbol>", "GET"): USER,
    ("/api/calculate", "POST"): USER,
    ("/api/symbols", "GET"): USER,
    ("/api/symbols/<name>", "GET"): USER,
    ("/api/send_orders", "POST"): USER,
    ("/api/dispatches/<int:dispatch_id>", "GET"): USER,
    ("/api/dispatches/<int:dispatch_id>/actions", "POST"): USER,
    ("/api/dispatches/<int:dispatch_id>/results", "GET"): USER,
    ("/api/me/dispatches/<int:dispatch_id>/results", "GET"): USER,
    ("/api/me/dispatches", "GET"): USER,
    ("/api/me/dispatches/<int:dispatch_id>", "GET"): USER,
    ("/api/accounts/<int:account_id>/subscription", "GET"): USER,
    ("/api/accounts/<int:account_id>/subscription", "PUT"): USER,
    ("/api/accounts/<int:account_id>/subscription", "DELETE"): USER,
    # the owner, or a super admin for any account (tests/api/test_subscriptions_api.py)
    ("/api/accounts/<int:account_id>/subscription/reset", "POST"): USER,
    ("/api/dispatches/<int:dispatch_id>/automation", "PATCH"): USER,
    ("/api/users", "GET"): ADMIN,
    ("/api/users/<int:user_id>", "PATCH"): ADMIN,
    ("/api/users/<int:user_id>/mfa", "DELETE"): SUPER,
    ("/api/audit", "GET"): ADMIN,
    ("/api/broadcast_orders", "POST"): SUPER,
    ("/api/broadcast_status", "GET"): SUPER,
    ("/api/broadcasts/<int:broadcast_id>/cancel", "POST"): SUPER,
    ("/api/broadcasts/<int:broadcast_id>/events", "GET"): SUPER,
    ("/api/broadcasts/<int:broadcast_id>/actions", "POST"): SUPER,
    ("/api/broadcasts/<int:broadcast_id>/results", "GET"): SUPER,
    ("/api/broadcasts/<int:broadcast_id>/automation", "PATCH"): SUPER,
}
RANK = {USER: 0, ADMIN: 1, SUPER: 2}

# What an API key needs on each route a role may call: its scope, or FRESH (a fresh password
# login only: API keys get 403 api_key_not_allowed, refreshed tokens 401 fresh_login_required).
READ, CALCULATE, TRADE, MANAGE, FRESH = "read", "calculate", "trade", "manage", "fresh"
SCOPES = (READ, CALCULATE, TRADE, MANAGE)
KEY_ACCESS: dict[tuple[str, str], str] = {
    ("/api/me", "GET"): READ,
    ("/api/me/password", "POST"): FRESH,
    ("/api/me/api_key", "POST"): FRESH,
    ("/api/me/api_key", "DELETE"): FRESH,
    ("/api/me/mfa/setup", "POST"): FRESH,
    ("/api/me/mfa/confirm", "POST"): FRESH,
    ("/api/me/mfa/disable", "POST"): FRESH,
    ("/api/me/mfa/recovery_codes", "POST"): FRESH,
    ("/api/me/notifications", "GET"): READ,
    ("/api/me/notifications", "PUT"): MANAGE,
    ("/api/accounts", "GET"): READ,
    ("/api/accounts", "POST"): MANAGE,
    ("/api/accounts/<int:account_id>", "GET"): READ,
    ("/api/accounts/<int:account_id>", "PATCH"): MANAGE,  # but see FRESH_FIELDS
    ("/api/accounts/<int:account_id>", "DELETE"): MANAGE,
    ("/api/accounts/<int:account_id>/connect", "POST"): TRADE,
    ("/api/accounts/<int:account_id>/positions", "GET"): READ,
    ("/api/accounts/<int:account_id>/deals", "GET"): READ,
    ("/api/accounts/<int:account_id>/orders", "GET"): READ,
    ("/api/accounts/<int:account_id>/positions/<int:ticket>", "PATCH"): TRADE,
    ("/api/accounts/<int:account_id>/positions/<int:ticket>/close", "POST"): TRADE,
    ("/api/accounts/<int:account_id>/positions/<int:ticket>/breakeven", "POST"): TRADE,
    ("/api/accounts/<int:account_id>/positions/close_all", "POST"): TRADE,
    ("/api/accounts/<int:account_id>/orders/<int:ticket>", "PATCH"): TRADE,
    ("/api/accounts/<int:account_id>/orders/<int:ticket>", "DELETE"): TRADE,
    ("/api/accounts/<int:account_id>/symbols/<symbol>", "GET"): READ,
    ("/api/accounts/<int:account_id>/quote/<symbol>", "GET"): READ,
    ("/api/calculate", "POST"): CALCULATE,
    ("/api/symbols", "GET"): READ,
    ("/api/symbols/<name>", "GET"): READ,
    ("/api/send_orders", "POST"): TRADE,
    ("/api/dispatches/<int:dispatch_id>", "GET"): READ,
    ("/api/dispatches/<int:dispatch_id>/actions", "POST"): TRADE,
    ("/api/dispatches/<int:dispatch_id>/results", "GET"): READ,
    ("/api/me/dispatches/<int:dispatch_id>/results", "GET"): READ,
    ("/api/me/dispatches", "GET"): READ,
    ("/api/me/dispatches/<int:dispatch_id>", "GET"): READ,
    ("/api/accounts/<int:account_id>/subscription", "GET"): READ,
    ("/api/accounts/<int:account_id>/subscription", "PUT"): FRESH,  # consent: the owner in person
    ("/api/accounts/<int:account_id>/subscription", "DELETE"): MANAGE,
    ("/api/accounts/<int:account_id>/subscription/reset", "POST"): MANAGE,
    ("/api/dispatches/<int:dispatch_id>/automation", "PATCH"): TRADE,
    ("/api/users", "GET"): READ,
    ("/api/users/<int:user_id>", "PATCH"): MANAGE,  # but see FRESH_FIELDS
    ("/api/users/<int:user_id>/mfa", "DELETE"): FRESH,
    ("/api/audit", "GET"): READ,
    ("/api/broadcast_orders", "POST"): TRADE,
    ("/api/broadcast_status", "GET"): READ,
    ("/api/broadcasts/<int:broadcast_id>/cancel", "POST"): TRADE,
    ("/api/broadcasts/<int:broadcast_id>/events", "GET"): READ,
    ("/api/broadcasts/<int:broadcast_id>/actions", "POST"): TRADE,
    ("/api/broadcasts/<int:broadcast_id>/results", "GET"): READ,
    ("/api/broadcasts/<int:broadcast_id>/automation", "PATCH"): TRADE,
}
# Routes where these body fields (and only they) need a fresh login, and are closed to API keys.
FRESH_FIELDS: dict[tuple[str, str], tuple[str, ...]] = {
    ("/api/accounts/<int:account_id>", "PATCH"): ("password", "login", "server", "terminal"),
    ("/api/users/<int:user_id>", "PATCH"): ("role",),
}

# caller -> (role, credential): "jwt" a Bearer access token from a password login (fresh),
# "stale" one from a refresh, "key" an X-API-Key with every scope, "key:<scope>" a key with only
# that scope, "expired_key" a key past its expiry.
CALLERS: dict[str, tuple[str, str]] = {
    "user": (USER, "jwt"),
    "admin": (ADMIN, "jwt"),
    "super_admin": (SUPER, "jwt"),
    "stale_super_admin": (SUPER, "stale"),
    "api_key_user": (USER, "key"),
    "api_key_super_admin": (SUPER, "key"),
    "expired_key_super_admin": (SUPER, "expired_key"),
    **{f"{scope}_key_super_admin": (SUPER, f"key:{scope}") for scope in SCOPES},
}
PARAM = re.compile(r"<(?:(\w+):)?(\w+)>")


def discovered_routes(app: Any) -> set[tuple[str, str]]:
    return {
        (rule.rule, method)
        for rule in app.url_map.iter_rules()
        for method in rule.methods - {"HEAD", "OPTIONS"}
    }


def concrete(rule: str, object_id: int = 987_654) -> str:
    """A URL for the rule: ints become an id nobody owns, strings a catalog symbol."""

    def value(match: re.Match[str]) -> str:
        converter = match.group(1)
        if converter == "int":
            return str(object_id)
        if converter == "path":
            return "no-such-file.txt"
        return "XAUUSD"

    return PARAM.sub(value, rule)


def credentials(client: Any, app: Any, role: str, kind: str) -> dict[str, str]:
    user = make_user(app, role=role)
    headers = auth_headers(client, user)
    if kind == "jwt":
        return headers
    if kind == "stale":
        from factories import login

        refresh = login(client, user.username)["refresh_token"]
        response = client.post("/api/token/refresh", headers={"Authorization": f"Bearer {refresh}"})
        assert response.status_code == 200, response.get_json()
        return {"Authorization": f"Bearer {response.get_json()['access_token']}"}
    body: dict[str, Any] = {}
    if kind.startswith("key:"):
        body["scopes"] = [kind.removeprefix("key:")]
    if kind == "expired_key":
        body["expires_in_days"] = 1
    response = client.post("/api/me/api_key", json=body, headers=headers)
    assert response.status_code == 201, response.get_json()
    if kind == "expired_key":
        from datetime import UTC, datetime, timedelta

        from extensions import db

        user.api_key_expires_at = datetime.now(UTC) - timedelta(seconds=1)
        db.session.commit()
    return {"X-API-Key": response.get_json()["api_key"]}


def call(client: Any, rule: str, method: str, headers: dict[str, str]) -> Any:
    body = {} if method in {"POST", "PATCH", "PUT"} else None
    return client.open(concrete(rule), method=method, json=body, headers=headers)


def expected(
    policy: str, access: str | None, role: str, kind: str
) -> tuple[int, str | None] | None:
    """(status, code) when the caller must be refused (code None: any); None when it must get
    past authorisation. The checks run in this order: credential, role, freshness, scope."""
    if policy == PUBLIC:
        return None
    if policy == REFRESH:
        return 401, None  # an access token or an API key is never a refresh token
    by_key = kind == "key" or kind.startswith("key:") or kind == "expired_key"
    if policy == JWT_ONLY:
        return (401, None) if by_key else None
    if kind == "expired_key":
        return 401, "api_key_expired"
    if RANK[role] < RANK[policy]:
        return 403, "forbidden"
    if access == FRESH:
        if by_key:
            return 403, "api_key_not_allowed"
        return (401, "fresh_login_required") if kind == "stale" else None
    if kind.startswith("key:") and kind.removeprefix("key:") != access:
        return 403, "insufficient_scope"
    return None


def test_role_matrix_covers_every_route(app):
    assert discovered_routes(app) - set(POLICY) == set()


def test_key_access_covers_every_route_a_role_may_call():
    assert set(KEY_ACCESS) == {route for route, who in POLICY.items() if who in RANK}
    assert set(KEY_ACCESS.values()) <= {*SCOPES, FRESH}
    assert set(FRESH_FIELDS) <= {route for route, access in KEY_ACCESS.items() if access != FRESH}


def test_key_scope_table_matches_the_app(app):
    """api/access.py's own table says the same as the matrix (the matrix also proves it by
    calling every route with a key of each scope)."""
    from api.access import required_scope

    endpoints = {
        (rule.rule, method): rule.endpoint
        for rule in app.url_map.iter_rules()
        for method in rule.methods - {"HEAD", "OPTIONS"}
    }
    for route, access in KEY_ACCESS.items():
        scope = required_scope(endpoints[route], route[1])
        if access != FRESH:
            assert scope == access, (route, scope)


def test_fresh_routes_match_the_openapi_document(client, app):
    """Every operation that refuses API keys (always or for some fields) is in the matrix."""
    paths = client.get("/openapi.json").get_json()["paths"]
    documented = set()
    for rule, method in discovered_routes(app):
        path = rule.replace("<int:", "{").replace("<", "{").replace(">", "}")
        operation = paths.get(path, {}).get(method.lower(), {})
        forbidden = operation.get("responses", {}).get("403", {}).get("description", "")
        if "api_key_not_allowed" in forbidden:
            documented.add((rule, method))
    fresh = {route for route, access in KEY_ACCESS.items() if access == FRESH}

    assert documented == fresh | set(FRESH_FIELDS)


@pytest.mark.parametrize(("rule", "method"), sorted(POLICY), ids=lambda v: str(v))
def test_role_matrix_route_answers_each_caller_by_role(client, app, rule, method):
    if (rule, method) not in discovered_routes(app):
        pytest.skip(f"{method} {rule} is not served by this build")
    policy = POLICY[(rule, method)]
    anonymous = call(client, rule, method, {})
    if policy == PUBLIC:
        assert anonymous.status_code not in {401, 403}
        assert anonymous.status_code < 500
    else:
        assert_error(anonymous, 401, "unauthorized")

    for name, (role, kind) in CALLERS.items():
        response = call(client, rule, method, credentials(client, app, role, kind))
        refused = expected(policy, KEY_ACCESS.get((rule, method)), role, kind)
        status = response.status_code
        if refused is None:
            assert status not in {401, 403} and status < 500, (name, status, response.get_json())
        else:
            assert status == refused[0], (name, status, response.get_json())
            assert set(response.get_json()["error"]) == {"code", "message", "details"}
            if refused[1] is not None:
                assert response.get_json()["error"]["code"] == refused[1], name


@pytest.mark.parametrize(("rule", "method"), sorted(FRESH_FIELDS), ids=lambda v: str(v))
def test_fresh_fields_need_a_fresh_login_and_no_api_key(client, app, rule, method):
    """With one of these fields in the body a refreshed token is 401 and any API key 403,
    whatever the id (checked before the lookup, so it tells nothing about the object)."""
    role = POLICY[(rule, method)]
    stale = credentials(client, app, SUPER if role == ADMIN else role, "stale")
    key = credentials(client, app, SUPER, "key")
    for field in FRESH_FIELDS[(rule, method)]:
        body = {field: "user" if field == "role" else "1234"}
        response = client.open(concrete(rule), method=method, json=body, headers=stale)
        assert_error(response, 401, "fresh_login_required")
        response = client.open(concrete(rule), method=method, json=body, headers=key)
        assert_error(response, 403, "api_key_not_allowed")


def test_role_matrix_refresh_token_reaches_only_refresh(client, app):
    """The one credential the matrix does not send: a refresh token is refused everywhere else."""
    user = make_user(app, role="super_admin")
    from factories import login

    refresh = {"Authorization": f"Bearer {login(client, user.username)['refresh_token']}"}
    for rule, method in sorted(discovered_routes(app)):
        if POLICY[(rule, method)] in {PUBLIC, REFRESH}:
            continue
        response = call(client, rule, method, refresh)
        assert response.status_code == 401, (rule, method, response.get_json())

    assert client.post("/api/token/refresh", headers=refresh).status_code == 200


# --- roles held to MFA (MFA_REQUIRED_ROLES) ------------------------------------------------------

# Where a JWT of a caller whose role is in MFA_REQUIRED_ROLES may go before MFA is on (every
# other role-gated route is 403 mfa_enrollment_required; an API key of such a caller goes
# nowhere): api/access.py's MFA_ENROLMENT_ENDPOINTS, as routes.
MFA_ENROLMENT: set[tuple[str, str]] = {
    ("/api/me", "GET"),
    ("/api/me/mfa/setup", "POST"),
    ("/api/me/mfa/confirm", "POST"),
    ("/api/me/password", "POST"),
    ("/api/logout", "POST"),
    ("/api/token/refresh", "POST"),
}
HELD_ROLES = (ADMIN, SUPER)
# caller -> (role, credential, MFA on?); "jwt"/"stale"/"key" as in CALLERS.
HELD_CALLERS: dict[str, tuple[str, str, bool]] = {
    "held_super_admin": (SUPER, "jwt", False),
    "held_stale_super_admin": (SUPER, "stale", False),
    "held_key_super_admin": (SUPER, "key", False),
    "held_admin": (ADMIN, "jwt", False),
    "enrolled_super_admin": (SUPER, "jwt", True),
    "enrolled_stale_super_admin": (SUPER, "stale", True),
    "enrolled_key_super_admin": (SUPER, "key", True),
    "user_not_held": (USER, "jwt", False),
    "api_key_user_not_held": (USER, "key", False),
}


@pytest.fixture
def held_app(tmp_path, migrated_sqlite):
    """An app whose admins and super admins must use MFA."""
    import shutil

    from app import create_app
    from factories import make_config

    from extensions import db

    shutil.copy(migrated_sqlite, tmp_path / "db.sqlite")
    application = create_app(
        make_config(tmp_path, EXECUTOR_AUTOSTART=False, MFA_REQUIRED_ROLES=",".join(HELD_ROLES))
    )
    with application.app_context():
        yield application
        db.session.remove()
        db.engine.dispose()
    application.extensions["mt5_gateway"].close()


def held_credentials(app: Any, role: str, kind: str, enrolled: bool) -> dict[str, str]:
    """Tokens and keys made by the services: a held caller cannot make a key through the API,
    and an enrolled one would need a code to log in."""
    from datetime import UTC, datetime

    from extensions import auth_settings, db
    from services import auth

    user = make_user(app, role=role, mfa_enabled_at=datetime.now(UTC) if enrolled else None)
    if kind == "key":
        key, _ = auth.create_api_key(
            session=db.session, user=user, pepper=app.config["API_KEY_PEPPER"], ip=None
        )
        return {"X-API-Key": key}
    pair = auth.issue_tokens(user, lifetimes=auth_settings().token_lifetimes, fresh=kind == "jwt")
    return {"Authorization": f"Bearer {pair.access_token}"}


def expected_held(
    route: tuple[str, str], role: str, kind: str, enrolled: bool
) -> tuple[int, str | None] | None:
    """As ``expected``, with the MFA enrolment check between the role and freshness checks."""
    policy = POLICY[route]
    refused = expected(policy, KEY_ACCESS.get(route), role, kind)
    if enrolled or role not in HELD_ROLES or policy not in RANK:
        return refused  # public, refresh-only and logout do not ask
    if refused is not None and refused[1] == "forbidden":
        return refused  # the role check comes first
    if kind == "key" or route not in MFA_ENROLMENT:
        return 403, "mfa_enrollment_required"
    return refused


def test_mfa_enrolment_table_matches_the_app(app):
    from api.access import MFA_ENROLMENT_ENDPOINTS

    endpoints = {
        (rule.rule, method): rule.endpoint
        for rule in app.url_map.iter_rules()
        for method in rule.methods - {"HEAD", "OPTIONS"}
    }
    allowed = {
        route for route, endpoint in endpoints.items() if endpoint in MFA_ENROLMENT_ENDPOINTS
    }

    assert allowed == MFA_ENROLMENT
    assert set(MFA_ENROLMENT_ENDPOINTS) <= set(endpoints.values())


@pytest.mark.parametrize(("rule", "method"), sorted(POLICY), ids=lambda v: str(v))
def test_mfa_required_role_matrix(held_app, rule, method):
    """Every route, for callers of held roles with and without MFA (and of a role not held):
    without MFA only the enrolment routes answer a JWT and nothing answers an API key."""
    if (rule, method) not in discovered_routes(held_app):
        pytest.skip(f"{method} {rule} is not served by this build")
    client = held_app.test_client()

    for name, (role, kind, enrolled) in HELD_CALLERS.items():
        headers = held_credentials(held_app, role, kind, enrolled)
        response = call(client, rule, method, headers)
        refused = expected_held((rule, method), role, kind, enrolled)
        status = response.status_code
        if refused is None:
            assert status not in {401, 403} and status < 500, (name, status, response.get_json())
        else:
            assert status == refused[0], (name, status, response.get_json())
            assert set(response.get_json()["error"]) == {"code", "message", "details"}
            if refused[1] is not None:
                assert response.get_json()["error"]["code"] == refused[1], name


# --- IDOR: another caller's object is 404 on every object route ---------------------------------

OBJECT_PREFIXES = ("/api/accounts/", "/api/dispatches/", "/api/broadcasts/", "/api/me/dispatches/")
# rule, method -> (which object fills the id, body)
OBJECT_ROUTES: dict[tuple[str, str], tuple[str, dict[str, Any] | None]] = {
    ("/api/accounts/<int:account_id>", "GET"): ("account", None),
    ("/api/accounts/<int:account_id>", "PATCH"): (
        "account",
        {"account_name": "pwned", "is_active": False, "password": "attacker-pass"},
    ),
    ("/api/accounts/<int:account_id>", "DELETE"): ("account", None),
    ("/api/accounts/<int:account_id>/connect", "POST"): ("account", None),
    ("/api/accounts/<int:account_id>/positions", "GET"): ("account", None),
    ("/api/accounts/<int:account_id>/deals", "GET"): ("account", None),
    ("/api/accounts/<int:account_id>/orders", "GET"): ("account", None),
    ("/api/accounts/<int:account_id>/positions/<int:ticket>", "PATCH"): (
        "account",
        {"stop_loss": "2340.00"},
    ),
    ("/api/accounts/<int:account_id>/positions/<int:ticket>/close", "POST"): ("account", {}),
    ("/api/accounts/<int:account_id>/positions/<int:ticket>/breakeven", "POST"): ("account", {}),
    ("/api/accounts/<int:account_id>/positions/close_all", "POST"): ("account", {}),
    ("/api/accounts/<int:account_id>/orders/<int:ticket>", "PATCH"): (
        "account",
        {"price": "2340.00"},
    ),
    ("/api/accounts/<int:account_id>/orders/<int:ticket>", "DELETE"): ("account", None),
    ("/api/accounts/<int:account_id>/symbols/<symbol>", "GET"): ("account", None),
    ("/api/accounts/<int:account_id>/quote/<symbol>", "GET"): ("account", None),
    ("/api/dispatches/<int:dispatch_id>", "GET"): ("dispatch", None),
    ("/api/broadcasts/<int:broadcast_id>/cancel", "POST"): ("dispatch", None),
    ("/api/broadcasts/<int:broadcast_id>/events", "GET"): ("dispatch", None),
    ("/api/dispatches/<int:dispatch_id>/actions", "POST"): ("dispatch", {"action": "close"}),
    ("/api/broadcasts/<int:broadcast_id>/actions", "POST"): ("dispatch", {"action": "close"}),
    ("/api/dispatches/<int:dispatch_id>/results", "GET"): ("dispatch", None),
    ("/api/broadcasts/<int:broadcast_id>/results", "GET"): ("dispatch", None),
    # a follower's view: only dispatches that reached one of the caller's accounts
    ("/api/me/dispatches/<int:dispatch_id>/results", "GET"): ("dispatch", None),
    ("/api/me/dispatches/<int:dispatch_id>", "GET"): ("dispatch", None),
    ("/api/accounts/<int:account_id>/subscription", "GET"): ("account", None),
    ("/api/accounts/<int:account_id>/subscription", "PUT"): ("account", {"accept_terms": True}),
    ("/api/accounts/<int:account_id>/subscription", "DELETE"): ("account", None),
    ("/api/accounts/<int:account_id>/subscription/reset", "POST"): ("account", None),
    ("/api/dispatches/<int:dispatch_id>/automation", "PATCH"): ("dispatch", {}),
    ("/api/broadcasts/<int:broadcast_id>/automation", "PATCH"): ("dispatch", {}),
}
NOT_FOUND_CODES = {"account_not_found", "dispatch_not_found"}


def _wait(client: Any, url: str, headers: dict[str, str]) -> None:
    deadline = time.monotonic() + 10
    while True:
        view = client.get(url, headers=headers).get_json()
        if view["counts"]["pending"] + view["counts"]["in_flight"] == 0:
            return
        assert time.monotonic() < deadline, view
        time.sleep(0.05)


@pytest.fixture
def victim(client, app, sim_broker) -> dict[str, Any]:
    """A user's account (open at the simulated broker), a send_orders dispatch on it, and a
    super admin's broadcast that reached it; everything final before the attack starts."""
    broker = sim_broker()
    broker.set_quote("XAUUSD", Decimal("2349.80"), Decimal("2350.00"), freeze=True)
    owner = make_user(app)
    headers = auth_headers(client, owner)
    body = account_body(copy_enabled=True)
    broker.create_account(int(body["login"]), body["password"], body["server"])
    account = make_account(client, headers, subscribed=True, **body)
    order = {"account_ids": [account["id"]], "symbol": "XAUUSD", "side": "buy", "volume": "0.10"}
    sent = client.post("/api/send_orders", json={**order, "wait_s": 10}, headers=headers)
    assert sent.status_code == 200, sent.get_json()
    dispatch_id = sent.get_json()["dispatch_id"]

    admin_headers = auth_headers(client, make_user(app, role="super_admin"))
    created = client.post(
        "/api/broadcast_orders",
        json={
            "targets": {"account_ids": [account["id"]]},
            "order": {"symbol": "XAUUSD", "side": "buy", "deviation": 50},
            "sizing": {"mode": "fixed_volume", "volume": "0.10"},
        },
        headers=admin_headers,
    )
    assert created.status_code == 202, created.get_json()
    broadcast_id = created.get_json()["broadcast_id"]
    _wait(client, f"/api/broadcast_status?broadcast_id={broadcast_id}", admin_headers)
    return {
        "headers": headers,
        "account": account["id"],
        "dispatch": dispatch_id,
        "broadcast": broadcast_id,
    }


def snapshot() -> dict[str, Any]:
    """Every column of every account, dispatch and ledger row."""
    from extensions import db
    from models import BroadcastQueue, Dispatch, MT5Account

    db.session.rollback()
    db.session.expire_all()
    return {
        model.__name__: sorted(
            tuple(getattr(row, c.key) for c in model.__table__.columns)
            for row in db.session.query(model).all()
        )
        for model in (MT5Account, Dispatch, BroadcastQueue)
    }


def test_idor_table_covers_every_object_route(app):
    routes = {
        (rule, method)
        for rule, method in discovered_routes(app)
        if rule.startswith(OBJECT_PREFIXES) and "<int:" in rule
    }
    assert routes == set(OBJECT_ROUTES)


@pytest.mark.parametrize("kind", ["jwt", "key"])
def test_idor_every_object_route_other_callers_object_is_not_found_and_unchanged(
    client, app, victim, kind
):
    before = snapshot()
    user = credentials(client, app, USER, kind)
    other_super_admin = credentials(client, app, SUPER, kind)

    for (rule, method), (_obj, body) in sorted(OBJECT_ROUTES.items()):
        if rule.startswith("/api/broadcasts/"):
            # Past the role check only a super admin gets here; the user's own send_orders
            # dispatch is not a broadcast, so even a super admin must not see it there.
            attacker, object_id = other_super_admin, victim["dispatch"]
        elif rule.startswith(("/api/dispatches/", "/api/me/dispatches/")):
            attacker, object_id = user, victim["dispatch"]
        else:
            attacker, object_id = user, victim["account"]
        if kind == "key" and KEY_ACCESS[(rule, method)] == FRESH:
            # Keys may never call these: refused before any lookup, telling nothing.
            response = client.open(
                concrete(rule, object_id), method=method, json=body, headers=attacker
            )
            assert_error(response, 403, "api_key_not_allowed")
            continue
        fields = FRESH_FIELDS.get((rule, method), ())
        if kind == "key" and body and set(body) & set(fields):
            # Keys may never send these (403 before any lookup); the rest of the body is 404.
            response = client.open(
                concrete(rule, object_id), method=method, json=body, headers=attacker
            )
            assert_error(response, 403, "api_key_not_allowed")
            body = {k: v for k, v in body.items() if k not in fields}
        response = client.open(
            concrete(rule, object_id), method=method, json=body, headers=attacker
        )
        error = assert_error(response, 404, response.get_json()["error"]["code"])
        assert error["code"] in NOT_FOUND_CODES, (rule, method, error)

    assert snapshot() == before
    # and the owner still sees everything as it was
    owner = victim["headers"]
    assert client.get(f"/api/accounts/{victim['account']}", headers=owner).status_code == 200
    assert client.get(f"/api/dispatches/{victim['dispatch']}", headers=owner).status_code == 200


@pytest.mark.parametrize("kind", ["jwt", "key"])
def test_idor_broadcast_target_cannot_read_the_broadcast_as_a_dispatch(client, app, victim, kind):
    """The user whose account a broadcast reached does not own the broadcast."""
    owner = victim["headers"]
    if kind == "key":
        owner = {"X-API-Key": client.post("/api/me/api_key", headers=owner).get_json()["api_key"]}

    response = client.get(f"/api/dispatches/{victim['broadcast']}", headers=owner)

    assert_error(response, 404, "dispatch_not_found")
