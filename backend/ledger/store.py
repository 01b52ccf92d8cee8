"""The ledger's SQL for execution: claim rows with a lease, record outcomes with fencing, finalise.

Every function here is one short transaction on the ``broadcast_queue`` table, the only durable
queue. A claim is a single UPDATE that takes a row only when it is ``pending`` and the head of
its account's queue (no row of that account in flight, no older pending row), so at most one
order per MT5 account is in flight, in creation order. On PostgreSQL the account rows are locked
first (``FOR UPDATE``), so two claims for one account cannot both see it idle.
"""

from __future__ import annotations

import functools
import sqlite3
from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import and_, bindparam, exists, func, or_, select, update
from sqlalchemy.orm import aliased

from extensions import DbSession
from ledger import notices, protection
from ledger.leases import LEASE_SECONDS
from ledger.types import (
    FINAL_ROW_STATUSES,
    OPEN_ROW_STATUSES,
    ROW_STATUSES,
    RowOutcome,
    summary_status,
)
from models import BroadcastQueue, Dispatch, DispatchCounts, MT5Account
from models.columns import utcnow
from services.calculation.deviations import dropped_legs_note


def _is_postgres(session: DbSession) -> bool:
    return session.get_bind().dialect.name == "postgresql"


@functools.cache
def head_of_account() -> Any:
    """The row is its account's next order: nothing of that account in flight, nothing older.

    Built once: a fresh alias per claim made SQLAlchemy rebuild and re-key the whole statement
    (a fifth of a fan-out's CPU went there)."""
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
        .where(*scope, BroadcastQueue.status == "pending", head_of_account())
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


# RowOutcome field -> broadcast_queue column, written by one fenced executemany.
OUTCOME_COLUMNS = {
    "status": "status",
    "retcode": "retcode",
    "error": "error_message",
    "order_ticket": "order_ticket",
    "deal_ticket": "deal_ticket",
    "position_ticket": "position_ticket",
    "fill_price": "fill_price",
    "fill_volume": "fill_volume",
    "latency_ms": "latency_ms",
    "outcome_unknown": "outcome_unknown",
    "error_details": "error_details",
    "closed_volume": "closed_volume",
    "remaining_volume": "remaining_volume",
    "virtual_tp": "virtual_tp",
}
# Sized on an earlier attempt: not cleared by a later one.
KEPT_UNLESS_GIVEN = ("symbol", "volume", "warnings")


def record_outcomes(session: DbSession, outcomes: Sequence[RowOutcome], *, owner: str) -> None:
    """Write the outcomes of rows this owner still holds, all in one transaction.

    Fencing: a row whose lease was taken over (``lease_owner`` changed) is not overwritten. One
    executemany for the batch keeps a 1000-target fan-out to a few statements.
    """
    if not outcomes:
        return
    now = utcnow()
    _write_outcomes(session, outcomes, owner, now)
    for outcome in outcomes:
        if outcome.carries_legs and outcome.status in FINAL_ROW_STATUSES:
            _carry_to_siblings(session, outcome, now)
        elif outcome.sibling_volumes and len(outcome.sibling_volumes) > 1:
            _store_sibling_volumes(session, outcome.row_id, outcome.sibling_volumes)
    _sum_closes_into_opens(session, {o.parent_row_id for o in outcomes if o.closed_volume})
    notices.targets_failed(session, [o.row_id for o in outcomes if o.status == "failed"])
    protection.record_breaches(session, outcomes)
    _mark_opens_gone(session, {o.parent_row_id for o in outcomes if o.position_gone})
    finalise_rows_dispatches(session, [o.row_id for o in outcomes], now)
    session.commit()


@functools.cache
def _outcome_statement() -> Any:
    table = BroadcastQueue.__table__
    values: dict[str, Any] = {
        column: bindparam(f"b_{field}", type_=table.c[column].type)
        for field, column in OUTCOME_COLUMNS.items()
    }
    for column in KEPT_UNLESS_GIVEN:
        values[column] = func.coalesce(
            bindparam(f"b_{column}", type_=table.c[column].type), table.c[column]
        )
    return (
        update(table)
        .where(
            table.c.id == bindparam("b_id"),
            table.c.status == "in_flight",
            table.c.lease_owner == bindparam("b_owner"),
        )
        .values(
            **values,
            executed_at=bindparam("b_executed_at"),
            lease_owner=None,
            lease_expires_at=None,
            updated_at=bindparam("b_now", type_=table.c.updated_at.type),
        )
    )


