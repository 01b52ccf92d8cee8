"""No password, token, key, MFA secret, recovery code or MT5 credential in any response body but
the one that issues it, and in no log line, through each part of a real flow."""

from __future__ import annotations

import base64
import time
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

import pyotp
import pytest
from factories import PASSWORD, account_body, auth_headers, log_text, make_user

USER_PASSWORD, NEW_PASSWORD = "user-flow-passphrase", "user-flow-newphrase"
MT5_PASSWORD, MT5_NEW = "Mt5-flow-S3cret", "Mt5-flow-N3w-secret"
REFUSED = {"bad_login", "mfa_required", "stale_password"}


@dataclass
class SecretWatch:
    """Every response of a flow, with the secrets each one issued (it alone may show them)."""

    client: Any
    seen: list[tuple[str, str, set[str]]] = field(default_factory=list)
    issued: set[str] = field(default_factory=set)

    def record(self, what: str, response: Any, *fields: str) -> dict[str, Any]:
        assert (response.status_code < 400) == (what not in REFUSED), (what, response.get_json())
        body = response.get_json(silent=True) or {}
        mine = {str(body[f]) for f in fields if f in body}
        mine |= set(body.get("recovery_codes") or []) if isinstance(body, dict) else set()
        self.issued |= mine
        self.seen.append((what, response.get_data(as_text=True), mine))
        return dict(body) if isinstance(body, dict) else {}

    def assert_clean(self, app: Any, *secrets: str) -> None:
        everything = {*secrets, *self.issued, *_config_secrets(app)}
        for what, text, mine in self.seen:
            for secret in everything - mine:
                assert secret not in text, (what, secret[:12])
        logs = log_text(app)
        assert logs  # the flow was logged at all
        for secret in everything:
            assert secret not in logs, secret[:12]


def _config_secrets(app: Any) -> set[str]:
    return {
        app.config["SECRET_KEY"],
        app.config["JWT_SECRET_KEY"],
        app.config["API_KEY_PEPPER"],
        base64.urlsafe_b64encode(app.config["ENCRYPTION_KEY"]).decode(),
    }


def _stored(username: str, account_id: int | None = None) -> set[str]:
    """What the database holds of the secrets: hashes and ciphertexts, never to be shown."""
    from extensions import db
    from models import MT5Account, User

    db.session.expire_all()
    user = db.session.query(User).filter_by(username=username).one()
    stored = {user.password_hash, user.api_key, user.mfa_secret_encrypted}
    if account_id is not None:
        stored.add(db.session.get(MT5Account, account_id).password_encrypted)
    return {s for s in stored if s}


@pytest.fixture
def watch(client) -> SecretWatch:
    return SecretWatch(client)


def _register_and_login(watch: SecretWatch) -> dict[str, Any]:
    client = watch.client
    body = {"username": "flow", "email": "flow@example.com", "password": USER_PASSWORD}
    watch.record("register", client.post("/api/register", json=body))
    return watch.record(
        "login",
        client.post("/api/login", json={"username": "flow", "password": USER_PASSWORD}),
        "access_token",
        "refresh_token",
    )


def test_login_refresh_password_and_logout_show_no_other_secret(client, app, watch):
    tokens = _register_and_login(watch)
    headers = {"Authorization": f"Bearer {tokens['access_token']}"}
    watch.record("bad_login", client.post("/api/login", json={"username": "flow", "password": "x"}))
    refreshed = watch.record(
        "refresh",
        client.post(
            "/api/token/refresh", headers={"Authorization": f"Bearer {tokens['refresh_token']}"}
        ),
        "access_token",
        "refresh_token",
    )
    change = {"current_password": USER_PASSWORD, "new_password": NEW_PASSWORD}
    stale = {"Authorization": f"Bearer {refreshed['access_token']}"}
    watch.record("stale_password", client.post("/api/me/password", json=change, headers=stale))
    changed = watch.record(
        "password",
        client.post("/api/me/password", json=change, headers=headers),
        "access_token",
        "refresh_token",
    )
    watch.record(
        "logout",
        client.post("/api/logout", headers={"Authorization": f"Bearer {changed['access_token']}"}),
    )

    watch.assert_clean(app, USER_PASSWORD, NEW_PASSWORD, PASSWORD, *_stored("flow"))


