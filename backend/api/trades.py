"""Trade management: modify, breakeven, close and cancel, on one account or a dispatch's targets."""

from __future__ import annotations

from typing import Any

from apiflask import APIBlueprint, Schema

from api.access import auth_required, client_ip, current_user
from api.orders import idempotency_key
from extensions import db, mt5_gateway, order_executor, secret_box
from ledger.actions import TradeAction
from ledger.automation import Automation
from schemas.orders import AutomationPatchIn, DispatchOut
from schemas.trades import (
    ActionCreatedOut,
    BreakevenIn,
    CloseAllIn,
    DispatchActionIn,
    OrderChangeIn,
    PositionCloseIn,
    PositionStopsIn,
    WaitQuery,
)
from services import trades_service
from services.trades_service import AccountAction

bp = APIBlueprint("trades", __name__, url_prefix="/api", tag="Trades")

ACCOUNT_ACTION_DOC = {
    200: "The action's dispatch: every target final within wait_s",
    202: "Accepted: not final within wait_s; poll GET /api/dispatches/{id}",
    404: "No such account (or not yours), position (position_not_found) or pending order "
    "(order_not_found)",
    409: "Concurrent duplicate Idempotency-Key",
    422: "Invalid body, no open position to act on (no_open_trades), or Idempotency-Key reused "
    "with another body",
    502: "The terminal could not be reached (mt5_unavailable)",
    504: "The terminal did not answer in time (mt5_timeout)",
}
DISPATCH_ACTION_DOC = {
    202: "Accepted: the action's id; follow it at GET /api/dispatches/{action_id}",
    404: "No such dispatch (or not yours)",
    409: "Concurrent duplicate Idempotency-Key",
    422: "Invalid body, legs beyond the dispatch's (invalid_legs), an action's dispatch "
    "(not_an_open), nothing open (no_open_trades), or Idempotency-Key reused",
}


def _on_account(
    account_id: int, action: TradeAction, ticket: int | None, query: dict[str, Any]
) -> tuple[dict[str, Any], int]:
    view, final = trades_service.act_on_account(
        session=db.session,
        gateway=mt5_gateway(),
        executor=order_executor(),
        box=secret_box(),
        user=current_user(),
        request=AccountAction(account_id=account_id, action=action, ticket=ticket),
        wait_s=query.get("wait_s"),
        idempotency_key=idempotency_key(),
        ip=client_ip(),
    )
    return view, 200 if final else 202


def account_action(method: str, rule: str, body: type[Schema] | None = None) -> Any:
    """The contract every account-level action shares: the owner's JWT or key, the body loaded
    into a TradeAction, ``?wait_s=``, and the action's dispatch view (200 final, 202 not yet)."""

    def register(view: Any) -> Any:
        view = bp.doc(responses=ACCOUNT_ACTION_DOC)(view)
        view = bp.output(DispatchOut)(view)
        view = bp.input(WaitQuery, location="query", arg_name="query")(view)
        if body is not None:
            view = bp.input(body, arg_name="action")(view)
        view = auth_required()(view)
        return bp.route(rule, methods=[method])(view)

    return register


POSITION = "/accounts/<int:account_id>/positions/<int:ticket>"
ORDER = "/accounts/<int:account_id>/orders/<int:ticket>"


@account_action("PATCH", POSITION, PositionStopsIn)
def modify_position(
    account_id: int, ticket: int, action: TradeAction, query: dict[str, Any]
) -> tuple[dict[str, Any], int]:
    """Move a position's stop loss and/or take profit (an omitted one is kept; null removes)"""
    return _on_account(account_id, action, ticket, query)


@account_action("POST", f"{POSITION}/close", PositionCloseIn)
def close_position(
    account_id: int, ticket: int, action: TradeAction, query: dict[str, Any]
) -> tuple[dict[str, Any], int]:
    """Close a position: all of it, `volume` lots, or `percent` of it"""
    return _on_account(account_id, action, ticket, query)


@account_action("POST", f"{POSITION}/breakeven", BreakevenIn)
def breakeven_position(
    account_id: int, ticket: int, action: TradeAction, query: dict[str, Any]
) -> tuple[dict[str, Any], int]:
    """Move a position's stop loss to its open price (plus offset_points in its favour)"""
    return _on_account(account_id, action, ticket, query)


