"""Refresh tokens already exchanged: presenting one again is a reuse (a stolen token)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from extensions import db
from models.columns import UTCDateTime, utcnow


class UsedRefreshToken(db.Model):  # type: ignore[name-defined,misc]
    __tablename__ = "used_refresh_tokens"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    # Unique: of two exchanges of the same token, exactly one inserts; the other is a reuse.
    jti: Mapped[str] = mapped_column(String(64), unique=True)
    sid: Mapped[str] = mapped_column(String(64))
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    used_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    # The token's own expiry: after it the row is useless (the token is refused as expired).
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)
