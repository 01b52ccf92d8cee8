"""A follower's protection in the ledger: the pre-trade check before a broadcast's open (the
subscription in force, the symbol filter, the open-positions cap, the day's loss, drawdown) and
the one place a breach is recorded (state, audit, notification), whoever detected it."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import select, update

from ledger.follower import Breach, FollowerTerms, equity_breach, trading_day
from ledger.sending import Gateway, skipped
from ledger.types import RowJob, RowOutcome
from models import MT5Account, Subscription
from models.columns import utcnow
from services.audit_service import record_event
from services.outbox import enqueue

logger = logging.getLogger("ledger.protection")
BREACHED = "protection_breached"


def refusal(job: RowJob, gateway: Gateway, symbol: str) -> RowOutcome | None:
    """Why this broadcast open must not reach its account (a skipped outcome), or None.

    Read at execution, not only at intake: an unsubscribe or a breach between the two stops
    what has not been sent yet.
    """
    if not job.broadcast:
        return None
    follower = job.follower
    if follower is None:
        return skipped(job.row_id, "not_subscribed", "this account has no subscription")
    if not follower.receives_opens:
        return skipped(
            job.row_id,
            f"subscription_{follower.state}",
            f"the subscription is {follower.state}: no new opens",
        )
    if not follower.symbols.allows(job.order.symbol, symbol):
        return skipped(
            job.row_id, "symbol_filtered", f"{symbol} is filtered out by the subscription"
        )
    if job.volume is not None:  # a sibling leg already checked and sized this account
        return None
    return _protection_refusal(job, gateway, follower)


def _protection_refusal(
    job: RowJob, gateway: Gateway, follower: FollowerTerms
) -> RowOutcome | None:
    protection = follower.protection
    assert job.account is not None
    limit = protection.max_open_positions
    if limit is not None:
        held = len(gateway.positions(job.account))
        if held >= limit:
            return skipped(
                job.row_id,
                "max_open_positions",
                f"the account holds {held} positions, its limit is {limit}",
                error_details={"open_positions": held, "max_open_positions": limit},
            )
    if not protection.watches_equity:
        return None
    snapshot = gateway.account_snapshot(job.account)
    day = trading_day(utcnow(), follower.day_start_hour)
    marks = follower.marks.seen(snapshot.equity, day)
    breach = equity_breach(protection, marks, snapshot.equity, snapshot.currency)
    if breach is None:
        return None
    outcome = skipped(
        job.row_id, BREACHED, breach.reason, error_details={"breach": breach.to_json()}
    )
    return RowOutcome(
        **{**vars(outcome), "protection_breach": {"account_id": job.account_id, **breach.to_json()}}
    )


def record_breaches(session: Any, outcomes: Sequence[RowOutcome]) -> None:
    """The breaches the pre-trade check found, recorded in the outcomes' transaction."""
    for outcome in outcomes:
        found = outcome.protection_breach
        if found is None:
            continue
        breach = Breach(found["rule"], found["reason"], found.get("figures") or {})
        apply_breach(session, account_id=found["account_id"], breach=breach)


def apply_breach(
    session: Any, *, account_id: int, breach: Breach, now: datetime | None = None
) -> str | None:
    """Move an active subscription to its breach state (close_only, or stopped_out with every
    position still to close), audit it and notify the owner; in the caller's transaction.

    Only from ``active`` (a compare-and-set): two detections of one breach record it once.
    Returns the new state, or None when it was not active.
    """
    now = now or utcnow()
    sub = session.execute(
        select(Subscription.id, Subscription.user_id, Subscription.protection).where(
            Subscription.account_id == account_id, Subscription.state == "active"
        )
    ).first()
    if sub is None:
        return None
    stopped = (sub.protection or {}).get("on_breach") == "close_all"
    state = "stopped_out" if stopped else "close_only"
    changed = session.execute(
        update(Subscription)
        .where(Subscription.id == sub.id, Subscription.state == "active")
        .values(
            state=state,
            breach=breach.to_json(),
            breached_at=now,
            close_pending=stopped,
            updated_at=now,
        ),
        execution_options={"synchronize_session": False},
    )
    if not changed.rowcount:
        return None
    logger.warning("account %s: protection %s -> %s", account_id, breach.rule, state)
    name = session.scalar(select(MT5Account.account_name).where(MT5Account.id == account_id))
    details = {"rule": breach.rule, "state": state, "figures": breach.figures}
    record_event(
        session=session, event="protection_triggered", subject_user_id=sub.user_id,
        target_type="account", target_id=account_id, details=details,
    )  # fmt: skip
    enqueue(
        session,
        sub.user_id,
        "protection_triggered",
        {"account_id": account_id, "account": name, "rule": breach.rule,
         "reason": breach.reason, "state": state},
        dedupe_key=f"protection_triggered:{account_id}:{breach.rule}:{now.isoformat()}",
    )  # fmt: skip
    return state
