"""Turn claimed ledger rows into RowJobs: one query for rows and accounts, one for dispatches."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any, NamedTuple

from sqlalchemy import select

from extensions import DbSession
from ledger.types import AccountSizing, RowJob, Sizing, TradeOrder
from models import BroadcastQueue, Dispatch, MT5Account, User
from services.mt5.dto import AccountRef
from services.mt5_service import account_ref
from utils.security import DecryptionFailed, SecretBox

logger = logging.getLogger(__name__)
SETTINGS = ("risk_percent", "fixed_volume", "volume_multiplier", "max_volume")


class _StoredAccount(NamedTuple):
    id: int
    terminal: str
    login: str
    server: str
    symbol_map: dict[str, Any] | None
    password_encrypted: str


def load_jobs(session: DbSession, row_ids: Sequence[int], box: SecretBox) -> list[RowJob]:
    """Plain column reads (no ORM instances): a 1000-row fan-out loads in a few milliseconds."""
    if not row_ids:
        return []
    q, a = BroadcastQueue, MT5Account
    rows = session.execute(
        select(
            q.id,
            q.dispatch_id,
            q.leg,
            q.magic,
            q.comment_tag,
            q.created_at,
            q.expires_at,
            q.volume,
            q.symbol,
            q.outcome_unknown,
            a.id.label("account_id"),
            a.terminal,
            a.login,
            a.server,
            a.password_encrypted,
            a.symbol_map,
            a.is_active,
            a.deleted_at,
            *(getattr(a, name) for name in SETTINGS),
            User.is_active.label("owner_active"),
        )
        .join(a, a.id == q.account_id)
        .join(User, User.id == a.user_id)
        .where(q.id.in_(list(row_ids)))
        .order_by(q.id)
    ).all()
    dispatches = _dispatches(session, {row.dispatch_id for row in rows})
    session.rollback()  # read-only; release the snapshot
    return [_job(row, dispatches[row.dispatch_id], box) for row in rows]


class _DispatchTerms(NamedTuple):
    order: TradeOrder
    sizing: Sizing
    expires_at: Any
    cancelled: bool


def _dispatches(session: DbSession, dispatch_ids: set[int]) -> dict[int, _DispatchTerms]:
    """Each dispatch's order and sizing, read back into their types once per batch."""
    found = session.execute(
        select(
            Dispatch.id,
            Dispatch.order_data,
            Dispatch.sizing,
            Dispatch.expires_at,
            Dispatch.cancelled_at,
        ).where(Dispatch.id.in_(dispatch_ids))
    )
    return {
        d.id: _DispatchTerms(
            TradeOrder.from_json(d.order_data),
            Sizing.from_json(d.sizing),
            d.expires_at,
            d.cancelled_at is not None,
        )
        for d in found
    }


def _job(row: Any, dispatch: _DispatchTerms, box: SecretBox) -> RowJob:
    ref, problem = _account(row, box)
    return RowJob(
        row_id=row.id,
        dispatch_id=row.dispatch_id,
        account_id=row.account_id,
        leg=row.leg,
        order=dispatch.order,
        sizing=dispatch.sizing,
        account_settings=AccountSizing(*(getattr(row, name) for name in SETTINGS)),
        magic=row.magic,
        tag=row.comment_tag,
        created_at=row.created_at,
        expires_at=row.expires_at or dispatch.expires_at,
        account=ref,
        account_problem=problem,
        volume=row.volume,
        symbol=row.symbol,
        outcome_unknown=row.outcome_unknown,
        cancelled=dispatch.cancelled,
    )


def _account(row: Any, box: SecretBox) -> tuple[AccountRef | None, str | None]:
    """The account's reference for the gateway, or why it can no longer trade."""
    if row.deleted_at is not None or not row.is_active or not row.owner_active:
        return None, "the account or its owner is no longer active"
    stored = _StoredAccount(
        row.account_id, row.terminal, row.login, row.server, row.symbol_map, row.password_encrypted
    )
    try:
        return account_ref(stored, box), None
    except DecryptionFailed:
        logger.error("account %s: stored MT5 password cannot be decrypted", row.account_id)
        return None, "the stored MT5 password cannot be decrypted"
    except ValueError:
        return None, "the MT5 login is not a number"
