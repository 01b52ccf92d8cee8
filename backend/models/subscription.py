"""The subscriptions table: an account owner's recorded opt-in to broadcasts, with that
follower's own sizing, symbol filters and protection, and where its protection stands."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import JSON, Boolean, ForeignKey, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from extensions import db
from models.columns import ExactDecimal, UTCDateTime, utcnow

# active: receives opens; close_only: a protection breach, no new opens; paused: the owner
# switched opens off; stopped_out: a breach closed everything, no new opens. Closes and other
# follow-ups reach an account whatever its state.
SUBSCRIPTION_STATES = ("active", "close_only", "paused", "stopped_out")
# confirmed: the owner accepted the terms; legacy: copy-enabled before opt-in existed, kept
# receiving until the owner confirms.
CONSENTS = ("confirmed", "legacy")


class Subscription(db.Model):  # type: ignore[name-defined,misc]
    __tablename__ = "subscriptions"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    account_id: Mapped[int] = mapped_column(
        ForeignKey("mt5_accounts.id", ondelete="CASCADE"), unique=True
    )
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    state: Mapped[str] = mapped_column(String(20), default="active", index=True)
    consent: Mapped[str] = mapped_column(String(20), default="confirmed")
    # What was accepted, when and from where (BROADCAST_TERMS_VERSION; none for legacy).
    terms_version: Mapped[str | None] = mapped_column(String(50), default=None)
    accepted_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), default=None)
    accepted_ip: Mapped[str | None] = mapped_column(String(64), default=None)
    # The follower's own terms, as ledger/follower.py reads them (None: the defaults).
    sizing: Mapped[dict[str, Any] | None] = mapped_column(JSON(none_as_null=True), default=None)
    symbols: Mapped[dict[str, Any] | None] = mapped_column(JSON(none_as_null=True), default=None)
    protection: Mapped[dict[str, Any] | None] = mapped_column(JSON(none_as_null=True), default=None)
    # The equity protection measures from: the trading day it last saw and that day's first
    # equity, and the highest equity since the subscription (or its last reset).
    day_key: Mapped[str | None] = mapped_column(String(10), default=None)
    day_start_equity: Mapped[Decimal | None] = mapped_column(ExactDecimal(), default=None)
    equity_high: Mapped[Decimal | None] = mapped_column(ExactDecimal(), default=None)
    last_equity: Mapped[Decimal | None] = mapped_column(ExactDecimal(), default=None)
    currency: Mapped[str | None] = mapped_column(String(10), default=None)
    checked_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), default=None)
    # The breach that moved it out of active: the rule, its figures and when.
    breach: Mapped[dict[str, Any] | None] = mapped_column(JSON(none_as_null=True), default=None)
    breached_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), default=None)
    # stopped_out: every position is still to be closed (the protection pass does it).
    close_pending: Mapped[bool] = mapped_column(Boolean, default=False, server_default="0")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    updated_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), default=None)
