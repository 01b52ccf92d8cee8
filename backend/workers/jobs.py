"""Turn claimed ledger rows into RowJobs: one query for rows, dispatches and accounts."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

from sqlalchemy import select

from extensions import DbSession
from models import BroadcastQueue, Dispatch, MT5Account, User
from services.accounts_service import password_aad
from services.mt5.dto import AccountRef
from utils.security import DecryptionFailed, SecretBox
from workers.execution import RowJob

logger = logging.getLogger(__name__)
SETTINGS = ("risk_percent", "fixed_volume", "volume_multiplier", "max_volume")


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
    dispatch_ids = {row.dispatch_id for row in rows}
    dispatches = {
        d.id: d
        for d in session.execute(
            select(
                Dispatch.id,
                Dispatch.order_data,
                Dispatch.sizing,
                Dispatch.expires_at,
                Dispatch.cancelled_at,
            ).where(Dispatch.id.in_(dispatch_ids))
        )
    }
    session.rollback()  # read-only; release the snapshot
    return [_job(row, dispatches[row.dispatch_id], box) for row in rows]


def _job(row: Any, dispatch: Any, box: SecretBox) -> RowJob:
    ref, problem = _account_ref(row, box)
    order = dispatch.order_data
    return RowJob(
        row_id=row.id,
        dispatch_id=row.dispatch_id,
        account_id=row.account_id,
        leg=row.leg,
        legs=max(1, len(order.get("take_profits") or [])),
        order=order,
        sizing=dispatch.sizing or {},
        account_settings={name: getattr(row, name) for name in SETTINGS},
        magic=row.magic,
        tag=row.comment_tag,
        created_at=row.created_at,
        expires_at=row.expires_at or dispatch.expires_at,
        account=ref,
        account_problem=problem,
        volume=row.volume,
        symbol=row.symbol,
        outcome_unknown=row.outcome_unknown,
        cancelled=dispatch.cancelled_at is not None,
    )


def _account_ref(row: Any, box: SecretBox) -> tuple[AccountRef | None, str | None]:
    if row.deleted_at is not None or not row.is_active or not row.owner_active:
        return None, "the account or its owner is no longer active"
    try:
        password = box.decrypt(row.password_encrypted, password_aad(row.account_id))
    except DecryptionFailed:
        logger.error("account %s: stored MT5 password cannot be decrypted", row.account_id)
        return None, "the stored MT5 password cannot be decrypted"
    try:
        login = int(row.login)
    except ValueError:
        return None, "the MT5 login is not a number"
    ref = AccountRef(
        account_id=row.account_id,
        terminal=row.terminal,
        login=login,
        password=password,
        server=row.server,
        symbol_map=dict(row.symbol_map or {}),
    )
    return ref, None
