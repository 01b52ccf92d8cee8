"""What the ledger says of a dispatch's targets: per account, its rows, tickets and follow-ups."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import select

from extensions import DbSession
from ledger.types import summary_status
from models import BroadcastQueue, Dispatch

TRADED = frozenset({"executed", "placed"})
UNDER_WAY = frozenset({"pending", "in_flight"})


@dataclass(frozen=True)
class ActionApplied:
    """One follow-up of the dispatch as it went on one account."""

    action_id: int
    action: str
    status: str
    closed_volume: Decimal | None
    executed_at: datetime | None


@dataclass(frozen=True)
class TargetPlan:
    """One target account of a dispatch: what to read at its terminal, and what not to."""

    account_id: int
    user_id: int
    row_statuses: tuple[str, ...]
    positions: frozenset[int]  # the positions its fills opened or changed
    placed_orders: frozenset[int]  # pending orders it placed (filled since, or not)
    opens: frozenset[int]  # order tickets of its opens
    closes: frozenset[int]  # order tickets of its follow-ups
    actions: tuple[ActionApplied, ...]
    ledger_seen_at: datetime | None  # the newest change of its rows and follow-ups
    reason: str | None  # why a row failed or was skipped

    @property
    def traded(self) -> bool:
        return any(s in TRADED for s in self.row_statuses)

    def ledger_status(self) -> str | None:
        """The status the ledger alone decides; None: traded, its terminal has to say."""
        if any(s in UNDER_WAY for s in self.row_statuses):
            return "pending"
        if self.traded:
            return None
        return "skipped" if all(s == "skipped" for s in self.row_statuses) else "failed"


def _newest(*moments: datetime | None) -> datetime | None:
    known = [m for m in moments if m is not None]
    return max(known) if known else None


def target_plans(
    session: DbSession, dispatch_id: int, *, user_id: int | None = None
) -> list[TargetPlan]:
    """Every target account of the dispatch (or only ``user_id``'s), in account order: two
    queries whatever the number of targets."""
    q = BroadcastQueue
    opens = select(
        q.account_id, q.target_user_id, q.status, q.order_ticket, q.position_ticket,
        q.updated_at, q.error_message,
    ).where(q.dispatch_id == dispatch_id)  # fmt: skip
    if user_id is not None:
        opens = opens.where(q.target_user_id == user_id)
    rows = session.execute(opens.order_by(q.account_id, q.leg)).all()
    follow_ups = _follow_ups(session, dispatch_id, {r.account_id for r in rows})
    by_account: dict[int, list[Any]] = defaultdict(list)
    for row in rows:
        by_account[row.account_id].append(row)
    return [_plan(found, follow_ups.get(account, [])) for account, found in by_account.items()]


def _follow_ups(session: DbSession, dispatch_id: int, accounts: set[int]) -> dict[int, list[Any]]:
    if not accounts:
        return {}
    q = BroadcastQueue
    query = (
        select(
            q.dispatch_id, q.account_id, q.action, q.status, q.order_ticket, q.closed_volume,
            q.executed_at, q.updated_at,
        )
        .join(Dispatch, Dispatch.id == q.dispatch_id)
        .where(Dispatch.parent_id == dispatch_id, q.account_id.in_(sorted(accounts)))
        .order_by(q.dispatch_id, q.id)
    )  # fmt: skip
    found: dict[int, list[Any]] = defaultdict(list)
    for row in session.execute(query):
        found[row.account_id].append(row)
    return found


def _plan(rows: list[Any], follow_ups: list[Any]) -> TargetPlan:
    traded = [r for r in rows if r.status in TRADED]
    reasons = [r.error_message for r in rows if r.error_message and r.status not in TRADED]
    return TargetPlan(
        account_id=rows[0].account_id,
        user_id=rows[0].target_user_id,
        row_statuses=tuple(r.status for r in rows),
        positions=frozenset(r.position_ticket for r in traded if r.position_ticket),
        placed_orders=frozenset(
            r.order_ticket for r in traded if r.status == "placed" and r.order_ticket
        ),
        opens=frozenset(r.order_ticket for r in traded if r.order_ticket),
        closes=frozenset(r.order_ticket for r in follow_ups if r.order_ticket),
        actions=tuple(_applied(follow_ups)),
        ledger_seen_at=_newest(*(r.updated_at for r in rows), *(f.updated_at for f in follow_ups)),
        reason=reasons[0] if reasons else None,
    )


def _applied(follow_ups: Iterable[Any]) -> Iterable[ActionApplied]:
    """One entry per follow-up dispatch: its rows on this account summed up."""
    grouped: dict[int, list[Any]] = defaultdict(list)
    for row in follow_ups:
        grouped[row.dispatch_id].append(row)
    for action_id, rows in grouped.items():
        counts: dict[str, int] = defaultdict(int)
        for row in rows:
            counts[row.status] += 1
        closed = [r.closed_volume for r in rows if r.closed_volume is not None]
        yield ActionApplied(
            action_id=action_id,
            action=rows[0].action or "",
            status=summary_status(counts),
            closed_volume=sum(closed, Decimal(0)) if closed else None,
            executed_at=_newest(*(r.executed_at for r in rows)),
        )
