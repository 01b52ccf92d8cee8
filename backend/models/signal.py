"""Signal intake: a provider's webhook tokens (signal_tokens) and each signal received (signals)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, ForeignKey, Index, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from extensions import db
from models.columns import UTCDateTime, utcnow


class SignalToken(db.Model):  # type: ignore[name-defined,misc]
    """A super admin's webhook token: only its keyed hash is kept (HMAC under API_KEY_PEPPER)."""

    __tablename__ = "signal_tokens"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    prefix: Mapped[str] = mapped_column(String(20))  # shown in lists: which token is which
    name: Mapped[str | None] = mapped_column(String(100), default=None)
    # Our symbol names this token may trade (None: any); follow-ups reach only their signals.
    symbols: Mapped[list[str] | None] = mapped_column(JSON(none_as_null=True), default=None)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    last_used_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), default=None)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), default=None)

    def allows(self, symbol: str | None) -> bool:
        return symbol is None or self.symbols is None or symbol in self.symbols


class Signal(db.Model):  # type: ignore[name-defined,misc]
    """One signal received, what it was read as and the dispatch it became.

    ``resend_key`` holds the body hash while a resend of the same body (TradingView retries)
    must come back to this signal; the unique (token, resend_key) makes two concurrent copies
    one signal on any database, and the key is cleared once the resend window has passed.
    """

    __tablename__ = "signals"
    __table_args__ = (
        UniqueConstraint("token_id", "resend_key"),
        Index("ix_signals_user_id_id", "user_id", "id"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    token_id: Mapped[int] = mapped_column(ForeignKey("signal_tokens.id", ondelete="CASCADE"))
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    body_hash: Mapped[str] = mapped_column(String(64))
    resend_key: Mapped[str | None] = mapped_column(String(64), default=None)
    kind: Mapped[str] = mapped_column(String(20))  # open | follow_up
    symbol: Mapped[str | None] = mapped_column(String(40), default=None)
    parsed: Mapped[dict[str, Any]] = mapped_column(JSON)
    dispatch_id: Mapped[int | None] = mapped_column(
        ForeignKey("broadcasts.id", ondelete="SET NULL"), default=None
    )
    # A follow-up reaching several signals (CLOSE ALL) makes one action per signal.
    dispatch_ids: Mapped[list[int] | None] = mapped_column(JSON(none_as_null=True), default=None)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
