"""Schemas for MT5 accounts: the password is write-only and never leaves the server."""

from __future__ import annotations

from typing import Any

from apiflask import Schema, fields
from apiflask.validators import Length, OneOf, Range, Regexp
from marshmallow import ValidationError, post_dump, validates

from models.account import ACCOUNT_TYPES
from models.session import SESSION_STATES
from schemas.fields import DecimalString

TERMINAL_RULE = Regexp(
    r"^(sim://[A-Za-z0-9_.-]{1,64}|rpycs?://[A-Za-z0-9_.-]{1,200}:\d{1,5}|native://.{1,200})$",
    error="A terminal URL: sim://NAME, rpyc://HOST:PORT, rpycs://HOST:PORT or native://PATH.",
)
SYMBOL_RULE = Regexp(r"^[A-Za-z0-9._#+-]{1,32}$", error="Not a symbol name.")


class CopySettings(Schema):
    copy_enabled = fields.Boolean(metadata={"description": "Take part in broadcasts."})
    risk_percent = DecimalString(
        allow_none=True,
        positive=True,
        max_places=4,
        validate=Range(min=0, max=100, min_inclusive=False),
        metadata={
            "description": "Risk per broadcast trade in percent of balance (account_risk sizing)."
        },
    )
    fixed_volume = DecimalString(allow_none=True, positive=True, max_places=4)
    volume_multiplier = DecimalString(
        allow_none=True, positive=True, max_places=4, validate=Range(max=1000)
    )
    max_volume = DecimalString(allow_none=True, positive=True, max_places=4)
    symbol_map = fields.Dict(
        keys=fields.String(validate=SYMBOL_RULE),
        values=fields.String(validate=SYMBOL_RULE),
        allow_none=True,
        metadata={"description": 'Our symbol to this broker\'s name, e.g. {"XAUUSD": "GOLD"}.'},
    )

    @validates("symbol_map")
    def _small_map(self, value: dict[str, str] | None, **_: object) -> None:
        if value is not None and len(value) > 200:
            raise ValidationError("At most 200 symbols.")


class AccountIn(CopySettings):
    account_name = fields.String(required=True, validate=Length(min=1, max=100))
    login = fields.String(required=True, validate=Regexp(r"^[0-9]{1,20}$", error="Digits only."))
    password = fields.String(
        required=True,
        load_only=True,
        validate=Length(min=1, max=128),
        metadata={"description": "The MT5 password: stored encrypted, never returned."},
    )
    server = fields.String(required=True, validate=Length(min=1, max=100))
    broker = fields.String(load_default=None, allow_none=True, validate=Length(max=100))
    account_type = fields.String(load_default="demo", validate=OneOf(ACCOUNT_TYPES))
    terminal = fields.String(
        validate=TERMINAL_RULE, metadata={"description": "Where this account's terminal is."}
    )


class AccountPatchIn(CopySettings):
    account_name = fields.String(validate=Length(min=1, max=100))
    login = fields.String(validate=Regexp(r"^[0-9]{1,20}$", error="Digits only."))
    password = fields.String(load_only=True, validate=Length(min=1, max=128))
    server = fields.String(validate=Length(min=1, max=100))
    broker = fields.String(allow_none=True, validate=Length(max=100))
    account_type = fields.String(validate=OneOf(ACCOUNT_TYPES))
    terminal = fields.String(validate=TERMINAL_RULE)
    is_active = fields.Boolean()


class AccountOut(Schema):
    id = fields.Integer()
    account_name = fields.String()
    login = fields.String()
    server = fields.String()
    broker = fields.String(allow_none=True)
    account_type = fields.String()
    is_active = fields.Boolean()
    terminal = fields.String()
    connection_status = fields.String(
        metadata={
            "enum": [*SESSION_STATES, "failed"],
            "description": "As the session keeper last saw it (connected, disconnected: the "
            "terminal is not connected to its trade server, auth_failed: not retried until the "
            "credentials change, unreachable: the terminal node did not answer), or `failed` "
            "after a manual connect; `never` before the first look.",
        }
    )
    last_error = fields.String(allow_none=True)
    last_connected_at = fields.DateTime(allow_none=True)
    # The session keeper's live fields: null until its first heartbeat of the account.
    last_seen_at = fields.DateTime(
        allow_none=True, attribute="live.last_seen_at",
        metadata={"description": "The last heartbeat that found the account connected."},
    )  # fmt: skip
    checked_at = fields.DateTime(allow_none=True, attribute="live.checked_at")
    latency_ms = DecimalString(
        allow_none=True, attribute="live.latency_ms",
        metadata={"description": "The account_info round trip of the last heartbeat, in ms."},
    )  # fmt: skip
    currency = fields.String(allow_none=True, attribute="live.currency")
    balance = DecimalString(allow_none=True, attribute="live.balance")
    equity = DecimalString(allow_none=True, attribute="live.equity")
    margin = DecimalString(allow_none=True, attribute="live.margin")
    margin_free = DecimalString(allow_none=True, attribute="live.margin_free")
    margin_level = DecimalString(
        allow_none=True, attribute="live.margin_level",
        metadata={"description": "Equity / margin in percent, 2 places; null with no margin."},
    )  # fmt: skip
    created_at = fields.DateTime()
    updated_at = fields.DateTime(allow_none=True)
    copy_enabled = fields.Boolean()
    risk_percent = DecimalString(allow_none=True)
    fixed_volume = DecimalString(allow_none=True)
    volume_multiplier = DecimalString(allow_none=True)
    max_volume = DecimalString(allow_none=True)
    symbol_map = fields.Dict(allow_none=True)

    @post_dump
    def _live_fields_always_there(self, data: dict[str, Any], **_: Any) -> dict[str, Any]:
        for name in LIVE_FIELDS:
            data.setdefault(name, None)  # no heartbeat yet: null, not absent
        return data


LIVE_FIELDS = ("last_seen_at", "checked_at", "latency_ms", "currency", "balance", "equity",
               "margin", "margin_free", "margin_level")  # fmt: skip


class AccountItemOut(AccountOut):
    """One account of a list. Its own class: APIFlask registers a route's response apart from
    the nested schemas apispec already holds, and one class under two names was a duplicate
    component (AccountOut1) and a warning at every start."""


class AccountListOut(Schema):
    accounts = fields.List(fields.Nested(AccountItemOut))


class DeleteAccountQuery(Schema):
    force = fields.Boolean(
        load_default=False,
        truthy={"true", "1"},
        falsy={"false", "0"},
        metadata={
            "description": "Delete even with open positions or pending orders, or when the "
            "terminal cannot be reached (they stay open at the broker)."
        },
    )


class EquityQuery(Schema):
    date_from = fields.DateTime(
        data_key="from", metadata={"description": "ISO 8601; default: 7 days before `to`."}
    )
    date_to = fields.DateTime(data_key="to", metadata={"description": "ISO 8601; default: now."})


class EquityPointOut(Schema):
    time = fields.DateTime(metadata={"description": "When the heartbeat read these figures."})
    balance = DecimalString()
    equity = DecimalString()
    margin = DecimalString()
    margin_free = DecimalString()


class EquityOut(Schema):
    account_id = fields.Integer()
    date_from = fields.DateTime(data_key="from")
    date_to = fields.DateTime(data_key="to")
    step_s = fields.Integer(
        metadata={"description": "The width of one point's bucket: the newest figures of each."}
    )
    points = fields.List(
        fields.Nested(EquityPointOut),
        metadata={"description": "Oldest first, at most 500 (evenly bucketed over the window)."},
    )
