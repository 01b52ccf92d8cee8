"""Symbol specs for unit tests, built as brokers define them."""

from __future__ import annotations

from decimal import Decimal as D
from typing import Any

from services.mt5.dto import CALC_MODE_CFDLEVERAGE, SymbolSpec


def make_gold(**overrides: Any) -> SymbolSpec:
    """XAUUSD as most brokers define it: 100 oz, tick 0.01, 1 USD per tick per lot."""
    fields: dict[str, Any] = dict(
        name="XAUUSD",
        calc_mode=CALC_MODE_CFDLEVERAGE,
        digits=2,
        point=D("0.01"),
        tick_size=D("0.01"),
        tick_value=D("1"),
        contract_size=D("100"),
        base_currency="XAU",
        profit_currency="USD",
        margin_currency="USD",
        volume_min=D("0.01"),
        volume_step=D("0.01"),
        volume_max=D("100"),
    )
    fields.update(overrides)
    return SymbolSpec(**fields)