def test_mfa_secret_and_recovery_codes_show_only_where_issued(client, app, watch):
    tokens = _register_and_login(watch)
    headers = {"Authorization": f"Bearer {tokens['access_token']}"}
    mfa = watch.record(
        "mfa_setup", client.post("/api/me/mfa/setup", headers=headers), "secret", "otpauth_uri"
    )
    totp = pyotp.TOTP(mfa["secret"])
    confirmed = watch.record(
        "mfa_confirm",
        client.post(
            "/api/me/mfa/confirm",
            json={"otp": totp.at(time.time(), counter_offset=-1)},
            headers=headers,
        ),
        "access_token",
        "refresh_token",
    )
    fresh = {"Authorization": f"Bearer {confirmed['access_token']}"}
    codes = watch.record(
        "mfa_recovery_codes",
        client.post("/api/me/mfa/recovery_codes", json={"otp": totp.now()}, headers=fresh),
    )["recovery_codes"]
    assert not set(codes) & set(confirmed["recovery_codes"])
    login = {"username": "flow", "password": USER_PASSWORD}
    watch.record("mfa_required", client.post("/api/login", json=login))
    watch.record(
        "mfa_login",
        client.post("/api/login", json={**login, "otp": totp.at(time.time(), counter_offset=1)}),
        "access_token",
        "refresh_token",
    )
    watch.record(
        "recovery_login",
        client.post("/api/login", json={**login, "recovery_code": codes[0]}),
        "access_token",
        "refresh_token",
    )

    watch.assert_clean(app, USER_PASSWORD, *_stored("flow"))


def test_api_key_and_mt5_credentials_never_come_back(client, app, sim_broker, watch):
    tokens = _register_and_login(watch)
    headers = {"Authorization": f"Bearer {tokens['access_token']}"}
    key = watch.record("api_key", client.post("/api/me/api_key", headers=headers), "api_key")
    by_key = {"X-API-Key": key["api_key"]}
    body = account_body(password=MT5_PASSWORD, copy_enabled=True)
    sim_broker().create_account(int(body["login"]), MT5_PASSWORD, body["server"])
    account = watch.record("create", client.post("/api/accounts", json=body, headers=headers))
    url = f"/api/accounts/{account['id']}"
    watch.record("me", client.get("/api/me", headers=by_key))
    watch.record("list", client.get("/api/accounts", headers=by_key))
    watch.record("get", client.get(url, headers=headers))
    watch.record("connect", client.post(f"{url}/connect", headers=by_key))
    watch.record("patch", client.patch(url, json={"password": MT5_NEW}, headers=headers))

    watch.assert_clean(app, USER_PASSWORD, MT5_PASSWORD, MT5_NEW, *_stored("flow", account["id"]))


def test_orders_broadcasts_and_the_audit_trail_show_no_credentials(client, app, sim_broker, watch):
    broker = sim_broker()
    broker.set_quote("XAUUSD", Decimal("2349.80"), Decimal("2350.00"), freeze=True)
    tokens = _register_and_login(watch)
    headers = {"Authorization": f"Bearer {tokens['access_token']}"}
    key = watch.record("api_key", client.post("/api/me/api_key", headers=headers), "api_key")
    by_key = {"X-API-Key": key["api_key"]}
    body = account_body(password=MT5_PASSWORD, copy_enabled=True)
    broker.create_account(int(body["login"]), MT5_PASSWORD, body["server"])
    account = watch.record("create", client.post("/api/accounts", json=body, headers=headers))
    subscription = client.put(
        f"/api/accounts/{account['id']}/subscription", json={"accept_terms": True}, headers=headers
    )
    watch.record("subscribe", subscription)
    url = f"/api/accounts/{account['id']}"
    order = {"account_ids": [account["id"]], "symbol": "XAUUSD", "side": "buy", "volume": "0.10"}
    sent = watch.record("send", client.post("/api/send_orders", json=order, headers=by_key))
    watch.record("dispatch", client.get(f"/api/dispatches/{sent['dispatch_id']}", headers=headers))
    watch.record("positions", client.get(f"{url}/positions", headers=headers))
    watch.record("deals", client.get(f"{url}/deals", headers=headers))
    close = client.post(
        f"/api/dispatches/{sent['dispatch_id']}/actions", json={"action": "close"}, headers=by_key
    )
    watch.record("close", close)
    admin = auth_headers(client, make_user(app, role="super_admin"))
    broadcast = {
        "targets": {"account_ids": [account["id"]]},
        "order": {"symbol": "XAUUSD", "side": "buy", "deviation": 50},
        "sizing": {"mode": "fixed_volume", "volume": "0.10"},
    }
    created = watch.record(
        "broadcast", client.post("/api/broadcast_orders", json=broadcast, headers=admin)
    )
    status_url = f"/api/broadcast_status?broadcast_id={created['broadcast_id']}"
    watch.record("broadcast_status", client.get(status_url, headers=admin))
    watch.record("users", client.get("/api/users", headers=admin))
    watch.record("audit", client.get("/api/audit?per_page=1000", headers=admin))

    assert len(watch.seen) >= 12
    watch.assert_clean(app, USER_PASSWORD, MT5_PASSWORD, *_stored("flow", account["id"]))
    assert "POST /api/send_orders" in log_text(app)
