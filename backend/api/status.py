"""Health check: is the server, its database and its default MT5 terminal alive."""

from __future__ import annotations

from typing import Any

from apiflask import APIBlueprint, Schema, fields
from flask import current_app

from services import status_service

bp = APIBlueprint("status", __name__, url_prefix="/api", tag="Status")


class StatusOut(Schema):
    status = fields.String(metadata={"enum": ["ok", "degraded"]})
    version = fields.String()
    uptime_s = fields.Float()
    database = fields.Dict(metadata={"description": "`{ok, backend}`"})
    gateway = fields.Dict(metadata={"description": "The default MT5 terminal's reachability."})
    executor = fields.Dict()


@bp.get("/status")
@bp.output(StatusOut)
@bp.doc(responses={503: "The database is unreachable"})
def status() -> tuple[dict[str, Any], int]:
    """Health check (no authentication)"""
    body = status_service.health(current_app)
    return body, 200 if body["database"]["ok"] else 503
