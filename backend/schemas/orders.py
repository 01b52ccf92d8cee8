"""Schemas for send_orders, broadcast_orders and the dispatch status they report."""

from __future__ import annotations

from typing import Any

from apiflask import Schema, fields
from apiflask.validators import Length, OneOf, Range
from marshmallow import ValidationError, post_load, validates_schema

from ledger.automation import Automation
from ledger.requests import BroadcastRequest, SendOrdersRequest
from ledger.types import (
    DISPATCH_STATUSES,
    ROW_STATUSES,
    Sizing,
    Targets,
    TradeOrder,
)
from schemas.accounts import SYMBOL_RULE
from schemas.calculator import SHARE_NOTE
from schemas.compiled import CompiledSchema
from schemas.fields import DecimalString, StrictInteger

PRICE_NOTE = "Decimal string or JSON number; must lie on the symbol's tick grid."
ORDER_FIELDS = (
    "symbol",
    "side",
    "order_type",
    "price",
    "stop_loss",
    "take_profits",
    "volume",
    "risk",
    "deviation",
    "comment",
)


class TakeProfitIn(Schema):
    price = DecimalString(required=True, positive=True, metadata={"description": PRICE_NOTE})
    share_percent = DecimalString(
        positive=True,
        max_places=2,
        validate=Range(min=0, max=100, min_inclusive=False),
        metadata={"description": SHARE_NOTE},
    )


class RiskIn(Schema):
    percent = DecimalString(positive=True, max_places=4, validate=Range(max=100))
    amount = DecimalString(positive=True, max_places=8)

    @validates_schema
    def _one_of(self, data: dict[str, Any], **_: Any) -> None:
        if ("percent" in data) == ("amount" in data):
            raise ValidationError("Give exactly one of percent or amount.", "_schema")


class OrderFields(Schema):
    symbol = fields.String(required=True, validate=SYMBOL_RULE)
    side = fields.String(required=True, validate=OneOf(["buy", "sell"]))
    order_type = fields.String(load_default="market", validate=OneOf(["market", "limit", "stop"]))
    price = DecimalString(
        positive=True,
        metadata={
            "description": "Required for limit/stop orders; "
            "for market orders the reference price for `deviation`."
        },
    )
    stop_loss = DecimalString(positive=True, metadata={"description": PRICE_NOTE})
    take_profits = fields.List(fields.Nested(TakeProfitIn), validate=Length(max=10))
    volume = DecimalString(
        positive=True, max_places=4, metadata={"description": "Lots for every target."}
    )
    risk = fields.Nested(
        RiskIn, metadata={"description": "Size each target by risk instead of a volume."}
    )
    deviation = StrictInteger(
        load_default=20,
        validate=Range(min=0, max=10_000),
        metadata={"description": "Maximum slippage in points."},
    )
    comment = fields.String(load_default=None, allow_none=True, validate=Length(max=20))

    @post_load
    def _to_order(self, data: dict[str, Any], **_: Any) -> Any:
        return TradeOrder.from_json(data)


POINTS = Range(min=0, max=1_000_000)


class TrailingIn(Schema):
    start_points = StrictInteger(
        required=True, validate=POINTS, metadata={"description": "Profit that starts the trail."}
    )
    distance_points = StrictInteger(
        required=True,
        validate=Range(min=1, max=1_000_000),
        metadata={"description": "How far behind the best price the stop follows."},
    )
    step_points = StrictInteger(
        load_default=1,
        validate=Range(min=1, max=1_000_000),
        metadata={"description": "The stop moves in whole steps of this many points."},
    )


class AutomationIn(Schema):
    REQUIRES_BODY = True  # {} removes every rule: an empty body must not do it by accident
    breakeven_after_tp = StrictInteger(
        validate=Range(min=1, max=10),
        metadata={"description": "Once take profit N is reached, the other legs' SL to entry."},
    )
    breakeven_offset_points = StrictInteger(load_default=0, validate=POINTS)
    trailing = fields.Nested(TrailingIn)

    @post_load
    def _to_automation(self, data: dict[str, Any], **_: Any) -> Automation:
        return Automation.from_json(data)


class AutomationPatchIn(AutomationIn):
    """The body of PATCH .../automation: the rules that replace a dispatch's (``{}`` removes
    them). Its own class: APIFlask registers a request body apart from the nested schemas
    apispec already holds, and the same class under two names left a dangling reference."""


