"""The symbol catalog, tick values per account currency, and order_calc_margin/profit."""

from decimal import Decimal

import pytest

from mt5sim.broker import Broker
from mt5sim.sim_terminal import SimTerminal
from services.mt5 import constants as c
from services.mt5.catalog import CATALOG, catalog_spec, conversion_rate
from services.mt5.dto import CALC_MODE_CFDLEVERAGE


def make_terminal(server: str = "Sim-Demo", currency: str | None = None) -> SimTerminal:
    broker = Broker(":memory:", seed=1, step_ms=0)
    broker.create_account(1001, "pw", server, currency=currency)
    terminal = SimTerminal(broker)
    assert terminal.initialize(login=1001, password="pw", server=server)
    return terminal


def test_catalog_spec_xauusd_usd_has_gold_contract() -> None:
    spec = catalog_spec("XAUUSD")
    assert spec is not None
    assert spec.contract_size == 100
    assert spec.digits == 2
    assert spec.tick_size == Decimal("0.01")
    assert spec.calc_mode == CALC_MODE_CFDLEVERAGE
    assert (spec.volume_min, spec.volume_step, spec.volume_max) == (
        Decimal("0.01"),
        Decimal("0.01"),
        Decimal(100),
    )
    assert spec.tick_value == Decimal(1)


@pytest.mark.parametrize(
    ("name", "currency", "expected"),
    [
        ("XAUUSD", "USD", Decimal("1")),
        ("XAUUSD", "USC", Decimal("100")),
        ("XAUUSD", "THB", Decimal("36.5")),
        ("XAUUSDc", "USC", Decimal("1")),
        ("XAUUSD.1oz", "USD", Decimal("0.01")),
        ("EURUSD", "USD", Decimal("1")),
        ("EURGBP", "USD", Decimal("1.27")),
        ("USDTHB", "THB", Decimal("100")),
        ("US30", "USD", Decimal("0.5")),
    ],
)
def test_catalog_spec_account_currency_gives_tick_value(
    name: str, currency: str, expected: Decimal
) -> None:
    spec = catalog_spec(name, currency)
    assert spec is not None
    assert spec.tick_value == expected


def test_catalog_spec_usdjpy_on_usd_divides_by_the_pair() -> None:
    spec = catalog_spec("USDJPY", "USD")
    assert spec is not None
    assert spec.tick_value.quantize(Decimal("0.000001")) == Decimal("0.645161")


def test_catalog_spec_gbpjpy_on_thb_crosses_through_usd() -> None:
    spec = catalog_spec("GBPJPY", "THB")
    assert spec is not None
    assert spec.tick_value.quantize(Decimal("0.0001")) == Decimal("23.5484")  # 100 / 155 * 36.5


def test_catalog_spec_given_rates_are_used() -> None:
    spec = catalog_spec("XAUUSD", "EUR", rates={"EURUSD": Decimal("1.25")})
    assert spec is not None
    assert spec.tick_value == Decimal("0.8")


def test_catalog_spec_missing_quote_raises() -> None:
    with pytest.raises(LookupError, match="missing_conversion_rate"):
        catalog_spec("XAUUSD", "THB", rates={})


def test_catalog_spec_unknown_symbol_is_none() -> None:
    assert catalog_spec("NOPE") is None


def test_conversion_rate_cent_is_one_hundredth_of_a_dollar() -> None:
    assert conversion_rate("USC", "USD", {}) == Decimal("0.01")


def test_catalog_index_tick_size_differs_from_point() -> None:
    us30 = CATALOG["US30"]
    assert us30.tick_size != us30.point
    assert (us30.spread_points * us30.point) % us30.tick_size == 0


@pytest.mark.parametrize(
    ("currency", "margin", "profit"),
    [("USD", 2350.0, 1000.0), ("USC", 235000.0, 100000.0), ("THB", 85775.0, 36500.0)],
)
def test_order_calc_xauusd_account_currency_gives_money(
    currency: str, margin: float, profit: float
) -> None:
    terminal = make_terminal(currency=currency)
    assert terminal.order_calc_margin(c.ORDER_TYPE_BUY, "XAUUSD", 1.0, 2350.0) == margin
    assert terminal.order_calc_profit(c.ORDER_TYPE_BUY, "XAUUSD", 1.0, 2350.0, 2360.0) == profit


def test_order_calc_usdjpy_on_usd_converts_at_close_price() -> None:
    terminal = make_terminal()
    assert terminal.order_calc_margin(c.ORDER_TYPE_BUY, "USDJPY", 1.0, 155.0) == 1000.0
    profit = terminal.order_calc_profit(c.ORDER_TYPE_BUY, "USDJPY", 1.0, 155.0, 156.0)
    assert profit == 641.03  # 100000 JPY / 156


def test_order_calc_eurgbp_on_usd_converts_both_currencies() -> None:
    terminal = make_terminal()
    assert terminal.order_calc_margin(c.ORDER_TYPE_SELL, "EURGBP", 1.0, 0.8543) == 1085.0
    profit = terminal.order_calc_profit(c.ORDER_TYPE_SELL, "EURGBP", 1.0, 0.8543, 0.8533)
    assert profit == 127.0  # 100 GBP * GBPUSD 1.27


def test_order_calc_index_cfd_uses_margin_rate() -> None:
    terminal = make_terminal()
    assert terminal.order_calc_margin(c.ORDER_TYPE_BUY, "US30", 1.0, 39000.0) == 390.0


def test_order_calc_unknown_symbol_returns_none_with_error() -> None:
    terminal = make_terminal()
    assert terminal.order_calc_margin(c.ORDER_TYPE_BUY, "NOPE", 1.0, 1.0) is None
    assert terminal.last_error()[0] == c.RES_E_NOT_FOUND


def test_symbol_info_cent_account_reports_tick_value_in_cents() -> None:
    terminal = make_terminal(server="Sim-Cent")
    info = terminal.symbol_info("XAUUSDc")
    assert info.trade_tick_value == 1.0
    assert terminal.symbol_info("XAUUSD").trade_tick_value == 100.0
    assert terminal.account_info().currency == "USC"
