"""The audit log, for admins."""

from __future__ import annotations

from typing import Any

from apiflask import APIBlueprint, Schema, fields
from apiflask.validators import Length, Range

from api.access import auth_required
from extensions import db
from services import audit_service

bp = APIBlueprint("audit", __name__, url_prefix="/api", tag="Audit")


class AuditQuery(Schema):
    page = fields.Integer(load_default=1, validate=Range(min=1, max=1_000_000))
    per_page = fields.Integer(load_default=50, validate=Range(min=1, max=1000))
    user_id = fields.Integer(validate=Range(min=1, max=2**31))
    event = fields.String(validate=Length(max=50))


class AuditEntryOut(Schema):
    id = fields.Integer()
    created_at = fields.DateTime()
    event = fields.String()
    actor_id = fields.Integer(allow_none=True)
    subject_user_id = fields.Integer(allow_none=True)
    target_type = fields.String(allow_none=True)
    target_id = fields.Integer(allow_none=True)
    ip = fields.String(allow_none=True)
    details = fields.Dict(allow_none=True)


class AuditPageOut(Schema):
    events = fields.List(fields.Nested(AuditEntryOut))
    page = fields.Integer()
    per_page = fields.Integer()
    total = fields.Integer()


@bp.get("/audit")
@auth_required("admin")
@bp.input(AuditQuery, location="query", arg_name="query")
@bp.output(AuditPageOut)
def list_audit(query: dict[str, Any]) -> dict[str, Any]:
    """Audit events, newest first, filtered by user or event (admin)"""
    events, total = audit_service.list_events(session=db.session, **query)
    return {"events": events, "total": total, "page": query["page"], "per_page": query["per_page"]}
