"""docs/security.md: the role matrix over every route and IDOR over every object route.

Both tables are checked against ``app.url_map``: a new route without a line here fails the suite.
"""

from __future__ import annotations

import re
import time
from decimal import Decimal
from typing import Any

import pytest
from conftest import account_body, assert_error, auth_headers, make_account, make_user

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
    ("/docs/oauth2-redirect", "GET"): PUBLIC,
    ("/static/<path:filename>", "GET"): PUBLIC,
    ("/metrics", "GET"): PUBLIC,  # open unless METRICS_TOKEN is set (see docs/security.md)
    ("/api/token/refresh", "POST"): REFRESH,
    ("/api/logout", "POST"): JWT_ONLY,
    ("/api/me", "GET"): USER,
    ("/api/me/password", "POST"): USER,
    ("/api/me/api_key", "POST"): USER,
    ("/api/me/api_key", "DELETE"): USER,
    ("/api/accounts", "GET"): USER,
    ("/api/accounts", "POST"): USER,
    ("/api/accounts/<int:account_id>", "GET"): USER,
    ("/api/accounts/<int:account_id>", "PATCH"): USER,
    ("/api/accounts/<int:account_id>", "DELETE"): USER,
    ("/api/accounts/<int:account_id>/connect", "POST"): USER,
    ("/api/accounts/<int:account_id>/positions", "GET"): USER,
    ("/api/accounts/<int:account_id>/deals", "GET"): USER,
    ("/api/accounts/<int:account_id>/symbols/<symbol>", "GET"): USER,
    ("/api/calculate", "POST"): USER,
    ("/api/symbols", "GET"): USER,
    ("/api/symbols/<name>", "GET"): USER,
    ("/api/send_orders", "POST"): USER,
    ("/api/dispatches/<int:dispatch_id>", "GET"): USER,
    ("/api/users", "GET"): ADMIN,
    ("/api/users/<int:user_id>", "PATCH"): ADMIN,
    ("/api/audit", "GET"): ADMIN,
    ("/api/broadcast_orders", "POST"): SUPER,
    ("/api/broadcast_status", "GET"): SUPER,
    ("/api/broadcasts/<int:broadcast_id>/cancel", "POST"): SUPER,
    ("/api/broadcasts/<int:broadcast_id>/events", "GET"): SUPER,
}
RANK = {USER: 0, ADMIN: 1, SUPER: 2}
# caller kind -> (role, credential): "jwt" is a Bearer access token, "key" an X-API-Key.
CALLERS: dict[str, tuple[str, str]] = {
    "user": (USER, "jwt"),
    "admin": (ADMIN, "jwt"),
    "super_admin": (SUPER, "jwt"),
    "api_key_user": (USER, "key"),
    "api_key_super_admin": (SUPER, "key"),
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
    headers = auth_headers(client, make_user(app, role=role))
    if kind == "jwt":
        return headers
    response = client.post("/api/me/api_key", headers=headers)
    assert response.status_code == 201, response.get_json()
    return {"X-API-Key": response.get_json()["api_key"]}


def call(client: Any, rule: str, method: str, headers: dict[str, str]) -> Any:
    body = {} if method in {"POST", "PATCH"} else None
    return client.open(concrete(rule), method=method, json=body, headers=headers)


def expected(policy: str, role: str, kind: str) -> int | None:
    """401 or 403 when the caller must be refused; None when it must get past authorisation."""
    if policy == PUBLIC:
        return None
    if policy == REFRESH:
        return 401  # an access token or an API key is never a refresh token
    if policy == JWT_ONLY:
        return None if kind == "jwt" else 401
    return None if RANK[role] >= RANK[policy] else 403


def test_role_matrix_covers_every_route(app):
    assert discovered_routes(app) - set(POLICY) == set()


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
        refused = expected(policy, role, kind)
        status = response.status_code
        if refused is None:
            assert status not in {401, 403} and status < 500, (name, status, response.get_json())
        else:
            assert status == refused, (name, status, response.get_json())
            assert set(response.get_json()["error"]) == {"code", "message", "details"}
            if refused == 403:
                assert response.get_json()["error"]["code"] == "forbidden"


def test_role_matrix_refresh_token_reaches_only_refresh(client, app):
    """The one credential the matrix does not send: a refresh token is refused everywhere else."""
    user = make_user(app, role="super_admin")
    from conftest import login

    refresh = {"Authorization": f"Bearer {login(client, user.username)['refresh_token']}"}
    for rule, method in sorted(discovered_routes(app)):
        if POLICY[(rule, method)] in {PUBLIC, REFRESH}:
            continue
        response = call(client, rule, method, refresh)
        assert response.status_code == 401, (rule, method, response.get_json())

    assert client.post("/api/token/refresh", headers=refresh).status_code == 200


# --- IDOR: another caller's object is 404 on every object route ---------------------------------

OBJECT_PREFIXES = ("/api/accounts/", "/api/dispatches/", "/api/broadcasts/")
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
    ("/api/accounts/<int:account_id>/symbols/<symbol>", "GET"): ("account", None),
    ("/api/dispatches/<int:dispatch_id>", "GET"): ("dispatch", None),
    ("/api/broadcasts/<int:broadcast_id>/cancel", "POST"): ("dispatch", None),
    ("/api/broadcasts/<int:broadcast_id>/events", "GET"): ("dispatch", None),
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
def victim(client, app) -> dict[str, Any]:
    """A user's account (open at the simulated broker), a send_orders dispatch on it, and a
    super admin's broadcast that reached it; everything final before the attack starts."""
    broker = app.extensions["mt5_gateway"].broker("default")
    broker.set_quote("XAUUSD", Decimal("2349.80"), Decimal("2350.00"), freeze=True)
    owner = make_user(app)
    headers = auth_headers(client, owner)
    body = account_body(copy_enabled=True)
    broker.create_account(int(body["login"]), body["password"], body["server"])
    account = make_account(client, headers, **body)
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
        elif rule.startswith("/api/dispatches/"):
            attacker, object_id = user, victim["dispatch"]
        else:
            attacker, object_id = user, victim["account"]
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
