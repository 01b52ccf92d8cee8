"""Notifications: each user's channels, the outbox of events, one delivery per event and channel."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Boolean, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from extensions import db
from models.columns import UTCDateTime, utcnow

CHANNEL_KINDS = ("telegram", "webhook", "email")
DELIVERY_STATUSES = ("pending", "sending", "sent", "failed")


class NotificationChannel(db.Model):  # type: ignore[name-defined,misc]
    """Where a user's notifications go: one channel of each kind at most."""

    __tablename__ = "notification_channels"
    __table_args__ = (UniqueConstraint("user_id", "kind"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    kind: Mapped[str] = mapped_column(String(20))
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    # The events it receives; None: every event.
    events: Mapped[list[str] | None] = mapped_column(JSON, default=None)
    # Telegram chat id, webhook URL or email address: not a secret, shown back.
    address: Mapped[str] = mapped_column(String(500))
    # Telegram bot token or webhook signing key, sealed by the SecretBox to this row's id.
    secret_encrypted: Mapped[str | None] = mapped_column(Text, default=None)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    updated_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), default=None)


class OutboxEvent(db.Model):  # type: ignore[name-defined,misc]
    """One event for one user, written in the transaction of what caused it."""

    __tablename__ = "notification_outbox"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    event: Mapped[str] = mapped_column(String(40))
    # The same event enqueued twice (a retried transaction, two code paths) is one row.
    dedupe_key: Mapped[str] = mapped_column(String(200), unique=True)
    payload: Mapped[dict[str, Any]] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    # When the deliverer made its deliveries (one per channel); None: not yet.
    fanned_out_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), default=None, index=True)


class NotificationDelivery(db.Model):  # type: ignore[name-defined,misc]
    """One event to one channel: sent at least once, retried with backoff, or given up."""

    __tablename__ = "notification_deliveries"
    __table_args__ = (
        UniqueConstraint("outbox_id", "channel_id"),
        Index("ix_notification_deliveries_due", "status", "next_attempt_at"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    outbox_id: Mapped[int] = mapped_column(
        ForeignKey("notification_outbox.id", ondelete="CASCADE"), index=True
    )
    channel_id: Mapped[int] = mapped_column(
        ForeignKey("notification_channels.id", ondelete="CASCADE"), index=True
    )
    status: Mapped[str] = mapped_column(String(20), default="pending")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    lease_owner: Mapped[str | None] = mapped_column(String(64), default=None)
    lease_expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), default=None)
    last_error: Mapped[str | None] = mapped_column(Text, default=None)
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), default=None)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
