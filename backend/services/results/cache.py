"""The dispatch_results cache: what was read of each target, when, and whether to read again.

The rule: a target whose fate the ledger alone decides (failed, skipped) is written once and
never read at a terminal; a closed one is final; an open one is read again when its rows or a
follow-up changed since (``ledger_seen_at``) or it is older than ``refresh_s``. A read that
fails keeps the last figures, says why, and waits ``refresh_s`` before the next try.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select

from extensions import DbSession
from models import DispatchResult
from services.results.plans import TargetPlan
from services.results.pnl import figures
from services.results.reading import Quote, Reading
from utils.database import dialect_insert

FINAL_STATUSES = frozenset({"closed", "failed", "skipped"})
TABLE = DispatchResult.__table__
COLUMNS = tuple(c.name for c in TABLE.columns)
FIGURES = (
    "opened_volume", "open_price", "closed_volume", "close_price", "realised", "commission",
    "swap", "floating",
)  # fmt: skip


def cached_results(session: DbSession, dispatch_id: int) -> dict[int, dict[str, Any]]:
    """The dispatch's cached rows by account id, as plain dicts."""
    found = session.execute(select(TABLE).where(TABLE.c.dispatch_id == dispatch_id))
    return {row.account_id: dict(row._mapping) for row in found}


def is_due(
    plan: TargetPlan, cached: dict[str, Any] | None, *, now: datetime, refresh_s: float
) -> bool:
    """Does this target need its terminal read now?"""
    if plan.ledger_status() is not None:
        return False
    if cached is None:
        return True
    if cached["final"]:
        return False
    seen = cached["ledger_seen_at"]
    if plan.ledger_seen_at is not None and (seen is None or plan.ledger_seen_at > seen):
        return True
    return bool(cached["computed_at"] <= now - timedelta(seconds=refresh_s))


def ledger_values(dispatch_id: int, plan: TargetPlan, *, now: datetime) -> dict[str, Any]:
    """A target the ledger alone decides (failed or skipped): final, no terminal read."""
    status = plan.ledger_status()
    return _row(dispatch_id, plan, now, status=status, final=status in FINAL_STATUSES,
                error=plan.reason)  # fmt: skip


def read_values(
    dispatch_id: int, plan: TargetPlan, reading: Reading, quote: Quote | None, *, now: datetime
) -> dict[str, Any]:
    status = "open" if reading.is_open else "closed"
    shown = figures(reading.share, reading.floating, digits=reading.digits)
    values = _row(dispatch_id, plan, now, status=status, final=status in FINAL_STATUSES)
    values.update({name: getattr(shown, name) for name in FIGURES})
    values.update(
        currency=reading.currency, currency_digits=reading.digits,
        positions=list(reading.positions),
    )  # fmt: skip
    if quote is not None:
        values.update(
            quote_pair=quote.pair, quote_bid=quote.bid, quote_ask=quote.ask, quoted_at=quote.at
        )
    return values


def failed_read_values(
    dispatch_id: int, plan: TargetPlan, previous: dict[str, Any] | None, error: str, *,
    now: datetime,
) -> dict[str, Any]:  # fmt: skip
    """The terminal could not be read: the last figures stand, with the reason."""
    values = dict(previous) if previous else _row(dispatch_id, plan, now, status="open")
    values.update(error=error, computed_at=now, final=False)
    return values


def _row(dispatch_id: int, plan: TargetPlan, now: datetime, **values: Any) -> dict[str, Any]:
    row: dict[str, Any] = dict.fromkeys(COLUMNS)
    row.update(
        dispatch_id=dispatch_id, account_id=plan.account_id, user_id=plan.user_id, final=False,
        computed_at=now, ledger_seen_at=plan.ledger_seen_at,
    )  # fmt: skip
    row.update(values)
    return row


def save_results(session: DbSession, rows: Sequence[dict[str, Any]]) -> None:
    """Insert or replace these rows: one statement for the batch."""
    if not rows:
        return
    statement = dialect_insert(session, TABLE)
    updated = [c for c in COLUMNS if c not in ("dispatch_id", "account_id")]
    statement = statement.on_conflict_do_update(
        index_elements=["dispatch_id", "account_id"],
        set_={name: statement.excluded[name] for name in updated},
    )
    session.execute(statement, list(rows))


def merged(
    cached: dict[int, dict[str, Any]], fresh: Iterable[dict[str, Any]]
) -> dict[int, dict[str, Any]]:
    found = dict(cached)
    found.update({row["account_id"]: row for row in fresh})
    return found