class SendOrdersIn(OrderFields):
    account_ids = fields.List(
        StrictInteger(validate=Range(min=1, max=2**31)),
        required=True,
        validate=Length(min=1, max=100),
    )
    expires_in_s = StrictInteger(load_default=30, validate=Range(min=1, max=86_400))
    wait_s = DecimalString(
        load_default=None,
        non_negative=True,
        max_places=3,
        validate=Range(max=30),
        metadata={"description": "Wait up to this many seconds for results (default 10)."},
    )
    automation = fields.Nested(AutomationIn, metadata={"description": "Server-side rules."})
    dry_run = fields.Boolean(
        load_default=False,
        metadata={
            "description": "Preview only: per target the volume, the risk in the account's "
            "currency and in USD, or why it would be skipped or fail. Nothing is created or "
            "sent (answered 200 with a PreviewOut)."
        },
    )

    @post_load
    def _to_order(self, data: dict[str, Any], **_: Any) -> Any:
        return SendOrdersRequest(
            order=TradeOrder.from_json({k: v for k, v in data.items() if k in ORDER_FIELDS}),
            account_ids=tuple(data["account_ids"]),
            expires_in_s=data["expires_in_s"],
            wait_s=data["wait_s"],
            automation=data.get("automation"),
            dry_run=data["dry_run"],
        )


class TargetsIn(Schema):
    all = fields.Boolean()
    user_ids = fields.List(
        StrictInteger(validate=Range(min=1, max=2**31)), validate=Length(min=1, max=10_000)
    )
    account_ids = fields.List(
        StrictInteger(validate=Range(min=1, max=2**31)), validate=Length(min=1, max=10_000)
    )

    @validates_schema
    def _exactly_one(self, data: dict[str, Any], **_: Any) -> None:
        chosen = [k for k in ("all", "user_ids", "account_ids") if data.get(k)]
        if len(chosen) != 1:
            raise ValidationError(
                "Give exactly one of all: true, user_ids or account_ids.", "_schema"
            )

    @post_load
    def _to_targets(self, data: dict[str, Any], **_: Any) -> Targets:
        return Targets(
            all=bool(data.get("all")),
            user_ids=tuple(data.get("user_ids") or ()),
            account_ids=tuple(data.get("account_ids") or ()),
        )


class SizingIn(Schema):
    mode = fields.String(
        required=True,
        validate=OneOf(["account_risk", "risk_percent", "fixed_volume", "multiplier", "follower"]),
        metadata={
            "description": "follower: each target by its own subscription sizing (without one, "
            "its account settings); the order's volume is the signal's volume for followers "
            "who multiply it. See the README's sizing table."
        },
    )
    percent = DecimalString(positive=True, max_places=4, validate=Range(max=100))
    volume = DecimalString(positive=True, max_places=4)
    default_percent = DecimalString(
        positive=True,
        max_places=4,
        validate=Range(max=100),
        metadata={"description": "account_risk: for accounts without their own."},
    )

    @validates_schema
    def _figures(self, data: dict[str, Any], **_: Any) -> None:
        mode = data.get("mode")
        if mode == "risk_percent" and "percent" not in data:
            raise ValidationError("risk_percent sizing needs percent.", "percent")
        if mode == "multiplier" and "volume" not in data:
            raise ValidationError("multiplier sizing needs volume.", "volume")

    @post_load
    def _to_sizing(self, data: dict[str, Any], **_: Any) -> Sizing:
        return Sizing.from_json(data)


class BroadcastIn(Schema):
    targets = fields.Nested(TargetsIn, required=True)
    order = fields.Nested(OrderFields, required=True)
    sizing = fields.Nested(SizingIn)
    expires_in_s = StrictInteger(load_default=60, validate=Range(min=1, max=86_400))
    automation = fields.Nested(AutomationIn, metadata={"description": "Server-side rules."})
    dry_run = fields.Boolean(
        load_default=False,
        metadata={
            "description": "Preview only: per target the volume, the risk in the account's "
            "currency and in USD, or why it would be skipped or fail. Nothing is created or "
            "sent (answered 200 with a PreviewOut)."
        },
    )

    @post_load
    def _to_request(self, data: dict[str, Any], **_: Any) -> BroadcastRequest:
        return BroadcastRequest(
            targets=data["targets"],
            order=data["order"],
            sizing=data.get("sizing"),
            expires_in_s=data["expires_in_s"],
            automation=data.get("automation"),
            dry_run=data["dry_run"],
        )


class TargetOut(CompiledSchema):
    row_id = fields.Integer()
    account_id = fields.Integer()
    user_id = fields.Integer()
    leg = fields.Integer()
    symbol = fields.String(allow_none=True)
    volume = DecimalString(allow_none=True)
    status = fields.String(metadata={"enum": list(ROW_STATUSES)})
    retcode = fields.Integer(allow_none=True)
    order = fields.Integer(allow_none=True)
    deal = fields.Integer(allow_none=True)
    position = fields.Integer(allow_none=True)
    price = DecimalString(allow_none=True)
    filled_volume = DecimalString(allow_none=True)
    attempts = fields.Integer()
    latency_ms = fields.Integer(allow_none=True)
    error = fields.String(allow_none=True)
    reason = fields.String(
        allow_none=True,
        metadata={
            "description": "Failed or skipped: the code, e.g. position_closed, or "
            "leg_dropped_below_min for a take-profit leg too small to trade."
        },
    )
    details = fields.Dict(allow_none=True, metadata={"description": "The broker's numbers."})
    action = fields.String(
        allow_none=True, metadata={"description": "Actions: what this row did (close, ...)."}
    )
    ticket = fields.Integer(
        allow_none=True, metadata={"description": "Actions: the position or order acted on."}
    )
    closed_volume = DecimalString(allow_none=True)
    remaining_volume = DecimalString(
        allow_none=True, metadata={"description": "A close: what the position still holds."}
    )
    warnings = fields.List(
        fields.String(),
        metadata={
            "description": "What sizing changed of what was asked beyond rounding to the volume "
            "step (risk, volume, take-profit shares), each with both figures; on the row that "
            "sized the account (its first leg) and on a skipped leg."
        },
    )
    executed_at = fields.DateTime(allow_none=True)


