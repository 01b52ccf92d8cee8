"""calculation_service is the calculator's one entry: what the ledger imports stays there."""

from __future__ import annotations

import pytest

import services.calculation_service as calculation_service

# The names the ledger's sizing imports (workers/sizing.py, and backend/ledger/sizing.py after it).
LEDGER_NAMES = [
    "Policy",
    "RiskSpec",
    "TradePlan",
    "floor_to_step",
    "size_for_account",
    "split_across_take_profits",
    "check_price_grid",
    "named_prices",
]


@pytest.mark.parametrize("name", LEDGER_NAMES)
def test_calculation_service_exports_what_the_ledger_imports(name):
    assert name in calculation_service.__all__
    assert getattr(calculation_service, name) is not None


def test_calculation_service_exports_only_names_it_holds():
    exported = calculation_service.__all__

    missing = [name for name in exported if not hasattr(calculation_service, name)]

    assert missing == []
