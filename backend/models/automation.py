"""The automation_firings table: each time a rule fired, so it never fires twice for the same
thing, whatever restarts in between (written in the action's own transaction)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from extensions import db
from models.columns import UTCDateTime, utcnow


class AutomationFiring(db.Model):  # type: ignore[name-defined,misc]
    """One firing of one rule of a dispatch, for one trade server (and one level or leg)."""

    __tablename__ = "automation_firings"
    __table_args__ = (UniqueConstraint("dispatch_id", "rule", "scope", "level"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    dispatch_id: Mapped[int] = mapped_column(
        ForeignKey("broadcasts.id", ondelete="CASCADE"), index=True
    )
    rule: Mapped[str] = mapped_column(String(20))  # breakeven | trailing | virtual_tp
    scope: Mapped[str] = mapped_column(String(150))  # the trade server whose quote fired it
    level: Mapped[str] = mapped_column(String(40), default="")  # trailing stop or leg number
    action_id: Mapped[int | None] = mapped_column(
        ForeignKey("broadcasts.id", ondelete="SET NULL"), default=None
    )
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
