"""Schemas of a follower's dispatch list (the dispatches that reached their accounts)."""

from __future__ import annotations

from apiflask import Schema, fields
from apiflask.validators import Range

from ledger.types import DISPATCH_STATUSES


class MyDispatchesQuery(Schema):
    page = fields.Integer(load_default=1, validate=Range(min=1, max=1_000_000))
    per_page = fields.Integer(load_default=50, validate=Range(min=1, max=500))


class MyDispatchOut(Schema):
    dispatch_id = fields.Integer()
    kind = fields.String(metadata={"enum": ["orders", "broadcast", "action"]})
    parent_id = fields.Integer(allow_none=True)
    symbol = fields.String(allow_none=True)
    side = fields.String(allow_none=True)
    action = fields.String(allow_none=True, metadata={"description": "An action: what it did."})
    status = fields.String(
        metadata={"enum": list(DISPATCH_STATUSES), "description": "Of your rows only."}
    )
    counts = fields.Dict(
        keys=fields.String(),
        values=fields.Integer(),
        metadata={"description": "Your rows by status."},
    )
    account_ids = fields.List(
        fields.Integer(), metadata={"description": "Your accounts it reached."}
    )
    created_at = fields.DateTime()
    finished_at = fields.DateTime(allow_none=True)


class MyDispatchListOut(Schema):
    dispatches = fields.List(fields.Nested(MyDispatchOut))
    total = fields.Integer()
    page = fields.Integer()
    per_page = fields.Integer()
