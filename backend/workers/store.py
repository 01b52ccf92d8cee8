"""The ledger's SQL: claim rows with a lease, record outcomes with fencing, sweep, finalise.

Every function here is one short transaction on the ``broadcast_queue`` table, the only durable
queue. A claim is a single UPDATE that takes a row only when it is ``pending`` and the head of
its account's queue (no row of that account in flight, no older pending row), so at most one
order per MT5 account is in flight, in creation order. On PostgreSQL the account rows are locked
first (``FOR UPDATE``), so two claims for one account cannot both see it idle.
"""

from __future__ import annotations

import os
import socket
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import and_, bindparam, exists, func, or_, select, update
from sqlalchemy.orm import aliased

from extensions import DbSession
from models import BroadcastQueue, Dispatch, MT5Account
from models.broadcast import FINAL_ROW_STATUSES

LEASE_SECONDS = 120  # above the gateway's own call timeout (75 s), so a live send keeps its row
HOST = socket.gethostname()


def utcnow() -> datetime:
    return datetime.now(UTC)


def new_owner_id() -> str:
    """host:pid:random — the pid lets a restart on the same host reclaim a dead worker's rows."""
    return f"{HOST}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


def owner_is_dead(owner: str | None) -> bool:
    """True only when the owner ran on this host and its process no longer exists."""
    if not owner:
        return True
    host, _, rest = owner.partition(":")
    pid_text = rest.partition(":")[0]
    if host != HOST or not pid_text.isdigit():
        return False
    pid = int(pid_text)
    if pid == os.getpid():
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    return _is_zombie(pid)


