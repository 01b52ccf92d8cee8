"""Schemas for managing open trades: one account's positions and orders, and a dispatch's targets.

Each body loads into a ``TradeAction``. A stop field left out keeps the position's (or order's)
current value; ``null`` removes it.
"""

from __future__ import annotations

from typing import Any

from apiflask import Schema, fields
from apiflask.validators import Length, OneOf, Range
from marshmallow import ValidationError, post_load, validates_schema

from ledger.actions import ActionKind, TradeAction
from schemas.accounts import SYMBOL_RULE
from schemas.fields import DecimalString, StrictInteger

STOP_NOTE = "Decimal string or JSON number; omitted: unchanged; null: removed."
MAX_OFFSET_POINTS = 100_000


def _stop(description: str = STOP_NOTE) -> DecimalString:
    return DecimalString(positive=True, allow_none=True, metadata={"description": description})


def _percent() -> DecimalString:
    return DecimalString(
        positive=True,
        max_places=2,
        validate=Range(max=100),
        metadata={"description": "Close this share of each position (floored to the lot step)."},
    )


def _volume() -> DecimalString:
    return DecimalString(
        positive=True, max_places=4, metadata={"description": "Close this many lots of each."}
    )


def _offset() -> StrictInteger:
    return StrictInteger(
        load_default=0,
        validate=Range(min=0, max=MAX_OFFSET_POINTS),
        metadata={"description": "Points beyond the open price, in the trade's favour."},
    )


def _one_of_volume_or_percent(data: dict[str, Any]) -> None:
    if data.get("volume") is not None and data.get("percent") is not None:
        raise ValidationError("Give volume or percent, not both.", "_schema")


class WaitQuery(Schema):
    wait_s = DecimalString(
        load_default=None,
        non_negative=True,
        max_places=3,
        validate=Range(max=30),
        metadata={"description": "Wait up to this many seconds for the outcome (default 10)."},
    )


class PositionStopsIn(Schema):
    stop_loss = _stop()
    take_profit = _stop()

    @validates_schema
    def _something(self, data: dict[str, Any], **_: Any) -> None:
        if "stop_loss" not in data and "take_profit" not in data:
            raise ValidationError("Give stop_loss and/or take_profit.", "_schema")

    @post_load
    def _to_action(self, data: dict[str, Any], **_: Any) -> TradeAction:
        return TradeAction.from_json({"action": ActionKind.MODIFY.value, **data})


class PositionCloseIn(Schema):
    volume = _volume()
    percent = _percent()

    @validates_schema
    def _exclusive(self, data: dict[str, Any], **_: Any) -> None:
        _one_of_volume_or_percent(data)

    @post_load
    def _to_action(self, data: dict[str, Any], **_: Any) -> TradeAction:
        return TradeAction.from_json({"action": ActionKind.CLOSE.value, **data})


class BreakevenIn(Schema):
    offset_points = _offset()

    @post_load
    def _to_action(self, data: dict[str, Any], **_: Any) -> TradeAction:
        return TradeAction.from_json({"action": ActionKind.BREAKEVEN.value, **data})


class CloseAllIn(Schema):
    symbol = fields.String(validate=SYMBOL_RULE, metadata={"description": "Only this symbol."})
    side = fields.String(validate=OneOf(["buy", "sell"]), metadata={"description": "Only these."})

    @post_load
    def _to_action(self, data: dict[str, Any], **_: Any) -> TradeAction:
        return TradeAction.from_json({"action": ActionKind.CLOSE.value, **data})


class OrderChangeIn(Schema):
    price = DecimalString(positive=True, metadata={"description": "The new entry price."})
    stop_loss = _stop()
    take_profit = _stop()
    expiration = fields.DateTime(
        allow_none=True,
        metadata={"description": "ISO 8601 (UTC when naive); null: good till cancelled."},
    )

    @validates_schema
    def _something(self, data: dict[str, Any], **_: Any) -> None:
        if not data:
            raise ValidationError("Give price, stop_loss, take_profit or expiration.", "_schema")

    @post_load
    def _to_action(self, data: dict[str, Any], **_: Any) -> TradeAction:
        return TradeAction.from_json({"action": ActionKind.MODIFY_ORDER.value, **data})


FOLLOW_UPS = {
    "modify": ActionKind.MODIFY,
    "breakeven": ActionKind.BREAKEVEN,
    "close": ActionKind.CLOSE,
    "cancel_pending": ActionKind.CANCEL,
}


class DispatchActionIn(Schema):
    """A follow-up to every target a dispatch opened."""

    action = fields.String(required=True, validate=OneOf(list(FOLLOW_UPS)))
    stop_loss = _stop("modify: the new stop loss (null removes it).")
    take_profit = _stop("modify: the new take profit (null removes it).")
    offset_points = _offset()
    volume = _volume()
    percent = _percent()
    legs = fields.List(
        StrictInteger(validate=Range(min=1, max=10)),
        validate=Length(min=1, max=10),
        metadata={"description": "Only these take-profit legs (1-based); default: all."},
    )
    expires_in_s = StrictInteger(
        load_default=None,
        validate=Range(min=1, max=86_400),
        metadata={"description": "Give up on targets not reached by then (default: never)."},
    )

    @validates_schema
    def _per_action(self, data: dict[str, Any], **_: Any) -> None:
        action = data.get("action")
        if action == "modify" and "stop_loss" not in data and "take_profit" not in data:
            raise ValidationError("modify needs stop_loss and/or take_profit.", "_schema")
        if action == "close":
            _one_of_volume_or_percent(data)
        allowed = {
            "modify": {"stop_loss", "take_profit"},
            "breakeven": {"offset_points"},
            "close": {"volume", "percent"},
            "cancel_pending": set(),
        }.get(action or "", set())
        extra = {"stop_loss", "take_profit", "volume", "percent"} & set(data) - allowed
        if extra:
            raise ValidationError(f"{action} does not take {', '.join(sorted(extra))}.", "_schema")

    @post_load
    def _to_action(self, data: dict[str, Any], **_: Any) -> dict[str, Any]:
        expires_in_s = data.pop("expires_in_s", None)
        kind = FOLLOW_UPS[data.pop("action")]
        if kind is not ActionKind.BREAKEVEN:
            data.pop("offset_points", None)
        action = TradeAction.from_json({"action": kind.value, **data})
        return {"action": action, "expires_in_s": expires_in_s}


class ActionCreatedOut(Schema):
    action_id = fields.Integer()
    parent_id = fields.Integer()
    targets = fields.Integer(metadata={"description": "Rows created: positions and orders."})
    status = fields.String()


class PendingOrderOut(Schema):
    ticket = fields.Integer()
    symbol = fields.String()
    type = fields.String(
        metadata={
            "enum": [
                "buy_limit",
                "sell_limit",
                "buy_stop",
                "sell_stop",
                "buy_stop_limit",
                "sell_stop_limit",
            ]
        }
    )
    volume = DecimalString()
    price_open = DecimalString()
    price_stoplimit = DecimalString()
    sl = DecimalString()
    tp = DecimalString()
    time_setup = fields.DateTime()
    expiration = fields.DateTime(allow_none=True)
    magic = fields.Integer()
    comment = fields.String()


class PendingOrderListOut(Schema):
    orders = fields.List(fields.Nested(PendingOrderOut))
