"""The ledger's notifications, written to the outbox in the ledger's own transaction: a target
failed (to the account's owner, once per dispatch and account) and a dispatch finished (to its
creator, with its counts). One INSERT for a whole batch of outcomes."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from sqlalchemy import select

from extensions import DbSession
from ledger.types import summary_status
from models import BroadcastQueue, Dispatch, MT5Account
from services.outbox import Notice, enqueue_many


def targets_failed(session: DbSession, row_ids: Sequence[int]) -> None:
    """``target_failed`` for the rows among these that stand failed now (a row whose lease was
    taken over was not written by this record, and is left to the one that holds it)."""
    if not row_ids:
        return
    q, a = BroadcastQueue, MT5Account
    rows = session.execute(
        select(
            q.dispatch_id, q.account_id, q.target_user_id, q.error_message, q.retcode,
            a.account_name, a.login, Dispatch.kind, Dispatch.order_data,
        )
        .join(a, a.id == q.account_id)
        .join(Dispatch, Dispatch.id == q.dispatch_id)
        .where(q.id.in_(sorted(row_ids)), q.status == "failed")
    )  # fmt: skip
    enqueue_many(session, [
        Notice(
            row.target_user_id, "target_failed",
            {
                "dispatch_id": row.dispatch_id, "kind": row.kind,
                "symbol": row.order_data.get("symbol"), "side": row.order_data.get("side"),
                "action": row.order_data.get("action"), "account_id": row.account_id,
                "account": row.account_name, "login": row.login, "retcode": row.retcode,
                "reason": (row.error_message or "").partition(":")[0],
                "error": row.error_message,
            },
            f"target_failed:{row.dispatch_id}:{row.account_id}",
        )
        for row in rows
    ])  # fmt: skip


def dispatches_finished(session: DbSession, finished: Mapping[int, Mapping[str, int]]) -> None:
    """``dispatch_finished`` to each creator: dispatch id -> its rows' counts by status."""
    if not finished:
        return
    dispatches = session.execute(
        select(Dispatch.id, Dispatch.creator_id, Dispatch.kind, Dispatch.order_data).where(
            Dispatch.id.in_(sorted(finished))
        )
    )
    enqueue_many(session, [
        Notice(
            d.creator_id, "dispatch_finished",
            {
                "dispatch_id": d.id, "kind": d.kind, "symbol": d.order_data.get("symbol"),
                "side": d.order_data.get("side"), "action": d.order_data.get("action"),
                "status": summary_status(finished[d.id]), "counts": dict(finished[d.id]),
                "total": sum(finished[d.id].values()),
            },
            f"dispatch_finished:{d.id}",
        )
        for d in dispatches
    ])  # fmt: skip
