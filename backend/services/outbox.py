"""The notification outbox: events written in the caller's own transaction, delivered later.

Whoever causes an event calls ``enqueue`` (or ``enqueue_many`` for a batch) inside the
transaction that makes it true, so the event exists exactly when the change does; the
deliverer (services/notifications) sends it to the user's channels after commit. The
``dedupe_key`` makes a repeated enqueue (a retried transaction, two code paths) one event.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from extensions import DbSession
from models import OutboxEvent
from models.columns import utcnow
from utils.database import dialect_insert

EVENTS = ("dispatch_finished", "target_failed", "protection_triggered", "account_disconnected")
BATCH = 5000  # events per INSERT: 5 parameters each, under SQLite (32766) and PostgreSQL (65535)


@dataclass(frozen=True)
class Notice:
    """One event for one user; its payload is JSON (the message is rendered at delivery)."""

    user_id: int
    event: str
    payload: dict[str, Any]
    dedupe_key: str = field(default_factory=lambda: f"once:{uuid.uuid4().hex}")

    def __post_init__(self) -> None:
        if self.event not in EVENTS:
            raise ValueError(f"unknown notification event {self.event!r}; one of {EVENTS}")


def enqueue(
    session: DbSession,
    user_id: int,
    event: str,
    payload: dict[str, Any],
    *,
    dedupe_key: str | None = None,
) -> None:
    """Add one event to the outbox in the caller's transaction (the caller commits).

    ``dedupe_key``: the same key twice is one event (e.g. ``protection_triggered:<account>:
    <rule>:<day>``); without one every call is its own event.
    """
    notice = Notice(user_id, event, payload)
    if dedupe_key is not None:
        notice = Notice(user_id, event, payload, dedupe_key)
    enqueue_many(session, [notice])


def enqueue_many(session: DbSession, notices: Sequence[Notice]) -> None:
    """Add a batch of events: one INSERT (per BATCH), duplicates (by dedupe_key) skipped."""
    now = utcnow()
    rows = [
        {"user_id": n.user_id, "event": n.event, "dedupe_key": n.dedupe_key[:200],
         "payload": n.payload, "created_at": now}
        for n in notices
    ]  # fmt: skip
    for start in range(0, len(rows), BATCH):
        statement = dialect_insert(session, OutboxEvent.__table__).values(
            rows[start : start + BATCH]
        )
        session.execute(statement.on_conflict_do_nothing(index_elements=["dedupe_key"]))
