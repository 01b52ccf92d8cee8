"""A follower's side of broadcasts: subscribe an account through its form (and unsubscribe), a
super admin's dry run before sending, the follower's "My trades" with only their own rows, and
the signals page (webhook tokens shown once, the parse box)."""

from __future__ import annotations

import json
import random
import re

import pytest
from playwright.sync_api import expect

from browser.conftest import PASSWORD, log_in, screenshot

SERVER_ENV = {"SESSION_KEEPER_ENABLED": "false"}


@pytest.fixture(scope="module", autouse=True)
def gold_quote(server):
    server.cli("mt5", "set-quote", "XAUUSD", "2349.80", "2350.00", "--freeze")


@pytest.fixture(scope="module")
def admin(server) -> str:
    return server.user(role="super_admin", prefix="admin")


def new_account(server, username: str, name: str = "Copy gold") -> int:
    status, body = server.call(
        "POST",
        "/api/accounts",
        {
            "account_name": name,
            "login": str(random.randint(80_000_000, 89_999_999)),
            "password": "mt5-pass",
            "server": "Sim-Demo",
            "copy_enabled": True,
            "risk_percent": "1",
        },
        server.token(username),
    )
    assert status == 201, body
    return int(body["id"])


def subscribe_via_api(server, username: str, account: int) -> None:
    status, body = server.call(
        "PUT",
        f"/api/accounts/{account}/subscription",
        {"accept_terms": True},
        server.token(username),
    )
    assert status == 200 and body["receives_opens"], body


def log_out(page) -> None:
    page.click("text=Log out")
    page.wait_for_selector("input[name=username]")


def test_a_follower_subscribes_an_account_with_their_own_settings_then_unsubscribes(page, server):
    username = server.user(prefix="follower")
    account = new_account(server, username)
    log_in(page, username)
    page.goto(f"/#/accounts/{account}/edit")
    form = page.locator("[data-testid=subscription]")
    expect(form).to_have_attribute("data-subscribed", "false")
    expect(form.locator("[data-testid=subscription-state]")).to_contain_text("Not subscribed")

    form.locator("select[name=follower_sizing]").select_option("multiplier")
    form.locator("input[name=sizing_figure]").fill("0.5")
    form.locator("input[name=sizing_max_volume]").fill("2")
    form.locator("input[name=max_open_positions]").fill("5")
    form.locator("input[name=daily_loss_limit]").fill("3")
    form.locator("input[name=max_drawdown_percent]").fill("10")
    form.locator("select[name=symbols_mode]").select_option("include")
    form.locator("input[name=symbols]").fill("xauusd, EURUSD")
    form.locator("input[name=accept_terms]").check()
    with page.expect_request(re.compile(rf"/api/accounts/{account}/subscription$")) as sent:
        form.locator("button[type=submit]").click()

    assert sent.value.method == "PUT"
    assert json.loads(sent.value.post_data) == {
        "accept_terms": True,
        "sizing": {"mode": "multiplier", "factor": "0.5", "max_volume": "2", "below_min": "skip"},
        "protection": {
            "max_open_positions": 5,
            "daily_loss_limit": {"percent": "3"},
            "max_drawdown_percent": "10",
            "on_breach": "close_only",
        },
        "symbols": {"include": ["XAUUSD", "EURUSD"]},
    }
    expect(form).to_have_attribute("data-subscribed", "true")
    expect(form).to_have_attribute("data-state", "active")
    expect(form.locator("[data-field=receives_opens]")).to_have_text("yes")
    expect(form.locator("[data-field=terms]")).to_contain_text("accepted")
    status, stored = server.call(
        "GET", f"/api/accounts/{account}/subscription", None, server.token(username)
    )
    assert status == 200 and stored["subscribed"] and stored["sizing"]["mode"] == "multiplier"
    assert stored["symbols"] == {"include": ["XAUUSD", "EURUSD"]}
    screenshot(page, "subscription")

    # Loaded again, the form shows what is stored.
    page.goto("/#/accounts")
    page.goto(f"/#/accounts/{account}/edit")
    expect(form.locator("input[name=sizing_figure]")).to_have_value("0.5")
    expect(form.locator("input[name=symbols]")).to_have_value("XAUUSD, EURUSD")

    form.locator("[data-testid=unsubscribe]").click()
    expect(form).to_have_attribute("data-subscribed", "false")
    status, stored = server.call(
        "GET", f"/api/accounts/{account}/subscription", None, server.token(username)
    )
    assert status == 200 and not stored["receives_opens"]


