"""A super admin's broadcast: compose it, watch it fill live over SSE, find it in the history."""

from __future__ import annotations

import json
import random
import re

import pytest
from playwright.sync_api import expect

from browser.conftest import log_in, screenshot

FOLLOWERS = 3
# Each call to the simulated terminal takes this long, so a broadcast is still filling when its
# page opens the event stream.
SERVER_ENV = {"MT5_SIM_LATENCY_MS": "150"}


TOKENS: dict[int, str] = {}


MAGIC_BASE = 770_000_000  # a position's magic is this plus the dispatch that opened it


def magics_of(server, account: int) -> set[int]:
    status, body = server.call("GET", f"/api/accounts/{account}/positions", None, TOKENS[account])
    assert status == 200, body
    return {p["magic"] for p in body["positions"]}


@pytest.fixture(scope="module")
def admin(server) -> str:
    """A super admin (made by `flask create-user`, as an operator does); the username."""
    return server.user(role="super_admin", prefix="admin")


@pytest.fixture(scope="module")
def followers(server) -> list[int]:
    """Users whose accounts take part in broadcasts (subscribed); their account ids."""
    server.cli("mt5", "set-quote", "XAUUSD", "2349.80", "2350.00", "--freeze")
    accounts = []
    for _ in range(FOLLOWERS):
        token = server.token(server.user(prefix="follower"))
        status, body = server.call(
            "POST",
            "/api/accounts",
            {
                "account_name": "Copy gold",
                "login": str(random.randint(70_000_000, 79_999_999)),
                "password": "mt5-pass",
                "server": "Sim-Demo",
                "copy_enabled": True,
                "risk_percent": "1",
            },
            token,
        )
        assert status == 201, body
        # Broadcasts reach an account its owner subscribed (accepting the terms).
        subscribed = server.call(
            "PUT", f"/api/accounts/{body['id']}/subscription", {"accept_terms": True}, token
        )
        assert subscribed[0] == 200 and subscribed[1]["receives_opens"], subscribed
        accounts.append(int(body["id"]))
        TOKENS[int(body["id"])] = token
    return accounts


def compose(page, account_ids: list[int]) -> None:
    page.click("nav >> text=New broadcast")
    page.check("input[name=target_mode][value=account_ids]")
    page.fill("input[name=ids]", ", ".join(map(str, account_ids)))
    page.fill("input[name=symbol]", "XAUUSD")
    page.fill("input[name=stop_loss]", "2340.00")
    page.fill("input[name=deviation]", "50")
    page.select_option("select[name=sizing_mode]", "fixed_volume")
    page.fill("input[name=volume]", "0.10")


def test_super_admin_broadcasts_and_watches_every_target_fill(page, server, admin, followers):
    log_in(page, admin)
    compose(page, followers)
    screenshot(page, "broadcast-composer")

    with page.expect_request(re.compile(r"/api/broadcasts/\d+/events$")) as stream:
        page.click("[data-testid=broadcast-form] button[type=submit]")

    # SSE over fetch(): the bearer token in a header, never in the URL.
    assert stream.value.headers["authorization"].startswith("Bearer ")
    assert "token" not in stream.value.url
    progress = page.locator("[data-testid=broadcast-progress][data-status=completed]")
    progress.wait_for()
    rows = progress.locator("[data-testid=targets] tbody tr")
    assert rows.count() == FOLLOWERS
    # The last rows' outcomes can reach the table a stream event after the counts say done.
    expect(progress.locator("[data-testid=targets] [data-status=executed]")).to_have_count(
        FOLLOWERS
    )
    assert f"{FOLLOWERS} of {FOLLOWERS}" in progress.locator("[data-testid=counts]").inner_text()
    # The mark bench/dashboard_load.py reads: once, when every row was on screen.
    marks = page.evaluate(
        "() => performance.getEntriesByName('mt5:targets-rendered').map(m => m.detail)"
    )
    assert marks == [FOLLOWERS]
    screenshot(page, "broadcast-progress")


