"""A user's notification settings: channels with their secrets (never shown back), the language,
and the errors the server answers for a channel it refuses."""

from __future__ import annotations

import json
import re

from playwright.sync_api import expect

from browser.conftest import log_in, screenshot

BOT_TOKEN = "123456789:AAbbCCddEEffGGhhIIjjKKllMMnnOOppQQ"
SIGNING_KEY = "a-webhook-signing-key-of-32-chars"


def open_settings(page) -> None:
    page.click("nav >> text=Notifications")
    page.locator("[data-testid=notifications-form]").wait_for()


def test_set_telegram_webhook_email_and_thai_then_the_secrets_are_never_shown(page, server):
    username = server.user()
    log_in(page, username)
    open_settings(page)

    page.select_option("select[name=locale]", "th")
    page.check("input[name=telegram_on]")
    page.fill("input[name=telegram_chat_id]", "-1001234567890")
    page.fill("input[name=telegram_bot_token]", BOT_TOKEN)
    page.check("input[name=webhook_on]")
    page.fill("input[name=webhook_url]", "https://hooks.example.com/mt5")
    page.fill("input[name=webhook_secret]", SIGNING_KEY)
    page.uncheck("input[name=webhook_all_events]")
    page.check("input[name=webhook_event][value=target_failed]")
    page.check("input[name=email_on]")
    page.fill("input[name=email_address]", "trader@example.com")
    with page.expect_request(re.compile(r"/api/me/notifications$")) as sent:
        page.click("[data-testid=notifications-form] button[type=submit]")

    assert sent.value.method == "PUT"
    body = json.loads(sent.value.post_data)
    assert body["locale"] == "th"
    assert body["channels"]["telegram"]["bot_token"] == BOT_TOKEN
    assert body["channels"]["webhook"]["events"] == ["target_failed"]
    assert body["channels"]["email"] == {
        "enabled": True,
        "events": None,
        "address": "trader@example.com",
    }
    page.locator("[data-testid=saved]").wait_for()
    screenshot(page, "notifications")

    # Stored, as the server says; the secrets are nowhere on the page, even after a reload.
    status, stored = server.call("GET", "/api/me/notifications", None, server.token(username))
    assert status == 200
    assert stored["locale"] == "th"
    assert stored["channels"]["telegram"]["has_secret"] is True
    assert stored["channels"]["webhook"]["events"] == ["target_failed"]
    page.reload()
    page.locator("[data-testid=notifications-form]").wait_for()
    expect(page.locator("input[name=telegram_chat_id]")).to_have_value("-1001234567890")
    expect(page.locator("input[name=telegram_bot_token]")).to_have_value("")
    expect(page.locator("input[name=telegram_bot_token]")).to_have_attribute(
        "placeholder", "stored (hidden)"
    )
    expect(page.locator("input[name=webhook_event][value=target_failed]")).to_be_checked()
    html = page.content()
    assert BOT_TOKEN not in html and SIGNING_KEY not in html

    # A save without retyping the secrets keeps them; turning a channel off removes it.
    page.uncheck("input[name=email_on]")
    with page.expect_request(re.compile(r"/api/me/notifications$")) as sent:
        page.click("[data-testid=notifications-form] button[type=submit]")
    body = json.loads(sent.value.post_data)
    assert "bot_token" not in body["channels"]["telegram"] and "email" not in body["channels"]
    page.locator("[data-testid=saved]").wait_for()
    status, stored = server.call("GET", "/api/me/notifications", None, server.token(username))
    assert set(stored["channels"]) == {"telegram", "webhook"}
    assert stored["channels"]["webhook"]["has_secret"] is True


def test_a_plain_http_webhook_is_refused_with_the_field_named(page, server, page_guard):
    page_guard.expect(r"/api/me/notifications$", 422)
    log_in(page, server.user())
    open_settings(page)

    page.check("input[name=webhook_on]")
    page.fill("input[name=webhook_url]", "http://hooks.example.com/mt5")
    page.fill("input[name=webhook_secret]", SIGNING_KEY)
    page.click("[data-testid=notifications-form] button[type=submit]")

    alert = page.locator("[role=alert]")
    alert.wait_for()
    assert alert.get_attribute("data-code") == "validation_error"
    assert "channels.webhook.url" in alert.inner_text()
    assert page.locator("[data-testid=saved]").count() == 0


def test_a_new_telegram_channel_needs_its_bot_token(page, server):
    """The browser asks for it (required) before the server would refuse it."""
    log_in(page, server.user())
    open_settings(page)

    page.check("input[name=telegram_on]")
    page.fill("input[name=telegram_chat_id]", "123456789")
    page.click("[data-testid=notifications-form] button[type=submit]")

    token = page.locator("input[name=telegram_bot_token]")
    assert token.evaluate("input => input.validity.valueMissing") is True
    assert page.locator("[data-testid=saved]").count() == 0


def test_the_settings_page_in_thai(page, server):
    log_in(page, server.user())
    page.click("[data-testid=language-toggle]")
    page.click("nav >> text=การแจ้งเตือน")

    expect(page.locator("[data-testid=notifications-form] h1")).to_have_text("การแจ้งเตือน")
    page.check("input[name=telegram_on]")
    expect(page.locator("[data-channel=telegram]")).to_contain_text("จาก @BotFather")