@account_action("POST", "/accounts/<int:account_id>/positions/close_all", CloseAllIn)
def close_all_positions(
    account_id: int, action: TradeAction, query: dict[str, Any]
) -> tuple[dict[str, Any], int]:
    """Close every open position of the account (optionally one symbol, one side)"""
    return _on_account(account_id, action, None, query)


@account_action("PATCH", ORDER, OrderChangeIn)
def modify_order(
    account_id: int, ticket: int, action: TradeAction, query: dict[str, Any]
) -> tuple[dict[str, Any], int]:
    """Change a pending order's price, stops or expiration (omitted fields are kept)"""
    return _on_account(account_id, action, ticket, query)


@account_action("DELETE", ORDER)
def cancel_order(account_id: int, ticket: int, query: dict[str, Any]) -> tuple[dict[str, Any], int]:
    """Cancel a pending order"""
    return _on_account(account_id, trades_service.CANCEL, ticket, query)


def _on_dispatch(dispatch_id: int, body: dict[str, Any], *, broadcasts_only: bool) -> Any:
    return trades_service.act_on_dispatch(
        session=db.session,
        executor=order_executor(),
        user=current_user(),
        dispatch_id=dispatch_id,
        action=body["action"],
        expires_in_s=body["expires_in_s"],
        broadcasts_only=broadcasts_only,
        idempotency_key=idempotency_key(),
        ip=client_ip(),
    )


@bp.post("/dispatches/<int:dispatch_id>/actions")
@auth_required()
@bp.input(DispatchActionIn, arg_name="body")
@bp.output(ActionCreatedOut, status_code=202)
@bp.doc(responses=DISPATCH_ACTION_DOC)
def dispatch_action(dispatch_id: int, body: dict[str, Any]) -> Any:
    """Follow up one of your dispatches on every target it opened (modify, breakeven, close,
    cancel_pending)"""
    return _on_dispatch(dispatch_id, body, broadcasts_only=False)


@bp.post("/broadcasts/<int:broadcast_id>/actions")
@auth_required("super_admin")
@bp.input(DispatchActionIn, arg_name="body")
@bp.output(ActionCreatedOut, status_code=202)
@bp.doc(responses=DISPATCH_ACTION_DOC)
def broadcast_action(broadcast_id: int, body: dict[str, Any]) -> Any:
    """Follow up a broadcast on every follower's account it reached (modify, breakeven, close,
    cancel_pending)"""
    return _on_dispatch(broadcast_id, body, broadcasts_only=True)


AUTOMATION_DOC = {
    404: "No such dispatch (or not yours)",
    422: "Invalid rules (invalid_automation: a take profit the order does not have), or an "
    "action's dispatch (not_an_open)",
}


def _automation(dispatch_id: int, automation: Automation, *, broadcasts_only: bool) -> Any:
    return trades_service.set_automation(
        session=db.session,
        user=current_user(),
        dispatch_id=dispatch_id,
        automation=automation,
        broadcasts_only=broadcasts_only,
        ip=client_ip(),
    )


@bp.patch("/dispatches/<int:dispatch_id>/automation")
@auth_required()
@bp.input(AutomationPatchIn, arg_name="automation")
@bp.output(DispatchOut)
@bp.doc(responses=AUTOMATION_DOC)
def dispatch_automation(dispatch_id: int, automation: Automation) -> Any:
    """Replace the server-side rules of one of your dispatches (`{}` removes them)"""
    return _automation(dispatch_id, automation, broadcasts_only=False)


@bp.patch("/broadcasts/<int:broadcast_id>/automation")
@auth_required("super_admin")
@bp.input(AutomationPatchIn, arg_name="automation")
@bp.output(DispatchOut)
@bp.doc(responses=AUTOMATION_DOC)
def broadcast_automation(broadcast_id: int, automation: Automation) -> Any:
    """Replace the server-side rules of a broadcast (`{}` removes them)"""
    return _automation(broadcast_id, automation, broadcasts_only=True)
