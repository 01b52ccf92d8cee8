"""Schemas for connecting an account and reading its terminal: decimals go out as strings.

Prices, volumes and money are the terminal's own figures (MT5 floats turned into the shortest
decimal that round-trips, i.e. what the terminal displays): no further rounding is applied.
"""

from __future__ import annotations

from apiflask import Schema, fields
from apiflask.validators import Regexp

from schemas.fields import DecimalString

SYMBOL_RULE = Regexp(r"^[A-Za-z0-9._#+-]{1,32}$", error="Not a symbol name.")


class AccountInfoOut(Schema):
    login = fields.Integer()
    server = fields.String()
    company = fields.String()
    name = fields.String()
    currency = fields.String()
    balance = DecimalString()
    equity = DecimalString()
    margin = DecimalString()
    margin_free = DecimalString()
    leverage = fields.Integer()
    trade_allowed = fields.Boolean()
    margin_mode = fields.String(metadata={"enum": ["hedging", "netting", "exchange"]})


class TerminalOut(Schema):
    connected = fields.Boolean()
    trade_allowed = fields.Boolean()
    name = fields.String()
    company = fields.String()
    build = fields.Integer()
    simulated = fields.Boolean()
    extra = fields.Dict(metadata={"description": "`{terminal, ping_last_us, tradeapi_disabled}`"})


class ConnectOut(Schema):
    connected = fields.Boolean()
    account_info = fields.Nested(AccountInfoOut)
    terminal = fields.Nested(TerminalOut)
    latency_ms = fields.Float(metadata={"description": "One round trip to the terminal, in ms."})


class PositionOut(Schema):
    ticket = fields.Integer()
    symbol = fields.String()
    type = fields.String(metadata={"enum": ["buy", "sell"]})
    volume = DecimalString()
    price_open = DecimalString()
    sl = DecimalString()
    tp = DecimalString()
    price_current = DecimalString()
    profit = DecimalString()
    swap = DecimalString()
    magic = fields.Integer()
    comment = fields.String()
    time = fields.DateTime(metadata={"description": "Opening time (the broker's server clock)."})
    identifier = fields.Integer(
        metadata={"description": "POSITION_IDENTIFIER: the opening order's ticket, for life."}
    )


class PositionsQuery(Schema):
    symbol = fields.String(validate=SYMBOL_RULE, metadata={"description": "Only this symbol."})


class PositionListOut(Schema):
    positions = fields.List(fields.Nested(PositionOut))


class DealsQuery(Schema):
    date_from = fields.DateTime(
        data_key="from", metadata={"description": "ISO 8601; default: 7 days before `to`."}
    )
    date_to = fields.DateTime(data_key="to", metadata={"description": "ISO 8601; default: now."})


class DealOut(Schema):
    ticket = fields.Integer()
    order = fields.Integer()
    position_id = fields.Integer()
    symbol = fields.String()
    type = fields.String(metadata={"description": "buy, sell, balance, credit, commission..."})
    entry = fields.String(metadata={"enum": ["in", "out", "inout", "out_by"]})
    volume = DecimalString()
    price = DecimalString()
    profit = DecimalString()
    commission = DecimalString()
    swap = DecimalString()
    magic = fields.Integer()
    comment = fields.String()
    time = fields.DateTime()


class DealListOut(Schema):
    date_from = fields.DateTime(data_key="from")
    date_to = fields.DateTime(data_key="to")
    deals = fields.List(fields.Nested(DealOut))


class SpecFields(Schema):
    """A symbol's contract (``SymbolSpec``), shared by the terminal and the catalog routes."""

    name = fields.String()
    description = fields.String()
    digits = fields.Integer()
    point = DecimalString()
    tick_size = DecimalString()
    tick_value = DecimalString(metadata={"description": "One tick of one lot, account currency."})
    tick_value_profit = DecimalString(allow_none=True)
    tick_value_loss = DecimalString(allow_none=True)
    contract_size = DecimalString()
    base_currency = fields.String()
    profit_currency = fields.String()
    margin_currency = fields.String()
    volume_min = DecimalString()
    volume_step = DecimalString()
    volume_max = DecimalString()
    margin_initial = DecimalString()
    trade_stops_level = fields.Integer()
    trade_freeze_level = fields.Integer()
    filling_mode = fields.Integer(metadata={"description": "Bit mask: 1 = FOK, 2 = IOC."})
    trade_mode = fields.Integer()


class SpecOut(SpecFields):
    calc_mode = fields.Integer(metadata={"description": "MT5's SYMBOL_CALC_MODE_* number."})


class SymbolOut(Schema):
    requested = fields.String()
    resolved = fields.String(metadata={"description": "The broker's name for it."})
    spec = fields.Nested(SpecOut)
