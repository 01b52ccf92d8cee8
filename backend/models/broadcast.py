"""The order ledger: one dispatch (broadcasts) and one broadcast_queue row per target and leg."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from enum import StrEnum
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column
from sqlalchemy.sql import literal_column

from extensions import db
from models.columns import ExactDecimal, UTCDateTime, utcnow

DISPATCH_KINDS = ("orders", "broadcast", "action")


class RowStatus(StrEnum):
    """Where one target row stands; the ledger's only statuses."""

    PENDING = "pending"
    IN_FLIGHT = "in_flight"
    EXECUTED = "executed"
    PLACED = "placed"  # a pending order is on the book: not a fill
    SKIPPED = "skipped"  # nothing to do (the position was already closed, a filtered symbol)
    FAILED = "failed"
    EXPIRED = "expired"
    CANCELLED = "cancelled"


ROW_STATUSES = tuple(status.value for status in RowStatus)
OPEN_ROW_STATUSES = frozenset({RowStatus.PENDING.value, RowStatus.IN_FLIGHT.value})
FINAL_ROW_STATUSES = frozenset(ROW_STATUSES) - OPEN_ROW_STATUSES


class Dispatch(db.Model):  # type: ignore[name-defined,misc]
    """One request to trade: a user's send_orders or a super admin's broadcast."""

    __tablename__ = "broadcasts"
    __table_args__ = (UniqueConstraint("creator_id", "idempotency_key"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    kind: Mapped[str] = mapped_column(String(20))
    # An action follows up an earlier dispatch (its parent); opens have none.
    parent_id: Mapped[int | None] = mapped_column(
        ForeignKey("broadcasts.id", ondelete="CASCADE"), default=None, index=True
    )
    creator_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    order_data: Mapped[dict[str, Any]] = mapped_column(JSON)
    sizing: Mapped[dict[str, Any] | None] = mapped_column(JSON, default=None)
    # Server-side rules of an open (ledger/automation.py): breakeven after a TP, trailing.
    automation: Mapped[dict[str, Any] | None] = mapped_column(JSON(none_as_null=True), default=None)
    idempotency_key: Mapped[str | None] = mapped_column(String(255), default=None)
    request_hash: Mapped[str] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(20), default="pending", index=True)
    target_count: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, index=True)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime())
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), default=None)
    cancelled_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), default=None)


class BroadcastQueue(db.Model):  # type: ignore[name-defined,misc]
    """One order to one MT5 account (one leg of it): the unit of execution and of status."""

    __tablename__ = "broadcast_queue"
    __table_args__ = (
        UniqueConstraint("dispatch_id", "account_id", "leg"),
        Index("ix_broadcast_queue_status_account", "status", "account_id", "id"),
        Index("ix_broadcast_queue_lease", "status", "lease_expires_at"),
        Index("ix_broadcast_queue_dispatch_status", "dispatch_id", "status"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    # The seed's columns.
    admin_user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    target_user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    order_data: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(20), default="pending", server_default="pending")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    executed_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), default=None)
    error_message: Mapped[str | None] = mapped_column(Text, default=None)
    # The ledger's columns.
    dispatch_id: Mapped[int] = mapped_column(
        ForeignKey("broadcasts.id", ondelete="CASCADE"), index=True
    )
    account_id: Mapped[int] = mapped_column(
        ForeignKey("mt5_accounts.id", ondelete="CASCADE"), index=True
    )
    leg: Mapped[int] = mapped_column(Integer, default=0)
    symbol: Mapped[str | None] = mapped_column(String(50), default=None)
    volume: Mapped[Decimal | None] = mapped_column(ExactDecimal(), default=None)
    magic: Mapped[int] = mapped_column(Integer, default=0)
    comment_tag: Mapped[str] = mapped_column(String(31), default="")
    attempts: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    lease_owner: Mapped[str | None] = mapped_column(String(64), default=None)
    lease_expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), default=None)
    outcome_unknown: Mapped[bool] = mapped_column(Boolean, default=False, server_default="0")
    retcode: Mapped[int | None] = mapped_column(Integer, default=None)
    # MT5 tickets are 64-bit (ulong); some brokers' pass 2**31.
    order_ticket: Mapped[int | None] = mapped_column(BigInteger, default=None)
    deal_ticket: Mapped[int | None] = mapped_column(BigInteger, default=None)
    position_ticket: Mapped[int | None] = mapped_column(BigInteger, default=None)
    fill_price: Mapped[Decimal | None] = mapped_column(ExactDecimal(), default=None)
    fill_volume: Mapped[Decimal | None] = mapped_column(ExactDecimal(), default=None)
    latency_ms: Mapped[int | None] = mapped_column(Integer, default=None)
    expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), default=None)
    updated_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), default=None)
    # Moves on every UPDATE of the row, whatever statement makes it (SQLAlchemy renders
    # ``row_version = row_version + 1`` into each ORM flush and Core update that does not set
    # it): a page of targets is unchanged exactly when its (id, row_version) pairs are, which
    # is what the status page cache checks before it serves a page again.
    row_version: Mapped[int] = mapped_column(
        Integer, server_default="0", onupdate=literal_column("row_version + 1")
    )
    error_details: Mapped[dict[str, Any] | None] = mapped_column(JSON, default=None)
    # Actions: what the row did to which position or order, and the open row it follows up.
    action: Mapped[str | None] = mapped_column(String(20), default=None)
    ticket: Mapped[int | None] = mapped_column(BigInteger, default=None)
    parent_row_id: Mapped[int | None] = mapped_column(
        ForeignKey("broadcast_queue.id", ondelete="SET NULL"), default=None, index=True
    )
    # Closes: the lots this row closed, and what the position still held afterwards. On an
    # open row, closed_volume adds up what its follow-ups closed of it.
    closed_volume: Mapped[Decimal | None] = mapped_column(ExactDecimal(), default=None)
    # A netting account holds one position per symbol: its legs ride on one order whose TP is
    # the last leg's, and this leg's TP is watched by the server (a virtual take profit).
    virtual_tp: Mapped[bool] = mapped_column(Boolean, default=False, server_default="0")
    remaining_volume: Mapped[Decimal | None] = mapped_column(ExactDecimal(), default=None)
    # What sizing changed of what was asked (risk, volume, take-profit shares), both figures.
    warnings: Mapped[list[str] | None] = mapped_column(JSON, default=None)

    @property
    def is_final(self) -> bool:
        return self.status in FINAL_ROW_STATUSES


class DispatchCounts(db.Model):  # type: ignore[name-defined,misc]
    """How many of a dispatch's rows stand in each status, kept by the database itself.

    Triggers on ``broadcast_queue`` (see the migration ``dispatch_counts``) add and subtract
    in the same statement that inserts a row, moves its status or deletes it, so the counts
    commit or roll back with the outcome they count and no code path can forget them; on
    PostgreSQL the row lock serialises concurrent recorders. Reading a dispatch's progress is
    then one primary-key read, however many targets it has.
    """

    __tablename__ = "dispatch_counts"

    dispatch_id: Mapped[int] = mapped_column(
        ForeignKey("broadcasts.id", ondelete="CASCADE"), primary_key=True
    )
    pending: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    in_flight: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    executed: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    placed: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    skipped: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    failed: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    expired: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    cancelled: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
