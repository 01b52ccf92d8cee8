"""Turn claimed ledger rows into RowJobs: one query for rows, dispatches and accounts."""

from __future__ import annotations

import logging
from collections.abc import Sequence

from sqlalchemy import select
from sqlalchemy.orm import Session

from models import BroadcastQueue, Dispatch, MT5Account, User
from services.accounts_service import account_password
from services.mt5.types import AccountRef
from utils.security import DecryptionFailed, SecretBox
from workers.execution import RowJob

logger = logging.getLogger(__name__)
SETTINGS = ("risk_percent", "fixed_volume", "volume_multiplier", "max_volume")


def load_jobs(session: Session, row_ids: Sequence[int], box: SecretBox) -> list[RowJob]:
    if not row_ids:
        return []
    rows = session.execute(
        select(BroadcastQueue, Dispatch, MT5Account, User.is_active)
        .join(Dispatch, Dispatch.id == BroadcastQueue.dispatch_id)
        .join(MT5Account, MT5Account.id == BroadcastQueue.account_id)
        .join(User, User.id == MT5Account.user_id)
        .where(BroadcastQueue.id.in_(list(row_ids)))
        .order_by(BroadcastQueue.id)
    ).all()
    jobs = [_job(row, dispatch, account, owner_active, box) for row, dispatch, account, owner_active in rows]
    session.rollback()  # read-only; release the snapshot
    return jobs


def _job(row: BroadcastQueue, dispatch: Dispatch, account: MT5Account, owner_active: bool, box: SecretBox) -> RowJob:
    ref, problem = _account_ref(account, owner_active, box)
    order = dispatch.order_data
    return RowJob(
        row_id=row.id,
        dispatch_id=dispatch.id,
        account_id=account.id,
        leg=row.leg,
        legs=max(1, len(order.get("take_profits") or [])),
        order=order,
        sizing=dispatch.sizing or {},
        account_settings={name: getattr(account, name) for name in SETTINGS},
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


def _account_ref(account: MT5Account, owner_active: bool, box: SecretBox) -> tuple[AccountRef | None, str | None]:
    if account.deleted_at is not None or not account.is_active or not owner_active:
        return None, "the account or its owner is no longer active"
    try:
        password = account_password(account, box)
    except DecryptionFailed:
        logger.error("account %s: stored MT5 password cannot be decrypted", account.id)
        return None, "the stored MT5 password cannot be decrypted"
    try:
        login = int(account.login)
    except ValueError:
        return None, "the MT5 login is not a number"
    return (
        AccountRef(
            account_id=account.id,
            terminal=account.terminal,
            login=login,
            password=password,
            server=account.server,
            symbol_map=dict(account.symbol_map or {}),
        ),
        None,
    )
