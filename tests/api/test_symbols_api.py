"""GET /api/symbols and /api/symbols/<name>: the built-in catalog the calculator works from."""

from __future__ import annotations

import pytest
from factories import assert_error, auth_headers, make_user

SUMMARY_FIELDS = {
    "name", "description", "calc_mode", "digits", "contract_size", "volume_min", "volume_step",
    "volume_max", "base_currency", "profit_currency", "margin_currency",
}  # fmt: skip


@pytest.fixture
def headers(client, app):
    return auth_headers(client, make_user(app))


def test_list_symbols_returns_whole_catalog(client, headers):
    from services.mt5.catalog import CATALOG

    response = client.get("/api/symbols", headers=headers)

    assert response.status_code == 200
    symbols = response.get_json()["symbols"]
    assert [s["name"] for s in symbols] == list(CATALOG)
    assert all(set(s) == SUMMARY_FIELDS for s in symbols)


def test_list_symbols_gold_has_calc_mode_name_and_decimal_strings(client, headers):
    symbols = client.get("/api/symbols", headers=headers).get_json()["symbols"]

    gold = next(s for s in symbols if s["name"] == "XAUUSD")

    assert gold["calc_mode"] == "cfdleverage"
    assert gold["contract_size"] == "100"
    assert (gold["volume_min"], gold["volume_step"], gold["volume_max"]) == ("0.01", "0.01", "100")
    assert gold["profit_currency"] == "USD"


def test_get_symbol_default_currency_returns_usd_tick_value(client, headers):
    response = client.get("/api/symbols/XAUUSD", headers=headers)

    assert response.status_code == 200
    spec = response.get_json()
    assert spec["tick_value"] == "1.00"
    assert spec["tick_size"] == "0.01"
    assert spec["trade_stops_level"] == 10
    assert spec["calc_mode"] == "cfdleverage"


@pytest.mark.parametrize(
    ("currency", "tick_value"), [("USD", "1.00"), ("USC", "100.00"), ("THB", "36.50000")]
)
def test_get_symbol_in_currency_converts_tick_value(client, headers, currency, tick_value):
    response = client.get(f"/api/symbols/XAUUSD?currency={currency}", headers=headers)

    assert response.status_code == 200
    assert response.get_json()["tick_value"] == tick_value


def test_get_symbol_index_keeps_tick_size_apart_from_point(client, headers):
    spec = client.get("/api/symbols/US30", headers=headers).get_json()

    assert (spec["point"], spec["tick_size"]) == ("0.1", "0.5")


def test_get_symbol_unknown_returns_404_unknown_symbol(client, headers):
    response = client.get("/api/symbols/NOSUCH", headers=headers)

    error = assert_error(response, 404, "unknown_symbol")
    assert error["details"]["symbol"] == "NOSUCH"


def test_get_symbol_unknown_lists_same_stem_candidates(client, headers):
    response = client.get("/api/symbols/XAUEUR", headers=headers)

    error = assert_error(response, 404, "unknown_symbol")
    assert "XAUUSD" in error["details"]["candidates"]
    assert all(name.startswith("XAU") for name in error["details"]["candidates"])


def test_get_symbol_unsupported_currency_returns_422(client, headers):
    response = client.get("/api/symbols/XAUUSD?currency=GBP", headers=headers)

    assert_error(response, 422, "validation_error")


@pytest.mark.parametrize("path", ["/api/symbols", "/api/symbols/XAUUSD"])
def test_symbols_without_credentials_returns_401(client, path):
    assert_error(client.get(path), 401, "unauthorized")


def test_openapi_documents_unknown_symbol_404(client):
    spec = client.get("/openapi.json").get_json()

    responses = spec["paths"]["/api/symbols/{name}"]["get"]["responses"]

    assert "unknown_symbol" in responses["404"]["description"]
