"""The equity history: read downsampled to a bounded number of points, thinned and pruned."""

from __future__ import annotations

import math
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import and_, delete, func, select

from extensions import DbSession
from models import AccountEquity

MAX_POINTS = 500
THIN_AFTER = timedelta(days=1)
THIN_TO_MINUTES = 15  # one point per quarter hour once a day old
THIN_SLICE = timedelta(days=2)


def minute_of(moment: datetime) -> int:
    return int(moment.timestamp() // 60)


def points(
    session: DbSession, account_id: int, *, date_from: datetime, date_to: datetime,
    max_points: int = MAX_POINTS,
) -> tuple[list[AccountEquity], int]:  # fmt: skip
    """At most ``max_points`` points between the two times, evenly bucketed (the newest point of
    each bucket), oldest first; and the bucket's width in minutes."""
    e = AccountEquity
    first, last = minute_of(date_from), minute_of(date_to)
    step = max(1, math.ceil((last - first + 1) / max_points))
    in_window = and_(e.account_id == account_id, e.minute >= first, e.minute <= last)
    newest = (
        select(func.max(e.id)).where(in_window).group_by((e.minute - first) // step)
    ).scalar_subquery()
    rows = session.scalars(select(e).where(e.id.in_(newest)).order_by(e.minute)).all()
    return list(rows), step


def thin_and_prune(session: DbSession, *, now: datetime, keep_days: int) -> int:
    """Points older than a day keep one per THIN_TO_MINUTES; older than ``keep_days`` go."""
    e = AccountEquity
    removed = session.execute(
        delete(e).where(e.minute < minute_of(now - timedelta(days=keep_days)))
    )
    # Only the last two days past THIN_AFTER: older points were thinned by earlier passes.
    old = and_(
        e.minute < minute_of(now - THIN_AFTER),
        e.minute >= minute_of(now - THIN_AFTER - THIN_SLICE),
    )
    keep = select(func.max(e.id)).where(old).group_by(e.account_id, e.minute // THIN_TO_MINUTES)
    thinned = session.execute(delete(e).where(old, e.id.not_in(keep)))
    session.commit()
    return int(removed.rowcount or 0) + int(thinned.rowcount or 0)  # type: ignore[attr-defined]


def as_wire(point: AccountEquity) -> dict[str, Any]:
    return {
        "time": point.recorded_at, "balance": point.balance, "equity": point.equity,
        "margin": point.margin, "margin_free": point.margin_free,
    }  # fmt: skip
