"""The accounts page with the session keeper on: live state and figures without a connect, and
the equity chart drawn from the history the keeper recorded."""

from __future__ import annotations

import random
import time

from playwright.sync_api import expect

from browser.conftest import log_in

SERVER_ENV = {"SESSION_KEEPER_ENABLED": "true", "MT5_HEARTBEAT_S": "1"}


def test_new_account_shows_connected_and_its_figures_and_draws_its_equity(page, server):
    username = server.user()
    status, body = server.call(
        "POST", "/api/accounts",
        {"account_name": "Kept", "login": str(random.randint(70_000_000, 79_999_999)),
         "password": "Mt5-S3cret!pass", "server": "Sim-Demo"},
        token=server.token(username),
    )  # fmt: skip
    assert status == 201, body
    account, token = body["id"], server.token(username)
    deadline = time.monotonic() + 15
    while server.call("GET", f"/api/accounts/{account}", token=token)[1]["equity"] is None:
        assert time.monotonic() < deadline, "no heartbeat within 15 s"
        time.sleep(0.2)

    log_in(page, username)  # no connect pressed: the keeper attached the account

    row = page.locator(f"[data-account='{account}']")
    expect(row.locator("[data-status=connected]")).to_be_visible()
    expect(row.locator("[data-field=equity]")).to_have_text("10000")
    row.locator("text=Equity chart").click()
    page.wait_for_selector("[data-testid=equity-chart] canvas")
