"""Schemas of a dispatch's results: per target account, totals per currency and in USD."""

from __future__ import annotations

from apiflask import Schema, fields

from ledger.types import DISPATCH_STATUSES
from models.results import RESULT_STATUSES
from schemas.fields import DecimalString

MONEY = "Account currency, rounded half up to its digits (2 for USD, USC and THB)."
AVERAGE = "Volume-weighted average of the deals' prices, rounded half up to 8 places."


class AppliedActionOut(Schema):
    action_id = fields.Integer()
    action = fields.String(metadata={"description": "close, modify, breakeven, cancel, ..."})
    status = fields.String(metadata={"enum": list(DISPATCH_STATUSES)})
    closed_volume = DecimalString(allow_none=True)
    executed_at = fields.DateTime(allow_none=True)


class TargetResultOut(Schema):
    account_id = fields.Integer()
    user_id = fields.Integer()
    status = fields.String(
        metadata={
            "enum": list(RESULT_STATUSES),
            "description": "pending: rows not final yet; open: volume or a pending order is "
            "still live; closed: all it opened is closed; failed / skipped: nothing traded.",
        }
    )
    currency = fields.String(allow_none=True)
    opened_volume = DecimalString(allow_none=True)
    open_price = DecimalString(allow_none=True, metadata={"description": AVERAGE})
    closed_volume = DecimalString(allow_none=True)
    close_price = DecimalString(allow_none=True, metadata={"description": AVERAGE})
    realised = DecimalString(
        allow_none=True,
        metadata={"description": f"Profit of the closes plus commission and swap. {MONEY}"},
    )
    commission = DecimalString(allow_none=True, metadata={"description": MONEY})
    swap = DecimalString(allow_none=True, metadata={"description": MONEY})
    floating = DecimalString(
        allow_none=True, metadata={"description": f"Profit and swap still open. {MONEY}"}
    )
    net = DecimalString(allow_none=True, metadata={"description": "realised + floating"})
    positions = fields.List(fields.Integer(), metadata={"description": "Position ids read."})
    legs = fields.Integer()
    actions = fields.List(fields.Nested(AppliedActionOut))
    reason = fields.String(allow_none=True, metadata={"description": "Why nothing traded."})
    error = fields.String(
        allow_none=True, metadata={"description": "Why the terminal could not be read now."}
    )
    computed_at = fields.DateTime(
        allow_none=True, metadata={"description": "When these figures were read."}
    )


class ConversionQuoteOut(Schema):
    """The quote a money figure was converted to USD with."""

    pair = fields.String()
    bid = DecimalString()
    ask = DecimalString()
    quoted_at = fields.DateTime()
    account_id = fields.Integer(metadata={"description": "The account whose terminal quoted."})


class UsdOut(Schema):
    rate = DecimalString(metadata={"description": "USD per unit, at the quote's mid price."})
    quote = fields.Nested(
        ConversionQuoteOut,
        allow_none=True,
        metadata={"description": "None: USD, or USC at 100 = 1 USD."},
    )
    realised = DecimalString()
    floating = DecimalString()
    net = DecimalString()


class CurrencyTotalOut(Schema):
    currency = fields.String()
    targets = fields.Integer()
    realised = DecimalString()
    floating = DecimalString()
    net = DecimalString()
    usd = fields.Nested(
        UsdOut, allow_none=True, metadata={"description": "None: no quote converts it."}
    )


class UsdTotalOut(Schema):
    realised = DecimalString()
    floating = DecimalString()
    net = DecimalString()
    complete = fields.Boolean(metadata={"description": "Every currency could be converted."})


class TotalsOut(Schema):
    by_currency = fields.List(fields.Nested(CurrencyTotalOut))
    usd = fields.Nested(UsdTotalOut)
    winners = fields.Integer(metadata={"description": "Targets that traded with net > 0."})
    losers = fields.Integer(metadata={"description": "Targets that traded with net < 0."})
    breakeven = fields.Integer()
    by_status = fields.Dict(keys=fields.String(), values=fields.Integer())


class RefreshOut(Schema):
    read_now = fields.Integer(metadata={"description": "Targets read at terminals just now."})
    waiting = fields.Integer(
        metadata={"description": "Targets due a read beyond max_reads: ask again."}
    )
    refresh_s = fields.Float()
    max_reads = fields.Integer()


class ResultsOut(Schema):
    dispatch_id = fields.Integer()
    kind = fields.String(metadata={"enum": ["orders", "broadcast"]})
    symbol = fields.String(allow_none=True)
    side = fields.String(allow_none=True)
    status = fields.String(metadata={"enum": list(DISPATCH_STATUSES)})
    created_at = fields.DateTime()
    finished_at = fields.DateTime(allow_none=True)
    total = fields.Integer(metadata={"description": "Target accounts (the caller's, for /me)."})
    page = fields.Integer()
    per_page = fields.Integer()
    refresh = fields.Nested(RefreshOut)
    totals = fields.Nested(TotalsOut)
    targets = fields.List(fields.Nested(TargetResultOut))