def test_subscribing_without_accepting_the_terms_shows_the_apis_error(page, server, page_guard):
    page_guard.expect(r"/subscription$", 422)
    username = server.user(prefix="follower")
    account = new_account(server, username)
    log_in(page, username)
    page.goto(f"/#/accounts/{account}/edit")
    form = page.locator("[data-testid=subscription]")
    expect(form).to_have_attribute("data-subscribed", "false")

    form.locator("button[type=submit]").click()

    alert = form.locator("[role=alert]")
    alert.wait_for()
    assert alert.get_attribute("data-code") == "validation_error"
    expect(alert).to_contain_text("accept_terms")
    expect(form).to_have_attribute("data-subscribed", "false")


def test_after_a_reload_subscribing_asks_for_the_password_again(page, server, page_guard):
    """A session picked up from the refresh cookie is not a fresh login: the form asks for the
    password, logs in anew and subscribes."""
    page_guard.expect(r"/subscription$", 401)
    username = server.user(prefix="follower")
    account = new_account(server, username)
    log_in(page, username)
    page.goto(f"/#/accounts/{account}/edit")
    page.reload()
    form = page.locator("[data-testid=subscription]")
    expect(form).to_have_attribute("data-subscribed", "false")
    form.locator("input[name=accept_terms]").check()
    form.locator("button[type=submit]").click()

    prompt = form.locator("[data-testid=fresh-login]")
    prompt.locator("input[name=fresh_password]").fill(PASSWORD)
    prompt.get_by_role("button", name="Confirm and retry").click()

    expect(form).to_have_attribute("data-subscribed", "true")
    expect(prompt).to_have_count(0)
    assert PASSWORD not in json.dumps(page.evaluate("() => ({ ...localStorage })"))


def test_admin_previews_a_broadcast_sends_it_and_the_follower_sees_only_their_own_row(
    page, server, admin
):
    mine_user = server.user(prefix="follower")
    other_user = server.user(prefix="follower")
    mine = new_account(server, mine_user)
    other = new_account(server, other_user)
    subscribe_via_api(server, mine_user, mine)
    subscribe_via_api(server, other_user, other)

    log_in(page, admin)
    page.click("nav >> text=New broadcast")
    page.check("input[name=target_mode][value=account_ids]")
    page.fill("input[name=ids]", f"{mine}, {other}")
    page.fill("input[name=symbol]", "XAUUSD")
    page.fill("input[name=stop_loss]", "2340.00")
    page.select_option("select[name=sizing_mode]", "fixed_volume")
    page.fill("input[name=volume]", "0.10")
    with page.expect_request(re.compile(r"/api/broadcast_orders$")) as previewed:
        page.click("[data-testid=dry-run-button]")
    assert json.loads(previewed.value.post_data)["dry_run"] is True

    table = page.locator("[data-testid=preview]")
    for account in (mine, other):
        row = table.locator(f"tr[data-account='{account}']")
        expect(row.locator("[data-verdict=would_send]")).to_have_count(1)
        expect(row.locator("[data-field=volume]")).to_have_text(re.compile(r"^0\.10*$"))
        expect(row.locator("[data-field=risk]")).to_have_text(re.compile(r"USD$"))
    screenshot(page, "broadcast-dry-run")
    # Nothing was sent: the follower has no trade yet.
    status, listed = server.call("GET", "/api/me/dispatches", None, server.token(mine_user))
    assert status == 200 and listed["total"] == 0

    page.click("[data-testid=broadcast-form] button[type=submit]")
    page.locator("[data-testid=broadcast-progress][data-status=completed]").wait_for()
    broadcast_id = int(re.search(r"#/broadcasts/(\d+)", page.url).group(1))
    log_out(page)

    log_in(page, mine_user)
    page.click("nav >> text=My trades")
    row = page.locator(f"[data-testid=my-dispatches] tr[data-dispatch='{broadcast_id}']")
    expect(row).to_contain_text("Broadcast")
    expect(row).to_contain_text("XAUUSD")
    expect(row.locator("td:nth-child(6)")).to_have_text(str(mine))
    screenshot(page, "my-trades")
    row.locator("a").click()

    detail = page.locator(f"[data-testid=my-dispatch][data-dispatch='{broadcast_id}']")
    expect(detail).to_have_attribute("data-status", "completed")
    targets = detail.locator("[data-testid=targets] tbody tr")
    expect(targets).to_have_count(1)
    expect(targets.locator("td:nth-child(1)")).to_have_text(str(mine))
    results = page.locator("[data-testid=results] [data-testid=target-results] tbody tr")
    expect(results).to_have_count(1)
    expect(results).to_have_attribute("data-account", str(mine))
    screenshot(page, "my-trade")

    page.click("[data-testid=language-toggle]")
    expect(page.locator("h1")).to_have_text(f"เทรด #{broadcast_id}")
    expect(page.locator("nav")).to_contain_text("เทรดของฉัน")
    page.click("[data-testid=language-toggle]")


