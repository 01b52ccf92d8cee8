"""The tick grid: every price of an order or a trade a whole number of the symbol's tick size."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from decimal import ROUND_FLOOR, Context, Decimal, localcontext
from typing import Any, Protocol

from errors import CalculationError
from services.mt5.dto import to_decimal


class HasTickSize(Protocol):
    """A symbol spec, or the catalog's contract: its name and the step its prices move in."""

    @property
    def name(self) -> str: ...
    @property
    def tick_size(self) -> Decimal: ...


# Prices carry at most 12 places and 16 integer digits: a quotient of 60 digits is exact.
_GRID_CONTEXT = Context(prec=60)


def check_price_grid(spec: HasTickSize, prices: Mapping[str, Decimal | None]) -> None:
    """Refuse the first price that is not a whole number of ``spec.tick_size`` steps.

    ``prices`` maps a field name (``"stop_loss"``, ``"take_profits[0].price"``) to its price;
    None is skipped, and so is a spec without a positive tick size (the spec checks report it).
    Raises ``price_off_tick_grid`` (422) with the field, the tick size and the two nearest
    prices on the grid.
    """
    tick = to_decimal(spec.tick_size)
    if not tick.is_finite() or tick <= 0:
        return
    with localcontext(_GRID_CONTEXT):
        for field, value in prices.items():
            if value is None:
                continue
            price = to_decimal(value)
            steps = price / tick
            if steps == steps.to_integral_value():
                continue
            lower = steps.to_integral_value(rounding=ROUND_FLOOR) * tick
            nearest = [format(lower, "f"), format(lower + tick, "f")]
            raise CalculationError(
                f"{field} {price} is not on {spec.name}'s tick grid (steps of {tick}); "
                f"the nearest prices are {nearest[0]} and {nearest[1]}.",
                code="price_off_tick_grid",
                details={
                    "field": field,
                    "price": format(price, "f"),
                    "tick_size": format(tick, "f"),
                    "nearest": nearest,
                },
            )


def named_prices(fields: Mapping[str, Any], names: Sequence[str]) -> dict[str, Decimal | None]:
    """The prices of an order or a trade by field name, take profits as ``take_profits[i].price``.

    Values may be Decimals or the decimal strings a stored order holds.
    """
    out: dict[str, Decimal | None] = {
        name: None if fields.get(name) is None else to_decimal(fields[name]) for name in names
    }
    for index, tp in enumerate(fields.get("take_profits") or []):
        out[f"take_profits[{index}].price"] = to_decimal(tp["price"])
    return out
