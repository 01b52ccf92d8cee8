"""The deliverer's SQL: events fanned out to channels, deliveries claimed with a lease, outcomes.

At least once: a delivery is marked sent only after its channel took it, so a sender that dies
in between sends it again after its lease. One sender at a time per delivery, however many
processes run: the claim is one UPDATE of rows that are pending and due, and on PostgreSQL
the candidates are locked with FOR UPDATE SKIP LOCKED, so two deliverers never take one row.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select, update

from extensions import DbSession
from models import NotificationChannel, NotificationDelivery, OutboxEvent, User
from utils.database import dialect_insert

D = NotificationDelivery


def fan_out(session: DbSession, *, now: datetime, limit: int = 500) -> int:
    """One delivery per (event, channel) for events not fanned out yet; how many events.

    The unique (event, channel) pair makes a second deliverer doing the same a no-op.
    """
    found = session.execute(
        select(OutboxEvent.id, OutboxEvent.user_id, OutboxEvent.event)
        .where(OutboxEvent.fanned_out_at.is_(None))
        .order_by(OutboxEvent.id)
        .limit(limit)
        .with_for_update(skip_locked=True)
    ).all()
    if not found:
        return 0
    channels = session.execute(
        select(
            NotificationChannel.id, NotificationChannel.user_id, NotificationChannel.events
        ).where(
            NotificationChannel.user_id.in_({e.user_id for e in found}),
            NotificationChannel.enabled.is_(True),
        )
    ).all()
    deliveries = [
        {"outbox_id": e.id, "channel_id": c.id, "status": "pending", "attempts": 0,
         "next_attempt_at": now, "created_at": now}
        for e in found
        for c in channels
        if c.user_id == e.user_id and (c.events is None or e.event in c.events)
    ]  # fmt: skip
    if deliveries:
        statement = dialect_insert(session, D.__table__).values(deliveries)
        session.execute(
            statement.on_conflict_do_nothing(index_elements=["outbox_id", "channel_id"])
        )
    session.execute(
        update(OutboxEvent)
        .where(OutboxEvent.id.in_([e.id for e in found]))
        .values(fanned_out_at=now),
        execution_options={"synchronize_session": False},
    )
    session.commit()
    return len(found)


def recover_expired(session: DbSession, *, now: datetime) -> int:
    """Deliveries whose sender died mid-send are due again (their attempt counted).

    Looked for first: an UPDATE takes SQLite's write lock even when it matches nothing, and this
    runs every NOTIFY_POLL_S beside the ledger's writes."""
    stale = select(D.id).where(D.status == "sending", D.lease_expires_at < now).limit(1)
    if session.execute(stale).first() is None:
        session.rollback()
        return 0
    result = session.execute(
        update(D)
        .where(D.status == "sending", D.lease_expires_at < now)
        .values(status="pending", lease_owner=None, lease_expires_at=None),
        execution_options={"synchronize_session": False},
    )
    session.commit()
    return int(result.rowcount or 0)  # type: ignore[attr-defined]


def claim(
    session: DbSession, *, owner: str, now: datetime, lease_s: float, limit: int
) -> list[int]:
    """Take up to ``limit`` due deliveries for ``owner``; each attempt is counted here (none
    due: no write, as ``recover_expired``)."""
    any_due = select(D.id).where(D.status == "pending", D.next_attempt_at <= now).limit(1)
    if session.execute(any_due).first() is None:
        session.rollback()
        return []
    due = (
        select(D.id)
        .where(D.status == "pending", D.next_attempt_at <= now)
        .order_by(D.next_attempt_at, D.id)
        .limit(limit)
        .with_for_update(skip_locked=True)
    )
    taken = session.execute(
        update(D)
        .where(D.id.in_(due.scalar_subquery()), D.status == "pending")
        .values(
            status="sending", lease_owner=owner, attempts=D.attempts + 1,
            lease_expires_at=now + timedelta(seconds=lease_s),
        )
        .returning(D.id),
        execution_options={"synchronize_session": False},
    ).all()  # fmt: skip
    session.commit()
    return sorted(row[0] for row in taken)


def claimed_rows(session: DbSession, delivery_ids: Sequence[int]) -> list[Any]:
    """What sending the claimed deliveries needs, in one query."""
    c, o = NotificationChannel, OutboxEvent
    rows = session.execute(
        select(
            D.id, D.attempts, o.id.label("event_id"), o.event, o.payload, c.kind, c.address,
            c.id.label("channel_id"), c.secret_encrypted, User.locale,
        )
        .join(o, o.id == D.outbox_id)
        .join(c, c.id == D.channel_id)
        .join(User, User.id == o.user_id)
        .where(D.id.in_(list(delivery_ids)))
        .order_by(D.id)
    ).all()  # fmt: skip
    session.rollback()
    return list(rows)


def _fenced(delivery_id: int, owner: str) -> Any:
    return update(D).where(D.id == delivery_id, D.lease_owner == owner, D.status == "sending")


def record_sent(session: DbSession, delivery_id: int, *, owner: str, now: datetime) -> None:
    session.execute(
        _fenced(delivery_id, owner).values(
            status="sent", sent_at=now, last_error=None, lease_owner=None, lease_expires_at=None
        ),
        execution_options={"synchronize_session": False},
    )
    session.commit()


def record_failure(
    session: DbSession, delivery_id: int, *, owner: str, now: datetime, error: str,
    attempts: int, max_attempts: int, backoff_s: float,
) -> None:  # fmt: skip
    """Due again after ``backoff_s``, or failed for good after ``max_attempts``."""
    given_up = attempts >= max_attempts
    session.execute(
        _fenced(delivery_id, owner).values(
            status="failed" if given_up else "pending", last_error=error, lease_owner=None,
            lease_expires_at=None, next_attempt_at=now + timedelta(seconds=backoff_s),
        ),
        execution_options={"synchronize_session": False},
    )  # fmt: skip
    session.commit()