# The fields of one row in the SQLite statement, in order, and the column each is bound as
# (owner and time are the batch's).
ROW_COLUMNS = {
    "id": "id",
    **OUTCOME_COLUMNS,
    **{column: column for column in KEPT_UNLESS_GIVEN},
    "executed_at": "executed_at",
}
ROW_FIELDS = tuple(ROW_COLUMNS)
ROWS_PER_STATEMENT = 500  # 19 variables a row, under SQLite's 32766
UPDATE_FROM = (3, 33, 0)  # the first SQLite with UPDATE ... FROM; an older one executemanies


def _write_outcomes(
    session: DbSession, outcomes: Sequence[RowOutcome], owner: str, now: datetime
) -> None:
    """The batch's row updates. On SQLite, one ``UPDATE ... FROM (VALUES ...)`` per
    ROWS_PER_STATEMENT rows instead of an executemany: sqlite3 gives the interpreter's lock up
    around every row of an executemany, and during a fan-out each of those was a wait behind
    the order threads (an executemany of 256 outcomes took 107 ms of wall time for 20 ms of
    work; the ledger thread records every outcome, so every outcome waited). Same rows, same
    fences, same values, bound through the columns' own types."""
    connection = session.connection()
    params = [_outcome_params(o, owner, now) for o in outcomes]
    if connection.dialect.name != "sqlite" or sqlite3.sqlite_version_info < UPDATE_FROM:
        connection.execute(_outcome_statement(), params)
        return
    latest = {p["b_id"]: p for p in params}  # one update per row, as the executemany's last
    rows = list(latest.values())
    table = BroadcastQueue.__table__
    bind = [
        table.c[column].type.bind_processor(connection.dialect) for column in ROW_COLUMNS.values()
    ]
    updated_at = table.c.updated_at.type.bind_processor(connection.dialect)
    for start in range(0, len(rows), ROWS_PER_STATEMENT):
        chunk = rows[start : start + ROWS_PER_STATEMENT]
        values: list[Any] = []
        for row in chunk:
            for name, process in zip(ROW_FIELDS, bind, strict=True):
                value = row[f"b_{name}"]
                values.append(value if process is None else process(value))
        values.append(now if updated_at is None else updated_at(now))
        values.append(owner)
        connection.exec_driver_sql(_sqlite_outcomes_sql(len(chunk)), tuple(values))


@functools.lru_cache(maxsize=ROWS_PER_STATEMENT)
def _sqlite_outcomes_sql(rows: int) -> str:
    """``_outcome_statement`` for ``rows`` rows at once (SQLite 3.33+: UPDATE ... FROM)."""
    names = ", ".join(f"b_{name}" for name in ROW_FIELDS)
    one = "(" + ", ".join("?" * len(ROW_FIELDS)) + ")"
    sets = [f"{column} = v.b_{field}" for field, column in OUTCOME_COLUMNS.items()]
    sets += [f"{column} = coalesce(v.b_{column}, q.{column})" for column in KEPT_UNLESS_GIVEN]
    sets += [
        "executed_at = v.b_executed_at", "lease_owner = NULL", "lease_expires_at = NULL",
        "updated_at = ?", "row_version = row_version + 1",
    ]  # fmt: skip
    # Built from this module's column names and placeholders only; every value is bound.
    return (
        f"WITH v({names}) AS (VALUES {', '.join([one] * rows)}) "  # noqa: S608
        f"UPDATE broadcast_queue AS q SET {', '.join(sets)} FROM v "
        "WHERE q.id = v.b_id AND q.status = 'in_flight' AND q.lease_owner = ?"
    )


