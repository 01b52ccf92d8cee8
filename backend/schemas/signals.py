"""Schemas for signal intake: webhook tokens, the parse preview, and a webhook post's body.

A post is ``text/plain`` (the grammar, services/signals/grammar.py) or ``application/json``:
a whole ``broadcast_orders`` body (it has ``order``), or TradingView's style
``{"action": "buy", "symbol": "XAUUSD", "sl": 2340, "tp": [2355, 2360], "risk": 1}``.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from apiflask import Schema, fields
from apiflask.validators import Length, OneOf, Range
from marshmallow import ValidationError, post_load, pre_load, validates_schema

from errors import AppError, UnknownSymbol
from ledger.actions import ActionKind, TradeAction
from ledger.types import OrderType, Risk, TakeProfit, TradeOrder
from schemas.accounts import SYMBOL_RULE
from schemas.fields import DecimalString, StrictInteger
from schemas.orders import BroadcastIn
from services.signals import grammar
from services.signals.commands import (
    MAX_RISK_PERCENT,
    FollowUp,
    FollowUpScope,
    OpenSignal,
    SignalCommand,
)
from services.signals.symbols import signal_symbol
from utils.strict_json import InvalidJSON, loads_strict

MAX_TOKEN_SYMBOLS = 50


def _our_symbol(name: str) -> str:
    """A symbol as our name (GOLD -> XAUUSD), or a 422 ``unknown_symbol``."""
    found = signal_symbol(name.rsplit(":", 1)[-1])  # TradingView's {{exchange}}:{{ticker}}
    if found is None:
        raise UnknownSymbol(f"{name} is not a symbol we know.", details={"symbol": name})
    return found


class SignalTokenIn(Schema):
    name = fields.String(
        required=True,
        validate=Length(min=1, max=100),
        metadata={"description": "Your label for it (which alert or channel posts with it)."},
    )
    symbols = fields.List(
        fields.String(validate=SYMBOL_RULE),
        validate=Length(min=1, max=MAX_TOKEN_SYMBOLS),
        metadata={"description": "Only these symbols (GOLD and suffixes resolved); omit: any."},
    )

    @post_load
    def _resolve(self, data: dict[str, Any], **_: Any) -> dict[str, Any]:
        if data.get("symbols"):
            data["symbols"] = [_our_symbol(name) for name in data["symbols"]]
        return data


class SignalTokenOut(Schema):
    id = fields.Integer()
    prefix = fields.String(metadata={"description": "The token's first characters."})
    name = fields.String(allow_none=True)
    symbols = fields.List(fields.String(), allow_none=True)
    created_at = fields.DateTime()
    last_used_at = fields.DateTime(allow_none=True)
    revoked_at = fields.DateTime(allow_none=True)


class SignalTokenCreatedOut(SignalTokenOut):
    token = fields.String(metadata={"description": "Shown once; store it now."})
    webhook_path = fields.String(metadata={"description": "POST signals here."})


class SignalTokenListOut(Schema):
    tokens = fields.List(fields.Nested(SignalTokenOut))


class SignalParseIn(Schema):
    text = fields.String(required=True, validate=Length(min=1, max=grammar.MAX_TEXT))


class SignalPreviewOut(Schema):
    parsed = fields.Dict(metadata={"description": "What the signal was read as."})
    summary = fields.String(metadata={"description": "The same, in one sentence."})


class SignalAcceptedOut(Schema):
    signal_id = fields.Integer()
    dispatch_id = fields.Integer(allow_none=True)
    dispatch_ids = fields.List(fields.Integer())
    parsed = fields.Dict()
    resent = fields.Boolean(metadata={"description": "True: the same body came within the window."})


# --- a webhook post's body ---------------------------------------------------------------------

OPEN_ACTIONS = {"buy": "buy", "long": "buy", "sell": "sell", "short": "sell"}
CLOSE_ACTIONS = {"close", "exit", "flat"}
BREAKEVEN_ACTIONS = {"breakeven", "sl_to_be"}
TRADINGVIEW_ACTIONS = [*OPEN_ACTIONS, *CLOSE_ACTIONS, *BREAKEVEN_ACTIONS]


def _price(value: Any, name: str) -> Decimal:
    return DecimalString(positive=True).deserialize(value, name)  # type: ignore[no-any-return]


class TradingViewIn(Schema):
    """An alert message in TradingView's style; numbers may be JSON numbers or strings (its
    placeholders such as ``{{close}}`` are substituted as text)."""

    action = fields.String(required=True, validate=OneOf(TRADINGVIEW_ACTIONS))
    symbol = fields.String(required=True, validate=Length(min=1, max=64))
    order_type = fields.String(load_default="market", validate=OneOf([t.value for t in OrderType]))
    price = DecimalString(positive=True)
    sl = DecimalString(positive=True)
    tp = fields.Raw(metadata={"description": "One price or a list of prices."})
    risk = DecimalString(positive=True, validate=Range(max=MAX_RISK_PERCENT))
    lot = DecimalString(positive=True, max_places=4)
    signal_id = StrictInteger(validate=Range(min=1))
    comment = fields.String(validate=Length(max=31))

    @pre_load
    def _lower(self, data: Any, **_: Any) -> Any:
        if isinstance(data, dict):
            for name in ("action", "order_type"):
                if isinstance(data.get(name), str):
                    data = {**data, name: data[name].strip().lower()}
        return data

    @validates_schema
    def _one_size(self, data: dict[str, Any], **_: Any) -> None:
        if data.get("risk") is not None and data.get("lot") is not None:
            raise ValidationError("Give risk or lot, not both.", "lot")

    @post_load
    def _to_command(self, data: dict[str, Any], **_: Any) -> SignalCommand:
        symbol = _our_symbol(data["symbol"])
        action = data["action"]
        if action not in OPEN_ACTIONS:
            kind = ActionKind.CLOSE if action in CLOSE_ACTIONS else ActionKind.BREAKEVEN
            scope = FollowUpScope.SIGNAL if data.get("signal_id") else FollowUpScope.ALL
            return FollowUp(
                actions=(TradeAction(kind=kind),),
                scope=scope,
                signal_id=data.get("signal_id"),
                symbol=None if data.get("signal_id") else symbol,
            )
        order_type = OrderType(data["order_type"])
        pending = order_type is not OrderType.MARKET
        order = TradeOrder(
            symbol=symbol,
            side=OPEN_ACTIONS[action],  # type: ignore[arg-type]
            order_type=order_type,
            price=data.get("price") if pending else None,
            stop_loss=data.get("sl"),
            take_profits=tuple(TakeProfit(p) for p in _take_profits(data.get("tp"))),
            volume=data.get("lot"),
            risk=Risk(percent=data["risk"]) if data.get("risk") is not None else None,
            comment=data.get("comment"),
        )
        return OpenSignal(order=order, entry_reference=None if pending else data.get("price"))


def _take_profits(value: Any) -> list[Decimal]:
    if value is None:
        return []
    values = value if isinstance(value, list) else [value]
    if len(values) > grammar.MAX_TAKE_PROFITS:
        raise ValidationError(f"At most {grammar.MAX_TAKE_PROFITS} take profits.", "tp")
    try:
        return [_price(v, "tp") for v in values]
    except ValidationError as exc:
        raise ValidationError(exc.messages, "tp") from exc


def load_signal(mimetype: str, data: bytes) -> SignalCommand:
    """The command a webhook body asks for; 415 for a type it is not, 400/422 for what fails."""
    if mimetype == "text/plain":
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise AppError("The text is not UTF-8.", code="invalid_text", status_code=400) from exc
        return grammar.parse(text, signal_symbol)
    if mimetype != "application/json":
        raise AppError(
            "Send the signal as text/plain (the grammar) or application/json.",
            code="unsupported_media_type",
            status_code=415,
        )
    try:
        body = loads_strict(data)
    except ValueError as exc:  # malformed, NaN, duplicate keys, control characters...
        raise InvalidJSON(details={"reason": str(exc)[:200]}) from exc
    if not isinstance(body, dict):
        raise AppError(
            "The JSON body must be an object.",
            code="validation_error",
            status_code=422,
            details={"json": {"_schema": ["Must be an object."]}},
        )
    schema: Schema = BroadcastIn() if "order" in body else TradingViewIn()
    try:
        loaded = schema.load(body)
    except ValidationError as exc:
        raise AppError(
            "The request is not valid; see details for each field.",
            code="validation_error",
            status_code=422,
            details={"json": exc.messages},
        ) from exc
    if isinstance(loaded, OpenSignal | FollowUp):
        return loaded
    return OpenSignal(order=loaded.order, request=loaded)
