"""check_price_grid: a price is a whole number of tick_size steps, or a 422 price_off_tick_grid."""

from __future__ import annotations

from dataclasses import replace
from decimal import Decimal

import pytest

from errors import CalculationError
from services.calculation_service import check_price_grid, named_prices
from services.mt5.catalog import CATALOG, catalog_spec

GOLD = catalog_spec("XAUUSD")
assert GOLD is not None and GOLD.tick_size == Decimal("0.01")
HALF_TICK = next(s for s in CATALOG.values() if s.tick_size == Decimal("0.5"))


@pytest.mark.parametrize("price", ["2350", "2350.00", "2350.01", "2350.010000", "0.01", "1E+3"])
def test_check_price_grid_on_grid_price_passes(price: str) -> None:
    check_price_grid(GOLD, {"price": Decimal(price)})


@pytest.mark.parametrize(
    ("price", "nearest"),
    [
        ("2350.005", ["2350.00", "2350.01"]),
        ("2300.0001", ["2300.00", "2300.01"]),
        ("0.001", ["0.00", "0.01"]),
        ("2350.019999999999", ["2350.01", "2350.02"]),
    ],
)
def test_check_price_grid_off_grid_price_raises_422_with_nearest(
    price: str, nearest: list[str]
) -> None:
    with pytest.raises(CalculationError) as caught:
        check_price_grid(GOLD, {"entry": Decimal("2350.00"), "stop_loss": Decimal(price)})

    error = caught.value
    assert (error.status_code, error.code) == (422, "price_off_tick_grid")
    assert error.details == {
        "field": "stop_loss",
        "price": price,
        "tick_size": "0.01",
        "nearest": nearest,
    }


def test_check_price_grid_tick_larger_than_point_follows_the_tick() -> None:
    check_price_grid(HALF_TICK, {"price": Decimal("18000.5")})
    with pytest.raises(CalculationError) as caught:
        check_price_grid(HALF_TICK, {"price": Decimal("18000.3")})
    assert caught.value.details["nearest"] == ["18000.0", "18000.5"]


def test_check_price_grid_skips_missing_prices_and_specs_without_a_tick() -> None:
    check_price_grid(GOLD, {"price": None, "stop_loss": None})
    check_price_grid(replace(GOLD, tick_size=Decimal(0)), {"price": Decimal("2350.005")})


def test_check_price_grid_reports_the_first_off_grid_field() -> None:
    prices = named_prices(
        {
            "price": "2350.00",
            "stop_loss": "2340.00",
            "take_profits": [
                {"price": "2360.00", "share_percent": "50"},
                {"price": "2370.005", "share_percent": "50"},
            ],
        },
        ("price", "stop_loss"),
    )
    with pytest.raises(CalculationError) as caught:
        check_price_grid(GOLD, prices)
    assert caught.value.details["field"] == "take_profits[1].price"


def test_named_prices_reads_decimal_strings_and_leaves_missing_ones_none() -> None:
    assert named_prices({"price": "2350.10"}, ("price", "stop_loss")) == {
        "price": Decimal("2350.10"),
        "stop_loss": None,
    }