class ActionSummaryOut(CompiledSchema):
    action_id = fields.Integer()
    action = fields.String()
    status = fields.String(metadata={"enum": list(DISPATCH_STATUSES)})
    created_at = fields.DateTime()


class DispatchOut(CompiledSchema):
    dispatch_id = fields.Integer()
    kind = fields.String(metadata={"enum": ["orders", "broadcast", "action"]})
    parent_id = fields.Integer(
        allow_none=True, metadata={"description": "An action: the dispatch it follows up."}
    )
    action = fields.Dict(allow_none=True, metadata={"description": "An action: what it does."})
    automation = fields.Dict(
        allow_none=True, metadata={"description": "An open's server-side rules, as they stand."}
    )
    actions = fields.List(
        fields.Nested(ActionSummaryOut), metadata={"description": "Its follow-ups, oldest first."}
    )
    status = fields.String(metadata={"enum": list(DISPATCH_STATUSES)})
    created_at = fields.DateTime()
    expires_at = fields.DateTime()
    finished_at = fields.DateTime(allow_none=True)
    counts = fields.Dict(keys=fields.String(), values=fields.Integer())
    total = fields.Integer()
    page = fields.Integer()
    per_page = fields.Integer()
    next_after = fields.Integer(
        allow_none=True,
        metadata={
            "description": "The next page: pass it as `after`; null on the last page.",
        },
    )
    targets = fields.List(fields.Nested(TargetOut))


class BroadcastCreatedOut(Schema):
    broadcast_id = fields.Integer()
    targets = fields.Integer(metadata={"description": "Rows created (target accounts x legs)."})
    accounts = fields.Integer()
    status = fields.String()


class BroadcastSummaryOut(CompiledSchema):
    broadcast_id = fields.Integer()
    status = fields.String()
    created_at = fields.DateTime()
    finished_at = fields.DateTime(allow_none=True)
    counts = fields.Dict(keys=fields.String(), values=fields.Integer())
    creator_id = fields.Integer()
    symbol = fields.String()
    side = fields.String()


class BroadcastListOut(CompiledSchema):
    broadcasts = fields.List(fields.Nested(BroadcastSummaryOut))


class BroadcastStatusQuery(Schema):
    broadcast_id = fields.Integer(validate=Range(min=1, max=2**31))
    page = fields.Integer(load_default=1, validate=Range(min=1, max=1_000_000))
    per_page = fields.Integer(load_default=100, validate=Range(min=1, max=1000))
    after = fields.Integer(
        validate=Range(min=0, max=2**31),
        metadata={
            "description": "Targets after this row id (the previous page's `next_after`): a "
            "keyset page, cheap at any depth; `page` is then ignored.",
        },
    )


class DispatchQuery(Schema):
    page = fields.Integer(load_default=1, validate=Range(min=1, max=1_000_000))
    per_page = fields.Integer(load_default=100, validate=Range(min=1, max=1000))
    after = fields.Integer(
        validate=Range(min=0, max=2**31),
        metadata={
            "description": "Targets after this row id (the previous page's `next_after`): a "
            "keyset page, cheap at any depth; `page` is then ignored.",
        },
    )


class PreviewRiskOut(Schema):
    amount = DecimalString(metadata={"description": "Lost at the stop, account currency."})
    currency = fields.String()
    usd = DecimalString(allow_none=True, metadata={"description": "The same in USD (cents)."})


class PreviewTargetOut(Schema):
    account_id = fields.Integer()
    user_id = fields.Integer(allow_none=True)
    verdict = fields.String(metadata={"enum": ["would_send", "would_skip", "would_fail"]})
    symbol = fields.String(allow_none=True)
    volume = DecimalString(allow_none=True, metadata={"description": "Lots, all legs."})
    legs = fields.List(DecimalString(), metadata={"description": "Lots per take-profit leg."})
    risk = fields.Nested(PreviewRiskOut, allow_none=True)
    reason = fields.String(allow_none=True, metadata={"description": "The code, when not sent."})
    message = fields.String(allow_none=True)
    warnings = fields.List(fields.String())
    details = fields.Dict(allow_none=True)


class PreviewOut(Schema):
    dry_run = fields.Boolean()
    accounts = fields.Integer()
    counts = fields.Dict(keys=fields.String(), values=fields.Integer())
    targets = fields.List(fields.Nested(PreviewTargetOut))
