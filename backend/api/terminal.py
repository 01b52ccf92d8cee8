"""An account's terminal: connect it, read its positions, deals and symbols (own accounts only)."""

from __future__ import annotations

from typing import Any

from apiflask import APIBlueprint

from api.access import auth_required, current_user
from extensions import db, mt5_gateway, secret_box
from schemas.accounts import EquityOut, EquityQuery
from schemas.terminal import (
    ConnectOut,
    DealListOut,
    DealsQuery,
    PositionListOut,
    PositionsQuery,
    QuoteOut,
    SymbolOut,
)
from schemas.trades import PendingOrderListOut
from services import terminal_service

bp = APIBlueprint("terminal", __name__, url_prefix="/api", tag="Terminal")
MT5_ERRORS = {
    404: "No such account (or not yours)",
    502: "The terminal could not be reached (mt5_unavailable)",
    504: "The terminal did not answer in time (mt5_timeout)",
}
SYMBOL_ERRORS = {**MT5_ERRORS, 422: "The broker has no such symbol (unknown_symbol)"}


def _context(account_id: int) -> dict[str, Any]:
    return {"session": db.session, "gateway": mt5_gateway(), "user": current_user(),
            "account_id": account_id, "box": secret_box()}  # fmt: skip


@bp.post("/accounts/<int:account_id>/connect")
@auth_required()
@bp.output(ConnectOut)
@bp.doc(responses={**MT5_ERRORS, 422: "Wrong MT5 login or password (mt5_auth_failed)"})
def connect_account(account_id: int) -> dict[str, Any]:
    """Connect an MT5 account: log in on its terminal and record the outcome"""
    return terminal_service.connect_account(**_context(account_id))


@bp.get("/accounts/<int:account_id>/positions")
@auth_required()
@bp.input(PositionsQuery, location="query", arg_name="query")
@bp.output(PositionListOut)
@bp.doc(responses=MT5_ERRORS)
def list_positions(account_id: int, query: dict[str, Any]) -> dict[str, Any]:
    """Open positions on an MT5 account"""
    positions = terminal_service.list_positions(**_context(account_id), symbol=query.get("symbol"))
    return {"positions": positions}


@bp.get("/accounts/<int:account_id>/orders")
@auth_required()
@bp.input(PositionsQuery, location="query", arg_name="query")
@bp.output(PendingOrderListOut)
@bp.doc(responses=MT5_ERRORS)
def list_orders(account_id: int, query: dict[str, Any]) -> dict[str, Any]:
    """Pending orders on an MT5 account (not filled yet)"""
    orders = terminal_service.list_orders(**_context(account_id), symbol=query.get("symbol"))
    return {"orders": orders}


@bp.get("/accounts/<int:account_id>/deals")
@auth_required()
@bp.input(DealsQuery, location="query", arg_name="query")
@bp.output(DealListOut)
@bp.doc(responses={**MT5_ERRORS, 422: "`to` before `from`, or not ISO datetimes"})
def list_deals(account_id: int, query: dict[str, Any]) -> dict[str, Any]:
    """Deal history of an MT5 account (default: the last 7 days)"""
    return terminal_service.list_deals(
        **_context(account_id), date_from=query.get("date_from"), date_to=query.get("date_to")
    )


@bp.get("/accounts/<int:account_id>/equity")
@auth_required()
@bp.input(EquityQuery, location="query", arg_name="query")
@bp.output(EquityOut)
@bp.doc(
    responses={
        404: "No such account (or not yours)",
        422: "`to` before `from`, or not ISO datetimes",
    }
)
def equity_history(account_id: int, query: dict[str, Any]) -> dict[str, Any]:
    """Balance and equity history of an MT5 account, as the session keeper recorded it

    One point a minute at most (the newest heartbeat of the minute), thinned to one per quarter
    hour after a day and kept EQUITY_HISTORY_DAYS; a window answers at most 500 points, evenly
    bucketed. Default: the last 7 days. Read from the database, never from the terminal.
    """
    return terminal_service.equity_history(
        session=db.session, user=current_user(), account_id=account_id,
        date_from=query.get("date_from"), date_to=query.get("date_to"),
    )  # fmt: skip


@bp.get("/accounts/<int:account_id>/symbols/<symbol>")
@auth_required()
@bp.output(SymbolOut)
@bp.doc(responses=SYMBOL_ERRORS)
def symbol_spec(account_id: int, symbol: str) -> dict[str, Any]:
    """A symbol's contract on an MT5 account's broker (resolved to the broker's name)"""
    return terminal_service.symbol_spec(**_context(account_id), symbol=symbol)


@bp.get("/accounts/<int:account_id>/quote/<symbol>")
@auth_required()
@bp.output(QuoteOut)
@bp.doc(responses=SYMBOL_ERRORS)
def quote(account_id: int, symbol: str) -> dict[str, Any]:
    """A symbol's current quote on an MT5 account's terminal: bid, ask, spread in points, time"""
    return terminal_service.quote(**_context(account_id), symbol=symbol)
