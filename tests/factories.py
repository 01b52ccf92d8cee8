"""Plain helpers for tests: factories (users, accounts, logins, MFA), the test configuration, and
the shared assertions. Fixtures that use them live in conftest.py; test modules import these."""

from __future__ import annotations

import logging
import os
import socket
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

os.environ.setdefault("FLASK_ENV", "development")

TEST_CONFIG: dict[str, Any] = {
    "TESTING": True,
    "BCRYPT_ROUNDS": 4,
    "RATELIMIT_ENABLED": False,
    "MT5_SIM_LATENCY_MS": 0,
    # The simulated brokers in this process: tests reach into them (sim_broker_of); the child
    # process is tested on its own (tests/integration/test_sim_process.py).
    "MT5_SIM_PROCESS": False,
    "EXECUTOR": "threads",
    "EXECUTOR_THREADS": 8,
    "DATABASE_URL": "",
    # Whatever backend/.env says: tests that want roles held to MFA ask for it.
    "MFA_REQUIRED_ROLES": "",
    # No deliverer thread writing behind a test's back: delivery tests run its passes.
    "NOTIFY_ENABLED": False,
    # The price watcher polls the ledger every second: tests of automation drive it themselves.
    "AUTOMATION_ENABLED": False,
    # Nor protection's periodic equity pass: tests run it (services/protection_service.py).
    "PROTECTION_CHECK_S": 0,
    # The session keeper logs every account in behind a test's back: its tests turn it on.
    "SESSION_KEEPER_ENABLED": False,
}


PASSWORD = "correct horse battery staple"


def _service_up(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=1):
            return True
    except OSError:
        return False


def require_service(name: str, host: str, port: int) -> None:
    """Skip when a service is absent, unless REQUIRE_SERVICES is set (CI): then fail loudly."""
    if _service_up(host, port):
        return
    message = f"{name} is not running on {host}:{port}"
    if os.environ.get("REQUIRE_SERVICES"):
        pytest.fail(f"{message} and REQUIRE_SERVICES is set")
    pytest.skip(f"{message}; start it to run this test")


def make_config(tmp_path: Path, **overrides: Any) -> dict[str, Any]:
    return {
        **TEST_CONFIG,
        "SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp_path / 'db.sqlite'}",
        "LOG_DIR": tmp_path / "logs",
        "MT5_SIM_DB": str(tmp_path / "sim.sqlite"),
        **overrides,
    }


def sim_broker_of(gateway: Any, name: str = "default") -> Any:
    """The simulated broker ``sim://name`` of ``gateway``, opened on first use.

    Taken from the registry its sim:// source opens sessions on, so a quote set or a fault
    injected here is what the gateway's next call meets.
    """
    return gateway.sources.brokers.get(name)


def log_text(app: Any) -> str:
    """Everything the app's log files hold so far (handlers flushed first)."""
    for handler in logging.getLogger().handlers:
        handler.flush()
    return "".join(
        p.read_text(encoding="utf-8", errors="replace")
        for p in Path(app.config["LOG_DIR"]).rglob("*")
        if p.is_file()
    )


def make_user(
    app: Any,
    *,
    username: str | None = None,
    role: str = "user",
    password: str = PASSWORD,
    **fields: Any,
) -> Any:
    from extensions import db
    from models import User
    from utils.security import hash_password

    name = username or f"u{uuid.uuid4().hex[:10]}"
    user = User(
        username=name,
        email=f"{name}@example.com",
        role=role,
        password_hash=hash_password(password, app.config["BCRYPT_ROUNDS"]),
        **fields,
    )
    db.session.add(user)
    db.session.commit()
    return user


def login(client: Any, username: str, password: str = PASSWORD) -> dict[str, Any]:
    response = client.post("/api/login", json={"username": username, "password": password})
    assert response.status_code == 200, response.get_json()
    return dict(response.get_json())


def auth_headers(client: Any, user: Any) -> dict[str, str]:
    return {"Authorization": f"Bearer {login(client, user.username)['access_token']}"}


def account_body(**overrides: Any) -> dict[str, Any]:
    body = {
        "account_name": "Gold main",
        "login": str(10_000_000 + uuid.uuid4().int % 1_000_000),
        "password": "Mt5-S3cret!pass",
        "server": "Sim-Demo",
        "broker": "Simulated",
        "account_type": "demo",
    }
    body.update(overrides)
    return body


def make_account(
    client: Any, headers: dict[str, str], *, subscribed: bool = False, **overrides: Any
) -> dict[str, Any]:
    """An account through the API; ``subscribed``: its owner also subscribes it to broadcasts
    (accepting the terms, default settings), as a follower does before any broadcast reaches it."""
    response = client.post("/api/accounts", json=account_body(**overrides), headers=headers)
    assert response.status_code == 201, response.get_json()
    account = dict(response.get_json())
    if subscribed:
        subscribe(client, headers, account["id"])
    return account


def make_accounts(client: Any, headers: dict[str, str], n: int) -> list[dict[str, Any]]:
    """``n`` accounts of one owner through the API, named A0, A1, ..."""
    return [make_account(client, headers, account_name=f"A{k}") for k in range(n)]


def subscribe(client: Any, headers: dict[str, str], account_id: int, **terms: Any) -> Any:
    """PUT the account's subscription (the owner's fresh login): terms accepted, ``terms`` as
    its sizing, symbols and protection; returns the subscription."""
    response = client.put(
        f"/api/accounts/{account_id}/subscription",
        json={"accept_terms": True, **terms},
        headers=headers,
    )
    assert response.status_code == 200, response.get_json()
    return response.get_json()


