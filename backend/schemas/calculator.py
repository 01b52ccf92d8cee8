"""Schemas for the position-size calculator and the symbol catalog."""

from __future__ import annotations

from typing import Any

from apiflask import Schema, fields
from apiflask.validators import Length, OneOf, Range, Regexp
from marshmallow import ValidationError, validates_schema

from schemas.accounts import SYMBOL_RULE
from schemas.fields import DecimalString, OneOfField, StrictInteger
from schemas.terminal import SpecFields
from services.mt5.catalog import ACCOUNT_CURRENCIES
from services.mt5.dto import CALC_MODE_NAMES, calc_mode_number

CURRENCY_RULE = Regexp(r"^[A-Z]{3}$", error="A 3-letter currency code such as USD, USC or THB.")
PAIR_RULE = Regexp(r"^[A-Z]{6}$", error="A 6-letter pair such as USDTHB.")
CALC_MODES = list(CALC_MODE_NAMES.values())
MONEY_NOTE = "Decimal string or JSON number, in the account currency."
ROUNDING_NOTE = (
    "Money: risk_money floored to the account currency's digits, every other amount half-up to "
    "them; lots exact multiples of volume_step; percents and reward:risk half-up to 2 places; "
    "tick_value and loss_per_lot half-up to the account digits + 4 places; prices exact."
)


def strict_boolean(**kwargs: Any) -> fields.Boolean:
    """JSON true/false only (not "yes", 1 or "true")."""
    return fields.Boolean(truthy={True}, falsy={False}, **kwargs)


class AccountTermsIn(Schema):
    currency = fields.String(required=True, validate=CURRENCY_RULE)
    balance = DecimalString(required=True, non_negative=True, metadata={"description": MONEY_NOTE})
    equity = DecimalString(non_negative=True, metadata={"description": MONEY_NOTE})
    free_margin = DecimalString(metadata={"description": MONEY_NOTE})
    leverage = DecimalString(
        load_default=None,
        non_negative=True,
        validate=Range(max=100_000),
        metadata={"description": "1:N leverage as N (default 100)."},
    )
    currency_digits = StrictInteger(load_default=2, validate=Range(min=0, max=8))


class CalcModeField(OneOfField):
    """A calc mode in any spelling MT5 users meet, loaded as our name (one spelling goes out)."""

    ONE_OF = (
        {"type": "string", "example": "cfdleverage"},
        {"type": "integer", "enum": [*CALC_MODE_NAMES]},
    )
    DESCRIPTION = (
        f"One of {', '.join(CALC_MODES)} in any case, MT5's SYMBOL_CALC_MODE_* name "
        "(SYMBOL_CALC_MODE_CFDLEVERAGE or CFDLEVERAGE) or its number "
        f"({', '.join(f'{n} {name}' for n, name in CALC_MODE_NAMES.items())}); "
        "answers spell it our way, in lower case."
    )

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> str:
        if not isinstance(value, str | int):
            raise ValidationError("A calc mode name or number.")
        try:
            return CALC_MODE_NAMES[calc_mode_number(value)]
        except ValueError as exc:
            raise ValidationError(
                f"Not a calc mode: give one of {', '.join(CALC_MODES)} (any case, or MT5's "
                "SYMBOL_CALC_MODE_* name) or its number."
            ) from exc