def _outcome_params(outcome: RowOutcome, owner: str, now: datetime) -> dict[str, Any]:
    params = {f"b_{field}": getattr(outcome, field) for field in OUTCOME_COLUMNS}
    params.update({f"b_{column}": getattr(outcome, column) for column in KEPT_UNLESS_GIVEN})
    params.update(
        b_id=outcome.row_id,
        b_owner=owner,
        b_executed_at=now if outcome.status in FINAL_ROW_STATUSES else None,
        b_now=now,
    )
    return params


def _sum_closes_into_opens(session: DbSession, open_row_ids: set[int | None]) -> None:
    """An open row's closed_volume is the sum of its executed closes, recomputed from them
    (so a fenced or repeated record cannot count a close twice); summed as Decimals."""
    ids = sorted(i for i in open_row_ids if i is not None)
    if not ids:
        return
    closes = session.execute(
        select(BroadcastQueue.parent_row_id, BroadcastQueue.closed_volume).where(
            BroadcastQueue.parent_row_id.in_(ids),
            BroadcastQueue.status == "executed",
            BroadcastQueue.closed_volume.is_not(None),
        )
    ).all()
    totals = dict.fromkeys(ids, Decimal(0))
    for parent, volume in closes:  # both non-null by the query
        totals[parent] += volume  # type: ignore[index,operator]
    table = BroadcastQueue.__table__
    session.connection().execute(
        update(table)
        .where(table.c.id == bindparam("b_id"))
        .values(closed_volume=bindparam("b_total", type_=table.c.closed_volume.type)),
        [{"b_id": row_id, "b_total": total} for row_id, total in totals.items()],
    )


def _mark_opens_gone(session: DbSession, open_row_ids: set[int | None]) -> None:
    """A follow-up found the open row's position closed at the broker (its TP or SL, or by
    hand): nothing is left of that leg, so later follow-ups and rules pass it by."""
    ids = sorted(i for i in open_row_ids if i is not None)
    if ids:
        session.execute(
            update(BroadcastQueue)
            .where(BroadcastQueue.id.in_(ids), BroadcastQueue.fill_volume.is_not(None))
            .values(closed_volume=BroadcastQueue.fill_volume),
            execution_options={"synchronize_session": False},
        )


def _carry_to_siblings(session: DbSession, carrier: RowOutcome, now: datetime) -> None:
    """A netting carrier's outcome on the other legs' rows, each with its own volume: they rode
    on its order (one position), so they are filled, placed or failed with it, never sent."""
    row = session.execute(
        select(BroadcastQueue.dispatch_id, BroadcastQueue.account_id, BroadcastQueue.leg).where(
            BroadcastQueue.id == carrier.row_id
        )
    ).one()
    volumes = carrier.sibling_volumes or {}
    last_leg = max(volumes, default=row.leg)
    siblings = session.execute(
        select(BroadcastQueue.id, BroadcastQueue.leg).where(
            BroadcastQueue.dispatch_id == row.dispatch_id,
            BroadcastQueue.account_id == row.account_id,
            BroadcastQueue.status == "pending",
            BroadcastQueue.id != carrier.row_id,
        )
    ).all()
    table = BroadcastQueue.__table__
    fields = [
        _sibling_fields(carrier, volumes.get(s.leg), s.leg, s.leg < last_leg) for s in siblings
    ]
    if not siblings:
        return
    session.connection().execute(
        update(table)
        .where(table.c.id == bindparam("b_id"), table.c.status == "pending")
        .values(
            status=bindparam("b_status"),
            retcode=bindparam("b_retcode"),
            error_message=bindparam("b_error"),
            order_ticket=bindparam("b_order"),
            deal_ticket=bindparam("b_deal"),
            position_ticket=bindparam("b_position"),
            fill_price=bindparam("b_price", type_=table.c.fill_price.type),
            fill_volume=bindparam("b_filled", type_=table.c.fill_volume.type),
            volume=bindparam("b_volume", type_=table.c.volume.type),
            symbol=bindparam("b_symbol"),
            virtual_tp=bindparam("b_virtual"),
            warnings=bindparam("b_warnings", type_=table.c.warnings.type),
            executed_at=bindparam("b_executed_at"),
            updated_at=now,
        ),
        [{"b_id": s.id, **f, "b_executed_at": now} for s, f in zip(siblings, fields, strict=True)],
    )