def _is_zombie(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii") as stat:
            return stat.read().rsplit(")", 1)[1].split()[0] == "Z"
    except (OSError, IndexError):
        return False


def _is_postgres(session: DbSession) -> bool:
    return session.get_bind().dialect.name == "postgresql"


def _head_of_account() -> Any:
    """The row is its account's next order: nothing of that account in flight, nothing older."""
    other = aliased(BroadcastQueue)
    busy = exists().where(
        other.account_id == BroadcastQueue.account_id, other.status == "in_flight"
    )
    older = exists().where(
        other.account_id == BroadcastQueue.account_id,
        other.status == "pending",
        other.id < BroadcastQueue.id,
    )
    return and_(~busy, ~older)


def _lock_accounts(session: DbSession, account_ids: Iterable[int]) -> None:
    ids = sorted(set(account_ids))
    if ids and _is_postgres(session):
        session.execute(
            select(MT5Account.id)
            .where(MT5Account.id.in_(ids))
            .order_by(MT5Account.id)
            .with_for_update()
        )


def claim_rows(
    session: DbSession,
    *,
    owner: str,
    row_ids: Sequence[int] | None = None,
    dispatch_id: int | None = None,
    dispatch_ids: Sequence[int] | None = None,
    account_ids: Sequence[int] | None = None,
    lease_seconds: int = LEASE_SECONDS,
) -> list[int]:
    """Atomically take the claimable rows named by any of the scopes; returns the ids taken.

    One call for everything the executor has to start (new dispatches, re-driven rows, each
    account's next row) keeps it to one transaction per batch.
    """
    alternatives: list[Any] = []
    if row_ids:
        alternatives.append(BroadcastQueue.id.in_(list(row_ids)))
    if dispatch_id is not None:
        alternatives.append(BroadcastQueue.dispatch_id == dispatch_id)
    if dispatch_ids:
        alternatives.append(BroadcastQueue.dispatch_id.in_(list(dispatch_ids)))
    if account_ids:
        alternatives.append(BroadcastQueue.account_id.in_(list(account_ids)))
    if not alternatives:
        return []
    scope = [or_(*alternatives)]
    if _is_postgres(session):
        _lock_accounts(session, _accounts_in_scope(session, scope))
    now = utcnow()
    statement = (
        update(BroadcastQueue)
        .where(*scope, BroadcastQueue.status == "pending", _head_of_account())
        .values(
            status="in_flight",
            lease_owner=owner,
            lease_expires_at=now + timedelta(seconds=lease_seconds),
            attempts=BroadcastQueue.attempts + 1,
            updated_at=now,
        )
        .returning(BroadcastQueue.id)
    )
    claimed = [
        row[0]
        for row in session.execute(statement, execution_options={"synchronize_session": False})
    ]
    session.commit()
    return sorted(claimed)


def _accounts_in_scope(session: DbSession, scope: list[Any]) -> list[int]:
    query = (
        select(BroadcastQueue.account_id)
        .where(*scope, BroadcastQueue.status == "pending")
        .distinct()
    )
    return list(session.scalars(query))


@dataclass(frozen=True)
class RowOutcome:
    """What happened to one claimed row; written back with ``record_outcomes``."""

    row_id: int
    status: str  # executed | failed | expired | cancelled | pending (give back, e.g. shutdown)
    retcode: int | None = None
    error: str | None = None
    order_ticket: int | None = None
    deal_ticket: int | None = None
    position_ticket: int | None = None
    fill_price: Decimal | None = None
    fill_volume: Decimal | None = None
    latency_ms: int | None = None
    symbol: str | None = None
    volume: Decimal | None = None
    outcome_unknown: bool = False
    sibling_volumes: dict[int, Decimal] | None = None  # leg -> volume, set when legs were sized


def record_outcomes(session: DbSession, outcomes: Sequence[RowOutcome], *, owner: str) -> None:
    """Write the outcomes of rows this owner still holds, all in one transaction.

    Fencing: a row whose lease was taken over (``lease_owner`` changed) is not overwritten. One
    executemany for the batch keeps a 1000-target fan-out to a few statements.
    """
    if not outcomes:
        return
    now = utcnow()
    table = BroadcastQueue.__table__
    statement = (
        update(table)
        .where(
            table.c.id == bindparam("b_id"),
            table.c.status == "in_flight",
            table.c.lease_owner == bindparam("b_owner"),
        )
        .values(
            status=bindparam("b_status"),
            retcode=bindparam("b_retcode"),
            error_message=bindparam("b_error"),
            order_ticket=bindparam("b_order"),
            deal_ticket=bindparam("b_deal"),
            position_ticket=bindparam("b_position"),
            fill_price=bindparam("b_price"),
            fill_volume=bindparam("b_filled"),
            latency_ms=bindparam("b_latency"),
            outcome_unknown=bindparam("b_unknown"),
            symbol=func.coalesce(bindparam("b_symbol", type_=table.c.symbol.type), table.c.symbol),
            volume=func.coalesce(bindparam("b_volume", type_=table.c.volume.type), table.c.volume),
            executed_at=bindparam("b_executed_at"),
            lease_owner=None,
            lease_expires_at=None,
            updated_at=now,
        )
    )
    session.connection().execute(
        statement,
        [
            {
                "b_id": o.row_id,
                "b_owner": owner,
                "b_status": o.status,
                "b_retcode": o.retcode,
                "b_error": o.error,
                "b_order": o.order_ticket,
                "b_deal": o.deal_ticket,
                "b_position": o.position_ticket,
                "b_price": o.fill_price,
                "b_filled": o.fill_volume,
                "b_latency": o.latency_ms,
                "b_unknown": o.outcome_unknown,
                "b_symbol": o.symbol,
                "b_volume": o.volume,
                "b_executed_at": now if o.status in FINAL_ROW_STATUSES else None,
            }
            for o in outcomes
        ],
    )
    for outcome in outcomes:
        if outcome.sibling_volumes and len(outcome.sibling_volumes) > 1:
            _store_sibling_volumes(session, outcome.row_id, outcome.sibling_volumes)
    _finalise_dispatches(session, [o.row_id for o in outcomes], now)
    session.commit()


def _store_sibling_volumes(session: DbSession, row_id: int, volumes: dict[int, Decimal]) -> None:
    """The first leg sizes the whole account's position; the other legs keep that split."""
    row = session.execute(
        select(BroadcastQueue.dispatch_id, BroadcastQueue.account_id).where(
            BroadcastQueue.id == row_id
        )
    ).one()
    table = BroadcastQueue.__table__
    session.connection().execute(
        update(table)
        .where(
            table.c.dispatch_id == row.dispatch_id,
            table.c.account_id == row.account_id,
            table.c.leg == bindparam("b_leg"),
            table.c.volume.is_(None),
        )
        .values(volume=bindparam("b_volume")),
        [{"b_leg": leg, "b_volume": volume} for leg, volume in volumes.items()],
    )


def _finalise_dispatches(session: DbSession, row_ids: Sequence[int], now: datetime) -> None:
    if not row_ids:
        return
    dispatch_ids = set(
        session.scalars(
            select(BroadcastQueue.dispatch_id).where(BroadcastQueue.id.in_(row_ids)).distinct()
        )
    )
    finalise_dispatches(session, dispatch_ids, now)


def finalise_dispatches(
    session: DbSession, dispatch_ids: Iterable[int], now: datetime | None = None
) -> None:
    """A dispatch whose rows are all final gets its summary status and finished_at."""
    now = now or utcnow()
    for dispatch_id in dispatch_ids:
        # An index seek on (dispatch_id, status): the common case, a dispatch still under way,
        # costs O(log n) rather than counting every row of a thousand-target broadcast.
        still_open = session.scalar(
            select(BroadcastQueue.id)
            .where(
                BroadcastQueue.dispatch_id == dispatch_id,
                BroadcastQueue.status.in_(("pending", "in_flight")),
            )
            .limit(1)
        )
        if still_open is not None:
            continue
        counts = dict(
            session.execute(
                select(BroadcastQueue.status, func.count())
                .where(BroadcastQueue.dispatch_id == dispatch_id)
                .group_by(BroadcastQueue.status)
            ).all()
        )
        if any(status not in FINAL_ROW_STATUSES for status in counts):
            continue
        session.execute(
            update(Dispatch)
            .where(Dispatch.id == dispatch_id, Dispatch.finished_at.is_(None))
            .values(status=summary_status(counts), finished_at=now)
        )


def summary_status(counts: dict[str, int]) -> str:
    """One word for a dispatch.

    pending, in_progress, completed, partial, failed, expired or cancelled.
    """
    total = sum(counts.values())
    if total == 0:
        return "completed"
    final = sum(n for s, n in counts.items() if s in FINAL_ROW_STATUSES)
    if final < total:
        return "pending" if counts.get("pending", 0) == total else "in_progress"
    executed = counts.get("executed", 0)
    if executed == total:
        return "completed"
    if executed:
        return "partial"
    for status in ("cancelled", "expired"):
        if counts.get(status, 0) == total:
            return status
    return "failed"


def release_rows(session: DbSession, row_ids: Sequence[int], *, owner: str) -> None:
    """Give claimed rows back untouched (shutdown before they were started)."""
    if not row_ids:
        return
    session.execute(
        update(BroadcastQueue)
        .where(
            BroadcastQueue.id.in_(list(row_ids)),
            BroadcastQueue.lease_owner == owner,
            BroadcastQueue.status == "in_flight",
        )
        .values(
            status="pending",
            lease_owner=None,
            lease_expires_at=None,
            attempts=BroadcastQueue.attempts - 1,
        ),
        execution_options={"synchronize_session": False},
    )
    session.commit()


def recover_abandoned(session: DbSession) -> int:
    """Rows in flight whose lease ran out or whose worker died go back to pending, outcome unknown.

    Unknown, because the worker may have sent the order before it died: the next claim looks for
    the tagged order at the broker before sending anything.
    """
    now = utcnow()
    candidates = session.execute(
        select(
            BroadcastQueue.id, BroadcastQueue.lease_owner, BroadcastQueue.lease_expires_at
        ).where(BroadcastQueue.status == "in_flight")
    ).all()
    stale = [
        row.id
        for row in candidates
        if row.lease_expires_at is None
        or row.lease_expires_at <= now
        or owner_is_dead(row.lease_owner)
    ]
    if not stale:
        return 0
    session.execute(
        update(BroadcastQueue)
        .where(BroadcastQueue.id.in_(stale), BroadcastQueue.status == "in_flight")
        .values(
            status="pending",
            outcome_unknown=True,
            lease_owner=None,
            lease_expires_at=None,
            updated_at=now,
        ),
        execution_options={"synchronize_session": False},
    )
    session.commit()
    return len(stale)


def expire_overdue(session: DbSession) -> int:
    """Pending rows past their deadline become expired, never sent late.

    A row whose earlier attempt has an unknown outcome is left for the executor, which
    reconciles it with the broker first (it may have been filled before the deadline).
    """
    now = utcnow()
    overdue = list(
        session.scalars(
            select(BroadcastQueue.id).where(
                BroadcastQueue.status == "pending",
                BroadcastQueue.expires_at < now,
                BroadcastQueue.outcome_unknown.is_(False),
            )
        )
    )
    if not overdue:
        return 0
    session.execute(
        update(BroadcastQueue)
        .where(BroadcastQueue.id.in_(overdue), BroadcastQueue.status == "pending")
        .values(
            status="expired",
            error_message="expired before it could be sent",
            executed_at=now,
            updated_at=now,
        ),
        execution_options={"synchronize_session": False},
    )
    _finalise_dispatches(session, overdue, now)
    session.commit()
    return len(overdue)


def pending_heads(session: DbSession, limit: int = 1000, older_than_s: int = 0) -> list[int]:
    """Ids of pending rows that are their account's next order (to re-drive).

    ``older_than_s`` skips rows created or touched recently, whose own task is probably still
    queued (Celery), so a sweep does not flood the broker with duplicates.
    """
    query = select(BroadcastQueue.id).where(BroadcastQueue.status == "pending", _head_of_account())
    if older_than_s:
        cutoff = utcnow() - timedelta(seconds=older_than_s)
        query = query.where(
            func.coalesce(BroadcastQueue.updated_at, BroadcastQueue.created_at) < cutoff
        )
    return list(session.scalars(query.order_by(BroadcastQueue.id).limit(limit)))


def next_heads_for_accounts(session: DbSession, account_ids: Iterable[int]) -> list[int]:
    ids = sorted(set(account_ids))
    if not ids:
        return []
    query = select(BroadcastQueue.id).where(
        BroadcastQueue.account_id.in_(ids), BroadcastQueue.status == "pending", _head_of_account()
    )
    return list(session.scalars(query))
