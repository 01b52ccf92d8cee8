"""The dispatch_results table: one target account's figures for one dispatch, as last read."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from sqlalchemy import JSON, Boolean, ForeignKey, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from extensions import db
from models.columns import ExactDecimal, UTCDateTime

RESULT_STATUSES = ("pending", "open", "closed", "failed", "skipped")


class DispatchResult(db.Model):  # type: ignore[name-defined,misc]
    """What a dispatch did on one account, read from its terminal's deals (a cache).

    ``final`` rows (closed, failed, skipped) are never read again; open ones are re-read when
    the ledger changed since ``ledger_seen_at`` or they are older than RESULTS_REFRESH_S.
    """

    __tablename__ = "dispatch_results"

    dispatch_id: Mapped[int] = mapped_column(
        ForeignKey("broadcasts.id", ondelete="CASCADE"), primary_key=True
    )
    account_id: Mapped[int] = mapped_column(
        ForeignKey("mt5_accounts.id", ondelete="CASCADE"), primary_key=True
    )
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    status: Mapped[str] = mapped_column(String(20))
    final: Mapped[bool] = mapped_column(Boolean, default=False)
    currency: Mapped[str | None] = mapped_column(String(10), default=None)
    currency_digits: Mapped[int | None] = mapped_column(Integer, default=None)
    opened_volume: Mapped[Decimal | None] = mapped_column(ExactDecimal(), default=None)
    open_price: Mapped[Decimal | None] = mapped_column(ExactDecimal(), default=None)
    closed_volume: Mapped[Decimal | None] = mapped_column(ExactDecimal(), default=None)
    close_price: Mapped[Decimal | None] = mapped_column(ExactDecimal(), default=None)
    realised: Mapped[Decimal | None] = mapped_column(ExactDecimal(), default=None)
    commission: Mapped[Decimal | None] = mapped_column(ExactDecimal(), default=None)
    swap: Mapped[Decimal | None] = mapped_column(ExactDecimal(), default=None)
    floating: Mapped[Decimal | None] = mapped_column(ExactDecimal(), default=None)
    positions: Mapped[list[int] | None] = mapped_column(JSON, default=None)
    # The quote that converts the account currency into USD, read with these figures.
    quote_pair: Mapped[str | None] = mapped_column(String(20), default=None)
    quote_bid: Mapped[Decimal | None] = mapped_column(ExactDecimal(), default=None)
    quote_ask: Mapped[Decimal | None] = mapped_column(ExactDecimal(), default=None)
    quoted_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), default=None)
    error: Mapped[str | None] = mapped_column(Text, default=None)
    computed_at: Mapped[datetime] = mapped_column(UTCDateTime())
    # The newest ledger change (a row of the dispatch or of a follow-up) these figures include.
    ledger_seen_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), default=None)
