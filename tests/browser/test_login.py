"""Logging in to the dashboard: password, MFA, the cookie session, logout, the Thai toggle."""

from __future__ import annotations

import time

import pyotp
from playwright.sync_api import expect

from browser.conftest import PASSWORD, log_in, screenshot


def enable_mfa(server, username: str) -> str:
    """Turn MFA on through the API; the secret. Confirmed with the previous step's code, so the
    current one is still unused for the login."""
    token = server.token(username)
    status, setup = server.call("POST", "/api/me/mfa/setup", {}, token)
    assert status == 200, setup
    secret = setup["secret"]
    code = pyotp.TOTP(secret).at(time.time() - 30)
    status, body = server.call("POST", "/api/me/mfa/confirm", {"otp": code}, token)
    assert status == 200, body
    return secret


def test_login_with_password_opens_the_accounts_page(page, server):
    username = server.user()
    page.goto("/")
    page.wait_for_selector("[data-testid=login-form]")
    screenshot(page, "login")

    log_in(page, username)

    assert page.locator("header .who").inner_text().startswith(username)
    expect(page.get_by_text("No accounts yet")).to_be_visible()


def test_login_wrong_password_shows_the_error_and_stays_on_the_form(page, server, page_guard):
    page_guard.expect(r"/api/login$", 401)
    username = server.user()
    page.goto("/")
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", "not the password")
    page.click("button[type=submit]")

    alert = page.locator("[role=alert]")
    alert.wait_for()
    assert alert.get_attribute("data-code") == "invalid_credentials"
    assert "Wrong username or password" in alert.inner_text()


def test_login_with_mfa_asks_for_the_code_then_logs_in(page, server, page_guard):
    page_guard.expect(r"/api/login$", 401)  # the first answer: mfa_required
    username = server.user()
    secret = enable_mfa(server, username)
    page.goto("/")
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")

    page.wait_for_selector("input[name=otp]")
    screenshot(page, "login-mfa")
    page.fill("input[name=otp]", pyotp.TOTP(secret).now())
    page.click("button[type=submit]")

    page.wait_for_selector("text=MT5 accounts")


def test_session_survives_a_reload_with_no_token_in_storage_or_readable_cookie(page, server):
    username = server.user()
    log_in(page, username)

    page.reload()
    page.wait_for_selector("text=MT5 accounts")

    stored = page.evaluate(
        "() => JSON.stringify({...localStorage}) + JSON.stringify({...sessionStorage})"
    )
    assert "eyJ" not in stored  # no JWT in web storage
    readable = page.evaluate("() => document.cookie")
    assert "mt5_csrf=" in readable and "mt5_refresh" not in readable
    refresh = [c for c in page.context.cookies() if c["name"] == "mt5_refresh"]
    assert refresh and refresh[0]["httpOnly"] and refresh[0]["sameSite"] == "Strict"


def test_logout_ends_the_session_even_after_a_reload(page, server):
    log_in(page, server.user())

    page.click("header .who button")
    page.wait_for_selector("[data-testid=login-form]")
    page.reload()

    page.wait_for_selector("[data-testid=login-form]")
    assert [c for c in page.context.cookies() if c["name"].startswith("mt5_")] == []


def test_thai_toggle_translates_the_page_and_is_remembered(page, server):
    log_in(page, server.user())

    page.click("[data-testid=language-toggle]")

    page.wait_for_selector("text=บัญชี MT5")
    assert page.evaluate("() => document.documentElement.lang") == "th"
    assert page.locator("nav").inner_text().split()[:2] == ["บัญชี", "เครื่องคำนวณ"]
    page.reload()
    page.wait_for_selector("text=บัญชี MT5")
    screenshot(page, "accounts-thai")
    page.click("[data-testid=language-toggle]")
    page.wait_for_selector("text=MT5 accounts")
