"""Schemas for a follower's subscription: consent, their own sizing, symbol filters, protection."""

from __future__ import annotations

from typing import Any

from apiflask import Schema, fields
from apiflask.validators import Length, OneOf, Range
from marshmallow import ValidationError, post_load, validates_schema

from ledger.follower import FollowerSizing, Protection, SymbolFilter
from models.subscription import CONSENTS, SUBSCRIPTION_STATES
from schemas.accounts import SYMBOL_RULE
from schemas.fields import DecimalString, StrictInteger

PERCENT = Range(min=0, max=100, min_inclusive=False)
# Each mode's own figure; the others are refused so a body says one thing.
MODE_FIGURE = {
    "risk_percent": "percent",
    "fixed_volume": "volume",
    "multiplier": "factor",
    "balance_ratio": "base_balance",
}


class FollowerSizingIn(Schema):
    mode = fields.String(
        required=True,
        validate=OneOf(list(MODE_FIGURE)),
        metadata={
            "description": "risk_percent: `percent` of the balance at the stop; fixed_volume: "
            "`volume` lots; multiplier: the signal's volume x `factor`; balance_ratio: the "
            "signal's volume x balance / `base_balance`."
        },
    )
    percent = DecimalString(positive=True, max_places=4, validate=PERCENT)
    volume = DecimalString(positive=True, max_places=4, validate=Range(max=1000))
    factor = DecimalString(positive=True, max_places=4, validate=Range(max=1000))
    base_balance = DecimalString(positive=True, max_places=2)
    max_volume = DecimalString(
        positive=True,
        max_places=4,
        validate=Range(max=1000),
        metadata={"description": "Never more lots than this (replaces the account's max_volume)."},
    )
    below_min = fields.String(
        load_default="skip",
        validate=OneOf(["skip", "min_lot"]),
        metadata={
            "description": "Below the symbol's minimum lot: skip the trade (default), or trade "
            "the minimum (min_lot) when it risks at most max_risk_percent."
        },
    )
    max_risk_percent = DecimalString(
        positive=True,
        max_places=4,
        validate=PERCENT,
        metadata={"description": "min_lot: the most the minimum lot may risk, in percent."},
    )

    @validates_schema
    def _one_figure(self, data: dict[str, Any], **_: Any) -> None:
        wanted = MODE_FIGURE.get(data.get("mode", ""))
        if wanted is None:
            return
        if wanted not in data:
            raise ValidationError(f"{data['mode']} sizing needs {wanted}.", wanted)
        extra = [f for f in MODE_FIGURE.values() if f != wanted and f in data]
        if extra:
            raise ValidationError(f"Not a figure of {data['mode']} sizing.", extra[0])
        if "max_risk_percent" in data and data.get("below_min") != "min_lot":
            raise ValidationError("Only with below_min: min_lot.", "max_risk_percent")

    @post_load
    def _to_sizing(self, data: dict[str, Any], **_: Any) -> FollowerSizing | None:
        return FollowerSizing.from_json(data)


class SymbolFilterIn(Schema):
    include = fields.List(fields.String(validate=SYMBOL_RULE), validate=Length(min=1, max=200))
    exclude = fields.List(fields.String(validate=SYMBOL_RULE), validate=Length(min=1, max=200))

    @validates_schema
    def _one_list(self, data: dict[str, Any], **_: Any) -> None:
        if ("include" in data) == ("exclude" in data):
            raise ValidationError("Give exactly one of include or exclude.", "_schema")

    @post_load
    def _to_filter(self, data: dict[str, Any], **_: Any) -> SymbolFilter:
        return SymbolFilter.from_json(data)


class DailyLossIn(Schema):
    percent = DecimalString(
        positive=True,
        max_places=4,
        validate=PERCENT,
        metadata={"description": "Of the trading day's start equity."},
    )
    amount = DecimalString(
        positive=True, max_places=2, metadata={"description": "In the account's currency."}
    )

    @validates_schema
    def _one_of(self, data: dict[str, Any], **_: Any) -> None:
        if ("percent" in data) == ("amount" in data):
            raise ValidationError("Give exactly one of percent or amount.", "_schema")


class ProtectionIn(Schema):
    max_open_positions = StrictInteger(
        validate=Range(min=1, max=10_000),
        metadata={"description": "An open is skipped while the account holds this many."},
    )
    daily_loss_limit = fields.Nested(
        DailyLossIn,
        metadata={
            "description": "The day's net loss (closed and floating, from the equity at the "
            "start of the trading day, TRADING_DAY_START_UTC) that triggers on_breach."
        },
    )
    max_drawdown_percent = DecimalString(
        positive=True,
        max_places=4,
        validate=PERCENT,
        metadata={"description": "Drawdown from the equity high-water mark that triggers it."},
    )
    on_breach = fields.String(
        load_default="close_only",
        validate=OneOf(["close_only", "close_all"]),
        metadata={
            "description": "close_only: no new opens; close_all: also close every position "
            "(state stopped_out). Both until reset."
        },
    )

    @post_load
    def _to_protection(self, data: dict[str, Any], **_: Any) -> Protection:
        return Protection.from_json(data)


class SubscriptionIn(Schema):
    accept_terms = fields.Boolean(
        required=True,
        metadata={
            "description": "Must be true: you accept that broadcasts trade this account "
            "(BROADCAST_TERMS_VERSION, recorded with the time and your IP)."
        },
    )
    sizing = fields.Nested(
        FollowerSizingIn,
        metadata={"description": "Your own sizing of broadcasts sent with sizing mode follower."},
    )
    symbols = fields.Nested(SymbolFilterIn, metadata={"description": "Symbol filter."})
    protection = fields.Nested(ProtectionIn)

    @validates_schema
    def _accepted(self, data: dict[str, Any], **_: Any) -> None:
        if data.get("accept_terms") is not True:
            raise ValidationError("Subscribing means accepting the terms.", "accept_terms")


class BreachOut(Schema):
    rule = fields.String(
        metadata={"enum": ["daily_loss_limit", "max_drawdown_percent"]},
    )
    reason = fields.String()
    figures = fields.Dict(keys=fields.String(), values=fields.String())


class EquityMarksOut(Schema):
    day = fields.String(
        allow_none=True, metadata={"description": "The trading day (the date it started)."}
    )
    day_start = DecimalString(allow_none=True)
    high = DecimalString(allow_none=True)
    last = DecimalString(allow_none=True)
    currency = fields.String(allow_none=True)
    checked_at = fields.DateTime(allow_none=True)


class SubscriptionOut(Schema):
    account_id = fields.Integer()
    subscribed = fields.Boolean(
        metadata={"description": "Has a subscription that is not paused (close_only and "
        "stopped_out are subscribed but receive no new opens until reset)."}
    )  # fmt: skip
    receives_opens = fields.Boolean(
        metadata={"description": "New broadcast opens reach this account now."}
    )
    state = fields.String(allow_none=True, metadata={"enum": list(SUBSCRIPTION_STATES)})
    consent = fields.String(allow_none=True, metadata={"enum": list(CONSENTS)})
    terms_version = fields.String(allow_none=True)
    current_terms_version = fields.String()
    accepted_at = fields.DateTime(allow_none=True)
    sizing = fields.Dict(allow_none=True)
    symbols = fields.Dict(allow_none=True)
    protection = fields.Dict(allow_none=True)
    breach = fields.Nested(BreachOut, allow_none=True)
    breached_at = fields.DateTime(allow_none=True)
    equity = fields.Nested(EquityMarksOut)
    updated_at = fields.DateTime(allow_none=True)
