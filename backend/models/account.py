"""The mt5_accounts table: a user's MT5 login, its encrypted password and copy settings."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import JSON, Boolean, ForeignKey, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from extensions import db
from models.columns import ExactDecimal, UTCDateTime, utcnow
from models.session import AccountSession
from models.user import User

ACCOUNT_TYPES = ("demo", "live")


class MT5Account(db.Model):  # type: ignore[name-defined,misc]
    __tablename__ = "mt5_accounts"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    account_name: Mapped[str] = mapped_column(String(100))
    login: Mapped[str] = mapped_column(String(50))
    # "v1:<key id>:<base64 nonce+ciphertext>", AES-256-GCM bound to this row's id.
    password_encrypted: Mapped[str] = mapped_column(Text, default="")
    server: Mapped[str] = mapped_column(String(100))
    broker: Mapped[str | None] = mapped_column(String(100), default=None)
    account_type: Mapped[str] = mapped_column(String(20), default="demo")
    is_active: Mapped[bool] = mapped_column(Boolean, default=True, server_default="1")
    # Deleted accounts keep their row (order history points at it) but lose their credentials.
    deleted_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), default=None, index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    updated_at: Mapped[datetime | None] = mapped_column(
        UTCDateTime(), default=None, onupdate=utcnow
    )
    terminal: Mapped[str] = mapped_column(String(255), default="sim://default")
    connection_status: Mapped[str] = mapped_column(
        String(20), default="never", server_default="never"
    )
    last_error: Mapped[str | None] = mapped_column(Text, default=None)
    last_connected_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), default=None)
    # Copy / broadcast settings of this account.
    copy_enabled: Mapped[bool] = mapped_column(Boolean, default=True, server_default="1")
    risk_percent: Mapped[Decimal | None] = mapped_column(ExactDecimal(), default=None)
    fixed_volume: Mapped[Decimal | None] = mapped_column(ExactDecimal(), default=None)
    volume_multiplier: Mapped[Decimal | None] = mapped_column(ExactDecimal(), default=None)
    max_volume: Mapped[Decimal | None] = mapped_column(ExactDecimal(), default=None)
    symbol_map: Mapped[dict[str, Any] | None] = mapped_column(JSON, default=None)

    owner: Mapped[User] = relationship(lazy="joined")
    # The session keeper's view of its terminal session (read when shown, not on every load).
    live: Mapped[AccountSession | None] = relationship(viewonly=True, uselist=False)