class SymbolSpecIn(Schema):
    """A symbol's contract given in full, as ``GET /api/symbols/<name>`` returns it."""

    name = fields.String(required=True, validate=SYMBOL_RULE)
    calc_mode = CalcModeField(required=True)
    digits = StrictInteger(required=True, validate=Range(min=0, max=10))
    point = DecimalString(metadata={"description": "Default 10^-digits."})
    tick_size = DecimalString(metadata={"description": "Default point."})
    tick_value = DecimalString(
        metadata={
            "description": "One tick of one lot in the account currency; omit (or 0) to derive it "
            "from tick_size * contract_size and `rates`."
        }
    )
    tick_value_loss = DecimalString(allow_none=True)
    tick_value_profit = DecimalString(allow_none=True)
    contract_size = DecimalString(required=True)
    base_currency = fields.String(required=True, validate=CURRENCY_RULE)
    profit_currency = fields.String(required=True, validate=CURRENCY_RULE)
    margin_currency = fields.String(
        validate=CURRENCY_RULE,
        metadata={
            "description": "Default: base currency for forex modes, profit currency otherwise."
        },
    )
    volume_min = DecimalString(required=True)
    volume_step = DecimalString(required=True)
    volume_max = DecimalString(required=True)
    margin_rate = DecimalString(load_default=None)
    margin_initial = DecimalString(load_default=None)
    trade_stops_level = StrictInteger(load_default=0, metadata={"description": "In points."})
    trade_freeze_level = StrictInteger(load_default=0)
    filling_mode = StrictInteger(load_default=3)
    trade_mode = StrictInteger(load_default=4)
    description = fields.String(load_default="", validate=Length(max=200))


class SymbolField(OneOfField):
    """A symbol name (string) or a full symbol spec (object)."""

    ONE_OF = (
        {"type": "string", "example": "XAUUSD"},
        {"type": "object", "description": "Fields of SymbolSpecIn (as GET /api/symbols/<name>)."},
    )

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> Any:
        if isinstance(value, str):
            SYMBOL_RULE(value)
            return value
        if isinstance(value, dict):
            loaded: dict[str, Any] = SymbolSpecIn().load(value)
            return loaded
        raise ValidationError("A symbol name or a symbol spec object.")


class CalculatorRiskIn(Schema):
    percent = DecimalString(
        positive=True,
        max_places=4,
        metadata={"description": "Percent of the risk base (above 0, at most 100)."},
    )
    amount = DecimalString(positive=True, metadata={"description": MONEY_NOTE})

    @validates_schema
    def _one_of(self, data: dict[str, Any], **_: Any) -> None:
        if ("percent" in data) == ("amount" in data):
            raise ValidationError("Give exactly one of percent or amount.", "_schema")


class CostsIn(Schema):
    commission_per_lot_per_side = DecimalString(
        load_default=None,
        non_negative=True,
        metadata={"description": "Charged on open and again on close. " + MONEY_NOTE},
    )


SHARE_NOTE = (
    "Percent of the volume on this take profit. Omitted: an equal part of what the given shares "
    "leave of 100 (to 0.01, the last omitted one taking the remainder); one take profit needs none."
)


class CalculatorTakeProfitIn(Schema):
    price = DecimalString(required=True, positive=True)
    share_percent = DecimalString(positive=True, max_places=4, metadata={"description": SHARE_NOTE})


class TradeIn(Schema):
    side = fields.String(
        validate=OneOf(["buy", "sell"]),
        metadata={"description": "Optional: inferred from the stop loss versus the entry."},
    )
    order_type = fields.String(
        validate=OneOf(["market", "pending"]),
        metadata={
            "description": "Market orders are sized at Ask (buy) / Bid (sell). Default: "
            "pending when an entry is given, else market."
        },
    )
    entry = DecimalString(positive=True)
    bid = DecimalString(
        positive=True,
        metadata={
            "description": "With account_id and a market order, omit bid and ask to use the "
            "terminal's current tick."
        },
    )
    ask = DecimalString(positive=True)
    stop_loss = DecimalString(required=True, positive=True)
    take_profits = fields.List(
        fields.Nested(CalculatorTakeProfitIn), load_default=list, validate=Length(max=10)
    )


class PolicyIn(Schema):
    below_min = fields.String(load_default="reject", validate=OneOf(["reject", "raise"]))
    cap_by_margin = strict_boolean(load_default=False)