def subscribe_all(app: Any) -> int:
    """Subscribe every copy-enabled account in the database (what the migration gives accounts
    that took copies before opt-in, as legacy consent); for tests that make accounts directly."""
    from sqlalchemy import select

    from extensions import db
    from models import MT5Account, Subscription

    with app.app_context():
        taken = set(db.session.scalars(select(Subscription.account_id)))
        added = [
            Subscription(account_id=a.id, user_id=a.user_id, state="active", consent="legacy")
            for a in db.session.scalars(select(MT5Account).where(MT5Account.copy_enabled))
            if a.id not in taken
        ]
        db.session.add_all(added)
        db.session.commit()
        return len(added)


# The quotes the follower and broadcast tests trade at: gold 10.00 over a stop at 2340.00 is
# 1,000 USD per lot; USDTHB and EURUSD for the THB and EUR accounts' conversions.
FROZEN_QUOTES = {
    "XAUUSD": ("2349.80", "2350.00"),
    "EURUSD": ("1.08000", "1.08010"),
    "USDTHB": ("36.000", "36.020"),
}


def frozen_quotes(broker: Any) -> Any:
    """The simulated broker with FROZEN_QUOTES set and held."""
    from decimal import Decimal

    for symbol, (bid, ask) in FROZEN_QUOTES.items():
        broker.set_quote(symbol, Decimal(bid), Decimal(ask), freeze=True)
    return broker


class SimTrader:
    """A user with their headers, whose accounts are opened at the simulated broker first and
    then added through the API (subscribed to broadcasts when ``subscribed``)."""

    def __init__(self, client: Any, app: Any, broker: Any, *, subscribed: bool = False) -> None:
        self.client, self.broker, self.subscribed = client, broker, subscribed
        self.user = make_user(app)
        self.headers = auth_headers(client, self.user)

    def account(
        self,
        *,
        balance: str = "10000",
        currency: str = "USD",
        server: str = "Sim-Demo",
        subscribed: bool | None = None,
        **fields: Any,
    ) -> dict[str, Any]:
        from decimal import Decimal

        body = account_body(server=server, **fields)
        self.broker.create_account(
            int(body["login"]), body["password"], server, balance=Decimal(balance),
            currency=currency,
        )  # fmt: skip
        wanted = self.subscribed if subscribed is None else subscribed
        return make_account(self.client, self.headers, subscribed=wanted, **body)

    def subscribe(self, account: dict[str, Any], **terms: Any) -> dict[str, Any]:
        return dict(subscribe(self.client, self.headers, account["id"], **terms))

    def subscription(self, account: dict[str, Any]) -> dict[str, Any]:
        return self._get(f"/api/accounts/{account['id']}/subscription")

    def patch(self, account: dict[str, Any], **fields: Any) -> None:
        response = self.client.patch(
            f"/api/accounts/{account['id']}", json=fields, headers=self.headers
        )
        assert response.status_code == 200, response.get_json()

    def positions(self, account: dict[str, Any]) -> list[dict[str, Any]]:
        """The account's open positions at the broker, read through the API."""
        return list(self._get(f"/api/accounts/{account['id']}/positions")["positions"])

    def _get(self, path: str) -> dict[str, Any]:
        response = self.client.get(path, headers=self.headers)
        assert response.status_code == 200, response.get_json()
        return dict(response.get_json())


# Mid-step, so "one step either side" never straddles a boundary by accident.
MFA_T0 = datetime(2026, 6, 1, 12, 0, 15, tzinfo=UTC)


def totp_code(secret: str, at: datetime, steps: int = 0) -> str:
    """The TOTP code of the step ``steps`` away from ``at``."""
    import pyotp

    return str(pyotp.TOTP(secret).at(at, counter_offset=steps))


def enrol_mfa(client: Any, user: Any, clock: Any) -> dict[str, Any]:
    """Turn MFA on for ``user`` (confirmed with the code of the step before ``clock.now``).

    Confirming ends every earlier token, so ``headers`` holds the access token it returned.
    """
    headers = auth_headers(client, user)
    setup = client.post("/api/me/mfa/setup", headers=headers)
    assert setup.status_code == 200, setup.get_json()
    secret = setup.get_json()["secret"]
    confirmed = client.post(
        "/api/me/mfa/confirm", json={"otp": totp_code(secret, clock.now, -1)}, headers=headers
    )
    assert confirmed.status_code == 200, confirmed.get_json()
    body = confirmed.get_json()
    return {
        "user": user,
        "secret": secret,
        "headers": {"Authorization": f"Bearer {body['access_token']}"},
        "refresh_token": body["refresh_token"],
        "old_headers": headers,
        "recovery_codes": body["recovery_codes"],
    }


def assert_error(response: Any, status: int, code: str) -> dict[str, Any]:
    """The JSON envelope with this status and code."""
    assert response.status_code == status, (
        response.status_code,
        response.get_data(as_text=True)[:500],
    )
    assert response.mimetype == "application/json"
    body = response.get_json()
    assert set(body) == {"error"}, body
    assert set(body["error"]) == {"code", "message", "details"}, body
    assert body["error"]["code"] == code, body
    return dict(body["error"])


@contextmanager
def statements_run(engine: Any) -> Iterator[list[str]]:
    """Every SQL statement ``engine`` sends inside the block, as sent (BEGIN and COMMIT are not
    statements here)."""
    from sqlalchemy import event

    seen: list[str] = []

    def record(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        seen.append(statement)

    event.listen(engine, "before_cursor_execute", record)
    try:
        yield seen
    finally:
        event.remove(engine, "before_cursor_execute", record)
