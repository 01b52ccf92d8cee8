"""/docs: Swagger UI renders from this server's own files under its strict CSP, offline."""

from __future__ import annotations

from browser.conftest import screenshot


def test_docs_render_every_operation_without_the_internet(page, server):
    page.goto("/docs")

    page.get_by_text("Log in with username (or email) and password").wait_for()
    assert page.locator(".opblock").count() > 30
    screenshot(page, "docs")


def test_docs_try_it_out_calls_this_server(page, server):
    page.goto("/docs")
    operation = page.locator(".opblock", has_text="Health check (no authentication)")
    operation.locator(".opblock-summary").click()
    operation.get_by_role("button", name="Try it out").click()

    with page.expect_response("**/api/status") as answer:
        operation.get_by_role("button", name="Execute").click()

    assert answer.value.status == 200
    operation.locator(".live-responses-table").wait_for()
