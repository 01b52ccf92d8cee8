"""Position-size calculator and the built-in symbol catalog it works from."""

from __future__ import annotations

from typing import Any, cast

from apiflask import APIBlueprint
from flask import Response, current_app
from sqlalchemy.orm import Session

from api.access import auth_required, current_user
from extensions import db, mt5_gateway, secret_box
from schemas.calculator import (
    ROUNDING_NOTE,
    CalculateIn,
    CalculationOut,
    SymbolListOut,
    SymbolQuery,
    SymbolSpecOut,
)
from services import calculation_service, symbols_service

bp = APIBlueprint("calculator", __name__, url_prefix="/api", tag="Calculator")

CALCULATION_ERRORS = {
    "sl_equals_entry": "the stop loss equals the entry price",
    "sl_wrong_side": "the stop loss is on the wrong side for the side (or inside the spread)",
    "below_min_volume": "the risk buys less than volume_min (details: min_lot_risk_money, "
    "min_lot_risk_percent); policy.below_min=raise trades the minimum instead",
    "missing_conversion_rate": "no quote in `rates` converts the profit currency into the "
    "account currency (a rate of 1 is never assumed)",
    "unknown_symbol": "the terminal or the catalog has no such symbol (details: candidates)",
    "invalid_symbol_spec": "the symbol spec's numbers cannot describe a contract",
    "price_off_tick_grid": "entry, stop_loss, a take profit, bid or ask is not a whole number "
    "of the symbol's tick_size (details: field, price, tick_size, nearest)",
    "stop_too_close": "the stop is inside the symbol's trade_stops_level",
    "take_profit_wrong_side": "a take profit is not beyond the entry in the trade's favour",
    "shares_do_not_sum_to_100": "the take-profit shares do not add up to 100",
    "invalid_risk": "the risk percent is above 100, or the risk rounds to nothing",
    "missing_account_value": "the risk base (equity, free margin) or the free margin for "
    "cap_by_margin is not given",
    "missing_price": "no entry for a pending order, or no bid/ask/entry for a market order",
    "insufficient_margin": "cap_by_margin and the free margin does not carry volume_min",
    "invalid_account_terms": "the account terms cannot be used (e.g. no currency)",
}
CALCULATE_DESCRIPTION = (
    "Lots for a trade so that hitting the stop loses at most the risk money. With `account_id` "
    "the account's live balance, currency, leverage, free margin, its terminal's symbol spec and "
    "(for a market order without bid/ask) its current tick are used.\n\n"
    f"Rounding: {ROUNDING_NOTE}\n\nErrors (422 unless noted, `error.code`):\n\n"
    + "\n".join(f"- `{code}`: {text}" for code, text in CALCULATION_ERRORS.items())
    + "\n- `validation_error`: the body does not match the schema (e.g. neither or both of "
    "account and account_id, both risk.percent and risk.amount, an unknown enum value, true, "
    "NaN or an out-of-range number)\n- `account_not_found` (404): no such account of the caller"
    "\n- `mt5_*` (502/504, 422 for mt5_auth_failed): the account's terminal failed"
)


@bp.post("/calculate")
@auth_required()
@bp.input(CalculateIn, arg_name="body")
@bp.output(CalculationOut)
@bp.doc(
    description=CALCULATE_DESCRIPTION,
    responses={404: "account_not_found", 422: "validation_error or a calculation error code"},
)
def calculate(body: dict[str, Any]) -> Response:
    """Position size by risk"""
    result = calculation_service.calculate(
        session=cast(Session, db.session),
        gateway=mt5_gateway(),
        box=secret_box(),
        user=current_user(),
        request=body,
    )
    # The service returns the wire form already (decimal strings, CalculationOut's fields), so
    # it is written as is: dumping it through the schema again cost a tenth of the request.
    # tests/api/test_fuzz.py checks every response against the schema.
    return cast(Response, current_app.json.response(result))


@bp.get("/symbols")
@auth_required()
@bp.output(SymbolListOut)
def list_symbols() -> dict[str, Any]:
    """The built-in symbol catalog (the simulator's contracts)"""
    return {"symbols": symbols_service.list_catalog_symbols()}


@bp.get("/symbols/<name>")
@auth_required()
@bp.input(SymbolQuery, location="query", arg_name="query")
@bp.output(SymbolSpecOut)
@bp.doc(responses={404: "unknown_symbol: not in the catalog"})
def get_symbol(name: str, query: dict[str, Any]) -> dict[str, Any]:
    """One catalog symbol's full spec, tick value in the given account currency"""
    return symbols_service.catalog_symbol(name, query["currency"])
