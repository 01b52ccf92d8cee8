"""GET /metrics: Prometheus text, request and order counters, queue depth, terminal, token."""

from __future__ import annotations

import re
import time
from typing import Any

import pytest
from factories import assert_error, auth_headers, make_account, make_user


def scrape(client: Any, **headers: str) -> str:
    response = client.get("/metrics", headers=headers)
    assert response.status_code == 200, response.get_data(as_text=True)[:300]
    assert response.mimetype == "text/plain"
    return str(response.get_data(as_text=True))


def sample(text: str, name: str, **labels: str) -> float:
    """The value of one series (0 when absent); labels must match exactly those given."""
    for line in text.splitlines():
        match = re.match(r"^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$", line)
        if not match or match.group(1) != name:
            continue
        found = dict(re.findall(r'(\w+)="([^"]*)"', match.group(2) or ""))
        if all(found.get(k) == v for k, v in labels.items()):
            return float(match.group(3))
    return 0.0


def test_scrape_after_requests_counts_them_by_route_rule(client):
    client.get("/api/status")
    client.get("/api/status")
    client.get("/api/accounts/12345")  # 401, counted under its rule, not its path

    text = scrape(client)

    route = {"method": "GET", "route": "/api/status", "status": "200"}
    assert sample(text, "http_requests_total", **route) == 2
    assert sample(text, "http_request_duration_seconds_count", **route) == 2
    assert (
        sample(
            text,
            "http_requests_total",
            method="GET",
            route="/api/accounts/<int:account_id>",
            status="401",
        )
        == 1
    )
    assert "/api/accounts/12345" not in text


def test_scrape_unknown_path_counts_as_unmatched(client):
    client.get("/no/such/page")

    text = scrape(client)

    assert sample(text, "http_requests_total", route="unmatched", status="404") == 1


def test_scrape_fresh_app_reports_empty_queue_and_simulated_terminal(client):
    text = scrape(client)

    for status in ("pending", "in_flight", "executed", "failed", "expired", "cancelled"):
        assert f'broadcast_queue_rows{{status="{status}"}} 0.0' in text
    assert sample(text, "mt5_terminal_connected", simulated="true") == 1


def test_send_orders_moves_order_counter_fanout_histogram_and_queue_depth(app, client):
    headers = auth_headers(client, make_user(app))
    account = make_account(client, headers)
    body = {
        "account_ids": [account["id"]],
        "symbol": "XAUUSD",
        "side": "buy",
        "volume": "0.10",
        "wait_s": 10,
    }

    response = client.post("/api/send_orders", json=body, headers=headers)

    assert response.status_code == 200, response.get_json()
    text = wait_for(client, lambda t: sample(t, "mt5_orders_total", status="executed") >= 1)
    assert sample(text, "mt5_orders_total", status="executed", retcode="10009") == 1
    assert sample(text, "broadcast_fanout_seconds_count") == 1
    assert sample(text, "broadcast_queue_rows", status="executed") == 1
    assert sample(text, "broadcast_queue_rows", status="pending") == 0


def wait_for(client: Any, ready: Any, timeout_s: float = 5.0) -> str:
    """The executor records after the response; scrape until the figure arrives."""
    deadline = time.monotonic() + timeout_s
    text = scrape(client)
    while not ready(text) and time.monotonic() < deadline:
        time.sleep(0.05)
        text = scrape(client)
    return text


def test_scrape_reflects_ledger_rows_by_status(app, client):
    from datetime import UTC, datetime

    from extensions import db
    from models import BroadcastQueue, Dispatch

    user = make_user(app)
    account = make_account(client, auth_headers(client, user))
    now = datetime.now(UTC)
    dispatch = Dispatch(
        kind="orders", creator_id=user.id, order_data={}, request_hash="h", expires_at=now
    )
    db.session.add(dispatch)
    db.session.flush()
    for leg, status in enumerate(("failed", "failed", "cancelled")):
        db.session.add(
            BroadcastQueue(
                admin_user_id=user.id,
                target_user_id=user.id,
                order_data="{}",
                dispatch_id=dispatch.id,
                account_id=account["id"],
                leg=leg,
                status=status,
            )
        )
    db.session.commit()

    text = scrape(client)

    assert sample(text, "broadcast_queue_rows", status="failed") == 2
    assert sample(text, "broadcast_queue_rows", status="cancelled") == 1


def test_metrics_not_in_openapi_document(client):
    paths = client.get("/openapi.json").get_json()["paths"]

    assert "/metrics" not in paths


class TestToken:
    """METRICS_TOKEN set: a scrape must carry it as a bearer token."""

    @pytest.fixture
    def app_config(self, app_config: dict[str, Any]) -> dict[str, Any]:
        return {**app_config, "METRICS_TOKEN": "scrape-token-for-tests"}

    def test_scrape_without_token_when_configured_is_401(self, client):
        response = client.get("/metrics")

        assert_error(response, 401, "unauthorized")
        assert response.headers["WWW-Authenticate"] == "Bearer"

    def test_scrape_with_wrong_token_is_401(self, client):
        response = client.get("/metrics", headers={"Authorization": "Bearer wrong"})

        assert_error(response, 401, "unauthorized")

    def test_scrape_with_token_answers(self, client):
        text = scrape(client, Authorization="Bearer scrape-token-for-tests")

        assert "http_requests_total" in text