def test_super_admin_follows_a_finished_broadcast_up_with_breakeven_then_close_all(
    page, server, admin, followers
):
    log_in(page, admin)
    compose(page, followers)
    page.click("[data-testid=broadcast-form] button[type=submit]")
    page.locator("[data-testid=broadcast-progress][data-status=completed]").wait_for()
    broadcast_id = int(re.search(r"#/broadcasts/(\d+)", page.url).group(1))
    assert all(MAGIC_BASE + broadcast_id in magics_of(server, a) for a in followers)
    server.cli("mt5", "set-quote", "XAUUSD", "2360.00", "2360.20", "--freeze")  # in profit
    try:
        follow_ups = page.locator("[data-testid=follow-ups]")
        follow_ups.get_by_role("button", name="Breakeven").click()

        action = follow_ups.locator("[data-testid=dispatch][data-kind=action]")
        expect(action).to_have_attribute("data-status", "completed", timeout=30_000)
        executed = action.locator("[data-testid=targets] [data-status=executed]")
        expect(executed).to_have_count(FOLLOWERS)
        screenshot(page, "broadcast-follow-up")
        breakeven = action.get_attribute("data-dispatch")
        follow_ups.get_by_role("button", name="Close all").click()
        close_all = follow_ups.locator(f"[data-kind=action]:not([data-dispatch='{breakeven}'])")
        expect(close_all).to_have_attribute("data-status", "completed", timeout=30_000)
    finally:
        server.cli("mt5", "set-quote", "XAUUSD", "2349.80", "2350.00", "--freeze")
    for account in followers:  # every follower's position of this broadcast is closed
        assert MAGIC_BASE + broadcast_id not in magics_of(server, account)


def test_broadcast_history_lists_the_broadcast_and_opens_it(page, server, admin, followers):
    log_in(page, admin)
    compose(page, followers[:1])
    page.click("[data-testid=broadcast-form] button[type=submit]")
    page.locator("[data-testid=broadcast-progress][data-status=completed]").wait_for()
    broadcast_id = re.search(r"#/broadcasts/(\d+)", page.url).group(1)

    page.click("nav >> text=Broadcasts")
    row = page.locator(f"[data-testid=history] tr[data-broadcast='{broadcast_id}']")
    row.wait_for()
    assert "XAUUSD" in row.inner_text()
    row.get_by_role("button", name="Results").click()
    shown = page.locator(f"[data-broadcast-results='{broadcast_id}']")
    expect(shown.locator("[data-testid=target-results] tbody tr")).to_have_count(1)
    expect(shown.locator("[data-field=floating]")).to_have_text("-2.00 USD")
    screenshot(page, "broadcast-history")
    row.locator("a").click()

    page.locator("[data-testid=broadcast-progress][data-status=completed]").wait_for()


def test_broadcast_to_no_matching_account_shows_the_error(page, admin, page_guard):
    page_guard.expect(r"/api/broadcast_orders$", 422)
    log_in(page, admin)
    compose(page, [987_654])

    page.click("[data-testid=broadcast-form] button[type=submit]")

    alert = page.locator("[role=alert]")
    alert.wait_for()
    assert alert.get_attribute("data-code") == "no_targets"


def test_a_user_sees_no_broadcast_pages(page, server):
    log_in(page, server.user())

    assert page.locator("nav >> text=New broadcast").count() == 0
    page.goto("/#/broadcasts/new")
    page.wait_for_selector("text=MT5 accounts")


def test_broadcast_results_show_each_followers_pnl_then_the_closes(page, server, admin, followers):
    """Worked out by hand: a buy of 0.10 lot of gold (100 oz a lot) at the Ask 2350.00 on each of
    three USD accounts; at the Bid 2349.80 each floats -0.20 x 10 oz = -2.00 USD; closed at the
    Bid 2360.00 each realises +10.00 x 10 oz = +100.00 USD (the simulator charges no commission)."""
    log_in(page, admin)
    compose(page, followers)
    page.click("[data-testid=broadcast-form] button[type=submit]")
    page.locator("[data-testid=broadcast-progress][data-status=completed]").wait_for()

    results = page.locator("[data-testid=results]")
    rows = results.locator("[data-testid=target-results] tbody tr")
    expect(rows).to_have_count(FOLLOWERS)
    for account in followers:
        row = results.locator(f"[data-testid=target-results] tr[data-account='{account}']")
        expect(row.locator("[data-status=result_open]")).to_have_count(1)
        expect(row.locator("[data-field=floating]")).to_have_text("-2.00 USD")
        assert re.fullmatch(r"0\.10*", row.locator("td:nth-child(3)").inner_text())
        assert re.fullmatch(r"2350(\.0*)?", row.locator("td:nth-child(4)").inner_text())
    usd = results.locator("[data-testid=currency-totals] tr[data-currency=USD]")
    expect(usd.locator("[data-field=net]")).to_have_text(f"-{2 * FOLLOWERS}.00")
    expect(results.locator("[data-testid=losers]")).to_contain_text(str(FOLLOWERS))

    server.cli("mt5", "set-quote", "XAUUSD", "2360.00", "2360.20", "--freeze")
    try:
        follow_ups = page.locator("[data-testid=follow-ups]")
        follow_ups.get_by_role("button", name="Close all").click()
        action = follow_ups.locator("[data-testid=dispatch][data-kind=action]")
        expect(action).to_have_attribute("data-status", "completed", timeout=30_000)
        # The finished follow-up reloads the results: every target closed, in profit.
        expect(rows.locator("[data-status=result_closed]")).to_have_count(FOLLOWERS)
    finally:
        server.cli("mt5", "set-quote", "XAUUSD", "2349.80", "2350.00", "--freeze")
    for account in followers:
        row = results.locator(f"[data-testid=target-results] tr[data-account='{account}']")
        expect(row.locator("[data-field=realised]")).to_have_text("100.00 USD")
        expect(row.locator("[data-field=actions]")).to_contain_text("close")
    expect(results.locator("[data-field=usd-net]")).to_have_text(f"{100 * FOLLOWERS}.00 USD")
    expect(results.locator("[data-testid=winners]")).to_contain_text(str(FOLLOWERS))
    screenshot(page, "broadcast-results")

    page.click("[data-testid=language-toggle]")
    expect(results.locator("h2")).to_have_text("ผลลัพธ์และกำไร/ขาดทุน")


