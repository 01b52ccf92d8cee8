"""The calculator's public entry: position sizing by risk, and the sizing steps the ledger uses.

The steps themselves live in ``services/calculation/`` (pure Decimal, no I/O); import them from
here, so the package's layout can change without its callers.
"""

from __future__ import annotations

from services.calculation.conversion import (
    conversion_factor,
    symbol_conversion,
    tick_value_in_account,
)
from services.calculation.legs import reward_per_lot
from services.calculation.margin import margin_in_own_currency, margin_required, max_lots_by_margin
from services.calculation.position import (
    account_terms_from_snapshot,
    calculate_position,
    loss_per_lot,
    risk_money,
    size_for_account,
)
from services.calculation.price_grid import check_price_grid, named_prices
from services.calculation.result import OrderLeg, SizingResult
from services.calculation.terms import (
    AccountTerms,
    Costs,
    Policy,
    RiskBase,
    RiskSpec,
    Side,
    TradePlan,
)
from services.calculation.trade_geometry import SideAndEntry, resolve_side_and_entry
from services.calculation.volume import (
    apply_below_min_policy,
    clamp_to_volume_max,
    floor_to_step,
    lots_within_budget,
    split_across_take_profits,
)

__all__ = [
    "AccountTerms",
    "Costs",
    "OrderLeg",
    "Policy",
    "RiskBase",
    "RiskSpec",
    "Side",
    "SideAndEntry",
    "SizingResult",
    "TradePlan",
    "account_terms_from_snapshot",
    "apply_below_min_policy",
    "calculate_position",
    "check_price_grid",
    "clamp_to_volume_max",
    "conversion_factor",
    "floor_to_step",
    "loss_per_lot",
    "lots_within_budget",
    "margin_in_own_currency",
    "margin_required",
    "max_lots_by_margin",
    "named_prices",
    "resolve_side_and_entry",
    "reward_per_lot",
    "risk_money",
    "size_for_account",
    "split_across_take_profits",
    "symbol_conversion",
    "tick_value_in_account",
]
