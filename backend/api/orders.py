"""send_orders and a user's view of their dispatches."""

from __future__ import annotations

from typing import Any

from apiflask import APIBlueprint
from flask import current_app, jsonify, request

from api.access import auth_required, client_ip, current_user
from errors import AppError
from extensions import db, mt5_gateway, order_executor, secret_box
from ledger.requests import SendOrdersRequest
from schemas.compiled import json_response
from schemas.orders import DispatchOut, DispatchQuery, PreviewOut, SendOrdersIn
from services import orders_service

bp = APIBlueprint("orders", __name__, url_prefix="/api", tag="Orders")
IDEMPOTENCY_DOC = {
    "Idempotency-Key": {
        "description": "Recommended. The same key and body return the same dispatch; another body "
        "under the same key is a 422; a concurrent duplicate is a 409.",
        "schema": {"type": "string", "maxLength": 255},
    }
}


def idempotency_key() -> str | None:
    key = request.headers.get("Idempotency-Key")
    if key is None:
        return None
    key = key.strip()
    if not 1 <= len(key) <= 255 or not key.isprintable():
        raise AppError(
            "Idempotency-Key must be 1-255 printable characters.",
            code="invalid_idempotency_key",
            status_code=400,
        )
    return key


@bp.post("/send_orders")
@auth_required()
@bp.input(SendOrdersIn, arg_name="body")  # loads into a SendOrdersRequest
@bp.output(DispatchOut, status_code=200)
@bp.doc(
    responses={  # type: ignore[arg-type]
        200: {
            "description": "The dispatch (DispatchOut); with dry_run, what each account would "
            "do (PreviewOut), nothing created or sent.",
            "content": {"application/json": {"schema": {"oneOf": [DispatchOut, PreviewOut]}}},
        },
        202: "Accepted: not all targets final within wait_s; poll GET /api/dispatches/{id}",
        404: "An account is not the caller's",
        409: "Concurrent duplicate Idempotency-Key",
        422: "Invalid order or Idempotency-Key reused with another body",
    }
)
def send_orders(body: SendOrdersRequest) -> Any:
    """Send one order to several of the caller's own MT5 accounts"""
    if body.dry_run:
        # A Response skips @bp.output (the dispatch shape): the preview has its own.
        preview = orders_service.preview_orders(
            session=db.session, gateway=mt5_gateway(), box=secret_box(), user=current_user(),
            request=body, day_start_hour=current_app.config["TRADING_DAY_START_UTC"],
        )  # fmt: skip
        return jsonify(PreviewOut().dump(preview))
    view, final = orders_service.send_orders(
        session=db.session,
        executor=order_executor(),
        user=current_user(),
        request=body,
        idempotency_key=idempotency_key(),
        ip=client_ip(),
    )
    return view, 200 if final else 202


@bp.get("/dispatches/<int:dispatch_id>")
@auth_required()
@bp.input(DispatchQuery, location="query", arg_name="query")
@bp.output(DispatchOut)
@bp.doc(responses={404: "No such dispatch (or not the caller's)"})
def get_dispatch(dispatch_id: int, query: dict[str, Any]) -> Any:
    """One of the caller's dispatches with every target's status"""
    view = orders_service.get_dispatch(
        db.session, user=current_user(), dispatch_id=dispatch_id, **query
    )
    return json_response(DispatchOut, view)
