"""TRUSTED_PROXY_HOPS: the client's address and scheme behind a reverse proxy, and only then."""

from __future__ import annotations

import http.client
import json
import threading
from collections.abc import Iterator
from typing import Any

import pytest

from config import ConfigError

PROXIED = {"X-Forwarded-For": "203.0.113.7", "X-Forwarded-Proto": "https"}
LOGIN = {"username": "nobody-here", "password": "not the password"}


def failed_login(client: Any, **headers: str) -> Any:
    """An unknown user's login: a 401, an audited `login_failed` with the client's IP."""
    return client.post("/api/login", json=LOGIN, headers=headers)


def audited_ips() -> list[str | None]:
    from sqlalchemy import select

    from extensions import db
    from models import AuditLog

    db.session.rollback()
    return list(
        db.session.scalars(
            select(AuditLog.ip).where(AuditLog.event == "login_failed").order_by(AuditLog.id)
        )
    )


def limited(app_config: dict[str, Any], **overrides: Any) -> dict[str, Any]:
    return {**app_config, "RATELIMIT_ENABLED": True, "LOGIN_RATE_LIMIT": "2 per minute",
            **overrides}  # fmt: skip


class TestNoProxy:
    """The default, 0: X-Forwarded-* are whatever the client made up, and ignored."""

    def test_forged_forwarded_for_is_not_the_audited_ip(self, client):
        assert failed_login(client, **PROXIED).status_code == 401

        assert audited_ips() == ["127.0.0.1"]

    def test_forged_forwarded_proto_does_not_turn_on_hsts(self, client):
        response = failed_login(client, **PROXIED)

        assert "Strict-Transport-Security" not in response.headers

    def test_forged_forwarded_for_does_not_open_a_new_rate_limit_bucket(self, app_config):
        from app import create_app

        client = create_app(limited(app_config)).test_client()
        statuses = [
            failed_login(client, **{"X-Forwarded-For": f"198.51.100.{i}"}).status_code
            for i in range(3)
        ]

        assert statuses == [401, 401, 429]


class TestOneProxy:
    """1: the address and scheme the proxy in front of us reports are the client's."""

    @pytest.fixture
    def app_config(self, app_config: dict[str, Any]) -> dict[str, Any]:
        return {**app_config, "TRUSTED_PROXY_HOPS": 1}

    def test_forwarded_for_is_the_audited_ip(self, client):
        assert failed_login(client, **PROXIED).status_code == 401

        assert audited_ips() == ["203.0.113.7"]

    def test_client_supplied_entries_before_the_proxys_are_ignored(self, client):
        failed_login(client, **{"X-Forwarded-For": "10.6.6.6, 203.0.113.7"})

        assert audited_ips() == ["203.0.113.7"]

    def test_forwarded_proto_https_turns_on_hsts(self, client):
        secure = failed_login(client, **PROXIED)
        plain = failed_login(client, **{"X-Forwarded-For": "203.0.113.7"})

        assert secure.headers["Strict-Transport-Security"].startswith("max-age=")
        assert "Strict-Transport-Security" not in plain.headers

    def test_rate_limit_buckets_are_per_forwarded_client(self, app_config):
        from app import create_app

        client = create_app(limited(app_config)).test_client()
        first = [failed_login(client, **PROXIED).status_code for _ in range(3)]
        other = failed_login(client, **{"X-Forwarded-For": "203.0.113.8"}).status_code

        assert first == [401, 401, 429]
        assert other == 401


@pytest.mark.parametrize("hops", ["-1", "two"])
def test_bad_trusted_proxy_hops_refuses_to_start(app_config, hops):
    from app import create_app

    with pytest.raises(ConfigError, match="TRUSTED_PROXY_HOPS"):
        create_app({**app_config, "TRUSTED_PROXY_HOPS": hops})


def test_waitress_clears_forwarded_headers_unless_a_proxy_is_trusted(app_config):
    from app import create_app, waitress_options

    direct = waitress_options(create_app(app_config))
    proxied = waitress_options(create_app({**app_config, "TRUSTED_PROXY_HOPS": 2}))

    assert "clear_untrusted_proxy_headers" not in direct  # waitress's default: drop them
    assert proxied["clear_untrusted_proxy_headers"] is False


@pytest.fixture
def waitress_url(request, app_config) -> Iterator[tuple[str, int]]:
    """The app served by waitress as `python app.py` serves it, on a free port."""
    from app import create_app, waitress_options
    from waitress import create_server

    app = create_app({**app_config, "TRUSTED_PROXY_HOPS": request.param})
    options = {**waitress_options(app), "host": "127.0.0.1", "port": 0, "threads": 2}
    server = create_server(app, **options)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    with app.app_context():
        yield "127.0.0.1", server.effective_port
    server.close()
    thread.join(5)


@pytest.mark.parametrize(
    ("waitress_url", "expected"), [(0, "127.0.0.1"), (1, "203.0.113.7")], indirect=["waitress_url"]
)
def test_waitress_serves_the_forwarded_client_only_behind_a_trusted_proxy(waitress_url, expected):
    host, port = waitress_url
    connection = http.client.HTTPConnection(host, port, timeout=10)
    headers = {"Content-Type": "application/json", **PROXIED}
    connection.request("POST", "/api/login", body=json.dumps(LOGIN), headers=headers)
    response = connection.getresponse()
    response.read()
    connection.close()

    assert response.status == 401
    assert audited_ips() == [expected]
    hsts = response.getheader("Strict-Transport-Security")
    assert (hsts is not None) == (expected != "127.0.0.1")


class TestRateLimitStoreDown:
    """RATELIMIT_STORAGE_URI pointing at a Redis that is not there: limits hold per process."""

    @pytest.fixture
    def app_config(self, app_config: dict[str, Any]) -> Iterator[dict[str, Any]]:
        yield limited(app_config, RATELIMIT_STORAGE_URI="redis://127.0.0.1:1/0")
        from extensions import limiter

        limiter._storage_dead = False  # the limiter is process-global: leave it healthy

    def test_login_still_answers_and_is_limited(self, client):
        statuses = [failed_login(client).status_code for _ in range(3)]

        assert statuses == [401, 401, 429]
