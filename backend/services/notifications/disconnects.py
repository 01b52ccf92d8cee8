"""The account_disconnected alert: accounts not seen connected for ALERT_DISCONNECTED_S.

"Seen" is the session keeper's last heartbeat that found the account connected
(account_sessions.last_seen_at), and "not connected now" its last look's state on the account
(mt5_accounts.connection_status); with the keeper off, the last successful manual connect
stands for "last seen".
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, select

from extensions import DbSession
from models import AccountSession, MT5Account
from services.outbox import Notice, enqueue_many

# connection_status values that mean "not connected now" (the keeper adds its own states).
DISCONNECTED_STATES = ("failed", "disconnected", "unreachable", "auth_failed")


def last_seen() -> Any:
    """When the account was last seen connected: by the keeper, else by a manual connect."""
    return func.coalesce(AccountSession.last_seen_at, MT5Account.last_connected_at)


def silent_accounts(session: DbSession, *, cutoff: datetime) -> list[Any]:
    """Active accounts not connected now and last seen before ``cutoff`` (never seen: none)."""
    seen = last_seen()
    return list(
        session.execute(
            select(
                MT5Account.id, MT5Account.user_id, MT5Account.account_name, MT5Account.login,
                MT5Account.connection_status, seen.label("last_seen"),
            )
            .outerjoin(AccountSession, AccountSession.account_id == MT5Account.id)
            .where(
                MT5Account.connection_status.in_(DISCONNECTED_STATES),
                MT5Account.is_active.is_(True),
                MT5Account.deleted_at.is_(None),
                seen.is_not(None),
                seen < cutoff,
            )
        )
    )  # fmt: skip


def alert_disconnected(session: DbSession, *, now: datetime, threshold_s: int) -> int:
    """One alert per outage (keyed by the last time seen), to the account's owner."""
    silent = silent_accounts(session, cutoff=now - timedelta(seconds=threshold_s))
    enqueue_many(session, [
        Notice(
            row.user_id, "account_disconnected",
            {
                "account_id": row.id, "account": row.account_name, "login": row.login,
                "status": row.connection_status, "since": row.last_seen.strftime("%Y-%m-%d %H:%M"),
                "minutes": int((now - row.last_seen).total_seconds() // 60),
            },
            f"account_disconnected:{row.id}:{int(row.last_seen.timestamp())}",
        )
        for row in silent
    ])  # fmt: skip
    session.commit()
    return len(silent)