class CalculateIn(Schema):
    account_id = StrictInteger(
        validate=Range(min=1, max=2**31),
        metadata={
            "description": "Size from this account's live balance, currency, leverage, free "
            "margin, symbol spec and quotes (give either this or `account`)."
        },
    )
    account = fields.Nested(
        AccountTermsIn, metadata={"description": "Account terms when no account_id."}
    )
    symbol = SymbolField(
        required=True,
        metadata={
            "description": "A name (the account's terminal resolves it, else the built-in "
            "catalog) or a full spec object used as given."
        },
    )
    rates = fields.Dict(
        keys=fields.String(validate=PAIR_RULE),
        values=DecimalString(positive=True),
        load_default=None,
        validate=Length(max=50),
        metadata={
            "description": 'Quotes for currency conversion, e.g. {"USDTHB": "36.50"}. Without '
            "them a catalog symbol converts at the catalog's reference quotes (with a warning)."
        },
    )
    risk = fields.Nested(CalculatorRiskIn, required=True)
    risk_base = fields.String(
        load_default="balance", validate=OneOf(["balance", "equity", "free_margin"])
    )
    costs = fields.Nested(CostsIn, load_default=dict)
    trade = fields.Nested(TradeIn, required=True)
    policy = fields.Nested(PolicyIn, load_default=dict)

    @validates_schema
    def _one_account(self, data: dict[str, Any], **_: Any) -> None:
        if ("account_id" in data) == ("account" in data):
            raise ValidationError("Give exactly one of account_id or account.", "_schema")


class OrderLegOut(Schema):
    take_profit = fields.String(allow_none=True)
    share_percent = fields.String()
    lots = fields.String()
    risk_money = fields.String()
    reward_money = fields.String(allow_none=True)
    reward_to_risk = fields.String(allow_none=True)
    sent = fields.Boolean(metadata={"description": "False for a leg below volume_min (dropped)."})


class CalculationOut(Schema):
    class Meta:
        ordered = True

    lots = fields.String()
    risk_money = fields.String()
    actual_risk_money = fields.String()
    actual_risk_percent = fields.String(allow_none=True)
    effective_entry = fields.String()
    side = fields.String(metadata={"enum": ["buy", "sell"]})
    sl_distance_price = fields.String()
    sl_distance_points = fields.String()
    sl_distance_ticks = fields.String()
    tick_value = fields.String()
    loss_per_lot = fields.String()
    margin_required = fields.String(allow_none=True)
    max_lots_by_margin = fields.String(allow_none=True)
    orders = fields.List(fields.Nested(OrderLegOut))
    total_reward_money = fields.String(allow_none=True)
    reward_to_risk = fields.String(allow_none=True)
    flags = fields.List(
        fields.String(),
        metadata={
            "description": "clamped_to_volume_max, raised_to_volume_min, "
            "capped_by_free_margin, leg_dropped_below_min"
        },
    )
    warnings = fields.List(
        fields.String(),
        metadata={
            "description": "Notes on how the answer was reached, and every change to what was "
            "asked beyond rounding to the volume step (the risk a floored, clamped or capped "
            "volume takes, take-profit shares the split cannot keep), with both figures."
        },
    )


class SymbolSummaryOut(Schema):
    name = fields.String()
    description = fields.String()
    calc_mode = fields.String(metadata={"enum": CALC_MODES})
    digits = fields.Integer()
    contract_size = fields.String()
    volume_min = fields.String()
    volume_step = fields.String()
    volume_max = fields.String()
    base_currency = fields.String()
    profit_currency = fields.String()
    margin_currency = fields.String()


class SymbolListOut(Schema):
    symbols = fields.List(fields.Nested(SymbolSummaryOut))


class SymbolSpecOut(SpecFields):
    """A terminal's spec by another route: calc mode by name, tick value in `currency`."""

    calc_mode = fields.String(metadata={"enum": CALC_MODES})
    tick_value = DecimalString(metadata={"description": "One tick of one lot in `currency`."})
    margin_rate = DecimalString()


class SymbolQuery(Schema):
    currency = fields.String(
        load_default="USD",
        validate=OneOf(ACCOUNT_CURRENCIES),
        metadata={"description": "Account currency the tick value is expressed in."},
    )
