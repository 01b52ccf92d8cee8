"""Broadcast (super admin): one trade to many users' accounts, its status, events and cancel."""

from __future__ import annotations

from typing import Any

from apiflask import APIBlueprint
from flask import Response, current_app, jsonify, stream_with_context

from api.access import auth_required, client_ip, current_user
from api.orders import idempotency_key
from extensions import db, mt5_gateway, order_executor, secret_box
from ledger.requests import BroadcastRequest
from schemas.compiled import json_response
from schemas.orders import (
    BroadcastCreatedOut,
    BroadcastIn,
    BroadcastListOut,
    BroadcastStatusQuery,
    DispatchOut,
    PreviewOut,
)
from services import broadcast_service

bp = APIBlueprint("broadcast", __name__, url_prefix="/api", tag="Broadcast")


@bp.post("/broadcast_orders")
@auth_required("super_admin")
@bp.input(BroadcastIn, arg_name="body")
@bp.output(BroadcastCreatedOut, status_code=202)
@bp.doc(
    responses={  # type: ignore[arg-type]
        200: {
            "description": "dry_run: what each target would do; nothing created or sent",
            "content": {"application/json": {"schema": PreviewOut}},
        },
        409: "Concurrent duplicate Idempotency-Key",
        422: "Invalid order, no targets, or Idempotency-Key reused with another body",
    }
)
def broadcast_orders(body: BroadcastRequest) -> Any:
    """Broadcast one order to many users' accounts, each sized for that account"""
    if body.dry_run:
        # A Response skips @bp.output (the 202 shape): the preview has its own.
        return jsonify(PreviewOut().dump(broadcast_service.preview_broadcast(**_preview(body))))
    return broadcast_service.broadcast_orders(
        session=db.session,
        executor=order_executor(),
        admin=current_user(),
        request=body,
        idempotency_key=idempotency_key(),
        ip=client_ip(),
    )


def _preview(body: BroadcastRequest) -> dict[str, Any]:
    return {
        "session": db.session,
        "gateway": mt5_gateway(),
        "box": secret_box(),
        "request": body,
        "day_start_hour": current_app.config["TRADING_DAY_START_UTC"],
    }


@bp.get("/broadcast_status")
@auth_required("super_admin")
@bp.input(BroadcastStatusQuery, location="query", arg_name="query")
@bp.output(DispatchOut)
@bp.doc(
    responses={  # type: ignore[arg-type]
        200: {
            "description": "With broadcast_id: that broadcast (DispatchOut). Without: "
            "`{broadcasts: [...]}` (BroadcastListOut), the most recent first.",
            # Both shapes in the spec, so clients and the fuzzer validate the list too.
            "content": {"application/json": {"schema": {"oneOf": [DispatchOut, BroadcastListOut]}}},
        },
        404: "No such broadcast",
    }
)
def broadcast_status(query: dict[str, Any]) -> Any:
    """Recent broadcasts, or one broadcast's targets and counts"""
    if query.get("broadcast_id") is None:
        # A Response skips @bp.output: dumped through DispatchOut, the list would come back `{}`.
        return jsonify(
            BroadcastListOut().dump({"broadcasts": broadcast_service.list_broadcasts(db.session)})
        )
    view = broadcast_service.broadcast_view(
        db.session,
        admin=current_user(),
        broadcast_id=query["broadcast_id"],
        page=query["page"],
        per_page=query["per_page"],
        after=query.get("after"),
    )
    return json_response(DispatchOut, view)


@bp.get("/broadcasts/<int:broadcast_id>/events")
@auth_required("super_admin")
@bp.doc(
    responses={  # type: ignore[arg-type]
        200: {
            "description": "text/event-stream of target updates until final",
            "content": {"text/event-stream": {"schema": {"type": "string"}}},
        },
        404: "No such broadcast",
    }
)
def broadcast_events(broadcast_id: int) -> Response:
    """Server-Sent Events: target updates until the broadcast is final"""
    stream = broadcast_service.broadcast_events(
        db.session,
        admin=current_user(),
        broadcast_id=broadcast_id,
        wait_changed=order_executor().wait_changed,
    )
    return Response(
        stream_with_context(stream),
        mimetype="text/event-stream",
        headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"},
    )


@bp.post("/broadcasts/<int:broadcast_id>/cancel")
@auth_required("super_admin")
@bp.output(DispatchOut)
@bp.doc(responses={404: "No such broadcast"})
def cancel_broadcast(broadcast_id: int) -> dict[str, Any]:
    """Cancel what has not started; what is in flight finishes and is recorded"""
    return broadcast_service.cancel_broadcast(
        db.session, admin=current_user(), broadcast_id=broadcast_id, ip=client_ip()
    )