def test_broadcast_rules_are_set_when_sending_then_edited_and_removed(
    page, server, admin, followers
):
    log_in(page, admin)
    compose(page, followers[:1])
    page.click("text=Add a take profit")
    page.fill("input[name=tp1]", "2380.00")
    page.fill("input[name=automation_breakevenAfterTp]", "1")
    page.fill("input[name=automation_offsetPoints]", "10")
    with page.expect_request(re.compile(r"/api/broadcast_orders$")) as sent:
        page.click("[data-testid=broadcast-form] button[type=submit]")
    assert json.loads(sent.value.post_data)["automation"] == {
        "breakeven_after_tp": 1,
        "breakeven_offset_points": 10,
    }
    rules = page.locator("[data-testid=automation]")
    expect(rules.locator("[data-testid=automation-rules]")).to_have_text(
        "Breakeven after TP1 (+10 points)"
    )
    broadcast_id = int(re.search(r"#/broadcasts/(\d+)", page.url).group(1))

    rules.get_by_role("button", name="Edit rules").click()
    rules.locator("input[name=automation_trailing]").check()
    rules.locator("input[name=automation_startPoints]").fill("200")
    rules.locator("input[name=automation_distancePoints]").fill("300")
    rules.locator("input[name=automation_stepPoints]").fill("50")
    rules.get_by_role("button", name="Save rules").click()

    expect(rules.locator("[data-testid=automation-rules]")).to_contain_text(
        "trailing stop from 200 points, 300 behind, steps of 50"
    )
    token = server.token(admin)
    status, view = server.call(
        "GET", f"/api/broadcast_status?broadcast_id={broadcast_id}", None, token
    )
    assert status == 200
    assert view["automation"] == {
        "breakeven_after_tp": 1,
        "breakeven_offset_points": 10,
        "trailing": {"start_points": 200, "distance_points": 300, "step_points": 50},
    }

    rules.get_by_role("button", name="Remove rules").click()
    expect(rules.locator("[data-testid=automation-rules]")).to_have_text("No rules.")
    status, view = server.call(
        "GET", f"/api/broadcast_status?broadcast_id={broadcast_id}", None, token
    )
    assert not view["automation"]


def test_a_rule_for_a_take_profit_the_broadcast_lacks_is_refused_on_the_page(
    page, admin, followers, page_guard
):
    page_guard.expect(r"/api/broadcasts/\d+/automation$", 422)
    log_in(page, admin)
    compose(page, followers[:1])  # no take profit
    page.click("[data-testid=broadcast-form] button[type=submit]")
    rules = page.locator("[data-testid=automation]")
    rules.get_by_role("button", name="Edit rules").click()
    rules.locator("input[name=automation_breakevenAfterTp]").fill("2")
    rules.get_by_role("button", name="Save rules").click()

    alert = rules.locator("[role=alert]")
    alert.wait_for()
    assert alert.get_attribute("data-code") == "invalid_automation"
    expect(rules.locator("input[name=automation_breakevenAfterTp]")).to_have_value("2")
