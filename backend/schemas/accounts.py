"""Schemas for MT5 accounts: the password is write-only and never leaves the server."""

from __future__ import annotations

from apiflask import Schema, fields
from apiflask.validators import Length, OneOf, Range, Regexp
from marshmallow import ValidationError, validates

from models.account import ACCOUNT_TYPES
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
    connection_status = fields.String(metadata={"enum": ["never", "connected", "failed"]})
    last_error = fields.String(allow_none=True)
    last_connected_at = fields.DateTime(allow_none=True)
    created_at = fields.DateTime()
    updated_at = fields.DateTime(allow_none=True)
    copy_enabled = fields.Boolean()
    risk_percent = DecimalString(allow_none=True)
    fixed_volume = DecimalString(allow_none=True)
    volume_multiplier = DecimalString(allow_none=True)
    max_volume = DecimalString(allow_none=True)
    symbol_map = fields.Dict(allow_none=True)


class AccountListOut(Schema):
    accounts = fields.List(fields.Nested(AccountOut))


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
