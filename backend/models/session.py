"""The session keeper's tables: each account's live terminal session and its equity history."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from sqlalchemy import BigInteger, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from extensions import db
from models.columns import ExactDecimal, UTCDateTime

# "never": not checked yet (or its credentials just changed). The keeper's own states follow.
SESSION_STATES = ("never", "connected", "disconnected", "auth_failed", "unreachable")


class AccountSession(db.Model):  # type: ignore[name-defined,misc]
    """What the keeper last saw of one account's terminal session, and when it looks next.

    One keeper owns an account at a time (``lease_owner`` until ``lease_until``, renewed by every
    heartbeat); ``auth_failed`` is not retried: the row is removed when the credentials change.
    """

    __tablename__ = "account_sessions"
    __table_args__ = (Index("ix_account_sessions_due", "connection_status", "next_check_at"),)

    account_id: Mapped[int] = mapped_column(
        ForeignKey("mt5_accounts.id", ondelete="CASCADE"), primary_key=True
    )
    connection_status: Mapped[str] = mapped_column(String(20), default="never")
    last_seen_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), default=None)
    checked_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), default=None)
    latency_ms: Mapped[Decimal | None] = mapped_column(ExactDecimal(), default=None)
    currency: Mapped[str | None] = mapped_column(String(10), default=None)
    balance: Mapped[Decimal | None] = mapped_column(ExactDecimal(), default=None)
    equity: Mapped[Decimal | None] = mapped_column(ExactDecimal(), default=None)
    margin: Mapped[Decimal | None] = mapped_column(ExactDecimal(), default=None)
    margin_free: Mapped[Decimal | None] = mapped_column(ExactDecimal(), default=None)
    margin_level: Mapped[Decimal | None] = mapped_column(ExactDecimal(), default=None)
    last_error: Mapped[str | None] = mapped_column(Text, default=None)
    failures: Mapped[int] = mapped_column(Integer, default=0)
    next_check_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), default=None)
    lease_owner: Mapped[str | None] = mapped_column(String(100), default=None)
    lease_until: Mapped[datetime | None] = mapped_column(UTCDateTime(), default=None)


class AccountEquity(db.Model):  # type: ignore[name-defined,misc]
    """One recorded point of an account's balance and equity: at most one per account per minute
    (the newest heartbeat of that minute); older points are thinned out, then pruned."""

    __tablename__ = "account_equity"
    # The history is read by account and time; thinned and pruned by time across accounts.
    __table_args__ = (
        UniqueConstraint("account_id", "minute"),
        Index("ix_account_equity_minute", "minute"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("mt5_accounts.id", ondelete="CASCADE"))
    # Whole minutes since the Unix epoch: bucketing by integer division works on every database.
    minute: Mapped[int] = mapped_column(BigInteger)
    recorded_at: Mapped[datetime] = mapped_column(UTCDateTime())
    balance: Mapped[Decimal] = mapped_column(ExactDecimal())
    equity: Mapped[Decimal] = mapped_column(ExactDecimal())
    margin: Mapped[Decimal] = mapped_column(ExactDecimal())
    margin_free: Mapped[Decimal] = mapped_column(ExactDecimal())