def _sibling_fields(
    carrier: RowOutcome, volume: Decimal | None, leg: int, virtual: bool
) -> dict[str, Any]:
    dropped = volume is not None and volume <= 0
    opened = carrier.status in ("executed", "placed")
    status = "skipped" if dropped and opened else carrier.status
    return {
        "b_warnings": [dropped_legs_note([leg + 1])] if status == "skipped" else None,
        "b_status": status,
        "b_retcode": carrier.retcode,
        "b_error": "leg_dropped_below_min: this take-profit leg is below the minimum volume"
        if status == "skipped"
        else carrier.error,
        "b_order": carrier.order_ticket if opened else None,
        "b_deal": carrier.deal_ticket if opened else None,
        "b_position": carrier.position_ticket if opened else None,
        "b_price": carrier.fill_price if opened else None,
        "b_filled": volume if opened and carrier.fill_volume is not None and not dropped else None,
        "b_volume": volume,
        "b_symbol": carrier.symbol,
        "b_virtual": virtual and opened and not dropped,
    }


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


def finalise_rows_dispatches(session: DbSession, row_ids: Sequence[int], now: datetime) -> None:
    if not row_ids:
        return
    dispatch_ids = set(
        session.scalars(
            select(BroadcastQueue.dispatch_id).where(BroadcastQueue.id.in_(row_ids)).distinct()
        )
    )
    finalise_dispatches(session, dispatch_ids, now)


def has_open_rows(session: DbSession, dispatch_id: int) -> bool:
    """A row of the dispatch is pending or in flight: one read of its counts row."""
    counts = counts_by_status(session, dispatch_id)  # one read: two could straddle a claim
    return any(counts[s] for s in OPEN_ROW_STATUSES)


@functools.cache
def _counts_query() -> Any:
    return select(*(getattr(DispatchCounts, status) for status in ROW_STATUSES)).where(
        DispatchCounts.dispatch_id == bindparam("dispatch_id")
    )


def counts_by_status(
    session: DbSession, dispatch_id: int, *, user_id: int | None = None
) -> dict[str, int]:
    """How many of the dispatch's rows stand in each status (every status, zeros included).

    One primary-key read, whatever the number of targets: the database keeps ``dispatch_counts``
    in step with every row it inserts, moves or deletes (triggers; see models/broadcast.py), in
    the same transaction. A dispatch without rows has no counts row: all zeros. ``user_id``
    (a follower's view: only the rows on that user's accounts) counts those rows instead.
    """
    if user_id is not None:
        return _counts_of_user(session, dispatch_id, user_id)
    found = session.execute(_counts_query(), {"dispatch_id": dispatch_id}).first()
    if found is None:
        return dict.fromkeys(ROW_STATUSES, 0)
    return {status: int(n) for status, n in zip(ROW_STATUSES, found, strict=True)}


def _counts_of_user(session: DbSession, dispatch_id: int, user_id: int) -> dict[str, int]:
    query = (
        select(BroadcastQueue.status, func.count())
        .where(BroadcastQueue.dispatch_id == dispatch_id)
        .where(BroadcastQueue.target_user_id == user_id)
    )
    found = dict(session.execute(query.group_by(BroadcastQueue.status)).all())
    return {status: int(found.get(status, 0)) for status in ROW_STATUSES}


def finalise_dispatches(
    session: DbSession, dispatch_ids: Iterable[int], now: datetime | None = None
) -> None:
    """A dispatch whose rows are all final gets its summary status and finished_at; the ones
    that became final here notify their creators, in this transaction."""
    now = now or utcnow()
    finished: dict[int, dict[str, int]] = {}
    for dispatch_id in dispatch_ids:
        if has_open_rows(session, dispatch_id):
            continue
        counts = counts_by_status(session, dispatch_id)
        result = session.execute(
            update(Dispatch)
            .where(Dispatch.id == dispatch_id, Dispatch.finished_at.is_(None))
            .values(status=summary_status(counts), finished_at=now)
        )
        if result.rowcount:  # type: ignore[attr-defined]
            finished[dispatch_id] = counts
    notices.dispatches_finished(session, finished)


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