def test_send_page_dry_run_shows_each_accounts_volume_before_sending(page, server):
    username = server.user()
    account = new_account(server, username, name="Gold main")
    log_in(page, username)
    page.click("nav >> text=Send order")
    page.check(f"input[name=account][value='{account}']")
    page.fill("input[name=symbol]", "XAUUSD")
    page.fill("input[name=stop_loss]", "2340.00")
    page.select_option("select[name=sizing]", "volume")
    page.fill("input[name=volume]", "0.20")
    page.click("[data-testid=dry-run-button]")

    row = page.locator(f"[data-testid=preview] tr[data-account='{account}']")
    expect(row.locator("[data-field=volume]")).to_have_text(re.compile(r"^0\.20*$"))
    status, listed = server.call("GET", "/api/me/dispatches", None, server.token(username))
    assert status == 200 and listed["total"] == 0  # a dry run creates nothing

    page.fill("input[name=volume]", "0.30")  # the preview was of another order: not shown
    expect(page.locator("[data-testid=preview]")).to_have_count(0)


def test_a_super_admin_creates_a_signal_token_sees_it_once_lists_and_revokes_it(
    page, server, admin
):
    log_in(page, admin)
    page.click("nav >> text=Signals")
    page.fill("input[name=token_name]", "TradingView gold")
    page.fill("input[name=token_symbols]", "XAUUSD")
    page.click("[data-testid=signal-token-form] button[type=submit]")

    created = page.locator("[data-testid=signal-token-created]")
    token = created.locator("[data-field=token]").inner_text()
    assert len(token) >= 20
    expect(created.locator("[data-field=webhook-url]")).to_have_text(
        f"{server.url}/hooks/signals/{token}"
    )
    expect(created.locator("[data-field=example-alert]")).to_contain_text('"action":"buy"')
    token_id = created.get_attribute("data-token-id")
    row = page.locator(f"[data-testid=signal-tokens] tr[data-token='{token_id}']")
    expect(row).to_contain_text("TradingView gold")
    expect(row.locator("[data-field=state]")).to_have_text("live")
    prefix = row.locator("code").inner_text().rstrip("…")
    assert token.startswith(prefix) and len(prefix) < len(token)
    storage = page.evaluate("() => JSON.stringify({ ...localStorage, ...sessionStorage })")
    assert token not in storage

    # Shown once: a reload lists the token without it.
    page.reload()
    expect(row).to_contain_text("TradingView gold")
    assert token not in page.content()
    screenshot(page, "signals")  # after the reload: no token in a picture in the repository

    row.get_by_role("button", name="Revoke").click()
    expect(row.locator("[data-field=state]")).to_contain_text("revoked")
    status, _ = server.call(
        "POST", f"/hooks/signals/{token}", {"action": "buy", "symbol": "XAUUSD"}
    )
    assert status == 401


def test_anyone_can_read_a_signal_text_and_a_word_it_does_not_know_is_named(
    page, server, page_guard
):
    page_guard.expect(r"/api/signals/parse$", 422)
    log_in(page, server.user())
    page.click("nav >> text=Signals")
    assert page.locator("[data-testid=signal-token-form]").count() == 0  # super admins only

    page.fill("textarea[name=signal_text]", "XAUUSD BUY NOW SL 2340 TP1 2355")
    page.click("[data-testid=signal-parse] button[type=submit]")
    expect(page.locator("[data-testid=signal-preview] [data-field=summary]")).to_contain_text(
        "XAUUSD"
    )

    page.fill("textarea[name=signal_text]", "XAUUSD BUY BANANA")
    page.click("[data-testid=signal-parse] button[type=submit]")
    alert = page.locator("[data-testid=signal-parse] [role=alert]")
    alert.wait_for()
    assert alert.get_attribute("data-code") == "signal_not_understood"

    page.click("[data-testid=language-toggle]")
    expect(page.locator("h1")).to_have_text("สัญญาณ")
    expect(page.locator("[data-testid=signal-parse] h2")).to_have_text("ทดลองข้อความสัญญาณ")
